//! The HTTP client every Dropbox call goes through.

use std::time::Duration;

use super::error::DropboxError;

pub(crate) fn http_client() -> Result<reqwest::Client, DropboxError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(50))
        .user_agent(concat!("droprender/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| DropboxError::Config(format!("cannot set up HTTPS: {e}")))
}
