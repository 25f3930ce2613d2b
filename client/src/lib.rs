//! droprender: the command-line client. It validates lines with the same
//! grammar the node uses, appends them to commands.txt in one atomic write,
//! and reads the status files the node keeps.

pub mod cli;
pub mod commands;
pub mod watch;

pub use cli::main;
