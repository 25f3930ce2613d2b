//! [`Login`]: `droprender login`, the authorization-code flow with PKCE.

use super::pkce::Pkce;
use super::store::{StoredToken, TokenStore};
use super::token::{token_request, unix_now};
use crate::dropbox::error::DropboxError;
use crate::dropbox::settings::DropboxSettings;

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
        let http = crate::dropbox::http::http_client()?;
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
