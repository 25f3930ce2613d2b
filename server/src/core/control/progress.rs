//! `progress:` copies the newest frame into the folder with preview.jpg and
//! contact.jpg: of the running job, else of the newest job that rendered.

use droprender_shared::logline::Event as Ev;

use super::{Ctx, Reply};
use crate::core::effects::Act;
use crate::ledger::JobState;

pub(super) fn apply(ctx: &mut Ctx<'_>) -> Result<Reply, String> {
    let job = ctx.st.running().next().or_else(|| {
        ctx.st
            .jobs()
            .rev()
            .find(|j| j.state() != JobState::Queued && ctx.facts.is_dir(&j.rec.output_dir))
    });
    match job {
        Some(j) => ctx.fx.acts.push(Act::Previews {
            job: j.id(),
            log: true,
        }),
        None => ctx
            .fx
            .say(ctx.now, Ev::Progress, "no job has rendered anything yet"),
    }
    Ok(None)
}
