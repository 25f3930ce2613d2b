//! Paths (`DbxPath`, case-insensitive and case-preserving) and the targets
//! a lookup can point at.

/// A validated absolute path (never the root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbxPath {
    /// As given (or as resolved against existing casing).
    pub display: String,
    /// Lowercased: the key.
    pub lower: String,
}

/// Why a path string is not an acceptable path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathProblem {
    /// Does not start with `/`.
    NotAbsolute,
    /// Is exactly `/` (Dropbox wants `""` for the root).
    SlashRoot,
    /// Empty, `.` or `..` component, or a trailing slash: Dropbox's
    /// `malformed_path` lookup/write error.
    Malformed,
}

impl DbxPath {
    /// Parse `/a/b.txt`. The root (`""`) is not a `DbxPath`.
    pub fn parse(p: &str) -> Result<Self, PathProblem> {
        if !p.starts_with('/') {
            return Err(PathProblem::NotAbsolute);
        }
        if p == "/" {
            return Err(PathProblem::SlashRoot);
        }
        // Unsure: Dropbox's exact treatment of trailing slashes and dot
        // components; we report them as `malformed_path`.
        if p[1..]
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(PathProblem::Malformed);
        }
        Ok(DbxPath {
            display: p.to_owned(),
            lower: lower(p),
        })
    }

    /// Last component.
    pub fn name(&self) -> &str {
        name_of(&self.display)
    }

    /// Parent path, `None` for a top-level entry (whose parent is the root).
    pub fn parent(&self) -> Option<DbxPath> {
        let idx = self.display.rfind('/')?;
        if idx == 0 {
            return None;
        }
        let display = self.display[..idx].to_owned();
        Some(DbxPath {
            lower: lower(&display),
            display,
        })
    }

    /// Every proper ancestor, outermost first (root excluded).
    pub(super) fn ancestors(&self) -> Vec<DbxPath> {
        let mut out = Vec::new();
        let mut cur = self.parent();
        while let Some(p) = cur {
            cur = p.parent();
            out.push(p);
        }
        out.reverse();
        out
    }

    pub(super) fn sibling(&self, name: &str) -> DbxPath {
        let parent = self.parent().map(|p| p.display).unwrap_or_default();
        let display = format!("{parent}/{name}");
        DbxPath {
            lower: lower(&display),
            display,
        }
    }
}

/// Dropbox's case folding for `path_lower`.
pub fn lower(p: &str) -> String {
    p.to_lowercase()
}

pub(super) fn name_of(display: &str) -> &str {
    display.rsplit('/').next().unwrap_or(display)
}

/// Where a lookup points.
#[derive(Clone, Debug)]
pub enum Target {
    /// `""`.
    Root,
    /// `/…`.
    Path(DbxPath),
    /// `id:…`.
    Id(String),
    /// `rev:…`.
    Rev(String),
    /// A path that failed [`DbxPath::parse`] as malformed.
    Malformed,
}
