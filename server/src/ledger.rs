//! The ledger: what the node has consumed and decided, made durable before
//! anything is acted on.
//!
//! A command's identity is (normalised text, occurrence number among equal
//! lines). The ledger keeps, per text hash, how many occurrences have been
//! accepted (`seen`) and how many of those the current commands.txt lacks
//! (`deficit`, after a rewrite deleted lines or a conflicted copy added some),
//! so commands.txt's own count is `seen - deficit` without storing any text.
//!
//! On disk (the state dir): `ledger.snap`, a snapshot, and `journal.log`, JSON
//! records appended and fsynced since it. Start-up loads the snapshot, replays
//! the journal, and compacts both into a new snapshot.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use siphasher::sip128::{Hasher128, SipHasher13};
use thiserror::Error;

const SNAP: &str = "ledger.snap";
const JOURNAL: &str = "journal.log";
const MAGIC: &[u8; 10] = b"DRLEDGER1\n";
/// Compact when the journal has this many records.
const COMPACT_AFTER: usize = 10_000;

#[derive(Debug, Error)]
pub enum LedgerError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the ledger {path} is damaged ({why}); move the state dir aside to start fresh (commands already in commands.txt will then count as history)"
    )]
    Corrupt { path: PathBuf, why: String },
    #[error("cannot encode a ledger record: {0} (a bug: please report it)")]
    Encode(String),
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LedgerError {
    let path = path.to_path_buf();
    move |source| LedgerError::Io { op, path, source }
}

/// Per text: accepted occurrences, and how many of them commands.txt lacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub seen: u32,
    pub deficit: u32,
}

/// A rewritten command file, for [`Ledger::rebase`]: per text hash, its
/// occurrences in the file and its count.
pub type Rewrite = HashMap<u128, (u32, Count)>;

/// How far a command file has been consumed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Bytes consumed (always at a line boundary, or the file's end after an
    /// unterminated final line was accepted).
    pub offset: u64,
    /// Hash of the up to [`TAIL`] bytes before `offset`.
    pub tail: u64,
    /// Lines consumed, for LOG line numbers.
    pub lines: u64,
    /// The version last read; unchanged means nothing to do.
    pub version: String,
    /// True when the last consumed line had no newline (accepted after the quiet period).
    #[serde(default)]
    pub open_line: bool,
    /// Where the folder reports `content_hash` (Dropbox): the resumable
    /// content-hash state of the consumed bytes
    /// ([`droprender_shared::storage::ContentHasher::encode`]), and `tail`
    /// is unused. It proves the prefix intact without fetching it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// Bytes of consumed tail that must match for the fast path.
///
/// Fix (found by tests/reconciler_model.rs): this was 256. A phone rewrite
/// that changes bytes further back than that but keeps the last 256 (an old
/// line edited to another of the same length, or a line added at the top
/// while the end is many equal lines) passed for an append: the edited
/// line never ran, the deleted one's occurrence was not recorded as missing,
/// so typing it again ran it twice. Now any file up to 64 KiB is checked in
/// full; only above that is the fast path a fingerprint of its last 64 KiB,
/// and each scan reads at most this much more than the new bytes.
pub const TAIL: u64 = 64 * 1024;

/// A running renderer, recorded so a restart can find and stop it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcRecord {
    pub pid: i32,
    /// Process start time (Linux: clock ticks since boot), to tell a recycled pid apart.
    pub start: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Finished,
    Failed,
    Interrupted,
    Cancelled,
}

impl JobState {
    pub fn word(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "rendering",
            JobState::Finished => "finished",
            JobState::Failed => "failed",
            JobState::Interrupted => "interrupted",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Finished | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A job as the ledger keeps it. The request itself is re-parsed from `line`:
/// the grammar is the serialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: u64,
    /// The normalised command text.
    pub line: String,
    /// Where it came from: `commands.txt` or a conflicted copy, and the line number.
    pub source: String,
    pub lineno: u64,
    pub state: JobState,
    pub submitted: String,
    #[serde(default)]
    pub started: Option<String>,
    #[serde(default)]
    pub ended: Option<String>,
    /// Seconds spent rendering across attempts.
    #[serde(default)]
    pub render_secs: f64,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub message: Option<String>,
    pub output_dir: PathBuf,
    #[serde(default)]
    pub frames_total: u64,
    #[serde(default)]
    pub frames_done: u64,
    #[serde(default)]
    pub proc: Option<ProcRecord>,
    /// Higher runs first (`priority:` changes it).
    #[serde(default)]
    pub priority: i32,
    /// Failed, stalled or timed-out attempts, for `retries=`.
    #[serde(default)]
    pub failures: u32,
    /// The Slurm job id of the current submission: a restart re-attaches to
    /// it instead of submitting again.
    #[serde(default)]
    pub slurm: Option<String>,
}

/// One line's verdict inside an ingest record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub id: u64,
    pub line: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Record {
    Ingest {
        src: String,
        cursor: Cursor,
        counts: Vec<(String, Count)>,
        jobs: Vec<JobRecord>,
        controls: Vec<Control>,
    },
    Job(JobRecord),
    ControlDone {
        id: u64,
    },
    Forget {
        jobs: Vec<u64>,
    },
    /// The first scan is done: from now on, lines in command files are new.
    Initialized,
    /// The journal's first record: the snapshot it follows (see [`Header::epoch`]).
    Epoch {
        n: u64,
    },
    /// `pause:` / `resume:` — survives restarts.
    Paused {
        paused: bool,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Header {
    key: (u64, u64),
    cursors: BTreeMap<String, Cursor>,
    next_job: u64,
    next_control: u64,
    jobs: BTreeMap<u64, JobRecord>,
    controls: BTreeMap<u64, String>,
    #[serde(default)]
    initialized: bool,
    #[serde(default)]
    paused: bool,
    entries: u64,
    /// Counts snapshots. The journal starts with an `Epoch` record naming the
    /// snapshot it continues; a journal of an older epoch is already inside
    /// this snapshot and must not be replayed (0: written before epochs).
    #[serde(default)]
    epoch: u64,
}

/// Changes from one ingest pass, applied in memory only after they are durable.
#[derive(Debug, Default)]
pub struct Batch {
    pub src: String,
    pub cursor: Cursor,
    pub counts: HashMap<u128, Count>,
    pub jobs: Vec<JobRecord>,
    pub controls: Vec<Control>,
}

pub struct Ledger {
    dir: PathBuf,
    key: (u64, u64),
    counts: HashMap<u128, Count>,
    cursors: BTreeMap<String, Cursor>,
    next_job: u64,
    next_control: u64,
    jobs: BTreeMap<u64, JobRecord>,
    controls: BTreeMap<u64, String>,
    journal: File,
    journal_records: usize,
    /// A failed append's start, when cutting its bytes off failed too.
    cut_to: Option<u64>,
    fresh: bool,
    epoch: u64,
    paused: bool,
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir`, replaying and compacting the journal.
    pub fn open(dir: &Path) -> Result<Self, LedgerError> {
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let snap = dir.join(SNAP);
        let (mut header, mut counts) = match File::open(&snap) {
            Ok(f) => read_snapshot(f, &snap)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = (rand::random(), rand::random());
                let h = Header {
                    key,
                    next_job: 1,
                    next_control: 1,
                    ..Default::default()
                };
                (h, HashMap::new())
            }
            Err(e) => return Err(io("open", &snap)(e)),
        };
        let jpath = dir.join(JOURNAL);
        if let Ok(mut f) = File::open(&jpath) {
            // Fix (found by tests/reconciler_model.rs): split bytes, not text.
            // `BufRead::lines` failed on a record torn inside a multi-byte
            // character (a job's scene name, a copy's name), so the node could
            // not start at all; such a last record is torn like any other.
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).map_err(io("read", &jpath))?;
            let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
            if lines.last().is_some_and(|l| l.is_empty()) {
                lines.pop();
            }
            let parse = |l: &[u8]| -> Result<Record, String> {
                let text = std::str::from_utf8(l).map_err(|e| e.to_string())?;
                serde_json::from_str(text).map_err(|e| e.to_string())
            };
            let n = lines.len();
            // Fix (found by tests/reconciler_model.rs): `compact` renames the
            // new snapshot into place and only then empties the journal. A
            // crash between the two left a journal whose records are older
            // than the snapshot; replaying them over it put back the counts
            // and cursor from before a rewrite's rebase, so the rewrite's new
            // lines ran again after the restart. Such a journal names an
            // older epoch than the snapshot: skip it. (A journal without an
            // epoch record predates epochs, or was already replayed by the
            // `open` that wrote this snapshot, which is harmless to repeat.)
            let stale = matches!(
                lines.first().map(|l| parse(l)),
                Some(Ok(Record::Epoch { n })) if n < header.epoch
            );
            for (i, line) in lines.iter().enumerate().filter(|_| !stale) {
                match parse(line) {
                    Ok(r) => apply(&mut header, &mut counts, r),
                    // A torn last record was never acted on: its fsync did not return.
                    Err(_) if i + 1 == n => {}
                    Err(e) => {
                        return Err(LedgerError::Corrupt {
                            path: jpath,
                            why: format!("record {} does not parse: {e}", i + 1),
                        });
                    }
                }
            }
        }
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&jpath)
            .map_err(io("open", &jpath))?;
        let mut ledger = Ledger {
            dir: dir.to_path_buf(),
            key: header.key,
            counts,
            cursors: header.cursors,
            next_job: header.next_job.max(1),
            next_control: header.next_control.max(1),
            jobs: header.jobs,
            controls: header.controls,
            journal,
            journal_records: 0,
            cut_to: None,
            fresh: !header.initialized,
            epoch: header.epoch,
            paused: header.paused,
        };
        ledger.compact()?;
        Ok(ledger)
    }

    /// True when no state existed before this start: commands.txt is history.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// The identity hash of a normalised command text (keyed per state dir).
    pub fn hash(&self, text: &str) -> u128 {
        let mut h = SipHasher13::new_with_keys(self.key.0, self.key.1);
        h.write(text.as_bytes());
        h.finish128().as_u128()
    }

    pub fn count(&self, h: u128) -> Count {
        self.counts.get(&h).copied().unwrap_or_default()
    }

    /// Every text hash with its count (the slow path walks them).
    pub fn counts(&self) -> impl Iterator<Item = (&u128, &Count)> {
        self.counts.iter()
    }

    pub fn cursor(&self, src: &str) -> Option<&Cursor> {
        self.cursors.get(src)
    }

    pub fn allocate_job(&mut self) -> u64 {
        let id = self.next_job;
        self.next_job += 1;
        id
    }

    pub fn allocate_control(&mut self) -> u64 {
        let id = self.next_control;
        self.next_control += 1;
        id
    }

    pub fn jobs(&self) -> &BTreeMap<u64, JobRecord> {
        &self.jobs
    }

    pub fn job(&self, id: u64) -> Option<&JobRecord> {
        self.jobs.get(&id)
    }

    /// Control commands accepted but not yet carried out (after a crash).
    pub fn pending_controls(&self) -> Vec<Control> {
        self.controls
            .iter()
            .map(|(id, line)| Control {
                id: *id,
                line: line.clone(),
            })
            .collect()
    }

    /// Makes an ingest pass durable, then applies it. Nothing in it may be
    /// acted on before this returns.
    pub fn commit(&mut self, batch: Batch) -> Result<(), LedgerError> {
        let rec = Record::Ingest {
            src: batch.src,
            cursor: batch.cursor,
            counts: batch
                .counts
                .into_iter()
                .map(|(h, c)| (format!("{h:032x}"), c))
                .collect(),
            jobs: batch.jobs,
            controls: batch.controls,
        };
        self.append(rec)
    }

    /// Records a job's new state durably.
    pub fn put_job(&mut self, job: JobRecord) -> Result<(), LedgerError> {
        self.append(Record::Job(job))
    }

    pub fn control_done(&mut self, id: u64) -> Result<(), LedgerError> {
        self.append(Record::ControlDone { id })
    }

    /// Drops old finished jobs from memory and the snapshot (LOG.txt keeps them).
    pub fn forget_jobs(&mut self, ids: Vec<u64>) -> Result<(), LedgerError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.append(Record::Forget { jobs: ids })
    }

    /// A rewrite of commands.txt (the slow path): `file` holds every text of
    /// the rewritten file with its occurrences there and its count; each
    /// text's deficit becomes `seen - occurrences`, and every text not in the
    /// file lacks all its occurrences (deficit = seen). Applies that and one
    /// cursor, as a snapshot.
    ///
    /// Perf (found by benches/bench.rs, history row): the channel used to
    /// send a full copy of the table (four maps of every text ever seen were
    /// alive during a rewrite); now the table is updated in place.
    pub fn rebase(&mut self, batch: Batch, file: Rewrite) -> Result<(), LedgerError> {
        for c in self.counts.values_mut() {
            c.deficit = c.seen;
        }
        // Grow once, not step by step (a first start adds every text at once).
        self.counts
            .reserve(file.len().saturating_sub(self.counts.len()));
        for (h, (n, mut c)) in file {
            c.deficit = c.seen.saturating_sub(n);
            self.counts.insert(h, c);
        }
        // Apply the rest of the batch (cursor, jobs, controls) without counts,
        // then snapshot: the new table is too big for one journal record.
        let mut header = self.header();
        let rec = Record::Ingest {
            src: batch.src,
            cursor: batch.cursor,
            counts: Vec::new(),
            jobs: batch.jobs,
            controls: batch.controls,
        };
        apply(&mut header, &mut self.counts, rec);
        self.load_header(header);
        self.compact()
    }

    /// Ends first-start mode: lines found from now on are commands, not history.
    pub fn mark_initialized(&mut self) -> Result<(), LedgerError> {
        if self.fresh {
            self.append(Record::Initialized)?;
            self.fresh = false;
        }
        Ok(())
    }

    fn append(&mut self, rec: Record) -> Result<(), LedgerError> {
        let path = self.dir.join(JOURNAL);
        let mut line = serde_json::to_vec(&rec).map_err(|e| LedgerError::Encode(e.to_string()))?;
        line.push(b'\n');
        // Fix (found by tests/reliability_faults.rs, state disk full): a
        // write that failed part-way (ENOSPC after the first bytes) left a
        // torn record in the journal, and the next record, written once
        // space was free, went on the same line. The node ran on, but at its
        // next start the journal "did not parse" in the middle and it
        // refused to start. A failed append now cuts the journal back to
        // where the record began (also after a failed fsync: that record was
        // not acted on, so it must not be replayed at the next start either).
        if let Some(at) = self.cut_to {
            self.journal.set_len(at).map_err(io("truncate", &path))?;
            self.cut_to = None;
        }
        let start = self.journal.metadata().map_err(io("stat", &path))?.len();
        let written = match self.journal.write_all(&line) {
            // Durable before acted on: this is the exactly-once guarantee.
            Ok(()) => self.journal.sync_data().map_err(io("sync", &path)),
            Err(e) => Err(io("write", &path)(e)),
        };
        if let Err(e) = written {
            if self.journal.set_len(start).is_err() {
                // Retried before the next record is written.
                self.cut_to = Some(start);
            }
            return Err(e);
        }
        let mut header = self.header();
        apply(&mut header, &mut self.counts, rec);
        self.load_header(header);
        self.journal_records += 1;
        if self.journal_records >= COMPACT_AFTER {
            self.compact()?;
        }
        Ok(())
    }

    fn header(&mut self) -> Header {
        Header {
            key: self.key,
            cursors: std::mem::take(&mut self.cursors),
            next_job: self.next_job,
            next_control: self.next_control,
            jobs: std::mem::take(&mut self.jobs),
            controls: std::mem::take(&mut self.controls),
            initialized: !self.fresh,
            paused: self.paused,
            entries: 0,
            epoch: self.epoch,
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Records `pause:` / `resume:` durably.
    pub fn set_paused(&mut self, paused: bool) -> Result<(), LedgerError> {
        self.append(Record::Paused { paused })
    }

    fn load_header(&mut self, h: Header) {
        self.paused = h.paused;
        self.cursors = h.cursors;
        self.next_job = h.next_job;
        self.next_control = h.next_control;
        self.jobs = h.jobs;
        self.controls = h.controls;
    }

    /// Writes a snapshot (temp file, fsync, rename, fsync dir) and empties the journal.
    pub fn compact(&mut self) -> Result<(), LedgerError> {
        self.epoch += 1;
        let snap = self.dir.join(SNAP);
        let tmp = self.dir.join(format!("{SNAP}.tmp"));
        let header = Header {
            key: self.key,
            cursors: self.cursors.clone(),
            next_job: self.next_job,
            next_control: self.next_control,
            jobs: self.jobs.clone(),
            controls: self.controls.clone(),
            initialized: !self.fresh,
            paused: self.paused,
            entries: self.counts.len() as u64,
            epoch: self.epoch,
        };
        {
            let f = File::create(&tmp).map_err(io("create", &tmp))?;
            // 24 bytes per text: a big buffer keeps a 1,000,000-text table
            // to a few dozen writes (perf, found by benches/bench.rs).
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            let hjson =
                serde_json::to_vec(&header).map_err(|e| LedgerError::Encode(e.to_string()))?;
            w.write_all(MAGIC).map_err(io("write", &tmp))?;
            w.write_all(&(hjson.len() as u64).to_le_bytes())
                .map_err(io("write", &tmp))?;
            w.write_all(&hjson).map_err(io("write", &tmp))?;
            for (h, c) in &self.counts {
                let mut rec = [0u8; 24];
                rec[..16].copy_from_slice(&h.to_le_bytes());
                rec[16..20].copy_from_slice(&c.seen.to_le_bytes());
                rec[20..].copy_from_slice(&c.deficit.to_le_bytes());
                w.write_all(&rec).map_err(io("write", &tmp))?;
            }
            let f = w
                .into_inner()
                .map_err(|e| io("write", &tmp)(e.into_error()))?;
            f.sync_all().map_err(io("sync", &tmp))?;
        }
        fs::rename(&tmp, &snap).map_err(io("rename", &snap))?;
        sync_dir(&self.dir)?;
        let jpath = self.dir.join(JOURNAL);
        self.journal = File::create(&jpath).map_err(io("truncate", &jpath))?;
        let mut first = serde_json::to_vec(&Record::Epoch { n: self.epoch }).map_err(|e| {
            LedgerError::Corrupt {
                path: jpath.clone(),
                why: e.to_string(),
            }
        })?;
        first.push(b'\n');
        self.journal
            .write_all(&first)
            .map_err(io("write", &jpath))?;
        self.journal.sync_all().map_err(io("sync", &jpath))?;
        self.journal = OpenOptions::new()
            .append(true)
            .open(&jpath)
            .map_err(io("open", &jpath))?;
        self.journal_records = 0;
        self.cut_to = None;
        Ok(())
    }

    /// Bytes of memory the count table holds, roughly (for benchmarks).
    pub fn approx_bytes(&self) -> usize {
        self.counts.capacity() * (16 + 8 + 8)
    }
}

fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync", dir))
}

fn apply(h: &mut Header, counts: &mut HashMap<u128, Count>, rec: Record) {
    match rec {
        Record::Ingest {
            src,
            cursor,
            counts: cs,
            jobs,
            controls,
        } => {
            for (hex, c) in cs {
                if let Ok(k) = u128::from_str_radix(&hex, 16) {
                    if c == Count::default() {
                        counts.remove(&k);
                    } else {
                        counts.insert(k, c);
                    }
                }
            }
            h.cursors.insert(src, cursor);
            for j in jobs {
                h.next_job = h.next_job.max(j.id + 1);
                h.jobs.insert(j.id, j);
            }
            for c in controls {
                h.next_control = h.next_control.max(c.id + 1);
                h.controls.insert(c.id, c.line);
            }
        }
        Record::Job(j) => {
            h.next_job = h.next_job.max(j.id + 1);
            h.jobs.insert(j.id, j);
        }
        Record::ControlDone { id } => {
            h.controls.remove(&id);
        }
        Record::Forget { jobs } => {
            for id in jobs {
                h.jobs.remove(&id);
            }
        }
        Record::Initialized => h.initialized = true,
        Record::Epoch { .. } => {}
        Record::Paused { paused } => h.paused = paused,
    }
}

fn read_snapshot(f: File, path: &Path) -> Result<(Header, HashMap<u128, Count>), LedgerError> {
    let corrupt = |why: &str| LedgerError::Corrupt {
        path: path.to_path_buf(),
        why: why.to_string(),
    };
    let mut r = std::io::BufReader::new(f);
    let mut magic = [0u8; 10];
    r.read_exact(&mut magic).map_err(|_| corrupt("too short"))?;
    if &magic != MAGIC {
        return Err(corrupt("not a droprender ledger"));
    }
    let mut len = [0u8; 8];
    r.read_exact(&mut len).map_err(|_| corrupt("too short"))?;
    let len = usize::try_from(u64::from_le_bytes(len)).map_err(|_| corrupt("bad header length"))?;
    if len > 1 << 30 {
        return Err(corrupt("bad header length"));
    }
    let mut hjson = vec![0u8; len];
    r.read_exact(&mut hjson)
        .map_err(|_| corrupt("truncated header"))?;
    let header: Header = serde_json::from_slice(&hjson).map_err(|e| corrupt(&e.to_string()))?;
    let mut counts =
        HashMap::with_capacity(usize::try_from(header.entries).unwrap_or(0).min(1 << 24));
    let mut rec = [0u8; 24];
    for _ in 0..header.entries {
        r.read_exact(&mut rec)
            .map_err(|_| corrupt("truncated entries"))?;
        let mut hb = [0u8; 16];
        hb.copy_from_slice(&rec[..16]);
        let seen = u32::from_le_bytes([rec[16], rec[17], rec[18], rec[19]]);
        let deficit = u32::from_le_bytes([rec[20], rec[21], rec[22], rec[23]]);
        counts.insert(u128::from_le_bytes(hb), Count { seen, deficit });
    }
    Ok((header, counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u64) -> JobRecord {
        JobRecord {
            id,
            line: "rend:-s 1 a.mb".into(),
            source: "commands.txt".into(),
            lineno: 1,
            state: JobState::Queued,
            submitted: "2026-11-22 10:00:00".into(),
            started: None,
            ended: None,
            render_secs: 0.0,
            attempts: 0,
            message: None,
            output_dir: PathBuf::from("/tmp/out"),
            frames_total: 1,
            frames_done: 0,
            proc: None,
            priority: 0,
            failures: 0,
            slurm: None,
        }
    }

    #[test]
    fn survives_reopen_with_and_without_compaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h;
        {
            let mut l = Ledger::open(dir.path()).expect("open");
            assert!(l.is_fresh());
            h = l.hash("progress:");
            let mut b = Batch {
                src: "commands.txt".into(),
                cursor: Cursor {
                    offset: 10,
                    lines: 1,
                    ..Default::default()
                },
                ..Default::default()
            };
            b.counts.insert(
                h,
                Count {
                    seen: 1,
                    deficit: 0,
                },
            );
            let id = l.allocate_job();
            b.jobs.push(job(id));
            l.commit(b).expect("commit");
            l.mark_initialized().expect("init");
            let mut j = job(id);
            j.state = JobState::Finished;
            l.put_job(j).expect("put");
        }
        let l = Ledger::open(dir.path()).expect("reopen");
        assert!(!l.is_fresh());
        assert_eq!(l.hash("progress:"), h, "the hash key persists");
        assert_eq!(
            l.count(h),
            Count {
                seen: 1,
                deficit: 0
            }
        );
        assert_eq!(l.cursor("commands.txt").map(|c| c.offset), Some(10));
        assert_eq!(l.job(1).map(|j| j.state), Some(JobState::Finished));
        drop(l);
        let mut l = Ledger::open(dir.path()).expect("reopen after compaction");
        assert_eq!(l.count(h).seen, 1);
        assert_eq!(l.allocate_job(), 2);
    }

    #[test]
    fn every_record_kind_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut l = Ledger::open(dir.path()).expect("open");
            l.set_paused(true).expect("pause");
            l.put_job(job(3)).expect("job");
            l.forget_jobs(vec![3]).expect("forget");
            l.control_done(1).expect("done");
            l.mark_initialized().expect("init");
        }
        let l = Ledger::open(dir.path()).expect("reopen");
        assert!(l.is_paused());
        assert!(!l.is_fresh());
        assert!(l.job(3).is_none());
    }

    #[test]
    fn a_torn_last_record_is_ignored_but_a_torn_middle_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(Ledger::open(dir.path()).expect("open"));
        let j = dir.path().join(JOURNAL);
        fs::write(&j, b"{\"t\":\"control_done\",\"id\":1}\n{\"t\":\"contr").expect("write");
        assert!(Ledger::open(dir.path()).is_ok());
        fs::write(&j, b"{\"t\":\"contr\n{\"t\":\"control_done\",\"id\":1}\n").expect("write");
        assert!(matches!(
            Ledger::open(dir.path()),
            Err(LedgerError::Corrupt { .. })
        ));
    }
}
