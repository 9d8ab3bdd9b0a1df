//! Notification operations: Subscribe (pull and streaming), GetEvents, Unsubscribe and the
//! event source of GetStreamingEvents, on the store's subscriptions.
//!
//! Exchange rules the simulator follows (choices where the documentation is silent):
//!
//! * One subscription covers one mailbox: folder ids of two mailboxes are
//!   `ErrorInvalidSubscriptionRequest`. Only the calendar and tasks folders exist
//!   (`ErrorFolderNotFound` for others). `EWSMaxSubscriptions` is charged to the target mailbox
//!   (`ErrorExceededSubscriptionCount` beyond it). Push subscriptions are refused with
//!   `ErrorInvalidSubscriptionRequest` (the simulator calls no one back).
//! * A pull `Watermark` in Subscribe is accepted and ignored: events start from now (Exchange
//!   would replay from it; the simulator keeps no history for that).
//! * GetEvents: an id this server never issued or that was unsubscribed is
//!   `ErrorSubscriptionNotFound`; a pull subscription that timed out or was expired by the
//!   `expire_subscriptions` fault is `ErrorExpiredSubscription`; another account's
//!   subscription is `ErrorSubscriptionAccessDenied` (as in
//!   `samples/GetEvents-Error-SubscriptionAccessDenied.response.xml`). With no events it answers
//!   a `StatusEvent` carrying the current watermark. At most 50 events per call, `MoreEvents`
//!   true when more are queued.
//! * GetStreamingEvents: an id never issued (or made by another account) is
//!   `ErrorInvalidSubscription` ("Subscription is invalid."); an unsubscribed or expired one
//!   `ErrorSubscriptionNotFound`. When good and bad ids are mixed the whole answer is the error
//!   (the code of the first bad id), naming every bad id in `m:ErrorSubscriptionIds`, with
//!   `ConnectionStatus Closed`, and no notifications (DIGEST §3). Notifications carry up to 50
//!   events per subscription each, with per-event watermarks, in Exchange's wire form
//!   (`m:Notification`, see `WireForm::Exchange`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use ews_proto::ops::get_streaming_events::{ChangedObject, Event as WireEvent, ModifiedEvent, ObjectChangedEvent};
use ews_proto::ops::*;
use ews_proto::response::{ResponseStatus, StatusMessage};
use ews_proto::soap::{Body, Fault, ServerVersionInfo};
use ews_proto::values::DateTime;
use ews_proto::{ItemId, ResponseCode, SubscriptionId};
use tokio::sync::Notify;

use super::write::{code_status, error_status, request_mailbox};
use crate::server::streaming::{BoxFuture, EventSource, SourceEvent, StreamPlan, stream_document};
use crate::server::{RequestContext, StreamOpen};
use crate::store::{Event, EventKind, Store, StoreError, Subscription, SubscriptionKind, SubscriptionSpec};

/// Events per notification per subscription (Exchange's GetStreamingEvents/GetEvents batch).
pub const MAX_EVENTS_PER_NOTIFICATION: usize = 50;
/// How long a streaming subscription lives without a connection (Exchange: 30 minutes).
pub const STREAMING_SUBSCRIPTION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Which account made each subscription this process issued (ids are unique across stores:
/// each store mixes a random nonce into its ids).
fn owners() -> &'static DashMap<String, String> {
    static OWNERS: OnceLock<DashMap<String, String>> = OnceLock::new();
    OWNERS.get_or_init(DashMap::new)
}

fn account_key(ctx: &RequestContext) -> String {
    ctx.account.name.to_ascii_lowercase()
}

fn event_kind(t: EventType) -> EventKind {
    match t {
        EventType::Copied => EventKind::Copied,
        EventType::Created => EventKind::Created,
        EventType::Deleted => EventKind::Deleted,
        EventType::Modified => EventKind::Modified,
        EventType::Moved => EventKind::Moved,
        EventType::NewMail => EventKind::NewMail,
        EventType::FreeBusyChanged => EventKind::FreeBusyChanged,
    }
}

fn subscribe_error(code: ResponseCode, text: &str) -> SubscribeResponse {
    SubscribeResponse {
        messages: vec![SubscribeResponseMessage {
            status: ResponseStatus::error(code, text),
            subscription_id: None,
            watermark: None,
        }],
    }
}

pub fn subscribe(store: &Store, ctx: &RequestContext, r: Subscribe) -> Result<SubscribeResponse, Fault> {
    let default = request_mailbox(store, ctx)?;
    let (kind, timeout) = match &r {
        Subscribe::Pull(p) => {
            if !PULL_TIMEOUT_MINUTES.contains(&p.timeout) {
                return Ok(subscribe_error(
                    ResponseCode::ErrorInvalidSubscriptionRequest,
                    "The pull subscription timeout must be between 1 and 1440 minutes.",
                ));
            }
            (SubscriptionKind::Pull, Duration::from_secs(p.timeout as u64 * 60))
        }
        Subscribe::Streaming(_) => (SubscriptionKind::Streaming, STREAMING_SUBSCRIPTION_TIMEOUT),
        Subscribe::Push(_) => {
            return Ok(subscribe_error(
                ResponseCode::ErrorInvalidSubscriptionRequest,
                "Push subscriptions are not supported by this server.",
            ));
        }
    };
    let scope = r.scope();
    let all = scope.subscribe_to_all_folders == Some(true);
    let mut mailbox = None;
    let mut folders = Vec::new();
    for id in scope.folder_ids.iter().flatten() {
        match store.resolve_folder(&default, id) {
            Ok((m, k)) => {
                if mailbox.as_ref().is_some_and(|x: &Arc<crate::store::Mailbox>| x.number() != m.number()) {
                    return Ok(subscribe_error(
                        ResponseCode::ErrorInvalidSubscriptionRequest,
                        "All folders of a subscription must belong to the same mailbox.",
                    ));
                }
                mailbox = Some(m);
                if !folders.contains(&k) {
                    folders.push(k);
                }
            }
            Err(e) => {
                return Ok(SubscribeResponse {
                    messages: vec![SubscribeResponseMessage {
                        status: error_status(&e),
                        subscription_id: None,
                        watermark: None,
                    }],
                });
            }
        }
    }
    if !all && folders.is_empty() {
        return Ok(subscribe_error(
            ResponseCode::ErrorInvalidSubscriptionRequest,
            "A subscription needs folder ids or SubscribeToAllFolders.",
        ));
    }
    let mailbox = mailbox.unwrap_or(default);
    if mailbox.subscription_count() >= ctx.limits.subscriptions_per_mailbox {
        return Ok(subscribe_error(
            ResponseCode::ErrorExceededSubscriptionCount,
            "You have exceeded the maximum number of subscriptions permitted.",
        ));
    }
    let spec = SubscriptionSpec {
        kind,
        folders: if all { None } else { Some(folders) },
        event_kinds: scope.event_types.iter().copied().map(event_kind).collect(),
        timeout,
    };
    let sub = store.subscribe(&mailbox, spec);
    owners().insert(sub.id().0.clone(), account_key(ctx));
    Ok(SubscribeResponse {
        messages: vec![SubscribeResponseMessage {
            status: ResponseStatus::success(),
            subscription_id: Some(sub.id().clone()),
            watermark: (kind == SubscriptionKind::Pull).then(|| sub.watermark()),
        }],
    })
}

/// A subscription the caller may use, or the code to answer.
fn lookup(store: &Store, ctx: &RequestContext, id: &SubscriptionId) -> Result<Arc<Subscription>, ResponseCode> {
    let owner = owners().get(id.0.trim()).map(|o| o.clone());
    if owner.as_deref().is_some_and(|o| o != account_key(ctx)) {
        return Err(ResponseCode::ErrorSubscriptionAccessDenied);
    }
    store.subscription(&id.0).map_err(|e| e.response_code())
}

fn wire_event(e: &Event) -> WireEvent {
    let change = ObjectChangedEvent {
        watermark: Some(e.watermark.clone()),
        // Exchange writes whole seconds.
        time_stamp: DateTime::utc(jiff::Timestamp::from_second(e.time_stamp.as_second()).unwrap_or(e.time_stamp)),
        object: ChangedObject::Item(ItemId { id: e.item_id.clone(), change_key: None }),
        parent_folder_id: StoreFolderId { id: e.parent_folder_id.clone(), change_key: None },
    };
    match e.kind {
        EventKind::Created => WireEvent::Created(change),
        EventKind::Deleted => WireEvent::Deleted(change),
        EventKind::NewMail => WireEvent::NewMail(change),
        EventKind::FreeBusyChanged => WireEvent::FreeBusyChanged(change),
        // The store raises Created/Modified/Deleted only; the rest read as modifications.
        EventKind::Modified | EventKind::Copied | EventKind::Moved => {
            WireEvent::Modified(ModifiedEvent { change, unread_count: None })
        }
    }
}

pub fn get_events(store: &Store, ctx: &RequestContext, r: GetEvents) -> Result<GetEventsResponse, Fault> {
    let error = |code: ResponseCode| GetEventsResponse {
        messages: vec![GetEventsResponseMessage { status: code_status(code), notification: None }],
    };
    let sub = match lookup(store, ctx, &r.subscription_id) {
        Ok(s) => s,
        Err(code) => return Ok(error(code)),
    };
    if sub.kind() != SubscriptionKind::Pull {
        return Ok(error(ResponseCode::ErrorInvalidPullSubscriptionId));
    }
    let batch = match sub.get_events(&r.watermark, MAX_EVENTS_PER_NOTIFICATION) {
        Ok(b) => b,
        Err(e) => {
            return Ok(GetEventsResponse {
                messages: vec![GetEventsResponseMessage { status: error_status(&e), notification: None }],
            });
        }
    };
    let status = if sub.missed_events() {
        code_status(ResponseCode::ErrorMissedNotificationEvents)
    } else {
        ResponseStatus::success()
    };
    let events = if batch.events.is_empty() {
        vec![WireEvent::Status { watermark: Some(batch.previous_watermark.clone()) }]
    } else {
        batch.events.iter().map(wire_event).collect()
    };
    let notification = Notification {
        subscription_id: sub.id().clone(),
        previous_watermark: Some(batch.previous_watermark),
        more_events: Some(batch.more),
        events,
    };
    Ok(GetEventsResponse { messages: vec![GetEventsResponseMessage { status, notification: Some(notification) }] })
}

pub fn unsubscribe(store: &Store, ctx: &RequestContext, r: Unsubscribe) -> Result<UnsubscribeResponse, Fault> {
    let key = r.subscription_id.0.trim().to_string();
    let status = match owners().get(&key).map(|o| o.clone()) {
        Some(o) if o != account_key(ctx) => code_status(ResponseCode::ErrorSubscriptionAccessDenied),
        _ => match store.unsubscribe(&key) {
            Ok(()) => {
                owners().remove(&key);
                ResponseStatus::success()
            }
            Err(e) => error_status(&e),
        },
    };
    Ok(UnsubscribeResponse { messages: vec![StatusMessage { status }] })
}

pub fn open_stream(store: &Store, ctx: &RequestContext, r: GetStreamingEvents) -> Result<StreamOpen, Fault> {
    let mut subs = Vec::new();
    let mut bad: Vec<(SubscriptionId, ResponseCode)> = Vec::new();
    for id in &r.subscription_ids {
        let issued = owners().get(id.0.trim()).map(|o| o.clone());
        let code = match issued {
            None => Some(ResponseCode::ErrorInvalidSubscription),
            Some(o) if o != account_key(ctx) => Some(ResponseCode::ErrorInvalidSubscription),
            Some(_) => match store.subscription(&id.0) {
                Ok(s) if s.kind() == SubscriptionKind::Streaming => {
                    subs.push(s);
                    None
                }
                Ok(_) => Some(ResponseCode::ErrorInvalidSubscription),
                Err(StoreError::SubscriptionExpired | StoreError::SubscriptionNotFound) => {
                    Some(ResponseCode::ErrorSubscriptionNotFound)
                }
                Err(e) => Some(e.response_code()),
            },
        };
        if let Some(code) = code {
            bad.push((id.clone(), code));
        }
    }
    if let Some((_, code)) = bad.first() {
        let code = code.clone();
        let message = GetStreamingEventsResponseMessage {
            status: code_status(code),
            error_subscription_ids: bad.into_iter().map(|(id, _)| id).collect(),
            connection_status: Some(ConnectionStatus::Closed),
            ..GetStreamingEventsResponseMessage::default()
        };
        return Ok(StreamOpen::Respond(Box::new(Body::GetStreamingEventsResponse(GetStreamingEventsResponse {
            messages: vec![message],
        }))));
    }
    let waker = Arc::new(Notify::new());
    for s in &subs {
        s.attach(waker.clone());
        s.touch();
    }
    Ok(StreamOpen::Stream(StreamPlan {
        subscription_ids: r.subscription_ids.clone(),
        connection_timeout_minutes: r.connection_timeout,
        source: Box::new(SubscriptionSource { subs, waker, server_version: ctx.server_version.clone() }),
    }))
}

/// The notifications of one streaming connection: drains its subscriptions' queues.
struct SubscriptionSource {
    subs: Vec<Arc<Subscription>>,
    waker: Arc<Notify>,
    server_version: ServerVersionInfo,
}

impl Drop for SubscriptionSource {
    fn drop(&mut self) {
        for s in &self.subs {
            s.detach(&self.waker);
        }
    }
}

impl SubscriptionSource {
    /// What is ready now, without waiting (so `next` stays cancel-safe: events are taken only
    /// on a path that returns them).
    fn poll_ready(&self) -> Option<SourceEvent> {
        let expired: Vec<SubscriptionId> =
            self.subs.iter().filter(|s| s.is_expired()).map(|s| s.id().clone()).collect();
        if !expired.is_empty() {
            let message = GetStreamingEventsResponseMessage {
                status: code_status(ResponseCode::ErrorSubscriptionNotFound),
                error_subscription_ids: expired,
                connection_status: Some(ConnectionStatus::Closed),
                ..GetStreamingEventsResponseMessage::default()
            };
            return Some(SourceEvent::Close(stream_document(&self.server_version, message)));
        }
        let mut notifications = Vec::new();
        for s in &self.subs {
            let events = s.take(MAX_EVENTS_PER_NOTIFICATION);
            if events.is_empty() {
                continue;
            }
            notifications.push(Notification {
                subscription_id: s.id().clone(),
                previous_watermark: None,
                more_events: None,
                events: events.iter().map(wire_event).collect(),
            });
        }
        if notifications.is_empty() {
            return None;
        }
        let mut message = GetStreamingEventsResponseMessage::with_notifications(notifications);
        message.wire_form = WireForm::Exchange;
        Some(SourceEvent::Envelope(notification_document(&self.server_version, message)))
    }
}

fn notification_document(svi: &ServerVersionInfo, message: GetStreamingEventsResponseMessage) -> Bytes {
    stream_document(svi, message)
}

impl EventSource for SubscriptionSource {
    fn next(&mut self) -> BoxFuture<'_, SourceEvent> {
        Box::pin(async move {
            loop {
                if let Some(ev) = self.poll_ready() {
                    return ev;
                }
                // `Notify` keeps a permit for an event queued since the check above. Wake up
                // now and then to keep the subscriptions alive while the connection holds them.
                if tokio::time::timeout(Duration::from_secs(60), self.waker.notified()).await.is_err() {
                    for s in &self.subs {
                        s.touch();
                    }
                }
            }
        })
    }
}
