//! Spec alignment found by the official SDK (tests/official_sdk.rs), checked
//! here over plain HTTP so it holds without the SDK installed: every field
//! the Stone spec defines is accepted, and the answers have its shapes.

mod common;

use common::{TOKEN, assert_summary, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `files.ListFolderArg` with every field that has a default, as the
/// official SDKs send it.
fn full_list_folder_arg(path: &str) -> Value {
    json!({
        "path": path,
        "recursive": false,
        "include_media_info": false,
        "include_deleted": false,
        "include_has_explicit_shared_members": false,
        "include_mounted_folders": true,
        "include_non_downloadable_files": true,
        "include_restorable_info": false,
    })
}

#[tokio::test]
async fn list_folder_and_latest_cursor_accept_every_spec_field() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    for route in ["files/list_folder", "files/list_folder/get_latest_cursor"] {
        let r = env.rpc(route, full_list_folder_arg("/Maya")).await;
        assert_eq!(r.status, StatusCode::OK, "{route}: {}", r.text());
        assert!(r.json()["cursor"].is_string());
        // include_restorable_info is a boolean like its siblings.
        let mut bad = full_list_folder_arg("/Maya");
        bad["include_restorable_info"] = json!("yes");
        let r = env.rpc(route, bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.text().contains("include_restorable_info"), "{}", r.text());
    }
    let r = env
        .rpc("files/list_folder", full_list_folder_arg("/Maya"))
        .await;
    assert_eq!(r.json()["entries"][0]["name"], "a.txt");
}

#[tokio::test]
async fn shared_link_is_accepted_and_finds_nothing() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    let mut arg = full_list_folder_arg("");
    arg["shared_link"] = json!({"url": "https://www.dropbox.com/sh/abc/def", "password": null});
    let r = env.rpc("files/list_folder", arg).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let v = r.json();
    assert_summary(&v, "path/not_found");
    assert_eq!(
        v["error"],
        json!({".tag": "path", "path": {".tag": "not_found"}})
    );
    // Still validated as a `SharedLink` struct.
    for bad in [
        json!("https://x"),
        json!({"password": "p"}),
        json!({"url": "u", "x": 1}),
    ] {
        let r = env
            .rpc("files/list_folder", json!({"path": "", "shared_link": bad}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
        assert!(r.text().contains("shared_link"), "{}", r.text());
    }
}

async fn session_call(env: &common::Env, route: &str, arg: Value, data: &[u8]) -> common::Reply {
    let resp = env
        .client
        .post(env.url(&format!("/2/files/upload_session/{route}")))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/octet-stream")
        .header("Dropbox-API-Arg", arg.to_string())
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    common::reply(resp).await
}

#[tokio::test]
async fn finish_content_hash_covers_only_this_calls_bytes() {
    let env = start().await;
    let hash = dropbox_emulator::content_hash;
    let r = session_call(
        &env,
        "start",
        json!({"content_hash": hash(b"head ")}),
        b"head ",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sid = r.json()["session_id"].as_str().unwrap().to_owned();
    let cursor = json!({"session_id": sid, "offset": 5});
    // The whole file's hash is not this call's: a mismatch.
    let r = session_call(
        &env,
        "finish",
        json!({"cursor": cursor, "commit": {"path": "/f.txt"}, "content_hash": hash(b"head tail")}),
        b"tail",
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"], json!({".tag": "content_hash_mismatch"}));
    // The hash of the bytes sent with finish is right.
    let r = session_call(
        &env,
        "finish",
        json!({"cursor": cursor, "commit": {"path": "/f.txt"}, "content_hash": hash(b"tail")}),
        b"tail",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["content_hash"], hash(b"head tail"));
    assert_eq!(r.json()["size"], 9);
}

#[tokio::test]
async fn finish_commit_is_a_plain_commit_info() {
    let env = start().await;
    let r = session_call(&env, "start", json!({}), b"x").await;
    let sid = r.json()["session_id"].as_str().unwrap().to_owned();
    // `content_hash` belongs to UploadArg and UploadSessionFinishArg, not to
    // CommitInfo.
    let r = session_call(
        &env,
        "finish",
        json!({
            "cursor": {"session_id": sid, "offset": 1},
            "commit": {"path": "/x.txt", "content_hash": dropbox_emulator::content_hash(b"x")},
        }),
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(
        r.text().contains("unknown field 'commit.content_hash'"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let env = start().await;
    env.put("/a.txt", b"a").await;
    let ok = env
        .rpc("files/get_metadata", json!({"path": "/a.txt"}))
        .await;
    let missing = env
        .rpc("files/get_metadata", json!({"path": "/b.txt"}))
        .await;
    let bad = env
        .rpc("files/get_metadata", json!({"pth": "/a.txt"}))
        .await;
    let download = env.download("/a.txt", None).await;
    let mut ids = Vec::new();
    for (r, status) in [
        (&ok, StatusCode::OK),
        (&missing, StatusCode::CONFLICT),
        (&bad, StatusCode::BAD_REQUEST),
        (&download, StatusCode::OK),
    ] {
        assert_eq!(r.status, status);
        let id = r
            .header("x-dropbox-request-id")
            .expect("X-Dropbox-Request-Id");
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "request ids repeat: {ids:?}");
}

async fn token(env: &common::Env, form: &[(&str, &str)]) -> common::Reply {
    let resp = env
        .client
        .post(env.url("/oauth2/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    common::reply(resp).await
}

#[tokio::test]
async fn refresh_with_scope_narrows_the_new_token() {
    let env = start().await;
    let app_key = env.emu().config().app_key.clone();
    let verifier = "v".repeat(43);
    let page = env
        .client
        .get(env.url("/oauth2/authorize"))
        .query(&[
            ("client_id", app_key.as_str()),
            ("response_type", "code"),
            ("token_access_type", "offline"),
            ("code_challenge", verifier.as_str()),
            ("code_challenge_method", "plain"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let code = page
        .split("data-code=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("code in page")
        .to_owned();
    let r = token(
        &env,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &app_key),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let refresh = r.json()["refresh_token"].as_str().unwrap().to_owned();

    let r = token(
        &env,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &app_key),
            ("scope", "files.metadata.read"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["scope"], "files.metadata.read");
    let narrow = r.json()["access_token"].as_str().unwrap().to_owned();
    let list = env
        .rpc_as(Some(&narrow), "files/list_folder", json!({"path": ""}))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    let dl = env
        .client
        .post(env.url("/2/files/download"))
        .bearer_auth(&narrow)
        .header("Dropbox-API-Arg", r#"{"path":"/a.txt"}"#)
        .send()
        .await
        .unwrap();
    let dl = common::reply(dl).await;
    assert_eq!(dl.status, StatusCode::UNAUTHORIZED, "{}", dl.text());
    assert_eq!(dl.json()["error"][".tag"], "missing_scope");

    // A scope never granted is refused.
    let r = token(
        &env,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &app_key),
            ("scope", "files.metadata.read team_data.member"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(r.json()["error"], "invalid_scope");
    // Without `scope`: the full grant, and no `scope` in the answer (as before).
    let r = token(
        &env,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &app_key),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json().get("scope").is_none(), "{}", r.text());
}
