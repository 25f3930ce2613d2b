//! Dropbox API mode under injected faults: the real node against the
//! Dropbox emulator, with 10, 20 and 40 % of requests failing (429 and 503
//! with Retry-After, 500, dropped connections, slow answers, and uploads
//! that commit but never answer), while several library clients append
//! commands. Every command runs exactly once: counted from LOG.txt
//! (`accepted`), the Render invocations and commands.txt itself.
//!
//! `DROPRENDER_LONG=1` sends more commands. Figures go to stderr and
//! `target/reliability/dropbox-<rate>.txt`.

mod common;
#[path = "common/reliability.rs"]
mod reliability;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::NODE;
use dropbox_emulator::{Config, Emulator, FaultConfig, FaultKind, RunningEmulator};
use droprender_shared::status::StatusDoc;
use droprender_storage::Folder;
use droprender_storage::dropbox::{
    Credentials, DropboxFolder, DropboxSettings, RetryPolicy, Secret,
};
use reliability::{Figures, accepted_frames, bad_log_lines, invoked_frames, long};

const TOKEN: &str = "reliability-token";
const ROOT: &str = "/Maya";

/// An emulator and one node on it; both stopped when dropped.
struct Dbx {
    rt: tokio::runtime::Runtime,
    emu: Emulator,
    running: Option<RunningEmulator>,
    dir: tempfile::TempDir,
    argv_log: PathBuf,
    node: Option<Child>,
}

impl Dbx {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let emu = Emulator::new(Config {
            access_tokens: vec![TOKEN.into()],
            // A 480 s longpoll is held 4.8 s.
            longpoll_time_scale: 0.01,
            ..Config::default()
        });
        let running = rt.block_on(emu.clone().start()).expect("emulator starts");
        let dir = tempfile::tempdir().expect("tempdir");
        Dbx {
            argv_log: dir.path().join("argv.log"),
            rt,
            emu,
            running: Some(running),
            dir,
            node: None,
        }
    }

    fn url(&self) -> String {
        self.running.as_ref().expect("running").url()
    }

    fn start_node(&mut self) {
        let root = self.dir.path();
        let projects = root.join("projects");
        std::fs::create_dir_all(projects.join("scenes")).expect("mkdir");
        std::fs::create_dir_all(root.join("bin")).expect("mkdir");
        std::fs::write(
            projects.join("scenes/shot01.ma"),
            "//Maya ASCII 2025 scene\n",
        )
        .expect("scene");
        let render = root.join("bin/Render");
        std::os::unix::fs::symlink(NODE, &render).expect("symlink Render");
        let config = root.join("node.toml");
        std::fs::write(
            &config,
            "reconcile_secs = 5\ngrace_secs = 3\n[renderers.blender]\nprogram = \"/nonexistent/blender\"\n",
        )
        .expect("config");
        let url = self.url();
        let stderr = std::fs::File::create(root.join("node.stderr")).expect("stderr");
        let child = Command::new(NODE)
            .env_remove("DROPRENDER_FOLDER")
            .env("DROPRENDER_DROPBOX_API_URL", &url)
            .env("DROPRENDER_DROPBOX_CONTENT_URL", &url)
            .env("DROPRENDER_DROPBOX_NOTIFY_URL", &url)
            .env("DROPRENDER_DROPBOX_OAUTH_URL", &url)
            .env("DROPRENDER_DROPBOX_APP_KEY", &self.emu.config().app_key)
            .env("DROPRENDER_DROPBOX_RETRY_BASE_MS", "20")
            .env("DROPRENDER_DROPBOX_TOKEN", TOKEN)
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("RENDER_SIM_STEP_MS", "0")
            .env("RENDER_SIM_ARGV_LOG", &self.argv_log)
            .env("RUST_LOG", "info")
            .arg("run")
            .args(["--dropbox", ROOT])
            .arg("--projects")
            .arg(&projects)
            .arg("--output")
            .arg(root.join("renders"))
            .arg("--state")
            .arg(root.join("state"))
            .arg("--maya")
            .arg(&render)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn node");
        self.node = Some(child);
        self.wait(
            "the node's first status.json",
            Duration::from_secs(60),
            || self.emu.get_file("/Maya/status.json").is_some(),
        );
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.stderr")).unwrap_or_default()
    }

    /// A file as the emulator stores it (no faults on this path).
    fn read(&self, name: &str) -> String {
        self.emu
            .get_file(&format!("{ROOT}/{name}"))
            .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// LOG.txt with the files it was moved aside to (`[status] log_max_kb`).
    fn log(&self) -> String {
        common::emulator_log(&self.emu, ROOT)
    }

    fn client(&self) -> DropboxFolder {
        let url = self.url();
        let settings = DropboxSettings {
            api_url: url.clone(),
            content_url: url.clone(),
            notify_url: url.clone(),
            oauth_url: url,
            retry: RetryPolicy {
                base: Duration::from_millis(20),
                cap: Duration::from_secs(1),
                max_attempts: 30,
            },
            ..DropboxSettings::default()
        };
        DropboxFolder::new(&settings, Credentials::Token(Secret::new(TOKEN)), ROOT).expect("folder")
    }

    fn wait(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let t = Instant::now();
        while !f() {
            if t.elapsed() > timeout {
                let log = self.log();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                let err = self.stderr();
                let etail: Vec<&str> = err.lines().rev().take(30).collect();
                panic!(
                    "timed out waiting for {what}\n--- LOG.txt (newest first) ---\n{}\n--- node stderr (newest first) ---\n{}",
                    tail.join("\n"),
                    etail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Dbx {
    fn drop(&mut self) {
        if let Some(mut c) = self.node.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(r) = self.running.take() {
            let _ = self.rt.block_on(r.shutdown());
        }
    }
}

fn under_faults(percent: u32) {
    let t0 = Instant::now();
    let n: u64 = if long() { 600 } else { 60 };
    let clients: u64 = 3;
    let mut fig = Figures::new(&format!("dropbox-{percent}"));
    let mut dbx = Dbx::new();
    dbx.emu
        .put_file("/Maya/commands.txt", &b""[..])
        .expect("seed commands.txt");
    dbx.start_node();
    dbx.emu.set_faults(FaultConfig {
        rate: f64::from(percent) / 100.0,
        kinds: vec![
            FaultKind::TooManyRequests,
            FaultKind::Unavailable,
            FaultKind::InternalError,
            FaultKind::Drop,
            FaultKind::DropAfterCommit,
            FaultKind::Slow,
        ],
        retry_after_secs: 0,
        slow_ms: 100,
        seed: Some(u64::from(percent)),
        ..FaultConfig::default()
    });
    // Several clients append at once (CAS on the same file) under faults.
    let folders: Vec<DropboxFolder> = (0..clients).map(|_| dbx.client()).collect();
    let per = n / clients;
    let failed_appends: u64 = dbx.rt.block_on(async move {
        let mut tasks = Vec::new();
        for (c, f) in folders.into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                let mut failed = 0;
                for i in 0..per {
                    let k = c as u64 * per + i + 1;
                    let line = format!("rend:-s {k} -e {k} scenes/shot01.ma\n");
                    if f.append("commands.txt", line.into_bytes()).await.is_err() {
                        failed += 1;
                    }
                }
                failed
            }));
        }
        let mut failed = 0;
        for t in tasks {
            failed += t.await.expect("client task");
        }
        failed
    });
    let appended_in = t0.elapsed();
    let n = per * clients;
    let ks: Vec<u64> = (1..=n).collect();
    dbx.wait(
        &format!("{n} renders under {percent} % faults"),
        Duration::from_secs(if long() { 900 } else { 180 }),
        || {
            let done = invoked_frames(&dbx.argv_log);
            ks.iter().all(|k| done.contains(k))
                && serde_json::from_str::<StatusDoc>(&dbx.read("status.json"))
                    .is_ok_and(|s| s.state == "idle" && s.queued == 0)
                && dbx
                    .log()
                    .lines()
                    .filter(|l| l.contains(" finished job "))
                    .count() as u64
                    >= n
        },
    );
    let all_done = t0.elapsed();
    let stats = dbx.emu.stats();
    dbx.emu.set_faults(FaultConfig::default());

    // ---- accounting ----
    let mut in_file: BTreeMap<u64, usize> = BTreeMap::new();
    for l in dbx.read("commands.txt").lines() {
        if let Some(k) = reliability::frame_of_line(l) {
            *in_file.entry(k).or_default() += 1;
        }
    }
    let mut accepted: BTreeMap<u64, usize> = BTreeMap::new();
    let log = dbx.log();
    for (_, k) in accepted_frames(&log) {
        *accepted.entry(k).or_default() += 1;
    }
    let mut invoked: BTreeMap<u64, usize> = BTreeMap::new();
    for k in invoked_frames(&dbx.argv_log) {
        *invoked.entry(k).or_default() += 1;
    }
    let (mut once, mut lost, mut dup) = (0, Vec::new(), Vec::new());
    for k in &ks {
        let get = |m: &BTreeMap<u64, usize>| m.get(k).copied().unwrap_or(0);
        match (get(&in_file), get(&accepted), get(&invoked)) {
            (1, 1, 1) => once += 1,
            (f, a, i) if f > 1 || a > 1 || i > 1 => dup.push(*k),
            _ => lost.push(*k),
        }
    }
    let injected: u64 = stats.faults.values().sum();
    fig.line(format!(
        "faults: {percent} % of requests ({} kinds: 429, 503, 500, drop, drop-after-commit, slow 100 ms)",
        6
    ));
    fig.line(format!(
        "commands: {n} from {clients} concurrent clients, executed once: {once}, lost: {}, duplicated: {}",
        lost.len(),
        dup.len()
    ));
    fig.line(format!(
        "requests: {} in all, {injected} faulted ({}); client appends that gave up: {failed_appends}",
        stats.total.requests,
        stats
            .faults
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    fig.line(format!(
        "appends done after {:.1} s; every command rendered and logged after {:.1} s",
        appended_in.as_secs_f64(),
        all_done.as_secs_f64()
    ));
    assert_eq!(
        failed_appends, 0,
        "every client append succeeded in the end"
    );
    assert!(
        lost.is_empty() && dup.is_empty(),
        "lost {lost:?} duplicated {dup:?}\n{}",
        dbx.stderr()
    );
    assert!(bad_log_lines(&log).is_empty(), "torn LOG.txt lines");
    assert!(injected > 0, "faults were injected");
    let node = dbx.node.as_mut().expect("node");
    assert!(
        node.try_wait().expect("try_wait").is_none(),
        "the node is still running"
    );
}

#[test]
fn dropbox_with_10_percent_faults_runs_every_command_once() {
    under_faults(10);
}

#[test]
fn dropbox_with_20_percent_faults_runs_every_command_once() {
    under_faults(20);
}

#[test]
fn dropbox_with_40_percent_faults_runs_every_command_once() {
    under_faults(40);
}
