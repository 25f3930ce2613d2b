//! The core's rules, driven without processes, folders or sleeps: a table
//! of disk facts, a state built from journal records, and a clock that
//! moves when the test says so. The harness applies effects the way the
//! node does (records, then acts), so what holds here holds in the node.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use droprender_shared::command::parse_str;
use droprender_shared::files::Source;
use droprender_shared::logline::{Event as Ev, LogLine};
use droprender_shared::states::{JobPhase, NodeState};
use droprender_shared::status::NodeInfo;
use proptest::prelude::*;

use super::intake::Step;
use super::*;
use crate::channel::{NewLine, Plan};
use crate::exec::{Event, Outcome, Stop};
use crate::ledger::{Batch, JobState, State};
use crate::renderer::Progress;

#[derive(Default)]
struct FakeFacts {
    /// Scenes that do not exist.
    missing: BTreeSet<String>,
    /// Scenes still syncing.
    syncing: BTreeSet<String>,
    /// Frames on disk per output folder.
    frames: HashMap<PathBuf, BTreeSet<i64>>,
}

impl Facts for FakeFacts {
    fn in_projects(&self, given: &str) -> Result<PathBuf, PathError> {
        if given.contains("..") || given.starts_with('/') {
            return Err(PathError::Outside(given.into(), "/projects".into()));
        }
        if self.missing.contains(given) {
            return Err(PathError::Missing(given.into(), "/projects".into()));
        }
        Ok(Path::new("/projects").join(given))
    }

    fn in_output(&self, given: &str) -> Result<PathBuf, PathError> {
        if given.contains("..") {
            return Err(PathError::Outside(given.into(), "/renders".into()));
        }
        Ok(Path::new("/renders").join(given))
    }

    fn arriving(&self, _: &str) -> Option<PathBuf> {
        None
    }

    fn scene(&self, path: &Path, _: Duration, _: SystemTime) -> SceneState {
        let rel = path.strip_prefix("/projects").unwrap_or(path);
        let rel = rel.to_string_lossy();
        if self.missing.contains(rel.as_ref()) {
            SceneState::Missing
        } else if self.syncing.contains(rel.as_ref()) {
            SceneState::Syncing {
                why: format!("{rel} is still syncing"),
                recheck: Duration::from_secs(1),
            }
        } else {
            SceneState::Ready
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.frames.contains_key(path)
    }

    fn frames_done(&self, dir: &Path, _: usize) -> BTreeSet<i64> {
        self.frames.get(dir).cloned().unwrap_or_default()
    }
}

/// The node's loop, in miniature: applies records to the state, keeps acts.
struct Harness {
    st: State,
    core: Core,
    facts: FakeFacts,
    now: Now,
    /// Jobs handed to the executor, in order, with the frames already done.
    started: Vec<(u64, BTreeSet<i64>)>,
    acts: Vec<Act>,
    log: Vec<LogLine>,
}

impl Harness {
    fn new(policy: Policy) -> Self {
        Harness {
            st: State::empty(),
            core: Core::new(policy),
            facts: FakeFacts::default(),
            now: Now {
                wall: chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
                    .and_then(|d| d.and_hms_opt(12, 0, 0))
                    .expect("date"),
                mono: Instant::now(),
                system: SystemTime::now(),
            },
            started: Vec::new(),
            acts: Vec::new(),
            log: Vec::new(),
        }
    }

    fn apply(&mut self, fx: Effects) {
        for r in fx.records {
            self.st.apply(r);
        }
        for a in fx.acts {
            if let Act::Start(s) = &a {
                self.started.push((s.job, s.done.clone()));
            }
            self.acts.push(a);
        }
        self.log.extend(fx.log);
    }

    fn start_all(&mut self) {
        loop {
            let fx = self.core.start_next(&self.st, &self.facts, &self.now);
            let durable = !fx.records.is_empty();
            self.apply(fx);
            if !durable {
                return;
            }
        }
    }

    /// New lines of commands.txt, through intake and the node's ingest order.
    fn ingest(&mut self, lines: &[&str]) {
        let first = self.st.peek_job_id();
        let new_lines = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let (text, cmd) = match parse_str(l) {
                    Ok(Some((t, c))) => (t, Ok(c)),
                    Ok(None) => panic!("blank line {l:?}"),
                    Err(e) => (l.to_string(), Err(e)),
                };
                NewLine {
                    lineno: first + i as u64,
                    text,
                    parsed: cmd,
                }
            })
            .collect();
        let plan = Plan {
            repeats: Vec::new(),
            source: Source::Main,
            batch: Batch {
                src: "commands.txt".into(),
                ..Default::default()
            },
            rebase: None,
            new_lines,
            skipped: 0,
            history: false,
            rewritten: false,
        };
        let intake = self.core.intake(&self.st, &self.facts, plan, &self.now);
        self.st.apply(intake.plan.batch.into_record());
        self.log.extend(intake.log);
        self.core.hold(intake.steps.iter().filter_map(|s| match s {
            Step::Job(id) => Some(*id),
            Step::Control(..) => None,
        }));
        for step in intake.steps {
            match step {
                Step::Job(id) => self.core.release(id),
                Step::Control(id, at) => {
                    self.start_all();
                    let fx = self
                        .core
                        .control(&self.st, &self.facts, id, Some(&at), &self.now);
                    self.apply(fx);
                }
            }
        }
        self.core.release_all();
        self.start_all();
    }

    /// The executor reports that job `id` ended.
    fn end(&mut self, id: u64, outcome: Outcome) {
        let fx = self.core.on_event(
            &self.st,
            &self.facts,
            id,
            Event::Finished(outcome),
            &self.now,
        );
        self.apply(fx);
        self.start_all();
    }

    fn state(&self, id: u64) -> Option<JobState> {
        self.st.job(id).map(|j| j.state())
    }

    fn events(&self, ev: Ev) -> Vec<String> {
        self.log
            .iter()
            .filter(|l| l.event == ev)
            .map(|l| l.to_string())
            .collect()
    }

    fn started_ids(&self) -> Vec<u64> {
        self.started.iter().map(|s| s.0).collect()
    }

    fn running(&self) -> Option<u64> {
        self.st.running().next().map(|j| j.id())
    }

    fn tick(&mut self, d: Duration) {
        self.now = self.now.after(d);
        self.core.woke(&self.now);
    }
}

fn harness() -> Harness {
    Harness::new(Policy::for_tests())
}

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

/// A random workload: render lines (some with `after=` earlier jobs and
/// priorities) and controls, then the executor ends each started job with
/// a random outcome.
#[derive(Debug, Clone)]
enum Op {
    Render {
        after: Option<u8>,
        prio: i8,
    },
    Cancel(u8),
    Pause,
    Resume,
    Retry(u8),
    /// The running job ends: finished, or failed.
    End(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (proptest::option::of(0u8..8), -2i8..3).prop_map(|(after, prio)| Op::Render { after, prio }),
        1 => (1u8..10).prop_map(Op::Cancel),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
        1 => (1u8..10).prop_map(Op::Retry),
        5 => any::<bool>().prop_map(Op::End),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the workload: at most one job runs; no job starts while a
    /// job it waits for is unfinished, failed or cancelled; a cancelled
    /// job starts again only after `retry:`; while paused nothing starts;
    /// a job that was started is never started by someone else's end.
    #[test]
    fn queue_rules_hold_for_any_workload(ops in proptest::collection::vec(op(), 1..60)) {
        let mut h = harness();
        let mut retried: BTreeSet<u64> = BTreeSet::new();
        let mut cancelled_at: BTreeMap<u64, usize> = BTreeMap::new();
        for o in ops {
            let before = h.started.len();
            let paused = h.st.is_paused();
            match o {
                Op::Render { after, prio } => {
                    let mut l = format!("rend:-s 1 -e 2 scenes/s.mb priority={prio}");
                    if let Some(a) = after.filter(|a| u64::from(*a) < h.st.peek_job_id() && *a > 0) {
                        l.push_str(&format!(" after={a}"));
                    }
                    h.ingest(&[&l]);
                }
                Op::Cancel(id) => h.ingest(&[&format!("cancel: {id}")]),
                Op::Pause => h.ingest(&["pause:"]),
                Op::Resume => h.ingest(&["resume:"]),
                Op::Retry(id) => {
                    if h.state(u64::from(id)) == Some(JobState::Cancelled) {
                        retried.insert(u64::from(id));
                    }
                    h.ingest(&[&format!("retry: {id}")])
                }
                Op::End(ok) => {
                    if let Some(id) = h.running() {
                        let outcome = if ok { Outcome::Done } else { Outcome::Failed("x".into()) };
                        if ok {
                            h.facts.frames.insert(
                                h.st.job(id).map(|j| j.rec.output_dir.clone()).expect("job"),
                                BTreeSet::from([1, 2]),
                            );
                        }
                        h.end(id, outcome);
                    }
                }
            }
            prop_assert!(h.st.running().count() <= 1);
            for (id, _) in &h.started[before..] {
                let job = h.st.job(*id).expect("started job");
                if paused && h.st.is_paused() {
                    prop_assert!(false, "job {id} started while paused");
                }
                if let Ok(req) = &job.req {
                    for a in &req.options.after {
                        prop_assert_eq!(h.state(*a), Some(JobState::Finished), "job {} started before job {} finished", id, a);
                    }
                }
                if let Some(_at) = cancelled_at.get(id) {
                    prop_assert!(retried.contains(id), "cancelled job {id} restarted without retry:");
                }
            }
            for j in h.st.jobs() {
                if j.state() == JobState::Cancelled {
                    cancelled_at.entry(j.id()).or_insert(h.started.len());
                } else {
                    cancelled_at.remove(&j.id());
                }
            }
        }
    }

    /// Jobs start in priority order, then arrival order.
    #[test]
    fn priorities_order_the_queue(prios in proptest::collection::vec(-3i8..4, 2..12)) {
        let mut h = harness();
        h.ingest(&["pause:"]);
        let lines: Vec<String> = prios
            .iter()
            .map(|p| format!("rend:-s 1 -e 1 scenes/s.mb priority={p}"))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        h.ingest(&refs);
        h.ingest(&["resume:"]);
        while let Some(id) = h.running() {
            h.end(id, Outcome::Failed("x".into()));
        }
        let mut want: Vec<(i8, u64)> = prios.iter().enumerate().map(|(i, p)| (-p, i as u64 + 1)).collect();
        want.sort();
        prop_assert_eq!(h.started_ids(), want.iter().map(|w| w.1).collect::<Vec<_>>());
    }
}
