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
use std::time::{Duration, Instant};

use common::dropbox::DbxRig;
use common::emulator::{concurrently, fast_longpolls};
use common::layout::{LayoutSpec, NO_BLENDER, NODE_CONFIG};
use dropbox_emulator::{FaultConfig, FaultKind};
use droprender_shared::status::StatusDoc;
use droprender_storage::Folder;
use reliability::{accepted_frames, bad_log_lines, invoked_frames, long};

/// An emulator and a node on it (one scene, no Blender probe), both
/// stopped when dropped; its waits look every 20 ms.
fn rig() -> DbxRig {
    let mut dbx = DbxRig::with(
        fast_longpolls(),
        LayoutSpec {
            config: format!("{NODE_CONFIG}{NO_BLENDER}"),
            scenes: &["shot01.ma"],
            settled: false,
            ..LayoutSpec::default()
        },
    );
    dbx.poll = Duration::from_millis(20);
    dbx
}

fn under_faults(percent: u32) {
    let t0 = Instant::now();
    let n: u64 = if long() { 600 } else { 60 };
    let clients: u64 = 3;
    let mut fig = reliability::figures(&format!("dropbox-{percent}"));
    let mut dbx = rig();
    dbx.emu
        .put_file("/Maya/commands.txt", &b""[..])
        .expect("seed commands.txt");
    dbx.start_within(Duration::from_secs(60));
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
    let folders: Vec<_> = (0..clients).map(|_| dbx.folder()).collect();
    let per = n / clients;
    let failed_appends: u64 = dbx
        .emu
        .rt
        .block_on(concurrently(folders, move |c, f| async move {
            let mut failed = 0;
            for i in 0..per {
                let k = c as u64 * per + i + 1;
                let line = format!("rend:-s {k} -e {k} scenes/shot01.ma\n");
                if f.append("commands.txt", line.into_bytes()).await.is_err() {
                    failed += 1;
                }
            }
            failed
        }))
        .into_iter()
        .sum();
    let appended_in = t0.elapsed();
    let n = per * clients;
    let ks: Vec<u64> = (1..=n).collect();
    dbx.wait_for(
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
    let node = dbx.node();
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
