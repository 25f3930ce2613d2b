//! The programs beyond Maya (`3dsmaxcmd`, `husk`, `Commandline`, `kick`,
//! `vray`). Each module turns its own argv grammar into a [`Plan`] and
//! describes its output lines with a [`Style`]; [`render`] runs the plan the
//! same way for all of them, honouring the knobs (`crate::knobs`).
//!
//! What each program accepts and prints follows `docs/renderers.md`.

pub(crate) mod c4d;
pub(crate) mod husk;
pub(crate) mod kick;
pub(crate) mod max;
pub(crate) mod vray;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::knobs::{Fate, Knobs};
use crate::naming;
use crate::picture::{self, Format, Look};

/// A command line the program refuses; the text names the problem.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Usage(pub String);

pub(crate) fn usage<T>(msg: impl Into<String>) -> Result<T, Usage> {
    Err(Usage(msg.into()))
}

/// When a code-running flag "runs".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum When {
    Start,
    BeforeFrame,
    AfterFrame,
    End,
}

/// A code-running (or anywhere-writing) flag as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HookCall {
    pub when: When,
    /// The flag as typed (`--prerender-script`, `-preRenderScript`).
    pub flag: String,
    pub value: String,
}

impl HookCall {
    pub(crate) fn new(when: When, flag: &str, value: &str) -> Self {
        HookCall {
            when,
            flag: flag.to_owned(),
            value: value.to_owned(),
        }
    }
}

/// One frame to render and the file it becomes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Planned {
    pub number: f64,
    pub path: PathBuf,
}

/// Everything a program decided from its command line.
#[derive(Debug)]
pub(crate) struct Plan {
    pub frames: Vec<Planned>,
    pub format: Format,
    pub size: (u32, u32),
    pub hooks: Vec<HookCall>,
    /// Create a missing output directory (otherwise it is an error).
    pub make_dirs: bool,
    /// Leave frames whose file exists.
    pub skip_existing: bool,
}

/// What a [`Style`] knows about the frame it describes.
pub(crate) struct Ctx<'a> {
    /// The frame as the program prints it (`1`, `1.5`).
    pub frame: &'a str,
    /// Absolute output path, displayed.
    pub path: &'a str,
    /// 1-based position in the run.
    pub ordinal: usize,
    pub total: usize,
    pub width: u32,
    pub height: u32,
    /// The image format's extension (`png`, `exr`…).
    pub ext: &'a str,
}

/// The lines a program prints. Lines are printed in this order: `job_start`,
/// then per frame `frame_start`, the progress lines, the image is written,
/// `frame_done`; then `job_done`.
pub(crate) trait Style {
    fn job_start(&self) -> Vec<String> {
        Vec::new()
    }
    fn frame_start(&self, c: &Ctx<'_>) -> Vec<String>;
    /// The `i`-th of `n` progress lines at `pct` percent, if the program
    /// prints one (husk only with `-V a`).
    fn progress(&self, c: &Ctx<'_>, i: usize, n: usize, pct: u32) -> Option<String>;
    /// After the image is renamed into place.
    fn frame_done(&self, c: &Ctx<'_>, took: Duration) -> Vec<String>;
    /// A frame left alone because its file exists.
    fn skipped(&self, c: &Ctx<'_>) -> Vec<String>;
    /// `RENDER_SIM_FAIL_AT_FRAME` hit, halfway through the progress lines.
    fn failed(&self, c: &Ctx<'_>) -> Vec<String>;
    /// The image could not be written (missing directory, I/O error).
    fn cannot_write(&self, c: &Ctx<'_>, why: &str) -> Vec<String>;
    fn job_done(&self, _took: Duration) -> Vec<String> {
        Vec::new()
    }
    /// How a line appears on stdout (time stamps, log prefixes).
    fn decorate(&self, line: &str, _elapsed: Duration) -> String {
        line.to_owned()
    }
    /// How progress lines end (V-Ray's default is a carriage return).
    fn progress_eol(&self) -> &'static str {
        "\n"
    }
}

/// Exit code of every error in these programs (their real codes are only
/// known to be non-zero; see docs/renderers.md).
pub(crate) const EXIT_ERROR: i32 = 1;

/// Writes stdout one flushed line at a time; a closed stdout is ignored.
pub(crate) struct Out<'s> {
    step: Duration,
    started: Instant,
    style: &'s dyn Style,
}

impl<'s> Out<'s> {
    pub(crate) fn new(knobs: &Knobs, style: &'s dyn Style) -> Self {
        Out {
            step: Duration::from_millis(knobs.step_ms),
            started: Instant::now(),
            style,
        }
    }

    /// A line as is, no decoration, no pause (usage, banners).
    pub(crate) fn plain(&self, text: &str) {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    }

    /// A program line: decorated, then the step pause.
    pub(crate) fn line(&self, text: &str) {
        self.write(text, "\n");
        self.pause();
    }

    pub(crate) fn lines(&self, lines: Vec<String>) {
        lines.iter().for_each(|l| self.line(l));
    }

    fn write(&self, text: &str, eol: &str) {
        let shown = self.style.decorate(text, self.started.elapsed());
        let mut out = io::stdout().lock();
        let _ = write!(out, "{shown}{eol}").and_then(|()| out.flush());
    }

    fn pause(&self) {
        if !self.step.is_zero() {
            thread::sleep(self.step);
        }
    }

    /// Progress lines: paced like other lines, or (`burst`) back to back with
    /// stdout locked once and flushed after every line.
    fn progress(&self, lines: impl Iterator<Item = String>, burst: bool) {
        let eol = self.style.progress_eol();
        if !burst {
            for l in lines {
                self.write(&l, eol);
                self.pause();
            }
            return;
        }
        let mut out = io::stdout().lock();
        for l in lines {
            let shown = self.style.decorate(&l, self.started.elapsed());
            if write!(out, "{shown}{eol}")
                .and_then(|()| out.flush())
                .is_err()
            {
                return;
            }
        }
    }
}

/// Runs the plan: hooks, lines, images, knobs. Returns the exit code.
pub(crate) fn render(plan: &Plan, style: &dyn Style, knobs: &Knobs) -> i32 {
    let out = Out::new(knobs, style);
    let started = Instant::now();
    match render_frames(plan, style, knobs, &out) {
        Ok(()) => {
            out.lines(style.job_done(started.elapsed()));
            knobs.exit_code.unwrap_or(0)
        }
        Err(code) => code,
    }
}

fn run_hooks(plan: &Plan, when: When, knobs: &Knobs) -> Result<(), i32> {
    for h in plan.hooks.iter().filter(|h| h.when == when) {
        if let Err(e) = knobs.log_hook(&h.flag, &h.value) {
            eprintln!("render-sim: cannot append to RENDER_SIM_HOOK_LOG: {e}");
            return Err(EXIT_ERROR);
        }
    }
    Ok(())
}

fn render_frames(plan: &Plan, style: &dyn Style, knobs: &Knobs, out: &Out<'_>) -> Result<(), i32> {
    run_hooks(plan, When::Start, knobs)?;
    out.lines(style.job_start());
    let total = plan.frames.len();
    for (index, f) in plan.frames.iter().enumerate() {
        let frame = naming::plain_frame(f.number);
        let path = f.path.display().to_string();
        let c = Ctx {
            frame: &frame,
            path: &path,
            ordinal: index + 1,
            total,
            width: plan.size.0,
            height: plan.size.1,
            ext: plan.format.ext(),
        };
        if plan.skip_existing && f.path.exists() {
            out.lines(style.skipped(&c));
            continue;
        }
        run_hooks(plan, When::BeforeFrame, knobs)?;
        let began = Instant::now();
        out.lines(style.frame_start(&c));
        let fate = knobs.fate(f.number);
        let pcts = knobs.percents();
        let n = pcts.len();
        let shown = if fate == Fate::Render { n } else { n / 2 };
        let progress = pcts[..shown]
            .iter()
            .enumerate()
            .filter_map(|(i, p)| style.progress(&c, i, n, *p));
        out.progress(progress, knobs.burst());
        match fate {
            Fate::Render => {}
            Fate::Fail => {
                out.lines(style.failed(&c));
                return Err(EXIT_ERROR);
            }
            Fate::Crash => std::process::abort(),
            Fate::Hang => loop {
                thread::sleep(Duration::from_secs(3600));
            },
        }
        if let Err(why) = write_image(plan, f, knobs.black(f.number)) {
            out.lines(style.cannot_write(&c, &why));
            return Err(EXIT_ERROR);
        }
        out.lines(style.frame_done(&c, began.elapsed()));
        run_hooks(plan, When::AfterFrame, knobs)?;
    }
    run_hooks(plan, When::End, knobs)
}

fn write_image(plan: &Plan, f: &Planned, black: bool) -> Result<(), String> {
    let dir = f.path.parent().unwrap_or(Path::new("/"));
    if !dir.is_dir() {
        if !plan.make_dirs {
            return Err(format!("directory {} does not exist", dir.display()));
        }
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let look = Look {
        width: plan.size.0,
        height: plan.size.1,
        frame: f.number,
        layer: 0,
        black,
    };
    picture::write(&f.path, plan.format, &look).map_err(|e| e.to_string())
}

/// The image format a file extension asks for (`.exr`, `.png`, `.jpg`,
/// `.jpeg`, `.tif`, `.tiff`; any case).
pub(crate) fn format_of(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?;
    match ext.to_ascii_lowercase().as_str() {
        "png" | "exr" | "jpg" | "jpeg" | "tif" | "tiff" => Format::from_name(ext),
        _ => None,
    }
}

/// A path made absolute against the working directory.
pub(crate) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// An integer flag value.
pub(crate) fn int<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, Usage> {
    v.trim()
        .parse()
        .or_else(|_| usage(format!("{flag} needs an integer, got \"{v}\"")))
}

/// A finite number.
pub(crate) fn float(flag: &str, v: &str) -> Result<f64, Usage> {
    match v.trim().parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        _ => usage(format!("{flag} needs a number, got \"{v}\"")),
    }
}

/// More frames than this in one run is refused (a simulator guard).
pub(crate) const MAX_FRAMES: usize = 1_000_000;

/// `start..=end` step `by` as frame numbers (integers or fractions).
pub(crate) fn range(start: f64, end: f64, by: f64) -> Result<Vec<f64>, Usage> {
    if by <= 0.0 {
        return usage(format!("frame step must be positive, got {by}"));
    }
    if start > end {
        return usage(format!("start frame {start} is after end frame {end}"));
    }
    let count = naming::frame_count(start, end, by);
    if count as usize > MAX_FRAMES {
        return usage(format!(
            "{count} frames is more than the {MAX_FRAMES} simulated"
        ));
    }
    Ok((0..count)
        .map(|i| ((start + i as f64 * by) * 1000.0).round() / 1000.0)
        .collect())
}

/// The frame padded to `pad` digits (`7` → `0007`; fractions keep theirs).
pub(crate) fn padded(frame: f64, pad: usize) -> String {
    naming::pad_frame(frame, pad)
}

/// The bare name of a path without its extension.
pub(crate) fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A path of the form `<dir>/<stem><frame><sep?>.<ext>`: the frame inserted
/// before the extension of `base` (`/o/render.exr`, `0001`, `""` →
/// `/o/render0001.exr`).
pub(crate) fn with_frame(base: &Path, sep: &str, frame: &str) -> PathBuf {
    let name = stem(base);
    let file = match base.extension() {
        Some(ext) => format!("{name}{sep}{frame}.{}", ext.to_string_lossy()),
        None => format!("{name}{sep}{frame}"),
    };
    base.with_file_name(file)
}

/// Wall-clock UTC now as (year, month 1-12, day, hour, minute, second).
pub(crate) fn utc_now() -> (i64, u32, u32, u32, u32, u32) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let rest = rest as u32;
    (year, month, day, rest / 3600, rest / 60 % 60, rest % 60)
}

/// `h:mm:ss` of a duration.
pub(crate) fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_names() {
        assert_eq!(range(1.0, 5.0, 2.0).expect("range"), [1.0, 3.0, 5.0]);
        assert!(range(5.0, 1.0, 1.0).is_err());
        assert!(range(1.0, 2.0, 0.0).is_err());
        let p = with_frame(Path::new("/o/render.exr"), "", "0001");
        assert_eq!(p, Path::new("/o/render0001.exr"));
        let p = with_frame(Path::new("/o/beauty.png"), ".", "0012");
        assert_eq!(p, Path::new("/o/beauty.0012.png"));
        assert_eq!(format_of(Path::new("a.EXR")), Some(Format::Exr));
        assert_eq!(format_of(Path::new("a.tga")), None);
    }
}
