//! An in-memory [`Folder`] for unit tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::{Entry, Folder, Hint, Meta, StorageError, WatchGuard};

#[derive(Default)]
struct Inner {
    files: BTreeMap<String, (Vec<u8>, u64)>,
    next_version: u64,
    watchers: Vec<mpsc::Sender<Hint>>,
    /// Report `content_hash` like the Dropbox folder does.
    hashes: bool,
    /// Files another program holds: writes to them fail.
    held: std::collections::BTreeSet<String>,
}

/// A folder held in memory; clones share the same files.
#[derive(Clone, Default)]
pub struct MemFolder {
    inner: Arc<Mutex<Inner>>,
}

impl MemFolder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A folder whose metadata carries `content_hash`, as Dropbox's does:
    /// readers then take the content-hash path instead of re-reading a tail.
    pub fn with_content_hash() -> Self {
        let f = Self::default();
        f.lock().hashes = true;
        f
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic in another test thread must not hide this test's result.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes a file as another device would (replacing it), and notifies watchers.
    pub fn put(&self, name: &str, data: impl Into<Vec<u8>>) {
        let mut g = self.lock();
        g.next_version += 1;
        let v = g.next_version;
        g.files.insert(name.to_string(), (data.into(), v));
        g.watchers.retain(|w| {
            !matches!(
                w.try_send(Hint::Changed(name.to_string())),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        });
    }

    /// Appends as another device would.
    pub fn push(&self, name: &str, data: &[u8]) {
        let mut cur = self.get(name).unwrap_or_default();
        cur.extend_from_slice(data);
        self.put(name, cur);
    }

    /// Makes writes to `name` fail (or succeed again), as when a reader on
    /// Windows holds the file without sharing delete.
    pub fn hold(&self, name: &str, held: bool) {
        let mut g = self.lock();
        if held {
            g.held.insert(name.to_string());
        } else {
            g.held.remove(name);
        }
    }

    fn check_held(&self, name: &str) -> Result<(), StorageError> {
        if self.lock().held.contains(name) {
            let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
            return Err(StorageError::io("write", name, e));
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<Vec<u8>> {
        self.lock().files.get(name).map(|(d, _)| d.clone())
    }

    pub fn remove(&self, name: &str) {
        self.lock().files.remove(name);
    }

    fn meta(data: &[u8], v: u64, hashes: bool) -> Meta {
        Meta {
            size: data.len() as u64,
            version: v.to_string(),
            content_hash: hashes.then(|| crate::content_hash(data)),
        }
    }
}

impl Folder for MemFolder {
    fn describe(&self) -> String {
        "memory:".into()
    }

    async fn stat(&self, name: &str) -> Result<Option<Meta>, StorageError> {
        let g = self.lock();
        Ok(g.files.get(name).map(|(d, v)| Self::meta(d, *v, g.hashes)))
    }

    async fn read_from(
        &self,
        name: &str,
        offset: u64,
    ) -> Result<Option<(Meta, Vec<u8>)>, StorageError> {
        let g = self.lock();
        Ok(g.files.get(name).map(|(d, v)| {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(d.len());
            (Self::meta(d, *v, g.hashes), d[start..].to_vec())
        }))
    }

    async fn list(&self) -> Result<Vec<Entry>, StorageError> {
        let g = self.lock();
        Ok(g.files
            .iter()
            .map(|(n, (d, v))| Entry {
                name: n.clone(),
                meta: Self::meta(d, *v, g.hashes),
            })
            .collect())
    }

    async fn write_atomic(&self, name: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.check_held(name)?;
        self.put(name, data);
        Ok(())
    }

    async fn append(&self, name: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.check_held(name)?;
        self.push(name, &data);
        Ok(())
    }

    fn watch(&self, tx: mpsc::Sender<Hint>) -> Result<WatchGuard, StorageError> {
        self.lock().watchers.push(tx);
        Ok(Box::new(()))
    }
}
