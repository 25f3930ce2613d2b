//! The runner against the fake cluster ([`super::fake`]): submit, attach,
//! resubmit, the nice fallback, cancel, timeout, frames and the verdict,
//! with every wait shrunk to milliseconds ([`Timing`]) so no test needs a
//! cluster or takes long.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::fake::{Auto, Call, FakeCli, write_frame};
use super::runner::{self, Timing};
use super::{Job, SlurmError};
use crate::config::SlurmSettings;
use crate::exec::{Event, Handle, Outcome};
use crate::renderer::{Invocation, Progress};

mod attach;
mod executor;
mod submit;
mod watch;

const NAME: &str = "droprender-test-1";
/// How long a test waits for an event before it fails (real time).
const PATIENCE: Duration = Duration::from_secs(10);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn fast() -> Timing {
    Timing {
        submit_retry: ms(30),
        min_poll: ms(1),
        attach_retry: ms(5),
        cancel_poll: ms(2),
        rescancel: ms(50),
        cancel_confirm: ms(300),
    }
}

struct Rig {
    dir: tempfile::TempDir,
    fake: Arc<FakeCli>,
    handle: Option<Handle>,
    rx: Option<mpsc::Receiver<(u64, Event)>>,
    seen: Vec<Event>,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            dir: tempfile::tempdir().expect("tempdir"),
            fake: Arc::new(FakeCli::new()),
            handle: None,
            rx: None,
            seen: Vec::new(),
        }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("state/slurm/job-1")
    }

    /// Lets submitted arrays run by themselves, task `fail`s failing.
    fn auto(&self, fail: &[u32]) {
        let auto = Auto {
            out_dir: self.out(),
            fail: fail.iter().copied().collect(),
        };
        self.fake.with(|c| c.auto = Some(auto));
    }

    /// Job 1: two tasks, frames 1-3 and 4-6.
    fn job(&self) -> Job {
        let chunk = |a: i64, b: i64| Invocation {
            program: PathBuf::from("/bin/Render"),
            args: [
                "-r",
                "sw",
                "-s",
                &a.to_string(),
                "-e",
                &b.to_string(),
                "shot.ma",
            ]
            .iter()
            .map(Into::into)
            .collect(),
            frames: (a..=b).collect(),
            env: Vec::new(),
        };
        Job {
            id: 1,
            name: NAME.into(),
            tasks: vec![chunk(1, 3), chunk(4, 6)],
            work_dir: self.work(),
            output_dir: self.out(),
            layers: 1,
            attach: None,
            nice: 0,
            tag: "node:1".into(),
            settings: SlurmSettings {
                partition: Some("render".into()),
                chunk: 3,
                max_tasks: None,
                time_limit: None,
                sbatch_args: vec![],
                maya_program: None,
                blender_program: None,
                programs: Default::default(),
                node_program: Some(PathBuf::from("/opt/droprender-node")),
                poll: ms(5),
            },
            timeout: None,
            kind: droprender_shared::profile::RendererKind::Maya,
        }
    }

    fn start(&mut self, job: Job) {
        let (handle, ctl) = Handle::new();
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(runner::run(Arc::clone(&self.fake), fast(), job, tx, ctl));
        self.handle = Some(handle);
        self.rx = Some(rx);
    }

    fn handle(&self) -> &Handle {
        self.handle.as_ref().expect("started")
    }

    /// Waits for the first event (after those already seen) that `pred` accepts.
    async fn until(&mut self, what: &str, pred: impl Fn(&Event) -> bool) {
        let rx = self.rx.as_mut().expect("started");
        loop {
            let ev = tokio::time::timeout(PATIENCE, rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {what} in {PATIENCE:?}; seen {:#?}", self.seen))
                .unwrap_or_else(|| panic!("events ended before {what}; seen {:#?}", self.seen));
            assert_eq!(ev.0, 1, "events carry the job id");
            let hit = pred(&ev.1);
            let end = matches!(ev.1, Event::Finished(_));
            self.seen.push(ev.1);
            if hit {
                return;
            }
            assert!(!end, "finished before {what}: {:#?}", self.seen);
        }
    }

    async fn note(&mut self, needle: &str) {
        self.until(
            needle,
            |e| matches!(e, Event::Note(n) if n.contains(needle)),
        )
        .await;
    }

    async fn end(&mut self) -> Outcome {
        self.until("the end", |e| matches!(e, Event::Finished(_)))
            .await;
        match self.seen.last() {
            Some(Event::Finished(o)) => o.clone(),
            _ => unreachable!(),
        }
    }

    fn notes(&self) -> Vec<&str> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                Event::Note(n) => Some(n.as_str()),
                _ => None,
            })
            .collect()
    }

    fn frames_done(&self) -> Vec<i64> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                Event::Progress(Progress::FrameDone(Some(p))) => {
                    let stem = p.file_stem()?.to_str()?;
                    stem.rsplit('.').next()?.parse().ok()
                }
                _ => None,
            })
            .collect()
    }

    fn submitted(&self) -> Vec<&str> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                Event::Submitted { farm_id } => Some(farm_id.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The name checks and sbatch calls, in order: "find" / "sbatch".
    fn submit_calls(&self) -> Vec<&'static str> {
        self.fake
            .calls()
            .iter()
            .filter_map(|c| match c {
                Call::FindByName(n) if n == NAME => Some("find"),
                Call::Sbatch(_) => Some("sbatch"),
                _ => None,
            })
            .collect()
    }

    /// Marks every task of `job` completed with its frames on disk.
    fn complete(&self, job: &str) {
        for f in 1..=6 {
            write_frame(&self.out(), f);
        }
        self.fake.set(job, 0, "COMPLETED", "None");
    }
}

fn sbatch_failure(stderr: &str) -> SlurmError {
    use std::os::unix::process::ExitStatusExt;
    SlurmError::Failed {
        program: "sbatch",
        stderr: stderr.into(),
        status: std::process::ExitStatus::from_raw(1 << 8),
    }
}
