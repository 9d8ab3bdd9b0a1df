//! The webhook receiver: an axum server on 127.0.0.1 that answers 200 and records, for every
//! delivery whose subject carries a benchmark sequence number (`bench-<n> …`), when it first
//! arrived.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;

/// What the receiver saw.
#[derive(Default)]
pub struct Seen {
    /// Every delivery.
    pub total: u64,
    /// Sequence number → first arrival.
    pub arrivals: HashMap<u64, Instant>,
    /// When the last delivery arrived.
    pub last: Option<Instant>,
}

/// The running receiver.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`
    pub url: String,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

/// The sequence number of a subject `bench-<n>` or `bench-<n> <anything>`.
pub fn sequence_of(subject: &str) -> Option<u64> {
    let rest = subject.strip_prefix("bench-")?;
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

impl Receiver {
    /// Listens on 127.0.0.1:0.
    pub async fn start() -> Result<Receiver> {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(seen.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { url: format!("http://{addr}/hook"), seen, task })
    }

    /// Deliveries so far.
    pub fn total(&self) -> u64 {
        self.seen.lock().unwrap().total
    }

    /// When the last delivery arrived.
    pub fn last(&self) -> Option<Instant> {
        self.seen.lock().unwrap().last
    }

    /// First arrival of sequence number `n`.
    pub fn arrival(&self, n: u64) -> Option<Instant> {
        self.seen.lock().unwrap().arrivals.get(&n).copied()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(seen): State<Arc<Mutex<Seen>>>, body: Bytes) -> StatusCode {
    let now = Instant::now();
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let seq = parsed["data"]["subject"].as_str().and_then(sequence_of);
    let mut s = seen.lock().unwrap();
    s.total += 1;
    s.last = Some(now);
    if let Some(n) = seq {
        s.arrivals.entry(n).or_insert(now);
    }
    StatusCode::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_are_read_from_subjects() {
        assert_eq!(sequence_of("bench-42"), Some(42));
        assert_eq!(sequence_of("bench-7 renamed"), Some(7));
        assert_eq!(sequence_of("Weekly sync"), None);
        assert_eq!(sequence_of("bench-"), None);
    }
}
