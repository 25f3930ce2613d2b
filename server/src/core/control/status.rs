//! `status:` rewrites the status files now, even if nothing changed (a
//! phone that lost them, a sync client that mangled them).

use droprender_shared::logline::Event as Ev;

use super::{Ctx, Reply};
use crate::core::effects::Act;

pub(super) fn apply(ctx: &mut Ctx<'_>) -> Result<Reply, String> {
    ctx.fx.acts.push(Act::RewriteStatus);
    Ok(Some((Ev::Node, None, "status.txt rewritten".into())))
}
