//! `GetStreamingEvents`: the hanging request of streaming notifications, and the types shared
//! with `GetEvents`: [`Notification`] and [`Event`].
//!
//! The HTTP response is one chunked body carrying **several complete SOAP envelopes** one
//! after another, each a `GetStreamingEventsResponse`; split them with
//! [`crate::stream::EnvelopeSplitter`]. Each message carries notifications, or the ids that
//! failed (`ErrorSubscriptionIds`), and/or a [`ConnectionStatus`]: `OK` is a heartbeat (ews-java
//! expects one at least every 45 s), `Closed` means the server ends the connection and the
//! client must reissue the request (DIGEST §3). With one bad id among good ones, the whole
//! response is the error and carries no notifications for the good ones.
//!
//! Server processing (DIGEST §3): up to 50 events per notification, or a `StatusEvent` when
//! the queue is empty; each delivery advances the subscription's watermark and resets its
//! timeout.
//!
//! ## Namespaces Exchange writes versus the schema
//!
//! `m:Notifications` and `m:ErrorSubscriptionIds` are of types declared in `types.xsd`
//! (`NonEmptyArrayOfNotificationsType`, `NonEmptyArrayOfSubscriptionIdsType`), so the schema
//! wants their children in the **types** namespace: `t:Notification`, `t:SubscriptionId`.
//! Exchange itself writes `m:Notification` (real Exchange 2013 sample
//! `GetStreamingEvents-Notifications.response.xml`) and, as both mature clients read it,
//! `m:SubscriptionId` under `m:ErrorSubscriptionIds` (exchangelib and ews-java-api look only
//! for the messages namespace there). This module reads **both** forms. It writes the
//! schema-valid `t:` form unless [`GetStreamingEventsResponseMessage::wire_form`] is
//! [`WireForm::Exchange`], which a simulator should use when it talks to those clients (they
//! would silently see no notifications in the `t:` form). Reading records which form came.

use std::ops::RangeInclusive;

use crate::error::{Error, Result};
use crate::ids::{ItemId, SubscriptionId, Watermark};
use crate::ops::get_folder::StoreFolderId;
use crate::ops::subscribe::{EventType, int_in_range, non_empty, opt_non_empty, req_non_empty};
use crate::response::{ResponseStatus, read_messages, write_messages};
use crate::values::DateTime;
use crate::xml::{Element, FromXml, Name, Ns, ToXml, Writer, m, t};
use crate::xml_enum;

/// `m:ConnectionTimeout` range, minutes (`t:StreamingSubscriptionConnectionTimeoutType`).
pub const CONNECTION_TIMEOUT_MINUTES: RangeInclusive<i32> = 1..=30;

/// Server-side rule, not a schema limit: Microsoft's affinity guidance allows at most 200
/// subscription ids in one `GetStreamingEvents` request (split mailbox groups larger than that;
/// DIGEST §3). The schema itself sets no maximum, so reading does not enforce it.
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 200;

/// `m:GetStreamingEvents`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetStreamingEvents {
    /// `m:SubscriptionIds/t:SubscriptionId`: at least one; at most
    /// [`MAX_SUBSCRIPTIONS_PER_CONNECTION`] (200) by server rule. All must live on the same
    /// mailbox server (affinity), else `ErrorSubscriptionNotFound`.
    pub subscription_ids: Vec<SubscriptionId>,
    /// `m:ConnectionTimeout`, minutes, 1..=30 ([`CONNECTION_TIMEOUT_MINUTES`]). The server
    /// ends the stream with `ConnectionStatus` `Closed` after that time.
    pub connection_timeout: i32,
}

impl GetStreamingEvents {
    /// Whether the request respects the server's 200-ids-per-connection rule.
    pub fn within_server_limit(&self) -> bool {
        self.subscription_ids.len() <= MAX_SUBSCRIPTIONS_PER_CONNECTION
    }
}

/// Reads a `t:NonEmptyArrayOfSubscriptionIdsType` wrapper. With `lenient`, `m:SubscriptionId`
/// is accepted as well (what Exchange writes in `ErrorSubscriptionIds`); returns the ids and
/// whether any came in the messages namespace.
fn read_subscription_ids(el: &Element, lenient: bool) -> Result<(Vec<SubscriptionId>, bool)> {
    let mut ids = Vec::new();
    let mut messages_ns = false;
    for c in &el.children {
        if c.is(t("SubscriptionId")) || (lenient && c.is(m("SubscriptionId"))) {
            messages_ns |= c.ns == Ns::Messages;
            ids.push(non_empty(c).map_err(|e| e.at(el))?);
        } else if c.name == "SubscriptionId" {
            return Err(Error::invalid(
                format!("{} ({})", c.display_name(), c.ns.uri()),
                "t:SubscriptionId (types namespace)",
            )
            .at(c)
            .at(el));
        }
    }
    if ids.is_empty() {
        return Err(Error::missing("element t:SubscriptionId").at(el));
    }
    Ok((ids, messages_ns))
}

impl FromXml for GetStreamingEvents {
    fn from_xml(el: &Element) -> Result<Self> {
        let ids = el.req(m("SubscriptionIds"))?;
        Ok(GetStreamingEvents {
            subscription_ids: read_subscription_ids(ids, false).map_err(|e| e.at(el))?.0,
            connection_timeout: int_in_range(el, m("ConnectionTimeout"), CONNECTION_TIMEOUT_MINUTES)?,
        })
    }
}

impl ToXml for GetStreamingEvents {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).start(m("SubscriptionIds"));
        for id in &self.subscription_ids {
            w.leaf_val(t("SubscriptionId"), id);
        }
        w.end().leaf_val(m("ConnectionTimeout"), &self.connection_timeout).end();
    }
}

/// What changed: an item or a folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChangedObject {
    /// `t:ItemId` (`t:OldItemId`).
    Item(ItemId),
    /// `t:FolderId` (`t:OldFolderId`).
    Folder(StoreFolderId),
}

impl ChangedObject {
    /// Reads the `FolderId | ItemId` choice (or `OldFolderId | OldItemId` with `prefix = "Old"`).
    fn read(el: &Element, prefix: &str) -> Result<Self> {
        let item = format!("{prefix}ItemId");
        let folder = format!("{prefix}FolderId");
        if let Some(c) = el.child(t(&item)) {
            Ok(ChangedObject::Item(ItemId::from_xml(c).map_err(|e| e.at(el))?))
        } else if let Some(c) = el.child(t(&folder)) {
            Ok(ChangedObject::Folder(StoreFolderId::from_xml(c).map_err(|e| e.at(el))?))
        } else {
            Err(Error::missing(format!("element t:{item} or t:{folder}")).at(el))
        }
    }

    fn write(&self, w: &mut Writer, prefix: &str) {
        match self {
            ChangedObject::Item(id) => id.to_xml(w, t(&format!("{prefix}ItemId"))),
            ChangedObject::Folder(id) => id.to_xml(w, t(&format!("{prefix}FolderId"))),
        }
    }

    pub fn item_id(&self) -> Option<&ItemId> {
        match self {
            ChangedObject::Item(id) => Some(id),
            ChangedObject::Folder(_) => None,
        }
    }

    pub fn folder_id(&self) -> Option<&StoreFolderId> {
        match self {
            ChangedObject::Folder(id) => Some(id),
            ChangedObject::Item(_) => None,
        }
    }
}

/// `t:BaseObjectChangedEventType`: created, deleted, new-mail and free/busy-changed events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectChangedEvent {
    /// `t:Watermark`: pull subscriptions carry it per event; Exchange 2013+ streaming
    /// notifications omit it (samples).
    pub watermark: Option<Watermark>,
    /// `t:TimeStamp`.
    pub time_stamp: DateTime,
    /// `t:ItemId | t:FolderId`. Notifications carry no ChangeKey worth trusting and no
    /// read state (DIGEST §3).
    pub object: ChangedObject,
    /// `t:ParentFolderId`.
    pub parent_folder_id: StoreFolderId,
}

impl ObjectChangedEvent {
    fn read(el: &Element) -> Result<Self> {
        Ok(ObjectChangedEvent {
            watermark: opt_non_empty(el, t("Watermark"))?,
            time_stamp: el.get_text_req(t("TimeStamp"))?,
            object: ChangedObject::read(el, "")?,
            parent_folder_id: el.get_req(t("ParentFolderId"))?,
        })
    }

    /// Writes the elements (the event element must be open).
    fn write(&self, w: &mut Writer) {
        w.leaf_opt(t("Watermark"), &self.watermark).leaf_val(t("TimeStamp"), &self.time_stamp);
        self.object.write(w, "");
        w.child(t("ParentFolderId"), &self.parent_folder_id);
    }
}

/// `t:ModifiedEventType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifiedEvent {
    pub change: ObjectChangedEvent,
    /// `t:UnreadCount` of a modified folder.
    pub unread_count: Option<i32>,
}

/// `t:MovedCopiedEventType`: the new location in `change`, the old one here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedCopiedEvent {
    pub change: ObjectChangedEvent,
    /// `t:OldItemId | t:OldFolderId`. An item's id can change when it moves.
    pub old_object: ChangedObject,
    /// `t:OldParentFolderId`.
    pub old_parent_folder_id: StoreFolderId,
}

/// One event of a notification; the variant is the element name (`t:CreatedEvent`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Copied(MovedCopiedEvent),
    Created(ObjectChangedEvent),
    Deleted(ObjectChangedEvent),
    Modified(ModifiedEvent),
    Moved(MovedCopiedEvent),
    NewMail(ObjectChangedEvent),
    /// `t:StatusEvent`: nothing happened; only a watermark (pull/push heartbeat).
    Status {
        watermark: Option<Watermark>,
    },
    FreeBusyChanged(ObjectChangedEvent),
}

const EVENT_NAMES: &str = "t:CopiedEvent, t:CreatedEvent, t:DeletedEvent, t:ModifiedEvent, t:MovedEvent, \
                           t:NewMailEvent, t:StatusEvent or t:FreeBusyChangedEvent";

impl Event {
    /// The element's local name (`CreatedEvent`, `StatusEvent`, …).
    pub fn element_name(&self) -> &'static str {
        match self {
            Event::Copied(_) => "CopiedEvent",
            Event::Created(_) => "CreatedEvent",
            Event::Deleted(_) => "DeletedEvent",
            Event::Modified(_) => "ModifiedEvent",
            Event::Moved(_) => "MovedEvent",
            Event::NewMail(_) => "NewMailEvent",
            Event::Status { .. } => "StatusEvent",
            Event::FreeBusyChanged(_) => "FreeBusyChangedEvent",
        }
    }

    /// The subscription event type this event answers; `None` for `StatusEvent`.
    pub fn event_type(&self) -> Option<EventType> {
        Some(match self {
            Event::Copied(_) => EventType::Copied,
            Event::Created(_) => EventType::Created,
            Event::Deleted(_) => EventType::Deleted,
            Event::Modified(_) => EventType::Modified,
            Event::Moved(_) => EventType::Moved,
            Event::NewMail(_) => EventType::NewMail,
            Event::FreeBusyChanged(_) => EventType::FreeBusyChanged,
            Event::Status { .. } => return None,
        })
    }

    /// The object-changed part (time stamp, id, parent); `None` for `StatusEvent`.
    pub fn change(&self) -> Option<&ObjectChangedEvent> {
        match self {
            Event::Copied(e) | Event::Moved(e) => Some(&e.change),
            Event::Modified(e) => Some(&e.change),
            Event::Created(e) | Event::Deleted(e) | Event::NewMail(e) | Event::FreeBusyChanged(e) => Some(e),
            Event::Status { .. } => None,
        }
    }

    pub fn watermark(&self) -> Option<&Watermark> {
        match self {
            Event::Status { watermark } => watermark.as_ref(),
            _ => self.change().and_then(|c| c.watermark.as_ref()),
        }
    }

    /// Reads an event element; `None` if `el` is not one.
    pub fn read(el: &Element) -> Option<Result<Event>> {
        if el.ns != Ns::Types {
            return None;
        }
        let r = match el.name.as_str() {
            "CopiedEvent" | "MovedEvent" => (|| {
                let e = MovedCopiedEvent {
                    change: ObjectChangedEvent::read(el)?,
                    old_object: ChangedObject::read(el, "Old")?,
                    old_parent_folder_id: el.get_req(t("OldParentFolderId"))?,
                };
                Ok(if el.name == "CopiedEvent" { Event::Copied(e) } else { Event::Moved(e) })
            })(),
            "CreatedEvent" => ObjectChangedEvent::read(el).map(Event::Created),
            "DeletedEvent" => ObjectChangedEvent::read(el).map(Event::Deleted),
            "NewMailEvent" => ObjectChangedEvent::read(el).map(Event::NewMail),
            "FreeBusyChangedEvent" => ObjectChangedEvent::read(el).map(Event::FreeBusyChanged),
            "ModifiedEvent" => (|| {
                Ok(Event::Modified(ModifiedEvent {
                    change: ObjectChangedEvent::read(el)?,
                    unread_count: el.get_text(t("UnreadCount"))?,
                }))
            })(),
            "StatusEvent" => opt_non_empty(el, t("Watermark")).map(|watermark| Event::Status { watermark }),
            _ => return None,
        };
        Some(r)
    }

    /// Writes the event with its own element name.
    pub fn write(&self, w: &mut Writer) {
        w.start(t(self.element_name()));
        match self {
            Event::Copied(e) | Event::Moved(e) => {
                e.change.write(w);
                e.old_object.write(w, "Old");
                w.child(t("OldParentFolderId"), &e.old_parent_folder_id);
            }
            Event::Modified(e) => {
                e.change.write(w);
                w.leaf_opt(t("UnreadCount"), &e.unread_count);
            }
            Event::Created(e) | Event::Deleted(e) | Event::NewMail(e) | Event::FreeBusyChanged(e) => e.write(w),
            Event::Status { watermark } => {
                w.leaf_opt(t("Watermark"), watermark);
            }
        }
        w.end();
    }
}

/// `t:NotificationType`: the events of one subscription. Used by `GetStreamingEvents`
/// (inside `m:Notifications`) and `GetEvents` (`m:Notification`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// `t:SubscriptionId`.
    pub subscription_id: SubscriptionId,
    /// `t:PreviousWatermark` (pull): the watermark the events follow.
    pub previous_watermark: Option<Watermark>,
    /// `t:MoreEvents` (pull): call `GetEvents` again at once.
    pub more_events: Option<bool>,
    /// The events, in order; at least one (the schema requires it; an idle pull subscription
    /// gets a `StatusEvent`).
    pub events: Vec<Event>,
}

impl FromXml for Notification {
    fn from_xml(el: &Element) -> Result<Self> {
        let mut events = Vec::new();
        for c in &el.children {
            if let Some(e) = Event::read(c) {
                events.push(e.map_err(|e| e.at(el))?);
            }
        }
        if events.is_empty() {
            return Err(Error::missing(format!("an event element ({EVENT_NAMES})")).at(el));
        }
        Ok(Notification {
            subscription_id: req_non_empty(el, t("SubscriptionId"))?,
            previous_watermark: opt_non_empty(el, t("PreviousWatermark"))?,
            more_events: el.get_text(t("MoreEvents"))?,
            events,
        })
    }
}

impl ToXml for Notification {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(t("SubscriptionId"), &self.subscription_id)
            .leaf_opt(t("PreviousWatermark"), &self.previous_watermark)
            .leaf_opt(t("MoreEvents"), &self.more_events);
        for e in &self.events {
            e.write(w);
        }
        w.end();
    }
}

xml_enum! {
    /// `m:ConnectionStatus` (`t:ConnectionStatusType`).
    pub enum ConnectionStatus {
        /// Heartbeat: the connection stays open.
        OK,
        /// The server closes the connection; reissue `GetStreamingEvents`.
        Closed,
    }
}

/// Which namespace the children of `m:Notifications` and `m:ErrorSubscriptionIds` are in
/// (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WireForm {
    /// `t:Notification`, `t:SubscriptionId`: valid against the schema.
    #[default]
    Schema,
    /// `m:Notification`, `m:SubscriptionId`: what Exchange sends and exchangelib /
    /// ews-java-api read. Not schema-valid.
    Exchange,
}

/// `m:GetStreamingEventsResponseMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetStreamingEventsResponseMessage {
    pub status: ResponseStatus,
    /// `m:Notifications`: one entry per subscription with events (empty when absent).
    pub notifications: Vec<Notification>,
    /// `m:ErrorSubscriptionIds`: the ids the error in `status` is about (e.g.
    /// `ErrorInvalidSubscription`, `ErrorSubscriptionNotFound`); empty when absent.
    pub error_subscription_ids: Vec<SubscriptionId>,
    /// `m:ConnectionStatus`: `OK` heartbeat or `Closed`.
    pub connection_status: Option<ConnectionStatus>,
    /// Namespace of the children of the two wrappers above, to write. Reading sets
    /// [`WireForm::Exchange`] when any such child came in the messages namespace, else
    /// [`WireForm::Schema`] (also when there were no children to tell).
    pub wire_form: WireForm,
}

impl GetStreamingEventsResponseMessage {
    /// A heartbeat: `Success`, `ConnectionStatus` `OK`, nothing else.
    pub fn heartbeat() -> Self {
        GetStreamingEventsResponseMessage {
            connection_status: Some(ConnectionStatus::OK),
            ..GetStreamingEventsResponseMessage::default()
        }
    }

    /// The last message of a stream: `Success`, `ConnectionStatus` `Closed`.
    pub fn closed() -> Self {
        GetStreamingEventsResponseMessage {
            connection_status: Some(ConnectionStatus::Closed),
            ..GetStreamingEventsResponseMessage::default()
        }
    }

    /// Notifications in a message of their own.
    pub fn with_notifications(notifications: Vec<Notification>) -> Self {
        GetStreamingEventsResponseMessage { notifications, ..GetStreamingEventsResponseMessage::default() }
    }
}

impl FromXml for GetStreamingEventsResponseMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        let mut exchange_form = false;
        let mut notifications = Vec::new();
        if let Some(n) = el.child(m("Notifications")) {
            for c in &n.children {
                if c.is(t("Notification")) || c.is(m("Notification")) {
                    exchange_form |= c.ns == Ns::Messages;
                    notifications.push(Notification::from_xml(c).map_err(|e| e.at(n).at(el))?);
                }
            }
        }
        let error_subscription_ids = match el.child(m("ErrorSubscriptionIds")) {
            None => Vec::new(),
            Some(e) => {
                let (ids, messages_ns) = read_subscription_ids(e, true).map_err(|err| err.at(el))?;
                exchange_form |= messages_ns;
                ids
            }
        };
        Ok(GetStreamingEventsResponseMessage {
            status: ResponseStatus::read(el)?,
            notifications,
            error_subscription_ids,
            connection_status: el.get_text(m("ConnectionStatus"))?,
            wire_form: if exchange_form { WireForm::Exchange } else { WireForm::Schema },
        })
    }
}

impl ToXml for GetStreamingEventsResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        let child_ns = |local| match self.wire_form {
            WireForm::Schema => t(local),
            WireForm::Exchange => m(local),
        };
        self.status.write_start(w, name);
        if !self.notifications.is_empty() {
            w.start(m("Notifications"));
            w.each(child_ns("Notification"), &self.notifications);
            w.end();
        }
        if !self.error_subscription_ids.is_empty() {
            w.start(m("ErrorSubscriptionIds"));
            for id in &self.error_subscription_ids {
                w.leaf_val(child_ns("SubscriptionId"), id);
            }
            w.end();
        }
        w.leaf_opt(m("ConnectionStatus"), &self.connection_status);
        w.end();
    }
}

/// `m:GetStreamingEventsResponse`: one document of the stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetStreamingEventsResponse {
    pub messages: Vec<GetStreamingEventsResponseMessage>,
}

impl GetStreamingEventsResponse {
    /// Whether any message says `ConnectionStatus` `Closed` (the stream ends after it).
    pub fn is_closed(&self) -> bool {
        self.messages.iter().any(|msg| msg.connection_status == Some(ConnectionStatus::Closed))
    }

    /// Every notification of every message, in order.
    pub fn notifications(&self) -> impl Iterator<Item = &Notification> {
        self.messages.iter().flat_map(|msg| msg.notifications.iter())
    }
}

impl From<GetStreamingEventsResponseMessage> for GetStreamingEventsResponse {
    fn from(msg: GetStreamingEventsResponseMessage) -> Self {
        GetStreamingEventsResponse { messages: vec![msg] }
    }
}

impl From<GetStreamingEventsResponseMessage> for crate::soap::Body {
    /// A stream document holding one message.
    fn from(msg: GetStreamingEventsResponseMessage) -> Self {
        crate::soap::Body::GetStreamingEventsResponse(msg.into())
    }
}

impl FromXml for GetStreamingEventsResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(GetStreamingEventsResponse { messages: read_messages(el, "GetStreamingEventsResponseMessage")? })
    }
}

impl ToXml for GetStreamingEventsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "GetStreamingEventsResponseMessage", &self.messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::subscribe::test_support::*;
    use crate::response_code::ResponseCode;
    use crate::soap::{Body, ConnectingSid, Envelope};
    use crate::xml::XmlText;

    fn dt(s: &str) -> DateTime {
        DateTime::from_text(s).unwrap()
    }

    fn streaming_response(doc: &[u8]) -> GetStreamingEventsResponse {
        match Envelope::parse(doc).unwrap_or_else(|e| panic!("{e}")).body {
            Body::GetStreamingEventsResponse(r) => r,
            other => panic!("{}", other.element_name()),
        }
    }

    fn change(k: usize, object: ChangedObject) -> ObjectChangedEvent {
        ObjectChangedEvent {
            watermark: Some(Watermark::new(format!("AAAAAM4GAAAAAAAAA{k}=="))),
            time_stamp: dt("2026-03-29T09:00:00Z"),
            object,
            parent_folder_id: StoreFolderId::new("AQMkCal", Some("AQAAAA==")),
        }
    }

    fn item(id: &str) -> ChangedObject {
        ChangedObject::Item(ItemId::new(id, Some("DwAAABYAAAA")))
    }

    /// One event of every kind, each form of the id choices.
    fn every_event() -> Vec<Event> {
        vec![
            Event::Copied(MovedCopiedEvent {
                change: change(1, item("copy")),
                old_object: item("orig"),
                old_parent_folder_id: StoreFolderId::new("AQMkOld", None),
            }),
            Event::Created(change(2, item("new"))),
            Event::Deleted(change(3, item("gone"))),
            Event::Modified(ModifiedEvent {
                change: change(4, ChangedObject::Folder(StoreFolderId::new("AQMkCal", Some("AQAAAA==")))),
                unread_count: Some(0),
            }),
            Event::Modified(ModifiedEvent { change: change(5, item("edited")), unread_count: None }),
            Event::Moved(MovedCopiedEvent {
                change: change(6, ChangedObject::Folder(StoreFolderId::new("AQMkSub", None))),
                old_object: ChangedObject::Folder(StoreFolderId::new("AQMkSub", None)),
                old_parent_folder_id: StoreFolderId::new("AQMkRoot", None),
            }),
            Event::NewMail(change(7, item("mail"))),
            Event::Status { watermark: Some(Watermark::new("AAAAAM4GAAAAAAAAA8==")) },
            Event::Status { watermark: None },
            Event::FreeBusyChanged(ObjectChangedEvent { watermark: None, ..change(9, item("fb")) }),
        ]
    }

    fn rich_message() -> GetStreamingEventsResponseMessage {
        GetStreamingEventsResponseMessage::with_notifications(vec![
            Notification {
                subscription_id: SubscriptionId::new("JgBjbzFwcjA2-A"),
                previous_watermark: Some(Watermark::new("AAAAAMAGAAAAAAAAAQ==")),
                more_events: Some(false),
                events: every_event(),
            },
            Notification {
                subscription_id: SubscriptionId::new("JgBjbzFwcjA2-B"),
                previous_watermark: None,
                more_events: None,
                events: vec![Event::Created(change(1, item("x")))],
            },
        ])
    }

    fn error_message() -> GetStreamingEventsResponseMessage {
        GetStreamingEventsResponseMessage {
            status: ResponseStatus::error(ResponseCode::ErrorInvalidSubscription, "Subscription is invalid."),
            error_subscription_ids: vec![SubscriptionId::new("bad-1"), SubscriptionId::new("bad-2")],
            connection_status: Some(ConnectionStatus::Closed),
            ..GetStreamingEventsResponseMessage::default()
        }
    }

    #[test]
    fn request_samples() {
        let Body::GetStreamingEvents(r) = sample("GetStreamingEvents-Streaming.request.xml").body else { panic!() };
        assert_eq!(r.connection_timeout, 30);
        assert_eq!(r.subscription_ids.len(), 1);
        assert!(r.subscription_ids[0].as_str().starts_with("JgBibjFwcjAz"));

        let env = sample("Affinity-5-GetStreamingEvents-Group.request.http");
        assert_eq!(env.header.impersonation, Some(ConnectingSid::SmtpAddress("sadie@contoso.com".into())));
        let Body::GetStreamingEvents(r) = env.body else { panic!() };
        assert_eq!(r.connection_timeout, 10);
        assert_eq!(r.subscription_ids.len(), 2);
        assert!(r.within_server_limit());

        // The reference page puts the ids in the messages namespace; Exchange validates requests
        // against the schema, so this is refused.
        let e = parse_err(&sample_bytes("GetStreamingEvents.request.xml"));
        assert!(
            e.contains("expected t:SubscriptionId (types namespace) at /soap:Envelope/soap:Body/m:GetStreamingEvents/m:SubscriptionIds/m:SubscriptionId"),
            "{e}"
        );
    }

    #[test]
    fn connection_closed_sample() {
        let r = streaming_response(&sample_bytes("GetStreamingEvents-ConnectionStatus-Closed.response.xml"));
        assert!(r.is_closed());
        assert!(r.messages[0].status.is_success());
        assert!(r.messages[0].notifications.is_empty());
        assert_eq!(r.messages[0].wire_form, WireForm::Schema);
    }

    /// The two Microsoft samples are not well-formed (see the stream tests); with the
    /// copy/paste errors repaired they show what Exchange really writes.
    #[test]
    fn repaired_doc_samples_in_exchange_form() {
        let doc = String::from_utf8(sample_bytes("GetStreamingEvents-Notifications.response.xml")).unwrap();
        let doc = doc
            .replace("<soap:Body xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">", "<s:Body>")
            .replace("</soap:Body>", "</s:Body></s:Envelope>");
        let r = streaming_response(doc.as_bytes());
        let msg = &r.messages[0];
        assert_eq!(msg.wire_form, WireForm::Exchange, "Exchange writes m:Notification");
        let n = &msg.notifications[0];
        assert!(n.subscription_id.as_str().starts_with("JgBibjFwcjAz"));
        assert_eq!(n.events.len(), 3);
        assert_eq!(n.events[0].element_name(), "CreatedEvent");
        assert_eq!(n.events[1].event_type(), Some(EventType::NewMail));
        let created = n.events[0].change().unwrap();
        assert_eq!(created.watermark, None);
        assert_eq!(created.time_stamp, dt("2013-09-16T04:31:29Z"));
        assert_eq!(created.object.item_id().unwrap().change_key.as_ref().unwrap().as_str(), "CQAAAA==");
        let Event::Modified(m) = &n.events[2] else { panic!() };
        assert_eq!(m.unread_count, Some(1));
        assert!(m.change.object.folder_id().unwrap().id.as_str().starts_with("AQMkADkzNjJj"));
        // Written back in the same form, it reads the same.
        let env = response(r.clone());
        round_trip("exchange form", &env);
        assert!(env.to_xml_string().contains("<m:Notification>"));

        let doc = String::from_utf8(sample_bytes("GetStreamingEvents-Error-InvalidSubscription-Closed.response.xml"))
            .unwrap()
            .replace("</m:ResponseMessages>", "</m:GetStreamingEventsResponseMessage></m:ResponseMessages>");
        let r = streaming_response(doc.as_bytes());
        assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorInvalidSubscription);
        assert_eq!(r.messages[0].status.message_text.as_deref(), Some(""));
        assert!(r.is_closed());
    }

    #[test]
    fn error_subscription_ids_in_either_namespace() {
        let body = |ns: &str| {
            envelope_with(&format!(
                "<m:GetStreamingEventsResponse><m:ResponseMessages><m:GetStreamingEventsResponseMessage ResponseClass=\"Error\">\
                 <m:MessageText>Subscription is invalid.</m:MessageText><m:ResponseCode>ErrorInvalidSubscription</m:ResponseCode>\
                 <m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:ErrorSubscriptionIds><{ns}:SubscriptionId>bad-1</{ns}:SubscriptionId>\
                 </m:ErrorSubscriptionIds><m:ConnectionStatus>Closed</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>\
                 </m:ResponseMessages></m:GetStreamingEventsResponse>"
            ))
        };
        let as_exchange = streaming_response(body("m").as_bytes());
        let as_schema = streaming_response(body("t").as_bytes());
        assert_eq!(as_exchange.messages[0].error_subscription_ids, vec![SubscriptionId::new("bad-1")]);
        assert_eq!(as_exchange.messages[0].wire_form, WireForm::Exchange);
        assert_eq!(as_schema.messages[0].wire_form, WireForm::Schema);
        let mut normalized = as_exchange.clone();
        normalized.messages[0].wire_form = WireForm::Schema;
        assert_eq!(normalized, as_schema);
        assert!(as_exchange.is_closed());
    }

    #[test]
    fn schema_validity_and_round_trips() {
        let request = |ids: usize, timeout| {
            super::super::subscribe::test_support::request(GetStreamingEvents {
                subscription_ids: (0..ids).map(|k| SubscriptionId::new(format!("JgBjbzFwcjA2-{k}"))).collect(),
                connection_timeout: timeout,
            })
        };
        let envs: Vec<(&str, Envelope)> = vec![
            ("request 1", request(1, 1)),
            ("request 200", request(MAX_SUBSCRIPTIONS_PER_CONNECTION, 30)),
            ("heartbeat", response(GetStreamingEventsResponseMessage::heartbeat())),
            ("closed", response(GetStreamingEventsResponseMessage::closed())),
            ("every event", response(rich_message())),
            ("error ids", response(error_message())),
            (
                "two messages",
                response(GetStreamingEventsResponse {
                    messages: vec![rich_message(), GetStreamingEventsResponseMessage::heartbeat()],
                }),
            ),
        ];
        let mut docs: Vec<(String, String)> = envs.iter().map(|(l, e)| round_trip(l, e)).collect();
        for name in [
            "GetStreamingEvents-Streaming.request.xml",
            "GetStreamingEvents-ConnectionStatus-Closed.response.xml",
            "Affinity-5-GetStreamingEvents-Group.request.http",
        ] {
            docs.push(round_trip(name, &sample(name)));
        }
        ews_schema_check::assert_all_valid(&docs);

        // The Exchange form round-trips but is not schema-valid (which is why it is opt-in).
        let exchange: Vec<(String, String)> = [rich_message(), error_message()]
            .into_iter()
            .map(|msg| {
                let env = response(GetStreamingEventsResponseMessage { wire_form: WireForm::Exchange, ..msg });
                round_trip("exchange form", &env)
            })
            .collect();
        assert!(exchange[0].1.contains("<m:Notification>") && exchange[1].1.contains("<m:SubscriptionId>"));
        for outcome in ews_schema_check::validate_envelopes(&exchange) {
            assert!(outcome.is_err());
        }
    }

    #[test]
    fn errors_name_the_path() {
        let gse = |inner: &str| envelope_with(&format!("<m:GetStreamingEvents>{inner}</m:GetStreamingEvents>"));
        let ids = "<m:SubscriptionIds><t:SubscriptionId>a</t:SubscriptionId></m:SubscriptionIds>";
        let note = |inner: &str| {
            envelope_with(&format!(
                "<m:GetStreamingEventsResponse><m:ResponseMessages><m:GetStreamingEventsResponseMessage ResponseClass=\"Success\">\
                 <m:ResponseCode>NoError</m:ResponseCode><m:Notifications><t:Notification><t:SubscriptionId>s</t:SubscriptionId>{inner}\
                 </t:Notification></m:Notifications></m:GetStreamingEventsResponseMessage></m:ResponseMessages></m:GetStreamingEventsResponse>"
            ))
        };
        let n = "/soap:Envelope/soap:Body/m:GetStreamingEventsResponse/m:ResponseMessages/m:GetStreamingEventsResponseMessage/m:Notifications/t:Notification";
        let ts = "<t:TimeStamp>2026-03-29T09:00:00Z</t:TimeStamp>";
        let parent = "<t:ParentFolderId Id=\"p\"/>";
        for (doc, expected) in [
            (
                gse(&format!("{ids}<m:ConnectionTimeout>31</m:ConnectionTimeout>")),
                "1..=30 at /soap:Envelope/soap:Body/m:GetStreamingEvents/m:ConnectionTimeout".to_string(),
            ),
            (gse(ids), "missing element m:ConnectionTimeout at /soap:Envelope/soap:Body/m:GetStreamingEvents".into()),
            (
                gse("<m:SubscriptionIds/><m:ConnectionTimeout>5</m:ConnectionTimeout>"),
                "missing element t:SubscriptionId at /soap:Envelope/soap:Body/m:GetStreamingEvents/m:SubscriptionIds".into(),
            ),
            (
                gse("<m:SubscriptionIds><t:SubscriptionId/></m:SubscriptionIds><m:ConnectionTimeout>5</m:ConnectionTimeout>"),
                "non-empty string at /soap:Envelope/soap:Body/m:GetStreamingEvents/m:SubscriptionIds/t:SubscriptionId".into(),
            ),
            (note(""), format!("missing an event element (t:CopiedEvent, t:CreatedEvent, t:DeletedEvent, t:ModifiedEvent, t:MovedEvent, t:NewMailEvent, t:StatusEvent or t:FreeBusyChangedEvent) at {n}")),
            (note(&format!("<t:CreatedEvent><t:ItemId Id=\"i\"/>{parent}</t:CreatedEvent>")), format!("missing element t:TimeStamp at {n}/t:CreatedEvent")),
            (note(&format!("<t:CreatedEvent><t:TimeStamp>yesterday</t:TimeStamp><t:ItemId Id=\"i\"/>{parent}</t:CreatedEvent>")), format!("xs:dateTime such as 2026-03-29T09:00:00Z at {n}/t:CreatedEvent/t:TimeStamp")),
            (note(&format!("<t:DeletedEvent>{ts}{parent}</t:DeletedEvent>")), format!("missing element t:ItemId or t:FolderId at {n}/t:DeletedEvent")),
            (note(&format!("<t:NewMailEvent>{ts}<t:ItemId/>{parent}</t:NewMailEvent>")), format!("missing attribute Id at {n}/t:NewMailEvent/t:ItemId")),
            (note(&format!("<t:NewMailEvent>{ts}<t:ItemId Id=\"i\"/></t:NewMailEvent>")), format!("missing element t:ParentFolderId at {n}/t:NewMailEvent")),
            (note(&format!("<t:MovedEvent>{ts}<t:ItemId Id=\"i\"/>{parent}<t:OldItemId Id=\"o\"/></t:MovedEvent>")), format!("missing element t:OldParentFolderId at {n}/t:MovedEvent")),
            (note(&format!("<t:CopiedEvent>{ts}<t:ItemId Id=\"i\"/>{parent}<t:OldParentFolderId Id=\"p\"/></t:CopiedEvent>")), format!("missing element t:OldItemId or t:OldFolderId at {n}/t:CopiedEvent")),
            (note(&format!("<t:ModifiedEvent>{ts}<t:FolderId Id=\"f\"/>{parent}<t:UnreadCount>many</t:UnreadCount></t:ModifiedEvent>")), format!("at {n}/t:ModifiedEvent/t:UnreadCount")),
            (note("<t:StatusEvent/><t:MoreEvents>maybe</t:MoreEvents>"), format!("at {n}/t:MoreEvents")),
            (
                envelope_with("<m:GetStreamingEventsResponse><m:ResponseMessages><m:GetStreamingEventsResponseMessage ResponseClass=\"Success\"><m:ConnectionStatus>Open</m:ConnectionStatus></m:GetStreamingEventsResponseMessage></m:ResponseMessages></m:GetStreamingEventsResponse>"),
                "expected one of OK, Closed at /soap:Envelope/soap:Body/m:GetStreamingEventsResponse/m:ResponseMessages/m:GetStreamingEventsResponseMessage/m:ConnectionStatus".into(),
            ),
        ] {
            let e = parse_err(doc.as_bytes());
            assert!(e.contains(&expected), "expected {expected:?} in {e:?}");
        }
    }
}
