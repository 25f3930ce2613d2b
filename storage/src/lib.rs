//! The synced-folder seam.
//!
//! The channel logic (reading commands, writing status files) talks only to
//! [`Folder`]. A local folder kept in sync by Dropbox/Syncthing/Nextcloud is one
//! implementation, the Dropbox HTTP API another, and [`memory::MemFolder`] is
//! the fake unit tests use. Every method is one round trip's worth of work, so
//! a remote implementation can map each onto one request.

pub mod content_hash;
pub mod dropbox;
pub mod local;
pub mod memory;

use std::any::Any;
use std::future::Future;

use thiserror::Error;
use tokio::sync::mpsc;

pub use content_hash::{ContentHasher, content_hash};
pub use local::{LocalFolder, retry_while_held};
pub use memory::MemFolder;

/// What a folder says about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub size: u64,
    /// Changes whenever the content may have changed (local: mtime, inode and
    /// size; Dropbox: the rev). Compared for equality only.
    pub version: String,
    /// Dropbox's `content_hash` of this version, where the storage keeps
    /// one. A reader holding a [`ContentHasher`] of the bytes it consumed
    /// can then check that the file still starts with them while fetching
    /// only the bytes after them.
    pub content_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub meta: Meta,
}

/// A hint that something in the folder changed. Hints can be lost or
/// merged; the receiver re-reads what it cares about, it never trusts a hint's
/// details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    Changed(String),
    /// Events were lost (queue overflow, watcher restart): look at everything.
    Rescan,
}

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is a directory, not a file; remove or rename it")]
    NotAFile(String),
    #[error("the folder {0} is missing; create it or check the sync client")]
    FolderMissing(String),
    #[error("{0} changed while we were writing it; try again")]
    Conflict(String),
    #[error("cannot watch {path}: {reason}")]
    Watch { path: String, reason: String },
    #[error("{0}")]
    Remote(String),
}

impl StorageError {
    pub fn io(op: &'static str, path: impl Into<String>, source: std::io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Full disk, read-only folder or a missing path: the kind a user can fix.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Keeps a watch alive; dropping it stops the watch.
pub type WatchGuard = Box<dyn Any + Send>;

/// A folder that is kept in sync with other devices.
pub trait Folder: Send + Sync + 'static {
    /// A human description for logs (`/home/me/Dropbox/Maya`, `dropbox:/Maya`).
    fn describe(&self) -> String;

    /// Metadata of a file, `None` if it does not exist.
    fn stat(&self, name: &str) -> impl Future<Output = Result<Option<Meta>, StorageError>> + Send;

    /// The bytes from `offset` to the end of the file, and the metadata of the
    /// version they were read from. If the file is shorter than `offset`, the
    /// bytes are empty and `meta.size` tells the truth.
    fn read_from(
        &self,
        name: &str,
        offset: u64,
    ) -> impl Future<Output = Result<Option<(Meta, Vec<u8>)>, StorageError>> + Send;

    /// The files directly in the folder.
    fn list(&self) -> impl Future<Output = Result<Vec<Entry>, StorageError>> + Send;

    /// Replaces a file so that readers see the old or the new content, never a mix.
    fn write_atomic(
        &self,
        name: &str,
        data: Vec<u8>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Whether an append that failed midway may still have landed, so that
    /// it is judged by looking for its bytes (the Dropbox API's
    /// compare-and-swap; a local `O_APPEND` write cannot). Appenders then
    /// make their bytes unique (`droprender_shared::normalize::marked`), or
    /// a byte-identical append by another device could be taken for theirs.
    fn appends_are_judged_by_content(&self) -> bool {
        false
    }

    /// Appends bytes as one unit: concurrent appenders never interleave or lose data.
    fn append(
        &self,
        name: &str,
        data: Vec<u8>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Starts sending change hints to `tx` until the guard is dropped.
    fn watch(&self, tx: mpsc::Sender<Hint>) -> Result<WatchGuard, StorageError>;
}
