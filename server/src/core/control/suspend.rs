//! `suspend: 12` freezes a running render; `resume: 12` thaws it. Nothing
//! is journaled: a restart ends the render anyway (it resumes from its
//! missing frames).

use droprender_shared::logline::Event as Ev;

use super::{Ctx, Reply};
use crate::core::effects::Act;
use crate::ledger::JobState;

pub(super) fn apply(ctx: &mut Ctx<'_>, id: u64, suspend: bool) -> Result<Reply, String> {
    if let Some(why) = &ctx.core.policy.no_suspend {
        return Err(why.replace("{id}", &id.to_string()));
    }
    let job = ctx.job(id)?;
    let (scene, state) = (job.scene().to_string(), job.state());
    let live = ctx
        .core
        .live
        .get_mut(&id)
        .filter(|_| state == JobState::Running)
        .ok_or_else(|| format!("job {id} is not rendering (it is {})", state.word()))?;
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
    if live.pid.is_none() {
        return Err(format!("job {id} has no renderer process yet"));
    }
    live.suspended = suspend;
    ctx.fx.acts.push(Act::Suspend { job: id, suspend });
    let (stop, cont) = ctx.core.policy.freeze;
    Ok(Some(if suspend {
        (
            Ev::Node,
            Some(id),
            format!("{scene}: suspended ({stop}); `resume: {id}` continues it"),
        )
    } else {
        (
            Ev::Resumed,
            Some(id),
            format!("{scene}: continued ({cont})"),
        )
    }))
}
