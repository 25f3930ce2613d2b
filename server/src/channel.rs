//! Reading command files: which lines are new, exactly once.
//!
//! This module knows the rules, not the storage: it reads through
//! [`Folder`] only, so the local folder and the Dropbox API share it.
//!
//! - **Fast path**, O(new bytes + [`TAIL`]): the file grew and the up to
//!   [`TAIL`] bytes before the consumed offset (all of them, in a file below
//!   64 KiB) still hash the same, so only the bytes after it are new.
//!   Where the folder reports a `content_hash` (Dropbox), it is O(new bytes)
//!   even in transfer: the cursor keeps the content-hash state of the
//!   consumed bytes, and that state extended by the bytes after the offset
//!   must give the version's hash. Nothing before the offset is fetched.
//! - **Slow path**: the file shrank or its consumed tail changed (a phone
//!   rewrite). Every line is counted again; occurrence `k` of a text is new only
//!   if `k` exceeds what the ledger has seen of it.
//! - **Conflicted copies** are read whole by the slow-path rule; lines they add
//!   raise the count and the main file's deficit.
//! - **A final line without `\n`** waits for its newline, or for the file to be
//!   quiet for the grace period (phones drop the final newline).
//!
//! Scanning produces a [`Plan`]; the caller decides what each new line
//! becomes, commits the plan to the ledger, and only then acts.

use std::collections::HashMap;
use std::hash::Hasher;
use std::time::{Duration, Instant};

use droprender_shared::command::{Command, ParseError, parse_normalized};
use droprender_shared::files::Source;
use droprender_shared::normalize::{Normalized, normalize_line};
use droprender_shared::storage::{ContentHasher, Folder, Meta, StorageError};
use siphasher::sip::SipHasher13;

use crate::ledger::{Batch, Count, Cursor, Ledger, Rewrite, TAIL};

/// How long a file must be unchanged before an unterminated last line counts.
pub const QUIET: Duration = Duration::from_secs(2);

/// One new line found in a command file.
#[derive(Debug)]
pub struct NewLine {
    pub lineno: u64,
    /// The normalised text, or the raw text shown lossily when it is not text.
    pub text: String,
    pub parsed: Result<Command, ParseError>,
}

/// What a scan found, not yet durable.
#[derive(Debug)]
pub struct Plan {
    /// Appended lines skipped because their occurrence already ran
    /// (line number, text): surprising enough to log one by one.
    pub repeats: Vec<(u64, String)>,
    pub source: Source,
    pub batch: Batch,
    /// The slow path's rewritten commands.txt: every text in it, with its
    /// occurrences there and its new count (see [`Ledger::rebase`]).
    pub rebase: Option<Rewrite>,
    pub new_lines: Vec<NewLine>,
    /// Lines skipped as history (first start) or as already seen (rewrite).
    pub skipped: u64,
    pub history: bool,
    pub rewritten: bool,
}

/// Per-source memory of recent changes, for the quiet period.
#[derive(Default)]
pub struct Channel {
    changed: HashMap<String, (String, Instant)>,
}

pub fn tail_hash(bytes: &[u8]) -> u64 {
    let mut h = SipHasher13::new_with_keys(0x6472_6f70, 0x7265_6e64);
    h.write(bytes);
    h.finish()
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// Splits into lines; the flag says whether the last one had no newline.
fn split_lines(buf: &[u8]) -> (Vec<&[u8]>, Option<&[u8]>) {
    let mut lines: Vec<&[u8]> = buf.split(|b| *b == b'\n').collect();
    let last = lines.pop().filter(|l| !l.is_empty());
    (lines, last)
}

/// One line's identity: its text hash and the text, not yet parsed.
///
/// Perf (found by benches/bench.rs, history row): `classify` used to parse
/// every line. The slow path reads the whole file after a rewrite or at first
/// start, where nearly every line is already known or history, and parsing
/// (the profiles' allow-list walk) was the largest cost of a 1,000,000-line
/// rewrite. Lines are now parsed only when they turn out to be new.
struct Identified {
    hash: u128,
    text: String,
    /// Why the line is not even text (too long, NUL, not UTF-8).
    unreadable: Option<ParseError>,
}

impl Identified {
    fn into_new_line(self, lineno: u64) -> NewLine {
        let parsed = match self.unreadable {
            Some(e) => Err(e),
            None => parse_normalized(&self.text),
        };
        NewLine {
            lineno,
            text: self.text,
            parsed,
        }
    }
}

/// Identity of one raw line; `None` for blanks/comments.
fn classify(ledger: &Ledger, raw: &[u8]) -> Option<Identified> {
    // Fix (found by tests/reconciler_model.rs): the `\r` of a CRLF ending is
    // part of the line ending, not of the line. Normalisation drops it from
    // text, but an unreadable line (invalid UTF-8, NUL, too long) is named by
    // its raw bytes, so `\r` made it another line: a phone's CRLF rewrite
    // rejected it again, and when the `\r\n` ended an unterminated line
    // already accepted, the fast path and the slow path named it differently.
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    match normalize_line(raw) {
        Ok(Normalized::Ignored) => None,
        Ok(Normalized::Text(text)) => Some(Identified {
            hash: ledger.hash(&text),
            text,
            unreadable: None,
        }),
        Err(e) => {
            let shown = lossy(raw);
            Some(Identified {
                hash: ledger.hash(&format!("\0raw\0{shown}")),
                text: shown,
                unreadable: Some(e.into()),
            })
        }
    }
}

impl Channel {
    pub fn new() -> Self {
        Self::default()
    }

    /// When the caller should scan again to accept a waiting final line.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.changed.values().map(|(_, t)| *t + QUIET).min()
    }

    /// Scans one source. `Ok(None)` when there is nothing new.
    pub async fn scan<F: Folder>(
        &mut self,
        folder: &F,
        ledger: &Ledger,
        source: &Source,
        now: Instant,
    ) -> Result<Option<Plan>, StorageError> {
        let name = source.file_name().to_string();
        let cur = ledger.cursor(&name).cloned().unwrap_or_default();
        let Some(meta) = folder.stat(&name).await? else {
            self.changed.remove(&name);
            return Ok(None);
        };
        // Track when this version appeared, for the quiet period.
        let since = match self.changed.get(&name) {
            Some((v, t)) if *v == meta.version => *t,
            _ => now,
        };
        let quiet = now.duration_since(since) >= QUIET;
        if meta.version == cur.version && !ledger.is_fresh() {
            self.changed.remove(&name);
            return Ok(None);
        }
        let plan = match source {
            Source::Main if !ledger.is_fresh() => {
                self.try_fast(folder, ledger, source, &name, &cur, &meta, quiet)
                    .await?
            }
            _ => None,
        };
        let plan = match plan {
            Some(p) => p,
            None => match folder.read_from(&name, 0).await? {
                None => return Ok(None),
                Some((m, buf)) => self.slow(ledger, source, &m, &buf, quiet),
            },
        };
        if plan.batch.cursor.open_line || plan_has_fragment(&plan) {
            self.changed.insert(name, (meta.version, since));
        } else {
            self.changed.remove(&name);
        }
        Ok(Some(plan))
    }

    /// The fast path, when the consumed prefix is provably intact; `None`
    /// sends the caller to the slow path.
    #[allow(clippy::too_many_arguments)]
    async fn try_fast<F: Folder>(
        &mut self,
        folder: &F,
        ledger: &Ledger,
        source: &Source,
        name: &str,
        cur: &Cursor,
        meta: &Meta,
        quiet: bool,
    ) -> Result<Option<Plan>, StorageError> {
        if meta.content_hash.is_some() {
            // A cursor from before this scheme (or from another folder)
            // has no state: the slow path reads the file once and makes one.
            let prefix = if cur.offset == 0 {
                Some(ContentHasher::new())
            } else {
                cur.prefix.as_deref().and_then(ContentHasher::decode)
            };
            let Some(prefix) = prefix.filter(|p| p.len() == cur.offset) else {
                return Ok(None);
            };
            let Some((m, buf)) = folder.read_from(name, cur.offset).await? else {
                return Ok(None);
            };
            let mut whole = prefix.clone();
            whole.update(&buf);
            let intact = m.size == cur.offset + buf.len() as u64
                && m.content_hash.as_deref() == Some(whole.finish().as_str());
            return Ok(intact.then(|| {
                self.fast(
                    ledger,
                    source,
                    cur,
                    m.version.clone(),
                    cur.offset,
                    &buf,
                    0,
                    Some(prefix),
                    quiet,
                )
            }));
        }
        if cur.prefix.is_some() && cur.offset > 0 {
            // Consumed under the content-hash scheme: no tail to compare.
            return Ok(None);
        }
        let from = cur.offset.saturating_sub(TAIL);
        let Some((m, buf)) = folder.read_from(name, from).await? else {
            return Ok(None);
        };
        let overlap = usize::try_from(cur.offset - from).unwrap_or(usize::MAX);
        let intact = m.size >= cur.offset
            && buf.len() >= overlap
            && (cur.offset == 0 || tail_hash(&buf[..overlap]) == cur.tail);
        Ok(intact.then(|| {
            self.fast(
                ledger,
                source,
                cur,
                m.version.clone(),
                from,
                &buf,
                overlap,
                None,
                quiet,
            )
        }))
    }

    #[allow(clippy::too_many_arguments)]
    fn fast(
        &mut self,
        ledger: &Ledger,
        source: &Source,
        cur: &Cursor,
        version: String,
        from: u64,
        buf: &[u8],
        overlap: usize,
        prefix: Option<ContentHasher>,
        quiet: bool,
    ) -> Plan {
        let new = &buf[overlap..];
        let (mut lines, fragment) = split_lines(new);
        let accept_fragment = fragment.is_some() && quiet;
        let mut consumed: usize = lines.iter().map(|l| l.len() + 1).sum();
        if accept_fragment {
            lines.extend(fragment);
            consumed = new.len();
        }
        // After an accepted unterminated line, the newline that completes it
        // arrives as an empty first line: not a command.
        //
        // Fix (found by tests/reconciler_model.rs): that first piece is the
        // rest of line `cur.lines`, not a line of its own, so the lines after
        // it are numbered from `cur.lines`, not `cur.lines + 1`; before, every
        // line appended after a phone's unterminated line was reported one
        // line too far down (in LOG.txt and in job records), and a CRLF
        // completion (`\r\n`) shifted the count for good.
        let first = cur.lines.saturating_sub(u64::from(cur.open_line));
        let mut counts: HashMap<u128, Count> = HashMap::new();
        let mut new_lines = Vec::new();
        let mut repeats = Vec::new();
        let mut skipped = 0;
        for (i, raw) in lines.iter().enumerate() {
            let lineno = first + i as u64 + 1;
            let Some(line) = classify(ledger, raw) else {
                continue;
            };
            let h = line.hash;
            let c = counts.entry(h).or_insert_with(|| ledger.count(h));
            if c.deficit == 0 {
                c.seen += 1;
                new_lines.push(line.into_new_line(lineno));
            } else {
                // commands.txt catches up with occurrences that already ran
                // (from a copy, or before a rewrite deleted them).
                c.deficit -= 1;
                skipped += 1;
                repeats.push((lineno, line.text));
            }
        }
        let end = overlap + consumed;
        let tail_from = end.saturating_sub(TAIL as usize);
        let offset = from + end as u64;
        let (tail, prefix) = match prefix {
            Some(mut h) => {
                h.update(&new[..consumed]);
                (0, Some(h.encode()))
            }
            None => (tail_hash(&buf[tail_from..end]), None),
        };
        let nlines = if lines.is_empty() {
            cur.lines
        } else {
            first + lines.len() as u64
        };
        Plan {
            source: source.clone(),
            batch: Batch {
                src: source.file_name().to_string(),
                cursor: Cursor {
                    offset,
                    tail,
                    prefix,
                    lines: nlines,
                    version: if fragment.is_some() && !accept_fragment {
                        // Not fully consumed: scan again when it changes or goes quiet.
                        String::new()
                    } else {
                        version
                    },
                    // Nothing consumed (the same bytes saved again): the
                    // line before the offset is still the unterminated one.
                    open_line: if consumed == 0 {
                        cur.open_line
                    } else {
                        accept_fragment
                    },
                },
                counts,
                ..Default::default()
            },
            rebase: None,
            new_lines,
            repeats,
            skipped,
            history: false,
            rewritten: false,
        }
    }

    fn slow(
        &mut self,
        ledger: &Ledger,
        source: &Source,
        meta: &Meta,
        buf: &[u8],
        quiet: bool,
    ) -> Plan {
        let version = meta.version.clone();
        let history = ledger.is_fresh();
        let (mut lines, fragment) = split_lines(buf);
        let accept_fragment = fragment.is_some() && (quiet || history);
        let mut consumed: usize = lines.iter().map(|l| l.len() + 1).sum();
        if accept_fragment {
            lines.extend(fragment);
            consumed = buf.len();
        }
        let main = matches!(source, Source::Main);
        // Per text in this file: its occurrences so far, and its count as it
        // becomes. (Perf: one map, sized once, instead of two growing ones.)
        let mut touched: Rewrite = HashMap::with_capacity(lines.len());
        let mut new_lines = Vec::new();
        let mut skipped = 0;
        for (i, raw) in lines.iter().enumerate() {
            let Some(line) = classify(ledger, raw) else {
                continue;
            };
            let h = line.hash;
            let (k, c) = {
                let e = touched.entry(h).or_insert_with(|| (0, ledger.count(h)));
                e.0 += 1;
                (e.0, &mut e.1)
            };
            if k > c.seen {
                if !main {
                    // The main file lacks what only a copy holds.
                    c.deficit += k - c.seen;
                }
                c.seen = k;
                if history {
                    skipped += 1;
                } else {
                    new_lines.push(line.into_new_line(i as u64 + 1));
                }
            } else {
                skipped += 1;
            }
        }
        let tail_from = consumed.saturating_sub(TAIL as usize);
        // Only commands.txt takes the fast path, so only it needs the state.
        let prefix = (main && meta.content_hash.is_some()).then(|| {
            let mut h = ContentHasher::new();
            h.update(&buf[..consumed]);
            h.encode()
        });
        let cursor = Cursor {
            offset: consumed as u64,
            prefix,
            tail: tail_hash(&buf[tail_from..consumed]),
            lines: lines.len() as u64,
            version: if fragment.is_some() && !accept_fragment {
                String::new()
            } else {
                version
            },
            open_line: accept_fragment,
        };
        let src = source.file_name().to_string();
        if main {
            // commands.txt was rewritten: its count of each text is now its
            // occurrences here, so every text's deficit is recomputed against
            // it. The plan carries the texts of this file only, with their
            // occurrences; the ledger does the rest in place (see
            // `Ledger::rebase`) instead of this building a copy of the whole
            // table (perf).
            let table: Rewrite = touched;
            Plan {
                source: source.clone(),
                batch: Batch {
                    src,
                    cursor,
                    ..Default::default()
                },
                rebase: Some(table),
                new_lines,
                repeats: Vec::new(),
                skipped,
                history,
                rewritten: !history,
            }
        } else {
            Plan {
                source: source.clone(),
                batch: Batch {
                    src,
                    cursor,
                    counts: touched.into_iter().map(|(h, (_, c))| (h, c)).collect(),
                    ..Default::default()
                },
                rebase: None,
                new_lines,
                repeats: Vec::new(),
                skipped,
                history,
                rewritten: false,
            }
        }
    }
}

fn plan_has_fragment(plan: &Plan) -> bool {
    plan.batch.cursor.version.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use droprender_shared::storage::MemFolder;

    struct Rig {
        _dir: tempfile::TempDir,
        ledger: Ledger,
        folder: MemFolder,
        chan: Channel,
        t: Instant,
    }

    impl Rig {
        /// `hashes`: the folder reports `content_hash` (the Dropbox scheme).
        fn new(hashes: bool) -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let ledger = Ledger::open(dir.path()).expect("ledger");
            Self {
                _dir: dir,
                ledger,
                folder: if hashes {
                    MemFolder::with_content_hash()
                } else {
                    MemFolder::new()
                },
                chan: Channel::new(),
                t: Instant::now(),
            }
        }

        /// Scans a source and commits the plan; returns the new lines' texts.
        async fn run(&mut self, src: Source) -> Vec<String> {
            let Some(plan) = self
                .chan
                .scan(&self.folder, &self.ledger, &src, self.t)
                .await
                .expect("scan")
            else {
                return Vec::new();
            };
            let texts = plan.new_lines.iter().map(|l| l.text.clone()).collect();
            match plan.rebase {
                Some(t) => self.ledger.rebase(plan.batch, t).expect("rebase"),
                None => self.ledger.commit(plan.batch).expect("commit"),
            }
            self.ledger.mark_initialized().expect("init");
            texts
        }

        async fn main(&mut self) -> Vec<String> {
            self.run(Source::Main).await
        }
    }

    async fn history_is_skipped_then_appends_run_once(hashes: bool) {
        let mut r = Rig::new(hashes);
        r.folder.put("commands.txt", "progress:\nrend:-s 1 a.mb\n");
        assert!(r.main().await.is_empty(), "history does not run");
        r.folder.push("commands.txt", b"progress:\n");
        assert_eq!(
            r.main().await,
            ["progress:"],
            "a repeat of an old line runs"
        );
        assert!(r.main().await.is_empty(), "nothing twice");
        r.folder.push("commands.txt", b"Rend:-s 1 a.mb\r\n");
        assert_eq!(r.main().await, ["rend:-s 1 a.mb"]);
    }

    async fn a_partial_line_waits_for_its_newline_or_the_quiet_period(hashes: bool) {
        let mut r = Rig::new(hashes);
        r.folder.put("commands.txt", "");
        r.main().await;
        r.folder.push("commands.txt", b"progre");
        assert!(r.main().await.is_empty());
        r.folder.push("commands.txt", b"ss:\n");
        assert_eq!(r.main().await, ["progress:"]);
        // A phone saves without the final newline.
        r.folder.push("commands.txt", b"rend:-s 2 a.mb");
        assert!(r.main().await.is_empty());
        assert!(r.chan.next_deadline().is_some());
        r.t += QUIET;
        assert_eq!(r.main().await, ["rend:-s 2 a.mb"]);
        // The newline arrives later: nothing runs again.
        r.folder.push("commands.txt", b"\nprogress:\n");
        assert_eq!(r.main().await, ["progress:"]);
    }

    async fn a_rewrite_runs_only_lines_not_in_the_ledger(hashes: bool) {
        let mut r = Rig::new(hashes);
        r.folder.put("commands.txt", "");
        r.main().await;
        r.folder.push(
            "commands.txt",
            b"rend:-s 1 a.mb\nrend:-s 2 a.mb\nprogress:\n",
        );
        assert_eq!(r.main().await.len(), 3);
        // Phone deletes the first line, edits nothing else, adds a new one.
        r.folder.put(
            "commands.txt",
            "rend:-s 2 a.mb\nprogress:\nrend:-s 3 a.mb\n",
        );
        assert_eq!(r.main().await, ["rend:-s 3 a.mb"]);
        // Identity is (text, occurrence): re-adding a deleted line is
        // occurrence 1 again, which already ran. A further copy is new.
        r.folder.push("commands.txt", b"rend:-s 1 a.mb\n");
        assert!(r.main().await.is_empty());
        r.folder.push("commands.txt", b"rend:-s 1 a.mb\n");
        assert_eq!(r.main().await, ["rend:-s 1 a.mb"]);
    }

    async fn conflicted_copies_add_only_their_own_lines(hashes: bool) {
        let mut r = Rig::new(hashes);
        r.folder.put("commands.txt", "rend:-s 1 a.mb\n");
        r.main().await;
        // Laptop and phone both edit: one version wins, the other is a copy.
        r.folder
            .put("commands.txt", "rend:-s 1 a.mb\nrend:-s 2 a.mb\n");
        let copy = "commands (Jane's conflicted copy 2026-11-22).txt";
        r.folder.put(copy, "rend:-s 1 a.mb\nrend:-s 3 a.mb\n");
        assert_eq!(r.main().await, ["rend:-s 2 a.mb"]);
        assert_eq!(r.run(Source::Copy(copy.into())).await, ["rend:-s 3 a.mb"]);
        // The user merges the copy's line into commands.txt by hand: not again.
        r.folder.push("commands.txt", b"rend:-s 3 a.mb\n");
        assert!(r.main().await.is_empty());
        // But typing it once more is a new command.
        r.folder.push("commands.txt", b"rend:-s 3 a.mb\n");
        assert_eq!(r.main().await, ["rend:-s 3 a.mb"]);
    }

    async fn the_sync_engine_swapping_versions_runs_nothing_twice(hashes: bool) {
        let mut r = Rig::new(hashes);
        r.folder.put("commands.txt", "");
        r.main().await;
        r.folder.push("commands.txt", b"rend:-s 1 a.mb\n");
        assert_eq!(r.main().await.len(), 1);
        // The other side wins: our line moves to a sync-conflict copy.
        let copy = "commands.sync-conflict-20261122-101500-ABCDEFG.txt";
        r.folder.put("commands.txt", "rend:-s 2 a.mb\n");
        r.folder.put(copy, "rend:-s 1 a.mb\n");
        assert_eq!(r.main().await, ["rend:-s 2 a.mb"]);
        assert!(r.run(Source::Copy(copy.into())).await.is_empty());
    }

    async fn bad_lines_are_new_lines_with_errors_and_never_repeat(hashes: bool) {
        let mut r = Rig::new(hashes);
        r.folder.put("commands.txt", "");
        r.main().await;
        r.folder.push(
            "commands.txt",
            b"rend:\xff\xfe\n\n# note\nrend:-preRender x a.mb\n",
        );
        let Some(plan) = r
            .chan
            .scan(&r.folder, &r.ledger, &Source::Main, r.t)
            .await
            .expect("scan")
        else {
            panic!("expected a plan")
        };
        assert_eq!(plan.new_lines.len(), 2);
        assert!(plan.new_lines.iter().all(|l| l.parsed.is_err()));
        assert_eq!(plan.new_lines[1].lineno, 4);
        r.ledger.commit(plan.batch).expect("commit");
        r.folder
            .put("commands.txt", "rend:\u{fffd}\n\nrend:-preRender x a.mb\n");
        assert!(
            r.main().await.len() <= 1,
            "a rewrite re-rejects nothing already rejected"
        );
    }

    /// Each scenario runs under both prefix checks: the tail re-read (local
    /// folders) and the content-hash state (Dropbox).
    macro_rules! both_checks {
        ($($name:ident),* $(,)?) => {
            mod tail {
                $(#[tokio::test]
                async fn $name() {
                    super::$name(false).await
                })*
            }
            mod content_hash {
                $(#[tokio::test]
                async fn $name() {
                    super::$name(true).await
                })*
            }
        };
    }

    both_checks!(
        history_is_skipped_then_appends_run_once,
        a_partial_line_waits_for_its_newline_or_the_quiet_period,
        a_rewrite_runs_only_lines_not_in_the_ledger,
        conflicted_copies_add_only_their_own_lines,
        the_sync_engine_swapping_versions_runs_nothing_twice,
        bad_lines_are_new_lines_with_errors_and_never_repeat,
    );

    /// Counts the bytes each read returns, to show what travels.
    struct Counting {
        inner: MemFolder,
        read: std::sync::Mutex<Vec<(u64, usize)>>,
    }

    impl Folder for Counting {
        fn describe(&self) -> String {
            self.inner.describe()
        }
        async fn stat(&self, name: &str) -> Result<Option<Meta>, StorageError> {
            self.inner.stat(name).await
        }
        async fn read_from(
            &self,
            name: &str,
            offset: u64,
        ) -> Result<Option<(Meta, Vec<u8>)>, StorageError> {
            let r = self.inner.read_from(name, offset).await?;
            if let Some((_, b)) = &r {
                self.read
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((offset, b.len()));
            }
            Ok(r)
        }
        async fn list(&self) -> Result<Vec<droprender_shared::storage::Entry>, StorageError> {
            self.inner.list().await
        }
        async fn write_atomic(&self, name: &str, data: Vec<u8>) -> Result<(), StorageError> {
            self.inner.write_atomic(name, data).await
        }
        async fn append(&self, name: &str, data: Vec<u8>) -> Result<(), StorageError> {
            self.inner.append(name, data).await
        }
        fn watch(
            &self,
            tx: tokio::sync::mpsc::Sender<droprender_shared::storage::Hint>,
        ) -> Result<droprender_shared::storage::WatchGuard, StorageError> {
            self.inner.watch(tx)
        }
    }

    #[tokio::test]
    async fn with_content_hashes_an_append_fetches_only_the_new_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ledger = Ledger::open(dir.path()).expect("ledger");
        let folder = Counting {
            inner: MemFolder::with_content_hash(),
            read: Default::default(),
        };
        let mut chan = Channel::new();
        let t = Instant::now();
        let history: String = (0..2000).map(|i| format!("rend:-s {i} a.mb\n")).collect();
        folder.inner.put("commands.txt", history.clone());
        let mut scan = async |ledger: &mut Ledger| {
            let plan = chan
                .scan(&folder, ledger, &Source::Main, t)
                .await
                .expect("scan")
                .expect("a plan");
            let texts: Vec<String> = plan.new_lines.iter().map(|l| l.text.clone()).collect();
            match plan.rebase {
                Some(r) => ledger.rebase(plan.batch, r).expect("rebase"),
                None => ledger.commit(plan.batch).expect("commit"),
            }
            ledger.mark_initialized().expect("init");
            texts
        };
        assert!(scan(&mut ledger).await.is_empty(), "history");
        let line = "rend:-s 1 b.mb\n";
        folder.inner.push("commands.txt", line.as_bytes());
        assert_eq!(scan(&mut ledger).await, ["rend:-s 1 b.mb"]);
        // A phone rewrite that keeps the length and the whole tail: only
        // the first line changes (`-s 0` → `-s 9`). The hash sees it.
        let edited = format!("rend:-s 9{}", &history[9..]) + line + line;
        folder.inner.put("commands.txt", edited);
        assert_eq!(
            scan(&mut ledger).await,
            ["rend:-s 9 a.mb", "rend:-s 1 b.mb"]
        );
        let reads = folder
            .read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let size = history.len() as u64;
        let l = line.len();
        assert_eq!(
            reads,
            [
                (0, history.len()),
                // The append: from the offset, the new line only.
                (size, l),
                // The rewrite: the bytes after the offset don't prove the
                // prefix, so the whole file is read.
                (size + l as u64, l),
                (0, history.len() + 2 * l),
            ]
        );
    }
}
