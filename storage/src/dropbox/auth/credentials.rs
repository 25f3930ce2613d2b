//! [`Credentials`]: where access tokens come from.

use std::fmt;

use super::secret::Secret;
use super::store::{StoredToken, TokenStore};
use crate::dropbox::error::DropboxError;
use crate::dropbox::settings::ENV_TOKEN;

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
                .field("store", &store.path())
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
