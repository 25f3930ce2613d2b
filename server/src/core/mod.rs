//! The node's decisions, with no IO: given the ledger's state, an input and
//! the time, each returns the [`Effects`] to carry out. The event loop in
//! `crate::node` feeds inputs in and applies effects in one fixed order
//! (journal, act, status, LOG); unit tests drive the same functions with a
//! table of facts and a made-up clock.
//!
//! - [`intake`]: new lines become jobs, controls and rejections.
//! - [`queue`]: which queued job starts next, and why the others wait.
//! - [`lifecycle`]: a job starts, reports progress, ends, retries.
//! - [`control`]: one module per control command (`cancel:`, `pause:`…).
//! - [`view`]: the status document.
//!
//! Durable state lives in the ledger ([`State`]) and changes only through
//! the records a decision returns, once the node has written them. The
//! [`Core`] itself holds what is not worth a journal record: live progress,
//! why a job waits, whether the node is stopping.

pub mod control;
pub mod effects;
pub mod facts;
pub mod intake;
pub mod lifecycle;
pub mod live;
pub mod policy;
pub mod queue;
pub mod resolve;
pub mod slots;
pub mod time;
pub mod view;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use droprender_shared::logline::Event as Ev;

pub use effects::{Act, Effects, NoticeKind, Start, StatusChange};
pub use facts::{BadFrame, Facts, FrameSummary, PathError, SceneState};
pub use live::Live;
pub use policy::Policy;
pub use time::Now;

use crate::ledger::{JobState, Record, State};

/// How the node is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Shutdown {
    /// Keep running.
    #[default]
    Run,
    /// Stop taking work; stop renders gracefully; they resume after the restart.
    Graceful,
    /// Stop renders now.
    Force,
}

pub struct Core {
    pub policy: Policy,
    live: HashMap<u64, Live>,
    /// Jobs of a batch whose lines come after a control command that has
    /// not run yet: `pause:` before a render must hold it.
    held: BTreeSet<u64>,
    /// Why nothing starts (paused, render hours), for status files.
    note: Option<String>,
    stopping: Shutdown,
    /// When to look at the queue again (a scene settling, render hours).
    wake: Option<Instant>,
}

impl Core {
    pub fn new(policy: Policy) -> Self {
        Core {
            policy,
            live: HashMap::new(),
            held: BTreeSet::new(),
            note: None,
            stopping: Shutdown::Run,
            wake: None,
        }
    }

    pub fn live(&self, id: u64) -> Option<&Live> {
        self.live.get(&id)
    }

    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    pub fn stopping(&self) -> Shutdown {
        self.stopping
    }

    /// When the queue should be looked at again, if nothing else happens.
    pub fn wake_at(&self) -> Option<Instant> {
        self.wake
    }

    /// The wake-up came: [`Core::start_next`] decides what it means.
    pub fn woke(&mut self, now: &Now) {
        if self.wake.is_some_and(|w| w <= now.mono) {
            self.wake = None;
        }
    }

    fn wake_in(&mut self, now: &Now, d: std::time::Duration) {
        let at = now.mono + d.max(std::time::Duration::from_millis(200));
        self.wake = effects::earliest(self.wake, Some(at));
    }

    /// Holds these jobs until [`Core::release`]: they were accepted after a
    /// control command of the same batch that has not run yet.
    pub fn hold(&mut self, ids: impl IntoIterator<Item = u64>) {
        self.held.extend(ids);
    }

    pub fn release(&mut self, id: u64) {
        self.held.remove(&id);
    }

    pub fn release_all(&mut self) {
        self.held.clear();
    }

    /// At start-up: jobs the ledger says were running were interrupted by
    /// the crash (or power loss) that ended the last run.
    pub fn recover(&self, st: &State, now: &Now) -> Effects {
        let mut fx = Effects::default();
        for j in st.running() {
            let mut rec = j.rec.clone();
            rec.state = JobState::Interrupted;
            rec.proc = None;
            rec.message = Some("the node stopped while it was rendering".into());
            let text = match (&rec.slurm, self.policy.farm) {
                (Some(id), Some(farm)) => {
                    format!("the node stopped while {farm} job {id} ran; re-attaching to it")
                }
                _ => "the node stopped while rendering (crash or power loss); it resumes from its first missing frame".to_string(),
            };
            fx.say_job(now, Ev::Interrupted, rec.id, text);
            fx.records.push(Record::Job(rec));
        }
        fx
    }

    /// The node is asked to stop: renders stop (they resume after the
    /// restart), nothing new starts.
    pub fn shutdown(&mut self, st: &State, how: Shutdown, now: &Now) -> Effects {
        let mut fx = Effects::default();
        if how <= self.stopping {
            return fx;
        }
        let first = self.stopping == Shutdown::Run;
        self.stopping = how;
        let stop = match how {
            Shutdown::Force => crate::exec::Stop::Force,
            _ => crate::exec::Stop::Interrupt,
        };
        let running: Vec<u64> = st.running().map(|j| j.id()).collect();
        for &job in &running {
            fx.acts.push(Act::Stop { job, how: stop });
        }
        if first && !running.is_empty() {
            fx.say(
                now,
                Ev::Node,
                "stopping: waiting for the renderer to exit".to_string(),
            );
        }
        fx.changed();
        fx
    }
}
