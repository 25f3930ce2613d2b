//! The history row: a commands.txt with a long history — first start,
//! appends and a rewrite — and what the node keeps on disk and in memory.

use std::time::Duration;

use droprender_testkit::log::LogCount;

use super::rig::{Stamps, render_line};
use super::sys::{Dist, human_ns, mib, now_ns};
use super::{Opts, Row, Verdict, file_size, ratio, rig, settle, sys};

pub fn rows(o: &Opts) -> Vec<Row> {
    let (lines, appends, paper_appends) = if o.quick {
        (100_000, 5, 2)
    } else {
        (1_000_000, 20, 3)
    };
    let text = rig::history_text(lines);
    eprintln!("history: {lines} lines, {:.1} MB", text.len() as f64 / 1e6);
    let l = rig::layout();
    l.write_commands(&text);
    let (mut node, ready) = rig::start_node(&l, &[], None);
    let first_start = ready - node.started_ns;
    settle(Duration::from_millis(500));
    let (rss_start, hwm_start) = sys::rss_kib(node.pid);
    let mut stamps = Stamps::new(&l);
    let mut finished = LogCount::new(&l, "finished");
    let mut appended = Vec::new();
    let mut lat = Vec::new();
    for i in 0..appends {
        let line = render_line(i as u64 + 1, "shot01.ma");
        let t0 = l.append(line.as_bytes());
        appended.extend_from_slice(line.as_bytes());
        lat.push(stamps.wait(&mut node, i + 1, Duration::from_secs(30)) - t0);
        finished.wait(
            &mut node,
            i + 1,
            Duration::from_secs(30),
            Duration::from_millis(1),
        );
        settle(Duration::from_millis(30));
    }
    let app = Dist::of(lat);
    eprintln!("history: droprender append → spawn {}", app.show());
    // A phone rewrite: the first line deleted, one new line at the end.
    let first_nl = text.iter().position(|b| *b == b'\n').unwrap_or(0);
    let mut rewritten = text[first_nl + 1..].to_vec();
    rewritten.extend_from_slice(&appended);
    rewritten.extend_from_slice(render_line(9999, "shot02.mb").as_bytes());
    let t0 = l.replace("commands.txt", &rewritten);
    let rewrite = stamps.wait(&mut node, appends + 1, Duration::from_secs(120)) - t0;
    finished.wait(
        &mut node,
        appends + 1,
        Duration::from_secs(60),
        Duration::from_millis(5),
    );
    settle(Duration::from_secs(1));
    let (rss_after, hwm_after) = sys::rss_kib(node.pid);
    let snap = file_size(&l.state.join("ledger.snap"));
    let journal = file_size(&l.state.join("journal.log"));
    node.stop();
    eprintln!(
        "history: droprender first start {}, RSS {} (peak {}); rewrite → spawn {}; RSS after {} (peak {}); ledger.snap {} B, journal {} B",
        human_ns(first_start),
        mib(rss_start),
        mib(hwm_start),
        human_ns(rewrite),
        mib(rss_after),
        mib(hwm_after),
        snap,
        journal
    );

    // The paper: the same file, and a LOG.txt that counts all of it as
    // executed (that is how it knows what is new).
    let l = rig::layout();
    l.write_commands(&text);
    std::fs::write(l.folder.join("LOG.txt"), &text).expect("LOG.txt");
    let (mut paper, ready) = rig::start_paper(&l);
    let p_start = ready - paper.started_ns;
    settle(Duration::from_millis(300));
    let log = l.folder.join("LOG.txt");
    let mut stamps = Stamps::new(&l);
    let mut ingest = Vec::new();
    let mut p_spawn = Vec::new();
    let mut appended = Vec::new();
    let mut p_missed = 0;
    for i in 0..paper_appends {
        let before = file_size(&log);
        let started = stamps.poll();
        let line = render_line(i as u64 + 1, "shot01.ma");
        appended.extend_from_slice(line.as_bytes());
        let t0 = l.append(line.as_bytes());
        if !paper.wait_until(
            "the paper to log the line",
            Duration::from_secs(20),
            Duration::from_micros(300),
            || file_size(&log) > before,
        ) {
            p_missed += 1;
            continue;
        }
        ingest.push(now_ns() - t0);
        if paper.wait_until(
            "the paper's renderer to start",
            Duration::from_secs(20),
            Duration::from_micros(300),
            || stamps.poll() > started,
        ) {
            p_spawn.push(stamps.seen.last().copied().unwrap_or(t0) - t0);
        }
    }
    let (p_rss, p_hwm) = sys::rss_kib(paper.pid);
    // The same phone rewrite: the line count does not change, so nothing is new to it.
    let before = file_size(&log);
    let mut rewritten = text[first_nl + 1..].to_vec();
    rewritten.extend_from_slice(&appended);
    rewritten.extend_from_slice(render_line(9999, "shot02.mb").as_bytes());
    l.replace("commands.txt", &rewritten);
    let ingest_d = Dist::of(ingest.clone());
    let wait = Duration::from_nanos(ingest_d.max * 4).max(Duration::from_secs(3));
    settle(wait);
    let p_rewrite_ran = file_size(&log) > before;
    paper.stop();
    let spawn_d = Dist::of(p_spawn);
    eprintln!(
        "history: paper start {}, per-change re-read {}, append → spawn {}, RSS {} (peak {}); rewrite ran: {p_rewrite_ran}; appends missed by its stat loop: {p_missed}",
        human_ns(p_start),
        ingest_d.show(),
        spawn_d.show(),
        mib(p_rss),
        mib(p_hwm)
    );
    let k = lines / 1000;
    vec![
        Row {
            group: "history",
            measure: format!("{k}k-line commands.txt: one appended line → renderer started"),
            goal: "< 5 ms (O(new bytes))".into(),
            ours: format!(
                "p50 {} (p95 {}, max {}, n={})",
                human_ns(app.p50),
                human_ns(app.p95),
                human_ns(app.max),
                app.n
            ),
            paper: format!(
                "{} (re-reads the file: {} of it)",
                human_ns(spawn_d.p50),
                human_ns(ingest_d.p50)
            ),
            ratio: ratio(spawn_d.p50 as f64, app.p50 as f64),
            met: Verdict::from(app.p50 < 5_000_000),
        },
        Row {
            group: "history",
            measure: format!("{k}k lines: whole-file rewrite → its new line's renderer started"),
            goal: "< 2 s".into(),
            ours: human_ns(rewrite),
            paper: format!(
                "{} (counts lines)",
                if p_rewrite_ran {
                    "ran"
                } else {
                    "new line never runs"
                }
            ),
            ratio: String::new(),
            met: Verdict::from(rewrite < 2_000_000_000),
        },
        Row {
            group: "history",
            measure: format!("{k}k lines: first start (history), RSS / peak after start"),
            goal: "memory bounded".into(),
            ours: format!(
                "{}; {} / {}",
                human_ns(first_start),
                mib(rss_start),
                mib(hwm_start)
            ),
            paper: format!("{}; {} / {}", human_ns(p_start), mib(p_rss), mib(p_hwm)),
            ratio: ratio(p_rss as f64, rss_start as f64),
            met: Verdict::Info,
        },
        Row {
            group: "history",
            measure: format!("{k}k lines: RSS / peak after the rewrite; ledger on disk"),
            goal: "no line text kept".into(),
            ours: format!(
                "{} / {}; ledger.snap {:.1} MB = {:.0} B/line",
                mib(rss_after),
                mib(hwm_after),
                snap as f64 / 1e6,
                snap as f64 / lines as f64
            ),
            paper: format!("keeps every line: {}", mib(p_rss)),
            ratio: ratio(p_rss as f64, rss_after as f64),
            met: Verdict::from(snap < (lines as u64) * 40),
        },
    ]
}
