//! Fault injection and the control surface.

mod common;

use std::time::{Duration, Instant};

use common::{TOKEN, assert_summary, start, start_with};
use dropbox_emulator::{Config, FaultConfig, FaultKind};
use reqwest::StatusCode;
use serde_json::json;

async fn set_faults(env: &common::Env, cfg: serde_json::Value) {
    let r = env.control_post("/__emulator/faults", cfg).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn try_upload(
    env: &common::Env,
    path: &str,
    data: &[u8],
) -> Result<common::Reply, reqwest::Error> {
    let resp = env
        .client
        .post(env.url("/2/files/upload"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/octet-stream")
        .header(
            "Dropbox-API-Arg",
            json!({"path": path, "mode": "overwrite"}).to_string(),
        )
        .body(data.to_vec())
        .send()
        .await?;
    Ok(common::reply(resp).await)
}

#[tokio::test]
async fn rate_limited_429_with_retry_after_and_no_write() {
    let env = start().await;
    set_faults(
        &env,
        json!({"next": ["429"], "rate_limit_body": "too_many_requests", "retry_after_secs": 3}),
    )
    .await;
    let r = try_upload(&env, "/a.txt", b"x").await.unwrap();
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("retry-after").as_deref(), Some("3"));
    let v = r.json();
    assert_summary(&v, "too_many_requests");
    assert_eq!(
        v["error"],
        json!({"reason": {".tag": "too_many_requests"}, "retry_after": 3})
    );
    assert!(
        env.emu().list_files().is_empty(),
        "a faulted upload never writes"
    );
    // The queue is used up: the retry succeeds.
    let r = try_upload(&env, "/a.txt", b"x").await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn rate_limit_body_variants() {
    let env = start().await;
    set_faults(
        &env,
        json!({"next": ["429"], "rate_limit_body": "too_many_write_operations"}),
    )
    .await;
    let r = try_upload(&env, "/a.txt", b"x").await.unwrap();
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert_eq!(
        r.json()["error"],
        json!({"reason": {".tag": "too_many_write_operations"}})
    );
    set_faults(&env, json!({"next": ["429"], "rate_limit_body": "text"})).await;
    let r = try_upload(&env, "/a.txt", b"x").await.unwrap();
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.content_type().starts_with("text/plain"));
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn server_errors() {
    let env = start().await;
    set_faults(&env, json!({"next": ["500", "503"], "retry_after_secs": 2})).await;
    let r = env.rpc("files/list_folder", json!({"path": ""})).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let r = env.rpc("files/list_folder", json!({"path": ""})).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.header("retry-after").as_deref(), Some("2"));
    let r = env.rpc("files/list_folder", json!({"path": ""})).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn drop_closes_connection_without_writing() {
    let env = start().await;
    env.emu().push_faults(&[FaultKind::Drop]);
    let err = try_upload(&env, "/a.txt", b"x").await;
    assert!(err.is_err(), "connection must be dropped");
    assert!(env.emu().list_files().is_empty());
    assert_eq!(env.emu().stats().faults["drop"], 1);
    assert_eq!(env.emu().stats().routes["/2/files/upload"].dropped, 1);
}

#[tokio::test]
async fn drop_after_commit_writes_then_drops() {
    let env = start().await;
    set_faults(&env, json!({"next": ["drop-after-commit"]})).await;
    let err = try_upload(&env, "/Maya/commands.txt", b"one\n").await;
    assert!(err.is_err(), "connection must be dropped");
    let (meta, data) = env
        .emu()
        .get_file("/Maya/commands.txt")
        .expect("write landed");
    assert_eq!(&data[..], b"one\n");
    // The client can find out with get_metadata.
    let r = env
        .rpc("files/get_metadata", json!({"path": "/Maya/commands.txt"}))
        .await;
    assert_eq!(r.json()["rev"], meta.rev);
}

#[tokio::test]
async fn expire_fault_marks_the_token_expired() {
    let env = start().await;
    set_faults(&env, json!({"next": ["expire"]})).await;
    let r = env.rpc("files/list_folder", json!({"path": ""})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], json!({".tag": "expired_access_token"}));
    let r = env.rpc("files/list_folder", json!({"path": ""})).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the token stays expired"
    );
}

#[tokio::test]
async fn slow_delays_the_answer() {
    let env = start().await;
    set_faults(&env, json!({"next": ["slow"], "slow_ms": 300})).await;
    let t = Instant::now();
    let r = env.rpc("files/list_folder", json!({"path": ""})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn control_and_oauth_routes_are_never_faulted_by_default() {
    let env = start_with(Config {
        faults: FaultConfig {
            rate: 1.0,
            kinds: vec![FaultKind::InternalError],
            ..FaultConfig::default()
        },
        ..Config::default()
    })
    .await;
    assert_eq!(
        env.rpc("files/list_folder", json!({"path": ""}))
            .await
            .status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        env.control_get("/__emulator/stats").await.status,
        StatusCode::OK
    );
    let resp = env
        .client
        .post(env.url("/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "emulator-app-key"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "oauth answered normally"
    );
    // Route filter.
    set_faults(
        &env,
        json!({"rate": 1.0, "kinds": ["500"], "routes": ["files/upload"]}),
    )
    .await;
    assert_eq!(
        env.rpc("files/list_folder", json!({"path": ""}))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn seeded_random_faults_are_reproducible() {
    async fn run() -> Vec<u16> {
        let env = start_with(Config {
            faults: FaultConfig {
                rate: 0.5,
                kinds: vec![FaultKind::TooManyRequests, FaultKind::InternalError],
                seed: Some(99),
                ..FaultConfig::default()
            },
            ..Config::default()
        })
        .await;
        let mut out = Vec::new();
        for _ in 0..20 {
            out.push(
                env.rpc("files/list_folder", json!({"path": ""}))
                    .await
                    .status
                    .as_u16(),
            );
        }
        out
    }
    let a = run().await;
    assert_eq!(a, run().await);
    assert!(a.contains(&200) && a.iter().any(|s| *s != 200), "{a:?}");
}

#[tokio::test]
async fn stats_count_requests_and_bytes() {
    let env = start().await;
    let arg = json!({"path": "/a.txt", "mode": "overwrite"}).to_string();
    let r = try_upload(&env, "/a.txt", b"hello").await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let upload_body_len = r.body.len() as u64;
    let d = env.download("/a.txt", None).await;
    let result_len = d.header("dropbox-api-result").unwrap().len() as u64;
    let download_arg_len =
        dropbox_emulator::wire::header_json(&json!({"path": "/a.txt"})).len() as u64;

    let r = env.control_get("/__emulator/stats").await;
    assert_eq!(r.status, StatusCode::OK);
    let s: dropbox_emulator::Stats = serde_json::from_slice(&r.body).unwrap();
    let up = &s.routes["/2/files/upload"];
    assert_eq!(up.requests, 1);
    assert_eq!(up.request_bytes, 5 + arg.len() as u64);
    assert_eq!(up.response_bytes, upload_body_len);
    assert_eq!(up.statuses[&200], 1);
    let down = &s.routes["/2/files/download"];
    assert_eq!(down.requests, 1);
    assert_eq!(down.request_bytes, download_arg_len);
    assert_eq!(down.response_bytes, 5 + result_len);
    assert_eq!(s.total.requests, 2);
    assert!(!s.routes.keys().any(|k| k.starts_with("/__emulator")));

    let r = env
        .client
        .delete(env.url("/__emulator/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(env.emu().stats().total.requests, 0);
}

#[tokio::test]
async fn control_files_endpoints() {
    let env = start().await;
    let resp =
        env.client
            .put(env.url(
                "/__emulator/files/Maya/commands%20(Jane's%20conflicted%20copy%202026-08-23).txt",
            ))
            .body("render x\n")
            .send()
            .await
            .unwrap();
    let r = common::reply(resp).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["path_display"],
        "/Maya/commands (Jane's conflicted copy 2026-08-23).txt"
    );
    let r = env
        .control_get(
            "/__emulator/files/maya/COMMANDS%20(Jane's%20conflicted%20copy%202026-08-23).txt",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"render x\n");
    assert!(r.header("dropbox-api-result").is_some());
    let r = env.control_get("/__emulator/files").await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let r = env.control_get("/__emulator/files/nope.txt").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = env.control_get("/__emulator/faults").await;
    assert_eq!(r.json()["rate"], 0.0);
    let r = env
        .control_post("/__emulator/faults", json!({"rate": 2.0}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = env
        .control_post("/__emulator/faults", json!({"kinds": ["bogus"]}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
