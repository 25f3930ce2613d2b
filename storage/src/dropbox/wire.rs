//! The JSON shapes Dropbox speaks, and nothing else: the rest of the module
//! works with its own types and converts at this edge.

use serde::{Deserialize, Serialize};

/// `files.Metadata`, a union tagged with `.tag` (list_folder, get_metadata).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum Metadata {
    File(FileMetadata),
    Folder {},
    Deleted(NamedMetadata),
}

/// `files.FileMetadata`. Upload results and `Dropbox-API-Result` carry this
/// bare struct, without `.tag`; unknown fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct FileMetadata {
    pub name: String,
    pub path_lower: Option<String>,
    pub rev: String,
    pub size: u64,
    pub content_hash: Option<String>,
}

/// What folders and deleted entries have in common.
#[derive(Debug, Clone, Deserialize)]
pub struct NamedMetadata {
    pub name: String,
    pub path_lower: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ListFolderResult {
    pub entries: Vec<Metadata>,
    pub cursor: String,
    pub has_more: bool,
}

#[derive(Debug, Deserialize)]
pub struct LongpollResult {
    pub changes: bool,
    pub backoff: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ListFolderArg<'a> {
    pub path: &'a str,
    pub recursive: bool,
    pub include_deleted: bool,
    pub limit: u32,
}

#[derive(Debug, Serialize)]
pub struct CursorArg<'a> {
    pub cursor: &'a str,
}

#[derive(Debug, Serialize)]
pub struct LongpollArg<'a> {
    pub cursor: &'a str,
    pub timeout: u64,
}

#[derive(Debug, Serialize)]
pub struct PathArg<'a> {
    pub path: &'a str,
}

/// `files.WriteMode`: members without a value are bare strings, `update`
/// is an object (`{".tag":"update","update":"<rev>"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteMode {
    Add,
    Overwrite,
    Update(String),
}

impl Serialize for WriteMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            WriteMode::Add => s.serialize_str("add"),
            WriteMode::Overwrite => s.serialize_str("overwrite"),
            WriteMode::Update(rev) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry(".tag", "update")?;
                m.serialize_entry("update", rev)?;
                m.end()
            }
        }
    }
}

/// `files.CommitInfo` for `files/upload`.
#[derive(Debug, Serialize)]
pub struct CommitInfo<'a> {
    pub path: &'a str,
    pub mode: WriteMode,
    pub autorename: bool,
    pub mute: bool,
    pub strict_conflict: bool,
}

/// `{"session_id": …}` from `upload_session/start`.
#[derive(Debug, Deserialize)]
pub struct SessionStart {
    pub session_id: String,
}

#[derive(Debug, Serialize)]
pub struct SessionCursor<'a> {
    pub session_id: &'a str,
    pub offset: u64,
}

#[derive(Debug, Serialize)]
pub struct SessionAppendArg<'a> {
    pub cursor: SessionCursor<'a>,
    pub close: bool,
}

#[derive(Debug, Serialize)]
pub struct SessionFinishArg<'a> {
    pub cursor: SessionCursor<'a>,
    pub commit: CommitInfo<'a>,
}

/// The body of a 401/409/429 answer.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error_summary: String,
    #[serde(default)]
    pub error: serde_json::Value,
}

/// `/oauth2/token` answers.
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    pub account_id: Option<String>,
    pub uid: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct OAuthError {
    pub error: String,
    #[serde(default)]
    pub error_description: String,
}

/// JSON for the `Dropbox-API-Arg` header: HTTP headers must be ASCII, so
/// 0x7F and every non-ASCII character becomes a `\uXXXX` escape (valid JSON,
/// since such characters can only appear inside strings).
pub fn header_json<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let raw = serde_json::to_string(value)?;
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if (c as u32) < 0x7f {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_modes_serialize_as_the_union_wants() {
        let j = |m: WriteMode| serde_json::to_string(&m).expect("json");
        assert_eq!(j(WriteMode::Add), r#""add""#);
        assert_eq!(j(WriteMode::Overwrite), r#""overwrite""#);
        assert_eq!(
            j(WriteMode::Update("a1b2c3d4e5".into())),
            r#"{".tag":"update","update":"a1b2c3d4e5"}"#
        );
    }

    #[test]
    fn header_json_is_ascii() {
        let h = header_json(&PathArg {
            path: "/Maya/Café 🎬.txt",
        })
        .expect("json");
        assert!(h.is_ascii());
        assert_eq!(h, r#"{"path":"/Maya/Caf\u00e9 \ud83c\udfac.txt"}"#);
    }

    #[test]
    fn upload_results_have_no_tag() {
        let m: FileMetadata = serde_json::from_str(
            r#"{"name":"a.txt","path_lower":"/m/a.txt","path_display":"/M/a.txt","id":"id:x","client_modified":"2026-01-01T00:00:00Z","server_modified":"2026-01-01T00:00:00Z","rev":"0123456789a","size":3,"content_hash":"ab","is_downloadable":true}"#,
        )
        .expect("parses");
        assert_eq!(m.rev, "0123456789a");
        let e: Metadata = serde_json::from_str(r#"{".tag":"deleted","name":"a.txt"}"#).expect("p");
        assert!(matches!(e, Metadata::Deleted(_)));
    }
}
