//! Task logs as they grow: each running task's new lines go through its
//! renderer's output parser, for the current frame and percent in status.txt.
//! Frames themselves come from the disk and errors from the verdict, so only
//! `FrameStarted` and `Percent` are kept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use droprender_shared::profile::RendererKind;

use super::blocking;
use super::parse::TaskMap;
use super::tail::{Tail, read_from, tasks_to_read};
use super::tasks::{TaskSpec, task_log};
use crate::renderer::{self, LineParser, Progress};

/// Reads one task log from an offset, feeding complete lines to a parser.
struct LogTail {
    tail: Tail,
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
        let want: Vec<(u32, PathBuf, u64)> = tasks_to_read(map, &mut self.closed)
            .into_iter()
            .map(|k| {
                let offset = self.tails.get(&k).map_or(0, |t| t.tail.offset());
                (k, task_log(work_dir, farm, k), offset)
            })
            .collect();
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
            let log = self.tails.entry(k).or_insert_with(|| LogTail {
                tail: Tail::default(),
                parser: Mutex::new(parser_for(kind, spec)),
            });
            let lines = log.tail.feed(&buf);
            let parser = log
                .parser
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for line in lines {
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

/// The output parser for a task's renderer (Maya's with the task's `-r`).
fn parser_for(kind: RendererKind, spec: Option<&TaskSpec>) -> Box<dyn LineParser> {
    renderer::parser_for(kind, spec.and_then(TaskSpec::maya_r).as_deref())
}
