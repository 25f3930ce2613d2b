//! Writes: commits with Dropbox's write modes and autorename, implicit
//! parent folders, and deletes.

use std::sync::Arc;

use axum::body::Bytes;

use super::Store;
use super::errors::{DeleteError, LookupError, WriteConflict, WriteError};
use super::list::in_scope;
use super::node::{FileVersion, Node, NodeKind};
use super::path::{DbxPath, Target};
use crate::wire::{FileMetadata, Metadata};

/// `files.WriteMode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Never overwrite.
    Add,
    /// Always replace.
    Overwrite,
    /// Compare-and-swap on this rev.
    Update(String),
}

/// A commit request (the parts of `CommitInfo` that matter).
#[derive(Clone, Debug)]
pub struct Commit {
    /// Target.
    pub path: DbxPath,
    /// Write mode.
    pub mode: WriteMode,
    /// Rename instead of failing on conflict.
    pub autorename: bool,
    /// Stricter conflict detection.
    pub strict_conflict: bool,
    /// `client_modified` to record; server time if absent.
    pub client_modified: Option<String>,
}

/// What a commit did.
#[derive(Clone, Debug)]
pub struct CommitOutcome {
    /// Metadata of the file now at the (possibly renamed) path.
    pub metadata: FileMetadata,
    /// False for a no-op (identical content).
    pub changed: bool,
}

fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

impl Store {
    /// Resolve the casing of `path`'s ancestors against existing folders and
    /// check none is a file. Returns the parent's display path (`""` for root).
    fn check_parents(&self, path: &DbxPath) -> Result<String, WriteError> {
        let mut parent_display = String::new();
        for anc in path.ancestors() {
            match self.live(&anc.lower).map(|n| (&n.kind, &n.path_display)) {
                Some((NodeKind::File(_), _)) => {
                    return Err(WriteError::Conflict(WriteConflict::FileAncestor));
                }
                Some((_, display)) => parent_display = display.clone(),
                None => parent_display = format!("{parent_display}/{}", anc.name()),
            }
        }
        Ok(parent_display)
    }

    /// Create missing ancestor folders (already checked by `check_parents`).
    fn create_parents(&mut self, path: &DbxPath) {
        let mut parent_display = String::new();
        for anc in path.ancestors() {
            if let Some(n) = self.live(&anc.lower) {
                parent_display = n.path_display.clone();
                continue;
            }
            parent_display = format!("{parent_display}/{}", anc.name());
            let id = self.new_id();
            let seq = self.bump();
            self.ids.insert(id.clone(), anc.lower.clone());
            self.nodes.insert(
                anc.lower.clone(),
                Node {
                    path_display: parent_display.clone(),
                    seq,
                    kind: NodeKind::Folder { id },
                },
            );
        }
    }

    /// Write a new version at `path` unconditionally (the caller decided).
    fn write_version(
        &mut self,
        path: &DbxPath,
        data: Bytes,
        content_hash: String,
        client_modified: Option<String>,
    ) -> Result<FileMetadata, WriteError> {
        let parent_display = self.check_parents(path)?;
        let (id, display) = match self.live(&path.lower) {
            Some(Node {
                kind: NodeKind::Folder { .. },
                ..
            }) => return Err(WriteError::Conflict(WriteConflict::Folder)),
            // Overwriting keeps the file's id and casing.
            Some(Node {
                kind: NodeKind::File(v),
                path_display,
                ..
            }) => (v.id.clone(), path_display.clone()),
            _ => (self.new_id(), format!("{parent_display}/{}", path.name())),
        };
        self.create_parents(path);
        let now = crate::wire::now_timestamp();
        let version = Arc::new(FileVersion {
            rev: self.new_rev(),
            id: id.clone(),
            path_display: display.clone(),
            data,
            content_hash,
            client_modified: client_modified.unwrap_or_else(|| now.clone()),
            server_modified: now,
        });
        self.revs.insert(version.rev.clone(), version.clone());
        self.ids.insert(id, path.lower.clone());
        let seq = self.bump();
        let meta = version.metadata_at(&display);
        self.nodes.insert(
            path.lower.clone(),
            Node {
                path_display: display,
                seq,
                kind: NodeKind::File(version),
            },
        );
        Ok(meta)
    }

    fn is_free(&self, lower: &str) -> bool {
        self.live(lower).is_none()
    }

    /// First free sibling name: `stem (1).ext`, `stem (2).ext`, … (the
    /// documented example for `add` is `document (2).txt`; numbering starts
    /// at 1, so that is what a second rename produces). For conflicted
    /// copies the base is `stem (conflicted copy).ext`, then
    /// `stem (conflicted copy) (1).ext`, … (unsure: real numbering of
    /// repeated conflicted copies is undocumented).
    fn autorename(&self, path: &DbxPath, conflicted: bool) -> DbxPath {
        let name = path.name().to_owned();
        let (stem, ext) = split_ext(&name);
        let stem = if conflicted {
            let candidate = path.sibling(&format!("{stem} (conflicted copy){ext}"));
            if self.is_free(&candidate.lower) {
                return candidate;
            }
            format!("{stem} (conflicted copy)")
        } else {
            stem.to_owned()
        };
        let mut n = 1u64;
        loop {
            let candidate = path.sibling(&format!("{stem} ({n}){ext}"));
            if self.is_free(&candidate.lower) {
                return candidate;
            }
            n += 1;
        }
    }

    /// Upload semantics (files/upload, upload_session/finish, desktop writes).
    ///
    /// - identical content to the current file is a no-op returning the
    ///   current metadata (unless `strict_conflict` turns the situation into a
    ///   conflict: "forces a conflict even when the target path refers to a
    ///   file with identical contents");
    /// - `add` on an existing file: conflict (`autorename` ⇒ `name (1).ext`);
    /// - `overwrite`: replace;
    /// - `update(rev)`: replace only if the current rev is `rev`; otherwise a
    ///   conflict (`autorename` ⇒ `name (conflicted copy).ext`). If the file
    ///   does not exist (deleted), a non-strict update writes it, a strict one
    ///   is a conflict;
    /// - a folder in the way is a `conflict/folder` (autorename renames).
    pub fn commit(
        &mut self,
        c: &Commit,
        data: Bytes,
        content_hash: String,
    ) -> Result<CommitOutcome, WriteError> {
        self.check_parents(&c.path)?;
        enum Decision {
            Write,
            Noop(Box<FileMetadata>),
            Conflict(WriteConflict, bool),
        }
        let decision = match self.live(&c.path.lower) {
            Some(Node {
                kind: NodeKind::Folder { .. },
                ..
            }) => Decision::Conflict(WriteConflict::Folder, false),
            Some(Node {
                kind: NodeKind::File(cur),
                path_display,
                ..
            }) => {
                let identical = cur.content_hash == content_hash;
                let current = Box::new(cur.metadata_at(path_display));
                match &c.mode {
                    WriteMode::Overwrite if identical => Decision::Noop(current),
                    WriteMode::Overwrite => Decision::Write,
                    WriteMode::Add if identical && !c.strict_conflict => Decision::Noop(current),
                    WriteMode::Add => Decision::Conflict(WriteConflict::File, false),
                    WriteMode::Update(rev) if *rev == cur.rev => {
                        if identical {
                            Decision::Noop(current)
                        } else {
                            Decision::Write
                        }
                    }
                    WriteMode::Update(_) if identical && !c.strict_conflict => {
                        Decision::Noop(current)
                    }
                    WriteMode::Update(_) => Decision::Conflict(WriteConflict::File, true),
                }
            }
            _ => match &c.mode {
                // "always return a conflict error when mode = update and the
                // given rev doesn't match the existing file's rev, even if the
                // existing file has been deleted"
                WriteMode::Update(_) if c.strict_conflict => {
                    Decision::Conflict(WriteConflict::File, true)
                }
                _ => Decision::Write,
            },
        };
        match decision {
            Decision::Noop(metadata) => Ok(CommitOutcome {
                metadata: *metadata,
                changed: false,
            }),
            Decision::Write => {
                let metadata =
                    self.write_version(&c.path, data, content_hash, c.client_modified.clone())?;
                Ok(CommitOutcome {
                    metadata,
                    changed: true,
                })
            }
            Decision::Conflict(kind, _) if !c.autorename => Err(WriteError::Conflict(kind)),
            Decision::Conflict(_, conflicted) => {
                let target = self.autorename(&c.path, conflicted);
                let metadata =
                    self.write_version(&target, data, content_hash, c.client_modified.clone())?;
                Ok(CommitOutcome {
                    metadata,
                    changed: true,
                })
            }
        }
    }

    /// Delete a file or (recursively) a folder; returns the metadata it had.
    /// With `parent_rev`, a file is only deleted if that is its current rev.
    pub fn delete(
        &mut self,
        target: &Target,
        parent_rev: Option<&str>,
    ) -> Result<Metadata, DeleteError> {
        let key = match target {
            Target::Root | Target::Rev(_) | Target::Malformed => {
                return Err(DeleteError::Lookup(LookupError::MalformedPath));
            }
            Target::Path(p) => p.lower.clone(),
            Target::Id(id) => self
                .ids
                .get(id)
                .cloned()
                .ok_or(DeleteError::Lookup(LookupError::NotFound))?,
        };
        let node = self
            .live(&key)
            .cloned()
            .ok_or(DeleteError::Lookup(LookupError::NotFound))?;
        if let Some(want) = parent_rev {
            // Unsure: the exact error for a parent_rev mismatch; a write
            // conflict on the file is the most plausible documented shape.
            match &node.kind {
                NodeKind::File(v) if v.rev == want => {}
                NodeKind::File(_) => {
                    return Err(DeleteError::Write(WriteError::Conflict(
                        WriteConflict::File,
                    )));
                }
                _ => {
                    return Err(DeleteError::Write(WriteError::Conflict(
                        WriteConflict::Folder,
                    )));
                }
            }
        }
        let meta = node.metadata();
        let doomed: Vec<String> = if matches!(node.kind, NodeKind::Folder { .. }) {
            self.nodes
                .iter()
                .filter(|(k, n)| n.is_live() && (**k == key || in_scope(k, &key, true)))
                .map(|(k, _)| k.clone())
                .collect()
        } else {
            vec![key]
        };
        for k in doomed {
            let seq = self.bump();
            if let Some(n) = self.nodes.get_mut(&k) {
                let id = match &n.kind {
                    NodeKind::File(v) => Some(v.id.clone()),
                    NodeKind::Folder { id } => Some(id.clone()),
                    NodeKind::Deleted => None,
                };
                if let Some(id) = id {
                    self.ids.remove(&id);
                }
                n.kind = NodeKind::Deleted;
                n.seq = seq;
            }
        }
        Ok(meta)
    }
}
