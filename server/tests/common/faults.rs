//! The fault suite's rig: a node per test, numbered render lines, and the
//! tallies (frames done, accepted, duplicated) each fault test ends with.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::common::Rig;
use super::reliability::{
    self, Figures, accepted_frames, bad_log_lines, frames_in, invoked_frames, long, read_ledger,
    whole_png,
};

/// How many fault/recover rounds each test runs.
pub fn rounds() -> u64 {
    if long() { 10 } else { 1 }
}

/// A rig whose node reconciles every second (recovery without a file event
/// waits for the reconcile), without the Blender version probe.
pub fn rig() -> Rig {
    let mut rig = Rig::new();
    std::fs::write(
        &rig.config,
        "reconcile_secs = 1\ngrace_secs = 3\n[renderers.blender]\nprogram = \"/nonexistent/blender\"\n",
    )
    .expect("config");
    rig.set_env("RENDER_SIM_STEP_MS", "1");
    rig
}

pub fn line(k: u64) -> String {
    format!("rend:-s {k} -e {k} scenes/shot01.ma\n")
}

/// Appends through `dir` (the folder, or the path a sync engine writes through).
pub fn append_in(dir: &Path, k: u64) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("commands.txt"))
        .expect("open commands.txt");
    f.write_all(line(k).as_bytes()).expect("append");
}

/// Whole frames on disk, by K.
pub fn frames_done(rig: &Rig) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for d in std::fs::read_dir(&rig.output)
        .into_iter()
        .flatten()
        .flatten()
    {
        for (k, p) in frames_in(&d.path()) {
            if whole_png(&p) {
                *out.entry(k).or_default() += 1;
            }
        }
    }
    out
}

pub fn wait_all_rendered(rig: &Rig, ks: &[u64], timeout: Duration) {
    rig.wait_for("every command rendered", timeout, &mut || {
        let done = frames_done(rig);
        ks.iter().all(|k| done.contains_key(k))
    });
}

/// Exactly-once tally: (ran once, lost, duplicated). Once means: one job
/// in the ledger, one Render invocation (no crash here, so no resume), one
/// frame on disk, and at most one `accepted` LOG line.
pub fn tally(rig: &Rig, ks: &[u64]) -> (usize, Vec<u64>, Vec<u64>) {
    let view = read_ledger(&rig.state);
    let mut jobs: BTreeMap<u64, usize> = BTreeMap::new();
    for id in view.jobs.keys() {
        if let Some(k) = view.job_line(*id).and_then(reliability::frame_of_line) {
            *jobs.entry(k).or_default() += 1;
        }
    }
    let mut calls: BTreeMap<u64, usize> = BTreeMap::new();
    for k in invoked_frames(&rig.argv_log) {
        *calls.entry(k).or_default() += 1;
    }
    let mut logged: BTreeMap<u64, usize> = BTreeMap::new();
    for (_, k) in accepted_frames(&rig.log()) {
        *logged.entry(k).or_default() += 1;
    }
    let frames = frames_done(rig);
    let (mut once, mut lost, mut dup) = (0, Vec::new(), Vec::new());
    for k in ks {
        let n = |m: &BTreeMap<u64, usize>| m.get(k).copied().unwrap_or(0);
        if n(&jobs) > 1 || n(&calls) > 1 || n(&frames) > 1 || n(&logged) > 1 {
            dup.push(*k);
        } else if n(&jobs) == 0 || n(&calls) == 0 || n(&frames) == 0 {
            lost.push(*k);
        } else {
            once += 1;
        }
    }
    (once, lost, dup)
}

/// Waits until every K is rendered, its end recorded, and the node idle.
pub fn wait_idle(rig: &Rig, ks: &[u64]) {
    wait_all_rendered(rig, ks, Duration::from_secs(30));
    rig.wait_until("the node to be idle", || {
        rig.log_events("finished").len() >= ks.len()
            && serde_json::from_str::<droprender_shared::status::StatusDoc>(
                &rig.read("status.json"),
            )
            .is_ok_and(|s| s.state == "idle" && s.queued == 0)
    });
}

pub fn node_alive(rig: &Rig) -> bool {
    reliability::alive(rig.node_pid() as i32)
}

pub fn no_panic(rig: &Rig) {
    let e = rig.stderr();
    assert!(!e.contains("panicked"), "the node panicked:\n{e}");
}

/// The first line of `text` that contains `needle`.
pub fn quote(text: &str, needle: &str) -> String {
    text.lines()
        .find(|l| l.contains(needle))
        .map(|l| {
            // Drop tracing's ANSI colours and timestamp.
            let plain: String = strip_ansi(l);
            plain
                .split_once("droprender_node")
                .map_or(plain.clone(), |(_, r)| r.to_string())
                .trim_start_matches(|c: char| c != ' ')
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

pub fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in s.chars() {
        match (esc, c) {
            (false, '\u{1b}') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

pub fn report(fig: &mut Figures, rig: &Rig, ks: &[u64]) {
    let (once, lost, dup) = tally(rig, ks);
    fig.line(format!(
        "commands: {}, executed once: {once}, lost: {}, duplicated: {}",
        ks.len(),
        lost.len(),
        dup.len()
    ));
    let bad = bad_log_lines(&rig.log());
    assert!(bad.is_empty(), "torn LOG lines: {bad:?}");
    assert!(
        lost.is_empty() && dup.is_empty(),
        "lost {lost:?} duplicated {dup:?}\n--- LOG.txt ---\n{}\n--- stderr ---\n{}",
        rig.log(),
        rig.stderr()
    );
    no_panic(rig);
}

/// Fills the file system under `dir` with a file; returns its path.
pub fn fill(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("filler");
    let mut f = std::fs::File::create(&p).expect("filler");
    let chunk = vec![0u8; 4096];
    loop {
        match f.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = f.sync_all();
    p
}
