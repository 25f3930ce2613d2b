//! Dropbox API mode against the in-process emulator: traffic per executed
//! command, round trips after a longpoll wake-up, requests per idle hour;
//! and the paper's loop mapped onto the same API (`os.stat` →
//! `files/get_metadata`, reading the file → `files/download`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dropbox_emulator::Stats;
use droprender_testkit::emulator::{Emu, LONGPOLL_SCALE as SCALE, fast_longpolls};
use droprender_testkit::log;

use crate::rig::{self, Stamps};
use crate::sys::{human_ns, now_ns};
use crate::{Row, Verdict};

const TOKEN: &str = "bench-token";
const ROOT: &str = "/Maya";
const COMMANDS: &str = "/Maya/commands.txt";
const LONGPOLL: &str = "/2/files/list_folder/longpoll";

/// (requests, request bytes, response bytes) per route, `after - before`.
type Traffic = BTreeMap<String, (u64, u64, u64)>;

fn diff(after: &Stats, before: &Stats) -> Traffic {
    let mut out = BTreeMap::new();
    for (route, a) in &after.routes {
        let b = before.routes.get(route);
        let n = a.requests - b.map_or(0, |b| b.requests);
        let up = a.request_bytes - b.map_or(0, |b| b.request_bytes);
        let down = a.response_bytes - b.map_or(0, |b| b.response_bytes);
        if n > 0 || up > 0 || down > 0 {
            out.insert(route.clone(), (n, up, down));
        }
    }
    out
}

fn requests(t: &Traffic, longpolls: bool) -> u64 {
    t.iter()
        .filter(|(r, _)| longpolls || !r.ends_with("/longpoll"))
        .map(|(_, v)| v.0)
        .sum()
}

fn bytes(t: &Traffic) -> u64 {
    t.values().map(|v| v.1 + v.2).sum()
}

/// The part of `t` that fetches: everything but uploads. (The node's status
/// and LOG.txt uploads for a command run beside the renderer's start, not
/// before it, and can land before it in the window.)
fn fetches(t: &Traffic) -> Traffic {
    t.iter()
        .filter(|(r, _)| !r.contains("/upload"))
        .map(|(r, v)| (r.clone(), *v))
        .collect()
}

/// Reading one command: the longpoll that woke (its request was sent
/// before the phone's write, so `lp_req_bytes`, a longpoll request's size,
/// stands in for it) and the fetches after it. A longpoll issued again
/// inside the window is the next command's, and not counted.
fn reading(t: &Traffic, lp_req_bytes: u64) -> (u64, u64) {
    let mut n = 1;
    let mut b = lp_req_bytes;
    for (r, v) in fetches(t) {
        if r.ends_with("/longpoll") {
            b += v.2;
        } else {
            n += v.0;
            b += v.1 + v.2;
        }
    }
    (n, b)
}

fn show(t: &Traffic) -> String {
    t.iter()
        .map(|(r, (n, up, down))| {
            format!("{}×{n} ({up}+{down} B)", r.trim_start_matches("/2/files/"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0)
}

/// The emulator, longpolls held [`SCALE`] of their time.
fn emulator() -> Emu {
    Emu::start(TOKEN, fast_longpolls(), 1)
}

fn read(e: &Emu, path: &str) -> Vec<u8> {
    e.get_file(path)
        .map(|(_, b)| b.to_vec())
        .unwrap_or_default()
}

/// `event` lines in LOG.txt.
fn log_events(e: &Emu, event: &str) -> usize {
    log::events(&e.text("/Maya/LOG.txt"), event).len()
}

fn is_idle(e: &Emu) -> bool {
    let st = e.text("/Maya/status.json");
    serde_json::from_str::<serde_json::Value>(&st)
        .is_ok_and(|v| v["state"] == "idle" && v["queue"].as_array().is_some_and(Vec::is_empty))
}

struct Case {
    /// Mean bytes of one longpoll request (the cursor).
    lp_req_bytes: u64,
    history: usize,
    file_bytes: usize,
    read: Vec<Traffic>,
    all: Vec<Traffic>,
    line_len: usize,
    latency: Vec<u64>,
    idle: Option<(f64, Traffic)>,
}

/// One node in API mode on a commands.txt of `history` lines.
fn measure_node(history: usize, commands: usize, idle: Option<Duration>) -> Option<Case> {
    let e = emulator();
    let hist = rig::history_text(history);
    e.put_file(COMMANDS, hist.clone())
        .expect("seed commands.txt");
    let l = rig::layout();
    let config_home = l.dir.path().join("config");
    std::fs::create_dir_all(&config_home).expect("config home");
    let env = e.child_env(&config_home, true);
    let (mut node, _) = rig::start_node(&l, &env, Some(ROOT));
    // API mode not built yet (or broken): the node exits at once.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if !node.alive() {
            eprintln!(
                "bench: the node in Dropbox API mode exited:\n{}",
                node.stderr_tail()
            );
            return None;
        }
        if e.get_file("/Maya/status.json").is_some() && e.requests(LONGPOLL) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if e.requests(LONGPOLL) == 0 {
        eprintln!(
            "bench: the node in Dropbox API mode never started its longpoll:\n{}",
            node.stderr_tail()
        );
        return None;
    }
    let mut stamps = Stamps::new(&l);
    let mut case = Case {
        lp_req_bytes: 0,
        history,
        file_bytes: hist.len(),
        read: Vec::new(),
        all: Vec::new(),
        line_len: 0,
        latency: Vec::new(),
        idle: None,
    };
    node.wait_for(
        "the API-mode node to be idle",
        Duration::from_secs(60),
        Duration::from_millis(20),
        || is_idle(&e),
    );
    for k in 0..commands {
        // Let the node settle into its longpoll.
        std::thread::sleep(Duration::from_millis(800));
        let line = rig::render_line(100 + k as u64, "shot01.ma");
        case.line_len = line.len();
        let mut text = read(&e, COMMANDS);
        text.extend_from_slice(line.as_bytes());
        let s0 = e.stats();
        // A desktop app or a phone writing the file: not counted in the stats.
        let t0 = now_ns();
        e.put_file(COMMANDS, text).expect("put commands.txt");
        let mut snaps: Vec<(u64, Stats)> = Vec::new();
        let t = Instant::now();
        while stamps.poll() <= k {
            snaps.push((now_ns(), e.stats()));
            assert!(
                t.elapsed() < Duration::from_secs(60) && node.alive(),
                "the API-mode node never started the renderer\n{}",
                node.stderr_tail()
            );
            std::thread::sleep(Duration::from_micros(500));
        }
        let spawn = stamps.seen[k];
        case.latency.push(spawn.saturating_sub(t0));
        let at_spawn = snaps
            .iter()
            .rev()
            .find(|(t, _)| *t <= spawn)
            .map_or(&s0, |(_, s)| s);
        case.read.push(diff(at_spawn, &s0));
        node.wait_for(
            "the API-mode render to finish",
            Duration::from_secs(60),
            Duration::from_millis(20),
            || log_events(&e, "finished") > k && is_idle(&e),
        );
        std::thread::sleep(Duration::from_secs(1));
        case.all.push(diff(&e.stats(), &s0));
    }
    case.lp_req_bytes = e
        .stats()
        .routes
        .get(LONGPOLL)
        .map_or(0, |r| r.request_bytes / r.requests.max(1));
    if let Some(window) = idle {
        std::thread::sleep(Duration::from_secs(1));
        let a = e.stats();
        std::thread::sleep(window);
        let d = diff(&e.stats(), &a);
        let secs = window.as_secs_f64();
        let polls = d.get(LONGPOLL).map_or(0, |r| r.0);
        let other = requests(&d, false);
        // Longpolls are held SCALE of their real time; the rest runs in real time.
        let per_hour = polls as f64 * 3600.0 / (secs / SCALE) + other as f64 * 3600.0 / secs;
        case.idle = Some((per_hour, d));
    }
    node.stop();
    Some(case)
}

/// The paper's main loop over the API, for `secs` idle and then `commands`
/// changes: (get_metadata requests per second while idle, downloaded bytes
/// per command, requests per command, file size).
fn measure_paper(history: usize, idle: Duration, commands: usize) -> (f64, u64, f64, usize) {
    let e = emulator();
    let hist = rig::history_text(history);
    e.put_file(COMMANDS, hist.clone()).expect("seed");
    let stop = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicU64::new(0));
    let task = {
        let (url, stop, ran) = (e.url.clone(), Arc::clone(&stop), Arc::clone(&ran));
        // Every history line counts as executed (the paper's LOG.txt).
        let executed = String::from_utf8_lossy(&hist).lines().count();
        e.rt.spawn(paper_loop(url, stop, ran, executed))
    };
    // Let it start polling.
    std::thread::sleep(Duration::from_millis(500));
    let a = e.stats();
    std::thread::sleep(idle);
    let d = diff(&e.stats(), &a);
    let per_s = requests(&d, true) as f64 / idle.as_secs_f64();
    let before = e.stats();
    let mut text = hist.clone();
    for k in 0..commands {
        text.extend_from_slice(rig::render_line(100 + k as u64, "shot01.ma").as_bytes());
        e.put_file(COMMANDS, text.clone()).expect("put");
        let want = k as u64 + 1;
        let w = Instant::now();
        while ran.load(Ordering::SeqCst) < want && w.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let d = diff(&e.stats(), &before);
    stop.store(true, Ordering::SeqCst);
    let _ = e.rt.block_on(task);
    let dl = d.get("/2/files/download").map_or(0, |r| r.1 + r.2);
    let n = commands.max(1) as u64;
    let reqs = requests(&d, true) as f64 / n as f64;
    (per_s, dl / n, reqs, hist.len())
}

/// `while True: stat; if changed: read the whole file; run lines past the count`.
async fn paper_loop(url: String, stop: Arc<AtomicBool>, ran: Arc<AtomicU64>, mut count: usize) {
    let client = reqwest::Client::new();
    let auth = format!("Bearer {TOKEN}");
    let mut old: Option<String> = None;
    let mut first = true;
    while !stop.load(Ordering::SeqCst) {
        let Ok(r) = client
            .post(format!("{url}/2/files/get_metadata"))
            .header("Authorization", &auth)
            .json(&serde_json::json!({ "path": COMMANDS }))
            .send()
            .await
        else {
            continue;
        };
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        let rev = v["rev"].as_str().map(str::to_string);
        if first {
            // old_modify_time = os.stat(...) before the loop.
            old = rev;
            first = false;
            continue;
        }
        if rev != old {
            old = rev;
            let Ok(r) = client
                .post(format!("{url}/2/files/download"))
                .header("Authorization", &auth)
                .header(
                    "Dropbox-API-Arg",
                    serde_json::json!({ "path": COMMANDS }).to_string(),
                )
                .send()
                .await
            else {
                continue;
            };
            let body = r.bytes().await.unwrap_or_default();
            let text = String::from_utf8_lossy(&body).into_owned();
            let mut commands: Vec<&str> = text.split('\n').collect();
            if commands.last() == Some(&"") {
                commands.pop();
            }
            for _com in commands.iter().skip(count) {
                count += 1;
                ran.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

pub fn rows(quick: bool) -> Vec<Row> {
    let commands = if quick { 3 } else { 5 };
    let idle = Duration::from_secs(if quick { 10 } else { 20 });
    let goal_req = "≤ 3 requests/command";
    let goal_bytes = "≤ 2 KB beyond the line";
    let goal_rtt = "≤ 2 round trips";
    let goal_idle = "≤ 10 requests/idle hour";
    let na = |m: &str, g: &str| Row {
        group: "dropbox",
        measure: m.into(),
        goal: g.into(),
        ours: "n/a (API mode not available)".into(),
        paper: String::new(),
        ratio: String::new(),
        met: Verdict::Unknown,
    };
    let Some(small) = measure_node(10, commands, Some(idle)) else {
        return vec![
            na("API: requests per executed command", goal_req),
            na("API: bytes per command beyond the line", goal_bytes),
            na("API: round trips after a longpoll wake-up", goal_rtt),
            na("API: requests per idle hour", goal_idle),
        ];
    };
    let big = measure_node(1000, commands, None);
    let (p_per_s, p_dl, p_reqs, p_size) = measure_paper(1000, Duration::from_secs(2), commands);
    let mut rows = Vec::new();
    let cases: Vec<&Case> = std::iter::once(&small).chain(big.as_ref()).collect();
    for c in &cases {
        eprintln!(
            "dropbox: {} history lines ({} B): read path per command: {}",
            c.history,
            c.file_bytes,
            c.read.iter().map(show).collect::<Vec<_>>().join(" | ")
        );
        eprintln!(
            "dropbox: {} history lines: whole command until idle: {}",
            c.history,
            c.all.iter().map(show).collect::<Vec<_>>().join(" | ")
        );
    }
    let desc = |c: &Case| format!("{} lines/{:.0} KB", c.history, c.file_bytes as f64 / 1e3);
    // Per executed command, reading it: the longpoll that woke, then
    // list_folder/continue and the range download, up to the renderer's
    // start. That is the channel's cost, which the goal and the paper's
    // column ("downloads whole files") are about.
    let req_read: Vec<(String, u64, u64)> = cases
        .iter()
        .map(|c| {
            let r: Vec<(u64, u64)> = c.read.iter().map(|t| reading(t, c.lp_req_bytes)).collect();
            (
                desc(c),
                median(r.iter().map(|x| x.0).collect()),
                median(
                    r.iter()
                        .map(|x| x.1.saturating_sub(c.line_len as u64))
                        .collect(),
                ),
            )
        })
        .collect();
    let round_trips: Vec<(String, u64, u64)> = cases
        .iter()
        .map(|c| {
            (
                desc(c),
                median(
                    c.read
                        .iter()
                        .map(|t| requests(&fetches(t), false))
                        .collect(),
                ),
                0,
            )
        })
        .collect();
    // Everything the node sent from the phone's write until it was idle
    // again: reading, plus its output (status.json, status.txt,
    // active_rend.txt and LOG.txt uploads, and the wake-ups they cause).
    let req_all: Vec<(String, u64, u64)> = cases
        .iter()
        .map(|c| {
            (
                desc(c),
                median(c.all.iter().map(|t| requests(t, true)).collect()),
                median(
                    c.all
                        .iter()
                        .map(|t| bytes(t).saturating_sub(c.line_len as u64))
                        .collect(),
                ),
            )
        })
        .collect();
    let fmt = |v: &[(String, u64, u64)], f: &dyn Fn(&(String, u64, u64)) -> String| {
        v.iter()
            .map(|x| format!("{}: {}", x.0, f(x)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    rows.push(Row {
        group: "dropbox",
        measure: "API: requests per executed command (reading it: the longpoll that woke, list_folder/continue, range download)".into(),
        goal: goal_req.into(),
        ours: fmt(&req_read, &|x| format!("{}", x.1)),
        paper: format!("{p_reqs:.0} (polling without pause)"),
        ratio: format!("{:.0}×", p_reqs / req_read[0].1.max(1) as f64),
        met: Verdict::from(req_read.iter().all(|x| x.1 <= 3)),
    });
    rows.push(Row {
        group: "dropbox",
        measure: "API: bytes per executed command beyond the line (reading it; request + response bodies and API arg/result headers)".into(),
        goal: goal_bytes.into(),
        ours: fmt(&req_read, &|x| format!("{:.2} KB", x.2 as f64 / 1e3)),
        paper: format!(
            "{:.1} KB download of the {:.0} KB file",
            p_dl as f64 / 1e3,
            p_size as f64 / 1e3
        ),
        ratio: req_read
            .last()
            .map(|x| format!("{:.0}×", p_dl as f64 / x.2.max(1) as f64))
            .unwrap_or_default(),
        met: Verdict::from(req_read.iter().all(|x| x.2 <= 2048)),
    });
    rows.push(Row {
        group: "dropbox",
        measure: "API: the node's whole traffic per command until idle (reading + its status and LOG.txt uploads)".into(),
        goal: "(output; see BENCHMARKS.md)".into(),
        ours: fmt(&req_all, &|x| {
            format!("{} req, {:.1} KB", x.1, x.2 as f64 / 1e3)
        }),
        paper: String::new(),
        ratio: String::new(),
        met: Verdict::Info,
    });
    rows.push(Row {
        group: "dropbox",
        measure: "API: round trips after a longpoll wake-up".into(),
        goal: goal_rtt.into(),
        ours: fmt(&round_trips, &|x| format!("{}", x.1)),
        paper: "stat-poll + whole download".into(),
        ratio: String::new(),
        met: Verdict::from(round_trips.iter().all(|x| x.1 <= 2)),
    });
    let (per_hour, d) = small.idle.clone().unwrap_or_default();
    eprintln!("dropbox: idle traffic: {}", show(&d));
    let p_hour = p_per_s * 3600.0;
    rows.push(Row {
        group: "dropbox",
        measure: "API: requests per idle hour".into(),
        goal: goal_idle.into(),
        ours: format!("{per_hour:.1}"),
        paper: format!("{p_hour:.0}"),
        ratio: format!("{:.0}×", p_hour / per_hour.max(0.1)),
        met: Verdict::from(per_hour <= 10.0),
    });
    let lat: Vec<u64> = cases.iter().flat_map(|c| c.latency.clone()).collect();
    rows.push(Row {
        group: "dropbox",
        measure: "API: phone write → renderer started (emulator on loopback)".into(),
        goal: "(no goal)".into(),
        ours: format!(
            "median {} (max {})",
            human_ns(median(lat.clone())),
            human_ns(lat.iter().copied().max().unwrap_or(0))
        ),
        paper: String::new(),
        ratio: String::new(),
        met: Verdict::Info,
    });
    rows
}
