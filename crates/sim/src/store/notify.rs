//! Notifications: events and subscriptions.
//!
//! Every change to an item publishes one [`Event`] with the mailbox's next watermark (a
//! sequence number per mailbox, so events of a mailbox are totally ordered). The mailbox hands
//! it, while still holding its write lock, to each of its subscriptions that wants it: the
//! event is appended to the subscription's own queue and the subscription's waker(s) are
//! notified, so a waiting streaming connection runs within microseconds of the change.
//!
//! * Streaming (`GetStreamingEvents`): the connection attaches a waker ([`Subscription::attach`],
//!   one `tokio::sync::Notify` for up to 200 subscriptions), then loops: [`Subscription::take`]
//!   from each, send, wait on the waker (or the heartbeat timer). `Notify` keeps a permit, so
//!   an event arriving between `take` and the wait is not missed.
//! * Pull (`GetEvents`): [`Subscription::get_events`] acknowledges everything up to the
//!   watermark the client sends and returns what follows, without removing it until the next
//!   call acknowledges it (a lost response can be retried with the same watermark).
//!
//! A subscription expires when it is not used for its timeout ([`Subscription::touch`] on every
//! use, and while a connection holds it), when [`Subscription::expire`] is called (the
//! `expire_subscriptions` fault), or when unsubscribed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ews_proto::{FolderIdValue, ItemIdValue, SubscriptionId, Watermark};
use jiff::Timestamp;
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::StoreError;
use super::folder::FolderKind;
use super::ids::{decode_watermark, encode_watermark};
use super::item::Identity;

/// Events queued per subscription before the oldest are dropped (and
/// [`Subscription::missed_events`] is set; EWS `ErrorMissedNotificationEvents`).
pub const MAX_QUEUED_EVENTS: usize = 10_000;

/// The EWS notification event types (`t:NotificationEventTypeType`). The store raises
/// `Created`, `Modified` and `Deleted`; the others exist so requests can name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Copied,
    Created,
    Deleted,
    Modified,
    Moved,
    NewMail,
    FreeBusyChanged,
}

/// One change, as a subscription sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub watermark: Watermark,
    pub time_stamp: Timestamp,
    /// The item (notifications carry no change key).
    pub item_id: ItemIdValue,
    pub parent_folder_id: FolderIdValue,
    pub folder: FolderKind,
    pub(crate) seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionKind {
    Streaming,
    Pull,
}

/// What to subscribe to.
#[derive(Debug, Clone)]
pub struct SubscriptionSpec {
    pub kind: SubscriptionKind,
    /// `None`: every folder (`SubscribeToAllFolders`).
    pub folders: Option<Vec<FolderKind>>,
    /// Empty: every kind.
    pub event_kinds: Vec<EventKind>,
    /// Unused for this long, the subscription expires (pull: the request's `Timeout` minutes;
    /// streaming: how long Exchange keeps a subscription without a connection).
    pub timeout: Duration,
}

impl SubscriptionSpec {
    /// A streaming subscription to the calendar for Created/Modified/Deleted, 30 minutes.
    pub fn streaming_calendar() -> Self {
        SubscriptionSpec {
            kind: SubscriptionKind::Streaming,
            folders: Some(vec![FolderKind::Calendar]),
            event_kinds: vec![EventKind::Created, EventKind::Modified, EventKind::Deleted],
            timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// Events returned by [`Subscription::get_events`].
#[derive(Debug, Clone, PartialEq)]
pub struct EventBatch {
    /// The watermark the events follow.
    pub previous_watermark: Watermark,
    pub events: Vec<Event>,
    /// More events are queued than were returned.
    pub more: bool,
}

#[derive(Debug)]
struct Queue {
    events: VecDeque<Event>,
    /// Sequence of the last event acknowledged (pull) or taken (streaming).
    acked: u64,
    last_used: Instant,
    missed: bool,
}

/// A subscription to one mailbox.
#[derive(Debug)]
pub struct Subscription {
    id: SubscriptionId,
    mailbox: Arc<Identity>,
    spec: SubscriptionSpec,
    queue: Mutex<Queue>,
    notify: Notify,
    wakers: Mutex<Vec<Arc<Notify>>>,
    expired: AtomicBool,
    /// The mailbox's current watermark (shared with the mailbox).
    mailbox_seq: Arc<AtomicU64>,
    wm_key: u64,
}

impl Subscription {
    pub(crate) fn new(
        id: SubscriptionId,
        mailbox: Arc<Identity>,
        spec: SubscriptionSpec,
        mailbox_seq: Arc<AtomicU64>,
        wm_key: u64,
    ) -> Self {
        let acked = mailbox_seq.load(Ordering::SeqCst);
        Subscription {
            id,
            mailbox,
            spec,
            queue: Mutex::new(Queue { events: VecDeque::new(), acked, last_used: Instant::now(), missed: false }),
            notify: Notify::new(),
            wakers: Mutex::new(Vec::new()),
            expired: AtomicBool::new(false),
            mailbox_seq,
            wm_key,
        }
    }

    pub fn id(&self) -> &SubscriptionId {
        &self.id
    }

    /// The mailbox's primary SMTP address.
    pub fn mailbox(&self) -> &ews_proto::SmtpAddress {
        &self.mailbox.smtp
    }

    pub fn mailbox_number(&self) -> u32 {
        self.mailbox.number
    }

    pub fn spec(&self) -> &SubscriptionSpec {
        &self.spec
    }

    pub fn kind(&self) -> SubscriptionKind {
        self.spec.kind
    }

    /// The watermark of the last event taken or acknowledged (a new subscription: the
    /// mailbox's watermark when it was made).
    pub fn watermark(&self) -> Watermark {
        Watermark(encode_watermark(self.wm_key, self.mailbox.number, self.queue.lock().acked))
    }

    /// Whether it has expired (timed out, expired by a fault, or unsubscribed).
    pub fn is_expired(&self) -> bool {
        self.expired.load(Ordering::SeqCst) || self.queue.lock().last_used.elapsed() > self.spec.timeout
    }

    /// Marks it expired and wakes its waiters (so a stream can report it).
    pub fn expire(&self) {
        self.expired.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Resets the expiry timer (every use; a streaming connection while it holds it).
    pub fn touch(&self) {
        self.queue.lock().last_used = Instant::now();
    }

    /// Number of queued events.
    pub fn pending(&self) -> usize {
        self.queue.lock().events.len()
    }

    /// Whether events were dropped because the queue overflowed.
    pub fn missed_events(&self) -> bool {
        self.queue.lock().missed
    }

    /// Removes and returns up to `max` queued events (streaming).
    pub fn take(&self, max: usize) -> Vec<Event> {
        let mut q = self.queue.lock();
        q.last_used = Instant::now();
        let n = max.min(q.events.len());
        let out: Vec<Event> = q.events.drain(..n).collect();
        if let Some(last) = out.last() {
            q.acked = last.seq;
        }
        out
    }

    /// Pull semantics (`GetEvents`): acknowledges events up to `watermark`, returns up to
    /// `max` of the following ones (kept until acknowledged).
    pub fn get_events(&self, watermark: &Watermark, max: usize) -> Result<EventBatch, StoreError> {
        let (mailbox, seq) = decode_watermark(self.wm_key, watermark.as_str()).ok_or(StoreError::InvalidWatermark)?;
        if mailbox != self.mailbox.number || seq > self.mailbox_seq.load(Ordering::SeqCst) {
            return Err(StoreError::InvalidWatermark);
        }
        let mut q = self.queue.lock();
        q.last_used = Instant::now();
        while q.events.front().is_some_and(|e| e.seq <= seq) {
            q.events.pop_front();
        }
        q.acked = q.acked.max(seq);
        let events: Vec<Event> = q.events.iter().take(max).cloned().collect();
        Ok(EventBatch {
            previous_watermark: Watermark(encode_watermark(self.wm_key, self.mailbox.number, q.acked)),
            more: q.events.len() > events.len(),
            events,
        })
    }

    /// Waits until an event is queued or the subscription expires (returns at once if events
    /// are already queued).
    pub async fn changed(&self) {
        loop {
            let notified = self.notify.notified();
            if self.pending() > 0 || self.expired.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// Adds a waker notified on every queued event and on expiry (a streaming connection
    /// waiting for many subscriptions at once).
    pub fn attach(&self, waker: Arc<Notify>) {
        self.wakers.lock().push(waker);
    }

    /// Removes a waker added by [`Subscription::attach`].
    pub fn detach(&self, waker: &Arc<Notify>) {
        self.wakers.lock().retain(|w| !Arc::ptr_eq(w, waker));
    }

    fn wants(&self, e: &Event) -> bool {
        self.spec.folders.as_ref().is_none_or(|f| f.contains(&e.folder))
            && (self.spec.event_kinds.is_empty() || self.spec.event_kinds.contains(&e.kind))
    }

    fn wake(&self) {
        self.notify.notify_waiters();
        self.notify.notify_one();
        for w in self.wakers.lock().iter() {
            w.notify_one();
        }
    }

    /// Queues an event if wanted. Called by the mailbox with its write lock held.
    pub(crate) fn deliver(&self, e: &Event) {
        if !self.wants(e) {
            return;
        }
        {
            let mut q = self.queue.lock();
            if q.events.len() >= MAX_QUEUED_EVENTS {
                q.events.pop_front();
                q.missed = true;
            }
            q.events.push_back(e.clone());
        }
        self.wake();
    }
}
