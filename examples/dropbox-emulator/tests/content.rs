//! Wire tests for the content routes: download (header escaping, Range,
//! rev:/id:), upload (modes, conflicts, no-op), upload sessions.

mod common;

use common::{TOKEN, assert_summary, keys, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn download_result_header_escapes_non_ascii() {
    let env = start().await;
    let name = "/Maya/Café \u{7f} 🎬 шот.txt";
    let up = env.put(name, b"hello").await;
    assert_eq!(up["path_display"], name);
    let r = env.download(name, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"hello");
    assert_eq!(r.content_type(), "application/octet-stream");
    let raw = r.headers.get("dropbox-api-result").expect("result header");
    let raw = raw.as_bytes();
    assert!(raw.is_ascii(), "header must be pure ASCII");
    assert!(!raw.contains(&0x7f), "DEL must be escaped too");
    let text = std::str::from_utf8(raw).unwrap();
    assert!(text.contains(r"Caf\u00e9"), "{text}");
    assert!(text.contains(r"\u007f"), "{text}");
    assert!(text.contains(r"\ud83c\udfac"), "{text}");
    assert!(text.contains(r"\u0448\u043e\u0442"), "{text}");
    let meta: Value = serde_json::from_str(text).unwrap();
    assert_eq!(meta["name"], "Café \u{7f} 🎬 шот.txt");
    assert_eq!(meta["rev"], up["rev"]);
    assert_eq!(meta["content_hash"], up["content_hash"]);
}

#[tokio::test]
async fn upload_result_is_file_metadata() {
    let env = start().await;
    let v = env.put("/Maya/x.bin", b"12345").await;
    // A bare FileMetadata struct (the declared result type), so no `.tag`.
    assert_eq!(
        keys(&v),
        vec![
            "client_modified",
            "content_hash",
            "id",
            "is_downloadable",
            "name",
            "path_display",
            "path_lower",
            "rev",
            "server_modified",
            "size"
        ]
    );
    assert_eq!(v["size"], 5);
}

#[tokio::test]
async fn range_requests() {
    let env = start().await;
    env.put("/log.txt", b"0123456789").await;
    let r = env.download("/log.txt", Some("bytes=2-5")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, b"2345");
    assert_eq!(r.header("content-range").unwrap(), "bytes 2-5/10");
    assert!(r.header("dropbox-api-result").is_some());

    let r = env.download("/log.txt", Some("bytes=7-")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, b"789");
    assert_eq!(r.header("content-range").unwrap(), "bytes 7-9/10");

    let r = env.download("/log.txt", Some("bytes=-3")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, b"789");

    let r = env.download("/log.txt", Some("bytes=10-")).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range").unwrap(), "bytes */10");

    let r = env.download("/log.txt", Some("bytes=3-100")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, b"3456789");
}

#[tokio::test]
async fn rev_and_id_downloads_and_arg_url_parameter() {
    let env = start().await;
    let v1 = env.put("/Maya/commands.txt", b"one\n").await;
    let v2 = env.put("/Maya/commands.txt", b"one\ntwo\n").await;
    assert_ne!(v1["rev"], v2["rev"]);
    assert_eq!(v1["id"], v2["id"]);
    let r = env
        .download(&format!("rev:{}", v1["rev"].as_str().unwrap()), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"one\n");
    let r = env.download(v1["id"].as_str().unwrap(), None).await;
    assert_eq!(r.body, b"one\ntwo\n");
    // Read only the new bytes of a known rev, with a 2-byte overlap.
    let r = env
        .download(
            &format!("rev:{}", v2["rev"].as_str().unwrap()),
            Some("bytes=2-"),
        )
        .await;
    assert_eq!(r.body, b"e\ntwo\n");
    // `arg` as URL parameter, GET.
    let resp = env
        .client
        .get(env.url("/2/files/download"))
        .query(&[("arg", r#"{"path":"/maya/COMMANDS.txt"}"#)])
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let r = common::reply(resp).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"one\ntwo\n");
}

#[tokio::test]
async fn download_errors() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    let r = env.download("/Maya/missing.txt", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let v = r.json();
    assert_summary(&v, "path/not_found");
    assert_eq!(
        v["error"],
        json!({".tag": "path", "path": {".tag": "not_found"}})
    );
    let r = env.download("/Maya", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["path"][".tag"], "not_file");
    // Bad JSON in the header.
    let resp = env
        .client
        .post(env.url("/2/files/download"))
        .bearer_auth(TOKEN)
        .header("Dropbox-API-Arg", "{path:")
        .send()
        .await
        .unwrap();
    let r = common::reply(resp).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text(),
        "Error in call to API function \"files/download\": HTTP header \"Dropbox-API-Arg\": could not decode input as JSON"
    );
    // No argument at all.
    let resp = env
        .client
        .post(env.url("/2/files/download"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn update_with_stale_rev_is_conflict() {
    let env = start().await;
    let v1 = env.put("/Maya/commands.txt", b"one\n").await;
    env.emu()
        .put_file("/Maya/commands.txt", &b"one\nphone\n"[..])
        .unwrap();
    let r = env
        .upload(
            json!({
                "path": "/Maya/commands.txt",
                "mode": {".tag": "update", "update": v1["rev"]},
                "autorename": false,
                "mute": true,
                "strict_conflict": true
            }),
            b"one\nmine\n",
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let v = r.json();
    assert_summary(&v, "path/conflict/file");
    assert_eq!(v["error"][".tag"], "path");
    assert_eq!(
        v["error"]["reason"],
        json!({".tag": "conflict", "conflict": {".tag": "file"}})
    );
    assert!(v["error"]["upload_session_id"].is_string());
    // Nothing was written.
    let (_, data) = env.emu().get_file("/Maya/commands.txt").unwrap();
    assert_eq!(&data[..], b"one\nphone\n");
}

#[tokio::test]
async fn update_with_current_rev_writes() {
    let env = start().await;
    let v1 = env.put("/Maya/commands.txt", b"one\n").await;
    let r = env
        .upload(
            json!({"path": "/Maya/commands.txt", "mode": {".tag": "update", "update": v1["rev"]}, "strict_conflict": true}),
            b"one\ntwo\n",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_ne!(v["rev"], v1["rev"]);
    assert_eq!(v["id"], v1["id"]);
}

#[tokio::test]
async fn update_conflict_with_autorename_writes_conflicted_copy() {
    let env = start().await;
    let v1 = env.put("/Maya/commands.txt", b"one\n").await;
    env.put("/Maya/commands.txt", b"two\n").await;
    let r = env
        .upload(
            json!({"path": "/Maya/commands.txt", "mode": {".tag": "update", "update": v1["rev"]}, "autorename": true}),
            b"three\n",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["name"], "commands (conflicted copy).txt");
    assert_eq!(v["path_display"], "/Maya/commands (conflicted copy).txt");
}

#[tokio::test]
async fn add_on_existing_conflicts_or_autorenames() {
    let env = start().await;
    env.put("/doc.txt", b"a").await;
    let r = env
        .upload(json!({"path": "/doc.txt", "mode": "add"}), b"b")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_summary(&r.json(), "path/conflict/file");
    let r = env
        .upload(
            json!({"path": "/doc.txt", "mode": "add", "autorename": true}),
            b"b",
        )
        .await;
    assert_eq!(r.json()["name"], "doc (1).txt");
    let r = env
        .upload(
            json!({"path": "/doc.txt", "mode": {".tag": "add"}, "autorename": true}),
            b"c",
        )
        .await;
    assert_eq!(r.json()["name"], "doc (2).txt");
}

#[tokio::test]
async fn identical_bytes_are_a_noop() {
    let env = start().await;
    let v1 = env.put("/Maya/status.json", b"{\"ok\":true}").await;
    // overwrite with identical content: same rev.
    let v2 = env.put("/Maya/status.json", b"{\"ok\":true}").await;
    assert_eq!(v1["rev"], v2["rev"]);
    // add with identical content: no conflict, same rev.
    let r = env
        .upload(
            json!({"path": "/Maya/status.json", "mode": "add"}),
            b"{\"ok\":true}",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["rev"], v1["rev"]);
    // update with a stale rev but identical content: no-op, not a conflict.
    env.put("/Maya/status.json", b"{\"ok\":false}").await;
    let v3 = env.put("/Maya/status.json", b"{\"ok\":true}").await;
    let r = env
        .upload(
            json!({"path": "/Maya/status.json", "mode": {".tag": "update", "update": v1["rev"]}}),
            b"{\"ok\":true}",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["rev"], v3["rev"]);
    // …but strict_conflict forces the conflict.
    let r = env
        .upload(
            json!({"path": "/Maya/status.json", "mode": {".tag": "update", "update": v1["rev"]}, "strict_conflict": true}),
            b"{\"ok\":true}",
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // A no-op does not count as a change for list_folder/continue.
    let cursor = env
        .rpc(
            "files/list_folder/get_latest_cursor",
            json!({"path": "/Maya"}),
        )
        .await
        .json()["cursor"]
        .clone();
    env.put("/Maya/status.json", b"{\"ok\":true}").await;
    let v = env
        .rpc("files/list_folder/continue", json!({"cursor": cursor}))
        .await
        .json();
    assert_eq!(v["entries"], json!([]));
}

#[tokio::test]
async fn malformed_upload_args_are_400() {
    let env = start().await;
    let r = env
        .upload(json!({"path": "/a.txt", "mode": "update"}), b"x")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text(),
        "Error in call to API function \"files/upload\": HTTP header \"Dropbox-API-Arg\": mode: expected object for 'update', got symbol"
    );
    let r = env
        .upload(
            json!({"path": "/a.txt", "mode": {".tag": "update", "update": "xyz"}}),
            b"x",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = env
        .upload(json!({"path": "/a.txt", "mode": "sideways"}), b"x")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = env.upload(json!({"mode": "add"}), b"x").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = env.upload(json!({"path": "a.txt"}), b"x").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("did not match pattern"), "{}", r.text());
    let r = env
        .upload(
            json!({"path": "/a.txt", "client_modified": "yesterday"}),
            b"x",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = env.upload_raw("not json", b"x").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Wrong Content-Type.
    let resp = env
        .client
        .post(env.url("/2/files/upload"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/json")
        .header("Dropbox-API-Arg", r#"{"path":"/a.txt"}"#)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(env.emu().list_files().is_empty());
}

#[tokio::test]
async fn client_modified_and_content_hash_are_honoured() {
    let env = start().await;
    let hash = dropbox_emulator::content_hash(b"data");
    let r = env
        .upload(
            json!({"path": "/a.txt", "client_modified": "2026-11-22T10:00:00Z", "content_hash": hash}),
            b"data",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["client_modified"], "2026-11-22T10:00:00Z");
    let r = env
        .upload(json!({"path": "/b.txt", "content_hash": hash}), b"other")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let v = r.json();
    assert_summary(&v, "content_hash_mismatch");
    assert_eq!(v["error"], json!({".tag": "content_hash_mismatch"}));
}

#[tokio::test]
async fn folder_in_the_way_and_file_ancestor() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    let r = env
        .upload(json!({"path": "/maya", "mode": "overwrite"}), b"x")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["reason"]["conflict"][".tag"], "folder");
    let r = env.upload(json!({"path": "/Maya/a.txt/b.txt"}), b"x").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.json()["error"]["reason"]["conflict"][".tag"],
        "file_ancestor"
    );
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
async fn upload_session_start_append_finish() {
    let env = start().await;
    let r = session_call(&env, "start", json!({}), b"hello ").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sid = r.json()["session_id"].as_str().unwrap().to_owned();
    let r = session_call(
        &env,
        "append_v2",
        json!({"cursor": {"session_id": sid, "offset": 0}}),
        b"x",
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let v = r.json();
    assert_summary(&v, "incorrect_offset");
    assert_eq!(
        v["error"],
        json!({".tag": "incorrect_offset", "correct_offset": 6})
    );
    let r = session_call(
        &env,
        "append_v2",
        json!({"cursor": {"session_id": sid, "offset": 6}}),
        b"big ",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), "null");
    let r = session_call(
        &env,
        "finish",
        json!({"cursor": {"session_id": sid, "offset": 10}, "commit": {"path": "/big.bin", "mode": "add"}}),
        b"world",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["size"], 15);
    let r = env.download("/big.bin", None).await;
    assert_eq!(r.body, b"hello big world");
}
