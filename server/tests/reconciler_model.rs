//! A model-based test of the command-log reconciler (`channel` + `ledger`).
//!
//! Random histories of a synced folder (appends, lines arriving in pieces,
//! phones that rewrite commands.txt or save it without the final newline,
//! sync-engine conflicted copies, garbage lines, crashes) are played against
//! the real [`Channel::scan`] and [`Ledger`], driven the way the node drives
//! them: scan, then `rebase` or `commit` the plan, then `mark_initialized`
//! after the first scan.
//!
//! Beside them runs a model that never looks at the ledger. It knows every
//! byte of every command file, and names each line by the identity rule of
//! shared/reference/command-channel.md: (normalised text, occurrence number
//! among the equal lines of that file). Consequences of the rule it respects:
//! re-adding a line that a rewrite deleted is an occurrence that already ran;
//! the same text at the same occurrence on two devices is one command. It
//! checks:
//!
//! (a) no identity is accepted twice over the whole run, restarts included (a
//!     plan's lines count as accepted once their commit is durable), and a
//!     line skipped as "already ran" really did;
//! (b) after a final scan with the quiet period elapsed, every line of every
//!     command file has been accepted, as a command or as a rejection with a
//!     parse error, or was history at the first start: exactly once with (a);
//! (c) nothing panics, every new line's number points at that line, and one
//!     more scan finds nothing.
//!
//! `DROPRENDER_LONG=1` runs 20 000 cases instead of 256 (`PROPTEST_CASES`
//! sets any other number).

use std::cell::RefCell;
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
use droprender_shared::storage::{Folder, MemFolder};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

// ---------------------------------------------------------------------------
// Identities, as the rule defines them.

/// What a line is, for the identity rule: its normalised text, or for a line
/// that is not text (invalid UTF-8, NUL, too long) its lossy rendering, as
/// channel.rs names such lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Text(String),
    Raw(String),
}

/// (what the line says, its occurrence number among equal lines of one file)
type Id = (Key, u32);

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// The key of one raw line (without `\n`); `None` for blanks and comments.
fn key(raw: &[u8]) -> Option<Key> {
    match normalize_line(raw) {
        Ok(Normalized::Ignored) => None,
        Ok(Normalized::Text(t)) => Some(Key::Text(t)),
        Err(_) => Some(Key::Raw(lossy(raw))),
    }
}

fn key_of(nl: &NewLine) -> Key {
    if matches!(nl.parsed, Err(ParseError::Line(_))) {
        Key::Raw(nl.text.clone())
    } else {
        Key::Text(nl.text.clone())
    }
}

/// A file's lines without their `\n`; an unterminated last line is included.
fn lines(buf: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = buf.split(|b| *b == b'\n').collect();
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

/// Every command line of a file, with its line number and identity.
fn identities(buf: &[u8]) -> Vec<(usize, Id)> {
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
fn show(buf: &[u8]) -> String {
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

fn is_open(buf: &[u8]) -> bool {
    !buf.is_empty() && !buf.ends_with(b"\n")
}

/// Appends whole lines the way a careful writer does: first ending a final
/// line that has no newline, so no two lines are ever glued together.
fn append_lines(buf: &mut Vec<u8>, add: &[Raw], crlf: bool) {
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
struct Raw(Vec<u8>);

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
enum Op {
    /// The laptop CLI (or a sync engine) appends whole lines.
    Append {
        lines: Vec<Raw>,
        crlf: bool,
    },
    /// A line arrives in two pieces; the node may scan in between.
    Partial {
        line: Raw,
        cut: Index,
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
        copy: Index,
        last: usize,
        delete: bool,
    },
    DeleteCopy(Index),
    /// commands.txt saved again unchanged (a new version, the same bytes).
    Touch,
    DeleteMain,
    Scan(Which),
    Crash(Crash),
}

#[derive(Debug, Clone)]
enum Which {
    /// What the node does at start-up, on `Rescan` and on its reconcile timer.
    All,
    Main,
    Copy(Index),
}

#[derive(Debug, Clone, Copy)]
enum Crash {
    /// Between two scans.
    Clean,
    /// After scanning, before the commit's fsync: nothing was acted on.
    BeforeCommit,
    /// During the commit's journal write: a record torn at any byte.
    TornJournal(Index),
    /// Inside a rewrite's rebase, after the new snapshot was renamed into
    /// place (and the directory synced) but before the journal was emptied.
    AfterSnapshot,
}

#[derive(Debug, Clone)]
struct Rewrite {
    /// Which lines survive (cycled; empty keeps all).
    keep: Vec<bool>,
    /// New lines, inserted together at `at`.
    add: Vec<Raw>,
    at: Index,
    crlf: bool,
    bom: bool,
    final_newline: bool,
    /// Capital first letter, an en dash for `-`, trailing spaces.
    cosmetic: bool,
}

#[derive(Debug, Clone)]
struct Conflict {
    /// How many versions back each side started from (0 = the current one).
    main_base: usize,
    copy_base: usize,
    main_add: Vec<Raw>,
    copy_add: Vec<Raw>,
    naming: u8,
    final_newline: bool,
}

#[derive(Debug, Clone)]
struct Scenario {
    /// commands.txt before the first start: history.
    initial: Vec<Raw>,
    initial_newline: bool,
    ops: Vec<Op>,
}

/// Texts typed again and again, in spellings that normalise to the same line.
const REPEATED: &[&str] = &[
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
const GARBAGE: &[&[u8]] = &[
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

fn line() -> impl Strategy<Value = Raw> {
    prop_oneof![
        6 => prop::sample::select(REPEATED).prop_map(|s| Raw(s.as_bytes().to_vec())),
        3 => (1u32..300, 0u8..3)
            .prop_map(|(n, s)| Raw(format!("rend:-s {n} -e {n} shot{s}.mb").into_bytes())),
        2 => prop::sample::select(GARBAGE).prop_map(|b| Raw(b.to_vec())),
        1 => prop::collection::vec(any::<u8>(), 0..12)
            .prop_map(|v| Raw(v.into_iter().filter(|b| *b != b'\n').collect())),
        1 => (prop::sample::select(&[4096usize, 4097, 5000][..]), b'a'..=b'c')
            .prop_map(|(n, c)| Raw(vec![c; n])),
    ]
}

fn some_lines(max: usize) -> impl Strategy<Value = Vec<Raw>> {
    prop::collection::vec(line(), 0..=max)
}

fn op() -> impl Strategy<Value = Op> {
    let rewrite = (
        prop::collection::vec(prop::bool::weighted(0.8), 0..8),
        some_lines(3),
        any::<Index>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
        any::<bool>(),
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(keep, add, at, crlf, bom, final_newline, cosmetic)| Rewrite {
                keep,
                add,
                at,
                crlf,
                bom,
                final_newline,
                cosmetic,
            },
        );
    let conflict = (
        0usize..3,
        0usize..3,
        some_lines(3),
        some_lines(3),
        any::<u8>(),
        prop::bool::weighted(0.8),
    )
        .prop_map(
            |(main_base, copy_base, main_add, copy_add, naming, final_newline)| Conflict {
                main_base,
                copy_base,
                main_add,
                copy_add,
                naming,
                final_newline,
            },
        );
    let crash = prop_oneof![
        Just(Crash::Clean),
        Just(Crash::BeforeCommit),
        any::<Index>().prop_map(Crash::TornJournal),
        Just(Crash::AfterSnapshot),
    ];
    let which = prop_oneof![
        2 => Just(Which::All),
        2 => Just(Which::Main),
        1 => any::<Index>().prop_map(Which::Copy),
    ];
    prop_oneof![
        8 => (some_lines(4), prop::bool::weighted(0.2))
            .prop_map(|(lines, crlf)| Op::Append { lines, crlf }),
        2 => (line(), any::<Index>(), any::<bool>())
            .prop_map(|(line, cut, scan_between)| Op::Partial { line, cut, scan_between }),
        2 => line().prop_map(Op::NoNewline),
        2 => Just(Op::Quiet),
        3 => rewrite.prop_map(Op::Rewrite),
        2 => conflict.prop_map(Op::Conflict),
        1 => (any::<Index>(), 1usize..4, any::<bool>())
            .prop_map(|(copy, last, delete)| Op::Merge { copy, last, delete }),
        1 => any::<Index>().prop_map(Op::DeleteCopy),
        1 => Just(Op::Touch),
        1 => Just(Op::DeleteMain),
        8 => which.prop_map(Op::Scan),
        2 => crash.prop_map(Op::Crash),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop_oneof![3 => Just(Vec::new()), 1 => some_lines(4)],
        prop::bool::weighted(0.8),
        prop::collection::vec(op(), 1..48),
    )
        .prop_map(|(initial, initial_newline, ops)| Scenario {
            initial,
            initial_newline,
            ops,
        })
}

fn rewritten(old: &[u8], r: &Rewrite) -> Vec<u8> {
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
fn cosmetic(l: &[u8]) -> Vec<u8> {
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

fn copy_name(naming: u8, n: u32) -> String {
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
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("MemFolder never waits"),
    }
}

/// A state dir on tmpfs when there is one: the ledger fsyncs every commit.
fn state_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new().prefix("droprender-model-").clone();
    if shm.is_dir()
        && let Ok(d) = b.tempdir_in(shm)
    {
        return d;
    }
    b.tempdir().expect("tempdir")
}

const JOURNAL: &str = "journal.log";

/// A journal record as the ledger writes it, to be torn at some byte.
const TORN: &[u8] = r#"{"t":"ingest","src":"commands (Jérôme's conflicted copy).txt","cursor":{"offset":15,"tail":1,"lines":1,"version":"7","open_line":false},"counts":[],"jobs":[],"controls":[]}"#.as_bytes();

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    cases: u64,
    ops: u64,
    executed: u64,
    rejected: u64,
    duplicated: u64,
    lost: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    Commit,
    /// The node dies before the commit's fsync.
    Drop,
    /// A rebase dies after its snapshot, before the journal is emptied.
    CrashAfterSnapshot,
}

struct World {
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
        let folder = MemFolder::new();
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
                    lines(&buf)
                        .get(nl.lineno as usize - 1)
                        .map(|l| l.escape_ascii().to_string()),
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

fn run(s: &Scenario, total: &RefCell<Stats>) -> Result<(), TestCaseError> {
    let mut w = World::new(s).map_err(TestCaseError::fail)?;
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
    let mut t = total.borrow_mut();
    t.cases += 1;
    t.ops += w.stats.ops;
    t.executed += w.stats.executed;
    t.rejected += w.stats.rejected;
    t.duplicated += w.stats.duplicated;
    t.lost += w.stats.lost;
    result.map_err(TestCaseError::fail)
}

#[test]
fn reconciler_model() {
    let long = std::env::var("DROPRENDER_LONG").is_ok_and(|v| v == "1");
    let cases = match std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        _ if long => 20_000,
        Some(n) => n,
        None => 256,
    };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let total = RefCell::new(Stats::default());
    let result = runner.run(&scenario(), |s| run(&s, &total));
    let t = *total.borrow();
    // Straight to stderr, so the figures show without --nocapture.
    let _ = writeln!(
        std::io::stderr(),
        "reconciler model: cases: {}, operations: {}, executed: {}, rejected: {}, duplicated: {}, lost: {}",
        t.cases,
        t.ops,
        t.executed,
        t.rejected,
        t.duplicated,
        t.lost
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
