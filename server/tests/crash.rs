//! Crashes and stops: kill -9 and restart resumes from the first missing
//! frame with no renderer left behind; SIGTERM interrupts cleanly; finished
//! jobs never run again.

// Linux (Unix): SIGTERM stops; server/tests/portable runs on Windows too.
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::{Rig, alive};

#[test]
fn kill9_then_restart_resumes_from_the_first_missing_frame() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "40");
    rig.start();
    rig.append(b"rend:-r sw -s 1 -e 8 scenes/shot01.ma\n");
    rig.wait_until("three frames on disk", || rig.frames("job-0001").len() >= 3);
    let renderer = rig.renderer_pid();
    assert!(alive(renderer));
    rig.kill9();
    // The renderer outlives a SIGKILLed node for a moment; the restart must end it.
    let on_disk = rig.frames("job-0001").len();
    rig.set_env("RENDER_SIM_STEP_MS", "2");
    rig.start();
    rig.wait_until("the old renderer to be gone", || !alive(renderer));
    rig.wait_events("finished", 1);
    let log = rig.log();
    assert!(
        log.contains("stopped 1 renderer process(es) left over") || !alive(renderer),
        "{log}"
    );
    assert_eq!(rig.log_events("interrupted").len(), 1, "{log}");
    let resumed = &rig.log_events("resumed")[0];
    assert!(resumed.contains("already on disk"), "{resumed}");
    let calls = rig.render_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let s = calls[1].iter().position(|a| a == "-s").expect("-s");
    let first_missing: usize = calls[1][s + 1].parse().expect("frame");
    // The orphaned renderer may finish another frame before the restart
    // ends it, so the node's own count at resume time is the exact bound.
    let counted: usize = resumed
        .split(" frame(s) already on disk")
        .next()
        .and_then(|h| h.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count in {resumed:?}"));
    assert!(
        counted >= on_disk && first_missing == counted + 1,
        "resumed at {first_missing}: the node counted {counted} on disk, {on_disk} right after the kill"
    );
    assert_eq!(rig.frames("job-0001").len(), 8);
    // Finished jobs never run again, across another restart.
    rig.kill9();
    rig.start();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rig.render_calls().len(), 2);
    assert_eq!(rig.log_events("accepted").len(), 1);
}

#[test]
fn sigterm_interrupts_the_render_and_the_restart_finishes_it() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "40");
    rig.start();
    rig.append(b"rend:-r sw -s 1 -e 6 scenes/shot01.ma\nrend:-r sw -s 1 -e 1 scenes/shot02.mb\n");
    rig.wait_until("a frame on disk", || rig.frames("job-0001").len() >= 2);
    let renderer = rig.renderer_pid();
    let status = rig.stop();
    assert!(status.success(), "exit 0 on SIGTERM: {status:?}");
    assert!(
        !alive(renderer),
        "the renderer's process group was terminated"
    );
    assert!(rig.log_events("interrupted")[0].contains("job 1"));
    assert_eq!(rig.status().state, "stopped");
    assert!(
        rig.log_events("started").len() == 1,
        "job 2 did not start while stopping: {}",
        rig.log()
    );
    rig.set_env("RENDER_SIM_STEP_MS", "2");
    rig.start();
    rig.wait_events("finished", 2);
    assert_eq!(rig.frames("job-0001").len(), 6);
    let finished = rig.log_events("finished");
    assert!(
        finished[0].contains("job 1") && finished[1].contains("job 2"),
        "interrupted jobs resume first: {finished:?}"
    );
}

#[test]
fn a_hung_renderer_is_killed_after_the_grace_period_on_stop() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_HANG_AT_FRAME", "2");
    // A renderer that ignores SIGTERM is what the grace period is for.
    rig.start();
    rig.append(b"rend:-s 1 -e 3 scenes/shot01.ma\n");
    rig.wait_until("frame 1 on disk", || !rig.frames("job-0001").is_empty());
    std::thread::sleep(Duration::from_millis(200));
    let renderer = rig.renderer_pid();
    let status = rig.stop();
    assert!(status.success());
    assert!(!alive(renderer));
}
