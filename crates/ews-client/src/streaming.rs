//! Streaming notifications for many mailboxes (DIGEST §3): a [`StreamingManager`] subscribes
//! each mailbox's calendar (and optionally tasks folder), groups the subscriptions into
//! `GetStreamingEvents` connections of at most 200, keeps those connections alive, and turns
//! what arrives into [`StreamEvent`]s on a tokio channel.
//!
//! # Grouping and affinity
//! Mailboxes are grouped by Autodiscover's `GroupingInformation` (given with the mailbox, or
//! looked up when the manager has an [`Autodiscover`]); without it, all mailboxes of the
//! server form one group. A group is sorted by address and cut into chunks of at most
//! `subscriptions_per_connection` subscription ids; each chunk is one connection whose
//! **anchor** is its alphabetically first mailbox. The anchor is subscribed first with
//! `X-AnchorMailbox: <anchor>` and `X-PreferServerAffinity: true`; the `X-BackEndOverrideCookie`
//! cookie of its response is sent back (`Cookie:`) on the Subscribe of every other member (still
//! with the anchor's `X-AnchorMailbox`) and on every `GetStreamingEvents` of the connection, which
//! impersonates the anchor. Mailboxes added at runtime fill connections with room in their group,
//! else open new ones.
//!
//! # Membership changes are gathered
//! A connection sends a new `GetStreamingEvents` only when its membership changed, and not at
//! once: changes are gathered until none came for `restream_delay` (500 ms), but at most
//! `restream_max_delay` (5 s) after the first change not yet sent. Mailboxes that arrive one
//! by one (as an initial sync finishes them) thus share a request: a connection filling up is
//! re-opened at most every `restream_max_delay`, not once per mailbox. A new connection's first
//! request is gathered the same way; resubscriptions after a loss are sent at once.
//!
//! A mailbox is reported [`StreamEvent::Subscribed`] only once a stream carrying its
//! subscriptions has opened (its first document arrived). A change made between its Subscribe
//! and that moment is queued on the subscription by the server (EWS keeps a subscription's
//! events until a `GetStreamingEvents` takes them) and arrives on the first stream carrying it;
//! the owner's sync after `Subscribed` covers what happened before the Subscribe. So a change
//! of a newly subscribed mailbox arrives at most `restream_max_delay` (plus the time to open
//! the stream, and any wait for a hanging-connection slot) after its Subscribe succeeded.
//! Replacing a stream that already delivered documents gives its remaining members a Gap
//! (see below), so fewer re-opens also mean fewer resyncs.
//!
//! # Hanging-connection budget
//! Exchange charges a streaming connection to the budget of the account it runs as: with
//! impersonation, a *copy of the impersonated anchor's* budget (DIGEST §2, "impersonate a
//! different mailbox per connection"); without impersonation, the service account's. Its
//! `HangingConnectionLimit` (10 by default, 3 on Exchange 2013) applies per budget. The manager
//! never opens more than `max_connections_per_account` connections per budget key (anchor when
//! impersonating, else the service account), and optionally never more than
//! `max_connections_total` in all. Since every connection has its own anchor, 10,000 mailboxes
//! need ceil(10000/200) = 50 connections, each charged to a different mailbox: more than 10 in
//! all, none over any budget. Without impersonation at most 10 connections (2,000 subscriptions)
//! can run; the others wait in [`ConnectionPhase::WaitingForSlot`].
//!
//! # Each connection
//! A dedicated authenticated HTTP/1.1 connection outside the request pool (NTLM handshake on
//! it; reused for the next request after the server's orderly `Closed`). The chunked body is
//! read incrementally and cut into envelopes with [`EnvelopeSplitter`]. `ConnectionTimeout`
//! (default 30 minutes): after `ConnectionStatus Closed` the next request is sent at once. A
//! watchdog declares the connection dead when no byte arrived for
//! `missed_heartbeats × heartbeat_interval` (default 2 × 45 s): it is closed and reopened.
//! Failures reconnect with jittered exponential back-off.
//!
//! # Gaps
//! A [`StreamEvent::Gap`] says notifications may have been missed for some mailboxes; the
//! caller resynchronises them (SyncFolderItems). It is sent **after** the replacement stream is
//! established, so nothing falls between the resync and the next notification:
//! * subscriptions lost (`ErrorSubscriptionNotFound`, `ErrorExpiredSubscription`,
//!   `ErrorInvalidSubscription`, named in `ErrorSubscriptionIds`, or all of the connection when
//!   none are named): those mailboxes are subscribed again, without a watermark, then the Gap;
//! * the connection dropped, answered an error, or the watchdog fired: every mailbox of the
//!   connection, once it is reconnected;
//! * `ErrorMissedNotificationEvents`: the mailboxes named (or all of the connection).
//!
//! The event channel is unbounded: the manager never waits for its reader (a slow reader
//! costs memory, not missed heartbeats), and a reader may call the manager from its loop
//! without deadlock.
//!
//! Mailbox-level Subscribe failures (`ErrorNonExistentMailbox`, `ErrorImpersonateUserDenied`, …)
//! are reported per mailbox ([`StreamEvent::SubscribeFailed`]) and do not affect the others;
//! transient ones are retried after `resubscribe_retry`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ews_proto::ops::{
    ChangedObject, EventType, GetStreamingEvents, GetStreamingEventsResponseMessage, MAX_SUBSCRIPTIONS_PER_CONNECTION,
    Subscribe, SubscriptionScope, Unsubscribe,
};
use ews_proto::soap::{Body, Envelope};
use ews_proto::stream::EnvelopeSplitter;
use ews_proto::{
    DistinguishedFolderName, EmailAddress, FolderId, ItemId, ResponseCode, SmtpAddress, SubscriptionId, Watermark,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::autodiscover::Autodiscover;
use crate::client::{CallOptions, EwsClient};
use crate::conn::Conn;
use crate::error::{ErrorClass, ErrorKind, EwsError};
use crate::transport::{HttpResponse, read_whole};

/// The event types subscribed.
pub const EVENT_TYPES: &[EventType] =
    &[EventType::Created, EventType::Modified, EventType::Deleted, EventType::Moved, EventType::Copied];

/// A folder the manager watches in each mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchedFolder {
    Calendar,
    Tasks,
}

impl WatchedFolder {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchedFolder::Calendar => "calendar",
            WatchedFolder::Tasks => "tasks",
        }
    }

    /// The distinguished folder id, in `mailbox` when not impersonating (delegate access).
    fn folder_id(self, mailbox: Option<&SmtpAddress>) -> FolderId {
        let name = match self {
            WatchedFolder::Calendar => DistinguishedFolderName::Calendar,
            WatchedFolder::Tasks => DistinguishedFolderName::Tasks,
        };
        let mut id = FolderId::distinguished(name);
        if let (Some(m), FolderId::Distinguished(d)) = (mailbox, &mut id) {
            d.mailbox = Some(EmailAddress::smtp(m.as_str(), None));
        }
        id
    }
}

impl std::fmt::Display for WatchedFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to an item (or folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    Created,
    Modified,
    Deleted,
    /// Moved into or out of the folder (a deletion to Deleted Items is a move).
    Moved,
    Copied,
    NewMail,
    FreeBusyChanged,
}

impl ChangeKind {
    fn of(t: EventType) -> ChangeKind {
        match t {
            EventType::Created => ChangeKind::Created,
            EventType::Modified => ChangeKind::Modified,
            EventType::Deleted => ChangeKind::Deleted,
            EventType::Moved => ChangeKind::Moved,
            EventType::Copied => ChangeKind::Copied,
            EventType::NewMail => ChangeKind::NewMail,
            EventType::FreeBusyChanged => ChangeKind::FreeBusyChanged,
        }
    }
}

/// Why notifications may have been missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GapReason {
    /// The server lost or expired the subscription; it was created again (without a watermark).
    SubscriptionLost(ResponseCode),
    /// The server reported `ErrorMissedNotificationEvents`.
    MissedEvents,
    /// The connection broke or answered with an error; it was reopened.
    ConnectionDropped(String),
    /// No byte arrived within the heartbeat watchdog; the connection was reopened.
    HeartbeatTimeout(Duration),
}

/// The state of one streaming connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionPhase {
    /// Waiting for a free slot under the hanging-connection limit.
    WaitingForSlot,
    /// Streaming.
    Open,
    /// Reconnecting after `delay` because of `reason`.
    Reconnecting { delay: Duration, reason: String },
    /// Ended: no member left, or the manager shut down.
    Stopped,
}

/// What the manager reports.
#[derive(Debug)]
pub enum StreamEvent {
    /// Something changed in a watched folder.
    Changed {
        mailbox: SmtpAddress,
        folder: WatchedFolder,
        kind: ChangeKind,
        /// The item (`None` for a change of the folder itself).
        item_id: Option<ItemId>,
        /// Moves and copies: the item's former id.
        old_item_id: Option<ItemId>,
        /// The event's watermark, when the server sends one (Exchange 2013+ streaming omits it).
        watermark: Option<Watermark>,
    },
    /// Notifications may have been missed for these mailboxes: resynchronise them.
    Gap { mailboxes: Vec<SmtpAddress>, reason: GapReason },
    /// A connection changed state.
    ConnectionState { connection: u64, anchor: SmtpAddress, group: String, mailboxes: usize, state: ConnectionPhase },
    /// Every watched folder of the mailbox is subscribed and a stream carrying those
    /// subscriptions is open (first time only). Changes from now on arrive as
    /// [`StreamEvent::Changed`]; one sync of the mailbox covers what came before.
    Subscribed { mailbox: SmtpAddress },
    /// A folder of the mailbox could not be subscribed. `retrying` when the failure was
    /// transient and it will be tried again.
    SubscribeFailed { mailbox: SmtpAddress, folder: WatchedFolder, error: EwsError, retrying: bool },
}

/// Settings of a [`StreamingManager`].
#[derive(Debug, Clone)]
pub struct StreamingConfig {
    /// Also watch each mailbox's tasks folder.
    pub tasks: bool,
    /// `ConnectionTimeout` in minutes (1..=30).
    pub connection_timeout_minutes: u32,
    /// How often the server is expected to send a `ConnectionStatus OK` heartbeat.
    pub heartbeat_interval: Duration,
    /// A connection is dead after this many intervals without a byte.
    pub missed_heartbeats: u32,
    /// Open connections per budget: the impersonated anchor (impersonation on) or the service
    /// account (off). Exchange's `HangingConnectionLimit` is 10 (3 on Exchange 2013).
    pub max_connections_per_account: usize,
    /// Open connections in all, whatever the budgets (`None`: no overall cap).
    pub max_connections_total: Option<usize>,
    /// Subscription ids per connection (Exchange allows 200).
    pub subscriptions_per_connection: usize,
    /// Subscribe/Unsubscribe calls in flight (the client's throttling applies on top).
    pub subscribe_concurrency: usize,
    /// Reconnect back-off: first delay, doubled per failed attempt up to `reconnect_max`,
    /// jittered (half fixed, half random).
    pub reconnect_base: Duration,
    pub reconnect_max: Duration,
    /// Membership changes are gathered before the affected connection sends its next request:
    /// until no change came for this long (a trailing debounce) …
    pub restream_delay: Duration,
    /// … but no longer than this after the first change not yet sent (so a connection that
    /// keeps gaining members during an initial sync is re-opened at most once per this
    /// interval, and a newly subscribed mailbox waits at most this long for its stream).
    pub restream_max_delay: Duration,
    /// Retry a transiently failed subscription after this long.
    pub resubscribe_retry: Duration,
    /// Send `X-PreferServerAffinity` and the `X-BackEndOverrideCookie`.
    pub affinity: bool,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        StreamingConfig {
            tasks: false,
            connection_timeout_minutes: 30,
            heartbeat_interval: Duration::from_secs(45),
            missed_heartbeats: 2,
            max_connections_per_account: 10,
            max_connections_total: None,
            subscriptions_per_connection: MAX_SUBSCRIPTIONS_PER_CONNECTION,
            subscribe_concurrency: 16,
            reconnect_base: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            restream_delay: Duration::from_millis(500),
            restream_max_delay: Duration::from_secs(5),
            resubscribe_retry: Duration::from_secs(30),
            affinity: true,
        }
    }
}

impl StreamingConfig {
    /// `missed_heartbeats × heartbeat_interval`.
    pub fn watchdog(&self) -> Duration {
        self.heartbeat_interval * self.missed_heartbeats.max(1)
    }

    fn folders(&self) -> Vec<WatchedFolder> {
        if self.tasks { vec![WatchedFolder::Calendar, WatchedFolder::Tasks] } else { vec![WatchedFolder::Calendar] }
    }

    fn mailboxes_per_connection(&self) -> usize {
        let subs = self.subscriptions_per_connection.clamp(1, MAX_SUBSCRIPTIONS_PER_CONNECTION);
        (subs / self.folders().len()).max(1)
    }
}

/// A mailbox to watch, with its `GroupingInformation` when the caller knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxSpec {
    pub smtp: SmtpAddress,
    pub grouping: Option<String>,
}

impl MailboxSpec {
    pub fn new(smtp: SmtpAddress) -> Self {
        MailboxSpec { smtp, grouping: None }
    }

    pub fn with_grouping(mut self, grouping: impl Into<String>) -> Self {
        self.grouping = Some(grouping.into());
        self
    }
}

impl From<SmtpAddress> for MailboxSpec {
    fn from(smtp: SmtpAddress) -> Self {
        MailboxSpec::new(smtp)
    }
}

/// One connection as [`StreamingManager::stats`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub id: u64,
    pub group: String,
    pub anchor: SmtpAddress,
    pub mailboxes: usize,
    pub subscriptions: usize,
    pub open: bool,
}

/// Figures of a manager.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamingStats {
    /// Mailboxes known (whatever their state).
    pub mailboxes: usize,
    /// Mailboxes with every folder subscribed (their stream may not be open yet: see
    /// [`StreamEvent::Subscribed`]).
    pub subscribed: usize,
    /// Mailboxes that failed for good (mailbox-level error).
    pub failed: usize,
    /// Mailboxes being grouped, subscribed or waiting for a retry.
    pub pending: usize,
    pub connections: Vec<ConnectionInfo>,
    /// Connections streaming now.
    pub open_connections: usize,
    /// Subscribe requests sent so far.
    pub subscribe_calls: u64,
    /// `GetStreamingEvents` requests sent so far.
    pub stream_requests: u64,
}

/// Watches many mailboxes through streaming subscriptions. See the module documentation.
/// Cheap to clone; the manager runs until [`StreamingManager::shutdown`].
#[derive(Clone)]
pub struct StreamingManager {
    cmds: mpsc::UnboundedSender<Cmd>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StreamingManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingManager").field("server", &self.shared.client.name()).finish_non_exhaustive()
    }
}

impl StreamingManager {
    /// Starts the manager (no mailbox yet) and returns it with the receiving end of its events.
    /// With `autodiscover`, mailboxes added without a grouping are looked up for their
    /// `GroupingInformation`.
    pub fn start(
        client: EwsClient,
        cfg: StreamingConfig,
        autodiscover: Option<Autodiscover>,
    ) -> (StreamingManager, mpsc::UnboundedReceiver<StreamEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let budget_key = match (&client.config().auth, client.config().impersonation) {
            (_, true) => None,
            (a, false) => Some(a.account().to_ascii_lowercase()),
        };
        let shared = Arc::new(Shared {
            budgets: Budgets::new(cfg.max_connections_per_account, cfg.max_connections_total),
            permits: Semaphore::new(cfg.subscribe_concurrency.max(1)),
            client,
            cfg,
            events,
            cmds: cmds.downgrade(),
            watermarks: Mutex::new(HashMap::new()),
            open_connections: AtomicUsize::new(0),
            subscribe_calls: AtomicU64::new(0),
            stream_requests: AtomicU64::new(0),
            service_budget_key: budget_key,
        });
        let sup = Supervisor::new(shared.clone(), autodiscover);
        tokio::spawn(sup.run(cmd_rx));
        (StreamingManager { cmds, shared }, rx)
    }

    /// Starts watching these mailboxes (already watched ones are left as they are).
    pub fn add_mailboxes(&self, mailboxes: impl IntoIterator<Item = impl Into<MailboxSpec>>) {
        let list: Vec<MailboxSpec> = mailboxes.into_iter().map(Into::into).collect();
        let _ = self.cmds.send(Cmd::Add(list));
    }

    /// Stops watching these mailboxes (their subscriptions are ended with Unsubscribe).
    pub fn remove_mailboxes(&self, mailboxes: impl IntoIterator<Item = SmtpAddress>) {
        let _ = self.cmds.send(Cmd::Remove(mailboxes.into_iter().collect()));
    }

    /// Current figures.
    pub async fn stats(&self) -> StreamingStats {
        let (tx, rx) = oneshot::channel();
        if self.cmds.send(Cmd::Stats(tx)).is_err() {
            return StreamingStats::default();
        }
        rx.await.unwrap_or_default()
    }

    /// The last watermark seen for a mailbox's folder (when the server sends watermarks).
    pub async fn watermark(&self, mailbox: &SmtpAddress, folder: WatchedFolder) -> Option<Watermark> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::SubscriptionOf(mailbox.normalized(), folder, tx)).ok()?;
        let id = rx.await.ok()??;
        self.shared.watermarks.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned()
    }

    /// Closes every connection and stops. Subscriptions are left to expire on the server.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.cmds.send(Cmd::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared state

struct Shared {
    client: EwsClient,
    cfg: StreamingConfig,
    events: mpsc::UnboundedSender<StreamEvent>,
    /// Weak, so that the supervisor ends when the last [`StreamingManager`] is dropped.
    cmds: mpsc::WeakUnboundedSender<Cmd>,
    watermarks: Mutex<HashMap<SubscriptionId, Watermark>>,
    budgets: Budgets,
    permits: Semaphore,
    open_connections: AtomicUsize,
    subscribe_calls: AtomicU64,
    stream_requests: AtomicU64,
    /// The budget key when not impersonating (the service account); `None`: the anchor's.
    service_budget_key: Option<String>,
}

impl Shared {
    fn emit(&self, e: StreamEvent) {
        let _ = self.events.send(e);
    }

    fn send(&self, c: Cmd) {
        if let Some(tx) = self.cmds.upgrade() {
            let _ = tx.send(c);
        }
    }

    fn budget_key(&self, anchor: &SmtpAddress) -> String {
        self.service_budget_key.clone().unwrap_or_else(|| anchor.normalized())
    }

    /// Subscribes one folder of `mailbox`, routed by `anchor` (and `cookie`); returns the id
    /// and the affinity cookie of the response, if any.
    async fn subscribe(
        &self,
        mailbox: &SmtpAddress,
        folder: WatchedFolder,
        anchor: &SmtpAddress,
        cookie: Option<&str>,
    ) -> Result<(SubscriptionId, Option<String>), EwsError> {
        let _permit = self.permits.acquire().await;
        self.subscribe_calls.fetch_add(1, Ordering::Relaxed);
        let impersonating = self.client.config().impersonation;
        let scope =
            SubscriptionScope::folders(vec![folder.folder_id((!impersonating).then_some(mailbox))], EVENT_TYPES);
        let opts = self.affinity_options(anchor, cookie);
        let (resp, headers) = self.client.call_with_headers(Some(mailbox), Subscribe::streaming(scope), &opts).await?;
        let msg = resp.messages.into_iter().next().ok_or_else(|| {
            EwsError::new(ErrorClass::Transient, ErrorKind::Protocol, "Subscribe answered without a response message")
                .in_context(self.client.name(), "Subscribe", Some(mailbox))
        })?;
        if !msg.status.is_success() {
            let code = msg.status.code();
            let text = msg.status.message_text.clone().unwrap_or_default();
            return Err(EwsError::new(ErrorClass::of_code(&code), ErrorKind::Response, format!("{code}: {text}"))
                .with_code(code)
                .in_context(self.client.name(), "Subscribe", Some(mailbox)));
        }
        let id = msg.subscription_id.ok_or_else(|| {
            EwsError::new(ErrorClass::Transient, ErrorKind::Protocol, "Subscribe succeeded without a SubscriptionId")
                .in_context(self.client.name(), "Subscribe", Some(mailbox))
        })?;
        Ok((id, affinity_cookie(&headers)))
    }

    async fn unsubscribe(&self, mailbox: &SmtpAddress, id: SubscriptionId, anchor: &SmtpAddress, cookie: Option<&str>) {
        let _permit = self.permits.acquire().await;
        let opts = self.affinity_options(anchor, cookie);
        if let Err(e) = self.client.call_with(Some(mailbox), Unsubscribe { subscription_id: id.clone() }, &opts).await {
            tracing::debug!(error = %e, subscription = %id, "Unsubscribe failed (the subscription will expire)");
        }
    }

    fn affinity_options(&self, anchor: &SmtpAddress, cookie: Option<&str>) -> CallOptions {
        let mut opts = CallOptions { anchor_mailbox: Some(anchor.clone()), ..CallOptions::default() };
        if self.cfg.affinity {
            opts.headers.push((HeaderName::from_static("x-preferserveraffinity"), HeaderValue::from_static("true")));
            if let Some(c) = cookie
                && let Ok(v) = HeaderValue::from_str(&format!("X-BackEndOverrideCookie={c}"))
            {
                opts.headers.push((header::COOKIE, v));
            }
        }
        opts
    }
}

/// The value of `X-BackEndOverrideCookie` in `Set-Cookie` (or, as some proxies pass it, in a
/// header of that name).
fn affinity_cookie(headers: &HeaderMap) -> Option<String> {
    for v in headers.get_all(header::SET_COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        let first = s.split(';').next().unwrap_or("");
        if let Some((k, val)) = first.split_once('=')
            && k.trim().eq_ignore_ascii_case("X-BackEndOverrideCookie")
            && !val.trim().is_empty()
        {
            return Some(val.trim().to_string());
        }
    }
    headers
        .get("x-backendoverridecookie")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Counts open connections per budget key, and in all.
struct Budgets {
    state: Mutex<(HashMap<String, usize>, usize)>,
    freed: Notify,
    per_key: usize,
    total: Option<usize>,
}

struct Slot<'a> {
    budgets: &'a Budgets,
    key: String,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut s = self.budgets.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = s.0.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                s.0.remove(&self.key);
            }
        }
        s.1 -= 1;
        drop(s);
        self.budgets.freed.notify_waiters();
    }
}

impl Budgets {
    fn new(per_key: usize, total: Option<usize>) -> Self {
        Budgets { state: Mutex::new((HashMap::new(), 0)), freed: Notify::new(), per_key: per_key.max(1), total }
    }

    fn try_acquire(&self, key: &str) -> Option<Slot<'_>> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let used = s.0.get(key).copied().unwrap_or(0);
        if used >= self.per_key || self.total.is_some_and(|t| s.1 >= t) {
            return None;
        }
        *s.0.entry(key.to_string()).or_default() += 1;
        s.1 += 1;
        Some(Slot { budgets: self, key: key.to_string() })
    }
}

// ---------------------------------------------------------------------------------------------
// The supervisor: owns mailboxes and connections, runs subscriptions.

enum Cmd {
    Add(Vec<MailboxSpec>),
    Remove(Vec<SmtpAddress>),
    Grouped(Vec<(String, Option<String>)>),
    Subscribed(Box<SubscribeReport>),
    Lost { conn: u64, ids: Vec<SubscriptionId>, code: ResponseCode },
    AnchorFailed { conn: u64 },
    Stats(oneshot::Sender<StreamingStats>),
    SubscriptionOf(String, WatchedFolder, oneshot::Sender<Option<SubscriptionId>>),
    Shutdown(oneshot::Sender<()>),
}

struct SubscribeReport {
    conn: u64,
    /// The first Subscribe of a new connection (anchor and cookie decided).
    initial: bool,
    anchor: Option<SmtpAddress>,
    cookie: Option<String>,
    results: Vec<(String, WatchedFolder, Result<SubscriptionId, EwsError>)>,
    /// Resubscriptions after a loss: the Gap to send once the connection streams again.
    gap: Option<GapReason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MbxState {
    Grouping,
    Subscribing,
    Active,
    Retrying,
    Failed,
}

struct MailboxEntry {
    addr: SmtpAddress,
    group: Option<String>,
    conn: Option<u64>,
    subs: BTreeMap<WatchedFolder, SubscriptionId>,
    state: MbxState,
    announced: bool,
    /// Subscribed before, lost, not yet subscribed again: the Gap to send once it is.
    needs_gap: Option<GapReason>,
}

struct ConnEntry {
    group: String,
    anchor: SmtpAddress,
    cookie: Option<String>,
    members: BTreeSet<String>,
    ctl: Option<mpsc::UnboundedSender<ConnCmd>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The first membership change not yet sent to the connection.
    dirty_since: Option<Instant>,
    /// When the gathered changes are sent (see [`StreamingConfig::restream_max_delay`]).
    due: Option<Instant>,
    /// What to report once the connection streams with the membership not yet sent.
    notices: Notices,
    /// The initial Subscribe job has reported.
    ready: bool,
    open: Arc<std::sync::atomic::AtomicBool>,
}

struct Supervisor {
    shared: Arc<Shared>,
    autodiscover: Option<Autodiscover>,
    mailboxes: HashMap<String, MailboxEntry>,
    by_sub: HashMap<SubscriptionId, (String, WatchedFolder)>,
    conns: BTreeMap<u64, ConnEntry>,
    next_conn: u64,
    flush_at: Option<Instant>,
    retries: Vec<(Instant, String)>,
    to_place: Vec<String>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// The group of mailboxes without `GroupingInformation`.
const SERVER_GROUP: &str = "";

impl Supervisor {
    fn new(shared: Arc<Shared>, autodiscover: Option<Autodiscover>) -> Self {
        Supervisor {
            shared,
            autodiscover,
            mailboxes: HashMap::new(),
            by_sub: HashMap::new(),
            conns: BTreeMap::new(),
            next_conn: 1,
            flush_at: None,
            retries: Vec::new(),
            to_place: Vec::new(),
            shutdown: None,
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        loop {
            let retry_at = self.retries.iter().map(|(t, _)| *t).min();
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.handle(cmd);
                    // Take everything queued, so that a burst of adds is placed as one batch.
                    while let Ok(cmd) = rx.try_recv() {
                        self.handle(cmd);
                    }
                    self.place_pending();
                }
                _ = sleep_until_opt(self.flush_at) => self.flush(),
                _ = sleep_until_opt(retry_at) => {
                    self.retry_due();
                    self.place_pending();
                }
            }
            if self.shutdown.is_some() {
                break;
            }
        }
        for c in self.conns.values_mut() {
            if let Some(ctl) = c.ctl.take() {
                let _ = ctl.send(ConnCmd::Stop);
            }
        }
        let tasks: Vec<_> = self.conns.values_mut().filter_map(|c| c.task.take()).collect();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        if let Some(done) = self.shutdown.take() {
            let _ = done.send(());
        }
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Add(list) => self.add(list),
            Cmd::Remove(list) => self.remove(list),
            Cmd::Grouped(list) => {
                for (key, group) in list {
                    if let Some(m) = self.mailboxes.get_mut(&key)
                        && m.state == MbxState::Grouping
                    {
                        m.group = Some(group.unwrap_or_else(|| SERVER_GROUP.to_string()));
                        m.state = MbxState::Subscribing;
                        self.to_place.push(key);
                    }
                }
            }
            Cmd::Subscribed(report) => self.subscribed(*report),
            Cmd::Lost { conn, ids, code } => self.lost(conn, ids, code),
            Cmd::AnchorFailed { conn } => self.reanchor(conn),
            Cmd::Stats(tx) => {
                let _ = tx.send(self.stats());
            }
            Cmd::SubscriptionOf(key, folder, tx) => {
                let _ = tx.send(self.mailboxes.get(&key).and_then(|m| m.subs.get(&folder).cloned()));
            }
            Cmd::Shutdown(tx) => self.shutdown = Some(tx),
        }
    }

    fn add(&mut self, list: Vec<MailboxSpec>) {
        let mut fresh = Vec::new();
        for spec in list {
            let key = spec.smtp.normalized();
            if let Some(m) = self.mailboxes.get(&key)
                && m.state != MbxState::Failed
            {
                continue;
            }
            fresh.push(spec);
        }
        let lookup = self.autodiscover.clone().filter(|_| fresh.iter().any(|s| s.grouping.is_none()));
        for spec in &fresh {
            let (state, group) = match (&spec.grouping, &lookup) {
                (Some(g), None) => (MbxState::Subscribing, Some(g.clone())),
                (None, None) => (MbxState::Subscribing, Some(SERVER_GROUP.to_string())),
                // The whole batch waits for the lookup, so that it is placed (and anchored) together.
                (g, Some(_)) => (MbxState::Grouping, g.clone()),
            };
            let key = spec.smtp.normalized();
            if state == MbxState::Subscribing {
                self.to_place.push(key.clone());
            }
            self.mailboxes.insert(
                key,
                MailboxEntry {
                    addr: spec.smtp.clone(),
                    group,
                    conn: None,
                    subs: BTreeMap::new(),
                    state,
                    announced: false,
                    needs_gap: None,
                },
            );
        }
        if let Some(ad) = lookup {
            let shared = self.shared.clone();
            tokio::spawn(async move {
                let unknown: Vec<SmtpAddress> =
                    fresh.iter().filter(|s| s.grouping.is_none()).map(|s| s.smtp.clone()).collect();
                let results = ad.discover_many(&unknown).await;
                let mut found: HashMap<String, Option<String>> = HashMap::new();
                for (addr, r) in unknown.iter().zip(results) {
                    let g = match r {
                        Ok(s) => s.grouping_information,
                        Err(e) => {
                            tracing::info!(mailbox = %addr, error = %e, "no GroupingInformation; using the server group");
                            None
                        }
                    };
                    found.insert(addr.normalized(), g);
                }
                let grouped = fresh
                    .iter()
                    .map(|s| {
                        let key = s.smtp.normalized();
                        let g = s.grouping.clone().or_else(|| found.get(&key).cloned().flatten());
                        (key, g)
                    })
                    .collect();
                shared.send(Cmd::Grouped(grouped));
            });
        }
    }

    fn remove(&mut self, list: Vec<SmtpAddress>) {
        for addr in list {
            let key = addr.normalized();
            let Some(m) = self.mailboxes.remove(&key) else { continue };
            self.retries.retain(|(_, k)| *k != key);
            let (anchor, cookie) = match m.conn.and_then(|c| self.conns.get(&c)) {
                Some(c) => (c.anchor.clone(), c.cookie.clone()),
                None => (m.addr.clone(), None),
            };
            for id in m.subs.values() {
                self.by_sub.remove(id);
                self.shared.watermarks.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
            }
            if !m.subs.is_empty() {
                let shared = self.shared.clone();
                let ids: Vec<SubscriptionId> = m.subs.into_values().collect();
                let mailbox = m.addr.clone();
                tokio::spawn(async move {
                    for id in ids {
                        shared.unsubscribe(&mailbox, id, &anchor, cookie.as_deref()).await;
                    }
                });
            }
            if let Some(cid) = m.conn {
                self.leave(cid, &key);
            }
        }
    }

    /// Takes `key` out of connection `cid`; stops the connection when it is empty, re-anchors
    /// it when the anchor left, else marks it for a new request.
    fn leave(&mut self, cid: u64, key: &str) {
        let Some(c) = self.conns.get_mut(&cid) else { return };
        c.members.remove(key);
        if c.members.is_empty() {
            if c.ready {
                self.stop_conn(cid);
            }
            return;
        }
        if c.anchor.normalized() == key
            && let Some(first) = c.members.iter().next().and_then(|k| self.mailboxes.get(k))
        {
            // The cookie names the mailbox server, not the anchor: keep it.
            c.anchor = first.addr.clone();
        }
        self.mark_dirty(cid);
    }

    fn stop_conn(&mut self, cid: u64) {
        if let Some(mut c) = self.conns.remove(&cid)
            && let Some(ctl) = c.ctl.take()
        {
            let _ = ctl.send(ConnCmd::Stop);
        }
    }

    /// Schedules the connection's next request with its new membership: after
    /// `restream_delay` without a further change, at most `restream_max_delay` after the first
    /// change not yet sent. A connection whose initial Subscribe has not reported yet is left
    /// alone (its report schedules it).
    fn mark_dirty(&mut self, cid: u64) {
        let cfg = &self.shared.cfg;
        let Some(c) = self.conns.get_mut(&cid).filter(|c| c.ready) else { return };
        let now = Instant::now();
        let since = *c.dirty_since.get_or_insert(now);
        let due = (now + cfg.restream_delay).min(since + cfg.restream_max_delay.max(cfg.restream_delay));
        c.due = Some(due);
        self.flush_at = Some(self.flush_at.map_or(due, |f| f.min(due)));
    }

    /// Sends the new membership to the connections whose gathering time is over.
    fn flush(&mut self) {
        let now = Instant::now();
        let due: Vec<u64> =
            self.conns.iter().filter(|(_, c)| c.due.is_some_and(|d| d <= now)).map(|(id, _)| *id).collect();
        for cid in due {
            self.send_update(cid);
        }
        self.flush_at = self.conns.values().filter_map(|c| c.due).min();
    }

    /// Sends the connection its membership (and the notices that wait for it) now, starting
    /// its task when it has none yet.
    fn send_update(&mut self, cid: u64) {
        let spec = self.spec(cid);
        let Some(c) = self.conns.get_mut(&cid) else { return };
        c.due = None;
        c.dirty_since = None;
        let notices = std::mem::take(&mut c.notices);
        match &c.ctl {
            Some(ctl) => {
                let _ = ctl.send(ConnCmd::Update(spec, notices));
            }
            None => self.start_conn(cid, spec, notices),
        }
    }

    fn spec(&self, cid: u64) -> Arc<ConnSpec> {
        let c = &self.conns[&cid];
        let mut subs = HashMap::new();
        for k in &c.members {
            if let Some(m) = self.mailboxes.get(k)
                && m.state == MbxState::Active
            {
                for (f, id) in &m.subs {
                    subs.insert(id.clone(), (m.addr.clone(), *f));
                }
            }
        }
        Arc::new(ConnSpec { anchor: c.anchor.clone(), cookie: c.cookie.clone(), subs })
    }

    fn retry_due(&mut self) {
        let now = Instant::now();
        let (due, keep): (Vec<_>, Vec<_>) = self.retries.drain(..).partition(|(t, _)| *t <= now);
        self.retries = keep;
        for (_, key) in due {
            if let Some(m) = self.mailboxes.get_mut(&key)
                && m.state == MbxState::Retrying
            {
                m.state = MbxState::Subscribing;
                self.to_place.push(key);
            }
        }
    }

    /// Puts the mailboxes waiting for a connection into connections, and subscribes them.
    fn place_pending(&mut self) {
        if self.to_place.is_empty() {
            return;
        }
        let per_conn = self.shared.cfg.mailboxes_per_connection();
        let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for key in std::mem::take(&mut self.to_place) {
            if let Some(m) = self.mailboxes.get(&key)
                && m.state == MbxState::Subscribing
                && m.conn.is_none()
            {
                by_group.entry(m.group.clone().unwrap_or_default()).or_default().push(key);
            }
        }
        for (group, mut keys) in by_group {
            keys.sort();
            keys.dedup();
            let mut rest = &keys[..];
            // Fill the group's running connections first.
            let with_room: Vec<u64> = self
                .conns
                .iter()
                .filter(|(_, c)| c.group == group && c.ready && c.members.len() < per_conn)
                .map(|(id, _)| *id)
                .collect();
            for cid in with_room {
                if rest.is_empty() {
                    break;
                }
                let room = per_conn - self.conns[&cid].members.len();
                let (take, r) = rest.split_at(room.min(rest.len()));
                rest = r;
                self.join(cid, take);
                let c = &self.conns[&cid];
                self.spawn_subscribe(cid, take.to_vec(), Some((c.anchor.clone(), c.cookie.clone())), None);
            }
            for chunk in rest.chunks(per_conn) {
                let cid = self.next_conn;
                self.next_conn += 1;
                let anchor = self.mailboxes[&chunk[0]].addr.clone();
                self.conns.insert(
                    cid,
                    ConnEntry {
                        group: group.clone(),
                        anchor,
                        cookie: None,
                        members: BTreeSet::new(),
                        ctl: None,
                        task: None,
                        dirty_since: None,
                        due: None,
                        notices: Notices::default(),
                        ready: false,
                        open: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                    },
                );
                self.join(cid, chunk);
                self.spawn_subscribe(cid, chunk.to_vec(), None, None);
            }
        }
    }

    fn join(&mut self, cid: u64, keys: &[String]) {
        for k in keys {
            if let Some(m) = self.mailboxes.get_mut(k) {
                m.conn = Some(cid);
            }
            if let Some(c) = self.conns.get_mut(&cid) {
                c.members.insert(k.clone());
            }
        }
    }

    /// Subscribes the watched folders of `keys` for connection `cid`. Without `affinity`
    /// (a new connection), the first mailbox that subscribes becomes the anchor and its cookie
    /// routes the others.
    fn spawn_subscribe(
        &self,
        cid: u64,
        keys: Vec<String>,
        affinity: Option<(SmtpAddress, Option<String>)>,
        gap: Option<(Vec<WatchedFolder>, GapReason)>,
    ) {
        let shared = self.shared.clone();
        let members: Vec<(String, SmtpAddress)> =
            keys.iter().filter_map(|k| self.mailboxes.get(k).map(|m| (k.clone(), m.addr.clone()))).collect();
        let (folders, gap) = match gap {
            Some((f, g)) => (f, Some(g)),
            None => (shared.cfg.folders(), None),
        };
        tokio::spawn(async move {
            let report = subscribe_job(shared.clone(), cid, members, folders, affinity, gap).await;
            shared.send(Cmd::Subscribed(Box::new(report)));
        });
    }

    fn subscribed(&mut self, report: SubscribeReport) {
        let cid = report.conn;
        let conn_known = self.conns.contains_key(&cid);
        if report.initial
            && let Some(c) = self.conns.get_mut(&cid)
        {
            c.ready = true;
            if let Some(a) = &report.anchor {
                c.anchor = a.clone();
            }
            c.cookie = report.cookie.clone();
        }
        let (anchor, cookie) = match self.conns.get(&cid) {
            Some(c) => (c.anchor.clone(), c.cookie.clone()),
            None => (report.anchor.clone().unwrap_or_else(|| SmtpAddress::parse("unknown@invalid").unwrap()), None),
        };
        let mut gaps: Vec<(SmtpAddress, GapReason)> = Vec::new();
        let mut announce: Vec<SmtpAddress> = Vec::new();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for (key, folder, result) in report.results {
            let Some(m) = self.mailboxes.get_mut(&key).filter(|m| m.conn == Some(cid) && conn_known) else {
                // Removed (or moved) meanwhile: end the new subscription.
                if let Ok(id) = result
                    && let Ok(addr) = SmtpAddress::parse(&key)
                {
                    let (shared, anchor, cookie) = (self.shared.clone(), anchor.clone(), cookie.clone());
                    tokio::spawn(async move { shared.unsubscribe(&addr, id, &anchor, cookie.as_deref()).await });
                }
                continue;
            };
            touched.insert(key.clone());
            match result {
                Ok(id) => {
                    if let Some(old) = m.subs.insert(folder, id.clone()) {
                        self.by_sub.remove(&old);
                    }
                    self.by_sub.insert(id, (key.clone(), folder));
                }
                Err(error) => {
                    let retrying = error.class() == ErrorClass::Transient;
                    m.state = if retrying { MbxState::Retrying } else { MbxState::Failed };
                    if m.announced && m.needs_gap.is_none() {
                        m.needs_gap = report.gap.clone();
                    }
                    self.shared.emit(StreamEvent::SubscribeFailed { mailbox: m.addr.clone(), folder, error, retrying });
                    if retrying {
                        self.retries.push((Instant::now() + self.shared.cfg.resubscribe_retry, key.clone()));
                    }
                }
            }
        }
        let folders = self.shared.cfg.folders();
        let mut leaving = Vec::new();
        for key in &touched {
            let Some(m) = self.mailboxes.get_mut(key) else { continue };
            match m.state {
                MbxState::Subscribing | MbxState::Active if folders.iter().all(|f| m.subs.contains_key(f)) => {
                    m.state = MbxState::Active;
                    if let Some(reason) = report.gap.clone().or_else(|| m.needs_gap.take()) {
                        m.needs_gap = None;
                        gaps.push((m.addr.clone(), reason));
                    }
                    if !m.announced {
                        // Reported by the connection once it streams with this subscription.
                        m.announced = true;
                        announce.push(m.addr.clone());
                    }
                }
                MbxState::Retrying | MbxState::Failed => {
                    // Drop what did subscribe; the retry starts afresh.
                    for id in std::mem::take(&mut m.subs).into_values() {
                        self.by_sub.remove(&id);
                        let (shared, addr, anchor, cookie) =
                            (self.shared.clone(), m.addr.clone(), anchor.clone(), cookie.clone());
                        tokio::spawn(async move { shared.unsubscribe(&addr, id, &anchor, cookie.as_deref()).await });
                    }
                    m.conn = None;
                    leaving.push(key.clone());
                }
                _ => {}
            }
        }
        for key in leaving {
            if let Some(c) = self.conns.get_mut(&cid) {
                c.members.remove(&key);
            }
        }
        let Some(c) = self.conns.get_mut(&cid) else { return };
        if c.members.is_empty() {
            self.stop_conn(cid);
            return;
        }
        if !c.members.iter().any(|k| *k == c.anchor.normalized())
            && let Some(first) = c.members.iter().next().and_then(|k| self.mailboxes.get(k))
        {
            c.anchor = first.addr.clone();
        }
        // One Gap per reason, sent by the connection once it streams with the new ids.
        for (addr, reason) in gaps {
            match c.notices.gaps.iter_mut().find(|(_, r)| *r == reason) {
                Some((list, _)) => list.push(addr),
                None => c.notices.gaps.push((vec![addr], reason)),
            }
        }
        c.notices.announce.extend(announce);
        if report.gap.is_some() {
            // Resubscriptions after a loss: the connection runs without them, do not wait.
            self.send_update(cid);
        } else {
            // New members (or a new connection): gathered with the others arriving now.
            self.mark_dirty(cid);
        }
    }

    fn start_conn(&mut self, cid: u64, spec: Arc<ConnSpec>, notices: Notices) {
        let Some(c) = self.conns.get_mut(&cid) else { return };
        let (tx, rx) = mpsc::unbounded_channel();
        let task = ConnTask {
            shared: self.shared.clone(),
            id: cid,
            group: c.group.clone(),
            spec,
            ctl: rx,
            pending_gaps: notices.gaps,
            pending_announce: notices.announce,
            attempt: 0,
            conn: None,
            phase: None,
            open_flag: c.open.clone(),
            was_open: false,
            docs_ok: 0,
            short_streak: 0,
        };
        c.ctl = Some(tx);
        c.task = Some(tokio::spawn(task.run()));
    }

    /// The server lost these subscriptions: subscribe their folders again (no watermark), then
    /// the connection signals the Gap once it streams again.
    fn lost(&mut self, cid: u64, ids: Vec<SubscriptionId>, code: ResponseCode) {
        let mut per_folder: BTreeMap<WatchedFolder, Vec<String>> = BTreeMap::new();
        for id in ids {
            let Some((key, folder)) = self.by_sub.remove(&id) else { continue };
            self.shared.watermarks.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            if let Some(m) = self.mailboxes.get_mut(&key)
                && m.conn == Some(cid)
            {
                m.subs.remove(&folder);
                per_folder.entry(folder).or_default().push(key);
            }
        }
        let Some(c) = self.conns.get(&cid) else { return };
        let affinity = Some((c.anchor.clone(), c.cookie.clone()));
        for (folder, keys) in per_folder {
            tracing::info!(connection = cid, mailboxes = keys.len(), %folder, code = %code, "subscriptions lost; subscribing again");
            self.spawn_subscribe(
                cid,
                keys,
                affinity.clone(),
                Some((vec![folder], GapReason::SubscriptionLost(code.clone()))),
            );
        }
    }

    /// The anchor cannot be impersonated any more: the next member becomes the anchor.
    fn reanchor(&mut self, cid: u64) {
        let Some(c) = self.conns.get_mut(&cid) else { return };
        let old = c.anchor.normalized();
        let next = c.members.iter().find(|k| **k > old).or_else(|| c.members.iter().next()).cloned();
        if let Some(k) = next
            && let Some(m) = self.mailboxes.get(&k)
        {
            c.anchor = m.addr.clone();
            self.send_update(cid);
        }
    }

    fn stats(&self) -> StreamingStats {
        let mut s = StreamingStats { mailboxes: self.mailboxes.len(), ..StreamingStats::default() };
        for m in self.mailboxes.values() {
            match m.state {
                MbxState::Active => s.subscribed += 1,
                MbxState::Failed => s.failed += 1,
                _ => s.pending += 1,
            }
        }
        for (id, c) in &self.conns {
            let subscriptions = c.members.iter().filter_map(|k| self.mailboxes.get(k)).map(|m| m.subs.len()).sum();
            s.connections.push(ConnectionInfo {
                id: *id,
                group: c.group.clone(),
                anchor: c.anchor.clone(),
                mailboxes: c.members.len(),
                subscriptions,
                open: c.open.load(Ordering::Relaxed),
            });
        }
        s.open_connections = self.shared.open_connections.load(Ordering::Relaxed);
        s.subscribe_calls = self.shared.subscribe_calls.load(Ordering::Relaxed);
        s.stream_requests = self.shared.stream_requests.load(Ordering::Relaxed);
        s
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Subscribes `members` (their `folders`). Without `affinity`, the members are tried in order
/// as the anchor until one subscribes; its cookie then routes the others.
async fn subscribe_job(
    shared: Arc<Shared>,
    conn: u64,
    members: Vec<(String, SmtpAddress)>,
    folders: Vec<WatchedFolder>,
    affinity: Option<(SmtpAddress, Option<String>)>,
    gap: Option<GapReason>,
) -> SubscribeReport {
    let initial = affinity.is_none();
    let mut results = Vec::new();
    let mut rest: &[(String, SmtpAddress)] = &members;
    let (anchor, cookie) = match affinity {
        Some(a) => (Some(a.0), a.1),
        None => {
            let mut found = None;
            while let Some(((key, addr), r)) = rest.split_first() {
                rest = r;
                let mut cookie = None;
                let mut ok = true;
                let mut transient = false;
                for f in &folders {
                    let res = shared.subscribe(addr, *f, addr, cookie.as_deref()).await;
                    match res {
                        Ok((id, c)) => {
                            if cookie.is_none() {
                                cookie = c;
                            }
                            results.push((key.clone(), *f, Ok(id)));
                        }
                        Err(e) => {
                            ok = false;
                            transient = e.is_transient();
                            results.push((key.clone(), *f, Err(e)));
                        }
                    }
                }
                if ok {
                    found = Some((addr.clone(), cookie));
                    break;
                }
                if transient {
                    // The server is in trouble: do not burn through every member; retry later.
                    for (k, a) in rest {
                        for f in &folders {
                            results.push((
                                k.clone(),
                                *f,
                                Err(EwsError::new(
                                    ErrorClass::Transient,
                                    ErrorKind::Throttled,
                                    "not tried: the connection's anchor could not be subscribed (transient error)",
                                )
                                .in_context(shared.client.name(), "Subscribe", Some(a))),
                            ));
                        }
                    }
                    rest = &[];
                }
            }
            match found {
                Some((a, c)) => (Some(a), c),
                None => (None, None),
            }
        }
    };
    if let Some(anchor) = &anchor {
        let mut set = tokio::task::JoinSet::new();
        for (key, addr) in rest {
            for f in folders.clone() {
                let (shared, anchor, cookie, key, addr) =
                    (shared.clone(), anchor.clone(), cookie.clone(), key.clone(), addr.clone());
                set.spawn(async move {
                    let r = shared.subscribe(&addr, f, &anchor, cookie.as_deref()).await.map(|(id, _)| id);
                    (key, f, r)
                });
            }
        }
        while let Some(r) = set.join_next().await {
            if let Ok(v) = r {
                results.push(v);
            }
        }
    }
    SubscribeReport { conn, initial, anchor, cookie, results, gap }
}

// ---------------------------------------------------------------------------------------------
// One connection

/// What a connection carries.
#[derive(Debug)]
struct ConnSpec {
    anchor: SmtpAddress,
    cookie: Option<String>,
    subs: HashMap<SubscriptionId, (SmtpAddress, WatchedFolder)>,
}

/// What a connection reports once it streams with the membership it comes with.
#[derive(Debug, Default)]
struct Notices {
    /// Gaps, per reason (mailboxes that are not members then are left out).
    gaps: Vec<(Vec<SmtpAddress>, GapReason)>,
    /// Mailboxes subscribed for the first time: [`StreamEvent::Subscribed`].
    announce: Vec<SmtpAddress>,
}

enum ConnCmd {
    /// The new membership, with what to report once it streams.
    Update(Arc<ConnSpec>, Notices),
    Stop,
}

/// How one request ended.
enum Outcome {
    /// `ConnectionStatus Closed`: send the next request at once.
    Closed,
    /// Ids dropped after an error: send the next request at once.
    Restart,
    /// New membership from the supervisor: send the next request at once.
    Updated,
    Stop,
    /// Reconnect after a back-off; `gap` for every mailbox of the connection.
    Retry {
        gap: Option<GapReason>,
        detail: String,
        at_least: Option<Duration>,
        fatal: bool,
    },
}

struct ConnTask {
    shared: Arc<Shared>,
    id: u64,
    group: String,
    spec: Arc<ConnSpec>,
    ctl: mpsc::UnboundedReceiver<ConnCmd>,
    pending_gaps: Vec<(Vec<SmtpAddress>, GapReason)>,
    /// Mailboxes to report [`StreamEvent::Subscribed`] for once a stream carrying them opens.
    pending_announce: Vec<SmtpAddress>,
    attempt: u32,
    conn: Option<Conn>,
    phase: Option<ConnectionPhase>,
    open_flag: Arc<std::sync::atomic::AtomicBool>,
    was_open: bool,
    /// Successful documents of the current request.
    docs_ok: u32,
    /// Requests in a row that ended (Closed, or an error asking for a new request) after at
    /// most one document: a server doing that is not hammered, the requests back off.
    short_streak: u32,
}

impl ConnTask {
    fn set_phase(&mut self, phase: ConnectionPhase) {
        let was_open = self.phase == Some(ConnectionPhase::Open);
        let is_open = phase == ConnectionPhase::Open;
        if was_open != is_open {
            if is_open {
                self.shared.open_connections.fetch_add(1, Ordering::Relaxed);
            } else {
                self.shared.open_connections.fetch_sub(1, Ordering::Relaxed);
            }
            self.open_flag.store(is_open, Ordering::Relaxed);
        }
        if self.phase.as_ref() == Some(&phase) {
            return;
        }
        self.phase = Some(phase.clone());
        self.shared.emit(StreamEvent::ConnectionState {
            connection: self.id,
            anchor: self.spec.anchor.clone(),
            group: self.group.clone(),
            mailboxes: self.mailboxes().len(),
            state: phase,
        });
    }

    fn mailboxes(&self) -> Vec<SmtpAddress> {
        let mut v: Vec<SmtpAddress> = self.spec.subs.values().map(|(m, _)| m.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    fn on_cmd(&mut self, cmd: Option<ConnCmd>) -> Option<Outcome> {
        match cmd {
            None | Some(ConnCmd::Stop) => Some(Outcome::Stop),
            Some(ConnCmd::Update(spec, notices)) => {
                let same = spec.anchor == self.spec.anchor
                    && spec.cookie == self.spec.cookie
                    && spec.subs.len() == self.spec.subs.len()
                    && spec.subs.keys().all(|id| self.spec.subs.contains_key(id));
                self.spec = spec;
                self.pending_gaps.extend(notices.gaps);
                self.pending_announce.extend(notices.announce);
                // Mailboxes that left before their stream opened are not announced.
                let members: std::collections::HashSet<&SmtpAddress> =
                    self.spec.subs.values().map(|(m, _)| m).collect();
                self.pending_announce.retain(|m| members.contains(m));
                if !same {
                    return Some(Outcome::Updated);
                }
                // The request under way carries exactly these subscriptions: it goes on.
                if self.phase == Some(ConnectionPhase::Open) {
                    self.emit_notices();
                }
                None
            }
        }
    }

    async fn run(mut self) {
        loop {
            if self.spec.subs.is_empty() {
                let cmd = self.ctl.recv().await;
                if let Some(Outcome::Stop) = self.on_cmd(cmd) {
                    break;
                }
                continue;
            }
            let key = self.shared.budget_key(&self.spec.anchor);
            let shared = self.shared.clone();
            let slot = loop {
                let freed = shared.budgets.freed.notified();
                tokio::pin!(freed);
                freed.as_mut().enable();
                if let Some(s) = shared.budgets.try_acquire(&key) {
                    break Some(s);
                }
                self.set_phase(ConnectionPhase::WaitingForSlot);
                tokio::select! {
                    _ = freed => {}
                    cmd = self.ctl.recv() => {
                        if let Some(Outcome::Stop) = self.on_cmd(cmd) {
                            break None;
                        }
                    }
                }
            };
            let Some(slot) = slot else { break };
            self.docs_ok = 0;
            let mut outcome = self.stream_once().await;
            drop(slot);
            if matches!(outcome, Outcome::Closed | Outcome::Restart) {
                if self.docs_ok >= 2 {
                    self.short_streak = 0;
                } else {
                    self.short_streak += 1;
                    if self.short_streak > 3 {
                        outcome = Outcome::Retry {
                            gap: None,
                            detail: format!("{} requests in a row ended at once", self.short_streak),
                            at_least: None,
                            fatal: false,
                        };
                    }
                }
            }
            match outcome {
                Outcome::Closed | Outcome::Restart | Outcome::Updated => {}
                Outcome::Stop => break,
                Outcome::Retry { gap, detail, at_least, fatal } => {
                    self.conn = None;
                    if let Some(g) = gap {
                        let all = self.mailboxes();
                        self.pending_gaps.push((all, g));
                    }
                    self.attempt = self.attempt.saturating_add(1);
                    let mut delay = if fatal { self.shared.cfg.reconnect_max } else { self.backoff() };
                    if let Some(min) = at_least {
                        delay = delay.max(min);
                    }
                    tracing::info!(connection = self.id, attempt = self.attempt, ?delay, reason = %detail, "streaming connection: reconnecting");
                    self.set_phase(ConnectionPhase::Reconnecting { delay, reason: detail });
                    let until = Instant::now() + delay;
                    let mut stop = false;
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep_until(until) => break,
                            cmd = self.ctl.recv() => {
                                if let Some(Outcome::Stop) = self.on_cmd(cmd) {
                                    stop = true;
                                    break;
                                }
                            }
                        }
                    }
                    if stop {
                        break;
                    }
                }
            }
        }
        self.set_phase(ConnectionPhase::Stopped);
    }

    /// `reconnect_base · 2^(attempt-1)`, at most `reconnect_max`, half of it random.
    fn backoff(&self) -> Duration {
        let cfg = &self.shared.cfg;
        let exp = cfg.reconnect_base.saturating_mul(1u32 << self.attempt.saturating_sub(1).min(16));
        let cap = exp.min(cfg.reconnect_max);
        cap / 2 + (cap / 2).mul_f64(crate::throttle::jitter())
    }

    /// One `GetStreamingEvents` request and its stream.
    async fn stream_once(&mut self) -> Outcome {
        let shared = self.shared.clone();
        let client = &shared.client;
        let cfg = &shared.cfg;
        let transport = client.transport();
        let mut conn = match self.conn.take().filter(|c| !c.sender.is_closed()) {
            Some(c) => c,
            None => match transport.open().await {
                Ok(c) => c,
                Err(e) => return retry_for(&e, self.ever_open()),
            },
        };
        let ids: Vec<SubscriptionId> = {
            let mut v: Vec<_> = self.spec.subs.keys().cloned().collect();
            v.sort();
            v
        };
        let request = GetStreamingEvents {
            subscription_ids: ids,
            connection_timeout: cfg.connection_timeout_minutes.clamp(1, 30) as i32,
        };
        let anchor = self.spec.anchor.clone();
        let opts = shared.affinity_options(&anchor, self.spec.cookie.as_deref());
        let (mut headers, body) = client.prepare("GetStreamingEvents", Some(&anchor), request.into(), &opts);
        // Read as it comes: no compression.
        headers.remove(header::ACCEPT_ENCODING);
        shared.stream_requests.fetch_add(1, Ordering::Relaxed);
        let head = tokio::time::timeout(
            client.config().timeouts.request,
            transport.signer().send(
                &mut conn,
                transport.target(),
                &Method::POST,
                &headers,
                &body,
                transport.connector(),
            ),
        )
        .await;
        let resp = match head {
            Err(_) => {
                return Outcome::Retry {
                    gap: self
                        .ever_open()
                        .then(|| GapReason::ConnectionDropped("no answer to GetStreamingEvents".into())),
                    detail: format!("no answer within {:?}", client.config().timeouts.request),
                    at_least: None,
                    fatal: false,
                };
            }
            Ok(Err(f)) => {
                return retry_for(
                    &f.err.in_context(client.name(), "GetStreamingEvents", Some(&anchor)),
                    self.ever_open(),
                );
            }
            Ok(Ok(r)) => r,
        };
        if resp.status() != StatusCode::OK {
            let url = transport.target().url.clone();
            let whole = match read_whole(resp, client.config().max_response_bytes, &url).await {
                Ok(w) => w,
                Err(f) => return retry_for(&f.err, self.ever_open()),
            };
            return match client.interpret(whole) {
                Err(e) => self.on_error(e.in_context(client.name(), "GetStreamingEvents", Some(&anchor))),
                Ok((_, _, root)) => match Envelope::from_element(&root) {
                    Ok(env) => match self.on_document(env) {
                        Some(o) => o,
                        None => Outcome::Closed,
                    },
                    Err(e) => Outcome::Retry {
                        gap: self.ever_open().then(|| GapReason::ConnectionDropped(e.to_string())),
                        detail: e.to_string(),
                        at_least: None,
                        fatal: false,
                    },
                },
            };
        }
        let gzip = resp
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("gzip"));
        let mut decoder = gzip.then(|| flate2::write::MultiGzDecoder::new(Vec::new()));
        let mut body = resp.into_body();
        let mut splitter = EnvelopeSplitter::new();
        let watchdog = cfg.watchdog();
        let mut saw_closed = false;
        let mut pending: Option<Outcome> = None;
        loop {
            let frame = tokio::select! {
                biased;
                cmd = self.ctl.recv() => {
                    let before = self.spec.clone();
                    match self.on_cmd(cmd) {
                        // The unfinished response makes the connection unusable: it is dropped.
                        Some(o) => {
                            if matches!(o, Outcome::Updated) && self.docs_ok > 0 {
                                self.gap_for_replaced_stream(&before);
                            }
                            return o;
                        }
                        None => continue,
                    }
                }
                f = tokio::time::timeout(watchdog, body.frame()) => f,
            };
            let data = match frame {
                Err(_) => {
                    tracing::warn!(
                        connection = self.id,
                        ?watchdog,
                        "no byte from the streaming connection: it is dead"
                    );
                    return Outcome::Retry {
                        gap: Some(GapReason::HeartbeatTimeout(watchdog)),
                        detail: format!("watchdog: nothing received for {watchdog:?}"),
                        at_least: None,
                        fatal: false,
                    };
                }
                Ok(None) => {
                    if let Some(o) = pending {
                        if !conn.sender.is_closed() {
                            self.conn = Some(conn);
                        }
                        return o;
                    }
                    if saw_closed {
                        if !conn.sender.is_closed() {
                            self.conn = Some(conn);
                        }
                        return Outcome::Closed;
                    }
                    return Outcome::Retry {
                        gap: Some(GapReason::ConnectionDropped(
                            "the response ended without ConnectionStatus Closed".into(),
                        )),
                        detail: "the server ended the stream without ConnectionStatus Closed".into(),
                        at_least: None,
                        fatal: false,
                    };
                }
                Ok(Some(Err(e))) => {
                    let detail = crate::transport::error_chain(&e);
                    return Outcome::Retry {
                        gap: Some(GapReason::ConnectionDropped(detail.clone())),
                        detail: format!("the streaming connection broke: {detail}"),
                        at_least: None,
                        fatal: false,
                    };
                }
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(d) => d,
                    Err(_) => continue,
                },
            };
            let plain: Bytes = match decoder.as_mut() {
                None => data,
                Some(d) => {
                    use std::io::Write;
                    if let Err(e) = d.write_all(&data).and_then(|_| d.flush()) {
                        return protocol_retry(format!("cannot decode the gzip stream: {e}"));
                    }
                    Bytes::from(std::mem::take(d.get_mut()))
                }
            };
            let docs = match splitter.push(&plain) {
                Ok(d) => d,
                Err(e) => return protocol_retry(format!("unreadable stream: {e}")),
            };
            for doc in docs {
                let env = match Envelope::parse(&doc) {
                    Ok(env) => env,
                    Err(e) => return protocol_retry(format!("unreadable notification document: {e}")),
                };
                if let Body::GetStreamingEventsResponse(r) = &env.body
                    && r.is_closed()
                {
                    saw_closed = true;
                }
                if let Some(o) = self.on_document(env) {
                    match o {
                        // Wait for the end of the response (after `Closed`) so that the
                        // connection can be reused.
                        Outcome::Restart | Outcome::Updated | Outcome::Closed if saw_closed => pending = Some(o),
                        o => return o,
                    }
                }
            }
        }
    }

    /// Whether the connection streamed before (then a failure to reconnect means a Gap).
    fn ever_open(&self) -> bool {
        self.was_open
    }

    /// Handles one document of the stream; `Some` ends the request.
    /// A live stream is being replaced (new membership): the server may already have taken
    /// notifications off its queues and written them into the response that is dropped now.
    /// The mailboxes that stay on the connection get a Gap (sent once the new request
    /// streams), so that their owner resynchronises and nothing is lost; mailboxes new to the
    /// connection cannot have lost anything on it.
    fn gap_for_replaced_stream(&mut self, before: &ConnSpec) {
        let mut stayed: Vec<SmtpAddress> = before
            .subs
            .iter()
            .filter(|(id, _)| self.spec.subs.contains_key(*id))
            .map(|(_, (mailbox, _))| mailbox.clone())
            .collect();
        stayed.sort_by_key(|a| a.normalized());
        stayed.dedup_by(|a, b| a.normalized() == b.normalized());
        if !stayed.is_empty() {
            let reason = "the stream was replaced by one with other subscriptions; notifications in flight may be lost";
            self.pending_gaps.push((stayed, GapReason::ConnectionDropped(reason.into())));
        }
    }

    fn on_document(&mut self, env: Envelope) -> Option<Outcome> {
        let resp = match env.body {
            Body::GetStreamingEventsResponse(r) => r,
            Body::Fault(_) => {
                // Classify with the client's own rules (and honour a back-off).
                let whole = HttpResponse {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    headers: HeaderMap::new(),
                    body: Bytes::from(env.to_xml_string()),
                };
                let anchor = self.spec.anchor.clone();
                return match self.shared.client.interpret(whole) {
                    Err(e) => Some(self.on_error(e.in_context(
                        self.shared.client.name(),
                        "GetStreamingEvents",
                        Some(&anchor),
                    ))),
                    Ok(_) => Some(protocol_retry("unexpected answer".into())),
                };
            }
            other => {
                return Some(protocol_retry(format!("GetStreamingEvents answered with {}", other.element_name())));
            }
        };
        let mut outcome = None;
        for msg in resp.messages {
            if !msg.status.is_success() {
                if let Some(o) = self.on_stream_error(&msg) {
                    outcome = Some(o);
                }
                continue;
            }
            if msg.connection_status != Some(ews_proto::ops::ConnectionStatus::Closed) {
                self.docs_ok += 1;
            }
            self.opened();
            for n in &msg.notifications {
                let Some((mailbox, folder)) = self.spec.subs.get(&n.subscription_id).cloned() else {
                    tracing::debug!(subscription = %n.subscription_id, "notification for an unknown subscription");
                    continue;
                };
                for ev in &n.events {
                    if let Some(w) = ev.watermark() {
                        self.shared
                            .watermarks
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(n.subscription_id.clone(), w.clone());
                    }
                    let (Some(t), Some(change)) = (ev.event_type(), ev.change()) else { continue };
                    let old_item_id = match ev {
                        ews_proto::ops::Event::Moved(m) | ews_proto::ops::Event::Copied(m) => match &m.old_object {
                            ChangedObject::Item(id) => Some(id.clone()),
                            ChangedObject::Folder(_) => None,
                        },
                        _ => None,
                    };
                    self.shared.emit(StreamEvent::Changed {
                        mailbox: mailbox.clone(),
                        folder,
                        kind: ChangeKind::of(t),
                        item_id: change.object.item_id().cloned(),
                        old_item_id,
                        watermark: change.watermark.clone(),
                    });
                }
            }
        }
        outcome
    }

    /// The stream works: signal the Gaps held for this moment.
    fn opened(&mut self) {
        // A stream that delivers more than its first document is healthy: back-off starts over.
        if self.docs_ok >= 2 {
            self.attempt = 0;
        }
        self.was_open = true;
        self.set_phase(ConnectionPhase::Open);
        self.emit_notices();
    }

    /// Reports the Subscribed and Gaps held for a stream carrying their mailboxes (this one).
    fn emit_notices(&mut self) {
        if self.pending_gaps.is_empty() && self.pending_announce.is_empty() {
            return;
        }
        let members: std::collections::HashSet<SmtpAddress> = self.spec.subs.values().map(|(m, _)| m.clone()).collect();
        // First the Subscribed (its owner syncs once), then the Gaps.
        for mailbox in std::mem::take(&mut self.pending_announce) {
            if members.contains(&mailbox) {
                self.shared.emit(StreamEvent::Subscribed { mailbox });
            } else {
                self.pending_announce.push(mailbox);
            }
        }
        for (mailboxes, reason) in std::mem::take(&mut self.pending_gaps) {
            let mut mailboxes: Vec<SmtpAddress> = mailboxes.into_iter().filter(|m| members.contains(m)).collect();
            mailboxes.sort();
            mailboxes.dedup();
            if !mailboxes.is_empty() {
                self.shared.emit(StreamEvent::Gap { mailboxes, reason });
            }
        }
    }

    fn on_stream_error(&mut self, msg: &GetStreamingEventsResponseMessage) -> Option<Outcome> {
        let code = msg.status.code();
        let named: Vec<SubscriptionId> = if msg.error_subscription_ids.is_empty() {
            self.spec.subs.keys().cloned().collect()
        } else {
            msg.error_subscription_ids.clone()
        };
        let text = msg.status.message_text.clone().unwrap_or_default();
        match code {
            ResponseCode::ErrorSubscriptionNotFound
            | ResponseCode::ErrorExpiredSubscription
            | ResponseCode::ErrorInvalidSubscription
            | ResponseCode::ErrorReadEventsFailed
            | ResponseCode::ErrorProxyRequestNotAllowed => {
                tracing::info!(connection = self.id, %code, subscriptions = named.len(), "subscriptions lost");
                self.shared.send(Cmd::Lost { conn: self.id, ids: named.clone(), code });
                // Go on with the others; the supervisor sends the new ids.
                let mut spec = ConnSpec {
                    anchor: self.spec.anchor.clone(),
                    cookie: self.spec.cookie.clone(),
                    subs: self.spec.subs.clone(),
                };
                for id in &named {
                    spec.subs.remove(id);
                }
                self.spec = Arc::new(spec);
                Some(Outcome::Restart)
            }
            ResponseCode::ErrorMissedNotificationEvents => {
                let mailboxes: Vec<SmtpAddress> =
                    named.iter().filter_map(|id| self.spec.subs.get(id).map(|(m, _)| m.clone())).collect();
                self.pending_gaps.push((mailboxes, GapReason::MissedEvents));
                // Reissue at once; the Gap goes out when the new stream starts.
                Some(Outcome::Restart)
            }
            ResponseCode::ErrorExceededConnectionCount => {
                self.shared.client.throttle().shrink();
                Some(Outcome::Retry {
                    gap: None,
                    detail: format!("{code}: {text} (hanging-connection limit of the anchor's budget)"),
                    at_least: Some(self.shared.cfg.reconnect_base.max(Duration::from_secs(5))),
                    fatal: false,
                })
            }
            ResponseCode::ErrorImpersonateUserDenied | ResponseCode::ErrorNonExistentMailbox => {
                self.shared.send(Cmd::AnchorFailed { conn: self.id });
                Some(Outcome::Retry {
                    gap: None,
                    detail: format!("anchor {}: {code}", self.spec.anchor),
                    at_least: None,
                    fatal: false,
                })
            }
            _ => Some(Outcome::Retry {
                gap: Some(GapReason::ConnectionDropped(format!("{code}: {text}"))),
                detail: format!("{code}: {text}"),
                at_least: msg.status.back_off(),
                fatal: false,
            }),
        }
    }

    fn on_error(&mut self, e: EwsError) -> Outcome {
        match e.response_code() {
            Some(ResponseCode::ErrorImpersonateUserDenied | ResponseCode::ErrorNonExistentMailbox) => {
                self.shared.send(Cmd::AnchorFailed { conn: self.id });
                Outcome::Retry { gap: None, detail: e.to_string(), at_least: None, fatal: false }
            }
            Some(
                ResponseCode::ErrorSubscriptionNotFound
                | ResponseCode::ErrorInvalidSubscription
                | ResponseCode::ErrorExpiredSubscription,
            ) => {
                let code = e.response_code().cloned().unwrap_or(ResponseCode::ErrorSubscriptionNotFound);
                let named: Vec<SubscriptionId> = self.spec.subs.keys().cloned().collect();
                self.shared.send(Cmd::Lost { conn: self.id, ids: named, code });
                self.spec = Arc::new(ConnSpec {
                    anchor: self.spec.anchor.clone(),
                    cookie: self.spec.cookie.clone(),
                    subs: HashMap::new(),
                });
                Outcome::Restart
            }
            _ => retry_for(&e, self.ever_open()),
        }
    }
}

fn protocol_retry(detail: String) -> Outcome {
    Outcome::Retry { gap: Some(GapReason::ConnectionDropped(detail.clone())), detail, at_least: None, fatal: false }
}

fn retry_for(e: &EwsError, was_open: bool) -> Outcome {
    Outcome::Retry {
        gap: was_open.then(|| GapReason::ConnectionDropped(e.message().to_string())),
        detail: e.to_string(),
        at_least: e.retry_after(),
        fatal: e.class() == ErrorClass::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_read_from_set_cookie() {
        let mut h = HeaderMap::new();
        h.append(header::SET_COOKIE, HeaderValue::from_static("exchangecookie=abc; path=/"));
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static(
                "X-BackEndOverrideCookie=CO1PR06MB222.namprd06.prod.outlook.com~1941996295; path=/",
            ),
        );
        assert_eq!(affinity_cookie(&h).as_deref(), Some("CO1PR06MB222.namprd06.prod.outlook.com~1941996295"));
        let mut h = HeaderMap::new();
        h.insert("x-backendoverridecookie", HeaderValue::from_static("srv~1"));
        assert_eq!(affinity_cookie(&h).as_deref(), Some("srv~1"));
        assert_eq!(affinity_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn budgets_cap_per_key_and_in_all() {
        let b = Budgets::new(2, Some(3));
        let a1 = b.try_acquire("a").unwrap();
        let _a2 = b.try_acquire("a").unwrap();
        assert!(b.try_acquire("a").is_none(), "two per key");
        let _b1 = b.try_acquire("b").unwrap();
        assert!(b.try_acquire("c").is_none(), "three in all");
        drop(a1);
        assert!(b.try_acquire("c").is_some());
        let unlimited = Budgets::new(1, None);
        let held: Vec<_> = (0..100).map(|i| unlimited.try_acquire(&format!("anchor{i}")).unwrap()).collect();
        assert_eq!(held.len(), 100, "one per anchor, no overall cap");
    }

    #[test]
    fn capacity_counts_folders() {
        let mut cfg = StreamingConfig::default();
        assert_eq!(cfg.mailboxes_per_connection(), 200);
        cfg.tasks = true;
        assert_eq!(cfg.mailboxes_per_connection(), 100);
        cfg.subscriptions_per_connection = 1000;
        assert_eq!(cfg.mailboxes_per_connection(), 100, "never above Exchange's 200");
        assert_eq!(cfg.watchdog(), Duration::from_secs(90));
    }
}
