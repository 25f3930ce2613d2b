//! The clock the kit stamps events with.

/// A monotonic clock in nanoseconds. On Unix it is `CLOCK_MONOTONIC`, the
/// clock the Render simulator stamps its start with
/// (`RENDER_SIM_START_STAMP`), so the two compare. Elsewhere it counts from
/// an origin private to this process: compare its values only with each
/// other.
#[cfg(unix)]
pub fn now_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is readable");
    u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec()).unwrap_or(0)
}

#[cfg(not(unix))]
pub fn now_ns() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    // Never 0: callers treat 0 as "not stamped".
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX) + 1
}
