//! LOG.txt: one human-readable line per event, append-only.
//!
//! `2026-11-22 10:00:01 accepted job 12 (line 7): rend:render -s 1 -e 10 shot01.mb`
//! `2026-11-22 10:00:02 rejected line 8: -preRender is not allowed: it runs MEL code | rend:…`
//!
//! The event word is always the third field, so `grep rejected LOG.txt` works.

use std::fmt;

use chrono::NaiveDateTime;

pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Accepted,
    Rejected,
    Skipped,
    Waiting,
    Started,
    Progress,
    Finished,
    Failed,
    Interrupted,
    Resumed,
    Cancelled,
    Retrying,
    Node,
    Warning,
}

impl Event {
    pub fn word(self) -> &'static str {
        match self {
            Event::Accepted => "accepted",
            Event::Rejected => "rejected",
            Event::Skipped => "skipped",
            Event::Waiting => "waiting",
            Event::Started => "started",
            Event::Progress => "progress",
            Event::Finished => "finished",
            Event::Failed => "failed",
            Event::Interrupted => "interrupted",
            Event::Resumed => "resumed",
            Event::Cancelled => "cancelled",
            Event::Retrying => "retrying",
            Event::Node => "node",
            Event::Warning => "warning",
        }
    }

    pub fn from_word(w: &str) -> Option<Self> {
        ALL.iter().copied().find(|e| e.word() == w)
    }
}

const ALL: &[Event] = &[
    Event::Accepted,
    Event::Rejected,
    Event::Skipped,
    Event::Waiting,
    Event::Started,
    Event::Progress,
    Event::Finished,
    Event::Failed,
    Event::Interrupted,
    Event::Resumed,
    Event::Cancelled,
    Event::Retrying,
    Event::Node,
    Event::Warning,
];

/// Where in the command files a line came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRef {
    /// None for commands.txt, else the conflicted copy's file name.
    pub copy: Option<String>,
    /// 1-based line number.
    pub line: u64,
}

impl fmt::Display for LineRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.copy {
            None => write!(f, "line {}", self.line),
            Some(c) => write!(f, "line {} of {c}", self.line),
        }
    }
}

/// One LOG.txt line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub time: NaiveDateTime,
    pub event: Event,
    pub job: Option<u64>,
    pub at: Option<LineRef>,
    pub text: String,
}

impl LogLine {
    pub fn new(time: NaiveDateTime, event: Event, text: impl Into<String>) -> Self {
        Self {
            time,
            event,
            job: None,
            at: None,
            text: text.into(),
        }
    }

    pub fn job(mut self, job: u64) -> Self {
        self.job = Some(job);
        self
    }

    pub fn at(mut self, at: LineRef) -> Self {
        self.at = Some(at);
        self
    }

    /// Parses a line written by [`fmt::Display`]; `None` for anything else.
    pub fn parse(line: &str) -> Option<Self> {
        let mut parts = line.splitn(4, ' ');
        let date = parts.next()?;
        let clock = parts.next()?;
        let time = NaiveDateTime::parse_from_str(&format!("{date} {clock}"), TIME_FORMAT).ok()?;
        let event = Event::from_word(parts.next()?.trim_end_matches(':'))?;
        let rest = parts.next().unwrap_or("");
        let job = rest
            .strip_prefix("job ")
            .and_then(|r| r.split([' ', ':']).next())
            .and_then(|n| n.parse().ok());
        let text = rest.split_once(": ").map_or(rest, |(_, t)| t).to_string();
        Some(Self {
            time,
            event,
            job,
            at: None,
            text,
        })
    }
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.time.format(TIME_FORMAT), self.event.word())?;
        match (&self.job, &self.at) {
            (Some(j), Some(at)) => write!(f, " job {j} ({at})")?,
            (Some(j), None) => write!(f, " job {j}")?,
            (None, Some(at)) => write!(f, " {at}")?,
            (None, None) => {}
        }
        // One event, one line: a newline in a message must not forge another.
        let text: String = self
            .text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        write!(f, ": {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> NaiveDateTime {
        NaiveDateTime::parse_from_str("2026-11-22 10:00:01", TIME_FORMAT).expect("time")
    }

    #[test]
    fn formats_and_parses() {
        let l = LogLine::new(t(), Event::Accepted, "rend:-s 1 a.mb")
            .job(12)
            .at(LineRef {
                copy: None,
                line: 7,
            });
        let s = l.to_string();
        assert_eq!(
            s,
            "2026-11-22 10:00:01 accepted job 12 (line 7): rend:-s 1 a.mb"
        );
        let p = LogLine::parse(&s).expect("parses");
        assert_eq!(
            (p.event, p.job, p.text.as_str()),
            (Event::Accepted, Some(12), "rend:-s 1 a.mb")
        );
    }

    #[test]
    fn newlines_cannot_forge_lines() {
        let l = LogLine::new(
            t(),
            Event::Rejected,
            "bad\n2026-11-22 10:00:01 finished job 1: x",
        );
        assert_eq!(l.to_string().lines().count(), 1);
    }
}
