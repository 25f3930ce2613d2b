//! What users, phones and sync engines do.

use std::fmt;

use super::*;

/// Raw line bytes (never a `\n`), shown short in failure reports.
#[derive(Clone, PartialEq, Eq)]
pub struct Raw(pub Vec<u8>);

impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() > 48 {
            write!(
                f,
                "b\"{}…\" ({} bytes)",
                self.0[..24].escape_ascii(),
                self.0.len()
            )
        } else {
            write!(f, "b\"{}\"", self.0.escape_ascii())
        }
    }
}

#[derive(Debug, Clone)]
pub enum Op {
    /// The laptop CLI (or a sync engine) appends whole lines.
    Append {
        lines: Vec<Raw>,
        crlf: bool,
    },
    /// A line arrives in two pieces; the node may scan in between.
    Partial {
        line: Raw,
        cut: Pick,
        scan_between: bool,
    },
    /// A phone saves a line without the final newline.
    NoNewline(Raw),
    /// The quiet period passes.
    Quiet,
    /// A phone rewrites commands.txt.
    Rewrite(Rewrite),
    /// Two devices edited at once: commands.txt gets one continuation, a
    /// conflicted copy the other.
    Conflict(Conflict),
    /// The user copies a conflicted copy's last lines into commands.txt.
    Merge {
        copy: Pick,
        last: usize,
        delete: bool,
    },
    DeleteCopy(Pick),
    /// commands.txt saved again unchanged (a new version, the same bytes).
    Touch,
    DeleteMain,
    Scan(Which),
    Crash(Crash),
}

#[derive(Debug, Clone)]
pub enum Which {
    /// What the node does at start-up, on `Rescan` and on its reconcile timer.
    All,
    Main,
    Copy(Pick),
}

#[derive(Debug, Clone, Copy)]
pub enum Crash {
    /// Between two scans.
    Clean,
    /// After scanning, before the commit's fsync: nothing was acted on.
    BeforeCommit,
    /// During the commit's journal write: a record torn at any byte.
    TornJournal(Pick),
    /// Inside a rewrite's rebase, after the new snapshot was renamed into
    /// place (and the directory synced) but before the journal was emptied.
    AfterSnapshot,
}

#[derive(Debug, Clone)]
pub struct Rewrite {
    /// Which lines survive (cycled; empty keeps all).
    pub keep: Vec<bool>,
    /// New lines, inserted together at `at`.
    pub add: Vec<Raw>,
    pub at: Pick,
    pub crlf: bool,
    pub bom: bool,
    pub final_newline: bool,
    /// Capital first letter, an en dash for `-`, trailing spaces.
    pub cosmetic: bool,
}

#[derive(Debug, Clone)]
pub struct Conflict {
    /// How many versions back each side started from (0 = the current one).
    pub main_base: usize,
    pub copy_base: usize,
    pub main_add: Vec<Raw>,
    pub copy_add: Vec<Raw>,
    pub naming: u8,
    pub final_newline: bool,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    /// commands.txt before the first start: history.
    pub initial: Vec<Raw>,
    pub initial_newline: bool,
    pub ops: Vec<Op>,
    /// The folder reports `content_hash` (Dropbox): the channel's fast path
    /// proves prefixes with the hash state instead of a tail re-read.
    pub content_hash: bool,
}

/// Texts typed again and again, in spellings that normalise to the same line.
pub const REPEATED: &[&str] = &[
    "progress:",
    "progress:  ",
    "Progress:",
    "\u{feff}progress:",
    "rend:-s 1 a.mb",
    "Rend:-s 1 a.mb",
    "rend:\u{2014}s 1 a.mb",
    "rend:-s  1 a.mb",
    "rend:-s 2 a.mb",
    "rend:a.mb",
    "rend:b.mb",
    "rend@box1:-s 1 a.mb",
];

/// Lines that are rejected, ignored, or not text at all.
pub const GARBAGE: &[&[u8]] = &[
    b"rend:\xff\xfe",
    b"\xff",
    b"\xfe",
    b"rend:\0x",
    b"explode: now",
    b"hello",
    b"rend:-preRender x a.mb",
    b"rend:-s \"1 a.mb",
    b"rend:-s 1\ra.mb",
    b"# a note",
    b"",
    b"   ",
];

pub fn rewritten(old: &[u8], r: &Rewrite) -> Vec<u8> {
    let mut kept: Vec<Vec<u8>> = lines(old)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| r.keep.is_empty() || r.keep[i % r.keep.len()])
        .map(|(i, l)| {
            // The phone shows text: no line ending, no BOM.
            let mut l = l.strip_suffix(b"\r").unwrap_or(l);
            if i == 0 {
                l = l.strip_prefix("\u{feff}".as_bytes()).unwrap_or(l);
            }
            if r.cosmetic { cosmetic(l) } else { l.to_vec() }
        })
        .collect();
    let at = r.at.index(kept.len() + 1);
    kept.splice(at..at, r.add.iter().map(|l| l.0.clone()));
    let eol: &[u8] = if r.crlf { b"\r\n" } else { b"\n" };
    let mut out = Vec::new();
    if r.bom {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    for (i, l) in kept.iter().enumerate() {
        out.extend_from_slice(l);
        if i + 1 < kept.len() || r.final_newline {
            out.extend_from_slice(eol);
        }
    }
    out
}

/// What phone keyboards do to a line of text.
pub fn cosmetic(l: &[u8]) -> Vec<u8> {
    let Ok(s) = std::str::from_utf8(l) else {
        return l.to_vec();
    };
    let mut chars = s.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .collect();
    out.push_str(&chars.as_str().replacen(" -", " \u{2013}", 1));
    out.push_str("  ");
    out.into_bytes()
}

pub fn copy_name(naming: u8, n: u32) -> String {
    match naming % 3 {
        0 if n == 0 => "commands (conflicted copy).txt".to_string(),
        0 => format!("commands (conflicted copy {n}).txt"),
        1 => format!("commands (Jane's conflicted copy 2026-11-22 {n}).txt"),
        _ => format!("commands.sync-conflict-20261122-1015{n:02}-ABC.txt"),
    }
}
