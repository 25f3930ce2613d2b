//! Identities, as the rule defines them.

use std::collections::HashMap;

use droprender_node::channel::NewLine;
use droprender_shared::command::ParseError;
use droprender_shared::normalize::{Normalized, normalize_line};

use super::*;

/// What a line is, for the identity rule: its normalised text, or for a line
/// that is not text (invalid UTF-8, NUL, too long) its lossy rendering, as
/// channel.rs names such lines (both without the `\r` of a CRLF ending).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Text(String),
    Raw(String),
}

/// (what the line says, its occurrence number among equal lines of one file)
pub type Id = (Key, u32);

pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// The key of one raw line (without `\n`); `None` for blanks and comments.
pub fn key(raw: &[u8]) -> Option<Key> {
    // The `\r` of a CRLF ending belongs to the ending.
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    match normalize_line(raw) {
        Ok(Normalized::Ignored) => None,
        Ok(Normalized::Text(t)) => Some(Key::Text(t)),
        Err(_) => Some(Key::Raw(lossy(raw))),
    }
}

pub fn key_of(nl: &NewLine) -> Key {
    if matches!(nl.parsed, Err(ParseError::Line(_))) {
        Key::Raw(nl.text.clone())
    } else {
        Key::Text(nl.text.clone())
    }
}

/// A file's lines without their `\n`; an unterminated last line is included.
pub fn lines(buf: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = buf.split(|b| *b == b'\n').collect();
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

/// Every command line of a file, with its line number and identity.
pub fn identities(buf: &[u8]) -> Vec<(usize, Id)> {
    let mut occ: HashMap<Key, u32> = HashMap::new();
    let mut out = Vec::new();
    for (i, raw) in lines(buf).into_iter().enumerate() {
        if let Some(k) = key(raw) {
            let n = occ.entry(k.clone()).or_insert(0);
            *n += 1;
            out.push((i + 1, (k, *n)));
        }
    }
    out
}

/// A file's bytes for a failure report, long lines shortened.
pub fn show(buf: &[u8]) -> String {
    buf.split_inclusive(|b| *b == b'\n')
        .map(|l| {
            if l.len() > 60 {
                format!("{}…({} bytes)\n", l[..20].escape_ascii(), l.len())
            } else {
                l.escape_ascii().to_string()
            }
        })
        .collect()
}

pub fn is_open(buf: &[u8]) -> bool {
    !buf.is_empty() && !buf.ends_with(b"\n")
}

/// Appends whole lines the way a careful writer does: first ending a final
/// line that has no newline, so no two lines are ever glued together.
pub fn append_lines(buf: &mut Vec<u8>, add: &[Raw], crlf: bool) {
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    if is_open(buf) {
        buf.extend_from_slice(eol);
    }
    for l in add {
        buf.extend_from_slice(&l.0);
        buf.extend_from_slice(eol);
    }
}
