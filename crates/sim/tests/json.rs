//! The control API's JSON: shapes, validation, and the effect on the store (notifications).

use exbridge_sim::json::{
    self, ApiError, apply_create, apply_create_mailbox, apply_delete, apply_oof, apply_patch, list_items,
};
use exbridge_sim::seed::{SeedConfig, seeded_store};
use exbridge_sim::store::{EventKind, FolderKind, OofStatus, Store, SubscriptionSpec};
use jiff::civil::date;
use serde_json::{Value, json};

fn store() -> Store {
    seeded_store(&SeedConfig::new(1, 3, 0, "contoso.test").with_anchor(date(2026, 3, 16))).unwrap()
}

fn err_field(e: ApiError) -> (u16, Option<String>) {
    (e.status, e.field)
}

const CONTRACT_KEYS: [&str; 20] = [
    "item_id",
    "change_key",
    "uid",
    "item_type",
    "subject",
    "start",
    "end",
    "time_zone",
    "is_all_day",
    "location",
    "body",
    "sensitivity",
    "importance",
    "categories",
    "legacy_free_busy",
    "organizer",
    "attendees",
    "recurrence",
    "modified_occurrences",
    "deleted_occurrences",
];

#[test]
fn create_returns_the_contract_shape_and_notifies() {
    let store = store();
    let mb = store.mailbox("user1@contoso.test").unwrap();
    let sub = store.subscribe(&mb, SubscriptionSpec::streaming_calendar());
    let item = apply_create(
        &store,
        "user1@contoso.test",
        &json!({
            "subject": "Planning",
            "start": "2026-03-18T10:00:00+01:00",
            "end": "2026-03-18T11:00:00+01:00",
            "time_zone": "W. Europe Standard Time",
            "location": "Room 1",
            "body": "Agenda",
            "sensitivity": "Private",
            "importance": "High",
            "categories": ["Project"],
            "legacy_free_busy": "Tentative",
        }),
    )
    .unwrap();
    let v = serde_json::to_value(&item).unwrap();
    // Exactly the contract's keys, in its order (serde_json keeps insertion order only with
    // `preserve_order`; check the serialized text instead).
    let text = serde_json::to_string(&item).unwrap();
    let mut last = 0;
    for k in CONTRACT_KEYS {
        let at = text.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k} missing"));
        assert!(at >= last, "{k} out of order");
        last = at;
    }
    assert_eq!(v.as_object().unwrap().len(), CONTRACT_KEYS.len());
    assert_eq!(v["item_type"], "Single");
    assert_eq!(v["start"], "2026-03-18T10:00:00+01:00");
    assert_eq!(v["end"], "2026-03-18T11:00:00+01:00");
    assert_eq!(v["time_zone"], "W. Europe Standard Time");
    assert_eq!(v["sensitivity"], "Private");
    assert_eq!(v["importance"], "High");
    assert_eq!(v["legacy_free_busy"], "Tentative");
    assert_eq!(v["categories"], json!(["Project"]));
    assert_eq!(v["organizer"]["email"], "user1@contoso.test");
    assert_eq!(v["recurrence"], Value::Null);
    assert!(v["uid"].as_str().unwrap().starts_with("040000008200E00074C5B7101A82E008"));
    // As if made in Outlook: a Created event, and it is in the listing.
    let events = sub.take(10);
    assert_eq!(events.iter().map(|e| e.kind).collect::<Vec<_>>(), [EventKind::Created]);
    assert_eq!(events[0].item_id.as_str(), item.item_id);
    assert_eq!(list_items(&store, "user1@contoso.test").unwrap(), vec![item]);
}

#[test]
fn create_validates_and_names_the_field() {
    let store = store();
    let ok = json!({"subject": "A", "start": "2026-03-18T10:00:00Z", "end": "2026-03-18T11:00:00Z"});
    let with = |k: &str, v: Value| {
        let mut o = ok.clone();
        o[k] = v;
        o
    };
    let without = |k: &str| {
        let mut o = ok.clone();
        o.as_object_mut().unwrap().remove(k);
        o
    };
    let check = |body: Value, field: &str| {
        let e = apply_create(&store, "user1@contoso.test", &body).unwrap_err();
        assert_eq!(e.status, 400, "{e}");
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        assert!(e.body()["error"]["message"].as_str().unwrap().contains(field.split('[').next().unwrap()));
    };
    check(without("subject"), "subject");
    check(without("start"), "start");
    check(without("end"), "end");
    check(with("start", json!("tomorrow")), "start");
    check(with("start", json!(5)), "start");
    check(with("end", json!("2026-03-18T09:00:00Z")), "end");
    check(with("colour", json!("red")), "colour");
    check(with("time_zone", json!("Mars Standard Time")), "time_zone");
    check(with("sensitivity", json!("Secret")), "sensitivity");
    check(with("is_all_day", json!("yes")), "is_all_day");
    check(with("categories", json!("Project")), "categories");
    check(with("attendees", json!([42])), "attendees[0]");
    check(with("attendees", json!([{"email": "not an address"}])), "attendees");
    check(with("attendees", json!([{"email": "a@b.example", "type": "boss"}])), "attendees[0].type");
    check(with("recurrence", json!({"pattern": {"type": "hourly"}, "range": {"type": "no_end"}})), "recurrence");
    check(
        with("recurrence", json!({"pattern": {"type": "weekly", "days": ["Caturday"]}, "range": {"type": "no_end"}})),
        "recurrence.pattern.days",
    );
    check(
        with("recurrence", json!({"pattern": {"type": "daily", "interval": 0}, "range": {"type": "no_end"}})),
        "recurrence",
    );
    check(json!([1, 2]), "body");
    assert_eq!(err_field(apply_create(&store, "nobody@contoso.test", &ok).unwrap_err()), (404, None));
    // Local times and dates are read in the item's zone (default: the mailbox's).
    let local = apply_create(
        &store,
        "user1@contoso.test",
        &json!({"subject": "L", "start": "2026-07-01T09:00:00", "end": "2026-07-01T09:30:00", "time_zone": "Pacific Standard Time"}),
    )
    .unwrap();
    assert_eq!(local.start, "2026-07-01T09:00:00-07:00");
    let all_day = apply_create(
        &store,
        "user1@contoso.test",
        &json!({"subject": "Off", "start": "2026-07-01", "end": "2026-07-03", "is_all_day": true, "time_zone": "Tokyo Standard Time"}),
    )
    .unwrap();
    assert_eq!(
        (all_day.start.as_str(), all_day.end.as_str(), all_day.is_all_day),
        ("2026-07-01T00:00:00+09:00", "2026-07-03T00:00:00+09:00", true)
    );
}

#[test]
fn recurrence_round_trips_and_meetings_invite_attendees() {
    let store = store();
    let att = store.mailbox("user2@contoso.test").unwrap();
    let att_sub = store.subscribe(&att, SubscriptionSpec::streaming_calendar());
    let rec = json!({
        "pattern": {"type": "relative_monthly", "interval": 1, "index": "Last", "day": "Friday"},
        "range": {"type": "numbered", "start": "2026-03-01", "count": 6}
    });
    let item = apply_create(
        &store,
        "user1@contoso.test",
        &json!({
            "subject": "Monthly review",
            "start": "2026-03-27T15:00:00Z",
            "end": "2026-03-27T16:00:00Z",
            "attendees": ["user2@contoso.test", {"email": "u3@alias.contoso.test", "type": "optional"}, {"email": "guest@fabrikam.example", "name": "Guest", "response": "Accept"}],
            "recurrence": rec,
        }),
    )
    .unwrap();
    assert_eq!(item.item_type, "RecurringMaster");
    assert_eq!(serde_json::to_value(&item.recurrence).unwrap(), rec);
    assert_eq!(item.attendees.len(), 3);
    // Required attendees first, then optional ones; aliases resolve to the primary address.
    let emails: Vec<&str> = item.attendees.iter().map(|a| a.email.as_str()).collect();
    assert_eq!(emails, ["user2@contoso.test", "guest@fabrikam.example", "user3@contoso.test"]);
    assert_eq!(item.attendees[2].kind, "Optional");
    assert_eq!(item.attendees[1].response, "Accept");
    assert_eq!(item.attendees[1].name.as_deref(), Some("Guest"));
    // Invitations: the simulator users have a copy with the same UID.
    for who in ["user2@contoso.test", "user3@contoso.test"] {
        let copies = list_items(&store, who).unwrap();
        assert_eq!(copies.len(), 1, "{who}");
        assert_eq!(copies[0].uid, item.uid);
        assert_eq!(copies[0].organizer.email, "user1@contoso.test");
        assert_eq!(copies[0].recurrence, item.recurrence);
    }
    assert_eq!(att_sub.take(10).len(), 1);
    // Range start defaults to the start date; interval to 1.
    let d = apply_create(
        &store,
        "user1@contoso.test",
        &json!({"subject": "Standup", "start": "2026-03-16T09:00:00+01:00", "end": "2026-03-16T09:15:00+01:00", "time_zone": "W. Europe Standard Time",
                "recurrence": {"pattern": {"type": "weekly", "days": ["Weekday"]}, "range": {"type": "end_date", "end": "2026-06-30"}}}),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&d.recurrence).unwrap(),
        json!({"pattern": {"type": "weekly", "interval": 1, "days": ["Weekday"]}, "range": {"type": "end_date", "start": "2026-03-16", "end": "2026-06-30"}})
    );
}

#[test]
fn patch_changes_fields_change_key_and_notifies() {
    let store = store();
    let mb = store.mailbox("user1@contoso.test").unwrap();
    let item = apply_create(
        &store,
        "user1@contoso.test",
        &json!({"subject": "A", "start": "2026-03-18T10:00:00+01:00", "end": "2026-03-18T11:30:00+01:00", "time_zone": "W. Europe Standard Time", "location": "Room 1"}),
    )
    .unwrap();
    let sub = store.subscribe(&mb, SubscriptionSpec::streaming_calendar());
    let p =
        apply_patch(&store, "user1@contoso.test", &item.item_id, &json!({"subject": "B", "location": null})).unwrap();
    assert_eq!((p.subject.as_str(), p.location.as_deref()), ("B", None));
    assert_ne!(p.change_key, item.change_key);
    assert_eq!(p.item_id, item.item_id);
    assert_eq!(sub.take(10).iter().map(|e| e.kind).collect::<Vec<_>>(), [EventKind::Modified]);
    // A new start alone keeps the length; a new zone alone keeps the wall-clock times.
    let p = apply_patch(&store, "user1@contoso.test", &item.item_id, &json!({"start": "2026-03-19T14:00:00+01:00"}))
        .unwrap();
    assert_eq!((p.start.as_str(), p.end.as_str()), ("2026-03-19T14:00:00+01:00", "2026-03-19T15:30:00+01:00"));
    let p = apply_patch(&store, "user1@contoso.test", &item.item_id, &json!({"time_zone": "Eastern Standard Time"}))
        .unwrap();
    assert_eq!((p.start.as_str(), p.time_zone.as_str()), ("2026-03-19T14:00:00-04:00", "Eastern Standard Time"));
    // Errors name the field; unknown items are 404.
    assert_eq!(
        err_field(
            apply_patch(&store, "user1@contoso.test", &item.item_id, &json!({"importance": "Urgent"})).unwrap_err()
        ),
        (400, Some("importance".into()))
    );
    assert_eq!(
        err_field(apply_patch(&store, "user1@contoso.test", &item.item_id, &json!({"bogus": 1})).unwrap_err()),
        (400, Some("bogus".into()))
    );
    assert_eq!(
        err_field(
            apply_patch(&store, "user1@contoso.test", &item.item_id, &json!({"end": "2026-03-01T00:00:00Z"}))
                .unwrap_err()
        )
        .0,
        400
    );
    assert_eq!(
        apply_patch(&store, "user1@contoso.test", "AAMkNOPE", &json!({"subject": "x"})).unwrap_err().status,
        404
    );
    assert_eq!(
        apply_patch(&store, "user2@contoso.test", &item.item_id, &json!({"subject": "x"})).unwrap_err().status,
        404
    );
    // Delete: a Deleted event, gone from the listing.
    sub.take(10);
    apply_delete(&store, "user1@contoso.test", &item.item_id).unwrap();
    assert_eq!(sub.take(10).iter().map(|e| e.kind).collect::<Vec<_>>(), [EventKind::Deleted]);
    assert!(list_items(&store, "user1@contoso.test").unwrap().is_empty());
    assert_eq!(apply_delete(&store, "user1@contoso.test", &item.item_id).unwrap_err().status, 404);
}

#[test]
fn patch_occurrences() {
    let store = store();
    let item = apply_create(
        &store,
        "user1@contoso.test",
        &json!({"subject": "Daily", "start": "2026-03-16T09:00:00+01:00", "end": "2026-03-16T09:15:00+01:00", "time_zone": "W. Europe Standard Time",
                "recurrence": {"pattern": {"type": "daily"}, "range": {"type": "numbered", "count": 10}}}),
    )
    .unwrap();
    // Replace the deleted and modified lists.
    let p = apply_patch(
        &store,
        "user1@contoso.test",
        &item.item_id,
        &json!({
            "deleted_occurrences": ["2026-03-17T09:00:00+01:00"],
            "modified_occurrences": [{"original_start": "2026-03-18T09:00:00+01:00", "start": "2026-03-18T11:00:00+01:00", "subject": "Daily (late)"}],
        }),
    )
    .unwrap();
    assert_eq!(p.deleted_occurrences, ["2026-03-17T09:00:00+01:00"]);
    assert_eq!(p.modified_occurrences.len(), 1);
    assert_eq!(
        (p.modified_occurrences[0].start.as_str(), p.modified_occurrences[0].end.as_str()),
        ("2026-03-18T11:00:00+01:00", "2026-03-18T11:15:00+01:00")
    );
    let listing = list_items(&store, "user1@contoso.test").unwrap();
    assert_eq!(listing.len(), 2);
    assert_eq!((listing[1].item_type, listing[1].subject.as_str()), ("Exception", "Daily (late)"));
    assert_eq!(listing[1].item_id, p.modified_occurrences[0].item_id);
    // Not an occurrence: the field is named.
    let e = apply_patch(
        &store,
        "user1@contoso.test",
        &item.item_id,
        &json!({"deleted_occurrences": ["2026-03-17T10:00:00+01:00", "2026-04-17T09:00:00+02:00"]}),
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("deleted_occurrences[1]"));
    // Patch one occurrence by its id: it becomes an exception.
    let occurrence_id = listing[1].item_id.clone();
    let ex = apply_patch(&store, "user1@contoso.test", &occurrence_id, &json!({"location": "Room 9"})).unwrap();
    assert_eq!((ex.item_type, ex.location.as_deref()), ("Exception", Some("Room 9")));
    assert_eq!(
        apply_patch(&store, "user1@contoso.test", &occurrence_id, &json!({"recurrence": null}))
            .unwrap_err()
            .field
            .as_deref(),
        Some("recurrence")
    );
    // null clears a list.
    let p = apply_patch(&store, "user1@contoso.test", &item.item_id, &json!({"deleted_occurrences": null})).unwrap();
    assert!(p.deleted_occurrences.is_empty());
    // Delete one occurrence by its id.
    apply_delete(&store, "user1@contoso.test", &occurrence_id).unwrap();
    let master = &list_items(&store, "user1@contoso.test").unwrap()[0];
    assert_eq!(master.deleted_occurrences.len(), 1);
    assert!(master.modified_occurrences.is_empty());
    // Clearing the recurrence makes it a single item.
    let single = apply_patch(&store, "user1@contoso.test", &item.item_id, &json!({"recurrence": null})).unwrap();
    assert_eq!((single.item_type, single.recurrence), ("Single", None));
}

#[test]
fn mailboxes_and_oof() {
    let store = store();
    let m = apply_create_mailbox(&store, &json!({"smtp": "room7@contoso.test", "aliases": ["r7@contoso.test"], "display_name": "Room 7", "time_zone": "Tokyo Standard Time"})).unwrap();
    assert_eq!(
        serde_json::to_value(&m).unwrap(),
        json!({"smtp": "room7@contoso.test", "aliases": ["r7@contoso.test"], "display_name": "Room 7", "time_zone": "Tokyo Standard Time"})
    );
    assert_eq!(store.mailbox("R7@contoso.test").unwrap().display_name(), "Room 7");
    let dup = apply_create_mailbox(&store, &json!({"smtp": "user1@contoso.test"})).unwrap_err();
    assert_eq!((dup.status, dup.code), (409, "exists"));
    assert_eq!(
        apply_create_mailbox(&store, &json!({"smtp": "x@contoso.test", "time_zone": "Nowhere"}))
            .unwrap_err()
            .field
            .as_deref(),
        Some("time_zone")
    );
    assert_eq!(apply_create_mailbox(&store, &json!({})).unwrap_err().field.as_deref(), Some("smtp"));
    let plain = apply_create_mailbox(&store, &json!({"smtp": "plain@contoso.test"})).unwrap();
    assert_eq!((plain.display_name.as_str(), plain.time_zone.as_str()), ("plain", "UTC"));

    let e = apply_oof(&store, "user1@contoso.test", &json!({"state": "Scheduled", "start": "2026-03-20T00:00:00Z"}))
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("end"));
    assert_eq!(
        apply_oof(&store, "user1@contoso.test", &json!({"state": "Away"})).unwrap_err().field.as_deref(),
        Some("state")
    );
    let o = apply_oof(
        &store,
        "user1@contoso.test",
        &json!({"state": "Scheduled", "start": "2026-03-20T00:00:00Z", "end": "2026-03-27T00:00:00Z", "internal_reply": "Back on the 27th", "external_reply": "Out"}),
    )
    .unwrap();
    assert_eq!(o.state, "Scheduled");
    let stored = store.oof(&store.mailbox("user1@contoso.test").unwrap());
    assert_eq!(stored.state, OofStatus::Scheduled);
    assert_eq!(stored.internal_reply, "Back on the 27th");
    let o = apply_oof(&store, "user1@contoso.test", &json!({"state": "Disabled"})).unwrap();
    assert_eq!((o.state, o.internal_reply.as_str()), ("Disabled", "Back on the 27th"));
    assert_eq!(apply_oof(&store, "nobody@contoso.test", &json!({"state": "Enabled"})).unwrap_err().status, 404);
}

#[test]
fn control_api_changes_reach_ews_views() {
    // A change through the control API is what EWS reads next (same store).
    let store = store();
    let mb = store.mailbox("user3@contoso.test").unwrap();
    let item = apply_create(
        &store,
        "user3@contoso.test",
        &json!({"subject": "X", "start": "2026-03-18T10:00:00Z", "end": "2026-03-18T11:00:00Z"}),
    )
    .unwrap();
    let page = store.sync_folder_items(&mb, FolderKind::Calendar, None, 10).unwrap();
    assert_eq!(page.changes.len(), 1);
    let view = store
        .calendar_view(&mb, "2026-03-18T00:00:00Z".parse().unwrap(), "2026-03-19T00:00:00Z".parse().unwrap(), None)
        .unwrap();
    assert_eq!(view.items.len(), 1);
    assert_eq!(view.items[0].item.item_id.as_ref().unwrap().id.as_str(), item.item_id);
    assert_eq!(view.items[0].item.item_id.as_ref().unwrap().change_key.as_ref().unwrap().as_str(), item.change_key);
    let _ = json::OofJson::of(&store.oof(&mb));
}
