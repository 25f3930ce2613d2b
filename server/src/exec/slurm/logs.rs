//! Task logs as they grow: each running task's new lines go through its
//! renderer's output parser, for the current frame and percent in status.txt.
//! Frames themselves come from the disk and errors from the verdict, so only
//! `FrameStarted` and `Percent` are kept.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use droprender_shared::profile::RendererKind;

use super::blocking;
use super::parse::{Phase, TaskMap};
use super::tasks::{TaskSpec, task_log};
use crate::renderer::{self, LineParser, Progress};

/// At most this much of a log is read per look.
const READ_MAX: u64 = 1 << 20;

/// Reads one task log from an offset, feeding complete lines to a parser.
struct LogTail {
    offset: u64,
    partial: Vec<u8>,
    /// In a Mutex only to make the runner `Sync` (parsers are `Send`).
    parser: Mutex<Box<dyn LineParser>>,
}

/// The task logs of one array.
pub(super) struct TaskLogs {
    kind: RendererKind,
    tails: BTreeMap<u32, LogTail>,
    /// Tasks whose log was read after they ended.
    closed: BTreeSet<u32>,
}

impl TaskLogs {
    pub fn new(kind: RendererKind) -> Self {
        TaskLogs {
            kind,
            tails: BTreeMap::new(),
            closed: BTreeSet::new(),
        }
    }

    /// What running tasks' logs said since the last look: the latest
    /// `FrameStarted` and the `Percent`s after it (only the latest state
    /// matters for status.txt). A task that ended is read once more, then no more.
    pub async fn progress(
        &mut self,
        work_dir: &Path,
        farm: &str,
        tasks: &[TaskSpec],
        map: &TaskMap,
    ) -> Vec<Progress> {
        let mut want: Vec<(u32, PathBuf, u64)> = Vec::new();
        for (&k, s) in map {
            if s.phase == Phase::Pending || self.closed.contains(&k) {
                continue;
            }
            if matches!(s.phase, Phase::Done | Phase::Failed) {
                self.closed.insert(k);
            }
            let offset = self.tails.get(&k).map_or(0, |t| t.offset);
            want.push((k, task_log(work_dir, farm, k), offset));
        }
        if want.is_empty() {
            return Vec::new();
        }
        let read = blocking(move || {
            want.into_iter()
                .filter_map(|(k, path, offset)| Some((k, read_from(&path, offset)?)))
                .collect::<Vec<_>>()
        })
        .await;
        let mut out = Vec::new();
        for (k, buf) in read {
            let spec = usize::try_from(k)
                .ok()
                .and_then(|k| k.checked_sub(1))
                .and_then(|i| tasks.get(i));
            let kind = self.kind;
            let tail = self.tails.entry(k).or_insert_with(|| LogTail {
                offset: 0,
                partial: Vec::new(),
                parser: Mutex::new(parser_for(kind, spec)),
            });
            tail.offset += buf.len() as u64;
            tail.partial.extend_from_slice(&buf);
            let parser = tail
                .parser
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            while let Some(i) = tail.partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = tail.partial.drain(..=i).collect();
                let line = String::from_utf8_lossy(&line);
                if let Some(p @ (Progress::FrameStarted(_) | Progress::Percent(_))) =
                    parser.line(line.trim_end())
                {
                    out.push(p);
                }
            }
        }
        let started = out
            .iter()
            .rposition(|p| matches!(p, Progress::FrameStarted(_)));
        out.split_off(started.unwrap_or(0))
    }
}

/// Up to [`READ_MAX`] bytes of `path` from `offset`; None when it cannot be read (yet).
fn read_from(path: &Path, offset: u64) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = Vec::new();
    f.take(READ_MAX).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// The output parser for a task's renderer (Maya's with the task's `-r`).
fn parser_for(kind: RendererKind, spec: Option<&TaskSpec>) -> Box<dyn LineParser> {
    let args: Vec<OsString> = spec.map(TaskSpec::args).unwrap_or_default();
    let r = args
        .iter()
        .position(|a| a == "-r")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.to_str());
    renderer::parser_for(kind, r)
}
