//! droprender-node: the render-node daemon.
//!
//! See ARCHITECTURE.md for the codemap. In short: [`channel`] finds new
//! command lines exactly once, [`ledger`] makes every decision durable before
//! it is acted on, [`worker`] runs renderers (argv and parsing from
//! [`renderer`]) in their own process group via [`process`], and [`status`]
//! keeps the status files in the folder current. [`node`] ties them together.

pub mod channel;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod ledger;
pub mod node;
pub mod paths;
pub mod preview;
pub mod process;
pub mod projects;
pub mod renderer;
pub mod scene;
pub mod schedule;
pub mod slurm;
pub mod status;
pub mod tick;
pub mod webhook;
pub mod worker;
