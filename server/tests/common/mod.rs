//! A rig for end-to-end tests: temp folders, the real `droprender-node` and
//! `droprender` binaries, and the Render simulator (the node binary linked as
//! `Render`). Tests poll files with short sleeps: that is the test's view of
//! the world, like a sync client's; the product itself never polls.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use droprender_shared::status::StatusDoc;

pub const NODE: &str = env!("CARGO_BIN_EXE_droprender-node");

/// The client binary sits beside the node binary in the target dir. Cargo
/// only builds binaries of the package under test, so build the client once
/// per test process (a no-op when it is current) rather than trust a stale one.
pub fn client_bin() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let p = Path::new(NODE).with_file_name("droprender");
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "droprender-client",
                "--bin",
                "droprender",
            ])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()) && p.exists(),
            "could not build the droprender client at {}",
            p.display()
        );
    });
    p
}

pub struct Rig {
    pub dir: tempfile::TempDir,
    pub folder: PathBuf,
    pub projects: PathBuf,
    pub output: PathBuf,
    pub state: PathBuf,
    pub render: PathBuf,
    pub argv_log: PathBuf,
    pub pid_file: PathBuf,
    pub env: Vec<(String, String)>,
    pub extra_args: Vec<String>,
    pub config: PathBuf,
    node: Option<Child>,
    runs: u32,
}

impl Rig {
    pub fn new() -> Self {
        // Before any timing-sensitive step: the first call may build the client.
        client_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let folder = root.join("sync");
        let projects = root.join("projects");
        let output = root.join("renders");
        let state = root.join("state");
        for d in [
            &folder,
            &projects.join("scenes"),
            &output,
            &root.join("bin"),
        ] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        for s in ["shot01.ma", "shot02.mb"] {
            write_settled(
                &projects.join("scenes").join(s),
                b"//Maya ASCII 2025 scene\n",
            );
        }
        let render = root.join("bin").join("Render");
        std::os::unix::fs::symlink(NODE, &render).expect("symlink Render");
        let config = root.join("node.toml");
        std::fs::write(&config, "reconcile_secs = 5\ngrace_secs = 3\n").expect("config");
        Rig {
            argv_log: root.join("argv.log"),
            pid_file: root.join("render.pid"),
            folder,
            projects,
            output,
            state,
            render,
            env: vec![("RENDER_SIM_STEP_MS".into(), "2".into())],
            extra_args: Vec::new(),
            config,
            dir,
            node: None,
            runs: 0,
        }
    }

    /// Adds TOML to the node's config file (before `start`).
    pub fn configure(&self, toml: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.config)
            .expect("config");
        writeln!(f, "{toml}").expect("write config");
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        self.env.retain(|(a, _)| a != k);
        self.env.push((k.into(), v.into()));
    }

    /// `droprender-node run` on this rig's folder and roots, with the given
    /// state dir, argv log and stderr file.
    fn node_command(&self, state: &Path, argv_log: &Path, stderr: &str) -> Command {
        let stderr = std::fs::File::create(self.dir.path().join(stderr)).expect("stderr");
        let mut cmd = Command::new(NODE);
        cmd.arg("run")
            .arg("--folder")
            .arg(&self.folder)
            .arg("--projects")
            .arg(&self.projects)
            .arg("--output")
            .arg(&self.output)
            .arg("--state")
            .arg(state)
            .arg("--maya")
            .arg(&self.render)
            .arg("--config")
            .arg(&self.config)
            .env("RENDER_SIM_ARGV_LOG", argv_log)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn start(&mut self) {
        assert!(self.node.is_none(), "node already running");
        self.runs += 1;
        let mut cmd = self.node_command(
            &self.state,
            &self.argv_log,
            &format!("node-{}.stderr", self.runs),
        );
        cmd.args(&self.extra_args)
            .env("RENDER_SIM_PID_FILE", &self.pid_file);
        self.node = Some(cmd.spawn().expect("spawn node"));
        // Ready when it has written its first status file.
        self.wait_until("the node to start", || {
            self.folder.join("status.json").exists()
        });
    }

    /// Starts another node on the same folder and roots, with its own state
    /// dir and argv log (for several named nodes on one folder).
    pub fn spawn_other(&self, name: &str) -> (Child, PathBuf) {
        let state = self.dir.path().join(format!("state-{name}"));
        let argv = self.dir.path().join(format!("argv-{name}.log"));
        let mut cmd = self.node_command(&state, &argv, &format!("node-{name}.stderr"));
        cmd.arg("--name").arg(name);
        (cmd.spawn().expect("spawn node"), argv)
    }

    pub fn node_pid(&self) -> u32 {
        self.node.as_ref().expect("running").id()
    }

    pub fn stderr(&self) -> String {
        (1..=self.runs)
            .map(|i| {
                std::fs::read_to_string(self.dir.path().join(format!("node-{i}.stderr")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    /// SIGKILL: a crash.
    pub fn kill9(&mut self) {
        let mut c = self.node.take().expect("running");
        c.kill().expect("kill");
        c.wait().expect("wait");
    }

    /// SIGTERM, then wait for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut c = self.node.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("sigterm");
        let t = Instant::now();
        loop {
            if let Some(s) = c.try_wait().expect("try_wait") {
                return s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "node did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Appends raw bytes to commands.txt in one write, as our client or a sync engine would.
    pub fn append(&self, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.folder.join("commands.txt"))
            .expect("open commands.txt");
        f.write_all(bytes).expect("append");
    }

    /// Replaces commands.txt the way sync clients do: temp file, then rename.
    pub fn replace(&self, name: &str, bytes: &[u8]) {
        let tmp = self.folder.join(format!(".syncthing.{name}.tmp"));
        std::fs::write(&tmp, bytes).expect("write tmp");
        std::fs::rename(&tmp, self.folder.join(name)).expect("rename");
    }

    pub fn client(&self, args: &[&str]) -> Output {
        Command::new(client_bin())
            .arg("--folder")
            .arg(&self.folder)
            .args(args)
            .output()
            .expect("run client")
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.folder.join(name)).unwrap_or_default()
    }

    /// LOG.txt with the files it was moved aside to (`[status] log_max_kb`).
    pub fn log(&self) -> String {
        let names = std::fs::read_dir(&self.folder)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().into_string().ok());
        whole_log(names, |n| self.read(n))
    }

    /// LOG.txt lines with this event word (the third field).
    pub fn log_events(&self, event: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.split(' ').nth(2).map(|w| w.trim_end_matches(':')) == Some(event))
            .map(str::to_string)
            .collect()
    }

    pub fn status(&self) -> StatusDoc {
        serde_json::from_str(&self.read("status.json")).expect("status.json parses")
    }

    pub fn wait_until(&self, what: &str, mut f: impl FnMut() -> bool) {
        self.wait_for(what, Duration::from_secs(60), &mut f);
    }

    pub fn wait_for(&self, what: &str, timeout: Duration, f: &mut dyn FnMut() -> bool) {
        let t = Instant::now();
        while !f() {
            if t.elapsed() > timeout {
                panic!(
                    "timed out waiting for {what}\n--- LOG.txt ---\n{}\n--- node stderr ---\n{}",
                    self.log(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn wait_events(&self, event: &str, n: usize) {
        self.wait_until(&format!("{n} '{event}' LOG lines"), || {
            self.log_events(event).len() >= n
        });
    }

    /// Argv of every Render invocation so far.
    pub fn render_calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.argv_log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("argv json"))
            .collect()
    }

    pub fn frames(&self, job_dir_prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        for d in std::fs::read_dir(&self.output).expect("output").flatten() {
            if d.file_name().to_string_lossy().starts_with(job_dir_prefix) {
                for f in std::fs::read_dir(d.path()).expect("job dir").flatten() {
                    let n = f.file_name().to_string_lossy().into_owned();
                    if !n.starts_with('.') {
                        out.push(n);
                    }
                }
            }
        }
        out.sort();
        out
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(mut c) = self.node.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Finds an optional tool. Absent: skips loudly, or fails when
/// DROPRENDER_REQUIRE_TOOLS=1 (CI installs every tool the tests use).
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("DROPRENDER_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
            panic!("{name} is required (DROPRENDER_REQUIRE_TOOLS=1) but not installed");
        }
        eprintln!(
            "\n==== SKIPPED: {name} is not installed; install it (apt-get install {name}) to run this test ====\n"
        );
    }
    found
}

/// The whole LOG of a folder whose file names are `names`: the moved-aside
/// `LOG.<time>.txt` files, oldest first, then LOG.txt. The node may be
/// moving LOG.txt aside while this reads, so the archives are read first
/// and an archive that LOG.txt still begins with (copied, LOG.txt not yet
/// begun again) is not counted twice.
pub fn whole_log(names: impl IntoIterator<Item = String>, read: impl Fn(&str) -> String) -> String {
    let mut archives: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with("LOG.") && n.ends_with(".txt") && n != "LOG.txt")
        .collect();
    archives.sort();
    let mut texts: Vec<String> = archives.iter().map(|n| read(n)).collect();
    let current = read("LOG.txt");
    if texts
        .last()
        .is_some_and(|t| current.starts_with(t.as_str()))
    {
        texts.pop();
    }
    texts.push(current);
    texts.concat()
}

/// [`whole_log`] of a folder in the Dropbox emulator (`root`: `/Maya`).
pub fn emulator_log(emu: &dropbox_emulator::Emulator, root: &str) -> String {
    let prefix = format!("{}/", root.to_lowercase());
    let names = emu.list_files().into_iter().filter_map(|m| {
        let rest = m.path_lower.strip_prefix(&prefix)?;
        (!rest.contains('/')).then_some(m.name)
    });
    whole_log(names, |n| {
        emu.get_file(&format!("{root}/{n}"))
            .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    })
}

/// Writes a file whose mtime is an hour old: a scene that finished syncing long ago.
pub fn write_settled(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write");
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .expect("set mtime");
}

/// True if any live process carries this pid.
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').and_then(|i| s[i + 2..].chars().next()))
        .is_some_and(|c| c != 'Z' && c != 'X')
}
