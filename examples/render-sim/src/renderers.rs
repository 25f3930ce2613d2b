//! What each renderer prints per frame. The line catalogue is in the crate
//! docs (`lib.rs`); the tests below pin it.

use std::time::Duration;

/// The renderers `-r` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renderer {
    /// `sw`, and `file` / `default` (the scene's renderer, assumed to be Maya Software).
    Software,
    /// `hw2`: Maya Hardware 2.0, printing the Maya Software lines.
    Hardware2,
    Arnold,
    Vray,
    Redshift,
    RenderMan,
    MentalRay,
}

/// The names `-r` accepts, as `-listRenderers` prints them.
pub const NAMES: &[&str] = &[
    "sw",
    "hw2",
    "arnold",
    "vray",
    "redshift",
    "renderman",
    "file",
    "default",
    "mentalray",
];

/// What a renderer needs to know to describe a frame.
#[derive(Clone, Copy, Debug)]
pub struct FrameInfo<'a> {
    /// Absolute output path.
    pub path: &'a str,
    /// The scene frame as printed, e.g. `1` or `1.5`.
    pub frame: &'a str,
    /// 1-based position of this frame among all frames of the run.
    pub ordinal: usize,
    /// Number of frames in the run (all layers).
    pub total: usize,
    pub width: u32,
    pub height: u32,
    pub camera: &'a str,
    /// The image format's extension (`png`, `exr`…).
    pub ext: &'a str,
}

const REDSHIFT_BLOCKS: (u32, u32) = (4, 3);

impl Renderer {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sw" | "file" | "default" => Self::Software,
            "hw2" => Self::Hardware2,
            "arnold" => Self::Arnold,
            "vray" => Self::Vray,
            "redshift" => Self::Redshift,
            "renderman" => Self::RenderMan,
            "mentalray" => Self::MentalRay,
            _ => return None,
        })
    }

    /// Arnold prefixes every line with elapsed time and memory.
    pub fn stamped(self) -> bool {
        self == Self::Arnold
    }

    /// The lines printed while the frame renders, before its image exists:
    /// [`Self::head_lines`] then the default progress lines.
    pub fn frame_lines(self, f: &FrameInfo<'_>) -> Vec<String> {
        let mut v = self.head_lines(f);
        let steps = self.default_steps();
        let n = steps.len();
        v.extend(
            steps
                .iter()
                .enumerate()
                .map(|(i, p)| self.progress_line(f, i, n, *p)),
        );
        v
    }

    /// The percentages of the default progress lines.
    fn default_steps(self) -> Vec<u32> {
        match self {
            Self::Software | Self::Hardware2 | Self::Vray => vec![25, 50, 75, 100],
            Self::Arnold | Self::RenderMan | Self::MentalRay => vec![0, 25, 50, 75, 100],
            Self::Redshift => {
                let n = REDSHIFT_BLOCKS.0 * REDSHIFT_BLOCKS.1;
                (1..=n).map(|i| i * 100 / n).collect()
            }
        }
    }

    /// The lines before the progress lines.
    pub fn head_lines(self, f: &FrameInfo<'_>) -> Vec<String> {
        let path = f.path;
        match self {
            Self::Software | Self::Hardware2 => vec![
                format!("Starting Rendering {path}."),
                "Constructing shading groups.".to_owned(),
                "Rendering current frame.".to_owned(),
            ],
            Self::Arnold => vec![
                format!(
                    "[mtoa] Rendering frame {} with camera {}",
                    f.frame, f.camera
                ),
                format!(
                    "rendering image at {} x {}, 3 AA samples",
                    f.width, f.height
                ),
            ],
            Self::Vray => vec![format!("V-Ray: Starting frame {}", f.frame)],
            Self::Redshift => vec![format!(
                "Rendering frame {} ({}/{})",
                f.frame, f.ordinal, f.total
            )],
            Self::RenderMan => vec![format!("[RfM] Rendering frame {}", f.frame)],
            Self::MentalRay => vec![format!("JOB  0.0  info : rendering frame {}", f.frame)],
        }
    }

    /// The `i`-th of `n` progress lines, at `pct` percent (Redshift counts
    /// blocks instead: block `i + 1` of `n`).
    pub fn progress_line(self, f: &FrameInfo<'_>, i: usize, n: usize, pct: u32) -> String {
        match self {
            Self::Software | Self::Hardware2 => {
                format!("Percentage of rendering done: {pct} ({})", f.path)
            }
            Self::Arnold => format!("{pct:>5}% done - 12 rays/pixel"),
            Self::Vray => format!("V-Ray: {pct:>3}%"),
            Self::Redshift => {
                let cols = REDSHIFT_BLOCKS.0 as usize;
                format!(
                    "[Redshift] Block {}/{n} ({},{}) rendered by GPU 0 in {}ms",
                    i + 1,
                    i % cols,
                    i / cols,
                    8 + (i * 7) % 13
                )
            }
            Self::RenderMan => format!("R90000 {pct:>3}%"),
            Self::MentalRay => format!(
                "JOB  0.1  progr: {:>7.1}%    rendered on localhost.1",
                pct as f32
            ),
        }
    }

    /// The lines printed once the frame's image is in place; every renderer
    /// names the written file here.
    pub fn done_lines(self, f: &FrameInfo<'_>, took: Duration) -> Vec<String> {
        let path = f.path;
        let secs = took.as_secs();
        match self {
            Self::Software | Self::Hardware2 => vec![
                format!(
                    "Time For Frame Render (hh:mm:ss): {:02}:{:02}:{:02}",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                ),
                format!("Finished Rendering {path}."),
            ],
            Self::Arnold => vec![
                format!("[driver_{}] writing file `{path}'", f.ext),
                format!(
                    "render done in {}:{:02}.{:03}",
                    secs / 60,
                    secs % 60,
                    took.subsec_millis()
                ),
            ],
            Self::Vray => vec![
                format!("V-Ray: Successfully written image file \"{path}\""),
                format!(
                    "V-Ray: Total frame time {}h {}m {:.1}s",
                    secs / 3600,
                    secs / 60 % 60,
                    (took.as_secs_f64() % 60.0)
                ),
            ],
            Self::Redshift => vec![
                format!("[Redshift] Saved file '{path}' in 0.00s"),
                format!(
                    "[Redshift] Rendering done - total time for frame {}: {:.2}s",
                    f.frame,
                    took.as_secs_f64()
                ),
            ],
            Self::RenderMan => vec![format!("[RfM] Wrote image \"{path}\"")],
            Self::MentalRay => vec![format!(
                "JOB  0.0  info : wrote image file {path} (frame {})",
                f.frame
            )],
        }
    }

    /// Printed before `// Error: Frame rendering aborted //` when a frame fails.
    pub fn failure_lines(self) -> &'static [&'static str] {
        match self {
            Self::Arnold => &["[mtoa] Failed batch render"],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_known() {
        for name in NAMES {
            assert!(Renderer::from_name(name).is_some(), "{name}");
        }
        assert_eq!(Renderer::from_name("interBatch"), None);
    }

    #[test]
    fn sw_lines_are_exact() {
        let f = FrameInfo {
            path: "/p/shot.0001.png",
            frame: "1",
            ordinal: 1,
            total: 1,
            width: 160,
            height: 90,
            camera: "persp",
            ext: "png",
        };
        let mut lines = Renderer::Software.frame_lines(&f);
        lines.extend(Renderer::Software.done_lines(&f, Duration::from_millis(3200)));
        assert_eq!(
            lines,
            [
                "Starting Rendering /p/shot.0001.png.",
                "Constructing shading groups.",
                "Rendering current frame.",
                "Percentage of rendering done: 25 (/p/shot.0001.png)",
                "Percentage of rendering done: 50 (/p/shot.0001.png)",
                "Percentage of rendering done: 75 (/p/shot.0001.png)",
                "Percentage of rendering done: 100 (/p/shot.0001.png)",
                "Time For Frame Render (hh:mm:ss): 00:00:03",
                "Finished Rendering /p/shot.0001.png.",
            ]
        );
    }
}
