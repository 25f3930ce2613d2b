//! Renderer processes, through `droprender-supervise`: each runs as one
//! tree (a process group on Unix, a Job Object on Windows), tagged in its
//! environment so a restarted node can find leftovers from before a crash.

use std::path::Path;

use droprender_supervise::{SpawnError, Spec, Supervised};

use crate::renderer::Invocation;

pub use droprender_supervise::{TAG_VAR, kill_leftovers, start_time};

/// A tag naming this node (by state dir) and the job: `<node-id>:<job>`.
pub fn tag(node_id: &str, job: u64) -> String {
    format!("{node_id}:{job}")
}

/// A stable id for a state dir, so two nodes on one machine never touch each other's renders.
pub fn node_id(state: &Path) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    state.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Starts a renderer as its own tree. It inherits the node's environment
/// plus the invocation's; stdin is closed, stdout and stderr are piped.
pub fn spawn(inv: &Invocation, tag: &str) -> Result<Supervised, SpawnError> {
    Supervised::spawn(&Spec {
        program: inv.program.clone(),
        args: inv.args.clone(),
        env: inv.env.clone(),
        cwd: None,
        tag: tag.to_string(),
    })
}

/// How `suspend:` freezes a renderer and `resume:` thaws it, for LOG lines.
#[cfg(unix)]
pub const FREEZE: (&str, &str) = ("SIGSTOP", "SIGCONT");
#[cfg(windows)]
pub const FREEZE: (&str, &str) = (
    "every process of its Job Object suspended",
    "every process of its Job Object resumed",
);
