//! End-to-end tests of event writes through the REST API (`POST/PATCH/DELETE
//! /api/v1/users/{id}/events`): `exbridge sim` and `exbridge serve` as child processes, the
//! simulator's control API as the truth about Exchange, a webhook receiver (without
//! `include_echoes`) as the application.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use support::*;

const WAIT: Duration = Duration::from_secs(30);
/// How long to wait for an unwanted webhook before concluding it does not come.
const SETTLE: Duration = Duration::from_secs(3);

const U1: &str = "user1@contoso.test";
const U2: &str = "user2@contoso.test";

impl Stack {
    async fn start(mailboxes: u32, users: Value, ids: &[&str]) -> Stack {
        Stack::launch((mailboxes, 0, 7), None, users, ids).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> (u16, Value) {
        let (status, body) = self.connector.api.request(method, path, body.cloned(), headers).await;
        (status.as_u16(), body)
    }

    /// The simulator's items of `smtp` with this UID (a master and its exceptions).
    async fn sim_items(&self, smtp: &str, uid: &str) -> Vec<Value> {
        self.sim.api.items(smtp).await.into_iter().filter(|i| i["uid"] == uid).collect()
    }

    /// The API's events of `user` with this UID in the next 30 days.
    async fn api_events(&self, user: &str, uid: &str) -> Vec<Value> {
        let (start, end) = (rfc3339_in(Duration::ZERO), rfc3339_in(Duration::from_secs(30 * 86_400)));
        self.connector.api.events(user, &start, &end).await.into_iter().filter(|e| e["uid"] == uid).collect()
    }
}

fn at(days: u64, hour: u64) -> jiff::Timestamp {
    let now = jiff::Timestamp::now().as_second();
    let midnight = now - now.rem_euclid(86_400);
    jiff::Timestamp::from_second(midnight + (days as i64) * 86_400 + (hour as i64) * 3600).unwrap()
}

fn single(subject: &str, days: u64, hour: u64) -> Value {
    json!({"subject": subject, "start": at(days, hour).to_string(), "end": at(days, hour + 1).to_string()})
}

fn same_instant(a: &Value, b: jiff::Timestamp) -> bool {
    a.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok()) == Some(b)
}

/// Singles, a daily series and one of its occurrences: created, moved and deleted through the
/// API, exactly so in the simulator; Idempotency-Key; a stale If-Match; echoes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn singles_series_and_occurrences_reach_exchange() {
    let s = Stack::start(2, json!([user_for("u1", U1), user_for("u2", U2)]), &["u1", "u2"]).await;
    let mark = s.receiver.mark();

    // A single, twice with the same Idempotency-Key: one item.
    let body = single("Dentist", 2, 9);
    let key = [("Idempotency-Key", "create-dentist-1")];
    let (status, created) = s.call(Method::POST, "/api/v1/users/u1/events", Some(&body), &key).await;
    assert_eq!(status, 201, "{created}");
    let (again_status, again) = s.call(Method::POST, "/api/v1/users/u1/events", Some(&body), &key).await;
    assert_eq!((again_status, &again["id"]), (201, &created["id"]), "{again}");
    let other = single("Not the dentist", 2, 9);
    let (reused, err) = s.call(Method::POST, "/api/v1/users/u1/events", Some(&other), &key).await;
    assert_eq!((reused, err["error"]["code"].as_str()), (422, Some("idempotency_key_reused")), "{err}");
    let uid = created["uid"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    let first_key = created["change_key"].as_str().expect("a change_key").to_string();
    let items = s.sim_items(U1, &uid).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["subject"], "Dentist");
    assert!(same_instant(&items[0]["start"], at(2, 9)));
    let dentists = s.sim.api.items(U1).await.into_iter().filter(|i| i["subject"] == "Dentist").count();
    assert_eq!(dentists, 1, "the repeated POST created a second item");

    // Moved.
    let patch = json!({"start": at(2, 11).to_string(), "end": at(2, 12).to_string()});
    let path = format!("/api/v1/users/u1/events/{id}");
    let (status, moved) = s.call(Method::PATCH, &path, Some(&patch), &[]).await;
    assert_eq!(status, 200, "{moved}");
    assert!(same_instant(&moved["start"], at(2, 11)), "{moved}");
    assert_ne!(moved["change_key"].as_str(), Some(first_key.as_str()));
    let items = s.sim_items(U1, &uid).await;
    assert!(same_instant(&items[0]["start"], at(2, 11)) && same_instant(&items[0]["end"], at(2, 12)), "{items:?}");

    // A stale If-Match: 409 with the current state, nothing written.
    let stale = json!({"subject": "Overwritten?"});
    let (status, conflict) = s.call(Method::PATCH, &path, Some(&stale), &[("If-Match", &first_key)]).await;
    assert_eq!((status, conflict["error"]["code"].as_str()), (409, Some("conflict")), "{conflict}");
    assert_eq!(conflict["current"]["id"], id.as_str());
    assert_eq!(conflict["current"]["change_key"], moved["change_key"]);
    assert_eq!(s.sim_items(U1, &uid).await[0]["subject"], "Dentist");

    // Echoes: the app's own create is not delivered to a webhook without include_echoes; a
    // change made in the simulator is; GET /events shows both.
    let sim_made = s
        .sim
        .api
        .create_item(
            U1,
            json!({"subject": "Made in Exchange", "start": at(3, 9).to_string(), "end": at(3, 10).to_string()}),
        )
        .await;
    let sim_uid = sim_made["uid"].as_str().unwrap().to_string();
    s.receiver
        .wait_for(mark, WAIT, "event.created of the simulator's item", |d| d.uid() == Some(sim_uid.as_str()))
        .await;
    tokio::time::sleep(SETTLE).await;
    let echoes: Vec<_> = s.receiver.since(mark).into_iter().filter(|d| d.uid() == Some(uid.as_str())).collect();
    assert!(echoes.is_empty(), "the app's own writes were delivered: {echoes:?}");
    assert_eq!(s.api_events("u1", &uid).await.len(), 1);
    assert_eq!(s.api_events("u1", &sim_uid).await.len(), 1);

    // Deleted.
    let (status, _) = s.call(Method::DELETE, &path, None, &[]).await;
    assert_eq!(status, 204);
    assert!(s.sim_items(U1, &uid).await.is_empty());
    assert!(s.api_events("u1", &uid).await.is_empty());

    // A daily series of five at 10:00 UTC from tomorrow.
    let start_day = jiff::tz::TimeZone::UTC.to_datetime(at(1, 0)).date().to_string();
    let series = json!({
        "subject": "Standup", "start": at(1, 10).to_string(), "end": at(1, 11).to_string(), "time_zone": "UTC",
        "recurrence": {"pattern": {"type": "daily", "interval": 1},
                       "range": {"type": "numbered", "start_date": start_day, "number_of_occurrences": 5}}
    });
    let (status, doc) = s.call(Method::POST, "/api/v1/users/u1/events", Some(&series), &[]).await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["recurrence"]["pattern"]["type"], "daily", "{doc}");
    let suid = doc["uid"].as_str().unwrap().to_string();
    let sid = doc["id"].as_str().unwrap().to_string();
    let items = s.sim_items(U1, &suid).await;
    assert_eq!((items.len(), items[0]["item_type"].as_str()), (1, Some("RecurringMaster")), "{items:?}");
    assert_eq!(s.api_events("u1", &suid).await.len(), 5);

    // One occurrence moved (an exception), another deleted.
    let occurrence = |days: u64| format!("{sid}~{}", at(days, 10).strftime("%Y%m%dT%H%M%SZ"));
    let moved_path = format!("/api/v1/users/u1/events/{}", occurrence(3));
    let patch = json!({"start": at(3, 14).to_string(), "end": at(3, 15).to_string()});
    let (status, exception) = s.call(Method::PATCH, &moved_path, Some(&patch), &[]).await;
    assert_eq!(status, 200, "{exception}");
    assert!(same_instant(&exception["start"], at(3, 14)), "{exception}");
    let (status, body) = s.call(Method::DELETE, &format!("/api/v1/users/u1/events/{}", occurrence(2)), None, &[]).await;
    assert_eq!(status, 204, "{body}");
    let master = s.sim_items(U1, &suid).await.into_iter().find(|i| i["item_type"] == "RecurringMaster").unwrap();
    let modified = master["modified_occurrences"].as_array().unwrap();
    assert_eq!(modified.len(), 1, "{master}");
    assert!(same_instant(&modified[0]["start"], at(3, 14)), "{master}");
    let deleted = master["deleted_occurrences"].as_array().unwrap();
    assert_eq!(deleted.len(), 1, "{master}");
    assert!(same_instant(&deleted[0], at(2, 10)), "{master}");
    assert_eq!(s.api_events("u1", &suid).await.len(), 4);

    // The whole series renamed, then deleted.
    let (status, renamed) =
        s.call(Method::PATCH, &format!("/api/v1/users/u1/events/{sid}"), Some(&json!({"subject": "Daily"})), &[]).await;
    assert_eq!((status, renamed["subject"].as_str()), (200, Some("Daily")), "{renamed}");
    assert!(renamed["recurrence"].is_object(), "the series document: {renamed}");
    assert_eq!(s.sim_items(U1, &suid).await[0]["subject"], "Daily");
    let (status, _) = s.call(Method::DELETE, &format!("/api/v1/users/u1/events/{sid}"), None, &[]).await;
    assert_eq!(status, 204);
    assert!(s.sim_items(U1, &suid).await.is_empty());
    assert!(s.api_events("u1", &suid).await.is_empty());
    s.receiver.assert_all_valid();
}

/// A meeting reaches the attendee (another simulator mailbox) and the organiser's changes
/// follow; the attendee may not change it; a change on both sides: Exchange wins, 409, and
/// afterwards API = simulator = receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meetings_and_conflicts() {
    let s = Stack::start(2, json!([user_for("u1", U1), user_for("u2", U2)]), &["u1", "u2"]).await;
    let mut body = single("Review", 4, 13);
    body["attendees"] = json!([{"email": U2, "name": "User Two"}]);
    let (status, meeting) = s.call(Method::POST, "/api/v1/users/u1/events", Some(&body), &[]).await;
    assert_eq!(status, 201, "{meeting}");
    let uid = meeting["uid"].as_str().unwrap().to_string();
    let id = meeting["id"].as_str().unwrap().to_string();
    wait_until(WAIT, "the invitation in user2's calendar", || async {
        (s.sim_items(U2, &uid).await.len() == 1).then_some(())
    })
    .await;
    let path = format!("/api/v1/users/u1/events/{id}");
    let (status, renamed) = s.call(Method::PATCH, &path, Some(&json!({"subject": "Review (moved)"})), &[]).await;
    assert_eq!(status, 200, "{renamed}");
    wait_until(WAIT, "the organiser's change in user2's copy", || async {
        (s.sim_items(U2, &uid).await.first().map(|i| i["subject"].clone()) == Some(json!("Review (moved)")))
            .then_some(())
    })
    .await;

    // The attendee's copy is read-only for the attendee's app.
    wait_until(WAIT, "the meeting in user2's mirror", || async {
        (!s.api_events("u2", &uid).await.is_empty()).then_some(())
    })
    .await;
    let u2_path = format!("/api/v1/users/u2/events/{id}");
    let (status, err) = s.call(Method::PATCH, &u2_path, Some(&json!({"subject": "Mine now"})), &[]).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("read_only_meeting")), "{err}");
    let (status, err) = s.call(Method::DELETE, &u2_path, None, &[]).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("read_only_meeting")), "{err}");

    // Both sides at once: the simulator changes it, the app writes on the old version.
    let old_key = renamed["change_key"].as_str().unwrap().to_string();
    let item_id = s.sim_items(U1, &uid).await[0]["item_id"].as_str().unwrap().to_string();
    let mark = s.receiver.mark();
    s.sim.api.patch_item(U1, &item_id, json!({"subject": "Changed in Outlook"})).await;
    let (status, conflict) =
        s.call(Method::PATCH, &path, Some(&json!({"subject": "Changed by the app"})), &[("If-Match", &old_key)]).await;
    assert_eq!((status, conflict["error"]["code"].as_str()), (409, Some("conflict")), "{conflict}");
    assert_eq!(conflict["current"]["subject"], "Changed in Outlook", "{conflict}");
    s.receiver
        .wait_for(mark, WAIT, "the Exchange-side change", |d| {
            d.uid() == Some(uid.as_str()) && d.data["subject"] == "Changed in Outlook"
        })
        .await;
    let api = s.api_events("u1", &uid).await;
    let sim = s.sim_items(U1, &uid).await;
    let receiver = s.receiver.state_by_uid("u1");
    assert_eq!(api[0]["subject"], "Changed in Outlook");
    assert_eq!(sim[0]["subject"], "Changed in Outlook");
    assert_eq!(receiver[&uid].as_ref().unwrap()["subject"], "Changed in Outlook");
    s.receiver.assert_all_valid();
}

/// The user's settings on the write path: direction, skip_private, delete_in_exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_govern_writes() {
    let mut readonly = user_for("ro", U1);
    readonly["settings"] = json!({"direction": "exchange_to_app"});
    let mut private = user_for("np", U2);
    private["settings"] = json!({"skip_private": true});
    let mut keep = user_for("keep", "user3@contoso.test");
    keep["settings"] = json!({"delete_in_exchange": false});
    let s = Stack::start(3, json!([readonly, private, keep]), &["ro", "np", "keep"]).await;

    let (status, err) = s.call(Method::POST, "/api/v1/users/ro/events", Some(&single("No", 2, 9)), &[]).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("not_allowed_by_settings")), "{err}");
    let mut secret = single("Secret", 2, 9);
    secret["is_private"] = json!(true);
    let (status, err) = s.call(Method::POST, "/api/v1/users/np/events", Some(&secret), &[]).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("private_not_allowed")), "{err}");
    assert!(s.sim.api.items(U1).await.is_empty() && s.sim.api.items(U2).await.is_empty());

    // Unlink: the item stays in Exchange, the app hears no more of it.
    let (status, doc) = s.call(Method::POST, "/api/v1/users/keep/events", Some(&single("Kept", 2, 9)), &[]).await;
    assert_eq!(status, 201, "{doc}");
    let uid = doc["uid"].as_str().unwrap().to_string();
    let (status, body) =
        s.call(Method::DELETE, &format!("/api/v1/users/keep/events/{}", doc["id"].as_str().unwrap()), None, &[]).await;
    assert_eq!((status, body), (200, json!({"status": "unlinked"})));
    let items = s.sim_items("user3@contoso.test", &uid).await;
    assert_eq!(items.len(), 1, "the item must stay in Exchange");
    assert!(s.api_events("keep", &uid).await.is_empty());
    let mark = s.receiver.mark();
    s.sim
        .api
        .patch_item("user3@contoso.test", items[0]["item_id"].as_str().unwrap(), json!({"subject": "Kept, renamed"}))
        .await;
    let probe = s
        .sim
        .api
        .create_item(
            "user3@contoso.test",
            json!({"subject": "Probe", "start": at(5, 9).to_string(), "end": at(5, 10).to_string()}),
        )
        .await;
    let probe_uid = probe["uid"].as_str().unwrap().to_string();
    s.receiver.wait_for(mark, WAIT, "the probe's event.created", |d| d.uid() == Some(probe_uid.as_str())).await;
    let about: Vec<_> = s.receiver.since(mark).into_iter().filter(|d| d.uid() == Some(uid.as_str())).collect();
    assert!(about.is_empty(), "webhooks about an unlinked event: {about:?}");
}

/// Exchange answers 503 for a while: writes are answered 202 and land afterwards, in order,
/// each with its write.completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_queue_while_exchange_is_down_and_land_in_order() {
    let s = Stack::start(1, json!([user_for("u1", U1)]), &["u1"]).await;
    let (status, doc) = s.call(Method::POST, "/api/v1/users/u1/events", Some(&single("Before", 2, 9)), &[]).await;
    assert_eq!(status, 201, "{doc}");
    let path = format!("/api/v1/users/u1/events/{}", doc["id"].as_str().unwrap());
    let uid = doc["uid"].as_str().unwrap().to_string();
    let mark = s.receiver.mark();
    // Exchange is down until every write below has been answered (a fixed number of failures
    // could run out while the queue's retries use them up, letting a later write through
    // before the outage ends); then it comes back.
    s.sim.api.fault(json!({"kind": "http_status", "status": 503, "count": 1_000_000, "retry_after_secs": 1})).await;

    let mut write_ids = Vec::new();
    let requests = [
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"subject": "Moved while down", "start": at(2, 10).to_string(), "end": at(2, 11).to_string()})),
        ),
        (Method::DELETE, path.clone(), None),
        (Method::POST, "/api/v1/users/u1/events".to_string(), Some(single("First", 3, 9))),
        (Method::POST, "/api/v1/users/u1/events".to_string(), Some(single("Second", 3, 9))),
    ];
    for (method, p, body) in requests {
        let (status, answer) = s.call(method.clone(), &p, body.as_ref(), &[]).await;
        assert_eq!((status, answer["status"].as_str()), (202, Some("queued")), "{method} {p}: {answer}");
        write_ids.push(answer["write_id"].as_str().unwrap().to_string());
    }
    s.sim.api.fault(json!({"kind": "reset"})).await;
    let mut completed = Vec::new();
    for id in &write_ids {
        let d = s
            .receiver
            .wait_for(mark, Duration::from_secs(120), format!("write.completed of {id}"), |d| {
                d.event_type == "write.completed" && d.data["write_id"] == id.as_str()
            })
            .await;
        completed.push(d.seq);
    }
    let mut sorted = completed.clone();
    sorted.sort();
    assert_eq!(completed, sorted, "write.completed out of order");
    assert!(s.sim_items(U1, &uid).await.is_empty(), "the patched then deleted event must end deleted");
    let items = s.sim.api.items(U1).await;
    let subjects: Vec<&str> = items.iter().filter_map(|i| i["subject"].as_str()).collect();
    assert_eq!(subjects, vec!["First", "Second"], "{items:?}");
    let (status, w) = s.call(Method::GET, &format!("/api/v1/users/u1/writes/{}", write_ids[3]), None, &[]).await;
    assert_eq!((status, w["status"].as_str()), (200, Some("done")), "{w}");
    s.receiver.assert_all_valid();
}
