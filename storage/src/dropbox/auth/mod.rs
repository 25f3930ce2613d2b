//! Who we are to Dropbox: OAuth 2 with PKCE for a command-line app (no
//! client secret), the token file, and access tokens that refresh
//! themselves.
//!
//! Tokens are secrets: they live in [`Secret`], whose `Debug` says nothing,
//! and no message or log line ever carries one.

mod credentials;
mod login;
mod pkce;
mod refresh;
mod secret;
mod store;
mod token;

#[cfg(test)]
mod tests;

pub use credentials::Credentials;
pub use login::Login;
pub use pkce::{Pkce, s256_challenge};
pub(crate) use refresh::Auth;
pub use secret::Secret;
pub use store::{StoredToken, TOKEN_FILE, TokenStore};
