//! A folder on local disk, kept in sync by a desktop client.

mod os;

pub use os::retrying as retry_while_held;

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{Config, EventKind, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::{Entry, Folder, Hint, Meta, StorageError, WatchGuard};
use droprender_shared::files;

#[derive(Debug, Clone)]
pub struct LocalFolder {
    root: PathBuf,
    /// `Some` selects notify's PollWatcher (network shares send no events).
    poll: Option<Duration>,
}

impl LocalFolder {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            poll: None,
        }
    }

    pub fn with_poll(mut self, poll: Option<Duration>) -> Self {
        self.poll = poll;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn shown(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Classifies an I/O error on a file, telling a missing folder apart.
    fn fail(&self, op: &'static str, name: &str, e: std::io::Error) -> StorageError {
        if e.kind() == ErrorKind::NotFound && !self.root.is_dir() {
            return StorageError::FolderMissing(self.root.display().to_string());
        }
        if e.kind() == ErrorKind::IsADirectory {
            return StorageError::NotAFile(self.shown(name));
        }
        StorageError::io(op, self.shown(name), e)
    }

    fn meta_of(md: &fs::Metadata) -> Meta {
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let ino = os::identity(md);
        Meta {
            size: md.len(),
            version: format!("{mtime}:{ino}:{}", md.len()),
            // Hashing every read would cost more than re-reading a tail.
            content_hash: None,
        }
    }

    fn stat_sync(&self, name: &str) -> Result<Option<Meta>, StorageError> {
        match fs::metadata(self.path(name)) {
            Ok(md) if md.is_dir() => Err(StorageError::NotAFile(self.shown(name))),
            Ok(md) => Ok(Some(Self::meta_of(&md))),
            Err(e) if e.kind() == ErrorKind::NotFound && self.root.is_dir() => Ok(None),
            Err(e) => Err(self.fail("read", name, e)),
        }
    }

    fn read_from_sync(
        &self,
        name: &str,
        offset: u64,
    ) -> Result<Option<(Meta, Vec<u8>)>, StorageError> {
        let mut f = match os::retrying(|| File::open(self.path(name))) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound && self.root.is_dir() => return Ok(None),
            Err(e) => return Err(self.fail("open", name, e)),
        };
        // Metadata of the open file, not the path: a rename over the path
        // between stat and read cannot mix two versions.
        let md = f.metadata().map_err(|e| self.fail("read", name, e))?;
        if md.is_dir() {
            return Err(StorageError::NotAFile(self.shown(name)));
        }
        let meta = Self::meta_of(&md);
        if offset >= meta.size {
            return Ok(Some((meta, Vec::new())));
        }
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| self.fail("read", name, e))?;
        let want = usize::try_from(meta.size - offset).unwrap_or(usize::MAX);
        let mut buf = Vec::with_capacity(want);
        f.take(meta.size - offset)
            .read_to_end(&mut buf)
            .map_err(|e| self.fail("read", name, e))?;
        Ok(Some((meta, buf)))
    }

    fn list_sync(&self) -> Result<Vec<Entry>, StorageError> {
        let rd = fs::read_dir(&self.root).map_err(|e| self.fail("list", "", e))?;
        let mut out = Vec::new();
        for ent in rd.flatten() {
            let Ok(name) = ent.file_name().into_string() else {
                continue;
            };
            if let Ok(md) = ent.metadata()
                && md.is_file()
            {
                out.push(Entry {
                    name,
                    meta: Self::meta_of(&md),
                });
            }
        }
        Ok(out)
    }

    fn write_atomic_sync(&self, name: &str, data: &[u8]) -> Result<(), StorageError> {
        let suffix: u64 = rand::random();
        let tmp_name = format!(
            "{}{name}.{suffix:016x}{}",
            files::TEMP_PREFIX,
            files::TEMP_SUFFIX
        );
        let tmp = self.path(&tmp_name);
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(data)?;
            // Data first, then the rename: after a crash the name points at
            // the old or the new content, never at an empty file.
            f.sync_data()?;
            drop(f);
            os::retrying(|| fs::rename(&tmp, self.path(name)))
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(self.fail("write", name, e));
        }
        Ok(())
    }

    fn append_sync(&self, name: &str, data: &[u8]) -> Result<(), StorageError> {
        let mut f = os::retrying(|| {
            OpenOptions::new()
                .append(true)
                .create(true)
                .open(self.path(name))
        })
        .map_err(|e| self.fail("open", name, e))?;
        // One write(2) with O_APPEND: concurrent appenders on a local file
        // system never interleave within it.
        let n = f.write(data).map_err(|e| self.fail("append to", name, e))?;
        if n != data.len() {
            return Err(StorageError::io(
                "append to",
                self.shown(name),
                std::io::Error::new(ErrorKind::WriteZero, "short write"),
            ));
        }
        f.sync_data().map_err(|e| self.fail("sync", name, e))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StorageError::Remote(format!("file task failed: {e}"))))
}

impl Folder for LocalFolder {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    async fn stat(&self, name: &str) -> Result<Option<Meta>, StorageError> {
        // A stat is microseconds: not worth a thread hop.
        self.stat_sync(name)
    }

    async fn read_from(
        &self,
        name: &str,
        offset: u64,
    ) -> Result<Option<(Meta, Vec<u8>)>, StorageError> {
        let (me, name) = (self.clone(), name.to_string());
        blocking(move || me.read_from_sync(&name, offset)).await
    }

    async fn list(&self) -> Result<Vec<Entry>, StorageError> {
        let me = self.clone();
        blocking(move || me.list_sync()).await
    }

    async fn write_atomic(&self, name: &str, data: Vec<u8>) -> Result<(), StorageError> {
        let (me, name) = (self.clone(), name.to_string());
        blocking(move || me.write_atomic_sync(&name, &data)).await
    }

    async fn append(&self, name: &str, data: Vec<u8>) -> Result<(), StorageError> {
        let (me, name) = (self.clone(), name.to_string());
        blocking(move || me.append_sync(&name, &data)).await
    }

    fn watch(&self, tx: mpsc::Sender<Hint>) -> Result<WatchGuard, StorageError> {
        let handler = move |res: notify::Result<notify::Event>| {
            let hints: Vec<Hint> = match res {
                Ok(ev) if ev.need_rescan() || ev.paths.is_empty() => vec![Hint::Rescan],
                Ok(ev) if matches!(ev.kind, EventKind::Access(_)) => Vec::new(),
                Ok(ev) => ev
                    .paths
                    .iter()
                    .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
                    .filter(|n| !files::is_temp(n))
                    .map(Hint::Changed)
                    .collect(),
                Err(_) => vec![Hint::Rescan],
            };
            for h in hints {
                // A full queue already holds a pending wake-up; dropping is safe
                // because every hint means "re-read", not "this changed".
                let _ = tx.try_send(h);
            }
        };
        let err = |e: notify::Error| StorageError::Watch {
            path: self.describe(),
            reason: e.to_string(),
        };
        let guard: WatchGuard = match self.poll {
            Some(interval) => {
                let mut w =
                    PollWatcher::new(handler, Config::default().with_poll_interval(interval))
                        .map_err(err)?;
                w.watch(&self.root, RecursiveMode::NonRecursive)
                    .map_err(err)?;
                Box::new(w)
            }
            None => {
                let mut w = RecommendedWatcher::new(handler, Config::default()).map_err(err)?;
                w.watch(&self.root, RecursiveMode::NonRecursive)
                    .map_err(err)?;
                Box::new(w)
            }
        };
        Ok(guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn append_read_and_atomic_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = LocalFolder::new(dir.path());
        assert_eq!(f.stat("commands.txt").await.expect("stat"), None);
        f.append("commands.txt", b"progress:\n".to_vec())
            .await
            .expect("append");
        f.append("commands.txt", b"rend:-s 1 a.mb\n".to_vec())
            .await
            .expect("append");
        let (meta, tail) = f
            .read_from("commands.txt", 10)
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(meta.size, 25);
        assert_eq!(tail, b"rend:-s 1 a.mb\n");
        f.write_atomic("status.txt", b"hello".to_vec())
            .await
            .expect("write");
        let names: Vec<String> = f
            .list()
            .await
            .expect("list")
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert!(names.contains(&"status.txt".to_string()));
        assert!(!names.iter().any(|n| files::is_temp(n)), "{names:?}");
    }

    #[tokio::test]
    async fn a_directory_is_not_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("commands.txt")).expect("mkdir");
        let f = LocalFolder::new(dir.path());
        assert!(matches!(
            f.stat("commands.txt").await,
            Err(StorageError::NotAFile(_))
        ));
    }

    #[tokio::test]
    async fn a_missing_folder_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = LocalFolder::new(dir.path().join("gone"));
        assert!(matches!(
            f.stat("commands.txt").await,
            Err(StorageError::FolderMissing(_))
        ));
    }
}
