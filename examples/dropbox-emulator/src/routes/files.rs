//! RPC routes (api host) and the longpoll route (notify host).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::json;

use super::{PathForm, json_ok, lookup_error, parse_target, query_params};
use crate::args::{Args, check_void_body};
use crate::auth::{SCOPE_CONTENT_WRITE, SCOPE_METADATA_READ};
use crate::emulator::{Emulator, lock};
use crate::error::ApiError;
use crate::storage::{Cursor, CursorError, DEFAULT_LIST_LIMIT, DeleteError, ListSpec, Target};
use crate::wire::ListFolderResult;

/// Every field of `files.ListFolderArg` (list_folder and get_latest_cursor).
/// Official SDKs send each field that has a default, so a missing name here
/// makes the route unusable from them.
const LIST_FOLDER_FIELDS: &[&str] = &[
    "path",
    "recursive",
    "include_media_info",
    "include_deleted",
    "include_has_explicit_shared_members",
    "include_mounted_folders",
    "limit",
    "shared_link",
    "include_property_groups",
    "include_non_downloadable_files",
    "include_restorable_info",
];

/// Parse list_folder / get_latest_cursor arguments and resolve the folder.
fn list_spec(emu: &Emulator, args: &mut Args) -> Result<ListSpec, ApiError> {
    let path = args.req_str("path")?;
    let target = parse_target(args, "path", &path, PathForm::Folder)?;
    let recursive = args.opt_bool("recursive", false)?;
    let include_deleted = args.opt_bool("include_deleted", false)?;
    let limit = args
        .opt_u64("limit", 1, 2000)?
        .unwrap_or(DEFAULT_LIST_LIMIT);
    // Accepted, ignored: nothing here has media info, explicit members,
    // mounted folders, non-downloadable files or restore support.
    for (flag, default) in [
        ("include_media_info", false),
        ("include_has_explicit_shared_members", false),
        ("include_mounted_folders", true),
        ("include_non_downloadable_files", true),
        ("include_restorable_info", false),
    ] {
        args.opt_bool(flag, default)?;
    }
    let shared_link = match args.take("shared_link") {
        None => false,
        Some(serde_json::Value::Object(map)) => {
            check_shared_link(args, map)?;
            true
        }
        Some(other) => {
            return Err(args.field_error(
                "shared_link",
                format!("expected object, got {}", crate::args::type_name(&other)),
            ));
        }
    };
    let _ = args.take("include_property_groups");
    if shared_link {
        // The emulator has no shared links, so every link names nothing.
        // Unsure: Dropbox's exact error for an unknown link.
        return Err(lookup_error("path", crate::storage::LookupError::NotFound));
    }
    let key = lock(&emu.inner.store)
        .folder_key(&target)
        .map_err(|e| lookup_error("path", e))?;
    Ok(ListSpec {
        path: key,
        recursive,
        include_deleted,
        limit,
    })
}

/// `files.SharedLink`: `{"url": String, "password": String?}`.
fn check_shared_link(
    args: &Args,
    mut map: serde_json::Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    use serde_json::Value;
    if let Some(k) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "url" | "password"))
    {
        return Err(args.field_error("shared_link", format!("unknown field '{k}'")));
    }
    match map.remove("url") {
        Some(Value::String(_)) => {}
        Some(other) => {
            return Err(args.field_error(
                "shared_link.url",
                format!("expected string, got {}", crate::args::type_name(&other)),
            ));
        }
        None => return Err(args.field_error("shared_link", "missing required field 'url'")),
    }
    match map.remove("password") {
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
        Some(other) => Err(args.field_error(
            "shared_link.password",
            format!("expected string, got {}", crate::args::type_name(&other)),
        )),
    }
}

fn cursor_error(e: CursorError) -> ApiError {
    match e {
        CursorError::Reset => ApiError::reset(),
        CursorError::Lookup(l) => lookup_error("path", l),
    }
}

fn decode_cursor(args: &mut Args) -> Result<Cursor, ApiError> {
    let raw = args.req_str("cursor")?;
    // Unsure: Dropbox's exact message for a cursor that is not a cursor.
    Cursor::decode(&raw).ok_or_else(|| args.field_error("cursor", "Invalid cursor"))
}

/// `POST /2/files/list_folder`.
pub async fn list_folder(
    State(emu): State<Emulator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "files/list_folder";
    emu.authorize(
        ROUTE,
        &headers,
        &query_params(q.as_deref()),
        Some(SCOPE_METADATA_READ),
    )?;
    let mut args = Args::from_body(ROUTE, &headers, &body, LIST_FOLDER_FIELDS)?;
    let spec = list_spec(&emu, &mut args)?;
    let (entries, cursor, has_more) = lock(&emu.inner.store).list_folder(&spec);
    Ok(json_ok(&ListFolderResult {
        entries,
        cursor: cursor.encode(),
        has_more,
    }))
}

/// `POST /2/files/list_folder/get_latest_cursor`.
pub async fn get_latest_cursor(
    State(emu): State<Emulator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "files/list_folder/get_latest_cursor";
    emu.authorize(
        ROUTE,
        &headers,
        &query_params(q.as_deref()),
        Some(SCOPE_METADATA_READ),
    )?;
    let mut args = Args::from_body(ROUTE, &headers, &body, LIST_FOLDER_FIELDS)?;
    let spec = list_spec(&emu, &mut args)?;
    let store = lock(&emu.inner.store);
    let cursor = store.fresh_cursor(&spec, store.seq());
    Ok(json_ok(&json!({"cursor": cursor.encode()})))
}

/// `POST /2/files/list_folder/continue`.
pub async fn list_folder_continue(
    State(emu): State<Emulator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "files/list_folder/continue";
    emu.authorize(
        ROUTE,
        &headers,
        &query_params(q.as_deref()),
        Some(SCOPE_METADATA_READ),
    )?;
    let mut args = Args::from_body(ROUTE, &headers, &body, &["cursor"])?;
    let cursor = decode_cursor(&mut args)?;
    let (entries, next, has_more) = lock(&emu.inner.store)
        .list_continue(&cursor)
        .map_err(cursor_error)?;
    Ok(json_ok(&ListFolderResult {
        entries,
        cursor: next.encode(),
        has_more,
    }))
}

/// `POST /2/files/list_folder/longpoll` (notify host, no authentication).
///
/// Holds the request until something changes under the cursor's folder or
/// the timeout (scaled by `longpoll_time_scale`, plus random jitter up to
/// `longpoll_jitter`) passes.
pub async fn longpoll(
    State(emu): State<Emulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "files/list_folder/longpoll";
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(ApiError::bad_request(
            ROUTE,
            "Your request includes an Authorization header, but this function does not use it.",
        ));
    }
    let mut args = Args::from_body(ROUTE, &headers, &body, &["cursor", "timeout"])?;
    let cursor = decode_cursor(&mut args)?;
    let timeout = args.opt_u64("timeout", 30, 480)?.unwrap_or(30);
    let config = &emu.inner.config;
    let jitter = config.longpoll_jitter.mul_f64(emu.random_unit());
    let hold = Duration::from_secs(timeout)
        .mul_f64(config.longpoll_time_scale.max(0.0))
        .saturating_add(jitter);
    let deadline = tokio::time::Instant::now() + hold;

    let mut changes_rx = emu.inner.changes.subscribe();
    let changes = loop {
        // Register for shutdown before checking, so no wake-up is missed.
        let shutdown = emu.inner.shutdown.notified();
        changes_rx.borrow_and_update();
        match lock(&emu.inner.store).has_changes(&cursor) {
            Err(CursorError::Reset) => return Err(ApiError::reset()),
            Err(CursorError::Lookup(_)) | Ok(true) => break true,
            Ok(false) => {}
        }
        tokio::select! {
            changed = changes_rx.changed() => {
                if changed.is_err() {
                    break false;
                }
            }
            () = tokio::time::sleep_until(deadline) => break false,
            () = shutdown => break false,
        }
    };
    let mut result = json!({"changes": changes});
    if let Some(backoff) = config.longpoll_backoff
        && emu.random_unit() < config.longpoll_backoff_rate
    {
        result["backoff"] = json!(backoff);
    }
    Ok(json_ok(&result))
}

/// `POST /2/files/get_metadata`.
pub async fn get_metadata(
    State(emu): State<Emulator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "files/get_metadata";
    emu.authorize(
        ROUTE,
        &headers,
        &query_params(q.as_deref()),
        Some(SCOPE_METADATA_READ),
    )?;
    let mut args = Args::from_body(
        ROUTE,
        &headers,
        &body,
        &[
            "path",
            "include_media_info",
            "include_deleted",
            "include_has_explicit_shared_members",
            "include_property_groups",
        ],
    )?;
    let path = args.req_str("path")?;
    if path.is_empty() {
        return Err(args.field_error("path", "The root folder is unsupported."));
    }
    let target = parse_target(&args, "path", &path, PathForm::Read)?;
    let include_deleted = args.opt_bool("include_deleted", false)?;
    args.opt_bool("include_media_info", false)?;
    args.opt_bool("include_has_explicit_shared_members", false)?;
    let _ = args.take("include_property_groups");
    let meta = lock(&emu.inner.store)
        .metadata(&target, include_deleted)
        .map_err(|e| lookup_error("path", e))?;
    Ok(json_ok(&meta))
}

/// `POST /2/files/delete_v2`.
pub async fn delete_v2(
    State(emu): State<Emulator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "files/delete_v2";
    emu.authorize(
        ROUTE,
        &headers,
        &query_params(q.as_deref()),
        Some(SCOPE_CONTENT_WRITE),
    )?;
    let mut args = Args::from_body(ROUTE, &headers, &body, &["path", "parent_rev"])?;
    let path = args.req_str("path")?;
    let target = parse_target(&args, "path", &path, PathForm::Write)?;
    let parent_rev = args.opt_str("parent_rev")?;
    if let Some(rev) = &parent_rev
        && !crate::args::valid_rev(rev)
    {
        return Err(args.field_error(
            "parent_rev",
            format!("'{rev}' did not match pattern '[0-9a-f]+'"),
        ));
    }
    if matches!(target, Target::Malformed) {
        return Err(lookup_error(
            "path_lookup",
            crate::storage::LookupError::MalformedPath,
        ));
    }
    let meta = lock(&emu.inner.store)
        .delete(&target, parent_rev.as_deref())
        .map_err(|e| match e {
            DeleteError::Lookup(l) => lookup_error("path_lookup", l),
            DeleteError::Write(w) => ApiError::route(
                format!("path_write/{}", w.tags()),
                json!({".tag": "path_write", "path_write": w.to_json()}),
            ),
        })?;
    emu.mirror_remove(&meta);
    emu.notify_change();
    Ok(json_ok(&json!({"metadata": meta})))
}

/// `POST /2/auth/token/revoke`: disables the token used (and its refresh
/// token, and that refresh token's other access tokens). Returns `null`.
pub async fn revoke(
    State(emu): State<Emulator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "auth/token/revoke";
    let token = emu.authorize(ROUTE, &headers, &query_params(q.as_deref()), None)?;
    check_void_body(ROUTE, &body)?;
    lock(&emu.inner.tokens).revoke(&token);
    Ok(json_ok(&serde_json::Value::Null))
}
