//! Polling. Tests look at files and processes with short sleeps: that is
//! the test's view of the world, like a sync client's; the product itself
//! never polls.

use std::time::{Duration, Instant};

/// Calls `f` every `every` until it holds (true) or `timeout` has passed (false).
pub fn poll(timeout: Duration, every: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while !f() {
        if t.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(every);
    }
    true
}

/// [`poll`], or panics with `timed out waiting for {what}` and what
/// `context` says (logs, stderr) to explain it.
pub fn until(
    what: &str,
    timeout: Duration,
    every: Duration,
    f: impl FnMut() -> bool,
    context: impl FnOnce() -> String,
) {
    if !poll(timeout, every, f) {
        panic!("timed out waiting for {what}\n{}", context());
    }
}

/// The last `n` lines of `text`, newest first (for failure messages).
pub fn newest_first(text: &str, n: usize) -> String {
    text.lines().rev().take(n).collect::<Vec<_>>().join("\n")
}
