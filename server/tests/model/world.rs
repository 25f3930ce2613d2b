//! The world: a folder, a node (channel + ledger), and the model.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Write as _;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use droprender_node::channel::{Channel, Plan, QUIET};
use droprender_node::ledger::Ledger;
use droprender_shared::command::parse_normalized;
use droprender_shared::files::{self, COMMANDS, Source};
use droprender_storage::{Folder, MemFolder};

use super::*;

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
