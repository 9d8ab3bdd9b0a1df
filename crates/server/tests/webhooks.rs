//! The webhook dispatcher against a local axum receiver and a real SqliteStore.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;
use exbridge_config::{Secret, WebhookConfig};
use exbridge_server::webhooks::{DispatchOptions, Dispatcher, start_dispatcher, webhooks_from_config};
use exbridge_store::{EventType, OutboxEntry, Store};
use hmac::{KeyInit, Mac};
use serde_json::Value;
use tokio::sync::oneshot;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Call {
    hook: String,
    event_id: String,
    signature: String,
    content_type: String,
    body: Bytes,
    status: u16,
}

impl Call {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Plan {
    calls: Vec<Call>,
    /// Answer 500 to this many calls first.
    fail_first: usize,
    /// Answer 500 to every call for these users.
    fail_users: HashSet<String>,
    /// Wait this long before answering.
    delay: Duration,
    /// Requests that arrived (answered or not).
    started: usize,
}

#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Plan>>);

async fn receive(State(r): State<Receiver>, Path(hook): Path<String>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let user = payload["user_id"].as_str().unwrap_or_default().to_owned();
    let delay = {
        let mut plan = r.0.lock().unwrap();
        plan.started += 1;
        plan.delay
    };
    tokio::time::sleep(delay).await;
    let mut plan = r.0.lock().unwrap();
    let status = if plan.fail_first > 0 {
        plan.fail_first -= 1;
        500
    } else if plan.fail_users.contains(&user) {
        500
    } else {
        200
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    plan.calls.push(Call {
        hook,
        event_id: header("x-exbridge-event-id"),
        signature: header("x-exbridge-signature"),
        content_type: header("content-type"),
        body,
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let app = Router::new().route("/hook/{name}", post(receive)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, base)
    }

    fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().calls.clone()
    }

    /// Successful calls of one hook, in arrival order.
    fn delivered(&self, hook: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.hook == hook && c.status == 200).collect()
    }

    async fn wait_for(&self, what: &str, mut done: impl FnMut(&[Call]) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if done(&self.calls()) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {:#?}", self.calls());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn hook(base: &str, name: &str, secret: &str) -> WebhookConfig {
    WebhookConfig {
        url: format!("{base}/hook/{name}").parse().unwrap(),
        secret: Secret::new(secret),
        events: vec!["*".into()],
        include_private: false,
        include_echoes: false,
    }
}

fn fast() -> DispatchOptions {
    DispatchOptions {
        timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(40),
        backoff_max: Duration::from_millis(200),
        concurrency: 4,
        poll_interval: Duration::from_millis(300),
    }
}

struct Running {
    dispatcher: Dispatcher,
    stop: oneshot::Sender<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.dispatcher.join()).await.expect("dispatcher stops in time");
    }
}

async fn run(store: &Arc<dyn Store>, hooks: &[WebhookConfig], options: DispatchOptions) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let dispatcher = start_dispatcher(store.clone(), webhooks_from_config(hooks), options, async move {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    Running { dispatcher, stop }
}

fn private_doc(id: &str) -> Value {
    serde_json::to_value(event(id, "Doctor", true)).unwrap()
}

fn verify(call: &Call, secret: &str) -> bool {
    let Some(hex_sig) = call.signature.strip_prefix("sha256=") else { return false };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&call.body);
    mac.verify_slice(&hex::decode(hex_sig).unwrap()).is_ok()
}

#[tokio::test]
async fn signed_and_masked_unless_include_private() {
    let (store, _dir) = temp_store().await;
    let (receiver, base) = Receiver::start().await;
    let masked = hook(&base, "masked", "secret-masked");
    let mut full = hook(&base, "full", "secret-full");
    full.include_private = true;
    let running = run(&store, &[masked, full], fast()).await;

    let entry = append(&store, "u1", EventType::EventCreated, private_doc("e1"), None).await;
    let presence = serde_json::to_value(presence("u1")).unwrap();
    let p = append(&store, "u1", EventType::PresenceChanged, presence, None).await;
    receiver.wait_for("both hooks get both entries", |c| c.iter().filter(|c| c.status == 200).count() == 4).await;

    let m = receiver.delivered("masked");
    let f = receiver.delivered("full");
    for (call, secret) in m.iter().map(|c| (c, "secret-masked")).chain(f.iter().map(|c| (c, "secret-full"))) {
        assert!(verify(call, secret), "signature of {call:?}");
        assert!(!verify(call, "some-other-secret"));
        assert_eq!(call.content_type, "application/json");
        assert_eq!(call.event_id, call.json()["id"].as_str().unwrap());
    }
    assert_eq!(m[0].event_id, entry.id);
    assert_eq!(m[1].event_id, p.id);
    let body = m[0].json();
    assert_eq!(body["type"], "event.created");
    assert_eq!(body["user_id"], "u1");
    assert_eq!(body["data"]["subject"], "Private");
    assert!(body["data"].get("body").is_none() && body["data"].get("join").is_none());
    assert_eq!(m[1].json()["data"]["current_event"]["subject"], "Private");
    assert_eq!(f[0].json()["data"]["subject"], "Doctor");
    assert_eq!(f[0].json()["data"]["body"], "secret body");
    assert_eq!(f[1].json()["data"]["current_event"]["subject"], "Doctor");
    println!("masked webhook body: {}", String::from_utf8_lossy(&m[0].body));
    println!("signature: {}", m[0].signature);
    running.stop().await;
}

#[tokio::test]
async fn retries_deliver_everything_in_order_with_stable_ids() {
    let (store, _dir) = temp_store().await;
    let (receiver, base) = Receiver::start().await;
    receiver.0.lock().unwrap().fail_first = 5;
    let running = run(&store, &[hook(&base, "h", "s3cret")], fast()).await;

    let mut appended: Vec<OutboxEntry> = Vec::new();
    for i in 0..6 {
        let user = if i % 2 == 0 { "u1" } else { "u2" };
        let doc = serde_json::to_value(event(&format!("e{i}"), "Public", false)).unwrap();
        appended.push(append(&store, user, EventType::EventUpdated, doc, None).await);
    }
    receiver.wait_for("every entry delivered", |c| c.iter().filter(|c| c.status == 200).count() >= 6).await;
    // Give a duplicate the chance to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let calls = receiver.calls();
    let failures = calls.iter().filter(|c| c.status == 500).count();
    assert_eq!(failures, 5);
    let delivered = receiver.delivered("h");
    let ids: Vec<&str> = delivered.iter().map(|c| c.event_id.as_str()).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 6, "each entry once: {ids:?}");
    for user in ["u1", "u2"] {
        let expected: Vec<&str> =
            appended.iter().filter(|e| e.user_id.as_str() == user).map(|e| e.id.as_str()).collect();
        let got: Vec<&str> =
            delivered.iter().filter(|c| c.json()["user_id"] == user).map(|c| c.event_id.as_str()).collect();
        assert_eq!(got, expected, "order of {user}");
    }
    // A retried entry is sent with the same id and the same bytes.
    let mut bodies: HashMap<String, Bytes> = HashMap::new();
    for call in &calls {
        assert!(verify(call, "s3cret"));
        let known = bodies.entry(call.event_id.clone()).or_insert_with(|| call.body.clone());
        assert_eq!(known, &call.body, "retry of {} changed its body", call.event_id);
    }
    for entry in &appended {
        let states = store.delivery_states(entry.seq).await.unwrap();
        assert!(states[0].delivered_at.is_some(), "{states:?}");
    }
    println!("{} calls, {failures} failed, {} delivered in order", calls.len(), delivered.len());
    running.stop().await;
}

#[tokio::test]
async fn a_failing_user_does_not_hold_back_another() {
    let (store, _dir) = temp_store().await;
    let (receiver, base) = Receiver::start().await;
    receiver.0.lock().unwrap().fail_users.insert("alice".into());
    let running = run(&store, &[hook(&base, "h", "s")], fast()).await;

    let a1 = append(&store, "alice", EventType::EventCreated, private_doc("a1"), None).await;
    let a2 = append(&store, "alice", EventType::EventCreated, private_doc("a2"), None).await;
    let b1 = append(&store, "bob", EventType::EventCreated, private_doc("b1"), None).await;
    let b2 = append(&store, "bob", EventType::EventCreated, private_doc("b2"), None).await;
    receiver
        .wait_for("bob delivered while alice fails", |c| {
            c.iter().filter(|c| c.status == 200).count() == 2 && c.iter().filter(|c| c.status == 500).count() >= 3
        })
        .await;
    let ids: Vec<String> = receiver.delivered("h").iter().map(|c| c.event_id.clone()).collect();
    assert_eq!(ids, vec![b1.id.clone(), b2.id.clone()]);
    // Alice's head is retried; her second entry was never sent before the first succeeded.
    assert!(receiver.calls().iter().filter(|c| c.status == 500).all(|c| c.event_id == a1.id));
    let state = &store.delivery_states(a1.seq).await.unwrap()[0];
    assert!(state.attempts >= 3 && state.delivered_at.is_none(), "{state:?}");
    let last_error = state.last_error.as_deref().unwrap();
    assert!(last_error.contains("HTTP 500") && last_error.contains(&format!("{base}/hook/h")), "{state:?}");
    println!("alice head after failures: {state:?}");

    receiver.0.lock().unwrap().fail_users.clear();
    receiver.wait_for("alice catches up", |c| c.iter().filter(|c| c.status == 200).count() == 4).await;
    let ids: Vec<String> = receiver.delivered("h").iter().map(|c| c.event_id.clone()).collect();
    assert_eq!(ids[2..], [a1.id, a2.id]);
    running.stop().await;
}

#[tokio::test]
async fn api_echoes_only_for_include_echoes() {
    let (store, _dir) = temp_store().await;
    let (receiver, base) = Receiver::start().await;
    let plain = hook(&base, "plain", "s");
    let mut echoes = hook(&base, "echoes", "s");
    echoes.include_echoes = true;
    let mut only_deleted = hook(&base, "deleted", "s");
    only_deleted.events = vec!["event.deleted".into()];
    let running = run(&store, &[plain, echoes, only_deleted], fast()).await;

    let from_api = append(&store, "u1", EventType::EventCreated, private_doc("x"), Some("api")).await;
    let from_exchange = append(&store, "u1", EventType::EventDeleted, private_doc("y"), None).await;
    receiver.wait_for("all deliveries", |c| c.iter().filter(|c| c.status == 200).count() == 4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let ids = |hook: &str| receiver.delivered(hook).iter().map(|c| c.event_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids("plain"), vec![from_exchange.id.clone()]);
    assert_eq!(ids("echoes"), vec![from_api.id.clone(), from_exchange.id.clone()]);
    assert_eq!(ids("deleted"), vec![from_exchange.id.clone()]);
    running.stop().await;
}

#[tokio::test]
async fn a_restarted_dispatcher_delivers_the_rest_exactly_once() {
    let (store, _dir) = temp_store().await;
    let (receiver, base) = Receiver::start().await;
    let hooks = [hook(&base, "h", "s")];

    // First run: delivers three, then stops.
    let first = run(&store, &hooks, fast()).await;
    let mut appended = Vec::new();
    for i in 0..3 {
        appended.push(append(&store, "u1", EventType::EventCreated, private_doc(&format!("a{i}")), None).await);
    }
    receiver.wait_for("first batch", |c| c.len() == 3).await;
    first.stop().await;

    // While stopped: more entries, and the receiver starts failing.
    receiver.0.lock().unwrap().fail_first = 2;
    for i in 0..3 {
        let user = if i == 1 { "u2" } else { "u1" };
        appended.push(append(&store, user, EventType::EventCreated, private_doc(&format!("b{i}")), None).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.calls().len(), 3, "nothing sent while stopped");

    // A run that fails and is stopped with retries pending, then a third that finishes.
    let second = run(&store, &hooks, fast()).await;
    receiver.wait_for("two failures", |c| c.iter().filter(|c| c.status == 500).count() == 2).await;
    second.stop().await;
    let third = run(&store, &hooks, fast()).await;
    receiver.wait_for("the rest", |c| c.iter().filter(|c| c.status == 200).count() >= 6).await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    let delivered = receiver.delivered("h");
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for call in &delivered {
        *per_id.entry(call.event_id.as_str()).or_default() += 1;
    }
    for entry in &appended {
        assert_eq!(per_id.get(entry.id.as_str()), Some(&1), "{} delivered exactly once", entry.id);
    }
    let u1: Vec<&str> = delivered.iter().filter(|c| c.json()["user_id"] == "u1").map(|c| c.event_id.as_str()).collect();
    let expected: Vec<&str> = appended.iter().filter(|e| e.user_id.as_str() == "u1").map(|e| e.id.as_str()).collect();
    assert_eq!(u1, expected);
    let stats = store.outbox_stats().await.unwrap();
    assert!(stats.undelivered.iter().all(|(_, n)| *n == 0), "{stats:?}");
    println!("after restarts: {} entries delivered once each, {} calls", appended.len(), receiver.calls().len());
    third.stop().await;
}

#[tokio::test]
async fn shutdown_waits_for_requests_in_flight() {
    let (store, _dir) = temp_store().await;
    let (receiver, base) = Receiver::start().await;
    receiver.0.lock().unwrap().delay = Duration::from_millis(500);
    let running = run(&store, &[hook(&base, "h", "s")], fast()).await;
    let a = append(&store, "u1", EventType::EventCreated, private_doc("a"), None).await;
    let b = append(&store, "u1", EventType::EventCreated, private_doc("b"), None).await;

    // Stop while the first request is in flight.
    let deadline = tokio::time::Instant::now() + WAIT;
    while receiver.0.lock().unwrap().started == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no request started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.stop().await;

    // The request in flight finished and was recorded; the next entry was not started.
    assert_eq!(receiver.delivered("h").iter().map(|c| c.event_id.clone()).collect::<Vec<_>>(), vec![a.id.clone()]);
    assert!(store.delivery_states(a.seq).await.unwrap()[0].delivered_at.is_some());
    let b_state = &store.delivery_states(b.seq).await.unwrap()[0];
    assert_eq!((b_state.attempts, b_state.delivered_at), (0, None));

    // The next start delivers the rest.
    receiver.0.lock().unwrap().delay = Duration::ZERO;
    let again = run(&store, &[hook(&base, "h", "s")], fast()).await;
    receiver.wait_for("the second entry", |c| c.len() == 2).await;
    assert_eq!(receiver.delivered("h")[1].event_id, b.id);
    again.stop().await;
}
