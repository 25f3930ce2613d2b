//! The latency row: an appended line → the renderer's process created, one
//! line at a time on an idle node, beside the paper's server.

use std::time::Duration;

use droprender_testkit::log::LogCount;

use super::rig::{Stamps, render_line};
use super::sys::{Dist, human_ns, now_ns};
use super::{Opts, Row, Verdict, file_size, ratio, rig, settle};

/// Appended line → renderer process started, one line at a time on an idle node.
pub fn rows(o: &Opts) -> Vec<Row> {
    let (n, warm, paper_n) = if o.quick { (40, 3, 3) } else { (250, 5, 6) };
    let l = rig::layout();
    l.write_commands(b"");
    let (mut node, _) = rig::start_node(&l, &[], None);
    let mut stamps = Stamps::new(&l);
    let mut finished = LogCount::new(&l, "finished");
    settle(Duration::from_millis(500));
    let mut lat = Vec::new();
    let mut lat_main = Vec::new();
    for i in 0..n + warm {
        let t0 = l.append(render_line(i as u64 + 1, "shot01.ma").as_bytes());
        let s = stamps.wait(&mut node, i + 1, Duration::from_secs(30));
        if i >= warm {
            lat.push(s.saturating_sub(t0));
            lat_main.push(stamps.main[i].saturating_sub(t0));
        }
        finished.wait(
            &mut node,
            i + 1,
            Duration::from_secs(30),
            Duration::from_millis(1),
        );
        // Let the node finish its status writes: the next line finds it idle.
        settle(Duration::from_millis(20 + rand::random::<u64>() % 20));
    }
    node.stop();
    let ours = Dist::of(lat);
    let ours_main = Dist::of(lat_main);
    eprintln!("latency: droprender, process created: {}", ours.show());
    eprintln!(
        "latency: droprender, simulator's code running: {}",
        ours_main.show()
    );

    // The paper: its render thread looks at the queue every 5 s. Append at
    // a uniformly random moment of that cycle.
    let l = rig::layout();
    l.write_commands(b"");
    let (mut paper, _) = rig::start_paper(&l);
    let mut stamps = Stamps::new(&l);
    let active = l.folder.join("active_rend.txt");
    let mut plat = Vec::new();
    // Lines its stat loop missed: it saw the new mtime before the appended
    // bytes were in the file, read the old content, and will not look again
    // until the next change (the paper's torn-read flaw).
    let mut missed = 0;
    let log = l.folder.join("LOG.txt");
    for i in 0..paper_n {
        settle(Duration::from_millis(rand::random::<u64>() % 5000));
        let started = stamps.poll();
        let before = file_size(&log);
        let t0 = l.append(render_line(i as u64 + 1, "shot01.ma").as_bytes());
        let mut logged = None;
        let ran = paper.wait_until(
            "the paper's renderer to start",
            Duration::from_secs(8),
            Duration::from_micros(300),
            || {
                if logged.is_none() && file_size(&log) > before {
                    logged = Some(now_ns() - t0);
                }
                stamps.poll() > started
            },
        );
        if !ran {
            missed += 1;
            eprintln!("latency: paper sample {i}: not run after 8 s (missed by its stat loop)");
            continue;
        }
        // A line missed before runs now too, ahead of this one: take the last start.
        settle(Duration::from_millis(100));
        stamps.poll();
        let s = stamps.seen.last().copied().unwrap_or(t0);
        eprintln!(
            "latency: paper sample {i}: line read after {}, renderer started after {}",
            logged.map_or("?".into(), human_ns),
            human_ns(s - t0)
        );
        plat.push(s.saturating_sub(t0));
        paper.wait_for(
            "the paper's render to end",
            Duration::from_secs(30),
            Duration::from_millis(2),
            || std::fs::metadata(&active).is_ok_and(|m| m.len() == 0),
        );
    }
    paper.stop();
    let theirs = Dist::of(plat);
    eprintln!("latency: paper {}", theirs.show());
    vec![
        Row {
            group: "latency",
            measure: "appended line → renderer process created, local folder: p50".into(),
            goal: "≤ 5 ms".into(),
            ours: human_ns(ours.p50),
            paper: human_ns(theirs.p50),
            ratio: ratio(theirs.p50 as f64, ours.p50 as f64),
            met: Verdict::from(ours.p50 <= 5_000_000),
        },
        Row {
            group: "latency",
            measure: "… p99".into(),
            goal: "≤ 20 ms".into(),
            ours: human_ns(ours.p99),
            paper: format!("{} (max of {})", human_ns(theirs.max), theirs.n),
            ratio: ratio(theirs.max as f64, ours.p99 as f64),
            met: Verdict::from(ours.p99 <= 20_000_000),
        },
        Row {
            group: "latency",
            measure: "… p95 / max".into(),
            goal: String::new(),
            ours: format!(
                "{} / {} (n={})",
                human_ns(ours.p95),
                human_ns(ours.max),
                ours.n
            ),
            paper: format!(
                "{} / {} (n={}; {missed} more line(s) not run until the next change)",
                human_ns(theirs.p95),
                human_ns(theirs.max),
                theirs.n
            ),
            ratio: String::new(),
            met: Verdict::Info,
        },
        Row {
            group: "latency",
            measure: "… to the simulator's first line of code (adds its own loading): p50 / p99"
                .into(),
            goal: String::new(),
            ours: format!("{} / {}", human_ns(ours_main.p50), human_ns(ours_main.p99)),
            paper: String::new(),
            ratio: String::new(),
            met: Verdict::Info,
        },
    ]
}
