//! Time as a value: every decision of the core takes a [`Now`], so tests
//! move time by building one instead of sleeping.

use std::time::{Duration, Instant, SystemTime};

use chrono::NaiveDateTime;
use droprender_shared::logline::TIME_FORMAT;

#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Local wall time (LOG lines, render hours); settable for tests
    /// through `DROPRENDER_CLOCK_START` (see `crate::clock`).
    pub wall: NaiveDateTime,
    /// For durations: render time, ETA, when to look again.
    pub mono: Instant,
    /// For comparing with file times (a scene's mtime).
    pub system: SystemTime,
}

impl Now {
    /// `YYYY-MM-DD HH:MM:SS`.
    pub fn stamp(&self) -> String {
        stamp(self.wall)
    }

    /// The same moment `d` later, on every clock.
    pub fn after(&self, d: Duration) -> Now {
        Now {
            wall: self.wall + chrono::Duration::from_std(d).unwrap_or_default(),
            mono: self.mono + d,
            system: self.system + d,
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS`.
pub fn stamp(t: NaiveDateTime) -> String {
    t.format(TIME_FORMAT).to_string()
}
