//! Temp folders, the node and the paper's server as processes, and the
//! files the bench watches (renderer start stamps, LOG.txt).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::sys::now_ns;

pub const NODE: &str = env!("CARGO_BIN_EXE_droprender-node");

/// The reconcile interval the bench configures (the shipped default).
pub const RECONCILE_SECS: u64 = 10;

/// One temp tree, laid out like the tests' rig: a synced folder, a projects
/// root outside it with two settled scenes, an output root, a state dir, and
/// `bin/Render`, a link to the node binary (which then acts as the Maya
/// `Render` simulator).
pub struct Layout {
    pub dir: tempfile::TempDir,
    pub folder: PathBuf,
    pub projects: PathBuf,
    pub output: PathBuf,
    pub state: PathBuf,
    pub bin: PathBuf,
    pub render: PathBuf,
    pub config: PathBuf,
    /// RENDER_SIM_START_STAMP: one CLOCK_MONOTONIC line per renderer start.
    pub stamps: PathBuf,
    /// RENDER_SIM_ARGV_LOG.
    pub argv_log: PathBuf,
}

impl Layout {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("droprender-bench.")
            .tempdir()
            .expect("tempdir");
        let root = dir.path().to_path_buf();
        let l = Layout {
            folder: root.join("sync"),
            projects: root.join("projects"),
            output: root.join("renders"),
            state: root.join("state"),
            bin: root.join("bin"),
            render: root.join("bin").join("Render"),
            config: root.join("node.toml"),
            stamps: root.join("render-starts.txt"),
            argv_log: root.join("argv.log"),
            dir,
        };
        for d in [&l.folder, &l.projects.join("scenes"), &l.output, &l.bin] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        for s in ["shot01.ma", "shot02.mb"] {
            write_settled(
                &l.projects.join("scenes").join(s),
                b"//Maya ASCII 2025 scene\n",
            );
        }
        std::os::unix::fs::symlink(NODE, &l.render).expect("symlink Render");
        std::fs::write(
            &l.config,
            format!("reconcile_secs = {RECONCILE_SECS}\ngrace_secs = 3\n"),
        )
        .expect("config");
        l
    }

    pub fn commands(&self) -> PathBuf {
        self.folder.join("commands.txt")
    }

    pub fn write_commands(&self, bytes: &[u8]) {
        std::fs::write(self.commands(), bytes).expect("write commands.txt");
    }

    /// Appends in one write(2) with O_APPEND, as our client does; returns
    /// CLOCK_MONOTONIC taken just before the write.
    pub fn append(&self, bytes: &[u8]) -> u64 {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.commands())
            .expect("open commands.txt");
        let t = now_ns();
        f.write_all(bytes).expect("append");
        t
    }

    /// Replaces commands.txt as sync clients do (temp file, then rename);
    /// returns CLOCK_MONOTONIC taken just before the rename.
    pub fn replace(&self, bytes: &[u8]) -> u64 {
        let tmp = self.folder.join(".syncthing.commands.txt.tmp");
        std::fs::write(&tmp, bytes).expect("write tmp");
        let t = now_ns();
        std::fs::rename(&tmp, self.commands()).expect("rename");
        t
    }

    pub fn renderer_env(&self) -> Vec<(String, String)> {
        vec![
            ("RENDER_SIM_STEP_MS".into(), "0".into()),
            (
                "RENDER_SIM_START_STAMP".into(),
                self.stamps.display().to_string(),
            ),
            (
                "RENDER_SIM_ARGV_LOG".into(),
                self.argv_log.display().to_string(),
            ),
        ]
    }

    fn stderr_file(&self, name: &str) -> (std::fs::File, PathBuf) {
        let p = self.dir.path().join(name);
        (std::fs::File::create(&p).expect("stderr file"), p)
    }
}

/// A file whose mtime is an hour old: a scene that finished syncing long ago.
pub fn write_settled(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write");
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .expect("set mtime");
}

/// A process the bench started (the node or the paper's server).
pub struct Proc {
    child: Option<Child>,
    pub pid: u32,
    pub started_ns: u64,
    stderr: PathBuf,
    pub what: &'static str,
}

impl Proc {
    pub fn stderr_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        let mut out = lines[lines.len().saturating_sub(30)..].join("\n");
        // What the folder looked like, for a failure report.
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

    /// SIGTERM, then wait (SIGKILL after 30 s).
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(i32::try_from(c.id()).unwrap_or(0));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
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

    /// Polls `f` every `every` until it holds (true) or `timeout` passes (false).
    pub fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        every: Duration,
        mut f: impl FnMut() -> bool,
    ) -> bool {
        let t = Instant::now();
        while !f() {
            assert!(
                self.alive(),
                "{} exited while waiting for {what}\n--- stderr ---\n{}",
                self.what,
                self.stderr_tail()
            );
            if t.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(every);
        }
        true
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

/// Starts `droprender-node run` on a local folder, as the tests do, and
/// waits for its first status file (returned `started_ns` is just before spawn).
pub fn start_node(l: &Layout, extra_env: &[(String, String)], args: &[String]) -> (Proc, u64) {
    let (stderr, path) = l.stderr_file("node.stderr");
    let mut cmd = Command::new(NODE);
    cmd.arg("run");
    if args.is_empty() {
        cmd.arg("--folder").arg(&l.folder);
    } else {
        cmd.args(args);
    }
    cmd.arg("--projects")
        .arg(&l.projects)
        .arg("--output")
        .arg(&l.output)
        .arg("--state")
        .arg(&l.state)
        .arg("--maya")
        .arg(&l.render)
        .arg("--config")
        .arg(&l.config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    for (k, v) in l
        .renderer_env()
        .into_iter()
        .chain(extra_env.iter().cloned())
    {
        cmd.env(k, v);
    }
    let started_ns = now_ns();
    let child = cmd.spawn().expect("spawn droprender-node");
    let mut p = Proc {
        pid: child.id(),
        child: Some(child),
        started_ns,
        stderr: path,
        what: "droprender-node",
    };
    let ready = if args.is_empty() {
        let status = l.folder.join("status.json");
        let mut f = move || status.exists();
        p.wait_for(
            "the node's first status.json",
            Duration::from_secs(600),
            Duration::from_millis(2),
            &mut f,
        );
        now_ns()
    } else {
        started_ns
    };
    (p, ready)
}

/// Starts the paper's server (this bench binary with `--paper-server`) on
/// the layout, and waits until it says it is running its loops.
pub fn start_paper(l: &Layout) -> (Proc, u64) {
    let (stderr, path) = l.stderr_file("paper.stderr");
    let stdout = std::fs::File::create(l.dir.path().join("paper.stdout")).expect("stdout");
    let ready = l.state.join("paper.ready");
    std::fs::create_dir_all(&l.state).expect("state");
    let path_var = format!(
        "{}:{}",
        l.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(std::env::current_exe().expect("bench exe"));
    cmd.arg("--paper-server")
        .arg(&l.folder)
        .arg(&l.projects)
        .arg(&ready)
        .current_dir(&l.projects)
        .env("PATH", path_var)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    for (k, v) in l.renderer_env() {
        cmd.env(k, v);
    }
    let started_ns = now_ns();
    let child = cmd.spawn().expect("spawn the paper's server");
    let mut p = Proc {
        pid: child.id(),
        child: Some(child),
        started_ns,
        stderr: path,
        what: "the paper's server",
    };
    p.wait_for(
        "the paper's server to start",
        Duration::from_secs(600),
        Duration::from_millis(2),
        || ready.exists(),
    );
    (p, now_ns())
}

/// Reads a growing file from where it left off.
pub struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    pub fn new(path: &Path) -> Self {
        Tail {
            path: path.to_path_buf(),
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Complete new lines since the last call.
    pub fn lines(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let n = f.read_to_end(&mut buf).unwrap_or(0);
        self.offset += n as u64;
        self.partial.extend_from_slice(&buf[..n]);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(end + 1);
        let done = std::mem::replace(&mut self.partial, rest);
        String::from_utf8_lossy(&done)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Renderer start stamps (CLOCK_MONOTONIC ns), in order: `seen` when each
/// process was created, `main` when the simulator's own code began (after
/// the loader; see `RENDER_SIM_START_STAMP` in examples/render-sim).
pub struct Stamps {
    tail: Tail,
    pub seen: Vec<u64>,
    pub main: Vec<u64>,
}

impl Stamps {
    pub fn new(l: &Layout) -> Self {
        Stamps {
            tail: Tail::new(&l.stamps),
            seen: Vec::new(),
            main: Vec::new(),
        }
    }

    pub fn poll(&mut self) -> usize {
        for l in self.tail.lines() {
            let v: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if let [start, main] = v[..] {
                self.seen.push(start);
                self.main.push(main);
            }
        }
        self.seen.len()
    }

    /// Waits for the `n`-th start (1-based) and returns its stamp.
    pub fn wait(&mut self, p: &mut Proc, n: usize, timeout: Duration) -> u64 {
        p.wait_for(
            &format!("renderer start #{n}"),
            timeout,
            Duration::from_micros(300),
            || self.poll() >= n,
        );
        self.seen[n - 1]
    }
}

/// Counts LOG.txt events (the third field, as the tests read it).
pub struct LogCount {
    tail: Tail,
    event: &'static str,
    pub n: usize,
}

impl LogCount {
    pub fn new(l: &Layout, event: &'static str) -> Self {
        LogCount {
            tail: Tail::new(&l.folder.join("LOG.txt")),
            event,
            n: 0,
        }
    }

    pub fn poll(&mut self) -> usize {
        let ev = self.event;
        self.n += self
            .tail
            .lines()
            .iter()
            .filter(|l| l.split(' ').nth(2).map(|w| w.trim_end_matches(':')) == Some(ev))
            .count();
        self.n
    }

    pub fn wait(&mut self, p: &mut Proc, n: usize, timeout: Duration, every: Duration) {
        let ev = self.event;
        p.wait_for(&format!("{n} '{ev}' LOG lines"), timeout, every, || {
            self.poll() >= n
        });
    }
}

/// A one-frame render line both droprender and the paper run: droprender
/// ignores the program token, the paper executes it (`Render`, found on PATH).
pub fn render_line(frame: u64, scene: &str) -> String {
    format!("rend:Render -r sw -s {frame} -e {frame} scenes/{scene}\n")
}

/// `n` lines of realistic history, 40–60 bytes each, nearly all distinct
/// (xorshift, fixed seed), with a `progress:` now and then.
pub fn history_text(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(n * 56);
    let renderers = ["sw", "arnold", "vray", "redshift"];
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(40) {
            out.extend_from_slice(b"progress:\n");
            continue;
        }
        let r = renderers[(x >> 3) as usize % renderers.len()];
        let shot = (x >> 8) % 120 + 1;
        let s = (x >> 16) % 2000 + 1;
        let e = s + (x >> 32) % 240;
        let _ = writeln!(
            out,
            "rend:Render -r {r} -s {s} -e {e} scenes/shot{shot:03}.ma"
        );
    }
    out
}
