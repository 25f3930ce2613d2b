//! droprender-node: the render-node daemon.
//!
//! See ARCHITECTURE.md for the codemap. In short: [`channel`] finds new
//! command lines exactly once, [`core`] decides what they do (no IO),
//! [`ledger`] makes every decision durable before it is acted on, an
//! [`exec`]utor runs renders (argv and parsing from [`renderer`]), and
//! [`node`] is the event loop that applies the core's effects in order.

pub mod channel;
pub mod check_config;
pub mod cli;
pub mod clock;
pub mod config;
pub mod core;
pub mod demo;
pub mod exec;
pub mod frames;
pub mod launch;
pub mod ledger;
pub mod node;
pub mod paths;
pub mod preview;
pub mod programs;
pub mod projects;
pub mod renderer;
pub mod scene;
pub mod schedule;
pub mod service;
pub mod sim;
pub mod status;
pub mod tick;
pub mod webhook;
