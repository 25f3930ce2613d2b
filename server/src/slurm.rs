//! The Slurm executor: a job's frames become one sbatch array job, one task
//! per chunk, each running the same validated argv the local executor would.
//!
//! Contract with the node (the same events as [`crate::worker`]):
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
//! Tasks run `droprender-node slurm-task <work_dir>`, which execs the argv for
//! `$SLURM_ARRAY_TASK_ID` from `<work_dir>/tasks.json`: no shell sees it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::config::SlurmSettings;
use crate::renderer::Invocation;
use crate::worker::{Ctl, Event, Outcome};

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
}

/// Runs the submission to its end, reporting to `events`.
pub async fn run(job: Job, events: mpsc::Sender<(u64, Event)>, _ctl: watch::Receiver<Ctl>) {
    let _ = events
        .send((
            job.id,
            Event::Finished(Outcome::Failed(
                "the Slurm executor is not built yet; set [executor] kind = \"local\"".into(),
            )),
        ))
        .await;
}

/// `droprender-node slurm-task <work_dir>`: runs one array task's argv.
pub fn task_main(work_dir: &Path) -> std::process::ExitCode {
    eprintln!(
        "droprender-node slurm-task: not built yet ({})",
        work_dir.display()
    );
    std::process::ExitCode::FAILURE
}
