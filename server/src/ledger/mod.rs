//! The ledger: what the node has consumed and decided, made durable before
//! anything is acted on.
//!
//! A command's identity is (normalised text, occurrence number among equal
//! lines). The ledger keeps, per text hash, how many occurrences have been
//! accepted (`seen`) and how many of those the current commands.txt lacks
//! (`deficit`, after a rewrite deleted lines or a conflicted copy added some),
//! so commands.txt's own count is `seen - deficit` without storing any text.
//!
//! - [`record`]: the journal's records and the snapshot header, as on disk.
//! - [`state`]: the state in memory and [`State::apply`], the one function
//!   that changes it (replay and live commits alike).
//! - [`journal`]: the files, the fsync, compaction.
//!
//! [`Ledger`] is the only way in: records are written and fsynced first,
//! then applied ([`Ledger::commit`], [`Ledger::append`]); or, for job
//! records, staged (applied at once with their undo) and made durable
//! together by the next [`Ledger::sync`], which takes them back if it
//! fails (group commit). Start-up loads the snapshot, replays the journal,
//! and compacts both into a new snapshot.

mod journal;
mod record;
mod state;

use std::path::Path;

pub use journal::LedgerError;
pub use record::{
    Batch, Control, Count, Cursor, JobRecord, JobState, ProcRecord, Record, Rewrite, TAIL,
};
use state::Undo;
pub use state::{Job, PendingControl, State};

use journal::Journal;

pub struct Ledger {
    journal: Journal,
    state: State,
    /// Records applied to `state` but not yet written: the next
    /// [`Ledger::sync`] (or append) writes them, with their undo if it fails.
    staged: Vec<Record>,
    undo: Vec<Undo>,
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir`, replaying and compacting the journal.
    pub fn open(dir: &Path) -> Result<Self, LedgerError> {
        let (journal, state) = Journal::open(dir)?;
        let mut ledger = Ledger {
            journal,
            state,
            staged: Vec::new(),
            undo: Vec::new(),
        };
        ledger.journal.compact(&mut ledger.state)?;
        Ok(ledger)
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// True until the first scan of commands.txt is recorded: lines in it are history.
    pub fn is_fresh(&self) -> bool {
        !self.state.is_initialized()
    }

    pub fn hash(&self, text: &str) -> u128 {
        self.state.hash(text)
    }

    pub fn count(&self, h: u128) -> Count {
        self.state.count(h)
    }

    pub fn cursor(&self, src: &str) -> Option<&Cursor> {
        self.state.cursor(src)
    }

    pub fn job(&self, id: u64) -> Option<&Job> {
        self.state.job(id)
    }

    /// Makes records durable (one write, one fsync, together with any
    /// staged ones), then applies them. Nothing they decide may be acted on
    /// before this returns.
    pub fn append(&mut self, recs: Vec<Record>) -> Result<(), LedgerError> {
        if self.staged.is_empty() && recs.is_empty() {
            return Ok(());
        }
        let mut all = std::mem::take(&mut self.staged);
        let staged = all.len();
        all.extend(recs);
        if let Err(e) = self.journal.append(&all) {
            // The staged records go back out of the state; `recs` were never in it.
            self.take_back();
            return Err(e);
        }
        self.undo.clear();
        for r in all.into_iter().skip(staged) {
            self.state.apply(r);
        }
        if self.journal.wants_compaction() {
            self.journal.compact(&mut self.state)?;
        }
        Ok(())
    }

    /// Group commit: applies job records to the state now and makes them
    /// durable with the next [`Ledger::sync`] or [`Ledger::append`], in one
    /// write and one fsync with everything else staged. Nothing they decide
    /// may be acted on before that. Records that could not be taken back
    /// (anything but jobs) are made durable at once instead.
    pub fn stage(&mut self, recs: Vec<Record>) -> Result<(), LedgerError> {
        let mut rest = Vec::new();
        for r in recs {
            match self.state.undo_for(&r) {
                Some(u) => {
                    self.state.apply(r.clone());
                    self.undo.push(u);
                    self.staged.push(r);
                }
                None => rest.push(r),
            }
        }
        if rest.is_empty() {
            Ok(())
        } else {
            self.append(rest)
        }
    }

    /// Makes the staged records durable (one write, one fsync). If that
    /// fails they are taken back out of the state, as if never decided.
    pub fn sync(&mut self) -> Result<(), LedgerError> {
        self.append(Vec::new())
    }

    /// Undoes every staged record, latest first.
    fn take_back(&mut self) {
        self.staged.clear();
        while let Some(u) = self.undo.pop() {
            self.state.undo(u);
        }
    }

    /// Makes an ingest pass durable, then applies it (with `initialized`
    /// in the same write when the batch ends a first start).
    pub fn commit(&mut self, batch: Batch) -> Result<(), LedgerError> {
        let initialize = batch.initialize;
        let mut recs = vec![batch.into_record()];
        if initialize && self.is_fresh() {
            recs.push(Record::Initialized);
        }
        self.append(recs)
    }

    /// Job numbers below `next` are taken (by lines that were rejected:
    /// numbers are never reused within a run).
    pub fn reserve_job_ids(&mut self, next: u64) {
        self.state.reserve_job_ids(next);
    }

    /// A rewrite of commands.txt (the slow path): `file` holds every text of
    /// the rewritten file with its occurrences there and its count; each
    /// text's deficit becomes `seen - occurrences`, and every text not in the
    /// file lacks all its occurrences (deficit = seen). Applies that, the
    /// rest of the batch and, when the batch ends a first start,
    /// `initialized`, as one snapshot: lines appended after it can never be
    /// taken for history.
    ///
    /// Perf (found by benches/bench.rs, history row): the channel used to
    /// send a full copy of the table (four maps of every text ever seen were
    /// alive during a rewrite); now the table is updated in place.
    pub fn rebase(&mut self, batch: Batch, file: Rewrite) -> Result<(), LedgerError> {
        // The snapshot must not carry records that could still be taken back.
        self.sync()?;
        let initialize = batch.initialize;
        let counts = &mut self.state.counts;
        for c in counts.values_mut() {
            c.deficit = c.seen;
        }
        // Grow once, not step by step (a first start adds every text at once).
        counts.reserve(file.len().saturating_sub(counts.len()));
        for (h, (n, mut c)) in file {
            c.deficit = c.seen.saturating_sub(n);
            counts.insert(h, c);
        }
        // The rest of the batch without counts, then a snapshot: the new
        // table is too big for one journal record.
        let mut rec = batch.into_record();
        if let Record::Ingest { counts, .. } = &mut rec {
            counts.clear();
        }
        self.state.apply(rec);
        if initialize {
            self.state.apply(Record::Initialized);
        }
        self.journal.compact(&mut self.state)
    }

    /// Ends first-start mode: lines found from now on are commands, not history.
    pub fn mark_initialized(&mut self) -> Result<(), LedgerError> {
        if self.is_fresh() {
            self.append(vec![Record::Initialized])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
