//! Error responses in Dropbox's shapes.
//!
//! - 400: plain text `Error in call to API function "<route>": <why>` (a bug in
//!   the caller: bad arguments, bad headers).
//! - 401: JSON `{"error_summary":"expired_access_token/…","error":{".tag":…}}`.
//! - 409: JSON route error `{"error_summary":"path/not_found/..","error":{…}}`.
//! - 429: JSON `too_many_requests` with `retry_after`, `too_many_write_operations`
//!   without it, or plain text; always a `Retry-After` header.
//! - 5xx: plain text.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// How a 429 body looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitBody {
    /// `{"error_summary":"too_many_requests/..","error":{"reason":{".tag":"too_many_requests"},"retry_after":N}}`
    TooManyRequests,
    /// `{"error_summary":"too_many_write_operations/..","error":{"reason":{".tag":"too_many_write_operations"}}}`
    TooManyWriteOperations,
    /// A plain-text body.
    PlainText,
}

/// Any non-2xx answer from a Dropbox route.
#[derive(Debug)]
pub enum ApiError {
    /// 400, plain text; the message is complete.
    BadRequest(String),
    /// 401 with the auth error union (`error` has the `.tag`).
    Unauthorized {
        /// Tag path for `error_summary`, e.g. `expired_access_token`.
        tags: String,
        /// The `error` member.
        error: Value,
    },
    /// 409 route-specific error.
    Route {
        /// Tag path for `error_summary`, e.g. `path/not_found`.
        tags: String,
        /// The `error` member.
        error: Value,
    },
    /// 429.
    RateLimited {
        /// Seconds, also sent as `Retry-After`.
        retry_after: u64,
        /// Body variant.
        body: RateLimitBody,
    },
    /// Other statuses with a plain-text body (5xx, 404 for unknown routes).
    Plain {
        /// Status code.
        status: StatusCode,
        /// Body text.
        message: String,
        /// Optional `Retry-After` header.
        retry_after: Option<u64>,
    },
}

impl ApiError {
    /// 400 in Dropbox's format for a given route (`files/upload`, …).
    pub fn bad_request(route: &str, why: impl std::fmt::Display) -> Self {
        ApiError::BadRequest(format!("Error in call to API function \"{route}\": {why}"))
    }

    /// 409 route error.
    pub fn route(tags: impl Into<String>, error: Value) -> Self {
        ApiError::Route {
            tags: tags.into(),
            error,
        }
    }

    /// 409 `reset` (list_folder/continue and longpoll).
    pub fn reset() -> Self {
        Self::route("reset", json!({".tag": "reset"}))
    }

    /// 401 `invalid_access_token`.
    pub fn invalid_access_token() -> Self {
        ApiError::Unauthorized {
            tags: "invalid_access_token".into(),
            error: json!({".tag": "invalid_access_token"}),
        }
    }

    /// 401 `expired_access_token`.
    pub fn expired_access_token() -> Self {
        ApiError::Unauthorized {
            tags: "expired_access_token".into(),
            error: json!({".tag": "expired_access_token"}),
        }
    }

    /// 401 `missing_scope` with `required_scope`.
    pub fn missing_scope(scope: &str) -> Self {
        ApiError::Unauthorized {
            tags: "missing_scope".into(),
            error: json!({".tag": "missing_scope", "required_scope": scope}),
        }
    }

    /// Plain-text error with a status.
    pub fn plain(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError::Plain {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
}

static SUMMARY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `error_summary`: the tag path, a slash, then 0–3 dots. Dropbox varies the
/// trailing dots (the doc shows `path/not_found/..`, `path/conflict/file/.`,
/// and `missing_scope/` is seen in the wild) precisely so that clients do not
/// match the summary as a whole string; we vary them too.
pub fn error_summary(tags: &str) -> String {
    let n = SUMMARY_COUNTER.fetch_add(1, Ordering::Relaxed) % 4;
    format!("{tags}/{}", ".".repeat(n as usize))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let text = body.to_string();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        text,
    )
        .into_response()
}

fn text_response(status: StatusCode, text: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(msg) => text_response(StatusCode::BAD_REQUEST, msg),
            ApiError::Unauthorized { tags, error } => json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error_summary": error_summary(&tags), "error": error}),
            ),
            ApiError::Route { tags, error } => json_response(
                StatusCode::CONFLICT,
                &json!({"error_summary": error_summary(&tags), "error": error}),
            ),
            ApiError::RateLimited { retry_after, body } => {
                let mut resp = match body {
                    RateLimitBody::TooManyRequests => json_response(
                        StatusCode::TOO_MANY_REQUESTS,
                        &json!({
                            "error_summary": error_summary("too_many_requests"),
                            "error": {
                                "reason": {".tag": "too_many_requests"},
                                "retry_after": retry_after,
                            },
                        }),
                    ),
                    RateLimitBody::TooManyWriteOperations => json_response(
                        StatusCode::TOO_MANY_REQUESTS,
                        &json!({
                            "error_summary": error_summary("too_many_write_operations"),
                            "error": {"reason": {".tag": "too_many_write_operations"}},
                        }),
                    ),
                    RateLimitBody::PlainText => {
                        text_response(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests".into())
                    }
                };
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                resp
            }
            ApiError::Plain {
                status,
                message,
                retry_after,
            } => {
                let mut resp = text_response(status, message);
                if let Some(secs) = retry_after {
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                resp
            }
        }
    }
}
