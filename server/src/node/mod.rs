//! The node's event loop: one task that owns the ledger and the core, fed
//! by folder hints, executor events, timers and the shutdown signal.
//!
//! It decides nothing itself. Each input goes to a decision of
//! [`crate::core`], and the effects that come back are applied in one fixed
//! order ([`apply`]): the journal (fsync), then the acts (start, stop,
//! previews, notices), then the status files, then LOG.txt. Blocking work —
//! the fsync, frame scans, the disk facts the core asks for — runs off the
//! async runtime ([`blocking`]).
//!
//! - [`startup`]: opening the state, recovering after a crash.
//! - [`scan`]: reading the folder: hints, the reconcile, new lines.
//! - [`apply`]: carrying out effects, ingests, controls and starts.
//! - [`publish`]: status files and LOG.txt (batching, rotation).
//! - [`previews`]: preview.jpg, contact.jpg, latest_frame.
//! - [`facts`]: the core's questions about the disk, answered.

mod apply;
mod facts;
mod previews;
mod publish;
mod scan;
mod startup;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use droprender_shared::logline::Event as Ev;
use droprender_shared::status::{NodeInfo, NodeLine};
use droprender_storage::{Folder, Hint, StorageError, WatchGuard};
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant as TokioInstant, sleep_until};

use crate::channel::Channel;
use crate::config::Config;
use crate::core::{Core, Now, Shutdown};
use crate::exec::{Event, Executor, Handle};
use crate::ledger::{Ledger, LedgerError};
use crate::webhook::Notifier;

pub use facts::DiskFacts;
use publish::Publisher;

#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Unsafe(String),
    #[error(
        "cannot start the reconcile timer thread: {0}; the system is out of threads or memory, free some and start the node again"
    )]
    Tick(#[source] std::io::Error),
}

/// What the shutdown channel carries.
pub type ShutdownRx = watch::Receiver<Shutdown>;

/// Runs a node on `folder` until `shutdown` says stop.
pub async fn run<F: Folder>(
    cfg: Config,
    folder: F,
    executor: Box<dyn Executor>,
    shutdown: ShutdownRx,
) -> Result<(), NodeError> {
    let mut node = Node::start(cfg, folder, executor).await?;
    node.serve(shutdown).await
}

/// Runs blocking work (an fsync, a frame scan, the disk facts a decision
/// asks for) without stalling the runtime's other tasks (renderer output
/// readers, the folder watch).
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle as Rt, RuntimeFlavor};
    match Rt::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Events from tasks the node spawned.
enum Internal {
    Previews {
        job: u64,
        text: String,
        log: bool,
    },
    RendererVersion(usize, String),
    /// A job's end could not be recorded: try again.
    Refinish(u64, crate::exec::Outcome),
    /// A frame file was judged; `bad` says why it failed its checks (it
    /// was moved aside).
    Judged {
        job: u64,
        frame: i64,
        bad: Option<String>,
    },
}

/// Frames of a job being judged off the runtime, and its end if the
/// executor reported it meanwhile: the end waits for them, so a frame is
/// decoded once and never on the loop's thread (perf: the end's own frame
/// scan used to decode a frame whose judgment was still running; found by
/// benches/bench.rs, jobs row at load 4).
#[derive(Default)]
struct Judging {
    frames: usize,
    finished: Option<crate::exec::Outcome>,
}

struct Node<F: Folder> {
    cfg: Arc<Config>,
    folder: Arc<F>,
    ledger: Ledger,
    core: Core,
    channel: Channel,
    facts: DiskFacts,
    executor: Box<dyn Executor>,
    /// Jobs an executor runs now.
    handles: HashMap<u64, Handle>,
    /// Names this node's renderer processes (see `process::tag`).
    node_id: String,
    publish: Publisher,
    info: NodeInfo,
    notifier: Notifier,
    folder_ok: bool,
    projects_due: Option<TokioInstant>,
    hints_rx: mpsc::Receiver<Hint>,
    hints_tx: mpsc::Sender<Hint>,
    watch_guard: Option<WatchGuard>,
    _projects_guard: Option<notify::RecommendedWatcher>,
    projects_rx: mpsc::Receiver<()>,
    events_tx: mpsc::Sender<(u64, Event)>,
    events_rx: mpsc::Receiver<(u64, Event)>,
    internal_tx: mpsc::Sender<Internal>,
    internal_rx: mpsc::Receiver<Internal>,
    judging: HashMap<u64, Judging>,
    /// Other nodes on this folder (the default node summarises them), by
    /// status file name, with the version last read.
    others: BTreeMap<String, (String, NodeLine)>,
}

impl<F: Folder> Node<F> {
    fn now(&self) -> Now {
        Now {
            wall: crate::clock::now(),
            mono: std::time::Instant::now(),
            system: std::time::SystemTime::now(),
        }
    }

    async fn serve(&mut self, mut shutdown: ShutdownRx) -> Result<(), NodeError> {
        // Controls accepted before a crash but not carried out.
        let pending: Vec<u64> = self
            .ledger
            .state()
            .pending_controls()
            .map(|(id, _)| id)
            .collect();
        for id in pending {
            self.run_control(id, None).await;
        }
        let mut reconcile =
            crate::tick::Ticker::every(self.cfg.reconcile).map_err(NodeError::Tick)?;
        loop {
            self.start_ready().await;
            self.flush().await;
            let deadline = [
                self.channel.next_deadline().map(TokioInstant::from_std),
                self.publish.due(),
                self.projects_due,
                self.core.wake_at().map(TokioInstant::from_std),
            ]
            .into_iter()
            .flatten()
            .min();
            tokio::select! {
                Some(h) = self.hints_rx.recv() => {
                    let mut hints = vec![h];
                    while let Ok(h) = self.hints_rx.try_recv() {
                        hints.push(h);
                    }
                    self.on_hints(hints).await;
                }
                Some(()) = self.projects_rx.recv() => {
                    self.projects_due.get_or_insert(TokioInstant::now() + Duration::from_millis(300));
                }
                Some((id, ev)) = self.events_rx.recv() => self.on_exec(id, ev).await,
                Some(ev) = self.internal_rx.recv() => self.on_internal(ev).await,
                Some(()) = reconcile.tick() => {
                    self.rewatch();
                    self.scan_all().await;
                    self.projects_due.get_or_insert(TokioInstant::now());
                }
                _ = async { match deadline { Some(d) => sleep_until(d).await, None => std::future::pending().await } } => {
                    let t = TokioInstant::now();
                    if self.projects_due.is_some_and(|d| d <= t) {
                        self.projects_due = None;
                        self.refresh_projects().await;
                    }
                    self.publish.tick(t);
                    let now = self.now();
                    self.core.woke(&now);
                    if self.channel.next_deadline().is_some_and(|d| TokioInstant::from_std(d) <= t) {
                        self.scan_all().await;
                    }
                }
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() != Shutdown::Run {
                        break;
                    }
                }
            }
        }
        self.shut_down(shutdown).await
    }

    async fn shut_down(&mut self, mut shutdown: ShutdownRx) -> Result<(), NodeError> {
        let how = (*shutdown.borrow()).max(Shutdown::Graceful);
        self.stop(how).await;
        while !self.handles.is_empty() || self.judging.values().any(|j| j.finished.is_some()) {
            tokio::select! {
                Some((id, ev)) = self.events_rx.recv() => self.on_exec(id, ev).await,
                Some(ev) = self.internal_rx.recv() => self.on_internal(ev).await,
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() == Shutdown::Force {
                        self.stop(Shutdown::Force).await;
                    }
                }
            }
        }
        self.publish.say(&self.now(), Ev::Node, "stopped");
        self.publish.changed();
        self.flush().await;
        Ok(())
    }

    async fn stop(&mut self, how: Shutdown) {
        let now = self.now();
        let fx = self.core.shutdown(self.ledger.state(), how, &now);
        self.apply_or_warn(fx, "cannot record the stop").await;
        self.flush().await;
    }

    /// What an executor reports.
    async fn on_exec(&mut self, id: u64, ev: Event) {
        let finished = match &ev {
            Event::Finished(o) => {
                self.handles.remove(&id);
                if let Some(j) = self.judging.get_mut(&id) {
                    j.finished = Some(o.clone());
                    return;
                }
                Some(o.clone())
            }
            _ => None,
        };
        let what = match &ev {
            Event::Spawned { .. } => "the renderer's pid".to_string(),
            Event::Submitted { .. } => "the farm's job id".to_string(),
            _ => format!("the end of job {id}"),
        };
        let now = self.now();
        let (core, st, facts) = (&mut self.core, self.ledger.state(), &self.facts);
        // Only a job's end asks the disk (its frames); progress is cheap
        // and frequent, and stays on this task.
        let fx = if finished.is_some() {
            blocking(|| core.on_event(st, facts, id, ev, &now))
        } else {
            core.on_event(st, facts, id, ev, &now)
        };
        // A job's end is made durable together with the starts it allows.
        let applied = if finished.is_some() {
            self.settle(fx).await
        } else {
            self.apply(fx).await
        };
        if let Err(e) = applied {
            self.warn_once(format!("cannot record {what}: {e}"));
            if let Some(outcome) = finished {
                // Fix (found by tests/reliability_faults.rs, state disk
                // full during a render): the job then stayed `running`
                // in the ledger and showed nowhere (never `finished` in
                // LOG.txt or status.txt) until the node restarted. Try
                // again after the reconcile interval until it is recorded.
                let (tx, again) = (self.internal_tx.clone(), self.cfg.reconcile);
                tokio::spawn(async move {
                    tokio::time::sleep(again).await;
                    let _ = tx.send(Internal::Refinish(id, outcome)).await;
                });
            }
        }
    }

    async fn on_internal(&mut self, ev: Internal) {
        match ev {
            Internal::Previews { job, text, log } => {
                if log {
                    self.publish.say_job(&self.now(), Ev::Progress, job, text);
                }
            }
            Internal::RendererVersion(i, v) => {
                if let Some(r) = self.info.renderers.get_mut(i) {
                    r.version = Some(v);
                    self.publish.changed();
                }
            }
            Internal::Refinish(id, outcome) => self.on_exec(id, Event::Finished(outcome)).await,
            Internal::Judged { job, frame, bad } => {
                if let Some(why) = bad {
                    let now = self.now();
                    let fx = self.core.frame_bad(job, frame, &why, &now);
                    self.apply_or_warn(fx, "cannot record a bad frame").await;
                }
                let j = self.judging.entry(job).or_default();
                j.frames = j.frames.saturating_sub(1);
                if j.frames == 0 {
                    let ended = self.judging.remove(&job).and_then(|j| j.finished);
                    if let Some(outcome) = ended {
                        self.on_exec(job, Event::Finished(outcome)).await;
                    }
                }
            }
        }
    }

    /// A warning for LOG.txt, once while it stays true.
    fn warn_once(&mut self, msg: String) {
        tracing::warn!("{msg}");
        let now = self.now();
        self.publish.warn_once(&now, msg);
    }
}
