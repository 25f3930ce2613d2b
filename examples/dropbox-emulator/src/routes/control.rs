//! The `/__emulator/…` control surface (JSON; never faulted, not counted in
//! stats).

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::json_ok;
use crate::emulator::{Emulator, EmulatorError};
use crate::faults::{FaultConfig, FaultKind};
use crate::wire::header_json;

/// Control routes.
pub fn routes() -> Router<Emulator> {
    Router::new()
        .route("/__emulator", get(info))
        .route("/__emulator/", get(info))
        .route("/__emulator/faults", get(get_faults).post(set_faults))
        .route("/__emulator/faults/push", post(push_faults))
        .route("/__emulator/expire_tokens", post(expire_tokens))
        .route("/__emulator/reset_cursors", post(reset_cursors))
        .route("/__emulator/stats", get(stats).delete(reset_stats))
        .route("/__emulator/stats/reset", post(reset_stats))
        .route("/__emulator/tokens", post(mint_token))
        .route("/__emulator/files", get(list_files))
        .route(
            "/__emulator/files/{*path}",
            get(get_file).put(put_file).delete(delete_file),
        )
}

fn control_error(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut r = json_ok(&json!({"error": msg.into()}));
    *r.status_mut() = status;
    r
}

/// Decode an optional JSON body (empty ⇒ defaults); `Err` is a 400 message.
fn parse_json<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("bad JSON body: {e}"))
}

fn bad_json(msg: String) -> Response {
    control_error(StatusCode::BAD_REQUEST, msg)
}

async fn info(State(emu): State<Emulator>) -> Response {
    json_ok(&json!({
        "emulator": "dropbox-emulator",
        "app_key": emu.config().app_key,
        "files": emu.list_files().len(),
        "control": [
            "GET|POST /__emulator/faults", "POST /__emulator/faults/push",
            "POST /__emulator/expire_tokens", "POST /__emulator/reset_cursors",
            "GET|DELETE /__emulator/stats", "POST /__emulator/tokens",
            "GET /__emulator/files", "GET|PUT|DELETE /__emulator/files/<path>",
        ],
    }))
}

async fn get_faults(State(emu): State<Emulator>) -> Response {
    json_ok(&emu.faults())
}

/// Replace the fault configuration; missing fields take their defaults.
async fn set_faults(State(emu): State<Emulator>, body: Bytes) -> Response {
    match parse_json::<FaultConfig>(&body) {
        Ok(cfg) => {
            if !(0.0..=1.0).contains(&cfg.rate) {
                return control_error(StatusCode::BAD_REQUEST, "rate must be within [0, 1]");
            }
            emu.set_faults(cfg);
            json_ok(&emu.faults())
        }
        Err(m) => bad_json(m),
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PushBody {
    #[serde(default)]
    kinds: Vec<FaultKind>,
}

/// Append scripted faults (`{"kinds":["429","drop"]}`) without touching the rest.
async fn push_faults(State(emu): State<Emulator>, body: Bytes) -> Response {
    match parse_json::<PushBody>(&body) {
        Ok(p) => {
            emu.push_faults(&p.kinds);
            json_ok(&emu.faults())
        }
        Err(m) => bad_json(m),
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpireBody {
    token: Option<String>,
}

/// Expire all access tokens, or one (`{"token":"…"}`).
async fn expire_tokens(State(emu): State<Emulator>, body: Bytes) -> Response {
    match parse_json::<ExpireBody>(&body) {
        Ok(ExpireBody { token: Some(t) }) => {
            if emu.expire_token(&t) {
                json_ok(&json!({"expired": 1}))
            } else {
                control_error(StatusCode::NOT_FOUND, "unknown token")
            }
        }
        Ok(ExpireBody { token: None }) => json_ok(&json!({"expired": emu.expire_tokens()})),
        Err(m) => bad_json(m),
    }
}

async fn reset_cursors(State(emu): State<Emulator>) -> Response {
    json_ok(&json!({"epoch": emu.reset_cursors()}))
}

async fn stats(State(emu): State<Emulator>) -> Response {
    json_ok(&emu.stats())
}

async fn reset_stats(State(emu): State<Emulator>) -> Response {
    emu.reset_stats();
    json_ok(&emu.stats())
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MintBody {
    /// Space-separated scopes (default: all configured scopes).
    scope: Option<String>,
    /// Lifetime in seconds (default: the configured lifetime).
    lifetime_secs: Option<u64>,
}

/// Mint an access token: `{"access_token","token_type","expires_in","scope"}`.
async fn mint_token(State(emu): State<Emulator>, body: Bytes) -> Response {
    match parse_json::<MintBody>(&body) {
        Ok(m) => {
            let scopes = m
                .scope
                .map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
            let lifetime = m.lifetime_secs.map(Duration::from_secs);
            let effective_scopes = scopes
                .clone()
                .unwrap_or_else(|| emu.config().scopes.clone());
            let token = emu.mint_token_with(scopes, lifetime, None);
            json_ok(&json!({
                "access_token": token,
                "token_type": "bearer",
                "expires_in": lifetime.unwrap_or(emu.config().token_lifetime).as_secs(),
                "scope": effective_scopes.join(" "),
            }))
        }
        Err(m) => bad_json(m),
    }
}

async fn list_files(State(emu): State<Emulator>) -> Response {
    json_ok(&emu.list_files())
}

fn dbx_path(path: &str) -> String {
    if path.starts_with("id:") || path.starts_with("rev:") {
        path.to_owned()
    } else {
        format!("/{}", path.trim_start_matches('/'))
    }
}

fn emulator_error(e: EmulatorError) -> Response {
    let status = match e {
        EmulatorError::InvalidPath(_) => StatusCode::BAD_REQUEST,
        EmulatorError::NotFound(_) => StatusCode::NOT_FOUND,
        EmulatorError::Conflict(_) => StatusCode::CONFLICT,
    };
    control_error(status, e.to_string())
}

/// Raw bytes of a file, with its metadata in `Dropbox-API-Result`.
async fn get_file(State(emu): State<Emulator>, Path(path): Path<String>) -> Response {
    let path = dbx_path(&path);
    match emu.get_file(&path) {
        Some((meta, data)) => {
            let mut resp = (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                )],
                data,
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&header_json(&meta)) {
                resp.headers_mut().insert("dropbox-api-result", v);
            }
            resp
        }
        None => control_error(StatusCode::NOT_FOUND, format!("no file at {path}")),
    }
}

/// A desktop-app-like write (overwrite; wakes longpolls). Returns metadata.
async fn put_file(State(emu): State<Emulator>, Path(path): Path<String>, body: Bytes) -> Response {
    match emu.put_file(&dbx_path(&path), body) {
        Ok(meta) => json_ok(&meta),
        Err(e) => emulator_error(e),
    }
}

/// A desktop-app-like delete.
async fn delete_file(State(emu): State<Emulator>, Path(path): Path<String>) -> Response {
    match emu.delete(&dbx_path(&path)) {
        Ok(meta) => json_ok(&json!({"metadata": meta})),
        Err(e) => emulator_error(e),
    }
}
