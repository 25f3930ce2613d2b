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
use crate::exec::{Event, Handle, Outcome, Stop};
use crate::renderer::{Invocation, Progress};

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

#[tokio::test]
async fn a_submission_runs_and_every_frame_becomes_frame_done() {
    let mut rig = Rig::new();
    rig.auto(&[]);
    // Frame 2 was on disk before the run: it is not reported again.
    write_frame(&rig.out(), 2);
    rig.start(rig.job());
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert!(matches!(&rig.seen[0], Event::Submitted { farm_id } if farm_id == "100"));
    assert_eq!(rig.submitted(), ["100"]);
    assert_eq!(rig.submit_calls(), ["find", "sbatch"]);
    let subs = rig.fake.submissions();
    assert_eq!((subs[0].tasks, subs[0].nice), (2, 0));
    assert_eq!(subs[0].partition.as_deref(), Some("render"));
    let mut frames = rig.frames_done();
    frames.sort_unstable();
    assert_eq!(frames, [1, 3, 4, 5, 6]);
    // The task logs gave the current frame and percent.
    assert!(rig.seen.iter().any(|e| matches!(
        e,
        Event::Progress(Progress::FrameStarted(Some(f))) if f.ends_with("shot.0001.exr") || f.ends_with("shot.0004.exr")
    )));
    assert!(
        rig.seen
            .iter()
            .any(|e| matches!(e, Event::Progress(Progress::Percent(p)) if *p == 40.0))
    );
    // Task counts as they changed: both running, then both done.
    let counts: Vec<[u32; 4]> = rig
        .seen
        .iter()
        .filter_map(|e| match e {
            Event::Tasks {
                pending,
                running,
                done,
                failed,
            } => Some([*pending, *running, *done, *failed]),
            _ => None,
        })
        .collect();
    assert_eq!(counts, [[0, 2, 0, 0], [0, 0, 2, 0]]);
    // The work files were written before sbatch ran.
    let script = std::fs::read_to_string(rig.work().join("batch.sh")).expect("batch.sh");
    assert!(script.contains("exec '/opt/droprender-node' slurm-task "));
    assert!(rig.work().join("tasks.json").exists());
}

#[tokio::test]
async fn a_failed_task_fails_the_run_naming_its_frames_and_log() {
    let mut rig = Rig::new();
    rig.auto(&[2]);
    rig.start(rig.job());
    let Outcome::Failed(msg) = rig.end().await else {
        panic!("not failed: {:#?}", rig.seen)
    };
    let log = rig.work().join("task-100_2.log");
    assert_eq!(
        msg,
        format!(
            "3 frame(s) missing after Slurm job 100: 4-6; task 2 FAILED (NonZeroExitCode), frames 4-6: Error: Frame rendering aborted.; log {}",
            log.display()
        )
    );
    let mut frames = rig.frames_done();
    frames.sort_unstable();
    assert_eq!(frames, [1, 2, 3]);
}

#[tokio::test]
async fn sbatch_failures_are_retried_after_a_name_check_each_time() {
    let mut rig = Rig::new();
    rig.auto(&[]);
    let refusal = "sbatch: error: Batch job submission failed: Invalid partition name specified";
    rig.fake.with(|c| {
        c.sbatch_errors
            .extend([sbatch_failure(refusal), sbatch_failure(refusal)]);
    });
    let t = std::time::Instant::now();
    rig.start(rig.job());
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    let want = format!("sbatch failed: {refusal}; retrying in 0 s");
    assert_eq!(rig.notes(), [want.as_str(), want.as_str()]);
    // Never an sbatch without the name check right before it.
    assert_eq!(
        rig.submit_calls(),
        ["find", "sbatch", "find", "sbatch", "find", "sbatch"]
    );
    assert!(t.elapsed() >= 2 * fast().submit_retry, "{:?}", t.elapsed());
    assert_eq!(rig.submitted(), ["100"]);
}

#[tokio::test]
async fn a_refused_nice_is_dropped_and_the_job_submitted_at_nice_zero() {
    let mut rig = Rig::new();
    rig.auto(&[]);
    rig.fake.with(|c| c.refuse_nice = true);
    let mut job = rig.job();
    job.nice = -5;
    rig.start(job);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(
        rig.notes(),
        [
            "sbatch refused --nice=-5 (sbatch: error: Batch job submission failed: Invalid nice value); only Slurm operators may raise a job's priority: submitting at nice 0"
        ]
    );
    let subs = rig.fake.submissions();
    assert_eq!(subs.iter().map(|s| s.nice).collect::<Vec<_>>(), [-5, 0]);
    assert!(subs[0].argv().contains(&"--nice=-5".into()));
    assert!(
        !subs[1]
            .argv()
            .iter()
            .any(|a| a.to_string_lossy().starts_with("--nice"))
    );
    assert_eq!(rig.submit_calls(), ["find", "sbatch", "find", "sbatch"]);
}

#[tokio::test]
async fn sbatch_without_a_job_id_is_found_by_name_not_submitted_twice() {
    let mut rig = Rig::new();
    rig.auto(&[]);
    rig.fake.with(|c| c.sbatch_no_id = 1);
    rig.start(rig.job());
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(
        rig.notes(),
        [
            "sbatch printed no job id (\"Submitted.\"); looking it up by name in 0 s",
            "found Slurm job 100 named droprender-test-1 already queued (the node stopped before recording it): attached to it instead of submitting again",
        ]
    );
    assert_eq!(rig.submit_calls(), ["find", "sbatch", "find"]);
    assert_eq!(rig.submitted(), ["100"]);
}

#[tokio::test]
async fn a_job_queued_under_its_name_is_adopted_instead_of_submitted() {
    let mut rig = Rig::new();
    let id = rig.fake.add_job(NAME, 2, "RUNNING");
    rig.start(rig.job());
    rig.note("already queued").await;
    assert_eq!(rig.submitted(), [id.as_str()]);
    rig.complete(&id);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(rig.submit_calls(), ["find"]);
}

#[tokio::test]
async fn a_controller_that_is_down_delays_the_submission() {
    let mut rig = Rig::new();
    rig.fake.with(|c| c.down = true);
    rig.start(rig.job());
    rig.note("so nothing is submitted yet").await;
    assert_eq!(
        rig.notes(),
        [
            "squeue failed: squeue: error: Unable to contact slurm controller (connect failure); cannot check whether droprender-test-1 is already queued, so nothing is submitted yet; retrying in 0 s"
        ]
    );
    assert!(rig.fake.submissions().is_empty());
    rig.auto(&[]);
    rig.fake.with(|c| c.down = false);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(rig.fake.submissions().len(), 1);
}

#[tokio::test]
async fn attach_by_id_re_attaches_and_never_submits() {
    let mut rig = Rig::new();
    let id = rig.fake.add_job(NAME, 2, "RUNNING");
    rig.fake.set(&id, 2, "PENDING", "JobArrayTaskLimit");
    let mut job = rig.job();
    job.attach = Some(id.clone());
    rig.start(job);
    rig.note("re-attached").await;
    assert_eq!(
        rig.notes(),
        [
            "re-attached to Slurm job 100 after the node restarted: 1 task(s) running, 1 pending, 0 done, 0 failed"
        ]
    );
    rig.complete(&id);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert!(rig.submit_calls().is_empty(), "{:?}", rig.fake.calls());
    // The journal already has the id: no Submitted again.
    assert!(rig.submitted().is_empty());
}

#[tokio::test]
async fn attach_finds_the_job_by_name_when_slurm_does_not_know_the_id() {
    let mut rig = Rig::new();
    let id = rig.fake.add_job(NAME, 2, "RUNNING");
    let mut job = rig.job();
    job.attach = Some("55".into());
    rig.start(job);
    rig.note("found by its name").await;
    assert_eq!(
        rig.notes(),
        [
            "re-attached to Slurm job 100, found by its name droprender-test-1 (Slurm does not know job 55)"
        ]
    );
    assert_eq!(rig.submitted(), [id.as_str()]);
    rig.complete(&id);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(rig.submit_calls(), ["find"]);
}

#[tokio::test]
async fn a_job_that_ended_while_the_node_was_away_is_judged_not_resubmitted() {
    // Still listed (squeue -t all): judged from its states and frames.
    let mut rig = Rig::new();
    let id = rig.fake.add_job(NAME, 2, "COMPLETED");
    for f in 1..=6 {
        write_frame(&rig.out(), f);
    }
    let mut job = rig.job();
    job.attach = Some(id);
    rig.start(job);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(
        rig.notes(),
        [
            "re-attached to Slurm job 100: it ended while the node was away (2 task(s) done, 0 failed); checking its frames"
        ]
    );
    assert!(rig.submit_calls().is_empty());

    // Forgotten by Slurm: jobcomp's record and the frames decide.
    let mut rig = Rig::new();
    let id = rig.fake.add_job(NAME, 2, "COMPLETED");
    rig.fake
        .with(|c| c.jobs.get_mut(&id).expect("job").purged = true);
    for f in 1..=3 {
        write_frame(&rig.out(), f);
    }
    let mut job = rig.job();
    job.attach = Some(id.clone());
    rig.start(job);
    let Outcome::Failed(msg) = rig.end().await else {
        panic!("not failed: {:#?}", rig.seen)
    };
    assert_eq!(
        msg,
        format!(
            "3 frame(s) missing after Slurm job 100: 4-6; task 2 COMPLETED without all its frames, frames 4-6; log {}",
            rig.work().join("task-100_2.log").display()
        )
    );
    assert_eq!(
        rig.notes(),
        [
            "re-attached to Slurm job 100: Slurm no longer lists it, so it ended while the node was away; checking its frames (it is not submitted again)"
        ]
    );
    assert!(rig.fake.calls().contains(&Call::Jobcomp(id)));
    assert!(rig.fake.submissions().is_empty());
}

#[tokio::test]
async fn a_controller_down_while_watching_is_noted_once() {
    let mut rig = Rig::new();
    rig.start(rig.job());
    rig.until("the submission", |e| matches!(e, Event::Submitted { .. }))
        .await;
    rig.fake.with(|c| c.down = true);
    rig.note("the Slurm controller may be down").await;
    // Several polls fail while it is down; one note says so.
    tokio::time::sleep(ms(50)).await;
    rig.fake.with(|c| c.down = false);
    rig.note("Slurm answers again; watching job 100").await;
    rig.complete("100");
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(
        rig.notes(),
        [
            "squeue failed: squeue: error: Unable to contact slurm controller (connect failure); the Slurm controller may be down; job 100 stays queued and the node keeps asking",
            "Slurm answers again; watching job 100",
        ]
    );
}

#[tokio::test]
async fn cancel_runs_scancel_and_waits_until_no_task_is_active() {
    let mut rig = Rig::new();
    rig.fake.with(|c| c.slow_cancel = 3);
    rig.start(rig.job());
    rig.until("the submission", |e| matches!(e, Event::Submitted { .. }))
        .await;
    rig.fake.set("100", 0, "RUNNING", "None");
    rig.until("running tasks", |e| {
        matches!(e, Event::Tasks { running: 2, .. })
    })
    .await;
    rig.handle().stop(Stop::Cancel);
    assert_eq!(rig.end().await, Outcome::Cancelled, "{:#?}", rig.seen);
    // By the time the run says so, Slurm has no task left.
    assert!(!rig.fake.is_active("100"));
    let calls = rig.fake.calls();
    let at = calls
        .iter()
        .position(|c| *c == Call::Scancel("100".into()))
        .expect("scancel");
    let looks = calls[at..]
        .iter()
        .filter(|c| matches!(c, Call::Squeue(_)))
        .count();
    assert_eq!(
        looks, 4,
        "squeue until the tasks left COMPLETING: {calls:?}"
    );
    assert!(rig.seen.iter().any(|e| matches!(
        e,
        Event::Tasks {
            failed: 2,
            running: 0,
            ..
        }
    )));
}

#[tokio::test]
async fn a_cancel_slurm_never_confirms_says_what_to_check() {
    let mut rig = Rig::new();
    rig.fake.with(|c| c.slow_cancel = u32::MAX);
    rig.start(rig.job());
    rig.until("the submission", |e| matches!(e, Event::Submitted { .. }))
        .await;
    rig.fake.set("100", 0, "RUNNING", "None");
    rig.handle().stop(Stop::Cancel);
    assert_eq!(rig.end().await, Outcome::Cancelled);
    assert_eq!(
        rig.notes(),
        [
            "could not confirm that Slurm job 100 stopped; check with `squeue -j 100` and `scancel 100`"
        ]
    );
    // scancel was repeated while waiting.
    let scancels = rig
        .fake
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Scancel(_)))
        .count();
    assert!(scancels >= 2, "{scancels}");
}

#[tokio::test]
async fn a_cancel_before_anything_was_submitted_cancels_by_name() {
    let mut rig = Rig::new();
    rig.fake.with(|c| {
        c.sbatch_errors
            .extend((0..1000).map(|_| sbatch_failure("sbatch: error: Socket timed out")));
    });
    rig.start(rig.job());
    rig.note("sbatch failed").await;
    rig.handle().stop(Stop::Cancel);
    assert_eq!(rig.end().await, Outcome::Cancelled);
    assert_eq!(
        rig.fake.calls().last(),
        Some(&Call::ScancelName(NAME.into()))
    );
}

#[tokio::test]
async fn an_interrupt_leaves_the_farm_job_running_and_suspend_is_explained() {
    let mut rig = Rig::new();
    rig.start(rig.job());
    rig.until("the submission", |e| matches!(e, Event::Submitted { .. }))
        .await;
    rig.fake.set("100", 0, "RUNNING", "None");
    rig.handle().suspend(true);
    rig.note("suspend: does not pause a Slurm job").await;
    rig.handle().stop(Stop::Interrupt);
    assert_eq!(rig.end().await, Outcome::Interrupted);
    assert!(rig.fake.is_active("100"));
    assert!(
        !rig.fake
            .calls()
            .iter()
            .any(|c| matches!(c, Call::Scancel(_) | Call::ScancelName(_)))
    );
}

#[tokio::test]
async fn a_timeout_cancels_the_array_and_ends_timed_out() {
    let mut rig = Rig::new();
    let mut job = rig.job();
    job.timeout = Some(ms(100));
    rig.start(job);
    rig.until("the submission", |e| matches!(e, Event::Submitted { .. }))
        .await;
    // Pending tasks do not start the clock.
    tokio::time::sleep(ms(150)).await;
    rig.fake.set("100", 0, "RUNNING", "None");
    let t = std::time::Instant::now();
    assert_eq!(
        rig.end().await,
        Outcome::TimedOut(ms(100)),
        "{:#?}",
        rig.seen
    );
    assert!(t.elapsed() >= ms(90), "{:?}", t.elapsed());
    assert!(rig.fake.calls().contains(&Call::Scancel("100".into())));
    assert!(!rig.fake.is_active("100"));
}

#[tokio::test]
async fn a_work_dir_that_cannot_be_made_fails_the_run() {
    let mut rig = Rig::new();
    std::fs::write(rig.dir.path().join("state"), b"a file").expect("file");
    rig.start(rig.job());
    let Outcome::Failed(msg) = rig.end().await else {
        panic!("not failed: {:#?}", rig.seen)
    };
    assert!(
        msg.starts_with("cannot create the Slurm work dir "),
        "{msg}"
    );
    assert!(rig.fake.calls().is_empty());
}
