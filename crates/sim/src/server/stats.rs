//! Counters behind `GET /sim/stats`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// What the simulator has served so far. Reset by the `reset` fault.
#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default, Clone, Serialize)]
struct Counters {
    requests: BTreeMap<String, u64>,
    outcomes: BTreeMap<String, BTreeMap<String, u64>>,
    responses_by_code: BTreeMap<u16, u64>,
    faults_served: BTreeMap<String, u64>,
    auth_failures: BTreeMap<String, u64>,
    requests_during_backoff: u64,
    streaming_connections_opened: u64,
    tokens_issued: u64,
}

/// The JSON of `GET /sim/stats`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// EWS requests per operation (`FindItem`, `GetStreamingEvents`, …).
    pub requests: BTreeMap<String, u64>,
    /// Per operation, how its requests ended: `NoError`, the first error response code of the
    /// response, `fault:<code>` for a SOAP fault, or `http:<status>` for an injected status.
    pub outcomes: BTreeMap<String, BTreeMap<String, u64>>,
    /// EWS and Autodiscover responses per HTTP status.
    pub responses_by_code: BTreeMap<u16, u64>,
    /// Faults served per kind: `server_busy`, `http_status`, `latency`, `drop_streams`,
    /// `expire_subscriptions`, `concurrency_limit`, `hanging_connection_limit`.
    pub faults_served: BTreeMap<String, u64>,
    /// Failed authentications per scheme (`basic`, `ntlm`, `bearer`, `none`).
    pub auth_failures: BTreeMap<String, u64>,
    /// EWS requests that arrived while a back-off announced by an injected `server_busy`
    /// (or a `Retry-After` of an injected 503/429) was still running.
    pub requests_during_backoff: u64,
    pub active_subscriptions: u64,
    pub open_streaming_connections: u64,
    pub streaming_connections_opened: u64,
    pub tokens_issued: u64,
}

impl Stats {
    pub fn request(&self, op: &str) {
        *self.inner.lock().unwrap().requests.entry(op.to_string()).or_default() += 1;
    }

    pub fn outcome(&self, op: &str, outcome: &str) {
        let mut c = self.inner.lock().unwrap();
        *c.outcomes.entry(op.to_string()).or_default().entry(outcome.to_string()).or_default() += 1;
    }

    pub fn response(&self, status: u16) {
        *self.inner.lock().unwrap().responses_by_code.entry(status).or_default() += 1;
    }

    pub fn fault(&self, kind: &str) {
        self.faults(kind, 1);
    }

    pub fn faults(&self, kind: &str, n: u64) {
        *self.inner.lock().unwrap().faults_served.entry(kind.to_string()).or_default() += n;
    }

    pub fn auth_failure(&self, scheme: &str) {
        *self.inner.lock().unwrap().auth_failures.entry(scheme.to_string()).or_default() += 1;
    }

    pub fn during_backoff(&self) {
        self.inner.lock().unwrap().requests_during_backoff += 1;
    }

    pub fn stream_opened(&self) {
        self.inner.lock().unwrap().streaming_connections_opened += 1;
    }

    pub fn token_issued(&self) {
        self.inner.lock().unwrap().tokens_issued += 1;
    }

    pub fn reset(&self) {
        *self.inner.lock().unwrap() = Counters::default();
    }

    /// The counters plus the live gauges the caller reads from the store and the streams.
    pub fn snapshot(&self, active_subscriptions: u64, open_streaming_connections: u64) -> StatsSnapshot {
        let c = self.inner.lock().unwrap().clone();
        StatsSnapshot {
            requests: c.requests,
            outcomes: c.outcomes,
            responses_by_code: c.responses_by_code,
            faults_served: c.faults_served,
            auth_failures: c.auth_failures,
            requests_during_backoff: c.requests_during_backoff,
            active_subscriptions,
            open_streaming_connections,
            streaming_connections_opened: c.streaming_connections_opened,
            tokens_issued: c.tokens_issued,
        }
    }
}
