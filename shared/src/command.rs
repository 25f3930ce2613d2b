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
use crate::profile::{self, Flag, FlagError, RendererKind};

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

/// Per-job options written as `key=value` anywhere in a `rend:` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOptions {
    /// Wait until these jobs have finished; if one fails, this job is cancelled.
    pub after: Vec<u64>,
    /// Seconds the render may take before it is stopped.
    pub timeout: Option<u64>,
    /// Times to retry after a failure, a stall or a timeout.
    pub retries: Option<u32>,
    pub priority: Option<i32>,
}

impl JobOptions {
    fn words(&self) -> Vec<String> {
        let mut w = Vec::new();
        if !self.after.is_empty() {
            let ids: Vec<String> = self.after.iter().map(u64::to_string).collect();
            w.push(format!("after={}", ids.join(",")));
        }
        if let Some(t) = self.timeout {
            w.push(format!("timeout={}", format_duration(t)));
        }
        if let Some(r) = self.retries {
            w.push(format!("retries={r}"));
        }
        if let Some(p) = self.priority {
            w.push(format!("priority={}", priority_word(p)));
        }
        w
    }
}

pub const PRIORITY_HIGH: i32 = 10;
pub const PRIORITY_LOW: i32 = -10;
/// Longest `timeout=` accepted: 30 days.
pub const MAX_TIMEOUT_SECS: u64 = 30 * 24 * 3600;

/// `high`, `normal`, `low` or a number from -100 to 100.
pub fn parse_priority(v: &str) -> Option<i32> {
    match v.to_ascii_lowercase().as_str() {
        "high" => Some(PRIORITY_HIGH),
        "normal" => Some(0),
        "low" => Some(PRIORITY_LOW),
        n => n.parse::<i32>().ok().filter(|n| (-100..=100).contains(n)),
    }
}

pub fn priority_word(p: i32) -> String {
    match p {
        PRIORITY_HIGH => "high".into(),
        0 => "normal".into(),
        PRIORITY_LOW => "low".into(),
        n => n.to_string(),
    }
}

/// `2h`, `90m`, `1h30m`, `45s` or plain seconds.
pub fn parse_duration(v: &str) -> Option<u64> {
    if let Ok(n) = v.parse::<u64>() {
        return Some(n);
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut any = false;
    for c in v.to_ascii_lowercase().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        num.clear();
        any = true;
    }
    (any && num.is_empty()).then_some(total)
}

pub fn format_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
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
    match normalize_str(text) {
        Normalized::Ignored => Ok(None),
        Normalized::Text(t) => {
            let cmd = parse_normalized(&t)?;
            Ok(Some((t, cmd)))
        }
    }
}

/// Pulls `after=`, `timeout=`, `retries=` and `priority=` out of a `rend:` line.
fn take_options(tokens: &mut Vec<String>) -> Result<JobOptions, ParseError> {
    let mut o = JobOptions::default();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut err = None;
    tokens.retain(|t| {
        let Some((k, v)) = t.split_once('=') else {
            return true;
        };
        let key: &'static str = match k.to_ascii_lowercase().as_str() {
            "after" => "after",
            "timeout" => "timeout",
            "retries" => "retries",
            "priority" => "priority",
            _ => return true,
        };
        if seen.contains(&key) {
            err.get_or_insert(FlagError::DuplicateFlag(format!("{key}=")).into());
            return false;
        }
        seen.push(key);
        let bad = |rule: &str| -> ParseError {
            FlagError::BadValue {
                flag: format!("{key}="),
                value: v.to_string(),
                rule: rule.to_string(),
            }
            .into()
        };
        let r: Result<(), ParseError> = match key {
            "after" => v
                .split(',')
                .map(|n| {
                    n.trim_start_matches('#')
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                })
                .collect::<Option<Vec<u64>>>()
                .filter(|ids| !ids.is_empty() && ids.len() <= 16)
                .map(|ids| o.after = ids)
                .ok_or_else(|| bad("expected job numbers, e.g. after=12 or after=12,13")),
            "timeout" => parse_duration(v)
                .filter(|s| (1..=MAX_TIMEOUT_SECS).contains(s))
                .map(|s| o.timeout = Some(s))
                .ok_or_else(|| {
                    bad("expected a duration such as 2h, 90m or 1h30m (at most 30 days)")
                }),
            "retries" => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 10)
                .map(|n| o.retries = Some(n))
                .ok_or_else(|| bad("expected a whole number from 0 to 10")),
            _ => parse_priority(v)
                .map(|p| o.priority = Some(p))
                .ok_or_else(|| bad("expected high, normal, low or a number from -100 to 100")),
        };
        if let Err(e) = r {
            err.get_or_insert(e);
        }
        false
    });
    match err {
        Some(e) => Err(e),
        None => Ok(o),
    }
}

fn parse_render(mut tokens: Vec<String>) -> Result<RenderRequest, ParseError> {
    let options = take_options(&mut tokens)?;
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
        options,
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
        let mut out = self.kind().to_string();
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
            words.extend(r.options.words());
            out.push_str(&words.join(" "));
        }
        let arg = match &self.action {
            Action::Cancel(Target::All) => Some("all".to_string()),
            Action::Cancel(Target::Job(n))
            | Action::Resume(Some(n))
            | Action::Suspend(n)
            | Action::Retry(n) => Some(n.to_string()),
            Action::Priority(n, p) => Some(format!("{n} {}", priority_word(*p))),
            _ => None,
        };
        if let Some(a) = arg {
            out.push_str(&a);
        }
        out
    }

    /// A short label for status files and LOG lines.
    pub fn kind(&self) -> &'static str {
        match self.action {
            Action::Render(_) => "rend",
            Action::Progress => "progress",
            Action::Cancel(_) => "cancel",
            Action::Pause => "pause",
            Action::Resume(_) => "resume",
            Action::Suspend(_) => "suspend",
            Action::Priority(..) => "priority",
            Action::Retry(_) => "retry",
            Action::Status => "status",
            Action::Help => "help",
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
    fn control_commands() {
        assert_eq!(
            parse("Cancel: 12").expect("ok").action,
            Action::Cancel(Target::Job(12))
        );
        assert_eq!(
            parse("cancel: ALL").expect("ok").action,
            Action::Cancel(Target::All)
        );
        assert_eq!(parse("pause:").expect("ok").action, Action::Pause);
        assert_eq!(parse("resume:").expect("ok").action, Action::Resume(None));
        assert_eq!(
            parse("resume: #3").expect("ok").action,
            Action::Resume(Some(3))
        );
        assert_eq!(parse("suspend: 3").expect("ok").action, Action::Suspend(3));
        assert_eq!(
            parse("priority: 3 high").expect("ok").action,
            Action::Priority(3, 10)
        );
        assert_eq!(
            parse("priority: 3 -5").expect("ok").action,
            Action::Priority(3, -5)
        );
        assert_eq!(parse("retry: 3").expect("ok").to_line(), "retry:3");
        assert!(matches!(
            parse("cancel:"),
            Err(ParseError::NeedsJob("cancel"))
        ));
        assert!(parse("priority: 3 urgent").is_err());
        assert!(parse("status: now").is_err());
    }

    #[test]
    fn job_options_anywhere_in_a_render_line() {
        let c =
            parse("rend:-s 1 after=12,13 a.mb timeout=1h30m retries=2 priority=high").expect("ok");
        let Action::Render(r) = &c.action else {
            panic!("not a render")
        };
        assert_eq!(r.options.after, [12, 13]);
        assert_eq!(r.options.timeout, Some(5400));
        assert_eq!(r.options.retries, Some(2));
        assert_eq!(r.options.priority, Some(10));
        assert_eq!(
            c.to_line(),
            "rend:-s 1 a.mb after=12,13 timeout=1h30m retries=2 priority=high"
        );
        assert_eq!(parse(&c.to_line()).expect("ok"), c);
        assert!(parse("rend:a.mb timeout=forever").is_err());
        assert!(parse("rend:a.mb retries=99").is_err());
        assert!(parse("rend:a.mb after=x").is_err());
        assert!(parse("rend:a.mb after=1 after=2").is_err());
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("45"), Some(45));
        assert_eq!(format_duration(5400), "1h30m");
    }

    #[test]
    fn quoted_scene_round_trips() {
        let c = parse("rend:-cam 'cam1' \"my shot.mb\"").expect("ok");
        assert_eq!(c.to_line(), "rend:-cam cam1 \"my shot.mb\"");
        assert_eq!(parse(&c.to_line()).expect("ok"), c);
    }
}
