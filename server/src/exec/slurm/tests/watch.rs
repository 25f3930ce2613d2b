//! Watching and ending: frames on disk, task counts and log progress, the
//! verdict, a controller that goes down, cancel, interrupt and timeout.

use super::super::fake::{Call, write_frame};
use super::{NAME, Rig, ms, sbatch_failure};
use crate::exec::{Event, Outcome, Stop};
use crate::renderer::Progress;

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
async fn frames_carry_the_records_their_tasks_wrote() {
    use super::super::records::{Line, records_file};
    let mut rig = Rig::new();
    rig.auto(&[]);
    // Task 1 of the first array (Slurm id 100) timed frames 1 and 3 itself;
    // frame 2 and task 2's frames have no record.
    std::fs::create_dir_all(rig.work()).expect("work dir");
    let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("time");
    let mut text = Line::new(1, at("2026-11-30 10:00:00"), 61.5, Some(3 << 30)).to_bytes();
    text.extend(Line::new(3, at("2026-11-30 10:02:00"), 59.0, None).to_bytes());
    std::fs::write(records_file(&rig.work(), "100", 1), text).expect("records");
    rig.start(rig.job());
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    let measured: Vec<(i64, f64, Option<u64>, bool)> = rig
        .seen
        .iter()
        .filter_map(|e| match e {
            Event::FrameMeasured(m) => Some((m.frame, m.secs, m.peak_mem, m.path.is_some())),
            _ => None,
        })
        .collect();
    assert_eq!(
        measured,
        [(1, 61.5, Some(3 << 30), true), (3, 59.0, None, true)]
    );
    // The others are reported as before, each once.
    let mut frames = rig.frames_done();
    frames.sort_unstable();
    assert_eq!(frames, [2, 4, 5, 6]);
}
