//! The reconcile tick, from a plain thread.
//!
//! Why not `tokio::time::interval`: tokio's timer wheel files a 10 s
//! deadline on a coarse level and wakes the runtime at that level's slot
//! boundary (every 4.096 s) to move it down a level, so an idle node woke
//! about twice per reconcile interval (benches/bench.rs, idle row). A thread
//! blocked in `recv_timeout` sleeps in one futex wait and wakes once, at the
//! deadline.

use std::sync::mpsc::{self as std_mpsc, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Ticks every `period`. A tick not yet collected absorbs the ones after
/// it, so a busy receiver never finds a burst waiting. Dropping it stops
/// the thread.
pub struct Ticker {
    rx: mpsc::Receiver<()>,
    _stop: std_mpsc::Sender<()>,
}

impl Ticker {
    pub fn every(period: Duration) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(1);
        let (stop, stopped) = std_mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("reconcile-tick".into())
            .spawn(move || {
                let mut next = Instant::now() + period;
                loop {
                    match stopped.recv_timeout(next.saturating_duration_since(Instant::now())) {
                        Err(RecvTimeoutError::Timeout) => {
                            // Full: the last tick is still waiting; one is enough.
                            if let Err(TrySendError::Closed(())) = tx.try_send(()) {
                                return;
                            }
                            next = Instant::now() + period;
                        }
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        Ok(Ticker { rx, _stop: stop })
    }

    /// The next tick. `None` only if the thread is gone, which it never is
    /// while `self` lives; a `select!` branch on `Some(())` then just ends.
    pub async fn tick(&mut self) -> Option<()> {
        self.rx.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ticks_at_the_period_and_coalesces_missed_ticks() {
        let period = Duration::from_millis(30);
        let mut t = Ticker::every(period).expect("thread");
        let start = Instant::now();
        t.tick().await.expect("tick");
        assert!(start.elapsed() >= period);
        // Not collected for 5 periods: one tick is waiting, not five.
        std::thread::sleep(period * 5);
        t.tick().await.expect("the waiting tick");
        assert!(t.rx.try_recv().is_err(), "only one tick was waiting");
        t.tick().await.expect("ticks go on");
    }

    // Counts threads in /proc/self/task: Linux only.
    #[cfg(target_os = "linux")]
    #[test]
    fn dropping_it_stops_the_thread() {
        let t = Ticker::every(Duration::from_secs(3600)).expect("thread");
        let before = thread_count();
        drop(t);
        // The thread sees the sender gone at once, not after an hour.
        let deadline = Instant::now() + Duration::from_secs(5);
        while thread_count() >= before && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(thread_count() < before);
    }

    #[cfg(target_os = "linux")]
    fn thread_count() -> usize {
        std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
    }
}
