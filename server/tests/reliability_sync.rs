//! A real sync engine between the laptop and the render node: two Syncthing
//! daemons on loopback keep a "laptop" folder and a "render node" folder in
//! sync. `droprender --folder <laptop> rend …` appends on the laptop side,
//! the node (on the render-node folder) runs it, and status files flow
//! back. Then both sides edit commands.txt at the same moment: Syncthing
//! keeps one version and makes a `commands.sync-conflict-…` copy of the
//! other (Dropbox's promise, in Syncthing's words), and every line still
//! runs exactly once.
//!
//! Needs `syncthing` (skips loudly without it, fails with
//! DROPRENDER_REQUIRE_TOOLS=1). `DROPRENDER_LONG=1` runs more rounds.
//! Figures go to stderr and `target/reliability/sync.txt`.

// Linux (Unix): the Syncthing rig and SIGTERM stops; server/tests/portable runs on Windows too.
#![cfg(unix)]

mod common;
#[path = "common/reliability.rs"]
mod reliability;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Rig, client_bin, require_tool, syncthing};
use droprender_shared::status::StatusDoc;
use reliability::{accepted_frames, bad_log_lines, invoked_frames, long, pct};

fn send(laptop: &Path, k: u64) {
    let k = k.to_string();
    let out = Command::new(client_bin())
        .env_remove("DROPRENDER_FOLDER")
        .arg("--folder")
        .arg(laptop)
        .args(["rend", "-s", &k, "-e", &k, "scenes/shot01.ma"])
        .output()
        .expect("run the client");
    assert!(
        out.status.success(),
        "droprender rend: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn conflict_copies(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("commands.sync-conflict-") && n.ends_with(".txt"))
        .collect()
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn status_of(dir: &Path) -> Option<StatusDoc> {
    serde_json::from_str(&read(dir.join("status.json"))).ok()
}

/// True when the laptop's status.json shows the job for frame `k` finished.
fn finished_on(dir: &Path, k: u64) -> bool {
    let needle = format!("-s {k} -e {k} ");
    status_of(dir).is_some_and(|s| {
        s.recent
            .iter()
            .any(|j| j.state == "finished" && j.line.contains(&needle))
    })
}

#[test]
fn syncthing_between_laptop_and_node_runs_every_line_once() {
    let Some(bin) = require_tool("syncthing") else {
        return;
    };
    let (rounds, conflict_rounds) = if long() { (20, 10) } else { (4, 2) };
    let mut fig = reliability::figures("sync");
    let version = Command::new(&bin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    fig.line(format!(
        "{version}; folder: fsWatcherDelayS 1, rescanIntervalS 2, maxConflicts 10"
    ));

    let mut rig = Rig::new();
    let t0 = Instant::now();
    std::fs::write(
        &rig.config,
        "reconcile_secs = 5\ngrace_secs = 3\n[renderers.blender]\nprogram = \"/nonexistent/blender\"\n",
    )
    .expect("config");
    let laptop = rig.dir.path().join("laptop");
    let pair = syncthing::Pair::start(&bin, rig.dir.path(), &laptop, &rig.folder, 10);
    fig.line(format!(
        "daemons connected after {:.1} s (laptop gui 127.0.0.1:{}, node gui 127.0.0.1:{})",
        t0.elapsed().as_secs_f64(),
        pair.laptop.gui,
        pair.node.gui
    ));
    rig.start();
    let t = Instant::now();
    rig.wait_for(
        "the node's status to reach the laptop",
        Duration::from_secs(60),
        &mut || status_of(&laptop).is_some(),
    );
    fig.line(format!(
        "node's first status.json on the laptop after {:.2} s",
        t.elapsed().as_secs_f64()
    ));

    // ---- latency: one command at a time through the sync engine ----
    let mut to_render = Vec::new();
    let mut to_laptop = Vec::new();
    let mut ks: Vec<u64> = Vec::new();
    for i in 0..rounds {
        let k = 100 + i;
        let calls = invoked_frames(&rig.argv_log).len();
        let t = Instant::now();
        send(&laptop, k);
        ks.push(k);
        rig.wait_for(
            "the render to start on the node",
            Duration::from_secs(60),
            &mut || invoked_frames(&rig.argv_log).len() > calls,
        );
        to_render.push(t.elapsed());
        rig.wait_for(
            "the finished job to show in the laptop's status.json",
            Duration::from_secs(60),
            &mut || finished_on(&laptop, k),
        );
        to_laptop.push(t.elapsed());
    }
    to_render.sort();
    to_laptop.sort();
    fig.line(format!(
        "laptop `droprender rend` -> Render started on the node: median {:.2} s, max {:.2} s ({rounds} commands)",
        pct(&to_render, 50).as_secs_f64(),
        pct(&to_render, 100).as_secs_f64()
    ));
    fig.line(format!(
        "laptop `droprender rend` -> `finished` in the laptop's status.json: median {:.2} s, max {:.2} s",
        pct(&to_laptop, 50).as_secs_f64(),
        pct(&to_laptop, 100).as_secs_f64()
    ));

    // ---- simultaneous edits on both sides ----
    let mut copies_seen: BTreeSet<String> = BTreeSet::new();
    let mut conflict_latency = Vec::new();
    for c in 0..conflict_rounds {
        let (k_laptop, k_node) = (200 + 2 * c, 201 + 2 * c);
        let before = conflict_copies(&rig.folder).len() + conflict_copies(&laptop).len();
        // The render box's own edit (someone at the box, or a phone's
        // upload landing on that side) and the laptop's, at the same moment,
        // within Syncthing's 1 s watcher delay. The later edit's version
        // wins and the other becomes the conflict copy: alternate which side
        // edits last, so both the node's and the laptop's version lose.
        let t = Instant::now();
        let node_edit =
            || rig.append(format!("rend:-s {k_node} -e {k_node} scenes/shot01.ma\n").as_bytes());
        if c % 2 == 0 {
            node_edit();
            send(&laptop, k_laptop);
        } else {
            send(&laptop, k_laptop);
            std::thread::sleep(Duration::from_millis(50));
            node_edit();
        }
        ks.extend([k_laptop, k_node]);
        rig.wait_for("a sync-conflict copy", Duration::from_secs(60), &mut || {
            conflict_copies(&rig.folder).len() + conflict_copies(&laptop).len() > before
        });
        conflict_latency.push(t.elapsed());
        rig.wait_for("both lines rendered", Duration::from_secs(60), &mut || {
            let inv = invoked_frames(&rig.argv_log);
            inv.contains(&k_laptop) && inv.contains(&k_node)
        });
        // Both sides converge: same commands.txt, same conflict copies.
        rig.wait_for(
            "the two folders to converge",
            Duration::from_secs(60),
            &mut || {
                read(laptop.join("commands.txt")) == read(rig.folder.join("commands.txt"))
                    && conflict_copies(&laptop) == conflict_copies(&rig.folder)
            },
        );
        copies_seen.extend(conflict_copies(&rig.folder));
    }

    // ---- accounting, once everything has flowed back ----
    rig.wait_for(
        "the node idle with every command finished, as the laptop sees it",
        Duration::from_secs(60),
        &mut || {
            // (status.json lists only the last few jobs: count LOG.txt.)
            rig.log_events("finished").len() >= ks.len()
                && status_of(&laptop).is_some_and(|s| s.state == "idle")
                && read(laptop.join("LOG.txt")) == rig.log()
        },
    );
    let mut accepted: BTreeMap<u64, usize> = BTreeMap::new();
    for (_, k) in accepted_frames(&rig.log()) {
        *accepted.entry(k).or_default() += 1;
    }
    let mut invoked: BTreeMap<u64, usize> = BTreeMap::new();
    for k in invoked_frames(&rig.argv_log) {
        *invoked.entry(k).or_default() += 1;
    }
    let (mut once, mut lost, mut dup) = (0, Vec::new(), Vec::new());
    for k in &ks {
        let a = accepted.get(k).copied().unwrap_or(0);
        let i = invoked.get(k).copied().unwrap_or(0);
        match (a, i) {
            (1, 1) => once += 1,
            (0, _) | (_, 0) => lost.push(*k),
            _ => dup.push(*k),
        }
    }
    let copy_lines: usize = copies_seen
        .iter()
        .map(|n| {
            read(rig.folder.join(n))
                .lines()
                .filter(|l| l.starts_with("rend:"))
                .count()
        })
        .sum();
    let from_copies = rig
        .log_events("accepted")
        .iter()
        .filter(|l| l.contains("sync-conflict"))
        .count();
    conflict_latency.sort();
    fig.line(format!(
        "simultaneous edits: {conflict_rounds} rounds -> {} sync-conflict copies (first seen after median {:.2} s); {copy_lines} command lines in them, {from_copies} of which only a copy had (run from the copy)",
        copies_seen.len(),
        pct(&conflict_latency, 50).as_secs_f64()
    ));
    fig.line(format!(
        "lines: {}, executed once: {once}, lost: {}, duplicated: {}",
        ks.len(),
        lost.len(),
        dup.len()
    ));
    let out = Command::new(client_bin())
        .env_remove("DROPRENDER_FOLDER")
        .arg("--folder")
        .arg(&laptop)
        .args(["status", "--json"])
        .output()
        .expect("client status");
    let st: StatusDoc = serde_json::from_slice(&out.stdout).expect("laptop status --json");
    fig.line(format!(
        "laptop `droprender status --json`: state {}, {} recent jobs; LOG.txt identical on both sides ({} lines)",
        st.state,
        st.recent.len(),
        rig.log().lines().count()
    ));
    fig.line(format!("wall time: {:.1} s", t0.elapsed().as_secs_f64()));

    assert!(
        lost.is_empty() && dup.is_empty(),
        "lost {lost:?}, duplicated {dup:?}\n--- node LOG.txt ---\n{}\n--- commands.txt ---\n{}",
        rig.log(),
        read(rig.folder.join("commands.txt"))
    );
    assert!(
        copies_seen.len() as u64 >= conflict_rounds,
        "a conflict copy each round"
    );
    assert!(
        from_copies > 0,
        "a line only a conflict copy had ran from it"
    );
    assert!(bad_log_lines(&rig.log()).is_empty());
    assert!(rig.stop().success());
    drop(pair);
}
