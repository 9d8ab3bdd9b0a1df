//! The read operations and Autodiscover over HTTP against a started, seeded simulator (fixed
//! anchor): GetFolder, FindItem (CalendarView, IndexedPageItemView paging and the find limit),
//! GetItem, SyncFolderItems, ResolveNames, Get/SetUserOofSettings, GetUserAvailability, SOAP and
//! POX Autodiscover, with their errors. Every EWS answer a test receives is validated against
//! the schema at its end.

mod support;

use ews_proto::autodiscover::{
    AutodiscoverErrorCode, AutodiscoverResult, PoxAutodiscoverRequest, PoxAutodiscoverResponse, Redirect, settings,
    soap_request,
};
use ews_proto::items::{BodyType, CalendarItem, CalendarItemType, Item, ItemFields, Task};
use ews_proto::ops::*;
use ews_proto::shape::{BaseShape, BodyTypeResponse, ItemShape, PropertyPath};
use ews_proto::soap::{Body, Envelope};
use ews_proto::values::DateTime;
use ews_proto::{
    BaseItemId, DistinguishedFolderName, FolderId, ItemId, ItemIdValue, OccurrenceItemId, RecurringMasterItemId,
    ResponseClass, ResponseCode, SyncState,
};
use exbridge_sim::store::{FolderKind, MailboxSpec};
use jiff::Timestamp;
use serde_json::json;
use support::{Sim, user};

macro_rules! body {
    ($e:expr, $v:ident) => {
        match $e {
            Body::$v(r) => r,
            other => panic!("expected {}, got {other:?}", stringify!($v)),
        }
    };
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn window(start: &str, end: &str) -> (DateTime, DateTime) {
    (DateTime::utc(ts(start)), DateTime::utc(ts(end)))
}

fn calendar_view(start: &str, end: &str, shape: ItemShape) -> FindItem {
    let (s, e) = window(start, end);
    FindItem::calendar_view(FolderId::calendar(), s, e, shape)
}

fn fault_code(env: &Envelope) -> Option<ResponseCode> {
    match &env.body {
        Body::Fault(f) => Some(f.response_code()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// GetFolder

#[tokio::test]
async fn get_folder_distinguished_folders_shapes_and_per_folder_errors() {
    let sim = Sim::start().await;
    let u = user(1);
    let dist = |d| FolderId::distinguished(d);
    // exchangelib's first requests: root, then calendar.
    for (name, id) in [
        ("root", DistinguishedFolderName::Root),
        ("msgfolderroot", DistinguishedFolderName::MsgFolderRoot),
        ("inbox", DistinguishedFolderName::Inbox),
        ("calendar", DistinguishedFolderName::Calendar),
        ("tasks", DistinguishedFolderName::Tasks),
    ] {
        for base in [BaseShape::IdOnly, BaseShape::Default, BaseShape::AllProperties] {
            let r = GetFolder { folder_shape: FolderShape::new(base), folder_ids: vec![dist(id)] };
            let resp = body!(sim.ok(&format!("GetFolder {name} {base:?}"), &u, r).await, GetFolderResponse);
            assert_eq!(resp.messages.len(), 1);
            let m = &resp.messages[0];
            assert!(m.status.is_success(), "{name}: {:?}", m.status);
            let f = &m.folders.as_ref().unwrap()[0];
            assert!(f.folder_id.is_some());
            match base {
                BaseShape::IdOnly => assert!(f.display_name.is_none() && f.folder_class.is_none()),
                BaseShape::Default => {
                    assert!(f.display_name.is_some() && f.total_count.is_some() && f.child_folder_count.is_some())
                }
                BaseShape::AllProperties => assert!(f.effective_rights.is_some()),
            }
            if base == BaseShape::AllProperties {
                match id {
                    DistinguishedFolderName::Calendar => {
                        assert_eq!(f.kind, ews_proto::ops::FolderKind::Calendar);
                        assert_eq!(f.folder_class.as_deref(), Some("IPF.Appointment"));
                        assert_eq!(f.display_name.as_deref(), Some("Calendar"));
                        assert_eq!(
                            f.total_count,
                            Some(sim.store().mailbox(&u).unwrap().item_count(FolderKind::Calendar) as i32)
                        );
                        assert!(f.parent_folder_id.is_some());
                    }
                    DistinguishedFolderName::Tasks => {
                        assert_eq!(f.kind, ews_proto::ops::FolderKind::Tasks);
                        assert_eq!(f.folder_class.as_deref(), Some("IPF.Task"));
                    }
                    _ => assert_eq!(f.kind, ews_proto::ops::FolderKind::Folder),
                }
            }
        }
    }

    // A batch: calendar by its id, root by its id, a malformed id, an item id used as a folder
    // id, an unknown mailbox's calendar: one message each.
    let cal = body!(
        sim.ok("GetFolder calendar id", &u, GetFolder::calendar(FolderShape::new(BaseShape::IdOnly))).await,
        GetFolderResponse
    );
    let cal_id = cal.messages[0].folders.as_ref().unwrap()[0].folder_id.clone().unwrap();
    let root = body!(
        sim.ok(
            "GetFolder root id",
            &u,
            GetFolder {
                folder_shape: FolderShape::new(BaseShape::IdOnly),
                folder_ids: vec![dist(DistinguishedFolderName::Root)]
            }
        )
        .await,
        GetFolderResponse
    );
    let root_id = root.messages[0].folders.as_ref().unwrap()[0].folder_id.clone().unwrap();
    let some_item = sim.store().find_items(&sim.store().mailbox(&u).unwrap(), FolderKind::Calendar, 0, 1).items;
    let item_id = match &some_item[0] {
        Item::Calendar(c) => c.item.item_id.clone().unwrap().id.0,
        _ => unreachable!(),
    };
    let as_folder = |id: String| FolderId::Id { id: ews_proto::FolderIdValue(id), change_key: None };
    let batch = GetFolder {
        folder_shape: FolderShape::new(BaseShape::Default),
        folder_ids: vec![
            as_folder(cal_id.id.0.clone()),
            as_folder(root_id.id.0.clone()),
            as_folder("not-an-id".into()),
            as_folder(item_id),
        ],
    };
    let resp = body!(sim.ok("GetFolder batch with errors", &u, batch).await, GetFolderResponse);
    let codes: Vec<ResponseCode> = resp.messages.iter().map(|m| m.status.code()).collect();
    assert_eq!(
        codes,
        [
            ResponseCode::NoError,
            ResponseCode::NoError,
            ResponseCode::ErrorInvalidIdMalformed,
            ResponseCode::ErrorFolderNotFound
        ]
    );
    assert_eq!(resp.messages[2].status.message_text.as_deref(), Some("Id is malformed."));
    assert_eq!(resp.messages[2].status.class, ResponseClass::Error);
    assert_eq!(resp.messages[0].folders.as_ref().unwrap()[0].folder_id.as_ref().unwrap().id, cal_id.id);

    let n = sim.assert_all_valid();
    assert!(n >= 17, "{n}");
}

// ---------------------------------------------------------------------------------------------
// FindItem

#[tokio::test]
async fn find_item_calendar_view_expands_series_limits_and_errors() {
    let sim = Sim::start().await;
    let u = user(1);
    let (start, end) = ("2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z");
    let r = body!(
        sim.ok(
            "FindItem CalendarView AllProperties",
            &u,
            calendar_view(start, end, ItemShape::new(BaseShape::AllProperties))
        )
        .await,
        FindItemResponse
    );
    let root = r.messages[0].root_folder.as_ref().unwrap();
    assert_eq!(root.includes_last_item_in_range, Some(true));
    assert_eq!(root.total_items_in_view, Some(root.items.len() as i32));
    let items: Vec<_> = root
        .items
        .iter()
        .map(|i| match i {
            Item::Calendar(c) => c.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(!items.is_empty());
    let types: Vec<_> = items.iter().map(|c| c.calendar_item_type.unwrap()).collect();
    assert!(!types.contains(&CalendarItemType::RecurringMaster), "masters are hidden: {types:?}");
    assert!(types.contains(&CalendarItemType::Occurrence), "{types:?}");
    for c in &items {
        let s = c.start.unwrap().timestamp().unwrap();
        let e = c.end.unwrap().timestamp().unwrap();
        assert!(s < ts(end) && e > ts(start), "outside the window: {c:?}");
        assert!(c.item.body.is_none(), "FindItem never returns Body");
        assert!(c.item.item_id.is_some() && c.item.subject.is_some());
    }
    let sorted = items.windows(2).all(|w| w[0].start.unwrap().timestamp() <= w[1].start.unwrap().timestamp());
    assert!(sorted, "by start");

    // MaxEntriesReturned cuts the list.
    let r = body!(
        sim.ok(
            "FindItem CalendarView MaxEntriesReturned",
            &u,
            calendar_view(start, end, ItemShape::id_only()).with_max_entries(3)
        )
        .await,
        FindItemResponse
    );
    let root = r.messages[0].root_folder.as_ref().unwrap();
    assert_eq!(root.items.len(), 3);
    assert_eq!(root.includes_last_item_in_range, Some(false));
    assert!(root.total_items_in_view.unwrap() > 3, "TotalItemsInView counts the whole view");
    // IdOnly: the id and nothing else.
    match &root.items[0] {
        Item::Calendar(c) => {
            assert!(c.item.item_id.is_some());
            assert!(c.item.subject.is_none() && c.start.is_none());
        }
        other => panic!("{other:?}"),
    }

    // AdditionalProperties on IdOnly.
    let shape = ItemShape::id_only().with_fields(&["item:Subject", "calendar:Start", "calendar:UID", "item:Body"]);
    let r = body!(
        sim.ok("FindItem CalendarView AdditionalProperties", &u, calendar_view(start, end, shape)).await,
        FindItemResponse
    );
    for i in r.messages[0].items() {
        let Item::Calendar(c) = i else { panic!() };
        assert!(c.item.subject.is_some() && c.start.is_some() && c.uid.is_some());
        assert!(c.end.is_none() && c.location.is_none() && c.item.body.is_none());
    }

    // Default shape: like the real sample (ItemId, Subject, Start, End, …).
    let (_, env) = sim
        .call("FindItem CalendarView Default", Some(&u), calendar_view(start, end, ItemShape::new(BaseShape::Default)))
        .await;
    support::assert_shape_like_sample(
        "FindItem CalendarView",
        &env.to_xml_string(),
        "FindItem-CalendarView.response.xml",
        &[],
    );

    // More than two years; start after end.
    let r = body!(
        sim.ok(
            "FindItem CalendarView too big",
            &u,
            calendar_view("2026-01-01T00:00:00Z", "2028-01-03T00:00:00Z", ItemShape::id_only())
        )
        .await,
        FindItemResponse
    );
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorCalendarViewRangeTooBig);
    assert!(r.messages[0].root_folder.is_none());
    let r = body!(
        sim.ok(
            "FindItem CalendarView end before start",
            &u,
            calendar_view("2026-03-10T00:00:00Z", "2026-03-01T00:00:00Z", ItemShape::id_only())
        )
        .await,
        FindItemResponse
    );
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorCalendarEndDateIsEarlierThanStartDate);

    // A malformed folder id.
    let (s, e) = window(start, end);
    let bad = FindItem::calendar_view(
        FolderId::Id { id: ews_proto::FolderIdValue("AAMk!!".into()), change_key: None },
        s,
        e,
        ItemShape::id_only(),
    );
    let r = body!(sim.ok("FindItem malformed folder", &u, bad).await, FindItemResponse);
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorInvalidIdMalformed);
    sim.assert_all_valid();
}

#[tokio::test]
async fn find_item_indexed_paging_and_the_find_limit() {
    let sim = Sim::start().await;
    let store = sim.store();
    let mb = store.add_mailbox(MailboxSpec { smtp: "busy@contoso.test".into(), ..MailboxSpec::default() }).unwrap();
    for i in 0..1005 {
        let task = Task {
            item: ItemFields { subject: Some(format!("task {i:04}")), ..ItemFields::default() },
            ..Task::default()
        };
        store.create_item(&mb, FolderKind::Tasks, &Item::Task(task)).unwrap();
    }
    let u = "busy@contoso.test";
    let page = |offset, max| FindItem::indexed(FolderId::tasks(), offset, max, ItemShape::new(BaseShape::Default));
    // Asking for 2000 returns the find limit, 1000.
    let r = body!(sim.ok("FindItem Indexed 2000", u, page(0, 2000)).await, FindItemResponse);
    let root = r.messages[0].root_folder.as_ref().unwrap();
    assert_eq!(root.items.len(), 1000);
    assert_eq!(root.total_items_in_view, Some(1005));
    assert_eq!(root.includes_last_item_in_range, Some(false));
    assert_eq!(root.indexed_paging_offset, Some(1000));
    let r = body!(sim.ok("FindItem Indexed next", u, page(1000, 2000)).await, FindItemResponse);
    let root = r.messages[0].root_folder.as_ref().unwrap();
    assert_eq!(root.items.len(), 5);
    assert_eq!(root.includes_last_item_in_range, Some(true));
    assert_eq!(root.indexed_paging_offset, Some(1005));
    let Item::Task(t) = &root.items[4] else { panic!() };
    assert_eq!(t.item.subject.as_deref(), Some("task 1004"));
    // Small pages.
    let r = body!(sim.ok("FindItem Indexed 10..20", u, page(10, 10)).await, FindItemResponse);
    let root = r.messages[0].root_folder.as_ref().unwrap();
    let subjects: Vec<_> = root
        .items
        .iter()
        .map(|i| match i {
            Item::Task(t) => t.item.subject.clone().unwrap(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(subjects.first().map(String::as_str), Some("task 0010"));
    assert_eq!(subjects.len(), 10);
    assert_eq!(root.indexed_paging_offset, Some(20));
    // From the end.
    let mut from_end = page(0, 3);
    if let Some(ItemView::IndexedPage(p)) = &mut from_end.view {
        p.base_point = IndexBasePoint::End;
    }
    let r = body!(sim.ok("FindItem Indexed from end", u, from_end).await, FindItemResponse);
    let root = r.messages[0].root_folder.as_ref().unwrap();
    let Item::Task(t) = &root.items[2] else { panic!() };
    assert_eq!(t.item.subject.as_deref(), Some("task 1004"));
    assert_eq!(root.items.len(), 3);

    // A restriction and a sort order: tasks whose subject contains "100", newest first.
    let mut q = page(0, 50);
    q.restriction = Some(Restriction(SearchExpression::contains(PropertyPath::field("item:Subject"), "task 100")));
    q.sort_order =
        Some(vec![FieldOrder { order: SortDirection::Descending, path: PropertyPath::field("item:Subject") }]);
    let r = body!(sim.ok("FindItem Indexed restriction", u, q).await, FindItemResponse);
    let root = r.messages[0].root_folder.as_ref().unwrap();
    let subjects: Vec<_> = root
        .items
        .iter()
        .map(|i| match i {
            Item::Task(t) => t.item.subject.clone().unwrap(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(subjects, ["task 1004", "task 1003", "task 1002", "task 1001", "task 1000"]);
    assert_eq!(root.total_items_in_view, Some(5));
    assert_eq!(root.includes_last_item_in_range, Some(true));

    // The seeded calendar without expansion shows masters.
    let r = body!(
        sim.ok(
            "FindItem Indexed calendar",
            &user(1),
            FindItem::indexed(FolderId::calendar(), 0, 100, ItemShape::new(BaseShape::Default))
        )
        .await,
        FindItemResponse
    );
    let root = r.messages[0].root_folder.as_ref().unwrap();
    assert!(
        root.items
            .iter()
            .any(|i| matches!(i, Item::Calendar(c) if c.calendar_item_type == Some(CalendarItemType::RecurringMaster)))
    );
    let all = root.items.len();
    // The connector's restriction: items overlapping a window (singles and masters).
    let (ws, we) = window("2026-03-16T00:00:00Z", "2026-03-23T00:00:00Z");
    let q = FindItem::indexed(FolderId::calendar(), 0, 100, ItemShape::new(BaseShape::Default))
        .with_restriction(Restriction::calendar_overlapping(&ws, &we));
    let r = body!(sim.ok("FindItem Indexed overlapping", &user(1), q).await, FindItemResponse);
    let root = r.messages[0].root_folder.as_ref().unwrap();
    assert!(!root.items.is_empty() && root.items.len() < all, "{} of {all}", root.items.len());
    for i in &root.items {
        let Item::Calendar(c) = i else { panic!() };
        assert!(c.end.unwrap().timestamp().unwrap() > ts("2026-03-16T00:00:00Z"));
        assert!(c.start.unwrap().timestamp().unwrap() < ts("2026-03-23T00:00:00Z"));
    }
    let n = sim.assert_all_valid();
    assert_eq!(n, 7);
}

// ---------------------------------------------------------------------------------------------
// GetItem

#[tokio::test]
async fn get_item_batches_occurrences_shapes_and_errors() {
    let sim = Sim::start().await;
    let u = user(2);
    let store = sim.store();
    let created = exbridge_sim::json::apply_create(
        store,
        &u,
        &json!({"subject": "Weekly sync", "start": "2026-03-16T09:00:00", "end": "2026-03-16T09:30:00",
                "time_zone": "W. Europe Standard Time", "body": "<html><body><p>Agenda &amp; notes</p></body></html>",
                "recurrence": {"pattern": {"type": "weekly", "interval": 1, "days": ["Monday"]}, "range": {"type": "numbered", "count": 10}}}),
    )
    .unwrap();
    let private = exbridge_sim::json::apply_create(
        store,
        &u,
        &json!({"subject": "Doctor", "start": "2026-03-17T09:00:00Z", "end": "2026-03-17T10:00:00Z", "sensitivity": "private", "body": "private notes"}),
    )
    .unwrap();
    let master = ItemId { id: ItemIdValue(created.item_id.clone()), change_key: None };

    // Occurrences from a CalendarView.
    let r = body!(
        sim.ok(
            "FindItem occurrences",
            &u,
            calendar_view(
                "2026-03-16T00:00:00Z",
                "2026-03-31T00:00:00Z",
                ItemShape::id_only().with_fields(&["item:Subject"])
            )
        )
        .await,
        FindItemResponse
    );
    let occurrence = r.messages[0]
        .items()
        .iter()
        .find_map(|i| match i {
            Item::Calendar(c) if c.item.subject.as_deref() == Some("Weekly sync") => c.item.item_id.clone(),
            _ => None,
        })
        .expect("an occurrence of the new series");

    let ids = vec![
        BaseItemId::Item(master.clone()),
        BaseItemId::Item(occurrence.clone()),
        BaseItemId::Occurrence(OccurrenceItemId {
            recurring_master_id: master.id.clone(),
            change_key: None,
            instance_index: 3,
        }),
        BaseItemId::RecurringMaster(RecurringMasterItemId { occurrence_id: occurrence.id.clone(), change_key: None }),
        BaseItemId::Item(ItemId { id: ItemIdValue("AAMkbm90LWFuLWlk".into()), change_key: None }),
        BaseItemId::Occurrence(OccurrenceItemId {
            recurring_master_id: master.id.clone(),
            change_key: None,
            instance_index: 99,
        }),
    ];
    let r = body!(
        sim.ok("GetItem batch", &u, GetItem::new(ids, ItemShape::new(BaseShape::AllProperties))).await,
        GetItemResponse
    );
    let codes: Vec<_> = r.messages.iter().map(|m| m.status.code()).collect();
    assert!(codes[..4].iter().all(|c| *c == ResponseCode::NoError), "{codes:?}");
    assert_eq!(codes[4], ResponseCode::ErrorInvalidIdMalformed);
    assert_eq!(codes[5], ResponseCode::ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange);
    let cal = |i: usize| match &r.messages[i].items[0] {
        Item::Calendar(c) => c.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(cal(0).calendar_item_type, Some(CalendarItemType::RecurringMaster));
    assert!(cal(0).recurrence.is_some());
    assert_eq!(cal(1).calendar_item_type, Some(CalendarItemType::Occurrence));
    assert_eq!(cal(2).calendar_item_type, Some(CalendarItemType::Occurrence));
    assert_eq!(cal(3).calendar_item_type, Some(CalendarItemType::RecurringMaster));
    assert_eq!(cal(3).item.item_id.as_ref().unwrap().id, master.id);
    assert_eq!(cal(0).item.body.as_ref().unwrap().body_type, BodyType::Html);

    // A deleted item is ErrorItemNotFound.
    let gone = exbridge_sim::json::apply_create(
        store,
        &u,
        &json!({"subject": "gone", "start": "2026-03-18T09:00:00Z", "end": "2026-03-18T10:00:00Z"}),
    )
    .unwrap();
    let mb = store.mailbox(&u).unwrap();
    store
        .delete_item(
            &mb,
            &BaseItemId::Item(ItemId { id: ItemIdValue(gone.item_id.clone()), change_key: None }),
            exbridge_sim::store::ChangeKeyCheck::Ignore,
        )
        .unwrap();
    let r = body!(
        sim.ok(
            "GetItem deleted",
            &u,
            GetItem::new([ItemId { id: ItemIdValue(gone.item_id), change_key: None }], ItemShape::id_only())
        )
        .await,
        GetItemResponse
    );
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorItemNotFound);
    assert_eq!(r.messages[0].status.message_text.as_deref(), Some("The specified object was not found in the store."));

    // Body types.
    for (bt, want, needle) in [
        (BodyTypeResponse::Text, BodyType::Text, "Agenda & notes"),
        (BodyTypeResponse::Html, BodyType::Html, "<p>"),
        (BodyTypeResponse::Best, BodyType::Html, "<p>"),
    ] {
        let mut shape = ItemShape::new(BaseShape::Default);
        shape.body_type = Some(bt);
        let r = body!(
            sim.ok(&format!("GetItem body {bt:?}"), &u, GetItem::new([master.clone()], shape)).await,
            GetItemResponse
        );
        let Item::Calendar(c) = &r.messages[0].items[0] else { panic!() };
        let body = c.item.body.as_ref().unwrap();
        assert_eq!(body.body_type, want);
        assert!(body.content.contains(needle), "{bt:?}: {}", body.content);
        assert!(!(bt == BodyTypeResponse::Text && body.content.contains('<')));
    }

    // IdOnly + AdditionalProperties: exactly those.
    let shape = ItemShape::id_only().with_fields(&["item:Subject", "calendar:UID"]);
    let r = body!(sim.ok("GetItem additional", &u, GetItem::new([master.clone()], shape)).await, GetItemResponse);
    let Item::Calendar(c) = &r.messages[0].items[0] else { panic!() };
    assert_eq!(c.item.subject.as_deref(), Some("Weekly sync"));
    assert!(c.uid.is_some() && c.start.is_none() && c.item.body.is_none() && c.recurrence.is_none());

    // Extended properties: not in AllProperties, only when asked for.
    let field = ews_proto::shape::ExtendedFieldUri::public_string("exbridge-id");
    let with_ext = CalendarItem {
        item: ItemFields {
            subject: Some("tagged".into()),
            extended_properties: vec![ews_proto::items::ExtendedProperty {
                field: field.clone(),
                value: ews_proto::items::ExtendedValue::Single("app-7".into()),
            }],
            ..ItemFields::default()
        },
        start: Some(DateTime::utc(ts("2026-03-19T09:00:00Z"))),
        end: Some(DateTime::utc(ts("2026-03-19T10:00:00Z"))),
        ..CalendarItem::default()
    };
    let tagged = store.create_item(&mb, FolderKind::Calendar, &Item::Calendar(with_ext)).unwrap();
    let tagged_id = match &tagged {
        Item::Calendar(c) => c.item.item_id.clone().unwrap(),
        _ => unreachable!(),
    };
    let r = body!(
        sim.ok(
            "GetItem AllProperties ext",
            &u,
            GetItem::new([tagged_id.clone()], ItemShape::new(BaseShape::AllProperties))
        )
        .await,
        GetItemResponse
    );
    let Item::Calendar(c) = &r.messages[0].items[0] else { panic!() };
    assert!(c.item.extended_properties.is_empty());
    let mut shape = ItemShape::id_only();
    shape.additional_properties = Some(vec![PropertyPath::Extended(field)]);
    let r = body!(sim.ok("GetItem ext requested", &u, GetItem::new([tagged_id], shape)).await, GetItemResponse);
    let Item::Calendar(c) = &r.messages[0].items[0] else { panic!() };
    assert_eq!(c.item.extended_properties.len(), 1);
    assert_eq!(c.item.extended_properties[0].value, ews_proto::items::ExtendedValue::Single("app-7".into()));

    // Another mailbox's item: access denied for the impersonated user.
    let (_, env) =
        sim.call("GetItem other mailbox", Some(&user(3)), GetItem::new([master.clone()], ItemShape::id_only())).await;
    let r = body!(env.body, GetItemResponse);
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorAccessDenied);

    // A private item is returned fully to its owner (impersonated).
    let r = body!(
        sim.ok(
            "GetItem private",
            &u,
            GetItem::new(
                [ItemId { id: ItemIdValue(private.item_id), change_key: None }],
                ItemShape::new(BaseShape::AllProperties)
            )
        )
        .await,
        GetItemResponse
    );
    let Item::Calendar(c) = &r.messages[0].items[0] else { panic!() };
    assert_eq!(c.item.subject.as_deref(), Some("Doctor"));
    assert_eq!(c.item.sensitivity, Some(ews_proto::items::Sensitivity::Private));
    assert!(c.item.body.as_ref().unwrap().content.contains("private notes"));

    // Like the real samples.
    let (_, env) = sim.call("GetItem IdOnly", Some(&u), GetItem::new([master.clone()], ItemShape::id_only())).await;
    support::assert_shape_like_sample(
        "GetItem IdOnly",
        &env.to_xml_string(),
        "GetItem-CalendarItem-IdOnly.response.xml",
        &[],
    );
    let (_, env) =
        sim.call("GetItem Default", Some(&u), GetItem::new([master.clone()], ItemShape::new(BaseShape::Default))).await;
    support::assert_shape_like_sample(
        "GetItem Default",
        &env.to_xml_string(),
        "GetItem-CalendarItem-Default.response.xml",
        &["ResponseObjects", "Organizer"],
    );
    let (_, env) = sim
        .call("GetItem Recurrence", Some(&u), GetItem::new([master], ItemShape::new(BaseShape::AllProperties)))
        .await;
    let missing =
        support::missing_sample_paths(&env.to_xml_string(), "GetItem-CalendarItem-Recurrence.response.xml", &[]);
    eprintln!("GetItem AllProperties vs Recurrence sample, missing: {missing:?}");
    sim.assert_all_valid();
}

// ---------------------------------------------------------------------------------------------
// SyncFolderItems

#[tokio::test]
async fn sync_folder_items_pages_changes_and_errors() {
    let sim = Sim::start().await;
    let u = user(3);
    let store = sim.store();
    let mb = store.mailbox(&u).unwrap();
    let total = mb.item_count(FolderKind::Calendar);
    // Full sync in pages of 7.
    let mut state: Option<SyncState> = None;
    let mut creates = 0;
    let mut pages = 0;
    loop {
        let r = SyncFolderItems::new(FolderId::calendar(), state.clone(), 7)
            .with_shape(ItemShape::id_only().with_fields(&["item:Subject"]));
        let resp = body!(sim.ok(&format!("SyncFolderItems page {pages}"), &u, r).await, SyncFolderItemsResponse);
        let m = &resp.messages[0];
        assert!(m.status.is_success(), "{:?}", m.status);
        assert!(m.changes().len() <= 7);
        for c in m.changes() {
            let SyncChange::Create(Item::Calendar(i)) = c else { panic!("{c:?}") };
            assert!(i.item.subject.is_some() && i.start.is_none(), "shape applied");
            creates += 1;
        }
        state = m.sync_state.clone();
        pages += 1;
        if m.includes_last_item_in_range == Some(true) {
            break;
        }
        assert!(pages < 100);
    }
    assert_eq!(creates, total);
    // Nothing new.
    let r = body!(
        sim.ok("SyncFolderItems no change", &u, SyncFolderItems::new(FolderId::calendar(), state.clone(), 512)).await,
        SyncFolderItemsResponse
    );
    assert!(r.messages[0].changes().is_empty());
    assert_eq!(r.messages[0].includes_last_item_in_range, Some(true));

    // A create, an update and a delete.
    let new = exbridge_sim::json::apply_create(
        store,
        &u,
        &json!({"subject": "fresh", "start": "2026-03-20T09:00:00Z", "end": "2026-03-20T10:00:00Z"}),
    )
    .unwrap();
    let items = store.find_items(&mb, FolderKind::Calendar, 0, 2).items;
    let id_of = |i: &Item| match i {
        Item::Calendar(c) => c.item.item_id.clone().unwrap(),
        _ => unreachable!(),
    };
    let (first, second) = (id_of(&items[0]), id_of(&items[1]));
    exbridge_sim::json::apply_patch(store, &u, &first.id.0, &json!({"subject": "renamed"})).unwrap();
    store.delete_item(&mb, &BaseItemId::Item(second.clone()), exbridge_sim::store::ChangeKeyCheck::Ignore).unwrap();
    let r = body!(
        sim.ok(
            "SyncFolderItems incremental",
            &u,
            SyncFolderItems::new(FolderId::calendar(), state.clone(), 512)
                .with_shape(ItemShape::new(BaseShape::Default))
        )
        .await,
        SyncFolderItemsResponse
    );
    let changes = r.messages[0].changes();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(changes.iter().any(
        |c| matches!(c, SyncChange::Create(Item::Calendar(i)) if i.item.item_id.as_ref().unwrap().id.0 == new.item_id)
    ));
    assert!(
        changes.iter().any(
            |c| matches!(c, SyncChange::Update(Item::Calendar(i)) if i.item.subject.as_deref() == Some("renamed"))
        )
    );
    assert!(changes.iter().any(|c| matches!(c, SyncChange::Delete(id) if id.id == second.id)));
    let (_, env) = sim
        .call("SyncFolderItems sample shape", Some(&u), SyncFolderItems::new(FolderId::calendar(), state.clone(), 512))
        .await;
    let _ = env;

    // MaxChangesReturned outside 1..=512: the schema fault.
    for max in [0, 513] {
        let mut r = SyncFolderItems::new(FolderId::calendar(), None, 1);
        r.max_changes_returned = max;
        let (status, env) = sim.call(&format!("SyncFolderItems max {max}"), Some(&u), r).await;
        assert_eq!(status, 500);
        assert_eq!(fault_code(&env), Some(ResponseCode::ErrorSchemaValidation));
    }
    // A corrupted state, and the state of another mailbox.
    let r = body!(
        sim.ok(
            "SyncFolderItems corrupt",
            &u,
            SyncFolderItems::new(FolderId::calendar(), Some(SyncState("H4sIAAAAAAAEAO29B2AcSZY".into())), 10)
        )
        .await,
        SyncFolderItemsResponse
    );
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorInvalidSyncStateData);
    assert_eq!(
        r.messages[0].status.message_text.as_deref(),
        Some("Synchronization state data is corrupt or otherwise invalid.")
    );
    let r = body!(
        sim.ok("SyncFolderItems foreign", &user(4), SyncFolderItems::new(FolderId::calendar(), state.clone(), 10))
            .await,
        SyncFolderItemsResponse
    );
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorInvalidSyncStateData);
    let r = body!(
        sim.ok("SyncFolderItems other folder", &u, SyncFolderItems::new(FolderId::tasks(), state, 10)).await,
        SyncFolderItemsResponse
    );
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorInvalidSyncStateData);
    // Tasks sync.
    let r = body!(
        sim.ok("SyncFolderItems tasks", &u, SyncFolderItems::new(FolderId::tasks(), None, 512)).await,
        SyncFolderItemsResponse
    );
    assert!(r.messages[0].status.is_success());
    sim.assert_all_valid();
}

// ---------------------------------------------------------------------------------------------
// ResolveNames

#[tokio::test]
async fn resolve_names_by_address_alias_and_name() {
    let sim = Sim::start().await;
    let u = user(1);
    let mb = sim.store().mailbox(&user(2)).unwrap();
    let alias = mb.aliases()[0].to_string();
    let display = mb.display_name().to_string();
    for (label, q) in
        [("smtp", user(2)), ("smtp prefix", format!("SMTP:{}", user(2))), ("alias", alias), ("name", display.clone())]
    {
        let r = body!(
            sim.ok(&format!("ResolveNames {label}"), &u, ResolveNames::new(q.clone())).await,
            ResolveNamesResponse
        );
        let m = &r.messages[0];
        assert!(m.status.is_success(), "{label} {q}: {:?}", m.status);
        let set = m.resolution_set.as_ref().unwrap();
        assert_eq!(set.resolutions.len(), 1);
        assert_eq!(set.resolutions[0].mailbox.email_address.as_deref(), Some(user(2).as_str()));
        assert_eq!(set.resolutions[0].mailbox.name.as_deref(), Some(display.as_str()));
    }
    let mut full = ResolveNames::new(user(2));
    full.return_full_contact_data = true;
    let (_, env) = sim.call("ResolveNames full", Some(&u), full).await;
    support::assert_shape_like_sample("ResolveNames", &env.to_xml_string(), "ResolveNames.response.xml", &[]);

    let r = body!(sim.ok("ResolveNames none", &u, ResolveNames::new("nobody-at-all")).await, ResolveNamesResponse);
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorNameResolutionNoResults);
    assert_eq!(r.messages[0].status.message_text.as_deref(), Some("No results were found."));
    let (_, env) = sim.call("ResolveNames none sample", Some(&u), ResolveNames::new("nobody-at-all")).await;
    support::assert_shape_like_sample(
        "ResolveNames none",
        &env.to_xml_string(),
        "ResolveNames-Error-NameResolutionNoResults.response.xml",
        &[],
    );

    let r = body!(sim.ok("ResolveNames multiple", &u, ResolveNames::new("user")).await, ResolveNamesResponse);
    let m = &r.messages[0];
    assert_eq!(m.status.code(), ResponseCode::ErrorNameResolutionMultipleResults);
    assert_eq!(m.resolution_set.as_ref().unwrap().resolutions.len(), 6);
    sim.assert_all_valid();
}

// ---------------------------------------------------------------------------------------------
// OOF

#[tokio::test]
async fn oof_settings_round_trip_and_errors() {
    let sim = Sim::start().await;
    let u = user(1);
    let get = || GetUserOofSettingsRequest::new(user(1));
    let r = body!(sim.ok("GetUserOofSettings initial", &u, get()).await, GetUserOofSettingsResponse);
    assert!(r.response_message.is_success());
    assert_eq!(r.oof_settings.as_ref().unwrap().oof_state, OofState::Disabled);
    let (_, env) = sim.call("GetUserOofSettings sample", Some(&u), get()).await;
    support::assert_shape_like_sample(
        "GetUserOofSettings",
        &env.to_xml_string(),
        "GetUserOofSettings-Disabled.response.xml",
        &[],
    );

    let mut s = UserOofSettings::new(OofState::Scheduled, ExternalAudience::Known);
    s.duration =
        Some(TimeWindow::new(DateTime::utc(ts("2026-04-01T00:00:00Z")), DateTime::utc(ts("2026-04-10T00:00:00Z"))));
    s.internal_reply = Some(ReplyBody::new("Away"));
    s.external_reply = Some(ReplyBody::new("Away (ext)"));
    let set = SetUserOofSettingsRequest { mailbox: MailboxAddress::new(user(1)), user_oof_settings: s };
    let r = body!(sim.ok("SetUserOofSettings scheduled", &u, set).await, SetUserOofSettingsResponse);
    assert!(r.status().is_success());
    let r = body!(sim.ok("GetUserOofSettings scheduled", &u, get()).await, GetUserOofSettingsResponse);
    let got = r.oof_settings.unwrap();
    assert_eq!(got.oof_state, OofState::Scheduled);
    assert_eq!(got.external_audience, ExternalAudience::Known);
    assert_eq!(got.duration.unwrap().timestamps_utc(), Some((ts("2026-04-01T00:00:00Z"), ts("2026-04-10T00:00:00Z"))));
    assert_eq!(got.internal_reply.unwrap().message.as_deref(), Some("Away"));
    let oof = sim.store().oof(&sim.store().mailbox(&u).unwrap());
    assert_eq!(oof.state, exbridge_sim::store::OofStatus::Scheduled);

    let set = SetUserOofSettingsRequest {
        mailbox: MailboxAddress::new(user(1)),
        user_oof_settings: UserOofSettings::new(OofState::Enabled, ExternalAudience::All),
    };
    assert!(
        body!(sim.ok("SetUserOofSettings enabled", &u, set).await, SetUserOofSettingsResponse).status().is_success()
    );
    let r = body!(sim.ok("GetUserOofSettings enabled", &u, get()).await, GetUserOofSettingsResponse);
    assert_eq!(r.oof_settings.unwrap().oof_state, OofState::Enabled);

    // Scheduled with its end before its start.
    let mut s = UserOofSettings::new(OofState::Scheduled, ExternalAudience::All);
    s.duration =
        Some(TimeWindow::new(DateTime::utc(ts("2026-04-10T00:00:00Z")), DateTime::utc(ts("2026-04-01T00:00:00Z"))));
    let set = SetUserOofSettingsRequest { mailbox: MailboxAddress::new(user(1)), user_oof_settings: s };
    let r = body!(sim.ok("SetUserOofSettings bad duration", &u, set).await, SetUserOofSettingsResponse);
    assert_eq!(r.status().code(), ResponseCode::ErrorInvalidScheduledOofDuration);
    // Someone else's settings: the access-denied fault.
    let (status, env) = sim.call("GetUserOofSettings other", Some(&u), GetUserOofSettingsRequest::new(user(2))).await;
    assert_eq!(status, 500);
    assert!(matches!(env.body, Body::Fault(_)));
    sim.assert_all_valid();
}

// ---------------------------------------------------------------------------------------------
// GetUserAvailability

#[tokio::test]
async fn get_user_availability_views_and_errors() {
    let sim = Sim::start().await;
    let u = user(1);
    let store = sim.store();
    exbridge_sim::json::apply_create(store, &user(2), &json!({"subject": "Secret", "start": "2026-03-17T10:00:00Z", "end": "2026-03-17T11:00:00Z", "sensitivity": "private"})).unwrap();
    exbridge_sim::json::apply_create(store, &user(2), &json!({"subject": "Open", "start": "2026-03-17T12:00:00Z", "end": "2026-03-17T12:30:00Z", "location": "Room 9"})).unwrap();
    let tw = TimeWindow::new(DateTime::utc(ts("2026-03-17T00:00:00Z")), DateTime::utc(ts("2026-03-18T00:00:00Z")));
    for view in [
        FreeBusyViewType::FreeBusy,
        FreeBusyViewType::FreeBusyMerged,
        FreeBusyViewType::Detailed,
        FreeBusyViewType::DetailedMerged,
    ] {
        let mut req = GetUserAvailabilityRequest::free_busy(&[&user(2), "ghost@contoso.test"], tw, view);
        if let Some(o) = req.free_busy_view_options.as_mut() {
            o.merged_free_busy_interval_in_minutes = Some(60);
        }
        let r = body!(sim.ok(&format!("GetUserAvailability {view:?}"), &u, req).await, GetUserAvailabilityResponse);
        let fb = r.free_busy_responses.unwrap();
        assert_eq!(fb.len(), 2);
        assert!(fb[0].status().is_success());
        assert_eq!(fb[1].status().code(), ResponseCode::ErrorMailRecipientNotFound);
        let v = fb[0].free_busy_view.as_ref().unwrap();
        assert_eq!(v.free_busy_view_type, view);
        let events = v.calendar_events.as_ref().unwrap();
        let merged = matches!(view, FreeBusyViewType::FreeBusyMerged | FreeBusyViewType::DetailedMerged);
        assert_eq!(v.merged_free_busy.is_some(), merged);
        if let Some(m) = &v.merged_free_busy {
            assert_eq!(m.0.len(), 24);
            assert_eq!(&m.0[10..11], "2", "10:00-11:00 busy: {}", m.0);
            assert_eq!(&m.0[12..13], "2", "12:00-12:30 busy: {}", m.0);
        }
        assert!(v.working_hours.is_some());
        let secret = events
            .iter()
            .find(|e| e.start_time.civil.hour() == 10 && e.start_time.civil.day() == 17)
            .expect("the private event");
        let open = events
            .iter()
            .find(|e| e.start_time.civil.hour() == 12 && e.start_time.civil.day() == 17)
            .expect("the open event");
        if matches!(view, FreeBusyViewType::Detailed | FreeBusyViewType::DetailedMerged) {
            let d = secret.details.as_ref().unwrap();
            assert!(d.is_private && d.subject.is_none(), "private items show no subject");
            assert_eq!(open.details.as_ref().unwrap().subject.as_deref(), Some("Open"));
            assert_eq!(open.details.as_ref().unwrap().location.as_deref(), Some("Room 9"));
        } else {
            assert!(secret.details.is_none());
        }
    }
    // Times are in the request's time zone (UTC+1 fixed here).
    let mut req = GetUserAvailabilityRequest::free_busy(
        &[&user(2)],
        TimeWindow::new(
            DateTime::floating("2026-03-17T00:00:00".parse().unwrap()),
            DateTime::floating("2026-03-18T00:00:00".parse().unwrap()),
        ),
        FreeBusyViewType::FreeBusy,
    );
    req.time_zone = Some(AvailabilityTimeZone::fixed(-60));
    let r = body!(sim.ok("GetUserAvailability zone", &u, req).await, GetUserAvailabilityResponse);
    let fb = r.free_busy_responses.unwrap();
    let events = fb[0].free_busy_view.as_ref().unwrap().calendar_events.clone().unwrap();
    assert!(events.iter().any(|e| e.start_time.civil.hour() == 11 && e.start_time.offset.is_none()), "{events:?}");

    let (_, env) = sim
        .call(
            "GetUserAvailability sample",
            Some(&u),
            GetUserAvailabilityRequest::free_busy(&[&user(2)], tw, FreeBusyViewType::DetailedMerged),
        )
        .await;
    support::assert_shape_like_sample(
        "GetUserAvailability",
        &env.to_xml_string(),
        "GetUserAvailability.response.xml",
        &["StandardTime", "DaylightTime", "Bias"],
    );

    // Too many mailboxes; too long a window.
    let many: Vec<String> = (0..101).map(|i| format!("x{i}@contoso.test")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let (status, env) = sim
        .call(
            "GetUserAvailability 101",
            Some(&u),
            GetUserAvailabilityRequest::free_busy(&refs, tw, FreeBusyViewType::FreeBusy),
        )
        .await;
    assert_eq!(status, 500);
    assert_eq!(fault_code(&env), Some(ResponseCode::ErrorMailboxDataArrayTooBig));
    let long = TimeWindow::new(DateTime::utc(ts("2026-03-01T00:00:00Z")), DateTime::utc(ts("2026-04-13T00:00:00Z")));
    let (_, env) = sim
        .call(
            "GetUserAvailability 43 days",
            Some(&u),
            GetUserAvailabilityRequest::free_busy(&[&user(2)], long, FreeBusyViewType::FreeBusy),
        )
        .await;
    assert_eq!(fault_code(&env), Some(ResponseCode::ErrorTimeIntervalTooBig));
    sim.assert_all_valid();
}

// ---------------------------------------------------------------------------------------------
// Autodiscover

#[tokio::test]
async fn autodiscover_soap_and_pox_with_grouping_and_redirect() {
    let sim = Sim::start().await;
    let url = format!("{}/autodiscover/autodiscover.svc", sim.sim.base_url());
    let ask = |email: &str| soap_request(email, ews_proto::autodiscover::DEFAULT_SETTINGS, &url).to_xml_string();
    let mut groups = std::collections::BTreeSet::new();
    for n in 1..=6 {
        let (status, text) =
            sim.raw_to(&format!("Autodiscover SOAP user{n}"), &url, &ask(&user(n)), "text/xml; charset=utf-8").await;
        assert_eq!(status, 200, "{text}");
        let env = Envelope::parse(text.as_bytes()).unwrap();
        let AutodiscoverResult::Settings(s) = ews_proto::autodiscover::read_soap_response(&env).unwrap() else {
            panic!("{text}")
        };
        assert_eq!(s.external_ews_url(), Some(sim.sim.ews_url().as_str()));
        assert_eq!(s.internal_ews_url(), Some(sim.sim.ews_url().as_str()));
        assert_eq!(s.user_display_name(), Some(sim.store().mailbox(&user(n)).unwrap().display_name()));
        assert!(s.cas_version().is_some());
        assert!(s.ews_supported_schemas().contains(&"Exchange2016"));
        groups.insert(s.grouping_information().unwrap().to_string());
        // Stable: asking again gives the same group.
        let (_, again) = sim.raw_to("Autodiscover SOAP again", &url, &ask(&user(n)), "text/xml; charset=utf-8").await;
        assert_eq!(again, text);
        if n == 1 {
            support::assert_shape_like_sample(
                "Autodiscover SOAP",
                &text,
                "Autodiscover-SOAP-GetUserSettings-GroupingInformation.response.xml",
                &[],
            );
        }
    }
    assert!(groups.len() >= 2, "mailboxes spread over groups: {groups:?}");

    // Redirect and unknown user.
    let (_, text) =
        sim.raw_to("Autodiscover SOAP redirect", &url, &ask("user3@redirect.contoso.test"), "text/xml").await;
    let env = Envelope::parse(text.as_bytes()).unwrap();
    assert_eq!(
        ews_proto::autodiscover::read_soap_response(&env).unwrap(),
        AutodiscoverResult::Redirect(Redirect::Address(user(3)))
    );
    let (_, text) = sim.raw_to("Autodiscover SOAP unknown", &url, &ask("nobody@contoso.test"), "text/xml").await;
    let env = Envelope::parse(text.as_bytes()).unwrap();
    match ews_proto::autodiscover::read_soap_response(&env).unwrap() {
        AutodiscoverResult::Error { code, .. } => assert_eq!(code, AutodiscoverErrorCode::InvalidUser),
        other => panic!("{other:?}"),
    }
    let _ = settings::EXTERNAL_EWS_URL;

    // POX.
    let pox_url = format!("{}/autodiscover/autodiscover.xml", sim.sim.base_url());
    let (status, text) = sim
        .raw_to("Autodiscover POX", &pox_url, &PoxAutodiscoverRequest::new(user(2)).to_xml_string(), "text/xml")
        .await;
    assert_eq!(status, 200, "{text}");
    let r = PoxAutodiscoverResponse::parse(text.as_bytes()).unwrap();
    assert_eq!(r.ews_url(), Some(sim.sim.ews_url().as_str()));
    assert_eq!(r.external_ews_url(), Some(sim.sim.ews_url().as_str()));
    assert_eq!(r.user.unwrap().auto_discover_smtp_address.as_deref(), Some(user(2).as_str()));
    let (_, text) = sim
        .raw_to(
            "Autodiscover POX redirect",
            &pox_url,
            &PoxAutodiscoverRequest::new("user2@redirect.contoso.test").to_xml_string(),
            "text/xml",
        )
        .await;
    let r = PoxAutodiscoverResponse::parse(text.as_bytes()).unwrap();
    assert_eq!(r.redirect(), Some(Redirect::Address(user(2))));
    let (_, text) = sim
        .raw_to(
            "Autodiscover POX unknown",
            &pox_url,
            &PoxAutodiscoverRequest::new("nobody@contoso.test").to_xml_string(),
            "text/xml",
        )
        .await;
    let r = PoxAutodiscoverResponse::parse(text.as_bytes()).unwrap();
    assert_eq!(r.error.unwrap().error_code, Some(500));
}

// ---------------------------------------------------------------------------------------------
// Determinism

#[tokio::test]
async fn the_same_seed_gives_byte_identical_answers() {
    let (a, b) = (Sim::start().await, Sim::start().await);
    let shape = ItemShape::new(BaseShape::AllProperties);
    for (label, mailbox) in [("user1", user(1)), ("user4", user(4))] {
        let req = || calendar_view("2026-03-01T00:00:00Z", "2026-06-01T00:00:00Z", shape.clone());
        let (_, x) = a.call(label, Some(&mailbox), req()).await;
        let (_, y) = b.call(label, Some(&mailbox), req()).await;
        assert_eq!(x.to_xml_string(), y.to_xml_string(), "{label}");
        let sync = || SyncFolderItems::new(FolderId::calendar(), None, 512).with_shape(shape.clone());
        let (_, x) = a.call(label, Some(&mailbox), sync()).await;
        let (_, y) = b.call(label, Some(&mailbox), sync()).await;
        // Sync states are signed with a per-run key; everything else is the same.
        let strip = |e: &Envelope| {
            let mut r = body!(e.body.clone(), SyncFolderItemsResponse);
            r.messages[0].sync_state = None;
            format!("{r:?}")
        };
        assert_eq!(strip(&x), strip(&y), "{label}");
    }
}
