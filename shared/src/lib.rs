//! What droprender's node and client agree on.
//!
//! - [`normalize`] and [`command`]: the commands.txt grammar, defined once.
//! - [`profile`]: per-renderer flag allow-lists (pure, no I/O).
//! - [`logline`], [`status`]: the LOG.txt line and status.txt/status.json formats.
//! - [`states`]: a job's phase and a node's state, the words status files use.
//! - [`files`]: the well-known file names in the synced folder.

pub mod command;
pub mod files;
pub mod help;
pub mod logline;
pub mod normalize;
pub mod profile;
pub mod states;
pub mod status;

pub use command::{Command, ParseError, RenderRequest, parse_line};
pub use normalize::{Normalized, normalize_line};
