//! macOS (and any other non-Linux Unix sysinfo covers): the process table
//! from sysinfo, group ids from getpgid(2). No /proc, no FFI of our own.

use nix::unistd::{Pid, getpgid};

use crate::Proc;

pub(crate) fn table(needle: Option<&[u8]>, rss: bool) -> Vec<Proc> {
    let mut rows = crate::sysinfo_table::table(needle, rss);
    for p in &mut rows {
        // A process that vanished since the listing keeps pgid 0, which
        // matches no renderer's group.
        p.pgid = i32::try_from(p.pid)
            .ok()
            .and_then(|raw| getpgid(Some(Pid::from_raw(raw))).ok())
            .map_or(0, Pid::as_raw);
    }
    rows
}

/// Seconds since the epoch (proc_pidinfo's pbi_start_tvsec, via sysinfo).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    crate::sysinfo_table::one(pid).map(|(start, _)| start)
}

pub(crate) fn alive(pid: u32) -> bool {
    crate::sysinfo_table::one(pid).is_some_and(|(_, running)| running)
}
