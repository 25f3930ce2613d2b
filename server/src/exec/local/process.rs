//! Renderer processes: each runs in its own process group, tagged in its
//! environment so a restarted node can find leftovers from before a crash.
//! A graceful stop is: SIGTERM to the group, a grace period, SIGKILL, wait.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::renderer::Invocation;

/// The environment variable that tags every renderer we start.
pub const TAG_VAR: &str = "DROPRENDER_JOB";

/// A tag naming this node (by state dir) and the job: `<node-id>:<job>`.
pub fn tag(node_id: &str, job: u64) -> String {
    format!("{node_id}:{job}")
}

/// A stable id for a state dir, so two nodes on one machine never touch each other's renders.
pub fn node_id(state: &Path) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    state.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Starts a renderer in a new process group. It inherits the node's
/// environment; stdin is closed, stdout and stderr are piped.
pub fn spawn(inv: &Invocation, tag: &str) -> std::io::Result<Child> {
    Command::new(&inv.program)
        .args(&inv.args)
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .env(TAG_VAR, tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
}

/// How `suspend:` freezes a renderer and `resume:` thaws it, for LOG lines.
pub const FREEZE: (&str, &str) = ("SIGSTOP", "SIGCONT");

/// Freezes (SIGSTOP) or thaws (SIGCONT) a renderer's whole process group.
pub fn freeze(pgid: i32, on: bool) {
    signal_group(pgid, if on { Signal::SIGSTOP } else { Signal::SIGCONT });
}

/// Kills whatever is left in a renderer's process group.
pub fn kill_group(pgid: i32) {
    signal_group(pgid, Signal::SIGKILL);
}

/// Sends a signal to a process group; a group that is gone is not an error.
pub fn signal_group(pgid: i32, sig: Signal) {
    let _ = killpg(Pid::from_raw(pgid), sig);
}

/// Stops a renderer: SIGTERM to its group, up to `grace` to exit, then SIGKILL.
/// Always reaps the child. Group members that outlive the leader get SIGKILL too.
pub async fn terminate(child: &mut Child, grace: Duration) -> std::io::Result<ExitStatus> {
    let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
        return child.wait().await;
    };
    signal_group(pid, Signal::SIGCONT);
    signal_group(pid, Signal::SIGTERM);
    let status = match tokio::time::timeout(grace, child.wait()).await {
        Ok(s) => s?,
        Err(_) => {
            signal_group(pid, Signal::SIGKILL);
            child.wait().await?
        }
    };
    signal_group(pid, Signal::SIGKILL);
    Ok(status)
}

/// Linux: a process's start time in clock ticks since boot (field 22 of /proc/PID/stat).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(19)?.parse().ok()
}

/// Kills every process whose environment carries a tag of this node
/// (`<node-id>:…`), group and all, and waits until they are gone. Returns
/// the pids found. Used at start-up after a crash.
pub fn kill_leftovers(node_id: &str) -> Vec<i32> {
    let needle = format!("{TAG_VAR}={node_id}:");
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return found;
    };
    for ent in rd.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if u32::try_from(pid).ok() == Some(me) {
            continue;
        }
        let Ok(env) = std::fs::read(ent.path().join("environ")) else {
            continue;
        };
        if env
            .split(|b| *b == 0)
            .any(|kv| kv.starts_with(needle.as_bytes()))
        {
            found.push(pid);
        }
    }
    for &pid in &found {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGCONT);
        if let Ok(pgid) = nix::unistd::getpgid(Some(Pid::from_raw(pid))) {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    // Start-up only: wait (bounded) until the kernel has them gone, so the
    // resumed job does not race its own ghost for the output files.
    for _ in 0..200 {
        if found.iter().all(|p| !alive(*p)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    found
}

/// True if the pid exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s[i + 2..].chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}
