//! The commands.txt grammar, defined once for the node and the client.
//!
//! A line is `word[@node]:rest`. `rend:` queues a render, `progress:` asks for
//! the newest frame. The program token after `rend:` (`render`, `Render.exe`,
//! `blender`, `husk`…) only selects a renderer profile; it is never executed.
//! The `_with` functions take the profiles to use; the others use this
//! process's ([`profile::installed`]: the built-ins unless a node installed
//! its config's).
//! [`Command::to_line`] writes the canonical text, and parsing that text gives
//! the same command back (a property test holds us to it).

mod error;
mod line;
mod options;
mod tokens;

#[cfg(test)]
mod tests;

pub use error::ParseError;
pub use options::{
    JobOptions, MAX_TIMEOUT_SECS, PRIORITY_HIGH, PRIORITY_LOW, format_duration, parse_duration,
    parse_priority, priority_word,
};
pub use tokens::tokenize;

use crate::normalize::{Normalized, normalize_line, normalize_str};
use crate::profile::{self, Flag, ProfileRef, Profiles, RendererKind};
use options::take_options;

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The node this line is addressed to (`rend@boxB:`), if any.
    pub target: Option<String>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `rend:` — queue a render.
    Render(RenderRequest),
    /// `progress:` — publish the newest finished frame and a preview.
    Progress,
    /// `cancel: 12`, `cancel: all` — kill a running render or drop a queued one.
    Cancel(Target),
    /// `pause:` — hold the queue after the current job.
    Pause,
    /// `resume:` releases the queue; `resume: 12` continues a suspended render.
    Resume(Option<u64>),
    /// `suspend: 12` — SIGSTOP a running render.
    Suspend(u64),
    /// `priority: 12 high|normal|low|<n>` — reorder queued jobs.
    Priority(u64, i32),
    /// `retry: 12` — requeue a failed or cancelled job; only missing frames render.
    Retry(u64),
    /// `status:` — rewrite status.txt now.
    Status,
    /// `help:` — write help.txt with the grammar.
    Help,
}

/// Which jobs a `cancel:` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Job(u64),
    All,
}

/// A validated render request. Paths are still relative text here: the node
/// resolves them against its roots (the client cannot know them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderRequest {
    pub renderer: RendererKind,
    /// The profile that judged the line (and tells the node how to run it).
    pub profile: ProfileRef,
    /// The program token as typed (`render`, `Render.exe`, …), kept only so the
    /// canonical line reads like the original. Never executed.
    pub program: Option<String>,
    /// Flags in the order given, with canonical names.
    pub flags: Vec<Flag>,
    /// The scene, as given (relative to the projects root, or absolute).
    pub scene: String,
    pub options: JobOptions,
}

impl RenderRequest {
    /// The value of a flag, by canonical name.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| f.value.as_deref())
    }

    pub fn has_flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f.name == name)
    }
}

fn job_number(word: &'static str, tokens: &[String]) -> Result<u64, ParseError> {
    match tokens {
        [one] => one
            .trim_start_matches('#')
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(ParseError::NeedsJob(word)),
        [] => Err(ParseError::NeedsJob(word)),
        _ => Err(ParseError::Invalid(format!(
            "`{word}:` takes one job number, e.g. `{word}: 12`"
        ))),
    }
}

fn no_args(word: &'static str, tokens: &[String]) -> Result<(), ParseError> {
    if tokens.is_empty() {
        Ok(())
    } else {
        Err(ParseError::UnexpectedArguments(word))
    }
}

/// Normalises and parses one raw line. `Ok(None)` is a blank line or comment.
/// Uses this process's profiles ([`profile::installed`]).
pub fn parse_line(raw: &[u8]) -> Result<Option<(String, Command)>, ParseError> {
    parse_line_with(raw, profile::installed())
}

/// [`parse_line`] with these renderer profiles.
pub fn parse_line_with(
    raw: &[u8],
    profiles: &Profiles,
) -> Result<Option<(String, Command)>, ParseError> {
    match normalize_line(raw)? {
        Normalized::Ignored => Ok(None),
        Normalized::Text(text) => {
            let cmd = parse_normalized_with(&text, profiles)?;
            Ok(Some((text, cmd)))
        }
    }
}

/// Parses a line that is already normalised (see [`crate::normalize`]).
pub fn parse_normalized(text: &str) -> Result<Command, ParseError> {
    parse_normalized_with(text, profile::installed())
}

/// [`parse_normalized`] with these renderer profiles.
pub fn parse_normalized_with(text: &str, profiles: &Profiles) -> Result<Command, ParseError> {
    let (head, rest) = text.split_once(':').ok_or(ParseError::NoPrefix)?;
    let (word, target) = match head.split_once('@') {
        Some((w, t)) => (w, Some(t.to_string())),
        None => (head, None),
    };
    if word.is_empty() || !word.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(ParseError::NoPrefix);
    }
    let tokens = tokenize(rest)?;
    let action = match word {
        "rend" => Action::Render(parse_render(tokens, profiles)?),
        "progress" => no_args("progress", &tokens).map(|()| Action::Progress)?,
        "cancel" => match tokens.as_slice() {
            [a] if a.eq_ignore_ascii_case("all") => Action::Cancel(Target::All),
            t => Action::Cancel(Target::Job(job_number("cancel", t)?)),
        },
        "pause" => no_args("pause", &tokens).map(|()| Action::Pause)?,
        "resume" => match tokens.as_slice() {
            [] => Action::Resume(None),
            t => Action::Resume(Some(job_number("resume", t)?)),
        },
        "suspend" => Action::Suspend(job_number("suspend", &tokens)?),
        "priority" => match tokens.as_slice() {
            [job, p] => {
                let id = job_number("priority", std::slice::from_ref(job))?;
                let p = parse_priority(p).ok_or_else(|| {
                    ParseError::Invalid(format!(
                        "priority `{p}`: expected high, normal, low or a number from -100 to 100"
                    ))
                })?;
                Action::Priority(id, p)
            }
            _ => {
                return Err(ParseError::Invalid(
                    "`priority:` takes a job number and a priority, e.g. `priority: 12 high`"
                        .into(),
                ));
            }
        },
        "retry" => Action::Retry(job_number("retry", &tokens)?),
        "status" => no_args("status", &tokens).map(|()| Action::Status)?,
        "help" => no_args("help", &tokens).map(|()| Action::Help)?,
        other => return Err(ParseError::UnknownCommand(other.to_string())),
    };
    Ok(Command { target, action })
}

/// Parses a string typed on the command line (the client's `send`), applying
/// the same normalisation the node applies.
pub fn parse_str(text: &str) -> Result<Option<(String, Command)>, ParseError> {
    parse_str_with(text, profile::installed())
}

/// [`parse_str`] with these renderer profiles (a client uses the node's).
pub fn parse_str_with(
    text: &str,
    profiles: &Profiles,
) -> Result<Option<(String, Command)>, ParseError> {
    match normalize_str(text) {
        Normalized::Ignored => Ok(None),
        Normalized::Text(t) => {
            let cmd = parse_normalized_with(&t, profiles)?;
            Ok(Some((t, cmd)))
        }
    }
}

fn parse_render(mut tokens: Vec<String>, profiles: &Profiles) -> Result<RenderRequest, ParseError> {
    let options = take_options(&mut tokens)?;
    let mut program = None;
    let mut profile = profiles.default_profile();
    if let Some(first) = tokens.first()
        && let Some(p) = profiles.for_program(first)
    {
        profile = p;
        program = Some(tokens.remove(0));
    }
    let (flags, scene) = profile.validate(&tokens)?;
    Ok(RenderRequest {
        renderer: profile.kind(),
        profile: profile.clone(),
        program,
        flags,
        scene,
        options,
    })
}
