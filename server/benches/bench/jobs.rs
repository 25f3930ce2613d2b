//! The jobs row: the node's cost per job beside the renderer run alone, on a
//! stream of one-frame jobs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use droprender_testkit::layout::Layout;
use droprender_testkit::log::LogCount;

use super::rig::{Stamps, render_line};
use super::sys::{Dist, human_ns, mib, ms, now_ns};
use super::{Opts, Row, Verdict, ratio, rig, settle, sys};

/// Runs the simulator directly with the argv the node used, as the node
/// does (stdout and stderr piped and read), and returns the mean wall time.
fn renderer_alone(l: &Layout, argvs: &[Vec<String>]) -> u64 {
    let scratch = l.dir.path().join("direct");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let env = [
        ("RENDER_SIM_STEP_MS", "0".to_string()),
        (
            "RENDER_SIM_START_STAMP",
            scratch.join("stamps").display().to_string(),
        ),
        (
            "RENDER_SIM_ARGV_LOG",
            scratch.join("argv").display().to_string(),
        ),
    ];
    let t = now_ns();
    for argv in argvs {
        let out = Command::new(&l.render)
            .args(argv)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("DROPRENDER_JOB", "bench:0")
            .stdin(Stdio::null())
            .output()
            .expect("run Render");
        assert!(out.status.success(), "Render {argv:?}: {out:?}");
    }
    (now_ns() - t) / argvs.len().max(1) as u64
}

pub fn rows(o: &Opts) -> Vec<Row> {
    let (n, direct, paper_n) = if o.quick {
        (500, 100, 200)
    } else {
        (10_000, 500, 1000)
    };
    let l = rig::layout();
    l.write_commands(b"");
    // The renderer alone, before the node runs (the machine's load drifts;
    // the same is measured again after, with the node's own argv).
    let pre: Vec<Vec<String>> = (1..=direct / 2)
        .map(|i| {
            let out = l.output.join("direct");
            let scene = l.projects.join("scenes/shot01.ma");
            [
                "-r",
                "sw",
                "-rd",
                &out.display().to_string(),
                "-s",
                &i.to_string(),
                "-e",
                &i.to_string(),
                &scene.display().to_string(),
            ]
            .map(str::to_string)
            .to_vec()
        })
        .collect();
    let alone_before = renderer_alone(&l, &pre);
    let (mut node, _) = rig::start_node(&l, &[], None);
    settle(Duration::from_millis(500));
    let mut batch = String::new();
    for i in 1..=n {
        batch.push_str(&render_line(i as u64, "shot01.ma"));
    }
    let mut stamps = Stamps::new(&l);
    let mut finished = LogCount::new(&l, "finished");
    let t0 = l.append(batch.as_bytes());
    let first = stamps.wait(&mut node, 1, Duration::from_secs(120)) - t0;
    let mut last_report = Instant::now();
    node.wait_for(
        &format!("{n} finished jobs"),
        Duration::from_secs(3600),
        Duration::from_millis(50),
        || {
            let k = finished.poll();
            if last_report.elapsed() > Duration::from_secs(15) {
                eprintln!("jobs: {k}/{n} finished");
                last_report = Instant::now();
            }
            k >= n
        },
    );
    let total = now_ns() - t0;
    let (rss, hwm) = sys::rss_kib(node.pid);
    node.stop();
    stamps.poll();
    let between = gaps(&stamps.seen, &rig::ends(&l), None);
    let argvs: Vec<Vec<String>> = std::fs::read_to_string(&l.argv_log)
        .unwrap_or_default()
        .lines()
        .filter_map(|s| serde_json::from_str(s).ok())
        .collect();
    assert_eq!(argvs.len(), n, "one Render run per job");
    let step = (n / (direct / 2).max(1)).max(1);
    let sample: Vec<Vec<String>> = argvs.iter().step_by(step).cloned().collect();
    let alone_after = renderer_alone(&l, &sample);
    let alone = (alone_before + alone_after) / 2;
    let per_job = total / n as u64;
    let overhead = per_job.saturating_sub(alone);
    eprintln!(
        "jobs: droprender {n} jobs in {}; first start {}; {} per job, renderer alone {} (before {}, after {}; {} runs); RSS at the end {} (peak {})",
        human_ns(total),
        human_ns(first),
        human_ns(per_job),
        human_ns(alone),
        human_ns(alone_before),
        human_ns(alone_after),
        pre.len() + sample.len(),
        mib(rss),
        mib(hwm)
    );

    // The paper: the same lines, fewer of them. Its render thread runs the
    // queue back to back; measured from its first renderer start, so its
    // one 5 s poll sleep is not spread over the jobs.
    let l = rig::layout();
    l.write_commands(b"");
    let (mut paper, _) = rig::start_paper(&l);
    let mut batch = String::new();
    for i in 1..=paper_n {
        batch.push_str(&render_line(i as u64, "shot01.ma"));
    }
    let mut stamps = Stamps::new(&l);
    let active = l.folder.join("active_rend.txt");
    l.append(batch.as_bytes());
    // A torn read (its stat sees the new mtime while the bytes are still
    // being copied in) makes it run a prefix of the lines, or none, and miss
    // the rest until the next change. When no render has started for 7 s,
    // the bench makes that next change (a comment line), at most twice.
    let mut count = 0;
    let mut pokes = 0;
    let mut last_new = Instant::now();
    loop {
        let c = stamps.poll();
        if c > count {
            count = c;
            last_new = Instant::now();
        }
        if count >= paper_n {
            break;
        }
        if last_new.elapsed() > Duration::from_secs(7) {
            if pokes == 2 {
                break;
            }
            pokes += 1;
            eprintln!(
                "jobs: the paper has run {count} of {paper_n}: appending a comment to make it look again"
            );
            l.append(b"# bench: a later edit\n");
            last_new = Instant::now();
        }
        assert!(paper.alive(), "the paper's server died");
        std::thread::sleep(Duration::from_millis(1));
    }
    if count > 0 {
        paper.wait_for(
            "the paper's last render to end",
            Duration::from_secs(60),
            Duration::from_millis(1),
            || std::fs::metadata(&active).is_ok_and(|m| m.len() == 0),
        );
    }
    let p_ran = count;
    paper.stop();
    stamps.poll();
    // Its 5 s poll sleep and the waits for a later edit are not between-job work.
    let p_between = gaps(&stamps.seen, &rig::ends(&l), Some(1_000_000_000));
    // Per job: start-to-start intervals while it runs the queue back to
    // back (an interval over 1 s is its 5 s sleep or a wait for the poke).
    let gaps: Vec<u64> = stamps
        .seen
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .filter(|g| *g < 1_000_000_000)
        .collect();
    let p_per_job = gaps.iter().sum::<u64>() / gaps.len().max(1) as u64;
    let p_argvs: Vec<Vec<String>> = std::fs::read_to_string(&l.argv_log)
        .unwrap_or_default()
        .lines()
        .filter_map(|s| serde_json::from_str(s).ok())
        .collect();
    let p_sample: Vec<Vec<String>> = p_argvs
        .iter()
        .filter(|a| a.len() == 7)
        .step_by((paper_n / direct).max(1))
        .cloned()
        .collect();
    // The paper runs the simulator from the projects dir (relative scene).
    let p_alone = {
        let t = now_ns();
        for argv in &p_sample {
            let st = Command::new(&l.render)
                .args(argv)
                .current_dir(&l.projects)
                .env("RENDER_SIM_STEP_MS", "0")
                .env("RENDER_SIM_START_STAMP", l.dir.path().join("direct-stamps"))
                .env("RENDER_SIM_ARGV_LOG", l.dir.path().join("direct-argv"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .expect("Render");
            assert!(st.success(), "Render {argv:?}: {st}");
        }
        (now_ns() - t) / p_sample.len().max(1) as u64
    };
    let p_overhead = p_per_job.saturating_sub(p_alone);
    eprintln!(
        "jobs: paper ran {p_ran} of {paper_n} jobs ({pokes} later edit(s) needed); {} per job (start to start), renderer alone {}",
        human_ns(p_per_job),
        human_ns(p_alone)
    );
    let mut rows = vec![
        Row {
            group: "jobs",
            measure: format!("{n} one-frame jobs in one append: overhead per job"),
            goal: "< 5 ms".into(),
            ours: format!(
                "{} ({} per job − {} renderer alone)",
                human_ns(overhead),
                human_ns(per_job),
                human_ns(alone)
            ),
            paper: format!(
                "{} ({p_ran} of {paper_n} jobs ran{}: {} − {})",
                human_ns(p_overhead),
                if pokes > 0 {
                    format!(", {pokes} more edit(s) needed after torn reads")
                } else {
                    String::new()
                },
                human_ns(p_per_job),
                human_ns(p_alone)
            ),
            ratio: ratio(p_overhead as f64, overhead as f64),
            met: Verdict::from(overhead < 5_000_000),
        },
        Row {
            group: "jobs",
            measure: format!("{n} jobs: append → first renderer started; all done"),
            goal: String::new(),
            ours: format!("{}; {:.1} s", human_ns(first), ms(total) / 1e3),
            paper: String::new(),
            ratio: String::new(),
            met: Verdict::Info,
        },
    ];
    let shown = |(mean, d): &(u64, Dist)| {
        format!(
            "mean {} (p50 {}, p95 {}, n={})",
            human_ns(*mean),
            human_ns(d.p50),
            human_ns(d.p95),
            d.n
        )
    };
    if let Some(g) = &between {
        eprintln!(
            "jobs: between renderers (exit → next process created), same run: mean {}, {}",
            human_ns(g.0),
            g.1.show()
        );
        rows.insert(
            1,
            Row {
                group: "jobs",
                measure: format!(
                    "{n} jobs, same run: one renderer's exit → the next one's process created"
                ),
                goal: String::new(),
                ours: shown(g),
                paper: p_between.as_ref().map_or_else(String::new, shown),
                ratio: p_between
                    .as_ref()
                    .map_or_else(String::new, |p| ratio(p.0 as f64, g.0 as f64)),
                met: Verdict::Info,
            },
        );
    }
    rows
}

/// The node's time between jobs, measured inside the run: from each
/// renderer's last stamp before exiting to the next renderer's creation
/// (both `CLOCK_MONOTONIC`, from the simulator); their mean and spread.
/// Unlike "per job − renderer alone", the load cannot drift between the
/// two halves of it. It counts the renderer's own exit (unmapping the 80 MB
/// simulator) against the node.
fn gaps(
    starts: &[u64],
    ends_file: &std::path::Path,
    drop_over: Option<u64>,
) -> Option<(u64, Dist)> {
    let ends: Vec<u64> = std::fs::read_to_string(ends_file)
        .ok()?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if ends.len() != starts.len() || starts.len() < 2 {
        eprintln!(
            "jobs: {} start and {} end stamps: no in-run split",
            starts.len(),
            ends.len()
        );
        return None;
    }
    let g: Vec<u64> = starts[1..]
        .iter()
        .zip(&ends)
        .map(|(s, e)| s.saturating_sub(*e))
        .filter(|g| drop_over.is_none_or(|d| *g < d))
        .collect();
    if g.is_empty() {
        return None;
    }
    let mean = g.iter().sum::<u64>() / g.len() as u64;
    Some((mean, Dist::of(g)))
}
