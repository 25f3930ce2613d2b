//! Wire types: the JSON shapes Dropbox sends, and helpers for its encodings.

use serde::{Deserialize, Serialize};

/// `files.Metadata`: a union tagged with `.tag`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum Metadata {
    /// A file.
    File(FileMetadata),
    /// A folder.
    Folder(FolderMetadata),
    /// Something that used to exist.
    Deleted(DeletedMetadata),
}

impl Metadata {
    /// `path_lower` of any variant.
    pub fn path_lower(&self) -> &str {
        match self {
            Metadata::File(m) => &m.path_lower,
            Metadata::Folder(m) => &m.path_lower,
            Metadata::Deleted(m) => &m.path_lower,
        }
    }

    /// `name` of any variant.
    pub fn name(&self) -> &str {
        match self {
            Metadata::File(m) => &m.name,
            Metadata::Folder(m) => &m.name,
            Metadata::Deleted(m) => &m.name,
        }
    }
}

/// `files.FileMetadata`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMetadata {
    /// Last path component.
    pub name: String,
    /// Lowercased full path.
    pub path_lower: String,
    /// Cased full path, for display.
    pub path_display: String,
    /// `id:…`, stable across edits.
    pub id: String,
    /// As sent by the client in `client_modified`, else the server time.
    pub client_modified: String,
    /// When this rev was written.
    pub server_modified: String,
    /// Unique per version: lowercase hex, at least 9 chars.
    pub rev: String,
    /// Bytes.
    pub size: u64,
    /// See [`crate::hash`].
    pub content_hash: String,
    /// Always true here.
    pub is_downloadable: bool,
}

/// `files.FolderMetadata`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderMetadata {
    /// Last path component.
    pub name: String,
    /// Lowercased full path.
    pub path_lower: String,
    /// Cased full path, for display.
    pub path_display: String,
    /// `id:…`.
    pub id: String,
}

/// `files.DeletedMetadata`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedMetadata {
    /// Last path component.
    pub name: String,
    /// Lowercased full path.
    pub path_lower: String,
    /// Cased full path, for display.
    pub path_display: String,
}

/// `files.ListFolderResult`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFolderResult {
    /// Entries, parents before children.
    pub entries: Vec<Metadata>,
    /// Pass to `list_folder/continue`.
    pub cursor: String,
    /// More pages are waiting right now.
    pub has_more: bool,
}

/// Serialize a value as JSON that is safe in an HTTP header: every char at or
/// above 0x7F is written as `\uXXXX` (UTF-16 surrogate pairs above the BMP).
pub fn header_json<T: Serialize>(value: &T) -> String {
    // Serializing plain data structures to a String cannot fail.
    let raw = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
    escape_non_ascii(&raw)
}

/// Escape 0x7F and all non-ASCII characters as `\uXXXX`. Applied to JSON text
/// this keeps it valid JSON, because such characters can only occur inside
/// string literals.
pub fn escape_non_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if (c as u32) < 0x7f {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Dropbox timestamp format: `2026-11-22T10:00:00Z` (UTC, whole seconds).
const TIMESTAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Now, formatted as a Dropbox timestamp.
pub fn now_timestamp() -> String {
    format_timestamp(time::OffsetDateTime::now_utc())
}

/// Format as a Dropbox timestamp (UTC, whole seconds).
pub fn format_timestamp(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(TIMESTAMP)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Parse a Dropbox timestamp; `None` unless it is exactly `%Y-%m-%dT%H:%M:%SZ`.
pub fn parse_timestamp(s: &str) -> Option<time::OffsetDateTime> {
    time::PrimitiveDateTime::parse(s, TIMESTAMP)
        .ok()
        .map(|t| t.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_non_ascii_and_del() {
        let v = serde_json::json!({"name": "Café \u{7f} 🎬.txt"});
        let h = header_json(&v);
        assert!(h.is_ascii());
        assert_eq!(h, r#"{"name":"Caf\u00e9 \u007f \ud83c\udfac.txt"}"#);
        let back: serde_json::Value = serde_json::from_str(&h).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn timestamps_round_trip() {
        let t = parse_timestamp("2026-11-22T10:00:00Z").unwrap();
        assert_eq!(format_timestamp(t), "2026-11-22T10:00:00Z");
        assert!(parse_timestamp("2026-11-22T10:00:00+01:00").is_none());
        assert!(parse_timestamp("2026-11-22 10:00:00").is_none());
    }
}
