//! End-to-end tests of the connector, written against the external contract only
//! (`../shared/CONTRACT.md`): `exbridge sim` and `exbridge serve` run as child processes, the
//! test changes calendars through the simulator's control API and watches the connector's REST
//! API and its webhooks (see `support`).
//!
//! Each test has its own simulator, connector, webhook receiver and temporary folder.
//! `harness_smoke` checks the harness itself and runs without the connector.
//!
//! "Delivered twice" (the burst test) means: two different webhook ids carrying the same
//! change, i.e. the same type, user and data apart from `changed_at`. A redelivery of the same
//! id is allowed (at least once) and removed by deduplicating on the id.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

/// The must-show bound of a single change's webhook (from the change in the simulator to its
/// arrival at the receiver).
const DELIVERY_BOUND: Duration = Duration::from_secs(1);
/// Tolerance of presence changes around a meeting's or an OOF window's start and end.
const PRESENCE_TOLERANCE: Duration = Duration::from_secs(1);
/// Initial sync of a handful of small mailboxes.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait after a change for further (unwanted) deliveries.
const SETTLE: Duration = Duration::from_millis(1500);

/// A simulator, a receiver and a connector with `users` (id → mailbox) in its directory,
/// all synced.
impl Stack {
    async fn start(mailboxes: u32, users: &[(&str, &str)]) -> Stack {
        let list: Vec<Value> = users.iter().map(|(id, mb)| user_for(id, mb)).collect();
        let ids: Vec<&str> = users.iter().map(|(id, _)| *id).collect();
        Stack::launch((mailboxes, 5, 1), None, Value::Array(list), &ids).await
    }

    /// Waits until no new delivery arrived for `quiet` (at most `timeout`).
    async fn quiesce(&self, quiet: Duration, timeout: Duration) {
        let mut last = (self.receiver.mark(), Instant::now());
        wait_until(timeout, "the webhooks to become quiet", || {
            let now = self.receiver.mark();
            if now != last.0 {
                last = (now, Instant::now());
            }
            let done = last.1.elapsed() >= quiet;
            async move { done.then_some(()) }
        })
        .await;
    }
}

fn window() -> (String, String) {
    (rfc3339_in(Duration::ZERO), rfc3339_in(Duration::from_secs(20 * 86_400)))
}

fn wide_window() -> (String, String) {
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(29 * 24);
    (jiff::Timestamp::from_second(past.as_second()).unwrap().to_string(), rfc3339_in(Duration::from_secs(170 * 86_400)))
}

/// The event deliveries after `mark` about `uid`.
fn about(receiver: &Receiver, mark: usize, uid: &str) -> Vec<support::Delivery> {
    receiver.since(mark).into_iter().filter(|d| d.is_event() && d.uid() == Some(uid)).collect()
}

/// Waits for the one webhook of a change made at `changed`, checks it arrived within
/// [`DELIVERY_BOUND`], then that no other arrives for that UID during [`SETTLE`].
async fn exactly_one(
    s: &Stack,
    mark: usize,
    changed: Instant,
    uid: &str,
    what: &str,
    pred: impl Fn(&support::Delivery) -> bool,
) -> support::Delivery {
    let d = s
        .receiver
        .wait_for(mark, Duration::from_secs(15), what, |d| d.is_event() && d.uid() == Some(uid) && pred(d))
        .await;
    let took = d.arrived.saturating_duration_since(changed);
    assert!(took <= DELIVERY_BOUND, "{what}: the webhook came {took:?} after the change (bound {DELIVERY_BOUND:?})");
    tokio::time::sleep(SETTLE).await;
    let all = about(&s.receiver, mark, uid);
    assert_eq!(
        all.len(),
        1,
        "{what}: expected exactly one webhook (distinct ids), got {}: {:#?}",
        all.len(),
        all.iter().map(|d| (&d.id, &d.event_type, &d.data)).collect::<Vec<_>>()
    );
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_smoke() {
    let env = Env::new();
    let sim = SimProc::start(&env, 3, 4, 9).await;
    assert!(sim.base_url.starts_with("http://127.0.0.1:"), "{}", sim.base_url);
    let api = &sim.api;

    // Control API: mailboxes, items, occurrences, OOF, faults, stats.
    let mb = api.add_mailbox("dave@contoso.test", &["emp-4711@contoso.test"]).await;
    assert_eq!(mb["smtp"], "dave@contoso.test");
    assert_eq!(mb["aliases"], json!(["emp-4711@contoso.test"]));
    assert_eq!(api.items("dave@contoso.test").await.len(), 0);
    assert!(api.items("user1@contoso.test").await.len() >= 4, "the seeded calendar is missing");
    let start = rfc3339_in(Duration::from_secs(86_400));
    let end = rfc3339_in(Duration::from_secs(86_400 + 3600));
    let created = api.create_item("dave@contoso.test", json!({"subject": "Smoke", "start": start, "end": end})).await;
    assert_eq!(created["item_type"], "Single");
    let id = created["item_id"].as_str().unwrap().to_string();
    let patched = api.patch_item("dave@contoso.test", &id, json!({"subject": "Smoke 2"})).await;
    assert_eq!(patched["subject"], "Smoke 2");
    assert_eq!(
        api.item_by_uid("dave@contoso.test", created["uid"].as_str().unwrap()).await.unwrap()["subject"],
        "Smoke 2"
    );
    let series = api
        .create_item(
            "dave@contoso.test",
            json!({"subject": "Daily", "start": start, "end": end,
                   "recurrence": {"pattern": {"type": "daily"}, "range": {"type": "numbered", "count": 5}}}),
        )
        .await;
    assert_eq!(series["item_type"], "RecurringMaster");
    let third = ts(&start) + jiff::SignedDuration::from_hours(48);
    let with_exception = api
        .patch_item(
            "dave@contoso.test",
            series["item_id"].as_str().unwrap(),
            json!({"modified_occurrences": [{"original_start": third.to_string(), "subject": "Moved"}]}),
        )
        .await;
    let exception_id = with_exception["modified_occurrences"][0]["item_id"].as_str().unwrap().to_string();
    api.patch_item("dave@contoso.test", &exception_id, json!({"subject": "Moved again"})).await;
    let listed = api.items("dave@contoso.test").await;
    assert!(listed.iter().any(|i| i["item_type"] == "Exception" && i["subject"] == "Moved again"), "{listed:#?}");
    api.delete_item("dave@contoso.test", &exception_id).await;
    let after = api.item_by_uid("dave@contoso.test", series["uid"].as_str().unwrap()).await.unwrap();
    assert_eq!(after["deleted_occurrences"].as_array().unwrap().len(), 1, "{after}");
    api.delete_item("dave@contoso.test", &id).await;
    assert_eq!(api.items("dave@contoso.test").await.len(), 1);
    let oof = api
        .set_oof(
            "dave@contoso.test",
            json!({"state": "Scheduled", "start": rfc3339_in(Duration::from_secs(2)), "end": rfc3339_in(Duration::from_secs(4))}),
        )
        .await;
    assert_eq!(oof["state"], "Scheduled");
    assert_eq!(api.fault(json!({"kind": "server_busy", "count": 20, "backoff_ms": 100})).await["kind"], "server_busy");
    assert_eq!(api.fault(json!({"kind": "drop_streams"})).await["affected"], 0);
    let (status, _) = api.raw(reqwest::Method::POST, "/sim/faults", Some(json!({"kind": "nonsense"}))).await;
    assert_eq!(status.as_u16(), 400);
    let stats = api.stats().await;
    assert!(stats["requests"].is_object() && stats["active_subscriptions"].is_u64(), "{stats}");

    // The receiver: signature, id header, failure mode, dedup views.
    let receiver = Receiver::start(WEBHOOK_SECRET).await;
    let body = |id: &str, subject: &str| {
        json!({"id": id, "type": "event.created", "user_id": "u1", "occurred_at": "2026-03-16T09:00:00Z",
               "data": {"id": "e1", "uid": "uid-1", "subject": subject, "series_id": null, "changed_at": id}})
    };
    assert_eq!(receiver.post(&body("a", "One"), "a", None).await.as_u16(), 200);
    assert_eq!(receiver.post(&body("a", "One"), "a", None).await.as_u16(), 200, "a redelivery is accepted");
    assert_eq!(receiver.deliveries().len(), 2);
    assert_eq!(receiver.distinct().len(), 1);
    assert!(receiver.invalid().is_empty());
    let wrong = Some(sign(b"another secret", b"{}"));
    assert_eq!(receiver.post(&body("b", "Two"), "b", wrong).await.as_u16(), 401);
    assert_eq!(receiver.post(&body("c", "Two"), "not-c", None).await.as_u16(), 400);
    assert_eq!(receiver.invalid().len(), 2, "{:?}", receiver.invalid());
    receiver.fail_for(Duration::from_millis(300));
    assert_eq!(receiver.post(&body("d", "Three"), "d", None).await.as_u16(), 500);
    assert_eq!(receiver.refused(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let mark = receiver.mark();
    assert_eq!(receiver.post(&body("d", "Three"), "d", None).await.as_u16(), 200);
    assert_eq!(receiver.since(mark).len(), 1);
    // Same content under another id is a duplicate change; "d" differs in subject.
    assert_eq!(receiver.post(&body("e", "One"), "e", None).await.as_u16(), 200);
    let mut dup = body("e", "One");
    dup["data"]["changed_at"] = json!("later");
    assert_eq!(receiver.post(&dup, "e", None).await.as_u16(), 200);
    let dups = receiver.duplicate_changes();
    assert_eq!(dups.len(), 1, "{dups:?}");
    assert_eq!((dups[0].0.as_str(), dups[0].1.as_str()), ("a", "e"));
    assert_eq!(receiver.state_by_uid("u1").get("uid-1"), Some(&Some(body("e", "One")["data"].clone())));

    // The generated configuration is valid for `exbridge config check`.
    let config = ConnectorConfig::new(&env, &sim.ews_url, Some(&receiver.url));
    let path = config.write().to_path_buf();
    let out = std::process::Command::new(exe())
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .expect("run exbridge config check");
    assert!(
        out.status.success(),
        "exbridge config check rejected the generated configuration:\n{}\n{}{}",
        config.to_toml(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("config check: {}", String::from_utf8_lossy(&out.stdout).trim());

    // SIGTERM ends the simulator cleanly.
    let mut proc = sim.proc;
    let status = proc.terminate(Duration::from_secs(15)).await;
    assert!(status.success(), "exbridge sim exited with {status}");
    assert!(proc.output().contains("shutting down"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_mapping_by_each_identifier() {
    let s = Stack::start(3, &[]).await;
    s.sim.api.add_mailbox("carol@contoso.test", &["carol.private@contoso.test"]).await;
    s.sim.api.add_mailbox("dave@contoso.test", &["emp-4711@contoso.test"]).await;
    let mark = s.receiver.mark();
    s.connector
        .api
        .put_users(json!([
            {"id": "u-login", "login_email": "user1@contoso.test", "work_email": "user2@contoso.test"},
            {"id": "u-work", "login_email": "nobody.a@contoso.test", "work_email": "user2@contoso.test"},
            {"id": "u-personal", "login_email": "nobody.b@contoso.test", "personal_email": "carol.private@contoso.test"},
            {"id": "u-uid", "login_email": "nobody.c@contoso.test", "external_uid": "emp-4711"},
            {"id": "u-none", "login_email": "ghost@contoso.test", "work_email": "ghost2@contoso.test", "external_uid": "emp-0000"},
        ]))
        .await;
    let expected = [
        ("u-login", Some("login_email"), Some("user1@contoso.test"), "subscribed"),
        ("u-work", Some("work_email"), Some("user2@contoso.test"), "subscribed"),
        ("u-personal", Some("personal_email"), Some("carol@contoso.test"), "subscribed"),
        ("u-uid", Some("external_uid"), Some("dave@contoso.test"), "subscribed"),
        ("u-none", None, None, "not_found"),
    ];
    for (id, matched_by, mailbox, state) in expected {
        let api = &s.connector.api;
        let u = wait_until(SYNC_TIMEOUT, format!("user {id} resolved"), || async move {
            let u = api.user(id).await;
            (u["state"] != "pending").then_some(u)
        })
        .await;
        println!("{id}: matched_by={} mailbox={} state={}", u["matched_by"], u["mailbox"], u["state"]);
        assert_eq!(u["state"], state, "{id}: {u}");
        assert_eq!(u["matched_by"], json!(matched_by), "{id}: {u}");
        match mailbox {
            Some(m) => assert_eq!(u["mailbox"].as_str().map(str::to_ascii_lowercase).as_deref(), Some(m), "{id}: {u}"),
            None => assert!(u["mailbox"].is_null(), "{id}: {u}"),
        }
    }
    for id in ["u-login", "u-work", "u-personal", "u-uid"] {
        s.receiver
            .wait_for(mark, Duration::from_secs(10), format!("user.mailbox_resolved for {id}"), |d| {
                d.event_type == "user.mailbox_resolved" && d.user_id == id
            })
            .await;
    }
    s.receiver
        .wait_for(mark, Duration::from_secs(10), "user.subscription_failed for u-none", |d| {
            d.event_type == "user.subscription_failed" && d.user_id == "u-none"
        })
        .await;
    assert!(
        !s.receiver.since(mark).iter().any(|d| d.event_type == "user.mailbox_resolved" && d.user_id == "u-none"),
        "u-none matches no mailbox but was reported resolved"
    );
    let all = s.connector.api.get("/api/v1/users").await;
    assert_eq!(all.1.as_array().map(Vec::len), Some(5), "GET /api/v1/users: {}", all.1);
    s.receiver.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_is_exactly_one_webhook() {
    let s = Stack::start(2, &[("alice", "user1@contoso.test")]).await;
    let (api, mb) = (&s.sim.api, "user1@contoso.test");
    s.quiesce(Duration::from_secs(1), Duration::from_secs(30)).await;
    let start = rfc3339_in(Duration::from_secs(2 * 86_400));
    let end = rfc3339_in(Duration::from_secs(2 * 86_400 + 3600));
    let (w0, w1) = window();

    // A single event: create, update, delete.
    let mark = s.receiver.mark();
    let t = Instant::now();
    let item = api.create_item(mb, json!({"subject": "E2E single", "start": start, "end": end})).await;
    let uid = item["uid"].as_str().unwrap().to_string();
    let d = exactly_one(&s, mark, t, &uid, "single created", |d| d.event_type == "event.created").await;
    assert_eq!(d.data["subject"], "E2E single");
    assert_eq!(subjects_of(&s.connector.api.events("alice", &w0, &w1).await, &uid), ["E2E single"]);

    let mark = s.receiver.mark();
    let t = Instant::now();
    api.patch_item(mb, item["item_id"].as_str().unwrap(), json!({"subject": "E2E single renamed"})).await;
    let d = exactly_one(&s, mark, t, &uid, "single updated", |d| d.event_type == "event.updated").await;
    assert_eq!(d.data["subject"], "E2E single renamed");
    assert_eq!(subjects_of(&s.connector.api.events("alice", &w0, &w1).await, &uid), ["E2E single renamed"]);

    let mark = s.receiver.mark();
    let t = Instant::now();
    let current = api.item_by_uid(mb, &uid).await.unwrap();
    api.delete_item(mb, current["item_id"].as_str().unwrap()).await;
    exactly_one(&s, mark, t, &uid, "single deleted", |d| d.event_type == "event.deleted").await;
    assert!(subjects_of(&s.connector.api.events("alice", &w0, &w1).await, &uid).is_empty());

    // A daily series of 5: one webhook for the whole series, with its recurrence.
    let mark = s.receiver.mark();
    let t = Instant::now();
    let series = api
        .create_item(
            mb,
            json!({"subject": "E2E daily", "start": start, "end": end,
                   "recurrence": {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "numbered", "count": 5}}}),
        )
        .await;
    let suid = series["uid"].as_str().unwrap().to_string();
    let d = exactly_one(&s, mark, t, &suid, "series created", |d| d.event_type == "event.created").await;
    assert!(!d.data["recurrence"].is_null(), "the series webhook has no recurrence: {}", d.data);
    assert!(!d.is_occurrence(), "the series webhook is an occurrence: {}", d.data);
    assert_eq!(subjects_of(&s.connector.api.events("alice", &w0, &w1).await, &suid).len(), 5);

    let mark = s.receiver.mark();
    let t = Instant::now();
    api.patch_item(mb, series["item_id"].as_str().unwrap(), json!({"subject": "E2E daily renamed"})).await;
    let d = exactly_one(&s, mark, t, &suid, "series updated", |d| d.event_type == "event.updated").await;
    assert!(!d.data["recurrence"].is_null() && d.data["subject"] == "E2E daily renamed", "{}", d.data);
    assert_eq!(subjects_of(&s.connector.api.events("alice", &w0, &w1).await, &suid), vec!["E2E daily renamed"; 5]);

    // One occurrence (the third) moved by an hour and renamed. The control API cannot address an
    // unmodified occurrence by id: the change goes through the master's modified_occurrences,
    // which is how a client's change of one occurrence looks in the store (an exception).
    let third = ts(&start) + jiff::SignedDuration::from_hours(48);
    let mark = s.receiver.mark();
    let t = Instant::now();
    let master = api.item_by_uid(mb, &suid).await.unwrap();
    let patched = api
        .patch_item(
            mb,
            master["item_id"].as_str().unwrap(),
            json!({"modified_occurrences": [{
                "original_start": third.to_string(),
                "start": (third + jiff::SignedDuration::from_hours(1)).to_string(),
                "subject": "E2E one occurrence"}]}),
        )
        .await;
    let d = exactly_one(&s, mark, t, &suid, "occurrence updated", |d| d.event_type == "event.updated").await;
    assert!(d.is_occurrence(), "an occurrence change must be reported as that occurrence: {}", d.data);
    assert_eq!(d.data["subject"], "E2E one occurrence");
    assert_eq!(ts(d.data["start"].as_str().unwrap()), third + jiff::SignedDuration::from_hours(1));
    let subjects = subjects_of(&s.connector.api.events("alice", &w0, &w1).await, &suid);
    assert_eq!(subjects.iter().filter(|x| *x == "E2E one occurrence").count(), 1, "{subjects:?}");
    assert_eq!(subjects.len(), 5, "{subjects:?}");

    // Delete that occurrence (its exception id is in the listing).
    let exception = patched["modified_occurrences"][0]["item_id"].as_str().unwrap().to_string();
    let mark = s.receiver.mark();
    let t = Instant::now();
    api.delete_item(mb, &exception).await;
    let d = exactly_one(&s, mark, t, &suid, "occurrence deleted", |d| d.event_type == "event.deleted").await;
    assert!(d.is_occurrence(), "an occurrence deletion must be reported as that occurrence: {}", d.data);
    let subjects = subjects_of(&s.connector.api.events("alice", &w0, &w1).await, &suid);
    assert_eq!(subjects, vec!["E2E daily renamed"; 4]);

    // Delete the series.
    let mark = s.receiver.mark();
    let t = Instant::now();
    let master = api.item_by_uid(mb, &suid).await.unwrap();
    api.delete_item(mb, master["item_id"].as_str().unwrap()).await;
    let d = exactly_one(&s, mark, t, &suid, "series deleted", |d| d.event_type == "event.deleted").await;
    assert!(!d.is_occurrence(), "{}", d.data);
    assert!(subjects_of(&s.connector.api.events("alice", &w0, &w1).await, &suid).is_empty());
    s.receiver.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_follows_meetings_and_oof() {
    let s = Stack::start(1, &[]).await;
    // A mailbox of its own: no seeded item can make it busy.
    let mb = "presence@contoso.test";
    s.sim.api.add_mailbox(mb, &[]).await;
    s.connector.api.put_users(json!([user_for("pat", mb)])).await;
    s.connector.api.wait_synced(&["pat"], SYNC_TIMEOUT).await;
    s.quiesce(Duration::from_secs(1), Duration::from_secs(30)).await;

    let busy = |d: &support::Delivery, v: bool| {
        d.event_type == "presence.changed" && d.user_id == "pat" && d.data["busy"] == v
    };
    let mark = s.receiver.mark();
    let start = rfc3339_in(Duration::from_secs(3));
    let end = rfc3339_in(Duration::from_secs(6));
    s.sim.api.create_item(mb, json!({"subject": "Short meeting", "start": start, "end": end})).await;
    let (start_at, end_at) = (ts(&start), ts(&end));
    let on = s.receiver.wait_for(mark, Duration::from_secs(20), "presence busy=true", |d| busy(d, true)).await;
    let on_at = jiff::Timestamp::now() - jiff::SignedDuration::try_from(on.arrived.elapsed()).unwrap();
    let off = s.receiver.wait_for(on.seq, Duration::from_secs(20), "presence busy=false", |d| busy(d, false)).await;
    let off_at = jiff::Timestamp::now() - jiff::SignedDuration::try_from(off.arrived.elapsed()).unwrap();
    let tol = jiff::SignedDuration::try_from(PRESENCE_TOLERANCE).unwrap();
    println!("meeting {start_at}..{end_at}: busy at {on_at}, free at {off_at}");
    assert!((on_at - start_at).abs() <= tol, "busy=true at {on_at}, the meeting starts at {start_at}");
    assert!((off_at - end_at).abs() <= tol, "busy=false at {off_at}, the meeting ends at {end_at}");
    assert_eq!(on.data["current_event"]["subject"], "Short meeting", "{}", on.data);

    // A scheduled OOF window, found by polling (oof_poll_interval = 1s).
    let oof = |d: &support::Delivery, v: bool| {
        d.event_type == "presence.changed" && d.user_id == "pat" && d.data["oof"]["active"] == v
    };
    let mark = s.receiver.mark();
    let (from, to) = (rfc3339_in(Duration::from_secs(3)), rfc3339_in(Duration::from_secs(6)));
    s.sim.api.set_oof(mb, json!({"state": "Scheduled", "start": from, "end": to, "internal_reply": "Away"})).await;
    let on = s.receiver.wait_for(mark, Duration::from_secs(20), "presence oof.active=true", |d| oof(d, true)).await;
    let on_at = jiff::Timestamp::now() - jiff::SignedDuration::try_from(on.arrived.elapsed()).unwrap();
    let off =
        s.receiver.wait_for(on.seq, Duration::from_secs(20), "presence oof.active=false", |d| oof(d, false)).await;
    let off_at = jiff::Timestamp::now() - jiff::SignedDuration::try_from(off.arrived.elapsed()).unwrap();
    println!("OOF {from}..{to}: active at {on_at}, inactive at {off_at}");
    // Polling every second adds up to a second to the tolerance.
    let poll_tol = tol + jiff::SignedDuration::from_secs(1);
    assert!((on_at - ts(&from)).abs() <= poll_tol, "oof.active=true at {on_at}, the window starts at {from}");
    assert!((off_at - ts(&to)).abs() <= poll_tol, "oof.active=false at {off_at}, the window ends at {to}");
    s.receiver.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_loses_and_duplicates_nothing() {
    let users: Vec<(String, String)> = (1..=5).map(|n| (format!("u{n}"), format!("user{n}@contoso.test"))).collect();
    let refs: Vec<(&str, &str)> = users.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let mut s = Stack::start(5, &refs).await;
    s.quiesce(Duration::from_secs(1), Duration::from_secs(30)).await;
    let api = s.sim.api.clone();

    // 500 changes: creates, then renames, moves and deletes of the items made here; the
    // connector is SIGKILLed before the 251st and restarted after the last.
    let mut live: Vec<(usize, String)> = Vec::new(); // (user index, uid)
    let mut gone: Vec<(usize, String)> = Vec::new();
    let base = 3 * 86_400u64;
    let burst_mark = s.receiver.mark();
    for i in 0..500usize {
        if i == 250 {
            // Kill it while it is busy with the burst: once the first burst webhook arrived.
            let receiver = &s.receiver;
            wait_until(Duration::from_secs(15), "a first webhook of the burst", || {
                let busy = receiver.since(burst_mark).iter().any(|d| d.is_event());
                async move { busy.then_some(()) }
            })
            .await;
            s.connector.kill().await;
        }
        let op = if live.len() < 20 { 0 } else { i % 4 };
        match op {
            0 => {
                let u = i % 5;
                let offset = base + 3600 * (i as u64 % 200);
                let item = json!({"subject": format!("burst {i} created"),
                                  "start": rfc3339_in(Duration::from_secs(offset)),
                                  "end": rfc3339_in(Duration::from_secs(offset + 1800))});
                let item = api.create_item(&users[u].1, item).await;
                live.push((u, item["uid"].as_str().unwrap().into()));
            }
            1 | 2 => {
                let (u, uid) = live[(i * 7) % live.len()].clone();
                let current = api.item_by_uid(&users[u].1, &uid).await.expect("a burst item");
                let mut patch = json!({"subject": format!("burst {i} changed")});
                if op == 2 {
                    let start = ts(current["start"].as_str().unwrap()) + jiff::SignedDuration::from_mins(30);
                    patch["start"] = json!(start.to_string());
                    patch["end"] = json!((start + jiff::SignedDuration::from_mins(30)).to_string());
                }
                api.patch_item(&users[u].1, current["item_id"].as_str().unwrap(), patch).await;
            }
            _ => {
                let (u, uid) = live.remove((i * 13) % live.len());
                let current = api.item_by_uid(&users[u].1, &uid).await.expect("a burst item");
                api.delete_item(&users[u].1, current["item_id"].as_str().unwrap()).await;
                gone.push((u, uid));
            }
        }
    }
    s.connector.restart(&s.env).await;

    // Every burst UID: the sim's final subject (or absent) must be the receiver's final state.
    let uids: BTreeMap<String, usize> = live.iter().chain(&gone).map(|(u, uid)| (uid.clone(), *u)).collect();
    let expected = final_sim_state(&api, &users, &uids).await;
    wait_until(Duration::from_secs(180), "the receiver to agree with the simulator on every burst item", || {
        let mismatch = first_mismatch(&s.receiver, &users, &expected);
        async move { mismatch.is_none().then_some(()) }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dups = s.receiver.duplicate_changes();
    assert!(dups.is_empty(), "{} changes were delivered under two ids, e.g. {:?}", dups.len(), dups.first());
    let all = s.receiver.deliveries().len();
    let distinct = s.receiver.distinct().len();
    println!("burst: {all} deliveries, {distinct} distinct ids, {} burst items checked", expected.len());
    s.receiver.assert_all_valid();
}

/// uid → (user id, Some(subject) or None when deleted) according to the simulator.
async fn final_sim_state(
    api: &SimApi,
    users: &[(String, String)],
    uids: &BTreeMap<String, usize>,
) -> BTreeMap<String, (String, Option<String>)> {
    let mut out = BTreeMap::new();
    for (u, (id, mb)) in users.iter().enumerate() {
        let items = api.items(mb).await;
        for (uid, _) in uids.iter().filter(|(_, x)| **x == u) {
            let subject = items.iter().find(|i| i["uid"] == *uid).map(|i| i["subject"].as_str().unwrap().to_string());
            out.insert(uid.clone(), (id.clone(), subject));
        }
    }
    out
}

/// The first UID whose last webhook state differs from the simulator's, described.
fn first_mismatch(
    receiver: &Receiver,
    users: &[(String, String)],
    expected: &BTreeMap<String, (String, Option<String>)>,
) -> Option<String> {
    let states: BTreeMap<&str, BTreeMap<String, Option<Value>>> =
        users.iter().map(|(id, _)| (id.as_str(), receiver.state_by_uid(id))).collect();
    for (uid, (user, subject)) in expected {
        let got = states[user.as_str()].get(uid);
        let got_subject = got.map(|v| v.as_ref().map(|d| d["subject"].as_str().unwrap_or_default().to_string()));
        let ok = match (subject, &got_subject) {
            (None, None) | (None, Some(None)) => true,
            (Some(want), Some(Some(have))) => want == have,
            _ => false,
        };
        if !ok {
            return Some(format!("{user}/{uid}: simulator {subject:?}, webhooks {got_subject:?}"));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_leave_api_simulator_and_webhooks_in_agreement() {
    let users = [("f1", "user1@contoso.test"), ("f2", "user2@contoso.test"), ("f3", "user3@contoso.test")];
    let s = Stack::start(3, &users).await;
    s.quiesce(Duration::from_secs(1), Duration::from_secs(30)).await;
    let api = &s.sim.api;
    let mut touched: Vec<(&str, &str, String)> = Vec::new(); // (user, mailbox, uid)
    let mut n = 0u64;

    async fn changes(
        api: &SimApi,
        users: &[(&'static str, &'static str)],
        touched: &mut Vec<(&'static str, &'static str, String)>,
        n: &mut u64,
        label: &str,
    ) {
        for (user, mb) in users {
            *n += 1;
            let start = rfc3339_in(Duration::from_secs(4 * 86_400 + 3600 * *n));
            let end = rfc3339_in(Duration::from_secs(4 * 86_400 + 3600 * *n + 1800));
            let item =
                api.create_item(mb, json!({"subject": format!("{label} {n}"), "start": start, "end": end})).await;
            touched.push((user, mb, item["uid"].as_str().unwrap().to_string()));
        }
        // Rename the first and delete the second item made so far.
        let (_, mb, uid) = touched[0].clone();
        let item = api.item_by_uid(mb, &uid).await.unwrap();
        api.patch_item(mb, item["item_id"].as_str().unwrap(), json!({"subject": format!("{label} renamed")})).await;
        if touched.len() > 1 {
            let (_, mb, uid) = touched[1].clone();
            if let Some(item) = api.item_by_uid(mb, &uid).await {
                api.delete_item(mb, item["item_id"].as_str().unwrap()).await;
            }
        }
    }

    let phases: [(&str, Option<Value>); 3] = [
        ("drop_streams", Some(json!({"kind": "drop_streams"}))),
        ("expire_subscriptions", Some(json!({"kind": "expire_subscriptions"}))),
        ("server_busy", Some(json!({"kind": "server_busy", "count": 20, "backoff_ms": 200}))),
    ];
    for (label, fault) in phases {
        if let Some(f) = fault {
            let r = api.fault(f).await;
            println!("fault {label}: {r}");
        }
        changes(api, &users, &mut touched, &mut n, label).await;
        agree(&s, &touched, Duration::from_secs(90), label).await;
    }
    // The receiver refuses every delivery for 60 s.
    s.receiver.fail_for(Duration::from_secs(60));
    changes(api, &users, &mut touched, &mut n, "receiver_500").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(s.receiver.refused() > 0, "no delivery was attempted while the receiver answered 500");
    agree(&s, &touched, Duration::from_secs(180), "receiver_500").await;
    s.receiver.assert_all_valid();
}

/// Waits until the simulator, the connector's events endpoint and the webhooks agree on every
/// touched UID (its subject, or its absence).
async fn agree(s: &Stack, touched: &[(&str, &str, String)], timeout: Duration, label: &str) {
    let (w0, w1) = wide_window();
    let (w0, w1) = (&w0, &w1);
    wait_until(timeout, format!("agreement after {label}"), || async move {
        for (user, mb, uid) in touched {
            let sim = s.sim.api.item_by_uid(mb, uid).await.map(|i| i["subject"].as_str().unwrap().to_string());
            let events = s.connector.api.events(user, w0, w1).await;
            let api: Vec<String> = subjects_of(&events, uid);
            let hook = s.receiver.state_by_uid(user).get(uid).cloned().flatten();
            let hook = hook.map(|d| d["subject"].as_str().unwrap_or_default().to_string());
            let api_one = if api.is_empty() { None } else { Some(api[0].clone()) };
            if !(sim == api_one && sim == hook && api.len() <= 1) {
                return None;
            }
        }
        Some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_sync_state_resyncs_without_spurious_events() {
    let mut s = Stack::start(2, &[("cora", "user1@contoso.test")]).await;
    let mb = "user1@contoso.test";
    let (w0, w1) = wide_window();
    s.quiesce(Duration::from_secs(2), Duration::from_secs(30)).await;
    let before = s.connector.api.events("cora", &w0, &w1).await;
    assert!(!before.is_empty(), "the seeded calendar shows no event");
    let synced_before = s.connector.api.user("cora").await["synced_at"].clone();

    s.connector.stop().await;
    let db = s.connector.config.db_path();
    let pool = open_store(&db).await;
    let r = sqlx::query("UPDATE folder_sync_states SET sync_state = 'H4sIAAAAAAAA/corrupted=='")
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("corrupt folder_sync_states in {}: {e}", db.display()));
    assert!(r.rows_affected() >= 1, "no sync state row to corrupt in {}", db.display());
    pool.close().await;

    // One change while the connector is down: the resync must find it.
    let item = s.sim.api.items(mb).await.into_iter().find(|i| i["item_type"] == "Single").expect("a single item");
    let uid = item["uid"].as_str().unwrap().to_string();
    s.sim.api.patch_item(mb, item["item_id"].as_str().unwrap(), json!({"subject": "Changed while down"})).await;

    let mark = s.receiver.mark();
    let syncs = s.sim.api.requests_of("SyncFolderItems").await;
    s.connector.restart(&s.env).await;
    let (api, synced_before) = (&s.connector.api, &synced_before);
    wait_until(SYNC_TIMEOUT, "synced_at to move after the restart", || async move {
        let u = api.user("cora").await;
        (u["state"] == "subscribed" && u["synced_at"] != *synced_before).then_some(())
    })
    .await;
    s.receiver
        .wait_for(mark, Duration::from_secs(30), "the change made while down", |d| {
            d.event_type == "event.updated" && d.uid() == Some(uid.as_str())
        })
        .await;
    s.quiesce(Duration::from_secs(3), Duration::from_secs(60)).await;
    assert!(s.sim.api.requests_of("SyncFolderItems").await > syncs, "no SyncFolderItems after the restart");
    let spurious: Vec<_> = s
        .receiver
        .since(mark)
        .into_iter()
        .filter(|d| d.event_type == "event.created" || d.event_type == "event.deleted")
        .map(|d| (d.event_type, d.data["uid"].clone(), d.data["subject"].clone()))
        .collect();
    assert!(spurious.is_empty(), "the resync sent created/deleted webhooks: {spurious:#?}");
    let after = s.connector.api.events("cora", &w0, &w1).await;
    assert_eq!(after.len(), before.len(), "the resync changed the number of events");
    let resync_logged = s.env.all_logs().to_ascii_lowercase().contains("resync");
    println!("resync logged: {resync_logged}");
    s.receiver.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_working_curl_commands() {
    let _serial = serial().await;
    let env = Env::new();
    let (mut demo, port) = spawn_demo(&env);
    let out = wait_until(Duration::from_secs(90), "the demo to print three curl commands", || {
        let out = demo.output();
        let n = out.lines().filter(|l| l.trim_start().starts_with("curl ")).count();
        if n < 3
            && let Some(status) = demo.exited()
        {
            panic!("exbridge demo ended ({status}):\n{out}");
        }
        async move { (n >= 3).then_some(out) }
    })
    .await;
    let url = format!("http://127.0.0.1:{port}");
    let printed = out.contains(&url) || out.contains(&format!("http://localhost:{port}"));
    assert!(printed, "the demo did not print its URL {url}:\n{out}");
    let commands = curl_commands(&out);
    let token = commands
        .iter()
        .find_map(|c| {
            c.split("Bearer ").nth(1).map(|t| t.split(['"', '\'', ' ']).next().unwrap_or_default().to_string())
        })
        .unwrap_or_else(|| panic!("no bearer token in the curl commands:\n{out}"));
    assert!(out.contains(&token), "the token is not printed");

    // Run each printed command; each must return non-empty JSON (users, events, presence…).
    for c in &commands {
        let got = wait_until(Duration::from_secs(60), format!("`{c}` to return data"), || async move {
            // Flags go right after `curl`, in case the command pipes its output on.
            let cmd = c.replacen("curl ", "curl --silent --max-time 10 ", 1);
            let run = tokio::process::Command::new("sh").arg("-c").arg(cmd).output();
            let out = tokio::time::timeout(Duration::from_secs(15), run).await.ok()?.ok()?;
            if c.contains("/api/v1/stream") {
                // Server-Sent Events: curl stops at --max-time; the demo's activity must have
                // produced at least one event by then.
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let events = text.lines().filter(|l| l.starts_with("event: ")).count();
                return (events > 0).then(|| Value::String(format!("{events} SSE event(s)")));
            }
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            let non_empty = match &v {
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty() && o.get("error").is_none(),
                _ => false,
            };
            non_empty.then_some(v)
        })
        .await;
        println!("{c}\n  -> {}", truncate(&got.to_string(), 200));
    }

    // The same through reqwest: users and a user's events.
    let api = &Api::new(&url, &token);
    let users = wait_until(Duration::from_secs(60), "demo users", || async move {
        match api.get("/api/v1/users").await.1 {
            Value::Array(a) if !a.is_empty() => Some(a),
            _ => None,
        }
    })
    .await;
    let (w0, w1) = wide_window();
    let first = users[0]["id"].as_str().expect("a user id").to_string();
    let (first_ref, w0, w1) = (&first, &w0, &w1);
    let events = wait_until(Duration::from_secs(60), format!("events of demo user {first}"), || async move {
        let e = api.events(first_ref, w0, w1).await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    println!("demo: {} users, {} events for {first}", users.len(), events.len());
    let status = demo.terminate(Duration::from_secs(30)).await;
    assert!(status.success() || status.code().is_none(), "exbridge demo exited with {status}");
}

/// The `curl …` commands of the demo's output (continuation lines joined).
fn curl_commands(out: &str) -> Vec<String> {
    let mut cmds = Vec::new();
    let mut current: Option<String> = None;
    for line in out.lines() {
        let l = line.trim();
        if let Some(c) = current.as_mut() {
            c.push(' ');
            c.push_str(l.trim_end_matches('\\').trim());
        } else if l.starts_with("curl ") {
            current = Some(l.trim_end_matches('\\').trim().to_string());
        }
        if current.is_some() && !l.ends_with('\\') {
            cmds.push(current.take().unwrap());
        }
    }
    cmds
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n { s.to_string() } else { format!("{}…", &s[..s.floor_char_boundary(n)]) }
}
