//! `pause:` holds the queue: the running job finishes, nothing new starts
//! until `resume:`. It survives restarts (a journal record).

use droprender_shared::logline::Event as Ev;

use super::{Ctx, Reply};
use crate::ledger::Record;

pub(super) fn apply(ctx: &mut Ctx<'_>) -> Result<Reply, String> {
    if ctx.st.is_paused() {
        return Err("the queue is already paused".into());
    }
    ctx.fx.records.push(Record::Paused { paused: true });
    Ok(Some((
        Ev::Node,
        None,
        "queue paused: the current job finishes, nothing new starts until `resume:`".into(),
    )))
}
