//! Fault injection.
//!
//! Every request to an api/content/notify route (and optionally oauth) first
//! asks [`FaultState::decide`] whether to misbehave. The decision is taken
//! before the handler runs, so a faulted request never changes state — except
//! for `drop-after-commit`, which runs the handler (committing any write) and
//! then drops the connection without answering.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::RateLimitBody;

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FaultKind {
    /// `429`: rate limited, with `Retry-After`.
    TooManyRequests,
    /// `500`: internal error.
    InternalError,
    /// `503`: unavailable, with `Retry-After`.
    Unavailable,
    /// `drop`: close the connection without answering; nothing happens.
    Drop,
    /// `slow`: wait `slow_ms` before handling normally.
    Slow,
    /// `expire`: answer 401 `expired_access_token` and expire that token.
    Expire,
    /// `drop-after-commit`: handle normally (commit writes), then close the
    /// connection without answering.
    DropAfterCommit,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::TooManyRequests,
        FaultKind::InternalError,
        FaultKind::Unavailable,
        FaultKind::Drop,
        FaultKind::Slow,
        FaultKind::Expire,
        FaultKind::DropAfterCommit,
    ];

    /// Name used in configuration and stats.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::TooManyRequests => "429",
            FaultKind::InternalError => "500",
            FaultKind::Unavailable => "503",
            FaultKind::Drop => "drop",
            FaultKind::Slow => "slow",
            FaultKind::Expire => "expire",
            FaultKind::DropAfterCommit => "drop-after-commit",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        FaultKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .or(match s.as_str() {
                "drop_after_commit" => Some(FaultKind::DropAfterCommit),
                _ => None,
            })
            .ok_or_else(|| {
                format!(
                    "unknown fault kind '{s}' (expected one of: {})",
                    FaultKind::ALL.map(FaultKind::as_str).join(", ")
                )
            })
    }
}

impl TryFrom<String> for FaultKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<FaultKind> for String {
    fn from(k: FaultKind) -> Self {
        k.as_str().to_owned()
    }
}

/// Parse a comma-separated list of kinds (`429,500,drop,slow`).
pub fn parse_kinds(s: &str) -> Result<Vec<FaultKind>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// Which 429 body to send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitStyle {
    /// Pick among the three at random (half JSON `too_many_requests`, a
    /// quarter each `too_many_write_operations` and plain text).
    #[default]
    Mixed,
    /// Always JSON `too_many_requests` with `retry_after`.
    TooManyRequests,
    /// Always JSON `too_many_write_operations` (no `retry_after`).
    TooManyWriteOperations,
    /// Always plain text.
    Text,
}

/// Fault configuration (also the JSON body of `POST /__emulator/faults`;
/// missing fields take their defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Probability in [0, 1] that a request gets a random fault.
    pub rate: f64,
    /// Kinds to pick from (uniformly) when the dice say "fault".
    pub kinds: Vec<FaultKind>,
    /// Scripted faults applied to the next matching requests, in order,
    /// whatever `rate` says.
    pub next: Vec<FaultKind>,
    /// `Retry-After` seconds for 429 and 503.
    pub retry_after_secs: u64,
    /// Delay for `slow`, in milliseconds.
    pub slow_ms: u64,
    /// Shape of 429 bodies.
    pub rate_limit_body: RateLimitStyle,
    /// Also fault `/oauth2/*` routes.
    pub include_oauth: bool,
    /// Only fault these routes (`files/upload` or `/2/files/upload`); empty
    /// means all.
    pub routes: Vec<String>,
    /// Reseed the fault RNG for reproducible runs.
    pub seed: Option<u64>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            rate: 0.0,
            kinds: vec![FaultKind::TooManyRequests, FaultKind::InternalError],
            next: Vec::new(),
            retry_after_secs: 1,
            slow_ms: 2000,
            rate_limit_body: RateLimitStyle::Mixed,
            include_oauth: false,
            routes: Vec::new(),
            seed: None,
        }
    }
}

/// The host class of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteClass {
    /// api.dropboxapi.com RPC.
    Api,
    /// content.dropboxapi.com.
    Content,
    /// notify.dropboxapi.com.
    Notify,
    /// OAuth endpoints.
    OAuth,
}

/// Classify a request path; `None` for the control surface and unknowns.
pub fn classify(path: &str) -> Option<RouteClass> {
    if path == "/2/files/list_folder/longpoll" {
        Some(RouteClass::Notify)
    } else if path == "/2/files/download"
        || path == "/2/files/upload"
        || path.starts_with("/2/files/upload_session/")
    {
        Some(RouteClass::Content)
    } else if path.starts_with("/2/") {
        Some(RouteClass::Api)
    } else if path.starts_with("/oauth2/") {
        Some(RouteClass::OAuth)
    } else {
        None
    }
}

/// A decided fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What to do.
    pub kind: FaultKind,
    /// Body for a 429.
    pub rate_limit_body: RateLimitBody,
    /// Retry-After for 429/503.
    pub retry_after: u64,
    /// Delay for `slow`.
    pub slow_ms: u64,
}

/// Live fault state.
#[derive(Debug)]
pub struct FaultState {
    config: FaultConfig,
    queue: VecDeque<FaultKind>,
    rng: StdRng,
}

fn rng_from(seed: Option<u64>) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_os_rng(),
    }
}

impl FaultState {
    /// New state; `fallback_seed` is used when the config has no seed.
    pub fn new(config: FaultConfig, fallback_seed: Option<u64>) -> Self {
        let rng = rng_from(config.seed.or(fallback_seed));
        let queue = config.next.iter().copied().collect();
        FaultState { config, queue, rng }
    }

    /// Replace the configuration (and the scripted queue; reseed if asked).
    pub fn set(&mut self, config: FaultConfig) {
        if let Some(seed) = config.seed {
            self.rng = StdRng::seed_from_u64(seed);
        }
        self.queue = config.next.iter().copied().collect();
        self.config = config;
    }

    /// Current configuration; `next` shows what is still queued.
    pub fn config(&self) -> FaultConfig {
        let mut c = self.config.clone();
        c.next = self.queue.iter().copied().collect();
        c
    }

    /// Queue scripted faults.
    pub fn push(&mut self, kinds: &[FaultKind]) {
        self.queue.extend(kinds.iter().copied());
    }

    fn route_selected(&self, path: &str) -> bool {
        self.config.routes.is_empty()
            || self.config.routes.iter().any(|r| {
                let r = r.trim_start_matches('/');
                let r = r.strip_prefix("2/").unwrap_or(r);
                let p = path.trim_start_matches('/');
                let p = p.strip_prefix("2/").unwrap_or(p);
                r == p
            })
    }

    /// Decide whether this request is faulted.
    pub fn decide(&mut self, path: &str, class: RouteClass) -> Option<Fault> {
        if class == RouteClass::OAuth && !self.config.include_oauth {
            return None;
        }
        if !self.route_selected(path) {
            return None;
        }
        let kind = match self.queue.pop_front() {
            Some(k) => k,
            None => {
                let rate = self.config.rate.clamp(0.0, 1.0);
                if self.config.kinds.is_empty() || rate <= 0.0 || !self.rng.random_bool(rate) {
                    return None;
                }
                let i = self.rng.random_range(0..self.config.kinds.len());
                self.config.kinds[i]
            }
        };
        let rate_limit_body = match self.config.rate_limit_body {
            RateLimitStyle::TooManyRequests => RateLimitBody::TooManyRequests,
            RateLimitStyle::TooManyWriteOperations => RateLimitBody::TooManyWriteOperations,
            RateLimitStyle::Text => RateLimitBody::PlainText,
            RateLimitStyle::Mixed => match self.rng.random_range(0..4u8) {
                0 | 1 => RateLimitBody::TooManyRequests,
                2 => RateLimitBody::TooManyWriteOperations,
                _ => RateLimitBody::PlainText,
            },
        };
        Some(Fault {
            kind,
            rate_limit_body,
            retry_after: self.config.retry_after_secs,
            slow_ms: self.config.slow_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse() {
        assert_eq!(
            parse_kinds("429,500,drop,slow").unwrap(),
            vec![
                FaultKind::TooManyRequests,
                FaultKind::InternalError,
                FaultKind::Drop,
                FaultKind::Slow
            ]
        );
        assert_eq!(
            parse_kinds("drop-after-commit").unwrap(),
            vec![FaultKind::DropAfterCommit]
        );
        assert!(parse_kinds("bogus").is_err());
    }

    #[test]
    fn seeded_is_deterministic() {
        let cfg = FaultConfig {
            rate: 0.5,
            kinds: vec![FaultKind::TooManyRequests, FaultKind::Drop],
            seed: Some(42),
            ..FaultConfig::default()
        };
        let run = || {
            let mut s = FaultState::new(cfg.clone(), None);
            (0..50)
                .map(|_| {
                    s.decide("/2/files/upload", RouteClass::Content)
                        .map(|f| f.kind)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
        assert!(run().iter().any(Option::is_some));
        assert!(run().iter().any(Option::is_none));
    }

    #[test]
    fn queue_and_route_filter() {
        let mut s = FaultState::new(
            FaultConfig {
                next: vec![FaultKind::InternalError],
                routes: vec!["files/upload".into()],
                ..FaultConfig::default()
            },
            Some(1),
        );
        assert_eq!(s.decide("/2/files/download", RouteClass::Content), None);
        assert_eq!(
            s.decide("/2/files/upload", RouteClass::Content)
                .map(|f| f.kind),
            Some(FaultKind::InternalError)
        );
        assert_eq!(s.decide("/2/files/upload", RouteClass::Content), None);
        assert_eq!(s.decide("/oauth2/token", RouteClass::OAuth), None);
    }

    #[test]
    fn config_json() {
        let c: FaultConfig =
            serde_json::from_str(r#"{"rate":0.2,"kinds":["429","drop-after-commit"]}"#).unwrap();
        assert_eq!(
            c.kinds,
            vec![FaultKind::TooManyRequests, FaultKind::DropAfterCommit]
        );
        assert_eq!(c.retry_after_secs, 1);
    }
}
