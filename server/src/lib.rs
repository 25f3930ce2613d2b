//! droprender-node: the render-node daemon.
//!
//! See ARCHITECTURE.md for the codemap. In short: [`watcher`] turns folder
//! events into hints, [`channel`] finds new command lines exactly once,
//! [`ledger`] makes every decision durable before it is acted on, [`worker`]
//! runs renderers in their own process group, and [`status`] keeps the status
//! files in the folder current. [`node`] ties them together.

pub mod channel;
pub mod ledger;
