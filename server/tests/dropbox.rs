//! Dropbox API mode end to end: the real `droprender-node` and `droprender`
//! binaries against the in-process Dropbox emulator, with faults, token
//! expiry and cursor resets. Measurements are printed (run with
//! `--nocapture` to see them).

// Linux (Unix): SIGTERM stops and Unix permissions; server/tests/portable runs on Windows too.
#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::client_bin;
use common::dropbox::DbxRig;
use common::emulator::{TOKEN, concurrently, fast_longpolls, flaky};
use dropbox_emulator::{FaultConfig, Stats};
use droprender_shared::status::StatusDoc;
use droprender_storage::Folder;

/// Appends `per_client` lines from each of `clients` concurrent library clients.
fn append_concurrently(rig: &DbxRig, clients: usize, per_client: usize) {
    let folders: Vec<_> = (0..clients).map(|_| rig.folder()).collect();
    rig.emu
        .rt
        .block_on(concurrently(folders, move |c, f| async move {
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

/// Every frame rendered exactly once, every line accepted exactly once.
fn check_exactly_once(rig: &DbxRig, n: usize) {
    let text = rig.read("commands.txt");
    let mut lines: Vec<&str> = text.lines().filter(|l| l.starts_with("rend:")).collect();
    assert_eq!(lines.len(), n, "lines in commands.txt");
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), n, "distinct lines in commands.txt");
    rig.wait_count("finished renders", n, || rig.log_events("finished").len());
    rig.wait_idle();
    assert_eq!(rig.log_events("accepted").len(), n, "accepted in LOG.txt");
    assert_eq!(rig.log_events("finished").len(), n, "finished in LOG.txt");
    let mut frames: Vec<u64> = rig
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
        rig.emu
            .rt
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
        rig.emu
            .rt
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
    append_concurrently(&rig, 20, 50);
    println!("1000 appends from 20 clients: {:?}", t.elapsed());
    let before = rig.emu.stats();
    check_exactly_once(&rig, 1000);
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
    rig.emu.set_faults(flaky(0.2, 20));
    let t = Instant::now();
    append_concurrently(&rig, 20, 50);
    println!(
        "1000 appends from 20 clients with 20 % faults: {:?}",
        t.elapsed()
    );
    check_exactly_once(&rig, 1000);
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
    check_exactly_once(&rig, 20);
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
    let node = rig.node();
    assert!(
        node.try_wait().expect("try_wait").is_none(),
        "the node is still running"
    );
    // A fresh token is not something a running node can be given: it
    // reports the trouble and carries on.
    assert!(rig.stderr().contains("has expired"), "{}", rig.stderr());
}
