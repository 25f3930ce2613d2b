//! One run of a [`Job`] on Slurm, start to end (see the module doc's "How a
//! run goes"): find or submit, watch, then cancel or judge. It talks to
//! Slurm only through [`SlurmCli`], so a fake cluster can drive it in tests.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use droprender_shared::profile::Profile;
use tokio::sync::watch;
use tokio::time::Instant;

use super::cli::{SbatchRequest, SlurmCli};
use super::error::SlurmError;
use super::logs::TaskLogs;
use super::parse::{Phase, TaskMap, active, counts};
use super::records::Records;
use super::tasks::{self, TaskSpec};
use super::{Job, blocking, verdict};
use crate::exec::{Ctl, Event, Events, Measured, Outcome, Stop};
use crate::renderer::{self, Progress};

pub use super::timing::SUBMIT_RETRY;
pub(super) use super::timing::Timing;

/// What squeue says about an array job.
#[derive(Debug)]
enum Query {
    Tasks(TaskMap),
    /// Slurm does not know the id (purged after MinJobAge, or never existed).
    Gone,
    /// Slurm did not answer (controller down, …): why.
    Down(String),
}

async fn query<C: SlurmCli>(cli: &C, farm: &str) -> Query {
    match cli.squeue_tasks(farm).await {
        Ok(m) if m.is_empty() => Query::Gone,
        Ok(m) => Query::Tasks(m),
        Err(SlurmError::UnknownJob { .. }) => Query::Gone,
        Err(e) => Query::Down(format!("squeue failed: {e}")),
    }
}

/// Why a wait ended early.
enum Halt {
    Stop(Stop),
    Deadline,
}

/// The array being watched: its Slurm id and its tasks.
type Found = (String, Vec<TaskSpec>);

struct Runner<C> {
    cli: Arc<C>,
    timing: Timing,
    job: Job,
    events: Events,
    ctl: watch::Receiver<Ctl>,
    /// Frames already reported (or on disk when the run began).
    reported: BTreeSet<i64>,
    /// Frames the array renders (empty: not known).
    expected: BTreeSet<i64>,
    counts: Option<[u32; 4]>,
    logs: TaskLogs,
    /// The tasks' own frame records (start, time, peak memory).
    records: Records,
    /// Frames seen on disk before their task's record: reported at the
    /// next look, with the record if it came by then.
    unrecorded: BTreeSet<i64>,
    /// The task states squeue showed last.
    tasks_seen: TaskMap,
    deadline: Option<Instant>,
    suspend_noted: bool,
    /// sbatch refused a negative --nice: submit at 0.
    nice_refused: bool,
}

/// Runs the submission to its end, reporting to `events`; the last event is
/// always `Finished`.
pub(super) async fn run<C: SlurmCli>(
    cli: Arc<C>,
    timing: Timing,
    job: Job,
    events: Events,
    ctl: watch::Receiver<Ctl>,
) {
    let id = job.id;
    let mut r = Runner {
        cli,
        timing,
        logs: TaskLogs::new(job.kind),
        records: Records::default(),
        unrecorded: BTreeSet::new(),
        tasks_seen: TaskMap::new(),
        job,
        events,
        ctl,
        reported: BTreeSet::new(),
        expected: BTreeSet::new(),
        counts: None,
        deadline: None,
        suspend_noted: false,
        nice_refused: false,
    };
    let outcome = r.run().await;
    let _ = r.events.send((id, Event::Finished(outcome))).await;
}

impl<C: SlurmCli> Runner<C> {
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
        self.job.settings.poll.max(self.timing.min_poll)
    }

    async fn run(&mut self) -> Outcome {
        if let Err(e) = tokio::fs::create_dir_all(&self.job.work_dir).await {
            return Outcome::Failed(format!(
                "cannot create the Slurm work dir {}: {e}; check that the node's state dir is writable",
                self.job.work_dir.display()
            ));
        }
        let (out, layers) = (self.job.output_dir.clone(), self.job.layers);
        self.reported = blocking(move || renderer::done_frames(&out, layers)).await;
        let (farm, tasks) = match self.find_or_submit().await {
            Ok(Ok(found)) => found,
            Ok(Err(outcome)) => return outcome,
            Err(Halt::Stop(Stop::Cancel)) => {
                // Nothing recorded, but a submission may be in flight from
                // before a crash: cancel whatever carries the name.
                let name = self.job.name.clone();
                if let Err(e) = self.cli.scancel_name(&name).await {
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
            Ok(last) => self.evaluate(farm, tasks, last).await,
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
    async fn attached_tasks(&self) -> Vec<TaskSpec> {
        let dir = self.job.work_dir.clone();
        match blocking(move || tasks::read_tasks(&dir)).await {
            Some(t) => t,
            None => self.planned_tasks(),
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
    async fn find_or_submit(&mut self) -> Result<Result<Found, Outcome>, Halt> {
        if let Some(id) = self.job.attach.clone() {
            return self.attach(id).await.map(Ok);
        }
        let name = self.job.name.clone();
        let cli = Arc::clone(&self.cli);
        let retry = self.timing.submit_retry;
        loop {
            match self.guard(cli.find_by_name(&name)).await? {
                Ok(Some(id)) => {
                    self.submitted(&id).await;
                    self.note(format!(
                        "found Slurm job {id} named {name} already queued (the node stopped before recording it): attached to it instead of submitting again"
                    ))
                    .await;
                    return Ok(Ok((id, self.attached_tasks().await)));
                }
                Ok(None) => {}
                Err(e) => {
                    self.note(format!(
                        "squeue failed: {e}; cannot check whether {name} is already queued, so nothing is submitted yet; retrying in {} s",
                        retry.as_secs()
                    ))
                    .await;
                    self.sleep(retry).await?;
                    continue;
                }
            }
            let tasks = self.planned_tasks();
            if tasks.is_empty() {
                return Ok(Err(Outcome::Done));
            }
            if let Err(e) = self.write_files(&tasks).await {
                return Ok(Err(Outcome::Failed(format!(
                    "cannot write the Slurm work files in {}: {e}; check that the node's state dir is writable",
                    self.job.work_dir.display()
                ))));
            }
            // Not guarded: a submission cut short could leave an unrecorded job.
            match cli.sbatch(&self.sbatch_request(tasks.len())).await {
                Ok(id) => {
                    self.submitted(&id).await;
                    return Ok(Ok((id, tasks)));
                }
                // Accepted, but no id we can read: the name check finds it.
                Err(e @ SlurmError::NoJobId { .. }) => {
                    self.note(format!(
                        "{e}; looking it up by name in {} s",
                        retry.as_secs()
                    ))
                    .await;
                }
                Err(SlurmError::NiceRefused { stderr })
                    if self.job.nice < 0 && !self.nice_refused =>
                {
                    self.nice_refused = true;
                    self.note(format!(
                        "sbatch refused --nice={} ({stderr}); only Slurm operators may raise a job's priority: submitting at nice 0",
                        self.job.nice
                    ))
                    .await;
                    continue;
                }
                Err(e) => {
                    self.note(format!(
                        "sbatch failed: {e}; retrying in {} s",
                        retry.as_secs()
                    ))
                    .await;
                }
            }
            self.sleep(retry).await?;
        }
    }

    /// Re-attaches to a journalled array; never submits.
    async fn attach(&mut self, id: String) -> Result<Found, Halt> {
        let cli = Arc::clone(&self.cli);
        let name = self.job.name.clone();
        let mut down_noted = false;
        loop {
            let problem = match self.guard(query(&*cli, &id)).await? {
                Query::Tasks(map) => {
                    let tasks = self.attached_tasks().await;
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
                Query::Gone => match self.guard(cli.find_by_name(&name)).await? {
                    Ok(Some(other)) => {
                        self.submitted(&other).await;
                        self.note(format!(
                            "re-attached to Slurm job {other}, found by its name {name} (Slurm does not know job {id})"
                        ))
                        .await;
                        return Ok((other, self.attached_tasks().await));
                    }
                    Ok(None) => {
                        self.note(format!(
                            "re-attached to Slurm job {id}: Slurm no longer lists it, so it ended while the node was away; checking its frames (it is not submitted again)"
                        ))
                        .await;
                        return Ok((id, self.attached_tasks().await));
                    }
                    Err(e) => format!("squeue failed: {e}"),
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
            let wait = self.poll().max(self.timing.attach_retry);
            self.sleep(wait).await?;
        }
    }

    async fn write_files(&self, tasks: &[TaskSpec]) -> std::io::Result<()> {
        let (dir, name, tag) = (
            self.job.work_dir.clone(),
            self.job.name.clone(),
            self.job.tag.clone(),
        );
        let configured = self.job.settings.node_program.clone();
        let tasks = tasks.to_vec();
        let profile = droprender_shared::profile::installed()
            .get(self.job.kind.name())
            .map(|p| Profile::clone(p));
        blocking(move || {
            let program = tasks::node_program(configured.as_deref());
            tasks::write_files(&dir, &name, &tag, &tasks, profile.as_ref(), &program)
        })
        .await
    }

    fn sbatch_request(&self, n: usize) -> SbatchRequest {
        let s = &self.job.settings;
        SbatchRequest {
            name: self.job.name.clone(),
            tasks: n,
            max_tasks: s.max_tasks,
            work_dir: self.job.work_dir.clone(),
            nice: if self.nice_refused {
                self.job.nice.max(0)
            } else {
                self.job.nice
            },
            partition: s.partition.clone(),
            time_limit: s.time_limit.clone(),
            extra: s.sbatch_args.clone(),
        }
    }

    /// Polls until no task is pending or running; returns the last states seen.
    async fn watch(&mut self, farm: &str, tasks: &[TaskSpec]) -> Result<TaskMap, Halt> {
        let cli = Arc::clone(&self.cli);
        let mut last = TaskMap::new();
        let mut down_noted = false;
        loop {
            self.scan_frames(farm, false).await;
            match self.guard(query(&*cli, farm)).await? {
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
                    self.tasks_seen = last.clone();
                    self.send_counts(&last, tasks.len()).await;
                    let progress = self
                        .logs
                        .progress(&self.job.work_dir, farm, tasks, &last)
                        .await;
                    for p in progress {
                        self.send(Event::Progress(p)).await;
                    }
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
        self.scan_frames(farm, true).await;
        Ok(last)
    }

    async fn send_counts(&mut self, map: &TaskMap, n: usize) {
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

    /// Reports each frame that appeared on disk since the last look, once,
    /// with its task's record when there is one. A frame whose record has
    /// not come yet waits one look (its task writes the record just after
    /// the file), unless the tasks have ended (`last`) or write none.
    async fn scan_frames(&mut self, farm: &str, last: bool) {
        let (out, layers) = (self.job.output_dir.clone(), self.job.layers);
        let (work_dir, farm_id) = (self.job.work_dir.clone(), farm.to_string());
        let mut records = std::mem::take(&mut self.records);
        let map = self.tasks_seen.clone();
        let (done, records) = blocking(move || {
            records.read_new(&work_dir, &farm_id, &map);
            (renderer::done_frames(&out, layers), records)
        })
        .await;
        self.records = records;
        let new: Vec<i64> = done
            .iter()
            .copied()
            .filter(|f| !self.reported.contains(f))
            .filter(|f| self.expected.is_empty() || self.expected.contains(f))
            .collect();
        if new.is_empty() {
            return;
        }
        let out = self.job.output_dir.clone();
        let mut paths = blocking(move || {
            let mut paths: std::collections::BTreeMap<i64, PathBuf> = Default::default();
            for f in renderer::frame_files(&out) {
                paths.entry(f.frame).or_insert(f.path);
            }
            paths
        })
        .await;
        for f in new {
            let path = paths.remove(&f);
            let ev = match self.records.take(f) {
                Some(m) => Event::FrameMeasured(Measured { path, ..m }),
                None if !last && self.records.any() && self.unrecorded.insert(f) => continue,
                None => Event::Progress(Progress::FrameDone(path)),
            };
            self.reported.insert(f);
            self.send(ev).await;
        }
    }

    /// scancel, then wait until squeue shows no task pending or running.
    async fn cancel(&mut self, farm: &str) {
        let t = Instant::now();
        let mut last_scancel: Option<Instant> = None;
        let mut noted = false;
        loop {
            if last_scancel.is_none_or(|l| l.elapsed() >= self.timing.rescancel) {
                last_scancel = Some(Instant::now());
                if let Err(e) = self.cli.scancel(farm).await
                    && !noted
                {
                    noted = true;
                    self.note(format!("scancel {farm} failed: {e}; trying again"))
                        .await;
                }
            }
            match query(&*self.cli, farm).await {
                Query::Tasks(m) if !active(&m) => {
                    self.send_counts(&m, m.len()).await;
                    return;
                }
                Query::Gone => return,
                _ => {}
            }
            if t.elapsed() > self.timing.cancel_confirm || self.stop_now() == Some(Stop::Force) {
                self.note(format!(
                    "could not confirm that Slurm job {farm} stopped; check with `squeue -j {farm}` and `scancel {farm}`"
                ))
                .await;
                return;
            }
            tokio::time::sleep(self.timing.cancel_poll).await;
        }
    }

    /// The end: Done when every task completed and every frame is on disk.
    async fn evaluate(
        &mut self,
        farm: String,
        tasks: Vec<TaskSpec>,
        mut states: TaskMap,
    ) -> Outcome {
        if states.len() < tasks.len() {
            // A record that cannot be read is no record: the frames decide.
            for (k, s) in self.cli.jobcomp(&farm).await.unwrap_or_default() {
                states.entry(k).or_insert(s);
            }
        }
        let (out, layers) = (self.job.output_dir.clone(), self.job.layers);
        let (expected, work_dir) = (self.expected.clone(), self.job.work_dir.clone());
        blocking(move || {
            let done = renderer::done_frames(&out, layers);
            verdict::evaluate(&farm, &tasks, &states, &expected, &done, &work_dir)
        })
        .await
    }
}
