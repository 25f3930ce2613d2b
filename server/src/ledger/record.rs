//! What the journal and the snapshot hold, exactly as on disk. These are
//! wire types: changing a field's name or meaning breaks every existing
//! state dir, so new fields come with `#[serde(default)]`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Per text: accepted occurrences, and how many of them commands.txt lacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub seen: u32,
    pub deficit: u32,
}

/// A rewritten command file, for [`super::Ledger::rebase`]: per text hash,
/// its occurrences in the file and its count.
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
    /// ([`droprender_storage::ContentHasher::encode`]), and `tail`
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

/// A job's durable state. Status files show a finer [`JobPhase`]
/// (`waiting`, `suspended` are not worth a journal record).
///
/// [`JobPhase`]: droprender_shared::states::JobPhase
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
    /// The word status files and LOG lines use.
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

    /// Waiting to run: queued, or interrupted by a stop and due to resume.
    pub fn is_queued(self) -> bool {
        matches!(self, JobState::Queued | JobState::Interrupted)
    }
}

/// A job as the journal keeps it. The request itself is the line: the
/// grammar is the serialisation (the ledger parses it once when it loads
/// the record, see [`super::Job`]).
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
    /// The farm's id of the current submission (Slurm job id): a restart
    /// re-attaches to it instead of submitting again.
    #[serde(default)]
    pub slurm: Option<String>,
    /// The slot it runs (or last ran) in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// Render times and peak memory over its frames, once it is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_summary: Option<crate::core::FrameSummary>,
}

/// A control command accepted in an ingest, not yet carried out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub id: u64,
    pub line: String,
}

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Record {
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

/// The snapshot's JSON header (the count table follows it in binary).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Header {
    pub key: (u64, u64),
    pub cursors: BTreeMap<String, Cursor>,
    pub next_job: u64,
    pub next_control: u64,
    pub jobs: BTreeMap<u64, JobRecord>,
    pub controls: BTreeMap<u64, String>,
    #[serde(default)]
    pub initialized: bool,
    #[serde(default)]
    pub paused: bool,
    pub entries: u64,
    /// Counts snapshots. The journal starts with an `Epoch` record naming the
    /// snapshot it continues; a journal of an older epoch is already inside
    /// this snapshot and must not be replayed (0: written before epochs).
    #[serde(default)]
    pub epoch: u64,
}

/// Changes from one ingest pass, applied in memory only after they are durable.
#[derive(Debug, Default)]
pub struct Batch {
    pub src: String,
    pub cursor: Cursor,
    pub counts: HashMap<u128, Count>,
    pub jobs: Vec<JobRecord>,
    pub controls: Vec<Control>,
    /// This batch is commands.txt's history at a first start: committing it
    /// also ends first-start mode, in the same write.
    pub initialize: bool,
}

impl Batch {
    /// The journal record for this batch.
    pub fn into_record(self) -> Record {
        Record::Ingest {
            src: self.src,
            cursor: self.cursor,
            counts: self
                .counts
                .into_iter()
                .map(|(h, c)| (format!("{h:032x}"), c))
                .collect(),
            jobs: self.jobs,
            controls: self.controls,
        }
    }
}
