//! The core's questions about the disk, answered from real files. Every
//! call here blocks; the node asks them off the async runtime (`blocking`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::core::{BadFrame, Facts, FrameSummary, PathError, SceneState};
use crate::frames::{self, book::Book, verify::Checks};
use crate::paths::{dir_inside, existing_inside, is_within};
use crate::{renderer, scene};

pub struct DiskFacts {
    pub projects: PathBuf,
    pub output: PathBuf,
    /// How frames are judged; `None`: a complete file counts (`[verify] enabled = false`).
    pub checks: Option<Checks>,
}

impl Facts for DiskFacts {
    fn in_projects(&self, given: &str) -> Result<PathBuf, PathError> {
        existing_inside(&self.projects, given)
    }

    fn in_output(&self, given: &str) -> Result<PathBuf, PathError> {
        dir_inside(&self.output, given)
    }

    fn arriving(&self, given: &str) -> Option<PathBuf> {
        let p = self.projects.join(crate::paths::line_path(given)?);
        if !is_within(&p, &self.projects) || given.contains("..") {
            return None;
        }
        let (dir, name) = (p.parent()?, p.file_name()?.to_str()?);
        let found = std::fs::read_dir(dir).is_ok_and(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .any(|n| scene::is_sync_temp_for(&n, name))
        });
        found.then_some(p)
    }

    fn scene(&self, path: &Path, stable_for: Duration, now: SystemTime) -> SceneState {
        scene::state(path, stable_for, now)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn frames_done(&self, dir: &Path, layers: usize) -> BTreeSet<i64> {
        match self.checks {
            Some(checks) => frames::judge_all(dir, layers, checks),
            None => renderer::done_frames(dir, layers),
        }
    }

    fn bad_frames(&self, dir: &Path) -> BTreeMap<i64, BadFrame> {
        if self.checks.is_none() {
            return BTreeMap::new();
        }
        Book::read(dir).bad()
    }

    fn frame_summary(&self, dir: &Path) -> Option<FrameSummary> {
        Book::read(dir).summary()
    }
}
