//! A job's life once it leaves the queue: it starts (only the frames not on
//! disk render), reports progress, and ends — finished, retried (missing
//! frames only), failed, cancelled, or interrupted by a stop.

use std::path::PathBuf;

use droprender_shared::logline::Event as Ev;
use droprender_shared::status::human_duration;

use super::Core;
use super::effects::{Act, Effects, NoticeKind, Start};
use super::facts::Facts;
use super::live::{FrameStat, Live, frame_of_path};
use super::policy::KEEP_FINISHED;
use super::slots::Slot;
use super::time::Now;
use crate::exec::{Event, Outcome};
use crate::ledger::{JobState, Record, State};
use crate::renderer::{self, Progress, Resolved};

/// What went wrong in a run, in the words LOG.txt uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    Failed,
    Stalled,
    TimedOut,
}

impl Problem {
    fn word(self) -> &'static str {
        match self {
            Problem::Failed => "failed",
            Problem::Stalled => "stalled",
            Problem::TimedOut => "timed out",
        }
    }
}

impl Core {
    /// Starts a job that is ready: records it running and hands it to the
    /// executor with the frames already on disk, or finishes it at once
    /// when every frame is there.
    pub fn begin(
        &mut self,
        st: &State,
        facts: &dyn Facts,
        id: u64,
        resolved: Resolved,
        slot: Slot,
        now: &Now,
    ) -> Effects {
        let mut fx = Effects::default();
        let Some(job) = st.job(id) else {
            return fx;
        };
        let req = &resolved.request;
        let done = facts.frames_done(&resolved.output_dir, renderer::layers(req));
        let missing = renderer::missing_frames(req, &done);
        self.live.insert(
            id,
            Live {
                frames_done: done.len() as u64,
                done: done.clone(),
                started: Some(now.mono),
                ..Default::default()
            },
        );
        if missing.as_ref().is_some_and(Vec::is_empty) {
            return self.finish(st, facts, id, Outcome::Done, None, now);
        }
        let mut rec = job.rec.clone();
        let resuming = rec.state == JobState::Interrupted || rec.attempts > 0;
        rec.state = JobState::Running;
        rec.attempts += 1;
        rec.started.get_or_insert_with(|| now.stamp());
        rec.frames_done = done.len() as u64;
        rec.slot = Some(slot.name.clone());
        let what = match missing.as_deref() {
            Some([a]) => format!("frame {a}"),
            Some([a, .., b]) => format!("frames {a}-{b}"),
            _ => "the scene's frames".to_string(),
        };
        let (ev, verb) = match (&rec.slurm, self.policy.farm) {
            (Some(farm_id), Some(farm)) => (
                Ev::Resumed,
                format!(
                    "re-attaching to {farm} job {farm_id} ({} frame(s) on disk)",
                    done.len()
                ),
            ),
            _ if resuming && !done.is_empty() => (
                Ev::Resumed,
                format!("{} frame(s) already on disk; rendering {what}", done.len()),
            ),
            _ => (Ev::Started, format!("rendering {what}")),
        };
        fx.say_job(
            now,
            ev,
            id,
            format!("{}: {verb} ({})", job.scene(), req.renderer.name()),
        );
        fx.acts.push(Act::Start(Box::new(Start {
            job: id,
            attach: rec.slurm.clone(),
            priority: rec.priority,
            timeout: req
                .options
                .timeout
                .map(std::time::Duration::from_secs)
                .or(self.policy.default_timeout),
            done,
            resolved,
            slot,
        })));
        fx.records.push(Record::Job(rec));
        fx.changed();
        fx
    }

    /// What the executor reports about a running job.
    pub fn on_event(
        &mut self,
        st: &State,
        facts: &dyn Facts,
        id: u64,
        ev: Event,
        now: &Now,
    ) -> Effects {
        let mut fx = Effects::default();
        match ev {
            // Not journaled: after a crash, leftovers are found by their
            // environment tag, not by pid (perf: one fsync less per job;
            // found by benches/bench.rs, jobs row at load 4).
            Event::Spawned { pid, .. } => {
                self.live.entry(id).or_default().pid = Some(pid);
            }
            Event::Submitted { farm_id } => {
                if let Some(j) = st.job(id) {
                    let farm = self.policy.farm.unwrap_or("the farm");
                    fx.say_job(
                        now,
                        Ev::Node,
                        id,
                        format!("{}: submitted to {farm} as job {farm_id}", j.scene()),
                    );
                    let mut rec = j.rec.clone();
                    rec.slurm = Some(farm_id);
                    fx.records.push(Record::Job(rec));
                }
            }
            Event::Tasks {
                pending,
                running,
                done,
                failed,
            } => {
                let farm_id = st
                    .job(id)
                    .and_then(|j| j.rec.slurm.clone())
                    .unwrap_or_default();
                self.live.entry(id).or_default().tasks = Some(format!(
                    "slurm {farm_id}: {running} running, {pending} pending, {done} done, {failed} failed"
                ));
                fx.progressed();
            }
            Event::Note(text) => fx.say_job(now, Ev::Waiting, id, text),
            Event::Memory(bytes) => self.live.entry(id).or_default().memory(bytes),
            Event::FrameMeasured(m) => {
                let stat = FrameStat {
                    frame: Some(m.frame),
                    started: m.started,
                    secs: m.secs,
                    peak_mem: m.peak_mem,
                };
                self.frame_done(st, id, m.path, Some(stat), now, &mut fx);
                fx.progressed();
            }
            Event::Progress(p) => {
                match p {
                    Progress::FrameStarted(f) => {
                        self.live
                            .entry(id)
                            .or_default()
                            .frame_started(f, now.mono, now.wall);
                    }
                    Progress::Percent(v) => self.live.entry(id).or_default().percent_current = v,
                    Progress::FrameDone(path) => self.frame_done(st, id, path, None, now, &mut fx),
                    Progress::Error(_) => {}
                }
                fx.progressed();
            }
            Event::Finished(outcome) => {
                return self.finish(st, facts, id, outcome, None, now);
            }
        }
        fx
    }

    /// A frame rendered in this run failed its checks: it no longer counts,
    /// and renders again when the run ends.
    /// A frame's file is done: counted once, timed (by the node, or by
    /// `measured` where it rendered), judged, and previews made every
    /// `preview_every` frames.
    fn frame_done(
        &mut self,
        st: &State,
        id: u64,
        path: Option<PathBuf>,
        measured: Option<FrameStat>,
        now: &Now,
        fx: &mut Effects,
    ) {
        let every = u64::from(self.policy.preview_every);
        let live = self.live.entry(id).or_default();
        let frame = measured
            .as_ref()
            .and_then(|m| m.frame)
            .or_else(|| path.as_deref().and_then(frame_of_path));
        // A renderer names its file as it printed it: relative paths are
        // in the output folder.
        let path = path.map(|p| match st.job(id) {
            Some(j) if p.is_relative() => j.rec.output_dir.join(p),
            _ => p,
        });
        if frame.is_none_or(|f| live.done.insert(f)) {
            live.frames_done += 1;
            live.frames_this_run += 1;
            let stat = match measured {
                Some(m) => live.record(m),
                None => live.frame_done(frame, now.mono, now.wall),
            };
            if let (Some(frame), Some(path)) = (frame, path) {
                fx.acts.push(Act::JudgeFrame {
                    job: id,
                    frame,
                    path,
                    stat,
                });
            }
            if every > 0 && live.frames_this_run.is_multiple_of(every) {
                fx.acts.push(Act::Previews {
                    job: id,
                    log: false,
                });
            }
        }
        live.percent_current = 0.0;
    }

    pub fn frame_bad(&mut self, id: u64, frame: i64, why: &str, now: &Now) -> Effects {
        let mut fx = Effects::default();
        let live = self.live.entry(id).or_default();
        if live.done.remove(&frame) {
            live.frames_done = live.frames_done.saturating_sub(1);
        }
        fx.say_job(
            now,
            Ev::Warning,
            id,
            format!("frame {frame} is bad ({why}); it renders again when this run ends"),
        );
        fx.changed();
        fx
    }

    /// Records how a run ended; requeues it when retries are left. `why`
    /// replaces the LOG text of a cancellation (a failed dependency).
    pub fn finish(
        &mut self,
        st: &State,
        facts: &dyn Facts,
        id: u64,
        outcome: Outcome,
        why: Option<String>,
        now: &Now,
    ) -> Effects {
        let mut fx = Effects::default();
        let Some(job) = st.job(id) else {
            return fx;
        };
        let mut rec = job.rec.clone();
        let was_final = rec.state.is_final();
        let live = self.live.entry(id).or_default();
        if let Some(s) = live.started.take() {
            rec.render_secs += now.mono.saturating_duration_since(s).as_secs_f64();
        }
        live.suspended = false;
        live.pid = None;
        let live_done = live.frames_done;
        let layers = job.req.as_ref().map_or(1, renderer::layers);
        let done_on_disk = facts.frames_done(&rec.output_dir, layers).len() as u64;
        rec.frames_done = done_on_disk.max(live_done);
        rec.proc = None;
        if outcome != Outcome::Interrupted {
            // Over: a restart must not re-attach to this submission.
            rec.slurm = None;
        }
        let scene = job.scene().to_string();
        let log = format!("(log: {})", self.policy_job_log(id));
        // Frames that rendered but failed their checks render again, up to
        // `[jobs] verify_retries` times each; past that the job fails
        // naming them. Neither counts as one of the job's retries.
        let bad = if outcome == Outcome::Done && rec.frames_total > done_on_disk {
            facts.bad_frames(&rec.output_dir)
        } else {
            Default::default()
        };
        let named = |frames: Vec<(&i64, &super::BadFrame)>| {
            frames
                .iter()
                .map(|(f, b)| format!("{f} ({})", b.why))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let over: Vec<(&i64, &super::BadFrame)> = bad
            .iter()
            .filter(|(_, b)| b.attempts > self.policy.verify_retries)
            .collect();
        if !bad.is_empty() && over.is_empty() {
            let worst = bad.values().map(|b| b.attempts).max().unwrap_or(1);
            let text = format!(
                "{scene}: re-rendering {} bad frame(s): {}; render {} of {} (frames.csv in {} says why)",
                bad.len(),
                named(bad.iter().collect()),
                worst + 1,
                self.policy.verify_retries + 1,
                rec.output_dir.display()
            );
            rec.state = JobState::Queued;
            rec.message = Some(text.clone());
            fx.records.push(Record::Job(rec));
            fx.say_job(now, Ev::Retrying, id, text);
            fx.changed();
            return fx;
        }
        let problem = match &outcome {
            Outcome::Done if !over.is_empty() => Some((
                Problem::Failed,
                format!(
                    "frame(s) {} are still bad after {} renders (frames.csv in {} says when and why)",
                    named(over.clone()),
                    self.policy.verify_retries + 1,
                    rec.output_dir.display()
                ),
            )),
            Outcome::Failed(m) => Some((Problem::Failed, m.clone())),
            Outcome::Stalled(d) => Some((
                Problem::Stalled,
                format!(
                    "the renderer printed nothing for {}",
                    human_duration(d.as_secs_f64())
                ),
            )),
            Outcome::TimedOut(d) => Some((
                Problem::TimedOut,
                format!(
                    "it ran longer than its timeout of {}",
                    human_duration(d.as_secs_f64())
                ),
            )),
            Outcome::Done if rec.frames_total > 0 && done_on_disk < rec.frames_total => Some((
                Problem::Failed,
                format!(
                    "the renderer exited cleanly but {} of {} frame(s) are missing in {}",
                    rec.frames_total - done_on_disk,
                    rec.frames_total,
                    rec.output_dir.display()
                ),
            )),
            _ => None,
        };
        let (state, ev, text) = match (&outcome, problem) {
            (_, Some((kind, msg))) => {
                rec.failures += 1;
                let retries = job
                    .req
                    .as_ref()
                    .ok()
                    .and_then(|r| r.options.retries)
                    .unwrap_or(self.policy.default_retries);
                if kind == Problem::Stalled {
                    fx.acts.push(Act::Notify {
                        job: id,
                        kind: NoticeKind::Stalled,
                        message: msg.clone(),
                    });
                }
                if rec.failures <= retries {
                    (
                        JobState::Queued,
                        Ev::Retrying,
                        format!(
                            "{scene}: {}: {msg}; retry {} of {retries} renders the missing frames {log}",
                            kind.word(),
                            rec.failures,
                        ),
                    )
                } else {
                    (
                        JobState::Failed,
                        Ev::Failed,
                        format!("{scene}: {msg} {log}"),
                    )
                }
            }
            (Outcome::Done, None) => (
                JobState::Finished,
                Ev::Finished,
                format!(
                    "{scene}: {} frame(s) in {} → {}",
                    rec.frames_done,
                    human_duration(rec.render_secs),
                    rec.output_dir.display()
                ),
            ),
            (Outcome::Interrupted, None) => (
                JobState::Interrupted,
                Ev::Interrupted,
                format!(
                    "{scene}: node stopping; {done_on_disk} frame(s) done, the rest render after the restart"
                ),
            ),
            (Outcome::Cancelled, None) => (
                JobState::Cancelled,
                Ev::Cancelled,
                match why {
                    Some(w) => format!("{scene}: {w}"),
                    None => format!(
                        "{scene}: cancelled; {done_on_disk} frame(s) are on disk (`retry: {id}` renders the rest)"
                    ),
                },
            ),
            (_, None) => (
                JobState::Failed,
                Ev::Failed,
                format!("{scene}: ended unexpectedly"),
            ),
        };
        rec.state = state;
        rec.message = Some(text.clone());
        if state.is_final() {
            rec.ended = Some(now.stamp());
            rec.frame_summary = facts.frame_summary(&rec.output_dir);
        }
        match state {
            JobState::Finished => {
                // The job's end writes the preview video (a one-frame job
                // has none worth playing).
                if rec.frames_total > 1 {
                    fx.acts.push(Act::Video { job: id });
                }
                fx.acts.push(Act::Notify {
                    job: id,
                    kind: NoticeKind::Finished,
                    message: text.clone(),
                });
            }
            JobState::Failed => fx.acts.push(Act::Notify {
                job: id,
                kind: NoticeKind::Failed,
                message: text.clone(),
            }),
            _ => {}
        }
        fx.records.push(Record::Job(rec));
        // Keep the ledger's job table bounded: counting this job if it
        // just became final, the oldest final ones beyond the limit go.
        let newly_final = usize::from(state.is_final() && !was_final);
        let old = st.jobs_to_forget(KEEP_FINISHED.saturating_sub(newly_final));
        if !old.is_empty() {
            for o in &old {
                self.live.remove(o);
            }
            fx.records.push(Record::Forget { jobs: old });
        }
        fx.say_job(now, ev, id, text);
        fx.changed();
        fx
    }

    /// Where a job's renderer output is kept (named in LOG lines).
    fn policy_job_log(&self, id: u64) -> String {
        self.policy.job_log(id).display().to_string()
    }
}
