//! The Slurm runner's waits: the production values, and a struct the
//! tests shrink to milliseconds.

use std::time::Duration;

/// How long to wait before asking Slurm again after sbatch (or the name
/// check before it) failed.
pub const SUBMIT_RETRY: Duration = Duration::from_secs(30);
/// How long a cancel waits for Slurm to confirm no task is left.
const CANCEL_CONFIRM: Duration = Duration::from_secs(120);

/// The run's waits. Production uses [`Timing::default`]; tests shrink them
/// so retries and polls take no time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    /// Between submission attempts ([`SUBMIT_RETRY`]).
    pub submit_retry: Duration,
    /// The shortest poll, whatever the settings say.
    pub min_poll: Duration,
    /// The shortest wait between re-attach attempts.
    pub attach_retry: Duration,
    /// Between squeue looks while a cancel is confirmed.
    pub cancel_poll: Duration,
    /// Between repeated scancels while a cancel is confirmed.
    pub rescancel: Duration,
    /// How long a cancel waits for confirmation ([`CANCEL_CONFIRM`]).
    pub cancel_confirm: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            submit_retry: SUBMIT_RETRY,
            min_poll: Duration::from_millis(100),
            attach_retry: Duration::from_secs(2),
            cancel_poll: Duration::from_millis(300),
            rescancel: Duration::from_secs(5),
            cancel_confirm: CANCEL_CONFIRM,
        }
    }
}
