//! The end-to-end suite that runs on every OS the node ships for: here in
//! the normal `cargo test --workspace` on Linux, and cross-built for
//! x86_64-pc-windows-gnu under Wine by `.ci/cross` (the node binary copied
//! to `bin\Render.exe` is the Render simulator there). It drives the real
//! node and client binaries and checks what a user sees: a render,
//! `progress:`, each line run exactly once across a restart, a node killed
//! mid-render (no renderer left alive, frames resume), `cancel:` taking a
//! renderer together with the child it started, suspend/resume, conflicted
//! copies, the hostile-input set, an atomic status write while a reader
//! holds status.txt open, and a bounded crash loop (`DROPRENDER_LONG=1`
//! for a longer one) whose figures RELIABILITY.md quotes.
//!
//! Nothing here signals, reads /proc or links files: a node is stopped by
//! killing it (SIGKILL, or TerminateProcess on Windows), processes are
//! looked up through `droprender_supervise` and sysinfo. Checks that only
//! hold on one OS say so where they are.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/reliability.rs"]
mod reliability;

mod channel;
mod control;
mod crash_loop;
mod held;
mod render;

use std::process::Output;
use std::time::Duration;

use common::Rig;
use common::layout::NO_BLENDER;

/// A rig whose node skips the Blender version probe (no Blender here; it
/// would cost every start half a second where one is installed).
fn rig() -> Rig {
    let rig = Rig::new();
    rig.configure(NO_BLENDER);
    rig
}

/// Asserts a client run succeeded, showing its stderr otherwise.
fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "client failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A pid a file holds (the simulator's RENDER_SIM_PID_FILE or
/// RENDER_SIM_CHILD_PID_FILE); 0 while there is none.
fn pid_in(path: &std::path::Path) -> i32 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until none of `pids` is alive.
fn wait_gone(rig: &Rig, what: &str, pids: &[i32], timeout: Duration) {
    rig.wait_for(what, timeout, &mut || {
        pids.iter().all(|&p| !common::alive(p))
    });
}

/// Waits until no renderer this rig started (found by its environment) is
/// alive, children included.
fn wait_no_renderers(rig: &Rig, timeout: Duration) {
    rig.wait_for("no renderer process left", timeout, &mut || {
        reliability::renderers(&rig.argv_log).is_empty()
    });
}
