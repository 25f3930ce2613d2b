//! The Dropbox emulator as the tests and the bench use it: started
//! in-process with an access token, and everything the node, the client
//! and library clients need to talk to it instead of Dropbox — written once.

use std::ops::Deref;
use std::path::Path;

use dropbox_emulator::{Config, Emulator, FaultConfig, FaultKind, RunningEmulator};
use droprender_storage::dropbox::{
    Credentials, DropboxFolder, DropboxSettings, ENV_API_URL, ENV_APP_KEY, ENV_CONTENT_URL,
    ENV_NOTIFY_URL, ENV_OAUTH_URL, ENV_RETRY_BASE_MS, ENV_TOKEN, RetryPolicy, Secret,
};

use crate::log;

/// `DropboxSettings` with every Dropbox host at the emulator's `url`, a
/// retry policy in milliseconds `(base, cap, attempts)`, and any other
/// fields given; the rest default.
///
/// A macro rather than a function so that it builds the `DropboxSettings`
/// and `RetryPolicy` in scope where it is used: the storage crate's own
/// unit tests (a dev-dependency cycle) need their crate's types, not those
/// of the copy of droprender-storage this kit links.
#[macro_export]
macro_rules! emulator_settings {
    ($url:expr, retry_ms: ($base:expr, $cap:expr, $attempts:expr) $(, $field:ident: $value:expr)* $(,)?) => {{
        let url: ::std::string::String = $url;
        #[allow(unused_mut)]
        let mut settings = DropboxSettings {
            api_url: url.clone(),
            content_url: url.clone(),
            notify_url: url.clone(),
            oauth_url: url,
            retry: RetryPolicy {
                base: ::std::time::Duration::from_millis($base),
                cap: ::std::time::Duration::from_millis($cap),
                max_attempts: $attempts,
            },
            ..DropboxSettings::default()
        };
        $(settings.$field = $value;)*
        settings
    }};
}

/// The token the rigs' node and clients use.
pub const TOKEN: &str = "test-token";

/// Longpolls held 1/100 of their time (a 480 s longpoll: 4.8 s).
pub const LONGPOLL_SCALE: f64 = 0.01;

/// `Config` with longpolls held [`LONGPOLL_SCALE`] of their time.
pub fn fast_longpolls() -> Config {
    Config {
        longpoll_time_scale: LONGPOLL_SCALE,
        ..Config::default()
    }
}

/// The exactly-once tests' fault mix: `rate` of requests answer 429, 500,
/// drop the connection, or commit an upload and never answer; seeded. The
/// 429s' Retry-After is 0: waiting it out is what the storage crate's unit
/// tests check, and 0 keeps these runs short.
pub fn flaky(rate: f64, seed: u64) -> FaultConfig {
    FaultConfig {
        rate,
        kinds: vec![
            FaultKind::TooManyRequests,
            FaultKind::InternalError,
            FaultKind::Drop,
            FaultKind::DropAfterCommit,
        ],
        retry_after_secs: 0,
        seed: Some(seed),
        ..FaultConfig::default()
    }
}

/// Starts an emulator on 127.0.0.1:0 in which `token` is a valid access
/// token (for async tests on their own runtime).
pub async fn start(token: &str, config: Config) -> (Emulator, RunningEmulator) {
    let emu = Emulator::new(Config {
        access_tokens: vec![token.into()],
        ..config
    });
    let running = emu.clone().start().await.expect("emulator starts");
    (emu, running)
}

/// An emulator serving on its own runtime; shut down when dropped.
/// Derefs to the [`Emulator`] handle.
pub struct Emu {
    running: Option<RunningEmulator>,
    pub emu: Emulator,
    pub rt: tokio::runtime::Runtime,
    pub token: String,
    pub url: String,
}

impl Deref for Emu {
    type Target = Emulator;

    fn deref(&self) -> &Emulator {
        &self.emu
    }
}

impl Emu {
    /// An emulator accepting `token`, on a runtime with `workers` threads.
    pub fn start(token: &str, config: Config, workers: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("runtime");
        let (emu, running) = rt.block_on(start(token, config));
        Emu {
            url: running.url(),
            running: Some(running),
            emu,
            rt,
            token: token.into(),
        }
    }

    /// What the node and the client need to use this emulator: its URLs,
    /// the app key, quick retries, a private config dir (never the real
    /// user's) and, with `static_token`, the access token (else they use
    /// the token file `droprender login` writes there).
    pub fn child_env(&self, config_home: &Path, static_token: bool) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            (ENV_API_URL, self.url.as_str()),
            (ENV_CONTENT_URL, self.url.as_str()),
            (ENV_NOTIFY_URL, self.url.as_str()),
            (ENV_OAUTH_URL, self.url.as_str()),
            (ENV_APP_KEY, self.emu.config().app_key.as_str()),
            (ENV_RETRY_BASE_MS, "20"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.push(("XDG_CONFIG_HOME".into(), config_home.display().to_string()));
        if static_token {
            env.push((ENV_TOKEN.into(), self.token.clone()));
        }
        env
    }

    /// A library client on `root`, as another machine would be.
    pub fn folder(&self, root: &str) -> DropboxFolder {
        let settings = emulator_settings!(self.url.clone(), retry_ms: (20, 1000, 30));
        DropboxFolder::new(
            &settings,
            Credentials::Token(Secret::new(&self.token)),
            root,
        )
        .expect("folder")
    }

    /// A file as the emulator stores it (no faults on this path), as text.
    pub fn text(&self, path: &str) -> String {
        log::emulator_text(&self.emu, path)
    }

    /// Requests so far on a route (`/2/files/list_folder/longpoll`).
    pub fn requests(&self, route: &str) -> u64 {
        requests(&self.emu, route)
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = self.rt.block_on(r.shutdown());
        }
    }
}

/// Requests an emulator has answered on a route.
pub fn requests(emu: &Emulator, route: &str) -> u64 {
    emu.stats().routes.get(route).map_or(0, |r| r.requests)
}

/// Runs `per_task` for each of `items` as its own task, all at once, and
/// returns their results in order.
pub async fn concurrently<T, R, F, Fut>(items: Vec<T>, per_task: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(usize, T) -> Fut,
    Fut: std::future::Future<Output = R> + Send + 'static,
{
    let tasks: Vec<_> = items
        .into_iter()
        .enumerate()
        .map(|(i, t)| tokio::spawn(per_task(i, t)))
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("client task"));
    }
    out
}
