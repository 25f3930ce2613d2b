//! New lines from a command file become jobs, control commands and
//! rejections, in line order. The result is one ingest record (with the
//! channel's cursor and counts) and the steps to take once it is durable.

use droprender_shared::command::{Action, RenderRequest};
use droprender_shared::files::Source;
use droprender_shared::logline::{Event as Ev, LineRef, LogLine};

use super::Core;
use super::facts::Facts;
use super::resolve::resolve;
use super::time::Now;
use crate::channel::Plan;
use crate::ledger::{Control, JobRecord, JobState, State};
use crate::renderer::{self, Resolved};

/// What to do, in line order, once the ingest is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A job joins the queue.
    Job(u64),
    /// A control command runs (after the jobs before it had their chance to start).
    Control(u64, LineRef),
}

/// A plan turned into decisions.
#[derive(Debug)]
pub struct Intake {
    /// The channel's plan, its batch now carrying the new jobs and controls.
    pub plan: Plan,
    pub steps: Vec<Step>,
    pub log: Vec<LogLine>,
    /// Job numbers up to here are taken (rejected render lines take one too).
    pub next_job: u64,
}

impl Intake {
    pub fn jobs(&self) -> impl Iterator<Item = u64> + '_ {
        self.steps.iter().filter_map(|s| match s {
            Step::Job(id) => Some(*id),
            Step::Control(..) => None,
        })
    }
}

impl Core {
    /// Decides what each new line of `plan` becomes.
    pub fn intake(&self, st: &State, facts: &dyn Facts, mut plan: Plan, now: &Now) -> Intake {
        let copy = match &plan.source {
            Source::Main => None,
            Source::Copy(n) => Some(n.clone()),
        };
        let at = |line| LineRef {
            copy: copy.clone(),
            line,
        };
        let mut log: Vec<LogLine> = Vec::new();
        let mut steps = Vec::new();
        let mut next_job = st.peek_job_id();
        let mut next_control = st.peek_control_id();
        let mut n_controls = 0;
        for nl in std::mem::take(&mut plan.new_lines) {
            let cmd = match nl.parsed {
                Ok(c) => c,
                Err(e) => {
                    log.push(
                        LogLine::new(now.wall, Ev::Rejected, format!("{e} | {}", nl.text))
                            .at(at(nl.lineno)),
                    );
                    continue;
                }
            };
            // Lines for other nodes are theirs; unaddressed ones belong to the default node.
            let mine = match &cmd.target {
                Some(t) => t.eq_ignore_ascii_case(&self.policy.name),
                None => self.policy.runs_unaddressed,
            };
            if !mine {
                continue;
            }
            match &cmd.action {
                Action::Render(req) => {
                    let id = next_job;
                    next_job += 1;
                    match self.check_new(st, facts, req, id, &plan.batch.jobs) {
                        Ok(r) => {
                            plan.batch.jobs.push(JobRecord {
                                id,
                                line: nl.text.clone(),
                                source: plan.source.file_name().to_string(),
                                lineno: nl.lineno,
                                state: JobState::Queued,
                                submitted: now.stamp(),
                                started: None,
                                ended: None,
                                render_secs: 0.0,
                                attempts: 0,
                                message: None,
                                output_dir: r.output_dir,
                                frames_total: renderer::frames_total(req),
                                frames_done: 0,
                                proc: None,
                                priority: req.options.priority.unwrap_or(0),
                                failures: 0,
                                slurm: None,
                                slot: None,
                                frame_summary: None,
                            });
                            log.push(
                                LogLine::new(now.wall, Ev::Accepted, cmd.to_line())
                                    .job(id)
                                    .at(at(nl.lineno)),
                            );
                            steps.push(Step::Job(id));
                        }
                        Err(reason) => log.push(
                            LogLine::new(now.wall, Ev::Rejected, format!("{reason} | {}", nl.text))
                                .at(at(nl.lineno)),
                        ),
                    }
                }
                _ => {
                    let c = Control {
                        id: next_control,
                        line: nl.text.clone(),
                    };
                    next_control += 1;
                    steps.push(Step::Control(c.id, at(nl.lineno)));
                    n_controls += 1;
                    plan.batch.controls.push(c);
                }
            }
        }
        for (lineno, text) in &plan.repeats {
            log.push(
                LogLine::new(
                    now.wall,
                    Ev::Skipped,
                    format!("{text} | this occurrence already ran before commands.txt was edited; add the line once more to run it again"),
                )
                .at(at(*lineno)),
            );
        }
        if plan.history && plan.skipped > 0 {
            log.push(LogLine::new(
                now.wall,
                Ev::Skipped,
                format!(
                    "{} line(s) already in {} when this node first started: history, not run",
                    plan.skipped,
                    plan.source.file_name()
                ),
            ));
        } else if plan.rewritten {
            let new = log
                .iter()
                .filter(|l| matches!(l.event, Ev::Accepted | Ev::Rejected))
                .count()
                + n_controls;
            log.push(LogLine::new(
                now.wall,
                Ev::Node,
                format!(
                    "{} was rewritten; {} line(s) were already handled, {new} new",
                    plan.source.file_name(),
                    plan.skipped,
                ),
            ));
        }
        Intake {
            plan,
            steps,
            log,
            next_job,
        }
    }

    /// Checks a new render line against this node: roots, renderers,
    /// threads, and that `after=` names earlier jobs.
    fn check_new(
        &self,
        st: &State,
        facts: &dyn Facts,
        req: &RenderRequest,
        id: u64,
        batch: &[JobRecord],
    ) -> Result<Resolved, String> {
        for a in &req.options.after {
            let known = st.job(*a).is_some() || batch.iter().any(|j| j.id == *a);
            if *a >= id || !known {
                return Err(format!("after={a}: there is no earlier job {a}"));
            }
        }
        super::slots::check(&self.policy.slots, &needs(req))?;
        resolve(&self.policy, facts, req, id, None)
    }
}

/// What a request asks of a slot.
pub fn needs(req: &RenderRequest) -> super::slots::Needs<'_> {
    super::slots::Needs {
        gpus: req.options.gpus.unwrap_or(0),
        slot: req.options.slot.as_deref(),
    }
}
