//! Carrying out the core's effects, in their fixed order: journal, acts,
//! status, LOG. And the three flows that chain decisions: an ingest (lines
//! in file order), a control command, and starting what can start.

use droprender_shared::files;
use droprender_shared::logline::{Event as Ev, LineRef, LogLine};
use droprender_storage::Folder;

use std::path::PathBuf;
use tokio::time::Instant;

use super::{Internal, Node, blocking};
use crate::channel::Plan;
use crate::core::intake::{Intake, Step};
use crate::core::live::FrameStat;
use crate::core::time::stamp;
use crate::core::{Act, Effects};
use crate::exec::ExecJob;
use crate::exec::local::process;
use crate::frames::{self, Timing, verify::Verdict};
use crate::ledger::{LedgerError, Record};
use crate::webhook::Notice;

impl<F: Folder> Node<F> {
    /// Applies a decision: its records are made durable first; if that
    /// fails nothing else happens, and the caller says so.
    pub(super) async fn apply(&mut self, fx: Effects) -> Result<(), LedgerError> {
        if !fx.records.is_empty() {
            let (ledger, records) = (&mut self.ledger, fx.records);
            blocking(|| ledger.append(records))?;
        }
        for act in fx.acts {
            self.act(act).await;
        }
        self.publish.status(fx.status, Instant::now());
        self.publish.log(fx.log);
        Ok(())
    }

    /// [`Node::apply`], with a LOG warning when the journal refuses.
    pub(super) async fn apply_or_warn(&mut self, fx: Effects, what: &str) {
        if let Err(e) = self.apply(fx).await {
            self.warn_once(format!("{what}: {e}"));
        }
    }

    async fn act(&mut self, act: Act) {
        match act {
            Act::Start(s) => {
                let id = s.job;
                let _ = std::fs::create_dir_all(&s.resolved.output_dir);
                let job = ExecJob {
                    id,
                    resolved: s.resolved,
                    done: s.done,
                    attach: s.attach,
                    priority: s.priority,
                    timeout: s.timeout,
                    log: self.core.policy.job_log(id),
                    tag: process::tag(&self.node_id, id),
                    slot: s.slot,
                };
                let handle = self.executor.start(job, self.events_tx.clone());
                self.handles.insert(id, handle);
            }
            Act::Stop { job, how } => {
                if let Some(h) = self.handles.get(&job) {
                    h.stop(how);
                }
            }
            Act::Suspend { job, suspend } => {
                if let Some(h) = self.handles.get(&job) {
                    h.suspend(suspend);
                }
            }
            Act::Previews { job, log } => self.previews(job, log),
            Act::Video { job } => self.video(job),
            Act::JudgeFrame {
                job,
                frame,
                path,
                stat,
            } => self.judge_frame(job, frame, path, stat),
            Act::Notify { job, kind, message } => {
                if let Some(j) = self.ledger.job(job) {
                    self.notifier.send(Notice {
                        event: kind.word().into(),
                        node: self.cfg.name.clone(),
                        job,
                        scene: j.scene().to_string(),
                        frames_done: j.rec.frames_done,
                        frames_total: j.rec.frames_total,
                        message,
                        time: self.now().stamp(),
                    });
                }
            }
            Act::WriteHelp { line, at } => {
                let wrote = self
                    .publish
                    .writer
                    .put(&*self.folder, files::HELP, help_text(&self.cfg))
                    .await;
                let now = self.now();
                let l = match wrote {
                    Ok(_) => LogLine::new(now.wall, Ev::Node, "help.txt written".to_string()),
                    Err(e) => {
                        let mut l = LogLine::new(
                            now.wall,
                            Ev::Rejected,
                            format!("{line} because help.txt could not be written: {e}"),
                        );
                        if let Some(at) = at {
                            l = l.at(at);
                        }
                        l
                    }
                };
                self.publish.log(vec![l]);
            }
            Act::RewriteStatus => self.publish.forget_written(),
        }
    }

    /// Judges a frame just rendered, off the runtime, and reports the
    /// verdict (a bad frame no longer counts). The job's end waits for it.
    fn judge_frame(&mut self, job: u64, frame: i64, path: PathBuf, stat: FrameStat) {
        let (Some(checks), Some(j)) = (self.cfg.verify, self.ledger.job(job)) else {
            return;
        };
        let dir = j.rec.output_dir.clone();
        let timing = Timing {
            started: stamp(stat.started),
            ended: stamp(stat.ended()),
            secs: stat.secs,
            peak_mem_mb: stat.peak_mem.map(|b| b.div_ceil(1024 * 1024)),
        };
        self.judging.entry(job).or_default().frames += 1;
        let tx = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let judged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                frames::judge_one(&dir, &path, frame, Some(&timing), checks)
            }));
            let bad = match judged {
                Ok(Some(Verdict::Bad(why))) => Some(why),
                Ok(_) => None,
                // A file that crashes the decoder is not a good frame.
                Err(_) => Some("decoding it crashed".to_string()),
            };
            // Sent whatever the verdict: the job's end waits for it.
            let _ = tx.blocking_send(Internal::Judged { job, frame, bad });
        });
    }

    /// Turns a plan's new lines into jobs, controls and rejections; makes
    /// them durable; then acts in line order: jobs before a `pause:` may
    /// start, jobs after it wait for it.
    pub(super) async fn accept(&mut self, plan: Plan) -> Result<(), LedgerError> {
        let now = self.now();
        let (core, st, facts) = (&self.core, self.ledger.state(), &self.facts);
        let Intake {
            mut plan,
            steps,
            log,
            next_job,
        } = blocking(|| core.intake(st, facts, plan, &now));
        let rebase = plan.rebase.take();
        let (ledger, batch) = (&mut self.ledger, plan.batch);
        // Durable first.
        blocking(|| match rebase {
            Some(table) => ledger.rebase(batch, table),
            None => ledger.commit(batch),
        })?;
        self.ledger.reserve_job_ids(next_job);
        self.publish.log(log);
        self.core.hold(steps.iter().filter_map(|s| match s {
            Step::Job(id) => Some(*id),
            Step::Control(..) => None,
        }));
        for step in steps {
            match step {
                Step::Job(id) => self.core.release(id),
                Step::Control(id, at) => {
                    self.start_ready().await;
                    self.run_control(id, Some(&at)).await;
                }
            }
        }
        self.core.release_all();
        self.start_ready().await;
        self.publish.changed();
        Ok(())
    }

    /// Carries out pending control command `id`.
    pub(super) async fn run_control(&mut self, id: u64, at: Option<&LineRef>) {
        let now = self.now();
        let (core, st, facts) = (&mut self.core, self.ledger.state(), &self.facts);
        let fx = blocking(|| core.control(st, facts, id, at, &now));
        self.apply_or_warn(fx, "cannot record a command").await;
    }

    /// Starts what can start, one decision at a time, until nothing changes.
    pub(super) async fn start_ready(&mut self) {
        let _ = self.settle(Effects::default()).await;
    }

    /// Applies `fx`, then starts what can start after it, one decision at a
    /// time until nothing changes. The records of all of them become
    /// durable in one write and one fsync (group commit: a job's end and
    /// the next job's start cost one fsync, not two; found by
    /// benches/bench.rs, jobs row at load 4), and only then does anything
    /// act. If that fails nothing acts: the starts are tried again after
    /// `retry_after`, and the error is the caller's to report for `fx`.
    pub(super) async fn settle(&mut self, mut fx: Effects) -> Result<(), LedgerError> {
        let (ledger, records) = (&mut self.ledger, std::mem::take(&mut fx.records));
        blocking(|| ledger.stage(records))?;
        let mut decided = vec![fx];
        let mut starts = Vec::new();
        let result = loop {
            let now = self.now();
            let (core, st, facts) = (&mut self.core, self.ledger.state(), &self.facts);
            let mut fx = blocking(|| core.start_next(st, facts, &now));
            let id = fx.records.iter().find_map(|r| match r {
                Record::Job(j) => Some(j.id),
                _ => None,
            });
            let Some(id) = id else {
                // Only notes changed (why jobs wait): nothing durable.
                decided.push(fx);
                let ledger = &mut self.ledger;
                break blocking(|| ledger.sync());
            };
            starts.push((id, fx.acts.iter().any(|a| matches!(a, Act::Start(_)))));
            let (ledger, records) = (&mut self.ledger, std::mem::take(&mut fx.records));
            decided.push(fx);
            if let Err(e) = blocking(|| ledger.stage(records)) {
                break Err(e);
            }
        };
        if let Err(e) = result {
            let now = self.now();
            for (id, starting) in starts {
                self.warn_once(if starting {
                    format!("cannot start job {id}: {e}")
                } else {
                    format!("cannot record job {id}: {e}")
                });
                // Fix (found by tests/reliability_faults.rs, long run,
                // state disk full): the start was retried at the next loop
                // turn, and the warning's own LOG.txt append woke the loop
                // again: a busy loop writing ~2000 LOG lines a second. Retry
                // after the reconcile interval instead.
                self.core.start_failed(id, &now);
            }
            return Err(e);
        }
        for fx in decided {
            for act in fx.acts {
                self.act(act).await;
            }
            self.publish.status(fx.status, Instant::now());
            self.publish.log(fx.log);
        }
        Ok(())
    }
}

/// help.txt with this node's renderers (its config profiles included).
fn help_text(cfg: &crate::config::Config) -> Vec<u8> {
    droprender_shared::help::text(&cfg.profiles).into_bytes()
}
