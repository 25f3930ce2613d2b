//! The emulator handle: configuration, shared state, and direct (in-process)
//! control for tests.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::sync::{Notify, watch};

use crate::auth::{AccessToken, DEFAULT_SCOPES, Tokens};
use crate::faults::{FaultConfig, FaultKind, FaultState};
use crate::hash::content_hash;
use crate::stats::Stats;
use crate::storage::{Commit, DbxPath, LookupError, Store, Target, WriteError, WriteMode};
use crate::wire::{FileMetadata, Metadata};

/// Emulator configuration. Build with `Config { field: …, ..Config::default() }`.
#[derive(Clone, Debug)]
pub struct Config {
    /// The app key (`client_id`) OAuth accepts.
    pub app_key: String,
    /// App secret; if set, `/oauth2/token` calls that present a secret must
    /// present this one. PKCE calls need none.
    pub app_secret: Option<String>,
    /// Access tokens valid from the start (with all default scopes).
    pub access_tokens: Vec<String>,
    /// Lifetime of every access token, including the initial ones
    /// (`expires_in` in OAuth answers). Dropbox: 4 hours.
    pub token_lifetime: Duration,
    /// Scopes granted by OAuth when the authorize call names none.
    pub scopes: Vec<String>,
    /// Maximum extra random time added to a longpoll's timeout (Dropbox adds
    /// up to 90 s). Default 0.
    pub longpoll_jitter: Duration,
    /// Multiplier applied to how long a longpoll is actually held (the
    /// requested 30–480 s timeout is still validated). Tests use e.g. 0.01.
    pub longpoll_time_scale: f64,
    /// When set, longpoll answers carry `"backoff": N` …
    pub longpoll_backoff: Option<u64>,
    /// … with this probability (default 1.0).
    pub longpoll_backoff_rate: f64,
    /// Initial fault configuration.
    pub faults: FaultConfig,
    /// Seed for every random choice (ids, tokens, jitter, faults without a
    /// seed of their own). `None`: from the OS.
    pub seed: Option<u64>,
    /// Files present from the start: (path, content).
    pub initial_files: Vec<(String, Vec<u8>)>,
    /// A directory whose files seed the namespace at start-up and which then
    /// mirrors every change (write-through). `None`: memory only.
    pub data_dir: Option<PathBuf>,
    /// `account_id` reported by OAuth.
    pub account_id: String,
    /// `uid` reported by OAuth.
    pub uid: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            app_key: "emulator-app-key".into(),
            app_secret: None,
            access_tokens: Vec::new(),
            token_lifetime: Duration::from_secs(14_400),
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            longpoll_jitter: Duration::ZERO,
            longpoll_time_scale: 1.0,
            longpoll_backoff: None,
            longpoll_backoff_rate: 1.0,
            faults: FaultConfig::default(),
            seed: None,
            initial_files: Vec::new(),
            data_dir: None,
            account_id: "dbid:AADemuLatorAccount0000000000000000000".into(),
            uid: "4242424242".into(),
        }
    }
}

/// Errors of the direct control API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmulatorError {
    /// The path is not an absolute Dropbox path.
    InvalidPath(String),
    /// Nothing there.
    NotFound(String),
    /// Something is in the way (a folder where a file goes, a file ancestor).
    Conflict(String),
}

impl fmt::Display for EmulatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmulatorError::InvalidPath(p) => write!(f, "invalid path: {p:?}"),
            EmulatorError::NotFound(p) => write!(f, "not found: {p:?}"),
            EmulatorError::Conflict(m) => write!(f, "conflict: {m}"),
        }
    }
}

impl std::error::Error for EmulatorError {}

/// The base URLs of a running emulator (all four "hosts" share one listener).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Urls {
    /// `http://addr`.
    pub base: String,
    /// Replaces `https://api.dropboxapi.com`.
    pub api: String,
    /// Replaces `https://content.dropboxapi.com`.
    pub content: String,
    /// Replaces `https://notify.dropboxapi.com`.
    pub notify: String,
    /// Replaces `https://www.dropbox.com` (authorize) and the token host.
    pub oauth: String,
}

impl Urls {
    /// URLs for a listener address.
    pub fn new(addr: SocketAddr) -> Self {
        let base = format!("http://{addr}");
        Urls {
            api: base.clone(),
            content: base.clone(),
            notify: base.clone(),
            oauth: base.clone(),
            base,
        }
    }

    /// `export …` lines for droprender.
    pub fn env_exports(&self, token: Option<&str>) -> String {
        let mut s = format!(
            "export DROPRENDER_DROPBOX_API_URL={}\nexport DROPRENDER_DROPBOX_CONTENT_URL={}\nexport DROPRENDER_DROPBOX_NOTIFY_URL={}\nexport DROPRENDER_DROPBOX_OAUTH_URL={}\n",
            self.api, self.content, self.notify, self.oauth
        );
        if let Some(t) = token {
            s.push_str(&format!("export DROPRENDER_DROPBOX_TOKEN={t}\n"));
        }
        s
    }
}

pub(crate) struct Inner {
    pub config: Config,
    pub store: Mutex<Store>,
    pub tokens: Mutex<Tokens>,
    pub faults: Mutex<FaultState>,
    pub stats: Mutex<Stats>,
    pub rng: Mutex<StdRng>,
    /// Carries the global change sequence; bumped on every change and on
    /// cursor resets, to wake longpolls.
    pub changes: watch::Sender<u64>,
    /// Wakes held longpolls when a server shuts down.
    pub shutdown: Notify,
}

/// Lock ignoring poisoning: state stays consistent because no code panics
/// while holding a lock on request data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A cheap, clonable handle to one emulated Dropbox account.
#[derive(Clone)]
pub struct Emulator {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("app_key", &self.inner.config.app_key)
            .finish_non_exhaustive()
    }
}

fn random_string(rng: &mut StdRng, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

impl Emulator {
    /// Create an emulator. Initial files and the data directory are loaded
    /// now (errors reading the directory are logged, not fatal).
    pub fn new(config: Config) -> Self {
        let mut rng = match config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        let instance = rng.next_u64();
        let fault_seed = config.seed.map(|s| s ^ 0x5eed_fa17);
        let mut tokens = Tokens::default();
        let now = Instant::now();
        for t in &config.access_tokens {
            tokens.access.insert(
                t.clone(),
                AccessToken {
                    scopes: config.scopes.clone(),
                    expires_at: now.checked_add(config.token_lifetime),
                    force_expired: false,
                    revoked: false,
                    refresh_token: None,
                },
            );
        }
        let (changes, _) = watch::channel(0);
        let emu = Emulator {
            inner: Arc::new(Inner {
                store: Mutex::new(Store::new(instance)),
                tokens: Mutex::new(tokens),
                faults: Mutex::new(FaultState::new(config.faults.clone(), fault_seed)),
                stats: Mutex::new(Stats::default()),
                rng: Mutex::new(rng),
                changes,
                shutdown: Notify::new(),
                config,
            }),
        };
        emu.load_initial();
        emu
    }

    fn load_initial(&self) {
        let mut seeds: Vec<(String, Vec<u8>)> = self.inner.config.initial_files.clone();
        if let Some(dir) = &self.inner.config.data_dir
            && let Err(e) = collect_dir(dir, dir, &mut seeds)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot read data dir");
        }
        let mut store = lock(&self.inner.store);
        for (path, data) in seeds {
            let result = DbxPath::parse(&path).map_err(|_| ()).and_then(|p| {
                let hash = content_hash(&data);
                store
                    .commit(&overwrite(p), Bytes::from(data), hash)
                    .map_err(|_| ())
            });
            if result.is_err() {
                tracing::warn!(%path, "skipping initial file");
            }
        }
        self.inner.changes.send_replace(store.seq());
    }

    /// The configuration it was created with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Replace the fault configuration.
    pub fn set_faults(&self, faults: FaultConfig) {
        lock(&self.inner.faults).set(faults);
    }

    /// Current fault configuration (with what is left of the scripted queue).
    pub fn faults(&self) -> FaultConfig {
        lock(&self.inner.faults).config()
    }

    /// Queue faults for the next matching requests.
    pub fn push_faults(&self, kinds: &[FaultKind]) {
        lock(&self.inner.faults).push(kinds);
    }

    /// Expire every access token (refresh tokens stay valid). Returns how many
    /// were still live.
    pub fn expire_tokens(&self) -> usize {
        lock(&self.inner.tokens).expire_all()
    }

    /// Expire one access token; false if unknown.
    pub fn expire_token(&self, token: &str) -> bool {
        match lock(&self.inner.tokens).access.get_mut(token) {
            Some(t) => {
                t.force_expired = true;
                true
            }
            None => false,
        }
    }

    /// Invalidate every cursor: continue and longpoll answer 409 `reset`.
    pub fn reset_cursors(&self) -> u64 {
        let epoch = lock(&self.inner.store).reset_cursors();
        // Wake held longpolls so they can answer `reset`.
        self.inner.changes.send_modify(|_| {});
        epoch
    }

    /// Snapshot of the traffic counters.
    pub fn stats(&self) -> Stats {
        lock(&self.inner.stats).clone()
    }

    /// Zero the traffic counters.
    pub fn reset_stats(&self) {
        *lock(&self.inner.stats) = Stats::default();
    }

    /// Mint an access token with the default scopes and lifetime.
    pub fn mint_token(&self) -> String {
        self.mint_token_with(None, None, None)
    }

    /// Mint an access token with given scopes / lifetime, optionally tied to a
    /// refresh token.
    pub fn mint_token_with(
        &self,
        scopes: Option<Vec<String>>,
        lifetime: Option<Duration>,
        refresh_token: Option<String>,
    ) -> String {
        let token = format!("sl.{}", random_string(&mut lock(&self.inner.rng), 96));
        let lifetime = lifetime.unwrap_or(self.inner.config.token_lifetime);
        lock(&self.inner.tokens).access.insert(
            token.clone(),
            AccessToken {
                scopes: scopes.unwrap_or_else(|| self.inner.config.scopes.clone()),
                expires_at: Instant::now().checked_add(lifetime),
                force_expired: false,
                revoked: false,
                refresh_token,
            },
        );
        token
    }

    /// A random URL-safe string (`bytes` of entropy).
    pub(crate) fn random_string(&self, bytes: usize) -> String {
        random_string(&mut lock(&self.inner.rng), bytes)
    }

    /// Uniform random f64 in [0, 1).
    pub(crate) fn random_unit(&self) -> f64 {
        lock(&self.inner.rng).random::<f64>()
    }

    /// Write a file the way the desktop app would (as if edited on a phone or
    /// another machine): overwrite, new rev unless the bytes are identical,
    /// wakes longpolls. Creates parent folders.
    pub fn put_file(
        &self,
        path: &str,
        data: impl Into<Bytes>,
    ) -> Result<FileMetadata, EmulatorError> {
        let p = DbxPath::parse(path).map_err(|_| EmulatorError::InvalidPath(path.to_owned()))?;
        let data: Bytes = data.into();
        let hash = content_hash(&data);
        let outcome = {
            let mut store = lock(&self.inner.store);
            store
                .commit(&overwrite(p), data.clone(), hash)
                .map_err(|e| match e {
                    WriteError::MalformedPath => EmulatorError::InvalidPath(path.to_owned()),
                    WriteError::Conflict(_) => EmulatorError::Conflict(e.tags()),
                })?
        };
        if outcome.changed {
            self.mirror_write(&outcome.metadata.path_display, &data);
            self.notify_change();
        }
        Ok(outcome.metadata)
    }

    /// Current content and metadata of a file (`/path`, `id:…` or `rev:…`).
    pub fn get_file(&self, path: &str) -> Option<(FileMetadata, Bytes)> {
        let target = direct_target(path)?;
        let store = lock(&self.inner.store);
        store
            .file_version(&target)
            .ok()
            .map(|(v, meta)| (meta, v.data.clone()))
    }

    /// Metadata at a path (live entries only).
    pub fn metadata(&self, path: &str) -> Option<Metadata> {
        let target = direct_target(path)?;
        lock(&self.inner.store).metadata(&target, false).ok()
    }

    /// Delete a file or folder as the desktop app would.
    pub fn delete(&self, path: &str) -> Result<Metadata, EmulatorError> {
        let target =
            direct_target(path).ok_or_else(|| EmulatorError::InvalidPath(path.to_owned()))?;
        let meta = lock(&self.inner.store)
            .delete(&target, None)
            .map_err(|_| EmulatorError::NotFound(path.to_owned()))?;
        self.mirror_remove(&meta);
        self.notify_change();
        Ok(meta)
    }

    /// Every live file, in path order.
    pub fn list_files(&self) -> Vec<FileMetadata> {
        lock(&self.inner.store).files()
    }

    pub(crate) fn notify_change(&self) {
        let seq = lock(&self.inner.store).seq();
        self.inner.changes.send_replace(seq);
    }

    fn mirror_file_path(&self, display: &str) -> Option<PathBuf> {
        let dir = self.inner.config.data_dir.as_ref()?;
        let mut p = dir.clone();
        for c in display.split('/').filter(|c| !c.is_empty()) {
            p.push(c);
        }
        Some(p)
    }

    pub(crate) fn mirror_write(&self, display: &str, data: &[u8]) {
        let Some(path) = self.mirror_file_path(display) else {
            return;
        };
        let result = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, data));
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "mirror write failed");
        }
    }

    pub(crate) fn mirror_remove(&self, meta: &Metadata) {
        let display = match meta {
            Metadata::File(m) => &m.path_display,
            Metadata::Folder(m) => &m.path_display,
            Metadata::Deleted(m) => &m.path_display,
        };
        let Some(path) = self.mirror_file_path(display) else {
            return;
        };
        let result = match meta {
            Metadata::Folder(_) => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "mirror remove failed");
        }
    }
}

fn overwrite(path: DbxPath) -> Commit {
    Commit {
        path,
        mode: WriteMode::Overwrite,
        autorename: false,
        strict_conflict: false,
        client_modified: None,
    }
}

fn direct_target(path: &str) -> Option<Target> {
    if let Some(rev) = path.strip_prefix("rev:") {
        Some(Target::Rev(rev.to_owned()))
    } else if path.starts_with("id:") {
        Some(Target::Id(path.to_owned()))
    } else {
        DbxPath::parse(path).ok().map(Target::Path)
    }
}

fn collect_dir(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let path = entry.path();
        if ft.is_dir() {
            collect_dir(root, &path, out)?;
        } else if ft.is_file() {
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let parts: Option<Vec<&str>> =
                rel.components().map(|c| c.as_os_str().to_str()).collect();
            match parts {
                Some(parts) => out.push((format!("/{}", parts.join("/")), std::fs::read(&path)?)),
                None => tracing::warn!(path = %path.display(), "skipping non-UTF-8 file name"),
            }
        }
    }
    Ok(())
}

/// Map a lookup error from the direct API.
impl From<LookupError> for EmulatorError {
    fn from(e: LookupError) -> Self {
        EmulatorError::NotFound(e.tag().to_owned())
    }
}
