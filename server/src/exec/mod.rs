//! The executor seam: the node hands a job to an [`Executor`] and hears
//! back through [`Event`]s; it never knows whether the job runs as a local
//! process tree ([`local`]) or as a farm's array job ([`slurm`]).
//!
//! Contract: `start` returns at once with a [`Handle`] that steers the
//! job (stop, suspend); the executor sends events tagged with the job's id
//! and ends with exactly one [`Event::Finished`]. With `attach: Some(id)`
//! it re-attaches to a submission a previous run of the node made instead
//! of starting again.

pub mod local;
#[cfg(unix)]
pub mod slurm;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::renderer::{Progress, Resolved};

/// What the node asks of a running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    /// Keep going.
    No,
    /// The node is shutting down: stop, and resume after the restart.
    Interrupt,
    /// `cancel:` — stop gracefully, and the job is over.
    Cancel,
    /// Stop right now (a second Ctrl-C).
    Force,
}

/// The node's wishes for a running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctl {
    pub stop: Stop,
    /// Frozen by `suspend:`: silence is expected, so no stall detection.
    pub suspended: bool,
}

impl Default for Ctl {
    fn default() -> Self {
        Ctl {
            stop: Stop::No,
            suspended: false,
        }
    }
}

/// How a job's run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    Failed(String),
    Interrupted,
    Cancelled,
    /// No output for this long.
    Stalled(Duration),
    /// Ran longer than its `timeout=`.
    TimedOut(Duration),
}

#[derive(Debug)]
pub enum Event {
    /// A renderer process started (pid, start time).
    Spawned {
        pid: i32,
        start: Option<u64>,
    },
    /// A farm accepted the job (its id there), to be journalled.
    Submitted {
        farm_id: String,
    },
    /// Farm task counts, for status.txt.
    Tasks {
        pending: u32,
        running: u32,
        done: u32,
        failed: u32,
    },
    /// Something the user should read in LOG.txt (e.g. "sbatch failed: …; retrying").
    Note(String),
    Progress(Progress),
    /// The renderer's process tree holds this many bytes now (sampled
    /// every second while it runs), for per-frame peak memory.
    Memory(u64),
    /// A frame is done and was timed where it rendered (a farm task's own
    /// record): used instead of the node's view of when it appeared.
    FrameMeasured(Measured),
    Finished(Outcome),
}

/// One frame as the process that rendered it timed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub frame: i64,
    pub path: Option<PathBuf>,
    /// Local wall time where it rendered.
    pub started: chrono::NaiveDateTime,
    pub secs: f64,
    /// The highest memory sample of the renderer's tree while it rendered.
    pub peak_mem: Option<u64>,
}

/// Where executors send events: the job's id and what happened.
pub type Events = mpsc::Sender<(u64, Event)>;

/// A job to run.
#[derive(Debug)]
pub struct ExecJob {
    pub id: u64,
    pub resolved: Resolved,
    /// Frames already on disk: only the others render.
    pub done: BTreeSet<i64>,
    /// A submission of an earlier run of the node to re-attach to.
    pub attach: Option<String>,
    pub priority: i32,
    pub timeout: Option<Duration>,
    /// The job's renderer output goes here.
    pub log: PathBuf,
    /// Marks every process of the job (see `local::process::TAG_VAR`), so
    /// a restarted node finds leftovers.
    pub tag: String,
    /// The slot it runs in, and the GPUs its renderer may use.
    pub slot: crate::core::slots::Slot,
}

/// What an executor can and cannot do, in the words users read.
#[derive(Debug, Clone)]
pub struct Caps {
    /// Why `suspend:` cannot work, with `{id}` for the job number.
    pub no_suspend: Option<String>,
    /// The farm's name, if jobs go to one.
    pub farm: Option<&'static str>,
    /// How a renderer is frozen and thawed ("SIGSTOP", "SIGCONT").
    pub freeze: (&'static str, &'static str),
}

pub trait Executor: Send + Sync + 'static {
    fn caps(&self) -> Caps;

    /// Starts `job` in the background and returns at once.
    fn start(&self, job: ExecJob, events: Events) -> Handle;
}

/// Steers one running job.
#[derive(Debug)]
pub struct Handle {
    ctl: watch::Sender<Ctl>,
}

impl Handle {
    /// A handle and the receiver the executor's task watches.
    pub fn new() -> (Handle, watch::Receiver<Ctl>) {
        let (ctl, rx) = watch::channel(Ctl::default());
        (Handle { ctl }, rx)
    }

    /// Asks the job to stop; a stronger request wins over a weaker one.
    pub fn stop(&self, how: Stop) {
        self.ctl.send_modify(|c| c.stop = c.stop.max(how));
    }

    pub fn suspend(&self, on: bool) {
        self.ctl.send_modify(|c| c.suspended = on);
    }
}
