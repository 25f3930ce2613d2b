//! Wire tests for the RPC routes: list_folder*, get_metadata, delete_v2.

mod common;

use common::{TOKEN, assert_summary, is_timestamp, keys, start};
use reqwest::StatusCode;
use serde_json::json;

const FILE_KEYS: &[&str] = &[
    ".tag",
    "client_modified",
    "content_hash",
    "id",
    "is_downloadable",
    "name",
    "path_display",
    "path_lower",
    "rev",
    "server_modified",
    "size",
];

#[tokio::test]
async fn list_folder_missing_path_is_409_not_found() {
    let env = start().await;
    let r = env.rpc("files/list_folder", json!({"path": "/Maya"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.content_type().starts_with("application/json"));
    let v = r.json();
    assert_summary(&v, "path/not_found");
    assert_eq!(
        v["error"],
        json!({".tag": "path", "path": {".tag": "not_found"}})
    );
}

#[tokio::test]
async fn list_folder_entry_shapes() {
    let env = start().await;
    let up = env.put("/Maya/commands.txt", b"render a\n").await;
    let r = env.rpc("files/list_folder", json!({"path": ""})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["has_more"], json!(false));
    assert!(v["cursor"].is_string());
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        1,
        "non-recursive root listing: just the folder"
    );
    let folder = &entries[0];
    assert_eq!(
        keys(folder),
        vec![".tag", "id", "name", "path_display", "path_lower"]
    );
    assert_eq!(folder[".tag"], "folder");
    assert_eq!(folder["name"], "Maya");
    assert_eq!(folder["path_lower"], "/maya");
    assert!(folder["id"].as_str().unwrap().starts_with("id:"));

    let r = env
        .rpc(
            "files/list_folder",
            json!({"path": "/maya", "recursive": false}),
        )
        .await;
    let v = r.json();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let f = &entries[0];
    assert_eq!(keys(f), FILE_KEYS);
    assert_eq!(f[".tag"], "file");
    assert_eq!(f["name"], "commands.txt");
    assert_eq!(f["path_display"], "/Maya/commands.txt");
    assert_eq!(f["path_lower"], "/maya/commands.txt");
    assert_eq!(f["size"], 9);
    assert_eq!(f["is_downloadable"], true);
    assert_eq!(f["rev"], up["rev"]);
    assert_eq!(f["id"], up["id"]);
    let rev = f["rev"].as_str().unwrap();
    assert!(
        rev.len() >= 9
            && rev
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert!(is_timestamp(f["client_modified"].as_str().unwrap()));
    assert!(is_timestamp(f["server_modified"].as_str().unwrap()));
    assert_eq!(
        f["content_hash"],
        dropbox_emulator::content_hash(b"render a\n")
    );
}

#[tokio::test]
async fn recursive_listing_includes_folder_itself_and_descendants() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    env.put("/Maya/shots/s1/b.exr", b"b").await;
    let v = env
        .rpc(
            "files/list_folder",
            json!({"path": "/Maya", "recursive": true}),
        )
        .await
        .json();
    let paths: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path_lower"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec![
            "/maya",
            "/maya/a.txt",
            "/maya/shots",
            "/maya/shots/s1",
            "/maya/shots/s1/b.exr"
        ]
    );
}

#[tokio::test]
async fn paths_are_case_insensitive_and_case_preserving() {
    let env = start().await;
    env.put("/Maya/Commands.txt", b"x").await;
    let up = env.put("/MAYA/other.txt", b"y").await;
    assert_eq!(up["path_display"], "/Maya/other.txt");
    let r = env
        .rpc("files/get_metadata", json!({"path": "/maya/COMMANDS.TXT"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v[".tag"], "file");
    assert_eq!(v["path_display"], "/Maya/Commands.txt");
    assert_eq!(v["name"], "Commands.txt");
}

#[tokio::test]
async fn pagination_with_limit_and_has_more() {
    let env = start().await;
    for i in 0..5 {
        env.put(&format!("/jobs/job{i}.txt"), b"x").await;
    }
    let v = env
        .rpc("files/list_folder", json!({"path": "/jobs", "limit": 2}))
        .await
        .json();
    assert_eq!(v["entries"].as_array().unwrap().len(), 2);
    assert_eq!(v["has_more"], true);
    let mut cursor = v["cursor"].as_str().unwrap().to_owned();
    let mut names: Vec<String> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    loop {
        let v = env
            .rpc("files/list_folder/continue", json!({"cursor": cursor}))
            .await
            .json();
        names.extend(
            v["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_owned()),
        );
        cursor = v["cursor"].as_str().unwrap().to_owned();
        if v["has_more"] == false {
            break;
        }
    }
    assert_eq!(
        names,
        ["job0.txt", "job1.txt", "job2.txt", "job3.txt", "job4.txt"]
    );
    // Nothing new since.
    let v = env
        .rpc("files/list_folder/continue", json!({"cursor": cursor}))
        .await
        .json();
    assert_eq!(v["entries"], json!([]));
    assert_eq!(v["has_more"], false);
}

#[tokio::test]
async fn continue_reports_changes_and_deletions() {
    let env = start().await;
    env.put("/Maya/commands.txt", b"one\n").await;
    env.put("/Maya/old.txt", b"old").await;
    let v = env
        .rpc(
            "files/list_folder",
            json!({"path": "/Maya", "include_deleted": true}),
        )
        .await
        .json();
    let cursor = v["cursor"].as_str().unwrap().to_owned();

    // A phone edit through the control surface, and an API delete.
    env.emu()
        .put_file("/Maya/commands.txt", &b"one\ntwo\n"[..])
        .unwrap();
    let d = env
        .rpc("files/delete_v2", json!({"path": "/Maya/old.txt"}))
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text());
    assert_eq!(d.json()["metadata"][".tag"], "file");

    let v = env
        .rpc("files/list_folder/continue", json!({"cursor": cursor}))
        .await
        .json();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{v}");
    assert_eq!(entries[0][".tag"], "file");
    assert_eq!(entries[0]["size"], 8);
    assert_eq!(
        entries[1],
        json!({".tag": "deleted", "name": "old.txt", "path_lower": "/maya/old.txt", "path_display": "/Maya/old.txt"})
    );
}

#[tokio::test]
async fn get_latest_cursor_sees_only_later_changes() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    let v = env
        .rpc(
            "files/list_folder/get_latest_cursor",
            json!({"path": "/Maya"}),
        )
        .await
        .json();
    assert_eq!(keys(&v), vec!["cursor"]);
    env.put("/Maya/b.txt", b"b").await;
    let v = env
        .rpc("files/list_folder/continue", json!({"cursor": v["cursor"]}))
        .await
        .json();
    let names: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b.txt"]);
}

#[tokio::test]
async fn forced_cursor_reset_gives_409_reset() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    let v = env
        .rpc("files/list_folder", json!({"path": "/Maya"}))
        .await
        .json();
    let r = env
        .control_post("/__emulator/reset_cursors", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = env
        .rpc("files/list_folder/continue", json!({"cursor": v["cursor"]}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let v = r.json();
    assert_summary(&v, "reset");
    assert_eq!(v["error"], json!({".tag": "reset"}));
}

#[tokio::test]
async fn continue_after_listed_folder_deleted_is_path_error() {
    let env = start().await;
    env.put("/Maya/a.txt", b"a").await;
    let v = env
        .rpc("files/list_folder", json!({"path": "/Maya"}))
        .await
        .json();
    env.emu().delete("/Maya").unwrap();
    let r = env
        .rpc("files/list_folder/continue", json!({"cursor": v["cursor"]}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.json()["error"],
        json!({".tag": "path", "path": {".tag": "not_found"}})
    );
}

#[tokio::test]
async fn malformed_arguments_are_400_plain_text() {
    let env = start().await;
    // Root given as "/".
    let r = env.rpc("files/list_folder", json!({"path": "/"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.content_type().starts_with("text/plain"));
    assert!(
        r.text()
            .starts_with("Error in call to API function \"files/list_folder\": "),
        "{}",
        r.text()
    );
    // Missing field.
    let r = env.rpc("files/list_folder", json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("path"), "{}", r.text());
    // Wrong type.
    let r = env
        .rpc("files/list_folder", json!({"path": "", "recursive": "yes"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("recursive"), "{}", r.text());
    // Unknown field.
    let r = env
        .rpc(
            "files/list_folder",
            json!({"path": "", "include_delted": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Limit out of range.
    let r = env
        .rpc("files/list_folder", json!({"path": "", "limit": 0}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Not JSON.
    let resp = env
        .client
        .post(env.url("/2/files/list_folder"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let r = common::reply(resp).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("could not decode input as JSON"));
    // Wrong Content-Type.
    let resp = env
        .client
        .post(env.url("/2/files/list_folder"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "text/plain")
        .body(r#"{"path":""}"#)
        .send()
        .await
        .unwrap();
    let r = common::reply(resp).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("Content-Type"), "{}", r.text());
}

#[tokio::test]
async fn get_metadata_deleted_and_not_found() {
    let env = start().await;
    env.put("/Maya/gone.txt", b"x").await;
    env.emu().delete("/Maya/gone.txt").unwrap();
    let r = env
        .rpc("files/get_metadata", json!({"path": "/Maya/gone.txt"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_summary(&r.json(), "path/not_found");
    let r = env
        .rpc(
            "files/get_metadata",
            json!({"path": "/Maya/gone.txt", "include_deleted": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()[".tag"], "deleted");
    // Folder metadata.
    let r = env
        .rpc("files/get_metadata", json!({"path": "/maya"}))
        .await;
    assert_eq!(r.json()[".tag"], "folder");
}

#[tokio::test]
async fn delete_missing_is_path_lookup_not_found() {
    let env = start().await;
    let r = env
        .rpc("files/delete_v2", json!({"path": "/nope.txt"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let v = r.json();
    assert_summary(&v, "path_lookup/not_found");
    assert_eq!(
        v["error"],
        json!({".tag": "path_lookup", "path_lookup": {".tag": "not_found"}})
    );
}

#[tokio::test]
async fn id_paths_resolve() {
    let env = start().await;
    let up = env.put("/Maya/a.txt", b"a").await;
    let r = env
        .rpc("files/get_metadata", json!({"path": up["id"]}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["path_lower"], "/maya/a.txt");
    let r = env
        .rpc(
            "files/get_metadata",
            json!({"path": format!("rev:{}", up["rev"].as_str().unwrap())}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["rev"], up["rev"]);
}
