//! Content routes: download, upload, upload sessions.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{PathForm, json_ok, lookup_error, parse_target, query_params};
use crate::args::{Args, UPLOAD_CONTENT_TYPES, check_content_type, type_name, valid_rev};
use crate::auth::{SCOPE_CONTENT_READ, SCOPE_CONTENT_WRITE};
use crate::emulator::{Emulator, lock};
use crate::error::ApiError;
use crate::hash::content_hash;
use crate::storage::{Commit, DbxPath, Target, UploadSession, WriteError, WriteMode};
use crate::wire::{FileMetadata, Metadata, header_json, parse_timestamp};

/// Largest body files/upload accepts.
pub const MAX_UPLOAD: usize = 150 * 1024 * 1024;

// ------------------------------------------------------------------ download

/// Outcome of parsing a `Range` header against a length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeOutcome {
    /// No (usable) range: send everything with 200.
    Full,
    /// Inclusive byte range: 206.
    Partial(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// Parse a single-range `Range: bytes=a-b | a- | -n` header. Syntactically
/// invalid or multi-range headers are ignored (RFC 9110 allows that).
pub fn parse_range(value: &str, len: u64) -> RangeOutcome {
    let Some(spec) = value
        .trim()
        .strip_prefix("bytes=")
        .or_else(|| value.trim().strip_prefix("Bytes="))
    else {
        return RangeOutcome::Full;
    };
    if spec.contains(',') {
        return RangeOutcome::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeOutcome::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => RangeOutcome::Full,
        // -n: the last n bytes.
        (true, false) => match num(b) {
            None => RangeOutcome::Full,
            Some(0) => RangeOutcome::Unsatisfiable,
            Some(_) if len == 0 => RangeOutcome::Unsatisfiable,
            Some(n) => RangeOutcome::Partial(len.saturating_sub(n), len - 1),
        },
        // a-
        (false, true) => match num(a) {
            None => RangeOutcome::Full,
            Some(start) if start >= len => RangeOutcome::Unsatisfiable,
            Some(start) => RangeOutcome::Partial(start, len - 1),
        },
        // a-b
        (false, false) => match (num(a), num(b)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= len {
                    RangeOutcome::Unsatisfiable
                } else {
                    RangeOutcome::Partial(start, end.min(len - 1))
                }
            }
            _ => RangeOutcome::Full,
        },
    }
}

fn etag_for(rev: &str) -> String {
    // Unsure: Dropbox's exact ETag format; it is derived from the rev.
    format!("W/\"{rev}\"")
}

/// `POST|GET /2/files/download`.
pub async fn download(
    State(emu): State<Emulator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "files/download";
    let query = query_params(q.as_deref());
    emu.authorize(ROUTE, &headers, &query, Some(SCOPE_CONTENT_READ))?;
    let mut args = Args::from_header(
        ROUTE,
        &headers,
        query.get("arg").map(String::as_str),
        &["path", "rev"],
    )?;
    let path = args.req_str("path")?;
    let mut target = parse_target(&args, "path", &path, PathForm::Read)?;
    // `rev` is the deprecated way to ask for a version.
    if let Some(rev) = args.opt_str("rev")? {
        if !valid_rev(&rev) {
            return Err(
                args.field_error("rev", format!("'{rev}' did not match pattern '[0-9a-f]+'"))
            );
        }
        target = Target::Rev(rev);
    }
    let (version, meta) = lock(&emu.inner.store)
        .file_version(&target)
        .map_err(|e| lookup_error("path", e))?;
    let result = header_json(&meta);
    let etag = etag_for(&version.rev);
    let mut out_headers = HeaderMap::new();
    out_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    out_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&result) {
        out_headers.insert("dropbox-api-result", v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        out_headers.insert(header::ETAG, v);
    }
    // Unsure: Dropbox documents If-None-Match but not the exact 304 answer.
    if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        let matches = String::from_utf8_lossy(inm.as_bytes()).split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag.trim_start_matches("W/")
        });
        if matches {
            return Ok((StatusCode::NOT_MODIFIED, out_headers).into_response());
        }
    }
    let data = version.data.clone();
    let len = data.len() as u64;
    let range = headers
        .get(header::RANGE)
        .map(|v| parse_range(&String::from_utf8_lossy(v.as_bytes()), len))
        .unwrap_or(RangeOutcome::Full);
    match range {
        RangeOutcome::Full => Ok((StatusCode::OK, out_headers, data).into_response()),
        RangeOutcome::Partial(start, end) => {
            let content_range = format!("bytes {start}-{end}/{len}");
            if let Ok(v) = HeaderValue::from_str(&content_range) {
                out_headers.insert(header::CONTENT_RANGE, v);
            }
            // start <= end < len fits in usize because data is in memory.
            let slice = data.slice(start as usize..=end as usize);
            Ok((StatusCode::PARTIAL_CONTENT, out_headers, slice).into_response())
        }
        RangeOutcome::Unsatisfiable => {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            Ok((StatusCode::RANGE_NOT_SATISFIABLE, h).into_response())
        }
    }
}

// -------------------------------------------------------------------- upload

/// `files.CommitInfo` (the `commit` of upload_session/finish).
const COMMIT_INFO_FIELDS: &[&str] = &[
    "path",
    "mode",
    "autorename",
    "client_modified",
    "mute",
    "property_groups",
    "strict_conflict",
];

/// `files.UploadArg`: `CommitInfo` plus `content_hash`.
const UPLOAD_ARG_FIELDS: &[&str] = &[
    "path",
    "mode",
    "autorename",
    "client_modified",
    "mute",
    "property_groups",
    "strict_conflict",
    "content_hash",
];

/// Parse a `WriteMode` union value.
fn parse_mode(args: &Args, value: Option<Value>) -> Result<WriteMode, ApiError> {
    let err = |msg: String| args.field_error("mode", msg);
    let Some(value) = value else {
        return Ok(WriteMode::Add);
    };
    match value {
        Value::String(tag) => match tag.as_str() {
            "add" => Ok(WriteMode::Add),
            "overwrite" => Ok(WriteMode::Overwrite),
            "update" => Err(err("expected object for 'update', got symbol".into())),
            other => Err(err(format!("unknown tag '{other}'"))),
        },
        Value::Object(mut map) => {
            let tag = match map.remove(".tag") {
                Some(Value::String(t)) => t,
                Some(other) => {
                    return Err(err(format!(
                        "'.tag' expected string, got {}",
                        type_name(&other)
                    )));
                }
                None => return Err(err("missing '.tag' key".into())),
            };
            match tag.as_str() {
                "add" => Ok(WriteMode::Add),
                "overwrite" => Ok(WriteMode::Overwrite),
                "update" => match map.remove("update") {
                    Some(Value::String(rev)) if valid_rev(&rev) => Ok(WriteMode::Update(rev)),
                    Some(Value::String(rev)) => Err(err(format!(
                        "update: '{rev}' did not match pattern '[0-9a-f]+' (at least 9 characters)"
                    ))),
                    Some(other) => Err(err(format!(
                        "update: expected string, got {}",
                        type_name(&other)
                    ))),
                    None => Err(err("missing required field 'update'".into())),
                },
                other => Err(err(format!("unknown tag '{other}'"))),
            }
        }
        other => Err(err(format!("expected union, got {}", type_name(&other)))),
    }
}

/// An optional `Sha256HexHash` field (`String(min_length=64, max_length=64)`).
fn opt_content_hash(args: &mut Args) -> Result<Option<String>, ApiError> {
    let hash = args.opt_str("content_hash")?;
    if let Some(h) = &hash
        && h.len() != 64
    {
        return Err(args.field_error("content_hash", format!("'{h}' must be 64 characters")));
    }
    Ok(hash)
}

/// A parsed CommitInfo.
struct CommitArgs {
    /// `None` when the target is malformed or an `id:` that names no file.
    commit: Option<Commit>,
    content_hash: Option<String>,
}

fn parse_commit(emu: &Emulator, args: &mut Args) -> Result<CommitArgs, ApiError> {
    let path = args.req_str("path")?;
    let target = parse_target(args, "path", &path, PathForm::Write)?;
    let mode_value = args.take("mode");
    let mode = parse_mode(args, mode_value)?;
    let autorename = args.opt_bool("autorename", false)?;
    let _mute = args.opt_bool("mute", false)?;
    let strict_conflict = args.opt_bool("strict_conflict", false)?;
    let client_modified = args.opt_str("client_modified")?;
    if let Some(cm) = &client_modified
        && parse_timestamp(cm).is_none()
    {
        return Err(args.field_error(
            "client_modified",
            format!("time data '{cm}' does not match format '%Y-%m-%dT%H:%M:%SZ'"),
        ));
    }
    let content_hash = opt_content_hash(args)?;
    match args.take("property_groups") {
        None | Some(Value::Array(_)) => {}
        Some(other) => {
            return Err(args.field_error(
                "property_groups",
                format!("expected list, got {}", type_name(&other)),
            ));
        }
    }
    // Resolve the target to a path (`id:` must name a live file).
    let path = match target {
        Target::Path(p) => Some(p),
        Target::Id(_) => match lock(&emu.inner.store).metadata(&target, false) {
            Ok(Metadata::File(m)) => DbxPath::parse(&m.path_display).ok(),
            _ => None,
        },
        Target::Root | Target::Rev(_) | Target::Malformed => None,
    };
    Ok(CommitArgs {
        commit: path.map(|path| Commit {
            path,
            mode,
            autorename,
            strict_conflict,
            client_modified,
        }),
        content_hash,
    })
}

/// Commit after the content checks; returns the metadata. Wakes longpolls and
/// mirrors the write when something changed.
fn do_commit(
    emu: &Emulator,
    c: &CommitArgs,
    data: Bytes,
    hash: String,
) -> Result<FileMetadata, WriteError> {
    let commit = c.commit.as_ref().ok_or(WriteError::MalformedPath)?;
    let outcome = lock(&emu.inner.store).commit(commit, data.clone(), hash)?;
    if outcome.changed {
        emu.mirror_write(&outcome.metadata.path_display, &data);
        emu.notify_change();
    }
    Ok(outcome.metadata)
}

fn content_hash_mismatch() -> ApiError {
    ApiError::route(
        "content_hash_mismatch",
        json!({".tag": "content_hash_mismatch"}),
    )
}

fn payload_too_large() -> ApiError {
    ApiError::route("payload_too_large", json!({".tag": "payload_too_large"}))
}

/// `POST /2/files/upload`.
///
/// The result is a bare `FileMetadata` struct: like every route whose
/// declared result type is `FileMetadata` (not the `Metadata` union), it has
/// no `.tag`.
pub async fn upload(
    State(emu): State<Emulator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "files/upload";
    let query = query_params(q.as_deref());
    emu.authorize(ROUTE, &headers, &query, Some(SCOPE_CONTENT_WRITE))?;
    check_content_type(ROUTE, &headers, UPLOAD_CONTENT_TYPES)?;
    let mut args = Args::from_header(
        ROUTE,
        &headers,
        query.get("arg").map(String::as_str),
        UPLOAD_ARG_FIELDS,
    )?;
    let c = parse_commit(&emu, &mut args)?;
    if body.len() > MAX_UPLOAD {
        return Err(payload_too_large());
    }
    let hash = content_hash(&body);
    if c.content_hash
        .as_ref()
        .is_some_and(|h| !h.eq_ignore_ascii_case(&hash))
    {
        return Err(content_hash_mismatch());
    }
    match do_commit(&emu, &c, body.clone(), hash) {
        Ok(meta) => Ok(json_ok(&meta)),
        Err(w) => {
            // The failed upload's bytes stay available as an upload session,
            // so the client could finish it elsewhere (`upload_session_id`).
            let session_id = {
                let mut store = lock(&emu.inner.store);
                let id = store.new_opaque("pid_upload_session:");
                store.sessions.insert(
                    id.clone(),
                    UploadSession {
                        data: body.to_vec(),
                        closed: false,
                    },
                );
                id
            };
            Err(ApiError::route(
                format!("path/{}", w.tags()),
                json!({".tag": "path", "reason": w.to_json(), "upload_session_id": session_id}),
            ))
        }
    }
}

// ----------------------------------------------------------- upload sessions

fn session_lookup_error(tag: &str, extra: Option<(&str, Value)>) -> Value {
    let mut v = json!({".tag": tag});
    if let Some((k, val)) = extra {
        v[k] = val;
    }
    v
}

/// Resolve an `UploadSessionCursor` and check its offset.
fn check_session(
    emu: &Emulator,
    cursor: &mut Args,
    append_len: usize,
) -> Result<String, (String, Value)> {
    let id = cursor.req_str("session_id").map_err(|_| {
        (
            "not_found".to_owned(),
            session_lookup_error("not_found", None),
        )
    })?;
    let offset = cursor
        .opt_u64("offset", 0, u64::MAX)
        .ok()
        .flatten()
        .unwrap_or(0);
    let store = lock(&emu.inner.store);
    let Some(session) = store.sessions.get(&id) else {
        return Err(("not_found".into(), session_lookup_error("not_found", None)));
    };
    let have = session.data.len() as u64;
    if offset != have {
        return Err((
            "incorrect_offset".into(),
            session_lookup_error("incorrect_offset", Some(("correct_offset", json!(have)))),
        ));
    }
    if session.closed && append_len > 0 {
        return Err(("closed".into(), session_lookup_error("closed", None)));
    }
    Ok(id)
}

fn session_args(
    route: &'static str,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    known: &[&str],
) -> Result<Args, ApiError> {
    check_content_type(route, headers, UPLOAD_CONTENT_TYPES)?;
    Args::from_header(route, headers, query.get("arg").map(String::as_str), known)
}

/// `POST /2/files/upload_session/start`.
pub async fn session_start(
    State(emu): State<Emulator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "files/upload_session/start";
    let query = query_params(q.as_deref());
    emu.authorize(ROUTE, &headers, &query, Some(SCOPE_CONTENT_WRITE))?;
    let mut args = session_args(
        ROUTE,
        &headers,
        &query,
        &["close", "session_type", "content_hash"],
    )?;
    let close = args.opt_bool("close", false)?;
    let _ = args.take("session_type");
    if let Some(h) = opt_content_hash(&mut args)?
        && !h.eq_ignore_ascii_case(&content_hash(&body))
    {
        return Err(content_hash_mismatch());
    }
    if body.len() > MAX_UPLOAD {
        return Err(payload_too_large());
    }
    let mut store = lock(&emu.inner.store);
    let id = store.new_opaque("pid_upload_session:");
    store.sessions.insert(
        id.clone(),
        UploadSession {
            data: body.to_vec(),
            closed: close,
        },
    );
    Ok(json_ok(&json!({"session_id": id})))
}

/// `POST /2/files/upload_session/append_v2`.
pub async fn session_append(
    State(emu): State<Emulator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "files/upload_session/append_v2";
    let query = query_params(q.as_deref());
    emu.authorize(ROUTE, &headers, &query, Some(SCOPE_CONTENT_WRITE))?;
    let mut args = session_args(
        ROUTE,
        &headers,
        &query,
        &["cursor", "close", "content_hash"],
    )?;
    let mut cursor = args.req_struct("cursor", &["session_id", "offset"])?;
    let close = args.opt_bool("close", false)?;
    if let Some(h) = opt_content_hash(&mut args)?
        && !h.eq_ignore_ascii_case(&content_hash(&body))
    {
        return Err(content_hash_mismatch());
    }
    if body.len() > MAX_UPLOAD {
        return Err(payload_too_large());
    }
    let id = check_session(&emu, &mut cursor, body.len().max(1))
        .map_err(|(tags, error)| ApiError::route(tags, error))?;
    let mut store = lock(&emu.inner.store);
    if let Some(s) = store.sessions.get_mut(&id) {
        s.data.extend_from_slice(&body);
        s.closed |= close;
    }
    Ok(json_ok(&Value::Null))
}

/// `POST /2/files/upload_session/finish`.
pub async fn session_finish(
    State(emu): State<Emulator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "files/upload_session/finish";
    let query = query_params(q.as_deref());
    emu.authorize(ROUTE, &headers, &query, Some(SCOPE_CONTENT_WRITE))?;
    let mut args = session_args(
        ROUTE,
        &headers,
        &query,
        &["cursor", "commit", "content_hash"],
    )?;
    let mut cursor = args.req_struct("cursor", &["session_id", "offset"])?;
    let mut commit_args = args.req_struct("commit", COMMIT_INFO_FIELDS)?;
    let c = parse_commit(&emu, &mut commit_args)?;
    // "A hash of the file content uploaded in this call": this request's
    // body, not the whole file (official SDKs send it on every call).
    if let Some(h) = opt_content_hash(&mut args)?
        && !h.eq_ignore_ascii_case(&content_hash(&body))
    {
        return Err(content_hash_mismatch());
    }
    let id = check_session(&emu, &mut cursor, body.len()).map_err(|(tags, error)| {
        ApiError::route(
            format!("lookup_failed/{tags}"),
            json!({".tag": "lookup_failed", "lookup_failed": error}),
        )
    })?;
    let data = {
        let store = lock(&emu.inner.store);
        let mut data = store
            .sessions
            .get(&id)
            .map(|s| s.data.clone())
            .unwrap_or_default();
        data.extend_from_slice(&body);
        data
    };
    let data = Bytes::from(data);
    let hash = content_hash(&data);
    match do_commit(&emu, &c, data, hash) {
        Ok(meta) => {
            lock(&emu.inner.store).sessions.remove(&id);
            Ok(json_ok(&meta))
        }
        Err(w) => Err(ApiError::route(
            format!("path/{}", w.tags()),
            json!({".tag": "path", "path": w.to_json()}),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10), RangeOutcome::Partial(0, 4));
        assert_eq!(parse_range("bytes=5-", 10), RangeOutcome::Partial(5, 9));
        assert_eq!(parse_range("bytes=-3", 10), RangeOutcome::Partial(7, 9));
        assert_eq!(parse_range("bytes=-30", 10), RangeOutcome::Partial(0, 9));
        assert_eq!(parse_range("bytes=5-100", 10), RangeOutcome::Partial(5, 9));
        assert_eq!(parse_range("bytes=10-", 10), RangeOutcome::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), RangeOutcome::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), RangeOutcome::Unsatisfiable);
        assert_eq!(parse_range("bytes=4-2", 10), RangeOutcome::Full);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), RangeOutcome::Full);
        assert_eq!(parse_range("items=0-1", 10), RangeOutcome::Full);
        assert_eq!(parse_range("bytes=x-1", 10), RangeOutcome::Full);
    }
}
