//! Crash testing, after SQLite's: a workload of render commands (each with
//! its own frame K) and `progress:` lines, and SIGKILL of the node at
//! random points — right after a burst of appends, during start-up and
//! recovery, while it journals, spawns, writes status files and renders —
//! with a restart after every kill. At the end every command ran exactly
//! once: each K was accepted by exactly one job, its frame is on disk and
//! whole, no finished frame was rendered again, no renderer outlived the
//! restart that followed its node's death, and status.json / status.txt
//! were whole every time anyone looked, including right after each kill.
//!
//! Bounded by default; `DROPRENDER_LONG=1` runs more kills and commands,
//! `DROPRENDER_SEED=n` picks another schedule. Figures go to stderr and
//! `target/reliability/crash.txt`.

// Linux (Unix): SIGTERM stops; server/tests/portable runs on Windows too.
#![cfg(unix)]

mod common;
#[path = "common/reliability.rs"]
mod reliability;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Rig, alive};
use droprender_shared::logline::LogLine;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reliability::{
    accepted_frames, bad_log_lines, check_status_files, frame_of_line, frames_in, invoked_frames,
    long, pct, read_ledger, renderers, seed, whole_png,
};

/// What the node was doing when it was killed, judged from what it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// The journal's last record is torn: killed inside the journal write.
    JournalWrite,
    /// A status temp file was left behind: killed inside an atomic status write.
    StatusWrite,
    /// The new incarnation had not yet logged that it started: killed while
    /// killing leftovers, opening/compacting the ledger, recovering, scanning.
    Startup,
    /// A job is in the ledger but its `accepted` LOG line is not in LOG.txt:
    /// killed after the journal fsync, before the LOG append.
    JournalToLog,
    /// A job is `running` in the ledger without a recorded renderer pid:
    /// killed while spawning the renderer.
    Spawn,
    /// Appended lines not yet in the journal: killed while reading/deciding.
    Ingest,
    /// A renderer was running.
    Render,
    /// None of the above: waiting for work.
    Idle,
}

/// When a kill fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Trigger {
    /// After a random delay.
    Delay,
    /// The moment a new status temp file appears (inside an atomic write).
    StatusWrite,
    /// The moment journal.log grows (inside a journal append and its fsync).
    JournalWrite,
}

impl Phase {
    fn describe(self) -> &'static str {
        match self {
            Phase::JournalWrite => "journal write (torn record, or killed as it grew)",
            Phase::StatusWrite => "status write (a status temp file left behind)",
            Phase::Startup => "start-up (leftovers, ledger replay/compaction, recovery)",
            Phase::JournalToLog => "after the journal fsync, before the LOG.txt append",
            Phase::Spawn => "spawn (job running in the ledger, no renderer pid yet)",
            Phase::Ingest => "ingest (lines appended, not yet journaled)",
            Phase::Render => "render (a renderer was running)",
            Phase::Idle => "idle (waiting for work)",
        }
    }
}

fn is_started_line(l: &LogLine) -> bool {
    l.event.word() == "node" && l.text.contains(" started on ")
}

fn count_started(log: &str) -> usize {
    log.lines()
        .filter_map(LogLine::parse)
        .filter(is_started_line)
        .count()
}

fn node_temp_files(folder: &Path) -> BTreeSet<String> {
    std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".droprender-") && n.ends_with(".tmp"))
        .collect()
}

/// Every whole frame on disk: K → job dirs holding it.
fn whole_frames(output: &Path) -> BTreeMap<u64, Vec<String>> {
    let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for d in std::fs::read_dir(output).into_iter().flatten().flatten() {
        let name = d.file_name().to_string_lossy().into_owned();
        for (k, p) in frames_in(&d.path()) {
            if whole_png(&p) {
                out.entry(k).or_default().push(name.clone());
            }
        }
    }
    out
}

/// Log-uniform in [lo, hi].
fn log_uniform(rng: &mut StdRng, lo: Duration, hi: Duration) -> Duration {
    let (a, b) = (lo.as_secs_f64().ln(), hi.as_secs_f64().ln());
    Duration::from_secs_f64(rng.random_range(a..=b).exp())
}

#[test]
fn sigkill_at_random_points_loses_and_duplicates_nothing() {
    let t0 = Instant::now();
    let (n_cmds, n_kills): (u64, usize) = if long() { (400, 1200) } else { (60, 110) };
    let seed = seed(20_261_122);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut fig = reliability::figures("crash");
    fig.line(format!(
        "seed {seed} (DROPRENDER_SEED), {n_kills} kills planned, {n_cmds} render commands"
    ));

    let mut rig = Rig::new();
    // No Blender version probe at each of the many starts (it costs a core
    // for half a second where Blender is installed).
    rig.configure("[renderers.blender]\nprogram = \"/nonexistent/blender\"");
    // About 80 ms a frame: long enough to be killed in the middle of one.
    rig.set_env("RENDER_SIM_STEP_MS", "8");
    rig.start();
    let folder = rig.folder.clone();
    let state = rig.state.clone();
    let output = rig.output.clone();
    let argv_log = rig.argv_log.clone();

    // The workload: one frame K per command, in random order, with a
    // `progress:` after about every tenth.
    let mut ks: Vec<u64> = (1..=n_cmds).collect();
    ks.shuffle(&mut rng);
    let mut workload: std::collections::VecDeque<String> = Default::default();
    let mut n_progress = 0u64;
    for (i, k) in ks.iter().enumerate() {
        workload.push_back(format!("rend:-s {k} -e {k} scenes/shot01.ma"));
        if i % 10 == 9 {
            workload.push_back("progress:".into());
            n_progress += 1;
        }
    }

    // Status files, checked continuously by a reader, like a phone would.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let bad: Arc<Mutex<Vec<String>>> = Arc::default();
    let checker = {
        let (stop, reads, bad, folder) = (stop.clone(), reads.clone(), bad.clone(), folder.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match check_status_files(&folder) {
                    Ok(true) => {
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(false) => {}
                    Err(e) => bad.lock().expect("lock").push(e),
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    let mut jobs_seen: BTreeMap<u64, String> = BTreeMap::new();
    let mut phases: BTreeMap<Phase, u32> = BTreeMap::new();
    let mut delays: Vec<Duration> = Vec::new();
    let mut done_marks: Vec<(usize, BTreeSet<u64>)> = Vec::new();
    let mut pending_orphans: BTreeSet<i32> = BTreeSet::new();
    let mut orphans_seen = 0usize;
    let mut orphans_survived: Vec<i32> = Vec::new();
    let mut after_kill_checks = 0usize;
    let mut problems: Vec<String> = Vec::new();
    let mut appended_renders = 0u64;
    let mut appended_progress = 0u64;
    let mut log_gaps: BTreeSet<u64> = BTreeSet::new();
    let mut tmp_before = node_temp_files(&folder);
    // `started` lines logged before the current incarnation.
    let mut started_before = 0;
    let mut temp_left = 0usize;
    let mut targeted: BTreeMap<Trigger, (u32, u32)> = BTreeMap::new();

    let mut startup_times: Vec<Duration> = Vec::new();
    for kill in 0..n_kills {
        // Start-up (killing leftovers, ledger replay and compaction,
        // recovery, the first scan) takes tens of ms: one kill in six lands
        // there on purpose; the others wait until the node says it started.
        let in_startup = kill > 0 && rng.random_bool(0.16);
        if !in_startup {
            let t = Instant::now();
            rig.wait_until("the node to start", || {
                count_started(&rig.log()) > started_before
            });
            startup_times.push(t.elapsed());
            // Sometimes let it get going (rendering) first.
            if rng.random_bool(0.3) {
                std::thread::sleep(log_uniform(
                    &mut rng,
                    Duration::from_millis(1),
                    Duration::from_millis(300),
                ));
            }
        }
        // One kill in ten fires the moment a status temp file appears, one
        // in ten the moment the journal grows; the rest after a random delay.
        let trigger = match rng.random_range(0..10) {
            _ if in_startup => Trigger::Delay,
            0 => Trigger::StatusWrite,
            1 => Trigger::JournalWrite,
            _ => Trigger::Delay,
        };
        let journal_len = || std::fs::metadata(state.join("journal.log")).map_or(0, |m| m.len());
        let journal_before = journal_len();
        // Spread the appends over the first ~70 % of the kills.
        let left = workload.len();
        let kills_left = ((n_kills * 7 / 10).saturating_sub(kill)).max(1);
        if left > 0 && (trigger == Trigger::StatusWrite || rng.random_bool(0.6)) {
            let want = left.div_ceil(kills_left * 6 / 10 + 1);
            let n = rng.random_range(1..=want.max(1) * 2).min(left);
            let mut burst = String::new();
            for _ in 0..n {
                let l = workload.pop_front().expect("line");
                if l == "progress:" {
                    appended_progress += 1;
                } else {
                    appended_renders += 1;
                }
                burst.push_str(&l);
                burst.push('\n');
            }
            rig.append(burst.as_bytes());
        }
        // Mostly within the first tens of ms, where the node reads,
        // journals, spawns and writes status; sometimes deep in a render.
        let delay = if in_startup {
            log_uniform(
                &mut rng,
                Duration::from_micros(5),
                Duration::from_millis(150),
            )
        } else if rng.random_bool(0.7) {
            log_uniform(
                &mut rng,
                Duration::from_micros(5),
                Duration::from_millis(40),
            )
        } else {
            log_uniform(
                &mut rng,
                Duration::from_millis(40),
                Duration::from_millis(500),
            )
        };
        let mut caught = false;
        match trigger {
            Trigger::Delay => {
                std::thread::sleep(delay);
                delays.push(delay);
            }
            Trigger::StatusWrite | Trigger::JournalWrite => {
                let t = Instant::now();
                while t.elapsed() < Duration::from_millis(300) {
                    caught = match trigger {
                        Trigger::StatusWrite => node_temp_files(&folder)
                            .difference(&tmp_before)
                            .next()
                            .is_some(),
                        _ => journal_len() != journal_before,
                    };
                    if caught {
                        break;
                    }
                }
                let e = targeted.entry(trigger).or_default();
                e.0 += 1;
                e.1 += u32::from(caught);
            }
        }
        let sim_pid: i32 = rig.renderer_pid();
        let rendering = sim_pid > 0 && alive(sim_pid);
        rig.kill9();

        // ---- post-mortem: the node is dead, its files hold still ----
        match check_status_files(&folder) {
            Ok(_) => after_kill_checks += 1,
            Err(e) => problems.push(format!("right after kill {kill}: {e}")),
        }
        let view = read_ledger(&state);
        if let Some(c) = &view.corrupt {
            panic!(
                "after kill {kill}: the ledger is damaged: {c}\n{}",
                rig.stderr()
            );
        }
        for (id, line) in view
            .jobs
            .keys()
            .filter_map(|id| Some((*id, view.job_line(*id)?.to_string())))
        {
            if let Some(old) = jobs_seen.insert(id, line.clone())
                && old != line
            {
                problems.push(format!("job {id} was {old:?} and is now {line:?}"));
            }
        }
        let log = rig.log();
        let logged: BTreeSet<u64> = accepted_frames(&log).into_iter().map(|(j, _)| j).collect();
        let new_gaps: Vec<u64> = view
            .jobs
            .keys()
            .copied()
            .filter(|id| !logged.contains(id) && !log_gaps.contains(id))
            .collect();
        log_gaps.extend(&new_gaps);
        let started_now = count_started(&log);
        let reached_start = started_now > started_before;
        started_before = started_now;
        let tmp_now = node_temp_files(&folder);
        let new_tmp = tmp_now.difference(&tmp_before).count();
        temp_left += new_tmp;
        let spawning = view.jobs.values().any(|j| {
            j.get("state").and_then(|s| s.as_str()) == Some("running")
                && j.get("proc").is_none_or(serde_json::Value::is_null)
        });
        let journaled_renders = jobs_seen.len() as u64;
        let phase = if view.torn_tail {
            Phase::JournalWrite
        } else if new_tmp > 0 {
            Phase::StatusWrite
        } else if trigger == Trigger::JournalWrite && caught {
            Phase::JournalWrite
        } else if !reached_start {
            Phase::Startup
        } else if !new_gaps.is_empty() {
            Phase::JournalToLog
        } else if spawning {
            Phase::Spawn
        } else if journaled_renders < appended_renders || view.next_control - 1 < appended_progress
        {
            Phase::Ingest
        } else if rendering {
            Phase::Render
        } else {
            Phase::Idle
        };
        tmp_before = tmp_now;
        *phases.entry(phase).or_default() += 1;

        // Renderers the dead node left: the next start must end them.
        if reached_start {
            for p in &pending_orphans {
                if alive(*p) {
                    orphans_survived.push(*p);
                }
            }
            pending_orphans.clear();
        }
        let left_now = renderers(&argv_log);
        orphans_seen += left_now.len();
        pending_orphans.extend(left_now);

        // Frames whole on disk now must never be rendered again.
        done_marks.push((
            invoked_frames(&argv_log).len(),
            whole_frames(&output).into_keys().collect(),
        ));
        rig.start();
    }
    assert!(workload.is_empty(), "every line was appended");

    // Let the last incarnation finish everything.
    let all: BTreeSet<u64> = (1..=n_cmds).collect();
    rig.wait_for(
        "every frame on disk and the node idle",
        Duration::from_secs(if long() { 600 } else { 120 }),
        &mut || {
            let on_disk: BTreeSet<u64> = whole_frames(&output).into_keys().collect();
            on_disk.is_superset(&all)
                && std::fs::read_to_string(folder.join("status.json"))
                    .ok()
                    .and_then(|s| {
                        serde_json::from_str::<droprender_shared::status::StatusDoc>(&s).ok()
                    })
                    .is_some_and(|s| s.state == "idle" && s.queued == 0)
        },
    );
    for p in &pending_orphans {
        if alive(*p) {
            orphans_survived.push(*p);
        }
    }
    // Finished jobs never run again, across one more crash and restart.
    rig.kill9();
    let calls = invoked_frames(&argv_log).len();
    rig.start();
    std::thread::sleep(Duration::from_secs(1));
    let reran_after_last_restart = invoked_frames(&argv_log).len() - calls;
    let status = rig.stop();
    stop.store(true, Ordering::Relaxed);
    checker.join().expect("checker");
    match check_status_files(&folder) {
        Ok(_) => after_kill_checks += 1,
        Err(e) => problems.push(format!("after the final stop: {e}")),
    }
    let left_at_end = renderers(&argv_log);

    // ---- accounting ----
    let view = read_ledger(&state);
    for (id, j) in &view.jobs {
        if let Some(l) = j.get("line").and_then(|l| l.as_str()) {
            jobs_seen.insert(*id, l.to_string());
        }
    }
    let mut jobs_of_k: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (id, line) in &jobs_seen {
        if let Some(k) = frame_of_line(line) {
            jobs_of_k.entry(k).or_default().push(*id);
        }
    }
    let on_disk = whole_frames(&output);
    let invoked = invoked_frames(&argv_log);
    let mut lost = BTreeSet::new();
    let mut duplicated = BTreeSet::new();
    for k in &all {
        match jobs_of_k.get(k).map(Vec::len).unwrap_or(0) {
            0 => {
                lost.insert(*k);
            }
            1 => {}
            _ => {
                duplicated.insert(*k);
            }
        }
        match on_disk.get(k) {
            None => {
                lost.insert(*k);
            }
            Some(dirs) if dirs.len() > 1 => {
                duplicated.insert(*k);
            }
            Some(_) => {}
        }
    }
    // A frame that was whole on disk at some kill must not be rendered again.
    let mut reruns_of_finished = 0;
    for (at, done) in &done_marks {
        for k in invoked.iter().skip(*at) {
            if done.contains(k) {
                duplicated.insert(*k);
                reruns_of_finished += 1;
            }
        }
    }
    // The LOG never shows a K accepted twice.
    let mut log_count: BTreeMap<u64, usize> = BTreeMap::new();
    let log = rig.log();
    for (_, k) in accepted_frames(&log) {
        *log_count.entry(k).or_default() += 1;
    }
    for (k, n) in &log_count {
        if *n > 1 {
            duplicated.insert(*k);
        }
    }
    let bad_log = bad_log_lines(&log);
    let kills: u32 = phases.values().sum();
    let invocations_per_k = invoked.len() as f64 / n_cmds as f64;
    let status_errors = bad.lock().expect("lock").clone();

    fig.line(format!(
        "kills: {kills}, commands: {n_cmds}, lost: {}, duplicated: {}",
        lost.len(),
        duplicated.len()
    ));
    fig.line("kills by what the node was doing:".to_string());
    for (p, n) in &phases {
        fig.line(format!("    {:<58} {n:4}", p.describe()));
    }
    fig.line(format!(
        "targeted kills: {}",
        targeted
            .iter()
            .map(|(t, (n, c))| format!("{t:?} {c} caught of {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut sorted = delays.clone();
    sorted.sort();
    fig.line(format!(
        "kill delay after a burst/restart: min {:?}, median {:?}, p90 {:?}, max {:?}",
        pct(&sorted, 0),
        pct(&sorted, 50),
        pct(&sorted, 90),
        pct(&sorted, 100)
    ));
    startup_times.sort();
    fig.line(format!(
        "node start-up (restart -> `started` in LOG.txt): median {:?}, max {:?}",
        pct(&startup_times, 50),
        pct(&startup_times, 100)
    ));
    fig.line(format!(
        "jobs accepted: {} (ledger next job id {}), progress: lines {n_progress} (accepted {}, replays after a kill allowed)",
        jobs_seen.len(),
        view.next_job,
        view.next_control - 1
    ));
    fig.line(format!(
        "Render invocations: {} for {n_cmds} frames ({invocations_per_k:.2} per frame: interrupted frames resume); finished frames rendered again: {reruns_of_finished}; after the last restart: {reran_after_last_restart}",
        invoked.len()
    ));
    fig.line(format!(
        "renderers alive right after a kill: {orphans_seen}; survived the next start: {}; alive at the end: {}",
        orphans_survived.len(),
        left_at_end.len()
    ));
    fig.line(format!(
        "status files: {} whole reads while running + {after_kill_checks} right after kills; torn or unparsable: {}",
        reads.load(Ordering::Relaxed),
        status_errors.len() + problems.len()
    ));
    fig.line(format!(
        "LOG.txt: {} lines, {} unparsable; `accepted` lines lost between journal fsync and LOG append: {}",
        log.lines().count(),
        bad_log.len(),
        log_gaps.len()
    ));
    let temp_at_end = node_temp_files(&folder).len();
    fig.line(format!(
        "status temp files a kill left in the folder: {temp_left}; still there at the end: {temp_at_end}"
    ));
    fig.line(format!("wall time: {:.1} s", t0.elapsed().as_secs_f64()));

    assert!(status.success(), "graceful stop exits 0: {status:?}");
    assert!(
        lost.is_empty() && duplicated.is_empty(),
        "lost {lost:?}, duplicated {duplicated:?}\n{}",
        fig.text()
    );
    assert_eq!(jobs_seen.len() as u64, n_cmds, "one job per command");
    assert_eq!(view.next_job - 1, n_cmds, "no job id was ever given twice");
    assert_eq!(view.next_control - 1, n_progress, "each progress: once");
    assert_eq!(reran_after_last_restart, 0);
    assert!(
        orphans_survived.is_empty() && left_at_end.is_empty(),
        "renderers outlived their node: {orphans_survived:?} {left_at_end:?}"
    );
    assert!(
        status_errors.is_empty() && problems.is_empty(),
        "{status_errors:?} {problems:?}"
    );
    assert!(bad_log.is_empty(), "torn LOG lines: {bad_log:?}");
    assert_eq!(
        temp_at_end, 0,
        "a restart removes the temp files a kill left"
    );
    assert!(kills >= 100, "{kills} kills");
}
