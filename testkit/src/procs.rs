//! Processes on every OS: liveness, and the processes a rig started (found
//! by their environment). Linux reads /proc ([`crate::procfs`]); Windows
//! (and macOS) ask the OS through sysinfo, as the node's own leftovers
//! sweep does (`droprender_supervise::kill_leftovers`).

/// True if a running (not zombie) process has this pid.
pub fn alive(pid: i32) -> bool {
    u32::try_from(pid).is_ok_and(|p| p != 0 && droprender_supervise::alive(p))
}

/// Live processes whose environment (`KEY=value` entries) `matches`.
#[cfg(target_os = "linux")]
pub fn live_with_env(matches: impl Fn(&[&[u8]]) -> bool) -> Vec<i32> {
    crate::procfs::live_with_env(matches)
}

/// Live processes whose environment (`KEY=value` entries) `matches`. Reads
/// other processes' environments (the PEB on Windows), which works for
/// processes of the same user; one the OS will not show is not listed.
#[cfg(not(target_os = "linux"))]
pub fn live_with_env(matches: impl Fn(&[&[u8]]) -> bool) -> Vec<i32> {
    use sysinfo::{ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};
    let mut sys = System::new();
    sys.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().with_environ(UpdateKind::Always),
    );
    sys.processes()
        .values()
        .filter(|p| p.status() != ProcessStatus::Zombie)
        .filter(|p| {
            let env: Vec<&[u8]> = p.environ().iter().map(|kv| kv.as_encoded_bytes()).collect();
            matches(&env)
        })
        .filter_map(|p| i32::try_from(p.pid().as_u32()).ok())
        .filter(|&pid| alive(pid))
        .collect()
}
