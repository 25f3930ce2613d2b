//! Containment: a path from the channel must resolve, symlinks followed,
//! inside the root it belongs to.

use std::path::{Component, Path, PathBuf};

pub use crate::core::PathError;

/// Resolves an existing file or directory inside `root`.
pub fn existing_inside(root: &Path, given: &str) -> Result<PathBuf, PathError> {
    let root_c = root
        .canonicalize()
        .map_err(|e| PathError::Root(root.display().to_string(), e.to_string()))?;
    let joined = root_c.join(given);
    // Lexically outside (absolute elsewhere, or `..` climbing out) says so
    // whether or not it exists.
    if !lexical(&joined).starts_with(&root_c) {
        return Err(PathError::Outside(
            given.to_string(),
            root.display().to_string(),
        ));
    }
    let real = joined
        .canonicalize()
        .map_err(|_| PathError::Missing(given.to_string(), root.display().to_string()))?;
    if real.starts_with(&root_c) {
        Ok(real)
    } else {
        Err(PathError::Outside(
            given.to_string(),
            root.display().to_string(),
        ))
    }
}

/// Resolves a directory that may not exist yet inside `root`: the longest
/// existing ancestor is canonicalised, and the rest may not climb with `..`.
pub fn dir_inside(root: &Path, given: &str) -> Result<PathBuf, PathError> {
    let root_c = root
        .canonicalize()
        .map_err(|e| PathError::Root(root.display().to_string(), e.to_string()))?;
    let joined = root_c.join(given);
    let mut existing = joined.as_path();
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent;
            }
            _ => {
                return Err(PathError::Outside(
                    given.to_string(),
                    root.display().to_string(),
                ));
            }
        }
    }
    let mut real = existing
        .canonicalize()
        .map_err(|_| PathError::Missing(given.to_string(), root.display().to_string()))?;
    for part in rest.iter().rev() {
        if Path::new(part)
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(PathError::Outside(
                given.to_string(),
                root.display().to_string(),
            ));
        }
        real.push(part);
    }
    if real.starts_with(&root_c) {
        Ok(real)
    } else {
        Err(PathError::Outside(
            given.to_string(),
            root.display().to_string(),
        ))
    }
}

/// Resolves `.` and `..` without touching the disk.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// True when `inner` is `outer` or below it (both canonicalised when they exist).
pub fn is_within(inner: &Path, outer: &Path) -> bool {
    let c = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    c(inner).starts_with(c(outer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("projects");
        std::fs::create_dir_all(root.join("a")).expect("mkdir");
        std::fs::write(root.join("a/shot.mb"), b"x").expect("write");
        std::fs::write(d.path().join("secret.mb"), b"x").expect("write");
        std::os::unix::fs::symlink(d.path().join("secret.mb"), root.join("link.mb"))
            .expect("symlink");
        assert!(existing_inside(&root, "a/shot.mb").is_ok());
        assert!(matches!(
            existing_inside(&root, "../secret.mb"),
            Err(PathError::Outside(..))
        ));
        assert!(matches!(
            existing_inside(&root, "link.mb"),
            Err(PathError::Outside(..))
        ));
        assert!(matches!(
            existing_inside(&root, "/etc/passwd"),
            Err(PathError::Outside(..))
        ));
        assert!(matches!(
            existing_inside(&root, "nope.mb"),
            Err(PathError::Missing(..))
        ));
        assert!(dir_inside(&root, "new/sub").is_ok());
        assert!(dir_inside(&root, "new/../../x").is_err());
        assert!(dir_inside(&root, "/tmp").is_err());
    }
}
