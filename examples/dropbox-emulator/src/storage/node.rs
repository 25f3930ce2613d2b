//! What the namespace stores per path: file versions, folders and
//! tombstones.

use std::sync::Arc;

use axum::body::Bytes;

use super::path::{lower, name_of};
use crate::wire::{DeletedMetadata, FileMetadata, FolderMetadata, Metadata};

/// One stored version of a file. Versions are never dropped, so `rev:`
/// downloads work for old and deleted revisions.
#[derive(Debug)]
pub struct FileVersion {
    /// Unique rev of this version.
    pub rev: String,
    /// The file's id.
    pub id: String,
    /// Path when written.
    pub path_display: String,
    /// Content.
    pub data: Bytes,
    /// [`crate::hash::content_hash`] of `data`.
    pub content_hash: String,
    /// Client-supplied or server time.
    pub client_modified: String,
    /// Server time of the write.
    pub server_modified: String,
}

impl FileVersion {
    /// Metadata of this version at a given display path.
    pub fn metadata_at(&self, path_display: &str) -> FileMetadata {
        FileMetadata {
            name: name_of(path_display).to_owned(),
            path_lower: lower(path_display),
            path_display: path_display.to_owned(),
            id: self.id.clone(),
            client_modified: self.client_modified.clone(),
            server_modified: self.server_modified.clone(),
            rev: self.rev.clone(),
            size: self.data.len() as u64,
            content_hash: self.content_hash.clone(),
            is_downloadable: true,
        }
    }

    /// Metadata at the path it was written to.
    pub fn metadata(&self) -> FileMetadata {
        self.metadata_at(&self.path_display)
    }
}

/// What is at a path.
#[derive(Debug, Clone)]
pub(super) enum NodeKind {
    File(Arc<FileVersion>),
    Folder { id: String },
    Deleted,
}

/// One entry of the namespace, live or deleted.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) path_display: String,
    /// Change sequence number of the last change to this node.
    pub(super) seq: u64,
    pub(super) kind: NodeKind,
}

impl Node {
    pub(super) fn is_live(&self) -> bool {
        !matches!(self.kind, NodeKind::Deleted)
    }

    pub(super) fn metadata(&self) -> Metadata {
        let name = name_of(&self.path_display).to_owned();
        let path_lower = lower(&self.path_display);
        match &self.kind {
            NodeKind::File(v) => Metadata::File(v.metadata_at(&self.path_display)),
            NodeKind::Folder { id } => Metadata::Folder(FolderMetadata {
                name,
                path_lower,
                path_display: self.path_display.clone(),
                id: id.clone(),
            }),
            NodeKind::Deleted => Metadata::Deleted(DeletedMetadata {
                name,
                path_lower,
                path_display: self.path_display.clone(),
            }),
        }
    }
}
