//! The Slurm executor: a job's frames become one sbatch array job, one task
//! per chunk, each running the same validated argv the local executor would.
//!
//! Contract with the node (the same events as [`crate::exec::local`]):
//! - send `Event::Submitted { farm_id }` as soon as sbatch returns an id (the
//!   node journals it); with `attach: Some(id)` re-attach to that job (or find
//!   it by name with `squeue --name`) instead of submitting again;
//! - send `Event::Tasks` as task states change and `Event::Progress(FrameDone)`
//!   as frames appear in the output dir;
//! - send `Event::Note` for things the user should read (sbatch errors while
//!   waiting to retry: the job is never lost);
//! - on `Stop::Cancel` run scancel and end with `Outcome::Cancelled`; on
//!   `Stop::Interrupt`/`Force` (the node is stopping) leave the farm job
//!   running and end with `Outcome::Interrupted`: the restart re-attaches;
//! - end with `Outcome::Done` when every task completed, or `Failed` naming the
//!   missing frames and the task logs (the node retries missing frames).
//!
//! Tasks run `droprender-node slurm-task <work_dir>`, which runs the argv for
//! `$SLURM_ARRAY_TASK_ID` from `<work_dir>/tasks.json` (no shell sees it) as
//! its child, timing each frame into `task-<ID>_<n>.frames`; the runner
//! sends `Event::FrameMeasured` for a frame with a record.
//!
//! # How a run goes
//! 1. **Find or submit.** With `attach: Some(id)` the job is looked up with
//!    squeue; a job Slurm no longer knows is looked up by name, and one that
//!    has ended is evaluated from the frames on disk (never submitted again).
//!    Without `attach`, a queued or running job named `Job.name` is adopted
//!    (the node crashed between sbatch and its journal write); otherwise
//!    `tasks.json` and the fixed batch script are written and sbatch runs
//!    (`--array=1-N`, so `$SLURM_ARRAY_TASK_ID` is 1-based). When Slurm cannot
//!    be asked or sbatch fails, a Note says why and the run retries every
//!    [`SUBMIT_RETRY`]; it never submits without first checking the name.
//! 2. **Watch.** Every `poll`: new frames on disk become `FrameDone`,
//!    `squeue -r -j ID -t all` gives the task counts, and the running tasks'
//!    logs (`task-<ID>_<n>.log` in the work dir) are parsed for the current
//!    frame and percent. A controller that does not answer gets one Note; the
//!    watch goes on.
//! 3. **End.** When no task is pending or running: `Done` if every task
//!    completed and every frame is on disk, else `Failed` naming the missing
//!    frames and each failed task's state, last error line and log path.
//!
//! Farm tasks carry `DROPRENDER_JOB=slurm/<tag>`, not the local executor's
//! `<tag>`: a node restarting after a crash kills local leftovers tagged with
//! its id, and must not kill farm tasks that happen to run on its own host.
//!
//! # Layout
//! - `cli`: the Slurm command line behind [`SlurmCli`] ([`RealCli`] runs
//!   the programs; [`SlurmError`] says why one failed);
//! - `parse`: what the tools print, read into task states;
//! - `tasks`: tasks.json, the batch script, task log names;
//! - `runner`: one run (find or submit, watch, cancel), over any [`SlurmCli`];
//! - `logs`: running tasks' logs read for progress;
//! - `verdict`: the end, Done or Failed with the reasons;
//! - `task`: the `slurm-task` process each array task runs; `supervised`:
//!   its renderer run under the local worker, frames timed; `records`: the
//!   frame records it writes and the runner reads; `tail`: task files
//!   read as they grow (logs and records alike); `timing`: the runner's waits;
//! - tests only: `fake`, an in-memory Slurm behind [`SlurmCli`], and `tests`,
//!   the runner driven by it.
//!
//! Siblings depend only downwards (cli/logs/verdict on parse and tasks, the
//! runner on all of them), never in a cycle.

mod cli;
mod error;
#[cfg(test)]
mod fake;
mod logs;
mod parse;
mod records;
mod runner;
mod supervised;
mod tail;
mod task;
mod tasks;
#[cfg(test)]
mod tests;
mod timing;
mod verdict;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, SlurmSettings};
use crate::exec::{Caps, Events, ExecJob, Executor, Handle};
use crate::renderer::{self, Invocation};

pub use cli::{COMMAND_TIMEOUT, RealCli, SbatchRequest, SlurmCli};
pub use error::SlurmError;
pub use parse::{Phase, TaskMap, TaskStatus};
pub use runner::SUBMIT_RETRY;
pub use task::task_main;
pub use tasks::{SCRIPT_FILE, TASK_TAG_PREFIX, TASKS_FILE};

/// The Slurm executor: each job becomes one sbatch array.
pub struct Slurm<C: SlurmCli = RealCli> {
    /// The node's config with the renderer programs as the cluster sees them.
    farm_cfg: Config,
    settings: SlurmSettings,
    cli: Arc<C>,
}

impl Slurm {
    /// Runs the real Slurm client tools.
    pub fn new(cfg: Arc<Config>, settings: SlurmSettings) -> Self {
        Slurm::with_cli(cfg, settings, Arc::new(RealCli::default()))
    }
}

impl<C: SlurmCli> Slurm<C> {
    /// Talks to Slurm through `cli`.
    pub fn with_cli(cfg: Arc<Config>, settings: SlurmSettings, cli: Arc<C>) -> Self {
        let mut farm_cfg = Config::clone(&cfg);
        if let Some(p) = &settings.maya_program {
            farm_cfg.maya = p.clone();
        }
        if let Some(p) = &settings.blender_program {
            farm_cfg.blender = p.clone();
        }
        for (name, p) in &settings.programs {
            farm_cfg.programs.insert(name.clone(), p.clone());
        }
        Slurm {
            farm_cfg,
            settings,
            cli,
        }
    }
}

impl<C: SlurmCli> Executor for Slurm<C> {
    fn caps(&self) -> Caps {
        Caps {
            no_suspend: Some(
                "job {id} runs on Slurm, whose tasks cannot be suspended from here; `cancel: {id}` then `retry: {id}` renders the missing frames later".into(),
            ),
            farm: Some("Slurm"),
            freeze: ("SIGSTOP", "SIGCONT"),
        }
    }

    fn start(&self, job: ExecJob, events: Events) -> Handle {
        let (handle, ctl) = Handle::new();
        let id = job.id;
        let req = &job.resolved.request;
        let sjob = Job {
            id,
            name: format!("droprender-{}-{id}", self.farm_cfg.name),
            tasks: renderer::plan_chunks(
                &self.farm_cfg,
                &job.resolved,
                &job.done,
                self.settings.chunk,
            ),
            work_dir: self.farm_cfg.state.join("slurm").join(format!("job-{id}")),
            output_dir: job.resolved.output_dir.clone(),
            layers: renderer::layers(req),
            attach: job.attach,
            nice: -job.priority,
            tag: job.tag,
            settings: self.settings.clone(),
            timeout: job.timeout,
            kind: req.renderer,
        };
        tokio::spawn(runner::run(
            Arc::clone(&self.cli),
            runner::Timing::default(),
            sjob,
            events,
            ctl,
        ));
        handle
    }
}

/// One submission.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: u64,
    /// The Slurm job name: `droprender-<node>-<job>`.
    pub name: String,
    /// One invocation per array task (already chunked).
    pub tasks: Vec<Invocation>,
    /// `<state>/slurm/job-<id>`: tasks.json, the batch script, task logs.
    pub work_dir: PathBuf,
    pub output_dir: PathBuf,
    /// Render layers (a frame is done when every layer has it).
    pub layers: usize,
    /// A Slurm job id from the journal: re-attach instead of submitting.
    pub attach: Option<String>,
    /// `--nice` (higher droprender priority = lower nice).
    pub nice: i32,
    /// Exported to tasks as DROPRENDER_JOB.
    pub tag: String,
    pub settings: SlurmSettings,
    pub timeout: Option<Duration>,
    /// Which renderer's output parser reads the task logs.
    pub kind: droprender_shared::profile::RendererKind,
}

/// Runs file work (frame scans, task logs, work files) on the blocking pool,
/// off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        // A panic there is a bug: re-raise it here, as if it ran inline.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
