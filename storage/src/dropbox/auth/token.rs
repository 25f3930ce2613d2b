//! The OAuth token endpoint: one POST to `/oauth2/token`, and the clock
//! its expiry times are measured on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::dropbox::error::DropboxError;
use crate::dropbox::wire::{OAuthError, TokenResponse};

/// Seconds since the epoch.
pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One POST to `/oauth2/token`, with a few tries over network trouble.
pub(super) async fn token_request(
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
