//! Reading the folder: watcher hints, the reconcile scan of commands.txt
//! and its conflicted copies, and (on the default node of a shared folder)
//! the other nodes' status files.

use std::collections::BTreeSet;

use droprender_shared::files::{self, Source};
use droprender_shared::logline::Event as Ev;
use droprender_shared::status::{NodeLine, StatusDoc};
use droprender_storage::{Entry, Folder, Hint, StorageError};

use super::Node;

impl<F: Folder> Node<F> {
    pub(super) async fn on_hints(&mut self, hints: Vec<Hint>) {
        let mut sources: BTreeSet<Source> = BTreeSet::new();
        for h in hints {
            match h {
                Hint::Rescan => {
                    self.scan_all().await;
                    return;
                }
                Hint::Changed(name) => {
                    if let Some(s) = files::classify(&name) {
                        sources.insert(s);
                    } else if self.publish.names.multi
                        && self.publish.names.default
                        && files::status_json_node(&name)
                            .is_some_and(|n| !n.eq_ignore_ascii_case(&self.cfg.name))
                        && let Ok(entries) = self.folder.list().await
                    {
                        self.read_others(&entries).await;
                    }
                }
            }
        }
        for s in sources {
            self.scan(&s).await;
        }
    }

    /// Scans commands.txt and every conflicted copy beside it.
    pub(super) async fn scan_all(&mut self) {
        let names = match self.folder.list().await {
            Ok(entries) => {
                self.folder_back();
                if self.publish.names.multi && self.publish.names.default {
                    self.read_others(&entries).await;
                }
                entries.into_iter().map(|e| e.name).collect::<Vec<_>>()
            }
            Err(e) => {
                self.folder_trouble(&e);
                return;
            }
        };
        let mut sources: Vec<Source> = names.iter().filter_map(|n| files::classify(n)).collect();
        sources.retain(|s| *s != Source::Main);
        sources.sort();
        // commands.txt last at a first start: its history commit ends
        // first-start mode (see `Ledger::rebase`), and conflicted copies
        // there are history too. Otherwise first, as it always was.
        if self.ledger.is_fresh() {
            sources.push(Source::Main);
        } else {
            sources.insert(0, Source::Main);
        }
        for s in sources {
            self.scan(&s).await;
        }
    }

    /// The default node reads the other nodes' status files for its summary.
    async fn read_others(&mut self, entries: &[Entry]) {
        for e in entries {
            let Some(node) = files::status_json_node(&e.name) else {
                continue;
            };
            if node.eq_ignore_ascii_case(&self.cfg.name)
                || self
                    .others
                    .get(&e.name)
                    .is_some_and(|(v, _)| *v == e.meta.version)
            {
                continue;
            }
            if let Ok(Some((meta, bytes))) = self.folder.read_from(&e.name, 0).await
                && let Ok(doc) = serde_json::from_slice::<StatusDoc>(&bytes)
            {
                self.others
                    .insert(e.name.clone(), (meta.version, NodeLine::of(&doc)));
                self.publish.changed();
            }
        }
    }

    fn folder_trouble(&mut self, e: &StorageError) {
        if self.folder_ok {
            tracing::warn!(
                "cannot read the folder: {e}; retrying every {:?}",
                self.cfg.reconcile
            );
            self.folder_ok = false;
            self.watch_guard = None;
            self.publish.changed();
        }
    }

    fn folder_back(&mut self) {
        if !self.folder_ok {
            tracing::info!("the folder {} is readable again", self.folder.describe());
            self.folder_ok = true;
            let now = self.now();
            self.publish
                .say(&now, Ev::Node, "the folder is back; catching up");
            self.publish.forget_written();
            self.rewatch();
        }
    }

    pub(super) fn rewatch(&mut self) {
        if self.watch_guard.is_some() || !self.folder_ok {
            return;
        }
        match self.folder.watch(self.hints_tx.clone()) {
            Ok(g) => self.watch_guard = Some(g),
            Err(e) => tracing::warn!("{e}; relying on the {:?} reconcile", self.cfg.reconcile),
        }
    }

    async fn scan(&mut self, source: &Source) {
        let plan = match self
            .channel
            .scan(
                &*self.folder,
                &self.ledger,
                source,
                std::time::Instant::now(),
            )
            .await
        {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(StorageError::NotAFile(p)) => {
                self.warn_once(format!(
                    "{p} is a directory, not a file; commands wait until it is a file again"
                ));
                return;
            }
            Err(e) => {
                self.folder_trouble(&e);
                return;
            }
        };
        if let Err(e) = self.accept(plan).await {
            // The journal could not be written: nothing was acted on, and the
            // same lines are read again at the next scan.
            self.warn_once(format!("cannot record new commands: {e}"));
        }
    }
}
