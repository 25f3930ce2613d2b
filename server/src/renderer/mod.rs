//! Pluggable renderers. Each module owns four things: how a request becomes
//! argv, which values the node accepts beyond the shared allow-list, how
//! output lines map to progress and errors, and how output frames are named
//! and found.

pub mod blender;
pub mod maya;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use droprender_shared::command::RenderRequest;
use droprender_shared::profile::RendererKind;

use crate::config::Config;

/// One process to run for a job (a job may need several: one per missing run of frames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Frames this invocation renders, when known.
    pub frames: Vec<i64>,
    /// Environment the renderer gets on top of the node's.
    pub env: Vec<(OsString, OsString)>,
}

/// Tells an invocation which slot it runs in: `DROPRENDER_SLOT`, the GPUs
/// it may use (`CUDA_VISIBLE_DEVICES`, `HIP_VISIBLE_DEVICES`), and for
/// Blender the device Cycles renders with (`-- --cycles-device CUDA`).
pub fn on_slot(inv: &mut Invocation, kind: RendererKind, slot: &crate::core::slots::Slot) {
    inv.env
        .push(("DROPRENDER_SLOT".into(), slot.name.clone().into()));
    if !slot.gpus.is_empty() {
        let list: Vec<String> = slot.gpus.iter().map(u32::to_string).collect();
        for var in ["CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"] {
            inv.env.push((var.into(), list.join(",").into()));
        }
    }
    if kind == RendererKind::Blender
        && let Some(device) = &slot.cycles_device
    {
        if !inv.args.iter().any(|a| a == "--") {
            inv.args.push("--".into());
        }
        inv.args.push("--cycles-device".into());
        inv.args.push(device.into());
    }
}

/// What a line of renderer output means.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A frame began (its number or output path, when the line says).
    FrameStarted(Option<String>),
    /// Percent of the current frame.
    Percent(f64),
    /// A frame's image was written.
    FrameDone(Option<PathBuf>),
    /// A line that means the render failed.
    Error(String),
}

/// Parses a renderer's output, one line at a time.
pub trait LineParser: Send {
    fn line(&mut self, line: &str) -> Option<Progress>;
}

/// A request the node has accepted: paths resolved inside their roots.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub request: RenderRequest,
    pub scene: PathBuf,
    /// Where frames land.
    pub output_dir: PathBuf,
    /// `-proj`, resolved, when given.
    pub project: Option<PathBuf>,
}

/// The frames a request asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameRange {
    pub start: f64,
    pub end: f64,
    pub step: f64,
}

impl FrameRange {
    /// Whole frames only (resume works per frame number).
    pub fn whole_frames(&self) -> Option<Vec<i64>> {
        let whole = |v: f64| (v.fract() == 0.0).then_some(v as i64);
        let (s, e, b) = (whole(self.start)?, whole(self.end)?, whole(self.step)?);
        if b <= 0 {
            return None;
        }
        Some((s..=e).step_by(usize::try_from(b).ok()?).collect())
    }

    pub fn count(&self) -> u64 {
        if self.step <= 0.0 || self.end < self.start {
            return 0;
        }
        ((self.end - self.start) / self.step + 1e-9).floor() as u64 + 1
    }
}

/// The frames still to render when the request names whole frames the
/// node can count (`None`: the renderer decides, e.g. fractional or
/// renumbered frames).
pub fn missing_frames(req: &RenderRequest, done: &BTreeSet<i64>) -> Option<Vec<i64>> {
    if req.has_flag("-rfs") || req.has_flag("-rfb") {
        return None;
    }
    let all = frame_range(req)?.whole_frames()?;
    Some(all.into_iter().filter(|f| !done.contains(f)).collect())
}

/// Contiguous runs of frames, for `-s/-e` per run: [1,2,3,7,8] → [(1,3),(7,8)].
pub fn runs(frames: &[i64]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &f in frames {
        match out.last_mut() {
            Some((_, e)) if *e + 1 == f => *e = f,
            _ => out.push((f, f)),
        }
    }
    out
}

/// Image extensions renderers write.
const IMAGE_EXTS: &[&str] = &[
    "png", "exr", "jpg", "jpeg", "tif", "tiff", "iff", "tga", "bmp", "hdr",
];

/// A frame file found in an output dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameFile {
    pub path: PathBuf,
    pub frame: i64,
    /// The folder it is in (one per render layer).
    pub group: PathBuf,
    pub modified: std::time::SystemTime,
}

/// Finds complete frame files under `dir` (two levels: layers/cameras).
pub fn frame_files(dir: &Path) -> Vec<FrameFile> {
    let mut out = Vec::new();
    collect(dir, 0, &mut out);
    out
}

fn collect(dir: &Path, depth: u32, out: &mut Vec<FrameFile>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let path = ent.path();
        let Ok(md) = ent.metadata() else { continue };
        if md.is_dir() {
            if depth < 2 {
                collect(&path, depth + 1, out);
            }
            continue;
        }
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let Some((stem, ext)) = name.rsplit_once('.') else {
            continue;
        };
        if !IMAGE_EXTS.contains(&ext.to_ascii_lowercase().as_str()) {
            continue;
        }
        let Some(frame) = trailing_number(stem) else {
            continue;
        };
        if !is_complete(&path, ext, md.len()) {
            continue;
        }
        out.push(FrameFile {
            path,
            frame,
            group: dir.to_path_buf(),
            modified: md.modified().unwrap_or(std::time::UNIX_EPOCH),
        });
    }
}

/// The frame number at the end of a file stem: `shot.0012` → 12, `shot_0012` → 12.
fn trailing_number(stem: &str) -> Option<i64> {
    let digits: String = stem
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let before = stem[..stem.len() - digits.len()].chars().last();
    Some(if before == Some('-') { -n } else { n })
}

/// A truncated frame is a missing frame: check the format's end marker where it has one.
fn is_complete(path: &Path, ext: &str, len: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    if len == 0 {
        return false;
    }
    let want: &[u8] = match ext.to_ascii_lowercase().as_str() {
        "png" => &[0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82],
        "jpg" | "jpeg" => &[0xff, 0xd9],
        _ => return len > 16,
    };
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = want.len() as u64;
    if len < n || f.seek(SeekFrom::End(-(n as i64))).is_err() {
        return false;
    }
    let mut buf = vec![0u8; want.len()];
    f.read_exact(&mut buf).is_ok() && buf == want
}

/// Frames done in `dir`: present in every layer folder (when `layers` > 1).
pub fn done_frames(dir: &Path, layers: usize) -> BTreeSet<i64> {
    done_among(&frame_files(dir), layers)
}

/// Of these frame files, the frames present in every layer folder.
pub fn done_among(files: &[FrameFile], layers: usize) -> BTreeSet<i64> {
    let groups: BTreeSet<&PathBuf> = files.iter().map(|f| &f.group).collect();
    if layers > 1 && groups.len() < layers {
        return BTreeSet::new();
    }
    let mut done: Option<BTreeSet<i64>> = None;
    for g in groups {
        let set: BTreeSet<i64> = files
            .iter()
            .filter(|f| &f.group == g)
            .map(|f| f.frame)
            .collect();
        done = Some(match done {
            None => set,
            Some(d) => d.intersection(&set).copied().collect(),
        });
    }
    done.unwrap_or_default()
}

/// The newest complete frame under `dir`.
pub fn newest_frame(dir: &Path) -> Option<FrameFile> {
    frame_files(dir)
        .into_iter()
        .max_by_key(|f| (f.modified, f.frame))
}

/// Builds the invocations for a job whose frames in `done` already exist.
pub fn plan(cfg: &Config, job: &Resolved, done: &BTreeSet<i64>) -> Vec<Invocation> {
    match job.request.renderer {
        RendererKind::Maya => maya::plan(cfg, job, done),
        RendererKind::Blender => blender::plan(cfg, job, done),
    }
}

/// Invocations of at most `chunk` frames each (a farm's tasks), for the
/// frames not in `done`. Each chunk is planned by the renderer itself, as if
/// every other frame were done, so chunks carry the same validated argv the
/// local executor would use. Without a known whole-frame range the job is one chunk.
pub fn plan_chunks(
    cfg: &Config,
    job: &Resolved,
    done: &BTreeSet<i64>,
    chunk: usize,
) -> Vec<Invocation> {
    let Some(all) = frame_range(&job.request).and_then(|r| r.whole_frames()) else {
        return plan(cfg, job, done);
    };
    let missing: Vec<i64> = all.iter().copied().filter(|f| !done.contains(f)).collect();
    let mut out = Vec::new();
    for part in missing.chunks(chunk.max(1)) {
        let others: BTreeSet<i64> = all.iter().copied().filter(|f| !part.contains(f)).collect();
        out.extend(plan(cfg, job, &others));
    }
    out
}

pub fn parser(req: &RenderRequest) -> Box<dyn LineParser> {
    match req.renderer {
        RendererKind::Maya => Box::new(maya::Parser::new(req.flag("-r"))),
        RendererKind::Blender => Box::new(blender::Parser::default()),
    }
}

/// The frames a request asks for, when it says.
pub fn frame_range(req: &RenderRequest) -> Option<FrameRange> {
    match req.renderer {
        RendererKind::Maya => maya::frame_range(req),
        RendererKind::Blender => blender::frame_range(req),
    }
}

/// Render layers a request renders (Maya `-rl`), for counting done frames.
pub fn layers(req: &RenderRequest) -> usize {
    req.flag("-rl").map_or(1, |l| l.split(',').count())
}

/// Explains an exit status in plain words; `None` means success.
pub fn exit_problem(kind: RendererKind, status: droprender_supervise::Exit) -> Option<String> {
    if let Some(sig) = status.signal {
        return Some(format!("the renderer was killed by signal {sig}"));
    }
    match (kind, status.code) {
        (_, Some(0)) => None,
        (RendererKind::Maya, Some(206)) => Some(
            "Render exited 206: it could not parse its command line (a bad flag or project directory)".into(),
        ),
        (RendererKind::Maya, Some(211)) => Some("Render exited 211: the renderer reported an error".into()),
        (k, Some(c)) => Some(format!("{} exited with code {c}", k.name())),
        (k, None) => Some(format!("{} ended without an exit code", k.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_ranges() {
        assert_eq!(runs(&[1, 2, 3, 7, 8, 10]), [(1, 3), (7, 8), (10, 10)]);
        let r = FrameRange {
            start: 1.0,
            end: 10.0,
            step: 3.0,
        };
        assert_eq!(r.whole_frames(), Some(vec![1, 4, 7, 10]));
        assert_eq!(r.count(), 4);
        let half = FrameRange {
            start: 1.0,
            end: 2.0,
            step: 0.5,
        };
        assert_eq!(half.whole_frames(), None);
        assert_eq!(half.count(), 3);
    }

    #[test]
    fn trailing_numbers() {
        assert_eq!(trailing_number("shot.0012"), Some(12));
        assert_eq!(trailing_number("shot_0007"), Some(7));
        assert_eq!(trailing_number("shot"), None);
        assert_eq!(trailing_number("shot.-005"), Some(-5));
    }

    #[test]
    fn truncated_png_is_not_done() {
        let dir = tempfile::tempdir().expect("tempdir");
        let img = image::RgbImage::new(4, 4);
        img.save(dir.path().join("a.0001.png")).expect("save");
        let full = std::fs::read(dir.path().join("a.0001.png")).expect("read");
        std::fs::write(dir.path().join("a.0002.png"), &full[..full.len() - 4]).expect("write");
        assert_eq!(
            done_frames(dir.path(), 1).into_iter().collect::<Vec<_>>(),
            [1]
        );
    }
}
