//! The status document (status.json, and status.txt rendered from it):
//! what the ledger and the live progress say, as of `now`.

use droprender_shared::states::{JobPhase, NodeState};
use droprender_shared::status::{
    FORMAT, FrameInfo, FrameStats, JobInfo, NodeInfo, QUEUE_SHOWN, StatusDoc,
};

use super::live::{FrameStat, Live};
use super::time::Now;
use super::{Core, Shutdown};
use crate::ledger::{Job, JobState, State};

impl Core {
    /// One job as status files show it.
    pub fn job_info(&self, job: &Job, now: &Now) -> JobInfo {
        let rec = &job.rec;
        let live = self.live.get(&rec.id);
        let running = rec.state == JobState::Running;
        let frames_done = live.map_or(rec.frames_done, |l| l.frames_done.max(rec.frames_done));
        let total = rec.frames_total;
        let pc = live.map_or(0.0, |l| l.percent_current);
        let percent = if total > 0 {
            ((100.0 * frames_done as f64 + if running { pc } else { 0.0 }) / total as f64)
                .min(100.0)
        } else if rec.state == JobState::Finished {
            100.0
        } else {
            0.0
        };
        let run_secs = live
            .and_then(|l| l.started)
            .filter(|_| running)
            .map(|s| now.mono.saturating_duration_since(s).as_secs_f64());
        let elapsed = rec.render_secs + run_secs.unwrap_or(0.0);
        let this_run = live.map_or(0, |l| l.frames_this_run);
        let avg = match (run_secs, this_run) {
            (Some(s), n) if n > 0 => Some(s / n as f64),
            _ if !running && frames_done > 0 && rec.render_secs > 0.0 => {
                Some(rec.render_secs / frames_done as f64)
            }
            _ => None,
        };
        let eta = avg
            .filter(|_| running && total > 0)
            .map(|a| a * (total.saturating_sub(frames_done) as f64 - pc / 100.0).max(0.0));
        let (renderer, after) = match &job.req {
            Ok(r) => (
                // The profile's name, and the sub-renderer it picks (`maya sw`).
                r.profile
                    .select
                    .as_deref()
                    .and_then(|s| r.flag(s))
                    .map_or_else(
                        || r.renderer.name().to_string(),
                        |v| format!("{} {v}", r.renderer.name()),
                    ),
                r.options.after.first().copied(),
            ),
            Err(_) => (String::new(), None),
        };
        let suspended = live.is_some_and(|l| l.suspended);
        let waiting = live
            .and_then(|l| l.waiting.clone())
            .filter(|_| rec.state == JobState::Queued);
        let state = if suspended {
            JobPhase::Suspended
        } else if waiting.is_some() {
            JobPhase::Waiting
        } else {
            phase(rec.state)
        };
        JobInfo {
            id: rec.id,
            line: job.canonical_line(),
            scene: job.scene().to_string(),
            renderer,
            state,
            priority: rec.priority,
            after,
            frames_total: total,
            frames_done,
            current_frame: live
                .and_then(|l| l.current_frame.clone())
                .filter(|_| running),
            percent,
            submitted: Some(rec.submitted.clone()),
            started: rec.started.clone(),
            ended: rec.ended.clone(),
            elapsed_s: (elapsed > 0.0).then_some(elapsed),
            avg_frame_s: avg,
            eta_s: eta,
            message: waiting
                .or_else(|| live.and_then(|l| l.tasks.clone()).filter(|_| running))
                .or_else(|| rec.message.clone().filter(|_| !running)),
            output_dir: Some(rec.output_dir.display().to_string()),
            slot: rec
                .slot
                .clone()
                .filter(|_| running && self.policy.slots.len() > 1),
            frames: live
                .filter(|_| running)
                .map(|l| l.recent.iter().map(frame_info).collect())
                .unwrap_or_default(),
            frame_stats: if running {
                live.and_then(live_stats)
            } else {
                rec.frame_summary.as_ref().map(|f| FrameStats {
                    frames: f.frames,
                    avg_s: f.avg_s,
                    slowest_frame: Some(f.slowest_frame),
                    slowest_s: f.slowest_s,
                    peak_mem_mb: f.peak_mem_mb,
                })
            },
        }
    }

    /// The whole document. `folder_ok`: the synced folder can be read.
    pub fn status_doc(&self, st: &State, info: &NodeInfo, folder_ok: bool, now: &Now) -> StatusDoc {
        let running: Vec<JobInfo> = st.running().map(|j| self.job_info(j, now)).collect();
        let current = running.first().cloned();
        let queue = st
            .queue()
            .take(QUEUE_SHOWN)
            .map(|j| self.job_info(j, now))
            .collect();
        let mut recent: Vec<&Job> = st.jobs().filter(|j| j.state().is_final()).collect();
        recent.sort_by(|a, b| b.rec.ended.cmp(&a.rec.ended).then(b.id().cmp(&a.id())));
        let recent = recent
            .into_iter()
            .take(self.policy.recent_jobs)
            .map(|j| self.job_info(j, now))
            .collect();
        let state = match (self.stopping, !running.is_empty()) {
            (Shutdown::Graceful | Shutdown::Force, true) => NodeState::Stopping,
            (Shutdown::Graceful | Shutdown::Force, false) => NodeState::Stopped,
            (Shutdown::Run, true) => NodeState::Rendering,
            _ if st.is_paused() => NodeState::Paused,
            _ if self.note.is_some() => NodeState::Waiting,
            _ => NodeState::Idle,
        };
        let note = if folder_ok {
            self.note.clone()
        } else {
            Some("the synced folder cannot be read".to_string())
        };
        StatusDoc {
            format: FORMAT,
            node: info.clone(),
            updated: now.stamp(),
            state,
            note,
            current,
            running: if self.policy.slots.len() > 1 {
                running
            } else {
                Vec::new()
            },
            queue,
            queued: st.queued(),
            recent,
            nodes: Vec::new(),
        }
    }
}

fn frame_info(f: &FrameStat) -> FrameInfo {
    FrameInfo {
        frame: f.frame,
        started: super::time::stamp(f.started),
        render_s: f.secs,
        peak_mem_mb: f.peak_mem.map(mb),
    }
}

fn mb(bytes: u64) -> u64 {
    bytes.div_ceil(1024 * 1024)
}

/// Over the frames of the run so far.
fn live_stats(l: &Live) -> Option<FrameStats> {
    let (frame, slowest_s) = l.slowest?;
    Some(FrameStats {
        frames: l.frames_timed,
        avg_s: l.frames_secs / l.frames_timed.max(1) as f64,
        slowest_frame: frame,
        slowest_s,
        peak_mem_mb: l.peak_mem.map(mb),
    })
}

/// The phase status files show for a job's durable state.
pub fn phase(s: JobState) -> JobPhase {
    match s {
        JobState::Queued => JobPhase::Queued,
        JobState::Running => JobPhase::Rendering,
        JobState::Finished => JobPhase::Finished,
        JobState::Failed => JobPhase::Failed,
        JobState::Interrupted => JobPhase::Interrupted,
        JobState::Cancelled => JobPhase::Cancelled,
    }
}
