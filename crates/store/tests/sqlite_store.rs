//! SqliteStore against temporary database files: every trait method, the single-transaction
//! guarantee, outbox ordering, durability across reopen, concurrency, resume, idempotency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use exbridge_store::*;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use tempfile::TempDir;

async fn open() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("exbridge.db")).await.unwrap();
    (dir, store)
}

/// A connection of its own to the store's file, for checks and for injecting failures.
async fn raw(store: &SqliteStore) -> SqliteConnection {
    let url = format!("sqlite://{}", store.path().display());
    SqliteConnection::connect(&url).await.unwrap()
}

async fn count(store: &SqliteStore, table: &str) -> i64 {
    let mut conn = raw(store).await;
    let n = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn uid(s: &str) -> UserId {
    UserId::new(s)
}

fn user(id: &str) -> DirectoryUser {
    let mut u = DirectoryUser::new(id);
    u.work_email = Some(format!("{id}@contoso.test"));
    u.display_name = Some(format!("User {id}"));
    u
}

fn key(uid: &str, instance: InstanceKey) -> MirrorKey {
    MirrorKey::new(FolderKind::Calendar, uid, instance)
}

fn single(uid: &str, start: &str, end: &str, hash: &str) -> MirrorEvent {
    MirrorEvent {
        key: key(uid, InstanceKey::single()),
        kind: MirrorKind::Single,
        item_id: ItemId::new(format!("item-{uid}")),
        change_key: Some(ChangeKey::new(format!("ck-{hash}"))),
        series_id: None,
        start: Some(t(start)),
        end: Some(t(end)),
        event: json!({"uid": uid, "subject": format!("Subject {hash}"), "start": start, "end": end}),
        content_hash: hash.to_owned(),
        changed_at: t("2026-03-01T08:00:00Z"),
        deleted: false,
    }
}

fn occurrence(uid: &str, start: &str, end: &str) -> MirrorEvent {
    MirrorEvent {
        key: key(uid, InstanceKey::occurrence(t(start))),
        kind: MirrorKind::Occurrence,
        item_id: ItemId::new(format!("item-{uid}")),
        change_key: Some(ChangeKey::new("ck-series")),
        series_id: Some(format!("series-{uid}")),
        start: Some(t(start)),
        end: Some(t(end)),
        event: json!({"uid": uid, "start": start}),
        content_hash: format!("h-{start}"),
        changed_at: t("2026-03-01T08:00:00Z"),
        deleted: false,
    }
}

fn master(uid: &str) -> MirrorEvent {
    MirrorEvent {
        key: key(uid, InstanceKey::single()),
        kind: MirrorKind::Master,
        item_id: ItemId::new(format!("item-{uid}")),
        change_key: Some(ChangeKey::new("ck-series")),
        series_id: None,
        start: Some(t("2026-03-02T09:00:00Z")),
        end: Some(t("2026-03-02T09:30:00Z")),
        event: json!({"recurrence": {"daily": 1}}),
        content_hash: "master".into(),
        changed_at: t("2026-03-01T08:00:00Z"),
        deleted: false,
    }
}

fn note(kind: EventType, user: &str, n: i64) -> NewOutboxEvent {
    NewOutboxEvent::new(kind, uid(user), t("2026-03-01T08:00:00Z"), json!({ "n": n }))
}

fn sync_state(user: &str, folder: FolderKind, state: &str) -> FolderSyncState {
    FolderSyncState {
        user_id: uid(user),
        folder,
        sync_state: SyncState::new(state),
        updated_at: t("2026-03-01T08:00:00Z"),
    }
}

fn subscription(user: &str, id: &str) -> SubscriptionRecord {
    SubscriptionRecord {
        user_id: uid(user),
        subscription_id: SubscriptionId::new(id),
        kind: SubscriptionKind::Streaming,
        folders: vec![FolderKind::Calendar, FolderKind::Tasks],
        watermark: Some(Watermark::new("wm-0")),
        exchange: "primary".into(),
        group_id: Some("group-1".into()),
        anchor_mailbox: Some(format!("{user}@contoso.test")),
        created_at: t("2026-03-01T08:00:00Z"),
        updated_at: t("2026-03-01T08:00:00Z"),
    }
}

fn mailbox(user: &str) -> MailboxState {
    MailboxState {
        mailbox: Some(format!("{user}@contoso.test")),
        matched_by: Some(MatchedBy::WorkEmail),
        state: MailboxStatus::Subscribed,
        last_error: None,
        exchange: Some("primary".into()),
        synced_at: Some(t("2026-03-01T08:05:00Z")),
        attempts: vec![
            ResolutionAttempt {
                identifier: MatchedBy::LoginEmail,
                value: "nobody@contoso.test".into(),
                exchange: Some("primary".into()),
                outcome: AttemptOutcome::NotFound,
                at: t("2026-03-01T08:00:00Z"),
            },
            ResolutionAttempt {
                identifier: MatchedBy::WorkEmail,
                value: format!("{user}@contoso.test"),
                exchange: Some("primary".into()),
                outcome: AttemptOutcome::Resolved { mailbox: format!("{user}@contoso.test") },
                at: t("2026-03-01T08:00:01Z"),
            },
        ],
        updated_at: t("2026-03-01T08:05:00Z"),
    }
}

fn later(minutes: i64) -> Timestamp {
    Timestamp::now() + SignedDuration::from_mins(minutes)
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn opens_migrated_in_wal_mode_and_reports_health() {
    let (_dir, store) = open().await;
    let health = store.health().await.unwrap();
    assert_eq!(health.backend, "sqlite");
    assert_eq!(health.schema_version, 5);

    let mut conn = raw(&store).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap();
    assert_eq!(mode, "wal");
    conn.close().await.unwrap();

    // Reopening an already migrated file applies nothing and works.
    let path = store.path().to_owned();
    store.close().await;
    let again = SqliteStore::open(&path).await.unwrap();
    assert_eq!(again.health().await.unwrap().schema_version, 5);
    again.close().await;
}

#[tokio::test]
async fn open_store_dispatches_on_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sub/folder/x.db", dir.path().display());
    let store = open_store(&url).await.unwrap();
    assert_eq!(store.health().await.unwrap().backend, "sqlite");
    store.close().await;
    assert!(dir.path().join("sub/folder/x.db").exists());

    for bad in ["postgres://u:p@localhost/db", "sqlite::memory:", "sqlite://", "mysql://x"] {
        match open_store(bad).await {
            Err(StoreError::Unsupported { .. }) => {}
            Err(other) => panic!("{bad}: unexpected error {other}"),
            Ok(_) => panic!("{bad}: opened"),
        }
    }
    let options = SqliteStoreOptions::from_url("sqlite:./data/exbridge.db").unwrap();
    assert_eq!(options.path, std::path::Path::new("./data/exbridge.db"));
}

#[tokio::test]
async fn directory_replace_upsert_delete_list_get() {
    let (_dir, store) = open().await;
    let diff = store.replace_directory(&[user("b"), user("a"), user("c")], ReplaceGuard::default()).await.unwrap();
    assert_eq!(diff.created, vec![uid("b"), uid("a"), uid("c")]);
    assert!(diff.updated.is_empty() && diff.removed.is_empty());

    let list = store.list_users().await.unwrap();
    assert_eq!(list.iter().map(|e| e.user.id.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert!(list.iter().all(|e| e.mailbox.state == MailboxStatus::Pending && e.mailbox.mailbox.is_none()));
    assert_eq!(list[0].user, user("a"));

    // Give c some state that removal must clean up, and an outbox entry that must survive it.
    store.set_mailbox_state(&uid("c"), &mailbox("c")).await.unwrap();
    store.put_subscription(&subscription("c", "sub-c")).await.unwrap();
    store
        .apply_mirror_changes(
            &uid("c"),
            &[MirrorChange::Upsert(single("e1", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", "h1"))],
            Some(&sync_state("c", FolderKind::Calendar, "s1")),
            &[note(EventType::EventCreated, "c", 1)],
        )
        .await
        .unwrap();

    let mut a2 = user("a");
    a2.display_name = Some("Renamed".into());
    let mut b2 = user("b");
    b2.login_email = Some("b.login@contoso.test".into());
    let diff = store.replace_directory(&[a2.clone(), b2.clone(), user("d")], ReplaceGuard::default()).await.unwrap();
    assert_eq!(diff.created, vec![uid("d")]);
    assert_eq!(diff.updated, vec![uid("a"), uid("b")]);
    assert_eq!(diff.identifiers_changed, vec![uid("b")]);
    assert_eq!(diff.unchanged, 0);
    assert_eq!(diff.removed.len(), 1);
    let removed = &diff.removed[0];
    assert_eq!(removed.user, user("c"));
    assert_eq!(removed.mailbox.as_ref(), Some(&mailbox("c")));
    assert_eq!(removed.subscription.as_ref(), Some(&subscription("c", "sub-c")));
    assert!(store.get_user(&uid("c")).await.unwrap().is_none());
    assert_eq!(count(&store, "mirror_events").await, 0);
    assert_eq!(count(&store, "folder_sync_states").await, 0);
    assert_eq!(count(&store, "subscriptions").await, 0);
    assert_eq!(count(&store, "mailbox_states").await, 0);
    assert_eq!(count(&store, "outbox").await, 1, "outbox entries outlive their user");

    let unchanged =
        store.replace_directory(&[a2.clone(), b2.clone(), user("d")], ReplaceGuard::default()).await.unwrap();
    assert_eq!(unchanged.unchanged, 3);
    assert!(unchanged.created.is_empty() && unchanged.updated.is_empty() && unchanged.removed.is_empty());

    // upsert: created, unchanged, updated with and without identifier changes.
    assert_eq!(store.upsert_user(&user("e")).await.unwrap(), UpsertOutcome::Created);
    assert_eq!(store.upsert_user(&user("e")).await.unwrap(), UpsertOutcome::Unchanged);
    let mut e2 = user("e");
    e2.settings.sync_tasks = true;
    e2.settings.direction = SyncDirection::ExchangeToApp;
    e2.settings.sync_start = Some("2026-01-15".parse().unwrap());
    assert_eq!(store.upsert_user(&e2).await.unwrap(), UpsertOutcome::Updated { identifiers_changed: false });
    let mut e3 = e2.clone();
    e3.external_uid = Some("ext-e".into());
    assert_eq!(store.upsert_user(&e3).await.unwrap(), UpsertOutcome::Updated { identifiers_changed: true });
    let got = store.get_user(&uid("e")).await.unwrap().unwrap();
    assert_eq!(got.user, e3);
    assert!(got.updated_at >= got.created_at);

    // delete
    store.set_mailbox_state(&uid("e"), &mailbox("e")).await.unwrap();
    let gone = store.delete_user(&uid("e")).await.unwrap().unwrap();
    assert_eq!(gone.user, e3);
    assert_eq!(gone.mailbox, Some(mailbox("e")));
    assert!(gone.subscription.is_none());
    assert!(store.delete_user(&uid("e")).await.unwrap().is_none());
    assert!(store.get_user(&uid("e")).await.unwrap().is_none());
    assert_eq!(store.list_users().await.unwrap().len(), 3);
}

#[tokio::test]
async fn directory_refuses_mass_deletes_and_bad_input() {
    let (_dir, store) = open().await;
    store.replace_directory(&[user("a"), user("b"), user("c"), user("d")], ReplaceGuard::default()).await.unwrap();

    for (users, guard) in [
        (vec![], ReplaceGuard::default()),
        (vec![user("x")], ReplaceGuard::default()),
        (vec![user("a")], ReplaceGuard { refuse_emptying: false, max_removed: Some(2) }),
    ] {
        match store.replace_directory(&users, guard).await {
            Err(StoreError::MassDelete { existing: 4, .. }) => {}
            other => panic!("expected a refused mass delete, got {other:?}"),
        }
    }
    assert_eq!(store.list_users().await.unwrap().len(), 4, "a refused replacement changes nothing");

    let ok = store
        .replace_directory(&[user("a"), user("b")], ReplaceGuard { refuse_emptying: true, max_removed: Some(2) })
        .await
        .unwrap();
    assert_eq!(ok.removed.len(), 2);
    let emptied = store.replace_directory(&[], ReplaceGuard::force()).await.unwrap();
    assert_eq!(emptied.removed.len(), 2);
    assert!(store.list_users().await.unwrap().is_empty());
    // Replacing an empty directory with an empty one removes nothing: no guard applies.
    store.replace_directory(&[], ReplaceGuard::default()).await.unwrap();

    assert!(matches!(
        store.replace_directory(&[user("a"), user("a")], ReplaceGuard::default()).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(store.upsert_user(&DirectoryUser::new(" ")).await, Err(StoreError::Invalid(_))));
}

#[tokio::test]
async fn mailbox_state_round_trips() {
    let (_dir, store) = open().await;
    store.upsert_user(&user("a")).await.unwrap();
    assert!(store.mailbox_state(&uid("a")).await.unwrap().is_none());

    store.set_mailbox_state(&uid("a"), &mailbox("a")).await.unwrap();
    assert_eq!(store.mailbox_state(&uid("a")).await.unwrap(), Some(mailbox("a")));
    assert_eq!(store.get_user(&uid("a")).await.unwrap().unwrap().mailbox, mailbox("a"));

    let mut failed = MailboxState::pending(t("2026-03-02T00:00:00Z"));
    failed.state = MailboxStatus::Error;
    failed.last_error = Some("ErrorNonExistentMailbox".into());
    store.set_mailbox_state(&uid("a"), &failed).await.unwrap();
    assert_eq!(store.list_users().await.unwrap()[0].mailbox, failed);

    match store.set_mailbox_state(&uid("ghost"), &mailbox("ghost")).await {
        Err(StoreError::UnknownUser(u)) => assert_eq!(u, uid("ghost")),
        other => panic!("expected UnknownUser, got {other:?}"),
    }
}

#[tokio::test]
async fn user_counts_count_states_and_synced_mailboxes_without_listing() {
    let (_dir, store) = open().await;
    for id in ["a", "b", "c", "d", "e"] {
        store.upsert_user(&user(id)).await.unwrap();
    }
    // a, b subscribed and synced; c subscribed, not synced yet; d failed; e never resolved.
    store.set_mailbox_state(&uid("a"), &mailbox("a")).await.unwrap();
    store.set_mailbox_state(&uid("b"), &mailbox("b")).await.unwrap();
    let mut unsynced = mailbox("c");
    unsynced.synced_at = None;
    store.set_mailbox_state(&uid("c"), &unsynced).await.unwrap();
    let mut failed = MailboxState::pending(t("2026-03-02T00:00:00Z"));
    failed.state = MailboxStatus::Error;
    store.set_mailbox_state(&uid("d"), &failed).await.unwrap();

    let counts = store.user_counts().await.unwrap();
    let by: Vec<(&str, u64)> = counts.by_state.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    assert_eq!(by, [("pending", 1), ("subscribed", 3), ("not_found", 0), ("error", 1)]);
    assert_eq!((counts.synced, counts.total(), counts.state(MailboxStatus::Subscribed)), (2, 5, 3));
    // The same as counting the listed users (the trait's default).
    assert_eq!(counts, UserCounts::of(&store.list_users().await.unwrap()));
}

#[tokio::test]
async fn mirror_changes_queries_and_tombstones() {
    let (_dir, store) = open().await;
    store.replace_directory(&[user("a"), user("b")], ReplaceGuard::default()).await.unwrap();
    let a = uid("a");

    let changes = vec![
        MirrorChange::Upsert(single("s1", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", "h1")),
        MirrorChange::Upsert(single("s2", "2026-03-05T09:00:00Z", "2026-03-05T09:00:00Z", "h2")), // zero length
        MirrorChange::Upsert(single("s3", "2026-04-01T09:00:00Z", "2026-04-01T10:00:00Z", "h3")),
        MirrorChange::Upsert(master("r1")),
        MirrorChange::Upsert(occurrence("r1", "2026-03-02T09:00:00Z", "2026-03-02T09:30:00Z")),
        MirrorChange::Upsert(occurrence("r1", "2026-03-03T09:00:00Z", "2026-03-03T09:30:00Z")),
        MirrorChange::Upsert(occurrence("r1", "2026-03-04T09:00:00Z", "2026-03-04T09:30:00Z")),
    ];
    let outbox: Vec<_> = (1..=5).map(|n| note(EventType::EventCreated, "a", n)).collect();
    let entries = store
        .apply_mirror_changes(&a, &changes, Some(&sync_state("a", FolderKind::Calendar, "state-1")), &outbox)
        .await
        .unwrap();
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(entries[2].data, json!({"n": 3}));
    assert_eq!(store.sync_state(&a, FolderKind::Calendar).await.unwrap().unwrap().sync_state.as_str(), "state-1");

    // The window [03-02 09:15, 03-05 09:00): s1 overlaps, r1 occurrences overlap, s2 (zero
    // length at the end) does not, the master never shows.
    let window = store
        .events_in_window(&a, FolderKind::Calendar, t("2026-03-02T09:15:00Z"), t("2026-03-05T09:00:00Z"))
        .await
        .unwrap();
    let keys: Vec<_> = window.iter().map(|e| (e.key.uid.as_str().to_owned(), e.key.instance.to_string())).collect();
    assert_eq!(
        keys,
        [
            ("r1".into(), "2026-03-02T09:00:00Z".into()),
            ("s1".into(), String::new()),
            ("r1".into(), "2026-03-03T09:00:00Z".into()),
            ("r1".into(), "2026-03-04T09:00:00Z".into()),
        ]
    );
    assert_eq!(window[1], single("s1", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", "h1"));
    let zero = store
        .events_in_window(&a, FolderKind::Calendar, t("2026-03-05T09:00:00Z"), t("2026-03-05T09:00:01Z"))
        .await
        .unwrap();
    assert_eq!(zero.len(), 1, "a zero-length event counts at the window start");
    assert!(
        store
            .events_in_window(&a, FolderKind::Tasks, t("2026-01-01T00:00:00Z"), t("2027-01-01T00:00:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .events_in_window(&uid("b"), FolderKind::Calendar, t("2026-01-01T00:00:00Z"), t("2027-01-01T00:00:00Z"))
            .await
            .unwrap()
            .is_empty()
    );

    // Point lookups.
    let occ_key = key("r1", InstanceKey::occurrence(t("2026-03-03T09:00:00Z")));
    assert_eq!(
        store.get_event(&a, &occ_key).await.unwrap(),
        Some(occurrence("r1", "2026-03-03T09:00:00Z", "2026-03-03T09:30:00Z"))
    );
    assert_eq!(store.events_by_item_id(&a, &ItemId::new("item-r1")).await.unwrap().len(), 4);
    assert_eq!(store.list_mirror(&a, FolderKind::Calendar).await.unwrap().len(), 7);

    // An update replaces the row; a tombstone keeps content; a forget removes the row.
    let mut s1b = single("s1", "2026-03-02T11:00:00Z", "2026-03-02T12:00:00Z", "h1b");
    s1b.item_id = ItemId::new("item-s1-moved");
    let deleted_at = t("2026-03-01T09:00:00Z");
    let forget_key = key("r1", InstanceKey::occurrence(t("2026-03-04T09:00:00Z")));
    store
        .apply_mirror_changes(
            &a,
            &[
                MirrorChange::Upsert(s1b.clone()),
                MirrorChange::Tombstone { key: occ_key.clone(), changed_at: deleted_at },
                MirrorChange::Forget { key: forget_key.clone() },
                MirrorChange::Tombstone { key: key("nope", InstanceKey::single()), changed_at: deleted_at },
            ],
            Some(&sync_state("a", FolderKind::Calendar, "state-2")),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(store.get_event(&a, &s1b.key).await.unwrap(), Some(s1b.clone()));
    assert_eq!(store.events_by_item_id(&a, &ItemId::new("item-s1-moved")).await.unwrap(), vec![s1b]);
    let tomb = store.get_event(&a, &occ_key).await.unwrap().unwrap();
    assert!(tomb.deleted);
    assert_eq!(tomb.changed_at, deleted_at);
    assert_eq!(tomb.content_hash, "h-2026-03-03T09:00:00Z");
    assert!(store.get_event(&a, &forget_key).await.unwrap().is_none());
    assert!(store.get_event(&a, &key("nope", InstanceKey::single())).await.unwrap().is_none());
    assert_eq!(store.sync_state(&a, FolderKind::Calendar).await.unwrap().unwrap().sync_state.as_str(), "state-2");

    let window = store
        .events_in_window(&a, FolderKind::Calendar, t("2026-03-01T00:00:00Z"), t("2026-03-31T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(window.len(), 3, "r1@03-02, s1 moved, s2; the tombstone and the forgotten row are gone");
    assert_eq!(store.list_mirror(&a, FolderKind::Calendar).await.unwrap().len(), 5);

    let index = store.mirror_index(&a, FolderKind::Calendar).await.unwrap();
    assert_eq!(index.len(), 6, "the index includes tombstones");
    let tomb_index = index.iter().find(|e| e.key == occ_key).unwrap();
    assert!(tomb_index.deleted);
    assert_eq!(index.iter().filter(|e| e.kind == MirrorKind::Master).count(), 1);

    // Tasks live beside the calendar under the same uid without clashing.
    let mut task = single("s1", "2026-03-02T09:00:00Z", "2026-03-02T09:00:00Z", "task");
    task.key.folder = FolderKind::Tasks;
    task.start = None;
    task.end = None;
    store.apply_mirror_changes(&a, &[MirrorChange::Upsert(task.clone())], None, &[]).await.unwrap();
    assert_eq!(store.list_mirror(&a, FolderKind::Tasks).await.unwrap(), vec![task]);
    assert_eq!(store.mirror_index(&a, FolderKind::Calendar).await.unwrap().len(), 6);

    // Pruning removes old tombstones only.
    assert_eq!(store.prune_tombstones(t("2026-03-01T08:59:59Z")).await.unwrap(), 0);
    assert_eq!(store.prune_tombstones(t("2026-03-01T09:00:01Z")).await.unwrap(), 1);
    assert!(store.get_event(&a, &occ_key).await.unwrap().is_none());
    assert_eq!(store.list_mirror(&a, FolderKind::Calendar).await.unwrap().len(), 5);
}

#[tokio::test]
async fn mirror_writes_need_a_known_user_and_a_matching_sync_state() {
    let (_dir, store) = open().await;
    store.upsert_user(&user("a")).await.unwrap();
    let change = MirrorChange::Upsert(single("s1", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", "h1"));

    match store
        .apply_mirror_changes(
            &uid("ghost"),
            std::slice::from_ref(&change),
            None,
            &[note(EventType::EventCreated, "ghost", 1)],
        )
        .await
    {
        Err(StoreError::UnknownUser(u)) => assert_eq!(u, uid("ghost")),
        other => panic!("expected UnknownUser, got {other:?}"),
    }
    assert!(matches!(
        store.apply_mirror_changes(&uid("a"), &[change], Some(&sync_state("b", FolderKind::Calendar, "x")), &[]).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.set_sync_state(&sync_state("ghost", FolderKind::Calendar, "x")).await,
        Err(StoreError::UnknownUser(_))
    ));
    assert_eq!(count(&store, "mirror_events").await, 0);
    assert_eq!(count(&store, "outbox").await, 0);
    assert_eq!(store.outbox_stats().await.unwrap().last_seq, 0);
}

/// The single-transaction guarantee: a failure at any point of `apply_mirror_changes` leaves
/// neither mirror change, nor sync state, nor outbox row, nor a consumed seq.
#[tokio::test]
async fn a_failure_in_the_middle_leaves_nothing() {
    let (_dir, store) = open().await;
    store.upsert_user(&user("a")).await.unwrap();
    store.set_webhooks(&[WebhookTarget::all("hook")]).await.unwrap();
    let a = uid("a");
    let base = single("keep", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", "h0");
    store
        .apply_mirror_changes(
            &a,
            &[MirrorChange::Upsert(base.clone())],
            Some(&sync_state("a", FolderKind::Calendar, "s0")),
            &[],
        )
        .await
        .unwrap();

    let mut changed = base.clone();
    changed.content_hash = "h1".into();
    let changes = vec![
        MirrorChange::Upsert(changed),
        MirrorChange::Upsert(single("new1", "2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z", "n1")),
        MirrorChange::Upsert(single("boom", "2026-03-04T09:00:00Z", "2026-03-04T10:00:00Z", "n2")),
        MirrorChange::Tombstone { key: base.key.clone(), changed_at: t("2026-03-01T09:00:00Z") },
    ];
    let outbox = vec![note(EventType::EventUpdated, "a", 1), note(EventType::EventCreated, "a", 2)];

    // Each trigger fails one statement: a mirror row in the middle of the changes, the sync
    // state, the first outbox row, and the very last delivery row.
    let triggers = [
        "CREATE TRIGGER inject BEFORE INSERT ON mirror_events WHEN NEW.uid = 'boom' BEGIN SELECT RAISE(ABORT, 'injected'); END",
        "CREATE TRIGGER inject BEFORE UPDATE ON folder_sync_states BEGIN SELECT RAISE(ABORT, 'injected'); END",
        "CREATE TRIGGER inject BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'injected'); END",
        "CREATE TRIGGER inject BEFORE INSERT ON outbox_deliveries WHEN NEW.seq = 2 BEGIN SELECT RAISE(ABORT, 'injected'); END",
    ];
    for trigger in triggers {
        let mut conn = raw(&store).await;
        sqlx::query(trigger).execute(&mut conn).await.unwrap();
        let result =
            store.apply_mirror_changes(&a, &changes, Some(&sync_state("a", FolderKind::Calendar, "s1")), &outbox).await;
        let err = result.expect_err(trigger);
        assert!(err.to_string().contains("injected"), "{trigger}: {err}");
        sqlx::query("DROP TRIGGER inject").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();

        assert_eq!(store.get_event(&a, &base.key).await.unwrap(), Some(base.clone()), "{trigger}");
        assert_eq!(store.list_mirror(&a, FolderKind::Calendar).await.unwrap().len(), 1, "{trigger}");
        assert_eq!(store.sync_state(&a, FolderKind::Calendar).await.unwrap().unwrap().sync_state.as_str(), "s0");
        assert_eq!(count(&store, "outbox").await, 0, "{trigger}");
        assert_eq!(count(&store, "outbox_deliveries").await, 0, "{trigger}");
        assert_eq!(store.outbox_stats().await.unwrap().last_seq, 0, "{trigger}: the seq counter rolled back");
    }

    // Without a trigger the same call goes through whole, with seqs 1 and 2.
    let entries = store
        .apply_mirror_changes(&a, &changes, Some(&sync_state("a", FolderKind::Calendar, "s1")), &outbox)
        .await
        .unwrap();
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert!(store.get_event(&a, &base.key).await.unwrap().unwrap().deleted);
    assert_eq!(store.list_mirror(&a, FolderKind::Calendar).await.unwrap().len(), 2);
    assert_eq!(count(&store, "outbox_deliveries").await, 2);
}

/// Long change lists are written in multi-row statements; the result is the same as applying
/// the changes one by one, in order (a repeated key, a tombstone between upserts).
#[tokio::test]
async fn long_change_lists_apply_in_order() {
    let (_dir, store) = open().await;
    store.upsert_user(&user("a")).await.unwrap();
    let a = uid("a");
    let row = |n: usize, hash: &str| single(&format!("k{n:03}"), "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", hash);
    let mut changes: Vec<_> = (0..100).map(|n| MirrorChange::Upsert(row(n, "a"))).collect();
    changes.insert(40, MirrorChange::Upsert(row(5, "b"))); // same key again inside a run
    changes.push(MirrorChange::Tombstone { key: row(6, "a").key, changed_at: t("2026-03-01T09:00:00Z") });
    changes.extend((100..140).map(|n| MirrorChange::Upsert(row(n, "a"))));
    changes.push(MirrorChange::Upsert(row(6, "c"))); // back after its tombstone
    changes.push(MirrorChange::Forget { key: row(7, "a").key });
    store.apply_mirror_changes(&a, &changes, None, &[]).await.unwrap();

    let rows = store.mirror_index(&a, FolderKind::Calendar).await.unwrap();
    assert_eq!(rows.len(), 139);
    let hash = |n: usize| {
        rows.iter().find(|r| r.key.uid.as_str() == format!("k{n:03}")).map(|r| (r.content_hash.clone(), r.deleted))
    };
    assert_eq!(hash(5), Some(("b".into(), false)), "the later upsert of k005 wins");
    assert_eq!(hash(6), Some(("c".into(), false)));
    assert_eq!(hash(7), None);
    assert_eq!(hash(139), Some(("a".into(), false)));

    // A failure inside a full batch rolls back the batch and everything before it.
    let mut conn = raw(&store).await;
    sqlx::query("CREATE TRIGGER inject BEFORE INSERT ON mirror_events WHEN NEW.uid = 'x040' BEGIN SELECT RAISE(ABORT, 'injected'); END")
        .execute(&mut conn)
        .await
        .unwrap();
    let more: Vec<_> = (0..64)
        .map(|n| MirrorChange::Upsert(single(&format!("x{n:03}"), "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", "x")))
        .collect();
    assert!(store.apply_mirror_changes(&a, &more, None, &[note(EventType::EventCreated, "a", 1)]).await.is_err());
    sqlx::query("DROP TRIGGER inject").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    assert_eq!(count(&store, "mirror_events").await, 139);
    assert_eq!(count(&store, "outbox").await, 0);
}

#[tokio::test]
async fn sync_states_get_set_clear() {
    let (_dir, store) = open().await;
    store.upsert_user(&user("a")).await.unwrap();
    let a = uid("a");
    assert!(store.sync_state(&a, FolderKind::Calendar).await.unwrap().is_none());
    store.set_sync_state(&sync_state("a", FolderKind::Calendar, "c1")).await.unwrap();
    store.set_sync_state(&sync_state("a", FolderKind::Tasks, "t1")).await.unwrap();
    let mut c2 = sync_state("a", FolderKind::Calendar, "c2");
    c2.updated_at = t("2026-03-01T09:00:00Z");
    store.set_sync_state(&c2).await.unwrap();
    assert_eq!(store.sync_state(&a, FolderKind::Calendar).await.unwrap(), Some(c2));
    assert_eq!(store.sync_state(&a, FolderKind::Tasks).await.unwrap(), Some(sync_state("a", FolderKind::Tasks, "t1")));
    assert!(store.clear_sync_state(&a, FolderKind::Calendar).await.unwrap());
    assert!(!store.clear_sync_state(&a, FolderKind::Calendar).await.unwrap());
    assert!(store.sync_state(&a, FolderKind::Calendar).await.unwrap().is_none());
    assert!(store.sync_state(&a, FolderKind::Tasks).await.unwrap().is_some());
}

#[tokio::test]
async fn subscriptions_round_trip() {
    let (_dir, store) = open().await;
    store.replace_directory(&[user("a"), user("b")], ReplaceGuard::default()).await.unwrap();
    let (a, b) = (uid("a"), uid("b"));
    assert!(store.subscription(&a).await.unwrap().is_none());

    store.put_subscription(&subscription("a", "sub-a1")).await.unwrap();
    store.put_subscription(&subscription("b", "sub-b1")).await.unwrap();
    assert_eq!(store.subscription(&a).await.unwrap(), Some(subscription("a", "sub-a1")));
    assert_eq!(store.subscription_by_id(&SubscriptionId::new("sub-b1")).await.unwrap().unwrap().user_id, b);
    assert_eq!(store.list_subscriptions().await.unwrap().len(), 2);

    let at = t("2026-03-01T09:00:00Z");
    assert!(store.update_watermark(&a, &SubscriptionId::new("sub-a1"), &Watermark::new("wm-1"), at).await.unwrap());
    assert!(!store.update_watermark(&a, &SubscriptionId::new("stale"), &Watermark::new("wm-x"), at).await.unwrap());
    let got = store.subscription(&a).await.unwrap().unwrap();
    assert_eq!(got.watermark, Some(Watermark::new("wm-1")));
    assert_eq!(got.updated_at, at);

    // A new subscription replaces the old one; the old id no longer resolves.
    let mut renewed = subscription("a", "sub-a2");
    renewed.kind = SubscriptionKind::Pull;
    renewed.watermark = None;
    renewed.folders = vec![FolderKind::Calendar];
    store.put_subscription(&renewed).await.unwrap();
    assert_eq!(store.subscription(&a).await.unwrap(), Some(renewed));
    assert!(store.subscription_by_id(&SubscriptionId::new("sub-a1")).await.unwrap().is_none());

    assert!(!store.delete_subscription(&a, Some(&SubscriptionId::new("sub-a1"))).await.unwrap());
    assert!(store.delete_subscription(&a, Some(&SubscriptionId::new("sub-a2"))).await.unwrap());
    assert!(store.delete_subscription(&b, None).await.unwrap());
    assert!(!store.delete_subscription(&b, None).await.unwrap());
    assert!(store.list_subscriptions().await.unwrap().is_empty());

    assert!(matches!(store.put_subscription(&subscription("ghost", "sub-g")).await, Err(StoreError::UnknownUser(_))));
}

/// Per-user order: only the head of each user's queue is eligible; a failing head blocks its
/// own user only.
#[tokio::test]
async fn outbox_delivers_in_order_per_user_and_a_failing_head_blocks_only_its_user() {
    let (_dir, store) = open().await;
    let all = WebhookId::new("all");
    let created_only = WebhookId::new("created");
    store
        .set_webhooks(&[
            WebhookTarget::all("all"),
            WebhookTarget {
                id: created_only.clone(),
                events: Some(vec![EventType::EventCreated]),
                skip_origin: Some("app".into()),
            },
        ])
        .await
        .unwrap();

    let mut from_app = note(EventType::EventCreated, "u1", 4);
    from_app.origin = Some("app".into());
    let appended = store
        .append_outbox(&[
            note(EventType::EventCreated, "u1", 1),    // seq 1
            note(EventType::EventUpdated, "u1", 2),    // seq 2
            note(EventType::EventCreated, "u2", 1),    // seq 3
            note(EventType::EventDeleted, "u1", 3),    // seq 4
            note(EventType::PresenceChanged, "u2", 2), // seq 5
            from_app,                                  // seq 6
        ])
        .await
        .unwrap();
    assert_eq!(appended.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);

    let seqs = |p: Vec<PendingDelivery>| p.into_iter().map(|d| d.entry.seq).collect::<Vec<_>>();
    let now = Timestamp::now();
    assert_eq!(seqs(store.pending_for_delivery(&all, now, 100).await.unwrap()), [1, 3]);
    assert_eq!(seqs(store.pending_for_delivery(&created_only, now, 100).await.unwrap()), [1, 3]);
    assert_eq!(seqs(store.pending_for_delivery(&all, now, 1).await.unwrap()), [1]);

    // u1's head fails: u1 is blocked until the retry time, u2 goes on.
    let retry_at = now + SignedDuration::from_mins(5);
    assert!(store.mark_failed(&all, 1, retry_at, "HTTP 503").await.unwrap());
    assert_eq!(seqs(store.pending_for_delivery(&all, now, 100).await.unwrap()), [3]);
    assert!(store.mark_delivered(&all, 3, now).await.unwrap());
    assert_eq!(seqs(store.pending_for_delivery(&all, now, 100).await.unwrap()), [5]);
    assert!(store.mark_delivered(&all, 5, now).await.unwrap());
    assert!(store.pending_for_delivery(&all, now, 100).await.unwrap().is_empty(), "u1 still waits for its retry");

    // At the retry time the same head comes back, with its history.
    let due = store.pending_for_delivery(&all, retry_at, 100).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].entry.seq, 1);
    assert_eq!(due[0].entry.data, json!({"n": 1}));
    assert_eq!(due[0].delivery.attempts, 1);
    assert_eq!(due[0].delivery.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(due[0].delivery.next_attempt_at.as_millisecond(), retry_at.as_millisecond());
    assert!(store.mark_failed(&all, 1, retry_at, "timeout").await.unwrap());
    assert!(store.mark_delivered(&all, 1, retry_at).await.unwrap());
    assert!(!store.mark_delivered(&all, 1, retry_at).await.unwrap(), "delivering twice changes nothing");
    assert!(!store.mark_failed(&all, 1, retry_at, "late").await.unwrap(), "a delivered entry cannot fail");
    assert_eq!(seqs(store.pending_for_delivery(&all, retry_at, 100).await.unwrap()), [2]);
    store.mark_delivered(&all, 2, retry_at).await.unwrap();
    assert_eq!(seqs(store.pending_for_delivery(&all, retry_at, 100).await.unwrap()), [4]);
    store.mark_delivered(&all, 4, retry_at).await.unwrap();
    assert_eq!(seqs(store.pending_for_delivery(&all, retry_at, 100).await.unwrap()), [6]);

    let states = store.delivery_states(1).await.unwrap();
    assert_eq!(states.len(), 2);
    let state_all = states.iter().find(|s| s.webhook_id == all).unwrap();
    assert_eq!(state_all.attempts, 3);
    assert_eq!(state_all.delivered_at.map(|t| t.as_millisecond()), Some(retry_at.as_millisecond()));
    // The filtered webhook got only event.created entries, and not the app's own change.
    assert!(store.delivery_states(2).await.unwrap().iter().all(|s| s.webhook_id == all));
    assert_eq!(store.delivery_states(6).await.unwrap().len(), 1);

    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(stats.last_seq, 6);
    assert_eq!(stats.first_seq, Some(1));
    assert_eq!(stats.entries, 6);
    assert_eq!(stats.undelivered, vec![(all.clone(), 1), (created_only.clone(), 2)]);

    // Unknown deliveries are reported as no change.
    assert!(!store.mark_delivered(&WebhookId::new("nope"), 1, now).await.unwrap());
    assert!(!store.mark_failed(&all, 99, now, "x").await.unwrap());
}

#[tokio::test]
async fn entries_after_resumes_and_the_watch_follows_commits() {
    let (_dir, store) = open().await;
    let mut watch = store.outbox_watch();
    assert_eq!(*watch.borrow(), 0);

    let events: Vec<_> =
        (1..=10).map(|n| note(EventType::PresenceChanged, if n % 2 == 0 { "a" } else { "b" }, n)).collect();
    let appended = store.append_outbox(&events).await.unwrap();
    assert!(watch.has_changed().unwrap());
    assert_eq!(*watch.borrow_and_update(), 10);

    let first = store.entries_after(0, 4).await.unwrap();
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(first, appended[..4]);
    let rest = store.entries_after(first.last().unwrap().seq, 100).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 6, 7, 8, 9, 10]);
    assert!(store.entries_after(10, 100).await.unwrap().is_empty());

    // SSE Last-Event-ID carries the entry id: it maps back to its seq.
    let by_id = store.outbox_entry(&appended[6].id).await.unwrap().unwrap();
    assert_eq!(by_id, appended[6]);
    assert!(store.outbox_entry("not-an-id").await.unwrap().is_none());
    let ids: std::collections::BTreeSet<_> = appended.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 10);
    assert!(appended.iter().all(|e| uuid_v7(&e.id)));

    let payload = appended[0].payload();
    assert_eq!(payload["type"], "presence.changed");
    assert_eq!(payload["id"], appended[0].id.as_str());

    // A waiter wakes when another task commits.
    let waiter = {
        let mut watch = store.outbox_watch();
        tokio::spawn(async move {
            watch.changed().await.unwrap();
            *watch.borrow()
        })
    };
    store.append_outbox(&[note(EventType::PresenceChanged, "a", 11)]).await.unwrap();
    assert_eq!(waiter.await.unwrap(), 11);
    assert!(store.append_outbox(&[]).await.unwrap().is_empty());
}

fn uuid_v7(id: &str) -> bool {
    id.len() == 36 && id.as_bytes()[14] == b'7'
}

#[tokio::test]
async fn pruning_keeps_undelivered_entries() {
    let (_dir, store) = open().await;
    let hook = WebhookId::new("hook");
    store.set_webhooks(&[WebhookTarget::all("hook")]).await.unwrap();
    let events: Vec<_> = (1..=6).map(|n| note(EventType::EventCreated, if n <= 3 { "a" } else { "b" }, n)).collect();
    store.append_outbox(&events).await.unwrap();
    let now = Timestamp::now();
    for seq in [1, 2, 4] {
        store.mark_delivered(&hook, seq, now).await.unwrap();
    }

    assert_eq!(store.prune_outbox(now - SignedDuration::from_hours(1)).await.unwrap(), 0, "nothing is old enough");
    assert_eq!(store.prune_outbox(later(1)).await.unwrap(), 3);
    let left = store.entries_after(0, 100).await.unwrap();
    assert_eq!(left.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 5, 6]);
    assert_eq!(count(&store, "outbox_deliveries").await, 3);
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.first_seq, stats.last_seq, stats.entries), (Some(3), 6, 3));

    // Removing the webhook drops its deliveries; then everything old can go, and seqs are never
    // reused.
    store.set_webhooks(&[]).await.unwrap();
    assert_eq!(count(&store, "outbox_deliveries").await, 0);
    assert_eq!(store.prune_outbox(later(1)).await.unwrap(), 3);
    let next = store.append_outbox(&[note(EventType::EventCreated, "a", 7)]).await.unwrap();
    assert_eq!(next[0].seq, 7);
    assert_eq!(count(&store, "outbox_deliveries").await, 0, "no webhook, no delivery rows");
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.first_seq, stats.last_seq, stats.entries), (Some(7), 7, 1));
    assert!(stats.undelivered.is_empty());

    assert!(matches!(
        store.set_webhooks(&[WebhookTarget::all("x"), WebhookTarget::all("x")]).await,
        Err(StoreError::Invalid(_))
    ));
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exbridge.db");
    let event = single("s1", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", "h1");
    let (appended, hook) = {
        let store = SqliteStore::open(&path).await.unwrap();
        store.replace_directory(&[user("a"), user("b")], ReplaceGuard::default()).await.unwrap();
        store.set_mailbox_state(&uid("a"), &mailbox("a")).await.unwrap();
        store.put_subscription(&subscription("a", "sub-a")).await.unwrap();
        store.set_webhooks(&[WebhookTarget::all("hook")]).await.unwrap();
        let appended = store
            .apply_mirror_changes(
                &uid("a"),
                &[MirrorChange::Upsert(event.clone())],
                Some(&sync_state("a", FolderKind::Calendar, "s1")),
                &[note(EventType::EventCreated, "a", 1), note(EventType::EventCreated, "a", 2)],
            )
            .await
            .unwrap();
        store.mark_failed(&WebhookId::new("hook"), 1, later(-1), "refused").await.unwrap();
        store.idempotency_reserve(&uid("a"), "k1", "hash").await.unwrap();
        store
            .idempotency_complete(&uid("a"), "k1", &StoredResponse { status: 201, body: json!({"id": "x"}) })
            .await
            .unwrap();
        store.close().await;
        (appended, WebhookId::new("hook"))
    };

    let store = SqliteStore::open(&path).await.unwrap();
    let users = store.list_users().await.unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].mailbox, mailbox("a"));
    assert_eq!(store.subscription(&uid("a")).await.unwrap(), Some(subscription("a", "sub-a")));
    assert_eq!(store.get_event(&uid("a"), &event.key).await.unwrap(), Some(event));
    assert_eq!(store.sync_state(&uid("a"), FolderKind::Calendar).await.unwrap().unwrap().sync_state.as_str(), "s1");
    assert_eq!(store.entries_after(0, 10).await.unwrap(), appended);
    let pending = store.pending_for_delivery(&hook, Timestamp::now(), 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].entry.seq, pending[0].delivery.attempts), (1, 1));
    assert_eq!(store.idempotency_get(&uid("a"), "k1").await.unwrap().unwrap().response.unwrap().status, 201);
    assert_eq!(*store.outbox_watch().borrow(), 2, "the watch starts at the stored seq");
    let next = store.append_outbox(&[note(EventType::EventCreated, "b", 3)]).await.unwrap();
    assert_eq!(next[0].seq, 3, "seqs continue after a reopen");
    store.close().await;
}

/// Several tasks write at once (mirror changes with outbox entries, and plain appends): every
/// write lands, seqs are gap-free and unique, and each user's entries keep their order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_keep_seq_gap_free_and_per_user_order() {
    let (_dir, store) = open().await;
    let store = Arc::new(store);
    const TASKS: usize = 8;
    const ROUNDS: i64 = 40;
    let users: Vec<_> = (0..TASKS).map(|i| user(&format!("u{i}"))).collect();
    store.replace_directory(&users, ReplaceGuard::default()).await.unwrap();
    store.set_webhooks(&[WebhookTarget::all("hook")]).await.unwrap();

    let mut handles = Vec::new();
    for i in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let name = format!("u{i}");
            let id = uid(&name);
            for n in 0..ROUNDS {
                if i % 2 == 0 {
                    let event = single(&format!("{name}-e{n}"), "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", "h");
                    store
                        .apply_mirror_changes(
                            &id,
                            &[MirrorChange::Upsert(event)],
                            Some(&sync_state(&name, FolderKind::Calendar, &format!("s{n}"))),
                            &[
                                note(EventType::EventCreated, &name, 2 * n),
                                note(EventType::EventUpdated, &name, 2 * n + 1),
                            ],
                        )
                        .await
                        .unwrap();
                } else {
                    store
                        .append_outbox(&[
                            note(EventType::PresenceChanged, &name, 2 * n),
                            note(EventType::PresenceChanged, &name, 2 * n + 1),
                        ])
                        .await
                        .unwrap();
                }
                // Readers run beside the writers.
                store.entries_after(0, 5).await.unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }

    let total = TASKS as i64 * ROUNDS * 2;
    let entries = store.entries_after(0, u32::MAX).await.unwrap();
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=total).collect::<Vec<_>>());
    let mut per_user: BTreeMap<UserId, Vec<i64>> = BTreeMap::new();
    for entry in &entries {
        per_user.entry(entry.user_id.clone()).or_default().push(entry.data["n"].as_i64().unwrap());
    }
    assert_eq!(per_user.len(), TASKS);
    for (user, ns) in per_user {
        assert_eq!(ns, (0..ROUNDS * 2).collect::<Vec<_>>(), "order of {user}");
    }
    assert_eq!(count(&store, "mirror_events").await, (TASKS as i64 / 2) * ROUNDS);
    assert_eq!(count(&store, "outbox_deliveries").await, total);
    assert_eq!(
        store.sync_state(&uid("u0"), FolderKind::Calendar).await.unwrap().unwrap().sync_state.as_str(),
        format!("s{}", ROUNDS - 1)
    );
    assert_eq!(*store.outbox_watch().borrow(), total);
}

#[tokio::test]
async fn idempotency_keys_reserve_complete_release_prune() {
    let (_dir, store) = open().await;
    let a = uid("a");
    assert!(store.idempotency_get(&a, "k1").await.unwrap().is_none());
    assert_eq!(store.idempotency_reserve(&a, "k1", "hash-1").await.unwrap(), Reservation::Reserved);

    // While in flight, a retry sees the reservation without a response.
    match store.idempotency_reserve(&a, "k1", "hash-1").await.unwrap() {
        Reservation::Existing(record) => {
            assert_eq!(record.request_hash, "hash-1");
            assert!(record.response.is_none() && record.completed_at.is_none());
        }
        other => panic!("expected the existing reservation, got {other:?}"),
    }
    // Keys are per user.
    assert_eq!(store.idempotency_reserve(&uid("b"), "k1", "hash-9").await.unwrap(), Reservation::Reserved);

    let response = StoredResponse { status: 201, body: json!({"id": "evt-1", "subject": "Planning"}) };
    assert!(store.idempotency_complete(&a, "k1", &response).await.unwrap());
    assert!(!store.idempotency_complete(&a, "k1", &response).await.unwrap(), "completed once");
    let record = store.idempotency_get(&a, "k1").await.unwrap().unwrap();
    assert_eq!(record.response, Some(response.clone()));
    assert!(record.completed_at.is_some());
    match store.idempotency_reserve(&a, "k1", "hash-2").await.unwrap() {
        Reservation::Existing(record) => {
            assert_eq!(record.request_hash, "hash-1", "a different body with the same key is visible as a mismatch");
            assert_eq!(record.response, Some(response));
        }
        other => panic!("expected the stored response, got {other:?}"),
    }
    assert!(!store.idempotency_release(&a, "k1").await.unwrap(), "a completed key is not released");

    // A failed request releases its key; a retry can take it again.
    assert_eq!(store.idempotency_reserve(&a, "k2", "h").await.unwrap(), Reservation::Reserved);
    assert!(store.idempotency_release(&a, "k2").await.unwrap());
    assert_eq!(store.idempotency_reserve(&a, "k2", "h").await.unwrap(), Reservation::Reserved);
    assert!(
        !store.idempotency_complete(&a, "missing", &StoredResponse { status: 200, body: json!(null) }).await.unwrap()
    );

    assert_eq!(store.prune_idempotency(Timestamp::now() - SignedDuration::from_hours(1)).await.unwrap(), 0);
    assert_eq!(store.prune_idempotency(later(1)).await.unwrap(), 3);
    assert!(store.idempotency_get(&a, "k1").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_of_one_key_have_one_winner() {
    let (_dir, store) = open().await;
    let store = Arc::new(store);
    let mut handles = Vec::new();
    for _ in 0..10 {
        let store = store.clone();
        handles.push(tokio::spawn(async move { store.idempotency_reserve(&uid("a"), "same", "h").await.unwrap() }));
    }
    let mut reserved = 0;
    for handle in handles {
        if handle.await.unwrap() == Reservation::Reserved {
            reserved += 1;
        }
    }
    assert_eq!(reserved, 1);
}

#[tokio::test]
async fn the_trait_is_object_safe() {
    let (_dir, store) = open().await;
    let store: Arc<dyn Store> = Arc::new(store);
    store.upsert_user(&user("a")).await.unwrap();
    assert_eq!(store.list_users().await.unwrap().len(), 1);
    assert!(store.health().await.unwrap().latency.as_secs() < 5);
}

/// `cargo test -p exbridge-store --release -- --ignored --nocapture volume`
#[tokio::test]
#[ignore = "benchmark-like; run explicitly"]
async fn volume_100k_outbox_entries_and_500k_mirror_rows() {
    let (_dir, store) = open().await;
    store.set_webhooks(&[WebhookTarget::all("hook")]).await.unwrap();
    const USERS: usize = 1_000;
    let users: Vec<_> = (0..USERS).map(|i| user(&format!("u{i:04}"))).collect();
    store.replace_directory(&users, ReplaceGuard::default()).await.unwrap();

    let started = Instant::now();
    for batch in 0..100 {
        let events: Vec<_> = (0..1_000)
            .map(|n| note(EventType::EventUpdated, &format!("u{:04}", (batch * 1_000 + n) % USERS), n as i64))
            .collect();
        store.append_outbox(&events).await.unwrap();
    }
    let outbox_time = started.elapsed();

    // 500 rows per user: one apply_mirror_changes of 500 upserts (with a sync state) each.
    let started = Instant::now();
    let base = t("2026-03-01T00:00:00Z");
    for (i, user) in users.iter().enumerate() {
        let changes: Vec<_> = (0..500)
            .map(|n| {
                let start = base + SignedDuration::from_hours(n);
                let mut e =
                    occurrence(&format!("series-{i}-{}", n / 50), "2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z");
                e.key.instance = InstanceKey::occurrence(start);
                e.start = Some(start);
                e.end = Some(start + SignedDuration::from_mins(30));
                MirrorChange::Upsert(e)
            })
            .collect();
        let name = user.id.as_str();
        store
            .apply_mirror_changes(&user.id, &changes, Some(&sync_state(name, FolderKind::Calendar, "s")), &[])
            .await
            .unwrap();
    }
    let mirror_time = started.elapsed();

    let started = Instant::now();
    let window = store
        .events_in_window(&uid("u0500"), FolderKind::Calendar, base, base + SignedDuration::from_hours(7 * 24))
        .await
        .unwrap();
    let query_time = started.elapsed();
    assert_eq!(window.len(), 7 * 24);

    let started = Instant::now();
    let pending = store.pending_for_delivery(&WebhookId::new("hook"), Timestamp::now(), 100).await.unwrap();
    let pending_time = started.elapsed();
    assert_eq!(pending.len(), 100);
    let started = Instant::now();
    let resumed = store.entries_after(50_000, 1_000).await.unwrap();
    let resume_time = started.elapsed();
    assert_eq!(resumed.len(), 1_000);

    assert_eq!(count(&store, "outbox").await, 100_000);
    assert_eq!(count(&store, "mirror_events").await, 500_000);
    println!(
        "volume: 100,000 outbox entries (1 webhook) in {outbox_time:.2?} ({:.0}/s); 500,000 mirror rows in \
         {mirror_time:.2?} ({:.0}/s); week window query {query_time:.2?}; pending_for_delivery over \
         100,000 undelivered {pending_time:.2?}; entries_after {resume_time:.2?}",
        100_000.0 / outbox_time.as_secs_f64(),
        500_000.0 / mirror_time.as_secs_f64(),
    );
}

#[tokio::test]
async fn presence_state_is_written_with_its_outbox_entry_and_survives_a_reopen() {
    let (_dir, store) = open().await;
    let u1 = uid("u1");
    // Unknown user: refused, nothing appended.
    let doc = serde_json::json!({"user_id": "u1", "busy": true});
    let event = NewOutboxEvent::new(EventType::PresenceChanged, u1.clone(), t("2026-01-01T10:00:00Z"), doc.clone());
    assert!(matches!(store.append_presence_change(&u1, &doc, &event).await, Err(StoreError::UnknownUser(_))));
    assert_eq!(count(&store, "outbox").await, 0);

    store.upsert_user(&user("u1")).await.unwrap();
    assert_eq!(store.presence_state(&u1).await.unwrap(), None);
    let entry = store.append_presence_change(&u1, &doc, &event).await.unwrap();
    assert_eq!(entry.event_type, EventType::PresenceChanged);
    assert_eq!(entry.data, doc);
    assert_eq!(*store.outbox_watch().borrow(), entry.seq);
    assert_eq!(store.presence_state(&u1).await.unwrap(), Some(doc.clone()));

    let free = serde_json::json!({"user_id": "u1", "busy": false});
    let event = NewOutboxEvent::new(EventType::PresenceChanged, u1.clone(), t("2026-01-01T11:00:00Z"), free.clone());
    let second = store.append_presence_change(&u1, &free, &event).await.unwrap();
    assert_eq!(second.seq, entry.seq + 1);

    let path = store.path().to_owned();
    store.close().await;
    let again = SqliteStore::open(&path).await.unwrap();
    assert_eq!(again.presence_state(&u1).await.unwrap(), Some(free));
    // Removing the user removes its presence.
    again.delete_user(&u1).await.unwrap();
    assert_eq!(again.presence_state(&u1).await.unwrap(), None);
    again.close().await;
}
