//! droprender's per-OS process supervision.
//!
//! A renderer (Maya's `Render`, Blender, …) starts helpers of its own; the node
//! has to pause, stop and measure all of them together and must never leave
//! one behind. [`Supervised`] is one renderer and everything it starts: a
//! process group on Unix, a Job Object on Windows. The OS-specific parts sit in
//! one module per OS (`unix`, `linux`, `macos`, `windows`); this file is the
//! portable logic on top of them.
//!
//! Several [`Supervised`] can run at once; each has its own group or job, so
//! stopping one never touches another or the node.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, ChildStderr, ChildStdout, Command};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as os;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as os;

// The process table: /proc on Linux, sysinfo elsewhere.
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as procs;
#[cfg(all(unix, not(target_os = "linux")))]
mod macos;
#[cfg(all(unix, not(target_os = "linux")))]
use macos as procs;
#[cfg(not(target_os = "linux"))]
mod sysinfo_table;

#[cfg(not(any(unix, windows)))]
compile_error!("droprender-supervise supports Unix (Linux, macOS) and Windows only");

/// The environment variable that tags every renderer the node starts, so a
/// restarted node can find what an earlier run of it left behind.
pub const TAG_VAR: &str = "DROPRENDER_JOB";

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Added to (or overriding) the node's own environment, which is inherited.
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<PathBuf>,
    /// Set as [`TAG_VAR`] in the renderer's environment; by convention
    /// `<node-id>:<job>`, so [`kill_leftovers`] can match a node's prefix.
    pub tag: String,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit code, if it exited (on Windows, always).
    pub code: Option<i32>,
    /// The signal that ended it (Unix only).
    pub signal: Option<i32>,
}

impl Exit {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            // NTSTATUS-style codes (0xC000013A after CTRL_BREAK, 0xC0000005 for
            // an access violation) are only recognisable in hex.
            (Some(c), _) if (c as u32) >= 0xC000_0000 => write!(f, "exit code {:#010X}", c as u32),
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => match signal_name(s) {
                Some(name) => write!(f, "killed by signal {s} ({name})"),
                None => write!(f, "killed by signal {s}"),
            },
            (None, None) => f.write_str("exit status unknown"),
        }
    }
}

fn signal_name(sig: i32) -> Option<&'static str> {
    // The numbers are the same on Linux and macOS for these.
    Some(match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// Why a renderer could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    #[error(
        "cannot start {program}: no such program; check the renderer path in the node's config, or that it is on the node's PATH"
    )]
    NotFound { program: PathBuf },
    #[error(
        "cannot start {program}: permission denied; make it executable for the user the node runs as"
    )]
    PermissionDenied { program: PathBuf },
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "started {program} but could not supervise its process tree ({source}); it was killed before it ran, so nothing is left behind. On Windows, check that the node is not itself in a Job Object that forbids nested jobs"
    )]
    Supervise {
        program: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A running renderer and everything it starts: a process group on Unix, a
/// Job Object on Windows.
///
/// Dropping it kills the whole tree (the node must never leave renders running
/// that it no longer tracks).
#[derive(Debug)]
pub struct Supervised {
    child: Child,
    pid: u32,
    tree: os::Tree,
    /// Set once the leader is reaped; from then on its pid (and Unix group id)
    /// may belong to someone else, so nothing is signalled any more.
    exit: Option<Exit>,
}

impl Supervised {
    /// Starts `spec` with stdin closed, stdout and stderr piped and
    /// [`TAG_VAR`]`=spec.tag` in its environment. Must be called inside a tokio
    /// runtime.
    pub fn spawn(spec: &Spec) -> Result<Self, SpawnError> {
        let program = spec.program.clone();
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env(TAG_VAR, &spec.tag)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Belt and braces behind our own Drop: tokio also reaps it.
            .kill_on_drop(true);
        if let Some(dir) = &spec.cwd {
            cmd.current_dir(dir);
        }
        let prepared = os::prepare(&mut cmd).map_err(|source| SpawnError::Supervise {
            program: program.clone(),
            source,
        })?;
        let child = cmd.spawn().map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => SpawnError::NotFound {
                program: program.clone(),
            },
            io::ErrorKind::PermissionDenied => SpawnError::PermissionDenied {
                program: program.clone(),
            },
            _ => SpawnError::Spawn {
                program: program.clone(),
                source,
            },
        })?;
        let Some(pid) = child.id() else {
            // tokio only forgets the pid once the child is reaped, which cannot
            // have happened yet.
            return Err(SpawnError::Spawn {
                program,
                source: io::Error::other("the new process has no pid"),
            });
        };
        // On failure `adopt` has already killed the (still suspended) child.
        let tree = os::Tree::adopt(prepared, &child, pid)
            .map_err(|source| SpawnError::Supervise { program, source })?;
        Ok(Supervised {
            child,
            pid,
            tree,
            exit: None,
        })
    }

    /// The leader's pid (the renderer itself).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Takes the renderer's stdout pipe; `None` the second time.
    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Takes the renderer's stderr pipe; `None` the second time.
    pub fn stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Waits for the renderer (the leader) to exit, then kills whatever it
    /// left running in its group or job: a daemon it started (Houdini's
    /// `hserver`) must not hold the node up or outlive the job.
    pub async fn wait(&mut self) -> io::Result<Exit> {
        if let Some(exit) = self.exit {
            return Ok(exit);
        }
        let status = self.child.wait().await?;
        Ok(self.reaped(status))
    }

    /// Stops the whole tree gracefully: Unix SIGCONT + SIGTERM to the group,
    /// Windows CTRL_BREAK to the renderer's console group (WM_CLOSE to its
    /// windows where no console is shared). If the renderer has not exited
    /// after `grace`, the tree is killed. Always reaps.
    pub async fn terminate(&mut self, grace: Duration) -> io::Result<Exit> {
        if let Some(exit) = self.exit {
            return Ok(exit);
        }
        // Asking a leader that already exited is pointless and, on Windows,
        // a CTRL_BREAK to a dead group id would reach the node's own console.
        if let Some(status) = self.child.try_wait()? {
            return Ok(self.reaped(status));
        }
        self.tree.ask_to_stop();
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                self.tree.kill();
                let _ = self.child.start_kill();
                self.child.wait().await?
            }
        };
        Ok(self.reaped(status))
    }

    /// Kills the whole tree now. Call [`Supervised::wait`] afterwards for the
    /// exit status (it returns promptly).
    pub fn kill(&mut self) {
        if self.exit.is_some() {
            return;
        }
        self.tree.kill();
        let _ = self.child.start_kill();
    }

    /// Freezes every process of the tree (Unix SIGSTOP to the group, Windows
    /// NtSuspendProcess on each process of the job).
    pub fn suspend(&self) -> io::Result<()> {
        self.running()?;
        self.tree.suspend()
    }

    /// Undoes [`Supervised::suspend`].
    pub fn resume(&self) -> io::Result<()> {
        self.running()?;
        self.tree.resume()
    }

    /// Resident bytes of the whole tree right now, for sampling a frame's
    /// peak memory; `None` once the renderer has exited or if the OS would
    /// not say.
    pub fn tree_memory(&self) -> Option<u64> {
        if self.exit.is_some() {
            return None;
        }
        self.tree.memory()
    }

    fn running(&self) -> io::Result<()> {
        match self.exit {
            None => Ok(()),
            Some(exit) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the renderer (pid {}) has already ended ({exit})", self.pid),
            )),
        }
    }

    fn reaped(&mut self, status: std::process::ExitStatus) -> Exit {
        // Whatever is left of the tree goes with the leader. On Unix the group
        // id is only reusable once the group is empty, so this can at worst
        // hit an empty group.
        self.tree.kill();
        let exit = os::exit_of(status);
        self.exit = Some(exit);
        exit
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.tree.kill();
        }
    }
}

/// One row of the OS process table: what the leftovers sweep and the tree
/// memory sum need.
#[derive(Debug, Clone)]
#[allow(dead_code)] // `pgid` and `rss` are read on some OSes only.
pub(crate) struct Proc {
    pub pid: u32,
    pub ppid: u32,
    /// Only compared with other start times from the same table.
    pub start: u64,
    /// Process group (Unix; 0 on Windows).
    pub pgid: i32,
    /// Resident bytes (only filled where asked for).
    pub rss: u64,
    /// Its environment has the needle the table was asked about.
    pub tagged: bool,
}

/// Kills every process whose [`TAG_VAR`] starts with `prefix` (pass the node's
/// id followed by its separator, e.g. `"3f2a…:"`), with its process group on
/// Unix, and every untagged descendant of one (a renderer may scrub its
/// children's environment). Waits (up to 5 s) until they are gone, so a
/// restarted job does not race its own ghost for the output files. Returns
/// the pids it killed. An empty prefix matches nothing: it would take every
/// node's renders.
///
/// Linux reads `/proc/*/environ`; macOS and Windows read process environments
/// through sysinfo (KERN_PROCARGS2 / the PEB), which needs the same user as the
/// renderers (or root / admin). On Windows a node that died also closed its Job
/// Objects, which killed their trees already; this sweep is the backstop.
pub fn kill_leftovers(prefix: &str) -> Vec<u32> {
    if prefix.is_empty() {
        return Vec::new();
    }
    let needle = format!("{TAG_VAR}={prefix}");
    let me = std::process::id();
    let table = os::table(Some(needle.as_bytes()), false);
    let start: HashMap<u32, u64> = table.iter().map(|p| (p.pid, p.start)).collect();
    let mut doomed: Vec<u32> = table
        .iter()
        .filter(|p| p.tagged && p.pid != me)
        .map(|p| p.pid)
        .collect();
    // Untagged descendants. A parent pid may have been recycled since, so a
    // child only counts if it started after its parent.
    loop {
        let more: Vec<u32> = table
            .iter()
            .filter(|p| p.pid != me && !doomed.contains(&p.pid) && doomed.contains(&p.ppid))
            .filter(|p| start.get(&p.ppid).is_some_and(|&ps| ps <= p.start))
            .map(|p| p.pid)
            .collect();
        if more.is_empty() {
            break;
        }
        doomed.extend(more);
    }
    for &pid in &doomed {
        os::kill_leftover(pid);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && doomed.iter().any(|&p| alive(p)) {
        std::thread::sleep(Duration::from_millis(10));
    }
    doomed.sort_unstable();
    doomed
}

/// When the process started, in an OS-specific unit (clock ticks since boot on
/// Linux, seconds since the epoch on macOS, 100 ns since 1601 on Windows).
/// Only compare it with another value from this function on the same
/// machine: equal start times mean the pid was not recycled.
pub fn start_time(pid: u32) -> Option<u64> {
    os::start_time(pid)
}

/// True if the pid names a running (not zombie) process.
pub fn alive(pid: u32) -> bool {
    os::alive(pid)
}

/// This machine's host name, for status files ("unknown-host" if the OS won't say).
pub fn hostname() -> String {
    os::hostname()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// This machine's physical memory in bytes (status files show it).
pub fn total_memory() -> Option<u64> {
    #[cfg(target_os = "linux")]
    return linux::total_memory();
    #[cfg(not(target_os = "linux"))]
    return sysinfo_table::total_memory();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reads_well() {
        let e = |code, signal| Exit { code, signal }.to_string();
        assert_eq!(e(Some(211), None), "exit code 211");
        assert_eq!(e(None, Some(9)), "killed by signal 9 (SIGKILL)");
        assert_eq!(e(None, Some(64)), "killed by signal 64");
        assert_eq!(e(Some(0xC000_013Au32 as i32), None), "exit code 0xC000013A");
        assert_eq!(e(None, None), "exit status unknown");
        assert!(
            Exit {
                code: Some(0),
                signal: None
            }
            .success()
        );
    }

    #[test]
    fn a_supervised_renderer_can_move_between_tasks() {
        fn send<T: Send>() {}
        send::<Supervised>();
    }

    #[test]
    fn empty_prefix_kills_nothing() {
        assert!(kill_leftovers("").is_empty());
    }

    #[test]
    fn this_process_is_alive_with_a_stable_start_time() {
        let me = std::process::id();
        assert!(alive(me));
        let t = start_time(me).expect("own start time");
        assert_eq!(start_time(me), Some(t));
        assert!(!hostname().is_empty());
    }
}
