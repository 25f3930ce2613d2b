//! Wire tests for OAuth (PKCE, refresh, revoke) and access-token errors.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{assert_summary, keys, start, start_with};
use dropbox_emulator::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const APP_KEY: &str = "emulator-app-key";
const VERIFIER: &str = "Zl2k-8w3vN.q_7~xYpR4aB9cD0eF1gH2iJ3kL4mN5oP6";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn authorize(env: &common::Env, extra: &[(&str, &str)]) -> String {
    let ch = challenge(VERIFIER);
    let mut q = vec![
        ("client_id", APP_KEY),
        ("response_type", "code"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
        ("token_access_type", "offline"),
    ];
    q.extend_from_slice(extra);
    let resp = env
        .client
        .get(env.url("/oauth2/authorize"))
        .query(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    let start = html.find("data-code=\"").expect("code in page") + "data-code=\"".len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
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

async fn list_root(env: &common::Env, token: &str) -> common::Reply {
    env.rpc_as(Some(token), "files/list_folder", json!({"path": ""}))
        .await
}

#[tokio::test]
async fn pkce_code_flow_and_refresh() {
    let env = start().await;
    let code = authorize(&env, &[]).await;
    let r = token(
        &env,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", APP_KEY),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(
        keys(&v),
        vec![
            "access_token",
            "account_id",
            "expires_in",
            "refresh_token",
            "scope",
            "token_type",
            "uid"
        ]
    );
    assert!(v["access_token"].as_str().unwrap().starts_with("sl."));
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 14400);
    assert!(v["scope"].as_str().unwrap().contains("files.content.write"));
    let access = v["access_token"].as_str().unwrap().to_owned();
    let refresh = v["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(list_root(&env, &access).await.status, StatusCode::OK);

    // A code works once.
    let r = token(
        &env,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", APP_KEY),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "invalid_grant");

    // Refresh: a new access token, no new refresh token.
    let r = token(
        &env,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", APP_KEY),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert!(v.get("refresh_token").is_none());
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 14400);
    let access2 = v["access_token"].as_str().unwrap().to_owned();
    assert_ne!(access, access2);
    assert_eq!(list_root(&env, &access2).await.status, StatusCode::OK);
}

#[tokio::test]
async fn pkce_wrong_verifier_is_invalid_grant() {
    let env = start().await;
    let code = authorize(&env, &[]).await;
    let r = token(
        &env,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", APP_KEY),
            (
                "code_verifier",
                "another-verifier-another-verifier-another-ver",
            ),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.content_type().starts_with("application/json"));
    let v = r.json();
    assert_eq!(v["error"], "invalid_grant");
    assert!(v["error_description"].is_string());
}

#[tokio::test]
async fn wrong_client_and_unknown_refresh_token() {
    let env = start().await;
    let r = token(
        &env,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "nope"),
            ("client_id", APP_KEY),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "invalid_grant");
    let r = token(
        &env,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "nope"),
            ("client_id", "other"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "invalid_client");
    let resp = env
        .client
        .get(env.url("/oauth2/authorize"))
        .query(&[("client_id", "other"), ("response_type", "code")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn authorize_with_redirect_uri_redirects_with_code_and_state() {
    let env = start().await;
    let ch = challenge(VERIFIER);
    let resp = env
        .client
        .get(env.url("/oauth2/authorize"))
        .query(&[
            ("client_id", APP_KEY),
            ("response_type", "code"),
            ("code_challenge", ch.as_str()),
            ("code_challenge_method", "S256"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("state", "xyz"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with("http://127.0.0.1:9/cb?code="), "{loc}");
    assert!(loc.ends_with("&state=xyz"), "{loc}");
}

#[tokio::test]
async fn revoke_disables_token_and_its_refresh_token() {
    let env = start().await;
    let code = authorize(&env, &[]).await;
    let v = token(
        &env,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", APP_KEY),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .json();
    let access = v["access_token"].as_str().unwrap();
    let refresh = v["refresh_token"].as_str().unwrap();
    let resp = env
        .client
        .post(env.url("/2/auth/token/revoke"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let r = common::reply(resp).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "null");
    let r = list_root(&env, access).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], json!({".tag": "invalid_access_token"}));
    let r = token(
        &env,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", APP_KEY),
        ],
    )
    .await;
    assert_eq!(r.json()["error"], "invalid_grant");
}

fn assert_expired(v: &Value) {
    assert_summary(v, "expired_access_token");
    assert_eq!(v["error"], json!({".tag": "expired_access_token"}));
}

#[tokio::test]
async fn expired_tokens_answer_401_expired_access_token() {
    let env = start().await;
    let r = env
        .control_post("/__emulator/expire_tokens", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["expired"], 1);
    let r = list_root(&env, common::TOKEN).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.content_type().starts_with("application/json"));
    assert_expired(&r.json());
    // Content routes too.
    let r = env.download("/x", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_expired(&r.json());
}

#[tokio::test]
async fn token_lifetime_elapses() {
    let env = start_with(Config {
        token_lifetime: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    assert_eq!(list_root(&env, common::TOKEN).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = list_root(&env, common::TOKEN).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_expired(&r.json());
}

#[tokio::test]
async fn missing_unknown_and_malformed_authorization() {
    let env = start().await;
    let r = env
        .rpc_as(None, "files/list_folder", json!({"path": ""}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text(),
        "Error in call to API function \"files/list_folder\": Must provide HTTP header \"Authorization\" or URL parameter \"authorization\"."
    );
    let r = list_root(&env, "sl.unknown").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let v = r.json();
    assert_summary(&v, "invalid_access_token");
    assert_eq!(v["error"], json!({".tag": "invalid_access_token"}));
    let resp = env
        .client
        .post(env.url("/2/files/list_folder"))
        .header("Authorization", "Token abc")
        .header("Content-Type", "application/json")
        .body(r#"{"path":""}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn missing_scope() {
    let env = start().await;
    let r = env
        .control_post(
            "/__emulator/tokens",
            json!({"scope": "files.metadata.read"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(list_root(&env, &t).await.status, StatusCode::OK);
    let resp = env
        .client
        .post(env.url("/2/files/upload"))
        .bearer_auth(&t)
        .header("Content-Type", "application/octet-stream")
        .header("Dropbox-API-Arg", r#"{"path":"/a.txt"}"#)
        .body("x")
        .send()
        .await
        .unwrap();
    let r = common::reply(resp).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let v = r.json();
    assert_summary(&v, "missing_scope");
    assert_eq!(
        v["error"],
        json!({".tag": "missing_scope", "required_scope": "files.content.write"})
    );
}
