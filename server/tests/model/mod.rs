//! The reconciler model: a synced folder, a node (channel + ledger) driven
//! like the real one, and beside them a model that names every line by the
//! identity rule and checks the node against it. Used by
//! tests/reconciler_model.rs (proptest) and fuzz/fuzz_targets/reconciler.rs
//! (cargo-fuzz). See tests/reconciler_model.rs for what is checked.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::io::Write as _;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use droprender_node::channel::{Channel, NewLine, Plan, QUIET};
use droprender_node::ledger::Ledger;
use droprender_shared::command::{ParseError, parse_normalized};
use droprender_shared::files::{self, COMMANDS, Source};
use droprender_shared::normalize::{Normalized, normalize_line};
use droprender_storage::{Folder, MemFolder};

/// An index into whatever list exists when the operation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick(pub usize);

impl Pick {
    /// Panics when `len` is 0, like a slice index.
    pub fn index(self, len: usize) -> usize {
        assert!(len > 0, "pick from an empty list");
        self.0 % len
    }
}

// ---------------------------------------------------------------------------
// Identities, as the rule defines them.

/// What a line is, for the identity rule: its normalised text, or for a line
/// that is not text (invalid UTF-8, NUL, too long) its lossy rendering, as
/// channel.rs names such lines (both without the `\r` of a CRLF ending).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Text(String),
    Raw(String),
}

/// (what the line says, its occurrence number among equal lines of one file)
pub type Id = (Key, u32);

pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// The key of one raw line (without `\n`); `None` for blanks and comments.
pub fn key(raw: &[u8]) -> Option<Key> {
    // The `\r` of a CRLF ending belongs to the ending.
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    match normalize_line(raw) {
        Ok(Normalized::Ignored) => None,
        Ok(Normalized::Text(t)) => Some(Key::Text(t)),
        Err(_) => Some(Key::Raw(lossy(raw))),
    }
}

pub fn key_of(nl: &NewLine) -> Key {
    if matches!(nl.parsed, Err(ParseError::Line(_))) {
        Key::Raw(nl.text.clone())
    } else {
        Key::Text(nl.text.clone())
    }
}

/// A file's lines without their `\n`; an unterminated last line is included.
pub fn lines(buf: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = buf.split(|b| *b == b'\n').collect();
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

/// Every command line of a file, with its line number and identity.
pub fn identities(buf: &[u8]) -> Vec<(usize, Id)> {
    let mut occ: HashMap<Key, u32> = HashMap::new();
    let mut out = Vec::new();
    for (i, raw) in lines(buf).into_iter().enumerate() {
        if let Some(k) = key(raw) {
            let n = occ.entry(k.clone()).or_insert(0);
            *n += 1;
            out.push((i + 1, (k, *n)));
        }
    }
    out
}

/// A file's bytes for a failure report, long lines shortened.
pub fn show(buf: &[u8]) -> String {
    buf.split_inclusive(|b| *b == b'\n')
        .map(|l| {
            if l.len() > 60 {
                format!("{}…({} bytes)\n", l[..20].escape_ascii(), l.len())
            } else {
                l.escape_ascii().to_string()
            }
        })
        .collect()
}

pub fn is_open(buf: &[u8]) -> bool {
    !buf.is_empty() && !buf.ends_with(b"\n")
}

/// Appends whole lines the way a careful writer does: first ending a final
/// line that has no newline, so no two lines are ever glued together.
pub fn append_lines(buf: &mut Vec<u8>, add: &[Raw], crlf: bool) {
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    if is_open(buf) {
        buf.extend_from_slice(eol);
    }
    for l in add {
        buf.extend_from_slice(&l.0);
        buf.extend_from_slice(eol);
    }
}

// ---------------------------------------------------------------------------
// What users, phones and sync engines do.

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

// ---------------------------------------------------------------------------
// The world: a folder, a node (channel + ledger), and the model.

/// MemFolder's futures are always ready.
pub fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("MemFolder never waits"),
    }
}

/// A state dir on tmpfs when there is one: the ledger fsyncs every commit.
pub fn state_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new().prefix("droprender-model-").clone();
    if shm.is_dir()
        && let Ok(d) = b.tempdir_in(shm)
    {
        return d;
    }
    b.tempdir().expect("tempdir")
}

pub const JOURNAL: &str = "journal.log";

/// commands.txt stops growing at about this size, below `ledger::TAIL` (64 KiB):
/// up to `TAIL` bytes the fast path checks everything it consumed, above it
/// only the last `TAIL` bytes, a fingerprint that a rewrite far enough back
/// can fool (a known limit, not part of the rule this test holds it to).
pub const MAX_MAIN: usize = 32 * 1024;

/// A journal record as the ledger writes it, to be torn at some byte.
pub const TORN: &[u8] = r#"{"t":"ingest","src":"commands (Jérôme's conflicted copy).txt","cursor":{"offset":15,"tail":1,"lines":1,"version":"7","open_line":false},"counts":[],"jobs":[],"controls":[]}"#.as_bytes();

#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub cases: u64,
    pub ops: u64,
    pub executed: u64,
    pub rejected: u64,
    pub duplicated: u64,
    pub lost: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum How {
    Commit,
    /// The node dies before the commit's fsync.
    Drop,
    /// A rebase dies after its snapshot, before the journal is emptied.
    CrashAfterSnapshot,
}

pub struct World {
    dir: tempfile::TempDir,
    folder: MemFolder,
    ledger: Option<Ledger>,
    chan: Channel,
    now: Instant,
    /// Every version commands.txt had, for conflicts to fork from.
    versions: Vec<Vec<u8>>,
    copies_made: u32,
    /// Accepted identities (durably): true = a command, false = rejected.
    done: HashMap<Id, bool>,
    /// Identities in the folder at the very first scan.
    history: HashSet<Id>,
    stats: Stats,
}

impl World {
    fn new(s: &Scenario) -> Result<Self, String> {
        let mut initial = Vec::new();
        append_lines(&mut initial, &s.initial, false);
        if !s.initial_newline && initial.ends_with(b"\n") {
            initial.pop();
        }
        let folder = if s.content_hash {
            MemFolder::with_content_hash()
        } else {
            MemFolder::new()
        };
        folder.put(COMMANDS, initial.clone());
        let dir = state_dir();
        let ledger = Ledger::open(dir.path()).map_err(|e| e.to_string())?;
        let mut w = World {
            dir,
            folder,
            ledger: Some(ledger),
            chan: Channel::new(),
            now: Instant::now(),
            versions: vec![initial],
            copies_made: 0,
            done: HashMap::new(),
            history: HashSet::new(),
            stats: Stats::default(),
        };
        // The first start: whatever is there now is history.
        for src in w.sources() {
            if let Some(buf) = w.folder.get(src.file_name()) {
                w.history
                    .extend(identities(&buf).into_iter().map(|(_, id)| id));
            }
        }
        w.scan_all(How::Commit)?;
        Ok(w)
    }

    fn ledger(&mut self) -> &mut Ledger {
        self.ledger.as_mut().expect("the ledger is open")
    }

    fn main(&self) -> Vec<u8> {
        self.folder.get(COMMANDS).unwrap_or_default()
    }

    fn noted(&mut self) {
        let v = self.main();
        if self.versions.last() != Some(&v) {
            self.versions.push(v);
        }
    }

    fn copies(&self) -> Vec<String> {
        let mut v: Vec<String> = ready(self.folder.list())
            .expect("list")
            .into_iter()
            .filter(|e| matches!(files::classify(&e.name), Some(Source::Copy(_))))
            .map(|e| e.name)
            .collect();
        v.sort();
        v
    }

    /// The node's order: commands.txt first, then each copy.
    fn sources(&self) -> Vec<Source> {
        let mut v = vec![Source::Main];
        v.extend(self.copies().into_iter().map(Source::Copy));
        v
    }

    fn crash(&mut self) -> Result<(), String> {
        self.ledger = None;
        self.chan = Channel::new();
        let l = Ledger::open(self.dir.path()).map_err(|e| format!("reopen: {e}"))?;
        self.ledger = Some(l);
        Ok(())
    }

    /// Scans one source like the node; checks the plan against the model.
    /// Returns (new lines, whether the node crashed).
    fn scan(&mut self, src: &Source, how: How) -> Result<(usize, bool), String> {
        let name = src.file_name().to_string();
        let content = self.folder.get(&name);
        let now = self.now;
        let ledger = self.ledger.as_ref().expect("the ledger is open");
        let plan: Option<Plan> = ready(self.chan.scan(&self.folder, ledger, src, now))
            .map_err(|e| format!("scan {name}: {e}"))?;
        let Some(plan) = plan else {
            return Ok((0, false));
        };
        let buf = content.ok_or_else(|| format!("a plan for {name}, which does not exist"))?;
        let ids = identities(&buf);
        let at = |lineno: u64| {
            ids.iter()
                .find(|(n, _)| *n as u64 == lineno)
                .map(|(_, id)| id)
        };
        if plan.history && !plan.new_lines.is_empty() {
            return Err(format!("history plan for {name} has new lines"));
        }
        let mut fresh: Vec<(Id, bool)> = Vec::new();
        for nl in &plan.new_lines {
            let want = key_of(nl);
            let Some(id) = at(nl.lineno).filter(|id| id.0 == want) else {
                return Err(format!(
                    "{name}: new line {:?} reported at line {}, which holds {:?}\n{}",
                    nl.text,
                    nl.lineno,
                    lines(&buf).get(nl.lineno as usize - 1).map(|l| show(l)),
                    show(&buf)
                ));
            };
            let ok = match &want {
                Key::Text(t) => parse_normalized(t).is_ok(),
                Key::Raw(_) => false,
            };
            if ok != nl.parsed.is_ok() {
                return Err(format!(
                    "{name}: verdict for {:?} is not the parser's",
                    nl.text
                ));
            }
            if self.done.contains_key(id)
                || self.history.contains(id)
                || fresh.iter().any(|(f, _)| f == id)
            {
                self.stats.duplicated += 1;
                return Err(format!(
                    "DUPLICATE: {id:?} accepted again from line {} of {name}\n{}",
                    nl.lineno,
                    show(&buf)
                ));
            }
            fresh.push((id.clone(), ok));
        }
        for (lineno, text) in &plan.repeats {
            match at(*lineno) {
                Some(id) if self.done.contains_key(id) || self.history.contains(id) => {}
                other => {
                    return Err(format!(
                        "{name}: line {lineno} ({text:?}, {other:?}) skipped as already run, but it never ran\n{}",
                        show(&buf)
                    ));
                }
            }
        }
        let n = fresh.len();
        let mut crashed = false;
        match (how, plan.rebase) {
            (How::Drop, _) => return Ok((0, false)),
            (How::CrashAfterSnapshot, Some(table)) => {
                let jpath = self.dir.path().join(JOURNAL);
                let saved = std::fs::read(&jpath).unwrap_or_default();
                self.ledger()
                    .rebase(plan.batch, table)
                    .map_err(|e| e.to_string())?;
                // The snapshot is durable; the journal's truncation never happened.
                std::fs::write(&jpath, saved).map_err(|e| e.to_string())?;
                crashed = true;
            }
            (_, Some(table)) => self
                .ledger()
                .rebase(plan.batch, table)
                .map_err(|e| e.to_string())?,
            (_, None) => self
                .ledger()
                .commit(plan.batch)
                .map_err(|e| e.to_string())?,
        }
        for (id, ok) in fresh {
            if ok {
                self.stats.executed += 1;
            } else {
                self.stats.rejected += 1;
            }
            self.done.insert(id, ok);
        }
        if crashed {
            self.crash()?;
        }
        Ok((n, crashed))
    }

    fn scan_all(&mut self, how: How) -> Result<usize, String> {
        let mut n = 0;
        for src in self.sources() {
            let (k, crashed) = self.scan(&src, how)?;
            n += k;
            if crashed {
                return Ok(n);
            }
        }
        if how != How::Drop && self.ledger().is_fresh() {
            self.ledger()
                .mark_initialized()
                .map_err(|e| e.to_string())?;
        }
        Ok(n)
    }

    fn apply(&mut self, op: &Op) -> Result<(), String> {
        let grows = matches!(
            op,
            Op::Append { .. }
                | Op::Partial { .. }
                | Op::NoNewline(_)
                | Op::Conflict(_)
                | Op::Merge { .. }
        );
        if grows && self.main().len() > MAX_MAIN {
            return Ok(());
        }
        match op {
            Op::Append { lines, crlf } => {
                let mut buf = self.main();
                let len = buf.len();
                append_lines(&mut buf, lines, *crlf);
                self.folder.push(COMMANDS, &buf[len..]);
            }
            Op::Partial {
                line,
                cut,
                scan_between,
            } => {
                let mut whole = Vec::new();
                if is_open(&self.main()) {
                    whole.push(b'\n');
                }
                whole.extend_from_slice(&line.0);
                whole.push(b'\n');
                let cut = cut.index(whole.len() + 1);
                self.folder.push(COMMANDS, &whole[..cut]);
                if *scan_between {
                    self.scan(&Source::Main, How::Commit)?;
                }
                self.folder.push(COMMANDS, &whole[cut..]);
            }
            Op::NoNewline(line) => {
                let mut add = Vec::new();
                if is_open(&self.main()) {
                    add.push(b'\n');
                }
                add.extend_from_slice(&line.0);
                self.folder.push(COMMANDS, &add);
            }
            Op::Quiet => self.now += QUIET,
            Op::Rewrite(r) => {
                let new = rewritten(&self.main(), r);
                self.folder.put(COMMANDS, new);
            }
            Op::Conflict(c) => {
                let pick = |back: usize| {
                    let len = self.versions.len();
                    self.versions[len - 1 - back % len.min(3)].clone()
                };
                let mut main = pick(c.main_base);
                append_lines(&mut main, &c.main_add, false);
                let mut copy = pick(c.copy_base);
                append_lines(&mut copy, &c.copy_add, false);
                if !c.final_newline && copy.ends_with(b"\n") {
                    copy.pop();
                }
                let name = copy_name(c.naming, self.copies_made);
                self.copies_made += 1;
                assert_eq!(files::classify(&name), Some(Source::Copy(name.clone())));
                self.folder.put(COMMANDS, main);
                self.folder.put(&name, copy);
            }
            Op::Merge { copy, last, delete } => {
                let copies = self.copies();
                if !copies.is_empty() {
                    let name = &copies[copy.index(copies.len())];
                    let buf = self.folder.get(name).unwrap_or_default();
                    let ls = lines(&buf);
                    let take: Vec<Raw> = ls[ls.len().saturating_sub(*last)..]
                        .iter()
                        .map(|l| Raw(l.strip_suffix(b"\r").unwrap_or(l).to_vec()))
                        .collect();
                    let mut main = self.main();
                    let len = main.len();
                    append_lines(&mut main, &take, false);
                    self.folder.push(COMMANDS, &main[len..]);
                    if *delete {
                        self.folder.remove(name);
                    }
                }
            }
            Op::DeleteCopy(i) => {
                let copies = self.copies();
                if !copies.is_empty() {
                    self.folder.remove(&copies[i.index(copies.len())]);
                }
            }
            Op::Touch => {
                if let Some(b) = self.folder.get(COMMANDS) {
                    self.folder.put(COMMANDS, b);
                }
            }
            Op::DeleteMain => self.folder.remove(COMMANDS),
            Op::Scan(Which::All) => {
                self.scan_all(How::Commit)?;
            }
            Op::Scan(Which::Main) => {
                self.scan(&Source::Main, How::Commit)?;
            }
            Op::Scan(Which::Copy(i)) => {
                let copies = self.copies();
                if !copies.is_empty() {
                    let src = Source::Copy(copies[i.index(copies.len())].clone());
                    self.scan(&src, How::Commit)?;
                }
            }
            Op::Crash(Crash::Clean) => self.crash()?,
            Op::Crash(Crash::BeforeCommit) => {
                self.scan_all(How::Drop)?;
                self.crash()?;
            }
            Op::Crash(Crash::TornJournal(cut)) => {
                self.scan(&Source::Main, How::Drop)?;
                let mut j = std::fs::OpenOptions::new()
                    .append(true)
                    .open(self.dir.path().join(JOURNAL))
                    .map_err(|e| e.to_string())?;
                j.write_all(&TORN[..cut.index(TORN.len())])
                    .map_err(|e| e.to_string())?;
                drop(j);
                self.crash()?;
            }
            Op::Crash(Crash::AfterSnapshot) => {
                let mut crashed = false;
                for src in self.sources() {
                    if self.scan(&src, How::CrashAfterSnapshot)?.1 {
                        crashed = true;
                        break;
                    }
                }
                if !crashed {
                    self.crash()?;
                }
            }
        }
        self.noted();
        Ok(())
    }

    /// The last scans, with the quiet period elapsed, then check (b).
    fn finish(&mut self) -> Result<(), String> {
        self.scan_all(How::Commit)?;
        self.now += QUIET;
        self.scan_all(How::Commit)?;
        let more = self.scan_all(How::Commit)?;
        if more > 0 {
            return Err(format!("{more} new line(s) only on a third final scan"));
        }
        for src in self.sources() {
            let name = src.file_name();
            let Some(buf) = self.folder.get(name) else {
                continue;
            };
            for (lineno, id) in identities(&buf) {
                if !self.done.contains_key(&id) && !self.history.contains(&id) {
                    self.stats.lost += 1;
                    return Err(format!(
                        "LOST: line {lineno} of {name}, {id:?}, was never accepted\n{}",
                        show(&buf)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Plays one scenario to its end; the statistics, and the first violation.
pub fn run(s: &Scenario) -> (Stats, Result<(), String>) {
    let mut w = match World::new(s) {
        Ok(w) => w,
        Err(e) => return (Stats::default(), Err(e)),
    };
    let mut result = Ok(());
    for (i, op) in s.ops.iter().enumerate() {
        w.stats.ops += 1;
        if let Err(e) = w.apply(op) {
            result = Err(format!("after op {i} {op:?}: {e}"));
            break;
        }
    }
    if result.is_ok() {
        result = w.finish().map_err(|e| format!("at the final scan: {e}"));
    }
    (w.stats, result)
}
