//! `cancel:` of a renderer that started a child of its own, and
//! suspend/resume, through the client.

use std::time::Duration;

use crate::common::alive;
use crate::{ok, pid_in, rig, wait_gone, wait_no_renderers};

#[test]
fn cancel_kills_the_renderer_and_the_child_it_started() {
    let mut rig = rig();
    let child_file = rig.dir.path().join("child.pid");
    rig.set_env("RENDER_SIM_STEP_MS", "50");
    rig.set_env(
        "RENDER_SIM_CHILD_PID_FILE",
        &child_file.display().to_string(),
    );
    rig.start();
    rig.append(b"rend:-s 1 -e 20 scenes/shot01.ma\n");
    rig.wait_until("a frame", || !rig.frames("job-0001").is_empty());
    let (renderer, child) = (rig.renderer_pid(), pid_in(&child_file));
    assert!(alive(renderer), "the renderer runs");
    assert!(alive(child), "the renderer's child runs");
    ok(rig.client(&["cancel", "1"]));
    rig.wait_events("cancelled", 1);
    wait_gone(
        &rig,
        "the renderer and its child to be gone",
        &[renderer, child],
        Duration::from_secs(20),
    );
    wait_no_renderers(&rig, Duration::from_secs(20));
    let st = rig.status();
    let j1 = st.recent.iter().find(|j| j.id == 1).expect("job 1");
    assert_eq!(j1.state, "cancelled");
    // The queue moves on, and a second cancel is a clear rejection.
    rig.set_env("RENDER_SIM_CHILD_PID_FILE", "");
    rig.append(b"rend:-s 1 -e 1 scenes/shot02.mb\ncancel: 1\ncancel: 99\n");
    rig.wait_events("finished", 1);
    assert!(rig.log_events("finished")[0].contains("job 2"));
    rig.wait_events("rejected", 2);
    let r = rig.log_events("rejected");
    assert!(
        r[0].contains("cancel:1 because job 1 is already cancelled"),
        "{r:?}"
    );
    assert!(r[1].contains("because there is no job 99"), "{r:?}");
    assert!(alive(rig.node_pid() as i32));
}

#[test]
fn suspend_freezes_the_render_and_resume_continues_it() {
    let mut rig = rig();
    rig.set_env("RENDER_SIM_STEP_MS", "40");
    rig.start();
    rig.append(b"rend:-s 1 -e 12 scenes/shot01.ma\n");
    rig.wait_until("a frame", || !rig.frames("job-0001").is_empty());
    let pid = rig.renderer_pid();
    ok(rig.client(&["suspend", "1"]));
    #[cfg(target_os = "linux")]
    rig.wait_until("SIGSTOP", || crate::common::procfs::state(pid) == Some('T'));
    rig.wait_until("status to say suspended", || {
        rig.status().current.is_some_and(|c| c.state == "suspended")
    });
    // Status can say so a moment before the freeze is applied; and a frame
    // file in the middle of its rename lands.
    std::thread::sleep(Duration::from_millis(300));
    let frozen = rig.frames("job-0001").len();
    let argv = std::fs::read(&rig.argv_log).expect("argv log");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        rig.frames("job-0001").len(),
        frozen,
        "no progress while suspended"
    );
    assert!(alive(pid), "suspended, not killed");
    assert!(rig.status().current.is_some_and(|c| c.state == "suspended"));
    ok(rig.client(&["resume", "1"]));
    #[cfg(target_os = "linux")]
    rig.wait_until("SIGCONT", || crate::common::procfs::state(pid) != Some('T'));
    rig.wait_until("more frames", || rig.frames("job-0001").len() > frozen + 1);
    rig.wait_events("finished", 1);
    assert_eq!(rig.frames("job-0001").len(), 12);
    assert_eq!(
        std::fs::read(&rig.argv_log).expect("argv log"),
        argv,
        "the same renderer went on: no restart"
    );
    let log = rig.log();
    assert!(log.contains("shot01.ma: suspended ("), "{log}");
    assert!(
        rig.log_events("resumed")
            .iter()
            .any(|l| l.contains("continued")),
        "{log}"
    );
}
