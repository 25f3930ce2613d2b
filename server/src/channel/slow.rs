//! The slow path: the file was rewritten (or is read whole: a first start,
//! a conflicted copy). Occurrence `k` of a text is new only if `k` exceeds
//! what the ledger has seen of it.

use std::collections::HashMap;

use droprender_shared::files::Source;
use droprender_storage::{ContentHasher, Meta};

use super::{Channel, Plan, classify, split_lines, tail_hash};
use crate::ledger::{Batch, Cursor, Ledger, Rewrite, TAIL};

impl Channel {
    pub(super) fn slow(
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
                    // Ends a first start in the same write as the
                    // history: see `Ledger::rebase`.
                    initialize: history,
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
