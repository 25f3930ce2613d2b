//! The canonical text of a command: [`Command::to_line`].

use std::fmt;

use super::options::priority_word;
use super::tokens::quote;
use super::{Action, Command, Target};

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
                let spelled = r.profile.words(&f.name, f.value.as_deref());
                words.extend(spelled.iter().map(|w| quote(w)));
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
