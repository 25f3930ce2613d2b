//! Per-route traffic statistics, for benchmarks that report requests and
//! bytes per command. Request bytes are the body plus the `Dropbox-API-Arg`
//! header (or `arg` URL parameter) value; response bytes are the body plus the
//! `Dropbox-API-Result` header value. The `/__emulator` control surface is not
//! counted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counters for one route (or the total).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStats {
    /// Requests received.
    pub requests: u64,
    /// Request body + argument bytes.
    pub request_bytes: u64,
    /// Response body + result-header bytes.
    pub response_bytes: u64,
    /// Responses by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests whose connection was dropped without a response.
    pub dropped: u64,
}

/// A snapshot of all counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Sum over all routes.
    pub total: RouteStats,
    /// By route path, e.g. `/2/files/upload`.
    pub routes: BTreeMap<String, RouteStats>,
    /// Injected faults by kind (`429`, `drop`, …).
    pub faults: BTreeMap<String, u64>,
}

impl Stats {
    /// Count an incoming request.
    pub fn record_request(&mut self, route: &str, bytes: u64) {
        for s in [
            &mut self.total,
            self.routes.entry(route.to_owned()).or_default(),
        ] {
            s.requests += 1;
            s.request_bytes += bytes;
        }
    }

    /// Count a response.
    pub fn record_response(&mut self, route: &str, status: u16, bytes: u64) {
        for s in [
            &mut self.total,
            self.routes.entry(route.to_owned()).or_default(),
        ] {
            s.response_bytes += bytes;
            *s.statuses.entry(status).or_default() += 1;
        }
    }

    /// Count a dropped connection.
    pub fn record_drop(&mut self, route: &str) {
        for s in [
            &mut self.total,
            self.routes.entry(route.to_owned()).or_default(),
        ] {
            s.dropped += 1;
        }
    }

    /// Count an injected fault.
    pub fn record_fault(&mut self, kind: &str) {
        *self.faults.entry(kind.to_owned()).or_default() += 1;
    }
}
