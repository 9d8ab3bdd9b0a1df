//! `sync_folder` against the simulator: initial sync, no-op syncs, item-level events for
//! singles, series and occurrences, lost sync states, full passes, time zones.

mod support;

use std::collections::BTreeSet;

use ews_proto::items::{CalendarItem, Item, ItemFields, Recurrence, RecurrencePattern, RecurrenceRange};
use ews_proto::ops::FindItem;
use ews_proto::shape::{BaseShape, ItemShape};
use ews_proto::values::{Date as XDate, DateTime};
use ews_proto::xml::XmlText;
use ews_proto::{BaseItemId, FolderId, ItemId, OccurrenceItemId};
use exbridge_engine::EngineSettings;
use exbridge_engine::event::EventId;
use exbridge_engine::sync::{SyncMode, SyncOptions, SyncReport, day_window, sync_folder, sync_folder_with};
use exbridge_sim::store::{ChangeKeyCheck, FolderKind as SimFolder};
use exbridge_store::{EventType, FolderKind, FolderSyncState, InstanceKey, MirrorKind, SyncState};
use jiff::Timestamp;
use support::{Env, LIMIT, anchor_now};

fn settings() -> EngineSettings {
    // 30 days back, 60 ahead: the seeded daily series keep a CalendarView under 1000 items.
    EngineSettings { window_future_days: 60, ..EngineSettings::default() }
}

async fn sync(env: &Env, mode: SyncMode, now: Timestamp) -> SyncReport {
    sync_folder(&env.ctx, &env.server(), &env.user, &env.mailbox, FolderKind::Calendar, mode, now).await.expect("sync")
}

fn events(report: &SyncReport) -> Vec<(EventType, String)> {
    report.entries.iter().map(|e| (e.event_type, e.data["id"].as_str().unwrap_or_default().to_owned())).collect()
}

/// (id, start, end, subject) of everything a CalendarView shows in the window.
async fn calendar_view(env: &Env, window: (Timestamp, Timestamp)) -> BTreeSet<(String, Timestamp, Timestamp, String)> {
    let op = FindItem::calendar_view(
        FolderId::calendar(),
        DateTime::utc(window.0),
        DateTime::utc(window.1),
        ItemShape::new(BaseShape::AllProperties),
    );
    let found = env.server().client.call(Some(&env.mailbox), op).await.unwrap();
    let msg = &found.messages[0];
    assert!(msg.status.is_success(), "{:?}", msg.status);
    assert_ne!(msg.root_folder.as_ref().unwrap().includes_last_item_in_range, Some(false), "view truncated");
    msg.items()
        .iter()
        .filter_map(|i| i.as_calendar())
        .map(|c| {
            let uid = c.uid.clone().unwrap();
            let instance = match &c.original_start {
                Some(o) => InstanceKey::occurrence(o.timestamp().unwrap()),
                None => InstanceKey::single(),
            };
            (
                EventId::new(uid, instance).encode(),
                c.start.unwrap().timestamp().unwrap(),
                c.end.unwrap().timestamp().unwrap(),
                c.item.subject.clone().unwrap_or_default(),
            )
        })
        .collect()
}

async fn mirror_view(env: &Env, window: (Timestamp, Timestamp)) -> BTreeSet<(String, Timestamp, Timestamp, String)> {
    let rows = env.ctx.store.events_in_window(&env.user, FolderKind::Calendar, window.0, window.1).await.unwrap();
    rows.iter()
        .map(|r| {
            (
                r.event["id"].as_str().unwrap().to_owned(),
                r.start.unwrap(),
                r.end.unwrap(),
                r.event["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn appointment(subject: &str, start: &str, end: &str, zone: &str) -> CalendarItem {
    CalendarItem {
        item: ItemFields { subject: Some(subject.into()), ..ItemFields::default() },
        start: Some(<DateTime as XmlText>::from_text(start).unwrap()),
        end: Some(<DateTime as XmlText>::from_text(end).unwrap()),
        start_time_zone_id: Some(zone.into()),
        ..CalendarItem::default()
    }
}

fn created_id(item: &Item) -> ItemId {
    item.item_id().cloned().unwrap()
}

#[tokio::test]
async fn initial_sync_mirrors_the_calendar_view_and_a_second_sync_is_one_request() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(2, 50, settings()).await;
        let now = anchor_now();
        let sent_before: u64 = env.sim.stats().requests.values().sum();
        let first = sync(&env, SyncMode::Incremental, now).await;
        let sent: u64 = env.sim.stats().requests.values().sum::<u64>() - sent_before;
        assert_eq!(sent, u64::from(first.requests), "the report counts what the server saw");
        println!(
            "initial sync: {} requests, {} created, {} mirror rows written",
            first.requests, first.created, first.mirror_changes
        );
        assert!(first.initial && !first.resynced);
        assert!(first.requests <= 3, "initial sync of 50 items took {} requests", first.requests);
        assert_eq!(first.created, 50, "one event.created per Exchange item");
        assert_eq!(first.entries.len(), 50);

        let window = day_window(&env.ctx, now);
        let view = calendar_view(&env, window).await;
        let mirror = mirror_view(&env, window).await;
        assert!(view.len() > 50, "the seeded series expand: {} occurrences", view.len());
        let only_view: Vec<_> = view.difference(&mirror).take(5).collect();
        let only_mirror: Vec<_> = mirror.difference(&view).take(5).collect();
        assert!(only_view.is_empty() && only_mirror.is_empty(), "view-only {only_view:?}\nmirror-only {only_mirror:?}");
        println!("mirror == CalendarView: {} occurrences and singles", view.len());

        let second = sync(&env, SyncMode::Incremental, now).await;
        assert_eq!(second.requests, 1);
        assert!(second.entries.is_empty() && !second.initial, "{:?}", events(&second));

        let full = sync(&env, SyncMode::Full, now).await;
        assert!(full.entries.is_empty(), "a full pass over an unchanged calendar: {:?}", events(&full));
        assert_eq!(full.mirror_changes, 0);
        println!("no-op incremental: {} request; no-op full: {} requests", second.requests, full.requests);
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn single_create_update_delete_each_raise_one_event() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(1, 12, settings()).await;
        let now = anchor_now();
        sync(&env, SyncMode::Incremental, now).await;
        let store = env.sim.store().clone();
        let mb = env.sim_mailbox();

        let item = Item::Calendar(appointment("Dentist", "2026-03-18T10:00:00Z", "2026-03-18T11:00:00Z", "UTC"));
        let created = store.create_item(&mb, SimFolder::Calendar, &item).unwrap();
        let uid = created.as_calendar().unwrap().uid.clone().unwrap();
        let r = sync(&env, SyncMode::Incremental, now).await;
        assert_eq!(events(&r), vec![(EventType::EventCreated, EventId::new(&uid, InstanceKey::single()).encode())]);
        assert_eq!(r.entries[0].data["subject"], "Dentist");

        let id = BaseItemId::Item(created_id(&created));
        store
            .update_item(&mb, &id, ChangeKeyCheck::Ignore, |i| {
                if let Item::Calendar(c) = i {
                    c.item.subject = Some("Dentist (moved)".into());
                }
                Ok(())
            })
            .unwrap();
        let r = sync(&env, SyncMode::Incremental, now).await;
        assert_eq!(events(&r), vec![(EventType::EventUpdated, uid.clone())]);
        assert_eq!(r.entries[0].data["subject"], "Dentist (moved)");

        // Saved again without a visible change: a new ChangeKey, no event.
        store.update_item(&mb, &id, ChangeKeyCheck::Ignore, |_| Ok(())).unwrap();
        let r = sync(&env, SyncMode::Incremental, now).await;
        assert!(r.entries.is_empty(), "{:?}", events(&r));

        store.delete_item(&mb, &id, ChangeKeyCheck::Ignore).unwrap();
        let r = sync(&env, SyncMode::Incremental, now).await;
        assert_eq!(events(&r), vec![(EventType::EventDeleted, uid.clone())]);
        assert_eq!(r.entries[0].data["subject"], "Dentist (moved)");
        let row = env
            .ctx
            .store
            .get_event(
                &env.user,
                &exbridge_store::MirrorKey::new(FolderKind::Calendar, uid.as_str(), InstanceKey::single()),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(row.deleted, "tombstoned");
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn series_and_occurrence_changes_raise_item_level_events() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(1, 12, settings()).await;
        let now = anchor_now();
        sync(&env, SyncMode::Incremental, now).await;
        let store = env.sim.store().clone();
        let mb = env.sim_mailbox();

        let mut standup =
            appointment("Standup", "2026-03-17T09:00:00", "2026-03-17T09:15:00", "W. Europe Standard Time");
        standup.recurrence = Some(Recurrence {
            pattern: RecurrencePattern::Daily { interval: 1 },
            range: RecurrenceRange::Numbered {
                start_date: XDate::new("2026-03-17".parse().unwrap()),
                number_of_occurrences: 10,
            },
        });
        let created = store.create_item(&mb, SimFolder::Calendar, &Item::Calendar(standup)).unwrap();
        let uid = created.as_calendar().unwrap().uid.clone().unwrap();
        let master_id = created_id(&created);
        let series_id = EventId::new(&uid, InstanceKey::single()).encode();

        let r = sync(&env, SyncMode::Incremental, now).await;
        assert_eq!(events(&r), vec![(EventType::EventCreated, series_id.clone())]);
        assert_eq!(r.entries[0].data["recurrence"]["pattern"]["type"], "daily");
        assert_eq!(r.entries[0].data["recurrence"]["range"]["number_of_occurrences"], 10);
        let rows = env.ctx.store.list_mirror(&env.user, FolderKind::Calendar).await.unwrap();
        let mine: Vec<_> = rows.iter().filter(|r| r.key.uid.as_str() == uid).collect();
        assert_eq!(mine.iter().filter(|r| r.kind == MirrorKind::Occurrence).count(), 10);
        assert_eq!(mine.iter().filter(|r| r.kind == MirrorKind::Master).count(), 1);
        println!("series created: {} rows, {} requests", mine.len(), r.requests);

        // Series-level change.
        store
            .update_item(&mb, &BaseItemId::Item(master_id.clone()), ChangeKeyCheck::Ignore, |i| {
                if let Item::Calendar(c) = i {
                    c.item.subject = Some("Daily standup".into());
                }
                Ok(())
            })
            .unwrap();
        let r = sync(&env, SyncMode::Incremental, now).await;
        assert_eq!(events(&r), vec![(EventType::EventUpdated, series_id.clone())]);
        assert_eq!(r.entries[0].data["subject"], "Daily standup");

        // One occurrence modified (the third): one event for that occurrence.
        let third = BaseItemId::Occurrence(OccurrenceItemId {
            recurring_master_id: master_id.id.clone(),
            change_key: None,
            instance_index: 3,
        });
        store
            .update_item(&mb, &third, ChangeKeyCheck::Ignore, |i| {
                if let Item::Calendar(c) = i {
                    c.item.subject = Some("Standup with demo".into());
                }
                Ok(())
            })
            .unwrap();
        let r = sync(&env, SyncMode::Incremental, now).await;
        let third_start: Timestamp = "2026-03-19T08:00:00Z".parse().unwrap();
        let third_id = EventId::new(&uid, InstanceKey::occurrence(third_start)).encode();
        assert_eq!(events(&r), vec![(EventType::EventUpdated, third_id.clone())]);
        assert_eq!(r.entries[0].data["subject"], "Standup with demo");
        assert_eq!(r.entries[0].data["series_id"], series_id.as_str());
        println!("occurrence modified: {} requests", r.requests);

        // One occurrence deleted (the fifth).
        let fifth = BaseItemId::Occurrence(OccurrenceItemId {
            recurring_master_id: master_id.id.clone(),
            change_key: None,
            instance_index: 5,
        });
        store.delete_item(&mb, &fifth, ChangeKeyCheck::Ignore).unwrap();
        let r = sync(&env, SyncMode::Incremental, now).await;
        let fifth_start: Timestamp = "2026-03-21T08:00:00Z".parse().unwrap();
        let fifth_id = EventId::new(&uid, InstanceKey::occurrence(fifth_start)).encode();
        assert_eq!(events(&r), vec![(EventType::EventDeleted, fifth_id)]);
        assert_eq!(r.entries[0].data["subject"], "Daily standup");

        // One occurrence (the seventh) moved far beyond the window: still one update of it.
        let seventh = BaseItemId::Occurrence(OccurrenceItemId {
            recurring_master_id: master_id.id.clone(),
            change_key: None,
            instance_index: 7,
        });
        store
            .update_item(&mb, &seventh, ChangeKeyCheck::Ignore, |i| {
                if let Item::Calendar(c) = i {
                    c.start = Some(DateTime::utc("2026-06-01T08:00:00Z".parse().unwrap()));
                    c.end = Some(DateTime::utc("2026-06-01T08:15:00Z".parse().unwrap()));
                }
                Ok(())
            })
            .unwrap();
        let r = sync(&env, SyncMode::Incremental, now).await;
        let seventh_id = EventId::new(&uid, InstanceKey::occurrence("2026-03-23T08:00:00Z".parse().unwrap())).encode();
        assert_eq!(events(&r), vec![(EventType::EventUpdated, seventh_id)]);
        assert_eq!(r.entries[0].data["start"], "2026-06-01T10:00:00+02:00");

        // A full pass sees nothing new.
        let full = sync(&env, SyncMode::Full, now).await;
        assert!(full.entries.is_empty(), "{:?}", events(&full));

        // The whole series deleted: one event with the series document.
        store.delete_item(&mb, &BaseItemId::Item(master_id), ChangeKeyCheck::Ignore).unwrap();
        let r = sync(&env, SyncMode::Incremental, now).await;
        assert_eq!(events(&r), vec![(EventType::EventDeleted, series_id)]);
        let live = env.ctx.store.list_mirror(&env.user, FolderKind::Calendar).await.unwrap();
        assert!(live.iter().all(|r| r.key.uid.as_str() != uid), "every row of the series tombstoned");
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn a_corrupted_sync_state_resyncs_without_events() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(1, 30, settings()).await;
        let now = anchor_now();
        sync(&env, SyncMode::Incremental, now).await;
        let rows_before = env.ctx.store.list_mirror(&env.user, FolderKind::Calendar).await.unwrap();
        env.ctx
            .store
            .set_sync_state(&FolderSyncState {
                user_id: env.user.clone(),
                folder: FolderKind::Calendar,
                sync_state: SyncState::new("H4sIAAAAAAAEAO29B2AcSZYlJi9tynt/SvVq1+B0OAAAAA=="),
                updated_at: now,
            })
            .await
            .unwrap();
        let r = sync(&env, SyncMode::Incremental, now).await;
        println!("corrupted state: resynced={} requests={} events={}", r.resynced, r.requests, r.entries.len());
        assert!(r.resynced);
        assert!(r.entries.is_empty(), "{:?}", events(&r));
        let rows_after = env.ctx.store.list_mirror(&env.user, FolderKind::Calendar).await.unwrap();
        assert_eq!(rows_before.len(), rows_after.len());
        // The new state works.
        let next = sync(&env, SyncMode::Incremental, now).await;
        assert!(!next.resynced && next.requests == 1 && next.entries.is_empty());
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn the_window_slides_silently_on_a_full_pass() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(1, 30, settings()).await;
        let now = anchor_now();
        sync(&env, SyncMode::Incremental, now).await;
        let later = now + jiff::SignedDuration::from_hours(24 * 7);
        let r = sync(&env, SyncMode::Full, later).await;
        println!("window slid a week: {} silent mirror changes, {} events", r.mirror_changes, r.entries.len());
        assert!(r.mirror_changes > 0, "occurrences should enter and leave the window");
        assert!(r.entries.is_empty(), "{:?}", events(&r));
        let window = day_window(&env.ctx, later);
        assert_eq!(mirror_view(&env, window).await, calendar_view(&env, window).await);
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn nine_oclock_in_berlin_is_nine_oclock_in_january_and_in_july() {
    tokio::time::timeout(LIMIT, async {
        let settings = EngineSettings { window_past_days: 30, window_future_days: 200, ..EngineSettings::default() };
        let env = Env::start(1, 1, settings).await;
        let store = env.sim.store().clone();
        let mb = env.sim_mailbox();
        let mut weekly =
            appointment("Jour fixe", "2026-01-15T09:00:00", "2026-01-15T10:00:00", "W. Europe Standard Time");
        weekly.recurrence = Some(Recurrence {
            pattern: RecurrencePattern::Weekly {
                interval: 1,
                days_of_week: vec![ews_proto::items::DayOfWeek::Thursday],
                first_day_of_week: None,
            },
            range: RecurrenceRange::NoEnd { start_date: XDate::new("2026-01-15".parse().unwrap()) },
        });
        let created = store.create_item(&mb, SimFolder::Calendar, &Item::Calendar(weekly)).unwrap();
        let uid = created.as_calendar().unwrap().uid.clone().unwrap();
        let now: Timestamp = "2026-01-20T12:00:00Z".parse().unwrap();
        sync(&env, SyncMode::Incremental, now).await;
        let rows = env.ctx.store.list_mirror(&env.user, FolderKind::Calendar).await.unwrap();
        let occurrence = |utc: &str| {
            let key = InstanceKey::occurrence(utc.parse().unwrap());
            rows.iter().find(|r| r.key.uid.as_str() == uid && r.key.instance == key).cloned()
        };
        let january = occurrence("2026-01-22T08:00:00Z").expect("the January occurrence at 08:00 UTC");
        let july = occurrence("2026-07-16T07:00:00Z").expect("the July occurrence at 07:00 UTC");
        assert_eq!(january.event["start"], "2026-01-22T09:00:00+01:00");
        assert_eq!(july.event["start"], "2026-07-16T09:00:00+02:00");
        assert_eq!(july.event["end"], "2026-07-16T10:00:00+02:00");
        assert_eq!(january.event["time_zone"], "Europe/Berlin");
        println!("January: {} / July: {}", january.event["start"], july.event["start"]);
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn small_pages_give_the_same_mirror_and_a_paged_full_pass_is_silent() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(1, 30, EngineSettings { sync_page_size: 7, get_item_batch: 4, ..settings() }).await;
        let now = anchor_now();
        let first = sync(&env, SyncMode::Incremental, now).await;
        println!("paged initial sync: {} pages, {} requests, {} created", first.pages, first.requests, first.created);
        assert!(first.pages >= 5, "30 items in pages of 7: {} pages", first.pages);
        assert_eq!(first.created, 30);
        let window = day_window(&env.ctx, now);
        assert_eq!(mirror_view(&env, window).await, calendar_view(&env, window).await);
        let full = sync(&env, SyncMode::Full, now).await;
        assert!(full.entries.is_empty() && full.mirror_changes == 0, "{:?}", events(&full));
        let again = sync(&env, SyncMode::Incremental, now).await;
        assert_eq!((again.requests, again.entries.len()), (1, 0));

        // Ten new items and a deletion, read incrementally in pages of seven.
        let store = env.sim.store().clone();
        let mb = env.sim_mailbox();
        let mut ids = Vec::new();
        for n in 0..10 {
            let start = format!("2026-03-{:02}T10:00:00Z", 17 + n);
            let end = format!("2026-03-{:02}T11:00:00Z", 17 + n);
            let item = Item::Calendar(appointment(&format!("Item {n}"), &start, &end, "UTC"));
            ids.push(created_id(&store.create_item(&mb, SimFolder::Calendar, &item).unwrap()));
        }
        store.delete_item(&mb, &BaseItemId::Item(ids[0].clone()), ChangeKeyCheck::Ignore).unwrap();
        let paged = sync(&env, SyncMode::Incremental, now).await;
        println!("paged incremental: {} pages, {} events", paged.pages, paged.entries.len());
        assert!(paged.pages >= 2);
        let kinds: Vec<EventType> = paged.entries.iter().map(|e| e.event_type).collect();
        assert_eq!(kinds.iter().filter(|k| **k == EventType::EventCreated).count(), 9, "{kinds:?}");
        assert!(kinds.iter().all(|k| *k == EventType::EventCreated), "the deleted one was never announced: {kinds:?}");
        assert_eq!(mirror_view(&env, window).await, calendar_view(&env, window).await);
        assert!(sync(&env, SyncMode::Incremental, now).await.entries.is_empty());
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn a_full_pass_finds_what_incremental_syncs_missed() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(1, 12, settings()).await;
        let now = anchor_now();
        sync(&env, SyncMode::Incremental, now).await;
        let store = env.sim.store().clone();
        let mb = env.sim_mailbox();
        let created = store
            .create_item(
                &mb,
                SimFolder::Calendar,
                &Item::Calendar(appointment("Offsite", "2026-03-20T08:00:00Z", "2026-03-20T16:00:00Z", "UTC")),
            )
            .unwrap();
        let uid = created.as_calendar().unwrap().uid.clone().unwrap();
        sync(&env, SyncMode::Incremental, now).await;
        // Deleted while the sync state was lost: only a full comparison can notice.
        store.delete_item(&mb, &BaseItemId::Item(created_id(&created)), ChangeKeyCheck::Ignore).unwrap();
        env.ctx.store.clear_sync_state(&env.user, FolderKind::Calendar).await.unwrap();
        let r = sync(&env, SyncMode::Full, now).await;
        assert_eq!(events(&r), vec![(EventType::EventDeleted, uid)]);
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn a_quiet_first_sync_mirrors_without_announcing() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(1, 12, settings()).await;
        let now = anchor_now();
        let options = SyncOptions { mode: SyncMode::Incremental, announce_initial: false };
        let r = sync_folder_with(&env.ctx, &env.server(), &env.user, &env.mailbox, FolderKind::Calendar, options, now)
            .await
            .unwrap();
        assert_eq!((r.created, r.entries.len()), (12, 0));
        // The quiet path (rows moved into the plan) mirrors exactly what Exchange has.
        let window = day_window(&env.ctx, now);
        assert_eq!(mirror_view(&env, window).await, calendar_view(&env, window).await);
        // And so it does when the first sync comes in pages (the last page plans them all).
        let paged = Env::start(1, 30, EngineSettings { sync_page_size: 7, get_item_batch: 4, ..settings() }).await;
        let p = sync_folder_with(
            &paged.ctx,
            &paged.server(),
            &paged.user,
            &paged.mailbox,
            FolderKind::Calendar,
            options,
            now,
        )
        .await
        .unwrap();
        assert!(p.pages >= 5 && p.created == 30 && p.entries.is_empty(), "{} pages, {} created", p.pages, p.created);
        assert_eq!(mirror_view(&paged, window).await, calendar_view(&paged, window).await);
        let again = sync(&paged, SyncMode::Full, now).await;
        assert!(
            again.entries.is_empty() && again.mirror_changes == 0,
            "a full pass finds it identical: {:?}",
            events(&again)
        );
        // Later changes are announced.
        let store = env.sim.store().clone();
        store
            .create_item(
                &env.sim_mailbox(),
                SimFolder::Calendar,
                &Item::Calendar(appointment("Later", "2026-03-20T08:00:00Z", "2026-03-20T09:00:00Z", "UTC")),
            )
            .unwrap();
        let r = sync_folder_with(&env.ctx, &env.server(), &env.user, &env.mailbox, FolderKind::Calendar, options, now)
            .await
            .unwrap();
        assert_eq!(r.entries.len(), 1);
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn an_unknown_mailbox_is_a_mailbox_error() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(1, 2, settings()).await;
        let ghost = ews_proto::SmtpAddress::parse("ghost@contoso.test").unwrap();
        let err = sync_folder(
            &env.ctx,
            &env.server(),
            &env.user,
            &ghost,
            FolderKind::Calendar,
            SyncMode::Incremental,
            anchor_now(),
        )
        .await
        .unwrap_err();
        println!("unknown mailbox: {err}");
        assert!(err.is_mailbox_error(), "{err}");
        assert!(env.ctx.store.sync_state(&env.user, FolderKind::Calendar).await.unwrap().is_none());
    })
    .await
    .expect("test took too long");
}
