//! `resume:` (no job number) releases a paused queue. (`resume: 12`
//! continues a suspended render: see `suspend`.)

use droprender_shared::logline::Event as Ev;

use super::{Ctx, Reply};
use crate::ledger::Record;

pub(super) fn apply(ctx: &mut Ctx<'_>) -> Result<Reply, String> {
    if !ctx.st.is_paused() {
        return Err("the queue is not paused".into());
    }
    ctx.fx.records.push(Record::Paused { paused: false });
    Ok(Some((Ev::Node, None, "queue resumed".into())))
}
