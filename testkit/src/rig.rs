//! A rig for end-to-end tests on a local folder: a [`Layout`], the real
//! `droprender-node` (restartable, killable) and `droprender` binaries, and
//! the Render simulator (the node binary linked as `Render`).

use std::ops::Deref;
use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::process::ExitStatus;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use droprender_shared::status::StatusDoc;

use crate::bins;
use crate::layout::{Layout, Place};
use crate::log;
use crate::process::NodeRuns;
use crate::wait;

pub struct Rig {
    // Before the layout: the node is killed before its tree is removed.
    node: NodeRuns,
    layout: Layout,
    /// The node's (and so the renderer's) extra environment.
    pub env: Vec<(String, String)>,
    /// Extra `droprender-node run` arguments.
    pub extra_args: Vec<String>,
}

impl Deref for Rig {
    type Target = Layout;

    fn deref(&self) -> &Layout {
        &self.layout
    }
}

impl Default for Rig {
    fn default() -> Self {
        Self::new()
    }
}

impl Rig {
    pub fn new() -> Self {
        // Before any timing-sensitive step: the first call may build the client.
        bins::client();
        let layout = Layout::new();
        Rig {
            node: NodeRuns::new(layout.dir.path()),
            layout,
            env: vec![("RENDER_SIM_STEP_MS".into(), "2".into())],
            extra_args: Vec::new(),
        }
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        set_env(&mut self.env, k, v);
    }

    /// `droprender-node run` on this rig's folder and roots, with the given
    /// state dir and argv log.
    fn node_command(&self, state: &Path, argv_log: &Path) -> Command {
        let mut cmd = self.layout.node_command(Place::Folder(&self.folder), state);
        cmd.env("RENDER_SIM_ARGV_LOG", argv_log)
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Starts the node; returns once it has written its first status file.
    pub fn start(&mut self) {
        let mut cmd = self.node_command(&self.state, &self.argv_log);
        cmd.args(&self.extra_args)
            .env("RENDER_SIM_PID_FILE", &self.pid_file);
        self.node.spawn(cmd);
        self.wait_until("the node to start", || {
            self.folder.join("status.json").exists()
        });
    }

    /// Starts another node on the same folder and roots, with its own state
    /// dir and argv log (for several named nodes on one folder).
    pub fn spawn_other(&self, name: &str) -> (Child, PathBuf) {
        let state = self.dir.path().join(format!("state-{name}"));
        let argv = self.dir.path().join(format!("argv-{name}.log"));
        let stderr = std::fs::File::create(self.dir.path().join(format!("node-{name}.stderr")))
            .expect("stderr");
        let mut cmd = self.node_command(&state, &argv);
        cmd.arg("--name")
            .arg(name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        (cmd.spawn().expect("spawn node"), argv)
    }

    pub fn node_pid(&self) -> u32 {
        self.node.pid()
    }

    /// Every run's stderr.
    pub fn stderr(&self) -> String {
        self.node.stderr()
    }

    /// SIGKILL (Windows: TerminateProcess): a crash.
    pub fn kill9(&mut self) {
        self.node.kill9();
    }

    /// SIGTERM, then wait for the exit status (Unix only).
    #[cfg(unix)]
    pub fn stop(&mut self) -> ExitStatus {
        self.node
            .stop(Duration::from_secs(30), "node did not stop on SIGTERM")
    }

    /// `droprender --folder <folder> <args>`.
    pub fn client(&self, args: &[&str]) -> Output {
        Command::new(bins::client())
            .arg("--folder")
            .arg(&self.folder)
            .args(args)
            .output()
            .expect("run client")
    }

    /// LOG.txt with the files it was moved aside to (`[status] log_max_kb`).
    pub fn log(&self) -> String {
        log::folder_log(&self.folder)
    }

    /// LOG lines with this event word (the third field).
    pub fn log_events(&self, event: &str) -> Vec<String> {
        log::events(&self.log(), event)
    }

    pub fn status(&self) -> StatusDoc {
        serde_json::from_str(&self.read("status.json")).expect("status.json parses")
    }

    pub fn wait_until(&self, what: &str, mut f: impl FnMut() -> bool) {
        self.wait_for(what, Duration::from_secs(60), &mut f);
    }

    pub fn wait_for(&self, what: &str, timeout: Duration, f: &mut dyn FnMut() -> bool) {
        wait::until(what, timeout, Duration::from_millis(10), f, || {
            format!(
                "--- LOG.txt ---\n{}\n--- node stderr ---\n{}",
                self.log(),
                self.stderr()
            )
        });
    }

    pub fn wait_events(&self, event: &str, n: usize) {
        self.wait_until(&format!("{n} '{event}' LOG lines"), || {
            self.log_events(event).len() >= n
        });
    }
}

/// Sets `k` in an environment list, replacing an earlier value.
pub fn set_env(env: &mut Vec<(String, String)>, k: &str, v: &str) {
    env.retain(|(a, _)| a != k);
    env.push((k.into(), v.into()));
}
