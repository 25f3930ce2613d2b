//! Route table and helpers shared by the route modules.

pub mod content;
pub mod control;
pub mod files;
pub mod oauth;

use std::collections::HashMap;
use std::time::Instant;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::json;

use crate::args::Args;
use crate::auth::bearer;
use crate::emulator::{Emulator, lock};
use crate::error::ApiError;
use crate::storage::{DbxPath, LookupError, PathProblem, Target};

/// Routes of the api, content, notify and oauth "hosts".
pub fn dropbox_routes() -> Router<Emulator> {
    Router::new()
        .route("/2/files/list_folder", post(files::list_folder))
        .route(
            "/2/files/list_folder/continue",
            post(files::list_folder_continue),
        )
        .route(
            "/2/files/list_folder/get_latest_cursor",
            post(files::get_latest_cursor),
        )
        .route("/2/files/list_folder/longpoll", post(files::longpoll))
        .route("/2/files/get_metadata", post(files::get_metadata))
        .route("/2/files/delete_v2", post(files::delete_v2))
        .route("/2/auth/token/revoke", post(files::revoke))
        .route(
            "/2/files/download",
            post(content::download).get(content::download),
        )
        .route("/2/files/upload", post(content::upload))
        .route(
            "/2/files/upload_session/start",
            post(content::session_start),
        )
        .route(
            "/2/files/upload_session/append_v2",
            post(content::session_append),
        )
        .route(
            "/2/files/upload_session/finish",
            post(content::session_finish),
        )
        .route("/oauth2/authorize", get(oauth::authorize))
        .route("/oauth2/token", post(oauth::token))
        .route("/2/{*rest}", post(unknown_route).get(unknown_route))
}

async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    let name = uri.path().trim_start_matches("/2/");
    // Unsure: Dropbox's exact answer for an unknown function.
    ApiError::plain(
        StatusCode::NOT_FOUND,
        format!("Unknown API function: \"{name}\""),
    )
}

/// Decode a raw query string.
pub(crate) fn query_params(raw: Option<&str>) -> HashMap<String, String> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// JSON 200.
pub(crate) fn json_ok<T: Serialize>(value: &T) -> Response {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

impl Emulator {
    /// Authenticate a call needing `scope` (`None`: any valid token).
    pub(crate) fn authorize(
        &self,
        route: &'static str,
        headers: &HeaderMap,
        query: &HashMap<String, String>,
        scope: Option<&str>,
    ) -> Result<String, ApiError> {
        let token = bearer(
            route,
            headers,
            query.get("authorization").map(String::as_str),
        )?;
        let tokens = lock(&self.inner.tokens);
        let now = Instant::now();
        match scope {
            Some(scope) => tokens.check(&token, scope, now)?,
            None => match tokens.state(&token, now) {
                crate::auth::TokenState::Valid => {}
                crate::auth::TokenState::Invalid => return Err(ApiError::invalid_access_token()),
                crate::auth::TokenState::Expired => return Err(ApiError::expired_access_token()),
            },
        }
        Ok(token)
    }
}

/// Which path forms a field accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathForm {
    /// list_folder: `""`, `/…`, `id:…`.
    Folder,
    /// get_metadata, download: `/…`, `id:…`, `rev:…`.
    Read,
    /// upload, delete: `/…`, `id:…`.
    Write,
}

impl PathForm {
    fn pattern(self) -> &'static str {
        match self {
            PathForm::Folder => r"(/(.|[\r\n])*)?|id:.*|(ns:[0-9]+(/.*)?)",
            PathForm::Read => r"(/(.|[\r\n])*|id:.*)|(rev:[0-9a-f]{9,})|(ns:[0-9]+(/.*)?)",
            PathForm::Write => r"(/(.|[\r\n])*)|(ns:[0-9]+(/.*)?)|(id:.*)",
        }
    }
}

/// Parse a path argument into a lookup target, with Dropbox's 400s for
/// values that do not match the field's pattern.
pub(crate) fn parse_target(
    args: &Args,
    field: &str,
    value: &str,
    form: PathForm,
) -> Result<Target, ApiError> {
    let mismatch = || {
        args.field_error(
            field,
            format!("'{value}' did not match pattern '{}'", form.pattern()),
        )
    };
    if value.is_empty() {
        return if form == PathForm::Folder {
            Ok(Target::Root)
        } else {
            Err(mismatch())
        };
    }
    if let Some(rev) = value.strip_prefix("rev:") {
        return if form == PathForm::Read && crate::args::valid_rev(rev) {
            Ok(Target::Rev(rev.to_owned()))
        } else {
            Err(mismatch())
        };
    }
    if value.starts_with("id:") {
        return Ok(Target::Id(value.to_owned()));
    }
    if value.starts_with("ns:") {
        // No namespaces here: a well-formed ns: path simply finds nothing.
        return Ok(Target::Id(value.to_owned()));
    }
    match DbxPath::parse(value) {
        Ok(p) => Ok(Target::Path(p)),
        Err(PathProblem::NotAbsolute) => Err(mismatch()),
        Err(PathProblem::SlashRoot) if form == PathForm::Folder => Err(args.field_error(
            field,
            "Specify the root folder as an empty string rather than as \"/\".",
        )),
        Err(PathProblem::SlashRoot) | Err(PathProblem::Malformed) => Ok(Target::Malformed),
    }
}

/// 409 for a `LookupError` under a member named `outer` (e.g. `path`).
pub(crate) fn lookup_error(outer: &str, e: LookupError) -> ApiError {
    ApiError::route(
        format!("{outer}/{}", e.tag()),
        json!({".tag": outer, outer: e.to_json()}),
    )
}
