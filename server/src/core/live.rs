//! What the node knows about a job between journal records: progress as
//! the renderer reports it, why it waits. Never persisted: after a restart
//! it is re-derived from the frames on disk.

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use chrono::NaiveDateTime;

/// Frames status.json lists for a running job (the newest).
pub const RECENT_FRAMES: usize = 20;

/// One frame as the node saw it render.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameStat {
    pub frame: Option<i64>,
    pub started: NaiveDateTime,
    pub secs: f64,
    pub peak_mem: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Live {
    /// Frames seen finished in this run (and on disk when it started).
    pub done: BTreeSet<i64>,
    pub frames_done: u64,
    pub percent_current: f64,
    pub current_frame: Option<String>,
    /// When this run began.
    pub started: Option<Instant>,
    pub frames_this_run: u64,
    pub pid: Option<i32>,
    pub suspended: bool,
    /// Why a queued job is not starting yet.
    pub waiting: Option<String>,
    /// Farm tasks: "slurm 123: 2 running, 1 done, 0 failed".
    pub tasks: Option<String>,
    /// A start that could not be journaled is not tried again before this.
    pub retry_start: Option<Instant>,
    /// When the frame rendering now began (its start line, or the end of
    /// the one before).
    pub frame_start: Option<(Instant, NaiveDateTime)>,
    /// The renderer tree's memory: the latest sample, and the highest since
    /// the current frame began.
    pub mem_now: Option<u64>,
    pub mem_peak: Option<u64>,
    /// The newest frames of this run.
    pub recent: VecDeque<FrameStat>,
    /// Over this run's frames: count, seconds, slowest, peak memory.
    pub frames_timed: u64,
    pub frames_secs: f64,
    pub slowest: Option<(Option<i64>, f64)>,
    pub peak_mem: Option<u64>,
}

impl FrameStat {
    /// When the frame ended: its start plus its render time, in the clock
    /// of whoever timed it (the node, or a farm task).
    pub fn ended(&self) -> NaiveDateTime {
        let d = std::time::Duration::try_from_secs_f64(self.secs).unwrap_or_default();
        self.started + chrono::Duration::from_std(d).unwrap_or_default()
    }
}

impl Live {
    /// A frame began now (its start line).
    pub fn frame_started(&mut self, frame: Option<String>, mono: Instant, wall: NaiveDateTime) {
        self.current_frame = frame;
        self.percent_current = 0.0;
        self.frame_start = Some((mono, wall));
        self.mem_peak = self.mem_now;
    }

    /// A frame finished now: its record, and the next frame begins.
    pub fn frame_done(
        &mut self,
        frame: Option<i64>,
        mono: Instant,
        wall: NaiveDateTime,
    ) -> FrameStat {
        let (t0, w0) = self
            .frame_start
            .or(self.started.map(|s| {
                (
                    s,
                    wall - chrono::Duration::from_std(mono - s).unwrap_or_default(),
                )
            }))
            .unwrap_or((mono, wall));
        let stat = FrameStat {
            frame,
            started: w0,
            secs: mono.saturating_duration_since(t0).as_secs_f64(),
            peak_mem: self.mem_peak.or(self.mem_now),
        };
        self.frame_start = Some((mono, wall));
        self.mem_peak = self.mem_now;
        self.record(stat)
    }

    /// A frame timed where it rendered (a farm task's own record).
    pub fn record(&mut self, stat: FrameStat) -> FrameStat {
        self.frames_timed += 1;
        self.frames_secs += stat.secs;
        if self.slowest.is_none_or(|(_, s)| stat.secs > s) {
            self.slowest = Some((stat.frame, stat.secs));
        }
        self.peak_mem = self.peak_mem.max(stat.peak_mem);
        self.recent.push_back(stat.clone());
        if self.recent.len() > RECENT_FRAMES {
            self.recent.pop_front();
        }
        stat
    }

    pub fn memory(&mut self, bytes: u64) {
        self.mem_now = Some(bytes);
        self.mem_peak = Some(self.mem_peak.map_or(bytes, |p| p.max(bytes)));
    }
}

/// The frame number a frame file's name ends with (`…/shot.0012.png` → 12).
pub fn frame_of_path(path: &std::path::Path) -> Option<i64> {
    path.file_stem().and_then(|s| s.to_str()).and_then(frame_of)
}

/// The frame number at the end of a file stem (`shot.0012` → 12).
pub fn frame_of(stem: &str) -> Option<i64> {
    let digits: String = stem
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.chars().rev().collect::<String>().parse().ok()
}
