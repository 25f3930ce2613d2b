//! The emulated Dropbox namespace: files with every version kept, implicit
//! folders, tombstones, a global change sequence, cursors and upload sessions.
//!
//! Paths are case-insensitive and case-preserving: nodes are keyed by
//! `path_lower`, and an existing folder's casing wins for later children.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::wire::{DeletedMetadata, FileMetadata, FolderMetadata, Metadata};

/// Default page size of list_folder when the caller gives no `limit`.
pub const DEFAULT_LIST_LIMIT: u64 = 2000;

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
    fn ancestors(&self) -> Vec<DbxPath> {
        let mut out = Vec::new();
        let mut cur = self.parent();
        while let Some(p) = cur {
            cur = p.parent();
            out.push(p);
        }
        out.reverse();
        out
    }

    fn sibling(&self, name: &str) -> DbxPath {
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

fn name_of(display: &str) -> &str {
    display.rsplit('/').next().unwrap_or(display)
}

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

#[derive(Debug, Clone)]
enum NodeKind {
    File(Arc<FileVersion>),
    Folder { id: String },
    Deleted,
}

#[derive(Debug, Clone)]
struct Node {
    path_display: String,
    /// Change sequence number of the last change to this node.
    seq: u64,
    kind: NodeKind,
}

impl Node {
    fn is_live(&self) -> bool {
        !matches!(self.kind, NodeKind::Deleted)
    }

    fn metadata(&self) -> Metadata {
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

/// Cursor contents. Opaque to clients: base64url of compact JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cursor {
    #[serde(rename = "i")]
    instance: u64,
    #[serde(rename = "e")]
    epoch: u64,
    #[serde(rename = "p")]
    path: String,
    #[serde(rename = "r")]
    recursive: bool,
    #[serde(rename = "d")]
    include_deleted: bool,
    #[serde(rename = "l")]
    limit: u64,
    /// Changes with seq > since are "new".
    #[serde(rename = "s")]
    since: u64,
    /// While paging: the seq the current batch is bounded by.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    upto: Option<u64>,
    /// While paging: last key returned.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    /// Still paging through the initial listing.
    #[serde(rename = "n", default)]
    initial: bool,
}

impl Cursor {
    /// Encode for the wire.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decode; `None` if it is not one of ours at all.
    pub fn decode(s: &str) -> Option<Self> {
        let raw = URL_SAFE_NO_PAD.decode(s.trim()).ok()?;
        serde_json::from_slice(&raw).ok()
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

/// Arguments of list_folder.
#[derive(Clone, Debug)]
pub struct ListSpec {
    /// `path_lower` of the folder, `""` for the root.
    pub path: String,
    /// Include all descendants (and the folder itself).
    pub recursive: bool,
    /// Include tombstones in the initial listing.
    pub include_deleted: bool,
    /// Page size.
    pub limit: u64,
}

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

fn in_scope(key: &str, base: &str, recursive: bool) -> bool {
    if base.is_empty() {
        return recursive || key.rfind('/') == Some(0);
    }
    if key == base {
        // A recursive listing includes the folder itself.
        return recursive;
    }
    match key
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(rest) => recursive || !rest.contains('/'),
        None => false,
    }
}

fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
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

    // ----------------------------------------------------------------- writes

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

    // ---------------------------------------------------------------- listing

    fn page(
        &self,
        base: &str,
        recursive: bool,
        filter: impl Fn(&Node) -> bool,
        after: Option<&str>,
        limit: u64,
    ) -> (Vec<Metadata>, Option<String>) {
        let mut out = Vec::new();
        let mut last = None;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX).max(1);
        let mut more = false;
        for (k, n) in &self.nodes {
            if after.is_some_and(|a| k.as_str() <= a) || !in_scope(k, base, recursive) || !filter(n)
            {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            out.push(n.metadata());
            last = Some(k.clone());
        }
        (out, if more { last } else { None })
    }

    /// `files/list_folder`.
    pub fn list_folder(&self, spec: &ListSpec) -> (Vec<Metadata>, Cursor, bool) {
        let snapshot = self.seq;
        let include_deleted = spec.include_deleted;
        let (entries, more) = self.page(
            &spec.path,
            spec.recursive,
            |n| include_deleted || n.is_live(),
            None,
            spec.limit,
        );
        let mut cursor = self.fresh_cursor(spec, snapshot);
        let has_more = more.is_some();
        if let Some(after) = more {
            cursor.initial = true;
            cursor.upto = Some(snapshot);
            cursor.after = Some(after);
        }
        (entries, cursor, has_more)
    }

    /// A cursor at the present moment (`get_latest_cursor`).
    pub fn fresh_cursor(&self, spec: &ListSpec, since: u64) -> Cursor {
        Cursor {
            instance: self.instance,
            epoch: self.epoch,
            path: spec.path.clone(),
            recursive: spec.recursive,
            include_deleted: spec.include_deleted,
            limit: spec.limit,
            since,
            upto: None,
            after: None,
            initial: false,
        }
    }

    fn check_cursor(&self, c: &Cursor) -> Result<(), CursorError> {
        if c.instance != self.instance || c.epoch != self.epoch {
            return Err(CursorError::Reset);
        }
        if !c.path.is_empty() {
            match self.live(&c.path).map(|n| &n.kind) {
                Some(NodeKind::Folder { .. }) => {}
                Some(_) => return Err(CursorError::Lookup(LookupError::NotFolder)),
                None => return Err(CursorError::Lookup(LookupError::NotFound)),
            }
        }
        Ok(())
    }

    /// `files/list_folder/continue`.
    ///
    /// Deleted entries are always reported in the change phase, whatever
    /// `include_deleted` was (that flag only governs whether tombstones appear
    /// in the initial listing); a client that keeps a local mirror must learn
    /// about deletions.
    pub fn list_continue(&self, c: &Cursor) -> Result<(Vec<Metadata>, Cursor, bool), CursorError> {
        self.check_cursor(c)?;
        let mut next = c.clone();
        if c.initial {
            let include_deleted = c.include_deleted;
            let (entries, more) = self.page(
                &c.path,
                c.recursive,
                |n| include_deleted || n.is_live(),
                c.after.as_deref(),
                c.limit,
            );
            match more {
                Some(after) => {
                    next.after = Some(after);
                    Ok((entries, next, true))
                }
                None => {
                    next.initial = false;
                    next.since = c.upto.unwrap_or(c.since);
                    next.upto = None;
                    next.after = None;
                    Ok((entries, next, false))
                }
            }
        } else {
            let since = c.since;
            let upto = c.upto.unwrap_or(self.seq);
            let (entries, more) = self.page(
                &c.path,
                c.recursive,
                |n| n.seq > since && n.seq <= upto,
                c.after.as_deref(),
                c.limit,
            );
            match more {
                Some(after) => {
                    next.upto = Some(upto);
                    next.after = Some(after);
                    Ok((entries, next, true))
                }
                None => {
                    next.since = upto;
                    next.upto = None;
                    next.after = None;
                    Ok((entries, next, false))
                }
            }
        }
    }

    /// Whether `list_folder/continue` on this cursor would return anything
    /// (or an error): what longpoll waits for.
    pub fn has_changes(&self, c: &Cursor) -> Result<bool, CursorError> {
        match self.check_cursor(c) {
            Err(CursorError::Reset) => return Err(CursorError::Reset),
            Err(CursorError::Lookup(_)) => return Ok(true),
            Ok(()) => {}
        }
        if c.initial || c.after.is_some() {
            return Ok(true);
        }
        Ok(self
            .nodes
            .iter()
            .any(|(k, n)| n.seq > c.since && in_scope(k, &c.path, c.recursive)))
    }
}

/// Errors of delete_v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteError {
    /// `path_lookup`.
    Lookup(LookupError),
    /// `path_write`.
    Write(WriteError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DbxPath {
        DbxPath::parse(s).unwrap()
    }

    fn put(
        store: &mut Store,
        path: &str,
        data: &[u8],
        mode: WriteMode,
    ) -> Result<CommitOutcome, WriteError> {
        store.commit(
            &Commit {
                path: p(path),
                mode,
                autorename: false,
                strict_conflict: false,
                client_modified: None,
            },
            Bytes::copy_from_slice(data),
            crate::hash::content_hash(data),
        )
    }

    #[test]
    fn scope() {
        assert!(in_scope("/a", "", false));
        assert!(!in_scope("/a/b", "", false));
        assert!(in_scope("/a/b", "", true));
        assert!(in_scope("/a/b", "/a", false));
        assert!(!in_scope("/a/b/c", "/a", false));
        assert!(in_scope("/a/b/c", "/a", true));
        assert!(in_scope("/a", "/a", true));
        assert!(!in_scope("/a", "/a", false));
        assert!(!in_scope("/ab", "/a", true));
    }

    #[test]
    fn case_preserving_parents() {
        let mut s = Store::new(1);
        put(&mut s, "/Maya/a.txt", b"1", WriteMode::Add).unwrap();
        let m = put(&mut s, "/maya/B.txt", b"2", WriteMode::Add)
            .unwrap()
            .metadata;
        assert_eq!(m.path_display, "/Maya/B.txt");
        assert_eq!(m.path_lower, "/maya/b.txt");
        assert_eq!(m.name, "B.txt");
    }

    #[test]
    fn file_ancestor_conflict() {
        let mut s = Store::new(1);
        put(&mut s, "/a", b"1", WriteMode::Add).unwrap();
        assert_eq!(
            put(&mut s, "/a/b", b"2", WriteMode::Add).unwrap_err(),
            WriteError::Conflict(WriteConflict::FileAncestor)
        );
    }

    #[test]
    fn cursor_round_trip_and_paging() {
        let mut s = Store::new(7);
        for i in 0..5 {
            put(&mut s, &format!("/d/f{i}"), b"x", WriteMode::Add).unwrap();
        }
        let spec = ListSpec {
            path: "/d".into(),
            recursive: false,
            include_deleted: false,
            limit: 2,
        };
        let (e, c, more) = s.list_folder(&spec);
        assert_eq!(e.len(), 2);
        assert!(more);
        let c = Cursor::decode(&c.encode()).unwrap();
        let (e2, c2, more2) = s.list_continue(&c).unwrap();
        assert_eq!(e2.len(), 2);
        assert!(more2);
        let (e3, c3, more3) = s.list_continue(&c2).unwrap();
        assert_eq!(e3.len(), 1);
        assert!(!more3);
        assert!(!s.has_changes(&c3).unwrap());
        put(&mut s, "/d/f1", b"y", WriteMode::Overwrite).unwrap();
        assert!(s.has_changes(&c3).unwrap());
        let (e4, _, _) = s.list_continue(&c3).unwrap();
        assert_eq!(e4.len(), 1);
        assert_eq!(e4[0].name(), "f1");
    }
}
