//! `help:` writes help.txt with the grammar, for a phone. Whether the write
//! worked is only known once the node has tried: the node logs it.

use super::{Ctx, Reply};
use crate::core::effects::Act;

pub(super) fn apply(ctx: &mut Ctx<'_>) -> Result<Reply, String> {
    ctx.fx.acts.push(Act::WriteHelp {
        line: ctx.line.to_string(),
        at: ctx.at.cloned(),
    });
    Ok(None)
}
