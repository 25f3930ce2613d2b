//! The Slurm executor end to end: the real node binary with `[executor] kind
//! = "slurm"` against a real single-host Slurm cluster (droprender_testkit::slurm),
//! with the Render simulator (and Blender when installed) as the renderer.
//!
//! Each test starts its own cluster; a lock makes them take turns (Slurm's
//! ports are fixed). Without Slurm or munge installed they skip loudly, or
//! fail with DROPRENDER_REQUIRE_TOOLS=1.

// Linux (Unix): the Slurm rig; server/tests/portable runs on Windows too.
#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::blender::TinyScene;
use common::procfs::{self, now_ns as monotonic_ns};
use common::slurm::{self as cluster, Cluster};
use common::{Rig, require_tool};

const NODE_NAME: &str = "farmbox";

fn job_name(id: u64) -> String {
    format!("droprender-{NODE_NAME}-{id}")
}

/// A rig whose node sends renders to the cluster, chunk 3, polling every 0.2 s.
fn slurm_rig(cluster: &Cluster, extra: &str) -> Rig {
    slurm_rig_on(cluster, cluster::PARTITION, extra)
}

fn slurm_rig_on(cluster: &Cluster, partition: &str, extra: &str) -> Rig {
    let mut rig = Rig::new();
    rig.configure(&format!(
        "name = \"{NODE_NAME}\"\n[executor]\nkind = \"slurm\"\npartition = \"{partition}\"\nchunk = 3\npoll_secs = 0.2\n{extra}"
    ));
    rig.set_env("SLURM_CONF", &cluster.conf.display().to_string());
    rig
}

/// Frames of every Render call in the argv log, from its `-s`/`-e`.
fn rendered_frames(rig: &Rig) -> BTreeMap<i64, u32> {
    let mut seen = BTreeMap::new();
    for call in rig.render_calls() {
        let flag = |f: &str| -> Option<i64> {
            let i = call.iter().position(|a| a == f)?;
            call.get(i + 1)?.parse().ok()
        };
        if let (Some(s), Some(e)) = (flag("-s"), flag("-e")) {
            for f in s..=e {
                *seen.entry(f).or_insert(0) += 1;
            }
        }
    }
    seen
}

/// Live processes started for this node's farm tasks (DROPRENDER_JOB=slurm/<node-id>:…).
fn farm_processes(rig: &Rig) -> Vec<i32> {
    let needle = format!(
        "DROPRENDER_JOB=slurm/{}:",
        droprender_node::exec::local::process::node_id(&rig.state)
    );
    procfs::live_with_env(|env| env.iter().any(|kv| kv.starts_with(needle.as_bytes())))
}

fn wait_long(rig: &Rig, what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    rig.wait_for(what, Duration::from_secs(secs), &mut f);
}

fn wait_end(rig: &Rig, secs: u64) {
    wait_long(rig, "the job to end", secs, || {
        !rig.log_events("finished").is_empty()
            || !rig.log_events("failed").is_empty()
            || !rig.log_events("cancelled").is_empty()
    });
}

#[test]
fn a_chunked_job_renders_through_slurm() {
    let Some(cluster) = Cluster::start(2) else {
        return;
    };
    let mut rig = slurm_rig(&cluster, "");
    // Frames of about a second: long enough for memory samples.
    rig.set_env("RENDER_SIM_STEP_MS", "120");
    rig.start();
    rig.append(b"rend:-r sw -s 1 -e 12 scenes/shot01.ma\n");
    // status.txt shows the farm's task counts while the job runs.
    let mut counts_seen = false;
    wait_long(&rig, "the Slurm job to end", 120, || {
        let s = rig.read("status.txt");
        counts_seen |= s.contains("slurm ") && s.contains("running,") && s.contains("pending,");
        !rig.log_events("finished").is_empty() || !rig.log_events("failed").is_empty()
    });
    let log = rig.log();
    assert_eq!(rig.log_events("finished").len(), 1, "{log}");
    assert!(log.contains("submitted to Slurm as job"), "{log}");
    assert_eq!(rig.frames("job-0001").len(), 12, "{log}");
    assert!(
        counts_seen,
        "status.txt never showed task counts\n{}",
        rig.read("status.txt")
    );
    // Four tasks of three frames, each the validated argv, each frame once.
    let calls = rig.render_calls();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(rendered_frames(&rig).values().all(|n| *n == 1));
    assert_eq!(rendered_frames(&rig).len(), 12);
    assert_eq!(cluster.array_ids(&job_name(1)).len(), 1);
    // The task logs are in the work dir, one per task.
    let work = rig.state.join("slurm").join("job-1");
    assert!(work.join("tasks.json").exists() && work.join("batch.sh").exists());
    let named = |ext: &str| -> Vec<PathBuf> {
        std::fs::read_dir(&work)
            .expect("work dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("task-"))
                    && p.extension().is_some_and(|e| e == ext)
            })
            .collect()
    };
    assert_eq!(named("log").len(), 4);
    // Each task timed its own three frames where it rendered.
    let records = named("frames");
    assert_eq!(records.len(), 4, "{records:?}");
    for r in &records {
        let text = std::fs::read_to_string(r).expect("records");
        assert_eq!(text.lines().count(), 3, "{}: {text}", r.display());
    }
    // frames.csv carries those records: a render time near the simulator's
    // (9 lines of 120 ms), and the renderer's memory, sampled once a
    // second (a task's first frame may end before the first sample).
    let (csv, rows) = rig.frames_csv("job-0001");
    assert_eq!(rows.len(), 12, "{csv}");
    for r in &rows {
        let secs: f64 = r[3].parse().expect("render_s");
        assert!((0.9..5.0).contains(&secs), "{csv}");
    }
    let with_memory = rows.iter().filter(|r| !r[4].is_empty()).count();
    assert!(with_memory >= 8, "{csv}");
    let st = rig.status();
    assert_eq!(st.recent[0].frames_done, 12);
    let stats = st.recent[0].frame_stats.as_ref().expect("frame stats");
    assert!(stats.peak_mem_mb.is_some(), "{stats:?}");
    assert!(farm_processes(&rig).is_empty());
    let _ = rig.stop();
}

/// A renderer this node does not have (`husk` is nowhere on it) renders on
/// the cluster through `[executor] programs`, the cluster's own path.
#[test]
fn a_renderer_only_the_cluster_has_renders_through_its_program_there() {
    let Some(cluster) = Cluster::start(2) else {
        return;
    };
    // The cluster's husk: the simulator, somewhere the node's config
    // names only for the farm.
    let cluster_bin = tempfile::tempdir().expect("tempdir");
    let husk = cluster_bin.path().join("husk");
    std::os::unix::fs::symlink(common::bins::node(), &husk).expect("symlink");
    let mut rig = slurm_rig(
        &cluster,
        &format!(
            "programs = {{ husk = \"{}\" }}\n[renderers.husk]\nprogram = \"/nonexistent/husk\"\n",
            husk.display()
        ),
    );
    rig.set_env("RENDER_SIM_STEP_MS", "20");
    common::write_settled(&rig.projects.join("scenes/a.usda"), b"#usda 1.0\n");
    rig.start();
    rig.append(b"rend:husk -f 1 -n 6 scenes/a.usda\n");
    wait_end(&rig, 120);
    let log = rig.log();
    assert_eq!(rig.log_events("finished").len(), 1, "{log}");
    assert_eq!(rig.frames("job-0001").len(), 6, "{log}");
    // Two tasks, each the cluster's husk.
    let tasks = std::fs::read_to_string(rig.state.join("slurm/job-1/tasks.json")).expect("tasks");
    assert_eq!(
        tasks.matches(&*husk.display().to_string()).count(),
        2,
        "{tasks}"
    );
    assert!(!tasks.contains("/nonexistent/husk"), "{tasks}");
    let _ = rig.stop();
}

#[test]
fn blender_renders_through_slurm() {
    let Some(blender) = require_tool("blender") else {
        return;
    };
    let Some(cluster) = Cluster::start(2) else {
        return;
    };
    let mut rig = slurm_rig(&cluster, "");
    // A tiny Cycles scene: 32×24, frames 1–4.
    TinyScene {
        samples: 2,
        resolution: (32, 24),
        frames: (1, 4),
        autorun_marker: None,
    }
    .make(&blender, rig.dir.path(), &rig.projects.join("tiny.blend"));
    rig.extra_args = vec!["--blender".into(), blender.display().to_string()];
    rig.start();
    rig.append(b"rend:blender -s 1 -e 4 tiny.blend\n");
    wait_end(&rig, 300);
    let log = rig.log();
    assert_eq!(rig.log_events("finished").len(), 1, "{log}");
    assert_eq!(
        rig.frames("job-0001"),
        [
            "tiny_0001.png",
            "tiny_0002.png",
            "tiny_0003.png",
            "tiny_0004.png"
        ],
        "{log}"
    );
    // Two tasks: frames 1-3 and 4.
    assert_eq!(cluster.array_ids(&job_name(1)).len(), 1);
    let _ = rig.stop();
}

#[test]
fn cancel_stops_every_task() {
    let Some(cluster) = Cluster::start(2) else {
        return;
    };
    let mut rig = slurm_rig(&cluster, "");
    rig.set_env("RENDER_SIM_STEP_MS", "100");
    rig.start();
    rig.append(b"rend:-r sw -s 1 -e 12 scenes/shot01.ma\n");
    wait_long(&rig, "a frame on disk", 60, || {
        !rig.frames("job-0001").is_empty()
    });
    assert!(
        !farm_processes(&rig).is_empty(),
        "tasks run while frames appear"
    );
    rig.append(b"cancel: 1\n");
    wait_long(&rig, "the cancel", 60, || {
        !rig.log_events("cancelled").is_empty()
    });
    // By the time the node says so, Slurm has no task left and no renderer runs.
    let name = job_name(1);
    assert!(
        cluster.active(&name).is_empty(),
        "{:?}",
        cluster.active(&name)
    );
    assert!(
        farm_processes(&rig).is_empty(),
        "{:?}",
        farm_processes(&rig)
    );
    let frames = rig.frames("job-0001").len();
    assert!(frames < 12, "{frames} frames: the cancel came too late");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(rig.frames("job-0001").len(), frames);
    assert_eq!(rig.status().recent[0].state, "cancelled");
    let _ = rig.stop();
}

#[test]
fn a_refused_submission_waits_with_a_note_and_can_be_cancelled() {
    let Some(cluster) = Cluster::start(2) else {
        return;
    };
    let mut rig = slurm_rig_on(&cluster, "nope", "");
    rig.start();
    rig.append(b"rend:-r sw -s 1 -e 3 scenes/shot01.ma\n");
    wait_long(&rig, "the sbatch note", 60, || {
        rig.log_events("waiting").iter().any(|l| {
            l.contains("sbatch failed:")
                && l.contains("Invalid partition name specified")
                && l.contains("retrying in 30 s")
        })
    });
    // The job waits (it is not failed or lost) until cancelled.
    assert!(rig.log_events("failed").is_empty(), "{}", rig.log());
    rig.append(b"cancel: 1\n");
    wait_long(&rig, "the cancel", 30, || {
        !rig.log_events("cancelled").is_empty()
    });
    assert!(cluster.array_ids(&job_name(1)).is_empty());
    assert!(rig.render_calls().is_empty());
    let _ = rig.stop();
}

#[test]
fn a_failed_chunk_is_retried_and_the_job_finishes() {
    let Some(cluster) = Cluster::start(2) else {
        return;
    };
    let mut rig = slurm_rig(&cluster, "");
    let marker = rig.dir.path().join("failed-once");
    rig.set_env("RENDER_SIM_FAIL_AT_FRAME", "5");
    rig.set_env("RENDER_SIM_FAIL_ONCE_FILE", &marker.display().to_string());
    rig.start();
    rig.append(b"rend:-r sw -s 1 -e 12 scenes/shot01.ma retries=1\n");
    wait_long(&rig, "the job to finish", 120, || {
        !rig.log_events("finished").is_empty() || !rig.log_events("failed").is_empty()
    });
    let log = rig.log();
    assert_eq!(rig.log_events("finished").len(), 1, "{log}");
    eprintln!("--- LOG.txt ---\n{log}");
    let retry = &rig.log_events("retrying")[0];
    // The failure names the missing frames and the failed task with its log.
    assert!(retry.contains("missing after Slurm job"), "{retry}");
    assert!(retry.contains("5-6"), "{retry}");
    assert!(retry.contains("task 2 FAILED"), "{retry}");
    assert!(
        retry.contains("Frame rendering aborted") && retry.contains(".log"),
        "{retry}"
    );
    assert!(marker.exists());
    assert_eq!(rig.frames("job-0001").len(), 12);
    // Two submissions: the job, then only the missing frames 5-6.
    assert_eq!(cluster.array_ids(&job_name(1)).len(), 2, "{log}");
    let calls = rig.render_calls();
    assert_eq!(calls.len(), 5, "{calls:?}");
    let frames = rendered_frames(&rig);
    assert_eq!(frames.len(), 12);
    assert_eq!((frames[&5], frames[&6], frames[&4]), (2, 2, 1));
    let _ = rig.stop();
}

#[test]
fn a_killed_node_reattaches_and_never_submits_twice() {
    let Some(cluster) = Cluster::start(2) else {
        return;
    };
    let mut rig = slurm_rig(&cluster, "max_tasks = 2\n");
    rig.set_env("RENDER_SIM_STEP_MS", "150");
    rig.start();
    rig.append(b"rend:-r sw -s 1 -e 12 scenes/shot01.ma\n");
    wait_long(&rig, "the submission and a frame", 60, || {
        rig.log().contains("submitted to Slurm as job") && !rig.frames("job-0001").is_empty()
    });
    rig.kill9();
    let running = farm_processes(&rig);
    assert!(!running.is_empty(), "the farm tasks outlive the node");
    rig.start();
    wait_long(&rig, "the re-attach", 60, || {
        rig.log().contains("re-attached to Slurm job")
    });
    // A clean stop (SIGTERM) leaves the farm job alone too; the next start re-attaches.
    assert!(rig.stop().success());
    assert!(
        !cluster.active(&job_name(1)).is_empty(),
        "the array still runs after the node stopped"
    );
    rig.start();
    wait_end(&rig, 120);
    let log = rig.log();
    assert_eq!(rig.log_events("finished").len(), 1, "{log}");
    eprintln!("--- LOG.txt ---\n{log}");
    assert_eq!(log.matches("re-attached to Slurm job").count(), 2, "{log}");
    assert!(
        !log.contains("left over from before a crash"),
        "the restart must not kill farm tasks: {log}"
    );
    // Exactly one array job for this job, every frame rendered exactly once.
    let ids = cluster.array_ids(&job_name(1));
    assert_eq!(ids.len(), 1, "{ids:?}\n{log}");
    let frames = rendered_frames(&rig);
    assert_eq!(frames.len(), 12, "{frames:?}");
    assert!(frames.values().all(|n| *n == 1), "{frames:?}");
    assert_eq!(rig.frames("job-0001").len(), 12);
    let _ = rig.stop();
}

#[test]
fn a_stopped_controller_delays_the_job_and_loses_nothing() {
    let Some(mut cluster) = Cluster::start(2) else {
        return;
    };
    let mut rig = slurm_rig(&cluster, "");
    rig.set_env("RENDER_SIM_STEP_MS", "100");
    // Down before the job arrives: nothing can be checked or submitted.
    cluster.stop_controller();
    rig.start();
    rig.append(b"rend:-r sw -s 1 -e 6 scenes/shot01.ma\n");
    wait_long(&rig, "a note that Slurm does not answer", 90, || {
        rig.log_events("waiting")
            .iter()
            .any(|l| l.contains("job 1") && l.contains("retrying in 30 s"))
    });
    assert!(rig.log_events("started").len() == 1, "{}", rig.log());
    cluster.start_controller(false);
    wait_long(&rig, "the submission", 120, || {
        rig.log().contains("submitted to Slurm as job")
    });
    // Down again while the job runs: one note, the watch goes on.
    wait_long(&rig, "a frame", 60, || !rig.frames("job-0001").is_empty());
    cluster.stop_controller();
    wait_long(&rig, "a note that the controller is down", 90, || {
        rig.log().contains("the Slurm controller may be down")
    });
    cluster.start_controller(false);
    wait_end(&rig, 120);
    let log = rig.log();
    assert_eq!(rig.log_events("finished").len(), 1, "{log}");
    eprintln!("--- LOG.txt ---\n{log}");
    assert!(log.contains("Slurm answers again"), "{log}");
    assert_eq!(
        log.matches("the Slurm controller may be down").count(),
        1,
        "{log}"
    );
    assert_eq!(rig.frames("job-0001").len(), 6);
    assert_eq!(cluster.array_ids(&job_name(1)).len(), 1, "{log}");
    let _ = rig.stop();
}

fn stamps(path: &Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        // `<start> [<main>]`: the first field is when the process began.
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

struct Run {
    wall_s: f64,
    /// Every task's start, seconds after sbatch returned.
    starts_s: Vec<f64>,
    submit_to_first_start_s: Option<f64>,
    append_to_first_start_s: f64,
}

/// One 12-frame job (chunk 3) from append to `finished`, timed from the test.
fn timed_run(cluster: Option<&Cluster>) -> Run {
    let mut rig = match cluster {
        Some(c) => slurm_rig(c, ""),
        None => Rig::new(),
    };
    let stamp = rig.dir.path().join("starts");
    rig.set_env("RENDER_SIM_STEP_MS", "50");
    rig.set_env("RENDER_SIM_START_STAMP", &stamp.display().to_string());
    rig.start();
    let t0 = monotonic_ns();
    let clock = Instant::now();
    rig.append(b"rend:-r sw -s 1 -e 12 scenes/shot01.ma\n");
    let mut submitted: Option<u64> = None;
    let mut f = || {
        if submitted.is_none() && rig.log().contains("submitted to Slurm as job") {
            submitted = Some(monotonic_ns());
        }
        !rig.log_events("finished").is_empty() || !rig.log_events("failed").is_empty()
    };
    rig.wait_for("the timed job", Duration::from_secs(180), &mut f);
    let wall_s = clock.elapsed().as_secs_f64();
    assert_eq!(rig.log_events("finished").len(), 1, "{}", rig.log());
    assert_eq!(rig.frames("job-0001").len(), 12);
    let mut all = stamps(&stamp);
    all.sort_unstable();
    let first = *all.first().expect("a start stamp");
    let _ = rig.stop();
    Run {
        wall_s,
        starts_s: all
            .iter()
            .map(|t| (*t as f64 - submitted.unwrap_or(t0) as f64) / 1e9)
            .collect(),
        submit_to_first_start_s: submitted.map(|s| (first as f64 - s as f64) / 1e9),
        append_to_first_start_s: (first - t0) as f64 / 1e9,
    }
}

/// Measured figures (printed; run with `--nocapture` to read them): submit →
/// first task start, the per-job overhead beyond the renders (Slurm with one
/// core against the local executor, same job), frames per minute with 1 and 2
/// Slurm cores.
#[test]
fn measured_slurm_overhead_and_throughput() {
    let local = timed_run(None);
    let Some(one) = Cluster::start(1).map(|c| timed_run(Some(&c))) else {
        return;
    };
    let Some(two) = Cluster::start(2).map(|c| timed_run(Some(&c))) else {
        return;
    };
    let fpm = |r: &Run| 12.0 * 60.0 / r.wall_s;
    eprintln!(
        "\n==== Slurm figures (12 frames, chunk 3, RENDER_SIM_STEP_MS=50) ====\n\
         local executor:      wall {:.2} s, {:.0} frames/min, append → renderer start {:.3} s\n\
         slurm, 1 core:       wall {:.2} s, {:.0} frames/min, append → first task {:.3} s, sbatch → first task {:.3} s\n\
         slurm, 2 cores:      wall {:.2} s, {:.0} frames/min, append → first task {:.3} s, sbatch → first task {:.3} s\n\
         per-job overhead (slurm 1 core − local): {:.2} s\n\
         task starts after sbatch, 1 core: {:.2?} s; 2 cores: {:.2?} s\n",
        local.wall_s,
        fpm(&local),
        local.append_to_first_start_s,
        one.wall_s,
        fpm(&one),
        one.append_to_first_start_s,
        one.submit_to_first_start_s.unwrap_or(f64::NAN),
        two.wall_s,
        fpm(&two),
        two.append_to_first_start_s,
        two.submit_to_first_start_s.unwrap_or(f64::NAN),
        one.wall_s - local.wall_s,
        one.starts_s,
        two.starts_s,
    );
    assert!(one.submit_to_first_start_s.is_some() && two.submit_to_first_start_s.is_some());
}
