//! What the folder knows about each file (rev, size, hash, and the bytes of
//! our own last write), and which revs are our own uploads.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use super::wire::FileMetadata;
use crate::Meta;

/// How many of our own revs to remember (a few hours of a busy node).
const OWN_REVS: usize = 8192;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Dropbox paths are case-insensitive: the cache is keyed by the lowercase name.
pub(super) fn key(name: &str) -> String {
    name.to_lowercase()
}

/// What the folder knows about one file.
#[derive(Debug, Clone)]
pub(super) struct Known {
    pub(super) name: String,
    pub(super) rev: String,
    pub(super) size: u64,
    pub(super) hash: Option<String>,
    /// The bytes of this rev, when we wrote them ourselves (appends skip
    /// the download).
    pub(super) body: Option<Bytes>,
    /// The cache clock when this was learned; see [`State::see`].
    pub(super) stamp: u64,
}

impl Known {
    pub(super) fn meta(&self) -> Meta {
        Meta {
            size: self.size,
            version: self.rev.clone(),
            content_hash: self.hash.clone(),
        }
    }
}

#[derive(Default)]
pub(super) struct State {
    pub(super) files: HashMap<String, Known>,
    /// The watch generation keeping `files` current, if any.
    pub(super) live: Option<u64>,
    /// Ticks on every upload of ours.
    pub(super) clock: u64,
    pub(super) own: HashSet<String>,
    pub(super) own_order: VecDeque<String>,
    /// Uploads of ours in flight, and when the last one ended.
    pub(super) writing: u32,
    pub(super) last_write: Option<std::time::Instant>,
}

impl State {
    pub(super) fn is_own(&self, rev: &str) -> bool {
        self.own.contains(rev)
    }

    /// Records the result of our own upload.
    pub(super) fn wrote(&mut self, m: &FileMetadata, body: Option<Bytes>) {
        self.clock += 1;
        if self.own.insert(m.rev.clone()) {
            self.own_order.push_back(m.rev.clone());
            if self.own_order.len() > OWN_REVS
                && let Some(old) = self.own_order.pop_front()
            {
                self.own.remove(&old);
            }
        }
        self.files.insert(
            key(&m.name),
            Known {
                name: m.name.clone(),
                rev: m.rev.clone(),
                size: m.size,
                hash: m.content_hash.clone(),
                body,
                stamp: self.clock,
            },
        );
    }

    /// Applies what a view of the folder (a listing, the change feed, a
    /// metadata read) saw, `started` being the clock when it was asked
    /// for. An entry we learned from our own upload after that may be newer
    /// than the view, so the view does not overwrite it: an older view must
    /// never undo a newer write (the next change feed brings the truth).
    pub(super) fn see(&mut self, started: u64, m: &FileMetadata) {
        let k = key(&m.name);
        let body = match self.files.get(&k) {
            Some(old) if old.stamp > started => return,
            Some(old) if old.rev == m.rev => old.body.clone(),
            _ => None,
        };
        self.files.insert(
            k,
            Known {
                name: m.name.clone(),
                rev: m.rev.clone(),
                size: m.size,
                hash: m.content_hash.clone(),
                body,
                stamp: started,
            },
        );
    }

    pub(super) fn gone(&mut self, started: u64, name: &str) {
        let k = key(name);
        if self.files.get(&k).is_some_and(|old| old.stamp <= started) {
            self.files.remove(&k);
        }
    }

    /// A complete listing replaces what we knew (except newer own writes).
    pub(super) fn replace_all(&mut self, started: u64, files: &[FileMetadata]) {
        let listed: HashSet<String> = files.iter().map(|m| key(&m.name)).collect();
        self.files
            .retain(|k, old| old.stamp > started || listed.contains(k));
        for m in files {
            self.see(started, m);
        }
    }
}

impl FileMetadata {
    pub(super) fn meta(&self) -> Meta {
        Meta {
            size: self.size,
            version: self.rev.clone(),
            content_hash: self.content_hash.clone(),
        }
    }
}
