//! Dropbox API mode end to end: the real `droprender-node` and `droprender`
//! binaries against the in-process Dropbox emulator, with faults, token
//! expiry and cursor resets. Measurements are printed (run with
//! `--nocapture` to see them).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{NODE, client_bin};
use dropbox_emulator::{Config, Emulator, FaultConfig, FaultKind, RunningEmulator, Stats};
use droprender_shared::status::StatusDoc;
use droprender_storage::Folder;
use droprender_storage::dropbox::{
    Credentials, DropboxFolder, DropboxSettings, RetryPolicy, Secret,
};

const TOKEN: &str = "test-token";
const ROOT: &str = "/Maya";

struct DbxRig {
    rt: tokio::runtime::Runtime,
    emu: Emulator,
    running: Option<RunningEmulator>,
    dir: tempfile::TempDir,
    projects: PathBuf,
    output: PathBuf,
    state: PathBuf,
    render: PathBuf,
    argv_log: PathBuf,
    config: PathBuf,
    config_home: PathBuf,
    /// False: the binaries use the token file (`droprender login`).
    static_token: bool,
    env: Vec<(String, String)>,
    node: Option<Child>,
    runs: u32,
}

impl DbxRig {
    fn new(config: Config) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let emu = Emulator::new(Config {
            access_tokens: vec![TOKEN.into()],
            ..config
        });
        let running = rt.block_on(emu.clone().start()).expect("emulator starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let projects = root.join("projects");
        for d in [
            &projects.join("scenes"),
            &root.join("bin"),
            &root.join("config"),
        ] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        for s in ["shot01.ma", "shot02.mb"] {
            std::fs::write(projects.join("scenes").join(s), "//Maya ASCII 2025 scene\n")
                .expect("scene");
        }
        let render = root.join("bin").join("Render");
        std::os::unix::fs::symlink(NODE, &render).expect("symlink Render");
        let config = root.join("node.toml");
        std::fs::write(&config, "reconcile_secs = 5\ngrace_secs = 3\n").expect("config");
        DbxRig {
            rt,
            emu,
            running: Some(running),
            projects,
            output: root.join("renders"),
            state: root.join("state"),
            render,
            argv_log: root.join("argv.log"),
            config,
            config_home: root.join("config"),
            static_token: true,
            env: vec![("RENDER_SIM_STEP_MS".into(), "0".into())],
            node: None,
            runs: 0,
            dir,
        }
    }

    fn url(&self) -> String {
        self.running.as_ref().expect("running").url()
    }

    /// What both binaries get: the emulator's URLs, the credentials, and a
    /// private config dir (never the real user's).
    fn child_env(&self) -> Vec<(String, String)> {
        let url = self.url();
        let mut env: Vec<(String, String)> = [
            ("DROPRENDER_DROPBOX_API_URL", url.as_str()),
            ("DROPRENDER_DROPBOX_CONTENT_URL", url.as_str()),
            ("DROPRENDER_DROPBOX_NOTIFY_URL", url.as_str()),
            ("DROPRENDER_DROPBOX_OAUTH_URL", url.as_str()),
            (
                "DROPRENDER_DROPBOX_APP_KEY",
                self.emu.config().app_key.as_str(),
            ),
            ("DROPRENDER_DROPBOX_RETRY_BASE_MS", "20"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.push((
            "XDG_CONFIG_HOME".into(),
            self.config_home.display().to_string(),
        ));
        if self.static_token {
            env.push(("DROPRENDER_DROPBOX_TOKEN".into(), TOKEN.into()));
        }
        env.extend(self.env.iter().cloned());
        env
    }

    fn command(&self, program: &std::path::Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_remove("DROPRENDER_DROPBOX_TOKEN")
            .env_remove("DROPRENDER_FOLDER");
        for (k, v) in self.child_env() {
            cmd.env(k, v);
        }
        cmd
    }

    fn start(&mut self) {
        assert!(self.node.is_none(), "node already running");
        self.runs += 1;
        let stderr = std::fs::File::create(self.stderr_path(self.runs)).expect("stderr");
        let mut cmd = self.command(std::path::Path::new(NODE));
        cmd.arg("run")
            .args(["--dropbox", ROOT])
            .arg("--projects")
            .arg(&self.projects)
            .arg("--output")
            .arg(&self.output)
            .arg("--state")
            .arg(&self.state)
            .arg("--maya")
            .arg(&self.render)
            .arg("--config")
            .arg(&self.config)
            .env("RENDER_SIM_ARGV_LOG", &self.argv_log)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        self.node = Some(cmd.spawn().expect("spawn node"));
        self.wait_until("the node to write status.json", || {
            self.emu.get_file("/Maya/status.json").is_some()
        });
    }

    fn stderr_path(&self, run: u32) -> PathBuf {
        self.dir.path().join(format!("node-{run}.stderr"))
    }

    fn stderr(&self) -> String {
        (1..=self.runs)
            .map(|i| std::fs::read_to_string(self.stderr_path(i)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    fn stop(&mut self) {
        let mut c = self.node.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("sigterm");
        let t = Instant::now();
        while c.try_wait().expect("try_wait").is_none() {
            assert!(t.elapsed() < Duration::from_secs(60), "node did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn client(&self, args: &[&str]) -> Output {
        self.command(&client_bin())
            .args(["--dropbox", ROOT])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run client")
    }

    fn client_ok(&self, args: &[&str]) -> String {
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
    fn folder(&self) -> DropboxFolder {
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

    fn log_events(&self, event: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.split(' ').nth(2).map(|w| w.trim_end_matches(':')) == Some(event))
            .map(str::to_string)
            .collect()
    }

    fn status(&self) -> Option<StatusDoc> {
        serde_json::from_str(&self.read("status.json")).ok()
    }

    fn render_calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.argv_log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("argv json"))
            .collect()
    }

    fn wait_until(&self, what: &str, f: impl FnMut() -> bool) {
        self.wait_for(what, Duration::from_secs(90), f);
    }

    fn wait_for(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let t = Instant::now();
        while !f() {
            if t.elapsed() > timeout {
                let log = self.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "timed out waiting for {what}\n--- LOG.txt (last lines, newest first) ---\n{}\n--- node stderr ---\n{}",
                    tail.join("\n"),
                    self.stderr()
                        .lines()
                        .rev()
                        .take(60)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Until the node's change feed runs (its first longpoll).
    fn wait_watching(&self) {
        self.wait_until("the node to watch", || {
            self.emu
                .stats()
                .routes
                .get("/2/files/list_folder/longpoll")
                .is_some_and(|r| r.requests > 0)
        });
    }

    /// Idle, as status.json says once the node wrote what happened: in API
    /// mode it gathers writes for `[status] batch_secs` (1 s) first.
    fn wait_idle(&self) {
        std::thread::sleep(Duration::from_millis(1200));
        self.wait_until("the node to be idle", || {
            self.status()
                .is_some_and(|s| s.state == "idle" && s.queue.is_empty())
        });
    }

    /// Appends `lines` from `clients` concurrent library clients.
    fn append_concurrently(&self, clients: usize, per_client: usize) {
        let folders: Vec<DropboxFolder> = (0..clients).map(|_| self.folder()).collect();
        self.rt.block_on(async move {
            let mut tasks = Vec::new();
            for (c, f) in folders.into_iter().enumerate() {
                tasks.push(tokio::spawn(async move {
                    for i in 0..per_client {
                        let frame = c * per_client + i + 1;
                        f.append(
                            "commands.txt",
                            format!("rend:-s {frame} -e {frame} scenes/shot01.ma\n").into_bytes(),
                        )
                        .await
                        .expect("append");
                    }
                }));
            }
            for t in tasks {
                t.await.expect("client task");
            }
        });
    }

    /// Every frame rendered exactly once, every line accepted exactly once.
    fn check_exactly_once(&self, n: usize) {
        let text = self.read("commands.txt");
        let mut lines: Vec<&str> = text.lines().filter(|l| l.starts_with("rend:")).collect();
        assert_eq!(lines.len(), n, "lines in commands.txt");
        lines.sort_unstable();
        lines.dedup();
        assert_eq!(lines.len(), n, "distinct lines in commands.txt");
        self.wait_until(&format!("{n} finished renders"), || {
            self.log_events("finished").len() >= n
        });
        self.wait_idle();
        assert_eq!(self.log_events("accepted").len(), n, "accepted in LOG.txt");
        assert_eq!(self.log_events("finished").len(), n, "finished in LOG.txt");
        let mut frames: Vec<u64> = self
            .render_calls()
            .iter()
            .filter_map(|argv| {
                let i = argv.iter().position(|a| a == "-s")?;
                argv.get(i + 1)?.parse().ok()
            })
            .collect();
        assert_eq!(frames.len(), n, "Render invocations");
        frames.sort_unstable();
        frames.dedup();
        assert_eq!(frames.len(), n, "each frame rendered once");
    }
}

impl Drop for DbxRig {
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

fn fast_longpolls() -> Config {
    Config {
        // A 480 s longpoll is held 4.8 s.
        longpoll_time_scale: 0.01,
        ..Config::default()
    }
}

fn diff(after: &Stats, before: &Stats) -> BTreeMap<String, (u64, u64, u64)> {
    let mut out = BTreeMap::new();
    for (route, a) in &after.routes {
        let b = before.routes.get(route);
        let n = a.requests - b.map_or(0, |b| b.requests);
        if n > 0 {
            out.insert(
                route.clone(),
                (
                    n,
                    a.request_bytes - b.map_or(0, |b| b.request_bytes),
                    a.response_bytes - b.map_or(0, |b| b.response_bytes),
                ),
            );
        }
    }
    out
}

fn show(title: &str, d: &BTreeMap<String, (u64, u64, u64)>) {
    let (n, up, down) = d
        .values()
        .fold((0, 0, 0), |(a, b, c), (x, y, z)| (a + x, b + y, c + z));
    println!("{title}: {n} requests, {up} bytes up, {down} bytes down");
    for (route, (n, up, down)) in d {
        println!("    {route:40} {n:5} req {up:9} B up {down:9} B down");
    }
}

#[test]
fn node_and_client_end_to_end_with_measurements() {
    let mut rig = DbxRig::new(fast_longpolls());
    rig.start();
    // The app folder starts empty: the node created /Maya by writing its
    // status; give its watch a moment (the reconcile) to start.
    rig.wait_watching();
    let projects = rig.client_ok(&["projects"]);
    assert!(projects.contains("scenes/shot01.ma"), "{projects}");

    let before = rig.emu.stats();
    let sent = rig.client_ok(&["rend", "-s", "1", "-e", "2", "scenes/shot01.ma"]);
    assert!(sent.contains("sent: rend:"), "{sent}");
    let client_only = diff(&rig.emu.stats(), &before);
    rig.wait_until("the render to finish", || {
        rig.log_events("finished").len() == 1
    });
    rig.wait_idle();
    std::thread::sleep(Duration::from_millis(500));
    let whole = diff(&rig.emu.stats(), &before);

    let st: StatusDoc = serde_json::from_str(&rig.client_ok(&["status", "--json"])).expect("json");
    assert_eq!(st.state, "idle");
    assert_eq!(st.recent.len(), 1);
    assert_eq!(st.recent[0].state, "finished");
    assert_eq!(st.recent[0].frames_done, 2);
    let text = rig.client_ok(&["status"]);
    assert!(text.contains("shot01"), "{text}");
    let progress = rig.client_ok(&["progress", "--timeout", "30"]);
    assert!(progress.contains("frame 2"), "{progress}");
    assert!(progress.contains("dropbox:/Maya/preview.jpg"), "{progress}");
    assert!(rig.emu.get_file("/Maya/preview.jpg").is_some());
    assert!(rig.emu.get_file("/Maya/contact.jpg").is_some());
    let log = rig.client_ok(&["log", "-n", "50"]);
    assert!(log.contains("finished"), "{log}");
    assert!(log.contains("progress"), "{log}");
    let bad = rig.client(&["send", "rend:-preRender evil scenes/shot01.ma"]);
    assert_eq!(bad.status.code(), Some(2), "refused locally");

    println!("\n=== Dropbox API mode: measured against the emulator ===");
    show(
        "while one `droprender rend` ran (its own requests, plus the node waking)",
        &client_only,
    );
    show(
        "one executed render command, client + node, until the node is idle again",
        &whole,
    );

    // Command → spawn latency while the node waits in a longpoll.
    let f = rig.folder();
    let mut latencies = Vec::new();
    for k in 0..5 {
        std::thread::sleep(Duration::from_millis(700));
        let calls = rig.render_calls().len();
        let frame = 100 + k;
        rig.rt
            .block_on(f.append(
                "commands.txt",
                format!("rend:-s {frame} -e {frame} scenes/shot02.mb\n").into_bytes(),
            ))
            .expect("append");
        let t = Instant::now();
        rig.wait_until("the render to spawn", || rig.render_calls().len() > calls);
        latencies.push(t.elapsed());
        rig.wait_idle();
    }
    latencies.sort();
    println!(
        "command -> Render spawned, after the append returns (longpoll wakes, continue, range download, journal, spawn): median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );

    // Idle: only longpolls (stat/list answer from the cache kept by the
    // change feed; the node's 5 s reconcile costs nothing).
    std::thread::sleep(Duration::from_secs(1));
    let before = rig.emu.stats();
    let idle = Duration::from_secs(15);
    std::thread::sleep(idle);
    let d = diff(&rig.emu.stats(), &before);
    show(&format!("idle node for {} s", idle.as_secs()), &d);
    let polls = d.get("/2/files/list_folder/longpoll").map_or(0, |r| r.0);
    let other: u64 = d
        .iter()
        .filter(|(r, _)| !r.ends_with("/longpoll"))
        .map(|(_, r)| r.0)
        .sum();
    // Longpolls are held 1/100 of their time here; everything else runs in
    // real time.
    let emulated_secs = idle.as_secs_f64() / 0.01;
    let per_hour =
        polls as f64 * 3600.0 / emulated_secs + other as f64 * 3600.0 / idle.as_secs_f64();
    println!(
        "idle: {polls} longpolls in {emulated_secs:.0} emulated s (480 s each) + {other} other requests in {} real s => {per_hour:.1} requests per idle hour",
        idle.as_secs()
    );
    assert_eq!(other, 0, "an idle node sends nothing but longpolls: {d:?}");
    assert!(per_hour < 12.0, "{per_hour}");

    rig.stop();
    assert!(
        rig.log_events("node").iter().any(|l| l.contains("stopped")),
        "{}",
        rig.log()
    );
    assert!(
        !rig.stderr().contains(TOKEN),
        "the token never appears in the log"
    );
}

/// On a long commands.txt, an appended line costs its own bytes, not a
/// re-read of the file's tail: the node proves the prefix with Dropbox's
/// `content_hash` (see `channel.rs`). The old 64 KiB tail check downloaded
/// 64 KiB here per command.
#[test]
fn an_append_to_a_long_commands_file_downloads_only_the_new_line() {
    let mut rig = DbxRig::new(fast_longpolls());
    let history: String = (0..3000)
        .map(|i| format!("rend:-s {i} -e {i} scenes/shot01.ma\n"))
        .collect();
    assert!(history.len() > 100_000);
    rig.emu
        .put_file("/Maya/commands.txt", history.into_bytes())
        .expect("seed history");
    rig.start();
    rig.wait_watching();
    rig.wait_idle();
    let f = rig.folder();
    for k in 0..3 {
        std::thread::sleep(Duration::from_millis(500));
        let calls = rig.render_calls().len();
        let line = format!("rend:-s {k} -e {k} scenes/shot02.mb\n");
        let before = rig.emu.stats();
        rig.rt
            .block_on(f.append("commands.txt", line.clone().into_bytes()))
            .expect("append");
        let after_client = rig.emu.stats();
        rig.wait_until("the render to spawn", || rig.render_calls().len() > calls);
        rig.wait_idle();
        // The node's downloads only: the client's own append is excluded.
        let node_dl = {
            let all = diff(&rig.emu.stats(), &before);
            let client = diff(&after_client, &before);
            let get = |d: &BTreeMap<String, (u64, u64, u64)>| {
                d.get("/2/files/download")
                    .map_or((0, 0), |r| (r.0, r.1 + r.2))
            };
            let (a, c) = (get(&all), get(&client));
            (a.0 - c.0, a.1 - c.1)
        };
        println!(
            "command {k}: the node's downloads: {} request(s), {} B",
            node_dl.0, node_dl.1
        );
        assert_eq!(node_dl.0, 1, "one range download per command");
        assert!(
            node_dl.1 < line.len() as u64 + 1024,
            "the line ({} B) plus its metadata, not the file's tail: {} B",
            line.len(),
            node_dl.1
        );
    }
    assert_eq!(rig.log_events("finished").len(), 3, "{}", rig.log());
    rig.stop();
}

#[test]
fn twenty_clients_fifty_appends_each() {
    let mut rig = DbxRig::new(fast_longpolls());
    rig.emu
        .put_file("/Maya/commands.txt", &b""[..])
        .expect("seed");
    rig.start();
    let t = Instant::now();
    rig.append_concurrently(20, 50);
    println!("1000 appends from 20 clients: {:?}", t.elapsed());
    let before = rig.emu.stats();
    rig.check_exactly_once(1000);
    println!("1000 appends and 1000 renders: {:?}", t.elapsed());
    show(
        "the node's traffic after the appends",
        &diff(&rig.emu.stats(), &before),
    );
    let s = rig.emu.stats();
    println!(
        "all traffic: {} requests; 409 conflicts on upload: {}",
        s.total.requests,
        s.routes
            .get("/2/files/upload")
            .and_then(|r| r.statuses.get(&409))
            .copied()
            .unwrap_or(0)
    );
}

#[test]
fn twenty_clients_fifty_appends_each_with_faults() {
    let mut rig = DbxRig::new(fast_longpolls());
    rig.emu
        .put_file("/Maya/commands.txt", &b""[..])
        .expect("seed");
    rig.start();
    rig.emu.set_faults(FaultConfig {
        rate: 0.2,
        kinds: vec![
            FaultKind::TooManyRequests,
            FaultKind::InternalError,
            FaultKind::Drop,
            FaultKind::DropAfterCommit,
        ],
        // The emulator's Retry-After; waiting it out is what the unit
        // tests check, and 0 keeps this run short.
        retry_after_secs: 0,
        seed: Some(20),
        ..FaultConfig::default()
    });
    let t = Instant::now();
    rig.append_concurrently(20, 50);
    println!(
        "1000 appends from 20 clients with 20 % faults: {:?}",
        t.elapsed()
    );
    rig.check_exactly_once(1000);
    println!("... and 1000 renders: {:?}", t.elapsed());
    let s = rig.emu.stats();
    println!("faults injected: {:?}", s.faults);
    assert!(s.faults.get("drop-after-commit").copied().unwrap_or(0) > 10);
    let stderr = rig.stderr();
    assert!(
        stderr.contains("Dropbox answered 429"),
        "the node says what it waits for"
    );
    rig.emu.set_faults(FaultConfig::default());
    rig.stop();
}

/// A bare HTTP/1.1 exchange with the emulator (the test needs no HTTP
/// client of its own): (status, body).
fn http(method: &str, url: &str, form: Option<&str>) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    let body = form.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if form.is_some() {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// `droprender login` against the emulator: read the URL it prints, let
/// the emulator approve, paste the code back.
fn login(rig: &DbxRig) {
    use std::io::{BufRead as _, BufReader, Write as _};
    let mut child = rig
        .command(&client_bin())
        .arg("login")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("login");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.trim().starts_with("http").then(|| l.trim().to_string()))
        .expect("an authorize URL");
    assert!(url.contains("code_challenge="), "{url}");
    let (_, page) = http("GET", &url, None);
    let code = page
        .split("data-code=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("code")
        .to_string();
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{code}").expect("paste");
    drop(stdin);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().expect("login ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rest.join("\n").contains("Logged in"), "{rest:?}");
}

#[test]
fn token_expiry_and_cursor_resets_lose_and_double_nothing() {
    let mut rig = DbxRig::new(fast_longpolls());
    rig.static_token = false;
    let out = rig.client(&["status"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("droprender login"),
        "says how to log in"
    );
    login(&rig);
    let token_file = rig
        .config_home
        .join("droprender")
        .join("dropbox-token.json");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&token_file)
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    rig.emu
        .put_file("/Maya/commands.txt", &b""[..])
        .expect("seed");
    rig.start();
    let mut n = 0;
    let mut send = |rig: &DbxRig| {
        n += 1;
        rig.client_ok(&[
            "rend",
            "-s",
            &n.to_string(),
            "-e",
            &n.to_string(),
            "scenes/shot01.ma",
        ]);
    };
    for _ in 0..5 {
        send(&rig);
    }
    rig.wait_until("5 renders", || rig.log_events("finished").len() >= 5);
    // Every access token dies (refresh tokens live on) while the node waits.
    assert!(rig.emu.expire_tokens() > 0);
    for _ in 0..5 {
        send(&rig);
    }
    rig.wait_until("10 renders", || rig.log_events("finished").len() >= 10);
    // Every cursor is reset: the node lists again.
    rig.emu.reset_cursors();
    for _ in 0..5 {
        send(&rig);
    }
    rig.emu.expire_tokens();
    rig.emu.reset_cursors();
    for _ in 0..5 {
        send(&rig);
    }
    rig.check_exactly_once(20);
    let stderr = rig.stderr();
    assert!(
        stderr.contains("refreshing the Dropbox access token"),
        "{stderr}"
    );
    assert!(stderr.contains("listing it again"), "{stderr}");
    rig.stop();
    // Logout revokes: the stored login no longer works.
    let stored = std::fs::read_to_string(&token_file).expect("token file");
    let out = rig.client_ok(&["logout"]);
    assert!(out.contains("revoked"), "{out}");
    assert!(!token_file.exists());
    let refresh: serde_json::Value = serde_json::from_str(&stored).expect("json");
    let form = format!(
        "grant_type=refresh_token&refresh_token={}&client_id={}",
        refresh["refresh_token"].as_str().unwrap_or(""),
        rig.emu.config().app_key
    );
    let (status, _) = http("POST", &format!("{}/oauth2/token", rig.url()), Some(&form));
    assert_eq!(status, 400, "the refresh token is revoked");
}

#[test]
fn a_static_token_that_expires_says_what_to_do_and_the_node_keeps_going() {
    let mut rig = DbxRig::new(fast_longpolls());
    rig.emu
        .put_file("/Maya/commands.txt", &b""[..])
        .expect("seed");
    rig.start();
    rig.emu.expire_tokens();
    let out = rig.client(&["status"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DROPRENDER_DROPBOX_TOKEN has expired"),
        "{err}"
    );
    std::thread::sleep(Duration::from_secs(6));
    let node = rig.node.as_mut().expect("running");
    assert!(
        node.try_wait().expect("try_wait").is_none(),
        "the node is still running"
    );
    // A fresh token is not something a running node can be given: it
    // reports the trouble and carries on.
    assert!(rig.stderr().contains("has expired"), "{}", rig.stderr());
}
