//! The core's rules, driven without processes, folders or sleeps: a table
//! of disk facts, a state built from journal records, and a clock that
//! moves when the test says so. The harness applies effects the way the
//! node does (records, then acts), so what holds here holds in the node.

mod props;
mod rules;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use droprender_shared::command::parse_str;
use droprender_shared::files::Source;
use droprender_shared::logline::{Event as Ev, LogLine};

use super::intake::Step;
use super::*;
use crate::channel::{NewLine, Plan};
use crate::exec::{Event, Outcome};
use crate::ledger::{Batch, JobState, State};

#[derive(Default)]
pub(super) struct FakeFacts {
    /// Scenes that do not exist.
    pub(super) missing: BTreeSet<String>,
    /// Scenes still syncing.
    pub(super) syncing: BTreeSet<String>,
    /// Frames on disk per output folder.
    pub(super) frames: HashMap<PathBuf, BTreeSet<i64>>,
    /// Frames judged bad per output folder.
    pub(super) bad: HashMap<PathBuf, BTreeMap<i64, BadFrame>>,
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
        let bad = self.bad.get(dir);
        self.frames
            .get(dir)
            .map(|f| {
                f.iter()
                    .copied()
                    .filter(|n| bad.is_none_or(|b| !b.contains_key(n)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn bad_frames(&self, dir: &Path) -> BTreeMap<i64, BadFrame> {
        self.bad.get(dir).cloned().unwrap_or_default()
    }

    fn frame_summary(&self, _: &Path) -> Option<FrameSummary> {
        None
    }
}

/// The node's loop, in miniature: applies records to the state, keeps acts.
pub(super) struct Harness {
    pub(super) st: State,
    pub(super) core: Core,
    pub(super) facts: FakeFacts,
    pub(super) now: Now,
    /// Jobs handed to the executor, in order, with the frames already done.
    pub(super) started: Vec<(u64, BTreeSet<i64>)>,
    pub(super) acts: Vec<Act>,
    pub(super) log: Vec<LogLine>,
}

impl Harness {
    pub(super) fn new(policy: Policy) -> Self {
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

    pub(super) fn apply(&mut self, fx: Effects) {
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

    pub(super) fn start_all(&mut self) {
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
    pub(super) fn ingest(&mut self, lines: &[&str]) {
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
        self.st.reserve_job_ids(intake.next_job);
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
    pub(super) fn end(&mut self, id: u64, outcome: Outcome) {
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

    pub(super) fn state(&self, id: u64) -> Option<JobState> {
        self.st.job(id).map(|j| j.state())
    }

    pub(super) fn events(&self, ev: Ev) -> Vec<String> {
        self.log
            .iter()
            .filter(|l| l.event == ev)
            .map(|l| l.to_string())
            .collect()
    }

    pub(super) fn started_ids(&self) -> Vec<u64> {
        self.started.iter().map(|s| s.0).collect()
    }

    pub(super) fn running(&self) -> Option<u64> {
        self.st.running().next().map(|j| j.id())
    }

    pub(super) fn tick(&mut self, d: Duration) {
        self.now = self.now.after(d);
        self.core.woke(&self.now);
    }
}

pub(super) fn harness() -> Harness {
    Harness::new(Policy::for_tests())
}
