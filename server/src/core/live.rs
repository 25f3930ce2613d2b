//! What the node knows about a job between journal records: progress as
//! the renderer reports it, why it waits. Never persisted: after a restart
//! it is re-derived from the frames on disk.

use std::collections::BTreeSet;
use std::time::Instant;

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
