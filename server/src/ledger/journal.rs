//! The ledger on disk: `ledger.snap`, a snapshot (a JSON header, then the
//! count table as 24-byte binary records), and `journal.log`, JSON records
//! appended and fsynced since that snapshot. This module is the only one
//! that touches those files; what the records mean is [`super::State`]'s.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::record::{Count, Header, Record};
use super::state::State;

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

/// The open journal file.
pub(super) struct Journal {
    dir: PathBuf,
    file: File,
    records: usize,
    /// A failed append's start, when cutting its bytes off failed too.
    cut_to: Option<u64>,
}

impl Journal {
    /// Loads the snapshot and replays the journal over it.
    pub(super) fn open(dir: &Path) -> Result<(Journal, State), LedgerError> {
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let snap = dir.join(SNAP);
        let mut state = match File::open(&snap) {
            Ok(f) => {
                let (header, counts) = read_snapshot(f, &snap)?;
                State::from_header(header, counts)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                State::fresh((rand::random(), rand::random()))
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
                Some(Ok(Record::Epoch { n })) if n < state.epoch
            );
            for (i, line) in lines.iter().enumerate().filter(|_| !stale) {
                match parse(line) {
                    Ok(r) => state.apply(r),
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
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&jpath)
            .map_err(io("open", &jpath))?;
        let journal = Journal {
            dir: dir.to_path_buf(),
            file,
            records: 0,
            cut_to: None,
        };
        Ok((journal, state))
    }

    /// Appends records as one write and one fsync: durable together, or
    /// (after a crash mid-write) the torn tail is ignored at the next open.
    pub(super) fn append(&mut self, recs: &[Record]) -> Result<(), LedgerError> {
        let path = self.dir.join(JOURNAL);
        let mut bytes = Vec::new();
        for rec in recs {
            serde_json::to_writer(&mut bytes, rec)
                .map_err(|e| LedgerError::Encode(e.to_string()))?;
            bytes.push(b'\n');
        }
        // Fix (found by tests/reliability_faults.rs, state disk full): a
        // write that failed part-way (ENOSPC after the first bytes) left a
        // torn record in the journal, and the next record, written once
        // space was free, went on the same line. The node ran on, but at its
        // next start the journal "did not parse" in the middle and it
        // refused to start. A failed append now cuts the journal back to
        // where the record began (also after a failed fsync: that record was
        // not acted on, so it must not be replayed at the next start either).
        if let Some(at) = self.cut_to {
            self.file.set_len(at).map_err(io("truncate", &path))?;
            self.cut_to = None;
        }
        let start = self.file.metadata().map_err(io("stat", &path))?.len();
        let written = match self.file.write_all(&bytes) {
            // Durable before acted on: this is the exactly-once guarantee.
            Ok(()) => self.file.sync_data().map_err(io("sync", &path)),
            Err(e) => Err(io("write", &path)(e)),
        };
        if let Err(e) = written {
            if self.file.set_len(start).is_err() {
                // Retried before the next record is written.
                self.cut_to = Some(start);
            }
            return Err(e);
        }
        self.records += recs.len();
        Ok(())
    }

    pub(super) fn wants_compaction(&self) -> bool {
        self.records >= COMPACT_AFTER
    }

    /// Writes a snapshot of `state` (temp file, fsync, rename, fsync dir)
    /// and empties the journal.
    pub(super) fn compact(&mut self, state: &mut State) -> Result<(), LedgerError> {
        state.epoch += 1;
        let snap = self.dir.join(SNAP);
        let tmp = self.dir.join(format!("{SNAP}.tmp"));
        let header = state.header();
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
            for (h, c) in &state.counts {
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
        self.file = File::create(&jpath).map_err(io("truncate", &jpath))?;
        let mut first = serde_json::to_vec(&Record::Epoch { n: state.epoch })
            .map_err(|e| LedgerError::Encode(e.to_string()))?;
        first.push(b'\n');
        self.file.write_all(&first).map_err(io("write", &jpath))?;
        self.file.sync_all().map_err(io("sync", &jpath))?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&jpath)
            .map_err(io("open", &jpath))?;
        self.records = 0;
        self.cut_to = None;
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync", dir))
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
