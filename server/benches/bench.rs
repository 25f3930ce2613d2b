//! droprender's benchmark suite: the speed goals, measured against the real
//! `droprender-node` binary, with the paper's server (Bernik & Galetić 2018,
//! ported in `bench/paper.rs`) measured the same way in the same run.
//!
//! ```sh
//! cargo bench -p droprender-node --bench bench                   # full (≈ 4–6 min)
//! cargo bench -p droprender-node --bench bench -- --quick        # smoke (≈ 2 min)
//! cargo bench -p droprender-node --bench bench -- latency idle   # some rows
//! ```
//! Rows: `latency idle history jobs output dropbox`. The table is Markdown (see
//! BENCHMARKS.md); per-sample details go to stderr. `--profile-slow N` runs
//! only the channel's slow path in-process on N lines, for `perf record`.
//!
//! Every renderer is the Render simulator (the node binary linked as
//! `Render`) with `RENDER_SIM_STEP_MS=0` and a one-frame render: it exits as
//! soon as it has written its frame. With `RENDER_SIM_START_STAMP` it stamps
//! two CLOCK_MONOTONIC times when it starts: when its process was created
//! (its main() time minus its CPU and run-queue time so far, from
//! /proc/self/schedstat: the loader's work on the 80 MB simulator binary is
//! not the node's latency) and when its own code began. The bench takes
//! CLOCK_MONOTONIC just before its append(2) of the line, so "append →
//! renderer process created" is measured between two processes on one clock.
//! The creation estimate can only be late (time blocked during exec is not in
//! schedstat): checked against perf's sched:sched_process_fork, it was
//! 0.1–1.8 ms after the real fork. Both numbers are in the table.
//!
//! Each measurement runs in its own temp tree laid out like the tests' rig
//! (both are droprender-testkit's), with the node started as they start it. The
//! machine's other load skews timings: the table's header shows the load
//! average before and after.

#[path = "bench/dropbox.rs"]
mod dropbox;
#[path = "bench/history.rs"]
mod history;
#[path = "bench/idle.rs"]
mod idle;
#[path = "bench/jobs.rs"]
mod jobs;
#[path = "bench/latency.rs"]
mod latency;
#[path = "bench/output.rs"]
mod output;
#[path = "bench/paper.rs"]
mod paper;
#[path = "bench/rig.rs"]
mod rig;
#[path = "bench/sys.rs"]
mod sys;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rig::Stamps;
use sys::{human_ns, now_ns};

/// Whether a row meets its goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Yes,
    No,
    /// Measured, no goal to meet.
    Info,
    /// Could not be measured.
    Unknown,
}

impl From<bool> for Verdict {
    fn from(b: bool) -> Self {
        if b { Verdict::Yes } else { Verdict::No }
    }
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Yes => "yes",
            Verdict::No => "**NO**",
            Verdict::Info => "",
            Verdict::Unknown => "n/a",
        }
    }
}

/// One line of the table.
pub struct Row {
    pub group: &'static str,
    pub measure: String,
    pub goal: String,
    pub ours: String,
    pub paper: String,
    /// How many times better droprender is (paper ÷ droprender).
    pub ratio: String,
    pub met: Verdict,
}

struct Opts {
    quick: bool,
    rows: Vec<String>,
}

const ROWS: [&str; 6] = ["latency", "idle", "history", "jobs", "output", "dropbox"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--paper-server") {
        paper::main(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("--profile-slow") {
        profile_slow(
            args.get(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1_000_000),
        );
        return;
    }
    let mut opts = Opts {
        quick: false,
        rows: Vec::new(),
    };
    for a in &args {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--full" => opts.quick = false,
            // cargo bench passes --bench; a filter word selects rows.
            "--bench" => {}
            r if ROWS.contains(&r) => opts.rows.push(r.to_string()),
            other => {
                eprintln!(
                    "bench: unknown argument {other:?}; use --quick and/or rows: {}",
                    ROWS.join(" ")
                );
                std::process::exit(2);
            }
        }
    }
    if opts.rows.is_empty() {
        opts.rows = ROWS.iter().map(|r| (*r).to_string()).collect();
    }
    check_clock();
    let machine = sys::machine();
    let mode = if opts.quick { "quick" } else { "full" };
    eprintln!(
        "bench: {mode} run on {machine}; node {}",
        droprender_testkit::bins::node().display()
    );
    let started = Instant::now();
    let load_before = sys::loadavg();
    let mut table: Vec<Row> = Vec::new();
    for r in &opts.rows {
        let t = Instant::now();
        eprintln!("bench: --- {r} ---");
        let rows = match r.as_str() {
            "latency" => latency::rows(&opts),
            "idle" => idle::rows(&opts),
            "history" => history::rows(&opts),
            "jobs" => jobs::rows(&opts),
            "output" => output::rows(opts.quick),
            "dropbox" => dropbox::rows(opts.quick),
            _ => Vec::new(),
        };
        eprintln!("bench: {r} took {:.0} s", t.elapsed().as_secs_f64());
        table.extend(rows);
    }
    println!();
    println!(
        "droprender bench ({mode}), {machine}; {:.0} s; load average before {load_before}, after {}",
        started.elapsed().as_secs_f64(),
        sys::loadavg()
    );
    println!();
    println!(
        "| row | measure | goal | droprender | paper's design | paper ÷ droprender | goal met |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for r in &table {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.group,
            r.measure,
            r.goal,
            r.ours,
            r.paper,
            r.ratio,
            r.met.word()
        );
    }
    let missed: Vec<&Row> = table.iter().filter(|r| r.met == Verdict::No).collect();
    println!();
    if missed.is_empty() {
        println!("All goals measured here are met.");
    } else {
        println!("{} goal(s) missed.", missed.len());
    }
}

/// The simulator's stamp and the bench's clock must be the same clock.
fn check_clock() {
    let l = rig::layout();
    let t0 = now_ns();
    let st = Command::new(&l.render)
        .arg("-help")
        .envs(rig::renderer_env(&l))
        .stdout(Stdio::null())
        .status()
        .expect("run the Render simulator");
    let t1 = now_ns();
    assert!(st.success(), "Render -help failed");
    let mut stamps = Stamps::new(&l);
    assert_eq!(
        stamps.poll(),
        1,
        "the simulator wrote one start stamp (RENDER_SIM_START_STAMP)"
    );
    let (start, main) = (stamps.seen[0], stamps.main[0]);
    assert!(
        t0 <= start && start <= main && main <= t1,
        "the simulator's stamps {start} {main} are not between {t0} and {t1}: not CLOCK_MONOTONIC"
    );
    eprintln!(
        "bench: clock check: spawn → process created {}, → simulator's code {}, whole run {}",
        human_ns(start - t0),
        human_ns(main - t0),
        human_ns(t1 - t0)
    );
}

fn settle(d: Duration) {
    std::thread::sleep(d);
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

fn ratio(paper: f64, ours: f64) -> String {
    if ours <= 0.0 {
        return "∞".into();
    }
    let r = paper / ours;
    if r >= 10.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.1}×")
    }
}

/// `--profile-slow N`: the channel's slow path in-process (first start on
/// N lines of history, then a rewrite), for `perf record` without the node's
/// processes around it. Not a table row.
fn profile_slow(n: usize) {
    use droprender_node::channel::Channel;
    use droprender_node::ledger::Ledger;
    use droprender_shared::files::Source;
    use droprender_storage::MemFolder;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let dir = tempfile::tempdir().expect("tmp");
    let text = rig::history_text(n);
    let folder = MemFolder::new();
    folder.put("commands.txt", text.clone());
    let mut ledger = Ledger::open(dir.path()).expect("ledger");
    let mut ch = Channel::new();
    for round in 0..2 {
        let t = Instant::now();
        let plan = rt
            .block_on(ch.scan(&folder, &ledger, &Source::Main, std::time::Instant::now()))
            .expect("scan")
            .expect("plan");
        let scanned = t.elapsed();
        let new = plan.new_lines.len();
        match plan.rebase {
            Some(t) => ledger.rebase(plan.batch, t).expect("rebase"),
            None => ledger.commit(plan.batch).expect("commit"),
        }
        ledger.mark_initialized().expect("init");
        eprintln!(
            "round {round}: scan {:?}, total {:?}, {new} new, rss {:?}",
            scanned,
            t.elapsed(),
            sys::rss_kib(std::process::id())
        );
        let first_nl = text.iter().position(|b| *b == b'\n').unwrap_or(0);
        let mut r = text[first_nl + 1..].to_vec();
        r.extend_from_slice(b"rend:-s 1 -e 1 scenes/x.ma\n");
        folder.put("commands.txt", r);
    }
}
