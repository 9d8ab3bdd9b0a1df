//! The decision table, case by case, and a property test over random mirrors and calendars.

use std::collections::BTreeMap;

use exbridge_store::{EventType, FolderKind, InstanceKey, ItemId, MirrorChange, MirrorEvent, MirrorKind, Uid, UserId};
use jiff::Timestamp;
use proptest::prelude::*;

use super::{PlanInput, apply_in_memory, initial_quiet, plan};
use crate::event::{EventDoc, EventId};
use crate::mapping::{MappedItem, row};

const DAY: i64 = 86_400;

fn now() -> Timestamp {
    "2026-03-16T12:00:00Z".parse().unwrap()
}

fn day(n: i64) -> Timestamp {
    Timestamp::from_second(1_773_619_200 + n * DAY + 9 * 3600).unwrap() // 2026-03-16 09:00 UTC + n days
}

fn doc(id: &EventId, series_id: Option<String>, subject: &str, start: Timestamp, stamp: i64) -> EventDoc {
    EventDoc {
        id: id.encode(),
        series_id,
        uid: id.uid.clone(),
        subject: subject.to_owned(),
        start: start.to_string(),
        end: (start + jiff::SignedDuration::from_hours(1)).to_string(),
        time_zone: "UTC".into(),
        is_all_day: false,
        location: None,
        body: None,
        is_private: false,
        categories: vec![],
        importance: "normal".into(),
        free_busy: "busy".into(),
        organizer: None,
        attendees: vec![],
        is_meeting: false,
        is_cancelled: false,
        join: None,
        recurrence: None,
        changed_at: Timestamp::from_second(stamp).unwrap().to_string(),
        app_id: None,
        priority: None,
        change_key: None,
    }
}

/// The rows of a document, with a change key and LastModifiedTime standing for a "save".
fn mk_row(kind: MirrorKind, uid: &str, instance: InstanceKey, item: &str, ck: &str, d: &EventDoc) -> MirrorEvent {
    let start: Timestamp = d.start.parse().unwrap();
    let stamp: Timestamp = d.changed_at.parse().unwrap();
    row(
        FolderKind::Calendar,
        kind,
        &Uid::new(uid),
        instance,
        &ItemId::new(item),
        Some(&exbridge_store::ChangeKey::new(ck)),
        (start, start + jiff::SignedDuration::from_hours(1)),
        d,
        stamp,
    )
}

/// A single item.
fn single(uid: &str, item: &str, subject: &str, ck: &str) -> MappedItem {
    let id = EventId::new(uid, InstanceKey::single());
    let d = doc(&id, None, subject, day(1), ck.len() as i64 * 1000);
    MappedItem {
        uid: Uid::new(uid),
        item_id: ItemId::new(item),
        rows: vec![mk_row(MirrorKind::Single, uid, InstanceKey::single(), item, ck, &d)],
        deleted_occurrences: vec![],
    }
}

/// A daily series: occurrences on `days` (an exception's subject given), deleted days listed.
struct SeriesSpec<'a> {
    uid: &'a str,
    item: &'a str,
    subject: &'a str,
    ck: &'a str,
    days: Vec<(i64, Option<&'a str>)>,
    deleted: Vec<i64>,
}

fn series(s: SeriesSpec<'_>) -> MappedItem {
    let series_id = EventId::new(s.uid, InstanceKey::single());
    let stamp = s.ck.len() as i64 * 1000;
    let mut master = doc(&series_id, None, s.subject, day(0), stamp);
    master.recurrence = Some(serde_json::json!({"pattern": {"type": "daily", "interval": 1}}));
    let mut rows = vec![mk_row(MirrorKind::Master, s.uid, InstanceKey::single(), s.item, s.ck, &master)];
    for (n, exception) in &s.days {
        let key = InstanceKey::occurrence(day(*n));
        let id = EventId::new(s.uid, key.clone());
        let d = doc(&id, Some(series_id.encode()), exception.unwrap_or(s.subject), day(*n), stamp);
        rows.push(mk_row(MirrorKind::Occurrence, s.uid, key, s.item, s.ck, &d));
    }
    rows[1..].sort_by(|a, b| a.key.instance.cmp(&b.key.instance));
    MappedItem {
        uid: Uid::new(s.uid),
        item_id: ItemId::new(s.item),
        rows,
        deleted_occurrences: s.deleted.iter().map(|n| InstanceKey::occurrence(day(*n))).collect(),
    }
}

fn daily<'a>(subject: &'a str, ck: &'a str, days: std::ops::Range<i64>) -> SeriesSpec<'a> {
    SeriesSpec { uid: "S", item: "item-S", subject, ck, days: days.map(|d| (d, None)).collect(), deleted: vec![] }
}

fn rows_of(items: &[MappedItem]) -> Vec<MirrorEvent> {
    items.iter().flat_map(|i| i.rows.clone()).collect()
}

fn user() -> UserId {
    UserId::new("u1")
}

fn run(before: &[MirrorEvent], present: &[MappedItem], deleted: &[ItemId], full: bool) -> super::Plan {
    let user = user();
    plan(&PlanInput { user: &user, now: now(), before, present, deleted, full })
}

fn events(p: &super::Plan) -> Vec<(EventType, String)> {
    p.outbox.iter().map(|e| (e.event_type, e.data["id"].as_str().unwrap().to_owned())).collect()
}

fn upserts(p: &super::Plan) -> usize {
    p.changes.iter().filter(|c| matches!(c, MirrorChange::Upsert(_))).count()
}

#[test]
fn new_single_is_created_once() {
    let a = single("A", "item-A", "Lunch", "ck1");
    let p = run(&[], std::slice::from_ref(&a), &[], false);
    assert_eq!(events(&p), vec![(EventType::EventCreated, "A".to_owned())]);
    assert_eq!(p.outbox[0].data["subject"], "Lunch");
    assert_eq!(p.changes, vec![MirrorChange::Upsert(a.rows[0].clone())]);
    assert_eq!((p.created, p.updated, p.deleted), (1, 0, 0));
}

#[test]
fn unchanged_single_raises_nothing_even_with_a_new_change_key() {
    let before = rows_of(&[single("A", "item-A", "Lunch", "ck1")]);
    let same = run(&before, &[single("A", "item-A", "Lunch", "ck1")], &[], false);
    assert!(same.changes.is_empty() && same.outbox.is_empty(), "{same:?}");
    // Saved again: new ChangeKey and LastModifiedTime, same content → the row is refreshed silently.
    let resaved = run(&before, &[single("A", "item-A", "Lunch", "ck22")], &[], false);
    assert!(resaved.outbox.is_empty(), "{resaved:?}");
    assert_eq!(upserts(&resaved), 1);
}

#[test]
fn changed_single_is_updated_once() {
    let before = rows_of(&[single("A", "item-A", "Lunch", "ck1")]);
    let p = run(&before, &[single("A", "item-A", "Dinner", "ck2")], &[], false);
    assert_eq!(events(&p), vec![(EventType::EventUpdated, "A".to_owned())]);
    assert_eq!(p.outbox[0].data["subject"], "Dinner");
    assert_eq!(upserts(&p), 1);
}

#[test]
fn deleted_item_tombstones_its_rows_with_one_event_carrying_the_last_doc() {
    let before = rows_of(&[single("A", "item-A", "Lunch", "ck1"), single("B", "item-B", "Gym", "ck1")]);
    let p = run(&before, &[], &[ItemId::new("item-A")], false);
    assert_eq!(events(&p), vec![(EventType::EventDeleted, "A".to_owned())]);
    assert_eq!(p.outbox[0].data["subject"], "Lunch");
    assert!(matches!(&p.changes[..], [MirrorChange::Tombstone { key, .. }] if key.uid.as_str() == "A"));
    // An unknown ItemId changes nothing.
    let none = run(&before, &[], &[ItemId::new("item-Z")], false);
    assert!(none.changes.is_empty() && none.outbox.is_empty());
}

#[test]
fn an_item_id_change_is_no_event() {
    // A move: SyncFolderItems reports a Delete of the old ItemId and a Create of the new one,
    // with the same UID and content.
    let before = rows_of(&[single("A", "item-old", "Lunch", "ck1")]);
    let p = run(&before, &[single("A", "item-new", "Lunch", "ck1")], &[ItemId::new("item-old")], false);
    assert!(p.outbox.is_empty(), "{:?}", events(&p));
    assert!(matches!(&p.changes[..], [MirrorChange::Upsert(r)] if r.item_id.as_str() == "item-new"));
}

#[test]
fn series_created_is_one_event_with_the_series_document() {
    let s = series(daily("Standup", "ck1", 0..5));
    let p = run(&[], std::slice::from_ref(&s), &[], false);
    assert_eq!(events(&p), vec![(EventType::EventCreated, "S".to_owned())]);
    assert!(p.outbox[0].data["recurrence"].is_object());
    assert!(p.outbox[0].data.get("series_id").is_none());
    assert_eq!(upserts(&p), 6, "master + 5 occurrences");
}

#[test]
fn series_level_change_is_one_update_and_refreshes_every_occurrence() {
    let before = rows_of(&[series(daily("Standup", "ck1", 0..5))]);
    let p = run(&before, &[series(daily("Daily sync", "ck2", 0..5))], &[], false);
    assert_eq!(events(&p), vec![(EventType::EventUpdated, "S".to_owned())]);
    assert_eq!(p.outbox[0].data["subject"], "Daily sync");
    assert_eq!(upserts(&p), 6);
    // The pattern shrank: occurrences the series no longer has are forgotten, no more events.
    let shorter = run(&before, &[series(daily("Daily sync", "ck2", 0..3))], &[], false);
    assert_eq!(shorter.outbox.len(), 1);
    assert_eq!(shorter.changes.iter().filter(|c| matches!(c, MirrorChange::Forget { .. })).count(), 2);
}

#[test]
fn series_deleted_is_one_event_and_every_row_tombstoned() {
    let before = rows_of(&[series(daily("Standup", "ck1", 0..5))]);
    let p = run(&before, &[], &[ItemId::new("item-S")], false);
    assert_eq!(events(&p), vec![(EventType::EventDeleted, "S".to_owned())]);
    assert!(p.outbox[0].data["recurrence"].is_object());
    assert_eq!(p.changes.len(), 6);
    assert!(p.changes.iter().all(|c| matches!(c, MirrorChange::Tombstone { .. })));
}

#[test]
fn one_modified_occurrence_is_one_update_of_that_occurrence() {
    let before = rows_of(&[series(daily("Standup", "ck1", 0..5))]);
    let mut spec = daily("Standup", "ck2", 0..5);
    spec.days[2].1 = Some("Standup (moved room)");
    let p = run(&before, &[series(spec)], &[], false);
    let key = InstanceKey::occurrence(day(2));
    let id = EventId::new("S", key).encode();
    assert_eq!(events(&p), vec![(EventType::EventUpdated, id)]);
    assert_eq!(p.outbox[0].data["series_id"], "S");
    assert_eq!(p.outbox[0].data["subject"], "Standup (moved room)");
    // The other rows are refreshed silently (new ChangeKey).
    assert_eq!(upserts(&p), 6);
}

#[test]
fn one_deleted_occurrence_is_one_delete_with_its_last_doc() {
    let before = rows_of(&[series(daily("Standup", "ck1", 0..5))]);
    let mut spec = daily("Standup", "ck1", 0..5);
    spec.days.remove(3);
    spec.deleted.push(3);
    let p = run(&before, &[series(spec)], &[], false);
    let id = EventId::new("S", InstanceKey::occurrence(day(3))).encode();
    assert_eq!(events(&p), vec![(EventType::EventDeleted, id)]);
    assert_eq!(p.outbox[0].data["subject"], "Standup");
    assert!(
        matches!(&p.changes[..], [MirrorChange::Tombstone { key, .. }] if key.instance == InstanceKey::occurrence(day(3)))
    );
}

#[test]
fn occurrences_entering_and_leaving_the_window_are_silent() {
    let before = rows_of(&[series(daily("Standup", "ck1", 0..5))]);
    let p = run(&before, &[series(daily("Standup", "ck1", 2..8))], &[], true);
    assert!(p.outbox.is_empty(), "{:?}", events(&p));
    let forgets = p.changes.iter().filter(|c| matches!(c, MirrorChange::Forget { .. })).count();
    assert_eq!((forgets, upserts(&p)), (2, 3));
}

#[test]
fn kind_change_is_one_update() {
    let before = rows_of(&[single("S", "item-S", "Standup", "ck1")]);
    let p = run(&before, &[series(daily("Standup", "ck2", 0..3))], &[], false);
    assert_eq!(events(&p), vec![(EventType::EventUpdated, "S".to_owned())]);
    assert!(p.outbox[0].data["recurrence"].is_object());
    let back = run(&rows_of(&[series(daily("Standup", "ck2", 0..3))]), &[single("S", "item-S", "x", "c")], &[], false);
    assert_eq!(events(&back), vec![(EventType::EventUpdated, "S".to_owned())]);
    assert_eq!(back.changes.iter().filter(|c| matches!(c, MirrorChange::Forget { .. })).count(), 3);
}

#[test]
fn full_resync_compares_with_the_whole_mirror() {
    let a = single("A", "item-A", "Lunch", "ck1");
    let b = single("B", "item-B", "Gym", "ck1");
    let s = series(daily("Standup", "ck1", 0..4));
    let mut before = rows_of(&[a.clone(), b.clone(), s.clone()]);
    // Identical → nothing.
    let same = run(&before, &[a.clone(), b.clone(), s.clone()], &[], true);
    assert!(same.changes.is_empty() && same.outbox.is_empty(), "{:?}", events(&same));
    // B is gone from Exchange → deleted; incremental planning would not notice.
    let gone = run(&before, &[a.clone(), s.clone()], &[], true);
    assert_eq!(events(&gone), vec![(EventType::EventDeleted, "B".to_owned())]);
    assert!(run(&before, &[a.clone(), s.clone()], &[], false).outbox.is_empty());
    // A tombstoned item that reappears is created again.
    before.iter_mut().filter(|r| r.key.uid.as_str() == "B").for_each(|r| r.deleted = true);
    let back = run(&before, &[a, b, s], &[], true);
    assert_eq!(events(&back), vec![(EventType::EventCreated, "B".to_owned())]);
}

#[test]
fn events_are_ordered_by_uid_whatever_the_input_order() {
    let items = [single("C", "i3", "c", "k"), single("A", "i1", "a", "k"), single("B", "i2", "b", "k")];
    let p = run(&[], &items, &[], false);
    let ids: Vec<String> = events(&p).into_iter().map(|(_, id)| id).collect();
    assert_eq!(ids, ["A", "B", "C"]);
}

#[test]
fn incremental_planning_leaves_other_items_alone() {
    let before = rows_of(&[single("A", "item-A", "Lunch", "ck1"), series(daily("Standup", "ck1", 0..3))]);
    let p = run(&before, &[single("A", "item-A", "Brunch", "ck2")], &[], false);
    assert_eq!(events(&p), vec![(EventType::EventUpdated, "A".to_owned())]);
    assert!(p.changes.iter().all(|c| match c {
        MirrorChange::Upsert(r) => r.key.uid.as_str() == "A",
        _ => false,
    }));
}

// --- property test -----------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Spec {
    Single { subject: u8 },
    Series { subject: u8, days: Vec<(i64, Option<u8>)>, deleted: Vec<i64> },
}

const SUBJECTS: [&str; 3] = ["x", "y", "z"];

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (0u8..3).prop_map(|subject| Spec::Single { subject }),
        (0u8..3, proptest::collection::btree_map(0i64..8, (any::<bool>(), 0u8..3, any::<bool>()), 0..6)).prop_map(
            |(subject, map)| {
                let mut days = Vec::new();
                let mut deleted = Vec::new();
                for (d, (is_deleted, s, exception)) in map {
                    if is_deleted {
                        deleted.push(d);
                    } else {
                        days.push((d, exception.then_some(s)));
                    }
                }
                Spec::Series { subject, days, deleted }
            }
        ),
    ]
}

fn world() -> impl Strategy<Value = BTreeMap<u8, (Spec, u8)>> {
    // uid → (spec, change key / stamp variant)
    proptest::collection::btree_map(0u8..6, (spec(), 1u8..4), 0..6)
}

fn build(w: &BTreeMap<u8, (Spec, u8)>) -> Vec<MappedItem> {
    w.iter()
        .map(|(uid, (spec, ck))| {
            let uid = format!("U{uid}");
            let item = format!("item-{uid}");
            let ck = "c".repeat(*ck as usize);
            match spec {
                Spec::Single { subject } => single(&uid, &item, SUBJECTS[*subject as usize], &ck),
                Spec::Series { subject, days, deleted } => series(SeriesSpec {
                    uid: &uid,
                    item: &item,
                    subject: SUBJECTS[*subject as usize],
                    ck: &ck,
                    days: days.iter().map(|(d, s)| (*d, s.map(|s| SUBJECTS[s as usize]))).collect(),
                    deleted: deleted.clone(),
                }),
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn applying_a_full_plan_yields_exchange_and_replanning_is_silent(a in world(), b in world()) {
        let (items_a, items_b) = (build(&a), build(&b));
        let mut mirror: BTreeMap<_, _> = rows_of(&items_a).into_iter().map(|r| (r.key.clone(), r)).collect();
        let before: Vec<MirrorEvent> = mirror.values().cloned().collect();
        let p = run(&before, &items_b, &[], true);
        apply_in_memory(&mut mirror, &p.changes);
        let live: Vec<MirrorEvent> = mirror.values().filter(|r| !r.deleted).cloned().collect();
        let mut expected = rows_of(&items_b);
        expected.sort_by(|x, y| x.key.cmp(&y.key));
        prop_assert_eq!(&live, &expected);
        // At most one event per Exchange item, except occurrence-level changes of one series.
        for item in items_a.iter().chain(&items_b) {
            let item_events = p.outbox.iter().filter(|e| e.data["uid"] == item.uid.as_str()).count();
            let occurrence_rows = item.rows.len().max(1);
            prop_assert!(item_events <= occurrence_rows + 1);
        }
        // Planning Exchange against itself: nothing.
        let again = run(&live, &items_b, &[], true);
        prop_assert!(again.changes.is_empty(), "{:?}", again.changes);
        prop_assert!(again.outbox.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// The `changed` list and the user's policy on top of the plan (crate::policy).

/// A meeting organised by someone else on an attendee's calendar.
fn meeting(uid: &str, start: Timestamp, subject: &str, stamp: i64) -> MappedItem {
    let id = EventId::new(uid, InstanceKey::single());
    let mut d = doc(&id, None, subject, start, stamp);
    d.is_meeting = true;
    d.organizer = Some(crate::event::Person { email: Some("boss@contoso.test".into()), name: None });
    MappedItem {
        uid: Uid::new(uid),
        item_id: ItemId::new(format!("item-{uid}")),
        rows: vec![mk_row(MirrorKind::Single, uid, InstanceKey::single(), &format!("item-{uid}"), "ck", &d)],
        deleted_occurrences: vec![],
    }
}

#[test]
fn an_update_lists_the_fields_that_changed() {
    // The organiser moved the meeting by two hours: only start and end changed.
    let before = rows_of(&[meeting("M", day(1), "Review", 1000)]);
    let moved = meeting("M", day(1) + jiff::SignedDuration::from_hours(2), "Review", 2000);
    let p = run(&before, std::slice::from_ref(&moved), &[], false);
    assert_eq!(events(&p), vec![(EventType::EventUpdated, "M".to_owned())]);
    assert_eq!(p.outbox[0].data["changed"], serde_json::json!(["start", "end"]));
    assert_eq!(p.outbox[0].data["subject"], "Review");
    // A subject change lists only the subject; created/deleted carry no list.
    let renamed = meeting("M", day(1), "Quarterly review", 2000);
    let p = run(&before, &[renamed], &[], false);
    assert_eq!(p.outbox[0].data["changed"], serde_json::json!(["subject"]));
    let created = run(&[], &[moved], &[], false);
    assert!(created.outbox[0].data.get("changed").is_none());
    // An exception of a series: the occurrence's own fields.
    let before = rows_of(&[series(daily("Standup", "ck1", 0..5))]);
    let mut spec = daily("Standup", "ck2", 0..5);
    spec.days[2].1 = Some("Standup (moved room)");
    let p = run(&before, &[series(spec)], &[], false);
    assert_eq!(p.outbox[0].data["changed"], serde_json::json!(["subject"]));
}

#[test]
fn the_policy_filters_what_the_plan_announces() {
    use crate::policy::ReadPolicy;
    use exbridge_store::{SyncDirection, UserSettings};
    let before = rows_of(&[single("A", "item-A", "Lunch", "ck1"), single("B", "item-B", "Gym", "ck1")]);
    let p = run(&before, &[single("A", "item-A", "Dinner", "ck2")], &[ItemId::new("item-B")], false);
    let kinds = |o: &[exbridge_store::NewOutboxEvent]| o.iter().map(|e| e.event_type).collect::<Vec<_>>();
    assert_eq!(kinds(&p.outbox), [EventType::EventUpdated, EventType::EventDeleted]);

    let settings = |f: &dyn Fn(&mut UserSettings)| {
        let mut s = UserSettings::default();
        f(&mut s);
        ReadPolicy::from_settings(&s)
    };
    let no_forward = settings(&|s| s.direction = SyncDirection::AppToExchange);
    assert!(no_forward.filter_outbox(p.outbox.clone()).is_empty());
    // The mirror changes are the same whatever the policy: the plan does not know it.
    assert_eq!(p.changes.len(), 2);
    let unlink = settings(&|s| s.delete_in_app = false);
    let out = unlink.filter_outbox(p.outbox.clone());
    assert_eq!(kinds(&out), [EventType::EventUpdated, EventType::EventUnlinked]);
    assert_eq!(out[1].data["reason"], "deleted_in_exchange");
    assert_eq!(out[1].data["subject"], "Gym");

    // skip_private: A becomes private → deleted for the app; back to public → created.
    let mut private = single("A", "item-A", "Dinner", "ck2");
    let mut d: EventDoc = serde_json::from_value(private.rows[0].event.clone()).unwrap();
    d.is_private = true;
    private.rows[0] = mk_row(MirrorKind::Single, "A", InstanceKey::single(), "item-A", "ck2", &d);
    let skip = settings(&|s| s.skip_private = true);
    let to_private = run(&before, std::slice::from_ref(&private), &[], false);
    assert_eq!(to_private.outbox[0].data["changed"], serde_json::json!(["subject", "is_private"]));
    assert_eq!(kinds(&skip.filter_outbox(to_private.outbox.clone())), [EventType::EventDeleted]);
    assert_eq!(kinds(&ReadPolicy::default().filter_outbox(to_private.outbox)), [EventType::EventUpdated]);
    let back = run(&rows_of(std::slice::from_ref(&private)), &[single("A", "item-A", "Dinner", "ck3")], &[], false);
    assert_eq!(kinds(&skip.filter_outbox(back.outbox)), [EventType::EventCreated]);
    // A private item created, changed or deleted while private: nothing.
    let created = run(&[], std::slice::from_ref(&private), &[], false);
    assert!(skip.filter_outbox(created.outbox).is_empty());
    let gone = run(&rows_of(&[private]), &[], &[ItemId::new("item-A")], false);
    assert!(skip.filter_outbox(gone.outbox).is_empty());
}

#[test]
fn a_quiet_initial_plan_is_the_plan_of_an_empty_mirror_without_its_events() {
    let items = vec![
        single("B", "item-B", "Budget", "ck1"),
        series(SeriesSpec { deleted: vec![2], ..daily("Stand-up", "ck1", 0..4) }),
        single("A", "item-A", "Old copy", "ck1"),
        // The same UID twice: the later one wins, as in `plan`.
        single("A", "item-A2", "New copy", "ck22"),
    ];
    for full in [true, false] {
        let reference = run(&[], &items, &[ItemId::new("item-X")], full);
        let quiet = initial_quiet(items.clone());
        assert_eq!(quiet.changes, reference.changes, "full = {full}");
        assert_eq!((quiet.created, quiet.updated, quiet.deleted), (reference.created, 0, 0));
        assert!(quiet.outbox.is_empty());
        assert_eq!(reference.created, 3);
        assert_eq!(upserts(&quiet), 1 + 5 + 1);
    }
}
