//! A Slurm task that runs its renderer as a child rather than exec'ing it,
//! so each frame gets the record a local frame gets: its start, render
//! time and the peak memory of the renderer's process tree. The renderer
//! runs under the local executor's own worker (output read at pipe speed
//! into the task log, memory sampled once a second); this module turns the
//! worker's events into [`records`](super::records) lines.
//!
//! Slurm's cancel (SIGTERM to every process of the task) reaches the
//! renderer directly too; the task stops the renderer's tree gracefully
//! and exits 143, so nothing it started outlives the task.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use droprender_shared::profile::{Profile, RendererKind};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use super::records::Line;
use super::tasks::TaskSpec;
use crate::core::live::{Live, frame_of_path};
use crate::exec::local::worker;
use crate::exec::{Ctl, Event, Outcome, Stop};
use crate::renderer::{self, Invocation, Progress};

/// How long the renderer may take to stop after a cancel before its tree
/// is killed (Slurm's own KillWait is 30 s by default).
const GRACE: Duration = Duration::from_secs(10);

/// Why the task could not run its renderer.
#[derive(Debug)]
pub(super) enum Error {
    /// The renderer could not be started: why.
    Spawn(String),
    Other(String),
}

/// Runs `spec`'s renderer to its end, appending a record per frame to
/// `records`. Ok: the task's exit code (0 when the render succeeded).
pub(super) fn run(
    spec: &TaskSpec,
    profile: &Profile,
    tag: String,
    records: &Path,
) -> Result<u8, Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the task's runtime: {e}")))?;
    rt.block_on(supervise(spec, profile, tag, records))
}

async fn supervise(
    spec: &TaskSpec,
    profile: &Profile,
    tag: String,
    records: &Path,
) -> Result<u8, Error> {
    let parser = renderer::parser_of(profile, spec.maya_r().as_deref());
    // The task log is this process's stdout: the worker writes through a
    // duplicate of it, so its writes and ours share one offset.
    let _ = std::io::stdout().flush();
    let log = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Error::Other(format!("cannot write the task log (stdout): {e}")))?;
    let job = worker::Job {
        id: 0,
        invocations: vec![Invocation {
            program: spec.program(),
            args: spec.args(),
            frames: spec.frames.clone(),
            env: Vec::new(),
        }],
        parser,
        log: PathBuf::from("/dev/stdout"),
        tag,
        grace: GRACE,
        kind: RendererKind::named(&profile.name),
        stall: None,
        timeout: None,
    };
    let begun = worker::begin_with_log(&job, std::fs::File::from(log));
    if let Some(e) = begun.spawn_error() {
        return Err(Error::Spawn(e.to_string()));
    }
    let (tx, mut rx) = mpsc::channel(1024);
    let (ctl_tx, ctl_rx) = watch::channel(Ctl::default());
    let worker = tokio::spawn(worker::run(job, begun, tx, ctl_rx));
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Error::Other(format!("cannot handle SIGTERM: {e}")))?;
    let mut timer = FrameTimer::new(records);
    let outcome = loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some((_, Event::Finished(o))) => break o,
                Some((_, ev)) => timer.event(ev),
                None => break Outcome::Failed("the renderer's supervisor ended early".into()),
            },
            _ = term.recv() => {
                let _ = ctl_tx.send(Ctl { stop: Stop::Cancel, suspended: false });
            }
        }
    };
    let _ = worker.await;
    Ok(match outcome {
        Outcome::Done => 0,
        Outcome::Cancelled | Outcome::Interrupted => 143,
        Outcome::Failed(why) => {
            // Through stdout too: the task log's last error line says why.
            println!("droprender-node slurm-task: {why}");
            1
        }
        Outcome::Stalled(_) | Outcome::TimedOut(_) => 1,
    })
}

/// Times the frames the renderer reports and appends their records.
struct FrameTimer {
    live: Live,
    out: Option<std::fs::File>,
}

impl FrameTimer {
    fn new(records: &Path) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(records)
            .map_err(|e| {
                println!(
                    "droprender-node slurm-task: cannot write frame records to {}: {e}; frames are timed by the node instead",
                    records.display()
                );
            })
            .ok();
        FrameTimer {
            live: Live::default(),
            out,
        }
    }

    fn event(&mut self, ev: Event) {
        let (mono, wall) = (
            std::time::Instant::now(),
            chrono::Local::now().naive_local(),
        );
        match ev {
            Event::Spawned { .. } => {
                self.live.started.get_or_insert(mono);
            }
            Event::Memory(bytes) => self.live.memory(bytes),
            Event::Progress(Progress::FrameStarted(f)) => self.live.frame_started(f, mono, wall),
            Event::Progress(Progress::FrameDone(path)) => {
                let frame = path.as_deref().and_then(frame_of_path);
                let Some(frame) = frame.filter(|f| self.live.done.insert(*f)) else {
                    return;
                };
                let stat = self.live.frame_done(Some(frame), mono, wall);
                let line = Line::new(frame, stat.started, stat.secs, stat.peak_mem);
                if let Some(out) = &mut self.out {
                    // One write per line, append mode: the runner never
                    // sees half a record unless the disk is full.
                    let _ = out.write_all(&line.to_bytes());
                }
            }
            _ => {}
        }
    }
}
