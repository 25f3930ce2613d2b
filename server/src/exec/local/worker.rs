//! Runs one job: its invocations one after another, output read at pipe
//! speed into the per-job log and parsed into progress events for the node
//! (see [`super::output`]). The first renderer is started by [`begin`], on
//! the caller's thread, before the job's task exists.

use std::path::PathBuf;
use std::time::Duration;

use droprender_supervise::{SpawnError, Supervised};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::output::{Output, Stream};
use super::process;
use crate::exec::{Ctl, Event, Outcome, Stop};
use crate::renderer::{Invocation, LineParser};

pub struct Job {
    pub id: u64,
    pub invocations: Vec<Invocation>,
    pub parser: Box<dyn LineParser>,
    pub log: PathBuf,
    pub tag: String,
    pub grace: Duration,
    pub kind: droprender_shared::profile::RendererKind,
    /// Fail a render that prints nothing for this long.
    pub stall: Option<Duration>,
    /// Stop a render that runs longer than this (suspended time excluded).
    pub timeout: Option<Duration>,
}

/// A job whose log is open and whose first renderer has been started (or
/// could not be).
pub struct Begun {
    log: Result<std::fs::File, String>,
    first: Option<Result<Supervised, SpawnError>>,
}

/// Opens the job log and starts the first renderer, on the caller's thread:
/// right after the start is journaled, with no task or thread in between
/// (perf: handing both to the job's task cost two thread switches per job;
/// found by benches/bench.rs, jobs row at load 4).
pub fn begin(job: &Job) -> Begun {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&job.log)
        .map_err(|e| format!("cannot open the job log {}: {e}", job.log.display()));
    let first = match (&log, job.invocations.first()) {
        (Ok(_), Some(inv)) => Some(process::spawn(inv, &job.tag)),
        _ => None,
    };
    Begun { log, first }
}

/// [`begin`] with a log already open: a Slurm task's own stdout, so the
/// renderer's output lands in the task log Slurm keeps.
pub fn begin_with_log(job: &Job, log: std::fs::File) -> Begun {
    let first = job
        .invocations
        .first()
        .map(|inv| process::spawn(inv, &job.tag));
    Begun {
        log: Ok(log),
        first,
    }
}

impl Begun {
    /// Why the first renderer could not be started, if it could not.
    pub fn spawn_error(&self) -> Option<&SpawnError> {
        self.first.as_ref().and_then(|r| r.as_ref().err())
    }
}

/// Runs the job to its end, reporting to `events`. Never panics on renderer behaviour.
pub async fn run(
    mut job: Job,
    begun: Begun,
    events: mpsc::Sender<(u64, Event)>,
    mut stop: watch::Receiver<Ctl>,
) {
    let id = job.id;
    let outcome = run_inner(&mut job, begun, &events, &mut stop).await;
    let _ = events.send((id, Event::Finished(outcome))).await;
}

/// How often the job log catches up while a renderer prints little.
const LOG_EVERY: Duration = Duration::from_secs(1);
/// Bytes read from a pipe at once.
const CHUNK: usize = 64 * 1024;

/// The job log: written in large pieces, never a write per line.
struct JobLog(tokio::fs::File);

impl JobLog {
    async fn write(&mut self, out: &mut Output, all: bool) {
        if let Some(bytes) = out.take_log(all) {
            let _ = self.0.write_all(&bytes).await;
        }
    }
}

async fn run_inner(
    job: &mut Job,
    begun: Begun,
    events: &mpsc::Sender<(u64, Event)>,
    stop: &mut watch::Receiver<Ctl>,
) -> Outcome {
    let mut log = match begun.log {
        Ok(f) => JobLog(tokio::fs::File::from_std(f)),
        Err(e) => return Outcome::Failed(e),
    };
    let mut first = begun.first;
    let invocations = std::mem::take(&mut job.invocations);
    let parser = std::mem::replace(&mut job.parser, Box::new(NoParser));
    let mut output = Output::new(parser);
    let far = Duration::from_secs(100 * 365 * 24 * 3600);
    let mut deadline = job.timeout.map(|t| Instant::now() + t);
    for inv in invocations {
        let argv = std::iter::once(inv.program.display().to_string())
            .chain(inv.args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>();
        output.note(&format!("$ {}", argv.join(" ")));
        output.error_line = None;
        let spawned = first
            .take()
            .unwrap_or_else(|| process::spawn(&inv, &job.tag));
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                log.write(&mut output, true).await;
                return Outcome::Failed(e.to_string());
            }
        };
        let pid = i32::try_from(child.pid()).unwrap_or(0);
        let _ = events
            .send((
                job.id,
                Event::Spawned {
                    pid,
                    start: process::start_time(child.pid()),
                },
            ))
            .await;
        let (Some(mut out), Some(mut err)) = (child.stdout(), child.stderr()) else {
            return Outcome::Failed("the renderer's output could not be captured".into());
        };
        let (mut out_buf, mut err_buf) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
        let (mut out_open, mut err_open) = (true, true);
        let mut ended: Option<Outcome> = None;
        let mut last_output = Instant::now();
        let mut suspended_at: Option<Instant> = None;
        let mut log_due = Instant::now() + LOG_EVERY;
        // Set once the renderer itself has exited (and its tree was killed).
        let mut leader_gone = false;
        while out_open || err_open {
            let stall_at = match (job.stall, suspended_at) {
                (Some(s), None) => last_output + s,
                _ => Instant::now() + far,
            };
            let timeout_at = match (deadline, suspended_at) {
                (Some(d), None) => d,
                _ => Instant::now() + far,
            };
            let read = tokio::select! {
                n = out.read(&mut out_buf), if out_open => Some((Stream::Out, n)),
                n = err.read(&mut err_buf), if err_open => Some((Stream::Err, n)),
                // The renderer exited while a helper it started still holds
                // its stdout or stderr (on Windows every child inherits them):
                // waiting reaps it and kills what is left of its tree, so the
                // pipes reach their end once what is in them has been read.
                r = child.wait(), if !leader_gone => {
                    leader_gone = true;
                    if let Err(e) = r {
                        tracing::warn!("job {}: waiting for the renderer failed: {e}", job.id);
                    }
                    None
                }
                _ = tokio::time::sleep_until(log_due) => {
                    log.write(&mut output, true).await;
                    log_due = Instant::now() + LOG_EVERY;
                    // Memory is sampled with the same tick: once a second.
                    if let Some(bytes) = child.tree_memory() {
                        let _ = events.send((job.id, Event::Memory(bytes))).await;
                    }
                    None
                }
                _ = tokio::time::sleep_until(stall_at) => {
                    ended = job.stall.map(Outcome::Stalled);
                    break;
                }
                _ = tokio::time::sleep_until(timeout_at) => {
                    ended = job.timeout.map(Outcome::TimedOut);
                    break;
                }
                r = stop.changed() => {
                    if r.is_err() {
                        ended = Some(Outcome::Interrupted);
                        break;
                    }
                    let ctl = *stop.borrow();
                    match (ctl.suspended, suspended_at) {
                        (true, None) => {
                            if let Err(e) = child.suspend() {
                                tracing::warn!("job {}: cannot suspend the renderer: {e}", job.id);
                            }
                            suspended_at = Some(Instant::now());
                        }
                        (false, Some(at)) => {
                            if let Err(e) = child.resume() {
                                tracing::warn!("job {}: cannot resume the renderer: {e}", job.id);
                            }
                            // Suspended time counts for neither the stall nor the timeout.
                            deadline = deadline.map(|d| d + at.elapsed());
                            last_output = Instant::now();
                            suspended_at = None;
                        }
                        _ => {}
                    }
                    match ctl.stop {
                        Stop::No => {}
                        Stop::Cancel => {
                            ended = Some(Outcome::Cancelled);
                            break;
                        }
                        Stop::Interrupt | Stop::Force => {
                            ended = Some(Outcome::Interrupted);
                            break;
                        }
                    }
                    None
                }
            };
            let Some((stream, n)) = read else { continue };
            match n {
                Ok(n) if n > 0 => {
                    last_output = Instant::now();
                    let buf = match stream {
                        Stream::Out => &out_buf[..n],
                        Stream::Err => &err_buf[..n],
                    };
                    output.feed(stream, buf);
                    for p in output.take_events() {
                        let _ = events.send((job.id, Event::Progress(p))).await;
                    }
                    log.write(&mut output, false).await;
                }
                _ => {
                    output.close(stream);
                    match stream {
                        Stream::Out => out_open = false,
                        Stream::Err => err_open = false,
                    }
                }
            }
        }
        for p in output.take_events() {
            let _ = events.send((job.id, Event::Progress(p))).await;
        }
        if let Some(outcome) = ended {
            let grace = if stop.borrow().stop == Stop::Force {
                Duration::ZERO
            } else {
                job.grace
            };
            let status = child.terminate(grace).await;
            output.note(&format!("# stopped by the node ({outcome:?}): {status:?}"));
            log.write(&mut output, true).await;
            return outcome;
        }
        // Anything the renderer left in its tree dies with it.
        let status = match child.wait().await {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(format!("waiting for the renderer failed: {e}")),
        };
        output.note(&format!("# exit: {status}"));
        log.write(&mut output, true).await;
        let error_line = output.error_line.take();
        if let Some(problem) = crate::renderer::exit_problem(job.kind, status) {
            return Outcome::Failed(match error_line {
                Some(l) => format!("{problem}: {l}"),
                None => problem,
            });
        }
        if let Some(l) = error_line {
            return Outcome::Failed(format!("the renderer reported an error: {l}"));
        }
    }
    Outcome::Done
}

/// Stands in for the job's parser once [`Output`] owns it.
struct NoParser;

impl LineParser for NoParser {
    fn line(&mut self, _: &str) -> Option<crate::renderer::Progress> {
        None
    }
}
