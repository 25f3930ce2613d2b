//! Everything that can go wrong talking to Dropbox, each said so that the
//! reader knows what happened and what to do about it.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DropboxError {
    #[error(
        "not logged in to Dropbox: run `droprender login`, or set DROPRENDER_DROPBOX_TOKEN to an access token"
    )]
    NotLoggedIn,
    #[error(
        "no Dropbox app key is set: create an app at https://www.dropbox.com/developers/apps (scoped access, App folder, permissions files.metadata.read, files.content.read and files.content.write), then set DROPRENDER_DROPBOX_APP_KEY (or `app_key` under [dropbox_api] in the node config) to its app key"
    )]
    NoAppKey,
    #[error(
        "the access token in DROPRENDER_DROPBOX_TOKEN has expired (Dropbox access tokens last 4 hours): set a fresh one, or unset it and run `droprender login` once so tokens are refreshed automatically"
    )]
    StaticTokenExpired,
    #[error("Dropbox refused the access token ({reason}): run `droprender login` again")]
    Unauthorized { reason: String },
    #[error(
        "the Dropbox app lacks the permission {scope}: enable it on the app's Permissions tab, then run `droprender login` again"
    )]
    MissingScope { scope: String },
    #[error("Dropbox refused the login ({error}: {description}): run `droprender login` again")]
    OAuth { error: String, description: String },
    #[error(
        "Dropbox rejected the call to {route} as malformed (HTTP 400). This is a bug in droprender, not something you did; please report it with this message: {body}"
    )]
    BadRequest { route: String, body: String },
    #[error("Dropbox refused {route}: {tags}{}", route_hint(tags))]
    Route {
        route: String,
        /// The error's tag path, e.g. `path/not_found` (from `error_summary`,
        /// without the trailing dots Dropbox varies on purpose).
        tags: String,
        error: serde_json::Value,
    },
    #[error(
        "Dropbox did not answer {route} after {attempts} attempts (last: {last}); check the network connection and https://status.dropbox.com, then try again"
    )]
    Unavailable {
        route: String,
        attempts: u32,
        last: String,
    },
    #[error(
        "Dropbox failed, or the connection dropped, while it was handling {route}, so it may or may not have happened"
    )]
    Uncertain { route: String },
    #[error("Dropbox answered {route} with HTTP {status}: {body}")]
    Unexpected {
        route: String,
        status: u16,
        body: String,
    },
    #[error("Dropbox sent an answer to {route} that droprender does not understand: {what}")]
    Protocol { route: String, what: String },
    #[error("cannot {op} the Dropbox token file {}: {source}", path.display())]
    TokenFile {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is a folder, not a file; remove or rename it")]
    NotAFile(String),
    #[error("{0}")]
    Config(String),
}

/// What to do about the route errors a user can fix.
fn route_hint(tags: &str) -> &'static str {
    let has = |t: &str| tags.split('/').any(|p| p == t);
    if has("not_found") {
        " (it does not exist)"
    } else if has("insufficient_space") {
        " (the Dropbox account is full: free some space)"
    } else if has("not_folder") || has("not_file") {
        " (a file or folder is in the way: rename or remove it)"
    } else if has("malformed_path") || has("disallowed_name") {
        " (the path is not valid on Dropbox: use a plain path such as /Maya)"
    } else if has("too_many_write_operations") || has("too_many_files") {
        " (too many writes at once: try again shortly)"
    } else if has("conflict") {
        " (someone else changed it at the same time: try again)"
    } else {
        ""
    }
}

impl DropboxError {
    /// The route error's tag path, if this is a route error.
    pub fn tags(&self) -> Option<&str> {
        match self {
            DropboxError::Route { tags, .. } => Some(tags),
            _ => None,
        }
    }

    fn has_tag(&self, tag: &str) -> bool {
        self.tags().is_some_and(|t| t.split('/').any(|p| p == tag))
    }

    /// `path/not_found` (or a lookup's not_found).
    pub fn is_not_found(&self) -> bool {
        self.has_tag("not_found")
    }

    /// An upload lost a compare-and-swap race (`path/conflict/…`).
    pub fn is_conflict(&self) -> bool {
        self.has_tag("conflict")
    }

    /// A cursor Dropbox no longer honours: list again.
    pub fn is_reset(&self) -> bool {
        self.tags() == Some("reset")
    }

    /// The path names a folder where a file was expected, or the reverse.
    pub fn is_wrong_kind(&self) -> bool {
        self.has_tag("not_file") || self.has_tag("not_folder")
    }

    /// Worth trying again later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DropboxError::Unavailable { .. } | DropboxError::Uncertain { .. }
        )
    }
}

/// `path/not_found/..` → `path/not_found`: Dropbox varies the trailing
/// dots precisely so that nobody matches the summary as a whole string.
pub(crate) fn summary_tags(summary: &str) -> String {
    summary
        .split('/')
        .filter(|p| !p.is_empty() && !p.chars().all(|c| c == '.'))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_lose_their_dots() {
        assert_eq!(summary_tags("path/not_found/.."), "path/not_found");
        assert_eq!(summary_tags("path/conflict/file/."), "path/conflict/file");
        assert_eq!(summary_tags("reset/"), "reset");
        assert_eq!(summary_tags("reset/..."), "reset");
    }
}
