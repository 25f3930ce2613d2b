//! Access tokens, refresh tokens and OAuth authorization codes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};

use crate::error::ApiError;

/// Scope needed by list_folder*, longpoll, get_metadata.
pub const SCOPE_METADATA_READ: &str = "files.metadata.read";
/// Scope needed by download.
pub const SCOPE_CONTENT_READ: &str = "files.content.read";
/// Scope needed by upload and delete.
pub const SCOPE_CONTENT_WRITE: &str = "files.content.write";

/// Scopes granted when nothing narrower is asked for.
pub const DEFAULT_SCOPES: &[&str] = &[
    "account_info.read",
    SCOPE_CONTENT_READ,
    SCOPE_CONTENT_WRITE,
    SCOPE_METADATA_READ,
];

/// One access token.
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// When it stops working (`None`: never).
    pub expires_at: Option<Instant>,
    /// Expired early (control endpoint or `expire` fault).
    pub force_expired: bool,
    /// Revoked via auth/token/revoke.
    pub revoked: bool,
    /// The refresh token it was minted from, if any.
    pub refresh_token: Option<String>,
}

/// One refresh token.
#[derive(Clone, Debug)]
pub struct RefreshToken {
    /// App it belongs to.
    pub client_id: String,
    /// Scopes granted to access tokens minted from it.
    pub scopes: Vec<String>,
    /// Revoked (via revoking any of its access tokens).
    pub revoked: bool,
}

/// PKCE challenge method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeMethod {
    /// `S256`: base64url-no-pad(SHA-256(verifier)).
    S256,
    /// `plain`: the verifier itself.
    Plain,
}

/// A pending authorization code.
#[derive(Clone, Debug)]
pub struct AuthCode {
    /// `client_id` given to /oauth2/authorize.
    pub client_id: String,
    /// PKCE challenge, if any.
    pub challenge: Option<(String, ChallengeMethod)>,
    /// Must match on the token call if given.
    pub redirect_uri: Option<String>,
    /// `token_access_type=offline`: also issue a refresh token.
    pub offline: bool,
    /// Scopes to grant.
    pub scopes: Vec<String>,
    /// Issue time (codes live 10 minutes).
    pub issued: Instant,
}

/// How long an authorization code is valid.
pub const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// The token tables.
#[derive(Debug, Default)]
pub struct Tokens {
    /// Access tokens by value.
    pub access: HashMap<String, AccessToken>,
    /// Refresh tokens by value.
    pub refresh: HashMap<String, RefreshToken>,
    /// Authorization codes by value.
    pub codes: HashMap<String, AuthCode>,
}

/// Why a token was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenState {
    /// Usable.
    Valid,
    /// Unknown or revoked.
    Invalid,
    /// Lifetime elapsed or expired by control.
    Expired,
}

impl Tokens {
    /// State of a token now.
    pub fn state(&self, token: &str, now: Instant) -> TokenState {
        match self.access.get(token) {
            None => TokenState::Invalid,
            Some(t) if t.revoked => TokenState::Invalid,
            Some(t) if t.force_expired || t.expires_at.is_some_and(|e| now >= e) => {
                TokenState::Expired
            }
            Some(_) => TokenState::Valid,
        }
    }

    /// Check a token for a route needing `scope`.
    pub fn check(&self, token: &str, scope: &str, now: Instant) -> Result<(), ApiError> {
        match self.state(token, now) {
            TokenState::Invalid => Err(ApiError::invalid_access_token()),
            TokenState::Expired => Err(ApiError::expired_access_token()),
            TokenState::Valid => {
                let granted = self
                    .access
                    .get(token)
                    .is_some_and(|t| t.scopes.iter().any(|s| s == scope));
                if granted {
                    Ok(())
                } else {
                    Err(ApiError::missing_scope(scope))
                }
            }
        }
    }

    /// Mark every access token expired; returns how many were live.
    pub fn expire_all(&mut self) -> usize {
        let mut n = 0;
        for t in self.access.values_mut() {
            if !t.force_expired && !t.revoked {
                n += 1;
            }
            t.force_expired = true;
        }
        n
    }

    /// Revoke an access token and, per the docs, its refresh token and all
    /// other access tokens minted from that refresh token.
    pub fn revoke(&mut self, token: &str) {
        let refresh = match self.access.get_mut(token) {
            Some(t) => {
                t.revoked = true;
                t.refresh_token.clone()
            }
            None => None,
        };
        if let Some(r) = refresh {
            if let Some(rt) = self.refresh.get_mut(&r) {
                rt.revoked = true;
            }
            for t in self.access.values_mut() {
                if t.refresh_token.as_deref() == Some(r.as_str()) {
                    t.revoked = true;
                }
            }
        }
    }
}

/// The bearer token of a request: `Authorization: Bearer <token>` or the
/// `authorization` URL parameter. Missing or malformed ⇒ Dropbox's 400s.
pub fn bearer(
    route: &'static str,
    headers: &HeaderMap,
    query_auth: Option<&str>,
) -> Result<String, ApiError> {
    let value = match (headers.get(header::AUTHORIZATION), query_auth) {
        (Some(v), _) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
        (None, Some(q)) => q.to_owned(),
        (None, None) => {
            return Err(ApiError::bad_request(
                route,
                "Must provide HTTP header \"Authorization\" or URL parameter \"authorization\".",
            ));
        }
    };
    let mut parts = value.splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let token = parts.next().unwrap_or_default().trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(ApiError::bad_request(
            route,
            format!(
                "Invalid authorization value in HTTP header \"Authorization\": \"{value}\".  Expecting \"Bearer <oauth2-access-token>\"."
            ),
        ));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert!(matches!(
            bearer("files/x", &h, None),
            Err(ApiError::BadRequest(m)) if m.contains("Must provide HTTP header")
        ));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer("files/x", &h, None).unwrap(), "abc");
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer("files/x", &h, None).is_err());
    }

    #[test]
    fn revoke_cascades() {
        let mut t = Tokens::default();
        t.refresh.insert(
            "r".into(),
            RefreshToken {
                client_id: "k".into(),
                scopes: vec![],
                revoked: false,
            },
        );
        for name in ["a", "b"] {
            t.access.insert(
                name.into(),
                AccessToken {
                    scopes: vec![SCOPE_METADATA_READ.into()],
                    expires_at: None,
                    force_expired: false,
                    revoked: false,
                    refresh_token: Some("r".into()),
                },
            );
        }
        let now = Instant::now();
        assert_eq!(t.state("a", now), TokenState::Valid);
        t.revoke("a");
        assert_eq!(t.state("b", now), TokenState::Invalid);
        assert!(t.refresh["r"].revoked);
    }
}
