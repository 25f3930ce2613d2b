//! A render end to end, `progress:`, exactly once across a restart, and a
//! node killed mid-render.

use std::time::Duration;

use crate::common::alive;
use crate::{ok, pid_in, rig, wait_gone, wait_no_renderers};

#[test]
fn a_render_through_the_client_with_progress_makes_frames_status_and_a_preview() {
    let mut rig = rig();
    rig.set_env("RENDER_SIM_STEP_MS", "40");
    rig.start();
    ok(rig.client(&[
        "rend",
        "-r",
        "sw",
        "-s",
        "1",
        "-e",
        "6",
        "-x",
        "1280",
        "-y",
        "720",
        "scenes/shot01.ma",
    ]));
    rig.wait_until("two frames", || {
        rig.status().current.is_some_and(|c| c.frames_done >= 2)
    });
    assert_eq!(rig.read("active_rend.txt").trim(), "scenes/shot01.ma");
    let cur = rig.status().current.expect("rendering");
    assert_eq!((cur.id, cur.frames_total), (1, 6));
    // `droprender progress` appends `progress:` and waits for the answer.
    ok(rig.client(&["progress"]));
    rig.wait_events("progress", 1);
    let jpg = std::fs::read(rig.folder.join("preview.jpg")).expect("preview.jpg");
    let img = image::load_from_memory_with_format(&jpg, image::ImageFormat::Jpeg).expect("decodes");
    assert_eq!(img.width(), 640, "previews are at most 640 px wide");
    assert!(rig.folder.join("latest_frame.png").exists());
    rig.wait_events("finished", 1);
    let st = rig.status();
    assert!(st.current.is_none());
    assert_eq!((st.recent[0].percent, st.recent[0].frames_done), (100.0, 6));
    assert_eq!(rig.read("active_rend.txt"), "", "empty when idle");
    assert_eq!(rig.frames("job-0001").len(), 6);
    rig.wait_until("status.txt to show the finished job", || {
        rig.read("status.txt")
            .contains("1 scenes/shot01.ma finished")
    });
    let calls = rig.render_calls();
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0]
            .windows(2)
            .any(|w| w[0] == "-rd" && w[1].contains("job-0001-shot01")),
        "the node passed -rd itself: {calls:?}"
    );
    let out = ok(rig.client(&["status"]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("shot01.ma"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn every_line_runs_exactly_once_across_a_restart() {
    let mut rig = rig();
    rig.set_env("RENDER_SIM_STEP_MS", "2");
    rig.start();
    rig.append(b"rend:-s 1 -e 1 scenes/shot01.ma\nrend:-s 2 -e 2 scenes/shot02.mb\nprogress:\n");
    ok(rig.client(&["rend", "-s", "3", "-e", "3", "scenes/shot01.ma"]));
    rig.wait_events("finished", 3);
    rig.kill9();
    // Lines that arrive while the node is down run once it is back.
    rig.append(b"rend:-s 4 -e 4 scenes/shot01.ma\nrend:-s 5 -e 5 scenes/shot02.mb\n");
    rig.start();
    rig.wait_events("finished", 5);
    // And nothing runs twice, even across another restart.
    rig.kill9();
    rig.start();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rig.log_events("accepted").len(), 5, "{}", rig.log());
    assert_eq!(rig.log_events("finished").len(), 5, "{}", rig.log());
    let mut frames: Vec<String> = rig
        .render_calls()
        .iter()
        .map(|c| {
            let s = c.iter().position(|a| a == "-s").expect("-s");
            c[s + 1].clone()
        })
        .collect();
    frames.sort();
    assert_eq!(frames, ["1", "2", "3", "4", "5"], "one Render per line");
}

#[test]
fn a_node_killed_mid_render_leaves_no_renderer_and_the_frames_resume() {
    let mut rig = rig();
    let child_file = rig.dir.path().join("child.pid");
    rig.set_env("RENDER_SIM_STEP_MS", "40");
    rig.set_env(
        "RENDER_SIM_CHILD_PID_FILE",
        &child_file.display().to_string(),
    );
    rig.start();
    rig.append(b"rend:-r sw -s 1 -e 8 scenes/shot01.ma\n");
    rig.wait_until("three frames on disk", || rig.frames("job-0001").len() >= 3);
    let (renderer, child) = (rig.renderer_pid(), pid_in(&child_file));
    assert!(alive(renderer) && alive(child), "{renderer} {child}");
    rig.kill9();
    let on_disk = rig.frames("job-0001").len();
    if cfg!(windows) {
        // The renderer's Job Object dies with the node's handle to it.
        wait_gone(
            &rig,
            "the killed node's job to take its renderer along",
            &[renderer, child],
            Duration::from_secs(10),
        );
    }
    // On Unix the group outlives a SIGKILLed node; the restart ends it.
    rig.set_env("RENDER_SIM_STEP_MS", "2");
    rig.start();
    wait_gone(
        &rig,
        "the old renderer and its child to be gone",
        &[renderer, child],
        Duration::from_secs(30),
    );
    rig.wait_events("finished", 1);
    assert_eq!(rig.log_events("interrupted").len(), 1, "{}", rig.log());
    let resumed = &rig.log_events("resumed")[0];
    assert!(resumed.contains("already on disk"), "{resumed}");
    let calls = rig.render_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let s = calls[1].iter().position(|a| a == "-s").expect("-s");
    let first_missing: usize = calls[1][s + 1].parse().expect("frame");
    assert!(
        first_missing > 1 && first_missing <= on_disk + 1,
        "resumed at {first_missing} with {on_disk} on disk"
    );
    assert_eq!(rig.frames("job-0001").len(), 8);
    wait_no_renderers(&rig, Duration::from_secs(30));
}
