//! The process table where there is no /proc (macOS, Windows), from sysinfo:
//! it reads other processes' environments (KERN_PROCARGS2 on macOS, the PEB
//! on Windows), start times and resident memory without FFI of our own.

use sysinfo::{ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};

use crate::Proc;

/// Every live process; `tagged` is set where an environment entry starts with
/// `needle` (environments are only read when a needle is given), `rss` is
/// filled when asked for. `pgid` is left 0 for the caller to fill.
pub(crate) fn table(needle: Option<&[u8]>, rss: bool) -> Vec<Proc> {
    let mut kind = ProcessRefreshKind::nothing();
    if needle.is_some() {
        kind = kind.with_environ(UpdateKind::Always);
    }
    if rss {
        kind = kind.with_memory();
    }
    let mut sys = System::new();
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
    sys.processes()
        .values()
        .filter(|p| p.status() != ProcessStatus::Zombie)
        .map(|p| Proc {
            pid: p.pid().as_u32(),
            ppid: p.parent().map_or(0, |pp| pp.as_u32()),
            start: p.start_time(),
            pgid: 0,
            rss: p.memory(),
            tagged: needle.is_some_and(|n| {
                p.environ()
                    .iter()
                    .any(|kv| kv.as_encoded_bytes().starts_with(n))
            }),
        })
        .collect()
}

#[cfg(unix)] // macOS; Windows asks the OS directly.
/// One process, refreshed alone (cheap): (start time in seconds since the
/// epoch, still running).
pub(crate) fn one(pid: u32) -> Option<(u64, bool)> {
    let pid = sysinfo::Pid::from_u32(pid);
    let mut sys = System::new();
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    let p = sys.process(pid)?;
    Some((p.start_time(), p.status() != ProcessStatus::Zombie))
}

pub(crate) fn total_memory() -> Option<u64> {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    Some(sys.total_memory()).filter(|m| *m > 0)
}
