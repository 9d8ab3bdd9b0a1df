//! The mechanics of `GetStreamingEvents`: one chunked HTTP response carrying a sequence of
//! whole SOAP envelopes.
//!
//! The operation handler decides *what* a connection carries (it validates the subscription
//! ids and hands over an [`EventSource`] of notification envelopes); this module decides *when*:
//! a `ConnectionStatus OK` envelope when the connection opens and whenever it was idle for the
//! heartbeat interval, a final `ConnectionStatus Closed` after `ConnectionTimeout` minutes, an
//! error plus `Closed` when subscriptions expire, and an abrupt TCP close for `drop_streams`.
//! It also enforces `HangingConnectionLimit` per budget and the 200 subscriptions per connection.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ews_proto::ResponseCode;
use ews_proto::SubscriptionId;
use ews_proto::ops::{ConnectionStatus, GetStreamingEventsResponseMessage};
use ews_proto::response::ResponseStatus;
use ews_proto::soap::ServerVersionInfo;
use ews_proto::soap::{Envelope, Header};
use futures_util::Stream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::conn::KillSwitch;
use super::throttle::{BudgetKey, Limiter, Permit};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an [`EventSource`] hands the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEvent {
    /// A whole envelope (usually notifications) to send; the connection goes on.
    Envelope(Bytes),
    /// A last envelope to send (it should say `ConnectionStatus Closed`); the response ends.
    Close(Bytes),
}

/// The notifications of one streaming connection.
///
/// `next` must be cancel-safe: the connection may drop its future to send a heartbeat and call
/// it again later, so no event may be lost when the future is dropped before it resolves.
pub trait EventSource: Send + 'static {
    fn next(&mut self) -> BoxFuture<'_, SourceEvent>;
}

/// An [`EventSource`] that never has anything (heartbeats only).
#[derive(Debug, Default)]
pub struct Silent;

impl EventSource for Silent {
    fn next(&mut self) -> BoxFuture<'_, SourceEvent> {
        Box::pin(std::future::pending())
    }
}

/// An [`EventSource`] fed through a channel: every `Bytes` sent is an envelope. When the sender
/// is dropped the source stays silent.
#[derive(Debug)]
pub struct ChannelSource(pub tokio::sync::mpsc::Receiver<Bytes>);

impl EventSource for ChannelSource {
    fn next(&mut self) -> BoxFuture<'_, SourceEvent> {
        Box::pin(async move {
            match self.0.recv().await {
                Some(b) => SourceEvent::Envelope(b),
                None => std::future::pending().await,
            }
        })
    }
}

/// The envelopes the plumbing itself writes.
pub trait StreamEnvelopes: Send + Sync + 'static {
    /// `ConnectionStatus OK`.
    fn heartbeat(&self) -> Bytes;
    /// `ConnectionStatus Closed`.
    fn closed(&self) -> Bytes;
    /// An error response message naming `ids` in `ErrorSubscriptionIds`, with
    /// `ConnectionStatus Closed`.
    fn error(&self, code: ResponseCode, text: &str, ids: &[SubscriptionId]) -> Bytes;
}

/// One document of a stream: a SOAP envelope with `t:ServerVersionInfo` in the header and a
/// `GetStreamingEventsResponse` holding `message`. Operation handlers use it to write the
/// notification envelopes their [`EventSource`] hands over.
pub fn stream_document(server_version: &ServerVersionInfo, message: GetStreamingEventsResponseMessage) -> Bytes {
    let header = Header { server_version_info: Some(server_version.clone()), ..Header::default() };
    Bytes::from(Envelope::new(header, message).to_xml_string())
}

/// [`StreamEnvelopes`] made of `ews-proto`'s `GetStreamingEventsResponse` types, in the schema's
/// wire form.
#[derive(Debug, Clone)]
pub struct XmlEnvelopes {
    pub server_version: ServerVersionInfo,
}

impl StreamEnvelopes for XmlEnvelopes {
    fn heartbeat(&self) -> Bytes {
        stream_document(&self.server_version, GetStreamingEventsResponseMessage::heartbeat())
    }

    fn closed(&self) -> Bytes {
        stream_document(&self.server_version, GetStreamingEventsResponseMessage::closed())
    }

    fn error(&self, code: ResponseCode, text: &str, ids: &[SubscriptionId]) -> Bytes {
        let message = GetStreamingEventsResponseMessage {
            status: ResponseStatus::error(code, text),
            error_subscription_ids: ids.to_vec(),
            connection_status: Some(ConnectionStatus::Closed),
            ..GetStreamingEventsResponseMessage::default()
        };
        stream_document(&self.server_version, message)
    }
}

/// What the operation handler asks the plumbing to run.
pub struct StreamPlan {
    /// The subscriptions the connection carries (at most
    /// [`ews_proto::ops::MAX_SUBSCRIPTIONS_PER_CONNECTION`], 200, unless the server is configured otherwise).
    pub subscription_ids: Vec<SubscriptionId>,
    /// `ConnectionTimeout` in minutes (1..=30; clamped).
    pub connection_timeout_minutes: i32,
    pub source: Box<dyn EventSource>,
}

impl std::fmt::Debug for StreamPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamPlan")
            .field("subscription_ids", &self.subscription_ids)
            .field("connection_timeout_minutes", &self.connection_timeout_minutes)
            .finish_non_exhaustive()
    }
}

/// Why a streaming connection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("HangingConnectionLimit of {0} streaming connections reached")]
    TooManyConnections(usize),
    #[error("{given} subscriptions on one connection; at most {max} are allowed")]
    TooManySubscriptions { given: usize, max: usize },
}

impl OpenError {
    pub fn code(&self) -> ResponseCode {
        match self {
            OpenError::TooManyConnections(_) => ResponseCode::ErrorExceededConnectionCount,
            OpenError::TooManySubscriptions { .. } => ResponseCode::ErrorInvalidArgument,
        }
    }

    pub fn message(&self) -> String {
        match self {
            OpenError::TooManyConnections(_) => "You have exceeded the available concurrent connections for your \
                                                  account. Try again once your other requests have completed."
                .into(),
            OpenError::TooManySubscriptions { max, .. } => {
                format!("A maximum of {max} subscriptions may be used on a single streaming connection.")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    None,
    /// Subscriptions are gone: error then Closed.
    Expire,
    /// Server shutting down: Closed.
    Close,
    /// `drop_streams`: no more bytes, TCP closed.
    Drop,
}

struct Entry {
    signal: watch::Sender<Signal>,
    kill: KillSwitch,
    subscription_ids: Vec<SubscriptionId>,
}

/// Timing of streaming connections.
#[derive(Debug, Clone, Copy)]
pub struct StreamTiming {
    pub heartbeat: Duration,
    /// How long one minute of `ConnectionTimeout` lasts.
    pub minute: Duration,
}

/// All open streaming connections.
pub struct StreamRegistry {
    limiter: Limiter,
    max_subscriptions: usize,
    timing: StreamTiming,
    envelopes: Arc<dyn StreamEnvelopes>,
    next_id: AtomicU64,
    open: Arc<Mutex<HashMap<u64, Entry>>>,
}

impl std::fmt::Debug for StreamRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRegistry").field("open", &self.open_count()).finish_non_exhaustive()
    }
}

impl StreamRegistry {
    pub fn new(
        hanging_connection_limit: usize,
        max_subscriptions: usize,
        timing: StreamTiming,
        envelopes: Arc<dyn StreamEnvelopes>,
    ) -> Self {
        StreamRegistry {
            limiter: Limiter::new(hanging_connection_limit),
            max_subscriptions,
            timing,
            envelopes,
            next_id: AtomicU64::new(1),
            open: Arc::default(),
        }
    }

    pub fn envelopes(&self) -> &Arc<dyn StreamEnvelopes> {
        &self.envelopes
    }

    /// Streaming connections open now.
    pub fn open_count(&self) -> usize {
        self.open.lock().unwrap().len()
    }

    /// Subscription ids carried by open connections.
    pub fn open_subscription_ids(&self) -> Vec<SubscriptionId> {
        self.open.lock().unwrap().values().flat_map(|e| e.subscription_ids.iter().cloned()).collect()
    }

    /// Checks the limits and returns the response body stream of a new streaming connection.
    /// `kill` is the switch of the TCP connection it runs on (flipped by `drop_streams`).
    pub fn open(
        &self,
        budget: BudgetKey,
        plan: StreamPlan,
        kill: KillSwitch,
    ) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static, OpenError> {
        if plan.subscription_ids.len() > self.max_subscriptions {
            return Err(OpenError::TooManySubscriptions {
                given: plan.subscription_ids.len(),
                max: self.max_subscriptions,
            });
        }
        let permit = self.limiter.try_acquire(&budget).ok_or(OpenError::TooManyConnections(self.limiter.limit()))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(Signal::None);
        self.open
            .lock()
            .unwrap()
            .insert(id, Entry { signal: tx, kill, subscription_ids: plan.subscription_ids.clone() });
        let minutes = plan.connection_timeout_minutes.clamp(1, 30) as u32;
        let now = Instant::now();
        let state = Running {
            id,
            open: self.open.clone(),
            _permit: permit,
            source: plan.source,
            ids: plan.subscription_ids,
            envelopes: self.envelopes.clone(),
            heartbeat: self.timing.heartbeat,
            deadline: now + self.timing.minute * minutes,
            next_heartbeat: now + self.timing.heartbeat,
            signal: rx,
            started: false,
            done: false,
        };
        Ok(futures_util::stream::unfold(state, |mut st| async move {
            let item = st.step().await?;
            Some((item, st))
        }))
    }

    fn signal_all(&self, signal: Signal) -> usize {
        let open = self.open.lock().unwrap();
        for e in open.values() {
            e.signal.send_replace(signal);
            if signal == Signal::Drop {
                e.kill.kill();
            }
        }
        open.len()
    }

    /// `drop_streams`: closes every streaming connection's TCP connection without a `Closed`
    /// message. Returns how many were open.
    pub fn drop_all(&self) -> usize {
        self.signal_all(Signal::Drop)
    }

    /// `expire_subscriptions`: every open connection sends `ErrorSubscriptionNotFound` for its
    /// subscriptions, then `Closed`. Returns how many were open.
    pub fn expire_all(&self) -> usize {
        self.signal_all(Signal::Expire)
    }

    /// Shutdown: every open connection sends `Closed` and ends.
    pub fn close_all(&self) -> usize {
        self.signal_all(Signal::Close)
    }
}

struct Running {
    id: u64,
    open: Arc<Mutex<HashMap<u64, Entry>>>,
    _permit: Permit,
    source: Box<dyn EventSource>,
    ids: Vec<SubscriptionId>,
    envelopes: Arc<dyn StreamEnvelopes>,
    heartbeat: Duration,
    deadline: Instant,
    next_heartbeat: Instant,
    signal: watch::Receiver<Signal>,
    started: bool,
    done: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.open.lock().unwrap().remove(&self.id);
    }
}

impl Running {
    /// The next chunk, or `None` when the response is complete.
    async fn step(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.done {
            return None;
        }
        if let Some(item) = self.on_signal() {
            return Some(item);
        }
        if !self.started {
            self.started = true;
            return Some(Ok(self.envelopes.heartbeat()));
        }
        tokio::select! {
            biased;
            changed = self.signal.changed() => {
                if changed.is_err() {
                    // The registry is gone: end like a timeout.
                    self.done = true;
                    return Some(Ok(self.envelopes.closed()));
                }
                self.on_signal().or_else(|| Some(Ok(self.envelopes.heartbeat())))
            }
            _ = tokio::time::sleep_until(self.deadline) => {
                self.done = true;
                Some(Ok(self.envelopes.closed()))
            }
            ev = self.source.next() => {
                self.next_heartbeat = Instant::now() + self.heartbeat;
                match ev {
                    SourceEvent::Envelope(b) => Some(Ok(b)),
                    SourceEvent::Close(b) => {
                        self.done = true;
                        Some(Ok(b))
                    }
                }
            }
            _ = tokio::time::sleep_until(self.next_heartbeat) => {
                self.next_heartbeat = Instant::now() + self.heartbeat;
                Some(Ok(self.envelopes.heartbeat()))
            }
        }
    }

    fn on_signal(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        let signal = *self.signal.borrow_and_update();
        match signal {
            Signal::None => None,
            Signal::Drop => {
                self.done = true;
                Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "streams dropped")))
            }
            Signal::Close => {
                self.done = true;
                Some(Ok(self.envelopes.closed()))
            }
            Signal::Expire => {
                self.done = true;
                Some(Ok(self.envelopes.error(
                    ResponseCode::ErrorSubscriptionNotFound,
                    "The specified subscription was not found.",
                    &self.ids,
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn registry(limit: usize) -> StreamRegistry {
        StreamRegistry::new(
            limit,
            2,
            StreamTiming { heartbeat: Duration::from_secs(20), minute: Duration::from_secs(60) },
            Arc::new(XmlEnvelopes { server_version: ServerVersionInfo::exchange2016() }),
        )
    }

    fn plan(ids: &[&str], source: Box<dyn EventSource>) -> StreamPlan {
        StreamPlan {
            subscription_ids: ids.iter().map(|s| SubscriptionId::new(*s)).collect(),
            connection_timeout_minutes: 1,
            source,
        }
    }

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_when_idle_then_closed_after_the_timeout() {
        let r = registry(10);
        let s = r.open(BudgetKey::new("svc", None), plan(&["a"], Box::new(Silent)), KillSwitch::default()).unwrap();
        let chunks: Vec<_> = s.map(|c| c.unwrap()).collect().await;
        // Initial OK, heartbeats at 20 s and 40 s, Closed at 60 s.
        assert_eq!(chunks.len(), 4, "{chunks:?}");
        assert!(chunks[..3].iter().all(|c| text(c).contains("<m:ConnectionStatus>OK</m:ConnectionStatus>")));
        assert!(text(&chunks[3]).contains("<m:ConnectionStatus>Closed</m:ConnectionStatus>"));
        assert_eq!(r.open_count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn source_events_pass_through_and_postpone_the_heartbeat() {
        let r = registry(10);
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut s = Box::pin(
            r.open(BudgetKey::new("svc", None), plan(&["a"], Box::new(ChannelSource(rx))), KillSwitch::default())
                .unwrap(),
        );
        assert!(text(&s.next().await.unwrap().unwrap()).contains("OK"));
        tokio::time::sleep(Duration::from_secs(15)).await;
        tx.send(Bytes::from_static(b"<n/>")).await.unwrap();
        assert_eq!(s.next().await.unwrap().unwrap(), Bytes::from_static(b"<n/>"));
        let before = Instant::now();
        assert!(text(&s.next().await.unwrap().unwrap()).contains("OK"));
        assert_eq!(Instant::now() - before, Duration::from_secs(20));
    }

    #[tokio::test]
    async fn limits() {
        let r = registry(1);
        let key = BudgetKey::new("svc", Some("user1@contoso.test"));
        let s1 = r.open(key.clone(), plan(&["a"], Box::new(Silent)), KillSwitch::default()).unwrap();
        assert_eq!(
            r.open(key.clone(), plan(&["b"], Box::new(Silent)), KillSwitch::default()).err(),
            Some(OpenError::TooManyConnections(1))
        );
        assert!(matches!(
            r.open(BudgetKey::new("svc", None), plan(&["a", "b", "c"], Box::new(Silent)), KillSwitch::default()),
            Err(OpenError::TooManySubscriptions { given: 3, max: 2 })
        ));
        drop(s1);
        assert!(r.open(key, plan(&["b"], Box::new(Silent)), KillSwitch::default()).is_ok());
    }

    #[tokio::test]
    async fn expire_sends_error_then_ends_and_drop_errors() {
        let r = registry(10);
        let mut s1 = Box::pin(
            r.open(BudgetKey::new("svc", None), plan(&["s1", "s2"], Box::new(Silent)), KillSwitch::default()).unwrap(),
        );
        assert!(s1.next().await.unwrap().is_ok());
        assert_eq!(r.expire_all(), 1);
        let last = s1.next().await.unwrap().unwrap();
        let xml = text(&last);
        assert!(xml.contains("ErrorSubscriptionNotFound") && xml.contains(">s2</t:SubscriptionId>"), "{xml}");
        assert!(xml.contains("<m:ConnectionStatus>Closed</m:ConnectionStatus>"));
        assert!(s1.next().await.is_none());

        let kill = KillSwitch::default();
        let mut s2 =
            Box::pin(r.open(BudgetKey::new("svc", None), plan(&["x"], Box::new(Silent)), kill.clone()).unwrap());
        assert!(s2.next().await.unwrap().is_ok());
        assert_eq!(r.drop_all(), 1);
        assert!(kill.is_killed());
        assert!(s2.next().await.unwrap().is_err());
        assert!(s2.next().await.is_none());
    }
}
