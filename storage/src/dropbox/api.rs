//! One place that sends requests to Dropbox and decides what each failure
//! means:
//!
//! - 429: wait as long as `Retry-After` (or the body's `retry_after`) says;
//! - 5xx and dropped connections: exponential backoff with jitter — unless
//!   the request was not idempotent and may have been carried out, which is
//!   [`DropboxError::Uncertain`]: only the caller can check what happened;
//! - 401 `expired_access_token`: refresh once and send again;
//! - 409: the route's own error, for the caller to read;
//! - 400: a bug on our side; never sent again.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::auth::{Auth, Credentials, Secret};
use super::error::{DropboxError, summary_tags};
use super::http::http_client;
pub use super::retry::RetryPolicy;
use super::settings::DropboxSettings;
use super::wire::ErrorBody;

/// How long a 429 asks us to wait: the `Retry-After` header (seconds), or
/// the JSON body's `error.retry_after`.
pub fn retry_after(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let from_header = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok());
    let from_body = || {
        serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .and_then(|b| {
                b.error
                    .get("retry_after")
                    .and_then(serde_json::Value::as_f64)
            })
    };
    from_header
        .or_else(from_body)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

/// The reqwest client every Dropbox call shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Host {
    /// RPC: JSON in the body.
    Api,
    /// Content: arguments in `Dropbox-API-Arg`.
    Content,
    /// Longpoll: no Authorization header (Dropbox answers 400 to one).
    Notify,
}

/// One call, ready to be sent (again, if need be).
pub(crate) struct Request {
    pub host: Host,
    pub route: &'static str,
    /// RPC and notify: the JSON body.
    pub json: Option<String>,
    /// Content: the `Dropbox-API-Arg` header.
    pub arg: Option<String>,
    /// Upload bytes (cheap to clone for a retry).
    pub upload: Option<Bytes>,
    /// `Range: bytes=N-` on a download.
    pub range_from: Option<u64>,
    /// Sending it twice has the effect of sending it once. When false, a
    /// failure after the request may have reached Dropbox is not retried
    /// here but reported as [`DropboxError::Uncertain`].
    pub idempotent: bool,
    pub timeout: Duration,
}

impl Request {
    pub(crate) fn rpc<T: Serialize>(route: &'static str, arg: &T) -> Result<Self, DropboxError> {
        Ok(Request {
            host: Host::Api,
            route,
            json: Some(
                serde_json::to_string(arg).map_err(|e| DropboxError::Protocol {
                    route: route.into(),
                    what: e.to_string(),
                })?,
            ),
            arg: None,
            upload: None,
            range_from: None,
            idempotent: true,
            timeout: Duration::from_secs(120),
        })
    }

    pub(crate) fn content<T: Serialize>(
        route: &'static str,
        arg: &T,
    ) -> Result<Self, DropboxError> {
        Ok(Request {
            host: Host::Content,
            route,
            json: None,
            arg: Some(
                super::wire::header_json(arg).map_err(|e| DropboxError::Protocol {
                    route: route.into(),
                    what: e.to_string(),
                })?,
            ),
            upload: None,
            range_from: None,
            idempotent: true,
            timeout: Duration::from_secs(600),
        })
    }
}

/// A 2xx (or 304/416, which the caller interprets) answer.
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Base URLs, credentials and the retry policy: everything needed to talk.
pub(crate) struct Api {
    http: reqwest::Client,
    api_url: String,
    content_url: String,
    notify_url: String,
    auth: Auth,
    pub(crate) policy: RetryPolicy,
}

enum Failure {
    /// Try again after this long; the text says why, for the log.
    Wait(Duration, String),
    Fatal(DropboxError),
}

impl Api {
    pub(crate) fn new(
        settings: &DropboxSettings,
        creds: Credentials,
    ) -> Result<Self, DropboxError> {
        let http = http_client()?;
        Ok(Api {
            auth: Auth::new(http.clone(), settings, creds),
            http,
            api_url: settings.api_url.clone(),
            content_url: settings.content_url.clone(),
            notify_url: settings.notify_url.clone(),
            policy: settings.retry,
        })
    }

    /// An RPC whose answer is JSON.
    pub(crate) async fn rpc<T: Serialize, R: DeserializeOwned>(
        &self,
        route: &'static str,
        arg: &T,
    ) -> Result<R, DropboxError> {
        let resp = self.send(Request::rpc(route, arg)?).await?;
        parse(route, &resp.body)
    }

    fn build(&self, req: &Request, token: Option<&Secret>) -> reqwest::RequestBuilder {
        let base = match req.host {
            Host::Api => &self.api_url,
            Host::Content => &self.content_url,
            Host::Notify => &self.notify_url,
        };
        let mut b = self
            .http
            .post(format!("{base}/2/{}", req.route))
            .timeout(req.timeout);
        if let Some(t) = token {
            b = b.bearer_auth(t.expose());
        }
        if let Some(j) = &req.json {
            b = b
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(j.clone());
        }
        if let Some(a) = &req.arg {
            // Already ASCII (header_json escapes the rest).
            if let Ok(v) = HeaderValue::from_str(a) {
                b = b.header("Dropbox-API-Arg", v);
            }
        }
        if let Some(data) = &req.upload {
            b = b
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(data.clone());
        }
        if let Some(from) = req.range_from.filter(|n| *n > 0) {
            b = b.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        b
    }

    /// Sends `req`, retrying what the policy says may be retried.
    pub(crate) async fn send(&self, req: Request) -> Result<Response, DropboxError> {
        let route = req.route;
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let token = match req.host {
                Host::Notify => None,
                _ => Some(self.auth.token().await?),
            };
            let failure = match self.build(&req, token.as_ref()).send().await {
                Err(e) => self.transport_failure(&req, attempt, &e)?,
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Err(e) => self.transport_failure(&req, attempt, &e)?,
                        Ok(body) => match self.judge(&req, attempt, status, &headers, &body) {
                            None => {
                                return Ok(Response {
                                    status,
                                    headers,
                                    body,
                                });
                            }
                            Some(Failure::Fatal(e))
                                if !refreshed && self.auth.can_refresh() && wants_refresh(&e) =>
                            {
                                // Expired (or revoked and renewed elsewhere):
                                // one refresh, then the same request again.
                                refreshed = true;
                                if let Some(t) = &token {
                                    self.auth.refresh_after(t).await?;
                                }
                                attempt -= 1;
                                continue;
                            }
                            Some(f) => f,
                        },
                    }
                }
            };
            match failure {
                Failure::Fatal(e) => return Err(e),
                Failure::Wait(_, why) if attempt >= self.policy.max_attempts => {
                    return Err(DropboxError::Unavailable {
                        route: route.into(),
                        attempts: attempt,
                        last: why,
                    });
                }
                Failure::Wait(d, why) => {
                    tracing::warn!("{why}");
                    tokio::time::sleep(d).await;
                }
            }
        }
    }

    fn transport_failure(
        &self,
        req: &Request,
        attempt: u32,
        e: &reqwest::Error,
    ) -> Result<Failure, DropboxError> {
        // A failed connect never reached Dropbox; anything later may have.
        if !req.idempotent && !e.is_connect() {
            return Err(DropboxError::Uncertain {
                route: req.route.into(),
            });
        }
        let d = self.policy.backoff(attempt);
        let what = if e.is_timeout() {
            "timed out".to_string()
        } else {
            format!("failed ({})", error_chain(e))
        };
        Ok(Failure::Wait(
            d,
            format!(
                "the connection to Dropbox {what} during {}; trying again in {:.1} s (attempt {attempt} of {})",
                req.route,
                d.as_secs_f64(),
                self.policy.max_attempts
            ),
        ))
    }

    /// `None`: success. Otherwise what to do about the answer.
    fn judge(
        &self,
        req: &Request,
        attempt: u32,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Failure> {
        let route = req.route;
        let code = status.as_u16();
        if status.is_success()
            || status == StatusCode::NOT_MODIFIED
            || status == StatusCode::RANGE_NOT_SATISFIABLE
        {
            return None;
        }
        let text = || {
            String::from_utf8_lossy(body)
                .chars()
                .take(1000)
                .collect::<String>()
        };
        Some(match code {
            429 => {
                // Rate limited: nothing happened, so even a non-idempotent
                // request may go again, after the wait Dropbox asks for.
                match retry_after(headers, body) {
                    Some(d) => Failure::Wait(
                        d,
                        format!(
                            "Dropbox answered 429 (too many requests) to {route}; waiting {} s as asked",
                            fmt_secs(d)
                        ),
                    ),
                    None => {
                        let d = self.policy.backoff(attempt);
                        Failure::Wait(
                            d,
                            format!(
                                "Dropbox answered 429 (too many requests) to {route} without saying how long to wait; waiting {} s",
                                fmt_secs(d)
                            ),
                        )
                    }
                }
            }
            500..=599 if !req.idempotent => {
                // The server may have committed before failing.
                Failure::Fatal(DropboxError::Uncertain {
                    route: route.into(),
                })
            }
            500..=599 => {
                let d = retry_after(headers, body).unwrap_or_else(|| self.policy.backoff(attempt));
                Failure::Wait(
                    d,
                    format!(
                        "Dropbox answered HTTP {code} to {route}; trying again in {} s (attempt {attempt} of {})",
                        fmt_secs(d),
                        self.policy.max_attempts
                    ),
                )
            }
            400 => Failure::Fatal(DropboxError::BadRequest {
                route: route.into(),
                body: text(),
            }),
            401 => Failure::Fatal(auth_error(body)),
            409 => Failure::Fatal(match serde_json::from_slice::<ErrorBody>(body) {
                Ok(e) => DropboxError::Route {
                    route: route.into(),
                    tags: summary_tags(&e.error_summary),
                    error: e.error,
                },
                Err(_) => DropboxError::Unexpected {
                    route: route.into(),
                    status: code,
                    body: text(),
                },
            }),
            _ => Failure::Fatal(DropboxError::Unexpected {
                route: route.into(),
                status: code,
                body: text(),
            }),
        })
    }
}

/// 401s. An expired (or invalid) token comes back as `StaticTokenExpired`,
/// which [`Api::send`] turns into one refresh when it can.
fn auth_error(body: &[u8]) -> DropboxError {
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    let tag = parsed
        .as_ref()
        .and_then(|b| b.error.get(".tag"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    match tag {
        "expired_access_token" | "invalid_access_token" => {
            if tag == "expired_access_token" {
                DropboxError::StaticTokenExpired
            } else {
                // Only refreshable logins get a second chance; a revoked
                // static token is simply wrong.
                DropboxError::Unauthorized {
                    reason: "invalid_access_token".into(),
                }
            }
        }
        "missing_scope" => DropboxError::MissingScope {
            scope: parsed
                .as_ref()
                .and_then(|b| b.error.get("required_scope"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("(unnamed)")
                .to_string(),
        },
        "" => DropboxError::Unauthorized {
            reason: String::from_utf8_lossy(body).chars().take(200).collect(),
        },
        other => DropboxError::Unauthorized {
            reason: other.to_string(),
        },
    }
}

/// A 401 that a refresh may cure.
fn wants_refresh(e: &DropboxError) -> bool {
    match e {
        DropboxError::StaticTokenExpired => true,
        DropboxError::Unauthorized { reason } => reason == "invalid_access_token",
        _ => false,
    }
}

fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if (s - s.round()).abs() < 0.05 {
        format!("{}", s.round() as u64)
    } else {
        format!("{s:.1}")
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

pub(crate) fn parse<R: DeserializeOwned>(route: &str, body: &[u8]) -> Result<R, DropboxError> {
    serde_json::from_slice(body).map_err(|e| DropboxError::Protocol {
        route: route.into(),
        what: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use dropbox_emulator::{Config, Emulator, FaultConfig, FaultKind, RateLimitStyle};
    use droprender_testkit::emulator_settings;

    use super::*;
    use crate::dropbox::wire::PathArg;

    #[test]
    fn retry_after_reads_the_header_then_the_body() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, b""), None);
        let body = br#"{"error_summary":"too_many_requests/..","error":{"reason":{".tag":"too_many_requests"},"retry_after":7}}"#;
        assert_eq!(retry_after(&h, body), Some(Duration::from_secs(7)));
        h.insert(reqwest::header::RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h, body), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after(&h, b"Too Many Requests"),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_attempts: 5,
        };
        for _ in 0..50 {
            let d1 = p.backoff(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = p.backoff(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            assert!(p.backoff(30) <= Duration::from_secs(1));
        }
    }

    async fn emulator() -> (Emulator, dropbox_emulator::RunningEmulator, Api) {
        let (emu, running) = droprender_testkit::emulator::start("t", Config::default()).await;
        let settings = emulator_settings!(running.url(), retry_ms: (10, 100, 5));
        let api = Api::new(&settings, Credentials::Token(Secret::new("t"))).expect("api");
        (emu, running, api)
    }

    #[tokio::test]
    async fn a_429_waits_as_long_as_asked() {
        let (emu, _running, api) = emulator().await;
        emu.put_file("/a.txt", &b"x"[..]).expect("put");
        emu.set_faults(FaultConfig {
            next: vec![FaultKind::TooManyRequests],
            retry_after_secs: 1,
            rate_limit_body: RateLimitStyle::TooManyWriteOperations,
            ..FaultConfig::default()
        });
        let t = Instant::now();
        let _: serde_json::Value = api
            .rpc("files/get_metadata", &PathArg { path: "/a.txt" })
            .await
            .expect("answered after the wait");
        assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
        let s = emu.stats();
        assert_eq!(s.routes["/2/files/get_metadata"].requests, 2);
    }

    #[tokio::test]
    async fn a_400_is_a_bug_and_is_not_retried() {
        let (emu, _running, api) = emulator().await;
        // Dropbox wants "" for the root, never "/": a malformed call.
        let e = api
            .rpc::<_, serde_json::Value>(
                "files/list_folder",
                &serde_json::json!({"path": "/", "bogus_field": 1}),
            )
            .await
            .expect_err("400");
        assert!(matches!(e, DropboxError::BadRequest { .. }), "{e}");
        assert!(e.to_string().contains("bug"), "{e}");
        assert_eq!(emu.stats().routes["/2/files/list_folder"].requests, 1);
    }

    #[tokio::test]
    async fn server_errors_and_drops_are_retried_when_safe() {
        let (emu, _running, api) = emulator().await;
        emu.put_file("/a.txt", &b"x"[..]).expect("put");
        emu.push_faults(&[FaultKind::InternalError, FaultKind::Drop]);
        let _: serde_json::Value = api
            .rpc("files/get_metadata", &PathArg { path: "/a.txt" })
            .await
            .expect("answered on the third try");
        assert_eq!(emu.stats().routes["/2/files/get_metadata"].requests, 3);
        // Not idempotent: a drop is reported, not retried.
        emu.push_faults(&[FaultKind::Drop]);
        let mut req = Request::rpc("files/get_metadata", &PathArg { path: "/a.txt" }).expect("req");
        req.idempotent = false;
        let e = api.send(req).await.err().expect("uncertain");
        assert!(matches!(e, DropboxError::Uncertain { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_static_token_that_expired_says_how_to_fix_it() {
        let (emu, _running, api) = emulator().await;
        emu.expire_tokens();
        let e = api
            .rpc::<_, serde_json::Value>("files/get_metadata", &PathArg { path: "/a.txt" })
            .await
            .expect_err("expired");
        assert!(matches!(e, DropboxError::StaticTokenExpired), "{e}");
        assert!(e.to_string().contains("DROPRENDER_DROPBOX_TOKEN"), "{e}");
        assert!(!e.to_string().contains(" t "), "{e}");
    }
}
