//! The emulated Dropbox namespace: files with every version kept, implicit
//! folders, tombstones, a global change sequence, cursors and upload sessions.
//!
//! Paths are case-insensitive and case-preserving: nodes are keyed by
//! `path_lower`, and an existing folder's casing wins for later children.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::wire::{FileMetadata, Metadata};

mod errors;
mod list;
mod node;
mod path;
mod write;

#[cfg(test)]
mod tests;

pub use errors::{CursorError, DeleteError, LookupError, WriteConflict, WriteError};
pub use list::{Cursor, ListSpec};
pub use node::FileVersion;
pub use path::{DbxPath, PathProblem, Target, lower};
pub use write::{Commit, CommitOutcome, WriteMode};

use node::{Node, NodeKind};

/// Default page size of list_folder when the caller gives no `limit`.
pub const DEFAULT_LIST_LIMIT: u64 = 2000;

/// An upload session.
#[derive(Debug, Default)]
pub struct UploadSession {
    /// Bytes so far.
    pub data: Vec<u8>,
    /// No more appends allowed.
    pub closed: bool,
}

/// The whole namespace.
#[derive(Debug)]
pub struct Store {
    nodes: BTreeMap<String, Node>,
    revs: HashMap<String, Arc<FileVersion>>,
    ids: HashMap<String, String>,
    seq: u64,
    epoch: u64,
    next_rev: u64,
    next_id: u64,
    instance: u64,
    /// Upload sessions by id.
    pub sessions: HashMap<String, UploadSession>,
}

impl Store {
    /// An empty namespace; `instance` salts ids and binds cursors to this
    /// emulator instance.
    pub fn new(instance: u64) -> Self {
        Store {
            nodes: BTreeMap::new(),
            revs: HashMap::new(),
            ids: HashMap::new(),
            seq: 0,
            epoch: 0,
            next_rev: 0,
            next_id: 0,
            instance,
            sessions: HashMap::new(),
        }
    }

    /// Current global change sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Invalidate every cursor issued so far.
    pub fn reset_cursors(&mut self) -> u64 {
        self.epoch += 1;
        self.epoch
    }

    fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn new_rev(&mut self) -> String {
        self.next_rev += 1;
        // Lowercase hex, ≥ 9 chars, unique per version (like `a1c10ce0dd78`).
        format!("5{:011x}", self.next_rev)
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        let mut h = Sha256::new();
        h.update(self.instance.to_le_bytes());
        h.update(self.next_id.to_le_bytes());
        let digest = h.finalize();
        format!("id:{}", URL_SAFE_NO_PAD.encode(&digest[..16]))
    }

    /// A fresh opaque id for upload sessions and the like.
    pub fn new_opaque(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        let mut h = Sha256::new();
        h.update(b"opaque");
        h.update(self.instance.to_le_bytes());
        h.update(self.next_id.to_le_bytes());
        format!("{prefix}{}", URL_SAFE_NO_PAD.encode(h.finalize()))
    }

    fn live(&self, lower: &str) -> Option<&Node> {
        self.nodes.get(lower).filter(|n| n.is_live())
    }

    // ---------------------------------------------------------------- lookups

    /// Metadata at a target. Deleted entries only with `include_deleted`.
    pub fn metadata(
        &self,
        target: &Target,
        include_deleted: bool,
    ) -> Result<Metadata, LookupError> {
        match target {
            Target::Root => Err(LookupError::NotFound),
            Target::Malformed => Err(LookupError::MalformedPath),
            Target::Path(p) => match self.nodes.get(&p.lower) {
                Some(n) if n.is_live() || include_deleted => Ok(n.metadata()),
                _ => Err(LookupError::NotFound),
            },
            Target::Id(id) => {
                let key = self.ids.get(id).ok_or(LookupError::NotFound)?;
                self.live(key)
                    .map(Node::metadata)
                    .ok_or(LookupError::NotFound)
            }
            Target::Rev(rev) => self
                .revs
                .get(rev)
                .map(|v| Metadata::File(v.metadata()))
                .ok_or(LookupError::NotFound),
        }
    }

    /// The file version a download of `target` returns.
    pub fn file_version(
        &self,
        target: &Target,
    ) -> Result<(Arc<FileVersion>, FileMetadata), LookupError> {
        let node = match target {
            Target::Root => return Err(LookupError::NotFile),
            Target::Malformed => return Err(LookupError::MalformedPath),
            Target::Rev(rev) => {
                let v = self.revs.get(rev).ok_or(LookupError::NotFound)?;
                return Ok((v.clone(), v.metadata()));
            }
            Target::Path(p) => self.live(&p.lower),
            Target::Id(id) => self.ids.get(id).and_then(|k| self.live(k)),
        }
        .ok_or(LookupError::NotFound)?;
        match &node.kind {
            NodeKind::File(v) => Ok((v.clone(), v.metadata_at(&node.path_display))),
            NodeKind::Folder { .. } => Err(LookupError::NotFile),
            NodeKind::Deleted => Err(LookupError::NotFound),
        }
    }

    /// Resolve a folder target to its `path_lower` (`""` for the root).
    pub fn folder_key(&self, target: &Target) -> Result<String, LookupError> {
        let node_key = match target {
            Target::Root => return Ok(String::new()),
            Target::Malformed => return Err(LookupError::MalformedPath),
            Target::Rev(_) => return Err(LookupError::NotFolder),
            Target::Path(p) => p.lower.clone(),
            Target::Id(id) => self.ids.get(id).cloned().ok_or(LookupError::NotFound)?,
        };
        match self.live(&node_key).map(|n| &n.kind) {
            Some(NodeKind::Folder { .. }) => Ok(node_key),
            Some(_) => Err(LookupError::NotFolder),
            None => Err(LookupError::NotFound),
        }
    }

    /// All live files, in path order.
    pub fn files(&self) -> Vec<FileMetadata> {
        self.nodes
            .values()
            .filter_map(|n| match &n.kind {
                NodeKind::File(v) => Some(v.metadata_at(&n.path_display)),
                _ => None,
            })
            .collect()
    }
}
