//! Controlling the queue from a phone: each command end to end through the
//! real binaries.

// Linux (Unix): /proc process states; server/tests/portable runs on Windows too.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Rig, alive, procfs};

#[test]
fn cancel_mid_render_leaves_no_process_behind() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "50");
    rig.start();
    rig.append(b"rend:-s 1 -e 20 scenes/shot01.ma\nrend:-s 1 -e 1 scenes/shot02.mb\n");
    rig.wait_until("a frame", || !rig.frames("job-0001").is_empty());
    let pid = rig.renderer_pid();
    assert!(alive(pid));
    let out = rig.client(&["cancel", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rig.wait_events("cancelled", 1);
    rig.wait_until("the renderer to be gone", || !alive(pid));
    rig.wait_events("finished", 1);
    let st = rig.status();
    let j1 = st.recent.iter().find(|j| j.id == 1).expect("job 1");
    assert_eq!(j1.state, "cancelled");
    assert!(
        rig.log_events("finished")[0].contains("job 2"),
        "the queue moves on"
    );
    // Cancelling it again is a clear rejection.
    rig.append(b"cancel: 1\ncancel: 99\n");
    rig.wait_events("rejected", 2);
    let r = rig.log_events("rejected");
    assert!(
        r[0].contains("cancel:1 because job 1 is already cancelled"),
        "{r:?}"
    );
    assert!(r[1].contains("because there is no job 99"), "{r:?}");
}

#[test]
fn priority_reorders_the_queue_and_pause_holds_it() {
    let mut rig = Rig::new();
    rig.start();
    rig.append(b"pause:\nrend:-s 1 -e 1 scenes/shot01.ma\nrend:-s 2 -e 2 scenes/shot01.ma\nrend:-s 3 -e 3 scenes/shot01.ma priority=low\nrend:-s 4 -e 4 scenes/shot01.ma\n");
    rig.wait_events("accepted", 4);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        rig.log_events("started").is_empty(),
        "paused: {}",
        rig.log()
    );
    assert_eq!(rig.status().state, "paused");
    for args in [["priority", "4", "high"], ["priority", "2", "-5"]] {
        let out = rig.client(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        rig.client(&["priority", "2", "urgent"]).status.code(),
        Some(2),
        "refused locally"
    );
    rig.wait_until("priorities logged", || {
        rig.log().matches("queue order now").count() == 2
    });
    assert!(
        rig.log().contains("queue order now 4, 1, 2, 3"),
        "{}",
        rig.log()
    );
    rig.wait_until("status.txt to show the order", || {
        rig.read("status.txt")
            .contains(" 4 scenes/shot01.ma queued prio 10")
    });
    let order: Vec<u64> = rig.status().queue.iter().map(|j| j.id).collect();
    assert_eq!(order, [4, 1, 2, 3]);
    assert!(rig.client(&["resume"]).status.success());
    rig.wait_events("finished", 4);
    let started: Vec<String> = rig.log_events("started");
    let ids: Vec<&str> = started
        .iter()
        .map(|l| l.split(' ').nth(4).unwrap_or("").trim_end_matches(':'))
        .collect();
    assert_eq!(ids, ["4", "1", "2", "3"], "{started:#?}");
}

#[test]
fn a_dependency_chain_of_three_runs_in_order_and_a_failure_cancels_dependents() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_FAIL_AT_FRAME", "7");
    rig.start();
    // Job 3 waits for 2, which waits for 1; job 1 is the slowest.
    rig.append(b"rend:-s 1 -e 4 scenes/shot01.ma\nrend:-s 1 -e 1 scenes/shot02.mb after=1\nrend:-s 2 -e 2 scenes/shot02.mb after=2\n");
    rig.wait_events("finished", 3);
    let fin: Vec<String> = rig.log_events("finished");
    for (i, l) in fin.iter().enumerate() {
        assert!(l.contains(&format!("job {}", i + 1)), "{fin:#?}");
    }
    let q = rig.status();
    assert!(q.recent.iter().all(|j| j.state == "finished"));
    // A chain whose head fails: the rest are cancelled, each with a LOG line.
    rig.append(b"rend:-s 7 -e 7 scenes/shot01.ma\nrend:-s 1 -e 1 scenes/shot01.ma after=4\nrend:-s 1 -e 1 scenes/shot01.ma after=5\n");
    rig.wait_events("cancelled", 2);
    let c = rig.log_events("cancelled");
    assert!(
        c[0].contains("job 5") && c[0].contains("job 4, which it waits for, failed"),
        "{c:#?}"
    );
    assert!(
        c[1].contains("job 6") && c[1].contains("job 5, which it waits for, was cancelled"),
        "{c:#?}"
    );
    rig.append(b"rend:-s 1 scenes/shot01.ma after=99\n");
    rig.wait_events("rejected", 1);
    assert!(rig.log_events("rejected")[0].contains("there is no earlier job 99"));
}

#[test]
fn the_schedule_holds_work_until_the_window_opens() {
    let mut rig = Rig::new();
    // Monday 18:59:57 on the node's clock; renders allowed from 19:00.
    rig.set_env("DROPRENDER_CLOCK_START", "2026-11-23 18:59:57");
    rig.configure("[schedule]\nmon = \"19:00-07:00\"\n");
    rig.start();
    let t = Instant::now();
    rig.append(b"rend:-s 1 -e 1 scenes/shot01.ma\n");
    rig.wait_events("accepted", 1);
    rig.wait_until("the waiting note", || rig.status().note.is_some());
    let st = rig.status();
    assert_eq!(st.state, "waiting");
    assert!(
        st.note
            .as_deref()
            .is_some_and(|n| n.contains("next window opens Mon 19:00")),
        "{:?}",
        st.note
    );
    rig.wait_until("status.txt to say so", || {
        rig.read("status.txt")
            .contains("next window opens Mon 19:00")
    });
    rig.wait_events("finished", 1);
    assert!(
        t.elapsed() >= Duration::from_millis(2500),
        "started before the window: {:?}",
        t.elapsed()
    );
    assert!(
        rig.log_events("started")[0].starts_with("2026-11-23 19:00"),
        "{}",
        rig.log()
    );
}

#[test]
fn a_stalled_render_is_retried_then_failed_and_webhooks_hear_about_it() {
    let hooks = Receiver::start();
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_HANG_AT_FRAME", "2");
    rig.configure(&format!(
        "[jobs]\nstall = \"1s\"\nretries = 1\n[notify]\nwebhooks = [\"{}/hook\"]\nntfy = [\"{}/topic\"]\n",
        hooks.url, hooks.url
    ));
    rig.start();
    rig.append(b"rend:-s 1 -e 3 scenes/shot01.ma\n");
    rig.wait_events("retrying", 1);
    assert!(
        rig.log_events("retrying")[0].contains("stalled: the renderer printed nothing for 1s"),
        "{}",
        rig.log()
    );
    rig.wait_events("failed", 1);
    let pid = rig.renderer_pid();
    rig.wait_until("the hung renderer to be gone", || !alive(pid));
    rig.wait_until("a webhook and an ntfy post", || {
        let r = hooks.requests();
        r.iter().any(|r| r.path == "/hook") && r.iter().any(|r| r.path == "/topic")
    });
    let reqs = hooks.requests();
    let json = reqs.iter().find(|r| r.path == "/hook").expect("webhook");
    let v: serde_json::Value = serde_json::from_str(&json.body).expect("json body");
    assert_eq!(
        (v["event"].as_str(), v["job"].as_u64()),
        (Some("stalled"), Some(1))
    );
    let ntfy = reqs.iter().find(|r| r.path == "/topic").expect("ntfy");
    assert!(ntfy.body.contains("scenes/shot01.ma"), "{}", ntfy.body);
    // A finished job notifies too.
    rig.set_env("RENDER_SIM_HANG_AT_FRAME", "");
}

#[test]
fn suspend_resume_retry_status_and_help() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "40");
    rig.start();
    rig.append(b"rend:-s 1 -e 12 scenes/shot01.ma\n");
    rig.wait_until("a frame", || !rig.frames("job-0001").is_empty());
    let pid = rig.renderer_pid();
    assert!(rig.client(&["suspend", "1"]).status.success());
    rig.wait_until("SIGSTOP", || procfs::state(pid) == Some('T'));
    rig.wait_until("status to say suspended", || {
        rig.status().current.is_some_and(|c| c.state == "suspended")
    });
    let frozen = rig.frames("job-0001").len();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        rig.frames("job-0001").len(),
        frozen,
        "no progress while suspended"
    );
    assert!(rig.client(&["resume", "1"]).status.success());
    rig.wait_until("SIGCONT", || procfs::state(pid) != Some('T'));
    rig.wait_until("more frames", || rig.frames("job-0001").len() > frozen + 1);
    assert!(rig.client(&["cancel", "1"]).status.success());
    rig.wait_events("cancelled", 1);
    let on_disk = rig.frames("job-0001").len();
    assert!(on_disk < 12);
    rig.set_env("RENDER_SIM_STEP_MS", "2");
    rig.append(b"retry: 1\nstatus:\nhelp:\nretry: 1\n");
    rig.wait_events("finished", 1);
    assert_eq!(rig.frames("job-0001").len(), 12);
    let calls = rig.render_calls();
    let last = calls.last().expect("calls");
    let s = last.iter().position(|a| a == "-s").expect("-s");
    assert_eq!(
        last[s + 1],
        (on_disk + 1).to_string(),
        "retry renders only the missing frames: {last:?}"
    );
    assert!(rig.read("help.txt").contains("cancel: 12"));
    assert!(rig.log().contains("status.txt rewritten"));
    assert!(rig.log().contains("help.txt written"));
    assert!(
        rig.log_events("rejected")
            .iter()
            .any(|l| l.contains("retry:1 because job 1 is")),
        "{}",
        rig.log()
    );
}

#[test]
fn watch_streams_status_and_completions_are_generated() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "30");
    rig.start();
    rig.append(b"rend:-s 1 -e 4 scenes/shot01.ma\n");
    let mut child = std::process::Command::new(common::client_bin())
        .arg("--folder")
        .arg(&rig.folder)
        .args(["watch", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("watch");
    rig.wait_events("finished", 1);
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    let docs: Vec<droprender_shared::status::StatusDoc> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one status per line"))
        .collect();
    assert!(
        docs.len() >= 2,
        "watch saw the status change: {}",
        docs.len()
    );
    assert!(
        docs.last()
            .is_some_and(|d| d.recent.first().is_some_and(|j| j.state == "finished"))
    );
    let out = rig.client(&["completions", "bash"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("droprender"));
}

#[test]
fn a_job_timeout_stops_the_render_and_retries_render_the_rest() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "60");
    rig.start();
    // Frames take ~0.6 s each: a 2 s timeout stops the first attempt midway.
    rig.append(b"rend:-s 1 -e 6 scenes/shot01.ma timeout=2s retries=3\n");
    rig.wait_events("retrying", 1);
    let r = &rig.log_events("retrying")[0];
    assert!(
        r.contains("timed out: it ran longer than its timeout of 2s"),
        "{r}"
    );
    rig.wait_events("finished", 1);
    assert_eq!(rig.frames("job-0001").len(), 6);
    let calls = rig.render_calls();
    assert!(calls.len() >= 2, "{calls:?}");
    let s = calls[1].iter().position(|a| a == "-s").expect("-s");
    assert_ne!(
        calls[1][s + 1],
        "1",
        "the retry renders only the missing frames"
    );
}

// ----- a tiny HTTP receiver for webhooks -----

#[derive(Clone, Debug)]
struct Request {
    path: String,
    body: String,
}

struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn start() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split(' ').nth(1).unwrap_or("").to_string();
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                g.lock().expect("lock").push(Request {
                    path,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let mut s = s;
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Receiver { url, got }
    }

    fn requests(&self) -> Vec<Request> {
        self.got.lock().expect("lock").clone()
    }
}
