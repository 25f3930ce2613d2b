//! Containment: a path from the channel must resolve, symlinks followed,
//! inside the root it belongs to.
//!
//! A line may spell a path the Windows way or the Unix way on any node:
//! `scenes\shot01.mb` and `scenes/shot01.mb` are the same scene. Drive
//! letters (`C:\…`), UNC paths (`\\server\share`), `..` and device names
//! (`NUL`, `CON`…) are contained exactly as `/…` paths are: a path that
//! cannot name something inside the root is refused as outside it.

use std::path::{Component, Path, PathBuf};

pub use crate::core::PathError;

/// A path typed in a line, as this OS spells it; `None` when it cannot
/// name a file under a root here.
pub fn line_path(given: &str) -> Option<PathBuf> {
    let drive = given.len() >= 2
        && given.as_bytes()[0].is_ascii_alphabetic()
        && given.as_bytes()[1] == b':';
    let unc = given.starts_with("\\\\") || given.starts_with("//");
    let reserved = given.split(['/', '\\']).any(|part| {
        let stem = part
            .split('.')
            .next()
            .unwrap_or("")
            .trim_end()
            .to_ascii_uppercase();
        matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
            || ((stem.starts_with("COM") || stem.starts_with("LPT"))
                && stem.len() == 4
                && stem.as_bytes()[3].is_ascii_digit())
    });
    if reserved || given.contains('\0') {
        return None;
    }
    native(given, drive, unc)
}

#[cfg(windows)]
fn native(given: &str, drive: bool, _unc: bool) -> Option<PathBuf> {
    // A colon anywhere but after a drive letter names an alternate data
    // stream (`shot.mb:evil`); `\\?\` and `\\.\` are device namespaces.
    let colon_ok = given.rfind(':').is_none_or(|i| drive && i == 1);
    (colon_ok && !given.starts_with("\\\\?") && !given.starts_with("\\\\."))
        .then(|| PathBuf::from(given))
}

#[cfg(not(windows))]
fn native(given: &str, drive: bool, unc: bool) -> Option<PathBuf> {
    // A drive or a share never names anything under a root here.
    (!drive && !unc).then(|| PathBuf::from(given.replace('\\', "/")))
}

/// `canonicalize` without Windows' `\\?\` prefix where the plain path
/// means the same (renderers do not all read verbatim paths).
fn canonical(p: &Path) -> std::io::Result<PathBuf> {
    dunce::canonicalize(p)
}

fn outside(given: &str, root: &Path) -> PathError {
    PathError::Outside(given.to_string(), root.display().to_string())
}

/// Resolves an existing file or directory inside `root`.
pub fn existing_inside(root: &Path, given: &str) -> Result<PathBuf, PathError> {
    let root_c =
        canonical(root).map_err(|e| PathError::Root(root.display().to_string(), e.to_string()))?;
    let joined = root_c.join(line_path(given).ok_or_else(|| outside(given, root))?);
    // Lexically outside (absolute elsewhere, or `..` climbing out) says so
    // whether or not it exists.
    if !lexical(&joined).starts_with(&root_c) {
        return Err(PathError::Outside(
            given.to_string(),
            root.display().to_string(),
        ));
    }
    let real = canonical(&joined)
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
    let root_c =
        canonical(root).map_err(|e| PathError::Root(root.display().to_string(), e.to_string()))?;
    let joined = root_c.join(line_path(given).ok_or_else(|| outside(given, root))?);
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
    let mut real = canonical(existing)
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
    let c = |p: &Path| canonical(p).unwrap_or_else(|_| p.to_path_buf());
    c(inner).starts_with(c(outer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rig() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("projects");
        std::fs::create_dir_all(root.join("a")).expect("mkdir");
        std::fs::write(root.join("a").join("shot.mb"), b"x").expect("write");
        std::fs::write(d.path().join("secret.mb"), b"x").expect("write");
        (d, root)
    }

    fn is_outside<T: std::fmt::Debug>(r: Result<T, PathError>) -> bool {
        matches!(r, Err(PathError::Outside(..)))
    }

    #[test]
    fn containment() {
        let (_d, root) = rig();
        assert!(existing_inside(&root, "a/shot.mb").is_ok());
        assert!(is_outside(existing_inside(&root, "../secret.mb")));
        assert!(is_outside(existing_inside(&root, "/etc/passwd")));
        assert!(matches!(
            existing_inside(&root, "nope.mb"),
            Err(PathError::Missing(..))
        ));
        assert!(dir_inside(&root, "new/sub").is_ok());
        assert!(dir_inside(&root, "new/../../x").is_err());
        assert!(dir_inside(&root, "/tmp").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_out_of_the_root_is_outside() {
        let (d, root) = rig();
        std::os::unix::fs::symlink(d.path().join("secret.mb"), root.join("link.mb"))
            .expect("symlink");
        assert!(is_outside(existing_inside(&root, "link.mb")));
    }

    /// Paths typed the Windows way mean the same on every node, and every
    /// Windows way out of the root is refused like `..` is.
    #[test]
    fn windows_spellings_resolve_and_are_contained() {
        let (_d, root) = rig();
        let good = existing_inside(&root, "a\\shot.mb").expect("backslashes");
        assert_eq!(good, existing_inside(&root, "a/shot.mb").expect("slashes"));
        for bad in [
            "..\\secret.mb",
            "a\\..\\..\\secret.mb",
            "C:\\Windows\\win.ini",
            "c:secret.mb",
            "\\\\server\\share\\shot.mb",
            "//server/share/shot.mb",
            "NUL.mb",
            "a\\con",
            "COM1.ma",
            "lpt9",
        ] {
            assert!(is_outside(existing_inside(&root, bad)), "{bad}");
            assert!(is_outside(dir_inside(&root, bad)), "{bad}");
        }
        assert!(dir_inside(&root, "new\\sub").is_ok());
        assert!(dir_inside(&root, "..\\x").is_err());
        assert!(
            existing_inside(&root, "console.mb")
                .is_err_and(|e| matches!(e, PathError::Missing(..)))
        );
    }

    #[cfg(windows)]
    #[test]
    fn windows_only_forms() {
        let (_d, root) = rig();
        assert!(is_outside(existing_inside(&root, "a\\shot.mb:evil")));
        assert!(is_outside(existing_inside(&root, "\\\\?\\C:\\x.mb")));
        let abs = root.join("a").join("shot.mb");
        assert!(existing_inside(&root, &abs.display().to_string()).is_ok());
    }
}
