//! The well-known files in the synced folder, and how to recognise
//! conflicted copies of commands.txt made by sync engines.

pub const COMMANDS: &str = "commands.txt";
pub const ACTIVE: &str = "active_rend.txt";
pub const PROJECTS: &str = "projects_to_rend.txt";
pub const LOG: &str = "LOG.txt";
pub const STATUS_TXT: &str = "status.txt";
pub const STATUS_JSON: &str = "status.json";
pub const PREVIEW: &str = "preview.jpg";
pub const CONTACT: &str = "contact.jpg";
pub const HELP: &str = "help.txt";
/// The renderer profiles a node runs with (its config's included), so a
/// client checks lines for config-defined renderers as the node will.
pub const RENDERERS: &str = "renderers.json";
/// The node's own temp files: `.droprender-<name>.<random>.tmp`.
pub const TEMP_PREFIX: &str = ".droprender-";
pub const TEMP_SUFFIX: &str = ".tmp";

/// Where a command line can come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// commands.txt itself.
    Main,
    /// A conflicted copy, by file name.
    Copy(String),
}

impl Source {
    pub fn file_name(&self) -> &str {
        match self {
            Source::Main => COMMANDS,
            Source::Copy(n) => n,
        }
    }
}

/// Classifies a file name in the folder as a command source.
///
/// Dropbox desktop: `commands (Jane's conflicted copy 2026-08-23).txt`;
/// Dropbox API autorename: `commands (conflicted copy).txt`; Nextcloud:
/// `commands (conflicted copy 2026-08-23 101500).txt`; Syncthing:
/// `commands.sync-conflict-20260823-101500-ABCDEFG.txt`.
pub fn classify(name: &str) -> Option<Source> {
    if name == COMMANDS {
        return Some(Source::Main);
    }
    let lower = name.to_lowercase();
    let stem = lower.strip_suffix(".txt")?;
    let is_copy = if let Some(rest) = stem.strip_prefix("commands (") {
        rest.ends_with(')') && rest.contains("conflicted copy")
    } else if let Some(rest) = stem.strip_prefix("commands.sync-conflict-") {
        !rest.is_empty()
    } else {
        false
    };
    is_copy.then(|| Source::Copy(name.to_string()))
}

/// True for our own temp files and sync engines' temp files, which never
/// carry meaning and must not wake the node.
pub fn is_temp(name: &str) -> bool {
    (name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX))
        || (name.starts_with(".syncthing.") && name.ends_with(".tmp"))
        || name.starts_with("~$")
        || name.ends_with(".part")
        || name.ends_with(".crdownload")
}

/// A per-node variant of a file name: `LOG.txt` → `LOG-boxB.txt`.
pub fn per_node(name: &str, node: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{node}.{ext}"),
        None => format!("{name}-{node}"),
    }
}

/// The node name in `status-<name>.json`.
pub fn status_json_node(name: &str) -> Option<&str> {
    name.strip_prefix("status-")?.strip_suffix(".json")
}

/// Per-node status file names (`status-<name>.txt`) used when several nodes share a folder.
/// Where a full LOG.txt (or LOG-<node>.txt) is moved: `LOG.<time>.txt`,
/// with the time made safe for every file system (`:` → `-`). Not a
/// per-node name (those use `-`), and not a command file.
pub fn log_archive(log: &str, time: &str) -> String {
    let time: String = time
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    match log.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{time}.{ext}"),
        None => format!("{log}.{time}"),
    }
}

/// For a LOG archive's name, the log it was moved out of and its order
/// among that log's archives (oldest first): `LOG.2026-11-22-10-15-00.txt`
/// → (`LOG.txt`, ("2026-11-22-10-15-00", 1)).
pub fn archive_of(name: &str) -> Option<(String, (String, u32))> {
    let (stem, time) = name.strip_suffix(".txt")?.rsplit_once('.')?;
    if stem != "LOG" && !stem.starts_with("LOG-") {
        return None;
    }
    let (when, k) = match time.get(19..) {
        Some("") => (time, 1),
        Some(k) => (time.get(..19)?, k.strip_prefix('-')?.parse().ok()?),
        None => return None,
    };
    let digits = when.chars().filter(char::is_ascii_digit).count();
    (digits == 14).then(|| (format!("{stem}.txt"), (when.to_string(), k)))
}

pub fn node_status_txt(node: &str) -> String {
    format!("status-{node}.txt")
}

pub fn node_status_json(node: &str) -> String {
    format!("status-{node}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicted_copies_are_recognised() {
        for n in [
            "commands (Jane's conflicted copy 2026-08-23).txt",
            "commands (conflicted copy).txt",
            "commands (conflicted copy 2026-08-23 101500).txt",
            "commands.sync-conflict-20260823-101500-ABCDEFG.txt",
        ] {
            assert_eq!(classify(n), Some(Source::Copy(n.to_string())), "{n}");
        }
        assert_eq!(classify("commands.txt"), Some(Source::Main));
        for n in [
            "LOG.txt",
            "commands.txt.bak",
            "commands (1).txt",
            "xcommands.txt",
        ] {
            assert_eq!(classify(n), None, "{n}");
        }
    }

    #[test]
    fn log_archives_are_neither_commands_nor_per_node_files() {
        let a = log_archive(LOG, "2026-11-22 10:15:00");
        assert_eq!(a, "LOG.2026-11-22-10-15-00.txt");
        assert_eq!(
            log_archive(&per_node(LOG, "boxB"), "2026-11-22 10:15:00 2"),
            "LOG-boxB.2026-11-22-10-15-00-2.txt"
        );
        assert_eq!(classify(&a), None);
        assert_eq!(
            archive_of(&a),
            Some(("LOG.txt".into(), ("2026-11-22-10-15-00".into(), 1)))
        );
        let b = log_archive(&per_node(LOG, "boxB"), "2026-11-22 10:15:00 2");
        assert_eq!(
            archive_of(&b),
            Some(("LOG-boxB.txt".into(), ("2026-11-22-10-15-00".into(), 2)))
        );
        assert_eq!(archive_of(LOG), None);
        assert_eq!(archive_of("status.txt"), None);
    }

    #[test]
    fn temp_files() {
        assert!(is_temp(".droprender-status.txt.x1y2.tmp"));
        assert!(is_temp(".syncthing.commands.txt.tmp"));
        assert!(!is_temp("commands.txt"));
    }
}
