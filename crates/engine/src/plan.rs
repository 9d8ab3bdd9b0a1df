//! The sync decision table: (mirror rows before, items as Exchange has them now) → mirror
//! changes and outbox events. Pure and deterministic.
//!
//! # Granularity
//!
//! The mirror stores occurrences; the application hears about *Exchange items*, one webhook
//! per change:
//!
//! | before (mirror)          | now (Exchange)                                  | mirror                                  | events                                      |
//! |--------------------------|-------------------------------------------------|-----------------------------------------|---------------------------------------------|
//! | nothing                  | single / series                                 | upsert its rows                         | one `created` (single doc / series doc)     |
//! | single / series          | gone (Delete by ItemId, or absent in a full pass) | tombstone every row                    | one `deleted` (last single / series doc)    |
//! | single                   | single, same hash                               | silent upsert if ids/times moved        | none (even if the ChangeKey changed)        |
//! | single                   | single, other hash                              | upsert                                  | one `updated` (single doc)                  |
//! | series / single          | series / single, head hash differs or kind changed | upsert new rows, forget rows gone    | one `updated` (series or single doc)        |
//! | series                   | series, same series hash:                       |                                         |                                             |
//! |  occurrence row          |  same occurrence, other hash (exception made, changed or undone) | upsert              | one `updated` (occurrence doc)              |
//! |  occurrence row          |  listed in DeletedOccurrences                   | tombstone                               | one `deleted` (last occurrence doc)         |
//! |  occurrence row          |  not expanded any more (left the window)        | forget                                  | none                                        |
//! |  no row                  |  occurrence expanded (entered the window)       | upsert                                  | none                                        |
//! | absent / tombstone only  | present (full pass: reappeared)                 | upsert                                  | one `created`                               |
//!
//! `before` holds live rows only (tombstones are ignored: a UID whose rows are all tombstones
//! is "nothing"). Without `full`, only the UIDs of `present` and the UIDs whose rows carry a
//! deleted ItemId are looked at; with `full`, `before` is the whole folder and every UID it
//! holds that `present` lacks is deleted.
//!
//! Events come out ordered by UID, then by instance key (the head first); changes likewise.
//!
//! # `changed`
//!
//! The `data` of every `updated` event is the new document plus `changed`: the document fields
//! that differ from the row it replaces ([`crate::policy::changed_fields`]; every field when
//! there was no row for that instance). The user's settings are applied to the plan's events
//! afterwards ([`crate::policy::ReadPolicy::filter_outbox`]).

use std::collections::{BTreeMap, BTreeSet};

use exbridge_store::{EventType, FolderKind, InstanceKey, ItemId, MirrorChange, MirrorEvent, NewOutboxEvent, UserId};
use jiff::Timestamp;

use crate::mapping::MappedItem;

/// What to plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub user: &'a UserId,
    /// Stamped on tombstones and on the events.
    pub now: Timestamp,
    /// The mirror rows of the affected UIDs (or of the whole folder with `full`); tombstones
    /// are ignored.
    pub before: &'a [MirrorEvent],
    /// The items as Exchange has them now.
    pub present: &'a [MappedItem],
    /// ItemIds Exchange reported deleted.
    pub deleted: &'a [ItemId],
    /// `before` is the whole folder: UIDs missing from `present` are deleted.
    pub full: bool,
}

/// The result: apply `changes` and append `outbox` in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub changes: Vec<MirrorChange>,
    pub outbox: Vec<NewOutboxEvent>,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
}

#[derive(Clone, Copy)]
enum Kind {
    Created,
    Updated,
    Deleted,
}

fn event_type(folder: FolderKind, kind: Kind) -> EventType {
    match (folder, kind) {
        (FolderKind::Calendar, Kind::Created) => EventType::EventCreated,
        (FolderKind::Calendar, Kind::Updated) => EventType::EventUpdated,
        (FolderKind::Calendar, Kind::Deleted) => EventType::EventDeleted,
        (FolderKind::Tasks, Kind::Created) => EventType::TaskCreated,
        (FolderKind::Tasks, Kind::Updated) => EventType::TaskUpdated,
        (FolderKind::Tasks, Kind::Deleted) => EventType::TaskDeleted,
    }
}

struct Builder<'a> {
    input: &'a PlanInput<'a>,
    plan: Plan,
}

impl Builder<'_> {
    fn emit(&mut self, kind: Kind, row: &MirrorEvent) {
        match kind {
            Kind::Created => self.plan.created += 1,
            Kind::Updated => self.plan.updated += 1,
            Kind::Deleted => self.plan.deleted += 1,
        }
        self.plan.outbox.push(NewOutboxEvent::new(
            event_type(row.key.folder, kind),
            self.input.user.clone(),
            self.input.now,
            row.event.clone(),
        ));
    }

    /// An update of `row`, its data carrying `changed`: the fields that differ from `old`.
    fn emit_updated(&mut self, old: Option<&MirrorEvent>, row: &MirrorEvent) {
        self.emit(Kind::Updated, row);
        let changed = crate::policy::changed_fields(old.map(|o| &o.event), &row.event);
        if let Some(obj) = self.plan.outbox.last_mut().and_then(|e| e.data.as_object_mut()) {
            obj.insert("changed".into(), serde_json::Value::from(changed));
        }
    }

    fn upsert(&mut self, row: &MirrorEvent) {
        self.plan.changes.push(MirrorChange::Upsert(row.clone()));
    }

    fn tombstone(&mut self, row: &MirrorEvent) {
        self.plan.changes.push(MirrorChange::Tombstone { key: row.key.clone(), changed_at: self.input.now });
    }

    fn forget(&mut self, row: &MirrorEvent) {
        self.plan.changes.push(MirrorChange::Forget { key: row.key.clone() });
    }

    /// Upserts `new` unless the mirror already holds exactly it.
    fn refresh(&mut self, old: Option<&MirrorEvent>, new: &MirrorEvent) {
        if old != Some(new) {
            self.upsert(new);
        }
    }

    fn item_gone(&mut self, old: &BTreeMap<&InstanceKey, &MirrorEvent>) {
        let head = old.iter().find(|(k, _)| k.is_single()).map(|(_, r)| *r);
        match head {
            Some(h) => self.emit(Kind::Deleted, h),
            // A series whose master row is missing: tell about each occurrence.
            None => old.values().for_each(|r| self.emit(Kind::Deleted, r)),
        }
        for r in old.values() {
            self.tombstone(r);
        }
    }

    fn item_new(&mut self, new: &MappedItem) {
        for r in &new.rows {
            self.upsert(r);
        }
        match new.head() {
            Some(h) => self.emit(Kind::Created, h),
            None => new.rows.iter().for_each(|r| self.emit(Kind::Created, r)),
        }
    }

    fn item_changed(&mut self, old: &BTreeMap<&InstanceKey, &MirrorEvent>, new: &MappedItem) {
        let old_head = old.iter().find(|(k, _)| k.is_single()).map(|(_, r)| *r);
        let new_head = new.head();
        let head_changed = match (old_head, new_head) {
            (Some(o), Some(n)) => o.kind != n.kind || o.content_hash != n.content_hash,
            (None, None) => false,
            _ => true,
        };
        let new_keys: BTreeSet<&InstanceKey> = new.rows.iter().map(|r| &r.key.instance).collect();
        if head_changed {
            // A change of the whole item (single, or series-level): one event, every row
            // refreshed, rows the item no longer has forgotten.
            for r in &new.rows {
                self.refresh(old.get(&r.key.instance).copied(), r);
            }
            for (k, r) in old {
                if !new_keys.contains(k) {
                    self.forget(r);
                }
            }
            match new_head {
                Some(h) => self.emit_updated(old_head, h),
                None => new.rows.iter().for_each(|r| self.emit_updated(old.get(&r.key.instance).copied(), r)),
            }
            return;
        }
        // Same item-level content: compare occurrence by occurrence.
        let deleted: BTreeSet<&InstanceKey> = new.deleted_occurrences.iter().collect();
        let mut events: Vec<(Kind, MirrorEvent, Option<&MirrorEvent>)> = Vec::new();
        for r in &new.rows {
            let before = old.get(&r.key.instance).copied();
            match before {
                Some(b) if !r.key.instance.is_single() && b.content_hash != r.content_hash => {
                    self.upsert(r);
                    events.push((Kind::Updated, r.clone(), Some(b)));
                }
                _ => self.refresh(before, r),
            }
        }
        for (k, r) in old {
            if new_keys.contains(k) {
                continue;
            }
            if deleted.contains(k) {
                self.tombstone(r);
                events.push((Kind::Deleted, (*r).clone(), None));
            } else {
                self.forget(r);
            }
        }
        events.sort_by(|a, b| a.1.key.instance.cmp(&b.1.key.instance));
        for (kind, r, before) in events {
            match kind {
                Kind::Updated => self.emit_updated(before, &r),
                _ => self.emit(kind, &r),
            }
        }
    }
}

/// Plans one sync step. See the module documentation for the table.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let mut old: BTreeMap<&str, BTreeMap<&InstanceKey, &MirrorEvent>> = BTreeMap::new();
    let mut uids_of_item: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in input.before.iter().filter(|r| !r.deleted) {
        old.entry(r.key.uid.as_str()).or_default().insert(&r.key.instance, r);
        uids_of_item.entry(r.item_id.as_str()).or_default().insert(r.key.uid.as_str());
    }
    let mut new: BTreeMap<&str, &MappedItem> = BTreeMap::new();
    for item in input.present {
        new.insert(item.uid.as_str(), item);
    }
    let mut uids: BTreeSet<&str> = new.keys().copied().collect();
    for id in input.deleted {
        if let Some(set) = uids_of_item.get(id.as_str()) {
            uids.extend(set.iter().copied());
        }
    }
    if input.full {
        uids.extend(old.keys().copied());
    }
    let mut b = Builder { input, plan: Plan::default() };
    let empty = BTreeMap::new();
    for uid in uids {
        let before = old.get(uid).unwrap_or(&empty);
        match (before.is_empty(), new.get(uid)) {
            (true, None) => {}
            (false, None) => b.item_gone(before),
            (true, Some(n)) => b.item_new(n),
            (false, Some(n)) => b.item_changed(before, n),
        }
    }
    b.plan
}

/// The plan of a folder's first sync into an empty mirror that is not announced: what
/// [`plan`] gives with an empty `before` (every row of every item upserted, by UID then head
/// first, the last item of a UID given twice winning), without its `created` events, and with
/// the rows moved rather than copied (the initial sync of a mailbox writes hundreds of rows).
pub fn initial_quiet(present: Vec<MappedItem>) -> Plan {
    let mut by_uid: BTreeMap<exbridge_store::Uid, MappedItem> = BTreeMap::new();
    for item in present {
        by_uid.insert(item.uid.clone(), item);
    }
    let mut plan = Plan::default();
    for item in by_uid.into_values() {
        plan.created += if item.head().is_some() { 1 } else { item.rows.len() };
        plan.changes.extend(item.rows.into_iter().map(MirrorChange::Upsert));
    }
    plan
}

/// Applies changes to an in-memory mirror as the store does (tests, and the sync's own view of
/// the mirror between pages).
pub fn apply_in_memory(mirror: &mut BTreeMap<exbridge_store::MirrorKey, MirrorEvent>, changes: &[MirrorChange]) {
    for c in changes {
        match c {
            MirrorChange::Upsert(r) => {
                mirror.insert(r.key.clone(), r.clone());
            }
            MirrorChange::Tombstone { key, changed_at } => {
                if let Some(r) = mirror.get_mut(key) {
                    r.deleted = true;
                    r.changed_at = *changed_at;
                }
            }
            MirrorChange::Forget { key } => {
                mirror.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests;
