//! Half-synced scenes: a scene in a synced folder is rendered only once it is
//! stable (size and mtime unchanged for a while) and no sync temp file sits
//! beside it. Flamenco users hit exactly this with Dropbox-synced storage.

use std::path::Path;
use std::time::{Duration, SystemTime};

pub use crate::core::SceneState;

/// True for a sync engine's temp file belonging to `scene_name`.
pub fn is_sync_temp_for(name: &str, scene_name: &str) -> bool {
    name != scene_name
        && name.contains(scene_name)
        && (name.starts_with('.')
            || name.starts_with('~')
            || name.ends_with(".tmp")
            || name.ends_with(".part")
            || name.ends_with(".partial")
            || name.contains(".~"))
}

/// Looks at a scene file: is it safe to render now?
pub fn state(scene: &Path, stable_for: Duration, now: SystemTime) -> SceneState {
    let name = scene
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let temp_beside = scene
        .parent()
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .and_then(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .find(|n| is_sync_temp_for(n, name))
        });
    if let Some(t) = temp_beside {
        return SceneState::Syncing {
            why: format!("{name} is still syncing ({t} is beside it)"),
            recheck: Duration::from_secs(1),
        };
    }
    let Ok(md) = std::fs::metadata(scene) else {
        return SceneState::Missing;
    };
    let age = md
        .modified()
        .ok()
        .and_then(|m| now.duration_since(m).ok())
        .unwrap_or(stable_for);
    if age < stable_for {
        return SceneState::Syncing {
            why: format!(
                "{name} changed {:.0}s ago; waiting until it is stable",
                age.as_secs_f64()
            ),
            recheck: stable_for - age,
        };
    }
    SceneState::Ready
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_files_and_temp_files_wait() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = d.path().join("shot.mb");
        std::fs::write(&s, "x").expect("write");
        let now = SystemTime::now();
        assert!(matches!(
            state(&s, Duration::from_secs(3), now),
            SceneState::Syncing { .. }
        ));
        assert_eq!(
            state(&s, Duration::from_secs(3), now + Duration::from_secs(5)),
            SceneState::Ready
        );
        std::fs::write(d.path().join(".syncthing.shot.mb.tmp"), "x").expect("write");
        assert!(matches!(
            state(&s, Duration::from_secs(3), now + Duration::from_secs(5)),
            SceneState::Syncing { .. }
        ));
        assert!(is_sync_temp_for("shot.mb.part", "shot.mb"));
        assert!(!is_sync_temp_for("shot.mb", "shot.mb"));
        assert!(!is_sync_temp_for("other.mb.tmp", "shot.mb"));
        assert_eq!(
            state(&d.path().join("nope.mb"), Duration::ZERO, now),
            SceneState::Missing
        );
    }
}
