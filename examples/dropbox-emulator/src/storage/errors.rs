//! Lookup, write, cursor and delete errors, with their Dropbox union tags.

use serde_json::{Value, json};

/// `files.LookupError` members used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// Nothing (live) there.
    NotFound,
    /// A folder where a file was needed.
    NotFile,
    /// A file where a folder was needed.
    NotFolder,
    /// Unusable path.
    MalformedPath,
}

impl LookupError {
    /// The `.tag`.
    pub fn tag(self) -> &'static str {
        match self {
            LookupError::NotFound => "not_found",
            LookupError::NotFile => "not_file",
            LookupError::NotFolder => "not_folder",
            LookupError::MalformedPath => "malformed_path",
        }
    }

    /// The union value. (`malformed_path` carries an optional string, which
    /// we leave out.)
    pub fn to_json(self) -> Value {
        json!({".tag": self.tag()})
    }
}

/// `files.WriteConflictError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteConflict {
    /// A file is in the way.
    File,
    /// A folder is in the way.
    Folder,
    /// An ancestor is a file.
    FileAncestor,
}

/// `files.WriteError` members used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// Something is in the way.
    Conflict(WriteConflict),
    /// Unusable path.
    MalformedPath,
}

impl WriteError {
    /// Tag path for `error_summary`, e.g. `conflict/file`.
    pub fn tags(self) -> String {
        match self {
            WriteError::Conflict(c) => format!("conflict/{}", conflict_tag(c)),
            WriteError::MalformedPath => "malformed_path".into(),
        }
    }

    /// The union value.
    pub fn to_json(self) -> Value {
        match self {
            WriteError::Conflict(c) => {
                json!({".tag": "conflict", "conflict": {".tag": conflict_tag(c)}})
            }
            WriteError::MalformedPath => json!({".tag": "malformed_path"}),
        }
    }
}

fn conflict_tag(c: WriteConflict) -> &'static str {
    match c {
        WriteConflict::File => "file",
        WriteConflict::Folder => "folder",
        WriteConflict::FileAncestor => "file_ancestor",
    }
}

/// Why a cursor cannot be continued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorError {
    /// Invalidated (forced reset, or issued by another emulator instance).
    Reset,
    /// The listed folder no longer exists.
    Lookup(LookupError),
}

/// Errors of delete_v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteError {
    /// `path_lookup`.
    Lookup(LookupError),
    /// `path_write`.
    Write(WriteError),
}
