//! Per-job options (`after=`, `timeout=`, `retries=`, `priority=`,
//! `gpus=`, `slot=`) on a `rend:` line, and the duration and priority words
//! they use.

use super::error::ParseError;
use crate::profile::FlagError;

/// Per-job options written as `key=value` anywhere in a `rend:` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOptions {
    /// Wait until these jobs have finished; if one fails, this job is cancelled.
    pub after: Vec<u64>,
    /// Seconds the render may take before it is stopped.
    pub timeout: Option<u64>,
    /// Times to retry after a failure, a stall or a timeout.
    pub retries: Option<u32>,
    pub priority: Option<i32>,
    /// GPUs the render needs: it runs in a slot that owns at least this many.
    pub gpus: Option<u32>,
    /// The node's slot it must run in (`[[slots]] name`).
    pub slot: Option<String>,
}

/// Most GPUs one job may ask for.
pub const MAX_GPUS: u32 = 16;

impl JobOptions {
    /// The options as `key=value` words, in canonical order.
    pub(super) fn words(&self) -> Vec<String> {
        let mut w = Vec::new();
        if !self.after.is_empty() {
            let ids: Vec<String> = self.after.iter().map(u64::to_string).collect();
            w.push(format!("after={}", ids.join(",")));
        }
        if let Some(t) = self.timeout {
            w.push(format!("timeout={}", format_duration(t)));
        }
        if let Some(r) = self.retries {
            w.push(format!("retries={r}"));
        }
        if let Some(p) = self.priority {
            w.push(format!("priority={}", priority_word(p)));
        }
        if let Some(g) = self.gpus {
            w.push(format!("gpus={g}"));
        }
        if let Some(s) = &self.slot {
            w.push(format!("slot={s}"));
        }
        w
    }
}

pub const PRIORITY_HIGH: i32 = 10;
pub const PRIORITY_LOW: i32 = -10;
/// Longest `timeout=` accepted: 30 days.
pub const MAX_TIMEOUT_SECS: u64 = 30 * 24 * 3600;

/// `high`, `normal`, `low` or a number from -100 to 100.
pub fn parse_priority(v: &str) -> Option<i32> {
    match v.to_ascii_lowercase().as_str() {
        "high" => Some(PRIORITY_HIGH),
        "normal" => Some(0),
        "low" => Some(PRIORITY_LOW),
        n => n.parse::<i32>().ok().filter(|n| (-100..=100).contains(n)),
    }
}

pub fn priority_word(p: i32) -> String {
    match p {
        PRIORITY_HIGH => "high".into(),
        0 => "normal".into(),
        PRIORITY_LOW => "low".into(),
        n => n.to_string(),
    }
}

/// `2h`, `90m`, `1h30m`, `45s` or plain seconds.
pub fn parse_duration(v: &str) -> Option<u64> {
    if let Ok(n) = v.parse::<u64>() {
        return Some(n);
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut any = false;
    for c in v.to_ascii_lowercase().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        num.clear();
        any = true;
    }
    (any && num.is_empty()).then_some(total)
}

pub fn format_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Pulls the per-job options out of a `rend:` line.
pub(super) fn take_options(tokens: &mut Vec<String>) -> Result<JobOptions, ParseError> {
    let mut o = JobOptions::default();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut err = None;
    tokens.retain(|t| {
        let Some((k, v)) = t.split_once('=') else {
            return true;
        };
        let key: &'static str = match k.to_ascii_lowercase().as_str() {
            "after" => "after",
            "timeout" => "timeout",
            "retries" => "retries",
            "priority" => "priority",
            "gpus" => "gpus",
            "slot" => "slot",
            _ => return true,
        };
        if seen.contains(&key) {
            err.get_or_insert(FlagError::DuplicateFlag(format!("{key}=")).into());
            return false;
        }
        seen.push(key);
        let bad = |rule: &str| -> ParseError {
            FlagError::BadValue {
                flag: format!("{key}="),
                value: v.to_string(),
                rule: rule.to_string(),
            }
            .into()
        };
        let r: Result<(), ParseError> = match key {
            "after" => v
                .split(',')
                .map(|n| {
                    n.trim_start_matches('#')
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                })
                .collect::<Option<Vec<u64>>>()
                .filter(|ids| !ids.is_empty() && ids.len() <= 16)
                .map(|ids| o.after = ids)
                .ok_or_else(|| bad("expected job numbers, e.g. after=12 or after=12,13")),
            "timeout" => parse_duration(v)
                .filter(|s| (1..=MAX_TIMEOUT_SECS).contains(s))
                .map(|s| o.timeout = Some(s))
                .ok_or_else(|| {
                    bad("expected a duration such as 2h, 90m or 1h30m (at most 30 days)")
                }),
            "retries" => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 10)
                .map(|n| o.retries = Some(n))
                .ok_or_else(|| bad("expected a whole number from 0 to 10")),
            "gpus" => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_GPUS).contains(n))
                .map(|n| o.gpus = Some(n))
                .ok_or_else(|| bad("expected a number of GPUs from 1 to 16")),
            "slot" => {
                let ok = (1..=32).contains(&v.len())
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                ok.then(|| o.slot = Some(v.to_string()))
                    .ok_or_else(|| bad("a slot name is letters, digits, _ and -"))
            }
            _ => parse_priority(v)
                .map(|p| o.priority = Some(p))
                .ok_or_else(|| bad("expected high, normal, low or a number from -100 to 100")),
        };
        if let Err(e) = r {
            err.get_or_insert(e);
        }
        false
    });
    match err {
        Some(e) => Err(e),
        None => Ok(o),
    }
}
