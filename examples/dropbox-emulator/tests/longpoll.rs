//! Wire tests for files/list_folder/longpoll (notify host).

mod common;

use std::time::{Duration, Instant};

use common::{TOKEN, assert_summary, start, start_with};
use dropbox_emulator::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn cursor_for(env: &common::Env, path: &str) -> Value {
    env.rpc("files/list_folder/get_latest_cursor", json!({"path": path}))
        .await
        .json()["cursor"]
        .clone()
}

async fn longpoll(env: &common::Env, body: Value) -> common::Reply {
    let resp = env
        .client
        .post(env.url("/2/files/list_folder/longpoll"))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    common::reply(resp).await
}

#[tokio::test]
async fn authorization_header_is_rejected_with_400() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    let cursor = cursor_for(&env, "/Maya").await;
    let resp = env
        .client
        .post(env.url("/2/files/list_folder/longpoll"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/json")
        .body(json!({"cursor": cursor}).to_string())
        .send()
        .await
        .unwrap();
    let r = common::reply(resp).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.content_type().starts_with("text/plain"));
    assert_eq!(
        r.text(),
        "Error in call to API function \"files/list_folder/longpoll\": Your request includes an Authorization header, but this function does not use it."
    );
}

#[tokio::test]
async fn wakes_up_on_change_under_the_cursor() {
    let env = start().await;
    env.put("/Maya/commands.txt", b"one\n").await;
    let cursor = cursor_for(&env, "/Maya").await;
    let client = env.client.clone();
    let url = env.url("/2/files/list_folder/longpoll");
    let started = Instant::now();
    let poll = tokio::spawn(async move {
        let resp = client
            .post(url)
            .header("Content-Type", "application/json")
            .body(json!({"cursor": cursor, "timeout": 480}).to_string())
            .send()
            .await
            .unwrap();
        common::reply(resp).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !poll.is_finished(),
        "longpoll must hold while nothing changes"
    );
    // A desktop-app-like write through the control surface.
    let resp = env
        .client
        .put(env.url("/__emulator/files/Maya/commands.txt"))
        .body("one\ntwo\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let r = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("longpoll woke up")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"changes": true}));
}

#[tokio::test]
async fn times_out_with_changes_false_and_ignores_other_folders() {
    let env = start_with(Config {
        longpoll_time_scale: 0.02, // 30 s ⇒ 0.6 s
        ..Config::default()
    })
    .await;
    env.put("/Maya/a.txt", b"a").await;
    let cursor = cursor_for(&env, "/Maya").await;
    let emu = env.emu().clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        emu.put_file("/Elsewhere/b.txt", &b"b"[..]).unwrap();
    });
    let started = Instant::now();
    let r = longpoll(&env, json!({"cursor": cursor})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"changes": false}));
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn returns_at_once_when_changes_are_pending() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    let cursor = cursor_for(&env, "/Maya").await;
    env.put("/Maya/a.txt", b"b").await;
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        longpoll(&env, json!({"cursor": cursor, "timeout": 30})),
    )
    .await
    .expect("immediate answer");
    assert_eq!(r.json(), json!({"changes": true}));
}

#[tokio::test]
async fn backoff_when_configured() {
    let env = start_with(Config {
        longpoll_time_scale: 0.01,
        longpoll_backoff: Some(5),
        ..Config::default()
    })
    .await;
    env.put("/Maya/a.txt", b"a").await;
    let cursor = cursor_for(&env, "/Maya").await;
    let r = longpoll(&env, json!({"cursor": cursor})).await;
    assert_eq!(r.json(), json!({"changes": false, "backoff": 5}));
}

#[tokio::test]
async fn timeout_out_of_range_is_400() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    let cursor = cursor_for(&env, "/Maya").await;
    for t in [10, 481] {
        let r = longpoll(&env, json!({"cursor": cursor, "timeout": t})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "timeout {t}");
    }
}

#[tokio::test]
async fn reset_while_polling_answers_409_reset() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    let cursor = cursor_for(&env, "/Maya").await;
    let emu = env.emu().clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        emu.reset_cursors();
    });
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        longpoll(&env, json!({"cursor": cursor})),
    )
    .await
    .expect("woken by reset");
    assert_eq!(r.status, StatusCode::CONFLICT);
    let v = r.json();
    assert_summary(&v, "reset");
    assert_eq!(v["error"], json!({".tag": "reset"}));
}

#[tokio::test]
async fn shutdown_releases_held_longpolls() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    let cursor = cursor_for(&env, "/Maya").await;
    let common::Env {
        running,
        client,
        base,
    } = env;
    let poll = tokio::spawn(async move {
        client
            .post(format!("{base}/2/files/list_folder/longpoll"))
            .header("Content-Type", "application/json")
            .body(json!({"cursor": cursor, "timeout": 480}).to_string())
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), running.shutdown())
        .await
        .expect("shutdown does not wait for the longpoll timeout")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(6));
    let r = poll.await.unwrap();
    if let Ok(resp) = r {
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body, json!({"changes": false}));
    }
}
