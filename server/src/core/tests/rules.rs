//! The queue, lifecycle and control rules, one example each.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use droprender_shared::logline::Event as Ev;
use droprender_shared::states::{JobPhase, NodeState};
use droprender_shared::status::NodeInfo;

use super::super::slots::Slot;
use super::super::*;
use super::{Harness, harness};
use crate::exec::{Event, Outcome, Stop};
use crate::ledger::JobState;
use crate::renderer::Progress;

#[test]
fn a_line_becomes_a_job_and_runs_to_the_end() {
    let mut h = harness();
    h.ingest(&["rend:-s 1 -e 3 scenes/a.mb"]);
    assert_eq!(h.started_ids(), [1]);
    assert_eq!(h.state(1), Some(JobState::Running));
    assert!(h.events(Ev::Accepted)[0].contains("job 1"));
    assert!(h.events(Ev::Started)[0].contains("rendering frames 1-3"));
    h.facts
        .frames
        .insert("/renders/job-0001-a".into(), BTreeSet::from([1, 2, 3]));
    h.end(1, Outcome::Done);
    assert_eq!(h.state(1), Some(JobState::Finished));
    assert!(h.events(Ev::Finished)[0].contains("3 frame(s)"));
    assert!(h.acts.iter().any(|a| matches!(
        a,
        Act::Notify {
            kind: NoticeKind::Finished,
            ..
        }
    )));
}

#[test]
fn a_clean_exit_with_frames_missing_is_a_failure() {
    let mut h = harness();
    h.ingest(&["rend:-s 1 -e 3 scenes/a.mb"]);
    h.facts
        .frames
        .insert("/renders/job-0001-a".into(), BTreeSet::from([1]));
    h.end(1, Outcome::Done);
    assert_eq!(h.state(1), Some(JobState::Failed));
    assert!(h.events(Ev::Failed)[0].contains("2 of 3 frame(s) are missing"));
}

#[test]
fn retry_renders_only_missing_frames() {
    let mut h = harness();
    h.ingest(&["rend:-s 1 -e 10 scenes/a.mb retries=2"]);
    let out = PathBuf::from("/renders/job-0001-a");
    h.facts.frames.insert(out.clone(), (1..=4).collect());
    h.end(1, Outcome::Failed("Render exited 211".into()));
    assert_eq!(h.events(Ev::Retrying).len(), 1);
    // Requeued and started again, with what is on disk left alone.
    assert_eq!(h.started_ids(), [1, 1]);
    assert_eq!(h.started[1].1, (1..=4).collect());
    assert!(h.events(Ev::Resumed)[0].contains("4 frame(s) already on disk; rendering frames 5-10"));
    h.facts.frames.insert(out, (1..=7).collect());
    h.end(1, Outcome::Stalled(Duration::from_secs(1800)));
    assert_eq!(h.started[2].1, (1..=7).collect());
    assert!(h.events(Ev::Resumed)[1].contains("rendering frames 8-10"));
    // Retries used up: the third failure fails the job.
    h.end(1, Outcome::TimedOut(Duration::from_secs(60)));
    assert_eq!(h.state(1), Some(JobState::Failed));
    assert_eq!(h.started.len(), 3);
}

#[test]
fn a_job_whose_frames_are_all_on_disk_finishes_without_running() {
    let mut h = harness();
    h.facts
        .frames
        .insert("/renders/job-0001-a".into(), BTreeSet::from([1, 2]));
    h.ingest(&["rend:-s 1 -e 2 scenes/a.mb"]);
    assert!(h.started.is_empty());
    assert_eq!(h.state(1), Some(JobState::Finished));
}

#[test]
fn a_cancelled_job_never_restarts() {
    let mut h = harness();
    h.ingest(&[
        "rend:-s 1 -e 5 scenes/a.mb",
        "rend:-s 1 -e 5 scenes/b.mb",
        "cancel: 2",
    ]);
    assert_eq!(h.state(2), Some(JobState::Cancelled));
    // Cancelling the running one stops it; its end makes it cancelled.
    h.ingest(&["cancel: 1"]);
    assert!(h.acts.iter().any(|a| matches!(
        a,
        Act::Stop {
            job: 1,
            how: Stop::Cancel
        }
    )));
    h.end(1, Outcome::Cancelled);
    assert_eq!(h.state(1), Some(JobState::Cancelled));
    for _ in 0..5 {
        h.tick(Duration::from_secs(60));
        h.start_all();
    }
    assert_eq!(h.started_ids(), [1]);
    h.ingest(&["cancel: 1", "cancel: 99"]);
    let r = h.events(Ev::Rejected);
    assert!(
        r[0].contains("cancel:1 because job 1 is already cancelled"),
        "{r:?}"
    );
    assert!(r[1].contains("because there is no job 99"), "{r:?}");
    // Until someone asks for it again.
    h.ingest(&["retry: 2"]);
    assert_eq!(h.started_ids(), [1, 2]);
}

#[test]
fn pause_holds_the_lines_after_it() {
    let mut h = harness();
    h.ingest(&["pause:", "rend:-s 1 -e 1 scenes/a.mb"]);
    assert!(h.started.is_empty());
    assert_eq!(
        h.core.note(),
        Some("the queue is paused; send `resume:` to continue")
    );
    h.ingest(&["resume:"]);
    assert_eq!(h.started_ids(), [1]);

    let mut h = harness();
    h.ingest(&[
        "rend:-s 1 -e 1 scenes/a.mb",
        "pause:",
        "rend:-s 1 -e 1 scenes/b.mb",
    ]);
    assert_eq!(h.started_ids(), [1], "the job before `pause:` started");
    h.end(1, Outcome::Failed("x".into()));
    assert_eq!(h.started_ids(), [1], "the one after it waits");
    let doc = h.core.status_doc(&h.st, &NodeInfo::default(), true, &h.now);
    assert_eq!(doc.state, NodeState::Paused);
}

#[test]
fn after_chains_cancel_when_a_dependency_fails() {
    let mut h = harness();
    h.ingest(&[
        "rend:-s 1 -e 1 scenes/a.mb",
        "rend:-s 1 -e 1 scenes/b.mb after=1",
        "rend:-s 1 -e 1 scenes/c.mb after=2",
        "rend:-s 1 -e 1 scenes/d.mb",
    ]);
    let doc = h.core.status_doc(&h.st, &NodeInfo::default(), true, &h.now);
    assert_eq!(doc.queue[0].state, JobPhase::Queued);
    h.end(1, Outcome::Failed("boom".into()));
    assert_eq!(h.state(2), Some(JobState::Cancelled));
    assert_eq!(h.state(3), Some(JobState::Cancelled));
    assert!(h.events(Ev::Cancelled)[0].contains("job 1, which it waits for, failed"));
    assert!(h.events(Ev::Cancelled)[1].contains("job 2, which it waits for, was cancelled"));
    assert_eq!(h.started_ids(), [1, 4]);
    h.ingest(&["rend:-s 1 -e 1 scenes/e.mb after=9"]);
    assert!(h.events(Ev::Rejected)[0].contains("after=9: there is no earlier job 9"));
}

#[test]
fn a_syncing_scene_waits_and_a_missing_one_fails() {
    let mut h = harness();
    h.facts.syncing.insert("scenes/a.mb".into());
    h.ingest(&["rend:-s 1 -e 1 scenes/a.mb"]);
    assert!(h.started.is_empty());
    assert!(h.core.wake_at().is_some(), "it looks again");
    let doc = h.core.status_doc(&h.st, &NodeInfo::default(), true, &h.now);
    assert_eq!(doc.queue[0].state, JobPhase::Waiting);
    h.facts.syncing.clear();
    h.tick(Duration::from_secs(1));
    h.start_all();
    assert_eq!(h.started_ids(), [1]);
    h.facts.missing.insert("scenes/b.mb".into());
    h.ingest(&["rend:-s 1 -e 1 scenes/b.mb"]);
    assert!(h.events(Ev::Rejected)[0].contains("scene: scenes/b.mb does not exist"));
}

#[test]
fn render_hours_hold_the_queue_until_the_window_opens() {
    let mut policy = Policy::for_tests();
    let file: crate::schedule::ScheduleFile =
        toml::from_str("mon = \"19:00-07:00\"").expect("schedule");
    policy.schedule = crate::schedule::Schedule::from_file(&file).expect("valid");
    let mut h = Harness::new(policy);
    // 2026-11-30 is a Monday; 12:00 is outside the window.
    h.ingest(&["rend:-s 1 -e 1 scenes/a.mb"]);
    assert!(h.started.is_empty());
    assert!(
        h.core
            .note()
            .is_some_and(|n| n.contains("outside render hours"))
    );
    let wake = h.core.wake_at().expect("a wake-up at the window");
    assert!(wake >= h.now.mono + Duration::from_secs(7 * 3600 - 1));
    h.tick(Duration::from_secs(7 * 3600 + 1));
    h.start_all();
    assert_eq!(h.started_ids(), [1]);
}

#[test]
fn suspend_needs_a_running_renderer() {
    let mut h = harness();
    h.ingest(&["rend:-s 1 -e 9 scenes/a.mb", "rend:-s 1 -e 9 scenes/b.mb"]);
    h.ingest(&["suspend: 1"]);
    assert!(h.events(Ev::Rejected)[0].contains("job 1 has no renderer process yet"));
    let fx = h.core.on_event(
        &h.st,
        &h.facts,
        1,
        Event::Spawned {
            pid: 42,
            start: None,
        },
        &h.now,
    );
    h.apply(fx);
    h.ingest(&["suspend: 1", "suspend: 2", "resume: 1", "resume: 1"]);
    let r = h.events(Ev::Rejected);
    assert!(
        r[1].contains("job 2 is not rendering (it is queued)"),
        "{r:?}"
    );
    assert!(r[2].contains("job 1 is not suspended"), "{r:?}");
    assert!(
        h.events(Ev::Node)
            .iter()
            .any(|l| l.contains("suspended (SIGSTOP)"))
    );
    assert!(h.events(Ev::Resumed)[0].contains("continued (SIGCONT)"));
    let mut farm = Policy::for_tests();
    farm.no_suspend = Some("job {id} runs on a farm".into());
    let mut h = Harness::new(farm);
    h.ingest(&["rend:-s 1 -e 9 scenes/a.mb", "suspend: 1"]);
    assert!(h.events(Ev::Rejected)[0].contains("because job 1 runs on a farm"));
}

#[test]
fn priority_reorders_queued_jobs_only() {
    let mut h = harness();
    h.ingest(&[
        "rend:-s 1 -e 1 scenes/a.mb",
        "rend:-s 1 -e 1 scenes/b.mb",
        "rend:-s 1 -e 1 scenes/c.mb priority=low",
        "rend:-s 1 -e 1 scenes/d.mb",
        "priority: 4 high",
        "priority: 1 low",
    ]);
    assert!(h.events(Ev::Node)[0].contains("queue order now 4, 2, 3"));
    assert!(h.events(Ev::Rejected)[0].contains("only queued jobs can be reordered"));
    h.end(1, Outcome::Done);
    assert_eq!(h.started_ids(), [1, 4]);
}

#[test]
fn progress_lines_move_the_status_and_frames_trigger_previews() {
    let mut p = Policy::for_tests();
    p.preview_every = 2;
    let mut h = Harness::new(p);
    h.ingest(&["rend:-s 1 -e 4 scenes/a.mb"]);
    for f in 1..=2 {
        let fx = h.core.on_event(
            &h.st,
            &h.facts,
            1,
            Event::Progress(Progress::FrameDone(Some(PathBuf::from(format!(
                "/renders/job-0001-a/a.{f:04}.png"
            ))))),
            &h.now,
        );
        assert_eq!(fx.status, StatusChange::Progress);
        h.apply(fx);
    }
    let fx = h.core.on_event(
        &h.st,
        &h.facts,
        1,
        Event::Progress(Progress::Percent(50.0)),
        &h.now,
    );
    h.apply(fx);
    assert!(
        h.acts
            .iter()
            .any(|a| matches!(a, Act::Previews { job: 1, log: false }))
    );
    h.tick(Duration::from_secs(10));
    let doc = h.core.status_doc(&h.st, &NodeInfo::default(), true, &h.now);
    let cur = doc.current.expect("rendering");
    assert_eq!((cur.frames_done, cur.frames_total), (2, 4));
    assert!((cur.percent - 62.5).abs() < 1e-9, "{}", cur.percent);
    assert_eq!(cur.avg_frame_s, Some(5.0));
    assert_eq!(cur.eta_s, Some(7.5));
    assert_eq!(doc.state, NodeState::Rendering);
}

#[test]
fn a_frame_timed_where_it_rendered_keeps_its_own_record() {
    let mut h = harness();
    h.ingest(&["rend:-s 1 -e 4 scenes/a.mb"]);
    let started = chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .expect("time");
    let measured = |frame: i64, secs: f64| {
        Event::FrameMeasured(crate::exec::Measured {
            frame,
            path: Some(PathBuf::from(format!(
                "/renders/job-0001-a/a.{frame:04}.png"
            ))),
            started,
            secs,
            peak_mem: Some(2 << 30),
        })
    };
    for ev in [measured(1, 90.0), measured(2, 30.0), measured(2, 30.0)] {
        let fx = h.core.on_event(&h.st, &h.facts, 1, ev, &h.now);
        h.apply(fx);
    }
    // Judged with the task's record, not the node's clock; counted once.
    let judged: Vec<(i64, f64)> = h
        .acts
        .iter()
        .filter_map(|a| match a {
            Act::JudgeFrame { frame, stat, .. } => {
                assert_eq!(stat.started, started);
                assert_eq!(stat.peak_mem, Some(2 << 30));
                Some((*frame, stat.secs))
            }
            _ => None,
        })
        .collect();
    assert_eq!(judged, [(1, 90.0), (2, 30.0)]);
    let doc = h.core.status_doc(&h.st, &NodeInfo::default(), true, &h.now);
    let cur = doc.current.expect("rendering");
    assert_eq!(cur.frames_done, 2);
    assert_eq!(cur.frames.len(), 2);
    let stats = cur.frame_stats.expect("frame stats");
    assert_eq!((stats.avg_s, stats.slowest_frame), (60.0, Some(1)));
    assert_eq!(stats.peak_mem_mb, Some(2048));
}

#[test]
fn a_crash_interrupts_running_jobs_and_they_resume_first() {
    let mut h = harness();
    h.ingest(&["rend:-s 1 -e 5 scenes/a.mb"]);
    h.ingest(&["rend:-s 1 -e 5 scenes/b.mb priority=high"]);
    // The node dies; at the next start the core sees job 1 as running.
    let core = Core::new(Policy::for_tests());
    let fx = core.recover(&h.st, &h.now);
    assert!(fx.log[0].to_string().contains("interrupted job 1"));
    h.core = core;
    h.apply(fx);
    assert_eq!(h.state(1), Some(JobState::Interrupted));
    h.facts
        .frames
        .insert("/renders/job-0001-a".into(), BTreeSet::from([1, 2]));
    h.start_all();
    assert_eq!(
        h.started_ids(),
        [1, 1],
        "interrupted before higher priority"
    );
    assert_eq!(h.started[1].1, BTreeSet::from([1, 2]));
}

#[test]
fn a_stop_interrupts_and_nothing_new_starts() {
    let mut h = harness();
    h.ingest(&["rend:-s 1 -e 5 scenes/a.mb", "rend:-s 1 -e 5 scenes/b.mb"]);
    let fx = h.core.shutdown(&h.st, Shutdown::Graceful, &h.now);
    assert!(matches!(
        fx.acts[..],
        [Act::Stop {
            job: 1,
            how: Stop::Interrupt
        }]
    ));
    h.apply(fx);
    h.end(1, Outcome::Interrupted);
    assert_eq!(h.state(1), Some(JobState::Interrupted));
    assert_eq!(h.started_ids(), [1]);
    let fx = h.core.shutdown(&h.st, Shutdown::Force, &h.now);
    assert!(fx.acts.is_empty(), "nothing runs any more");
}

#[test]
fn lines_for_other_nodes_are_theirs() {
    let mut h = harness();
    h.ingest(&[
        "rend@other:-s 1 -e 1 scenes/a.mb",
        "rend@BOX:-s 1 -e 1 scenes/b.mb",
    ]);
    assert_eq!(h.started_ids(), [1]);
    assert_eq!(
        h.st.job(1).map(|j| j.canonical_line()).as_deref(),
        Some("rend@BOX:-s 1 -e 1 scenes/b.mb")
    );
}

fn two_gpu_slots() -> Policy {
    let mut p = Policy::for_tests();
    p.slots = vec![
        Slot {
            name: "g0".into(),
            gpus: vec![0],
            cycles_device: Some("CUDA".into()),
        },
        Slot {
            name: "g1".into(),
            gpus: vec![1],
            cycles_device: Some("CUDA".into()),
        },
    ];
    p
}

#[test]
fn jobs_run_at_once_in_their_own_slots() {
    let mut h = Harness::new(two_gpu_slots());
    h.ingest(&[
        "rend:-s 1 -e 2 scenes/a.mb",
        "rend:-s 1 -e 2 scenes/b.mb",
        "rend:-s 1 -e 2 scenes/c.mb",
    ]);
    assert_eq!(h.started_ids(), [1, 2], "two slots, two jobs");
    let slots: Vec<Slot> = h
        .acts
        .iter()
        .filter_map(|a| match a {
            Act::Start(s) => Some(s.slot.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(slots[0].gpus, [0]);
    assert_eq!(slots[1].gpus, [1]);
    let doc = h.core.status_doc(&h.st, &NodeInfo::default(), true, &h.now);
    assert_eq!(doc.running.len(), 2);
    assert_eq!(doc.running[1].slot.as_deref(), Some("g1"));
    assert_eq!(
        doc.queue[0].message.as_deref(),
        None,
        "slots full: the queue just waits"
    );
    h.end(2, Outcome::Failed("x".into()));
    assert_eq!(
        h.started_ids(),
        [1, 2, 3],
        "the freed slot takes the next job"
    );
    assert_eq!(
        h.st.job(3).and_then(|j| j.rec.slot.clone()).as_deref(),
        Some("g1")
    );
}

#[test]
fn gpus_and_slot_requests_are_honoured_or_refused() {
    let mut p = two_gpu_slots();
    p.slots.push(Slot {
        name: "cpu".into(),
        gpus: vec![],
        cycles_device: None,
    });
    let mut h = Harness::new(p);
    h.ingest(&[
        "rend:-s 1 -e 2 scenes/a.mb slot=g1",
        "rend:-s 1 -e 2 scenes/b.mb",
        "rend:-s 1 -e 2 scenes/c.mb gpus=1",
        "rend:-s 1 -e 2 scenes/d.mb gpus=2",
        "rend:-s 1 -e 2 scenes/e.mb slot=nope",
    ]);
    let slot_of = |h: &Harness, id| h.st.job(id).and_then(|j| j.rec.slot.clone());
    assert_eq!(slot_of(&h, 1).as_deref(), Some("g1"));
    assert_eq!(
        slot_of(&h, 2).as_deref(),
        Some("cpu"),
        "a CPU job leaves GPUs free"
    );
    assert_eq!(slot_of(&h, 3).as_deref(), Some("g0"));
    let r = h.events(Ev::Rejected);
    assert!(
        r[0].contains(
            "gpus=2: no slot of this node has that many GPUs (slots: g0 [GPU 0], g1 [GPU 1], cpu)"
        ),
        "{r:?}"
    );
    assert!(
        r[1].contains("slot=nope: this node has no such slot"),
        "{r:?}"
    );
    // A job pinned to a busy slot waits while others pass it.
    h.ingest(&[
        "rend:-s 1 -e 2 scenes/f.mb slot=g1",
        "rend:-s 1 -e 2 scenes/g.mb",
    ]);
    h.end(2, Outcome::Failed("x".into()));
    assert_eq!(
        slot_of(&h, 7).as_deref(),
        Some("cpu"),
        "job 6 waits for g1; job 7 backfills"
    );
    let doc = h.core.status_doc(&h.st, &NodeInfo::default(), true, &h.now);
    assert_eq!(doc.queue[0].message.as_deref(), Some("waiting for slot g1"));
}

#[test]
fn a_crash_with_two_jobs_running_resumes_both() {
    let mut h = Harness::new(two_gpu_slots());
    h.ingest(&["rend:-s 1 -e 4 scenes/a.mb", "rend:-s 1 -e 4 scenes/b.mb"]);
    h.facts
        .frames
        .insert("/renders/job-0001-a".into(), BTreeSet::from([1, 2]));
    h.facts
        .frames
        .insert("/renders/job-0002-b".into(), BTreeSet::from([1]));
    let core = Core::new(two_gpu_slots());
    let fx = core.recover(&h.st, &h.now);
    assert_eq!(fx.records.len(), 2);
    h.core = core;
    h.apply(fx);
    h.start_all();
    assert_eq!(h.started_ids(), [1, 2, 1, 2]);
    assert_eq!(h.started[2].1, BTreeSet::from([1, 2]));
    assert_eq!(h.started[3].1, BTreeSet::from([1]));
    assert!(h.events(Ev::Resumed)[0].contains("rendering frames 3-4"));
    assert!(h.events(Ev::Resumed)[1].contains("rendering frames 2-4"));
}
