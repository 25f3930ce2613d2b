//! A rig for the node in Dropbox API mode: the emulator on its own runtime,
//! a [`Layout`] for the node's local roots, and the real `droprender-node`
//! and `droprender` binaries pointed at the emulator.

use std::ops::Deref;
use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::process::ExitStatus;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use dropbox_emulator::Config;
use droprender_shared::status::StatusDoc;
use droprender_storage::dropbox::DropboxFolder;

use crate::bins;
use crate::emulator::{Emu, TOKEN};
use crate::layout::{Layout, LayoutSpec, Place};
use crate::log;
use crate::process::{NodeRuns, Proc};
use crate::wait;

/// The node's folder in the emulator.
pub const ROOT: &str = "/Maya";

pub struct DbxRig {
    // In drop order: the node, its tree, then the emulator it talks to.
    node: NodeRuns,
    layout: Layout,
    pub emu: Emu,
    /// XDG_CONFIG_HOME of both binaries (where `droprender login` keeps its token).
    pub config_home: PathBuf,
    /// True: the binaries get the access token in the environment; false:
    /// they use the token file (`droprender login`).
    pub static_token: bool,
    /// The node's (and so the renderer's) extra environment.
    pub env: Vec<(String, String)>,
    /// How often waits look.
    pub poll: Duration,
}

impl Deref for DbxRig {
    type Target = Layout;

    fn deref(&self) -> &Layout {
        &self.layout
    }
}

impl DbxRig {
    /// An emulator with `config` (plus the token) and a tree with both
    /// scenes just written.
    pub fn new(config: Config) -> Self {
        Self::with(
            config,
            LayoutSpec {
                settled: false,
                ..LayoutSpec::default()
            },
        )
    }

    pub fn with(config: Config, spec: LayoutSpec<'_>) -> Self {
        let emu = Emu::start(TOKEN, config, 2);
        let layout = Layout::with(spec);
        let config_home = layout.dir.path().join("config");
        std::fs::create_dir_all(&config_home).expect("mkdir");
        DbxRig {
            node: NodeRuns::new(layout.dir.path()),
            layout,
            emu,
            config_home,
            static_token: true,
            env: vec![("RENDER_SIM_STEP_MS".into(), "0".into())],
            poll: Duration::from_millis(10),
        }
    }

    pub fn url(&self) -> String {
        self.emu.url.clone()
    }

    /// `program` with what both binaries get: the emulator's URLs, the
    /// credentials, a private config dir, and this rig's environment.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        self.set_env(&mut cmd);
        cmd
    }

    fn set_env(&self, cmd: &mut Command) {
        cmd.env_remove("DROPRENDER_DROPBOX_TOKEN")
            .env_remove("DROPRENDER_FOLDER")
            .envs(self.emu.child_env(&self.config_home, self.static_token))
            .envs(self.env.iter().map(|(k, v)| (k, v)));
    }

    /// Starts the node; returns once it has written its first status file.
    pub fn start(&mut self) {
        self.start_within(Duration::from_secs(90));
    }

    pub fn start_within(&mut self, timeout: Duration) {
        let mut cmd = self
            .layout
            .node_command(Place::Dropbox(ROOT), &self.layout.state);
        self.set_env(&mut cmd);
        cmd.env("RENDER_SIM_ARGV_LOG", &self.argv_log)
            .env("RUST_LOG", "info");
        self.node.spawn(cmd);
        let status = format!("{ROOT}/status.json");
        self.wait_for("the node to write status.json", timeout, || {
            self.emu.get_file(&status).is_some()
        });
    }

    /// The running node.
    pub fn node(&mut self) -> &mut Proc {
        self.node.running()
    }

    pub fn stderr(&self) -> String {
        self.node.stderr()
    }

    /// SIGTERM, then wait for the exit status (Unix only).
    #[cfg(unix)]
    pub fn stop(&mut self) -> ExitStatus {
        self.node.stop(Duration::from_secs(60), "node did not stop")
    }

    /// `droprender --dropbox /Maya <args>`.
    pub fn client(&self, args: &[&str]) -> Output {
        self.command(&bins::client())
            .args(["--dropbox", ROOT])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run client")
    }

    /// [`client`](Self::client) that must succeed; its stdout.
    pub fn client_ok(&self, args: &[&str]) -> String {
        let out = self.client(args);
        assert!(
            out.status.success(),
            "droprender {args:?}: {}\n--- node stderr ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.stderr()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A library client, as another machine would be.
    pub fn folder(&self) -> DropboxFolder {
        self.emu.folder(ROOT)
    }

    /// A file in the node's folder as the emulator stores it (no faults on this path).
    pub fn read(&self, name: &str) -> String {
        self.emu.text(&format!("{ROOT}/{name}"))
    }

    /// LOG.txt with the files it was moved aside to (`[status] log_max_kb`).
    pub fn log(&self) -> String {
        log::emulator_log(&self.emu, ROOT)
    }

    pub fn log_events(&self, event: &str) -> Vec<String> {
        log::events(&self.log(), event)
    }

    pub fn status(&self) -> Option<StatusDoc> {
        serde_json::from_str(&self.read("status.json")).ok()
    }

    pub fn wait_until(&self, what: &str, f: impl FnMut() -> bool) {
        self.wait_for(what, Duration::from_secs(90), f);
    }

    /// Until `count()` reaches `target`; fails after 60 s without progress.
    pub fn wait_count(&self, what: &str, target: usize, count: impl FnMut() -> usize) {
        wait::until_count(
            what,
            target,
            Duration::from_secs(60),
            self.poll,
            count,
            || self.context(),
        );
    }

    fn context(&self) -> String {
        format!(
            "--- LOG.txt (last lines, newest first) ---\n{}\n--- node stderr ---\n{}",
            wait::newest_first(&self.log(), 40),
            wait::newest_first(&self.stderr(), 60)
        )
    }

    pub fn wait_for(&self, what: &str, timeout: Duration, f: impl FnMut() -> bool) {
        wait::until(what, timeout, self.poll, f, || self.context());
    }

    /// Until the node's change feed runs (its first longpoll).
    pub fn wait_watching(&self) {
        self.wait_until("the node to watch", || {
            self.emu.requests("/2/files/list_folder/longpoll") > 0
        });
    }

    /// Idle, as status.json says once the node wrote what happened: in API
    /// mode it gathers writes for `[status] batch_secs` (1 s) first.
    pub fn wait_idle(&self) {
        std::thread::sleep(Duration::from_millis(1200));
        self.wait_until("the node to be idle", || {
            self.status()
                .is_some_and(|s| s.state == "idle" && s.queue.is_empty())
        });
    }
}
