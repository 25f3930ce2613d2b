//! An in-memory Slurm for the runner's tests: array jobs whose task states a
//! test sets or lets advance on each squeue, failures to inject (sbatch
//! errors, a refused --nice, a controller that is down, ids Slurm forgot),
//! and a log of every call.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Mutex, MutexGuard};

use super::cli::{SbatchRequest, SlurmCli};
use super::error::SlurmError;
use super::parse::{Phase, TaskMap, TaskStatus, active};
use super::tasks::{self, task_log};

/// A call the runner made, in order.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Call {
    Sbatch(SbatchRequest),
    Squeue(String),
    FindByName(String),
    Scancel(String),
    ScancelName(String),
    Jobcomp(String),
}

#[derive(Debug)]
pub(super) struct FakeJob {
    pub name: String,
    pub tasks: TaskMap,
    /// Slurm forgot the id (after MinJobAge): squeue says "Invalid job id".
    pub purged: bool,
    /// scancel ran: running tasks stay COMPLETING for this many more squeues.
    cancelling: Option<u32>,
    work_dir: Option<PathBuf>,
}

/// Lets submitted arrays run by themselves: on each squeue of a job, its
/// running tasks end (writing their frames to `out_dir`, or failing when
/// listed in `fail`) and its pending tasks start (writing a log line).
#[derive(Debug, Clone)]
pub(super) struct Auto {
    pub out_dir: PathBuf,
    /// Array indices that fail (exit 3) instead of writing their frames.
    pub fail: BTreeSet<u32>,
}

#[derive(Debug, Default)]
pub(super) struct Cluster {
    next_id: u64,
    pub jobs: BTreeMap<String, FakeJob>,
    pub calls: Vec<Call>,
    /// The controller does not answer: every command fails.
    pub down: bool,
    /// sbatch refuses a negative --nice (the node is not a Slurm operator).
    pub refuse_nice: bool,
    /// The next sbatch calls fail with these.
    pub sbatch_errors: VecDeque<SlurmError>,
    /// The next this-many sbatch calls submit but print no id.
    pub sbatch_no_id: u32,
    /// After scancel, running tasks stay COMPLETING for this many squeues.
    pub slow_cancel: u32,
    pub auto: Option<Auto>,
}

#[derive(Debug, Default)]
pub(super) struct FakeCli {
    cluster: Mutex<Cluster>,
}

fn failed(program: &'static str, stderr: &str) -> SlurmError {
    SlurmError::Failed {
        program,
        stderr: stderr.to_string(),
        status: ExitStatus::from_raw(1 << 8),
    }
}

fn down(program: &'static str) -> SlurmError {
    failed(
        program,
        &format!("{program}: error: Unable to contact slurm controller (connect failure)"),
    )
}

impl FakeCli {
    pub fn new() -> Self {
        let f = FakeCli::default();
        f.with(|c| c.next_id = 100);
        f
    }

    /// Runs `f` on the cluster (the lock is never held across an await).
    pub fn with<T>(&self, f: impl FnOnce(&mut Cluster) -> T) -> T {
        f(&mut self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Cluster> {
        self.cluster
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The sbatch calls so far.
    pub fn submissions(&self) -> Vec<SbatchRequest> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Sbatch(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Adds a job as if submitted earlier; its id.
    pub fn add_job(&self, name: &str, n: u32, state: &str) -> String {
        self.with(|c| c.add(name, n, state, None))
    }

    /// Sets task `k` of `job` (`k` 0: every task).
    pub fn set(&self, job: &str, k: u32, state: &str, reason: &str) {
        self.with(|c| {
            let j = c.jobs.get_mut(job).expect("fake job");
            for (i, t) in j.tasks.iter_mut() {
                if k == 0 || *i == k {
                    *t = TaskStatus::new(state, reason);
                }
            }
        });
    }

    /// Whether `job` has a task pending or running.
    pub fn is_active(&self, job: &str) -> bool {
        self.with(|c| c.jobs.get(job).is_some_and(|j| active(&j.tasks)))
    }
}

impl Cluster {
    fn add(&mut self, name: &str, n: u32, state: &str, work_dir: Option<PathBuf>) -> String {
        let id = self.next_id.to_string();
        self.next_id += 1;
        let tasks = (1..=n)
            .map(|k| (k, TaskStatus::new(state, "None")))
            .collect();
        self.jobs.insert(
            id.clone(),
            FakeJob {
                name: name.to_string(),
                tasks,
                purged: false,
                cancelling: None,
                work_dir,
            },
        );
        id
    }

    /// One squeue's worth of time for `id`.
    fn advance(&mut self, id: &str) {
        let auto = self.auto.clone();
        let Some(j) = self.jobs.get_mut(id) else {
            return;
        };
        if let Some(n) = j.cancelling {
            if n == 0 {
                for t in j.tasks.values_mut().filter(|t| t.phase == Phase::Running) {
                    *t = TaskStatus::new("CANCELLED", "None");
                }
                j.cancelling = None;
            } else {
                j.cancelling = Some(n - 1);
            }
            return;
        }
        let (Some(auto), Some(work_dir)) = (auto, j.work_dir.clone()) else {
            return;
        };
        let specs = tasks::read_tasks(&work_dir).unwrap_or_default();
        for (k, t) in j.tasks.iter_mut() {
            let frames = usize::try_from(*k - 1)
                .ok()
                .and_then(|i| specs.get(i))
                .map(|s| s.frames.clone())
                .unwrap_or_default();
            let log = task_log(&work_dir, id, *k);
            match t.phase {
                Phase::Running if auto.fail.contains(k) => {
                    append(&log, "Error: Frame rendering aborted.\n");
                    *t = TaskStatus::new("FAILED", "NonZeroExitCode");
                }
                Phase::Running => {
                    for f in frames {
                        write_frame(&auto.out_dir, f);
                    }
                    *t = TaskStatus::new("COMPLETED", "None");
                }
                Phase::Pending => {
                    let first = frames.first().copied().unwrap_or(0);
                    append(
                        &log,
                        &format!(
                            "Starting Rendering {}/shot.{first:04}.exr\nPercentage of rendering done: 40\n",
                            auto.out_dir.display()
                        ),
                    );
                    *t = TaskStatus::new("RUNNING", "None");
                }
                _ => {}
            }
        }
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::File::options()
        .create(true)
        .append(true)
        .open(path)
        .expect("task log");
    f.write_all(text.as_bytes()).expect("task log");
}

/// A complete frame file (renderer::frame_files wants > 16 bytes of EXR).
pub(super) fn write_frame(out_dir: &Path, f: i64) {
    std::fs::create_dir_all(out_dir).expect("output dir");
    std::fs::write(out_dir.join(format!("shot.{f:04}.exr")), [7u8; 32]).expect("frame");
}

impl SlurmCli for FakeCli {
    async fn sbatch(&self, req: &SbatchRequest) -> Result<String, SlurmError> {
        let mut c = self.lock();
        c.calls.push(Call::Sbatch(req.clone()));
        if c.down {
            return Err(down("sbatch"));
        }
        if let Some(e) = c.sbatch_errors.pop_front() {
            return Err(e);
        }
        if c.refuse_nice && req.nice < 0 {
            // What 22.05 tells a user who is not a Slurm operator (measured).
            return Err(SlurmError::NiceRefused {
                stderr: "sbatch: error: Batch job submission failed: Invalid --nice value".into(),
            });
        }
        let n = u32::try_from(req.tasks).expect("task count");
        let id = c.add(&req.name, n, "PENDING", Some(req.work_dir.clone()));
        if c.sbatch_no_id > 0 {
            c.sbatch_no_id -= 1;
            return Err(SlurmError::NoJobId {
                stdout: "Submitted.".into(),
            });
        }
        Ok(id)
    }

    async fn squeue_tasks(&self, job: &str) -> Result<TaskMap, SlurmError> {
        let mut c = self.lock();
        c.calls.push(Call::Squeue(job.to_string()));
        if c.down {
            return Err(down("squeue"));
        }
        if c.jobs.get(job).is_none_or(|j| j.purged) {
            return Err(SlurmError::UnknownJob {
                program: "squeue",
                stderr: "slurm_load_jobs error: Invalid job id specified".into(),
            });
        }
        c.advance(job);
        Ok(c.jobs[job].tasks.clone())
    }

    async fn find_by_name(&self, name: &str) -> Result<Option<String>, SlurmError> {
        let mut c = self.lock();
        c.calls.push(Call::FindByName(name.to_string()));
        if c.down {
            return Err(down("squeue"));
        }
        Ok(c.jobs
            .iter()
            .filter(|(_, j)| j.name == name && !j.purged && active(&j.tasks))
            .map(|(id, _)| id.clone())
            .min_by_key(|id| id.parse::<u64>().unwrap_or(u64::MAX)))
    }

    async fn scancel(&self, job: &str) -> Result<(), SlurmError> {
        let mut c = self.lock();
        c.calls.push(Call::Scancel(job.to_string()));
        if c.down {
            return Err(down("scancel"));
        }
        let slow = c.slow_cancel;
        // scancel of an id Slurm does not know exits 0 (measured, 22.05).
        let Some(j) = c.jobs.get_mut(job).filter(|j| !j.purged) else {
            return Ok(());
        };
        for t in j.tasks.values_mut() {
            match t.phase {
                Phase::Pending => *t = TaskStatus::new("CANCELLED", "None"),
                Phase::Running => *t = TaskStatus::new("COMPLETING", "None"),
                _ => {}
            }
        }
        j.cancelling.get_or_insert(slow);
        Ok(())
    }

    async fn scancel_name(&self, name: &str) -> Result<(), SlurmError> {
        let mut c = self.lock();
        c.calls.push(Call::ScancelName(name.to_string()));
        if c.down {
            return Err(down("scancel"));
        }
        for j in c.jobs.values_mut().filter(|j| j.name == name) {
            for t in j.tasks.values_mut().filter(|t| t.phase != Phase::Done) {
                *t = TaskStatus::new("CANCELLED", "None");
            }
        }
        Ok(())
    }

    async fn jobcomp(&self, job: &str) -> Result<TaskMap, SlurmError> {
        let mut c = self.lock();
        c.calls.push(Call::Jobcomp(job.to_string()));
        if c.down {
            return Err(down("scontrol"));
        }
        // jobcomp/filetxt keeps finished tasks, also after squeue forgot them.
        Ok(c.jobs
            .get(job)
            .map(|j| {
                j.tasks
                    .iter()
                    .filter(|(_, t)| matches!(t.phase, Phase::Done | Phase::Failed))
                    .map(|(k, t)| (*k, t.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }
}
