//! Watching: a listing, then longpoll and the change feed, keeping the
//! cache current and hinting changes that are not our own.

use super::*;

/// How long our own writes must have been quiet before the change feed
/// is followed, and the most that may add to noticing a change.
const SETTLE: Duration = Duration::from_millis(150);
const SETTLE_MAX: Duration = Duration::from_secs(1);
/// How often to look for a folder that does not exist yet.
const MISSING_FOLDER_RETRY: Duration = Duration::from_secs(2);

impl Inner {
    /// Every file in the folder, and a cursor for the change feed (`None`
    /// when the folder does not exist yet: Dropbox creates it with the first
    /// upload into it, so until then it is simply empty).
    pub(super) async fn list_all(
        &self,
    ) -> Result<(Vec<FileMetadata>, Option<String>), DropboxError> {
        let first = self
            .api
            .rpc(
                "files/list_folder",
                &wire::ListFolderArg {
                    path: &self.root,
                    recursive: false,
                    include_deleted: false,
                    limit: 2000,
                },
            )
            .await;
        let mut r: wire::ListFolderResult = match first {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok((Vec::new(), None)),
            Err(e) => return Err(e),
        };
        let mut files = Vec::new();
        loop {
            for e in std::mem::take(&mut r.entries) {
                if let wire::Metadata::File(m) = e
                    && self.is_child(m.path_lower.as_deref())
                {
                    files.push(m);
                }
            }
            if !r.has_more {
                return Ok((files, Some(r.cursor)));
            }
            r = self
                .api
                .rpc(
                    "files/list_folder/continue",
                    &wire::CursorArg { cursor: &r.cursor },
                )
                .await?;
        }
    }

    /// A full listing: the cache starts over from it. Returns the cursor.
    pub(super) async fn relist(&self) -> Result<(Vec<FileMetadata>, Option<String>), DropboxError> {
        let started = self.clock();
        let (files, cursor) = self.list_all().await?;
        lock(&self.state).replace_all(started, &files);
        Ok((files, cursor))
    }

    /// Changes since `cursor` (all pages), applied to the cache; returns the
    /// new cursor and the hints for changes we did not make.
    pub(super) async fn catch_up(&self, cursor: &str) -> Result<(String, Vec<Hint>), DropboxError> {
        let started = self.clock();
        let mut cursor = cursor.to_string();
        let mut entries = Vec::new();
        loop {
            let r: wire::ListFolderResult = self
                .api
                .rpc(
                    "files/list_folder/continue",
                    &wire::CursorArg { cursor: &cursor },
                )
                .await?;
            entries.extend(r.entries);
            cursor = r.cursor;
            if !r.has_more {
                break;
            }
        }
        let mut hints = Vec::new();
        let mut st = lock(&self.state);
        for e in entries {
            match e {
                wire::Metadata::File(m) if self.is_child(m.path_lower.as_deref()) => {
                    if !st.is_own(&m.rev) {
                        hints.push(Hint::Changed(m.name.clone()));
                    }
                    st.see(started, &m);
                }
                wire::Metadata::Deleted(d) if self.is_child(d.path_lower.as_deref()) => {
                    st.gone(started, &d.name);
                    hints.push(Hint::Changed(d.name));
                }
                _ => {}
            }
        }
        Ok((cursor, hints))
    }

    /// Waits while this process is writing: each of our uploads wakes the
    /// longpoll, and a node writes in bursts (LOG.txt, status.json,
    /// status.txt, active_rend.txt). Following the feed once after the burst
    /// instead of once per file halves the requests per command. When we
    /// are not writing (a command arriving at an idle node) there is no wait.
    pub(super) async fn settle(&self) {
        let until = tokio::time::Instant::now() + SETTLE_MAX;
        loop {
            let wait = {
                let st = lock(&self.state);
                if st.writing > 0 {
                    Some(SETTLE)
                } else {
                    st.last_write
                        .map(|t| SETTLE.saturating_sub(t.elapsed()))
                        .filter(|d| !d.is_zero())
                }
            };
            match wait {
                Some(d) if tokio::time::Instant::now() < until => tokio::time::sleep(d).await,
                _ => return,
            }
        }
    }

    /// One longpoll, then the changes it announced.
    pub(super) async fn follow(&self, cursor: &str) -> Result<(String, Vec<Hint>), DropboxError> {
        const ROUTE: &str = "files/list_folder/longpoll";
        let timeout = self.longpoll.as_secs();
        let mut req = Request::rpc(ROUTE, &wire::LongpollArg { cursor, timeout })?;
        req.host = Host::Notify;
        // Dropbox holds it up to the timeout plus 90 s of jitter.
        req.timeout = self.longpoll + Duration::from_secs(90 + 30);
        let lp: wire::LongpollResult = api::parse(ROUTE, &self.api.send(req).await?.body)?;
        let out = if lp.changes {
            self.settle().await;
            self.catch_up(cursor).await?
        } else {
            (cursor.to_string(), Vec::new())
        };
        if let Some(secs) = lp.backoff.filter(|s| *s > 0) {
            tracing::info!("Dropbox asked for {secs} s between longpolls; waiting");
            tokio::time::sleep(Duration::from_secs(secs)).await;
        }
        Ok(out)
    }

    pub(super) async fn watch_loop(self: Arc<Self>, generation: u64, tx: mpsc::Sender<Hint>) {
        let mut cursor: Option<String> = None;
        let mut failures = 0u32;
        let mut said_missing = false;
        loop {
            let step = match &cursor {
                None => match self.relist().await {
                    Ok((_, Some(c))) => {
                        self.set_live(generation, true);
                        // Whatever happened before this listing is in it now.
                        Ok((c, vec![Hint::Rescan]))
                    }
                    Ok((_, None)) => {
                        // No folder, no change feed: look again shortly
                        // (the node's first status write creates it).
                        if !said_missing {
                            tracing::info!(
                                "{} does not exist yet; it is created by the first write into it",
                                self.label
                            );
                            said_missing = true;
                        }
                        tokio::time::sleep(MISSING_FOLDER_RETRY).await;
                        continue;
                    }
                    Err(e) => Err(e),
                },
                Some(c) => self.follow(c).await,
            };
            match step {
                Ok((c, hints)) => {
                    failures = 0;
                    cursor = Some(c);
                    for h in hints {
                        if tx.send(h).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) if e.is_reset() => {
                    tracing::info!(
                        "Dropbox reset the change cursor of {}; listing it again",
                        self.label
                    );
                    self.set_live(generation, false);
                    cursor = None;
                }
                Err(e) => {
                    self.set_live(generation, false);
                    cursor = None;
                    failures += 1;
                    let d = self
                        .api
                        .policy
                        .backoff(failures)
                        .max(Duration::from_secs(1));
                    tracing::warn!(
                        "watching {} for changes: {e}; trying again in {:.0} s",
                        self.label,
                        d.as_secs_f64()
                    );
                    tokio::time::sleep(d).await;
                }
            }
        }
    }
}

/// Stops the watch task when dropped.
pub(super) struct WatchTask {
    pub(super) task: tokio::task::JoinHandle<()>,
    pub(super) inner: Arc<Inner>,
    pub(super) generation: u64,
}

impl Drop for WatchTask {
    fn drop(&mut self) {
        self.task.abort();
        let _ = self.inner.active_watch.compare_exchange(
            self.generation,
            0,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        self.inner.set_live(self.generation, false);
    }
}
