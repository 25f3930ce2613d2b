//! `cancel: 12` stops a running render (its whole process tree) or drops a
//! queued job; `cancel: all` does both to every job. A cancelled job never
//! starts again unless someone sends `retry:`.

use droprender_shared::command::Target;
use droprender_shared::logline::Event as Ev;

use super::{Ctx, Reply};
use crate::core::effects::Act;
use crate::exec::{Outcome, Stop};
use crate::ledger::JobState;

pub(super) fn apply(ctx: &mut Ctx<'_>, target: Target) -> Result<Reply, String> {
    match target {
        Target::All => {
            let queued: Vec<u64> = ctx
                .st
                .queue()
                .map(|j| j.id())
                .filter(|id| !ctx.core.held.contains(id))
                .collect();
            let mut n = 0;
            for id in queued {
                let fx = ctx.core.finish(
                    ctx.st,
                    ctx.facts,
                    id,
                    Outcome::Cancelled,
                    Some("cancelled by `cancel: all`".into()),
                    ctx.now,
                );
                ctx.fx.extend(fx);
                n += 1;
            }
            for j in ctx.st.running() {
                ctx.fx.acts.push(Act::Stop {
                    job: j.id(),
                    how: Stop::Cancel,
                });
                n += 1;
            }
            Ok(Some((
                Ev::Cancelled,
                None,
                format!("cancel: all: {n} job(s)"),
            )))
        }
        Target::Job(id) => {
            let state = ctx.job(id)?.state();
            match state {
                JobState::Running => {
                    // The executor stops it; its end is recorded when it reports.
                    ctx.fx.acts.push(Act::Stop {
                        job: id,
                        how: Stop::Cancel,
                    });
                    Ok(None)
                }
                JobState::Queued | JobState::Interrupted => {
                    let fx =
                        ctx.core
                            .finish(ctx.st, ctx.facts, id, Outcome::Cancelled, None, ctx.now);
                    ctx.fx.extend(fx);
                    Ok(None)
                }
                s => Err(format!("job {id} is already {}", s.word())),
            }
        }
    }
}
