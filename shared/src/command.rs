//! The commands.txt grammar, defined once for the node and the client.
//!
//! A line is `word[@node]:rest`. `rend:` queues a render, `progress:` asks for
//! the newest frame. The program token after `rend:` (`render`, `Render.exe`,
//! `blender`) only selects a renderer profile; it is never executed.
//! [`Command::to_line`] writes the canonical text, and parsing that text gives
//! the same command back (a property test holds us to it).

use std::fmt;

use thiserror::Error;

use crate::normalize::{LineError, Normalized, normalize_line, normalize_str};
use crate::profile::{self, Flag, RendererKind};

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
}

/// A validated render request. Paths are still relative text here: the node
/// resolves them against its roots (the client cannot know them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderRequest {
    pub renderer: RendererKind,
    /// The program token as typed (`render`, `Render.exe`, …), kept only so the
    /// canonical line reads like the original. Never executed.
    pub program: Option<String>,
    /// Flags in the order given, with canonical names.
    pub flags: Vec<Flag>,
    /// The scene, as given (relative to the projects root, or absolute).
    pub scene: String,
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
    #[error("`rend:` needs a scene file as its last argument")]
    MissingScene,
    #[error("{flag} is not allowed: {why}")]
    DeniedFlag { flag: String, why: &'static str },
    #[error("{0} is not a known {1} flag")]
    UnknownFlag(String, &'static str),
    #[error("{0} is not a known {1} flag (did you mean {2}?)")]
    MisspelledFlag(String, &'static str, &'static str),
    #[error("{0} is given twice")]
    DuplicateFlag(String),
    #[error("{0} needs a value")]
    MissingValue(String),
    #[error("{flag} {value}: {rule}")]
    BadValue {
        flag: String,
        value: String,
        rule: String,
    },
    #[error("`{0}` comes after the scene; the scene must be the last argument")]
    AfterScene(String),
    #[error("the scene `{0}` is not a {1} file ({2})")]
    BadScene(String, &'static str, &'static str),
    #[error("{0}")]
    Invalid(String),
}

const KNOWN: &str = "`rend:` and `progress:`";

/// Normalises and parses one raw line. `Ok(None)` is a blank line or comment.
pub fn parse_line(raw: &[u8]) -> Result<Option<(String, Command)>, ParseError> {
    match normalize_line(raw)? {
        Normalized::Ignored => Ok(None),
        Normalized::Text(text) => {
            let cmd = parse_normalized(&text)?;
            Ok(Some((text, cmd)))
        }
    }
}

/// Parses a line that is already normalised (see [`crate::normalize`]).
pub fn parse_normalized(text: &str) -> Result<Command, ParseError> {
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
        "rend" => Action::Render(parse_render(tokens)?),
        "progress" => {
            if !tokens.is_empty() {
                return Err(ParseError::UnexpectedArguments("progress"));
            }
            Action::Progress
        }
        other => return Err(ParseError::UnknownCommand(other.to_string())),
    };
    Ok(Command { target, action })
}

/// Parses a string typed on the command line (the client's `send`), applying
/// the same normalisation the node applies.
pub fn parse_str(text: &str) -> Result<Option<(String, Command)>, ParseError> {
    match normalize_str(text) {
        Normalized::Ignored => Ok(None),
        Normalized::Text(t) => {
            let cmd = parse_normalized(&t)?;
            Ok(Some((t, cmd)))
        }
    }
}

fn parse_render(mut tokens: Vec<String>) -> Result<RenderRequest, ParseError> {
    let mut program = None;
    let mut renderer = RendererKind::Maya;
    if let Some(first) = tokens.first()
        && let Some(kind) = RendererKind::from_program_token(first)
    {
        renderer = kind;
        program = Some(tokens.remove(0));
    }
    let (flags, scene) = profile::validate(renderer, &tokens)?;
    Ok(RenderRequest {
        renderer,
        program,
        flags,
        scene,
    })
}

/// Splits on spaces; `"…"` and `'…'` group words (quotes are removed). There
/// are no escapes and no shell: the tokens become argv entries directly.
pub fn tokenize(s: &str) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_token = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_token = true;
            }
            None if c.is_whitespace() => {
                if in_token {
                    out.push(std::mem::take(&mut cur));
                    in_token = false;
                }
            }
            None => {
                cur.push(c);
                in_token = true;
            }
        }
    }
    if quote.is_some() {
        return Err(ParseError::UnterminatedQuote);
    }
    if in_token {
        out.push(cur);
    }
    Ok(out)
}

/// Quotes a token for the canonical line when it needs it.
fn quote(token: &str) -> String {
    let plain = !token.is_empty()
        && !token
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\'');
    if plain {
        token.to_string()
    } else if !token.contains('"') {
        format!("\"{token}\"")
    } else {
        format!("'{token}'")
    }
}

impl Command {
    /// The canonical line for this command (without a newline).
    pub fn to_line(&self) -> String {
        let mut out = match &self.action {
            Action::Render(_) => "rend".to_string(),
            Action::Progress => "progress".to_string(),
        };
        if let Some(t) = &self.target {
            out.push('@');
            out.push_str(t);
        }
        out.push(':');
        if let Action::Render(r) = &self.action {
            let mut words: Vec<String> = Vec::new();
            if let Some(p) = &r.program {
                words.push(quote(p));
            }
            for f in &r.flags {
                words.push(f.name.clone());
                if let Some(v) = &f.value {
                    words.push(quote(v));
                }
            }
            words.push(quote(&r.scene));
            out.push_str(&words.join(" "));
        }
        out
    }

    /// A short label for status files and LOG lines.
    pub fn kind(&self) -> &'static str {
        match self.action {
            Action::Render(_) => "rend",
            Action::Progress => "progress",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Command, ParseError> {
        parse_str(s).map(|o| o.expect("a command").1)
    }

    #[test]
    fn the_papers_line_parses() {
        let c = parse("rend:render -r sw -s 1 -e 10 shot01.mb").expect("valid");
        let Action::Render(r) = &c.action else {
            panic!("not a render")
        };
        assert_eq!(r.renderer, RendererKind::Maya);
        assert_eq!(r.program.as_deref(), Some("render"));
        assert_eq!(r.flag("-r"), Some("sw"));
        assert_eq!(r.flag("-e"), Some("10"));
        assert_eq!(r.scene, "shot01.mb");
        assert_eq!(c.to_line(), "rend:render -r sw -s 1 -e 10 shot01.mb");
    }

    #[test]
    fn program_token_is_optional_and_any_spelling() {
        for line in [
            "rend:-s 1 a.mb",
            "rend:Render -s 1 a.mb",
            "rend:Render.exe -s 1 a.mb",
        ] {
            assert!(parse(line).is_ok(), "{line}");
        }
    }

    #[test]
    fn progress_and_targets() {
        assert_eq!(parse("Progress:").expect("ok").action, Action::Progress);
        let c = parse("progress@boxB:").expect("ok");
        assert_eq!(c.target.as_deref(), Some("boxB"));
        assert_eq!(c.to_line(), "progress@boxB:");
        assert_eq!(
            parse("progress: now"),
            Err(ParseError::UnexpectedArguments("progress"))
        );
    }

    #[test]
    fn rejections_say_why() {
        let e = parse("rend:render -preRender \"python('x')\" a.mb").unwrap_err();
        assert_eq!(e.to_string(), "-preRender is not allowed: it runs MEL code");
        assert!(matches!(parse("hello"), Err(ParseError::NoPrefix)));
        assert!(matches!(
            parse("explode: now"),
            Err(ParseError::UnknownCommand(_))
        ));
        assert!(matches!(
            parse("rend:-s \"1 a.mb"),
            Err(ParseError::UnterminatedQuote)
        ));
    }

    #[test]
    fn quoted_scene_round_trips() {
        let c = parse("rend:-cam 'cam1' \"my shot.mb\"").expect("ok");
        assert_eq!(c.to_line(), "rend:-cam cam1 \"my shot.mb\"");
        assert_eq!(parse(&c.to_line()).expect("ok"), c);
    }
}
