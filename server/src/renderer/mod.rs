//! Renderers, driven by their profiles (droprender_shared::profile): how a
//! request becomes argv (and resume runs), how output lines map to
//! progress and errors, and how frames are found on disk. Maya and Blender
//! keep their own builders and parsers; every other profile, built-in or
//! from the config, runs through [`generic`] and [`patterns`].

pub mod blender;
pub mod generic;
pub mod maya;
pub mod patterns;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;

use droprender_shared::command::RenderRequest;
use droprender_shared::profile::{Builder, Frames, Kind, Profile, RendererKind};

pub use crate::frames::disk::{FrameFile, done_among, done_frames, frame_files, newest_frame};

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

/// A range of frames a request asks for.
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

/// Builds the invocations for a job whose frames in `done` already exist.
pub fn plan(cfg: &Config, job: &Resolved, done: &BTreeSet<i64>) -> Vec<Invocation> {
    match job.request.profile.run.builder {
        Builder::Maya => maya::plan(cfg, job, done),
        Builder::Blender => blender::plan(cfg, job, done),
        Builder::Generic => generic::plan(cfg, job, done),
    }
}

/// Invocations of at most `chunk` frames each (a farm's tasks), for the
/// frames not in `done`. Each chunk is planned by the renderer itself, as if
/// every other frame were done, so chunks carry the same validated argv the
/// local executor would use. Without a known whole-frame list the job is one chunk.
pub fn plan_chunks(
    cfg: &Config,
    job: &Resolved,
    done: &BTreeSet<i64>,
    chunk: usize,
) -> Vec<Invocation> {
    let Some(all) = frame_numbers(&job.request) else {
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

/// The output parser for a request's renderer.
pub fn parser(req: &RenderRequest) -> Box<dyn LineParser> {
    parser_of(&req.profile, req.flag("-r"))
}

/// The output parser of a renderer by name (this node's profiles); `maya_r`
/// is Maya's `-r`, when known.
pub fn parser_for(kind: RendererKind, maya_r: Option<&str>) -> Box<dyn LineParser> {
    match droprender_shared::profile::installed().get(kind.name()) {
        Some(p) => parser_of(p, maya_r),
        None => Box::new(maya::Parser::new(maya_r)),
    }
}

pub fn parser_of(p: &Profile, maya_r: Option<&str>) -> Box<dyn LineParser> {
    match p.run.builder {
        Builder::Maya => Box::new(maya::Parser::new(maya_r)),
        Builder::Blender => Box::new(blender::Parser::default()),
        Builder::Generic => patterns::Parser::for_profile(p),
    }
}

/// The frames a request asks for, when it says.
pub fn frames(req: &RenderRequest) -> Option<Frames> {
    let p = &req.profile;
    p.frames.frames_of(p, &req.flags, &req.scene)
}

/// The frame range a request asks for, when it names a range.
pub fn frame_range(req: &RenderRequest) -> Option<FrameRange> {
    match frames(req)? {
        Frames::Range { start, end, step } => Some(FrameRange { start, end, step }),
        Frames::List(_) => None,
    }
}

/// How many frames a request asks for (0: the scene decides).
pub fn frames_total(req: &RenderRequest) -> u64 {
    frames(req).map_or(0, |f| f.count())
}

/// The whole frame numbers a request renders, when the node can list them
/// (not for fractional or Maya's renumbered frames).
pub fn frame_numbers(req: &RenderRequest) -> Option<Vec<i64>> {
    if req.renderer == RendererKind::Maya && (req.has_flag("-rfs") || req.has_flag("-rfb")) {
        return None;
    }
    frames(req)?.whole()
}

/// The frames still to render when the request names whole frames the
/// node can count (`None`: the renderer decides, e.g. fractional or
/// renumbered frames).
pub fn missing_frames(req: &RenderRequest, done: &BTreeSet<i64>) -> Option<Vec<i64>> {
    let all = frame_numbers(req)?;
    Some(all.into_iter().filter(|f| !done.contains(f)).collect())
}

/// Render layers a request renders (Maya `-rl`), for counting done frames:
/// each layer writes its own folder.
pub fn layers(req: &RenderRequest) -> usize {
    req.flags
        .iter()
        .find(|f| req.profile.kind_of(&f.name) == Some(&Kind::Layers))
        .and_then(|f| f.value.as_deref())
        .map_or(1, |l| l.split(',').count())
}

/// Explains an exit status in plain words (the profile's words for its
/// codes); `None` means success.
pub fn exit_problem(kind: RendererKind, status: droprender_supervise::Exit) -> Option<String> {
    if let Some(sig) = status.signal {
        return Some(format!("the renderer was killed by signal {sig}"));
    }
    let profile = droprender_shared::profile::installed().get(kind.name());
    match status.code {
        Some(0) => None,
        Some(c) => Some(
            profile
                .and_then(|p| p.run.exit_codes.iter().find(|e| e.code == c))
                .map_or_else(
                    || format!("{} exited with code {c}", kind.name()),
                    |e| e.meaning.clone(),
                ),
        ),
        None => Some(format!("{} ended without an exit code", kind.name())),
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
}
