//! Writes: appends by compare-and-swap, and whole-file replaces skipped
//! when the bytes are already there.

use rand::Rng as _;

use super::*;

/// Compare-and-swap rounds lost before an append gives up.
const MAX_CAS_ROUNDS: u32 = 200;

impl Inner {
    pub(super) async fn append(&self, name: &str, data: &[u8]) -> Result<(), DropboxError> {
        if data.is_empty() {
            return Ok(());
        }
        let gate = self.gate(name);
        let _serial = gate.lock().await;
        let path = self.path(name);
        let mut lost = 0u32;
        let mut uncertain = 0u32;
        loop {
            // The base: our own last write when we know its bytes, else a download.
            let known = lock(&self.state)
                .files
                .get(&key(name))
                .and_then(|k| Some((k.rev.clone(), k.body.clone()?)));
            let base = match known {
                Some(b) => Some(b),
                None => {
                    let started = self.clock();
                    match self.download(&path, 0).await? {
                        Some((m, bytes)) => {
                            lock(&self.state).see(started, &m);
                            Some((m.rev, bytes))
                        }
                        None => None,
                    }
                }
            };
            let mut new = Vec::with_capacity(base.as_ref().map_or(0, |b| b.1.len()) + data.len());
            if let Some((_, b)) = &base {
                new.extend_from_slice(b);
            }
            new.extend_from_slice(data);
            let new = Bytes::from(new);
            let mode = match &base {
                Some((rev, _)) => WriteMode::Update(rev.clone()),
                None => WriteMode::Add,
            };
            match self.upload(name, new.clone(), mode).await {
                Ok(m) => {
                    lock(&self.state).wrote(&m, Some(new));
                    return Ok(());
                }
                Err(e) if e.is_conflict() => {
                    // Someone else appended first: start over from their version.
                    self.forget_body(name);
                    lost += 1;
                    if lost >= MAX_CAS_ROUNDS {
                        return Err(e);
                    }
                    tokio::time::sleep(cas_backoff(lost)).await;
                }
                Err(DropboxError::Uncertain { route }) => {
                    // The upload may have landed. Look before writing again,
                    // so the line is never there twice.
                    self.forget_body(name);
                    let started = self.clock();
                    let looked = self.download(&path, 0).await.map_err(|e| {
                        if e.is_transient() {
                            DropboxError::Uncertain {
                                route: route.clone(),
                            }
                        } else {
                            e
                        }
                    })?;
                    if let Some((m, cur)) = looked
                        && cur.starts_with(&new)
                    {
                        let mut st = lock(&self.state);
                        if cur.len() == new.len() {
                            st.wrote(&m, Some(cur));
                        } else {
                            // Ours, and others appended after it.
                            st.see(started, &m);
                        }
                        return Ok(());
                    }
                    uncertain += 1;
                    if uncertain >= self.api.policy.max_attempts {
                        return Err(DropboxError::Uncertain { route });
                    }
                    let d = self.api.policy.backoff(uncertain);
                    tracing::warn!(
                        "an append to {} failed midway and the bytes are not there; appending again in {:.1} s",
                        self.shown(name),
                        d.as_secs_f64()
                    );
                    tokio::time::sleep(d).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(super) fn forget_body(&self, name: &str) {
        if let Some(k) = lock(&self.state).files.get_mut(&key(name)) {
            k.body = None;
        }
    }

    pub(super) async fn write_atomic(&self, name: &str, data: Vec<u8>) -> Result<(), DropboxError> {
        let gate = self.gate(name);
        let _serial = gate.lock().await;
        let hash = content_hash(&data);
        let same = lock(&self.state)
            .files
            .get(&key(name))
            .is_some_and(|k| k.hash.as_deref() == Some(hash.as_str()));
        if same {
            return Ok(());
        }
        let m = self
            .upload(name, Bytes::from(data), WriteMode::Overwrite)
            .await?;
        lock(&self.state).wrote(&m, None);
        Ok(())
    }
}

/// Jittered exponential backoff after losing a compare-and-swap race:
/// short, since the winner is done by now, but spread so the losers do not
/// collide again.
pub(super) fn cas_backoff(lost: u32) -> Duration {
    let ceiling = Duration::from_millis(10u64 << lost.min(7)).min(Duration::from_secs(1));
    ceiling.mul_f64(rand::rng().random::<f64>())
}
