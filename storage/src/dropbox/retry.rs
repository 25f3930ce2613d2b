//! How stubbornly a Dropbox call that failed for a passing reason (429,
//! 5xx, a dropped connection) is tried again.

use std::time::Duration;

use rand::Rng as _;

/// How stubbornly transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff; each further failure doubles it.
    pub base: Duration,
    /// No single wait is longer (except what a 429 asks for).
    pub cap: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// The wait after the `failures`-th failure in a row: exponential, with
    /// "equal jitter" (between half and all of it) so that many clients
    /// failing together do not come back together.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        let full = exp.min(self.cap);
        let half = full / 2;
        half + full
            .saturating_sub(half)
            .mul_f64(rand::rng().random::<f64>())
    }
}
