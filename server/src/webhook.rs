//! Notifications: a JSON POST to each webhook, and a plain-text POST to each
//! ntfy-compatible topic, when a job finishes, fails or stalls. Best effort:
//! a receiver that is down costs a warning, never a job.

use std::time::Duration;

use serde::Serialize;

use crate::config::NotifyFile;

#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// `finished`, `failed` or `stalled`.
    pub event: String,
    pub node: String,
    pub job: u64,
    pub scene: String,
    pub frames_done: u64,
    pub frames_total: u64,
    pub message: String,
    pub time: String,
}

#[derive(Clone)]
pub struct Notifier {
    cfg: NotifyFile,
    client: reqwest::Client,
}

impl Notifier {
    pub fn new(cfg: NotifyFile) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        Notifier { cfg, client }
    }

    pub fn is_empty(&self) -> bool {
        self.cfg.webhooks.is_empty() && self.cfg.ntfy.is_empty()
    }

    /// Sends in the background, with a few retries.
    pub fn send(&self, n: Notice) {
        if self.is_empty() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let title = format!("droprender: job {} {}", n.job, n.event);
            for url in &me.cfg.webhooks {
                me.post(url, |c| c.json(&n)).await;
            }
            for url in &me.cfg.ntfy {
                let body = format!("{} — {}", n.scene, n.message);
                me.post(url, |c| c.header("Title", title.clone()).body(body.clone()))
                    .await;
            }
        });
    }

    async fn post(
        &self,
        url: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) {
        for attempt in 0..3u32 {
            match build(self.client.post(url)).send().await {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => tracing::warn!("notification to {url} answered {}", r.status()),
                Err(e) => tracing::warn!("notification to {url} failed: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))).await;
        }
    }
}
