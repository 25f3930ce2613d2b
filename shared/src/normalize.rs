//! Turning one raw line of commands.txt into its normalised text.
//!
//! Phones and Windows editors change text in ways the user never sees: a BOM,
//! CRLF, trailing spaces, a capitalised first letter, “smart” quotes and en/em
//! dashes typed in place of `-`. Normalising them here means the identity of a
//! command (its normalised text) does not depend on which device typed it.

use thiserror::Error;

/// Longest accepted line, in bytes, before normalisation.
pub const MAX_LINE_BYTES: usize = 4096;

/// What a raw line becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Normalized {
    /// A blank line or a `#` comment: not a command, never logged.
    Ignored,
    /// The normalised text of a command line (it may still fail to parse).
    Text(String),
}

/// Why a line could not even be read as text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LineError {
    #[error("the line is {0} bytes long; the limit is {MAX_LINE_BYTES}")]
    TooLong(usize),
    #[error("the line contains a NUL byte")]
    Nul,
    #[error("the line is not valid UTF-8 text")]
    InvalidUtf8,
}

/// Normalises one line (without its terminating `\n`).
pub fn normalize_line(raw: &[u8]) -> Result<Normalized, LineError> {
    if raw.len() > MAX_LINE_BYTES {
        return Err(LineError::TooLong(raw.len()));
    }
    if raw.contains(&0) {
        return Err(LineError::Nul);
    }
    let text = std::str::from_utf8(raw).map_err(|_| LineError::InvalidUtf8)?;
    Ok(normalize_str(text))
}

/// Normalises a line that is already known to be text.
pub fn normalize_str(text: &str) -> Normalized {
    if already_normal(text) {
        return if text.is_empty() || text.starts_with('#') {
            Normalized::Ignored
        } else {
            Normalized::Text(text.to_string())
        };
    }
    let mut mapped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            // BOM and zero-width characters some editors insert.
            '\u{feff}' | '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' => {}
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{201f}' | '\u{2033}' | '\u{00ab}'
            | '\u{00bb}' => mapped.push('"'),
            '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}' | '\u{2032}' => mapped.push('\''),
            // Hyphen, non-breaking hyphen, figure dash, en dash, em dash, bar, minus sign.
            '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
            | '\u{2212}' => mapped.push('-'),
            c if c.is_whitespace() || c.is_control() => mapped.push(' '),
            c => mapped.push(c),
        }
    }
    let collapsed = collapse_spaces(mapped.trim());
    if collapsed.is_empty() || collapsed.starts_with('#') {
        return Normalized::Ignored;
    }
    Normalized::Text(normalize_prefix(&collapsed))
}

/// True when every step of [`normalize_str`] would leave `text` as it is:
/// printable ASCII only (nothing to map), no space at either end or twice in
/// a row (nothing to trim or collapse), and a command word before the first
/// `:` that has no capital and no space, with no space after the `:`
/// (nothing for `normalize_prefix` to change). Most lines are like this.
///
/// Perf (found by benches/bench.rs, history row): the slow path normalises
/// every line of the file, and the three passes with a `String` each were
/// a large part of reading a 1,000,000-line commands.txt; this check makes
/// the common line one pass and one allocation.
fn already_normal(text: &str) -> bool {
    let b = text.as_bytes();
    if !b.iter().all(|c| (0x20..0x7f).contains(c))
        || b.first() == Some(&b' ')
        || b.last() == Some(&b' ')
        || b.windows(2).any(|w| w == b"  ")
    {
        return false;
    }
    match text.find(':') {
        None => true,
        Some(colon) => {
            !b[..colon]
                .iter()
                .any(|c| *c == b' ' || c.is_ascii_uppercase())
                && b.get(colon + 1) != Some(&b' ')
        }
    }
}

/// Collapses runs of spaces outside quotes, so `-s  1` and `-s 1` are one command.
fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut quote: Option<char> = None;
    let mut prev_space = false;
    for c in s.chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == ' ' => {
                if !prev_space {
                    out.push(' ');
                }
                prev_space = true;
                continue;
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
        prev_space = false;
    }
    out
}

/// Lower-cases the command word (`Rend:` → `rend:`) and drops spaces around
/// the colon (`cancel : 12` → `cancel:12`). A line with no such prefix is left
/// alone; the parser rejects it with a clear reason.
fn normalize_prefix(s: &str) -> String {
    let Some(colon) = s.find(':') else {
        return s.to_string();
    };
    let head = s[..colon].trim_end();
    let (word, target) = match head.split_once('@') {
        Some((w, t)) => (w.trim_end(), Some(t.trim())),
        None => (head, None),
    };
    let word_ok = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic());
    let target_ok = target.is_none_or(|t| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    });
    if !word_ok || !target_ok {
        return s.to_string();
    }
    let mut out = word.to_ascii_lowercase();
    if let Some(t) = target {
        out.push('@');
        out.push_str(t);
    }
    out.push(':');
    out.push_str(s[colon + 1..].trim_start());
    out
}

/// Spaces and tabs a client may add after a line to tell its own append
/// from a byte-identical one by another device (see [`marked`]).
pub const MARK_LEN: usize = 16;

/// `text` followed by a mark of [`MARK_LEN`] spaces and tabs spelling
/// `mark` in binary. Normalisation trims trailing whitespace, so the line
/// means (and is) the same command; only its bytes differ. Over the Dropbox
/// API an append whose upload result was lost is checked by looking for
/// its bytes: without a mark, the same line appended by a phone in between
/// would be taken for ours, and ours would be lost.
pub fn marked(text: &str, mark: u16) -> String {
    let mut s = String::with_capacity(text.len() + MARK_LEN);
    s.push_str(text);
    for bit in 0..MARK_LEN {
        s.push(if mark >> bit & 1 == 1 { '\t' } else { ' ' });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(raw: &str) -> String {
        match normalize_line(raw.as_bytes()) {
            Ok(Normalized::Text(t)) => t,
            other => panic!("expected text for {raw:?}, got {other:?}"),
        }
    }

    #[test]
    fn phone_damage_is_undone() {
        assert_eq!(
            text("\u{feff}Rend:render \u{2014}r sw \u{2013}s 1 -e 10 shot01.mb  \r"),
            "rend:render -r sw -s 1 -e 10 shot01.mb"
        );
        assert_eq!(text("PROGRESS:"), "progress:");
        assert_eq!(text("  cancel :  12 "), "cancel:12");
        assert_eq!(
            text("rend:-cam \u{201c}my cam\u{201d} a.mb"),
            "rend:-cam \"my cam\" a.mb"
        );
        assert_eq!(text("Rend@BoxB: -s 1 a.mb"), "rend@BoxB:-s 1 a.mb");
    }

    #[test]
    fn spaces_inside_quotes_survive() {
        assert_eq!(text("rend:\"a  b.mb\""), "rend:\"a  b.mb\"");
    }

    #[test]
    fn blanks_and_comments_are_ignored() {
        for raw in ["", "   ", "\r", "# a note", "  # indented note", "\u{feff}"] {
            assert_eq!(
                normalize_line(raw.as_bytes()),
                Ok(Normalized::Ignored),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn bad_bytes_are_errors() {
        assert_eq!(normalize_line(b"rend:\0x"), Err(LineError::Nul));
        assert_eq!(normalize_line(b"rend:\xff"), Err(LineError::InvalidUtf8));
        let long = vec![b'a'; MAX_LINE_BYTES + 1];
        assert_eq!(
            normalize_line(&long),
            Err(LineError::TooLong(MAX_LINE_BYTES + 1))
        );
    }

    #[test]
    fn a_marked_line_is_the_same_command() {
        for mark in [0, 1, 0xA5A5, u16::MAX] {
            let m = marked("rend:-s 1 a.mb", mark);
            assert_eq!(m.len(), "rend:-s 1 a.mb".len() + MARK_LEN);
            assert_eq!(
                normalize_line(m.as_bytes()),
                Ok(Normalized::Text("rend:-s 1 a.mb".into()))
            );
        }
        assert_ne!(marked("x:", 1), marked("x:", 2));
    }
}
