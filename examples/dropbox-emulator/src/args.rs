//! Argument decoding with Dropbox-style 400 messages.
//!
//! RPC routes take a JSON body (Content-Type `application/json`); content
//! routes take JSON in the `Dropbox-API-Arg` header (or the `arg` URL
//! parameter). Malformed input is a 400 with a plain-text body such as
//! `Error in call to API function "files/upload": HTTP header
//! "Dropbox-API-Arg": mode: expected object for 'update', got symbol`.
//!
//! Unknown fields are rejected (`unknown field 'x'`): the Stone-generated
//! server validates strictly. Each route lists every documented field it
//! accepts, including the ones the emulator ignores.

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Where the arguments came from, used as the message prefix.
const BODY: &str = "request body";
const HEADER: &str = "HTTP header \"Dropbox-API-Arg\"";
const URL_ARG: &str = "URL parameter \"arg\"";

/// JSON type names as used in messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        // A bare string where a union is expected is a "symbol".
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Decoded arguments of one call: an object whose fields are taken one by one.
#[derive(Debug)]
pub struct Args {
    route: &'static str,
    location: &'static str,
    prefix: String,
    map: Map<String, Value>,
}

fn normalize_media_type(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Check `Content-Type` against the accepted list; Dropbox's message on failure.
pub fn check_content_type(
    route: &'static str,
    headers: &HeaderMap,
    accepted: &[&str],
) -> Result<(), ApiError> {
    let got = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let norm = normalize_media_type(&got);
    if accepted.iter().any(|a| normalize_media_type(a) == norm) {
        return Ok(());
    }
    let expecting = accepted
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    Err(ApiError::bad_request(
        route,
        format!("Bad HTTP \"Content-Type\" header: \"{got}\".  Expecting one of {expecting}."),
    ))
}

/// Content types accepted for RPC bodies.
pub const RPC_CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "text/plain; charset=dropbox-cors-hack",
];

/// Content types accepted for upload bodies.
pub const UPLOAD_CONTENT_TYPES: &[&str] = &[
    "application/octet-stream",
    "text/plain; charset=dropbox-cors-hack",
];

impl Args {
    /// Arguments of an RPC route from its JSON body.
    pub fn from_body(
        route: &'static str,
        headers: &HeaderMap,
        body: &[u8],
        known: &[&str],
    ) -> Result<Self, ApiError> {
        check_content_type(route, headers, RPC_CONTENT_TYPES)?;
        let value: Value = serde_json::from_slice(body).map_err(|_| {
            ApiError::bad_request(route, format!("{BODY}: could not decode input as JSON"))
        })?;
        Self::from_value(route, BODY, value, known)
    }

    /// Arguments of a content route: `Dropbox-API-Arg` header, else the `arg`
    /// URL parameter.
    pub fn from_header(
        route: &'static str,
        headers: &HeaderMap,
        query_arg: Option<&str>,
        known: &[&str],
    ) -> Result<Self, ApiError> {
        let (location, text) = match (headers.get("dropbox-api-arg"), query_arg) {
            (Some(v), _) => {
                // Header values must be ASCII: non-ASCII characters have to be
                // sent as \uXXXX escapes inside the JSON.
                let text = v.to_str().map_err(|_| {
                    ApiError::bad_request(
                        route,
                        format!("{HEADER}: could not decode input as JSON"),
                    )
                })?;
                (HEADER, text.to_owned())
            }
            (None, Some(q)) => (URL_ARG, q.to_owned()),
            (None, None) => {
                return Err(ApiError::bad_request(
                    route,
                    "Must provide HTTP header \"Dropbox-API-Arg\" or URL parameter \"arg\".",
                ));
            }
        };
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            ApiError::bad_request(route, format!("{location}: could not decode input as JSON"))
        })?;
        Self::from_value(route, location, value, known)
    }

    fn from_value(
        route: &'static str,
        location: &'static str,
        value: Value,
        known: &[&str],
    ) -> Result<Self, ApiError> {
        match value {
            Value::Object(map) => {
                let args = Args {
                    route,
                    location,
                    prefix: String::new(),
                    map,
                };
                args.check_known(known)?;
                Ok(args)
            }
            other => Err(ApiError::bad_request(
                route,
                format!("{location}: expected object, got {}", type_name(&other)),
            )),
        }
    }

    fn check_known(&self, known: &[&str]) -> Result<(), ApiError> {
        if let Some(k) = self.map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(self.error(format!("unknown field '{}{k}'", self.prefix)));
        }
        Ok(())
    }

    /// A 400 for this call, prefixed with the argument location.
    pub fn error(&self, msg: impl std::fmt::Display) -> ApiError {
        ApiError::bad_request(self.route, format!("{}: {msg}", self.location))
    }

    /// A 400 about one field.
    pub fn field_error(&self, field: &str, msg: impl std::fmt::Display) -> ApiError {
        self.error(format!("{}{field}: {msg}", self.prefix))
    }

    /// The route name, e.g. `files/upload`.
    pub fn route(&self) -> &'static str {
        self.route
    }

    /// Take a field; JSON `null` counts as absent (Stone optional fields).
    pub fn take(&mut self, field: &str) -> Option<Value> {
        match self.map.remove(field) {
            Some(Value::Null) | None => None,
            Some(v) => Some(v),
        }
    }

    /// A required string field.
    pub fn req_str(&mut self, field: &str) -> Result<String, ApiError> {
        match self.take(field) {
            Some(Value::String(s)) => Ok(s),
            Some(other) => {
                Err(self.field_error(field, format!("expected string, got {}", type_name(&other))))
            }
            None => Err(self.error(format!("missing required field '{}{field}'", self.prefix))),
        }
    }

    /// An optional string field.
    pub fn opt_str(&mut self, field: &str) -> Result<Option<String>, ApiError> {
        match self.take(field) {
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => {
                Err(self.field_error(field, format!("expected string, got {}", type_name(&other))))
            }
            None => Ok(None),
        }
    }

    /// An optional boolean field with a default.
    pub fn opt_bool(&mut self, field: &str, default: bool) -> Result<bool, ApiError> {
        match self.take(field) {
            Some(Value::Bool(b)) => Ok(b),
            Some(other) => Err(self.field_error(
                field,
                format!("expected boolean, got {}", type_name(&other)),
            )),
            None => Ok(default),
        }
    }

    /// An optional unsigned integer field within `[min, max]`.
    pub fn opt_u64(&mut self, field: &str, min: u64, max: u64) -> Result<Option<u64>, ApiError> {
        match self.take(field) {
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
                Some(v) if v < min => {
                    Err(self.field_error(field, format!("{v} is less than {min}")))
                }
                Some(v) => Err(self.field_error(field, format!("{v} is greater than {max}"))),
                None => Err(self.field_error(field, format!("expected unsigned integer, got {n}"))),
            },
            Some(other) => Err(self.field_error(
                field,
                format!("expected integer, got {}", type_name(&other)),
            )),
            None => Ok(None),
        }
    }

    /// A required nested struct, validated against its own field list.
    pub fn req_struct(&mut self, field: &str, known: &[&str]) -> Result<Args, ApiError> {
        match self.take(field) {
            Some(Value::Object(map)) => {
                let nested = Args {
                    route: self.route,
                    location: self.location,
                    prefix: format!("{}{field}.", self.prefix),
                    map,
                };
                nested.check_known(known)?;
                Ok(nested)
            }
            Some(other) => {
                Err(self.field_error(field, format!("expected object, got {}", type_name(&other))))
            }
            None => Err(self.error(format!("missing required field '{}{field}'", self.prefix))),
        }
    }
}

/// Check that a void-argument route got no arguments: an empty body or `null`.
pub fn check_void_body(route: &'static str, body: &[u8]) -> Result<(), ApiError> {
    let trimmed = String::from_utf8_lossy(body);
    let trimmed = trimmed.trim();
    if trimmed.is_empty() || trimmed == "null" {
        return Ok(());
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(v) => Err(ApiError::bad_request(
            route,
            format!("{BODY}: expected null, got {}", type_name(&v)),
        )),
        Err(_) => Err(ApiError::bad_request(
            route,
            format!("{BODY}: could not decode input as JSON"),
        )),
    }
}

/// Check a rev string: lowercase hex, at least 9 characters.
pub fn valid_rev(rev: &str) -> bool {
    rev.len() >= 9 && rev.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h
    }

    #[test]
    fn unknown_and_missing_fields() {
        let err =
            Args::from_body("files/x", &json_headers(), br#"{"pth":"/a"}"#, &["path"]).unwrap_err();
        match err {
            ApiError::BadRequest(m) => assert!(m.contains("unknown field 'pth'"), "{m}"),
            other => panic!("{other:?}"),
        }
        let mut a = Args::from_body("files/x", &json_headers(), b"{}", &["path"]).unwrap();
        match a.req_str("path").unwrap_err() {
            ApiError::BadRequest(m) => assert_eq!(
                m,
                "Error in call to API function \"files/x\": request body: missing required field 'path'"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn content_type_checked() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(Args::from_body("files/x", &h, b"{}", &[]).is_err());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        assert!(Args::from_body("files/x", &h, b"{}", &[]).is_ok());
    }

    #[test]
    fn revs() {
        assert!(valid_rev("a1c10ce0dd78"));
        assert!(!valid_rev("a1c10ce0"));
        assert!(!valid_rev("A1C10CE0DD78"));
    }
}
