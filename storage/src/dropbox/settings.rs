//! Where Dropbox is and how to talk to it: URLs, the app key, timeouts,
//! and the DROPRENDER_DROPBOX_* environment variables that override them.

use std::time::Duration;

use super::retry::RetryPolicy;

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
    pub(super) fn normalized(mut self) -> Self {
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
