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

/// Until `count()` reaches `target`, failing only when it has not grown
/// for `stall`: a long run on a loaded machine is slow, not stuck.
pub fn until_count(
    what: &str,
    target: usize,
    stall: Duration,
    every: Duration,
    mut count: impl FnMut() -> usize,
    context: impl FnOnce() -> String,
) {
    let mut last = count();
    let mut grew = Instant::now();
    while last < target {
        if grew.elapsed() > stall {
            panic!(
                "timed out waiting for {what}: {last} of {target}, none more in {stall:?}\n{}",
                context()
            );
        }
        std::thread::sleep(every);
        let now = count();
        if now > last {
            last = now;
            grew = Instant::now();
        }
    }
}

/// The last `n` lines of `text`, newest first (for failure messages).
pub fn newest_first(text: &str, n: usize) -> String {
    text.lines().rev().take(n).collect::<Vec<_>>().join("\n")
}
