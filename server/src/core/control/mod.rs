//! Control commands, one module each: `cancel:`, `pause:`, `resume:`,
//! `suspend:`, `priority:`, `retry:`, `progress:`, `status:`, `help:`.
//! Each checks the command against the state and returns what to do, or
//! why not (a `rejected … because …` LOG line). Every control ends with a
//! `ControlDone` record in the same journal write as its own records, so a
//! crash either leaves it pending (it runs at the next start) or done.

mod cancel;
mod help;
mod pause;
mod priority;
mod progress;
mod resume;
mod retry;
mod status;
mod suspend;

use droprender_shared::command::{Action, Command};
use droprender_shared::logline::{Event as Ev, LineRef, LogLine};

use super::Core;
use super::effects::Effects;
use super::facts::Facts;
use super::time::Now;
use crate::ledger::{Job, Record, State};

/// What a control decides with.
pub(crate) struct Ctx<'a> {
    pub core: &'a mut Core,
    pub st: &'a State,
    pub facts: &'a dyn Facts,
    pub now: &'a Now,
    /// The control's own effects (records, acts, LOG lines).
    pub fx: Effects,
    /// The control's line, and where it was.
    pub line: &'a str,
    pub at: Option<&'a LineRef>,
}

/// A control's answer: a LOG line (event, job, text), or nothing more to say.
pub(crate) type Reply = Option<(Ev, Option<u64>, String)>;

impl Ctx<'_> {
    /// The job a command names, or the rejection users read.
    pub fn job(&self, id: u64) -> Result<&Job, String> {
        self.st
            .job(id)
            .ok_or_else(|| format!("there is no job {id} (job numbers are in status.txt)"))
    }
}

impl Core {
    /// Carries out pending control command `id` (accepted at `at`); every
    /// result lands in LOG.txt.
    pub fn control(
        &mut self,
        st: &State,
        facts: &dyn Facts,
        id: u64,
        at: Option<&LineRef>,
        now: &Now,
    ) -> Effects {
        let Some((_, pending)) = st.pending_controls().find(|(c, _)| *c == id) else {
            return Effects::default();
        };
        let mut ctx = Ctx {
            core: self,
            st,
            facts,
            now,
            fx: Effects::default(),
            line: &pending.line,
            at,
        };
        let result = match &pending.cmd {
            Ok(cmd) => dispatch(&mut ctx, cmd),
            Err(e) => Err(e.to_string()),
        };
        let mut fx = ctx.fx;
        match result {
            Ok(Some((ev, job, text))) => {
                let mut l = LogLine::new(now.wall, ev, text);
                if let Some(j) = job {
                    l = l.job(j);
                }
                fx.log.push(l);
            }
            Ok(None) => {}
            Err(why) => {
                let mut l = LogLine::new(
                    now.wall,
                    Ev::Rejected,
                    format!("{} because {why}", pending.line),
                );
                if let Some(at) = at {
                    l = l.at(at.clone());
                }
                fx.log.push(l);
            }
        }
        fx.records.push(Record::ControlDone { id });
        fx.changed();
        fx
    }
}

fn dispatch(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<Reply, String> {
    match &cmd.action {
        Action::Render(_) => Ok(None),
        Action::Progress => progress::apply(ctx),
        Action::Cancel(target) => cancel::apply(ctx, *target),
        Action::Pause => pause::apply(ctx),
        Action::Resume(None) => resume::apply(ctx),
        Action::Suspend(id) => suspend::apply(ctx, *id, true),
        Action::Resume(Some(id)) => suspend::apply(ctx, *id, false),
        Action::Priority(id, p) => priority::apply(ctx, *id, *p),
        Action::Retry(id) => retry::apply(ctx, *id),
        Action::Status => status::apply(ctx),
        Action::Help => help::apply(ctx),
    }
}
