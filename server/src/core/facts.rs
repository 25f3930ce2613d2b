//! What the core needs to know about the disk, asked through a small
//! trait: the node answers with real files (`crate::node::facts`), unit
//! tests with a table. The core never touches a file itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use thiserror::Error;

/// Why a path from a line cannot be used.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PathError {
    #[error("{0} does not exist under {1}")]
    Missing(String, String),
    #[error("{0} is outside {1}")]
    Outside(String, String),
    #[error("the root {0} cannot be read: {1}")]
    Root(String, String),
}

/// Whether a scene can be rendered now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SceneState {
    Ready,
    /// Not yet: why, and when to look again.
    Syncing {
        why: String,
        recheck: Duration,
    },
    Missing,
}

pub trait Facts {
    /// A file or folder named in a line, resolved inside the projects root
    /// (symlinks followed). It must exist.
    fn in_projects(&self, given: &str) -> Result<PathBuf, PathError>;

    /// A folder named in a line (`-rd`), resolved inside the output root;
    /// it may not exist yet.
    fn in_output(&self, given: &str) -> Result<PathBuf, PathError>;

    /// A scene that does not exist (yet) has a sync engine's temp file
    /// beside it: it is still arriving, and will be at the path returned.
    fn arriving(&self, given: &str) -> Option<PathBuf>;

    /// Is the scene whole and settled (no sync temp file, unchanged for
    /// `stable_for`) at `now`?
    fn scene(&self, path: &Path, stable_for: Duration, now: SystemTime) -> SceneState;

    /// Whether a job's output folder exists (it rendered something, or began to).
    fn is_dir(&self, path: &Path) -> bool;

    /// Frames complete on disk under `dir` (in every layer folder).
    fn frames_done(&self, dir: &Path, layers: usize) -> BTreeSet<i64>;
}
