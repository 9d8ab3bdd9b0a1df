//! Every answer the simulator gives validates against the EWS schema, and has the shape of
//! the real Exchange samples.
//!
//! One scenario drives every operation over HTTP — reads, writes, notifications (pull and
//! streaming, through to `Closed`), errors and faults — collecting each response document, then
//! validates all of them in one `ews_schema_check::assert_all_valid` call. The documented
//! exception: GetStreamingEvents notifications carry `m:Notification` as real Exchange writes
//! it; they are validated after mapping that element to the schema's `t:Notification`
//! (`support::to_schema_form`).
//!
//! Then each kind of answer is compared with the corresponding real sample: the answer must
//! have every element path the sample has (for the elements the sample has).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use ews_proto::items::{Attendee, Body as ItemBody, CalendarItem, Item, ItemFields};
use ews_proto::ops::*;
use ews_proto::shape::{BaseShape, ItemShape};
use ews_proto::soap::Body;
use ews_proto::values::DateTime;
use ews_proto::{BaseItemId, EmailAddress, FolderId, ItemId, ItemIdValue, SyncState};
use jiff::Timestamp;
use serde_json::json;
use support::{Sim, user};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn utc(s: &str) -> DateTime {
    DateTime::utc(ts(s))
}

fn view(start: &str, end: &str, shape: ItemShape) -> FindItem {
    FindItem::calendar_view(FolderId::calendar(), utc(start), utc(end), shape)
}

macro_rules! body {
    ($e:expr, $v:ident) => {
        match $e {
            Body::$v(r) => r,
            other => panic!("expected {}, got {other:?}", stringify!($v)),
        }
    };
}

fn appointment(subject: &str, start: &str, end: &str, attendees: &[String]) -> Item {
    Item::Calendar(CalendarItem {
        item: ItemFields {
            subject: Some(subject.into()),
            body: Some(ItemBody::text("Join: https://teams.microsoft.com/l/meetup-join/abc")),
            ..ItemFields::default()
        },
        start: Some(utc(start)),
        end: Some(utc(end)),
        location: Some("Room 1".into()),
        required_attendees: (!attendees.is_empty()).then(|| {
            attendees
                .iter()
                .map(|a| Attendee { mailbox: EmailAddress::smtp(a.clone(), None), ..Attendee::default() })
                .collect()
        }),
        ..CalendarItem::default()
    })
}

fn created_id(r: &CreateItemResponse) -> ItemId {
    match &r.messages[0].items[0] {
        Item::Calendar(c) => c.item.item_id.clone().unwrap(),
        other => panic!("{other:?}"),
    }
}

/// Sample paths under `/Message` or `/CalendarItem` beyond the item id are data, not shape.
fn item_level_only(missing: Vec<String>) -> Vec<String> {
    missing
        .into_iter()
        .filter(|p| {
            let tail = p.rsplit_once("/CalendarItem").map(|(_, t)| t).unwrap_or("");
            tail.is_empty() || tail == "/ItemId"
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_validates_and_matches_the_samples() {
    let sim = Sim::start_configured(6, 40, |c| {
        // ConnectionTimeout 1 = 400 ms, heartbeats every 100 ms: the stream closes quickly.
        c.connection_timeout_unit = Duration::from_millis(400);
        c.heartbeat_interval = Duration::from_millis(100);
    })
    .await;
    let u = user(1);
    let u2 = user(2);
    // The labelled answer documents to compare with samples.
    let mut shapes: BTreeMap<&str, String> = BTreeMap::new();

    // --- GetFolder
    for base in [BaseShape::IdOnly, BaseShape::Default, BaseShape::AllProperties] {
        for id in
            [FolderId::calendar(), FolderId::tasks(), FolderId::distinguished(ews_proto::DistinguishedFolderName::Root)]
        {
            sim.ok("GetFolder", &u, GetFolder { folder_shape: FolderShape::new(base), folder_ids: vec![id] }).await;
        }
    }
    let (_, env) =
        sim.call("GetFolder IdOnly", Some(&u), GetFolder::calendar(FolderShape::new(BaseShape::IdOnly))).await;
    shapes.insert("GetFolder-Calendar.response.xml", env.to_xml_string());
    let bad = GetFolder {
        folder_shape: FolderShape::new(BaseShape::Default),
        folder_ids: vec![FolderId::Id { id: ews_proto::FolderIdValue("bad".into()), change_key: None }],
    };
    let (_, env) = sim.call("GetFolder malformed", Some(&u), bad).await;
    shapes.insert("GetFolder-Error-InvalidIdMalformed.response.xml", env.to_xml_string());

    // --- FindItem
    let (s, e) = ("2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z");
    for base in [BaseShape::IdOnly, BaseShape::Default, BaseShape::AllProperties] {
        sim.ok("FindItem CalendarView", &u, view(s, e, ItemShape::new(base))).await;
        sim.ok("FindItem Indexed", &u, FindItem::indexed(FolderId::calendar(), 0, 50, ItemShape::new(base))).await;
        sim.ok("FindItem Indexed tasks", &u, FindItem::indexed(FolderId::tasks(), 0, 50, ItemShape::new(base))).await;
    }
    let shape = ItemShape::id_only().with_fields(&["item:Subject", "calendar:Start", "calendar:End"]);
    let (_, env) = sim.call("FindItem CalendarView sample", Some(&u), view(s, e, shape).with_max_entries(5)).await;
    shapes.insert("FindItem-CalendarView.response.xml", env.to_xml_string());
    let (_, env) = sim
        .call(
            "FindItem Indexed sample",
            Some(&u),
            FindItem::indexed(FolderId::calendar(), 0, 10, ItemShape::new(BaseShape::Default)),
        )
        .await;
    shapes.insert("FindItem-IndexedPageItemView-RecurringMaster.response.xml", env.to_xml_string());
    sim.ok("FindItem too big", &u, view("2026-01-01T00:00:00Z", "2028-06-01T00:00:00Z", ItemShape::id_only())).await;
    let bad = FindItem::calendar_view(
        FolderId::Id { id: ews_proto::FolderIdValue("bad".into()), change_key: None },
        utc(s),
        utc(e),
        ItemShape::id_only(),
    );
    let (_, env) = sim.call("FindItem malformed", Some(&u), bad).await;
    shapes.insert("FindItem-Error-InvalidIdMalformed.response.xml", env.to_xml_string());

    // --- GetItem: every seeded item of user1 in every shape, occurrences too.
    let all = body!(
        sim.ok("FindItem all", &u, FindItem::indexed(FolderId::calendar(), 0, 1000, ItemShape::id_only())).await,
        FindItemResponse
    );
    let ids: Vec<BaseItemId> = all.messages[0]
        .items()
        .iter()
        .filter_map(|i| match i {
            Item::Calendar(c) => c.item.item_id.clone().map(BaseItemId::Item),
            _ => None,
        })
        .collect();
    let occ = body!(sim.ok("FindItem occurrences", &u, view(s, e, ItemShape::id_only())).await, FindItemResponse);
    let occ_ids: Vec<BaseItemId> = occ.messages[0]
        .items()
        .iter()
        .filter_map(|i| match i {
            Item::Calendar(c) => c.item.item_id.clone().map(BaseItemId::Item),
            _ => None,
        })
        .collect();
    for base in [BaseShape::IdOnly, BaseShape::Default, BaseShape::AllProperties] {
        sim.ok("GetItem masters", &u, GetItem::new(ids.clone(), ItemShape::new(base))).await;
        sim.ok("GetItem occurrences", &u, GetItem::new(occ_ids.clone(), ItemShape::new(base))).await;
    }
    let tasks = body!(
        sim.ok("FindItem tasks", &u, FindItem::indexed(FolderId::tasks(), 0, 100, ItemShape::id_only())).await,
        FindItemResponse
    );
    let task_ids: Vec<BaseItemId> = tasks.messages[0]
        .items()
        .iter()
        .filter_map(|i| match i {
            Item::Task(t) => t.item.item_id.clone().map(BaseItemId::Item),
            _ => None,
        })
        .collect();
    if !task_ids.is_empty() {
        sim.ok("GetItem tasks", &u, GetItem::new(task_ids, ItemShape::new(BaseShape::AllProperties))).await;
    }
    let first = ids[0].clone();
    let (_, env) = sim.call("GetItem IdOnly", Some(&u), GetItem::new([first.clone()], ItemShape::id_only())).await;
    shapes.insert("GetItem-CalendarItem-IdOnly.response.xml", env.to_xml_string());
    let bad = GetItem::new(
        [BaseItemId::Item(ItemId { id: ItemIdValue("bad".into()), change_key: None })],
        ItemShape::id_only(),
    );
    sim.ok("GetItem malformed", &u, bad).await;

    // --- SyncFolderItems
    let r = body!(
        sim.ok(
            "SyncFolderItems initial",
            &u,
            SyncFolderItems::new(FolderId::calendar(), None, 512).with_shape(ItemShape::new(BaseShape::AllProperties))
        )
        .await,
        SyncFolderItemsResponse
    );
    let state = r.messages[0].sync_state.clone();
    let (_, env) =
        sim.call("SyncFolderItems IdOnly", Some(&u), SyncFolderItems::new(FolderId::calendar(), None, 5)).await;
    shapes.insert("SyncFolderItems-Initial.response.xml", env.to_xml_string());
    sim.ok("SyncFolderItems tasks", &u, SyncFolderItems::new(FolderId::tasks(), None, 512)).await;
    let (_, env) = sim
        .call(
            "SyncFolderItems corrupt",
            Some(&u),
            SyncFolderItems::new(FolderId::calendar(), Some(SyncState("bad".into())), 10),
        )
        .await;
    shapes.insert("SyncFolderItems-Error-InvalidSyncStateData.response.xml", env.to_xml_string());
    let mut fault = SyncFolderItems::new(FolderId::calendar(), None, 1);
    fault.max_changes_returned = 0;
    sim.call("SyncFolderItems max 0", Some(&u), fault).await;

    // --- Pull subscription, then writes.
    let sub = body!(
        sim.ok("Subscribe pull", &u, Subscribe::pull(SubscriptionScope::calendar(), 10)).await,
        SubscribeResponse
    );
    let (_, env) =
        sim.call("Subscribe pull sample", Some(&u), Subscribe::pull(SubscriptionScope::calendar(), 10)).await;
    shapes.insert("Subscribe-Pull.response.xml", env.to_xml_string());
    let pull_id = sub.messages[0].subscription_id.clone().unwrap();
    let watermark = sub.messages[0].watermark.clone().unwrap();

    let single = appointment("Planning", "2026-03-18T09:00:00Z", "2026-03-18T10:00:00Z", &[]);
    let create = CreateItem::items([single], None, CalendarItemCreateOrDeleteOperation::SendToNone);
    let (_, env) = sim.call("CreateItem appointment", Some(&u), create).await;
    shapes.insert("CreateItem-Appointment-Impersonation.response.xml", env.to_xml_string());
    let created = created_id(&body!(env.body, CreateItemResponse));
    let meeting = appointment(
        "Review",
        "2026-03-19T09:00:00Z",
        "2026-03-19T10:00:00Z",
        &[u2.clone(), "ext@fabrikam.example".into()],
    );
    let create = CreateItem::items([meeting], None, CalendarItemCreateOrDeleteOperation::SendToAllAndSaveCopy);
    let (_, env) = sim.call("CreateItem meeting", Some(&u), create).await;
    shapes.insert("CreateItem-Meeting-SendToAllAndSaveCopy.response.xml", env.to_xml_string());
    let meeting_id = created_id(&body!(env.body, CreateItemResponse));

    let update = UpdateItem::new(
        vec![ItemChange::new(created.clone(), vec![ItemUpdate::calendar_subject("Planning (moved)")])],
        ConflictResolution::AlwaysOverwrite,
        CalendarItemUpdateOperation::SendToNone,
    );
    let (_, env) = sim.call("UpdateItem", Some(&u), update).await;
    shapes.insert("UpdateItem-Appointment.response.xml", env.to_xml_string());
    // A stale change key: ErrorIrresolvableConflict.
    let stale = UpdateItem::new(
        vec![ItemChange::new(created.clone(), vec![ItemUpdate::calendar_location("Room 2")])],
        ConflictResolution::NeverOverwrite,
        CalendarItemUpdateOperation::SendToNone,
    );
    sim.call("UpdateItem stale", Some(&u), stale).await;
    let update = UpdateItem::new(
        vec![ItemChange::new(meeting_id.clone(), vec![ItemUpdate::calendar_location("Room 3")])],
        ConflictResolution::AlwaysOverwrite,
        CalendarItemUpdateOperation::SendToAllAndSaveCopy,
    );
    sim.call("UpdateItem meeting", Some(&u), update).await;

    let events = body!(
        sim.ok("GetEvents", &u, GetEvents { subscription_id: pull_id.clone(), watermark }).await,
        GetEventsResponse
    );
    assert!(events.messages[0].status.is_success());
    let (_, env) = sim
        .call(
            "GetEvents sample",
            Some(&u),
            GetEvents {
                subscription_id: pull_id.clone(),
                watermark: events.messages[0]
                    .notification
                    .as_ref()
                    .unwrap()
                    .events
                    .last()
                    .unwrap()
                    .watermark()
                    .unwrap()
                    .clone(),
            },
        )
        .await;
    shapes.insert("GetEvents.response.xml", env.to_xml_string());

    let delete = DeleteItem::calendar_items(
        [created.clone()],
        DisposalType::MoveToDeletedItems,
        CalendarItemCreateOrDeleteOperation::SendToNone,
    );
    let (_, env) = sim.call("DeleteItem", Some(&u), delete).await;
    shapes.insert("DeleteItem.response.xml", env.to_xml_string());
    let delete = DeleteItem::calendar_items(
        [created.clone()],
        DisposalType::HardDelete,
        CalendarItemCreateOrDeleteOperation::SendToNone,
    );
    let (_, env) = sim.call("DeleteItem again", Some(&u), delete).await;
    shapes.insert("DeleteItem-Error-ItemNotFound.response.xml", env.to_xml_string());

    // A seeded item changed and another deleted (through the store, as Outlook would).
    {
        let store = sim.store();
        let mb = store.mailbox(&u).unwrap();
        let seeded = store.find_items(&mb, exbridge_sim::store::FolderKind::Calendar, 0, 2).items;
        let id = |i: &Item| match i {
            Item::Calendar(c) => c.item.item_id.clone().unwrap(),
            _ => unreachable!(),
        };
        exbridge_sim::json::apply_patch(store, &u, &id(&seeded[0]).id.0, &json!({"location": "Room 7"})).unwrap();
        store.delete_item(&mb, &BaseItemId::Item(id(&seeded[1])), exbridge_sim::store::ChangeKeyCheck::Ignore).unwrap();
    }
    let r = body!(
        sim.ok(
            "SyncFolderItems incremental",
            &u,
            SyncFolderItems::new(FolderId::calendar(), state.clone(), 512)
                .with_shape(ItemShape::new(BaseShape::AllProperties))
        )
        .await,
        SyncFolderItemsResponse
    );
    assert!(!r.messages[0].changes().is_empty());
    let (_, env) = sim
        .call("SyncFolderItems incremental IdOnly", Some(&u), SyncFolderItems::new(FolderId::calendar(), state, 512))
        .await;
    shapes.insert("SyncFolderItems-Incremental-CreateUpdateDelete.response.xml", env.to_xml_string());
    let (_, env) = sim.call("Unsubscribe", Some(&u), Unsubscribe { subscription_id: pull_id.clone() }).await;
    shapes.insert("Unsubscribe.response.xml", env.to_xml_string());
    let (_, env) = sim.call("Unsubscribe again", Some(&u), Unsubscribe { subscription_id: pull_id }).await;
    shapes.insert("Unsubscribe-Error-SubscriptionNotFound.response.xml", env.to_xml_string());

    // --- Streaming: a change through the control API arrives, then the stream closes.
    let sub = body!(
        sim.ok("Subscribe streaming", &u, Subscribe::streaming(SubscriptionScope::calendar())).await,
        SubscribeResponse
    );
    let (_, env) =
        sim.call("Subscribe streaming sample", Some(&u), Subscribe::streaming(SubscriptionScope::calendar())).await;
    shapes.insert("Subscribe-Streaming.response.xml", env.to_xml_string());
    let stream_id = sub.messages[0].subscription_id.clone().unwrap();
    let store = sim.store().clone();
    let mailbox = u.clone();
    let changer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        exbridge_sim::json::apply_create(
            &store,
            &mailbox,
            &json!({"subject": "via control API", "start": "2026-03-20T09:00:00Z", "end": "2026-03-20T09:30:00Z"}),
        )
        .unwrap();
    });
    let docs = sim
        .stream(
            "GetStreamingEvents",
            &u,
            GetStreamingEvents { subscription_ids: vec![stream_id], connection_timeout: 1 },
            Duration::from_secs(10),
            |_| false,
        )
        .await;
    changer.await.unwrap();
    assert!(docs.iter().any(|d| d.contains("CreatedEvent")), "{docs:#?}");
    assert!(docs.last().is_some_and(|d| d.contains("Closed")), "{docs:#?}");
    if let Some(n) = docs.iter().find(|d| d.contains("CreatedEvent")) {
        shapes.insert("GetStreamingEvents-Notifications.response.xml", n.clone());
    }
    shapes.insert("GetStreamingEvents-ConnectionStatus-Closed.response.xml", docs.last().unwrap().clone());

    // --- ResolveNames
    let mut full = ResolveNames::new(u2.clone());
    full.return_full_contact_data = true;
    let (_, env) = sim.call("ResolveNames", Some(&u), full).await;
    shapes.insert("ResolveNames.response.xml", env.to_xml_string());
    let (_, env) = sim.call("ResolveNames none", Some(&u), ResolveNames::new("zzz-nobody")).await;
    shapes.insert("ResolveNames-Error-NameResolutionNoResults.response.xml", env.to_xml_string());
    sim.ok("ResolveNames multiple", &u, ResolveNames::new("user")).await;

    // --- OOF
    let (_, env) = sim.call("GetUserOofSettings", Some(&u), GetUserOofSettingsRequest::new(u.clone())).await;
    shapes.insert("GetUserOofSettings-Disabled.response.xml", env.to_xml_string());
    let mut s = UserOofSettings::new(OofState::Scheduled, ExternalAudience::All);
    s.duration = Some(TimeWindow::new(utc("2026-04-01T00:00:00Z"), utc("2026-04-05T00:00:00Z")));
    s.internal_reply = Some(ReplyBody::new("Out"));
    let (_, env) = sim
        .call(
            "SetUserOofSettings",
            Some(&u),
            SetUserOofSettingsRequest { mailbox: MailboxAddress::new(u.clone()), user_oof_settings: s },
        )
        .await;
    shapes.insert("SetUserOofSettings.response.xml", env.to_xml_string());
    sim.ok("GetUserOofSettings scheduled", &u, GetUserOofSettingsRequest::new(u.clone())).await;
    sim.call("GetUserOofSettings other", Some(&u), GetUserOofSettingsRequest::new(u2.clone())).await;

    // --- GetUserAvailability
    let tw = TimeWindow::new(utc("2026-03-16T00:00:00Z"), utc("2026-03-20T00:00:00Z"));
    for v in [
        FreeBusyViewType::FreeBusy,
        FreeBusyViewType::FreeBusyMerged,
        FreeBusyViewType::Detailed,
        FreeBusyViewType::DetailedMerged,
    ] {
        let addrs: Vec<String> = (1..=6).map(user).chain(["ghost@contoso.test".to_string()]).collect();
        let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
        sim.ok("GetUserAvailability", &u, GetUserAvailabilityRequest::free_busy(&refs, tw, v)).await;
    }
    let (_, env) = sim
        .call(
            "GetUserAvailability sample",
            Some(&u),
            GetUserAvailabilityRequest::free_busy(&[&u2], tw, FreeBusyViewType::DetailedMerged),
        )
        .await;
    shapes.insert("GetUserAvailability.response.xml", env.to_xml_string());
    let long = TimeWindow::new(utc("2026-03-01T00:00:00Z"), utc("2026-05-01T00:00:00Z"));
    sim.call(
        "GetUserAvailability too long",
        Some(&u),
        GetUserAvailabilityRequest::free_busy(&[&u2], long, FreeBusyViewType::FreeBusy),
    )
    .await;

    // --- Faults of the server around the operations.
    sim.call("unknown mailbox", Some("nobody@contoso.test"), GetFolder::calendar(FolderShape::new(BaseShape::IdOnly)))
        .await;

    // One validation of everything.
    let docs = sim.docs();
    let mut per_op: BTreeMap<String, usize> = BTreeMap::new();
    for (label, _) in &docs {
        *per_op.entry(label.split(' ').next().unwrap().to_string()).or_default() += 1;
    }
    let n = sim.assert_all_valid();
    println!("schema-validated {n} response documents: {per_op:?}");
    assert!(n >= 70, "{n}");
    for op in [
        "GetFolder",
        "FindItem",
        "GetItem",
        "SyncFolderItems",
        "Subscribe",
        "GetEvents",
        "Unsubscribe",
        "CreateItem",
        "UpdateItem",
        "DeleteItem",
        "GetStreamingEvents",
        "ResolveNames",
        "GetUserOofSettings",
        "SetUserOofSettings",
        "GetUserAvailability",
    ] {
        assert!(per_op.contains_key(op), "no {op} answer collected");
    }

    // Shapes like the samples.
    let mut failures = Vec::new();
    for (sample, xml) in &shapes {
        // Data rather than shape: the samples' mail events (a calendar has none).
        let optional: &[&str] = match *sample {
            "GetEvents.response.xml" => &["NewMailEvent"],
            "GetStreamingEvents-Notifications.response.xml" => &["NewMailEvent", "ModifiedEvent"],
            "SyncFolderItems-Incremental-CreateUpdateDelete.response.xml" => &["ReadFlagChange"],
            _ => &[],
        };
        let missing = support::missing_sample_paths(xml, sample, optional);
        let missing =
            if sample.starts_with("SyncFolderItems") || sample.starts_with("GetItem") || sample.starts_with("FindItem")
            {
                let mapped: Vec<String> = missing.into_iter().map(|p| p.replace("/Message", "/CalendarItem")).collect();
                let ours = support::body_paths(xml);
                item_level_only(mapped.into_iter().filter(|p| !ours.contains(p)).collect())
            } else {
                missing
            };
        println!("{sample}: {} sample paths missing {missing:?}", missing.len());
        if !missing.is_empty() {
            failures.push(format!("{sample}: {missing:#?}"));
        }
    }
    assert!(failures.is_empty(), "answers lack elements the real samples have:\n{}", failures.join("\n"));
    println!("compared {} answers with real samples", shapes.len());
}
