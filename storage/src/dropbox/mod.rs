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
mod cache;
mod error;
mod http;
mod retry;
mod settings;
mod transfer;
mod watch;
mod wire;
mod write;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

pub use crate::content_hash::content_hash;
pub use api::{RetryPolicy, retry_after};
pub use auth::{
    Credentials, Login, Pkce, Secret, StoredToken, TOKEN_FILE, TokenStore, s256_challenge,
};
pub use error::DropboxError;
pub use settings::{
    DropboxSettings, ENV_API_URL, ENV_APP_KEY, ENV_CONTENT_URL, ENV_LONGPOLL_SECS, ENV_NOTIFY_URL,
    ENV_OAUTH_URL, ENV_RETRY_BASE_MS, ENV_TOKEN, PLACEHOLDER_APP_KEY,
};

use crate::{Entry, Folder, Hint, Meta, StorageError, WatchGuard};
use api::{Api, Host, Request};
use cache::{Known, State, key, lock};
use watch::WatchTask;
use wire::{CommitInfo, FileMetadata, WriteMode};

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

impl Folder for DropboxFolder {
    fn describe(&self) -> String {
        self.inner.label.clone()
    }

    fn appends_are_judged_by_content(&self) -> bool {
        true
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
