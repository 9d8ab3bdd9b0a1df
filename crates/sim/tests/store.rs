//! Store semantics: change keys, conflicts, SyncFolderItems paging and state validation,
//! occurrences and exceptions, CalendarView, FindItem, mailboxes, meetings, OOF,
//! notifications.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ews_proto::items::{
    Attendee, CalendarItem, CalendarItemType, DayOfWeek, Item, ItemFields, Recurrence, RecurrencePattern,
    RecurrenceRange, Task,
};
use ews_proto::values::{Date as XDate, DateTime};
use ews_proto::{
    BaseItemId, ChangeKey, EmailAddress, FolderId, ItemId, OccurrenceItemId, RecurringMasterItemId, ResponseCode,
    Watermark,
};
use exbridge_sim::seed::{SeedConfig, seeded_store};
use exbridge_sim::store::{
    ChangeKeyCheck, EventKind, FIND_COUNT_LIMIT, FolderKind, Mailbox, MailboxSpec, OofState, OofStatus, Store,
    StoreConfig, StoreError, SubscriptionKind, SubscriptionSpec, SyncChange,
};
use jiff::civil::date;
use jiff::{SignedDuration, Timestamp};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn store_with(n: u32) -> Store {
    let store = Store::new(StoreConfig::from_seed(7));
    for i in 1..=n {
        store
            .add_mailbox(MailboxSpec {
                smtp: format!("user{i}@contoso.test"),
                aliases: vec![format!("alias{i}@contoso.test")],
                display_name: Some(format!("User {i}")),
                time_zone: Some("W. Europe Standard Time".into()),
            })
            .unwrap();
    }
    store
}

fn appointment(subject: &str, start: &str, end: &str) -> Item {
    Item::Calendar(CalendarItem {
        item: ItemFields { subject: Some(subject.into()), ..ItemFields::default() },
        start: Some(DateTime::utc(ts(start))),
        end: Some(DateTime::utc(ts(end))),
        ..CalendarItem::default()
    })
}

fn weekly_meeting(start: &str, end: &str) -> Item {
    let Item::Calendar(mut c) = appointment("Weekly sync", start, end) else { unreachable!() };
    c.start_time_zone_id = Some("W. Europe Standard Time".into());
    c.recurrence = Some(Recurrence {
        pattern: RecurrencePattern::Weekly {
            interval: 1,
            days_of_week: vec![DayOfWeek::Monday],
            first_day_of_week: None,
        },
        range: RecurrenceRange::Numbered { start_date: XDate::new(date(2026, 3, 16)), number_of_occurrences: 10 },
    });
    Item::Calendar(c)
}

fn id_of(item: &Item) -> BaseItemId {
    BaseItemId::Item(item.item_id().unwrap().clone())
}

fn bare(item: &Item) -> BaseItemId {
    BaseItemId::Item(ItemId { id: item.item_id().unwrap().id.clone(), change_key: None })
}

fn ck(item: &Item) -> ChangeKey {
    item.item_id().unwrap().change_key.clone().unwrap()
}

fn cal(item: &Item) -> &CalendarItem {
    match item {
        Item::Calendar(c) => c,
        other => panic!("not a calendar item: {other:?}"),
    }
}

fn set_subject(s: &'static str) -> impl FnOnce(&mut Item) -> Result<(), StoreError> {
    move |i| {
        let Item::Calendar(c) = i else { unreachable!() };
        c.item.subject = Some(s.into());
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Change keys

#[test]
fn change_key_changes_on_every_modification() {
    let store = store_with(1);
    let mb = store.mailbox("user1@contoso.test").unwrap();
    let a = store
        .create_item(&mb, FolderKind::Calendar, &appointment("A", "2026-03-16T09:00:00Z", "2026-03-16T10:00:00Z"))
        .unwrap();
    let mut seen = vec![ck(&a)];
    let mut current = a.clone();
    for s in ["B", "C", "D"] {
        current = store.update_item(&mb, &id_of(&current), ChangeKeyCheck::Enforce, set_subject(s)).unwrap();
        assert!(!seen.contains(&ck(&current)), "change key repeated");
        assert_eq!(cal(&current).item.subject.as_deref(), Some(s));
        assert_eq!(current.item_id().unwrap().id, a.item_id().unwrap().id, "the id stays");
        seen.push(ck(&current));
    }
    // GetItem shows the current key; UID and creation time do not change.
    let got = store.get_item(&mb, &bare(&a)).unwrap();
    assert_eq!(ck(&got), *seen.last().unwrap());
    assert_eq!(cal(&got).uid, cal(&a).uid);
    assert_eq!(cal(&got).item.date_time_created, cal(&a).item.date_time_created);
}

#[test]
fn stale_change_key_is_a_conflict() {
    let store = store_with(2);
    let mb = store.mailbox("user1@contoso.test").unwrap();
    let a = store
        .create_item(&mb, FolderKind::Calendar, &appointment("A", "2026-03-16T09:00:00Z", "2026-03-16T10:00:00Z"))
        .unwrap();
    let b = store.update_item(&mb, &id_of(&a), ChangeKeyCheck::Enforce, set_subject("B")).unwrap();
    // The first key is stale now.
    let err = store.update_item(&mb, &id_of(&a), ChangeKeyCheck::Enforce, set_subject("C")).unwrap_err();
    assert_eq!(err, StoreError::Conflict);
    assert_eq!(err.response_code(), ResponseCode::ErrorIrresolvableConflict);
    assert_eq!(store.delete_item(&mb, &id_of(&a), ChangeKeyCheck::Enforce).unwrap_err(), StoreError::Conflict);
    // AlwaysOverwrite ignores it; no key at all is accepted too.
    store.update_item(&mb, &id_of(&a), ChangeKeyCheck::Ignore, set_subject("C")).unwrap();
    store.update_item(&mb, &bare(&a), ChangeKeyCheck::Enforce, set_subject("D")).unwrap();
    // A malformed key, or the key of another item, is invalid (not a conflict).
    let mut bad = a.item_id().unwrap().clone();
    bad.change_key = Some(ChangeKey::from("garbage"));
    let err =
        store.update_item(&mb, &BaseItemId::Item(bad.clone()), ChangeKeyCheck::Enforce, set_subject("E")).unwrap_err();
    assert_eq!(err.response_code(), ResponseCode::ErrorInvalidChangeKey);
    let other = store
        .create_item(&mb, FolderKind::Calendar, &appointment("X", "2026-03-17T09:00:00Z", "2026-03-17T10:00:00Z"))
        .unwrap();
    bad.change_key = Some(ck(&other));
    assert_eq!(
        store.update_item(&mb, &BaseItemId::Item(bad), ChangeKeyCheck::Enforce, set_subject("E")).unwrap_err(),
        StoreError::InvalidChangeKey
    );
    // The current key works.
    let current = store.get_item(&mb, &bare(&a)).unwrap();
    assert_ne!(ck(&current), ck(&b));
    store.update_item(&mb, &id_of(&current), ChangeKeyCheck::Enforce, set_subject("F")).unwrap();
}

#[test]
fn ids_are_checked() {
    let store = store_with(2);
    let mb1 = store.mailbox("user1@contoso.test").unwrap();
    let mb2 = store.mailbox("user2@contoso.test").unwrap();
    let a = store
        .create_item(&mb1, FolderKind::Calendar, &appointment("A", "2026-03-16T09:00:00Z", "2026-03-16T10:00:00Z"))
        .unwrap();
    let err = store.get_item(&mb1, &BaseItemId::Item(ItemId::new("AAMkAAAA", None))).unwrap_err();
    assert_eq!(err.response_code(), ResponseCode::ErrorInvalidIdMalformed);
    // Another mailbox's item is not found in this one.
    assert_eq!(store.get_item(&mb2, &bare(&a)).unwrap_err(), StoreError::ItemNotFound);
    // An id of another simulator (other seed) is malformed here.
    let other = Store::new(StoreConfig::from_seed(8));
    other.add_mailbox(MailboxSpec { smtp: "user1@contoso.test".into(), ..MailboxSpec::default() }).unwrap();
    assert!(matches!(
        other.get_item(&other.mailbox("user1@contoso.test").unwrap(), &bare(&a)),
        Err(StoreError::MalformedId(_))
    ));
    // A deleted item is not found.
    store.delete_item(&mb1, &bare(&a), ChangeKeyCheck::Ignore).unwrap();
    assert_eq!(store.get_item(&mb1, &bare(&a)).unwrap_err().response_code(), ResponseCode::ErrorItemNotFound);
    assert_eq!(store.mailbox_of_id(a.item_id().unwrap().id.as_str()).unwrap().number(), mb1.number());
}

// ---------------------------------------------------------------------------------------------
// SyncFolderItems

/// A client mirror: item id → change key.
#[derive(Default)]
struct Mirror {
    items: HashMap<String, String>,
    state: Option<String>,
}

impl Mirror {
    /// One SyncFolderItems call; returns (creates, updates, deletes, includes_last).
    fn page(&mut self, store: &Store, mb: &Mailbox, folder: FolderKind, max: u32) -> (usize, usize, usize, bool) {
        let page = store.sync_folder_items(mb, folder, self.state.as_deref(), max).unwrap();
        assert!(page.changes.len() <= max as usize);
        let (mut c, mut u, mut d) = (0, 0, 0);
        for ch in page.changes {
            match ch {
                SyncChange::Create(i) => {
                    let id = i.item_id().unwrap();
                    assert!(
                        self.items.insert(id.id.0.clone(), id.change_key.clone().unwrap().0).is_none(),
                        "created twice"
                    );
                    c += 1;
                }
                SyncChange::Update(i) => {
                    let id = i.item_id().unwrap();
                    assert!(
                        self.items.insert(id.id.0.clone(), id.change_key.clone().unwrap().0).is_some(),
                        "update of an unknown item"
                    );
                    u += 1;
                }
                SyncChange::Delete(id) => {
                    assert!(self.items.remove(&id.id.0).is_some(), "delete of an unknown item (or reported twice)");
                    assert!(id.change_key.is_none());
                    d += 1;
                }
                other => panic!("unexpected change {other:?}"),
            }
        }
        self.state = Some(page.sync_state.0);
        (c, u, d, page.includes_last_item_in_range)
    }

    fn sync_all(&mut self, store: &Store, mb: &Mailbox, folder: FolderKind, max: u32) -> (usize, usize, usize) {
        let mut total = (0, 0, 0);
        loop {
            let (c, u, d, last) = self.page(store, mb, folder, max);
            total = (total.0 + c, total.1 + u, total.2 + d);
            if last {
                return total;
            }
        }
    }

    fn assert_matches(&self, store: &Store, mb: &Mailbox, folder: FolderKind) {
        let mut truth = HashMap::new();
        let mut offset = 0;
        loop {
            let page = store.find_items(mb, folder, offset, FIND_COUNT_LIMIT);
            for i in &page.items {
                let id = i.item_id().unwrap();
                truth.insert(id.id.0.clone(), id.change_key.clone().unwrap().0);
            }
            if page.includes_last_item_in_range {
                break;
            }
            offset = page.next_offset;
        }
        assert_eq!(self.items, truth, "the mirror differs from the folder");
    }
}

#[test]
fn sync_first_full_then_net_changes() {
    let store = seeded_store(&SeedConfig::new(3, 4, 20, "contoso.test").with_anchor(date(2026, 3, 16))).unwrap();
    let mb = store.mailbox("user2@contoso.test").unwrap();
    let mut m = Mirror::default();
    assert_eq!(m.sync_all(&store, &mb, FolderKind::Calendar, 512), (20, 0, 0), "first sync: every item as Create");
    m.assert_matches(&store, &mb, FolderKind::Calendar);
    // Nothing changed: an empty page.
    assert_eq!(m.page(&store, &mb, FolderKind::Calendar, 512), (0, 0, 0, true));

    let items = store.find_items(&mb, FolderKind::Calendar, 0, 100).items;
    // Update one twice, delete one, create one, create-and-delete one.
    let u = store.update_item(&mb, &bare(&items[0]), ChangeKeyCheck::Ignore, set_subject("x")).unwrap();
    store.update_item(&mb, &bare(&u), ChangeKeyCheck::Ignore, set_subject("y")).unwrap();
    store.delete_item(&mb, &bare(&items[1]), ChangeKeyCheck::Ignore).unwrap();
    store
        .create_item(&mb, FolderKind::Calendar, &appointment("new", "2026-03-20T09:00:00Z", "2026-03-20T09:30:00Z"))
        .unwrap();
    let gone = store
        .create_item(&mb, FolderKind::Calendar, &appointment("gone", "2026-03-20T09:00:00Z", "2026-03-20T09:30:00Z"))
        .unwrap();
    store.delete_item(&mb, &bare(&gone), ChangeKeyCheck::Ignore).unwrap();
    assert_eq!(
        m.sync_all(&store, &mb, FolderKind::Calendar, 512),
        (1, 1, 1),
        "net changes: one create, one update, one delete"
    );
    m.assert_matches(&store, &mb, FolderKind::Calendar);
    // The delete is reported once only.
    assert_eq!(m.sync_all(&store, &mb, FolderKind::Calendar, 512), (0, 0, 0));
    // The tasks folder syncs on its own.
    let mut t = Mirror::default();
    assert_eq!(t.sync_all(&store, &mb, FolderKind::Tasks, 512), (3, 0, 0));
}

#[test]
fn sync_paging_across_512_with_interleaved_changes() {
    let store = store_with(1);
    let mb = store.mailbox("user1@contoso.test").unwrap();
    let mut ids = Vec::new();
    for i in 0..1300 {
        let start = ts("2026-03-16T08:00:00Z").checked_add(SignedDuration::from_mins(i * 30)).unwrap();
        let item = appointment(
            &format!("item {i}"),
            &start.to_string(),
            &start.checked_add(SignedDuration::from_mins(30)).unwrap().to_string(),
        );
        ids.push(bare(&store.create_item(&mb, FolderKind::Calendar, &item).unwrap()));
    }
    let mut m = Mirror::default();
    // Page 1: 512 creates, more to come.
    assert_eq!(m.page(&store, &mb, FolderKind::Calendar, 512), (512, 0, 0, false));
    // Between pages: change an item already reported (→ Update later), one not yet reported
    // (→ still a single Create), delete a reported one (→ Delete) and an unreported one
    // (→ nothing), create a new one (→ Create).
    store.update_item(&mb, &ids[3], ChangeKeyCheck::Ignore, set_subject("changed early")).unwrap();
    store.update_item(&mb, &ids[1000], ChangeKeyCheck::Ignore, set_subject("changed late")).unwrap();
    store.delete_item(&mb, &ids[10], ChangeKeyCheck::Ignore).unwrap();
    store.delete_item(&mb, &ids[1200], ChangeKeyCheck::Ignore).unwrap();
    store
        .create_item(&mb, FolderKind::Calendar, &appointment("late", "2026-05-01T09:00:00Z", "2026-05-01T10:00:00Z"))
        .unwrap();
    let (c2, u2, d2, last2) = m.page(&store, &mb, FolderKind::Calendar, 512);
    assert!(!last2);
    assert_eq!((c2, u2, d2), (512, 0, 0));
    // More changes between pages 2 and 3.
    store.update_item(&mb, &ids[600], ChangeKeyCheck::Ignore, set_subject("changed mid")).unwrap();
    store.delete_item(&mb, &ids[601], ChangeKeyCheck::Ignore).unwrap();
    let rest = m.sync_all(&store, &mb, FolderKind::Calendar, 512);
    // Page 3+: 1300 - 1024 - 1 deleted unreported + 1 new = 276 creates (1000 among them, once),
    // updates of 3 and 600, deletes of 10 and 601.
    assert_eq!(rest, (276, 2, 2));
    m.assert_matches(&store, &mb, FolderKind::Calendar);
    assert_eq!(m.items.len(), 1300 - 3 + 1);
    // Small pages give the same result.
    let mut small = Mirror::default();
    small.sync_all(&store, &mb, FolderKind::Calendar, 7);
    small.assert_matches(&store, &mb, FolderKind::Calendar);
    // MaxChangesReturned out of range.
    for bad in [0, 513] {
        assert!(matches!(
            store.sync_folder_items(&mb, FolderKind::Calendar, None, bad),
            Err(StoreError::InvalidValue { .. })
        ));
    }
}

#[test]
fn foreign_or_corrupted_sync_state_is_detected() {
    let store = store_with(2);
    let mb1 = store.mailbox("user1@contoso.test").unwrap();
    let mb2 = store.mailbox("user2@contoso.test").unwrap();
    store
        .create_item(&mb1, FolderKind::Calendar, &appointment("A", "2026-03-16T09:00:00Z", "2026-03-16T10:00:00Z"))
        .unwrap();
    let state = store.sync_folder_items(&mb1, FolderKind::Calendar, None, 10).unwrap().sync_state.0;
    // The state works where it came from.
    store.sync_folder_items(&mb1, FolderKind::Calendar, Some(&state), 10).unwrap();
    let invalid = |r: Result<_, StoreError>| {
        let e = r.unwrap_err();
        assert!(matches!(e, StoreError::InvalidSyncState(_)), "{e:?}");
        assert_eq!(e.response_code(), ResponseCode::ErrorInvalidSyncStateData);
    };
    invalid(store.sync_folder_items(&mb1, FolderKind::Tasks, Some(&state), 10));
    invalid(store.sync_folder_items(&mb2, FolderKind::Calendar, Some(&state), 10));
    // Another simulator run (same seed, new run key).
    let other = store_with(1);
    let omb = other.mailbox("user1@contoso.test").unwrap();
    invalid(other.sync_folder_items(&omb, FolderKind::Calendar, Some(&state), 10));
    // Damaged: each character changed in turn, truncated, garbage.
    for i in 0..state.len() {
        let mut b = state.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        invalid(store.sync_folder_items(&mb1, FolderKind::Calendar, Some(std::str::from_utf8(&b).unwrap()), 10));
    }
    invalid(store.sync_folder_items(&mb1, FolderKind::Calendar, Some(&state[..state.len() - 2]), 10));
    invalid(store.sync_folder_items(&mb1, FolderKind::Calendar, Some("H4sIAAAAAAAEAO29B2AcSZ"), 10));
    invalid(store.sync_folder_items(&mb1, FolderKind::Calendar, Some("!!!"), 10));
    // An empty state is a first sync.
    assert_eq!(store.sync_folder_items(&mb1, FolderKind::Calendar, Some(""), 10).unwrap().changes.len(), 1);
}

#[test]
fn tombstone_compaction_invalidates_only_states_that_need_dropped_tombstones() {
    let store = store_with(1);
    let mb = store.mailbox("user1@contoso.test").unwrap();
    let task = |s: &str| {
        Item::Task(Task { item: ItemFields { subject: Some(s.into()), ..ItemFields::default() }, ..Task::default() })
    };
    // A client that knows nothing, and one that knows two tasks.
    let mut blank = Mirror::default();
    blank.sync_all(&store, &mb, FolderKind::Tasks, 512);
    let known: Vec<_> =
        (0..2).map(|i| bare(&store.create_item(&mb, FolderKind::Tasks, &task(&format!("k{i}"))).unwrap())).collect();
    let mut knowing = Mirror::default();
    knowing.sync_all(&store, &mb, FolderKind::Tasks, 512);
    // Delete them, then churn past the tombstone limit: their tombstones are dropped.
    for id in &known {
        store.delete_item(&mb, id, ChangeKeyCheck::Ignore).unwrap();
    }
    for i in 0..exbridge_sim::store::MAX_TOMBSTONES + 10 {
        let t = store.create_item(&mb, FolderKind::Tasks, &task(&format!("t{i}"))).unwrap();
        store.delete_item(&mb, &bare(&t), ChangeKeyCheck::Ignore).unwrap();
    }
    let keep = store.create_item(&mb, FolderKind::Tasks, &task("keep")).unwrap();
    // The knowing client cannot learn about its deletes any more: invalid, resync fully.
    let r = store.sync_folder_items(&mb, FolderKind::Tasks, knowing.state.as_deref(), 512);
    assert!(matches!(r, Err(StoreError::InvalidSyncState(_))), "{r:?}");
    let mut fresh = Mirror::default();
    assert_eq!(fresh.sync_all(&store, &mb, FolderKind::Tasks, 512), (1, 0, 0));
    // The blank client needs no tombstone: it just gets the one live task.
    assert_eq!(blank.sync_all(&store, &mb, FolderKind::Tasks, 512), (1, 0, 0));
    assert!(blank.items.contains_key(&keep.item_id().unwrap().id.0));
}

// ---------------------------------------------------------------------------------------------
// Occurrences, exceptions, CalendarView

#[test]
fn occurrences_and_exceptions() {
    let store = store_with(1);
    let mb = store.mailbox("user1@contoso.test").unwrap();
    // Mondays 09:00 Berlin from 16 March 2026, ten times (crosses the 29 March DST change).
    let master = store
        .create_item(&mb, FolderKind::Calendar, &weekly_meeting("2026-03-16T08:00:00Z", "2026-03-16T09:00:00Z"))
        .unwrap();
    let mc = cal(&master);
    assert_eq!(mc.calendar_item_type, Some(CalendarItemType::RecurringMaster));
    assert_eq!(mc.first_occurrence.as_ref().unwrap().start, DateTime::utc(ts("2026-03-16T08:00:00Z")));
    assert_eq!(mc.last_occurrence.as_ref().unwrap().start, DateTime::utc(ts("2026-05-18T07:00:00Z")));
    let master_id = master.item_id().unwrap().id.clone();
    // OccurrenceItemId: the third occurrence (30 March, after DST: 07:00 UTC).
    let third = BaseItemId::Occurrence(OccurrenceItemId {
        recurring_master_id: master_id.clone(),
        change_key: None,
        instance_index: 3,
    });
    let o3 = store.get_item(&mb, &third).unwrap();
    assert_eq!(cal(&o3).calendar_item_type, Some(CalendarItemType::Occurrence));
    assert_eq!(cal(&o3).start, Some(DateTime::utc(ts("2026-03-30T07:00:00Z"))));
    assert_eq!(cal(&o3).uid, mc.uid);
    // Its own id works too, and leads back to the master.
    let o3_id = bare(&o3);
    assert_eq!(cal(&store.get_item(&mb, &o3_id).unwrap()).start, cal(&o3).start);
    let back = BaseItemId::RecurringMaster(RecurringMasterItemId {
        occurrence_id: o3.item_id().unwrap().id.clone(),
        change_key: None,
    });
    assert_eq!(store.get_item(&mb, &back).unwrap().item_id().unwrap().id, master_id);
    // Out of range.
    let eleventh = BaseItemId::Occurrence(OccurrenceItemId {
        recurring_master_id: master_id.clone(),
        change_key: None,
        instance_index: 11,
    });
    assert_eq!(
        store.get_item(&mb, &eleventh).unwrap_err().response_code(),
        ResponseCode::ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange
    );

    // Move occurrence 3 by two hours and rename it: an exception.
    let moved = store
        .update_item(&mb, &third, ChangeKeyCheck::Ignore, |i| {
            let Item::Calendar(c) = i else { unreachable!() };
            c.start = Some(DateTime::utc(ts("2026-03-30T09:00:00Z")));
            c.end = Some(DateTime::utc(ts("2026-03-30T10:00:00Z")));
            c.item.subject = Some("Moved sync".into());
            Ok(())
        })
        .unwrap();
    assert_eq!(cal(&moved).calendar_item_type, Some(CalendarItemType::Exception));
    assert_eq!(cal(&moved).item.subject.as_deref(), Some("Moved sync"));
    assert_eq!(cal(&moved).original_start, Some(DateTime::utc(ts("2026-03-30T07:00:00Z"))));
    // Delete occurrence 5.
    let fifth = BaseItemId::Occurrence(OccurrenceItemId {
        recurring_master_id: master_id.clone(),
        change_key: None,
        instance_index: 5,
    });
    store.delete_item(&mb, &fifth, ChangeKeyCheck::Ignore).unwrap();
    assert_eq!(
        store.get_item(&mb, &fifth).unwrap_err().response_code(),
        ResponseCode::ErrorCalendarOccurrenceIsDeletedFromRecurrence
    );
    assert_eq!(
        store.delete_item(&mb, &fifth, ChangeKeyCheck::Ignore).unwrap_err().response_code(),
        ResponseCode::ErrorCalendarOccurrenceIsDeletedFromRecurrence
    );
    // The master lists both; its change key changed.
    let m2 = store.get_item(&mb, &bare(&master)).unwrap();
    assert_ne!(ck(&m2), ck(&master));
    let mc2 = cal(&m2);
    assert_eq!(mc2.modified_occurrences.as_ref().unwrap().len(), 1);
    assert_eq!(mc2.deleted_occurrences.as_ref().unwrap()[0].start, DateTime::utc(ts("2026-04-13T07:00:00Z")));

    // CalendarView over the series: 9 occurrences (one deleted), the exception at its new time.
    let view = store.calendar_view(&mb, ts("2026-03-01T00:00:00Z"), ts("2026-06-01T00:00:00Z"), None).unwrap();
    assert!(view.includes_last_item_in_range);
    assert_eq!(view.items.len(), 9);
    let types: Vec<_> = view.items.iter().map(|c| c.calendar_item_type.unwrap()).collect();
    assert_eq!(types.iter().filter(|t| **t == CalendarItemType::Exception).count(), 1);
    assert!(!types.contains(&CalendarItemType::RecurringMaster), "masters are not shown");
    let starts: Vec<String> = view.items.iter().map(|c| c.start.unwrap().to_string()).collect();
    assert_eq!(
        &starts[..4],
        ["2026-03-16T08:00:00Z", "2026-03-23T08:00:00Z", "2026-03-30T09:00:00Z", "2026-04-06T07:00:00Z"]
    );
    // Truncated by MaxEntriesReturned.
    let view = store.calendar_view(&mb, ts("2026-03-01T00:00:00Z"), ts("2026-06-01T00:00:00Z"), Some(4)).unwrap();
    assert_eq!(view.items.len(), 4);
    assert!(!view.includes_last_item_in_range);
    // Two years at most; end before start.
    assert_eq!(
        store
            .calendar_view(&mb, ts("2026-01-01T00:00:00Z"), ts("2028-01-03T00:00:00Z"), None)
            .unwrap_err()
            .response_code(),
        ResponseCode::ErrorCalendarViewRangeTooBig
    );
    store.calendar_view(&mb, ts("2026-01-01T00:00:00Z"), ts("2028-01-01T00:00:00Z"), None).unwrap();
    assert_eq!(
        store.calendar_view(&mb, ts("2026-02-01T00:00:00Z"), ts("2026-01-01T00:00:00Z"), None).unwrap_err(),
        StoreError::EndBeforeStart
    );
    // Changing the pattern drops the exceptions.
    let m3 = store
        .update_item(&mb, &bare(&master), ChangeKeyCheck::Ignore, |i| {
            let Item::Calendar(c) = i else { unreachable!() };
            let r = c.recurrence.as_mut().unwrap();
            r.range = RecurrenceRange::Numbered { start_date: XDate::new(date(2026, 3, 16)), number_of_occurrences: 4 };
            Ok(())
        })
        .unwrap();
    assert!(cal(&m3).modified_occurrences.is_none() && cal(&m3).deleted_occurrences.is_none());
}

#[test]
fn calendar_view_on_seeded_data() {
    let anchor = date(2026, 3, 16);
    let store = seeded_store(&SeedConfig::new(11, 40, 50, "contoso.test").with_anchor(anchor)).unwrap();
    // A window over both the US (8 March) and EU (29 March) DST changes.
    let (ws, we) = (ts("2026-03-02T00:00:00Z"), ts("2026-04-27T00:00:00Z"));
    let mut exceptions = 0;
    let mut occurrences = 0;
    for mb in store.mailboxes() {
        let view = store.calendar_view(&mb, ws, we, None).unwrap();
        assert!(view.includes_last_item_in_range);
        let mut last = Timestamp::MIN;
        for c in &view.items {
            let (s, e) = (c.start.unwrap().timestamp().unwrap(), c.end.unwrap().timestamp().unwrap());
            assert!(s < we && e > ws, "outside the window");
            assert!(s >= last, "not sorted by start");
            last = s;
            let kind = c.calendar_item_type.unwrap();
            assert_ne!(kind, CalendarItemType::RecurringMaster);
            if kind == CalendarItemType::Single {
                continue;
            }
            // Every occurrence resolves by its id to the same times…
            let got = store.get_item(&mb, &bare(&Item::Calendar(c.clone()))).unwrap();
            assert_eq!(cal(&got).start, c.start);
            assert_eq!(cal(&got).end, c.end);
            // … and, unless moved, keeps the master's wall-clock time in the item's zone.
            let master = store
                .get_item(
                    &mb,
                    &BaseItemId::RecurringMaster(RecurringMasterItemId {
                        occurrence_id: c.item.item_id.clone().unwrap().id,
                        change_key: None,
                    }),
                )
                .unwrap();
            let mc = cal(&master);
            let zone = store.zone(mc.start_time_zone_id.as_deref().unwrap()).unwrap();
            let local = |d: &Option<DateTime>| zone.tz.to_datetime(d.unwrap().timestamp().unwrap()).time();
            if kind == CalendarItemType::Occurrence {
                occurrences += 1;
                assert_eq!(local(&c.start), local(&mc.start), "{:?} in {}", mc.item.subject, zone.windows_id);
                assert_eq!(c.original_start, c.start);
                let deleted = mc.deleted_occurrences.iter().flatten().any(|d| Some(d.start) == c.original_start);
                assert!(!deleted, "a deleted occurrence is shown");
            } else {
                exceptions += 1;
                assert!(mc.modified_occurrences.iter().flatten().any(|m| Some(m.start) == c.start));
            }
        }
        // Every single item overlapping the window is there, once.
        let singles: Vec<_> = store
            .find_items(&mb, FolderKind::Calendar, 0, 1000)
            .items
            .into_iter()
            .filter(|i| cal(i).calendar_item_type == Some(CalendarItemType::Single))
            .filter(|i| {
                let c = cal(i);
                c.start.unwrap().timestamp().unwrap() < we && c.end.unwrap().timestamp().unwrap() > ws
            })
            .collect();
        for s in &singles {
            let n =
                view.items.iter().filter(|c| c.item.item_id.as_ref().unwrap().id == s.item_id().unwrap().id).count();
            assert_eq!(n, 1);
        }
    }
    assert!(occurrences > 1000, "{occurrences}");
    assert!(exceptions > 5, "{exceptions}");
}

#[test]
fn find_items_pages_and_limit() {
    let store = store_with(1);
    let mb = store.mailbox("user1@contoso.test").unwrap();
    for i in 0..1205 {
        let start = ts("2026-03-16T08:00:00Z").checked_add(SignedDuration::from_mins(i)).unwrap();
        store
            .create_item(
                &mb,
                FolderKind::Calendar,
                &appointment(
                    "x",
                    &start.to_string(),
                    &start.checked_add(SignedDuration::from_mins(10)).unwrap().to_string(),
                ),
            )
            .unwrap();
    }
    let p = store.find_items(&mb, FolderKind::Calendar, 0, 5000);
    assert_eq!(
        (p.items.len(), p.total_items_in_view, p.includes_last_item_in_range, p.next_offset),
        (1000, 1205, false, 1000)
    );
    let p = store.find_items(&mb, FolderKind::Calendar, 1000, 1000);
    assert_eq!((p.items.len(), p.includes_last_item_in_range, p.next_offset), (205, true, 1205));
    let info = store.folder_info(&mb, FolderKind::Calendar);
    assert_eq!(info.total_count, 1205);
    assert_eq!(info.folder_class, "IPF.Appointment");
    let (m, k) = store.resolve_folder(&mb, &FolderId::Id { id: info.id.clone(), change_key: None }).unwrap();
    assert_eq!((m.number(), k), (mb.number(), FolderKind::Calendar));
    let (m, k) = store.resolve_folder(&mb, &FolderId::tasks()).unwrap();
    assert_eq!((m.number(), k), (mb.number(), FolderKind::Tasks));
    assert_eq!(
        store.resolve_folder(&mb, &FolderId::distinguished(ews_proto::DistinguishedFolderName::Inbox)).unwrap_err(),
        StoreError::FolderNotFound
    );
}

// ---------------------------------------------------------------------------------------------
// Mailboxes, meetings, OOF

#[test]
fn mailboxes_and_aliases() {
    let store = store_with(2);
    let a = store.mailbox("user1@contoso.test").unwrap();
    assert_eq!(store.mailbox("USER1@Contoso.Test").unwrap().number(), a.number());
    assert_eq!(store.mailbox("alias1@contoso.test").unwrap().number(), a.number());
    assert_eq!(store.mailbox("smtp:alias1@contoso.test").unwrap().number(), a.number());
    let e = store.mailbox("nobody@contoso.test").unwrap_err();
    assert_eq!(e.response_code(), ResponseCode::ErrorNonExistentMailbox);
    let dup = store.add_mailbox(MailboxSpec {
        smtp: "new@contoso.test".into(),
        aliases: vec!["Alias2@contoso.test".into()],
        ..MailboxSpec::default()
    });
    assert!(matches!(dup, Err(StoreError::MailboxExists(_))));
    assert!(matches!(
        store.add_mailbox(MailboxSpec { smtp: "not an address".into(), ..MailboxSpec::default() }),
        Err(StoreError::InvalidValue { .. })
    ));
    assert!(matches!(
        store.add_mailbox(MailboxSpec {
            smtp: "z@contoso.test".into(),
            time_zone: Some("Mars".into()),
            ..MailboxSpec::default()
        }),
        Err(StoreError::UnknownTimeZone(_))
    ));
    let c = store.add_mailbox(MailboxSpec { smtp: "c@contoso.test".into(), ..MailboxSpec::default() }).unwrap();
    assert_eq!((c.number(), c.display_name(), c.time_zone()), (3, "c", "UTC"));
    assert_eq!(store.mailbox_count(), 3);
}

#[test]
fn resolve_names() {
    let store = seeded_store(&SeedConfig::new(2, 50, 0, "contoso.test").with_anchor(date(2026, 3, 16))).unwrap();
    let u7 = store.mailbox("user7@contoso.test").unwrap();
    let found = store.resolve_names("SMTP:User7@contoso.test", 100);
    assert_eq!(found.iter().map(|m| m.number()).collect::<Vec<_>>(), [7]);
    assert_eq!(store.resolve_names(u7.aliases()[0].as_str(), 100)[0].number(), 7);
    let last = u7.display_name().split(' ').nth(1).unwrap().to_string();
    assert!(store.resolve_names(&last, 100).iter().any(|m| m.number() == 7));
    assert!(store.resolve_names(&last.to_ascii_uppercase(), 100).iter().any(|m| m.number() == 7));
    assert_eq!(store.resolve_names("user", 100).len(), 50);
    assert_eq!(store.resolve_names("user", 3).len(), 3);
    assert!(store.resolve_names("zzz-nobody", 100).is_empty());
    assert!(store.resolve_names("", 100).is_empty());
}

#[test]
fn meeting_invitations_reach_attendees() {
    let store = store_with(3);
    let org = store.mailbox("user1@contoso.test").unwrap();
    let att = store.mailbox("user2@contoso.test").unwrap();
    let sub = store.subscribe(&att, SubscriptionSpec::streaming_calendar());
    let Item::Calendar(mut c) = appointment("Planning", "2026-03-18T10:00:00Z", "2026-03-18T11:00:00Z") else {
        unreachable!()
    };
    c.required_attendees = Some(vec![
        Attendee {
            mailbox: EmailAddress::smtp("alias2@contoso.test", None),
            response_type: None,
            last_response_time: None,
            proposed_start: None,
            proposed_end: None,
        },
        Attendee {
            mailbox: EmailAddress::smtp("guest@fabrikam.example", Some("Guest")),
            response_type: None,
            last_response_time: None,
            proposed_start: None,
            proposed_end: None,
        },
    ]);
    let item = store.create_item(&org, FolderKind::Calendar, &Item::Calendar(c)).unwrap();
    let invited = store.send_meeting_invitations(&org, &bare(&item)).unwrap();
    assert_eq!(invited.iter().map(|m| m.number()).collect::<Vec<_>>(), [2]);
    let copies = store.find_items(&att, FolderKind::Calendar, 0, 10).items;
    assert_eq!(copies.len(), 1);
    let copy = cal(&copies[0]);
    assert_eq!(copy.uid, cal(&item).uid, "attendee copy shares the UID");
    assert_eq!(copy.organizer.as_ref().unwrap().mailbox.email_address.as_deref(), Some("user1@contoso.test"));
    assert_eq!(copy.is_organizer, Some(false));
    assert_eq!(copy.my_response_type, Some(ews_proto::items::ResponseType::NoResponseReceived));
    let events = sub.take(10);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Created);
    // The organizer's copy shows the request was sent; sending again updates the copy.
    let sent = store.get_item(&org, &bare(&item)).unwrap();
    assert_eq!(cal(&sent).meeting_request_was_sent, Some(true));
    store.update_item(&org, &bare(&item), ChangeKeyCheck::Ignore, set_subject("Planning (new time)")).unwrap();
    store.send_meeting_invitations(&org, &bare(&item)).unwrap();
    let copies = store.find_items(&att, FolderKind::Calendar, 0, 10).items;
    assert_eq!(copies.len(), 1);
    assert_eq!(cal(&copies[0]).item.subject.as_deref(), Some("Planning (new time)"));
    assert_eq!(sub.take(10)[0].kind, EventKind::Modified);
}

#[test]
fn oof_settings() {
    let store = store_with(1);
    let mb = store.mailbox("user1@contoso.test").unwrap();
    assert_eq!(store.oof(&mb).state, OofStatus::Disabled);
    let scheduled = OofState {
        state: OofStatus::Scheduled,
        start: Some(ts("2026-03-20T00:00:00Z")),
        end: Some(ts("2026-03-27T00:00:00Z")),
        internal_reply: "Away".into(),
        ..OofState::default()
    };
    store.set_oof(&mb, scheduled.clone()).unwrap();
    let got = store.oof(&mb);
    assert_eq!(got, scheduled);
    assert!(got.is_active(ts("2026-03-21T00:00:00Z")));
    assert!(!got.is_active(ts("2026-03-27T00:00:00Z")));
    let bad = OofState { end: Some(ts("2026-03-19T00:00:00Z")), ..scheduled.clone() };
    assert!(store.set_oof(&mb, bad).is_err());
    assert!(store.set_oof(&mb, OofState { start: None, ..scheduled }).is_err());
}

// ---------------------------------------------------------------------------------------------
// Notifications

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_for_store_changes_arrive_within_milliseconds() {
    let store = Arc::new(store_with(2));
    let mb = store.mailbox("user1@contoso.test").unwrap();
    let sub = store.subscribe(&mb, SubscriptionSpec::streaming_calendar());
    let tasks_only = store.subscribe(
        &mb,
        SubscriptionSpec { folders: Some(vec![FolderKind::Tasks]), ..SubscriptionSpec::streaming_calendar() },
    );
    let other = store.subscribe(&store.mailbox("user2@contoso.test").unwrap(), SubscriptionSpec::streaming_calendar());
    let start_wm = sub.watermark();

    let waiter = {
        let sub = sub.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < 3 {
                tokio::time::timeout(Duration::from_secs(5), sub.changed()).await.expect("no event within 5 s");
                got.extend(sub.take(50).into_iter().map(|e| (e.kind, Instant::now())));
            }
            got
        })
    };
    let writer = {
        let store = store.clone();
        let mb = mb.clone();
        tokio::task::spawn_blocking(move || {
            let mut times = Vec::new();
            times.push(Instant::now());
            let a = store
                .create_item(
                    &mb,
                    FolderKind::Calendar,
                    &appointment("A", "2026-03-16T09:00:00Z", "2026-03-16T10:00:00Z"),
                )
                .unwrap();
            times.push(Instant::now());
            store.update_item(&mb, &bare(&a), ChangeKeyCheck::Ignore, set_subject("B")).unwrap();
            times.push(Instant::now());
            store.delete_item(&mb, &bare(&a), ChangeKeyCheck::Ignore).unwrap();
            times
        })
    };
    let times = writer.await.unwrap();
    let got = waiter.await.unwrap();
    assert_eq!(
        got.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        [EventKind::Created, EventKind::Modified, EventKind::Deleted]
    );
    for ((_, received), sent) in got.iter().zip(&times) {
        let latency = received.saturating_duration_since(*sent);
        assert!(latency < Duration::from_millis(200), "event took {latency:?}");
    }
    assert_ne!(sub.watermark(), start_wm);
    assert_eq!(tasks_only.pending(), 0, "a tasks subscription gets no calendar events");
    assert_eq!(other.pending(), 0, "another mailbox's subscription gets nothing");
}

#[test]
fn events_carry_ids_folders_and_increasing_watermarks() {
    let store = store_with(1);
    let mb = store.mailbox("user1@contoso.test").unwrap();
    let all = store.subscribe(
        &mb,
        SubscriptionSpec { folders: None, event_kinds: vec![], ..SubscriptionSpec::streaming_calendar() },
    );
    let deletes = store.subscribe(
        &mb,
        SubscriptionSpec {
            folders: None,
            event_kinds: vec![EventKind::Deleted],
            ..SubscriptionSpec::streaming_calendar()
        },
    );
    let a = store
        .create_item(&mb, FolderKind::Calendar, &appointment("A", "2026-03-16T09:00:00Z", "2026-03-16T10:00:00Z"))
        .unwrap();
    let t = store
        .create_item(
            &mb,
            FolderKind::Tasks,
            &Item::Task(Task {
                item: ItemFields { subject: Some("T".into()), ..ItemFields::default() },
                ..Task::default()
            }),
        )
        .unwrap();
    store.delete_item(&mb, &bare(&t), ChangeKeyCheck::Ignore).unwrap();
    let events = all.take(10);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].item_id, a.item_id().unwrap().id);
    assert_eq!(events[0].parent_folder_id, store.folder_id(&mb, FolderKind::Calendar));
    assert_eq!(events[1].folder, FolderKind::Tasks);
    assert_eq!(events[2].kind, EventKind::Deleted);
    let wms: Vec<&Watermark> = events.iter().map(|e| &e.watermark).collect();
    assert!(wms[0] != wms[1] && wms[1] != wms[2]);
    assert_eq!(all.watermark(), events[2].watermark);
    assert_eq!(deletes.take(10).len(), 1);
}

#[test]
fn pull_subscription_acknowledges_by_watermark() {
    let store = store_with(1);
    let mb = store.mailbox("user1@contoso.test").unwrap();
    let sub = store
        .subscribe(&mb, SubscriptionSpec { kind: SubscriptionKind::Pull, ..SubscriptionSpec::streaming_calendar() });
    let wm0 = sub.watermark();
    let batch = sub.get_events(&wm0, 10).unwrap();
    assert!(batch.events.is_empty() && !batch.more);
    for i in 0..5 {
        store
            .create_item(
                &mb,
                FolderKind::Calendar,
                &appointment(&format!("{i}"), "2026-03-16T09:00:00Z", "2026-03-16T10:00:00Z"),
            )
            .unwrap();
    }
    let b1 = sub.get_events(&wm0, 3).unwrap();
    assert_eq!((b1.events.len(), b1.more), (3, true));
    // Retrying with the same watermark gives the same events (nothing was acknowledged).
    assert_eq!(sub.get_events(&wm0, 3).unwrap().events, b1.events);
    // The last event's watermark acknowledges them.
    let b2 = sub.get_events(&b1.events[2].watermark, 10).unwrap();
    assert_eq!(b2.previous_watermark, b1.events[2].watermark);
    assert_eq!((b2.events.len(), b2.more), (2, false));
    // A watermark of another subscription's mailbox, from the future, or garbage: invalid.
    assert_eq!(
        sub.get_events(&Watermark::from("AQAAAA"), 10).unwrap_err().response_code(),
        ResponseCode::ErrorInvalidWatermark
    );
    let other = store_with(1);
    let omb = other.mailbox("user1@contoso.test").unwrap();
    let osub = other.subscribe(&omb, SubscriptionSpec::streaming_calendar());
    assert_eq!(sub.get_events(&osub.watermark(), 10).unwrap_err(), StoreError::InvalidWatermark);
}

#[test]
fn subscriptions_expire_and_are_looked_up_by_id() {
    let store = store_with(1);
    let mb = store.mailbox("user1@contoso.test").unwrap();
    let a = store.subscribe(&mb, SubscriptionSpec::streaming_calendar());
    let b = store.subscribe(&mb, SubscriptionSpec::streaming_calendar());
    let short = store.subscribe(
        &mb,
        SubscriptionSpec { timeout: Duration::from_millis(30), ..SubscriptionSpec::streaming_calendar() },
    );
    assert_ne!(a.id(), b.id());
    assert_eq!(store.subscription(a.id().as_str()).unwrap().id(), a.id());
    assert_eq!(store.active_subscription_count(), 3);
    assert_eq!(mb.subscription_count(), 3);
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(
        store.subscription(short.id().as_str()).unwrap_err().response_code(),
        ResponseCode::ErrorExpiredSubscription
    );
    // Unsubscribe: not found afterwards.
    store.unsubscribe(b.id().as_str()).unwrap();
    assert_eq!(
        store.subscription(b.id().as_str()).unwrap_err().response_code(),
        ResponseCode::ErrorSubscriptionNotFound
    );
    assert_eq!(store.unsubscribe(b.id().as_str()).unwrap_err(), StoreError::SubscriptionNotFound);
    // The expire_subscriptions fault.
    assert_eq!(store.expire_all_subscriptions(), 1);
    assert_eq!(store.subscription(a.id().as_str()).unwrap_err(), StoreError::SubscriptionExpired);
    assert_eq!(store.active_subscription_count(), 0);
    assert_eq!(mb.subscription_count(), 0);
    // An expired subscription receives nothing; a sweep forgets it.
    store
        .create_item(&mb, FolderKind::Calendar, &appointment("A", "2026-03-16T09:00:00Z", "2026-03-16T10:00:00Z"))
        .unwrap();
    assert_eq!(a.pending(), 0);
    assert_eq!(store.sweep_subscriptions(), 2);
    assert_eq!(store.subscription(a.id().as_str()).unwrap_err(), StoreError::SubscriptionNotFound);
    assert_eq!(store.subscription("nonsense").unwrap_err(), StoreError::SubscriptionNotFound);
}

#[tokio::test]
async fn one_waker_serves_many_subscriptions() {
    let store = store_with(3);
    let waker = Arc::new(tokio::sync::Notify::new());
    let subs: Vec<_> = (1..=3)
        .map(|i| {
            let s = store.subscribe(
                &store.mailbox(&format!("user{i}@contoso.test")).unwrap(),
                SubscriptionSpec::streaming_calendar(),
            );
            s.attach(waker.clone());
            s
        })
        .collect();
    let mb3 = store.mailbox("user3@contoso.test").unwrap();
    store
        .create_item(&mb3, FolderKind::Calendar, &appointment("A", "2026-03-16T09:00:00Z", "2026-03-16T10:00:00Z"))
        .unwrap();
    // The permit is kept: waiting after the event returns at once.
    tokio::time::timeout(Duration::from_secs(5), waker.notified()).await.unwrap();
    let got: Vec<usize> = subs.iter().map(|s| s.take(50).len()).collect();
    assert_eq!(got, [0, 0, 1]);
    // Expiry wakes too (a stream reports the expired subscription).
    store.expire_all_subscriptions();
    tokio::time::timeout(Duration::from_secs(5), waker.notified()).await.unwrap();
    subs[0].detach(&waker);
}

#[test]
fn concurrent_readers_and_writers() {
    let store =
        Arc::new(seeded_store(&SeedConfig::new(5, 16, 30, "contoso.test").with_anchor(date(2026, 3, 16))).unwrap());
    let subs: Vec<_> =
        store.mailboxes().iter().map(|m| store.subscribe(m, SubscriptionSpec::streaming_calendar())).collect();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let store = &store;
            s.spawn(move || {
                for round in 0..50u32 {
                    let mb = store.mailbox(&format!("user{}@contoso.test", 1 + (t * 50 + round) % 16)).unwrap();
                    let first = store.find_items(&mb, FolderKind::Calendar, 0, 1).items.remove(0);
                    store.update_item(&mb, &bare(&first), ChangeKeyCheck::Ignore, set_subject("busy")).unwrap();
                    store.calendar_view(&mb, ts("2026-03-01T00:00:00Z"), ts("2026-05-01T00:00:00Z"), None).unwrap();
                    store.sync_folder_items(&mb, FolderKind::Calendar, None, 512).unwrap();
                }
            });
        }
    });
    let delivered: usize = subs.iter().map(|s| s.take(usize::MAX).len()).sum();
    assert_eq!(delivered, 4 * 50);
}

mod sync_model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Create,
        Update(usize),
        Delete(usize),
        Page(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Create),
            3 => (0..64usize).prop_map(Op::Update),
            2 => (0..64usize).prop_map(Op::Delete),
            2 => (1..6u32).prop_map(Op::Page),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any interleaving of changes and partial sync pages: each item is created once in
        /// the mirror, deletes come once and only for known items, and a final sync converges.
        #[test]
        fn paged_sync_converges(ops in proptest::collection::vec(op(), 1..120)) {
            let store = store_with(1);
            let mb = store.mailbox("user1@contoso.test").unwrap();
            let mut live: Vec<BaseItemId> = Vec::new();
            let mut m = Mirror::default();
            for (i, o) in ops.into_iter().enumerate() {
                match o {
                    Op::Create => {
                        let it = store.create_item(&mb, FolderKind::Calendar, &appointment(&format!("{i}"), "2026-03-16T09:00:00Z", "2026-03-16T10:00:00Z")).unwrap();
                        live.push(bare(&it));
                    }
                    Op::Update(k) if !live.is_empty() => {
                        let id = live[k % live.len()].clone();
                        store.update_item(&mb, &id, ChangeKeyCheck::Ignore, set_subject("u")).unwrap();
                    }
                    Op::Delete(k) if !live.is_empty() => {
                        let id = live.remove(k % live.len());
                        store.delete_item(&mb, &id, ChangeKeyCheck::Ignore).unwrap();
                    }
                    Op::Page(max) => {
                        m.page(&store, &mb, FolderKind::Calendar, max);
                    }
                    _ => {}
                }
            }
            m.sync_all(&store, &mb, FolderKind::Calendar, 3);
            m.assert_matches(&store, &mb, FolderKind::Calendar);
            prop_assert_eq!(m.items.len(), live.len());
        }
    }
}

#[test]
fn items_go_only_into_folders_of_their_kind() {
    let store = store_with(1);
    let mb = store.mailbox("user1@contoso.test").unwrap();
    let err = store
        .create_item(&mb, FolderKind::Tasks, &appointment("A", "2026-03-16T09:00:00Z", "2026-03-16T10:00:00Z"))
        .unwrap_err();
    assert_eq!(err.response_code(), ews_proto::ResponseCode::ErrorCannotCreateCalendarItemInNonCalendarFolder);
    let task = Item::Task(ews_proto::items::Task::default());
    let err = store.create_item(&mb, FolderKind::Calendar, &task).unwrap_err();
    assert_eq!(err.response_code(), ews_proto::ResponseCode::ErrorCannotCreateTaskInNonTaskFolder);
}
