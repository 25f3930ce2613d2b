//! The settings the core's decisions depend on: a plain value, built once
//! from the config and what the executor can do.

use std::path::PathBuf;
use std::time::Duration;

use super::slots::Slot;
use crate::schedule::Schedule;

/// Finished, failed and cancelled jobs kept in the ledger (LOG.txt keeps
/// the rest of the story); the ledger's job table stays bounded.
pub const KEEP_FINISHED: usize = 200;

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    /// Unaddressed lines are this node's (it is alone, or the folder's default node).
    pub runs_unaddressed: bool,
    /// Several nodes share the folder: output folders carry the node's name.
    pub multi: bool,
    pub output: PathBuf,
    /// Where each job's renderer output is kept (`<state>/jobs`).
    pub jobs_dir: PathBuf,
    /// The `-r` values this node renders with.
    pub maya_renderers: Vec<String>,
    pub cpus: u32,
    pub default_retries: u32,
    pub default_timeout: Option<Duration>,
    pub schedule: Option<Schedule>,
    pub scene_stable: Duration,
    /// A start or an end that could not be recorded is tried again this much later.
    pub retry_after: Duration,
    /// Refresh preview.jpg every N finished frames (0: only on `progress:`).
    pub preview_every: u32,
    pub recent_jobs: usize,
    /// Why `suspend:` cannot work here (the executor cannot freeze its
    /// renderers), or `None` when it can.
    pub no_suspend: Option<String>,
    /// The farm's name when the executor hands jobs to one ("Slurm"), for
    /// the words of LOG lines about re-attaching.
    pub farm: Option<&'static str>,
    /// How the executor freezes and thaws a renderer, for LOG lines
    /// ("SIGSTOP", "SIGCONT").
    pub freeze: (&'static str, &'static str),
    /// Where jobs run, at most one each (`slots`, `[[slots]]`).
    pub slots: Vec<Slot>,
    /// Renders of a frame that fails its checks before the job fails.
    pub verify_retries: u32,
}

impl Policy {
    /// The file a job's renderer output goes to.
    pub fn job_log(&self, id: u64) -> PathBuf {
        self.jobs_dir.join(format!("{id}.log"))
    }

    /// A policy for unit tests: one node alone on its folder, local renders.
    pub fn for_tests() -> Self {
        Policy {
            name: "box".into(),
            runs_unaddressed: true,
            multi: false,
            output: PathBuf::from("/renders"),
            jobs_dir: PathBuf::from("/state/jobs"),
            maya_renderers: droprender_shared::profile::maya::RENDERERS
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            cpus: 8,
            default_retries: 0,
            default_timeout: None,
            schedule: None,
            scene_stable: Duration::from_secs(3),
            retry_after: Duration::from_secs(10),
            preview_every: 0,
            recent_jobs: 10,
            no_suspend: None,
            farm: None,
            freeze: ("SIGSTOP", "SIGCONT"),
            slots: Slot::plain(1),
            verify_retries: 2,
        }
    }
}
