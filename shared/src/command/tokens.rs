//! Tokens of a command line: splitting on spaces and quotes, and quoting
//! a token back for the canonical line.

use super::error::ParseError;

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
pub(super) fn quote(token: &str) -> String {
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
