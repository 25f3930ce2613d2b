//! Single transfers: metadata, downloads (Range, pinned to a rev) and
//! uploads (one request, or a session for big files).

use super::*;

/// The largest body `files/upload` takes; bigger files go in a session.
pub(super) const UPLOAD_LIMIT: usize = 150 * 1024 * 1024;
/// Session chunk size: a multiple of 4 MiB, as Dropbox recommends.
const SESSION_CHUNK: usize = 64 * 1024 * 1024;

impl Inner {
    pub(super) async fn get_metadata(
        &self,
        name: &str,
    ) -> Result<Option<FileMetadata>, DropboxError> {
        let path = self.path(name);
        let started = self.clock();
        match self
            .api
            .rpc::<_, wire::Metadata>("files/get_metadata", &wire::PathArg { path: &path })
            .await
        {
            Ok(wire::Metadata::File(m)) => {
                lock(&self.state).see(started, &m);
                Ok(Some(m))
            }
            Ok(wire::Metadata::Deleted(_)) => Ok(None),
            Ok(wire::Metadata::Folder {}) => Err(DropboxError::NotAFile(self.shown(name))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Downloads `path` (a path or `rev:…`) from byte `from` on. `None`: not found.
    pub(super) async fn download(
        &self,
        path: &str,
        from: u64,
    ) -> Result<Option<(FileMetadata, Bytes)>, DropboxError> {
        const ROUTE: &str = "files/download";
        let mut req = Request::content(ROUTE, &wire::PathArg { path })?;
        req.range_from = Some(from);
        let resp = match self.api.send(req).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) if e.is_wrong_kind() => return Err(DropboxError::NotAFile(path.into())),
            Err(e) => return Err(e),
        };
        let protocol = |what: String| DropboxError::Protocol {
            route: ROUTE.into(),
            what,
        };
        if resp.status.as_u16() == 416 {
            return Err(protocol(format!(
                "bytes from {from} on are not in {path}, which should have them"
            )));
        }
        let meta: FileMetadata = resp
            .headers
            .get("dropbox-api-result")
            .map(|v| api::parse(ROUTE, v.as_bytes()))
            .transpose()?
            .ok_or_else(|| protocol("no Dropbox-API-Result header".into()))?;
        let body = if resp.status.as_u16() == 206 {
            let start = resp
                .headers
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if start != Some(from) {
                return Err(protocol(format!(
                    "asked for bytes from {from} on, got Content-Range starting at {start:?}"
                )));
            }
            resp.body
        } else {
            // The whole file: a server may ignore Range.
            let skip = usize::try_from(from)
                .unwrap_or(usize::MAX)
                .min(resp.body.len());
            resp.body.slice(skip..)
        };
        Ok(Some((meta, body)))
    }

    pub(super) async fn upload(
        &self,
        name: &str,
        data: Bytes,
        mode: WriteMode,
    ) -> Result<FileMetadata, DropboxError> {
        const ROUTE: &str = "files/upload";
        let _writing = Writing::start(self);
        let path = self.path(name);
        // Overwriting with the same bytes again is a no-op, so it may be
        // retried blindly; add and update are compare-and-swap, which only
        // the caller can verify.
        let idempotent = mode == WriteMode::Overwrite;
        let commit = CommitInfo {
            path: &path,
            mode,
            autorename: false,
            mute: true,
            strict_conflict: !idempotent,
        };
        if data.len() > UPLOAD_LIMIT {
            return self.upload_session(commit, data).await;
        }
        let mut req = Request::content(ROUTE, &commit)?;
        req.upload = Some(data);
        req.idempotent = idempotent;
        let resp = self.api.send(req).await?;
        api::parse(ROUTE, &resp.body)
    }

    /// Files over 150 MiB: `upload_session/start`, `append_v2`, `finish`.
    pub(super) async fn upload_session(
        &self,
        commit: CommitInfo<'_>,
        data: Bytes,
    ) -> Result<FileMetadata, DropboxError> {
        let mut start = Request::content("files/upload_session/start", &serde_json::json!({}))?;
        start.upload = Some(Bytes::new());
        let s: wire::SessionStart = api::parse(
            "files/upload_session/start",
            &self.api.send(start).await?.body,
        )?;
        let total = data.len();
        let mut offset = 0usize;
        while total - offset > SESSION_CHUNK {
            let arg = wire::SessionAppendArg {
                cursor: wire::SessionCursor {
                    session_id: &s.session_id,
                    offset: offset as u64,
                },
                close: false,
            };
            let mut req = Request::content("files/upload_session/append_v2", &arg)?;
            req.upload = Some(data.slice(offset..offset + SESSION_CHUNK));
            match self.api.send(req).await {
                Ok(_) => offset += SESSION_CHUNK,
                // A retried chunk that had landed: Dropbox says where we are.
                Err(e) if e.tags().is_some_and(|t| t.contains("incorrect_offset")) => {
                    let at = match &e {
                        DropboxError::Route { error, .. } => error
                            .get("correct_offset")
                            .and_then(serde_json::Value::as_u64),
                        _ => None,
                    };
                    match at.and_then(|a| usize::try_from(a).ok()) {
                        Some(a) if a <= total => offset = a,
                        _ => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let idempotent = commit.mode == WriteMode::Overwrite;
        let arg = wire::SessionFinishArg {
            cursor: wire::SessionCursor {
                session_id: &s.session_id,
                offset: offset as u64,
            },
            commit,
        };
        let mut req = Request::content("files/upload_session/finish", &arg)?;
        req.upload = Some(data.slice(offset..));
        req.idempotent = idempotent;
        let resp = self.api.send(req).await?;
        api::parse("files/upload_session/finish", &resp.body)
    }
}
