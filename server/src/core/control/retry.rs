//! `retry: 12` requeues a failed or cancelled job; frames already on disk
//! are kept, so only the missing ones render.

use droprender_shared::logline::Event as Ev;

use super::{Ctx, Reply};
use crate::ledger::{JobState, Record};

pub(super) fn apply(ctx: &mut Ctx<'_>, id: u64) -> Result<Reply, String> {
    let job = ctx.job(id)?;
    if !matches!(job.state(), JobState::Failed | JobState::Cancelled) {
        return Err(format!(
            "job {id} is {}; only failed or cancelled jobs can be retried",
            job.state().word()
        ));
    }
    let mut rec = job.rec.clone();
    let scene = job.scene().to_string();
    rec.state = JobState::Queued;
    rec.failures = 0;
    rec.ended = None;
    rec.message = Some("requeued by `retry:`".into());
    ctx.fx.records.push(Record::Job(rec));
    Ok(Some((
        Ev::Retrying,
        Some(id),
        format!("{scene}: requeued; frames already on disk are kept"),
    )))
}
