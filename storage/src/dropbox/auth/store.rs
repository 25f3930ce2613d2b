//! The token file `droprender login` writes: what it holds, and reading and
//! writing it so that only its owner can read it.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dropbox::error::DropboxError;

/// The token file's name under `dirs::config_dir()/droprender/`.
pub const TOKEN_FILE: &str = "dropbox-token.json";

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
