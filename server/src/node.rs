//! The node: one task that owns the queue and the ledger, fed by folder
//! hints, worker events, timers and the shutdown signal.
//!
//! The order of work on the hot path is fixed: read the new bytes, decide,
//! journal (fsync), start the renderer, and only then write LOG.txt and the
//! status files. Nothing is acted on before it is durable.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use droprender_shared::command::{
    Action, Command, RenderRequest, Target, parse_normalized, priority_word,
};
use droprender_shared::files::{self, Source};
use droprender_shared::logline::{Event as Ev, LineRef, LogLine};
use droprender_shared::profile::RendererKind;
use droprender_shared::status::{FORMAT, JobInfo, StatusDoc};
use droprender_shared::storage::{Folder, Hint, StorageError, WatchGuard};
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::time::sleep_until;

use crate::channel::{Channel, Plan};
use crate::clock::{now, stamp};
use crate::config::{Config, Executor, SlurmSettings};
use crate::ledger::{Control, JobRecord, JobState, Ledger, LedgerError, ProcRecord};
use crate::paths::{dir_inside, existing_inside, is_within};
use crate::renderer::{self, Progress, Resolved};
use crate::scene::{self, SceneState};
use crate::webhook::{Notice, Notifier};
use crate::worker::{self, Ctl, Outcome, Stop};
use crate::{preview, process, projects, schedule, slurm, status};

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

/// What the shutdown channel carries: 0 run, 1 graceful stop, 2 force.
pub type ShutdownRx = watch::Receiver<u8>;

/// Live progress of a job (not persisted: re-derived from disk after a restart).
#[derive(Debug, Default)]
struct Live {
    done: BTreeSet<i64>,
    frames_done: u64,
    percent_current: f64,
    current_frame: Option<String>,
    started: Option<Instant>,
    frames_this_run: u64,
    pid: Option<i32>,
    suspended: bool,
    /// Why a queued job is not starting yet.
    waiting: Option<String>,
    /// Farm tasks: "slurm 123: 2 running, 1 done, 0 failed".
    tasks: Option<String>,
    /// A start that could not be journaled is not retried before this.
    retry_start: Option<Instant>,
}

struct Running {
    id: u64,
    ctl: watch::Sender<Ctl>,
}

/// Events from tasks the node spawned.
enum Internal {
    Previews { job: u64, text: String, log: bool },
    RendererVersion(usize, String),
}

/// What an accepted line does once it is durable.
enum Act {
    Job(u64),
    Control(Control, LineRef),
}

/// Whether a queued job can start now.
enum Readiness {
    Go(Resolved),
    Wait(String, Option<Duration>),
    Cancel(String),
    Fail(String),
}

/// Runs a node on `folder` until `shutdown` says stop.
pub async fn run<F: Folder>(cfg: Config, folder: F, shutdown: ShutdownRx) -> Result<(), NodeError> {
    let mut node = Node::start(cfg, folder).await?;
    node.serve(shutdown).await
}

struct Node<F: Folder> {
    cfg: Config,
    folder: Arc<F>,
    ledger: Ledger,
    channel: Channel,
    node_id: String,
    /// Jobs waiting to run (order is decided at start time: priority, then arrival).
    queue: Vec<u64>,
    live: HashMap<u64, Live>,
    running: Option<Running>,
    log: Vec<LogLine>,
    writer: status::Writer,
    info: droprender_shared::status::NodeInfo,
    notifier: Notifier,
    note: Option<String>,
    status_dirty: bool,
    status_due: Option<tokio::time::Instant>,
    /// When the gathered status and LOG.txt writes go out (`[status] batch_secs`).
    batch_due: Option<tokio::time::Instant>,
    projects_due: Option<tokio::time::Instant>,
    wait_due: Option<tokio::time::Instant>,
    hints_rx: mpsc::Receiver<Hint>,
    hints_tx: mpsc::Sender<Hint>,
    watch_guard: Option<WatchGuard>,
    _projects_guard: Option<notify::RecommendedWatcher>,
    projects_rx: mpsc::Receiver<()>,
    worker_tx: mpsc::Sender<(u64, worker::Event)>,
    worker_rx: mpsc::Receiver<(u64, worker::Event)>,
    internal_tx: mpsc::Sender<Internal>,
    internal_rx: mpsc::Receiver<Internal>,
    stopping: bool,
    folder_ok: bool,
    names: status::Names,
    /// Other nodes on this folder (the default node summarises them), by
    /// status file name, with the version last read.
    others: std::collections::BTreeMap<String, (String, droprender_shared::status::NodeLine)>,
}

impl<F: Folder> Node<F> {
    async fn start(cfg: Config, folder: F) -> Result<Self, NodeError> {
        for dir in [&cfg.state, &cfg.state.join("jobs"), &cfg.output] {
            std::fs::create_dir_all(dir).map_err(|source| NodeError::Create {
                path: dir.clone(),
                source,
            })?;
        }
        if !cfg.allow_projects_in_folder
            && let Some(local) = cfg.folder.local()
            && is_within(&cfg.projects, local)
        {
            return Err(NodeError::Unsafe(format!(
                "the projects root {} is inside the synced folder {}: anyone who can write the folder could drop a scene that runs code when it opens. Move the projects elsewhere, or set allow_projects_in_folder = true in the config if that is intended",
                cfg.projects.display(),
                local.display()
            )));
        }
        let script = cfg.state.join(renderer::blender::SCRIPT_NAME);
        std::fs::write(&script, renderer::blender::SETUP_SCRIPT).map_err(|source| {
            NodeError::Create {
                path: script,
                source,
            }
        })?;
        let node_id = process::node_id(&cfg.state);
        let leftovers = process::kill_leftovers(&node_id);
        let ledger = Ledger::open(&cfg.state)?;
        let (hints_tx, hints_rx) = mpsc::channel(256);
        let (worker_tx, worker_rx) = mpsc::channel(1024);
        let (internal_tx, internal_rx) = mpsc::channel(64);
        let (proj_tx, projects_rx) = mpsc::channel(1);
        let projects_guard = watch_projects(&cfg.projects, proj_tx);
        let info = status::node_info(&cfg);
        let names = status::Names::new(&cfg);
        if let Some(local) = cfg.folder.local() {
            remove_stale_temp_files(local, &names);
        }
        let mut node = Node {
            names,
            others: Default::default(),
            notifier: Notifier::new(cfg.notify.clone()),
            cfg,
            folder: Arc::new(folder),
            ledger,
            channel: Channel::new(),
            node_id,
            queue: Vec::new(),
            live: HashMap::new(),
            running: None,
            log: Vec::new(),
            writer: status::Writer::default(),
            info,
            note: None,
            status_dirty: true,
            status_due: None,
            batch_due: None,
            projects_due: None,
            wait_due: None,
            hints_rx,
            hints_tx,
            watch_guard: None,
            _projects_guard: projects_guard,
            projects_rx,
            worker_tx,
            worker_rx,
            internal_tx,
            internal_rx,
            stopping: false,
            folder_ok: true,
        };
        node.say(
            Ev::Node,
            format!(
                "droprender-node {} started on {}",
                env!("CARGO_PKG_VERSION"),
                node.cfg.name
            ),
        );
        if !leftovers.is_empty() {
            node.say(
                Ev::Node,
                format!(
                    "stopped {} renderer process(es) left over from before a crash",
                    leftovers.len()
                ),
            );
        }
        node.recover()?;
        node.rewatch();
        node.probe_versions();
        node.scan_all().await;
        if node.ledger.is_fresh() {
            node.ledger.mark_initialized()?;
        }
        node.refresh_projects().await;
        Ok(node)
    }

    /// Requeues jobs from the ledger; a job that was running was interrupted.
    fn recover(&mut self) -> Result<(), NodeError> {
        let jobs: Vec<JobRecord> = self.ledger.jobs().values().cloned().collect();
        for mut j in jobs {
            match j.state {
                JobState::Running => {
                    j.state = JobState::Interrupted;
                    j.proc = None;
                    j.message = Some("the node stopped while it was rendering".into());
                    self.ledger.put_job(j.clone())?;
                    let text = match &j.slurm {
                        Some(farm) => format!("the node stopped while Slurm job {farm} ran; re-attaching to it"),
                        None => "the node stopped while rendering (crash or power loss); it resumes from its first missing frame".to_string(),
                    };
                    self.say_job(Ev::Interrupted, j.id, text);

                    self.queue.push(j.id);
                }
                JobState::Interrupted | JobState::Queued => self.queue.push(j.id),
                _ => {}
            }
        }
        Ok(())
    }

    /// Asks the renderers for their versions in the background (status.txt shows them).
    fn probe_versions(&self) {
        let tx = self.internal_tx.clone();
        for (i, r) in self.info.renderers.iter().enumerate() {
            if r.name != "blender" || !r.found {
                continue;
            }
            let program = PathBuf::from(&r.program);
            let tx = tx.clone();
            tokio::spawn(async move {
                let out = tokio::time::timeout(
                    Duration::from_secs(20),
                    tokio::process::Command::new(program)
                        .arg("--version")
                        .stdin(std::process::Stdio::null())
                        .kill_on_drop(true)
                        .output(),
                )
                .await;
                if let Ok(Ok(o)) = out
                    && let Some(v) = String::from_utf8_lossy(&o.stdout).lines().next()
                {
                    let _ = tx
                        .send(Internal::RendererVersion(i, v.trim().to_string()))
                        .await;
                }
            });
        }
    }

    async fn serve(&mut self, mut shutdown: ShutdownRx) -> Result<(), NodeError> {
        // Controls accepted before a crash but not carried out.
        for c in self.ledger.pending_controls() {
            self.run_control(c, None).await;
        }
        let mut reconcile =
            crate::tick::Ticker::every(self.cfg.reconcile).map_err(NodeError::Tick)?;
        loop {
            self.maybe_start().await;
            self.flush().await;
            let deadline = [
                self.channel
                    .next_deadline()
                    .map(tokio::time::Instant::from_std),
                self.status_due,
                self.batch_due,
                self.projects_due,
                self.wait_due,
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
                    self.projects_due.get_or_insert(tokio::time::Instant::now() + Duration::from_millis(300));
                }
                Some((id, ev)) = self.worker_rx.recv() => self.on_worker(id, ev).await,
                Some(ev) = self.internal_rx.recv() => self.on_internal(ev),
                Some(()) = reconcile.tick() => {
                    self.rewatch();
                    self.scan_all().await;
                    self.projects_due.get_or_insert(tokio::time::Instant::now());
                }
                _ = async { match deadline { Some(d) => sleep_until(d).await, None => std::future::pending().await } } => {
                    let t = tokio::time::Instant::now();
                    if self.projects_due.is_some_and(|d| d <= t) {
                        self.projects_due = None;
                        self.refresh_projects().await;
                    }
                    if self.status_due.is_some_and(|d| d <= t) {
                        self.status_due = None;
                        self.status_dirty = true;
                    }
                    if self.wait_due.is_some_and(|d| d <= t) {
                        self.wait_due = None;
                    }
                    if self.channel.next_deadline().is_some_and(|d| tokio::time::Instant::from_std(d) <= t) {
                        self.scan_all().await;
                    }
                }
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() > 0 {
                        break;
                    }
                }
            }
        }
        self.shut_down(shutdown).await
    }

    async fn shut_down(&mut self, mut shutdown: ShutdownRx) -> Result<(), NodeError> {
        self.stopping = true;
        if let Some(r) = &self.running {
            let force = *shutdown.borrow() >= 2;
            r.ctl
                .send_modify(|c| c.stop = if force { Stop::Force } else { Stop::Interrupt });
            self.say(
                Ev::Node,
                "stopping: waiting for the renderer to exit".to_string(),
            );
            self.flush().await;
            while self.running.is_some() {
                tokio::select! {
                    Some((id, ev)) = self.worker_rx.recv() => self.on_worker(id, ev).await,
                    r = shutdown.changed() => {
                        if (r.is_err() || *shutdown.borrow() >= 2)
                            && let Some(r) = &self.running
                        {
                            r.ctl.send_modify(|c| c.stop = Stop::Force);
                        }
                    }
                }
            }
        }
        self.say(Ev::Node, "stopped".to_string());
        self.status_dirty = true;
        self.flush().await;
        Ok(())
    }

    fn on_internal(&mut self, ev: Internal) {
        match ev {
            Internal::Previews { job, text, log } => {
                if log {
                    self.say_job(Ev::Progress, job, text);
                }
            }
            Internal::RendererVersion(i, v) => {
                if let Some(r) = self.info.renderers.get_mut(i) {
                    r.version = Some(v);
                    self.status_dirty = true;
                }
            }
        }
    }

    // ----- reading commands -----

    async fn on_hints(&mut self, hints: Vec<Hint>) {
        let mut sources: BTreeSet<Source> = BTreeSet::new();
        for h in hints {
            match h {
                Hint::Rescan => {
                    self.scan_all().await;
                    return;
                }
                Hint::Changed(name) => {
                    if let Some(s) = files::classify(&name) {
                        sources.insert(s);
                    } else if self.names.multi
                        && self.names.default
                        && files::status_json_node(&name)
                            .is_some_and(|n| !n.eq_ignore_ascii_case(&self.cfg.name))
                        && let Ok(entries) = self.folder.list().await
                    {
                        self.read_others(&entries).await;
                    }
                }
            }
        }
        for s in sources {
            self.scan(&s).await;
        }
    }

    /// Scans commands.txt and every conflicted copy beside it.
    async fn scan_all(&mut self) {
        let names = match self.folder.list().await {
            Ok(entries) => {
                self.folder_back();
                if self.names.multi && self.names.default {
                    self.read_others(&entries).await;
                }
                entries.into_iter().map(|e| e.name).collect::<Vec<_>>()
            }
            Err(e) => {
                self.folder_trouble(&e);
                return;
            }
        };
        let mut sources: Vec<Source> = names.iter().filter_map(|n| files::classify(n)).collect();
        sources.sort();
        if !sources.contains(&Source::Main) {
            sources.insert(0, Source::Main);
        }
        for s in sources {
            self.scan(&s).await;
        }
    }

    /// The default node reads the other nodes' status files for its summary.
    async fn read_others(&mut self, entries: &[droprender_shared::storage::Entry]) {
        for e in entries {
            let Some(node) = files::status_json_node(&e.name) else {
                continue;
            };
            if node.eq_ignore_ascii_case(&self.cfg.name)
                || self
                    .others
                    .get(&e.name)
                    .is_some_and(|(v, _)| *v == e.meta.version)
            {
                continue;
            }
            if let Ok(Some((meta, bytes))) = self.folder.read_from(&e.name, 0).await
                && let Ok(doc) = serde_json::from_slice::<StatusDoc>(&bytes)
            {
                self.others.insert(
                    e.name.clone(),
                    (meta.version, droprender_shared::status::NodeLine::of(&doc)),
                );
                self.status_dirty = true;
            }
        }
    }

    fn folder_trouble(&mut self, e: &StorageError) {
        if self.folder_ok {
            tracing::warn!(
                "cannot read the folder: {e}; retrying every {:?}",
                self.cfg.reconcile
            );
            self.folder_ok = false;
            self.watch_guard = None;
            self.status_dirty = true;
        }
    }

    fn folder_back(&mut self) {
        if !self.folder_ok {
            tracing::info!("the folder {} is readable again", self.folder.describe());
            self.folder_ok = true;
            self.say(Ev::Node, "the folder is back; catching up".to_string());
            self.writer = status::Writer::default();
            self.status_dirty = true;
            self.rewatch();
        }
    }

    fn rewatch(&mut self) {
        if self.watch_guard.is_some() || !self.folder_ok {
            return;
        }
        match self.folder.watch(self.hints_tx.clone()) {
            Ok(g) => self.watch_guard = Some(g),
            Err(e) => tracing::warn!("{e}; relying on the {:?} reconcile", self.cfg.reconcile),
        }
    }

    async fn scan(&mut self, source: &Source) {
        let plan = match self
            .channel
            .scan(&*self.folder, &self.ledger, source, Instant::now())
            .await
        {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(StorageError::NotAFile(p)) => {
                self.warn_once(format!(
                    "{p} is a directory, not a file; commands wait until it is a file again"
                ));
                return;
            }
            Err(e) => {
                self.folder_trouble(&e);
                return;
            }
        };
        if let Err(e) = self.accept(plan).await {
            // The journal could not be written: nothing was acted on, and the
            // same lines are read again at the next scan.
            self.warn_once(format!("cannot record new commands: {e}"));
        }
    }

    fn warn_once(&mut self, msg: String) {
        tracing::warn!("{msg}");
        if !self.log.iter().any(|l| l.text == msg) {
            self.say(Ev::Warning, msg);
        }
    }

    /// Turns a plan's new lines into jobs, controls and rejections; commits; acts.
    async fn accept(&mut self, mut plan: Plan) -> Result<(), NodeError> {
        let copy = match &plan.source {
            Source::Main => None,
            Source::Copy(n) => Some(n.clone()),
        };
        let at = |line| LineRef {
            copy: copy.clone(),
            line,
        };
        let mut logs: Vec<LogLine> = Vec::new();
        // What to do once the batch is durable, in line order.
        let mut acts: Vec<Act> = Vec::new();
        let mut n_controls = 0;
        let t = now();
        for nl in std::mem::take(&mut plan.new_lines) {
            let cmd = match nl.parsed {
                Ok(c) => c,
                Err(e) => {
                    logs.push(
                        LogLine::new(t, Ev::Rejected, format!("{e} | {}", nl.text))
                            .at(at(nl.lineno)),
                    );
                    continue;
                }
            };
            // Lines for other nodes are theirs; unaddressed ones belong to the default node.
            let mine = match &cmd.target {
                Some(t) => t.eq_ignore_ascii_case(&self.cfg.name),
                None => self.names.default,
            };
            if !mine {
                continue;
            }
            match &cmd.action {
                Action::Render(req) => {
                    let id = self.ledger.allocate_job();
                    match self.check_new(req, id, &plan.batch.jobs) {
                        Ok(r) => {
                            let rec = JobRecord {
                                id,
                                line: nl.text.clone(),
                                source: plan.source.file_name().to_string(),
                                lineno: nl.lineno,
                                state: JobState::Queued,
                                submitted: stamp(t),
                                started: None,
                                ended: None,
                                render_secs: 0.0,
                                attempts: 0,
                                message: None,
                                output_dir: r.output_dir.clone(),
                                frames_total: renderer::frame_range(req).map_or(0, |f| f.count()),
                                frames_done: 0,
                                proc: None,
                                priority: req.options.priority.unwrap_or(0),
                                failures: 0,
                                slurm: None,
                            };
                            logs.push(
                                LogLine::new(t, Ev::Accepted, cmd.to_line())
                                    .job(id)
                                    .at(at(nl.lineno)),
                            );
                            acts.push(Act::Job(id));
                            plan.batch.jobs.push(rec);
                        }
                        Err(reason) => {
                            logs.push(
                                LogLine::new(t, Ev::Rejected, format!("{reason} | {}", nl.text))
                                    .at(at(nl.lineno)),
                            );
                        }
                    }
                }
                _ => {
                    let c = Control {
                        id: self.ledger.allocate_control(),
                        line: nl.text.clone(),
                    };
                    acts.push(Act::Control(c.clone(), at(nl.lineno)));
                    n_controls += 1;
                    plan.batch.controls.push(c);
                }
            }
        }
        for (lineno, text) in &plan.repeats {
            logs.push(
                LogLine::new(
                    t,
                    Ev::Skipped,
                    format!("{text} | this occurrence already ran before commands.txt was edited; add the line once more to run it again"),
                )
                .at(at(*lineno)),
            );
        }
        if plan.history && plan.skipped > 0 {
            logs.push(LogLine::new(
                t,
                Ev::Skipped,
                format!(
                    "{} line(s) already in {} when this node first started: history, not run",
                    plan.skipped,
                    plan.source.file_name()
                ),
            ));
        } else if plan.rewritten {
            logs.push(LogLine::new(
                t,
                Ev::Node,
                format!(
                    "{} was rewritten; {} line(s) were already handled, {} new",
                    plan.source.file_name(),
                    plan.skipped,
                    logs.iter()
                        .filter(|l| matches!(l.event, Ev::Accepted | Ev::Rejected))
                        .count()
                        + n_controls
                ),
            ));
        }
        // Durable first.
        match plan.rebase.take() {
            Some(table) => self.ledger.rebase(plan.batch, table)?,
            None => self.ledger.commit(plan.batch)?,
        }
        // Then act, in line order: jobs before a `pause:` may start, jobs
        // after it wait.
        self.log.extend(logs);
        for act in acts {
            match act {
                Act::Job(id) => self.queue.push(id),
                Act::Control(c, at) => {
                    self.maybe_start().await;
                    self.run_control(c, Some(at)).await;
                }
            }
        }
        self.maybe_start().await;
        self.status_dirty = true;
        Ok(())
    }

    /// Checks a new render line against this node: roots, renderers, threads, dependencies.
    fn check_new(
        &self,
        req: &RenderRequest,
        id: u64,
        batch: &[JobRecord],
    ) -> Result<Resolved, String> {
        for a in &req.options.after {
            let known = self.ledger.job(*a).is_some() || batch.iter().any(|j| j.id == *a);
            if *a >= id || !known {
                return Err(format!("after={a}: there is no earlier job {a}"));
            }
        }
        self.resolve(req, id, None)
    }

    /// Node-side checks: roots, enabled renderers, threads.
    fn resolve(
        &self,
        req: &RenderRequest,
        id: u64,
        known_out: Option<&Path>,
    ) -> Result<Resolved, String> {
        if req.renderer == RendererKind::Maya
            && let Some(r) = req.flag("-r")
            && !self.cfg.maya_renderers.iter().any(|a| a == r)
        {
            return Err(format!(
                "-r {r} is not enabled on this node (enabled: {})",
                self.cfg.maya_renderers.join(", ")
            ));
        }
        let cores = i64::from(self.info.cpus);
        for t in ["-n", "-ai:threads", "-threads", "-t"] {
            if let Some(n) = req.flag(t).and_then(|v| v.parse::<i64>().ok())
                && n > cores
            {
                return Err(format!(
                    "{t} {n} asks for more threads than this node's {cores} CPUs"
                ));
            }
        }
        // A scene still arriving through a sync engine may not exist yet:
        // accept it when its sync temp file is there, and wait for it. The
        // temp file is looked for first: the engine's rename makes the scene
        // appear as the temp file goes, so one of the two checks sees it.
        let arriving = self.arriving(&req.scene);
        let scene = match existing_inside(&self.cfg.projects, &req.scene) {
            Ok(s) => s,
            Err(crate::paths::PathError::Missing(..)) if arriving => {
                self.cfg.projects.join(&req.scene)
            }
            Err(e) => return Err(format!("scene: {e}")),
        };
        let project = match req.flag("-proj") {
            Some(p) => {
                Some(existing_inside(&self.cfg.projects, p).map_err(|e| format!("-proj: {e}"))?)
            }
            None => None,
        };
        let output_dir = match (known_out, req.flag("-rd")) {
            (Some(o), _) => o.to_path_buf(),
            (None, Some(rd)) => {
                dir_inside(&self.cfg.output, rd).map_err(|e| format!("-rd: {e}"))?
            }
            (None, None) => {
                let stem = scene
                    .file_stem()
                    .map(|s| {
                        s.to_string_lossy().replace(
                            |c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-',
                            "_",
                        )
                    })
                    .unwrap_or_default();
                if self.names.multi {
                    self.cfg
                        .output
                        .join(format!("job-{}-{id:04}-{stem}", self.cfg.name))
                } else {
                    self.cfg.output.join(format!("job-{id:04}-{stem}"))
                }
            }
        };
        Ok(Resolved {
            request: req.clone(),
            scene,
            output_dir,
            project,
        })
    }

    /// True when a missing scene has a sync temp file beside it (still arriving).
    fn arriving(&self, rel: &str) -> bool {
        let p = self.cfg.projects.join(rel);
        if !crate::paths::is_within(&p, &self.cfg.projects) || rel.contains("..") {
            return false;
        }
        let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) else {
            return false;
        };
        std::fs::read_dir(dir).is_ok_and(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .any(|n| scene::is_sync_temp_for(&n, name))
        })
    }

    // ----- running jobs -----

    /// The order jobs start in: interrupted first, then priority, then arrival.
    fn ordered_queue(&self) -> Vec<u64> {
        let mut q = self.queue.clone();
        let key = |id: &u64| {
            let j = self.ledger.job(*id);
            (
                j.map(|j| j.state) != Some(JobState::Interrupted),
                -j.map_or(0, |j| j.priority),
                *id,
            )
        };
        q.sort_by_key(key);
        q
    }

    fn readiness(&self, rec: &JobRecord) -> Readiness {
        let req = match parse_normalized(&rec.line) {
            Ok(Command {
                action: Action::Render(req),
                ..
            }) => req,
            Ok(_) => return Readiness::Fail("not a render command".into()),
            Err(e) => return Readiness::Fail(e.to_string()),
        };
        for a in &req.options.after {
            match self.ledger.job(*a).map(|j| j.state) {
                None | Some(JobState::Finished) => {}
                Some(JobState::Failed) => {
                    return Readiness::Cancel(format!("job {a}, which it waits for, failed"));
                }
                Some(JobState::Cancelled) => {
                    return Readiness::Cancel(format!(
                        "job {a}, which it waits for, was cancelled"
                    ));
                }
                Some(_) => return Readiness::Wait(format!("waiting for job {a} to finish"), None),
            }
        }
        let job = match self.resolve(&req, rec.id, Some(&rec.output_dir)) {
            Ok(j) => j,
            Err(reason) => return Readiness::Fail(format!("cannot start: {reason}")),
        };
        match scene::state(
            &job.scene,
            self.cfg.scene_stable,
            std::time::SystemTime::now(),
        ) {
            SceneState::Ready => Readiness::Go(job),
            SceneState::Syncing { why, recheck } => Readiness::Wait(why, Some(recheck)),
            SceneState::Missing if self.arriving(&req.scene) => Readiness::Wait(
                format!("{} is still arriving", req.scene),
                Some(Duration::from_secs(1)),
            ),
            SceneState::Missing => Readiness::Fail(format!("the scene {} is gone", req.scene)),
        }
    }

    async fn maybe_start(&mut self) {
        if self.running.is_some() || self.stopping {
            return;
        }
        self.note = None;
        if self.queue.is_empty() {
            return;
        }
        if self.ledger.is_paused() {
            self.note = Some("the queue is paused; send `resume:` to continue".into());
            return;
        }
        if let Some(s) = &self.cfg.schedule {
            let t = now();
            if !s.allows(t) {
                let next = s.next_open(t);
                self.note = Some(match next {
                    Some(n) => format!(
                        "outside render hours; the next window opens {}",
                        schedule::describe(n)
                    ),
                    None => "the schedule allows no render hours".into(),
                });
                if let Some(n) = next {
                    let wait = (n - t).to_std().unwrap_or(Duration::from_secs(60));
                    self.wait_at(wait);
                }
                return;
            }
        }
        for id in self.ordered_queue() {
            let Some(rec) = self.ledger.job(id).cloned() else {
                self.queue.retain(|q| *q != id);
                continue;
            };
            if rec.state.is_final() {
                self.queue.retain(|q| *q != id);
                continue;
            }
            if self
                .live
                .get(&id)
                .and_then(|l| l.retry_start)
                .is_some_and(|t| t > Instant::now())
            {
                return;
            }
            match self.readiness(&rec) {
                Readiness::Go(job) => {
                    self.queue.retain(|q| *q != id);
                    if let Some(l) = self.live.get_mut(&id) {
                        l.waiting = None;
                    }
                    if let Err(e) = self.start_job(rec, job).await {
                        self.warn_once(format!("cannot start job {id}: {e}"));
                        self.queue.push(id);
                        // Fix (found by tests/reliability_faults.rs, long
                        // run, state disk full): the start was retried at
                        // the next loop turn, and the warning's own LOG.txt
                        // append woke the loop again: a busy loop writing
                        // ~2000 LOG lines a second. Retry after the
                        // reconcile interval instead.
                        self.live.entry(id).or_default().retry_start =
                            Some(Instant::now() + self.cfg.reconcile);
                        self.wait_at(self.cfg.reconcile);
                    }
                    return;
                }
                Readiness::Wait(why, recheck) => {
                    let l = self.live.entry(id).or_default();
                    if l.waiting.as_deref() != Some(why.as_str()) {
                        l.waiting = Some(why);
                        self.status_dirty = true;
                    }
                    if let Some(r) = recheck {
                        self.wait_at(r);
                    }
                }
                Readiness::Cancel(why) => {
                    self.queue.retain(|q| *q != id);
                    if let Err(e) = self.finish(rec, Outcome::Cancelled, Some(why)).await {
                        self.warn_once(format!("cannot record job {id}: {e}"));
                    }
                }
                Readiness::Fail(why) => {
                    self.queue.retain(|q| *q != id);
                    if let Err(e) = self.finish(rec, Outcome::Failed(why), None).await {
                        self.warn_once(format!("cannot record job {id}: {e}"));
                    }
                }
            }
        }
    }

    fn wait_at(&mut self, d: Duration) {
        let at = tokio::time::Instant::now() + d.max(Duration::from_millis(200));
        self.wait_due = Some(self.wait_due.map_or(at, |w| w.min(at)));
    }

    async fn start_job(&mut self, mut rec: JobRecord, job: Resolved) -> Result<(), NodeError> {
        let id = rec.id;
        let _ = std::fs::create_dir_all(&job.output_dir);
        let done = renderer::done_frames(&job.output_dir, renderer::layers(&job.request));
        let invocations = renderer::plan(&self.cfg, &job, &done);
        let resuming = rec.state == JobState::Interrupted || rec.attempts > 0;
        let live = Live {
            frames_done: done.len() as u64,
            done: done.clone(),
            started: Some(Instant::now()),
            ..Default::default()
        };
        if invocations.is_empty() {
            self.live.insert(id, live);
            rec.frames_done = done.len() as u64;
            return self.finish(rec, Outcome::Done, None).await;
        }
        rec.state = JobState::Running;
        rec.attempts += 1;
        rec.started.get_or_insert_with(|| stamp(now()));
        rec.frames_done = done.len() as u64;
        self.ledger.put_job(rec.clone())?;
        let (ctl_tx, ctl_rx) = watch::channel(Ctl::default());
        let opts = &job.request.options;
        let wjob = worker::Job {
            id,
            parser: renderer::parser(&job.request),
            log: self.job_log(id),
            tag: process::tag(&self.node_id, id),
            grace: self.cfg.grace,
            kind: job.request.renderer,
            invocations: invocations.clone(),
            stall: self.cfg.stall,
            timeout: opts
                .timeout
                .map(Duration::from_secs)
                .or(self.cfg.default_timeout),
        };
        match &self.cfg.executor {
            Executor::Local => {
                tokio::spawn(worker::run(wjob, self.worker_tx.clone(), ctl_rx));
            }
            Executor::Slurm(settings) => {
                let sjob = slurm::Job {
                    id,
                    name: format!("droprender-{}-{id}", self.cfg.name),
                    tasks: renderer::plan_chunks(
                        &self.farm_cfg(settings),
                        &job,
                        &done,
                        settings.chunk,
                    ),
                    work_dir: self.cfg.state.join("slurm").join(format!("job-{id}")),
                    output_dir: job.output_dir.clone(),
                    layers: renderer::layers(&job.request),
                    attach: rec.slurm.clone(),
                    nice: -rec.priority,
                    tag: process::tag(&self.node_id, id),
                    settings: settings.clone(),
                    timeout: wjob.timeout,
                    kind: job.request.renderer,
                };
                tokio::spawn(slurm::run(sjob, self.worker_tx.clone(), ctl_rx));
            }
        }
        self.running = Some(Running { id, ctl: ctl_tx });
        self.live.insert(id, live);
        let frames: Vec<i64> = invocations
            .iter()
            .flat_map(|i| i.frames.iter().copied())
            .collect();
        let what = match (frames.first(), frames.last()) {
            (Some(a), Some(b)) if a == b => format!("frame {a}"),
            (Some(a), Some(b)) => format!("frames {a}-{b}"),
            _ => "the scene's frames".to_string(),
        };
        let scene = rec_scene(&rec);
        let attaching = matches!(self.cfg.executor, Executor::Slurm(_)) && rec.slurm.is_some();
        let (ev, verb) = if let (true, Some(farm)) = (attaching, &rec.slurm) {
            (
                Ev::Resumed,
                format!(
                    "re-attaching to Slurm job {farm} ({} frame(s) on disk)",
                    done.len()
                ),
            )
        } else if resuming && !done.is_empty() {
            (
                Ev::Resumed,
                format!("{} frame(s) already on disk; rendering {what}", done.len()),
            )
        } else {
            (Ev::Started, format!("rendering {what}"))
        };
        self.say_job(
            ev,
            id,
            format!("{scene}: {verb} ({})", job.request.renderer.name()),
        );
        self.status_dirty = true;
        Ok(())
    }

    /// The node's config with the renderer programs as the farm sees them.
    fn farm_cfg(&self, s: &SlurmSettings) -> Config {
        let mut c = self.cfg.clone();
        if let Some(p) = &s.maya_program {
            c.maya = p.clone();
        }
        if let Some(p) = &s.blender_program {
            c.blender = p.clone();
        }
        c
    }

    fn job_log(&self, id: u64) -> PathBuf {
        self.cfg.state.join("jobs").join(format!("{id}.log"))
    }

    async fn on_worker(&mut self, id: u64, ev: worker::Event) {
        match ev {
            worker::Event::Spawned { pid, start } => {
                self.live.entry(id).or_default().pid = Some(pid);
                if let Some(mut rec) = self.ledger.job(id).cloned() {
                    rec.proc = Some(ProcRecord { pid, start });
                    if let Err(e) = self.ledger.put_job(rec) {
                        self.warn_once(format!("cannot record the renderer's pid: {e}"));
                    }
                }
            }
            worker::Event::Submitted { farm_id } => {
                if let Some(mut rec) = self.ledger.job(id).cloned() {
                    self.say_job(
                        Ev::Node,
                        id,
                        format!("{}: submitted to Slurm as job {farm_id}", rec_scene(&rec)),
                    );
                    rec.slurm = Some(farm_id);
                    if let Err(e) = self.ledger.put_job(rec) {
                        self.warn_once(format!("cannot record the Slurm job id: {e}"));
                    }
                }
            }
            worker::Event::Tasks {
                pending,
                running,
                done,
                failed,
            } => {
                let farm = self
                    .ledger
                    .job(id)
                    .and_then(|j| j.slurm.clone())
                    .unwrap_or_default();
                self.live.entry(id).or_default().tasks = Some(format!(
                    "slurm {farm}: {running} running, {pending} pending, {done} done, {failed} failed"
                ));
                self.progress_changed();
            }
            worker::Event::Note(text) => self.say_job(Ev::Waiting, id, text),
            worker::Event::Progress(p) => {
                let every = u64::from(self.cfg.preview_every);
                let live = self.live.entry(id).or_default();
                let mut auto_preview = false;
                match p {
                    Progress::FrameStarted(f) => {
                        live.current_frame = f;
                        live.percent_current = 0.0;
                    }
                    Progress::Percent(v) => live.percent_current = v,
                    Progress::FrameDone(path) => {
                        let frame = path
                            .as_deref()
                            .and_then(|p| p.file_stem())
                            .and_then(|s| s.to_str())
                            .and_then(frame_of);
                        if frame.is_none_or(|f| live.done.insert(f)) {
                            live.frames_done += 1;
                            live.frames_this_run += 1;
                            auto_preview = every > 0 && live.frames_this_run.is_multiple_of(every);
                        }
                        live.percent_current = 0.0;
                    }
                    Progress::Error(_) => {}
                }
                if auto_preview {
                    self.previews(id, false);
                }
                self.progress_changed();
            }
            worker::Event::Finished(outcome) => {
                if self.running.as_ref().is_some_and(|r| r.id == id) {
                    self.running = None;
                }
                if let Some(rec) = self.ledger.job(id).cloned()
                    && let Err(e) = self.finish(rec, outcome.clone(), None).await
                {
                    self.warn_once(format!("cannot record the end of job {id}: {e}"));
                    // Fix (found by tests/reliability_faults.rs, state disk
                    // full during a render): the job then stayed `running`
                    // in the ledger and showed nowhere (never `finished` in
                    // LOG.txt or status.txt) until the node restarted. Try
                    // again after the reconcile interval until it is recorded.
                    let (tx, again) = (self.worker_tx.clone(), self.cfg.reconcile);
                    tokio::spawn(async move {
                        tokio::time::sleep(again).await;
                        let _ = tx.send((id, worker::Event::Finished(outcome))).await;
                    });
                }
            }
        }
    }

    /// Progress-only changes are written at most every `[status] progress_secs`.
    fn progress_changed(&mut self) {
        if self.status_due.is_none() {
            self.status_due = Some(tokio::time::Instant::now() + self.cfg.progress_every);
        }
    }

    fn retries_of(&self, rec: &JobRecord) -> u32 {
        match parse_normalized(&rec.line) {
            Ok(Command {
                action: Action::Render(r),
                ..
            }) => r.options.retries.unwrap_or(self.cfg.default_retries),
            _ => 0,
        }
    }

    /// Records how a run ended; requeues it when retries are left.
    async fn finish(
        &mut self,
        mut rec: JobRecord,
        outcome: Outcome,
        why: Option<String>,
    ) -> Result<(), NodeError> {
        let id = rec.id;
        let live = self.live.entry(id).or_default();
        if let Some(s) = live.started.take() {
            rec.render_secs += s.elapsed().as_secs_f64();
        }
        live.suspended = false;
        live.pid = None;
        let live_done = live.frames_done;
        let done_on_disk = renderer::done_frames(&rec.output_dir, layers_of(&rec)).len() as u64;
        rec.frames_done = done_on_disk.max(live_done.min(rec.frames_total.max(live_done)));
        rec.proc = None;
        if outcome != Outcome::Interrupted {
            // Over: a restart must not re-attach to this submission.
            rec.slurm = None;
        }
        let scene = rec_scene(&rec);
        let log_path = self.job_log(id);
        let problem = match &outcome {
            Outcome::Failed(m) => Some(("failed", m.clone())),
            Outcome::Stalled(d) => Some((
                "stalled",
                format!(
                    "the renderer printed nothing for {}",
                    droprender_shared::status::human_duration(d.as_secs_f64())
                ),
            )),
            Outcome::TimedOut(d) => Some((
                "timed out",
                format!(
                    "it ran longer than its timeout of {}",
                    droprender_shared::status::human_duration(d.as_secs_f64())
                ),
            )),
            Outcome::Done if rec.frames_total > 0 && done_on_disk < rec.frames_total => Some((
                "failed",
                format!(
                    "the renderer exited cleanly but {} of {} frame(s) are missing in {}",
                    rec.frames_total - done_on_disk,
                    rec.frames_total,
                    rec.output_dir.display()
                ),
            )),
            _ => None,
        };
        let (state, ev, text) = match (&outcome, problem) {
            (_, Some((kind, msg))) => {
                rec.failures += 1;
                let retries = self.retries_of(&rec);
                if kind == "stalled" {
                    self.notify("stalled", &rec, &msg);
                }
                if rec.failures <= retries {
                    (
                        JobState::Queued,
                        Ev::Retrying,
                        format!(
                            "{scene}: {kind}: {msg}; retry {} of {retries} renders the missing frames (log: {})",
                            rec.failures,
                            log_path.display()
                        ),
                    )
                } else {
                    (
                        JobState::Failed,
                        Ev::Failed,
                        format!("{scene}: {msg} (log: {})", log_path.display()),
                    )
                }
            }
            (Outcome::Done, None) => (
                JobState::Finished,
                Ev::Finished,
                format!(
                    "{scene}: {} frame(s) in {} → {}",
                    rec.frames_done,
                    droprender_shared::status::human_duration(rec.render_secs),
                    rec.output_dir.display()
                ),
            ),
            (Outcome::Interrupted, None) => (
                JobState::Interrupted,
                Ev::Interrupted,
                format!(
                    "{scene}: node stopping; {done_on_disk} frame(s) done, the rest render after the restart"
                ),
            ),
            (Outcome::Cancelled, None) => (
                JobState::Cancelled,
                Ev::Cancelled,
                match why {
                    Some(w) => format!("{scene}: {w}"),
                    None => format!(
                        "{scene}: cancelled; {done_on_disk} frame(s) are on disk (`retry: {id}` renders the rest)"
                    ),
                },
            ),
            (_, None) => (
                JobState::Failed,
                Ev::Failed,
                format!("{scene}: ended unexpectedly"),
            ),
        };
        rec.state = state;
        rec.message = Some(text.clone());
        if state.is_final() {
            rec.ended = Some(stamp(now()));
        }
        if state == JobState::Queued {
            self.queue.push(id);
        }
        self.ledger.put_job(rec.clone())?;
        match state {
            JobState::Finished => self.notify("finished", &rec, &text),
            JobState::Failed => self.notify("failed", &rec, &text),
            _ => {}
        }
        self.say_job(ev, id, text);
        self.forget_old_jobs();
        self.status_dirty = true;
        Ok(())
    }

    fn notify(&self, event: &str, rec: &JobRecord, message: &str) {
        self.notifier.send(Notice {
            event: event.into(),
            node: self.cfg.name.clone(),
            job: rec.id,
            scene: rec_scene(rec),
            frames_done: rec.frames_done,
            frames_total: rec.frames_total,
            message: message.into(),
            time: stamp(now()),
        });
    }

    /// Keeps the ledger's job table bounded: old finished jobs live on in LOG.txt.
    fn forget_old_jobs(&mut self) {
        const KEEP: usize = 200;
        let finals: Vec<u64> = self
            .ledger
            .jobs()
            .values()
            .filter(|j| j.state.is_final())
            .map(|j| j.id)
            .collect();
        if finals.len() > KEEP {
            let old: Vec<u64> = finals[..finals.len() - KEEP].to_vec();
            for id in &old {
                self.live.remove(id);
            }
            if let Err(e) = self.ledger.forget_jobs(old) {
                tracing::warn!("cannot trim old jobs: {e}");
            }
        }
    }

    // ----- controls -----

    /// Carries out a control command; every result lands in LOG.txt.
    async fn run_control(&mut self, c: Control, at: Option<LineRef>) {
        let result = match parse_normalized(&c.line) {
            Ok(cmd) => self.control(&cmd).await,
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(Some((ev, job, text))) => {
                let mut l = LogLine::new(now(), ev, text);
                if let Some(j) = job {
                    l = l.job(j);
                }
                self.log.push(l);
            }
            Ok(None) => {}
            Err(why) => {
                let mut l = LogLine::new(now(), Ev::Rejected, format!("{} because {why}", c.line));
                if let Some(at) = at {
                    l = l.at(at);
                }
                self.log.push(l);
            }
        }
        if let Err(e) = self.ledger.control_done(c.id) {
            self.warn_once(format!("cannot record a finished command: {e}"));
        }
        self.status_dirty = true;
    }

    fn job_or_reject(&self, id: u64) -> Result<JobRecord, String> {
        self.ledger
            .job(id)
            .cloned()
            .ok_or_else(|| format!("there is no job {id} (job numbers are in status.txt)"))
    }

    async fn control(
        &mut self,
        cmd: &Command,
    ) -> Result<Option<(Ev, Option<u64>, String)>, String> {
        match &cmd.action {
            Action::Render(_) => Ok(None),
            Action::Progress => {
                self.progress();
                Ok(None)
            }
            Action::Cancel(Target::All) => {
                let mut n = 0;
                for id in self.queue.clone() {
                    if let Some(rec) = self.ledger.job(id).cloned() {
                        self.queue.retain(|q| *q != id);
                        self.finish(
                            rec,
                            Outcome::Cancelled,
                            Some("cancelled by `cancel: all`".into()),
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                        n += 1;
                    }
                }
                if let Some(r) = &self.running {
                    r.ctl.send_modify(|c| c.stop = Stop::Cancel);
                    n += 1;
                }
                Ok(Some((
                    Ev::Cancelled,
                    None,
                    format!("cancel: all: {n} job(s)"),
                )))
            }
            Action::Cancel(Target::Job(id)) => {
                let rec = self.job_or_reject(*id)?;
                if self.running.as_ref().is_some_and(|r| r.id == *id) {
                    if let Some(r) = &self.running {
                        r.ctl.send_modify(|c| c.stop = Stop::Cancel);
                    }
                    return Ok(None);
                }
                match rec.state {
                    JobState::Queued | JobState::Interrupted => {
                        self.queue.retain(|q| q != id);
                        self.finish(rec, Outcome::Cancelled, None)
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok(None)
                    }
                    s => Err(format!("job {id} is already {}", s.word())),
                }
            }
            Action::Pause => {
                if self.ledger.is_paused() {
                    return Err("the queue is already paused".into());
                }
                self.ledger.set_paused(true).map_err(|e| e.to_string())?;
                Ok(Some((
                    Ev::Node,
                    None,
                    "queue paused: the current job finishes, nothing new starts until `resume:`"
                        .into(),
                )))
            }
            Action::Resume(None) => {
                if !self.ledger.is_paused() {
                    return Err("the queue is not paused".into());
                }
                self.ledger.set_paused(false).map_err(|e| e.to_string())?;
                Ok(Some((Ev::Node, None, "queue resumed".into())))
            }
            Action::Suspend(id) | Action::Resume(Some(id))
                if matches!(self.cfg.executor, Executor::Slurm(_)) =>
            {
                Err(format!(
                    "job {id} runs on Slurm, whose tasks cannot be suspended from here; `cancel: {id}` then `retry: {id}` renders the missing frames later"
                ))
            }
            Action::Suspend(id) | Action::Resume(Some(id)) => {
                let suspend = matches!(cmd.action, Action::Suspend(_));
                let rec = self.job_or_reject(*id)?;
                let running = self.running.as_ref().filter(|r| r.id == *id);
                let (Some(r), Some(live)) = (running, self.live.get_mut(id)) else {
                    return Err(format!(
                        "job {id} is not rendering (it is {})",
                        rec.state.word()
                    ));
                };
                if live.suspended == suspend {
                    return Err(format!(
                        "job {id} is {}",
                        if suspend {
                            "already suspended"
                        } else {
                            "not suspended"
                        }
                    ));
                }
                let Some(pid) = live.pid else {
                    return Err(format!("job {id} has no renderer process yet"));
                };
                let sig = if suspend {
                    nix::sys::signal::Signal::SIGSTOP
                } else {
                    nix::sys::signal::Signal::SIGCONT
                };
                process::signal_group(pid, sig);
                live.suspended = suspend;
                r.ctl.send_modify(|c| c.suspended = suspend);
                let text = if suspend {
                    format!(
                        "{}: suspended (SIGSTOP); `resume: {id}` continues it",
                        rec_scene(&rec)
                    )
                } else {
                    format!("{}: continued (SIGCONT)", rec_scene(&rec))
                };
                Ok(Some((
                    if suspend { Ev::Node } else { Ev::Resumed },
                    Some(*id),
                    text,
                )))
            }
            Action::Priority(id, p) => {
                let mut rec = self.job_or_reject(*id)?;
                if !matches!(rec.state, JobState::Queued | JobState::Interrupted) {
                    return Err(format!(
                        "job {id} is {}; only queued jobs can be reordered",
                        rec.state.word()
                    ));
                }
                rec.priority = *p;
                self.ledger.put_job(rec).map_err(|e| e.to_string())?;
                let order: Vec<String> = self.ordered_queue().iter().map(u64::to_string).collect();
                Ok(Some((
                    Ev::Node,
                    Some(*id),
                    format!(
                        "priority {}; queue order now {}",
                        priority_word(*p),
                        order.join(", ")
                    ),
                )))
            }
            Action::Retry(id) => {
                let mut rec = self.job_or_reject(*id)?;
                if !matches!(rec.state, JobState::Failed | JobState::Cancelled) {
                    return Err(format!(
                        "job {id} is {}; only failed or cancelled jobs can be retried",
                        rec.state.word()
                    ));
                }
                rec.state = JobState::Queued;
                rec.failures = 0;
                rec.ended = None;
                rec.message = Some("requeued by `retry:`".into());
                self.ledger
                    .put_job(rec.clone())
                    .map_err(|e| e.to_string())?;
                self.queue.push(*id);
                Ok(Some((
                    Ev::Retrying,
                    Some(*id),
                    format!(
                        "{}: requeued; frames already on disk are kept",
                        rec_scene(&rec)
                    ),
                )))
            }
            Action::Status => {
                self.writer = status::Writer::default();
                self.status_dirty = true;
                Ok(Some((Ev::Node, None, "status.txt rewritten".into())))
            }
            Action::Help => {
                self.writer
                    .put(
                        &*self.folder,
                        files::HELP,
                        droprender_shared::help::HELP.as_bytes().to_vec(),
                    )
                    .await
                    .map_err(|e| format!("help.txt could not be written: {e}"))?;
                Ok(Some((Ev::Node, None, "help.txt written".into())))
            }
        }
    }

    /// `progress:` — copies the newest frame and writes preview.jpg and
    /// contact.jpg, off the node's task (decoding an EXR takes a while).
    fn progress(&mut self) {
        let job = self
            .running
            .as_ref()
            .and_then(|r| self.ledger.job(r.id))
            .or_else(|| {
                self.ledger
                    .jobs()
                    .values()
                    .rev()
                    .find(|j| j.state != JobState::Queued && j.output_dir.is_dir())
            })
            .cloned();
        match job {
            Some(j) => self.previews(j.id, true),
            None => self.say(Ev::Progress, "no job has rendered anything yet".to_string()),
        }
    }

    fn previews(&self, id: u64, log: bool) {
        let Some(job) = self.ledger.job(id).cloned() else {
            return;
        };
        let folder = Arc::clone(&self.folder);
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let dir = job.output_dir.clone();
            let made = tokio::task::spawn_blocking(move || make_previews(&dir))
                .await
                .ok()
                .flatten();
            let text = match made {
                None => "no frame has finished yet".to_string(),
                Some(p) => {
                    let copy_name = format!("latest_frame.{}", p.ext);
                    let mut wrote = vec![];
                    let mut fail = None;
                    for (name, data) in [
                        (copy_name.as_str(), Some(p.original)),
                        (files::PREVIEW, p.preview),
                        (files::CONTACT, p.contact),
                    ] {
                        if let Some(d) = data {
                            match folder.write_atomic(name, d).await {
                                Ok(()) => wrote.push(name.to_string()),
                                Err(e) => fail = Some(e.to_string()),
                            }
                        }
                    }
                    let mut t = format!(
                        "frame {} of {}: {}",
                        p.frame,
                        rec_scene(&job),
                        wrote.join(", ")
                    );
                    if let Some(f) = fail {
                        t.push_str(&format!("; could not write: {f}"));
                    }
                    t
                }
            };
            let _ = tx.send(Internal::Previews { job: id, text, log }).await;
        });
    }

    // ----- status files -----

    fn say(&mut self, ev: Ev, text: String) {
        self.log.push(LogLine::new(now(), ev, text));
    }

    fn say_job(&mut self, ev: Ev, job: u64, text: String) {
        self.log.push(LogLine::new(now(), ev, text).job(job));
    }

    /// Status files first, then LOG.txt: whoever reads a LOG line finds
    /// status.txt already telling the same story.
    async fn flush(&mut self) {
        if !self.batch_ready() {
            return;
        }
        if self.status_writable() {
            self.status_dirty = false;
            self.status_due = None;
            let doc = self.status_doc();
            let active = doc
                .current
                .as_ref()
                .map(|c| c.scene.clone())
                .unwrap_or_default();
            let r1 = self
                .writer
                .put_status(
                    &*self.folder,
                    &doc,
                    &self.names.status_json,
                    &self.names.status_txt,
                )
                .await;
            let r1 = match r1 {
                Ok(_) if self.names.multi && self.names.default => {
                    let mut summary = doc.clone();
                    summary.nodes = std::iter::once(droprender_shared::status::NodeLine::of(&doc))
                        .chain(self.others.values().map(|(_, l)| l.clone()))
                        .collect();
                    self.writer
                        .put_status(
                            &*self.folder,
                            &summary,
                            files::STATUS_JSON,
                            files::STATUS_TXT,
                        )
                        .await
                }
                r => r,
            };
            let active = if active.is_empty() {
                Vec::new()
            } else {
                format!("{active}\n").into_bytes()
            };
            let r2 = self
                .writer
                .put(&*self.folder, &self.names.active, active)
                .await;
            if let Some(e) = r1.err().or(r2.err()) {
                tracing::warn!("cannot write status files: {e}");
                self.status_dirty = true;
                self.status_due = Some(tokio::time::Instant::now() + self.cfg.reconcile);
            }
        }
        if !self.log.is_empty() {
            let mut text = String::new();
            for l in &self.log {
                text.push_str(&l.to_string());
                text.push('\n');
            }
            match self.append_log(text.into_bytes()).await {
                Ok(()) => self.log.clear(),
                Err(e) => {
                    tracing::warn!("cannot append to LOG.txt: {e}");
                    // Keep the lines for the next try, but bounded.
                    let n = self.log.len();
                    if n > 1000 {
                        self.log.drain(..n - 1000);
                    }
                }
            }
        }
    }

    /// Status files changed, and progress-only changes waited their interval.
    fn status_writable(&self) -> bool {
        let due = self
            .status_due
            .is_none_or(|d| d <= tokio::time::Instant::now());
        self.status_dirty && (due || self.running.is_none())
    }

    /// Whether gathered writes may go out now. With `[status] batch_secs`
    /// (Dropbox API mode), the first change opens a window and everything
    /// changed within it is written together when it closes. A stopping
    /// node writes at once.
    fn batch_ready(&mut self) -> bool {
        if self.cfg.status_batch.is_zero() || self.stopping {
            return true;
        }
        if !self.status_writable() && self.log.is_empty() {
            return false;
        }
        let now = tokio::time::Instant::now();
        match self.batch_due {
            None => {
                self.batch_due = Some(now + self.cfg.status_batch);
                false
            }
            Some(d) if d > now => false,
            Some(_) => {
                self.batch_due = None;
                true
            }
        }
    }

    /// Appends to LOG.txt; past `[status] log_max_kb` the old file is first
    /// copied to `LOG.<time>.txt` and LOG.txt begins again with `text`, so
    /// it stays readable on a phone, and in Dropbox API mode (where an
    /// append uploads the whole file) each append costs a bounded upload.
    /// A failure or crash between the copy and the restart is retried
    /// into the same copy: lines are never lost nor archived twice.
    async fn append_log(&mut self, text: Vec<u8>) -> Result<(), StorageError> {
        let name = self.names.log.clone();
        let Some(max) = self.cfg.log_max_bytes else {
            return self.folder.append(&name, text).await;
        };
        let size = self.folder.stat(&name).await?.map_or(0, |m| m.size);
        if size > 0
            && size + text.len() as u64 > max
            && let Some((_, old)) = self.folder.read_from(&name, 0).await?
        {
            // Named for its first line's time, so a rotation retried after
            // a failed write finds its own copy instead of making a second.
            let time = std::str::from_utf8(old.get(..19).unwrap_or_default())
                .ok()
                .filter(|t| t.starts_with(|c: char| c.is_ascii_digit()))
                .map_or_else(|| stamp(now()), str::to_string);
            let mut archive = files::log_archive(&name, &time);
            let mut k = 1;
            let copied = loop {
                match self.folder.stat(&archive).await? {
                    None => break false,
                    Some(m) if m.size == old.len() as u64 => break true,
                    // Another LOG.txt that began in the same second.
                    Some(_) => {
                        k += 1;
                        archive = files::log_archive(&name, &format!("{time} {k}"));
                    }
                }
            };
            if !copied {
                self.folder.write_atomic(&archive, old).await?;
            }
            self.folder.write_atomic(&name, text).await?;
            tracing::info!("{name} reached {size} bytes; the older lines are in {archive}");
            return Ok(());
        }
        self.folder.append(&name, text).await
    }

    async fn refresh_projects(&mut self) {
        let root = self.cfg.projects.clone();
        let list = tokio::task::spawn_blocking(move || projects::scan(&root))
            .await
            .unwrap_or_default();
        if let Err(e) = self
            .writer
            .put(
                &*self.folder,
                files::PROJECTS,
                projects::render(&list).into_bytes(),
            )
            .await
        {
            tracing::warn!("cannot write {}: {e}", files::PROJECTS);
        }
    }

    fn job_info(&self, rec: &JobRecord) -> JobInfo {
        let live = self.live.get(&rec.id);
        let running = rec.state == JobState::Running;
        let frames_done = live.map_or(rec.frames_done, |l| l.frames_done.max(rec.frames_done));
        let total = rec.frames_total;
        let pc = live.map_or(0.0, |l| l.percent_current);
        let percent = if total > 0 {
            ((100.0 * frames_done as f64 + if running { pc } else { 0.0 }) / total as f64)
                .min(100.0)
        } else if rec.state == JobState::Finished {
            100.0
        } else {
            0.0
        };
        let run_secs = live
            .and_then(|l| l.started)
            .filter(|_| running)
            .map(|s| s.elapsed().as_secs_f64());
        let elapsed = rec.render_secs + run_secs.unwrap_or(0.0);
        let this_run = live.map_or(0, |l| l.frames_this_run);
        let avg = match (run_secs, this_run) {
            (Some(s), n) if n > 0 => Some(s / n as f64),
            _ if !running && frames_done > 0 && rec.render_secs > 0.0 => {
                Some(rec.render_secs / frames_done as f64)
            }
            _ => None,
        };
        let eta = avg
            .filter(|_| running && total > 0)
            .map(|a| a * (total.saturating_sub(frames_done) as f64 - pc / 100.0).max(0.0));
        let req = parse_normalized(&rec.line).ok();
        let (renderer, after) = match req.as_ref().map(|c| &c.action) {
            Some(Action::Render(r)) => (
                match r.renderer {
                    RendererKind::Maya => format!("maya {}", r.flag("-r").unwrap_or(""))
                        .trim_end()
                        .to_string(),
                    RendererKind::Blender => "blender".into(),
                },
                r.options.after.first().copied(),
            ),
            _ => (String::new(), None),
        };
        let suspended = live.is_some_and(|l| l.suspended);
        let waiting = live
            .and_then(|l| l.waiting.clone())
            .filter(|_| rec.state == JobState::Queued);
        let state = if suspended {
            "suspended"
        } else if waiting.is_some() {
            "waiting"
        } else {
            rec.state.word()
        };
        JobInfo {
            id: rec.id,
            line: req.map_or_else(|| rec.line.clone(), |c| c.to_line()),
            scene: rec_scene(rec),
            renderer,
            state: state.into(),
            priority: rec.priority,
            after,
            frames_total: total,
            frames_done,
            current_frame: live
                .and_then(|l| l.current_frame.clone())
                .filter(|_| running),
            percent,
            submitted: Some(rec.submitted.clone()),
            started: rec.started.clone(),
            ended: rec.ended.clone(),
            elapsed_s: (elapsed > 0.0).then_some(elapsed),
            avg_frame_s: avg,
            eta_s: eta,
            message: waiting
                .or_else(|| live.and_then(|l| l.tasks.clone()).filter(|_| running))
                .or_else(|| rec.message.clone().filter(|_| !running)),
            output_dir: Some(rec.output_dir.display().to_string()),
        }
    }

    fn status_doc(&self) -> StatusDoc {
        let jobs = self.ledger.jobs();
        let current = self
            .running
            .as_ref()
            .and_then(|r| jobs.get(&r.id))
            .map(|j| self.job_info(j));
        let ordered = self.ordered_queue();
        let queue = ordered
            .iter()
            .filter_map(|id| jobs.get(id))
            .take(droprender_shared::status::QUEUE_SHOWN)
            .map(|j| self.job_info(j))
            .collect();
        let mut recent: Vec<&JobRecord> = jobs.values().filter(|j| j.state.is_final()).collect();
        recent.sort_by(|a, b| b.ended.cmp(&a.ended).then(b.id.cmp(&a.id)));
        let recent = recent
            .into_iter()
            .take(self.cfg.recent_jobs)
            .map(|j| self.job_info(j))
            .collect();
        let state = if self.stopping {
            if self.running.is_some() {
                "stopping"
            } else {
                "stopped"
            }
        } else if self.running.is_some() {
            "rendering"
        } else if self.ledger.is_paused() {
            "paused"
        } else if self.note.is_some() {
            "waiting"
        } else {
            "idle"
        };
        let note = if self.folder_ok {
            self.note.clone()
        } else {
            Some("the synced folder cannot be read".to_string())
        };
        StatusDoc {
            format: FORMAT,
            node: self.info.clone(),
            updated: stamp(now()),
            state: state.into(),
            note,
            current,
            queue,
            queued: ordered.len(),
            recent,
            nodes: Vec::new(),
        }
    }
}

fn layers_of(rec: &JobRecord) -> usize {
    match parse_normalized(&rec.line) {
        Ok(Command {
            action: Action::Render(r),
            ..
        }) => renderer::layers(&r),
        _ => 1,
    }
}

fn rec_scene(rec: &JobRecord) -> String {
    match parse_normalized(&rec.line) {
        Ok(Command {
            action: Action::Render(r),
            ..
        }) => r.scene,
        _ => rec.line.clone(),
    }
}

/// The frame number at the end of a file stem.
fn frame_of(stem: &str) -> Option<i64> {
    let digits: String = stem
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.chars().rev().collect::<String>().parse().ok()
}

struct Previews {
    frame: i64,
    ext: String,
    original: Vec<u8>,
    preview: Option<Vec<u8>>,
    contact: Option<Vec<u8>>,
}

fn make_previews(dir: &Path) -> Option<Previews> {
    let mut frames = renderer::frame_files(dir);
    frames.sort_by_key(|f| (f.frame, f.modified));
    let newest = frames.iter().max_by_key(|f| (f.modified, f.frame))?.clone();
    let original = std::fs::read(&newest.path).ok()?;
    let ext = newest
        .path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("img")
        .to_ascii_lowercase();
    let preview =
        preview::load(&newest.path).and_then(|img| preview::jpeg(&img, preview::MAX_WIDTH));
    let paths: Vec<&Path> = frames.iter().map(|f| f.path.as_path()).collect();
    let contact = preview::contact_sheet(&paths);
    Some(Previews {
        frame: newest.frame,
        ext,
        original,
        preview,
        contact,
    })
}

/// Fix (found by tests/reliability_crash.rs): a crash inside an atomic
/// write leaves its temp file (`.droprender-<name>.<random>.tmp`) in the
/// synced folder, where the sync engine copies it to every device and
/// nothing ever removed it. At start-up no write of ours is in flight, so
/// ours are removed: every one when this node is alone on the folder, else
/// only those of the files this node alone writes (another node's write in
/// flight is never touched).
fn remove_stale_temp_files(dir: &Path, names: &status::Names) {
    let mut own = vec![
        names.status_json.as_str(),
        names.status_txt.as_str(),
        names.active.as_str(),
        names.projects.as_str(),
    ];
    if names.default {
        own.extend([files::STATUS_JSON, files::STATUS_TXT]);
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(target) = name
            .to_str()
            .and_then(|n| n.strip_prefix(files::TEMP_PREFIX))
            .and_then(|n| n.strip_suffix(files::TEMP_SUFFIX))
            .and_then(|n| n.rsplit_once('.'))
            .map(|(target, _random)| target)
        else {
            continue;
        };
        if (!names.multi || own.contains(&target)) && e.path().is_file() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Watches the projects root (recursively) so projects_to_rend.txt follows it.
fn watch_projects(root: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut w = notify::RecommendedWatcher::new(
        move |res: notify::Result<notify::Event>| {
            // Our own scan opens every folder it walks: those access events
            // must not schedule the next scan (found by the idle benchmark:
            // the node rescanned three times a second, forever).
            if res.is_ok_and(|ev| matches!(ev.kind, notify::EventKind::Access(_))) {
                return;
            }
            let _ = tx.try_send(());
        },
        notify::Config::default(),
    )
    .ok()?;
    match w.watch(root, notify::RecursiveMode::Recursive) {
        Ok(()) => Some(w),
        Err(e) => {
            tracing::warn!(
                "cannot watch {}: {e}; the projects list refreshes on the reconcile timer",
                root.display()
            );
            None
        }
    }
}
