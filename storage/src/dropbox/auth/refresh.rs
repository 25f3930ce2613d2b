//! [`Auth`]: hands out access tokens, refreshing them before they expire.

use std::time::Duration;

use super::credentials::Credentials;
use super::secret::Secret;
use super::store::{StoredToken, TokenStore};
use super::token::{token_request, unix_now};
use crate::dropbox::error::DropboxError;
use crate::dropbox::settings::DropboxSettings;

/// Refresh this long before Dropbox says the token expires, so a request
/// never leaves with a token that dies on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(120);

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
