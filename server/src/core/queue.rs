//! Which queued job starts next. The order is the ledger's (interrupted
//! jobs first, then priority, then arrival); a job starts when the queue is
//! not paused, render hours allow, its `after=` jobs finished, and its scene
//! is whole. A job whose dependency failed is cancelled; one whose scene is
//! gone fails.

use std::collections::BTreeSet;
use std::time::Duration;

use droprender_shared::command::RenderRequest;

use super::Core;
use super::effects::Effects;
use super::facts::{Facts, SceneState};
use super::intake::needs;
use super::resolve::resolve;
use super::slots::{self, Slot};
use super::time::Now;
use crate::exec::Outcome;
use crate::ledger::{Job, JobState, State};
use crate::renderer::Resolved;
use crate::schedule;

/// Whether a queued job can start now.
#[derive(Debug)]
pub enum Readiness {
    Go(Box<Resolved>),
    /// Not yet: why, and when to look again (`None`: when something changes).
    Wait(String, Option<Duration>),
    /// Never: a job it waits for failed or was cancelled.
    Cancel(String),
    /// Never: its scene is gone, or a check it passed no longer holds.
    Fail(String),
}

impl Core {
    /// The next durable decision about the queue: start a job, or end one
    /// that can never start. The node calls it until it returns no records
    /// (each call takes at most one job out of the queue).
    pub fn start_next(&mut self, st: &State, facts: &dyn Facts, now: &Now) -> Effects {
        let mut fx = Effects::default();
        let busy = busy_slots(&self.policy.slots, st);
        if self.stopping != super::Shutdown::Run || busy.len() >= self.policy.slots.len() {
            return fx;
        }
        let note = self.queue_note(st, now);
        if note != self.note {
            self.note = note;
            fx.changed();
        }
        if self.note.is_some() {
            return fx;
        }
        // Lazily: a start looks at the head of the queue, not all of it.
        for job in st.queue() {
            let id = job.id();
            if self.held.contains(&id) {
                continue;
            }
            if self
                .live
                .get(&id)
                .and_then(|l| l.retry_start)
                .is_some_and(|t| t > now.mono)
            {
                return fx;
            }
            let needs = job.req.as_ref().map(needs).unwrap_or_default();
            let Some(slot) = slots::pick(&self.policy.slots, &busy, &needs).cloned() else {
                let why = match (needs.slot, needs.gpus) {
                    (Some(s), _) => format!("waiting for slot {s}"),
                    (None, 0) => "waiting for a free slot".to_string(),
                    (None, n) => format!("waiting for a slot with {n} GPU(s)"),
                };
                fx.extend(self.wait(id, why));
                continue;
            };
            match readiness(self, st, facts, job, now) {
                Readiness::Go(resolved) => {
                    if let Some(l) = self.live.get_mut(&id) {
                        l.waiting = None;
                    }
                    fx.extend(self.begin(st, facts, id, *resolved, slot, now));
                    return fx;
                }
                Readiness::Wait(why, recheck) => {
                    fx.extend(self.wait(id, why));
                    if let Some(r) = recheck {
                        self.wake_in(now, r);
                    }
                }
                Readiness::Cancel(why) => {
                    fx.extend(self.finish(st, facts, id, Outcome::Cancelled, Some(why), now));
                    return fx;
                }
                Readiness::Fail(why) => {
                    fx.extend(self.finish(st, facts, id, Outcome::Failed(why), None, now));
                    return fx;
                }
            }
        }
        fx
    }

    /// A queued job waits, for the reason status files show.
    fn wait(&mut self, id: u64, why: String) -> Effects {
        let mut fx = Effects::default();
        let l = self.live.entry(id).or_default();
        if l.waiting.as_deref() != Some(why.as_str()) {
            l.waiting = Some(why);
            fx.changed();
        }
        fx
    }

    /// Why no queued job may start at all, if so: paused, or outside render hours.
    fn queue_note(&mut self, st: &State, now: &Now) -> Option<String> {
        if st.queued() == 0 {
            return None;
        }
        if st.is_paused() {
            return Some("the queue is paused; send `resume:` to continue".into());
        }
        let s = self.policy.schedule.as_ref()?;
        if s.allows(now.wall) {
            return None;
        }
        let next = s.next_open(now.wall);
        if let Some(n) = next {
            let wait = (n - now.wall).to_std().unwrap_or(Duration::from_secs(60));
            self.wake_in(now, wait);
        }
        Some(match next {
            Some(n) => format!(
                "outside render hours; the next window opens {}",
                schedule::describe(n)
            ),
            None => "the schedule allows no render hours".into(),
        })
    }

    /// A start that could not be journaled: not tried again before `retry_after`.
    pub fn start_failed(&mut self, id: u64, now: &Now) {
        let l = self.live.entry(id).or_default();
        l.started = None;
        l.retry_start = Some(now.mono + self.policy.retry_after);
        self.wake_in(now, self.policy.retry_after);
    }
}

/// The slots running jobs hold (a job recorded before slots existed holds
/// the first).
pub fn busy_slots(slots: &[Slot], st: &State) -> BTreeSet<String> {
    let first = slots.first().map(|s| s.name.clone()).unwrap_or_default();
    st.running()
        .map(|j| j.rec.slot.clone().unwrap_or_else(|| first.clone()))
        .collect()
}

/// Whether `job` can start now.
pub fn readiness(core: &Core, st: &State, facts: &dyn Facts, job: &Job, now: &Now) -> Readiness {
    let req: &RenderRequest = match &job.req {
        Ok(r) => r,
        Err(e) => return Readiness::Fail(e.to_string()),
    };
    for a in &req.options.after {
        match st.job(*a).map(Job::state) {
            None | Some(JobState::Finished) => {}
            Some(JobState::Failed) => {
                return Readiness::Cancel(format!("job {a}, which it waits for, failed"));
            }
            Some(JobState::Cancelled) => {
                return Readiness::Cancel(format!("job {a}, which it waits for, was cancelled"));
            }
            Some(_) => return Readiness::Wait(format!("waiting for job {a} to finish"), None),
        }
    }
    let resolved = match resolve(
        &core.policy,
        facts,
        req,
        job.id(),
        Some(&job.rec.output_dir),
    ) {
        Ok(r) => r,
        Err(reason) => return Readiness::Fail(format!("cannot start: {reason}")),
    };
    match facts.scene(&resolved.scene, core.policy.scene_stable, now.system) {
        SceneState::Ready => Readiness::Go(Box::new(resolved)),
        SceneState::Syncing { why, recheck } => Readiness::Wait(why, Some(recheck)),
        SceneState::Missing if facts.arriving(&req.scene).is_some() => Readiness::Wait(
            format!("{} is still arriving", req.scene),
            Some(Duration::from_secs(1)),
        ),
        SceneState::Missing => Readiness::Fail(format!("the scene {} is gone", req.scene)),
    }
}
