//! `priority: 12 high` reorders queued jobs (`high`, `normal`, `low` or
//! -100..100); the LOG line shows the new order.

use droprender_shared::command::priority_word;
use droprender_shared::logline::Event as Ev;

use super::{Ctx, Reply};
use crate::ledger::{JobState, Record};

pub(super) fn apply(ctx: &mut Ctx<'_>, id: u64, p: i32) -> Result<Reply, String> {
    let job = ctx.job(id)?;
    if !job.state().is_queued() {
        return Err(format!(
            "job {id} is {}; only queued jobs can be reordered",
            job.state().word()
        ));
    }
    let mut rec = job.rec.clone();
    rec.priority = p;
    // The order once the record is applied: the ledger's key, this job's priority changed.
    let mut order: Vec<(bool, i64, u64)> = ctx
        .st
        .queue()
        .map(|j| {
            let prio = if j.id() == id { p } else { j.rec.priority };
            (j.state() != JobState::Interrupted, -i64::from(prio), j.id())
        })
        .collect();
    order.sort_unstable();
    let order: Vec<String> = order.iter().map(|k| k.2.to_string()).collect();
    ctx.fx.records.push(Record::Job(rec));
    Ok(Some((
        Ev::Node,
        Some(id),
        format!(
            "priority {}; queue order now {}",
            priority_word(p),
            order.join(", ")
        ),
    )))
}
