//! The tasks folder against the simulator: the initial sync mirrors exactly the sim's tasks,
//! silently; one `task.*` per change; a corrupt sync state is a silent resync; echoes of the
//! application's own writes are tagged; turning tasks off forgets the rows.

mod support;

use std::collections::BTreeMap;

use exbridge_engine::EngineSettings;
use exbridge_engine::sync::{SyncMode, SyncReport};
use exbridge_engine::task::{TaskInput, task_id};
use exbridge_engine::task_sync::{self, API_ORIGIN, Echoes, WriteOutcome};
use exbridge_sim::json_tasks;
use exbridge_store::{EventType, FolderKind, FolderSyncState, SyncState};
use jiff::Timestamp;
use serde_json::json;
use support::{Env, LIMIT};

async fn sync(env: &Env, echoes: &Echoes) -> SyncReport {
    task_sync::sync_tasks(
        &env.ctx,
        &env.server(),
        &env.user,
        &env.mailbox,
        SyncMode::Incremental,
        Timestamp::now(),
        echoes,
    )
    .await
    .expect("tasks sync")
}

fn events(report: &SyncReport) -> Vec<(EventType, String, Option<String>)> {
    report
        .entries
        .iter()
        .map(|e| (e.event_type, e.data["id"].as_str().unwrap_or_default().to_owned(), e.origin.clone()))
        .collect()
}

/// (id → subject, status) of the sim's tasks, ids derived as the engine derives them.
fn sim_tasks(env: &Env) -> BTreeMap<String, (String, String)> {
    json_tasks::list_tasks(env.sim.store(), env.mailbox.as_str())
        .unwrap()
        .into_iter()
        .map(|t| (task_id(&t.item_id), (t.subject, t.status.to_owned())))
        .collect()
}

async fn mirror(env: &Env) -> BTreeMap<String, (String, String)> {
    let status_of = |s: &str| match s {
        "not_started" => "NotStarted",
        "in_progress" => "InProgress",
        "completed" => "Completed",
        "waiting_on_others" => "WaitingOnOthers",
        _ => "Deferred",
    };
    env.ctx
        .store
        .list_mirror(&env.user, FolderKind::Tasks)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let e = &r.event;
            (
                e["id"].as_str().unwrap().to_owned(),
                (e["subject"].as_str().unwrap().to_owned(), status_of(e["status"].as_str().unwrap()).to_owned()),
            )
        })
        .collect()
}

#[tokio::test]
async fn tasks_folder_sync_mirrors_the_sim_and_announces_each_change_once() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(1, 5, EngineSettings::default()).await;
        let echoes = Echoes::default();
        let smtp = env.mailbox.as_str().to_owned();
        let store = env.sim.store();

        // Initial: exactly the sim's tasks, silently.
        let first = sync(&env, &echoes).await;
        assert!(first.initial && first.entries.is_empty(), "{:?}", events(&first));
        assert_eq!(first.created, 3);
        assert_eq!(mirror(&env).await, sim_tasks(&env));
        println!("initial tasks sync: {} tasks, {} requests", first.created, first.requests);

        // Nothing changed: nothing announced.
        assert!(sync(&env, &echoes).await.entries.is_empty());

        // Create, update, delete in the sim: exactly one task.* each.
        let created =
            json_tasks::create_task(store, &smtp, &json!({"subject": "Call Bob", "due_date": "2026-05-01"})).unwrap();
        let id = task_id(&created.item_id);
        assert_eq!(events(&sync(&env, &echoes).await), vec![(EventType::TaskCreated, id.clone(), None)]);
        json_tasks::patch_task(
            store,
            &smtp,
            &created.item_id,
            &json!({"status": "InProgress", "percent_complete": 30}),
        )
        .unwrap();
        let updated = sync(&env, &echoes).await;
        assert_eq!(events(&updated), vec![(EventType::TaskUpdated, id.clone(), None)]);
        assert_eq!(updated.entries[0].data["status"], "in_progress");
        assert_eq!(updated.entries[0].data["percent_complete"], 30);
        exbridge_sim::json::apply_delete(store, &smtp, &created.item_id).unwrap();
        assert_eq!(events(&sync(&env, &echoes).await), vec![(EventType::TaskDeleted, id.clone(), None)]);
        assert_eq!(mirror(&env).await, sim_tasks(&env));

        // A corrupt sync state: a silent full resync.
        let corrupt = FolderSyncState {
            user_id: env.user.clone(),
            folder: FolderKind::Tasks,
            sync_state: SyncState::new("bm90IGEgc3luYyBzdGF0ZQ=="),
            updated_at: Timestamp::now(),
        };
        env.ctx.store.set_sync_state(&corrupt).await.unwrap();
        let resync = sync(&env, &echoes).await;
        assert!(resync.resynced, "the corrupt state was not noticed");
        assert!(resync.entries.is_empty(), "{:?}", events(&resync));
        assert_eq!(mirror(&env).await, sim_tasks(&env));
        println!("corrupt sync state: resynced silently with {} requests", resync.requests);
    })
    .await
    .expect("time limit");
}

#[tokio::test]
async fn own_writes_are_tagged_as_echoes_and_turning_off_forgets() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(1, 5, EngineSettings::default()).await;
        let echoes = Echoes::default();
        let server = env.server();
        sync(&env, &echoes).await;

        // Create through EWS as the API does, expecting the echo.
        let input = TaskInput::from_json(&json!({"subject": "From the app", "importance": "high"}), true).unwrap();
        let created = task_sync::create_task(&server, &env.mailbox, &input).await.unwrap();
        let ck = created.change_key.as_ref().map(|c| c.to_string());
        echoes.expect(&env.user, created.id.as_str(), ck.as_deref());
        let id = task_id(created.id.as_str());
        let report = sync(&env, &echoes).await;
        assert_eq!(events(&report), vec![(EventType::TaskCreated, id.clone(), Some(API_ORIGIN.to_owned()))]);
        assert_eq!(report.entries[0].data["importance"], "high");

        // The current change key updates; the old one is then stale: a conflict.
        let patch = TaskInput::from_json(&json!({"status": "completed", "subject": "Done by the app"}), false).unwrap();
        let done = task_sync::update_task(&server, &env.mailbox, created.id.as_str(), ck.as_deref(), &patch).await;
        let Ok(WriteOutcome::Done(after)) = done else { panic!("{done:?}") };
        assert_ne!(after.change_key.as_ref().map(|c| c.to_string()), ck);
        echoes.expect(&env.user, after.id.as_str(), after.change_key.as_ref().map(|c| c.to_string()).as_deref());
        let stale = task_sync::update_task(&server, &env.mailbox, created.id.as_str(), ck.as_deref(), &patch).await;
        assert!(matches!(stale, Ok(WriteOutcome::Conflict)), "{stale:?}");
        let report = sync(&env, &echoes).await;
        assert_eq!(events(&report), vec![(EventType::TaskUpdated, id.clone(), Some(API_ORIGIN.to_owned()))]);
        let after = task_sync::update_task(&server, &env.mailbox, created.id.as_str(), None, &patch).await.unwrap();
        let WriteOutcome::Done(after) = after else { panic!("{after:?}") };
        assert!(after.change_key.is_some());
        // Someone else changes it in Exchange before the sync: announced, not an echo.
        json_tasks::patch_task(
            env.sim.store(),
            env.mailbox.as_str(),
            created.id.as_str(),
            &json!({"subject": "Edited"}),
        )
        .unwrap();
        let report = sync(&env, &echoes).await;
        assert_eq!(events(&report), vec![(EventType::TaskUpdated, id.clone(), None)]);
        assert_eq!(report.entries[0].data["status"], "completed");

        // Delete: the echo is tagged.
        let gone = task_sync::delete_task(&server, &env.mailbox, created.id.as_str()).await.unwrap();
        assert!(matches!(gone, WriteOutcome::Done(_)));
        echoes.expect(&env.user, created.id.as_str(), None);
        let report = sync(&env, &echoes).await;
        assert_eq!(events(&report), vec![(EventType::TaskDeleted, id, Some(API_ORIGIN.to_owned()))]);

        // Off: every row forgotten, no events, the next sync is a silent first sync again.
        let forgotten = task_sync::forget_tasks(&env.ctx, &env.user, &echoes).await.unwrap();
        assert!(forgotten >= 3, "{forgotten}");
        assert!(env.ctx.store.list_mirror(&env.user, FolderKind::Tasks).await.unwrap().is_empty());
        assert!(env.ctx.store.sync_state(&env.user, FolderKind::Tasks).await.unwrap().is_none());
        let again = sync(&env, &echoes).await;
        assert!(again.initial && again.entries.is_empty());
        assert_eq!(mirror(&env).await, sim_tasks(&env));
    })
    .await
    .expect("time limit");
}
