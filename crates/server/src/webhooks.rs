//! Webhook delivery from the durable outbox (CONTRACT §5).
//!
//! [`start_dispatcher`] declares the configured webhooks to the store, then runs one loop per
//! webhook:
//!
//! * it asks the store for the head of each user's queue ([`Store::pending_for_delivery`]) and
//!   POSTs each, masked for the webhook, signed with its secret; users are delivered in
//!   parallel (at most [`DispatchOptions::concurrency`] at once), one user strictly in order
//!   (the store never hands out a user's next entry before the head is delivered);
//! * a 2xx marks the delivery done, anything else (status, timeout, connection error) records
//!   a failed attempt and the next one after an exponential backoff with jitter (1 s, 2 s,
//!   4 s, … capped at 5 min). It never gives up;
//! * it sleeps until the outbox grows ([`Store::outbox_watch`]), a retry falls due or a
//!   request finishes; a periodic poll also catches retries scheduled before a restart.
//!
//! On shutdown it stops starting requests, lets the ones in flight finish and record their
//! result, and returns; undelivered rows stay in the store for the next start.
//!
//! [`Store::pending_for_delivery`]: exbridge_store::Store::pending_for_delivery
//! [`Store::outbox_watch`]: exbridge_store::Store::outbox_watch

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use exbridge_config::WebhookConfig;
use exbridge_store::{EventType, PendingDelivery, Store, StoreError, UserId, WebhookId, WebhookTarget};
use hmac::{KeyInit, Mac};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use exbridge_engine::telemetry::notification_clock;

use crate::mask::masked_payload;

/// The `origin` the engine records on outbox entries caused by a write through the API; a
/// webhook without `include_echoes` does not get them.
pub const API_ORIGIN: &str = "api";

/// Tuning of the dispatcher; [`Default`] is what production uses.
#[derive(Debug, Clone)]
pub struct DispatchOptions {
    /// Per-request timeout.
    pub timeout: Duration,
    /// The first retry delay; doubled per failed attempt.
    pub backoff_base: Duration,
    /// The longest retry delay.
    pub backoff_max: Duration,
    /// Deliveries in flight per webhook (to different users).
    pub concurrency: usize,
    /// How often to look for due retries nobody woke us for (e.g. scheduled before a restart).
    pub poll_interval: Duration,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        DispatchOptions {
            timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            concurrency: 16,
            poll_interval: Duration::from_secs(30),
        }
    }
}

impl DispatchOptions {
    /// The delay after the `attempts`-th failed attempt (1-based): base · 2^(attempts-1),
    /// plus up to 20 % jitter, capped at `backoff_max`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let delay = self.backoff_base.saturating_mul(1u32 << exp).min(self.backoff_max);
        let jitter = delay.mul_f64(fastrand::f64() * 0.2);
        (delay + jitter).min(self.backoff_max)
    }
}

/// A configured webhook ready to deliver.
#[derive(Clone)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: reqwest::Url,
    secret: Arc<str>,
    pub include_private: bool,
    pub target: WebhookTarget,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("url", &redacted_url(&self.url))
            .field("include_private", &self.include_private)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// The URL without query or credentials (they may carry secrets), for logs and errors.
fn redacted_url(url: &reqwest::Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{}{port}{}", url.scheme(), url.host_str().unwrap_or(""), url.path())
}

/// The stable id of a webhook: `wh-` and the first 16 hex digits of SHA-256 of its URL
/// (independent of its position in the file, so reordering keeps delivery state); a second
/// webhook with the same URL gets `-2`, and so on.
pub fn webhook_ids(configs: &[WebhookConfig]) -> Vec<WebhookId> {
    let mut seen: Vec<String> = Vec::new();
    configs
        .iter()
        .map(|c| {
            let hash = hex::encode(Sha256::digest(c.url.as_str().as_bytes()));
            let base = format!("wh-{}", &hash[..16]);
            let n = seen.iter().filter(|s| **s == base).count();
            seen.push(base.clone());
            WebhookId::new(if n == 0 { base } else { format!("{base}-{}", n + 1) })
        })
        .collect()
}

/// The webhooks of a configuration: ids, event filters, echo filter.
pub fn webhooks_from_config(configs: &[WebhookConfig]) -> Vec<Webhook> {
    configs
        .iter()
        .zip(webhook_ids(configs))
        .map(|(c, id)| {
            let events = if c.events.iter().any(|e| e == "*") {
                None
            } else {
                // The configuration validated the names.
                Some(c.events.iter().filter_map(|e| EventType::parse(e)).collect())
            };
            let skip_origin = if c.include_echoes { None } else { Some(API_ORIGIN.to_owned()) };
            Webhook {
                id: id.clone(),
                url: c.url.clone(),
                secret: Arc::from(c.secret.expose()),
                include_private: c.include_private,
                target: WebhookTarget { id, events, skip_origin },
            }
        })
        .collect()
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, the `X-Exbridge-Signature` header.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why the dispatcher could not start.
#[derive(Debug)]
pub enum DispatchError {
    /// Declaring the webhooks to the store failed.
    Store(StoreError),
    /// The HTTP client could not be built (TLS setup).
    Client(String),
}

impl std::fmt::Display for DispatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DispatchError::Store(e) => write!(f, "webhook dispatcher: declaring the webhooks to the store failed: {e}"),
            DispatchError::Client(e) => write!(f, "webhook dispatcher: building the HTTP client failed: {e}"),
        }
    }
}

impl std::error::Error for DispatchError {}

/// The running dispatcher.
pub struct Dispatcher {
    handle: JoinHandle<()>,
}

impl Dispatcher {
    /// Waits until every webhook loop has stopped (after the shutdown signal).
    pub async fn join(self) {
        if let Err(e) = self.handle.await {
            tracing::error!(error = %e, "webhook dispatcher task failed");
        }
    }

    /// Whether every loop has stopped.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// Declares `webhooks` to the store ([`Store::set_webhooks`]) and starts delivering; stops
/// after `shutdown` resolves and in-flight requests have finished.
///
/// [`Store::set_webhooks`]: exbridge_store::Store::set_webhooks
pub async fn start_dispatcher(
    store: Arc<dyn Store>,
    webhooks: Vec<Webhook>,
    options: DispatchOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Dispatcher, DispatchError> {
    let targets: Vec<WebhookTarget> = webhooks.iter().map(|w| w.target.clone()).collect();
    store.set_webhooks(&targets).await.map_err(DispatchError::Store)?;
    let client = reqwest::Client::builder()
        .timeout(options.timeout)
        .user_agent(concat!("exbridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| DispatchError::Client(e.to_string()))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let handle = tokio::spawn(async move {
        let mut loops = JoinSet::new();
        for webhook in webhooks {
            loops.spawn(deliver_loop(store.clone(), client.clone(), webhook, options.clone(), stop_rx.clone()));
        }
        let stopper = tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        while loops.join_next().await.is_some() {}
        stopper.abort();
    });
    Ok(Dispatcher { handle })
}

/// Convenience for the binary: the configured webhooks with default options.
pub async fn spawn_dispatcher(
    store: Arc<dyn Store>,
    webhooks: &[WebhookConfig],
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Dispatcher, DispatchError> {
    start_dispatcher(store, webhooks_from_config(webhooks), DispatchOptions::default(), shutdown).await
}

/// What one attempt did.
struct Attempt {
    user: UserId,
    retry_at: Option<Timestamp>,
}

async fn deliver_loop(
    store: Arc<dyn Store>,
    client: reqwest::Client,
    webhook: Webhook,
    options: DispatchOptions,
    mut stop: watch::Receiver<bool>,
) {
    let webhook = Arc::new(webhook);
    let meters = Arc::new(DeliveryMeters::new(&webhook.id));
    let mut watch = store.outbox_watch();
    let mut watch_open = true;
    let mut in_flight: HashSet<UserId> = HashSet::new();
    let mut requests: JoinSet<Attempt> = JoinSet::new();
    // Retries this loop scheduled; the earliest wakes it.
    let mut retries: Vec<Timestamp> = Vec::new();
    tracing::info!(webhook = %webhook.id, url = %redacted_url(&webhook.url), "webhook delivery started");
    loop {
        let stopping = *stop.borrow();
        if stopping {
            break;
        }
        watch.borrow_and_update();
        let now = Timestamp::now();
        retries.retain(|t| *t > now);
        let free = options.concurrency.saturating_sub(in_flight.len());
        let mut poll_soon = false;
        if free > 0 {
            let limit = (in_flight.len() + free) as u32;
            match store.pending_for_delivery(&webhook.id, now, limit).await {
                Ok(pending) => {
                    for p in pending {
                        if in_flight.len() >= options.concurrency {
                            break;
                        }
                        if in_flight.contains(&p.entry.user_id) {
                            continue;
                        }
                        in_flight.insert(p.entry.user_id.clone());
                        requests.spawn(attempt(
                            store.clone(),
                            client.clone(),
                            webhook.clone(),
                            meters.clone(),
                            options.clone(),
                            p,
                        ));
                    }
                }
                Err(e) => {
                    tracing::warn!(webhook = %webhook.id, error = %e, "reading pending webhook deliveries failed");
                    poll_soon = true;
                }
            }
        }
        let mut wake_in = if poll_soon { Duration::from_secs(1) } else { options.poll_interval };
        if let Some(next) = retries.iter().min() {
            let until = next.duration_since(Timestamp::now());
            wake_in = wake_in.min(Duration::try_from(until).unwrap_or(Duration::ZERO) + Duration::from_millis(5));
        }
        tokio::select! {
            changed = watch.changed(), if watch_open => {
                if changed.is_err() {
                    watch_open = false;
                }
            }
            Some(done) = requests.join_next(), if !requests.is_empty() => {
                if let Ok(done) = done {
                    in_flight.remove(&done.user);
                    retries.extend(done.retry_at);
                } else {
                    // A panicked attempt: forget every in-flight user we cannot account for.
                    in_flight.clear();
                }
            }
            _ = tokio::time::sleep(wake_in) => {}
            _ = stop.wait_for(|v| *v) => {}
        }
        // Account for every other finished attempt before asking the store again.
        while let Some(done) = requests.try_join_next() {
            match done {
                Ok(done) => {
                    in_flight.remove(&done.user);
                    retries.extend(done.retry_at);
                }
                Err(_) => in_flight.clear(),
            }
        }
    }
    // Shutting down: let in-flight requests finish and record their results.
    while requests.join_next().await.is_some() {}
    tracing::info!(webhook = %webhook.id, "webhook delivery stopped");
}

/// The delivery series of one webhook, registered once per delivery loop (no label strings
/// per request).
struct DeliveryMeters {
    success: ::metrics::Counter,
    http_error: ::metrics::Counter,
    network_error: ::metrics::Counter,
    seconds: ::metrics::Histogram,
}

impl DeliveryMeters {
    fn new(webhook: &WebhookId) -> Self {
        use crate::metrics::{WEBHOOK_DELIVERIES_TOTAL, WEBHOOK_DELIVERY_SECONDS};
        let id = webhook.as_str().to_owned();
        let counter = |outcome: &'static str| ::metrics::counter!(WEBHOOK_DELIVERIES_TOTAL, "webhook" => id.clone(), "outcome" => outcome);
        DeliveryMeters {
            success: counter("success"),
            http_error: counter("http_error"),
            network_error: counter("network_error"),
            seconds: ::metrics::histogram!(WEBHOOK_DELIVERY_SECONDS, "webhook" => id.clone()),
        }
    }
}

/// One POST of one entry, and its result recorded in the store.
async fn attempt(
    store: Arc<dyn Store>,
    client: reqwest::Client,
    webhook: Arc<Webhook>,
    meters: Arc<DeliveryMeters>,
    options: DispatchOptions,
    pending: PendingDelivery,
) -> Attempt {
    let entry = &pending.entry;
    let payload = masked_payload(entry, webhook.include_private);
    let body = payload.to_string().into_bytes();
    let signature = signature(&webhook.secret, &body);
    let sent = std::time::Instant::now();
    let result = client
        .post(webhook.url.clone())
        .header("content-type", "application/json")
        .header("x-exbridge-event-id", entry.id.as_str())
        .header("x-exbridge-signature", signature)
        .body(body)
        .send()
        .await;
    meters.seconds.record(sent.elapsed().as_secs_f64());
    let (failure, counter) = match result {
        Ok(response) if response.status().is_success() => (None, &meters.success),
        Ok(response) => (Some(format!("HTTP {}", response.status().as_u16())), &meters.http_error),
        Err(e) if e.is_timeout() => (Some(format!("timed out after {:?}", options.timeout)), &meters.network_error),
        Err(e) => (Some(format!("request failed: {}", e.without_url())), &meters.network_error),
    };
    counter.increment(1);
    let user = entry.user_id.clone();
    let now = Timestamp::now();
    match failure {
        None => {
            if let Err(e) = store.mark_delivered(&webhook.id, entry.seq, now).await {
                tracing::warn!(webhook = %webhook.id, seq = entry.seq, user = %user, error = %e,
                    "recording a webhook delivery failed; it will be sent again");
                let retry_at = now.saturating_add(options.backoff_base).ok();
                return Attempt { user, retry_at };
            }
            tracing::debug!(webhook = %webhook.id, seq = entry.seq, user = %user, "webhook delivered");
            if let Some(latency) = notification_clock().delivered(&user, entry.created_at) {
                ::metrics::histogram!(crate::metrics::NOTIFICATION_TO_WEBHOOK_SECONDS).record(latency.as_secs_f64());
            }
            Attempt { user, retry_at: None }
        }
        Some(error) => {
            let attempts = pending.delivery.attempts + 1;
            let delay = options.backoff(attempts);
            let retry_at = now.saturating_add(delay).unwrap_or(now);
            let error = format!("POST {} (attempt {attempts}): {error}", redacted_url(&webhook.url));
            tracing::warn!(webhook = %webhook.id, seq = entry.seq, user = %user, retry_in = ?delay, "{error}");
            if let Err(e) = store.mark_failed(&webhook.id, entry.seq, retry_at, &error).await {
                tracing::warn!(webhook = %webhook.id, seq = entry.seq, user = %user, error = %e,
                    "recording a failed webhook delivery failed");
            }
            Attempt { user, retry_at: Some(retry_at) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let o = DispatchOptions::default();
        for (attempts, base) in [(1u32, 1u64), (2, 2), (3, 4), (4, 8), (9, 256)] {
            let d = o.backoff(attempts);
            assert!(d >= Duration::from_secs(base) && d <= Duration::from_secs(base).mul_f64(1.2), "{attempts}: {d:?}");
        }
        assert_eq!(o.backoff(10), Duration::from_secs(300));
        assert_eq!(o.backoff(1000), Duration::from_secs(300));
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn ids_are_stable_and_unique() {
        let hook = |url: &str| WebhookConfig {
            url: url.parse().unwrap(),
            secret: exbridge_config::Secret::new("s"),
            events: vec!["*".into()],
            include_private: false,
            include_echoes: false,
        };
        let a = webhook_ids(&[hook("https://a.example/h"), hook("https://b.example/h"), hook("https://a.example/h")]);
        let b = webhook_ids(&[hook("https://b.example/h"), hook("https://a.example/h")]);
        assert_eq!(a[0], b[1]);
        assert_eq!(a[1], b[0]);
        assert_eq!(a[2].as_str(), format!("{}-2", a[0]));
        let w = webhooks_from_config(&[hook("https://a.example/h")]);
        assert_eq!(w[0].target.skip_origin.as_deref(), Some(API_ORIGIN));
        assert_eq!(w[0].target.events, None);
    }
}
