//! Runs one job: its invocations one after another, output streamed to a
//! per-job log and parsed into progress events for the node.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::process;
use crate::exec::{Ctl, Event, Outcome, Stop};
use crate::renderer::{Invocation, LineParser, Progress};

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

/// Runs the job to its end, reporting to `events`. Never panics on renderer behaviour.
pub async fn run(mut job: Job, events: mpsc::Sender<(u64, Event)>, mut stop: watch::Receiver<Ctl>) {
    let id = job.id;
    let outcome = run_inner(&mut job, &events, &mut stop).await;
    let _ = events.send((id, Event::Finished(outcome))).await;
}

async fn run_inner(
    job: &mut Job,
    events: &mpsc::Sender<(u64, Event)>,
    stop: &mut watch::Receiver<Ctl>,
) -> Outcome {
    let mut log = match tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&job.log)
        .await
    {
        Ok(f) => tokio::io::BufWriter::new(f),
        Err(e) => {
            return Outcome::Failed(format!(
                "cannot open the job log {}: {e}",
                job.log.display()
            ));
        }
    };
    let invocations = std::mem::take(&mut job.invocations);
    let far = Duration::from_secs(100 * 365 * 24 * 3600);
    let mut deadline = job.timeout.map(|t| Instant::now() + t);
    for inv in invocations {
        let argv = std::iter::once(inv.program.display().to_string())
            .chain(inv.args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>();
        let _ = log
            .write_all(format!("$ {}\n", argv.join(" ")).as_bytes())
            .await;
        let mut child = match process::spawn(&inv, &job.tag) {
            Ok(c) => c,
            Err(e) => {
                let _ = log.flush().await;
                return Outcome::Failed(format!(
                    "cannot start {}: {e}; check the renderer path in the node's config",
                    inv.program.display()
                ));
            }
        };
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        let _ = events
            .send((
                job.id,
                Event::Spawned {
                    pid,
                    start: process::start_time(pid),
                },
            ))
            .await;
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            return Outcome::Failed("the renderer's output could not be captured".into());
        };
        let mut out = BufReader::new(out).lines();
        let mut err = BufReader::new(err).lines();
        let (mut out_open, mut err_open) = (true, true);
        let mut error_line: Option<String> = None;
        let mut ended: Option<Outcome> = None;
        let mut last_output = Instant::now();
        let mut suspended_at: Option<Instant> = None;
        while out_open || err_open {
            let stall_at = match (job.stall, suspended_at) {
                (Some(s), None) => last_output + s,
                _ => Instant::now() + far,
            };
            let timeout_at = match (deadline, suspended_at) {
                (Some(d), None) => d,
                _ => Instant::now() + far,
            };
            tokio::select! {
                l = out.next_line(), if out_open => match l {
                    Ok(Some(l)) => {
                        last_output = Instant::now();
                        handle(job, events, &mut log, &l, &mut error_line).await;
                    }
                    _ => out_open = false,
                },
                l = err.next_line(), if err_open => match l {
                    Ok(Some(l)) => {
                        last_output = Instant::now();
                        handle(job, events, &mut log, &l, &mut error_line).await;
                    }
                    _ => err_open = false,
                },
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
                            process::freeze(pid, true);
                            suspended_at = Some(Instant::now());
                        }
                        (false, Some(at)) => {
                            process::freeze(pid, false);
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
                }
            }
        }
        if let Some(outcome) = ended {
            let grace = if stop.borrow().stop == Stop::Force {
                Duration::ZERO
            } else {
                job.grace
            };
            let status = process::terminate(&mut child, grace).await;
            let _ = log
                .write_all(format!("# stopped by the node ({outcome:?}): {status:?}\n").as_bytes())
                .await;
            let _ = log.flush().await;
            return outcome;
        }
        let status = match child.wait().await {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(format!("waiting for the renderer failed: {e}")),
        };
        // Anything the renderer left in its group dies with it.
        process::kill_group(pid);
        let _ = log
            .write_all(format!("# exit: {status}\n").as_bytes())
            .await;
        let _ = log.flush().await;
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

async fn handle(
    job: &mut Job,
    events: &mpsc::Sender<(u64, Event)>,
    log: &mut tokio::io::BufWriter<tokio::fs::File>,
    line: &str,
    error_line: &mut Option<String>,
) {
    let _ = log.write_all(line.as_bytes()).await;
    let _ = log.write_all(b"\n").await;
    let _ = log.flush().await;
    if let Some(p) = job.parser.line(line) {
        if let Progress::Error(e) = &p {
            error_line.get_or_insert_with(|| e.clone());
        }
        let _ = events.send((job.id, Event::Progress(p))).await;
    }
}
