//! PKCE (RFC 7636): the verifier a login keeps and the challenge it sends.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use sha2::{Digest, Sha256};

use super::secret::Secret;

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
