//! What a decision asks the node to do. The node applies them in one fixed
//! order: journal the records (fsync), then the acts, then the status
//! files, then LOG.txt. Nothing is acted on before it is durable, and a
//! LOG line never announces what status.txt does not show yet.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use droprender_shared::logline::{Event, LineRef, LogLine};

use super::slots::Slot;
use super::time::Now;
use crate::exec::Stop;
use crate::ledger::Record;
use crate::renderer::Resolved;

#[derive(Debug, Default)]
pub struct Effects {
    /// 1. Written to the journal together, before anything else.
    pub records: Vec<Record>,
    /// 2. Carried out in order once the records are durable.
    pub acts: Vec<Act>,
    /// 3. What the status files must show.
    pub status: StatusChange,
    /// 4. Appended to LOG.txt after the status files are written.
    pub log: Vec<LogLine>,
}

/// How much the status files changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusChange {
    #[default]
    None,
    /// Only progress: written at most every `[status] progress_secs`.
    Progress,
    /// A job started, ended, moved: written at once.
    Changed,
}

#[derive(Debug)]
pub enum Act {
    /// Hand a job to the executor.
    Start(Box<Start>),
    /// Stop a running job (cancel, node stopping).
    Stop { job: u64, how: Stop },
    /// Freeze or thaw a running job's renderer.
    Suspend { job: u64, suspend: bool },
    /// Copy the newest frame and write preview.jpg and contact.jpg; `log`
    /// says whether the result gets a LOG line (`progress:` does, the
    /// automatic refresh does not).
    Previews { job: u64, log: bool },
    /// Tell webhooks and ntfy topics.
    Notify {
        job: u64,
        kind: NoticeKind,
        message: String,
    },
    /// Write the preview video of the job's frames so far.
    Video { job: u64 },
    /// Judge a frame file just rendered (whole, decodes, not one flat
    /// colour) and record it with its timing in frames.csv.
    JudgeFrame {
        job: u64,
        frame: i64,
        path: std::path::PathBuf,
        stat: super::live::FrameStat,
    },
    /// `help:` — write help.txt; the node logs how that went.
    WriteHelp { line: String, at: Option<LineRef> },
    /// `status:` — write the status files even if nothing changed.
    RewriteStatus,
}

/// A job the executor should run now.
#[derive(Debug)]
pub struct Start {
    pub job: u64,
    pub resolved: Resolved,
    /// Frames already on disk: only the others render.
    pub done: BTreeSet<i64>,
    /// The farm's id of a submission to re-attach to instead of submitting.
    pub attach: Option<String>,
    pub priority: i32,
    pub timeout: Option<Duration>,
    /// Where it runs: the devices its renderer may use.
    pub slot: Slot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Finished,
    Failed,
    Stalled,
}

impl NoticeKind {
    pub fn word(self) -> &'static str {
        match self {
            NoticeKind::Finished => "finished",
            NoticeKind::Failed => "failed",
            NoticeKind::Stalled => "stalled",
        }
    }
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.acts.is_empty()
            && self.log.is_empty()
            && self.status == StatusChange::None
    }

    pub fn say(&mut self, now: &Now, ev: Event, text: impl Into<String>) {
        self.log.push(LogLine::new(now.wall, ev, text.into()));
    }

    pub fn say_job(&mut self, now: &Now, ev: Event, job: u64, text: impl Into<String>) {
        self.log
            .push(LogLine::new(now.wall, ev, text.into()).job(job));
    }

    pub fn changed(&mut self) {
        self.status = StatusChange::Changed;
    }

    pub fn progressed(&mut self) {
        self.status = self.status.max(StatusChange::Progress);
    }

    /// Adds another decision's effects after these ones.
    pub fn extend(&mut self, other: Effects) {
        self.records.extend(other.records);
        self.acts.extend(other.acts);
        self.status = self.status.max(other.status);
        self.log.extend(other.log);
    }
}

/// When the core wants to be asked again (a scene settling, render hours).
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
