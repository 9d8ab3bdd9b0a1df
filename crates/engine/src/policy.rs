//! A directory user's sync settings (CONTRACT §4 `settings`) on the Exchange → application
//! path: what the mirror keeps and which outbox entries a sync appends. The application →
//! Exchange half (writes refused with 422, unlinking on delete) is enforced by the write path.
//!
//! # Rules
//!
//! 1. **`direction`.** `both` and `exchange_to_app`: Exchange changes are forwarded
//!    (`event.*`, `task.*` entries). `app_to_exchange`: they are *not* forwarded, no `event.*`
//!    or `task.*` entry is appended; the mirror is still kept up to date (the write path needs
//!    it for its conflict checks, `GET /events` reads it) and presence is still computed from
//!    it (`presence.changed` is not a calendar change and is still sent).
//! 2. **`delete_in_app = false`.** An Exchange delete (a single, a whole series, one
//!    occurrence) is not an `event.deleted` but an `event.unlinked` (a contract addition):
//!    `data` is the last event document plus `"reason": "deleted_in_exchange"`; the
//!    application keeps its copy and forgets the link. Tasks are not affected.
//! 3. **`skip_private = true`.** Private items (`Sensitivity` Private or Confidential,
//!    `is_private`) are neither forwarded nor listed by `GET /events` for that user. The mirror
//!    keeps them: a private meeting still makes the user busy (presence shows it masked, as the
//!    server masks every private document). An item that *becomes* private is an
//!    `event.deleted` (the application drops it); one that *stops* being private is an
//!    `event.created`; a private item deleted in Exchange raises nothing.
//! 4. **`sync_start`.** The sync window starts at max(`sync_start` 00:00 UTC, today −
//!    `window_past_days`), so never more than 30 days back. With `sync_start` set, a single
//!    item ending before that start is neither mirrored nor forwarded (a row it had is forgotten
//!    silently); a series is expanded from that start. Without `sync_start` the window is the
//!    configured one and singles are mirrored whatever their dates, as before.
//! 5. **Settings changed later** (`POST /api/v1/users`, `PUT /api/v1/users`): the new settings
//!    apply from the next sync on. When `sync_start` changed, one incremental pass (announced
//!    as usual) is followed by a *silent* full pass that adjusts the mirror to the new window:
//!    the application receives nothing for items entering or leaving the window (it reads
//!    `GET /events` for the new range). When `skip_private` changed, the application receives
//!    at once an `event.deleted` (switched on) or `event.created` (switched off) for every
//!    private item of the mirror (one per single or series, one per private occurrence of a
//!    series that is not private itself), unless the direction forwards nothing.
//! 6. **`changed`.** Every `event.updated` (and `task.updated`) carries in its `data` a
//!    `changed` list of the document fields that differ from the previous version
//!    ([`changed_fields`], `changed_at` excluded), computed by the plan, so that the application
//!    applies only what changed, e.g. only `start` and `end` when the organiser of a meeting
//!    moved it, without overwriting what it keeps itself for the attendee's copy.

use std::collections::BTreeSet;

use exbridge_store::{EventType, MirrorEvent, MirrorKind, NewOutboxEvent, SyncDirection, UserId, UserSettings};
use jiff::Timestamp;
use serde_json::Value;

use crate::mapping::MappedItem;

/// The `reason` of an `event.unlinked` raised by a delete in Exchange.
pub const UNLINK_REASON: &str = "deleted_in_exchange";

/// The fields of an event document in the order `changed` lists them.
const DOC_FIELDS: &[&str] = &[
    "subject",
    "start",
    "end",
    "time_zone",
    "is_all_day",
    "location",
    "body",
    "is_private",
    "categories",
    "importance",
    "free_busy",
    "organizer",
    "attendees",
    "is_meeting",
    "is_cancelled",
    "join",
    "recurrence",
    "series_id",
    "uid",
    "id",
];

/// One user's settings as the sync applies them (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPolicy {
    /// `direction` is `both` or `exchange_to_app`.
    pub forward: bool,
    /// Exchange deletes are `event.deleted` (true) or `event.unlinked` (false).
    pub delete_in_app: bool,
    pub skip_private: bool,
    /// `sync_start` at 00:00 UTC, when set.
    pub sync_start: Option<Timestamp>,
    /// Append no outbox entry at all (the full pass after a window change).
    pub silent: bool,
}

impl Default for ReadPolicy {
    fn default() -> Self {
        ReadPolicy::from_settings(&UserSettings::default())
    }
}

impl ReadPolicy {
    /// The policy of a user's settings.
    pub fn from_settings(settings: &UserSettings) -> Self {
        ReadPolicy {
            forward: settings.direction != SyncDirection::AppToExchange,
            delete_in_app: settings.delete_in_app,
            skip_private: settings.skip_private,
            sync_start: settings
                .sync_start
                .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
                .map(|z| z.timestamp()),
            silent: false,
        }
    }

    /// The same policy announcing nothing.
    pub fn silenced(mut self) -> Self {
        self.silent = true;
        self
    }

    /// The user's sync window: `window` (the configured one) starting no earlier than
    /// `sync_start` (and never after its end).
    pub fn window(&self, window: (Timestamp, Timestamp)) -> (Timestamp, Timestamp) {
        match self.sync_start {
            Some(s) if s > window.0 => (s.min(window.1), window.1),
            _ => window,
        }
    }

    /// Whether `item` is left out of the mirror in `window` (already [`ReadPolicy::window`]):
    /// with `sync_start` set, a single item that ends before the window starts.
    pub fn cuts(&self, window: (Timestamp, Timestamp), item: &MappedItem) -> bool {
        if self.sync_start.is_none() {
            return false;
        }
        match item.head() {
            Some(h) if h.kind == MirrorKind::Single => h.end.or(h.start).is_some_and(|end| end < window.0),
            _ => false,
        }
    }

    /// The outbox entries of a sync step as this user receives them (rules 1 to 3).
    pub fn filter_outbox(&self, outbox: Vec<NewOutboxEvent>) -> Vec<NewOutboxEvent> {
        if self.silent {
            return Vec::new();
        }
        outbox.into_iter().filter_map(|e| self.filter_one(e)).collect()
    }

    fn filter_one(&self, mut e: NewOutboxEvent) -> Option<NewOutboxEvent> {
        use EventType::*;
        let is_calendar = matches!(e.event_type, EventCreated | EventUpdated | EventDeleted | EventUnlinked);
        let is_task = matches!(e.event_type, TaskCreated | TaskUpdated | TaskDeleted);
        if !is_calendar && !is_task {
            return Some(e);
        }
        if !self.forward {
            return None;
        }
        let private = e.data.get("is_private").and_then(Value::as_bool).unwrap_or(false);
        match e.event_type {
            EventCreated | TaskCreated if self.skip_private && private => None,
            EventDeleted | TaskDeleted if self.skip_private && private => None,
            EventDeleted if !self.delete_in_app => {
                e.event_type = EventUnlinked;
                if let Some(obj) = e.data.as_object_mut() {
                    obj.insert("reason".into(), Value::from(UNLINK_REASON));
                }
                Some(e)
            }
            EventUpdated | TaskUpdated if self.skip_private => {
                let visibility_changed = e
                    .data
                    .get("changed")
                    .and_then(Value::as_array)
                    .is_some_and(|c| c.iter().any(|f| f == "is_private"));
                let (created, deleted) =
                    if is_calendar { (EventCreated, EventDeleted) } else { (TaskCreated, TaskDeleted) };
                match (private, visibility_changed) {
                    (true, false) => None,
                    (true, true) => Some(retyped(e, deleted)),
                    (false, true) => Some(retyped(e, created)),
                    (false, false) => Some(e),
                }
            }
            _ => Some(e),
        }
    }
}

fn retyped(mut e: NewOutboxEvent, event_type: EventType) -> NewOutboxEvent {
    e.event_type = event_type;
    if let Some(obj) = e.data.as_object_mut() {
        obj.remove("changed");
    }
    e
}

/// The fields of two event documents that differ, `changed_at` excluded: the document fields
/// in their declared order, then any other key in alphabetical order. `old = None`: every
/// field `new` has.
pub fn changed_fields(old: Option<&Value>, new: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let old = old.and_then(Value::as_object).unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    // The version fields change with every change; they are not what changed.
    let keys: BTreeSet<&str> = old
        .keys()
        .chain(new.keys())
        .map(String::as_str)
        .filter(|k| !matches!(*k, "changed_at" | "changed" | "change_key"))
        .collect();
    let differs = |k: &str| old.get(k).unwrap_or(&Value::Null) != new.get(k).unwrap_or(&Value::Null);
    let mut out: Vec<String> =
        DOC_FIELDS.iter().filter(|f| keys.contains(**f) && differs(f)).map(|f| (*f).to_owned()).collect();
    out.extend(keys.iter().filter(|k| !DOC_FIELDS.contains(k) && differs(k)).map(|k| (*k).to_owned()));
    out
}

/// The entries telling the application that `skip_private` changed to `skip_private_now`
/// (rule 5): for every live private single or series head of `rows`, and every private
/// occurrence of a series that is not private itself, an `event.deleted` (now skipped) or
/// `event.created` (now shown) with its document. Nothing when `policy` forwards nothing.
pub fn visibility_events(
    rows: &[MirrorEvent],
    policy: &ReadPolicy,
    user: &UserId,
    now: Timestamp,
) -> Vec<NewOutboxEvent> {
    if !policy.forward || policy.silent {
        return Vec::new();
    }
    let private = |r: &MirrorEvent| r.event.get("is_private").and_then(Value::as_bool).unwrap_or(false);
    let private_heads: BTreeSet<&str> = rows
        .iter()
        .filter(|r| !r.deleted && r.key.instance.is_single() && private(r))
        .map(|r| r.key.uid.as_str())
        .collect();
    let event_type = if policy.skip_private { EventType::EventDeleted } else { EventType::EventCreated };
    let mut out: Vec<&MirrorEvent> = rows
        .iter()
        .filter(|r| r.key.folder == exbridge_store::FolderKind::Calendar && !r.deleted && private(r))
        .filter(|r| r.key.instance.is_single() || !private_heads.contains(r.key.uid.as_str()))
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out.into_iter().map(|r| NewOutboxEvent::new(event_type, user.clone(), now, r.event.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use exbridge_store::{FolderKind, InstanceKey, ItemId, MirrorKey, Uid};
    use serde_json::json;

    #[test]
    fn version_fields_are_not_listed_as_changed() {
        let old = json!({"subject": "A", "start": "s1", "change_key": "ck1", "changed_at": "t1"});
        let new = json!({"subject": "A", "start": "s2", "change_key": "ck2", "changed_at": "t2"});
        assert_eq!(changed_fields(Some(&old), &new), ["start"]);
        let same = json!({"subject": "A", "start": "s1", "change_key": "ck2", "changed_at": "t2"});
        assert!(changed_fields(Some(&old), &same).is_empty());
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn entry(t: EventType, data: Value) -> NewOutboxEvent {
        NewOutboxEvent::new(t, UserId::new("u"), ts("2026-03-01T00:00:00Z"), data)
    }

    fn policy(f: impl FnOnce(&mut UserSettings)) -> ReadPolicy {
        let mut s = UserSettings::default();
        f(&mut s);
        ReadPolicy::from_settings(&s)
    }

    fn types(out: &[NewOutboxEvent]) -> Vec<&'static str> {
        out.iter().map(|e| e.event_type.as_str()).collect()
    }

    fn all_kinds() -> Vec<NewOutboxEvent> {
        vec![
            entry(EventType::EventCreated, json!({"id": "a", "is_private": false})),
            entry(EventType::EventUpdated, json!({"id": "b", "is_private": false, "changed": ["start"]})),
            entry(EventType::EventDeleted, json!({"id": "c", "is_private": false})),
            entry(EventType::TaskCreated, json!({"id": "t"})),
            entry(EventType::PresenceChanged, json!({"user_id": "u"})),
        ]
    }

    #[test]
    fn direction_app_to_exchange_forwards_no_calendar_change() {
        let both = ReadPolicy::default();
        assert_eq!(types(&both.filter_outbox(all_kinds())).len(), 5);
        let to_app = policy(|s| s.direction = SyncDirection::ExchangeToApp);
        assert_eq!(to_app.filter_outbox(all_kinds()), all_kinds());
        let to_exchange = policy(|s| s.direction = SyncDirection::AppToExchange);
        assert_eq!(types(&to_exchange.filter_outbox(all_kinds())), ["presence.changed"]);
        // Nor are visibility changes sent.
        let row = private_row("p", InstanceKey::single());
        assert!(visibility_events(&[row], &to_exchange, &UserId::new("u"), ts("2026-03-01T00:00:00Z")).is_empty());
    }

    #[test]
    fn delete_in_app_false_turns_exchange_deletes_into_unlinks() {
        let keep = policy(|s| s.delete_in_app = false);
        let out = keep.filter_outbox(all_kinds());
        assert_eq!(
            types(&out),
            ["event.created", "event.updated", "event.unlinked", "task.created", "presence.changed"]
        );
        assert_eq!(out[2].data, json!({"id": "c", "is_private": false, "reason": "deleted_in_exchange"}));
        let default = ReadPolicy::default().filter_outbox(all_kinds());
        assert_eq!(default[2].event_type, EventType::EventDeleted);
        assert_eq!(default[2].data, json!({"id": "c", "is_private": false}));
        // Task deletes stay task deletes.
        let t = keep.filter_outbox(vec![entry(EventType::TaskDeleted, json!({"id": "t"}))]);
        assert_eq!(types(&t), ["task.deleted"]);
    }

    #[test]
    fn skip_private_hides_private_items_and_turns_visibility_changes_into_create_delete() {
        let skip = policy(|s| s.skip_private = true);
        let input = vec![
            entry(EventType::EventCreated, json!({"id": "1", "is_private": true})),
            entry(EventType::EventUpdated, json!({"id": "2", "is_private": true, "changed": ["subject"]})),
            entry(EventType::EventDeleted, json!({"id": "3", "is_private": true})),
            entry(EventType::EventUpdated, json!({"id": "4", "is_private": true, "changed": ["is_private"]})),
            entry(EventType::EventUpdated, json!({"id": "5", "is_private": false, "changed": ["body", "is_private"]})),
            entry(EventType::EventUpdated, json!({"id": "6", "is_private": false, "changed": ["subject"]})),
        ];
        let out = skip.filter_outbox(input.clone());
        let got: Vec<(&str, &str)> =
            out.iter().map(|e| (e.event_type.as_str(), e.data["id"].as_str().unwrap())).collect();
        assert_eq!(got, [("event.deleted", "4"), ("event.created", "5"), ("event.updated", "6")]);
        assert!(out[0].data.get("changed").is_none() && out[1].data.get("changed").is_none());
        // The default forwards them all as they are.
        assert_eq!(ReadPolicy::default().filter_outbox(input.clone()), input);
        // With delete_in_app = false, becoming private is still a delete (not an unlink).
        let both = policy(|s| {
            s.skip_private = true;
            s.delete_in_app = false
        });
        assert_eq!(types(&both.filter_outbox(input[3..4].to_vec())), ["event.deleted"]);
    }

    #[test]
    fn sync_start_moves_the_window_start_and_cuts_singles_ending_before_it() {
        let window = (ts("2026-02-01T00:00:00Z"), ts("2026-09-01T00:00:00Z"));
        assert_eq!(ReadPolicy::default().window(window), window);
        let later = policy(|s| s.sync_start = Some("2026-02-20".parse().unwrap()));
        assert_eq!(later.window(window), (ts("2026-02-20T00:00:00Z"), window.1));
        // Never further back than the configured window.
        let earlier = policy(|s| s.sync_start = Some("2025-01-01".parse().unwrap()));
        assert_eq!(earlier.window(window), window);

        let w = later.window(window);
        let single = |start: &str, end: &str| mapped(MirrorKind::Single, ts(start), ts(end));
        assert!(later.cuts(w, &single("2026-02-10T09:00:00Z", "2026-02-10T10:00:00Z")));
        assert!(!later.cuts(w, &single("2026-02-19T23:00:00Z", "2026-02-20T01:00:00Z")));
        assert!(!later.cuts(w, &single("2026-03-10T09:00:00Z", "2026-03-10T10:00:00Z")));
        // A series is expanded in the window, never cut; without sync_start nothing is.
        assert!(!later.cuts(w, &mapped(MirrorKind::Master, ts("2026-01-05T09:00:00Z"), ts("2026-01-05T10:00:00Z"))));
        assert!(!ReadPolicy::default().cuts(window, &single("2025-02-10T09:00:00Z", "2025-02-10T10:00:00Z")));
    }

    #[test]
    fn silent_policy_appends_nothing() {
        assert!(ReadPolicy::default().silenced().filter_outbox(all_kinds()).is_empty());
    }

    #[test]
    fn changed_lists_differing_fields_in_document_order() {
        let old = json!({"id": "x", "subject": "A", "start": "s1", "end": "e1", "location": null, "changed_at": "1"});
        let new = json!({"id": "x", "subject": "A", "start": "s2", "end": "e2", "location": "Room", "changed_at": "2"});
        assert_eq!(changed_fields(Some(&old), &new), ["start", "end", "location"]);
        assert!(changed_fields(Some(&new), &new).is_empty());
        // A field that appeared or disappeared counts; unknown keys come last.
        let more = json!({"id": "x", "subject": "A", "start": "s2", "end": "e2", "location": "Room", "zzz": 1});
        assert_eq!(changed_fields(Some(&new), &more), ["zzz"]);
        assert_eq!(changed_fields(None, &json!({"subject": "A", "id": "x"})), ["subject", "id"]);
    }

    fn private_row(uid: &str, instance: InstanceKey) -> MirrorEvent {
        let mut r = row(uid, instance, MirrorKind::Single);
        r.event = json!({"id": uid, "is_private": true});
        r
    }

    fn row(uid: &str, instance: InstanceKey, kind: MirrorKind) -> MirrorEvent {
        MirrorEvent {
            key: MirrorKey::new(FolderKind::Calendar, Uid::new(uid), instance),
            kind,
            item_id: ItemId::new(format!("id-{uid}")),
            change_key: None,
            series_id: None,
            start: Some(ts("2026-03-01T09:00:00Z")),
            end: Some(ts("2026-03-01T10:00:00Z")),
            event: json!({"id": uid, "is_private": false}),
            content_hash: String::new(),
            changed_at: ts("2026-03-01T00:00:00Z"),
            deleted: false,
        }
    }

    fn mapped(kind: MirrorKind, start: Timestamp, end: Timestamp) -> MappedItem {
        let mut r = row("m", InstanceKey::single(), kind);
        r.start = Some(start);
        r.end = Some(end);
        MappedItem { uid: Uid::new("m"), item_id: ItemId::new("id-m"), rows: vec![r], deleted_occurrences: vec![] }
    }

    #[test]
    fn a_skip_private_change_announces_every_private_item_once() {
        let occ = InstanceKey::occurrence(ts("2026-03-02T09:00:00Z"));
        let mut private_occurrence = row("s", occ.clone(), MirrorKind::Occurrence);
        private_occurrence.event = json!({"id": "s~occ", "is_private": true});
        let mut gone = private_row("gone", InstanceKey::single());
        gone.deleted = true;
        let mut private_series = private_row("ps", InstanceKey::single());
        private_series.kind = MirrorKind::Master;
        let mut private_series_occurrence = row("ps", occ, MirrorKind::Occurrence);
        private_series_occurrence.event = json!({"id": "ps~occ", "is_private": true});
        let rows = vec![
            private_row("p", InstanceKey::single()),
            row("public", InstanceKey::single(), MirrorKind::Single),
            row("s", InstanceKey::single(), MirrorKind::Master),
            private_occurrence,
            gone,
            private_series,
            private_series_occurrence,
        ];
        let now = ts("2026-03-01T00:00:00Z");
        let on = visibility_events(&rows, &policy(|s| s.skip_private = true), &UserId::new("u"), now);
        let got: Vec<(&str, &str)> =
            on.iter().map(|e| (e.event_type.as_str(), e.data["id"].as_str().unwrap())).collect();
        assert_eq!(got, [("event.deleted", "p"), ("event.deleted", "ps"), ("event.deleted", "s~occ")]);
        let off = visibility_events(&rows, &ReadPolicy::default(), &UserId::new("u"), now);
        assert_eq!(types(&off), ["event.created"; 3]);
    }
}
