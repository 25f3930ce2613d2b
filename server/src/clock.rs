//! Wall-clock time for logs and schedules, settable for tests.
//!
//! `DROPRENDER_CLOCK_START="2026-11-23 18:59:58"` makes the node's clock start
//! at that local time and run at normal speed, so schedule windows can be
//! tested deterministically without waiting for a real evening.

use std::sync::OnceLock;
use std::time::Instant;

use chrono::NaiveDateTime;

struct Clock {
    start: Option<(NaiveDateTime, Instant)>,
}

static CLOCK: OnceLock<Clock> = OnceLock::new();

pub const ENV: &str = "DROPRENDER_CLOCK_START";

fn clock() -> &'static Clock {
    CLOCK.get_or_init(|| Clock {
        start: std::env::var(ENV).ok().and_then(|v| {
            NaiveDateTime::parse_from_str(v.trim(), droprender_shared::logline::TIME_FORMAT)
                .ok()
                .map(|t| (t, Instant::now()))
        }),
    })
}

/// Local wall time now.
pub fn now() -> NaiveDateTime {
    match clock().start {
        Some((t, at)) => t + chrono::Duration::from_std(at.elapsed()).unwrap_or_default(),
        None => chrono::Local::now().naive_local(),
    }
}

/// `YYYY-MM-DD HH:MM:SS`.
pub fn stamp(t: NaiveDateTime) -> String {
    t.format(droprender_shared::logline::TIME_FORMAT)
        .to_string()
}
