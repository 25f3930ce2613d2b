//! Frame records a task writes where it renders: one JSON line per frame in
//! `task-<farm>_<k>.frames` beside its log, with the frame's start, render
//! time and the peak memory of the renderer's process tree (sampled once a
//! second, as on a local node). The runner reads the files as they grow, so
//! a Slurm frame carries the same record a local one does, not just the gap
//! between two files appearing on the node's disk.
//!
//! The format is defined here once: [`Line`] is what a task appends and
//! what the runner parses; a line it cannot parse is skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::parse::TaskMap;
use super::tail::{Tail, read_from, tasks_to_read};
use crate::exec::Measured;

/// How `started` is written: local wall time where the task ran.
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// One frame, as a task's JSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Line {
    pub frame: i64,
    pub started: String,
    pub secs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_mem: Option<u64>,
}

impl Line {
    pub fn new(frame: i64, started: NaiveDateTime, secs: f64, peak_mem: Option<u64>) -> Self {
        Line {
            frame,
            started: started.format(TIME_FORMAT).to_string(),
            secs,
            peak_mem,
        }
    }

    /// The line as a task appends it, newline included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec(self).unwrap_or_default();
        b.push(b'\n');
        b
    }

    fn measured(self) -> Option<Measured> {
        let started = NaiveDateTime::parse_from_str(&self.started, TIME_FORMAT).ok()?;
        (self.secs.is_finite() && self.secs >= 0.0).then_some(Measured {
            frame: self.frame,
            path: None,
            started,
            secs: self.secs,
            peak_mem: self.peak_mem,
        })
    }
}

/// The records file of array task `k` of job `farm`.
pub(super) fn records_file(work_dir: &Path, farm: &str, k: u32) -> PathBuf {
    work_dir.join(format!("task-{farm}_{k}.frames"))
}

/// The records of one array job's tasks, read as they grow.
#[derive(Debug, Default)]
pub(super) struct Records {
    /// How far each task's file has been read.
    read: BTreeMap<u32, Tail>,
    /// Tasks whose file was read after they ended.
    closed: BTreeSet<u32>,
    /// Records whose frame the runner has not reported yet.
    waiting: BTreeMap<i64, Measured>,
}

impl Records {
    /// Reads what the tasks of `farm` appended since the last look: only
    /// the tasks `map` shows started, and an ended one once more, so a
    /// look costs the running tasks, not the whole array (plain file
    /// work: call it off the runtime).
    pub fn read_new(&mut self, work_dir: &Path, farm: &str, map: &TaskMap) {
        for k in tasks_to_read(map, &mut self.closed) {
            let offset = self.read.get(&k).map_or(0, Tail::offset);
            let Some(buf) = read_from(&records_file(work_dir, farm, k), offset) else {
                continue;
            };
            for line in self.read.entry(k).or_default().feed(&buf) {
                if let Some(m) = serde_json::from_slice::<Line>(&line)
                    .ok()
                    .and_then(Line::measured)
                {
                    self.waiting.insert(m.frame, m);
                }
            }
        }
    }

    /// Whether any task of the array writes records (an array submitted
    /// by an older node does not).
    pub fn any(&self) -> bool {
        !self.read.is_empty()
    }

    /// The record of `frame`, once: the runner reports each frame once.
    pub fn take(&mut self, frame: i64) -> Option<Measured> {
        self.waiting.remove(&frame)
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_squeue;
    use super::*;
    use std::io::Write;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, TIME_FORMAT).expect("time")
    }

    #[test]
    fn records_are_read_as_they_grow_and_taken_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let mut f = std::fs::File::create(records_file(d, "77", 1)).expect("create");
        let one = Line::new(1, at("2026-11-30 10:00:00.250"), 1.5, Some(1 << 20));
        f.write_all(&one.to_bytes()).expect("write");
        // Half a line, a line of garbage, another job's file: none count.
        let two = Line::new(2, at("2026-11-30 10:00:01.750"), 2.0, None).to_bytes();
        f.write_all(&two[..10]).expect("write");
        std::fs::write(d.join("task-78_1.frames"), one.to_bytes()).expect("write");
        std::fs::write(records_file(d, "77", 2), one.to_bytes()).expect("write");
        let mut map = parse_squeue("1 RUNNING None\n2 PENDING None\n");
        let mut r = Records::default();
        r.read_new(d, "77", &map);
        let got = r.take(1).expect("frame 1");
        assert_eq!(got.secs, 1.5);
        assert_eq!(got.peak_mem, Some(1 << 20));
        assert_eq!(got.started, at("2026-11-30 10:00:00.250"));
        assert!(r.take(1).is_none(), "taken once");
        assert!(r.take(2).is_none(), "half a line waits");
        f.write_all(&two[10..]).expect("write");
        f.write_all(b"not json\n").expect("write");
        r.read_new(d, "77", &map);
        assert_eq!(r.take(2).map(|m| m.secs), Some(2.0));
        assert!(r.waiting.is_empty(), "a pending task's file is not read");
        // Task 1 ended: read once more, then no more.
        map = parse_squeue("1 COMPLETED None\n2 PENDING None\n");
        f.write_all(&Line::new(5, at("2026-11-30 10:00:03.000"), 1.0, None).to_bytes())
            .expect("write");
        r.read_new(d, "77", &map);
        assert!(r.take(5).is_some());
        f.write_all(&Line::new(6, at("2026-11-30 10:00:04.000"), 1.0, None).to_bytes())
            .expect("write");
        r.read_new(d, "77", &map);
        assert!(r.take(6).is_none());
    }
}
