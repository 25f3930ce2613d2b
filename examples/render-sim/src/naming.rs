//! Frame ranges and output file naming.

/// Maya's file name conventions (`-fnc`), `#` standing for the padded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `name`
    Name,
    /// `name.ext`
    NameExt,
    /// `name.#.ext` (the default)
    NameDotFrameExt,
    /// `name.ext.#`
    NameExtDotFrame,
    /// `name.#`
    NameDotFrame,
    /// `name#.ext`
    NameFrameExt,
    /// `name_#.ext`
    NameUnderscoreFrameExt,
}

impl Naming {
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "name" => Self::Name,
            "name.ext" => Self::NameExt,
            "name.#.ext" => Self::NameDotFrameExt,
            "name.ext.#" => Self::NameExtDotFrame,
            "name.#" => Self::NameDotFrame,
            "name#.ext" => Self::NameFrameExt,
            "name_#.ext" => Self::NameUnderscoreFrameExt,
            _ => return None,
        })
    }

    /// The file name for `name`, an already padded frame and an extension.
    pub fn file_name(self, name: &str, frame: &str, ext: &str) -> String {
        match self {
            Self::Name => name.to_owned(),
            Self::NameExt => format!("{name}.{ext}"),
            Self::NameDotFrameExt => format!("{name}.{frame}.{ext}"),
            Self::NameExtDotFrame => format!("{name}.{ext}.{frame}"),
            Self::NameDotFrame => format!("{name}.{frame}"),
            Self::NameFrameExt => format!("{name}{frame}.{ext}"),
            Self::NameUnderscoreFrameExt => format!("{name}_{frame}.{ext}"),
        }
    }
}

/// One frame to render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    /// The scene frame (`-s` + i·`-b`).
    pub number: f64,
    /// The number in the file name (renumbered by `-rfs`/`-rfb`, else `number`).
    pub output: f64,
}

/// Frame values are kept to 3 decimals, the precision `-s/-e/-b` accept.
fn round3(f: f64) -> f64 {
    (f * 1000.0).round() / 1000.0
}

/// How many frames `s..=e` step `b` holds; the epsilon absorbs float error so
/// that `1..2 step 0.5` has 3 frames.
pub fn frame_count(start: f64, end: f64, by: f64) -> u64 {
    // A float-to-int `as` saturates, so an absurd range cannot overflow.
    ((end - start) / by + 1e-6).floor().max(-1.0) as u64 + 1
}

/// The frames `start..=end` step `by`, renumbered from `rfs` by `rfb` when
/// either is given (`rfs` defaults to the start frame, `rfb` to 1).
pub fn frames(start: f64, end: f64, by: f64, rfs: Option<i64>, rfb: Option<i64>) -> Vec<Frame> {
    let renumber = rfs.is_some() || rfb.is_some();
    let (rfs, rfb) = (rfs.map_or(start, |s| s as f64), rfb.unwrap_or(1) as f64);
    (0..frame_count(start, end, by))
        .map(|i| {
            let number = round3(start + i as f64 * by);
            let output = if renumber {
                round3(rfs + i as f64 * rfb)
            } else {
                number
            };
            Frame { number, output }
        })
        .collect()
}

/// The frame as it appears in a file name: the integer part zero-padded to
/// `pad` digits and, for a fractional frame, a `.` followed by the fraction
/// digits without trailing zeros (Maya's own spelling for fractional frames
/// is unconfirmed). So `1` → `0001`, `1.5` → `0001.5` (`shot.0001.5.png`),
/// `2.25` → `0002.25`; a sign comes before the padded digits, `-3` → `-0003`.
pub fn pad_frame(frame: f64, pad: usize) -> String {
    let millis = (frame.abs() * 1000.0).round() as u64;
    let (int, frac) = (millis / 1000, millis % 1000);
    let sign = if frame < 0.0 && millis != 0 { "-" } else { "" };
    let mut s = format!("{sign}{int:0pad$}");
    if frac != 0 {
        s.push('.');
        s.push_str(format!("{frac:03}").trim_end_matches('0'));
    }
    s
}

/// The frame as a renderer prints it: `1`, `1.5`.
pub fn plain_frame(frame: f64) -> String {
    pad_frame(frame, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_frames() {
        let f: Vec<f64> = frames(1.0, 2.0, 0.5, None, None)
            .iter()
            .map(|f| f.number)
            .collect();
        assert_eq!(f, [1.0, 1.5, 2.0]);
        assert_eq!(frame_count(1.0, 1.9, 0.3), 4);
        assert_eq!(frame_count(0.0, 1.0, 0.1), 11);
    }

    #[test]
    fn renumbering() {
        let f: Vec<f64> = frames(10.0, 12.0, 1.0, Some(100), Some(10))
            .iter()
            .map(|f| f.output)
            .collect();
        assert_eq!(f, [100.0, 110.0, 120.0]);
        let f = frames(5.0, 6.0, 1.0, None, Some(2));
        assert_eq!(f[1].output, 7.0);
    }

    #[test]
    fn padding() {
        assert_eq!(pad_frame(1.0, 4), "0001");
        assert_eq!(pad_frame(1.5, 4), "0001.5");
        assert_eq!(pad_frame(2.25, 3), "002.25");
        assert_eq!(pad_frame(12345.0, 2), "12345");
        assert_eq!(pad_frame(-3.0, 4), "-0003");
        assert_eq!(pad_frame(-0.5, 4), "-0000.5");
        assert_eq!(plain_frame(7.0), "7");
    }

    #[test]
    fn conventions() {
        let n = |c| Naming::from_name(c).map(|n| n.file_name("shot", "0001", "png"));
        assert_eq!(n("name.#.ext").as_deref(), Some("shot.0001.png"));
        assert_eq!(n("name_#.ext").as_deref(), Some("shot_0001.png"));
        assert_eq!(n("name#.ext").as_deref(), Some("shot0001.png"));
        assert_eq!(n("name.ext.#").as_deref(), Some("shot.png.0001"));
        assert_eq!(n("bogus"), None);
    }
}
