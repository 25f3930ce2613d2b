//! The fast path: only the bytes after the consumed offset are new.

use std::collections::HashMap;

use droprender_shared::files::Source;
use droprender_storage::ContentHasher;

use super::{Channel, Plan, classify, split_lines, tail_hash};
use crate::ledger::{Batch, Count, Cursor, Ledger, TAIL};

impl Channel {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fast(
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
}
