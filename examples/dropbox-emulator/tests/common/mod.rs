//! Shared helpers for the wire tests: start the emulator in-process on
//! 127.0.0.1:0 and talk to it with a plain HTTP client.
#![allow(dead_code)]

use dropbox_emulator::{Config, Emulator, RunningEmulator};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

pub const TOKEN: &str = "test-token";

pub struct Env {
    pub running: RunningEmulator,
    pub client: reqwest::Client,
    pub base: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): status {} body {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or_default()
    }
}

pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn start() -> Env {
    start_with(Config::default()).await
}

pub async fn start_with(mut config: Config) -> Env {
    if config.access_tokens.is_empty() {
        config.access_tokens.push(TOKEN.into());
    }
    if config.seed.is_none() {
        config.seed = Some(1234);
    }
    let running = Emulator::new(config).start().await.expect("start emulator");
    let base = running.url();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Env {
        running,
        client,
        base,
    }
}

impl Env {
    pub fn emu(&self) -> &Emulator {
        self.running.emulator()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// RPC call with the default token.
    pub async fn rpc(&self, route: &str, body: Value) -> Reply {
        self.rpc_as(Some(TOKEN), route, body).await
    }

    pub async fn rpc_as(&self, token: Option<&str>, route: &str, body: Value) -> Reply {
        let mut req = self
            .client
            .post(self.url(&format!("/2/{route}")))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        reply(req.send().await.expect("send")).await
    }

    pub async fn upload(&self, arg: Value, data: &[u8]) -> Reply {
        self.upload_raw(&dropbox_emulator::wire::header_json(&arg), data)
            .await
    }

    pub async fn upload_raw(&self, arg: &str, data: &[u8]) -> Reply {
        let resp = self
            .client
            .post(self.url("/2/files/upload"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/octet-stream")
            .header("Dropbox-API-Arg", arg)
            .body(data.to_vec())
            .send()
            .await
            .expect("send");
        reply(resp).await
    }

    /// Upload a file with mode overwrite; returns its metadata.
    pub async fn put(&self, path: &str, data: &[u8]) -> Value {
        let r = self
            .upload(serde_json::json!({"path": path, "mode": "overwrite"}), data)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()
    }

    pub async fn download(&self, path: &str, range: Option<&str>) -> Reply {
        let arg = dropbox_emulator::wire::header_json(&serde_json::json!({"path": path}));
        let mut req = self
            .client
            .post(self.url("/2/files/download"))
            .bearer_auth(TOKEN)
            .header("Dropbox-API-Arg", arg);
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        reply(req.send().await.expect("send")).await
    }

    pub async fn control_post(&self, path: &str, body: Value) -> Reply {
        let resp = self
            .client
            .post(self.url(path))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("send");
        reply(resp).await
    }

    pub async fn control_get(&self, path: &str) -> Reply {
        reply(self.client.get(self.url(path)).send().await.expect("send")).await
    }
}

/// `error_summary` is the tag path, a slash, and 0–3 dots.
pub fn assert_summary(v: &Value, tags: &str) {
    let s = v["error_summary"].as_str().expect("error_summary string");
    let rest = s
        .strip_prefix(tags)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or_else(|| panic!("error_summary {s:?} does not start with {tags}/"));
    assert!(rest.chars().all(|c| c == '.'), "error_summary {s:?}");
}

/// The set of keys of a JSON object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

/// `2026-11-22T10:00:00Z` shape.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}
