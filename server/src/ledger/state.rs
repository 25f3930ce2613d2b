//! The ledger's state in memory, and the one function that changes it:
//! [`State::apply`], which the journal's replay and a live commit both call,
//! so what a restart rebuilds is exactly what the node had. No IO here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hasher;

use droprender_shared::command::{Action, Command, ParseError, RenderRequest, parse_normalized};
use siphasher::sip128::{Hasher128, SipHasher13};

use super::record::{Control, Count, Cursor, Header, JobRecord, JobState, Record};

/// A job: its record, and its command parsed once when the record is loaded.
#[derive(Debug, Clone)]
pub struct Job {
    pub rec: JobRecord,
    /// `Err` only if a newer build's line no longer parses (the grammar is
    /// the serialisation); such a job fails with the reason when it would start.
    pub req: Result<RenderRequest, ParseError>,
    /// The node the line was addressed to (`rend@boxB:`), if any.
    pub target: Option<String>,
}

impl Job {
    pub fn new(rec: JobRecord) -> Self {
        let (req, target) = match parse_normalized(&rec.line) {
            Ok(Command {
                action: Action::Render(r),
                target,
            }) => (Ok(r), target),
            Ok(_) => (
                Err(ParseError::Invalid("not a render command".into())),
                None,
            ),
            Err(e) => (Err(e), None),
        };
        Job { rec, req, target }
    }

    /// The canonical text of the job's line (what status files show).
    pub fn canonical_line(&self) -> String {
        match &self.req {
            Ok(r) => Command {
                target: self.target.clone(),
                action: Action::Render(r.clone()),
            }
            .to_line(),
            Err(_) => self.rec.line.clone(),
        }
    }

    /// The scene as given in the line (what LOG lines and status files name).
    pub fn scene(&self) -> &str {
        match &self.req {
            Ok(r) => &r.scene,
            Err(_) => &self.rec.line,
        }
    }

    pub fn id(&self) -> u64 {
        self.rec.id
    }

    pub fn state(&self) -> JobState {
        self.rec.state
    }
}

/// A control command waiting to be carried out, parsed once.
#[derive(Debug, Clone)]
pub struct PendingControl {
    pub line: String,
    pub cmd: Result<Command, ParseError>,
}

/// The order queued jobs start in: interrupted first (they were running),
/// then higher priority, then arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueueKey {
    fresh: bool,
    neg_priority: i64,
    pub id: u64,
}

impl QueueKey {
    fn of(rec: &JobRecord) -> Self {
        QueueKey {
            fresh: rec.state != JobState::Interrupted,
            neg_priority: -i64::from(rec.priority),
            id: rec.id,
        }
    }
}

/// How to take back one record of a group commit that did not become durable.
#[derive(Debug)]
pub(super) enum Undo {
    /// The job as it was (`None`: it did not exist).
    Job(u64, Option<Box<Job>>),
    /// Jobs a `Forget` removed.
    Forgot(Vec<Job>),
}

#[derive(Debug, Default)]
pub struct State {
    pub(super) key: (u64, u64),
    pub(super) counts: HashMap<u128, Count>,
    pub(super) cursors: BTreeMap<String, Cursor>,
    pub(super) next_job: u64,
    pub(super) next_control: u64,
    jobs: BTreeMap<u64, Job>,
    controls: BTreeMap<u64, PendingControl>,
    pub(super) initialized: bool,
    pub(super) paused: bool,
    pub(super) epoch: u64,
    /// Queued and interrupted jobs in start order: derived from `jobs` by
    /// `take_job` and `insert_job`, the only places either changes.
    queue: BTreeSet<QueueKey>,
    /// Jobs whose record says they run, by id: derived the same way (a
    /// long queue must not make every start scan every job).
    running: BTreeSet<u64>,
    /// Finished, failed and cancelled jobs, oldest first (the ones to forget).
    finals: BTreeSet<u64>,
}

impl State {
    pub(super) fn from_header(h: Header, counts: HashMap<u128, Count>) -> Self {
        let mut s = State {
            key: h.key,
            counts,
            cursors: h.cursors,
            next_job: h.next_job.max(1),
            next_control: h.next_control.max(1),
            jobs: BTreeMap::new(),
            controls: BTreeMap::new(),
            initialized: h.initialized,
            paused: h.paused,
            epoch: h.epoch,
            queue: BTreeSet::new(),
            running: BTreeSet::new(),
            finals: BTreeSet::new(),
        };
        for (_, rec) in h.jobs {
            s.put_job(rec);
        }
        for (id, line) in h.controls {
            s.put_control(Control { id, line });
        }
        s
    }

    pub(super) fn header(&self) -> Header {
        Header {
            key: self.key,
            cursors: self.cursors.clone(),
            next_job: self.next_job,
            next_control: self.next_control,
            jobs: self
                .jobs
                .iter()
                .map(|(id, j)| (*id, j.rec.clone()))
                .collect(),
            controls: self
                .controls
                .iter()
                .map(|(id, c)| (*id, c.line.clone()))
                .collect(),
            initialized: self.initialized,
            paused: self.paused,
            entries: self.counts.len() as u64,
            epoch: self.epoch,
        }
    }

    /// An empty state, as a node has before its first start (for tests of
    /// the decisions built on it; a real one comes from `Ledger::open`).
    pub fn empty() -> Self {
        Self::fresh((0x6472, 0x6f70))
    }

    /// A new, empty state with a fresh identity key.
    pub(super) fn fresh(key: (u64, u64)) -> Self {
        State {
            key,
            next_job: 1,
            next_control: 1,
            ..Default::default()
        }
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

    pub fn cursor(&self, src: &str) -> Option<&Cursor> {
        self.cursors.get(src)
    }

    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    pub fn job(&self, id: u64) -> Option<&Job> {
        self.jobs.get(&id)
    }

    pub fn jobs(&self) -> impl DoubleEndedIterator<Item = &Job> {
        self.jobs.values()
    }

    /// Job numbers below `next` are taken (by lines that were rejected:
    /// numbers are never reused within a run).
    pub fn reserve_job_ids(&mut self, next: u64) {
        self.next_job = self.next_job.max(next);
    }

    /// The next job number, without taking it.
    pub fn peek_job_id(&self) -> u64 {
        self.next_job
    }

    pub fn peek_control_id(&self) -> u64 {
        self.next_control
    }

    /// Queued and interrupted jobs, in the order they start.
    pub fn queue(&self) -> impl Iterator<Item = &Job> {
        self.queue.iter().filter_map(|k| self.jobs.get(&k.id))
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Jobs whose record says they run (after a crash: ran when it happened).
    pub fn running(&self) -> impl Iterator<Item = &Job> {
        self.running.iter().filter_map(|id| self.jobs.get(id))
    }

    /// Control commands accepted but not yet carried out, in line order.
    pub fn pending_controls(&self) -> impl Iterator<Item = (u64, &PendingControl)> {
        self.controls.iter().map(|(id, c)| (*id, c))
    }

    fn put_job(&mut self, rec: JobRecord) {
        self.next_job = self.next_job.max(rec.id + 1);
        let job = match self.take_job(rec.id) {
            // Same line: keep the parse.
            Some(old) if old.rec.line == rec.line => Job {
                rec,
                req: old.req,
                target: old.target,
            },
            _ => Job::new(rec),
        };
        self.insert_job(job);
    }

    /// Takes job `id` out of the map and out of the indexes.
    fn take_job(&mut self, id: u64) -> Option<Job> {
        let old = self.jobs.remove(&id)?;
        self.queue.remove(&QueueKey::of(&old.rec));
        self.running.remove(&id);
        self.finals.remove(&id);
        Some(old)
    }

    /// Puts a job in the map and in the indexes its state calls for.
    fn insert_job(&mut self, job: Job) {
        if job.rec.state.is_queued() {
            self.queue.insert(QueueKey::of(&job.rec));
        }
        if job.rec.state == JobState::Running {
            self.running.insert(job.rec.id);
        }
        if job.rec.state.is_final() {
            self.finals.insert(job.rec.id);
        }
        self.jobs.insert(job.rec.id, job);
    }

    fn put_control(&mut self, c: Control) {
        self.next_control = self.next_control.max(c.id + 1);
        let cmd = parse_normalized(&c.line);
        self.controls
            .insert(c.id, PendingControl { line: c.line, cmd });
    }

    /// Applies one journal record. Replaying the journal over its snapshot
    /// and committing the same record live give the same state.
    pub fn apply(&mut self, rec: Record) {
        match rec {
            Record::Ingest {
                src,
                cursor,
                counts,
                jobs,
                controls,
            } => {
                for (hex, c) in counts {
                    if let Ok(k) = u128::from_str_radix(&hex, 16) {
                        if c == Count::default() {
                            self.counts.remove(&k);
                        } else {
                            self.counts.insert(k, c);
                        }
                    }
                }
                self.cursors.insert(src, cursor);
                for j in jobs {
                    self.put_job(j);
                }
                for c in controls {
                    self.put_control(c);
                }
            }
            Record::Job(j) => self.put_job(j),
            Record::ControlDone { id } => {
                self.controls.remove(&id);
            }
            Record::Forget { jobs } => {
                for id in jobs {
                    self.take_job(id);
                }
            }
            Record::Initialized => self.initialized = true,
            Record::Epoch { .. } => {}
            Record::Paused { paused } => self.paused = paused,
        }
    }

    /// How to take `rec` back once it is applied (a group commit whose
    /// fsync fails is undone): job and forget records only.
    pub(super) fn undo_for(&self, rec: &Record) -> Option<Undo> {
        match rec {
            Record::Job(j) => Some(Undo::Job(j.id, self.jobs.get(&j.id).cloned().map(Box::new))),
            Record::Forget { jobs } => Some(Undo::Forgot(
                jobs.iter()
                    .filter_map(|id| self.jobs.get(id).cloned())
                    .collect(),
            )),
            _ => None,
        }
    }

    /// Takes back a record applied after [`State::undo_for`] (latest first).
    pub(super) fn undo(&mut self, u: Undo) {
        match u {
            Undo::Job(id, before) => {
                self.take_job(id);
                if let Some(j) = before {
                    self.insert_job(*j);
                }
            }
            Undo::Forgot(jobs) => {
                for j in jobs {
                    self.insert_job(j);
                }
            }
        }
    }

    /// Old finished jobs beyond `keep` (LOG.txt keeps their story).
    pub fn jobs_to_forget(&self, keep: usize) -> Vec<u64> {
        let over = self.finals.len().saturating_sub(keep);
        self.finals.iter().take(over).copied().collect()
    }

    /// Bytes of memory the count table holds, roughly (for benchmarks).
    pub fn approx_bytes(&self) -> usize {
        self.counts.capacity() * (16 + 8 + 8)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    pub(crate) fn record(id: u64, line: &str, state: JobState, priority: i32) -> JobRecord {
        JobRecord {
            id,
            line: line.into(),
            source: "commands.txt".into(),
            lineno: id,
            state,
            submitted: "2026-11-22 10:00:00".into(),
            started: None,
            ended: None,
            render_secs: 0.0,
            attempts: 0,
            message: None,
            output_dir: PathBuf::from("/out"),
            frames_total: 1,
            frames_done: 0,
            proc: None,
            priority,
            failures: 0,
            slurm: None,
            slot: None,
            frame_summary: None,
        }
    }

    #[test]
    fn the_queue_index_follows_every_record() {
        let mut s = State::fresh((1, 2));
        for (id, p) in [(1, 0), (2, 10), (3, 0)] {
            s.apply(Record::Job(record(id, "rend:a.mb", JobState::Queued, p)));
        }
        s.apply(Record::Job(record(
            4,
            "rend:a.mb",
            JobState::Interrupted,
            -5,
        )));
        let order: Vec<u64> = s.queue().map(Job::id).collect();
        assert_eq!(
            order,
            [4, 2, 1, 3],
            "interrupted, then priority, then arrival"
        );
        s.apply(Record::Job(record(2, "rend:a.mb", JobState::Running, 10)));
        s.apply(Record::Forget { jobs: vec![3] });
        let order: Vec<u64> = s.queue().map(Job::id).collect();
        assert_eq!(order, [4, 1]);
        assert_eq!(s.running().map(Job::id).collect::<Vec<_>>(), [2]);
        assert_eq!(s.peek_job_id(), 5);
    }

    #[test]
    fn a_job_is_parsed_once_and_kept_across_state_changes() {
        let mut s = State::fresh((1, 2));
        s.apply(Record::Job(record(
            1,
            "rend:-s 1 -e 3 shot.mb",
            JobState::Queued,
            0,
        )));
        assert_eq!(s.job(1).map(Job::scene), Some("shot.mb"));
        s.apply(Record::Job(record(
            1,
            "rend:-s 1 -e 3 shot.mb",
            JobState::Finished,
            0,
        )));
        assert!(s.job(1).is_some_and(|j| j.req.is_ok()));
        s.apply(Record::Job(record(2, "progress:", JobState::Queued, 0)));
        assert!(s.job(2).is_some_and(|j| j.req.is_err()));
    }
}
