//! The Slurm executor: a job's frames become one sbatch array job, one task
//! per chunk, each running the same validated argv the local executor would.
//!
//! Contract with the node (the same events as [`crate::exec::local`]):
//! - send `Event::Submitted { farm_id }` as soon as sbatch returns an id (the
//!   node journals it); with `attach: Some(id)` re-attach to that job (or find
//!   it by name with `squeue --name`) instead of submitting again;
//! - send `Event::Tasks` as task states change and `Event::Progress(FrameDone)`
//!   as frames appear in the output dir;
//! - send `Event::Note` for things the user should read (sbatch errors while
//!   waiting to retry: the job is never lost);
//! - on `Stop::Cancel` run scancel and end with `Outcome::Cancelled`; on
//!   `Stop::Interrupt`/`Force` (the node is stopping) leave the farm job
//!   running and end with `Outcome::Interrupted`: the restart re-attaches;
//! - end with `Outcome::Done` when every task completed, or `Failed` naming the
//!   missing frames and the task logs (the node retries missing frames).
//!
//! Tasks run `droprender-node slurm-task <work_dir>`, which execs the argv for
//! `$SLURM_ARRAY_TASK_ID` from `<work_dir>/tasks.json`: no shell sees it.
//!
//! # How a run goes
//! 1. **Find or submit.** With `attach: Some(id)` the job is looked up with
//!    squeue; a job Slurm no longer knows is looked up by name, and one that
//!    has ended is evaluated from the frames on disk (never submitted again).
//!    Without `attach`, a queued or running job named `Job.name` is adopted
//!    (the node crashed between sbatch and its journal write); otherwise
//!    `tasks.json` and the fixed batch script are written and sbatch runs
//!    (`--array=1-N`, so `$SLURM_ARRAY_TASK_ID` is 1-based). When Slurm cannot
//!    be asked or sbatch fails, a Note says why and the run retries every
//!    [`SUBMIT_RETRY`]; it never submits without first checking the name.
//! 2. **Watch.** Every `poll`: new frames on disk become `FrameDone`,
//!    `squeue -r -j ID -t all` gives the task counts, and the running tasks'
//!    logs (`task-<ID>_<n>.log` in the work dir) are parsed for the current
//!    frame and percent. A controller that does not answer gets one Note; the
//!    watch goes on.
//! 3. **End.** When no task is pending or running: `Done` if every task
//!    completed and every frame is on disk, else `Failed` naming the missing
//!    frames and each failed task's state, last error line and log path.
//!
//! Farm tasks carry `DROPRENDER_JOB=slurm/<tag>`, not the local executor's
//! `<tag>`: a node restarting after a crash kills local leftovers tagged with
//! its id, and must not kill farm tasks that happen to run on its own host.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use std::sync::Arc;

use crate::config::{Config, SlurmSettings};
use crate::exec::{Caps, Ctl, Event, Events, ExecJob, Executor, Handle, Outcome, Stop};
use crate::renderer::{self, Invocation, LineParser, Progress};

/// The Slurm executor: each job becomes one sbatch array.
pub struct Slurm {
    /// The node's config with the renderer programs as the cluster sees them.
    farm_cfg: Config,
    settings: SlurmSettings,
}

impl Slurm {
    pub fn new(cfg: Arc<Config>, settings: SlurmSettings) -> Self {
        let mut farm_cfg = Config::clone(&cfg);
        if let Some(p) = &settings.maya_program {
            farm_cfg.maya = p.clone();
        }
        if let Some(p) = &settings.blender_program {
            farm_cfg.blender = p.clone();
        }
        Slurm { farm_cfg, settings }
    }
}

impl Executor for Slurm {
    fn caps(&self) -> Caps {
        Caps {
            no_suspend: Some(
                "job {id} runs on Slurm, whose tasks cannot be suspended from here; `cancel: {id}` then `retry: {id}` renders the missing frames later".into(),
            ),
            farm: Some("Slurm"),
            freeze: ("SIGSTOP", "SIGCONT"),
        }
    }

    fn start(&self, job: ExecJob, events: Events) -> Handle {
        let (handle, ctl) = Handle::new();
        let id = job.id;
        let req = &job.resolved.request;
        let sjob = Job {
            id,
            name: format!("droprender-{}-{id}", self.farm_cfg.name),
            tasks: renderer::plan_chunks(
                &self.farm_cfg,
                &job.resolved,
                &job.done,
                self.settings.chunk,
            ),
            work_dir: self.farm_cfg.state.join("slurm").join(format!("job-{id}")),
            output_dir: job.resolved.output_dir.clone(),
            layers: renderer::layers(req),
            attach: job.attach,
            nice: -job.priority,
            tag: job.tag,
            settings: self.settings.clone(),
            timeout: job.timeout,
            kind: req.renderer,
        };
        tokio::spawn(run(sjob, events, ctl));
        handle
    }
}

/// One submission.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: u64,
    /// The Slurm job name: `droprender-<node>-<job>`.
    pub name: String,
    /// One invocation per array task (already chunked).
    pub tasks: Vec<Invocation>,
    /// `<state>/slurm/job-<id>`: tasks.json, the batch script, task logs.
    pub work_dir: PathBuf,
    pub output_dir: PathBuf,
    /// Render layers (a frame is done when every layer has it).
    pub layers: usize,
    /// A Slurm job id from the journal: re-attach instead of submitting.
    pub attach: Option<String>,
    /// `--nice` (higher droprender priority = lower nice).
    pub nice: i32,
    /// Exported to tasks as DROPRENDER_JOB.
    pub tag: String,
    pub settings: SlurmSettings,
    pub timeout: Option<Duration>,
    /// Which renderer's output parser reads the task logs.
    pub kind: droprender_shared::profile::RendererKind,
}

/// How long to wait before asking Slurm again after sbatch (or the name
/// check before it) failed.
pub const SUBMIT_RETRY: Duration = Duration::from_secs(30);
/// The array's argv, one entry per task, in the work dir.
pub const TASKS_FILE: &str = "tasks.json";
/// The fixed batch script, in the work dir.
pub const SCRIPT_FILE: &str = "batch.sh";
/// Farm tasks' DROPRENDER_JOB is this prefix + the job's tag (see the module doc).
pub const TASK_TAG_PREFIX: &str = "slurm/";
/// A Slurm client command that has not answered in this long has failed
/// (squeue alone takes ~18 s to give up on a controller that is down).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a cancel waits for Slurm to confirm no task is left.
const CANCEL_CONFIRM: Duration = Duration::from_secs(120);
const TASKS_FILE_VERSION: u32 = 1;

/// `tasks.json`: what each array task runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TaskFile {
    version: u32,
    /// The Slurm job name.
    name: String,
    /// The job's tag (DROPRENDER_JOB is [`TASK_TAG_PREFIX`] + this).
    tag: String,
    /// Task n (`$SLURM_ARRAY_TASK_ID`, 1-based) runs `tasks[n - 1]`.
    tasks: Vec<TaskSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TaskSpec {
    program: Arg,
    args: Vec<Arg>,
    /// Frames this task renders (empty when the range is not known).
    #[serde(default)]
    frames: Vec<i64>,
}

/// An argument, exactly: UTF-8 as text, anything else as its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Arg {
    Text(String),
    Bytes(Vec<u8>),
}

impl Arg {
    fn from_os(s: &OsStr) -> Self {
        match s.to_str() {
            Some(t) => Arg::Text(t.to_string()),
            None => Arg::Bytes(s.as_bytes().to_vec()),
        }
    }

    fn to_os(&self) -> OsString {
        match self {
            Arg::Text(t) => OsString::from(t),
            Arg::Bytes(b) => OsString::from_vec(b.clone()),
        }
    }
}

impl TaskSpec {
    fn from_invocation(inv: &Invocation) -> Self {
        TaskSpec {
            program: Arg::from_os(inv.program.as_os_str()),
            args: inv.args.iter().map(|a| Arg::from_os(a)).collect(),
            frames: inv.frames.clone(),
        }
    }

    fn program(&self) -> PathBuf {
        PathBuf::from(self.program.to_os())
    }
}

/// Where a task stands, from Slurm's state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Running,
    Done,
    Failed,
}

fn phase_of(state: &str) -> Phase {
    match state {
        "COMPLETED" => Phase::Done,
        "RUNNING" | "COMPLETING" | "SUSPENDED" | "STOPPED" | "SIGNALING" | "STAGE_OUT"
        | "RESIZING" => Phase::Running,
        "FAILED" | "CANCELLED" | "TIMEOUT" | "NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL"
        | "DEADLINE" | "OUT_OF_MEMORY" | "SPECIAL_EXIT" | "REVOKED" => Phase::Failed,
        // PENDING, CONFIGURING, REQUEUED…, and any state this code does not
        // know: not over, so keep watching.
        _ => Phase::Pending,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TaskStatus {
    phase: Phase,
    /// Slurm's word: COMPLETED, FAILED, TIMEOUT, …
    state: String,
    /// squeue's reason (NonZeroExitCode, TimeLimit, …) or jobcomp's ExitCode.
    reason: String,
}

/// Parses `squeue -h -r -o '%K %T %r'`: array task id, state, reason.
fn parse_squeue(out: &str) -> BTreeMap<u32, TaskStatus> {
    let mut m = BTreeMap::new();
    for line in out.lines() {
        let mut f = line.split_whitespace();
        let (Some(k), Some(state)) = (f.next(), f.next()) else {
            continue;
        };
        let Ok(k) = k.parse::<u32>() else { continue };
        let reason = f.collect::<Vec<_>>().join(" ");
        m.insert(
            k,
            TaskStatus {
                phase: phase_of(state),
                state: state.to_string(),
                reason,
            },
        );
    }
    m
}

/// Parses jobcomp/filetxt lines (`Key=Value …`) for one array job's tasks.
fn parse_jobcomp(text: &str, array_id: &str) -> BTreeMap<u32, TaskStatus> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        };
        if field("ArrayJobId") != Some(array_id) {
            continue;
        }
        let (Some(k), Some(state)) = (
            field("ArrayTaskId").and_then(|k| k.parse::<u32>().ok()),
            field("JobState"),
        ) else {
            continue;
        };
        m.insert(
            k,
            TaskStatus {
                phase: phase_of(state),
                state: state.to_string(),
                reason: field("ExitCode")
                    .map(|c| format!("exit {c}"))
                    .unwrap_or_default(),
            },
        );
    }
    m
}

/// Task counts: pending, running, done, failed. Tasks Slurm does not list
/// (not yet split off, or purged) count as pending.
fn counts(map: &BTreeMap<u32, TaskStatus>, n: usize) -> [u32; 4] {
    let mut c = [0u32; 4];
    for s in map.values() {
        let i = match s.phase {
            Phase::Pending => 0,
            Phase::Running => 1,
            Phase::Done => 2,
            Phase::Failed => 3,
        };
        c[i] += 1;
    }
    let listed = u32::try_from(map.len()).unwrap_or(u32::MAX);
    c[0] += u32::try_from(n).unwrap_or(u32::MAX).saturating_sub(listed);
    c
}

fn active(map: &BTreeMap<u32, TaskStatus>) -> bool {
    map.values()
        .any(|s| matches!(s.phase, Phase::Pending | Phase::Running))
}

/// `'…'` for sh: everything literal, a `'` written as `'\''`.
fn sh_quote(s: &OsStr) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in s.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// The batch script: fixed text, the two node-owned paths quoted.
fn batch_script(node_program: &Path, work_dir: &Path) -> Vec<u8> {
    let mut s = b"#!/bin/sh\n# Written by droprender-node: runs one array task's argv from tasks.json (no shell sees it).\nexec ".to_vec();
    s.extend(sh_quote(node_program.as_os_str()));
    s.extend_from_slice(b" slurm-task ");
    s.extend(sh_quote(work_dir.as_os_str()));
    s.push(b'\n');
    s
}

/// `-o` pattern: `<work_dir>/task-%A_%a.log`, a literal `%` in the dir escaped.
fn log_pattern(work_dir: &Path) -> OsString {
    let mut b = Vec::new();
    for &c in work_dir.as_os_str().as_bytes() {
        if c == b'%' {
            b.extend_from_slice(b"%%");
        } else {
            b.push(c);
        }
    }
    b.extend_from_slice(b"/task-%A_%a.log");
    OsString::from_vec(b)
}

fn task_log(work_dir: &Path, farm: &str, k: u32) -> PathBuf {
    work_dir.join(format!("task-{farm}_{k}.log"))
}

/// `1-3, 7, 9-10`.
fn frame_ranges(frames: &[i64]) -> String {
    renderer::runs(frames)
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The line of a task log that best says why it failed: the last one that
/// mentions an error, else the last non-empty one.
fn last_error_line(log: &Path) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let pick = lines
        .iter()
        .rev()
        .find(|l| l.to_ascii_lowercase().contains("error"))
        .or(lines.last())?;
    let mut s: String = pick.chars().take(200).collect();
    if pick.chars().count() > 200 {
        s.push('…');
    }
    Some(s)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Runs a Slurm client command (explicit args, no shell, SLURM_CONF from the
/// environment). Ok: stdout. Err: stderr in one line, or why it did not run.
async fn slurm_cmd(program: &str, args: &[OsString]) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(COMMAND_TIMEOUT, cmd.output()).await {
        Err(_) => {
            return Err(format!(
                "{program} did not answer within {} s",
                COMMAND_TIMEOUT.as_secs()
            ));
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "cannot run {program}: it is not installed or not on the node's PATH (install Slurm's client tools)"
            ));
        }
        Ok(Err(e)) => return Err(format!("cannot run {program}: {e}")),
        Ok(Ok(o)) => o,
    };
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    Err(if err.is_empty() {
        format!("{program} failed ({})", out.status)
    } else {
        err
    })
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// What squeue says about an array job.
#[derive(Debug)]
enum Query {
    Tasks(BTreeMap<u32, TaskStatus>),
    /// Slurm does not know the id (purged after MinJobAge, or never existed).
    Gone,
    /// Slurm did not answer (controller down, …).
    Down(String),
}

async fn query(farm: &str) -> Query {
    let args = os(&["-h", "-r", "-j", farm, "-t", "all", "-o", "%K %T %r"]);
    match slurm_cmd("squeue", &args).await {
        Ok(out) => {
            let m = parse_squeue(&out);
            if m.is_empty() {
                Query::Gone
            } else {
                Query::Tasks(m)
            }
        }
        Err(e) if e.contains("Invalid job id") => Query::Gone,
        Err(e) => Query::Down(format!("squeue failed: {e}")),
    }
}

/// The id of a queued or running job with this name (finished jobs do not count).
async fn find_by_name(name: &str) -> Result<Option<String>, String> {
    let out = slurm_cmd("squeue", &os(&["-h", "--name", name, "-o", "%F"]))
        .await
        .map_err(|e| format!("squeue failed: {e}"))?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
        .map(|l| l.parse::<u64>().unwrap_or(u64::MAX))
        .min()
        .map(|id| id.to_string()))
}

/// The jobcomp/filetxt record of a finished array, when the cluster keeps one.
async fn jobcomp_states(farm: &str) -> BTreeMap<u32, TaskStatus> {
    let Ok(cfg) = slurm_cmd("scontrol", &os(&["show", "config"])).await else {
        return BTreeMap::new();
    };
    let value = |key: &str| {
        cfg.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    if value("JobCompType").as_deref() != Some("jobcomp/filetxt") {
        return BTreeMap::new();
    }
    let Some(loc) = value("JobCompLoc") else {
        return BTreeMap::new();
    };
    match tokio::fs::read(&loc).await {
        Ok(t) => parse_jobcomp(&String::from_utf8_lossy(&t), farm),
        Err(_) => BTreeMap::new(),
    }
}

/// Why a wait ended early.
enum Halt {
    Stop(Stop),
    Deadline,
}

/// Reads a task log as it grows, feeding complete lines to a renderer parser.
struct LogTail {
    offset: u64,
    partial: Vec<u8>,
    /// In a Mutex only to make the runner `Sync` (parsers are `Send`).
    parser: std::sync::Mutex<Box<dyn LineParser>>,
}

struct Runner {
    job: Job,
    events: mpsc::Sender<(u64, Event)>,
    ctl: watch::Receiver<Ctl>,
    /// Frames already reported (or on disk when the run began).
    reported: BTreeSet<i64>,
    /// Frames the array renders (empty: not known).
    expected: BTreeSet<i64>,
    counts: Option<[u32; 4]>,
    logs: BTreeMap<u32, LogTail>,
    /// Tasks whose log was read after they ended.
    logs_closed: BTreeSet<u32>,
    deadline: Option<Instant>,
    suspend_noted: bool,
    /// sbatch refused a negative --nice: submit at 0.
    nice_refused: bool,
}

/// Runs the submission to its end, reporting to `events`.
pub async fn run(job: Job, events: mpsc::Sender<(u64, Event)>, ctl: watch::Receiver<Ctl>) {
    let id = job.id;
    let mut r = Runner {
        job,
        events,
        ctl,
        reported: BTreeSet::new(),
        expected: BTreeSet::new(),
        counts: None,
        logs: BTreeMap::new(),
        logs_closed: BTreeSet::new(),
        deadline: None,
        suspend_noted: false,
        nice_refused: false,
    };
    let outcome = r.run().await;
    let _ = r.events.send((id, Event::Finished(outcome))).await;
}

impl Runner {
    async fn send(&self, ev: Event) {
        let _ = self.events.send((self.job.id, ev)).await;
    }

    async fn note(&self, text: String) {
        self.send(Event::Note(text)).await;
    }

    fn stop_now(&self) -> Option<Stop> {
        let s = self.ctl.borrow().stop;
        (s != Stop::No).then_some(s)
    }

    /// Waits for `fut` unless the node asks to stop, or the job's timeout passes, first.
    async fn guard<F: Future>(&mut self, fut: F) -> Result<F::Output, Halt> {
        tokio::pin!(fut);
        loop {
            if let Some(s) = self.stop_now() {
                return Err(Halt::Stop(s));
            }
            let deadline = self.deadline;
            tokio::select! {
                v = &mut fut => return Ok(v),
                r = self.ctl.changed() => {
                    if r.is_err() {
                        // The node is gone: leave the farm job to the restart.
                        return Err(Halt::Stop(Stop::Interrupt));
                    }
                    let suspended = self.ctl.borrow().suspended;
                    if suspended && !self.suspend_noted {
                        self.suspend_noted = true;
                        self.note(
                            "suspend: does not pause a Slurm job; its tasks keep running (an operator can run scontrol suspend)".into(),
                        )
                        .await;
                    }
                }
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => return Err(Halt::Deadline),
            }
        }
    }

    async fn sleep(&mut self, d: Duration) -> Result<(), Halt> {
        self.guard(tokio::time::sleep(d)).await
    }

    fn poll(&self) -> Duration {
        self.job.settings.poll.max(Duration::from_millis(100))
    }

    async fn run(&mut self) -> Outcome {
        if let Err(e) = std::fs::create_dir_all(&self.job.work_dir) {
            return Outcome::Failed(format!(
                "cannot create the Slurm work dir {}: {e}; check that the node's state dir is writable",
                self.job.work_dir.display()
            ));
        }
        self.reported = renderer::done_frames(&self.job.output_dir, self.job.layers);
        let (farm, tasks) = match self.find_or_submit().await {
            Ok(Ok(found)) => found,
            Ok(Err(outcome)) => return outcome,
            Err(Halt::Stop(Stop::Cancel)) => {
                // Nothing recorded, but a submission may be in flight from
                // before a crash: cancel whatever carries the name.
                let name = self.job.name.clone();
                if let Err(e) = slurm_cmd("scancel", &os(&["--name", &name])).await {
                    self.note(format!("scancel --name {name} failed: {e}"))
                        .await;
                }
                return Outcome::Cancelled;
            }
            Err(_) => return Outcome::Interrupted,
        };
        // The array's frames, and (attaching) the frames the node still misses.
        self.expected = tasks
            .iter()
            .flat_map(|t| t.frames.iter().copied())
            .chain(self.job.tasks.iter().flat_map(|t| t.frames.iter().copied()))
            .collect();
        if tasks.iter().any(|t| t.frames.is_empty()) {
            // A task without a known frame range: the end is judged by task states.
            self.expected.clear();
        }
        match self.watch(&farm, &tasks).await {
            Ok(last) => self.evaluate(&farm, &tasks, last).await,
            Err(Halt::Stop(Stop::Cancel)) => {
                self.cancel(&farm).await;
                Outcome::Cancelled
            }
            Err(Halt::Stop(_)) => Outcome::Interrupted,
            Err(Halt::Deadline) => {
                self.cancel(&farm).await;
                self.job
                    .timeout
                    .map_or(Outcome::Interrupted, Outcome::TimedOut)
            }
        }
    }

    /// The array's tasks: from tasks.json when attaching (it describes the
    /// array that runs), else the node's plan.
    fn attached_tasks(&self) -> Vec<TaskSpec> {
        let path = self.job.work_dir.join(TASKS_FILE);
        match std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<TaskFile>(&b).ok())
        {
            Some(f) if f.version == TASKS_FILE_VERSION && !f.tasks.is_empty() => f.tasks,
            _ => self.planned_tasks(),
        }
    }

    fn planned_tasks(&self) -> Vec<TaskSpec> {
        self.job
            .tasks
            .iter()
            .map(TaskSpec::from_invocation)
            .collect()
    }

    async fn submitted(&self, farm: &str) {
        self.send(Event::Submitted {
            farm_id: farm.to_string(),
        })
        .await;
    }

    /// Finds the array to watch: the journalled one, one queued under the
    /// job's name, or a new submission. `Ok(Err(outcome))`: over already.
    async fn find_or_submit(&mut self) -> Result<Result<(String, Vec<TaskSpec>), Outcome>, Halt> {
        if let Some(id) = self.job.attach.clone() {
            return self.attach(id).await.map(Ok);
        }
        let name = self.job.name.clone();
        loop {
            match self.guard(find_by_name(&name)).await? {
                Ok(Some(id)) => {
                    self.submitted(&id).await;
                    self.note(format!(
                        "found Slurm job {id} named {name} already queued (the node stopped before recording it): attached to it instead of submitting again"
                    ))
                    .await;
                    return Ok(Ok((id, self.attached_tasks())));
                }
                Ok(None) => {}
                Err(e) => {
                    self.note(format!(
                        "{e}; cannot check whether {name} is already queued, so nothing is submitted yet; retrying in {} s",
                        SUBMIT_RETRY.as_secs()
                    ))
                    .await;
                    self.sleep(SUBMIT_RETRY).await?;
                    continue;
                }
            }
            let tasks = self.planned_tasks();
            if tasks.is_empty() {
                return Ok(Err(Outcome::Done));
            }
            if let Err(e) = self.write_files(&tasks) {
                return Ok(Err(Outcome::Failed(format!(
                    "cannot write the Slurm work files in {}: {e}; check that the node's state dir is writable",
                    self.job.work_dir.display()
                ))));
            }
            // Not guarded: a submission cut short could leave an unrecorded job.
            match slurm_cmd("sbatch", &self.sbatch_args(tasks.len())).await {
                Ok(out) => match parse_parsable(&out) {
                    Some(id) => {
                        self.submitted(&id).await;
                        return Ok(Ok((id, tasks)));
                    }
                    None => {
                        // Accepted, but no id we can read: the name check finds it.
                        self.note(format!(
                            "sbatch printed no job id ({:?}); looking it up by name in {} s",
                            out.trim(),
                            SUBMIT_RETRY.as_secs()
                        ))
                        .await;
                    }
                },
                Err(e) if self.job.nice < 0 && !self.nice_refused && e.contains("nice") => {
                    self.nice_refused = true;
                    self.note(format!(
                        "sbatch refused --nice={} ({e}); only Slurm operators may raise a job's priority: submitting at nice 0",
                        self.job.nice
                    ))
                    .await;
                    continue;
                }
                Err(e) => {
                    self.note(format!(
                        "sbatch failed: {e}; retrying in {} s",
                        SUBMIT_RETRY.as_secs()
                    ))
                    .await;
                }
            }
            self.sleep(SUBMIT_RETRY).await?;
        }
    }

    /// Re-attaches to a journalled array; never submits.
    async fn attach(&mut self, id: String) -> Result<(String, Vec<TaskSpec>), Halt> {
        let mut down_noted = false;
        loop {
            let problem = match self.guard(query(&id)).await? {
                Query::Tasks(map) => {
                    let tasks = self.attached_tasks();
                    let [p, r, d, f] = counts(&map, tasks.len());
                    self.note(if active(&map) {
                        format!(
                            "re-attached to Slurm job {id} after the node restarted: {r} task(s) running, {p} pending, {d} done, {f} failed"
                        )
                    } else {
                        format!(
                            "re-attached to Slurm job {id}: it ended while the node was away ({d} task(s) done, {f} failed); checking its frames"
                        )
                    })
                    .await;
                    return Ok((id, tasks));
                }
                Query::Gone => match self.guard(find_by_name(&self.job.name.clone())).await? {
                    Ok(Some(other)) => {
                        self.submitted(&other).await;
                        self.note(format!(
                            "re-attached to Slurm job {other}, found by its name {} (Slurm does not know job {id})",
                            self.job.name
                        ))
                        .await;
                        return Ok((other, self.attached_tasks()));
                    }
                    Ok(None) => {
                        self.note(format!(
                            "re-attached to Slurm job {id}: Slurm no longer lists it, so it ended while the node was away; checking its frames (it is not submitted again)"
                        ))
                        .await;
                        return Ok((id, self.attached_tasks()));
                    }
                    Err(e) => e,
                },
                Query::Down(e) => e,
            };
            if !down_noted {
                down_noted = true;
                self.note(format!(
                    "{problem}; cannot re-attach to Slurm job {id} yet (it is not submitted again); still asking"
                ))
                .await;
            }
            let wait = self.poll().max(Duration::from_secs(2));
            self.sleep(wait).await?;
        }
    }

    fn write_files(&self, tasks: &[TaskSpec]) -> std::io::Result<()> {
        let file = TaskFile {
            version: TASKS_FILE_VERSION,
            name: self.job.name.clone(),
            tag: self.job.tag.clone(),
            tasks: tasks.to_vec(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
        write_atomic(&self.job.work_dir.join(TASKS_FILE), &json)?;
        write_atomic(
            &self.job.work_dir.join(SCRIPT_FILE),
            &batch_script(&self.node_program(), &self.job.work_dir),
        )
    }

    fn node_program(&self) -> PathBuf {
        self.job
            .settings
            .node_program
            .clone()
            .or_else(|| std::env::current_exe().ok().map(|p| undeleted(&p)))
            .unwrap_or_else(|| PathBuf::from("droprender-node"))
    }

    fn sbatch_args(&self, n: usize) -> Vec<OsString> {
        let s = &self.job.settings;
        let w = &self.job.work_dir;
        let mut a: Vec<OsString> = os(&["--parsable", "--job-name", &self.job.name]);
        let mut array = format!("--array=1-{n}");
        if let Some(m) = s.max_tasks.filter(|m| *m > 0) {
            array.push_str(&format!("%{m}"));
        }
        a.push(array.into());
        a.push("-o".into());
        a.push(log_pattern(w));
        a.push("--chdir".into());
        a.push(w.clone().into_os_string());
        a.push("--export=ALL".into());
        let nice = if self.nice_refused {
            self.job.nice.max(0)
        } else {
            self.job.nice
        };
        if nice != 0 {
            a.push(format!("--nice={nice}").into());
        }
        if let Some(p) = &s.partition {
            a.push("--partition".into());
            a.push(p.into());
        }
        if let Some(t) = &s.time_limit {
            a.push("--time".into());
            a.push(t.into());
        }
        a.extend(s.sbatch_args.iter().map(OsString::from));
        a.push(w.join(SCRIPT_FILE).into_os_string());
        a
    }

    /// Polls until no task is pending or running; returns the last states seen.
    async fn watch(
        &mut self,
        farm: &str,
        tasks: &[TaskSpec],
    ) -> Result<BTreeMap<u32, TaskStatus>, Halt> {
        let mut last = BTreeMap::new();
        let mut down_noted = false;
        loop {
            self.scan_frames().await;
            match self.guard(query(farm)).await? {
                Query::Tasks(map) => {
                    if down_noted {
                        down_noted = false;
                        self.note(format!("Slurm answers again; watching job {farm}"))
                            .await;
                    }
                    if self.deadline.is_none()
                        && let Some(t) = self.job.timeout
                        && map.values().any(|s| s.phase != Phase::Pending)
                    {
                        // The job's timeout counts from its first task's start.
                        self.deadline = Some(Instant::now() + t);
                    }
                    last = map;
                    self.send_counts(&last, tasks.len()).await;
                    self.read_logs(farm, tasks, &last).await;
                    if !active(&last) {
                        break;
                    }
                }
                Query::Gone => break,
                Query::Down(e) => {
                    if !down_noted {
                        down_noted = true;
                        self.note(format!(
                            "{e}; the Slurm controller may be down; job {farm} stays queued and the node keeps asking"
                        ))
                        .await;
                    }
                }
            }
            let poll = self.poll();
            self.sleep(poll).await?;
        }
        self.scan_frames().await;
        Ok(last)
    }

    async fn send_counts(&mut self, map: &BTreeMap<u32, TaskStatus>, n: usize) {
        let c = counts(map, n);
        if self.counts != Some(c) {
            self.counts = Some(c);
            self.send(Event::Tasks {
                pending: c[0],
                running: c[1],
                done: c[2],
                failed: c[3],
            })
            .await;
        }
    }

    /// Reports each frame that appeared on disk since the last look, once.
    async fn scan_frames(&mut self) {
        let done = renderer::done_frames(&self.job.output_dir, self.job.layers);
        let new: Vec<i64> = done
            .iter()
            .copied()
            .filter(|f| !self.reported.contains(f))
            .filter(|f| self.expected.is_empty() || self.expected.contains(f))
            .collect();
        if new.is_empty() {
            return;
        }
        let mut paths: BTreeMap<i64, PathBuf> = BTreeMap::new();
        for f in renderer::frame_files(&self.job.output_dir) {
            paths.entry(f.frame).or_insert(f.path);
        }
        for f in new {
            self.reported.insert(f);
            self.send(Event::Progress(Progress::FrameDone(paths.remove(&f))))
                .await;
        }
    }

    /// Forwards the current frame and percent from running tasks' logs.
    async fn read_logs(&mut self, farm: &str, tasks: &[TaskSpec], map: &BTreeMap<u32, TaskStatus>) {
        use std::io::{Read, Seek, SeekFrom};
        let mut out = Vec::new();
        for (&k, s) in map {
            if s.phase == Phase::Pending || self.logs_closed.contains(&k) {
                continue;
            }
            if matches!(s.phase, Phase::Done | Phase::Failed) {
                self.logs_closed.insert(k);
            }
            let path = task_log(&self.job.work_dir, farm, k);
            let Ok(mut f) = std::fs::File::open(&path) else {
                continue;
            };
            let spec = usize::try_from(k)
                .ok()
                .and_then(|k| k.checked_sub(1))
                .and_then(|i| tasks.get(i));
            let tail = self.logs.entry(k).or_insert_with(|| LogTail {
                offset: 0,
                partial: Vec::new(),
                parser: std::sync::Mutex::new(parser_for(self.job.kind, spec)),
            });
            let mut buf = Vec::new();
            if f.seek(SeekFrom::Start(tail.offset)).is_err()
                || f.take(1 << 20).read_to_end(&mut buf).is_err()
            {
                continue;
            }
            tail.offset += buf.len() as u64;
            tail.partial.extend_from_slice(&buf);
            while let Some(i) = tail.partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = tail.partial.drain(..=i).collect();
                let line = String::from_utf8_lossy(&line);
                let parser = tail
                    .parser
                    .get_mut()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                // Frames come from the disk (once each); errors from the end's evaluation.
                if let Some(p @ (Progress::FrameStarted(_) | Progress::Percent(_))) =
                    parser.line(line.trim_end())
                {
                    out.push(p);
                }
            }
        }
        // Only the latest state matters for status.txt.
        let started = out
            .iter()
            .rposition(|p| matches!(p, Progress::FrameStarted(_)));
        for p in out.into_iter().skip(started.unwrap_or(0)) {
            self.send(Event::Progress(p)).await;
        }
    }

    /// scancel, then wait until squeue shows no task pending or running.
    async fn cancel(&mut self, farm: &str) {
        let t = Instant::now();
        let mut last_scancel: Option<Instant> = None;
        let mut noted = false;
        loop {
            if last_scancel.is_none_or(|l| l.elapsed() >= Duration::from_secs(5)) {
                last_scancel = Some(Instant::now());
                if let Err(e) = slurm_cmd("scancel", &[OsString::from(farm)]).await
                    && !noted
                {
                    noted = true;
                    self.note(format!("scancel {farm} failed: {e}; trying again"))
                        .await;
                }
            }
            match query(farm).await {
                Query::Tasks(m) if !active(&m) => {
                    self.send_counts(&m, m.len()).await;
                    return;
                }
                Query::Gone => return,
                _ => {}
            }
            if t.elapsed() > CANCEL_CONFIRM || self.stop_now() == Some(Stop::Force) {
                self.note(format!(
                    "could not confirm that Slurm job {farm} stopped; check with `squeue -j {farm}` and `scancel {farm}`"
                ))
                .await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The end: Done when every task completed and every frame is on disk.
    async fn evaluate(
        &mut self,
        farm: &str,
        tasks: &[TaskSpec],
        mut states: BTreeMap<u32, TaskStatus>,
    ) -> Outcome {
        if states.len() < tasks.len() {
            for (k, s) in jobcomp_states(farm).await {
                states.entry(k).or_insert(s);
            }
        }
        let done = renderer::done_frames(&self.job.output_dir, self.job.layers);
        let missing: Vec<i64> = self
            .expected
            .iter()
            .copied()
            .filter(|f| !done.contains(f))
            .collect();
        let failed: Vec<(u32, &TaskStatus)> = states
            .iter()
            .filter(|(_, s)| s.phase == Phase::Failed)
            .map(|(k, s)| (*k, s))
            .collect();
        if missing.is_empty() && failed.is_empty() {
            return Outcome::Done;
        }
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!(
                "{} frame(s) missing after Slurm job {farm}: {}",
                missing.len(),
                frame_ranges(&missing)
            ));
        }
        let frames_of = |k: u32| -> String {
            usize::try_from(k)
                .ok()
                .and_then(|k| k.checked_sub(1))
                .and_then(|i| tasks.get(i))
                .filter(|t| !t.frames.is_empty())
                .map(|t| format!(", frames {}", frame_ranges(&t.frames)))
                .unwrap_or_default()
        };
        let mut named: BTreeSet<u32> = BTreeSet::new();
        for (k, s) in &failed {
            named.insert(*k);
            let log = task_log(&self.job.work_dir, farm, *k);
            let reason = if s.reason.is_empty() || s.reason == "None" {
                String::new()
            } else {
                format!(" ({})", s.reason)
            };
            let why = last_error_line(&log)
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            parts.push(format!(
                "task {k} {}{reason}{}{why}; log {}",
                s.state,
                frames_of(*k),
                log.display()
            ));
        }
        // Tasks that ended without their frames but were not marked failed.
        for (i, t) in tasks.iter().enumerate() {
            let k = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if !named.contains(&k) && t.frames.iter().any(|f| missing.contains(f)) {
                let log = task_log(&self.job.work_dir, farm, k);
                let state = states
                    .get(&k)
                    .map_or("ended".to_string(), |s| s.state.clone());
                parts.push(format!(
                    "task {k} {state} without all its frames{}; log {}",
                    frames_of(k),
                    log.display()
                ));
            }
        }
        if missing.is_empty() {
            return Outcome::Failed(format!(
                "every frame is on disk, but Slurm reports {}",
                parts.join("; ")
            ));
        }
        Outcome::Failed(parts.join("; "))
    }
}

/// Linux names a running program whose file was replaced (an upgrade, a
/// rebuild) `<path> (deleted)`; the tasks must run the file now at `<path>`.
fn undeleted(exe: &Path) -> PathBuf {
    let bytes = exe.as_os_str().as_bytes();
    match bytes.strip_suffix(b" (deleted)") {
        Some(b) if !exe.exists() => PathBuf::from(OsStr::from_bytes(b)),
        _ => exe.to_path_buf(),
    }
}

/// sbatch --parsable prints `ID` or `ID;cluster`.
fn parse_parsable(out: &str) -> Option<String> {
    let id = out.lines().next()?.split(';').next()?.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
}

/// The output parser for a task's renderer (Maya's with the task's `-r`).
fn parser_for(
    kind: droprender_shared::profile::RendererKind,
    spec: Option<&TaskSpec>,
) -> Box<dyn LineParser> {
    if kind == droprender_shared::profile::RendererKind::Blender {
        return Box::new(renderer::blender::Parser::default());
    }
    let args: Vec<OsString> = spec
        .map(|s| s.args.iter().map(Arg::to_os).collect())
        .unwrap_or_default();
    let r = args
        .iter()
        .position(|a| a == "-r")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.to_str());
    Box::new(renderer::maya::Parser::new(r))
}

/// `droprender-node slurm-task <work_dir>`: runs one array task's argv.
pub fn task_main(work_dir: &Path) -> std::process::ExitCode {
    match task_exec(work_dir) {
        Ok(never) => match never {},
        Err((code, msg)) => {
            eprintln!("droprender-node slurm-task: {msg}");
            std::process::ExitCode::from(code)
        }
    }
}

fn task_exec(work_dir: &Path) -> Result<std::convert::Infallible, (u8, String)> {
    use std::os::unix::process::CommandExt;
    let raw = std::env::var("SLURM_ARRAY_TASK_ID").map_err(|_| {
        (
            2,
            "SLURM_ARRAY_TASK_ID is not set: this runs only as a task of the array job droprender-node submits".to_string(),
        )
    })?;
    let k: usize = raw.trim().parse().map_err(|_| {
        (
            2,
            format!("SLURM_ARRAY_TASK_ID={raw:?} is not a task number"),
        )
    })?;
    let path = work_dir.join(TASKS_FILE);
    let bytes =
        std::fs::read(&path).map_err(|e| (2, format!("cannot read {}: {e}", path.display())))?;
    let file: TaskFile = serde_json::from_slice(&bytes).map_err(|e| {
        (
            2,
            format!(
                "{} is not a task list this droprender-node understands: {e}",
                path.display()
            ),
        )
    })?;
    if file.version != TASKS_FILE_VERSION {
        return Err((
            2,
            format!(
                "{} has version {}, this droprender-node reads version {TASKS_FILE_VERSION}: run the same droprender-node on the cluster as on the node",
                path.display(),
                file.version
            ),
        ));
    }
    let n = file.tasks.len();
    let spec = k
        .checked_sub(1)
        .and_then(|i| file.tasks.get(i))
        .ok_or_else(|| {
            (
                2,
                format!("task {k} is not in {} ({n} task(s))", path.display()),
            )
        })?;
    let program = spec.program();
    let args: Vec<OsString> = spec.args.iter().map(Arg::to_os).collect();
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let shown = std::iter::once(program.display().to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    // The log's first line: when and where the task started, and what it runs.
    eprintln!(
        "# droprender task {k}/{n} of {} on {host} at {}\n$ {shown}",
        file.name,
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.3f")
    );
    let err = std::process::Command::new(&program)
        .args(&args)
        .env(
            crate::exec::local::process::TAG_VAR,
            format!("{TASK_TAG_PREFIX}{}", file.tag),
        )
        .exec();
    Err((
        127,
        format!(
            "cannot run {}: {err}; check the renderer path the cluster sees ([executor] maya_program / blender_program)",
            program.display()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_parse() {
        let m = parse_squeue(
            "1 COMPLETED None\n2 RUNNING None\n3 PENDING JobArrayTaskLimit\n4 FAILED NonZeroExitCode\nN/A RUNNING None\n\n",
        );
        assert_eq!(m.len(), 4);
        assert_eq!(m[&1].phase, Phase::Done);
        assert_eq!(m[&2].phase, Phase::Running);
        assert_eq!(m[&3].phase, Phase::Pending);
        assert_eq!(m[&4].phase, Phase::Failed);
        assert_eq!(m[&4].reason, "NonZeroExitCode");
        assert_eq!(counts(&m, 6), [3, 1, 1, 1]);
        assert!(active(&m));
        assert_eq!(phase_of("TIMEOUT"), Phase::Failed);
        assert_eq!(phase_of("COMPLETING"), Phase::Running);
        assert_eq!(phase_of("SOMETHING_NEW"), Phase::Pending);
    }

    #[test]
    fn jobcomp_lines_parse() {
        let text = "JobId=6 Name=x JobState=COMPLETED ArrayJobId=2 ArrayTaskId=4 DerivedExitCode=0:0 ExitCode=0:0 \n\
                    JobId=7 Name=x JobState=FAILED ArrayJobId=2 ArrayTaskId=3 ExitCode=211:0\n\
                    JobId=9 Name=y JobState=COMPLETED ArrayJobId=12 ArrayTaskId=1 ExitCode=0:0\n";
        let m = parse_jobcomp(text, "2");
        assert_eq!(m.len(), 2);
        assert_eq!(m[&4].phase, Phase::Done);
        assert_eq!(m[&3].phase, Phase::Failed);
        assert_eq!(m[&3].reason, "exit 211:0");
    }

    #[test]
    fn script_quotes_node_owned_paths() {
        let s = batch_script(
            Path::new("/opt/it's/droprender-node"),
            Path::new("/st ate/job-1"),
        );
        let s = String::from_utf8(s).expect("utf8");
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.ends_with("exec '/opt/it'\\''s/droprender-node' slurm-task '/st ate/job-1'\n"));
        // sh reads it back to the same two words.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "set -- {} {}; printf '%s\\n' \"$1\" \"$2\"",
                String::from_utf8(sh_quote(OsStr::new("a'b $c `d`"))).expect("utf8"),
                String::from_utf8(sh_quote(OsStr::new("\"x\" \\y"))).expect("utf8"),
            ))
            .output()
            .expect("sh");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "a'b $c `d`\n\"x\" \\y\n"
        );
    }

    #[test]
    fn log_pattern_escapes_percent() {
        assert_eq!(
            log_pattern(Path::new("/s/100%/job-1")),
            OsString::from("/s/100%%/job-1/task-%A_%a.log")
        );
    }

    #[test]
    fn tasks_file_round_trips_any_bytes() {
        let inv = Invocation {
            program: PathBuf::from("/bin/Render"),
            args: vec![
                OsString::from("-s"),
                OsString::from("1"),
                OsString::from_vec(vec![b's', 0xff, b'.', b'm', b'a']),
            ],
            frames: vec![1, 2, 3],
        };
        let f = TaskFile {
            version: TASKS_FILE_VERSION,
            name: "droprender-a-1".into(),
            tag: "t:1".into(),
            tasks: vec![TaskSpec::from_invocation(&inv)],
        };
        let back: TaskFile =
            serde_json::from_slice(&serde_json::to_vec(&f).expect("json")).expect("parse");
        assert_eq!(back, f);
        let args: Vec<OsString> = back.tasks[0].args.iter().map(Arg::to_os).collect();
        assert_eq!(args, inv.args);
        assert_eq!(back.tasks[0].program(), inv.program);
    }

    #[test]
    fn parsable_ids() {
        assert_eq!(parse_parsable("42\n").as_deref(), Some("42"));
        assert_eq!(parse_parsable("42;cluster\n").as_deref(), Some("42"));
        assert_eq!(parse_parsable("Submitted batch job 42"), None);
        assert_eq!(parse_parsable(""), None);
    }

    #[test]
    fn a_replaced_binary_is_found_at_its_path() {
        assert_eq!(
            undeleted(Path::new("/no/such/droprender-node (deleted)")),
            Path::new("/no/such/droprender-node")
        );
        assert_eq!(undeleted(Path::new("/bin/sh")), Path::new("/bin/sh"));
    }

    #[test]
    fn ranges_read_well() {
        assert_eq!(frame_ranges(&[1, 2, 3, 7, 9, 10]), "1-3, 7, 9-10");
    }
}
