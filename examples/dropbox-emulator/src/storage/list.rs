//! Listing: list_folder pages, cursors and their continuation.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::Store;
use super::errors::{CursorError, LookupError};
use super::node::{Node, NodeKind};
use crate::wire::Metadata;

/// Cursor contents. Opaque to clients: base64url of compact JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cursor {
    #[serde(rename = "i")]
    instance: u64,
    #[serde(rename = "e")]
    epoch: u64,
    #[serde(rename = "p")]
    path: String,
    #[serde(rename = "r")]
    recursive: bool,
    #[serde(rename = "d")]
    include_deleted: bool,
    #[serde(rename = "l")]
    limit: u64,
    /// Changes with seq > since are "new".
    #[serde(rename = "s")]
    since: u64,
    /// While paging: the seq the current batch is bounded by.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    upto: Option<u64>,
    /// While paging: last key returned.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    /// Still paging through the initial listing.
    #[serde(rename = "n", default)]
    initial: bool,
}

impl Cursor {
    /// Encode for the wire.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decode; `None` if it is not one of ours at all.
    pub fn decode(s: &str) -> Option<Self> {
        let raw = URL_SAFE_NO_PAD.decode(s.trim()).ok()?;
        serde_json::from_slice(&raw).ok()
    }
}

/// Arguments of list_folder.
#[derive(Clone, Debug)]
pub struct ListSpec {
    /// `path_lower` of the folder, `""` for the root.
    pub path: String,
    /// Include all descendants (and the folder itself).
    pub recursive: bool,
    /// Include tombstones in the initial listing.
    pub include_deleted: bool,
    /// Page size.
    pub limit: u64,
}

/// Whether the entry at `key` is listed under the folder `base` (`""`: the
/// root).
pub(super) fn in_scope(key: &str, base: &str, recursive: bool) -> bool {
    if base.is_empty() {
        return recursive || key.rfind('/') == Some(0);
    }
    if key == base {
        // A recursive listing includes the folder itself.
        return recursive;
    }
    match key
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(rest) => recursive || !rest.contains('/'),
        None => false,
    }
}

impl Store {
    fn page(
        &self,
        base: &str,
        recursive: bool,
        filter: impl Fn(&Node) -> bool,
        after: Option<&str>,
        limit: u64,
    ) -> (Vec<Metadata>, Option<String>) {
        let mut out = Vec::new();
        let mut last = None;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX).max(1);
        let mut more = false;
        for (k, n) in &self.nodes {
            if after.is_some_and(|a| k.as_str() <= a) || !in_scope(k, base, recursive) || !filter(n)
            {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            out.push(n.metadata());
            last = Some(k.clone());
        }
        (out, if more { last } else { None })
    }

    /// `files/list_folder`.
    pub fn list_folder(&self, spec: &ListSpec) -> (Vec<Metadata>, Cursor, bool) {
        let snapshot = self.seq;
        let include_deleted = spec.include_deleted;
        let (entries, more) = self.page(
            &spec.path,
            spec.recursive,
            |n| include_deleted || n.is_live(),
            None,
            spec.limit,
        );
        let mut cursor = self.fresh_cursor(spec, snapshot);
        let has_more = more.is_some();
        if let Some(after) = more {
            cursor.initial = true;
            cursor.upto = Some(snapshot);
            cursor.after = Some(after);
        }
        (entries, cursor, has_more)
    }

    /// A cursor at the present moment (`get_latest_cursor`).
    pub fn fresh_cursor(&self, spec: &ListSpec, since: u64) -> Cursor {
        Cursor {
            instance: self.instance,
            epoch: self.epoch,
            path: spec.path.clone(),
            recursive: spec.recursive,
            include_deleted: spec.include_deleted,
            limit: spec.limit,
            since,
            upto: None,
            after: None,
            initial: false,
        }
    }

    fn check_cursor(&self, c: &Cursor) -> Result<(), CursorError> {
        if c.instance != self.instance || c.epoch != self.epoch {
            return Err(CursorError::Reset);
        }
        if !c.path.is_empty() {
            match self.live(&c.path).map(|n| &n.kind) {
                Some(NodeKind::Folder { .. }) => {}
                Some(_) => return Err(CursorError::Lookup(LookupError::NotFolder)),
                None => return Err(CursorError::Lookup(LookupError::NotFound)),
            }
        }
        Ok(())
    }

    /// `files/list_folder/continue`.
    ///
    /// Deleted entries are always reported in the change phase, whatever
    /// `include_deleted` was (that flag only governs whether tombstones appear
    /// in the initial listing); a client that keeps a local mirror must learn
    /// about deletions.
    pub fn list_continue(&self, c: &Cursor) -> Result<(Vec<Metadata>, Cursor, bool), CursorError> {
        self.check_cursor(c)?;
        let mut next = c.clone();
        if c.initial {
            let include_deleted = c.include_deleted;
            let (entries, more) = self.page(
                &c.path,
                c.recursive,
                |n| include_deleted || n.is_live(),
                c.after.as_deref(),
                c.limit,
            );
            match more {
                Some(after) => {
                    next.after = Some(after);
                    Ok((entries, next, true))
                }
                None => {
                    next.initial = false;
                    next.since = c.upto.unwrap_or(c.since);
                    next.upto = None;
                    next.after = None;
                    Ok((entries, next, false))
                }
            }
        } else {
            let since = c.since;
            let upto = c.upto.unwrap_or(self.seq);
            let (entries, more) = self.page(
                &c.path,
                c.recursive,
                |n| n.seq > since && n.seq <= upto,
                c.after.as_deref(),
                c.limit,
            );
            match more {
                Some(after) => {
                    next.upto = Some(upto);
                    next.after = Some(after);
                    Ok((entries, next, true))
                }
                None => {
                    next.since = upto;
                    next.upto = None;
                    next.after = None;
                    Ok((entries, next, false))
                }
            }
        }
    }

    /// Whether `list_folder/continue` on this cursor would return anything
    /// (or an error): what longpoll waits for.
    pub fn has_changes(&self, c: &Cursor) -> Result<bool, CursorError> {
        match self.check_cursor(c) {
            Err(CursorError::Reset) => return Err(CursorError::Reset),
            Err(CursorError::Lookup(_)) => return Ok(true),
            Ok(()) => {}
        }
        if c.initial || c.after.is_some() {
            return Ok(true);
        }
        Ok(self
            .nodes
            .iter()
            .any(|(k, n)| n.seq > c.since && in_scope(k, &c.path, c.recursive)))
    }
}
