//! HTTP serving: the router, the stats and fault middlewares, and an accept
//! loop that can drop a connection on purpose (the `drop` faults).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::auth::bearer;
use crate::emulator::{Emulator, Urls, lock};
use crate::error::ApiError;
use crate::faults::{FaultKind, RouteClass, classify};
use crate::routes;

/// Largest request body read (uploads are limited to 150 MiB by the API;
/// a little more is read so the route can answer `payload_too_large`).
pub const MAX_BODY: usize = 150 * 1024 * 1024 + 1024 * 1024;

/// Per-connection handle letting a handler drop its own connection.
#[derive(Clone, Debug)]
pub struct ConnControl {
    abort: Arc<Notify>,
}

/// Abort the connection carrying `req` and never answer.
async fn drop_connection(ctl: Option<ConnControl>) -> Response {
    match ctl {
        Some(ctl) => {
            ctl.abort.notify_one();
            std::future::pending::<Response>().await
        }
        // Not served by our accept loop (e.g. a router used directly): the
        // closest thing is an empty 500.
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The full router: Dropbox routes (observed and faultable) plus the control
/// surface.
pub fn router(emu: Emulator) -> Router {
    let dropbox = routes::dropbox_routes()
        .layer(middleware::from_fn_with_state(emu.clone(), fault_layer))
        .layer(middleware::from_fn_with_state(emu.clone(), stats_layer))
        .layer(DefaultBodyLimit::disable());
    let control = routes::control::routes().layer(DefaultBodyLimit::max(MAX_BODY));
    dropbox.merge(control).with_state(emu)
}

fn route_key(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "(unknown route)".to_owned())
}

fn arg_len(req: &Request) -> u64 {
    if let Some(v) = req.headers().get("dropbox-api-arg") {
        return v.len() as u64;
    }
    req.uri()
        .query()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "arg")
                .map(|(_, v)| v.len() as u64)
        })
        .unwrap_or(0)
}

/// Buffers the request body (so its size is known) and counts traffic.
async fn stats_layer(State(emu): State<Emulator>, req: Request, next: Next) -> Response {
    let route = route_key(&req);
    let arg_bytes = arg_len(&req);
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large or unreadable",
            )
            .into_response();
        }
    };
    lock(&emu.inner.stats).record_request(&route, body.len() as u64 + arg_bytes);
    // Recorded as dropped unless a response comes back.
    let guard = DropGuard {
        emu: emu.clone(),
        route: route.clone(),
        armed: true,
    };
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    let mut guard = guard;
    guard.armed = false;
    let result_bytes = resp
        .headers()
        .get("dropbox-api-result")
        .map_or(0, |v| v.len() as u64);
    let body_bytes = resp.body().size_hint().exact().unwrap_or(0);
    lock(&emu.inner.stats).record_response(
        &route,
        resp.status().as_u16(),
        body_bytes + result_bytes,
    );
    let mut resp = resp;
    resp.headers_mut()
        .insert("x-dropbox-request-id", next_request_id());
    resp
}

/// `X-Dropbox-Request-Id`: Dropbox tags every answer with one (SDKs keep it
/// in their exceptions). Here a counter, so it disturbs no seeded sequence.
fn next_request_id() -> HeaderValue {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    HeaderValue::from_str(&format!("{n:032x}")).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

struct DropGuard {
    emu: Emulator,
    route: String,
    armed: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if self.armed {
            lock(&self.emu.inner.stats).record_drop(&self.route);
        }
    }
}

/// Decides and applies faults before the handler runs.
async fn fault_layer(State(emu): State<Emulator>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let Some(class) = classify(&path) else {
        return next.run(req).await;
    };
    let Some(fault) = lock(&emu.inner.faults).decide(&path, class) else {
        return next.run(req).await;
    };
    let ctl = req.extensions().get::<ConnControl>().cloned();
    // `expire` needs a token to expire; without one it is not a fault.
    let expire_token = if fault.kind == FaultKind::Expire && class != RouteClass::Notify {
        bearer("", req.headers(), None)
            .ok()
            .filter(|t| lock(&emu.inner.tokens).access.contains_key(t))
    } else {
        None
    };
    if fault.kind == FaultKind::Expire && expire_token.is_none() {
        return next.run(req).await;
    }
    tracing::info!(route = %path, fault = %fault.kind, "injecting fault");
    lock(&emu.inner.stats).record_fault(fault.kind.as_str());
    match fault.kind {
        FaultKind::TooManyRequests => ApiError::RateLimited {
            retry_after: fault.retry_after,
            body: fault.rate_limit_body,
        }
        .into_response(),
        FaultKind::InternalError => ApiError::plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error (injected by dropbox-emulator)",
        )
        .into_response(),
        FaultKind::Unavailable => ApiError::Plain {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "Service Unavailable (injected by dropbox-emulator)".into(),
            retry_after: Some(fault.retry_after),
        }
        .into_response(),
        FaultKind::Slow => {
            tokio::time::sleep(Duration::from_millis(fault.slow_ms)).await;
            next.run(req).await
        }
        FaultKind::Drop => drop_connection(ctl).await,
        FaultKind::Expire => {
            if let Some(t) = expire_token {
                emu.expire_token(&t);
            }
            ApiError::expired_access_token().into_response()
        }
        FaultKind::DropAfterCommit => {
            let _committed = next.run(req).await;
            drop_connection(ctl).await
        }
    }
}

/// The accept loop.
pub async fn serve(
    emu: Emulator,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(emu.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "dropbox emulator listening");
    }
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "connection");
                    let _ = stream.set_nodelay(true);
                    conns.spawn(handle_connection(stream, app.clone(), stop_rx.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    emu.inner.shutdown.notify_waiters();
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.abort_all();
    }
    tracing::info!("dropbox emulator stopped");
    Ok(())
}

async fn handle_connection(
    stream: tokio::net::TcpStream,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let abort = Arc::new(Notify::new());
    let ctl = ConnControl {
        abort: abort.clone(),
    };
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ctl.clone());
            let app = app.clone();
            async move {
                let resp = app.oneshot(req.map(Body::new)).await;
                Ok::<_, Infallible>(resp.unwrap_or_else(|never| match never {}))
            }
        });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with error");
                }
                break;
            }
            () = abort.notified() => {
                tracing::debug!("dropping connection (injected fault)");
                break;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

impl Emulator {
    /// Serve on an already-bound listener until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve(self, listener, shutdown).await
    }

    /// Bind `127.0.0.1:0` and serve in a background task.
    pub async fn start(self) -> std::io::Result<RunningEmulator> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let emu = self.clone();
        let task = tokio::spawn(async move {
            emu.serve(listener, async {
                let _ = rx.await;
            })
            .await
        });
        Ok(RunningEmulator {
            emulator: self,
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }
}

/// An emulator serving in the background (see [`Emulator::start`]).
#[derive(Debug)]
pub struct RunningEmulator {
    emulator: Emulator,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningEmulator {
    /// The control handle.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// Listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// All base URLs.
    pub fn urls(&self) -> Urls {
        Urls::new(self.addr)
    }

    /// Stop serving and wait for the server to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
