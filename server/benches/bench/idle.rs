//! The idle row: what a node costs while nothing happens (CPU, wakeups,
//! memory), beside the paper's polling server.

use std::time::Duration;

use droprender_testkit::log::LogCount;

use super::rig::render_line;
use super::sys::mib;
use super::{Opts, Row, Verdict, ratio, rig, settle, sys};

pub fn rows(o: &Opts) -> Vec<Row> {
    let (settle_s, window, paper_window) = if o.quick { (3, 10, 3) } else { (12, 30, 5) };
    let l = rig::layout();
    l.write_commands(b"");
    let (mut node, _) = rig::start_node(&l, &[], None);
    // An idle node that has done some work: one render first.
    let mut finished = LogCount::new(&l, "finished");
    l.append(render_line(1, "shot01.ma").as_bytes());
    finished.wait(
        &mut node,
        1,
        Duration::from_secs(30),
        Duration::from_millis(5),
    );
    settle(Duration::from_secs(settle_s));
    let ours = sys::sample_idle(node.pid, Duration::from_secs(window));
    node.stop();
    eprintln!("idle: droprender {ours:?}");

    let l = rig::layout();
    l.write_commands(b"");
    let (paper, _) = rig::start_paper(&l);
    settle(Duration::from_secs(1));
    let theirs = sys::sample_idle(paper.pid, Duration::from_secs(paper_window));
    paper.stop();
    eprintln!("idle: paper {theirs:?}");

    let reconcile = rig::RECONCILE_SECS as f64;
    // At most one wake-up burst per reconcile interval (plus one for a
    // window that starts or ends in the middle of one).
    let max_bursts = (ours.secs / reconcile).ceil() as usize + 1;
    let wake_ok = ours.bursts <= max_bursts && ours.min_gap.is_none_or(|g| g >= reconcile * 0.9);
    vec![
        Row {
            group: "idle",
            measure: format!("idle node CPU ({window} s window)"),
            goal: "< 0.1 % of a core".into(),
            ours: format!("{:.4} %", ours.cpu * 100.0),
            paper: format!("{:.1} %", theirs.cpu * 100.0),
            ratio: ratio(theirs.cpu, ours.cpu),
            met: Verdict::from(ours.cpu < 0.001),
        },
        Row {
            group: "idle",
            measure: format!("wake-ups (reconcile every {reconcile:.0} s)"),
            goal: "none more often than the reconcile interval".into(),
            ours: format!(
                "{} bursts in {:.0} s, min gap {}; {:.2} ctx switches/s",
                ours.bursts,
                ours.secs,
                ours.min_gap.map_or("—".into(), |g| format!("{g:.1} s")),
                ours.switches_per_s()
            ),
            paper: format!(
                "{:.0} ctx switches/s (busy: never sleeps)",
                theirs.switches_per_s()
            ),
            ratio: ratio(theirs.switches_per_s(), ours.switches_per_s()),
            met: Verdict::from(wake_ok),
        },
        Row {
            group: "idle",
            measure: "idle node RSS (peak)".into(),
            goal: "< 15 MB".into(),
            ours: format!("{} ({})", mib(ours.rss_kib), mib(ours.hwm_kib)),
            paper: format!("{} ({})", mib(theirs.rss_kib), mib(theirs.hwm_kib)),
            ratio: ratio(theirs.rss_kib as f64, ours.rss_kib as f64),
            met: Verdict::from(ours.rss_kib * 1024 < 15_000_000),
        },
    ]
}
