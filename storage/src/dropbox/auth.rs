//! Who we are to Dropbox: OAuth 2 with PKCE for a command-line app (no
//! client secret), the token file, and access tokens that refresh
//! themselves.
//!
//! Tokens are secrets: they live in [`Secret`], whose `Debug` says nothing,
//! and no message or log line ever carries one.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::DropboxError;
use super::settings::{DropboxSettings, ENV_TOKEN};
use super::wire::{OAuthError, TokenResponse};

/// The token file's name under `dirs::config_dir()/droprender/`.
pub const TOKEN_FILE: &str = "dropbox-token.json";

/// Refresh this long before Dropbox says the token expires, so a request
/// never leaves with a token that dies on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(120);

/// A token or verifier. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A PKCE verifier and its S256 challenge (RFC 7636).
pub struct Pkce {
    verifier: Secret,
    challenge: String,
}

impl fmt::Debug for Pkce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkce")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl Pkce {
    /// A fresh verifier: 64 characters of the unreserved set (RFC 7636 asks
    /// for 43–128).
    pub fn generate() -> Self {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
        let mut rng = rand::rng();
        let v: String = (0..64)
            .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
            .collect();
        Self::from_verifier(&v)
    }

    pub fn from_verifier(verifier: &str) -> Self {
        Pkce {
            challenge: s256_challenge(verifier),
            verifier: Secret::new(verifier),
        }
    }

    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    pub fn verifier(&self) -> &Secret {
        &self.verifier
    }
}

/// `base64url(SHA-256(verifier))` without padding.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What `droprender login` keeps on disk.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredToken {
    /// The app the refresh token belongs to: refreshing needs the same key.
    pub app_key: String,
    pub refresh_token: String,
    /// The last access token and when it expires (seconds since the epoch),
    /// so that each `droprender` run need not refresh.
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub account_id: Option<String>,
}

impl fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredToken")
            .field("app_key", &self.app_key)
            .field("account_id", &self.account_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The token file, readable and writable by its owner only.
#[derive(Debug, Clone)]
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    pub fn at(path: impl Into<PathBuf>) -> Self {
        TokenStore { path: path.into() }
    }

    /// `dirs::config_dir()/droprender/dropbox-token.json`.
    pub fn default_location() -> Result<Self, DropboxError> {
        let dir = dirs::config_dir().ok_or_else(|| {
            DropboxError::Config(
                "cannot tell where this user's config directory is (is HOME set?)".into(),
            )
        })?;
        Ok(Self::at(dir.join("droprender").join(TOKEN_FILE)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, op: &'static str, source: std::io::Error) -> DropboxError {
        DropboxError::TokenFile {
            op,
            path: self.path.clone(),
            source,
        }
    }

    pub fn load(&self) -> Result<Option<StoredToken>, DropboxError> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.fail("read", e)),
        };
        self.keep_private();
        serde_json::from_slice(&text).map(Some).map_err(|e| {
            self.fail(
                "read",
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{e}; delete it and run `droprender login` again"),
                ),
            )
        })
    }

    /// A token file others can read (copied in by hand, restored from a
    /// backup) is made owner-only again.
    #[cfg(unix)]
    fn keep_private(&self) {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(md) = std::fs::metadata(&self.path)
            && md.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "{} was readable by others; making it readable by its owner only",
                self.path.display()
            );
            if let Err(e) =
                std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))
            {
                tracing::warn!(
                    "cannot change the permissions of {}: {e}",
                    self.path.display()
                );
            }
        }
    }

    #[cfg(not(unix))]
    fn keep_private(&self) {}

    /// Writes through a temp file and a rename, created 0600 from the start
    /// so the secret is never readable by others, not even for a moment.
    pub fn save(&self, token: &StoredToken) -> Result<(), DropboxError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(|e| self.fail("create the folder of", e))?;
        let json = serde_json::to_vec_pretty(token).map_err(|e| {
            self.fail(
                "write",
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        let tmp = dir.join(format!(".{TOKEN_FILE}.{:016x}.tmp", rand::random::<u64>()));
        let result = (|| {
            let mut f = private_file(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.fail("write", e));
        }
        Ok(())
    }

    /// True if there was a file to delete.
    pub fn delete(&self) -> Result<bool, DropboxError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.fail("delete", e)),
        }
    }
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Where access tokens come from.
#[derive(Clone)]
pub enum Credentials {
    /// An access token given directly (DROPRENDER_DROPBOX_TOKEN): it cannot
    /// be refreshed, so it works for up to 4 hours.
    Token(Secret),
    /// A refresh token from `droprender login`.
    Stored {
        store: TokenStore,
        token: StoredToken,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Credentials::Token(<redacted>)"),
            Credentials::Stored { store, token } => f
                .debug_struct("Credentials::Stored")
                .field("store", &store.path)
                .field("token", token)
                .finish(),
        }
    }
}

impl Credentials {
    /// DROPRENDER_DROPBOX_TOKEN if set (headless machines and CI), else the
    /// token file that `droprender login` wrote.
    pub fn from_env_or_store() -> Result<Self, DropboxError> {
        if let Some(t) = std::env::var(ENV_TOKEN)
            .ok()
            .filter(|t| !t.trim().is_empty())
        {
            return Ok(Credentials::Token(Secret::new(t.trim())));
        }
        let store = TokenStore::default_location()?;
        match store.load()? {
            Some(token) => Ok(Credentials::Stored { store, token }),
            None => Err(DropboxError::NotLoggedIn),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct AuthState {
    access: Option<Secret>,
    /// Seconds since the epoch; `None`: unknown (a static token).
    expires_at: Option<u64>,
}

/// Hands out access tokens, refreshing them when they expire.
pub(crate) struct Auth {
    http: reqwest::Client,
    token_url: String,
    /// `Some` when tokens can be refreshed.
    refresh: Option<(String, Secret, TokenStore, StoredToken)>,
    state: tokio::sync::Mutex<AuthState>,
}

impl Auth {
    pub(crate) fn new(
        http: reqwest::Client,
        settings: &DropboxSettings,
        creds: Credentials,
    ) -> Self {
        let token_url = format!("{}/oauth2/token", settings.api_url);
        match creds {
            Credentials::Token(t) => Auth {
                http,
                token_url,
                refresh: None,
                state: tokio::sync::Mutex::new(AuthState {
                    access: Some(t),
                    expires_at: None,
                }),
            },
            Credentials::Stored { store, token } => {
                let app_key = if token.app_key.is_empty() {
                    settings.app_key.clone()
                } else {
                    token.app_key.clone()
                };
                let state = AuthState {
                    access: token.access_token.clone().map(Secret::new),
                    expires_at: token.expires_at,
                };
                let refresh = Secret::new(token.refresh_token.clone());
                Auth {
                    http,
                    token_url,
                    refresh: Some((app_key, refresh, store, token)),
                    state: tokio::sync::Mutex::new(state),
                }
            }
        }
    }

    pub(crate) fn can_refresh(&self) -> bool {
        self.refresh.is_some()
    }

    /// A token to send now: refreshed first if it is about to expire.
    pub(crate) async fn token(&self) -> Result<Secret, DropboxError> {
        let mut st = self.state.lock().await;
        let fresh = st
            .expires_at
            .is_none_or(|t| unix_now() + EXPIRY_MARGIN.as_secs() < t);
        match &st.access {
            Some(a) if fresh || self.refresh.is_none() => Ok(a.clone()),
            _ => self.refresh_locked(&mut st).await,
        }
    }

    /// Dropbox said `used` expired: refresh, unless another request
    /// already did while this one was on its way.
    pub(crate) async fn refresh_after(&self, used: &Secret) -> Result<(), DropboxError> {
        let mut st = self.state.lock().await;
        if st.access.as_ref().is_some_and(|a| a != used) {
            return Ok(());
        }
        self.refresh_locked(&mut st).await.map(|_| ())
    }

    async fn refresh_locked(&self, st: &mut AuthState) -> Result<Secret, DropboxError> {
        let Some((app_key, refresh, store, stored)) = &self.refresh else {
            return Err(DropboxError::StaticTokenExpired);
        };
        tracing::info!("refreshing the Dropbox access token");
        let r = token_request(
            &self.http,
            &self.token_url,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.expose()),
                ("client_id", app_key),
            ],
        )
        .await?;
        let access = Secret::new(r.access_token);
        let expires_at = r.expires_in.map(|s| unix_now() + s);
        st.access = Some(access.clone());
        st.expires_at = expires_at;
        // Best effort: the next run can always refresh again.
        let mut saved = stored.clone();
        saved.access_token = Some(access.expose().to_string());
        saved.expires_at = expires_at;
        if let Err(e) = store.save(&saved) {
            tracing::warn!("{e}; the new access token is used but not kept");
        }
        Ok(access)
    }
}

/// One POST to `/oauth2/token`, with a few tries over network trouble.
async fn token_request(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<TokenResponse, DropboxError> {
    const ROUTE: &str = "oauth2/token";
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let last = match http
            .post(url)
            .form(form)
            .timeout(Duration::from_secs(60))
            .send()
            .await
        {
            Ok(resp) => {
                let status = resp.status();
                let body = resp.bytes().await.unwrap_or_default();
                if status.is_success() {
                    return serde_json::from_slice::<TokenResponse>(&body).map_err(|e| {
                        DropboxError::Protocol {
                            route: ROUTE.into(),
                            what: e.to_string(),
                        }
                    });
                }
                if status.is_client_error() && status.as_u16() != 429 {
                    return Err(match serde_json::from_slice::<OAuthError>(&body) {
                        Ok(e) => DropboxError::OAuth {
                            error: e.error,
                            description: e.error_description,
                        },
                        Err(_) => DropboxError::Unexpected {
                            route: ROUTE.into(),
                            status: status.as_u16(),
                            body: String::from_utf8_lossy(&body).chars().take(500).collect(),
                        },
                    });
                }
                format!("HTTP {status}")
            }
            Err(e) => e.to_string(),
        };
        if attempt >= 5 {
            return Err(DropboxError::Unavailable {
                route: ROUTE.into(),
                attempts: attempt,
                last,
            });
        }
        let wait = Duration::from_millis(250 << attempt);
        tracing::warn!("{ROUTE}: {last}; trying again in {wait:?}");
        tokio::time::sleep(wait).await;
    }
}

/// `droprender login`, step by step: show [`Login::authorize_url`], read
/// the code the user pastes, then [`Login::finish`].
#[derive(Debug)]
pub struct Login {
    settings: DropboxSettings,
    pkce: Pkce,
}

impl Login {
    pub fn start(settings: DropboxSettings) -> Result<Self, DropboxError> {
        if !settings.has_app_key() {
            return Err(DropboxError::NoAppKey);
        }
        Ok(Login {
            settings: settings.normalized(),
            pkce: Pkce::generate(),
        })
    }

    /// The page to open in a browser. Without a `redirect_uri` Dropbox shows
    /// a code to paste back into the terminal.
    pub fn authorize_url(&self) -> String {
        let mut url =
            match reqwest::Url::parse(&format!("{}/oauth2/authorize", self.settings.oauth_url)) {
                Ok(u) => u,
                // The base URL was validated when the settings were built; keep
                // the string form if it somehow is not a URL.
                Err(_) => return format!("{}/oauth2/authorize", self.settings.oauth_url),
            };
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.app_key)
            .append_pair("response_type", "code")
            .append_pair("token_access_type", "offline")
            .append_pair("code_challenge", self.pkce.challenge())
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// Exchanges the pasted code and writes the token file; returns where.
    pub async fn finish(self, code: &str, store: &TokenStore) -> Result<(), DropboxError> {
        let http = super::http::http_client()?;
        let url = format!("{}/oauth2/token", self.settings.api_url);
        let r = token_request(
            &http,
            &url,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.trim()),
                ("client_id", &self.settings.app_key),
                ("code_verifier", self.pkce.verifier().expose()),
            ],
        )
        .await?;
        let Some(refresh) = r.refresh_token else {
            return Err(DropboxError::Protocol {
                route: "oauth2/token".into(),
                what: "no refresh token in the answer (was token_access_type=offline dropped?)"
                    .into(),
            });
        };
        store.save(&StoredToken {
            app_key: self.settings.app_key.clone(),
            refresh_token: refresh,
            expires_at: r.expires_in.map(|s| unix_now() + s),
            access_token: Some(r.access_token),
            account_id: r.account_id.or(r.uid),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(p.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn generated_verifiers_are_valid() {
        let p = Pkce::generate();
        let v = p.verifier().expose();
        assert!((43..=128).contains(&v.len()));
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        );
        assert_eq!(p.challenge(), s256_challenge(v));
    }

    #[test]
    fn secrets_never_show() {
        let s = Secret::new("sl.very-secret");
        assert!(!format!("{s:?}").contains("very-secret"));
        let c = Credentials::Token(s);
        assert!(!format!("{c:?}").contains("very-secret"));
        let t = StoredToken {
            app_key: "k".into(),
            refresh_token: "refresh-secret".into(),
            access_token: Some("access-secret".into()),
            expires_at: None,
            account_id: None,
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[cfg(unix)]
    #[test]
    fn the_token_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TokenStore::at(dir.path().join("droprender").join(TOKEN_FILE));
        assert!(store.load().expect("load").is_none());
        let t = StoredToken {
            app_key: "k".into(),
            refresh_token: "r".into(),
            access_token: None,
            expires_at: None,
            account_id: None,
        };
        store.save(&t).expect("save");
        store.save(&t).expect("save again");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(store.path()), 0o600);
        std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        store.load().expect("load");
        assert_eq!(mode(store.path()), 0o600, "tightened on load");
        assert_eq!(
            store.load().expect("load").expect("some").refresh_token,
            "r"
        );
        assert!(store.delete().expect("delete"));
        assert!(!store.delete().expect("delete"));
    }
}
