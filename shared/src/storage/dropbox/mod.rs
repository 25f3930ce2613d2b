//! The synced folder as a folder in a Dropbox app folder, over the Dropbox
//! HTTP API v2 (no desktop client needed).
//!
//! How each [`Folder`] operation maps onto the API:
//!
//! - [`Folder::watch`]: `list_folder`, then `longpoll` (no auth, up to
//!   480 s) and, on a change, `list_folder/continue` until `has_more` is
//!   false. The answers keep a cache of every file's rev, size and
//!   `content_hash`; while the watch runs, [`Folder::stat`] and
//!   [`Folder::list`] answer from it without a request, which is what keeps
//!   an idle node at a few requests an hour.
//! - [`Folder::read_from`]: a `Range` download pinned to the rev the cache
//!   knows, so only new bytes travel and they all come from one version.
//! - [`Folder::write_atomic`]: an `overwrite` upload, skipped when the
//!   bytes' `content_hash` equals what is there.
//! - [`Folder::append`]: compare-and-swap (download rev R, append, upload
//!   `update(R)` with `strict_conflict`), retried on conflict, so concurrent
//!   appenders never lose a line.
//!
//! The folder remembers the revs of its own uploads and does not hint
//! changes it made itself.

mod api;
mod auth;
mod error;
mod wire;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng as _;
use tokio::sync::mpsc;

pub use super::content_hash::content_hash;
pub use api::{RetryPolicy, retry_after};
pub use auth::{
    Credentials, Login, Pkce, Secret, StoredToken, TOKEN_FILE, TokenStore, s256_challenge,
};
pub use error::DropboxError;

use super::{Entry, Folder, Hint, Meta, StorageError, WatchGuard};
use api::{Api, Host, Request};
use wire::{CommitInfo, FileMetadata, WriteMode};

/// An access token to use as is (headless machines, CI): no refresh.
pub const ENV_TOKEN: &str = "DROPRENDER_DROPBOX_TOKEN";
pub const ENV_APP_KEY: &str = "DROPRENDER_DROPBOX_APP_KEY";
pub const ENV_API_URL: &str = "DROPRENDER_DROPBOX_API_URL";
pub const ENV_CONTENT_URL: &str = "DROPRENDER_DROPBOX_CONTENT_URL";
pub const ENV_NOTIFY_URL: &str = "DROPRENDER_DROPBOX_NOTIFY_URL";
pub const ENV_OAUTH_URL: &str = "DROPRENDER_DROPBOX_OAUTH_URL";
/// The longpoll timeout in seconds (30–480; tests use small values).
pub const ENV_LONGPOLL_SECS: &str = "DROPRENDER_DROPBOX_LONGPOLL_SECS";
/// The first retry backoff in milliseconds (tests against the emulator's
/// injected faults use small values).
pub const ENV_RETRY_BASE_MS: &str = "DROPRENDER_DROPBOX_RETRY_BASE_MS";

/// The app key until someone sets theirs: `droprender login` refuses it.
pub const PLACEHOLDER_APP_KEY: &str = "set-DROPRENDER_DROPBOX_APP_KEY";

/// The largest body `files/upload` takes; bigger files go in a session.
const UPLOAD_LIMIT: usize = 150 * 1024 * 1024;
/// Session chunk size: a multiple of 4 MiB, as Dropbox recommends.
const SESSION_CHUNK: usize = 64 * 1024 * 1024;
/// Compare-and-swap rounds lost before an append gives up.
const MAX_CAS_ROUNDS: u32 = 200;
/// How long our own writes must have been quiet before the change feed
/// is followed, and the most that may add to noticing a change.
const SETTLE: Duration = Duration::from_millis(150);
const SETTLE_MAX: Duration = Duration::from_secs(1);
/// How often to look for a folder that does not exist yet.
const MISSING_FOLDER_RETRY: Duration = Duration::from_secs(2);
/// How many of our own revs to remember (a few hours of a busy node).
const OWN_REVS: usize = 8192;

/// Where Dropbox is and how to talk to it.
#[derive(Debug, Clone)]
pub struct DropboxSettings {
    pub app_key: String,
    /// `https://api.dropboxapi.com` (RPC and `/oauth2/token`).
    pub api_url: String,
    /// `https://content.dropboxapi.com` (upload, download).
    pub content_url: String,
    /// `https://notify.dropboxapi.com` (longpoll).
    pub notify_url: String,
    /// `https://www.dropbox.com` (the browser's `/oauth2/authorize`).
    pub oauth_url: String,
    /// How long a longpoll may be held (Dropbox: 30–480 s, plus up to 90 s
    /// of its own jitter).
    pub longpoll_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for DropboxSettings {
    fn default() -> Self {
        DropboxSettings {
            app_key: PLACEHOLDER_APP_KEY.into(),
            api_url: "https://api.dropboxapi.com".into(),
            content_url: "https://content.dropboxapi.com".into(),
            notify_url: "https://notify.dropboxapi.com".into(),
            oauth_url: "https://www.dropbox.com".into(),
            longpoll_timeout: Duration::from_secs(480),
            retry: RetryPolicy::default(),
        }
    }
}

impl DropboxSettings {
    /// Applies the DROPRENDER_DROPBOX_* environment variables, which win
    /// over the config file.
    pub fn with_env(mut self) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if let Some(v) = var(ENV_APP_KEY) {
            self.app_key = v.trim().to_string();
        }
        for (k, slot) in [
            (ENV_API_URL, &mut self.api_url),
            (ENV_CONTENT_URL, &mut self.content_url),
            (ENV_NOTIFY_URL, &mut self.notify_url),
            (ENV_OAUTH_URL, &mut self.oauth_url),
        ] {
            if let Some(v) = var(k) {
                *slot = v;
            }
        }
        if let Some(s) = var(ENV_LONGPOLL_SECS).and_then(|v| v.trim().parse::<u64>().ok()) {
            self.longpoll_timeout = Duration::from_secs(s);
        }
        if let Some(ms) = var(ENV_RETRY_BASE_MS).and_then(|v| v.trim().parse::<u64>().ok()) {
            self.retry.base = Duration::from_millis(ms.max(1));
        }
        self.normalized()
    }

    /// Trailing slashes off the URLs, the longpoll timeout into 30–480 s.
    fn normalized(mut self) -> Self {
        for u in [
            &mut self.api_url,
            &mut self.content_url,
            &mut self.notify_url,
            &mut self.oauth_url,
        ] {
            *u = u.trim().trim_end_matches('/').to_string();
        }
        self.longpoll_timeout = self
            .longpoll_timeout
            .clamp(Duration::from_secs(30), Duration::from_secs(480));
        self
    }

    /// False while the app key is the placeholder.
    pub fn has_app_key(&self) -> bool {
        !self.app_key.trim().is_empty() && self.app_key != PLACEHOLDER_APP_KEY
    }
}

/// What `logout` did.
#[derive(Debug)]
pub enum Logout {
    /// Revoked at Dropbox and the token file deleted.
    Revoked(std::path::PathBuf),
    /// The token file was deleted, but Dropbox could not be told.
    DeletedOnly(std::path::PathBuf, DropboxError),
    NotLoggedIn,
}

/// Revokes the stored login at Dropbox (`auth/token/revoke`) and deletes
/// the token file.
pub async fn logout(settings: &DropboxSettings) -> Result<Logout, DropboxError> {
    let store = TokenStore::default_location()?;
    let Some(token) = store.load()? else {
        return Ok(Logout::NotLoggedIn);
    };
    let api = Api::new(
        &settings.clone().normalized(),
        Credentials::Stored {
            store: store.clone(),
            token,
        },
    )?;
    let mut req = Request::rpc("auth/token/revoke", &())?;
    req.json = Some("null".into());
    let revoked = api.send(req).await;
    store.delete()?;
    let path = store.path().to_path_buf();
    Ok(match revoked {
        Ok(_) => Logout::Revoked(path),
        Err(e) => Logout::DeletedOnly(path, e),
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Dropbox paths are case-insensitive: the cache is keyed by the lowercase name.
fn key(name: &str) -> String {
    name.to_lowercase()
}

/// What the folder knows about one file.
#[derive(Debug, Clone)]
struct Known {
    name: String,
    rev: String,
    size: u64,
    hash: Option<String>,
    /// The bytes of this rev, when we wrote them ourselves (appends skip
    /// the download).
    body: Option<Bytes>,
    /// The cache clock when this was learned; see [`State::see`].
    stamp: u64,
}

impl Known {
    fn meta(&self) -> Meta {
        Meta {
            size: self.size,
            version: self.rev.clone(),
            content_hash: self.hash.clone(),
        }
    }
}

#[derive(Default)]
struct State {
    files: HashMap<String, Known>,
    /// The watch generation keeping `files` current, if any.
    live: Option<u64>,
    /// Ticks on every upload of ours.
    clock: u64,
    own: HashSet<String>,
    own_order: VecDeque<String>,
    /// Uploads of ours in flight, and when the last one ended.
    writing: u32,
    last_write: Option<std::time::Instant>,
}

/// Marks an upload in flight for [`Inner::settle`], until dropped.
struct Writing<'a>(&'a Inner);

impl<'a> Writing<'a> {
    fn start(inner: &'a Inner) -> Self {
        lock(&inner.state).writing += 1;
        Writing(inner)
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.writing = st.writing.saturating_sub(1);
        st.last_write = Some(std::time::Instant::now());
    }
}

impl State {
    fn is_own(&self, rev: &str) -> bool {
        self.own.contains(rev)
    }

    /// Records the result of our own upload.
    fn wrote(&mut self, m: &FileMetadata, body: Option<Bytes>) {
        self.clock += 1;
        if self.own.insert(m.rev.clone()) {
            self.own_order.push_back(m.rev.clone());
            if self.own_order.len() > OWN_REVS
                && let Some(old) = self.own_order.pop_front()
            {
                self.own.remove(&old);
            }
        }
        self.files.insert(
            key(&m.name),
            Known {
                name: m.name.clone(),
                rev: m.rev.clone(),
                size: m.size,
                hash: m.content_hash.clone(),
                body,
                stamp: self.clock,
            },
        );
    }

    /// Applies what a view of the folder (a listing, the change feed, a
    /// metadata read) saw, `started` being the clock when it was asked
    /// for. An entry we learned from our own upload after that may be newer
    /// than the view, so the view does not overwrite it: an older view must
    /// never undo a newer write (the next change feed brings the truth).
    fn see(&mut self, started: u64, m: &FileMetadata) {
        let k = key(&m.name);
        let body = match self.files.get(&k) {
            Some(old) if old.stamp > started => return,
            Some(old) if old.rev == m.rev => old.body.clone(),
            _ => None,
        };
        self.files.insert(
            k,
            Known {
                name: m.name.clone(),
                rev: m.rev.clone(),
                size: m.size,
                hash: m.content_hash.clone(),
                body,
                stamp: started,
            },
        );
    }

    fn gone(&mut self, started: u64, name: &str) {
        let k = key(name);
        if self.files.get(&k).is_some_and(|old| old.stamp <= started) {
            self.files.remove(&k);
        }
    }

    /// A complete listing replaces what we knew (except newer own writes).
    fn replace_all(&mut self, started: u64, files: &[FileMetadata]) {
        let listed: HashSet<String> = files.iter().map(|m| key(&m.name)).collect();
        self.files
            .retain(|k, old| old.stamp > started || listed.contains(k));
        for m in files {
            self.see(started, m);
        }
    }
}

impl FileMetadata {
    fn meta(&self) -> Meta {
        Meta {
            size: self.size,
            version: self.rev.clone(),
            content_hash: self.content_hash.clone(),
        }
    }
}

/// A folder in the Dropbox app folder, e.g. `/Maya`.
#[derive(Clone)]
pub struct DropboxFolder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DropboxFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropboxFolder")
            .field("root", &self.inner.label)
            .finish_non_exhaustive()
    }
}

struct Inner {
    api: Api,
    /// `""` (the app folder itself) or `/Maya`.
    root: String,
    root_lower: String,
    label: String,
    longpoll: Duration,
    state: Mutex<State>,
    /// Serialises this process's writes to one file.
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The generation of the watch guard alive now (0: none).
    active_watch: AtomicU64,
    next_watch: AtomicU64,
}

/// `/Maya/` → `/Maya`, `Maya` → `/Maya`, `/` → `""`.
fn normalize_root(path: &str) -> Result<String, DropboxError> {
    let p = path.trim().trim_end_matches('/');
    if p.is_empty() {
        return Ok(String::new());
    }
    let p = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    if p[1..]
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(DropboxError::Config(format!(
            "{path:?} is not a usable Dropbox path: give a plain path inside the app folder, such as /Maya"
        )));
    }
    Ok(p)
}

impl DropboxFolder {
    /// A folder at `path` inside the app folder.
    pub fn new(
        settings: &DropboxSettings,
        creds: Credentials,
        path: &str,
    ) -> Result<Self, DropboxError> {
        let settings = settings.clone().normalized();
        let root = normalize_root(path)?;
        Ok(DropboxFolder {
            inner: Arc::new(Inner {
                api: Api::new(&settings, creds)?,
                root_lower: root.to_lowercase(),
                label: format!("dropbox:{}", if root.is_empty() { "/" } else { &root }),
                root,
                longpoll: settings.longpoll_timeout,
                state: Mutex::new(State::default()),
                gates: Mutex::new(HashMap::new()),
                active_watch: AtomicU64::new(0),
                next_watch: AtomicU64::new(1),
            }),
        })
    }

    /// Credentials from DROPRENDER_DROPBOX_TOKEN or the token file.
    pub fn from_env(settings: &DropboxSettings, path: &str) -> Result<Self, DropboxError> {
        Self::new(settings, Credentials::from_env_or_store()?, path)
    }
}

enum Cached {
    /// The watch keeps the cache current: this is the truth (`None`: no such file).
    Live(Option<Known>),
    /// The cache may be behind: ask Dropbox.
    Stale,
}

impl Inner {
    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.root)
    }

    fn shown(&self, name: &str) -> String {
        if name.is_empty() {
            self.label.clone()
        } else {
            format!("{}/{name}", self.label.trim_end_matches('/'))
        }
    }

    fn storage_error(&self, name: &str, e: DropboxError) -> StorageError {
        match e {
            DropboxError::NotAFile(p) => StorageError::NotAFile(p),
            e if e.is_wrong_kind() => StorageError::NotAFile(self.shown(name)),
            e if name.is_empty() && e.is_not_found() => {
                StorageError::FolderMissing(self.label.clone())
            }
            e => StorageError::Remote(format!("{}: {e}", self.shown(name))),
        }
    }

    fn cached(&self, name: &str) -> Cached {
        let st = lock(&self.state);
        let k = st.files.get(&key(name)).cloned();
        if st.live.is_some() {
            Cached::Live(k)
        } else {
            Cached::Stale
        }
    }

    fn clock(&self) -> u64 {
        lock(&self.state).clock
    }

    fn gate(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.gates).entry(key(name)).or_default().clone()
    }

    fn set_live(&self, generation: u64, live: bool) {
        let mut st = lock(&self.state);
        if live && self.active_watch.load(Ordering::SeqCst) == generation {
            st.live = Some(generation);
        } else if !live && st.live == Some(generation) {
            st.live = None;
        }
    }

    /// Is this listing entry a file directly in our folder?
    fn is_child(&self, path_lower: Option<&str>) -> bool {
        path_lower
            .and_then(|p| p.rsplit_once('/'))
            .is_some_and(|(parent, _)| parent == self.root_lower)
    }

    async fn get_metadata(&self, name: &str) -> Result<Option<FileMetadata>, DropboxError> {
        let path = self.path(name);
        let started = self.clock();
        match self
            .api
            .rpc::<_, wire::Metadata>("files/get_metadata", &wire::PathArg { path: &path })
            .await
        {
            Ok(wire::Metadata::File(m)) => {
                lock(&self.state).see(started, &m);
                Ok(Some(m))
            }
            Ok(wire::Metadata::Deleted(_)) => Ok(None),
            Ok(wire::Metadata::Folder {}) => Err(DropboxError::NotAFile(self.shown(name))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Downloads `path` (a path or `rev:…`) from byte `from` on. `None`: not found.
    async fn download(
        &self,
        path: &str,
        from: u64,
    ) -> Result<Option<(FileMetadata, Bytes)>, DropboxError> {
        const ROUTE: &str = "files/download";
        let mut req = Request::content(ROUTE, &wire::PathArg { path })?;
        req.range_from = Some(from);
        let resp = match self.api.send(req).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) if e.is_wrong_kind() => return Err(DropboxError::NotAFile(path.into())),
            Err(e) => return Err(e),
        };
        let protocol = |what: String| DropboxError::Protocol {
            route: ROUTE.into(),
            what,
        };
        if resp.status.as_u16() == 416 {
            return Err(protocol(format!(
                "bytes from {from} on are not in {path}, which should have them"
            )));
        }
        let meta: FileMetadata = resp
            .headers
            .get("dropbox-api-result")
            .map(|v| api::parse(ROUTE, v.as_bytes()))
            .transpose()?
            .ok_or_else(|| protocol("no Dropbox-API-Result header".into()))?;
        let body = if resp.status.as_u16() == 206 {
            let start = resp
                .headers
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if start != Some(from) {
                return Err(protocol(format!(
                    "asked for bytes from {from} on, got Content-Range starting at {start:?}"
                )));
            }
            resp.body
        } else {
            // The whole file: a server may ignore Range.
            let skip = usize::try_from(from)
                .unwrap_or(usize::MAX)
                .min(resp.body.len());
            resp.body.slice(skip..)
        };
        Ok(Some((meta, body)))
    }

    async fn upload(
        &self,
        name: &str,
        data: Bytes,
        mode: WriteMode,
    ) -> Result<FileMetadata, DropboxError> {
        const ROUTE: &str = "files/upload";
        let _writing = Writing::start(self);
        let path = self.path(name);
        // Overwriting with the same bytes again is a no-op, so it may be
        // retried blindly; add and update are compare-and-swap, which only
        // the caller can verify.
        let idempotent = mode == WriteMode::Overwrite;
        let commit = CommitInfo {
            path: &path,
            mode,
            autorename: false,
            mute: true,
            strict_conflict: !idempotent,
        };
        if data.len() > UPLOAD_LIMIT {
            return self.upload_session(commit, data).await;
        }
        let mut req = Request::content(ROUTE, &commit)?;
        req.upload = Some(data);
        req.idempotent = idempotent;
        let resp = self.api.send(req).await?;
        api::parse(ROUTE, &resp.body)
    }

    /// Files over 150 MiB: `upload_session/start`, `append_v2`, `finish`.
    async fn upload_session(
        &self,
        commit: CommitInfo<'_>,
        data: Bytes,
    ) -> Result<FileMetadata, DropboxError> {
        let mut start = Request::content("files/upload_session/start", &serde_json::json!({}))?;
        start.upload = Some(Bytes::new());
        let s: wire::SessionStart = api::parse(
            "files/upload_session/start",
            &self.api.send(start).await?.body,
        )?;
        let total = data.len();
        let mut offset = 0usize;
        while total - offset > SESSION_CHUNK {
            let arg = wire::SessionAppendArg {
                cursor: wire::SessionCursor {
                    session_id: &s.session_id,
                    offset: offset as u64,
                },
                close: false,
            };
            let mut req = Request::content("files/upload_session/append_v2", &arg)?;
            req.upload = Some(data.slice(offset..offset + SESSION_CHUNK));
            match self.api.send(req).await {
                Ok(_) => offset += SESSION_CHUNK,
                // A retried chunk that had landed: Dropbox says where we are.
                Err(e) if e.tags().is_some_and(|t| t.contains("incorrect_offset")) => {
                    let at = match &e {
                        DropboxError::Route { error, .. } => error
                            .get("correct_offset")
                            .and_then(serde_json::Value::as_u64),
                        _ => None,
                    };
                    match at.and_then(|a| usize::try_from(a).ok()) {
                        Some(a) if a <= total => offset = a,
                        _ => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let idempotent = commit.mode == WriteMode::Overwrite;
        let arg = wire::SessionFinishArg {
            cursor: wire::SessionCursor {
                session_id: &s.session_id,
                offset: offset as u64,
            },
            commit,
        };
        let mut req = Request::content("files/upload_session/finish", &arg)?;
        req.upload = Some(data.slice(offset..));
        req.idempotent = idempotent;
        let resp = self.api.send(req).await?;
        api::parse("files/upload_session/finish", &resp.body)
    }

    /// Every file in the folder, and a cursor for the change feed (`None`
    /// when the folder does not exist yet: Dropbox creates it with the first
    /// upload into it, so until then it is simply empty).
    async fn list_all(&self) -> Result<(Vec<FileMetadata>, Option<String>), DropboxError> {
        let first = self
            .api
            .rpc(
                "files/list_folder",
                &wire::ListFolderArg {
                    path: &self.root,
                    recursive: false,
                    include_deleted: false,
                    limit: 2000,
                },
            )
            .await;
        let mut r: wire::ListFolderResult = match first {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok((Vec::new(), None)),
            Err(e) => return Err(e),
        };
        let mut files = Vec::new();
        loop {
            for e in std::mem::take(&mut r.entries) {
                if let wire::Metadata::File(m) = e
                    && self.is_child(m.path_lower.as_deref())
                {
                    files.push(m);
                }
            }
            if !r.has_more {
                return Ok((files, Some(r.cursor)));
            }
            r = self
                .api
                .rpc(
                    "files/list_folder/continue",
                    &wire::CursorArg { cursor: &r.cursor },
                )
                .await?;
        }
    }

    /// A full listing: the cache starts over from it. Returns the cursor.
    async fn relist(&self) -> Result<(Vec<FileMetadata>, Option<String>), DropboxError> {
        let started = self.clock();
        let (files, cursor) = self.list_all().await?;
        lock(&self.state).replace_all(started, &files);
        Ok((files, cursor))
    }

    /// Changes since `cursor` (all pages), applied to the cache; returns the
    /// new cursor and the hints for changes we did not make.
    async fn catch_up(&self, cursor: &str) -> Result<(String, Vec<Hint>), DropboxError> {
        let started = self.clock();
        let mut cursor = cursor.to_string();
        let mut entries = Vec::new();
        loop {
            let r: wire::ListFolderResult = self
                .api
                .rpc(
                    "files/list_folder/continue",
                    &wire::CursorArg { cursor: &cursor },
                )
                .await?;
            entries.extend(r.entries);
            cursor = r.cursor;
            if !r.has_more {
                break;
            }
        }
        let mut hints = Vec::new();
        let mut st = lock(&self.state);
        for e in entries {
            match e {
                wire::Metadata::File(m) if self.is_child(m.path_lower.as_deref()) => {
                    if !st.is_own(&m.rev) {
                        hints.push(Hint::Changed(m.name.clone()));
                    }
                    st.see(started, &m);
                }
                wire::Metadata::Deleted(d) if self.is_child(d.path_lower.as_deref()) => {
                    st.gone(started, &d.name);
                    hints.push(Hint::Changed(d.name));
                }
                _ => {}
            }
        }
        Ok((cursor, hints))
    }

    /// Waits while this process is writing: each of our uploads wakes the
    /// longpoll, and a node writes in bursts (LOG.txt, status.json,
    /// status.txt, active_rend.txt). Following the feed once after the burst
    /// instead of once per file halves the requests per command. When we
    /// are not writing (a command arriving at an idle node) there is no wait.
    async fn settle(&self) {
        let until = tokio::time::Instant::now() + SETTLE_MAX;
        loop {
            let wait = {
                let st = lock(&self.state);
                if st.writing > 0 {
                    Some(SETTLE)
                } else {
                    st.last_write
                        .map(|t| SETTLE.saturating_sub(t.elapsed()))
                        .filter(|d| !d.is_zero())
                }
            };
            match wait {
                Some(d) if tokio::time::Instant::now() < until => tokio::time::sleep(d).await,
                _ => return,
            }
        }
    }

    /// One longpoll, then the changes it announced.
    async fn follow(&self, cursor: &str) -> Result<(String, Vec<Hint>), DropboxError> {
        const ROUTE: &str = "files/list_folder/longpoll";
        let timeout = self.longpoll.as_secs();
        let mut req = Request::rpc(ROUTE, &wire::LongpollArg { cursor, timeout })?;
        req.host = Host::Notify;
        // Dropbox holds it up to the timeout plus 90 s of jitter.
        req.timeout = self.longpoll + Duration::from_secs(90 + 30);
        let lp: wire::LongpollResult = api::parse(ROUTE, &self.api.send(req).await?.body)?;
        let out = if lp.changes {
            self.settle().await;
            self.catch_up(cursor).await?
        } else {
            (cursor.to_string(), Vec::new())
        };
        if let Some(secs) = lp.backoff.filter(|s| *s > 0) {
            tracing::info!("Dropbox asked for {secs} s between longpolls; waiting");
            tokio::time::sleep(Duration::from_secs(secs)).await;
        }
        Ok(out)
    }

    async fn watch_loop(self: Arc<Self>, generation: u64, tx: mpsc::Sender<Hint>) {
        let mut cursor: Option<String> = None;
        let mut failures = 0u32;
        let mut said_missing = false;
        loop {
            let step = match &cursor {
                None => match self.relist().await {
                    Ok((_, Some(c))) => {
                        self.set_live(generation, true);
                        // Whatever happened before this listing is in it now.
                        Ok((c, vec![Hint::Rescan]))
                    }
                    Ok((_, None)) => {
                        // No folder, no change feed: look again shortly
                        // (the node's first status write creates it).
                        if !said_missing {
                            tracing::info!(
                                "{} does not exist yet; it is created by the first write into it",
                                self.label
                            );
                            said_missing = true;
                        }
                        tokio::time::sleep(MISSING_FOLDER_RETRY).await;
                        continue;
                    }
                    Err(e) => Err(e),
                },
                Some(c) => self.follow(c).await,
            };
            match step {
                Ok((c, hints)) => {
                    failures = 0;
                    cursor = Some(c);
                    for h in hints {
                        if tx.send(h).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) if e.is_reset() => {
                    tracing::info!(
                        "Dropbox reset the change cursor of {}; listing it again",
                        self.label
                    );
                    self.set_live(generation, false);
                    cursor = None;
                }
                Err(e) => {
                    self.set_live(generation, false);
                    cursor = None;
                    failures += 1;
                    let d = self
                        .api
                        .policy
                        .backoff(failures)
                        .max(Duration::from_secs(1));
                    tracing::warn!(
                        "watching {} for changes: {e}; trying again in {:.0} s",
                        self.label,
                        d.as_secs_f64()
                    );
                    tokio::time::sleep(d).await;
                }
            }
        }
    }

    async fn append(&self, name: &str, data: &[u8]) -> Result<(), DropboxError> {
        if data.is_empty() {
            return Ok(());
        }
        let gate = self.gate(name);
        let _serial = gate.lock().await;
        let path = self.path(name);
        let mut lost = 0u32;
        let mut uncertain = 0u32;
        loop {
            // The base: our own last write when we know its bytes, else a download.
            let known = lock(&self.state)
                .files
                .get(&key(name))
                .and_then(|k| Some((k.rev.clone(), k.body.clone()?)));
            let base = match known {
                Some(b) => Some(b),
                None => {
                    let started = self.clock();
                    match self.download(&path, 0).await? {
                        Some((m, bytes)) => {
                            lock(&self.state).see(started, &m);
                            Some((m.rev, bytes))
                        }
                        None => None,
                    }
                }
            };
            let mut new = Vec::with_capacity(base.as_ref().map_or(0, |b| b.1.len()) + data.len());
            if let Some((_, b)) = &base {
                new.extend_from_slice(b);
            }
            new.extend_from_slice(data);
            let new = Bytes::from(new);
            let mode = match &base {
                Some((rev, _)) => WriteMode::Update(rev.clone()),
                None => WriteMode::Add,
            };
            match self.upload(name, new.clone(), mode).await {
                Ok(m) => {
                    lock(&self.state).wrote(&m, Some(new));
                    return Ok(());
                }
                Err(e) if e.is_conflict() => {
                    // Someone else appended first: start over from their version.
                    self.forget_body(name);
                    lost += 1;
                    if lost >= MAX_CAS_ROUNDS {
                        return Err(e);
                    }
                    tokio::time::sleep(cas_backoff(lost)).await;
                }
                Err(DropboxError::Uncertain { route }) => {
                    // The upload may have landed. Look before writing again,
                    // so the line is never there twice.
                    self.forget_body(name);
                    let started = self.clock();
                    let looked = self.download(&path, 0).await.map_err(|e| {
                        if e.is_transient() {
                            DropboxError::Uncertain {
                                route: route.clone(),
                            }
                        } else {
                            e
                        }
                    })?;
                    if let Some((m, cur)) = looked
                        && cur.starts_with(&new)
                    {
                        let mut st = lock(&self.state);
                        if cur.len() == new.len() {
                            st.wrote(&m, Some(cur));
                        } else {
                            // Ours, and others appended after it.
                            st.see(started, &m);
                        }
                        return Ok(());
                    }
                    uncertain += 1;
                    if uncertain >= self.api.policy.max_attempts {
                        return Err(DropboxError::Uncertain { route });
                    }
                    let d = self.api.policy.backoff(uncertain);
                    tracing::warn!(
                        "an append to {} failed midway and the bytes are not there; appending again in {:.1} s",
                        self.shown(name),
                        d.as_secs_f64()
                    );
                    tokio::time::sleep(d).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn forget_body(&self, name: &str) {
        if let Some(k) = lock(&self.state).files.get_mut(&key(name)) {
            k.body = None;
        }
    }

    async fn write_atomic(&self, name: &str, data: Vec<u8>) -> Result<(), DropboxError> {
        let gate = self.gate(name);
        let _serial = gate.lock().await;
        let hash = content_hash(&data);
        let same = lock(&self.state)
            .files
            .get(&key(name))
            .is_some_and(|k| k.hash.as_deref() == Some(hash.as_str()));
        if same {
            return Ok(());
        }
        let m = self
            .upload(name, Bytes::from(data), WriteMode::Overwrite)
            .await?;
        lock(&self.state).wrote(&m, None);
        Ok(())
    }

    async fn read_from(
        &self,
        name: &str,
        offset: u64,
    ) -> Result<Option<(Meta, Vec<u8>)>, DropboxError> {
        let known = match self.cached(name) {
            Cached::Live(None) => return Ok(None),
            Cached::Live(Some(k)) => Some(k),
            // Reading from the start: the download says everything.
            Cached::Stale if offset == 0 => None,
            Cached::Stale => match self.get_metadata(name).await? {
                None => return Ok(None),
                Some(_) => self.cached_any(name),
            },
        };
        if let Some(k) = known {
            if offset >= k.size {
                return Ok(Some((k.meta(), Vec::new())));
            }
            if let Some(body) = &k.body {
                let from = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(body.len());
                return Ok(Some((k.meta(), body[from..].to_vec())));
            }
            if let Some((m, bytes)) = self.download(&format!("rev:{}", k.rev), offset).await? {
                return Ok(Some((m.meta(), bytes.to_vec())));
            }
            // That rev is gone (history purged): read what is there now.
        }
        let started = self.clock();
        let Some((m, bytes)) = self.download(&self.path(name), 0).await? else {
            return Ok(None);
        };
        lock(&self.state).see(started, &m);
        let from = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        Ok(Some((m.meta(), bytes[from..].to_vec())))
    }

    fn cached_any(&self, name: &str) -> Option<Known> {
        lock(&self.state).files.get(&key(name)).cloned()
    }
}

/// Jittered exponential backoff after losing a compare-and-swap race:
/// short, since the winner is done by now, but spread so the losers do not
/// collide again.
fn cas_backoff(lost: u32) -> Duration {
    let ceiling = Duration::from_millis(10u64 << lost.min(7)).min(Duration::from_secs(1));
    ceiling.mul_f64(rand::rng().random::<f64>())
}

/// Stops the watch task when dropped.
struct WatchTask {
    task: tokio::task::JoinHandle<()>,
    inner: Arc<Inner>,
    generation: u64,
}

impl Drop for WatchTask {
    fn drop(&mut self) {
        self.task.abort();
        let _ = self.inner.active_watch.compare_exchange(
            self.generation,
            0,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        self.inner.set_live(self.generation, false);
    }
}

impl Folder for DropboxFolder {
    fn describe(&self) -> String {
        self.inner.label.clone()
    }

    async fn stat(&self, name: &str) -> Result<Option<Meta>, StorageError> {
        let i = &self.inner;
        if let Cached::Live(k) = i.cached(name) {
            return Ok(k.map(|k| k.meta()));
        }
        match i.get_metadata(name).await {
            Ok(m) => Ok(m.map(|m| m.meta())),
            Err(e) => Err(i.storage_error(name, e)),
        }
    }

    async fn read_from(
        &self,
        name: &str,
        offset: u64,
    ) -> Result<Option<(Meta, Vec<u8>)>, StorageError> {
        self.inner
            .read_from(name, offset)
            .await
            .map_err(|e| self.inner.storage_error(name, e))
    }

    async fn list(&self) -> Result<Vec<Entry>, StorageError> {
        let i = &self.inner;
        {
            let st = lock(&i.state);
            if st.live.is_some() {
                return Ok(st
                    .files
                    .values()
                    .map(|k| Entry {
                        name: k.name.clone(),
                        meta: k.meta(),
                    })
                    .collect());
            }
        }
        let (files, _) = i.relist().await.map_err(|e| i.storage_error("", e))?;
        Ok(files
            .into_iter()
            .map(|m| Entry {
                meta: m.meta(),
                name: m.name,
            })
            .collect())
    }

    async fn write_atomic(&self, name: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.inner
            .write_atomic(name, data)
            .await
            .map_err(|e| self.inner.storage_error(name, e))
    }

    async fn append(&self, name: &str, data: Vec<u8>) -> Result<(), StorageError> {
        match self.inner.append(name, &data).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_conflict() => Err(StorageError::Conflict(self.inner.shown(name))),
            Err(e @ DropboxError::Uncertain { .. }) => Err(StorageError::Remote(format!(
                "{}: {e}. It kept failing, so it is not known whether the bytes were appended: look before sending them again",
                self.inner.shown(name)
            ))),
            Err(e) => Err(self.inner.storage_error(name, e)),
        }
    }

    fn watch(&self, tx: mpsc::Sender<Hint>) -> Result<WatchGuard, StorageError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|e| StorageError::Watch {
            path: self.describe(),
            reason: format!("no async runtime to poll Dropbox from: {e}"),
        })?;
        let generation = self.inner.next_watch.fetch_add(1, Ordering::SeqCst);
        self.inner.active_watch.store(generation, Ordering::SeqCst);
        let task = rt.spawn(self.inner.clone().watch_loop(generation, tx));
        Ok(Box::new(WatchTask {
            task,
            inner: self.inner.clone(),
            generation,
        }))
    }
}

#[cfg(test)]
mod tests;
