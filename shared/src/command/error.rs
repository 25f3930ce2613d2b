//! [`ParseError`]: why a line was rejected.

use thiserror::Error;

use crate::normalize::LineError;
use crate::profile::FlagError;

/// Why a line was rejected, in plain words for LOG.txt.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error(transparent)]
    Line(#[from] LineError),
    #[error("not a command: a command starts with a word and a colon, like `rend:` or `progress:`")]
    NoPrefix,
    #[error("unknown command `{0}:`; known commands are {KNOWN}")]
    UnknownCommand(String),
    #[error("`{0}:` takes no arguments")]
    UnexpectedArguments(&'static str),
    #[error("a quote is opened but never closed")]
    UnterminatedQuote,
    #[error("{0}")]
    Invalid(String),
    #[error("`{0}:` needs a job number, e.g. `{0}: 12`")]
    NeedsJob(&'static str),
    /// A `rend:` line's flags or scene, as its renderer profile judged them.
    #[error(transparent)]
    Flag(#[from] FlagError),
}

const KNOWN: &str =
    "rend: progress: cancel: pause: resume: suspend: priority: retry: status: help:";
