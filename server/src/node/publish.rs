//! Status files and LOG.txt: what is waiting to be written, when it may
//! go out (progress at most every `[status] progress_secs`; in Dropbox API
//! mode everything gathered for `[status] batch_secs`), and the writes
//! themselves — status files first, then LOG.txt, so a LOG line never
//! announces what status.txt does not show yet.

use std::time::Duration;

use droprender_shared::files;
use droprender_shared::logline::{Event as Ev, LogLine};
use droprender_shared::status::NodeLine;
use droprender_storage::{Folder, StorageError};
use tokio::time::Instant;

use super::Node;
use crate::config::Config;
use crate::core::{Now, StatusChange};
pub use crate::status::{Names, Writer};

/// Writes gathered and not yet written.
pub(super) struct Publisher {
    pub writer: Writer,
    pub names: Names,
    log: Vec<LogLine>,
    /// The status files are out of date: written at the next flush.
    dirty: bool,
    /// Progress-only changes wait until then (a job starting or ending
    /// does not: it sets `dirty`).
    progress_due: Option<Instant>,
    /// A status write failed: the next try waits until then.
    retry_at: Option<Instant>,
    /// When the gathered writes go out (`[status] batch_secs`).
    batch_due: Option<Instant>,
    progress_every: Duration,
    batch: Duration,
    log_max: Option<u64>,
    /// A write failed: try again after this long.
    retry: Duration,
    /// When status files and LOG.txt were last written.
    last_flush: Option<Instant>,
}

/// Writes closer together than this are gathered (a queue of short jobs
/// draining): status and LOG.txt then go out at most four times a second
/// instead of once per job start and end (perf: found by benches/bench.rs,
/// jobs row at load 4, where every write is an fsync and a rename).
const MIN_GAP: Duration = Duration::from_millis(250);

impl Publisher {
    pub fn new(cfg: &Config, names: Names) -> Self {
        Publisher {
            writer: Writer::default(),
            names,
            log: Vec::new(),
            dirty: true,
            progress_due: None,
            retry_at: None,
            batch_due: None,
            progress_every: cfg.progress_every,
            batch: cfg.status_batch,
            log_max: cfg.log_max_bytes,
            retry: cfg.reconcile,
            last_flush: None,
        }
    }

    pub fn changed(&mut self) {
        self.dirty = true;
    }

    pub fn status(&mut self, c: StatusChange, now: Instant) {
        match c {
            StatusChange::None => {}
            StatusChange::Progress => {
                self.progress_due.get_or_insert(now + self.progress_every);
            }
            StatusChange::Changed => self.dirty = true,
        }
    }

    /// Forgets what was written, so everything is written again (`status:`,
    /// or the folder came back).
    pub fn forget_written(&mut self) {
        self.writer = Writer::default();
        self.dirty = true;
    }

    pub fn log(&mut self, lines: Vec<LogLine>) {
        self.log.extend(lines);
    }

    pub fn say(&mut self, now: &Now, ev: Ev, text: impl Into<String>) {
        self.log.push(LogLine::new(now.wall, ev, text.into()));
    }

    pub fn say_job(&mut self, now: &Now, ev: Ev, job: u64, text: impl Into<String>) {
        self.log
            .push(LogLine::new(now.wall, ev, text.into()).job(job));
    }

    /// A warning, unless the same one is still waiting to be written.
    pub fn warn_once(&mut self, now: &Now, msg: String) {
        if !self.log.iter().any(|l| l.text == msg) {
            self.say(now, Ev::Warning, msg);
        }
    }

    /// The next moment something is due.
    pub fn due(&self) -> Option<Instant> {
        [self.progress_due, self.retry_at, self.batch_due]
            .into_iter()
            .flatten()
            .min()
    }

    /// A due moment passed.
    pub fn tick(&mut self, t: Instant) {
        if self.progress_due.is_some_and(|d| d <= t) {
            self.progress_due = None;
            self.dirty = true;
        }
    }

    /// The status files are out of date and no failed write is waiting
    /// for its retry (a stopping node tries once more anyway).
    fn status_writable(&self, now: Instant, stopping: bool) -> bool {
        self.dirty && (stopping || self.retry_at.is_none_or(|r| r <= now))
    }

    /// The status files were written: progress included.
    fn status_written(&mut self) {
        self.dirty = false;
        self.progress_due = None;
        self.retry_at = None;
    }

    /// A status write failed: everything is written again after `retry`.
    fn status_failed(&mut self, now: Instant) {
        self.dirty = true;
        self.retry_at = Some(now + self.retry);
    }

    /// Whether gathered writes may go out now. With `[status] batch_secs`
    /// (Dropbox API mode), the first change opens a window and everything
    /// changed within it is written together when it closes. A stopping
    /// node writes at once.
    fn batch_ready(&mut self, now: Instant, stopping: bool) -> bool {
        if stopping {
            return true;
        }
        if !self.status_writable(now, false) && self.log.is_empty() {
            return false;
        }
        match self.batch_due {
            None if self.batch.is_zero() => match self.last_flush {
                Some(last) if now < last + MIN_GAP => {
                    self.batch_due = Some(last + MIN_GAP);
                    false
                }
                _ => true,
            },
            None => {
                self.batch_due = Some(now + self.batch);
                false
            }
            Some(d) if d > now => false,
            Some(_) => {
                self.batch_due = None;
                true
            }
        }
    }
}

impl<F: Folder> Node<F> {
    /// Status files first (active_rend.txt, status.txt, status.json last),
    /// then LOG.txt: whoever reads a LOG line finds the status files
    /// already telling the same story, and whoever reads status.json finds
    /// the other two agreeing.
    pub(super) async fn flush(&mut self) {
        let stopping = self.core.stopping() != crate::core::Shutdown::Run;
        let t = Instant::now();
        if !self.publish.batch_ready(t, stopping) {
            return;
        }
        self.publish.last_flush = Some(t);
        if self.publish.status_writable(t, stopping) {
            self.publish.status_written();
            let now = self.now();
            let doc = self
                .core
                .status_doc(self.ledger.state(), &self.info, self.folder_ok, &now);
            // One scene per line: several with several slots.
            let active: Vec<String> = if doc.running.is_empty() {
                doc.current.iter().map(|c| c.scene.clone()).collect()
            } else {
                doc.running.iter().map(|c| c.scene.clone()).collect()
            };
            let p = &mut self.publish;
            let folder = &*self.folder;
            // active_rend.txt before the status files: whoever sees a job in
            // status.json finds it in active_rend.txt already (a test read
            // them in between and saw a running job with no active scene).
            let active: Vec<u8> = active
                .iter()
                .flat_map(|a| format!("{a}\n").into_bytes())
                .collect();
            let r2 = p.writer.put(folder, &p.names.active, active).await;
            let mut r1 = p
                .writer
                .put_status(folder, &doc, &p.names.status_json, &p.names.status_txt)
                .await;
            if r1.is_ok() && p.names.multi && p.names.default {
                let mut summary = doc.clone();
                summary.nodes = std::iter::once(NodeLine::of(&doc))
                    .chain(self.others.values().map(|(_, l)| l.clone()))
                    .collect();
                r1 = p
                    .writer
                    .put_status(folder, &summary, files::STATUS_JSON, files::STATUS_TXT)
                    .await;
            }
            if let Some(e) = r1.err().or(r2.err()) {
                tracing::warn!("cannot write status files: {e}");
                p.status_failed(Instant::now());
            }
        }
        if !self.publish.log.is_empty() {
            let mut text = String::new();
            for l in &self.publish.log {
                text.push_str(&l.to_string());
                text.push('\n');
            }
            match self.append_log(text.into_bytes()).await {
                Ok(()) => self.publish.log.clear(),
                Err(e) => {
                    tracing::warn!("cannot append to LOG.txt: {e}");
                    // Keep the lines for the next try, but bounded.
                    let n = self.publish.log.len();
                    if n > 1000 {
                        self.publish.log.drain(..n - 1000);
                    }
                }
            }
        }
    }

    /// Appends to LOG.txt; past `[status] log_max_kb` the old file is first
    /// copied to `LOG.<time>.txt` and LOG.txt begins again with `text`, so
    /// it stays readable on a phone, and in Dropbox API mode (where an
    /// append uploads the whole file) each append costs a bounded upload.
    /// A failure or crash between the copy and the restart is retried
    /// into the same copy: lines are never lost nor archived twice.
    async fn append_log(&mut self, text: Vec<u8>) -> Result<(), StorageError> {
        let name = self.publish.names.log.clone();
        let Some(max) = self.publish.log_max else {
            return self.folder.append(&name, text).await;
        };
        let size = self.folder.stat(&name).await?.map_or(0, |m| m.size);
        if size > 0
            && size + text.len() as u64 > max
            && let Some((_, old)) = self.folder.read_from(&name, 0).await?
        {
            // Named for its first line's time, so a rotation retried after
            // a failed write finds its own copy instead of making a second.
            let time = std::str::from_utf8(old.get(..19).unwrap_or_default())
                .ok()
                .filter(|t| t.starts_with(|c: char| c.is_ascii_digit()))
                .map_or_else(|| self.now().stamp(), str::to_string);
            let mut archive = files::log_archive(&name, &time);
            let mut k = 1;
            let copied = loop {
                match self.folder.stat(&archive).await? {
                    None => break false,
                    Some(m) if m.size == old.len() as u64 => break true,
                    // Another LOG.txt that began in the same second.
                    Some(_) => {
                        k += 1;
                        archive = files::log_archive(&name, &format!("{time} {k}"));
                    }
                }
            };
            if !copied {
                self.folder.write_atomic(&archive, old).await?;
            }
            self.folder.write_atomic(&name, text).await?;
            tracing::info!("{name} reached {size} bytes; the older lines are in {archive}");
            return Ok(());
        }
        self.folder.append(&name, text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publisher() -> Publisher {
        let cfg = Config::for_tests();
        let names = Names::new(&cfg);
        Publisher::new(&cfg, names)
    }

    /// Runs the node loop's part: the flush it would do at `t`.
    fn flush_at(p: &mut Publisher, t: Instant) -> bool {
        if !p.batch_ready(t, false) || !p.status_writable(t, false) {
            return false;
        }
        p.last_flush = Some(t);
        p.status_written();
        true
    }

    #[test]
    fn a_change_is_not_held_back_by_pending_progress() {
        let mut p = publisher();
        let t0 = Instant::now();
        assert!(flush_at(&mut p, t0), "the first status goes out");
        // Progress, then a job starts or ends while progress waits its
        // interval: the change goes out at the next flush, progress with it.
        p.status(StatusChange::Progress, t0);
        assert!(!flush_at(&mut p, t0 + Duration::from_millis(300)));
        p.status(StatusChange::Changed, t0 + Duration::from_millis(300));
        assert!(flush_at(&mut p, t0 + Duration::from_millis(300)));
        assert_eq!(p.due(), None, "the progress went out with it");
    }

    #[test]
    fn progress_waits_its_interval_and_changes_their_gap() {
        let mut p = publisher();
        let t0 = Instant::now();
        assert!(flush_at(&mut p, t0));
        p.status(StatusChange::Progress, t0);
        let due = p.due().expect("progress due");
        assert_eq!(due, t0 + p.progress_every);
        p.tick(due);
        assert!(flush_at(&mut p, due));
        // Two changes 100 ms apart: the second waits for the 250 ms gap.
        p.status(StatusChange::Changed, due + Duration::from_millis(100));
        assert!(!flush_at(&mut p, due + Duration::from_millis(100)));
        assert_eq!(p.due(), Some(due + MIN_GAP));
        assert!(flush_at(&mut p, due + MIN_GAP));
    }

    #[test]
    fn a_failed_write_is_retried_after_its_interval_or_when_stopping() {
        let mut p = publisher();
        let t0 = Instant::now();
        p.status_failed(t0);
        p.status(StatusChange::Changed, t0);
        assert!(!p.status_writable(t0 + Duration::from_millis(300), false));
        assert!(p.status_writable(t0, true), "a stopping node tries again");
        assert_eq!(p.due(), Some(t0 + p.retry));
        assert!(p.status_writable(t0 + p.retry, false));
    }
}
