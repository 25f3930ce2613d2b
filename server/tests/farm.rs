//! A render box that works like a farm node, end to end through the real
//! binaries: several jobs at once in slots with their own GPUs, per-frame
//! records, frames that must verify, and the preview video.

mod common;

use std::collections::BTreeSet;

use common::Rig;

const TWO_GPU_SLOTS: &str = r#"
[[slots]]
name = "g0"
gpus = [0]
[[slots]]
name = "g1"
gpus = [1, 2]
"#;

/// The env lines the simulator logged: slot name → CUDA devices.
fn devices(rig: &Rig) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(rig.dir.path().join("env.log")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            assert_eq!(s("CUDA_VISIBLE_DEVICES"), s("HIP_VISIBLE_DEVICES"));
            (s("DROPRENDER_SLOT"), s("CUDA_VISIBLE_DEVICES"))
        })
        .collect()
}

#[test]
fn two_jobs_render_at_once_each_with_its_own_gpus() {
    let mut rig = Rig::new();
    rig.configure(TWO_GPU_SLOTS);
    rig.set_env("RENDER_SIM_STEP_MS", "40");
    let env_log = rig.dir.path().join("env.log");
    rig.set_env("RENDER_SIM_ENV_LOG", &env_log.display().to_string());
    rig.start();
    rig.append(b"rend:-s 1 -e 6 scenes/shot01.ma\nrend:-s 1 -e 6 scenes/shot02.mb gpus=2\n");
    rig.wait_until("two jobs rendering at once", || {
        rig.status().running.len() == 2
    });
    let st = rig.status();
    let slots: BTreeSet<String> = st.running.iter().filter_map(|j| j.slot.clone()).collect();
    assert_eq!(slots, ["g0".to_string(), "g1".to_string()].into());
    // active_rend.txt is written before status.json: it lists both scenes.
    rig.wait_until("active_rend.txt to list both scenes", || {
        rig.read("active_rend.txt").lines().count() == 2
    });
    assert!(rig.read("status.txt").contains("[slot g1]"));
    rig.wait_events("finished", 2);
    let mut seen = devices(&rig);
    seen.sort();
    assert_eq!(
        seen,
        [("g0".into(), "0".into()), ("g1".into(), "1,2".into())],
        "each renderer saw only its slot's GPUs"
    );
}

#[test]
fn a_crash_with_two_jobs_running_resumes_both_from_their_missing_frames() {
    let mut rig = Rig::new();
    rig.configure(TWO_GPU_SLOTS);
    rig.set_env("RENDER_SIM_STEP_MS", "60");
    rig.start();
    rig.append(b"rend:-s 1 -e 8 scenes/shot01.ma\nrend:-s 1 -e 8 scenes/shot02.mb\n");
    rig.wait_until("frames of both jobs on disk", || {
        rig.frames("job-0001").len() >= 2 && rig.frames("job-0002").len() >= 2
    });
    rig.kill9();
    let on_disk = (rig.frames("job-0001").len(), rig.frames("job-0002").len());
    rig.set_env("RENDER_SIM_STEP_MS", "2");
    rig.start();
    rig.wait_events("finished", 2);
    assert_eq!(rig.log_events("interrupted").len(), 2, "{}", rig.log());
    let resumed = rig.log_events("resumed");
    assert_eq!(resumed.len(), 2, "{}", rig.log());
    let calls = rig.render_calls();
    assert_eq!(calls.len(), 4, "{calls:?}");
    for call in &calls[2..] {
        let s = call.iter().position(|a| a == "-s").expect("-s");
        let first: usize = call[s + 1].parse().expect("frame");
        assert!(
            first > 1,
            "resumed from a missing frame, not 1: {call:?} ({on_disk:?})"
        );
    }
    assert_eq!(rig.frames("job-0001").len(), 8);
    assert_eq!(rig.frames("job-0002").len(), 8);
}

#[test]
fn every_frame_is_recorded_with_its_time_and_memory() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "150");
    rig.start();
    rig.append(b"rend:-s 1 -e 4 scenes/shot01.ma\n");
    rig.wait_until("frame records in status", || {
        rig.status()
            .current
            .is_some_and(|c| c.frames.len() >= 2 && c.frame_stats.is_some())
    });
    rig.wait_events("finished", 1);
    let (csv, rows) = rig.frames_csv("job-0001");
    assert_eq!(rows.len(), 4, "{csv}");
    for r in &rows {
        let secs: f64 = r[3].parse().expect("render_s");
        assert!(secs > 0.1, "{csv}");
        assert_eq!(r[5], "ok", "{csv}");
    }
    // Memory is sampled once a second: a frame this short may have no sample.
    let st = rig.status();
    let done = st.recent.iter().find(|j| j.id == 1).expect("job 1");
    let stats = done.frame_stats.as_ref().expect("stats of a finished job");
    assert_eq!(stats.frames, 4);
    assert!(stats.slowest_s >= stats.avg_s);
    assert!(rig.read("status.txt").contains("slowest"));
}

/// A renderer that exits the moment it has printed its frame: the job's end
/// waits for that frame's judgment instead of decoding it again, so each
/// frame has one row in frames.csv, with the render time only its own
/// judgment knows.
#[test]
fn a_frame_is_judged_once_even_when_its_job_ends_at_once() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "0");
    rig.start();
    let lines: String = (1..=30)
        .map(|i| format!("rend:-s {i} -e {i} scenes/shot01.ma\n"))
        .collect();
    rig.append(lines.as_bytes());
    rig.wait_events("finished", 30);
    let dirs: Vec<_> = std::fs::read_dir(&rig.output)
        .expect("output")
        .flatten()
        .collect();
    assert_eq!(dirs.len(), 30);
    for d in dirs {
        let csv = std::fs::read_to_string(d.path().join("frames.csv")).expect("frames.csv");
        let rows: Vec<Vec<&str>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert_eq!(rows.len(), 1, "{}: {csv}", d.path().display());
        assert!(!rows[0][3].is_empty(), "no render time: {csv}");
        assert_eq!(rows[0][5], "ok", "{csv}");
    }
}

#[test]
fn a_black_frame_is_rendered_again_and_one_that_stays_black_fails_the_job() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_BLACK_AT_FRAME", "3");
    let once = rig.dir.path().join("black-once");
    rig.set_env("RENDER_SIM_BLACK_ONCE_FILE", &once.display().to_string());
    rig.start();
    rig.append(b"rend:-s 1 -e 5 scenes/shot01.ma\n");
    rig.wait_events("finished", 1);
    let retry = rig.log_events("retrying");
    assert!(
        retry[0].contains("re-rendering 1 bad frame(s): 3 (all black)"),
        "{retry:?}"
    );
    let calls = rig.render_calls();
    assert_eq!(calls.len(), 2, "only the bad frame again: {calls:?}");
    let s = calls[1].iter().position(|a| a == "-s").expect("-s");
    assert_eq!(
        (calls[1][s + 1].as_str(), calls[1][s + 3].as_str()),
        ("3", "3")
    );
    rig.stop();

    // Always black: after [jobs] verify_retries more renders, the job fails.
    let mut rig = Rig::new();
    rig.configure("[jobs]\nverify_retries = 1\n");
    rig.set_env("RENDER_SIM_BLACK_AT_FRAME", "2");
    rig.start();
    rig.append(b"rend:-s 1 -e 3 scenes/shot01.ma\n");
    rig.wait_events("failed", 1);
    let failed = &rig.log_events("failed")[0];
    assert!(
        failed.contains("frame(s) 2 (all black) are still bad after 2 renders"),
        "{failed}"
    );
    assert_eq!(rig.render_calls().len(), 2);
}

#[test]
fn progress_writes_a_preview_video_a_phone_plays() {
    let Some(ffprobe) = common::require_tool("ffprobe") else {
        return;
    };
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "2");
    rig.start();
    rig.append(b"rend:-r sw -s 1 -e 12 -x 1280 -y 720 scenes/shot01.ma\n");
    rig.wait_events("finished", 1);
    rig.append(b"progress:\n");
    rig.wait_until("preview.mp4", || {
        rig.log_events("progress")
            .iter()
            .any(|l| l.contains("preview.mp4 (12 frames)"))
    });
    let out = std::process::Command::new(ffprobe)
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames,r_frame_rate",
        ])
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(rig.folder.join("preview.mp4"))
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("width=640"), "{text}");
    assert!(text.contains("height=360"), "{text}");
    assert!(text.contains("nb_read_frames=12"), "{text}");
    assert!(text.contains("r_frame_rate=24/1"), "{text}");
    assert!(text.contains("codec_name=h264"), "{text}");
}

#[test]
fn without_ffmpeg_the_preview_is_a_gif_and_the_log_says_why() {
    let mut rig = Rig::new();
    rig.configure("[preview]\nffmpeg = \"/nonexistent/ffmpeg\"\n");
    rig.set_env("RENDER_SIM_STEP_MS", "2");
    rig.start();
    rig.append(b"rend:-r sw -s 1 -e 3 scenes/shot01.ma\n");
    rig.wait_events("finished", 1);
    rig.append(b"progress:\n");
    rig.wait_until("preview.gif", || {
        rig.log_events("progress")
            .iter()
            .any(|l| l.contains("preview.gif"))
    });
    let gif = std::fs::read(rig.folder.join("preview.gif")).expect("gif");
    assert!(gif.starts_with(b"GIF89a"));
    assert!(
        rig.log_events("warning")[0].contains("ffmpeg was not found"),
        "{}",
        rig.log()
    );
    assert!(!rig.log().contains("failed"), "{}", rig.log());
}
