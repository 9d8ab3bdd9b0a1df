//! Domain types of the store. They carry no EWS types: identifiers from Exchange are opaque
//! strings wrapped in newtypes, times are [`jiff::Timestamp`]s, and the JSON the API shows
//! (a user's settings, an event, a webhook's `data`) is kept as JSON.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($($(#[$meta:meta])* $name:ident;)*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(value.to_owned())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}

string_id! {
    /// The application's id of a directory user (CONTRACT §4 `id`).
    UserId;
    /// An EWS ItemId. It can change (a move, some server operations): never the identity of a
    /// mirrored event, only a lookup column.
    ItemId;
    /// An EWS ChangeKey (the item's version).
    ChangeKey;
    /// The iCalendar UID of an event (EWS `UID`); with the instance key, the identity of a
    /// mirror row. For items without a UID (tasks) the engine chooses a stable key.
    Uid;
    /// An opaque SyncFolderItems sync state.
    SyncState;
    /// An EWS subscription id.
    SubscriptionId;
    /// An EWS notification watermark.
    Watermark;
    /// The id of a configured webhook (the engine chooses it, e.g. its URL or position).
    WebhookId;
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The text stored in the database and shown in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The inverse of [`Self::as_str`].
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::parse(&text).ok_or_else(|| {
                    let expected = [$($text,)*].join(", ");
                    serde::de::Error::custom(format!("unknown {} {text:?}, expected one of {expected}", stringify!($name)))
                })
            }
        }
    };
}

string_enum! {
    /// Which way a user's calendar is synchronised (CONTRACT §4 `settings.direction`).
    SyncDirection {
        Both = "both",
        ExchangeToApp = "exchange_to_app",
        AppToExchange = "app_to_exchange",
    }
}

string_enum! {
    /// Which identifier of a directory user resolved to a mailbox, in the order they are tried.
    MatchedBy {
        LoginEmail = "login_email",
        WorkEmail = "work_email",
        PersonalEmail = "personal_email",
        ExternalUid = "external_uid",
    }
}

string_enum! {
    /// A mailbox's state as the API shows it.
    MailboxStatus {
        Pending = "pending",
        Subscribed = "subscribed",
        NotFound = "not_found",
        Error = "error",
    }
}

string_enum! {
    /// The Exchange folder a mirror row, sync state or subscription belongs to.
    FolderKind {
        Calendar = "calendar",
        Tasks = "tasks",
    }
}

string_enum! {
    /// What a mirror row is (see the crate documentation on series).
    MirrorKind {
        /// A non-recurring event (or a task).
        Single = "single",
        /// One occurrence of a series inside the sync window, modified or not.
        Occurrence = "occurrence",
        /// A series master: the engine's copy of the series definition, used to re-expand the
        /// series without a round trip. Never returned by window queries.
        Master = "master",
    }
}

string_enum! {
    /// How a subscription is consumed.
    SubscriptionKind {
        Streaming = "streaming",
        Pull = "pull",
    }
}

string_enum! {
    /// Webhook and SSE event types (CONTRACT §5).
    EventType {
        PresenceChanged = "presence.changed",
        EventCreated = "event.created",
        EventUpdated = "event.updated",
        EventDeleted = "event.deleted",
        /// An Exchange delete for a user with `delete_in_app = false`: the application should
        /// unlink its copy rather than delete it (`data` = the last event plus `reason`).
        EventUnlinked = "event.unlinked",
        TaskCreated = "task.created",
        TaskUpdated = "task.updated",
        TaskDeleted = "task.deleted",
        UserMailboxResolved = "user.mailbox_resolved",
        UserSubscriptionFailed = "user.subscription_failed",
        WriteCompleted = "write.completed",
        WriteFailed = "write.failed",
    }
}

// ---------------------------------------------------------------------------------------------
// Directory

/// A user's sync settings (CONTRACT §4); every field has its documented default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSettings {
    pub direction: SyncDirection,
    pub delete_in_exchange: bool,
    pub delete_in_app: bool,
    pub skip_private: bool,
    pub sync_tasks: bool,
    /// First day to synchronise; `None` means [`UserSettings::DEFAULT_DAYS_BACK`] days back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_start: Option<Date>,
}

impl UserSettings {
    /// How far back a user without `sync_start` is synchronised.
    pub const DEFAULT_DAYS_BACK: i32 = 30;

    /// The first day to synchronise, given today's date in the user's zone.
    pub fn effective_sync_start(&self, today: Date) -> Date {
        match self.sync_start {
            Some(date) => date,
            None => today.saturating_sub(jiff::Span::new().days(Self::DEFAULT_DAYS_BACK)),
        }
    }
}

impl Default for UserSettings {
    fn default() -> Self {
        UserSettings {
            direction: SyncDirection::Both,
            delete_in_exchange: true,
            delete_in_app: true,
            skip_private: false,
            sync_tasks: false,
            sync_start: None,
        }
    }
}

/// A directory user as the application gives it (CONTRACT §4 user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    pub id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_uid: Option<String>,
    #[serde(default)]
    pub settings: UserSettings,
}

impl DirectoryUser {
    pub fn new(id: impl Into<UserId>) -> Self {
        DirectoryUser {
            id: id.into(),
            display_name: None,
            login_email: None,
            work_email: None,
            personal_email: None,
            external_uid: None,
            settings: UserSettings::default(),
        }
    }

    /// The identifiers in the order they are tried against Exchange (absent ones skipped).
    pub fn identifiers(&self) -> Vec<(MatchedBy, &str)> {
        [
            (MatchedBy::LoginEmail, &self.login_email),
            (MatchedBy::WorkEmail, &self.work_email),
            (MatchedBy::PersonalEmail, &self.personal_email),
            (MatchedBy::ExternalUid, &self.external_uid),
        ]
        .into_iter()
        .filter_map(|(by, value)| value.as_deref().filter(|v| !v.is_empty()).map(|v| (by, v)))
        .collect()
    }

    /// Whether `other` resolves differently (any identifier changed), so the mailbox must be
    /// resolved again.
    pub fn identifiers_differ(&self, other: &DirectoryUser) -> bool {
        self.login_email != other.login_email
            || self.work_email != other.work_email
            || self.personal_email != other.personal_email
            || self.external_uid != other.external_uid
    }
}

/// What happened to one identifier when the mailbox was resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AttemptOutcome {
    Resolved { mailbox: String },
    NotFound,
    Error { message: String },
}

/// One entry of a mailbox's resolution log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionAttempt {
    pub identifier: MatchedBy,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
    pub at: Timestamp,
}

/// A directory user's mailbox (the part of CONTRACT §4 `GET /users/{id}` after the user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxState {
    /// The mailbox's primary SMTP address, once resolved.
    pub mailbox: Option<String>,
    pub matched_by: Option<MatchedBy>,
    pub state: MailboxStatus,
    pub last_error: Option<String>,
    /// The name of the `[[exchange]]` server that holds the mailbox.
    pub exchange: Option<String>,
    /// Set once the initial sync is complete; moves with every sync.
    pub synced_at: Option<Timestamp>,
    /// The resolution log, oldest first (the engine bounds its length).
    pub attempts: Vec<ResolutionAttempt>,
    pub updated_at: Timestamp,
}

impl MailboxState {
    /// The state of a user whose mailbox has not been resolved yet.
    pub fn pending(now: Timestamp) -> Self {
        MailboxState {
            mailbox: None,
            matched_by: None,
            state: MailboxStatus::Pending,
            last_error: None,
            exchange: None,
            synced_at: None,
            attempts: Vec::new(),
            updated_at: now,
        }
    }
}

/// A directory user with its mailbox state (pending when never resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub user: DirectoryUser,
    pub mailbox: MailboxState,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How many directory users are in each mailbox state, and how many have completed their
/// initial sync (`synced_at` set): the `exbridge_users` gauges, without reading every user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserCounts {
    /// Every [`MailboxStatus`] once, in [`MailboxStatus::ALL`] order (users never resolved are
    /// `pending`).
    pub by_state: Vec<(MailboxStatus, u64)>,
    /// Users whose mailbox has a `synced_at`.
    pub synced: u64,
}

impl UserCounts {
    /// Counts `entries` (what a store without a cheaper way answers).
    pub fn of(entries: &[DirectoryEntry]) -> UserCounts {
        let mut by_state: Vec<(MailboxStatus, u64)> = MailboxStatus::ALL.iter().map(|s| (*s, 0)).collect();
        let mut synced = 0;
        for e in entries {
            if let Some(slot) = by_state.iter_mut().find(|(s, _)| *s == e.mailbox.state) {
                slot.1 += 1;
            }
            if e.mailbox.synced_at.is_some() {
                synced += 1;
            }
        }
        UserCounts { by_state, synced }
    }

    /// The count of one state.
    pub fn state(&self, state: MailboxStatus) -> u64 {
        self.by_state.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n)
    }

    /// Every user.
    pub fn total(&self) -> u64 {
        self.by_state.iter().map(|(_, n)| n).sum()
    }
}

/// The result of upserting one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created,
    /// Some field changed; `identifiers_changed` means the mailbox must be resolved again.
    Updated {
        identifiers_changed: bool,
    },
    Unchanged,
}

/// A user removed from the directory, with what the engine needs to clean up in Exchange
/// (the subscription to end). Its mailbox state, mirror, sync states and subscription row are
/// gone from the store; its outbox entries stay until delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedUser {
    pub user: DirectoryUser,
    pub mailbox: Option<MailboxState>,
    pub subscription: Option<SubscriptionRecord>,
}

/// What `replace_directory` changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryDiff {
    pub created: Vec<UserId>,
    pub updated: Vec<UserId>,
    /// Subset of `updated` whose identifiers changed.
    pub identifiers_changed: Vec<UserId>,
    pub unchanged: usize,
    pub removed: Vec<RemovedUser>,
}

/// The mass-delete guard of `replace_directory` (a directory that was non-empty and would
/// become empty, or lose too many users, is refused unless forced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplaceGuard {
    /// Refuse to remove every user of a non-empty directory.
    pub refuse_emptying: bool,
    /// Refuse to remove more than this many users.
    pub max_removed: Option<usize>,
}

impl ReplaceGuard {
    /// No guard at all.
    pub fn force() -> Self {
        ReplaceGuard { refuse_emptying: false, max_removed: None }
    }
}

impl Default for ReplaceGuard {
    fn default() -> Self {
        ReplaceGuard { refuse_emptying: true, max_removed: None }
    }
}

// ---------------------------------------------------------------------------------------------
// Mirror

/// Which instance of a UID a mirror row is.
///
/// The empty key is a single item or a series master; an occurrence's key is its original
/// start (EWS `OriginalStart` / iCalendar `RECURRENCE-ID`) in UTC, RFC 3339 with second
/// precision, so a moved occurrence keeps its key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceKey(String);

impl InstanceKey {
    /// The key of a single item or a series master.
    pub fn single() -> Self {
        InstanceKey(String::new())
    }

    /// The key of the occurrence originally starting at `original_start`.
    pub fn occurrence(original_start: Timestamp) -> Self {
        let seconds = original_start.as_second();
        let ts = Timestamp::from_second(seconds).unwrap_or(original_start);
        InstanceKey(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
    }

    /// A key kept as stored.
    pub fn from_raw(raw: impl Into<String>) -> Self {
        InstanceKey(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_single(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identity of a mirror row within one user: never the ItemId, which can change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MirrorKey {
    pub folder: FolderKind,
    pub uid: Uid,
    pub instance: InstanceKey,
}

impl MirrorKey {
    pub fn new(folder: FolderKind, uid: impl Into<Uid>, instance: InstanceKey) -> Self {
        MirrorKey { folder, uid: uid.into(), instance }
    }
}

/// One mirrored event (or task), as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorEvent {
    pub key: MirrorKey,
    pub kind: MirrorKind,
    /// The ItemId SyncFolderItems reports for this row (for an occurrence, its master's).
    pub item_id: ItemId,
    pub change_key: Option<ChangeKey>,
    /// The API's `series_id` of an occurrence.
    pub series_id: Option<String>,
    /// Start and end in UTC (window queries); `None` for undated tasks.
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    /// The event as the API shows it (CONTRACT §4 event), unmasked; for a master, the engine's
    /// series definition.
    pub event: serde_json::Value,
    /// The engine's hash of the content, for change detection.
    pub content_hash: String,
    pub changed_at: Timestamp,
    /// A tombstone: present before, deleted in Exchange; kept until pruned.
    pub deleted: bool,
}

/// A mirror row without its JSON: what the engine diffs a sync against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorIndexEntry {
    pub key: MirrorKey,
    pub kind: MirrorKind,
    pub item_id: ItemId,
    pub change_key: Option<ChangeKey>,
    pub series_id: Option<String>,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub content_hash: String,
    pub changed_at: Timestamp,
    pub deleted: bool,
}

/// One change to a user's mirror.
#[derive(Debug, Clone, PartialEq)]
pub enum MirrorChange {
    /// Insert or replace the row with this key, exactly as given.
    Upsert(MirrorEvent),
    /// Mark the row deleted (keeping its last content); nothing if there is no such row.
    Tombstone { key: MirrorKey, changed_at: Timestamp },
    /// Remove the row without a tombstone (e.g. an occurrence that left the sync window).
    Forget { key: MirrorKey },
}

/// The SyncFolderItems state of one folder of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSyncState {
    pub user_id: UserId,
    pub folder: FolderKind,
    pub sync_state: SyncState,
    pub updated_at: Timestamp,
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

/// A user's Exchange notification subscription (one per user, covering `folders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub user_id: UserId,
    pub subscription_id: SubscriptionId,
    pub kind: SubscriptionKind,
    pub folders: Vec<FolderKind>,
    pub watermark: Option<Watermark>,
    /// The name of the `[[exchange]]` server.
    pub exchange: String,
    /// Streaming group (mailboxes sharing one GetStreamingEvents connection) and the anchor
    /// mailbox of its affinity headers.
    pub group_id: Option<String>,
    pub anchor_mailbox: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

// ---------------------------------------------------------------------------------------------
// Outbox

/// An event to append to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxEvent {
    pub event_type: EventType,
    pub user_id: UserId,
    pub occurred_at: Timestamp,
    /// The webhook's `data` (unmasked; masking is per webhook at delivery).
    pub data: serde_json::Value,
    /// Who caused it (e.g. the API token's name for a write through the API); a webhook with
    /// the same `skip_origin` does not get it (no echoes).
    pub origin: Option<String>,
}

impl NewOutboxEvent {
    pub fn new(event_type: EventType, user_id: UserId, occurred_at: Timestamp, data: serde_json::Value) -> Self {
        NewOutboxEvent { event_type, user_id, occurred_at, data, origin: None }
    }
}

/// An appended outbox entry.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Global, gap-free in commit order, never reused; the SSE resume position.
    pub seq: i64,
    /// Stable id (UUIDv7) sent as the webhook's `id` and `X-Exbridge-Event-Id`; unique even
    /// across a wiped database, so receivers can deduplicate on it.
    pub id: String,
    pub event_type: EventType,
    pub user_id: UserId,
    pub occurred_at: Timestamp,
    pub data: serde_json::Value,
    pub origin: Option<String>,
    /// When it was appended (retention is counted from here).
    pub created_at: Timestamp,
}

impl OutboxEntry {
    /// The webhook body `{id, type, user_id, occurred_at, data}` (CONTRACT §5).
    pub fn payload(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "type": self.event_type.as_str(),
            "user_id": self.user_id.as_str(),
            "occurred_at": self.occurred_at.to_string(),
            "data": self.data,
        })
    }
}

/// A configured webhook as the outbox sees it: which entries it gets a delivery for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub id: WebhookId,
    /// `None` for every type (`events = ["*"]`).
    pub events: Option<Vec<EventType>>,
    /// Entries whose `origin` equals this are not delivered to this webhook.
    pub skip_origin: Option<String>,
}

impl WebhookTarget {
    pub fn all(id: impl Into<WebhookId>) -> Self {
        WebhookTarget { id: id.into(), events: None, skip_origin: None }
    }

    /// Whether this webhook gets `event`.
    pub fn wants(&self, event_type: EventType, origin: Option<&str>) -> bool {
        let type_ok = self.events.as_ref().is_none_or(|types| types.contains(&event_type));
        let origin_ok = match (&self.skip_origin, origin) {
            (Some(skip), Some(origin)) => skip != origin,
            _ => true,
        };
        type_ok && origin_ok
    }
}

/// One webhook's delivery state of one outbox entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    pub webhook_id: WebhookId,
    /// Tries so far, the successful one included.
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// An entry due for delivery to a webhook: the head of its user's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    pub entry: OutboxEntry,
    pub delivery: DeliveryState,
}

/// Outbox counters for metrics, the admin UI and SSE resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStats {
    /// Lowest seq still stored (`None` when empty): an SSE client asking to resume before it
    /// has missed pruned entries.
    pub first_seq: Option<i64>,
    /// Highest seq ever allocated (0 when none).
    pub last_seq: i64,
    pub entries: u64,
    /// Undelivered entries per webhook.
    pub undelivered: Vec<(WebhookId, u64)>,
}

// ---------------------------------------------------------------------------------------------
// Idempotency

/// The response stored for an idempotent write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

/// An `Idempotency-Key` record of the write API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub user_id: UserId,
    pub key: String,
    /// The hash of the request (method, path, body) the key was first used with.
    pub request_hash: String,
    /// `None` while the first request is still being processed.
    pub response: Option<StoredResponse>,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// The result of reserving an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The key was free and is now held by this request: execute it, then complete or release.
    Reserved,
    /// The key was used before (compare `request_hash`; replay `response`, or answer 409 while
    /// it is `None` or the hash differs).
    Existing(IdempotencyRecord),
}

// ---------------------------------------------------------------------------------------------
// Health

/// The result of a health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The latest applied migration.
    pub schema_version: i64,
    pub latency: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_defaults_follow_the_contract() {
        let settings: UserSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(settings, UserSettings::default());
        assert_eq!(settings.direction, SyncDirection::Both);
        assert!(settings.delete_in_exchange && settings.delete_in_app);
        assert!(!settings.skip_private && !settings.sync_tasks);
        let today: Date = "2026-03-31".parse().unwrap();
        assert_eq!(settings.effective_sync_start(today), "2026-03-01".parse::<Date>().unwrap());

        let partial: UserSettings =
            serde_json::from_str(r#"{"direction":"exchange_to_app","sync_start":"2026-01-02"}"#).unwrap();
        assert_eq!(partial.direction, SyncDirection::ExchangeToApp);
        assert!(partial.delete_in_app);
        assert_eq!(partial.effective_sync_start(today), "2026-01-02".parse::<Date>().unwrap());
        assert!(serde_json::from_str::<UserSettings>(r#"{"direction":"sideways"}"#).is_err());
    }

    #[test]
    fn user_json_matches_the_contract() {
        let user: DirectoryUser =
            serde_json::from_str(r#"{"id":"u1","work_email":"a@b.c","external_uid":"x"}"#).unwrap();
        assert_eq!(user.id.as_str(), "u1");
        assert_eq!(user.settings, UserSettings::default());
        assert_eq!(user.identifiers(), vec![(MatchedBy::WorkEmail, "a@b.c"), (MatchedBy::ExternalUid, "x")]);
        let json = serde_json::to_value(&user).unwrap();
        assert_eq!(json["work_email"], "a@b.c");
        assert!(json.get("login_email").is_none());
        assert_eq!(json["settings"]["direction"], "both");
    }

    #[test]
    fn enums_round_trip_through_text() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(*t));
        }
        assert_eq!(EventType::ALL.len(), 12);
        assert_eq!(EventType::EventCreated.as_str(), "event.created");
        for k in MailboxStatus::ALL {
            assert_eq!(MailboxStatus::parse(k.as_str()), Some(*k));
        }
        assert_eq!(MirrorKind::parse("nope"), None);
    }

    #[test]
    fn instance_keys_are_utc_seconds() {
        let ts: Timestamp = "2026-05-04T09:30:00.250+02:00".parse().unwrap();
        assert_eq!(InstanceKey::occurrence(ts).as_str(), "2026-05-04T07:30:00Z");
        assert!(InstanceKey::single().is_single());
    }

    #[test]
    fn webhook_filters() {
        let all = WebhookTarget::all("a");
        assert!(all.wants(EventType::PresenceChanged, Some("app")));
        let some = WebhookTarget {
            id: "b".into(),
            events: Some(vec![EventType::EventCreated]),
            skip_origin: Some("app".into()),
        };
        assert!(some.wants(EventType::EventCreated, None));
        assert!(some.wants(EventType::EventCreated, Some("other")));
        assert!(!some.wants(EventType::EventCreated, Some("app")));
        assert!(!some.wants(EventType::EventDeleted, None));
    }

    #[test]
    fn resolution_attempts_serialize_flat() {
        let attempt = ResolutionAttempt {
            identifier: MatchedBy::LoginEmail,
            value: "a@b.c".into(),
            exchange: Some("primary".into()),
            outcome: AttemptOutcome::Resolved { mailbox: "a@b.c".into() },
            at: "2026-01-01T00:00:00Z".parse().unwrap(),
        };
        let json = serde_json::to_value(&attempt).unwrap();
        assert_eq!(json["outcome"], "resolved");
        assert_eq!(json["mailbox"], "a@b.c");
        let back: ResolutionAttempt = serde_json::from_value(json).unwrap();
        assert_eq!(back, attempt);
    }

    #[test]
    fn payload_has_the_webhook_shape() {
        let entry = OutboxEntry {
            seq: 7,
            id: "0190-abc".into(),
            event_type: EventType::EventUpdated,
            user_id: "u1".into(),
            occurred_at: "2026-01-01T10:00:00Z".parse().unwrap(),
            data: serde_json::json!({"uid": "x"}),
            origin: None,
            created_at: "2026-01-01T10:00:01Z".parse().unwrap(),
        };
        let body = entry.payload();
        assert_eq!(
            body,
            serde_json::json!({"id":"0190-abc","type":"event.updated","user_id":"u1",
                "occurred_at":"2026-01-01T10:00:00Z","data":{"uid":"x"}})
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Pending writes and unlinked events

/// Where a queued API write stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingWriteState {
    /// Waiting to be applied (again) at `next_attempt_at`.
    Queued,
    /// Applied in Exchange.
    Done,
    /// Given up: Exchange rejected it (or it conflicted).
    Failed,
}

impl PendingWriteState {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingWriteState::Queued => "queued",
            PendingWriteState::Done => "done",
            PendingWriteState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "queued" => Some(PendingWriteState::Queued),
            "done" => Some(PendingWriteState::Done),
            "failed" => Some(PendingWriteState::Failed),
            _ => None,
        }
    }
}

/// An API write accepted while Exchange could not take it (the engine's `writes` module).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingWrite {
    pub id: String,
    pub user_id: UserId,
    /// Order of the user's writes (store-assigned, increasing).
    pub seq: i64,
    pub idempotency_key: Option<String>,
    /// The write as the engine describes it (JSON).
    pub operation: serde_json::Value,
    pub state: PendingWriteState,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    /// The outcome once done or failed (the `write.completed`/`write.failed` data).
    pub result: Option<serde_json::Value>,
    pub created_at: Timestamp,
}
