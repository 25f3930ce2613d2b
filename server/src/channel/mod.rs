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

mod fast;
mod slow;

use std::collections::HashMap;
use std::hash::Hasher;
use std::time::{Duration, Instant};

use droprender_shared::command::{Command, ParseError, parse_normalized};
use droprender_shared::files::Source;
use droprender_shared::normalize::{Normalized, normalize_line};
use droprender_storage::{ContentHasher, Folder, Meta, StorageError};
use siphasher::sip::SipHasher13;

use crate::ledger::{Batch, Cursor, Ledger, Rewrite, TAIL};

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
}

fn plan_has_fragment(plan: &Plan) -> bool {
    plan.batch.cursor.version.is_empty()
}

#[cfg(test)]
mod tests;
