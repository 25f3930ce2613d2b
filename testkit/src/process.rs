//! Child processes a test or bench started: the node, the paper's server,
//! daemons. Each writes its stderr to a file; each is killed when dropped,
//! also when a test panics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::clock::now_ns;
use crate::wait;

/// A process with its stderr in a file.
pub struct Proc {
    child: Option<Child>,
    pub pid: u32,
    /// [`now_ns`] just before the spawn.
    pub started_ns: u64,
    stderr: PathBuf,
    pub what: &'static str,
}

impl Proc {
    /// Spawns `cmd` with its stderr to the file `stderr` (created); stdin
    /// and stdout are the command's.
    pub fn spawn(cmd: &mut Command, stderr: &Path, what: &'static str) -> Proc {
        let file = std::fs::File::create(stderr).expect("stderr file");
        cmd.stderr(file);
        let started_ns = now_ns();
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        Proc {
            pid: child.id(),
            child: Some(child),
            started_ns,
            stderr: stderr.to_path_buf(),
            what,
        }
    }

    /// As [`Child::try_wait`]; `Ok(None)` while it runs.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => c.try_wait(),
            None => Err(std::io::Error::other(format!("{} was stopped", self.what))),
        }
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// SIGKILL (Windows: TerminateProcess), then reap: a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill");
            c.wait().expect("wait");
        }
    }

    /// SIGTERM, then waits up to `timeout` for the exit status; `None` if
    /// it is still running then. Unix only: Windows has no SIGTERM (and
    /// Wine cannot deliver the console events that stand in for it).
    #[cfg(unix)]
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let c = self.child.as_mut()?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(c.id()).unwrap_or(0));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let mut status = None;
        wait::poll(timeout, Duration::from_millis(10), || {
            status = c.try_wait().ok().flatten();
            status.is_some()
        });
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// SIGTERM, then wait (SIGKILL after 30 s). Windows: kills at once.
    pub fn stop(mut self) {
        #[cfg(unix)]
        if self.terminate(Duration::from_secs(30)).is_some() {
            return;
        }
        self.kill();
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The last 30 lines of its stderr and, for a failure report, what
    /// the synced folder beside it (`sync/`) looked like.
    pub fn stderr_tail(&self) -> String {
        let s = self.stderr_text();
        let lines: Vec<&str> = s.lines().collect();
        let mut out = lines[lines.len().saturating_sub(30)..].join("\n");
        if let Some(root) = self.stderr.parent() {
            let folder = root.join("sync");
            let names: Vec<String> = std::fs::read_dir(&folder)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| {
                            let len = e.metadata().map_or(0, |m| m.len());
                            format!("{} ({len} B)", e.file_name().to_string_lossy())
                        })
                        .collect()
                })
                .unwrap_or_default();
            let log = std::fs::read_to_string(folder.join("LOG.txt")).unwrap_or_default();
            let log: Vec<&str> = log.lines().collect();
            out.push_str(&format!(
                "\n--- {}: {} ---\n{}",
                folder.display(),
                names.join(", "),
                log[log.len().saturating_sub(10)..].join("\n")
            ));
        }
        out
    }

    /// Polls `f` every `every` until it holds; panics with the stderr tail after `timeout`.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        every: Duration,
        f: impl FnMut() -> bool,
    ) {
        assert!(
            self.wait_until(what, timeout, every, f),
            "timed out after {timeout:?} waiting for {what}\n--- {} stderr ---\n{}",
            self.what,
            self.stderr_tail()
        );
    }

    /// Polls `f` every `every` until it holds (true) or `timeout` passes
    /// (false); panics if the process exits meanwhile.
    pub fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        every: Duration,
        mut f: impl FnMut() -> bool,
    ) -> bool {
        wait::poll(timeout, every, || {
            if f() {
                return true;
            }
            assert!(
                self.alive(),
                "{} exited while waiting for {what}\n--- stderr ---\n{}",
                self.what,
                self.stderr_tail()
            );
            false
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The node a rig runs, started and stopped as often as a test likes; run
/// N writes its stderr to `node-N.stderr` in the rig's directory.
pub struct NodeRuns {
    dir: PathBuf,
    current: Option<Proc>,
    runs: u32,
}

impl NodeRuns {
    pub fn new(dir: &Path) -> Self {
        NodeRuns {
            dir: dir.to_path_buf(),
            current: None,
            runs: 0,
        }
    }

    /// Spawns the next run (stdin and stdout on /dev/null).
    pub fn spawn(&mut self, mut cmd: Command) {
        assert!(self.current.is_none(), "node already running");
        self.runs += 1;
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        let path = self.stderr_path(self.runs);
        self.current = Some(Proc::spawn(&mut cmd, &path, "droprender-node"));
    }

    fn stderr_path(&self, run: u32) -> PathBuf {
        self.dir.join(format!("node-{run}.stderr"))
    }

    /// The running node.
    pub fn running(&mut self) -> &mut Proc {
        self.current.as_mut().expect("running")
    }

    pub fn pid(&self) -> u32 {
        self.current.as_ref().expect("running").pid
    }

    /// SIGKILL (Windows: TerminateProcess): a crash.
    pub fn kill9(&mut self) {
        self.current.take().expect("running").kill();
    }

    /// SIGTERM, then the exit status; panics with `msg` after `timeout`.
    #[cfg(unix)]
    pub fn stop(&mut self, timeout: Duration, msg: &str) -> ExitStatus {
        let mut p = self.current.take().expect("running");
        p.terminate(timeout).unwrap_or_else(|| panic!("{msg}"))
    }

    /// Every run's stderr, in order.
    pub fn stderr(&self) -> String {
        (1..=self.runs)
            .map(|i| std::fs::read_to_string(self.stderr_path(i)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}
