//! What the core needs to know about the disk, asked through a small
//! trait: the node answers with real files (`crate::node::facts`), unit
//! tests with a table. The core never touches a file itself.

use std::collections::{BTreeMap, BTreeSet};
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

/// A frame that failed its checks (see `crate::frames::verify`), and how
/// often it was rendered bad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFrame {
    pub attempts: u32,
    pub why: String,
}

/// Render times over a job's good frames, and the highest peak memory.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FrameSummary {
    pub frames: u64,
    pub avg_s: f64,
    pub slowest_frame: i64,
    pub slowest_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_mem_mb: Option<u64>,
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

    /// Frames rendered under `dir` (in every layer folder): whole, and
    /// passing the node's checks (they decode, they are not one flat colour).
    fn frames_done(&self, dir: &Path, layers: usize) -> BTreeSet<i64>;

    /// Frames under `dir` that failed the checks, with how often.
    fn bad_frames(&self, dir: &Path) -> BTreeMap<i64, BadFrame>;

    /// Render times and peak memory over the frames under `dir`.
    fn frame_summary(&self, dir: &Path) -> Option<FrameSummary>;
}
