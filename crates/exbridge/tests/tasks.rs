//! Exchange tasks end to end: `exbridge sim` + `exbridge serve` as processes, a webhook
//! receiver. A user with `sync_tasks` sees the sim's tasks, writes them through the API (the
//! echoes are not delivered), hears about changes made in Exchange; a user without it gets 422
//! and no `task.*` webhooks.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use support::*;

const WAIT: Duration = Duration::from_secs(60);
const U1: &str = "user1@contoso.test";
const U2: &str = "user2@contoso.test";

/// (subject, status) of the sim's tasks of `smtp`, statuses as the API spells them.
async fn sim_tasks(sim: &SimProc, smtp: &str) -> BTreeSet<(String, String)> {
    let (status, body) = sim.api.raw(Method::GET, &format!("/sim/mailboxes/{smtp}/tasks"), None).await;
    assert!(status.is_success(), "sim tasks: {status} {body}");
    let snake = |s: &str| match s {
        "NotStarted" => "not_started",
        "InProgress" => "in_progress",
        "Completed" => "completed",
        "WaitingOnOthers" => "waiting_on_others",
        _ => "deferred",
    };
    body.as_array()
        .unwrap()
        .iter()
        .map(|t| (t["subject"].as_str().unwrap().to_owned(), snake(t["status"].as_str().unwrap()).to_owned()))
        .collect()
}

fn api_tasks(body: &Value) -> BTreeSet<(String, String)> {
    body.as_array()
        .unwrap_or_else(|| panic!("not an array: {body}"))
        .iter()
        .map(|t| (t["subject"].as_str().unwrap().to_owned(), t["status"].as_str().unwrap().to_owned()))
        .collect()
}

async fn sim_task_by_subject(sim: &SimProc, smtp: &str, subject: &str) -> Vec<Value> {
    let (_, body) = sim.api.raw(Method::GET, &format!("/sim/mailboxes/{smtp}/tasks"), None).await;
    body.as_array().unwrap().iter().filter(|t| t["subject"] == subject).cloned().collect()
}

#[tokio::test]
async fn tasks_are_mirrored_written_through_and_announced() {
    let _serial = serial().await;
    let env = Env::new();
    let sim = SimProc::start(&env, 3, 5, 11).await;
    let receiver = Receiver::start(WEBHOOK_SECRET).await;
    let config = ConnectorConfig::new(&env, &sim.ews_url, Some(&receiver.url));
    let mut connector = Connector::start(&env, config).await;
    let api = connector.api.clone();
    api.put_users(json!([
        {"id": "u1", "login_email": U1, "settings": {"sync_tasks": true}},
        {"id": "u2", "login_email": U2},
    ]))
    .await;
    api.wait_synced(&["u1", "u2"], WAIT).await;
    // Streaming watches the tasks folders when a user synchronises tasks at start.
    connector.stop().await;
    connector.restart(&env).await;
    api.wait_synced(&["u1", "u2"], WAIT).await;

    // GET equals the sim.
    let (status, body) = api.request(Method::GET, "/api/v1/users/u1/tasks", None, &[]).await;
    assert_eq!(status, 200, "{body}");
    let sim_before = sim_tasks(&sim, U1).await;
    assert_eq!(api_tasks(&body), sim_before);
    assert_eq!(sim_before.len(), 3, "{sim_before:?}");
    println!("GET tasks of u1 = the sim's {} tasks", sim_before.len());
    let (status, filtered) = api.request(Method::GET, "/api/v1/users/u1/tasks?status=not_started", None, &[]).await;
    assert_eq!(status, 200);
    assert!(filtered.as_array().unwrap().iter().all(|t| t["status"] == "not_started"), "{filtered}");

    let mark = receiver.mark();
    // POST (idempotent), PATCH (If-Match), DELETE.
    let new_task = json!({"subject": "App task", "due_date": "2026-06-01", "importance": "high"});
    let key = [("Idempotency-Key", "create-1")];
    let (status, created) = api.request(Method::POST, "/api/v1/users/u1/tasks", Some(new_task.clone()), &key).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!((created["subject"].as_str(), created["importance"].as_str()), (Some("App task"), Some("high")));
    assert_eq!(created["due_date"], "2026-06-01T00:00:00Z");
    let (status, replay) = api.request(Method::POST, "/api/v1/users/u1/tasks", Some(new_task), &key).await;
    assert_eq!((status.as_u16(), &replay), (201, &created), "the replay differs");
    let in_sim = sim_task_by_subject(&sim, U1, "App task").await;
    assert_eq!(in_sim.len(), 1, "{in_sim:?}");
    assert_eq!(in_sim[0]["importance"], "High");
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/u1/tasks/{id}");
    let (status, got) = api.request(Method::GET, &path, None, &[]).await;
    assert_eq!((status.as_u16(), &got), (200, &created));

    let ck = created["change_key"].as_str().unwrap().to_owned();
    let patch = json!({"status": "in_progress", "percent_complete": 40});
    let (status, updated) = api.request(Method::PATCH, &path, Some(patch.clone()), &[("If-Match", &ck)]).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!((updated["status"].as_str(), updated["percent_complete"].as_u64()), (Some("in_progress"), Some(40)));
    let in_sim = sim_task_by_subject(&sim, U1, "App task").await;
    assert_eq!(
        (in_sim[0]["status"].as_str(), in_sim[0]["percent_complete"].as_f64()),
        (Some("InProgress"), Some(40.0))
    );
    let (status, conflict) = api.request(Method::PATCH, &path, Some(patch), &[("If-Match", &ck)]).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], "conflict");
    assert_eq!(conflict["current"]["change_key"], updated["change_key"]);
    let (status, bad) = api
        .request(Method::POST, "/api/v1/users/u1/tasks", Some(json!({"subject": "x", "percent_complete": 200})), &[])
        .await;
    assert_eq!(status, 400);
    assert!(bad["error"]["message"].as_str().unwrap().contains("percent_complete"), "{bad}");

    let (status, _) = api.request(Method::DELETE, &path, None, &[]).await;
    assert_eq!(status, 204);
    assert!(sim_task_by_subject(&sim, U1, "App task").await.is_empty());
    let (status, _) = api.request(Method::GET, &path, None, &[]).await;
    assert_eq!(status, 404);
    assert_eq!(sim_tasks(&sim, U1).await, sim_before);

    // A change in Exchange: one task.updated.
    let (_, listed) = sim.api.raw(Method::GET, &format!("/sim/mailboxes/{U1}/tasks"), None).await;
    let seeded = listed[0]["item_id"].as_str().unwrap().to_owned();
    let (status, _) = sim
        .api
        .raw(
            Method::PATCH,
            &format!("/sim/mailboxes/{U1}/tasks/{seeded}"),
            Some(json!({"subject": "Changed in Outlook"})),
        )
        .await;
    assert!(status.is_success());
    let d = receiver
        .wait_for(mark, WAIT, "task.updated from Outlook", |d| {
            d.event_type == "task.updated" && d.data["subject"] == "Changed in Outlook"
        })
        .await;
    assert_eq!(d.user_id, "u1");
    // Delivered in order per user: the app's own writes before it were skipped as echoes.
    let task_events: Vec<(String, String)> = receiver
        .since(mark)
        .iter()
        .filter(|d| d.event_type.starts_with("task."))
        .map(|d| (d.event_type.clone(), d.data["subject"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(task_events, vec![("task.updated".to_owned(), "Changed in Outlook".to_owned())]);
    println!("webhooks since the writes: {task_events:?}");

    // u2 without sync_tasks: 422 everywhere, no task.* webhooks.
    for (method, path, body) in [
        (Method::GET, "/api/v1/users/u2/tasks", None),
        (Method::POST, "/api/v1/users/u2/tasks", Some(json!({"subject": "x"}))),
        (Method::GET, "/api/v1/users/u2/tasks/tAAAAAAAAAAAAAAAAAAAAAA", None),
        (Method::DELETE, "/api/v1/users/u2/tasks/tAAAAAAAAAAAAAAAAAAAAAA", None),
    ] {
        let (status, body) = api.request(method.clone(), path, body, &[]).await;
        assert_eq!(status, 422, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "not_allowed_by_settings");
    }
    let mark2 = receiver.mark();
    let (_, listed) = sim.api.raw(Method::GET, &format!("/sim/mailboxes/{U2}/tasks"), None).await;
    let u2_task = listed[0]["item_id"].as_str().unwrap().to_owned();
    sim.api
        .raw(Method::PATCH, &format!("/sim/mailboxes/{U2}/tasks/{u2_task}"), Some(json!({"subject": "u2 edit"})))
        .await;
    // A calendar change after it: once its webhook is in, a task.* of u2 would have been too.
    sim.api
        .create_item(
            U2,
            json!({"subject": "After the task edit", "start": rfc3339_in(Duration::from_secs(3600)),
            "end": rfc3339_in(Duration::from_secs(7200))}),
        )
        .await;
    receiver
        .wait_for(mark2, WAIT, "u2 event.created", |d| d.user_id == "u2" && d.data["subject"] == "After the task edit")
        .await;
    let u2_tasks: Vec<String> =
        receiver.since(mark2).iter().filter(|d| d.event_type.starts_with("task.")).map(|d| d.id.clone()).collect();
    assert!(u2_tasks.is_empty(), "task webhooks without sync_tasks: {u2_tasks:?}");

    // Turning sync_tasks on later starts mirroring (silently); off stops.
    let (status, body) = api
        .request(
            Method::POST,
            "/api/v1/users",
            Some(json!({"id": "u2", "login_email": U2, "settings": {"sync_tasks": true}})),
            &[],
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, body) = api.request(Method::GET, "/api/v1/users/u2/tasks", None, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api_tasks(&body), sim_tasks(&sim, U2).await);
    api.request(Method::POST, "/api/v1/users", Some(json!({"id": "u2", "login_email": U2})), &[]).await;
    let (status, _) = api.request(Method::GET, "/api/v1/users/u2/tasks", None, &[]).await;
    assert_eq!(status, 422);
    receiver.assert_all_valid();
    connector.stop().await;
}
