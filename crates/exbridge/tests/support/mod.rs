//! End-to-end harness: the `exbridge` binary's processes (`exbridge sim`, `exbridge serve`,
//! `exbridge demo`) driven only through the external contract (`../shared/CONTRACT.md`):
//! command lines, the TOML configuration, the simulator's control API, the REST API and the
//! webhooks.
//!
//! * [`Env`]: a test's temporary folder; the logs of every child process are files in it and
//!   are printed when the test fails (panics).
//! * [`Proc`]: a child process (killed on drop) with its log file.
//! * [`SimProc`] and [`SimApi`]: `exbridge sim --listen 127.0.0.1:0` and its control API.
//! * [`Receiver`]: a webhook receiver on 127.0.0.1 that checks the signature and the event id
//!   header of every delivery, records it with its arrival time, can answer 500 for a while, and
//!   offers views deduplicated by id.
//! * [`ConnectorConfig`], [`Connector`], [`Api`]: the configuration file, `exbridge serve` (kill,
//!   SIGTERM, restart) and its REST API.
//! * [`wait_until`]: bounded polling.
//!
//! Everything is bounded in time: every wait has a timeout that names what it waited for.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::fmt::Display;
use std::fs::File;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Mail domain of the simulated mailboxes.
pub const DOMAIN: &str = "contoso.test";
/// The simulator's service account (may impersonate every mailbox).
pub const SVC: &str = "svc@contoso.test";
pub const SVC_PASSWORD: &str = "secret";
/// Bearer token of the connector's API in the generated configuration.
pub const API_TOKEN: &str = "e2e-api-token";
/// Secret of the webhook in the generated configuration.
pub const WEBHOOK_SECRET: &str = "e2e-webhook-secret";

/// Tests holding this run one at a time: their bounds (a webhook within a second, presence
/// within a second of a meeting's start) assume the machine is not busy with another test's
/// connector. Take it with [`serial`] before starting processes.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits for the other connector tests of this binary to finish; hold the guard for the test.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// How long a child process may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `exbridge` binary under test.
pub fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_exbridge")
}

/// A free TCP port on 127.0.0.1 (bound, read, released: another process could take it in
/// between, which is unlikely enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// Polls `f` every 50 ms until it returns `Some`, at most `timeout`; panics naming `what`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: impl Display, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The RFC 3339 text of now plus `offset` (whole seconds, UTC).
pub fn rfc3339_in(offset: Duration) -> String {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::try_from(offset).expect("a small offset");
    jiff::Timestamp::from_second(t.as_second()).expect("a valid second").to_string()
}

/// Parses an RFC 3339 time (panics naming the text).
pub fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap_or_else(|e| panic!("{s:?} is not an RFC 3339 time: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Test folder, processes and their logs

/// The temporary folder of one test. Prints the logs of the test's processes when the test
/// panics (set `EXBRIDGE_E2E_KEEP=1` to keep the folder).
pub struct Env {
    dir: Option<tempfile::TempDir>,
    logs: Arc<Mutex<Vec<(String, PathBuf)>>>,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new().prefix("exbridge-e2e-").tempdir().expect("create a temporary folder");
        Env { dir: Some(dir), logs: Arc::new(Mutex::new(Vec::new())) }
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("the folder exists until drop").path()
    }

    /// A new log file `NAME-N.log` in the folder, registered for printing on failure.
    fn log_file(&self, name: &str) -> PathBuf {
        let mut logs = self.logs.lock().unwrap();
        let n = logs.iter().filter(|(n, _)| n == name).count();
        let path = self.path().join(format!("{name}-{n}.log"));
        logs.push((name.to_string(), path.clone()));
        path
    }

    /// Every log so far, concatenated (for searching).
    pub fn all_logs(&self) -> String {
        let logs = self.logs.lock().unwrap();
        logs.iter().map(|(_, p)| std::fs::read_to_string(p).unwrap_or_default()).collect::<Vec<_>>().join("\n")
    }
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (name, path) in self.logs.lock().unwrap().iter() {
                let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read: {e})"));
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(300)..];
                eprintln!("===== {name}: {} (last {} lines) =====", path.display(), tail.len());
                for l in tail {
                    eprintln!("{l}");
                }
            }
        }
        if std::env::var_os("EXBRIDGE_E2E_KEEP").is_some()
            && let Some(dir) = self.dir.take()
        {
            eprintln!("kept {}", dir.keep().display());
        }
    }
}

/// A child process of the test, its stdout and stderr going to one log file. Killed (SIGKILL)
/// when dropped.
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

impl Proc {
    /// Starts `exbridge ARGS` with `RUST_LOG` defaulting to `info`.
    pub fn spawn(env: &Env, name: &str, args: &[&str]) -> Proc {
        let log = env.log_file(name);
        let out = File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = out.try_clone().expect("clone the log file handle");
        let mut cmd = Command::new(exe());
        cmd.args(args).stdin(std::process::Stdio::null()).stdout(out).stderr(err).kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name} ({} {args:?}): {e}", exe()));
        Proc { name: name.to_string(), log, child }
    }

    /// What the process wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// `Some(status)` once the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap_or_else(|e| panic!("wait for {}: {e}", self.name))
    }

    /// SIGKILL and reap.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM, then waits for the exit (at most `timeout`; SIGKILL and panic after that).
    pub async fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        if let Some(status) = self.exited() {
            return status;
        }
        let pid = self.pid().expect("a running process has a pid").to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        assert!(matches!(sent, Ok(s) if s.success()), "kill -TERM {pid} ({}) failed: {sent:?}", self.name);
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => panic!("wait for {}: {e}", self.name),
            Err(_) => {
                self.kill().await;
                panic!("{} did not exit within {timeout:?} of SIGTERM", self.name);
            }
        }
    }

    /// Waits until the output contains `needle` (panics if the process ends first or after
    /// `timeout`); returns the output.
    pub async fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.output();
            if out.contains(needle) {
                return out;
            }
            if let Some(status) = self.exited() {
                panic!("{} ended ({status}) before printing {needle:?}; it printed:\n{out}", self.name);
            }
            if Instant::now() >= deadline {
                panic!("{} did not print {needle:?} within {timeout:?}; it printed:\n{out}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client")
}

/// Sends a request and returns the status and the JSON body (`Value::Null` when empty, the
/// text as a string when not JSON).
async fn send(rb: reqwest::RequestBuilder, what: &str) -> (StatusCode, Value) {
    let r = rb.send().await.unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
    let status = StatusCode::from_u16(r.status().as_u16()).expect("a valid status");
    let text = r.text().await.unwrap_or_else(|e| panic!("{what}: reading the body failed: {e}"));
    let body =
        if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, body)
}

fn expect_ok((status, body): (StatusCode, Value), what: &str) -> Value {
    assert!(status.is_success(), "{what}: HTTP {status}: {body}");
    body
}

// ---------------------------------------------------------------------------------------------
// The simulator

/// `exbridge sim` as a child process.
pub struct SimProc {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// `http://127.0.0.1:PORT/EWS/Exchange.asmx`
    pub ews_url: String,
    pub api: SimApi,
}

impl SimProc {
    /// `exbridge sim --listen 127.0.0.1:0` with `mailboxes` mailboxes `user1@contoso.test`…,
    /// `events` items each, from `seed`; returns once it printed its URL.
    pub async fn start(env: &Env, mailboxes: u32, events: u32, seed: u64) -> SimProc {
        let (m, e, s) = (mailboxes.to_string(), events.to_string(), seed.to_string());
        let args = [
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--domain",
            DOMAIN,
            "--mailboxes",
            &m,
            "--events-per-mailbox",
            &e,
            "--seed",
            &s,
            "--service-user",
            SVC,
            "--service-password",
            SVC_PASSWORD,
            "--heartbeat-ms",
            "2000",
        ];
        let mut proc = Proc::spawn(env, "sim", &args);
        let out = proc.wait_for_output("control API at", START_TIMEOUT).await;
        let ews_url = out
            .lines()
            .find_map(|l| l.strip_prefix("exbridge sim: EWS at "))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("the simulator did not print its EWS URL:\n{out}"))
            .to_string();
        let base_url = ews_url.strip_suffix("/EWS/Exchange.asmx").expect("the EWS path").to_string();
        let api = SimApi { http: http(), base: base_url.clone() };
        SimProc { proc, base_url, ews_url, api }
    }
}

/// The simulator's control API (CONTRACT §3).
#[derive(Clone)]
pub struct SimApi {
    http: reqwest::Client,
    base: String,
}

impl SimApi {
    pub fn new(base_url: &str) -> SimApi {
        SimApi { http: http(), base: base_url.trim_end_matches('/').to_string() }
    }

    /// `POST /sim/mailboxes`.
    pub async fn add_mailbox(&self, smtp: &str, aliases: &[&str]) -> Value {
        let what = format!("POST /sim/mailboxes {smtp}");
        let body = json!({"smtp": smtp, "aliases": aliases});
        expect_ok(send(self.http.post(format!("{}/sim/mailboxes", self.base)).json(&body), &what).await, &what)
    }

    /// `GET /sim/mailboxes/{smtp}/items`.
    pub async fn items(&self, smtp: &str) -> Vec<Value> {
        let what = format!("GET /sim/mailboxes/{smtp}/items");
        let v = expect_ok(send(self.http.get(format!("{}/sim/mailboxes/{smtp}/items", self.base)), &what).await, &what);
        match v {
            Value::Array(a) => a,
            other => panic!("{what}: not an array: {other}"),
        }
    }

    /// The item with this UID (the master or single; not the exceptions).
    pub async fn item_by_uid(&self, smtp: &str, uid: &str) -> Option<Value> {
        self.items(smtp).await.into_iter().find(|i| i["uid"] == uid && i["item_type"] != "Exception")
    }

    /// `POST /sim/mailboxes/{smtp}/items`.
    pub async fn create_item(&self, smtp: &str, item: Value) -> Value {
        let what = format!("POST /sim/mailboxes/{smtp}/items {item}");
        expect_ok(
            send(self.http.post(format!("{}/sim/mailboxes/{smtp}/items", self.base)).json(&item), &what).await,
            &what,
        )
    }

    /// `PATCH /sim/mailboxes/{smtp}/items/{id}`.
    pub async fn patch_item(&self, smtp: &str, item_id: &str, patch: Value) -> Value {
        let what = format!("PATCH /sim/mailboxes/{smtp}/items/{item_id} {patch}");
        let url = format!("{}/sim/mailboxes/{smtp}/items/{item_id}", self.base);
        expect_ok(send(self.http.patch(url).json(&patch), &what).await, &what)
    }

    /// `DELETE /sim/mailboxes/{smtp}/items/{id}`.
    pub async fn delete_item(&self, smtp: &str, item_id: &str) {
        let what = format!("DELETE /sim/mailboxes/{smtp}/items/{item_id}");
        let url = format!("{}/sim/mailboxes/{smtp}/items/{item_id}", self.base);
        expect_ok(send(self.http.delete(url), &what).await, &what);
    }

    /// `PUT /sim/mailboxes/{smtp}/oof`.
    pub async fn set_oof(&self, smtp: &str, oof: Value) -> Value {
        let what = format!("PUT /sim/mailboxes/{smtp}/oof {oof}");
        expect_ok(send(self.http.put(format!("{}/sim/mailboxes/{smtp}/oof", self.base)).json(&oof), &what).await, &what)
    }

    /// `POST /sim/faults`.
    pub async fn fault(&self, fault: Value) -> Value {
        let what = format!("POST /sim/faults {fault}");
        expect_ok(send(self.http.post(format!("{}/sim/faults", self.base)).json(&fault), &what).await, &what)
    }

    /// `GET /sim/stats`.
    pub async fn stats(&self) -> Value {
        expect_ok(send(self.http.get(format!("{}/sim/stats", self.base)), "GET /sim/stats").await, "GET /sim/stats")
    }

    /// EWS requests of `operation` served so far.
    pub async fn requests_of(&self, operation: &str) -> u64 {
        self.stats().await["requests"][operation].as_u64().unwrap_or(0)
    }

    /// A raw request (for the status of refused ones).
    pub async fn raw(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut rb = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        send(rb, &format!("{method} {path}")).await
    }
}

// ---------------------------------------------------------------------------------------------
// The webhook receiver

/// One accepted webhook delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Position among all accepted deliveries (0, 1, …).
    pub seq: usize,
    pub id: String,
    pub event_type: String,
    pub user_id: String,
    pub data: Value,
    pub body: Value,
    pub arrived: Instant,
}

impl Delivery {
    pub fn is_event(&self) -> bool {
        self.event_type.starts_with("event.")
    }

    /// `data.uid` of an event delivery.
    pub fn uid(&self) -> Option<&str> {
        self.data["uid"].as_str()
    }

    /// Whether `data.series_id` is set (an occurrence).
    pub fn is_occurrence(&self) -> bool {
        !self.data["series_id"].is_null()
    }

    /// The content of the change, for telling a redelivery (same id) from a duplicate (same
    /// content, another id): type, user and data without the volatile `changed_at`.
    pub fn content_key(&self) -> String {
        let mut data = self.data.clone();
        if let Value::Object(m) = &mut data {
            m.remove("changed_at");
        }
        format!("{}|{}|{}", self.event_type, self.user_id, data)
    }
}

#[derive(Default)]
struct ReceiverState {
    accepted: Vec<Delivery>,
    /// Deliveries answered 500 on purpose.
    refused: usize,
    /// Deliveries that broke the contract (bad signature, id header mismatch, bad body).
    invalid: Vec<String>,
    fail_until: Option<Instant>,
}

/// A webhook receiver on 127.0.0.1 (CONTRACT §5).
pub struct Receiver {
    pub url: String,
    secret: Vec<u8>,
    state: Arc<Mutex<ReceiverState>>,
    task: tokio::task::JoinHandle<()>,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// `sha256=<hex HMAC-SHA256 of body with secret>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Receiver {
    /// Listens on 127.0.0.1:0, path `/hook`, verifying with `secret`.
    pub async fn start(secret: &str) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the webhook receiver");
        let addr: SocketAddr = listener.local_addr().expect("its address");
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state((state.clone(), Arc::new(secret.as_bytes().to_vec())));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url: format!("http://{addr}/hook"), secret: secret.as_bytes().to_vec(), state, task }
    }

    /// Answers 500 to every delivery for `d` from now.
    pub fn fail_for(&self, d: Duration) {
        self.state.lock().unwrap().fail_until = Some(Instant::now() + d);
    }

    /// Deliveries answered 500 on purpose so far.
    pub fn refused(&self) -> usize {
        self.state.lock().unwrap().refused
    }

    /// Every accepted delivery, redeliveries included, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.lock().unwrap().accepted.clone()
    }

    /// The first delivery of each id, in arrival order.
    pub fn distinct(&self) -> Vec<Delivery> {
        let mut seen = HashSet::new();
        self.deliveries().into_iter().filter(|d| seen.insert(d.id.clone())).collect()
    }

    /// A position: [`Receiver::since`] gives what arrived after it.
    pub fn mark(&self) -> usize {
        self.state.lock().unwrap().accepted.len()
    }

    /// Deliveries of ids first seen at or after `mark`.
    pub fn since(&self, mark: usize) -> Vec<Delivery> {
        self.distinct().into_iter().filter(|d| d.seq >= mark).collect()
    }

    /// Contract violations seen (should be empty).
    pub fn invalid(&self) -> Vec<String> {
        self.state.lock().unwrap().invalid.clone()
    }

    pub fn assert_all_valid(&self) {
        let invalid = self.invalid();
        assert!(invalid.is_empty(), "webhook deliveries broke the contract:\n{}", invalid.join("\n"));
    }

    /// Waits for a (distinct) delivery after `mark` satisfying `pred`.
    pub async fn wait_for(
        &self,
        mark: usize,
        timeout: Duration,
        what: impl Display,
        pred: impl Fn(&Delivery) -> bool,
    ) -> Delivery {
        wait_until(timeout, format!("webhook {what}"), || {
            let found = self.since(mark).into_iter().find(|d| pred(d));
            async move { found }
        })
        .await
    }

    /// The receiver's view of one user's calendar: for each UID of a single item or series (not
    /// occurrences), the data of its last `event.created`/`event.updated`, or `None` after an
    /// `event.deleted`; first delivery of each id only, in arrival order.
    pub fn state_by_uid(&self, user_id: &str) -> BTreeMap<String, Option<Value>> {
        let mut out = BTreeMap::new();
        for d in self.distinct() {
            if d.user_id != user_id || !d.is_event() || d.is_occurrence() {
                continue;
            }
            let Some(uid) = d.uid() else { continue };
            let v = if d.event_type == "event.deleted" { None } else { Some(d.data.clone()) };
            out.insert(uid.to_string(), v);
        }
        out
    }

    /// Pairs of distinct ids carrying the same change (same [`Delivery::content_key`]) among
    /// event deliveries: the "delivered twice" the outbox must never do.
    pub fn duplicate_changes(&self) -> Vec<(String, String, String)> {
        let mut by_content: BTreeMap<String, String> = BTreeMap::new();
        let mut dups = Vec::new();
        for d in self.distinct().into_iter().filter(Delivery::is_event) {
            let key = d.content_key();
            if let Some(first) = by_content.get(&key) {
                dups.push((first.clone(), d.id.clone(), key));
            } else {
                by_content.insert(key, d.id.clone());
            }
        }
        dups
    }

    /// Sends a delivery to this receiver as the connector would (for the harness's own test).
    pub async fn post(&self, body: &Value, event_id: &str, signature: Option<String>) -> StatusCode {
        let raw = serde_json::to_vec(body).expect("JSON");
        let sig = signature.unwrap_or_else(|| sign(&self.secret, &raw));
        let r = http()
            .post(&self.url)
            .header("content-type", "application/json")
            .header("X-Exbridge-Event-Id", event_id)
            .header("X-Exbridge-Signature", sig)
            .body(raw)
            .send()
            .await
            .expect("post to the receiver");
        StatusCode::from_u16(r.status().as_u16()).expect("status")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type ReceiverCtx = (Arc<Mutex<ReceiverState>>, Arc<Vec<u8>>);

async fn receive(State((state, secret)): State<ReceiverCtx>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let arrived = Instant::now();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut st = state.lock().unwrap();
    let Some(sig) = header("x-exbridge-signature") else {
        st.invalid.push("a delivery without X-Exbridge-Signature".into());
        return StatusCode::UNAUTHORIZED;
    };
    let valid = sig.strip_prefix("sha256=").and_then(|h| hex::decode(h).ok()).is_some_and(|mac_bytes| {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&secret).expect("HMAC takes keys of any length");
        mac.update(&body);
        mac.verify_slice(&mac_bytes).is_ok()
    });
    if !valid {
        st.invalid.push(format!("a delivery with a wrong X-Exbridge-Signature {sig:?}"));
        return StatusCode::UNAUTHORIZED;
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            st.invalid.push(format!("a delivery whose body is not JSON: {e}"));
            return StatusCode::BAD_REQUEST;
        }
    };
    let id = parsed["id"].as_str().unwrap_or_default().to_string();
    let header_id = header("x-exbridge-event-id").unwrap_or_default();
    if id.is_empty() || header_id != id {
        st.invalid.push(format!("X-Exbridge-Event-Id {header_id:?} is not the body's id {id:?}"));
        return StatusCode::BAD_REQUEST;
    }
    for field in ["type", "user_id", "occurred_at"] {
        if !parsed[field].is_string() {
            st.invalid.push(format!("delivery {id}: no string {field}: {parsed}"));
            return StatusCode::BAD_REQUEST;
        }
    }
    if parsed.get("data").is_none() {
        st.invalid.push(format!("delivery {id}: no data: {parsed}"));
        return StatusCode::BAD_REQUEST;
    }
    if st.fail_until.is_some_and(|t| arrived < t) {
        st.refused += 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let seq = st.accepted.len();
    st.accepted.push(Delivery {
        seq,
        id,
        event_type: parsed["type"].as_str().unwrap_or_default().to_string(),
        user_id: parsed["user_id"].as_str().unwrap_or_default().to_string(),
        data: parsed["data"].clone(),
        body: parsed,
        arrived,
    });
    StatusCode::OK
}

/// `exbridge demo --port <free> --data-dir ENV/demo-data --mailboxes 5 --activity-interval 1`
/// as a child process; returns it with its port.
pub fn spawn_demo(env: &Env) -> (Proc, u16) {
    let port = free_port();
    let data = env.path().join("demo-data");
    let (p, d) = (port.to_string(), data.display().to_string());
    let demo = Proc::spawn(
        env,
        "demo",
        &["demo", "--port", &p, "--data-dir", &d, "--mailboxes", "5", "--activity-interval", "1"],
    );
    (demo, port)
}

// ---------------------------------------------------------------------------------------------
// The connector

/// The connector's configuration (CONTRACT §2), written as TOML by [`ConnectorConfig::write`].
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub ews_url: String,
    /// `basic` or `ntlm`.
    pub auth: String,
    pub webhook_url: Option<String>,
    pub oof_poll_interval: String,
    pub reconcile_interval: String,
    pub path: PathBuf,
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl ConnectorConfig {
    /// API on a free port, store in `ENV/data`, Exchange = the simulator (Basic as the service
    /// user, impersonation), directory pushed through the API, OOF polled every second, webhooks
    /// to `webhook_url`.
    pub fn new(env: &Env, ews_url: &str, webhook_url: Option<&str>) -> ConnectorConfig {
        let data_dir = env.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("create the data folder");
        ConnectorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
            data_dir,
            ews_url: ews_url.to_string(),
            auth: "basic".into(),
            webhook_url: webhook_url.map(str::to_string),
            oof_poll_interval: "1s".into(),
            reconcile_interval: "30s".into(),
            path: env.path().join("exbridge.toml"),
        }
    }

    /// The SQLite file of the store.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("exbridge.db")
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.listen)
    }

    pub fn to_toml(&self) -> String {
        let mut t = format!(
            "[server]\nlisten = {}\napi_tokens = [{}]\ndata_dir = {}\n\n\
             [store]\nurl = {}\n\n\
             [[exchange]]\nname = \"sim\"\news_url = {}\nauth = {}\nusername = {}\npassword = {}\n\
             impersonation = true\nserver_version = \"Exchange2016\"\n\n\
             [directory]\nsource = \"api\"\n\n\
             [sync]\nwindow_past_days = 30\nwindow_future_days = 180\nreconcile_interval = {}\noof_poll_interval = {}\n",
            toml_str(&self.listen.to_string()),
            toml_str(API_TOKEN),
            toml_str(&self.data_dir.display().to_string()),
            toml_str(&format!("sqlite://{}", self.db_path().display())),
            toml_str(&self.ews_url),
            toml_str(&self.auth),
            toml_str(SVC),
            toml_str(SVC_PASSWORD),
            toml_str(&self.reconcile_interval),
            toml_str(&self.oof_poll_interval),
        );
        if let Some(url) = &self.webhook_url {
            t.push_str(&format!(
                "\n[[webhooks]]\nurl = {}\nsecret = {}\nevents = [\"*\"]\n",
                toml_str(url),
                toml_str(WEBHOOK_SECRET)
            ));
        }
        t
    }

    /// Writes the file (again) and returns its path.
    pub fn write(&self) -> &Path {
        std::fs::write(&self.path, self.to_toml()).unwrap_or_else(|e| panic!("write {}: {e}", self.path.display()));
        &self.path
    }
}

/// `exbridge serve --config FILE` as a child process.
pub struct Connector {
    pub config: ConnectorConfig,
    pub proc: Option<Proc>,
    pub api: Api,
}

impl Connector {
    /// Writes the configuration, starts the connector and waits for `/healthz`.
    pub async fn start(env: &Env, config: ConnectorConfig) -> Connector {
        config.write();
        let api = Api::new(&config.base_url(), API_TOKEN);
        let mut c = Connector { config, proc: None, api };
        c.restart(env).await;
        c
    }

    /// Starts it again (after [`Connector::kill`] or [`Connector::stop`]).
    pub async fn restart(&mut self, env: &Env) {
        assert!(self.proc.is_none(), "the connector is still running");
        let path = self.config.path.display().to_string();
        let mut proc = Proc::spawn(env, "connector", &["serve", "--config", &path]);
        let url = format!("{}/healthz", self.config.base_url());
        let client = http();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = proc.exited() {
                panic!("exbridge serve ended ({status}) before answering /healthz:\n{}", proc.output());
            }
            if let Ok(r) = client.get(&url).timeout(Duration::from_secs(2)).send().await
                && r.status().is_success()
            {
                break;
            }
            if Instant::now() >= deadline {
                panic!("exbridge serve did not answer {url} within {START_TIMEOUT:?}:\n{}", proc.output());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.proc = Some(proc);
    }

    /// SIGKILL (no chance to clean up).
    pub async fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill().await;
        }
    }

    /// SIGTERM and wait for a clean exit (status 0, within 30 s).
    pub async fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let status = p.terminate(Duration::from_secs(30)).await;
            assert!(status.success(), "exbridge serve exited with {status} after SIGTERM:\n{}", p.output());
        }
    }

    /// What the current process logged.
    pub fn output(&self) -> String {
        self.proc.as_ref().map(Proc::output).unwrap_or_default()
    }
}

/// The connector's REST API (CONTRACT §4).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    token: String,
}

impl Api {
    pub fn new(base_url: &str, token: &str) -> Api {
        Api { http: http(), base: base_url.trim_end_matches('/').to_string(), token: token.to_string() }
    }

    /// `GET path` with the bearer token.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token), &format!("GET {path}")).await
    }

    /// `PUT /api/v1/users`: replaces the directory.
    pub async fn put_users(&self, users: Value) -> Value {
        let what = "PUT /api/v1/users";
        let rb = self.http.put(format!("{}/api/v1/users", self.base)).bearer_auth(&self.token).json(&users);
        expect_ok(send(rb, what).await, what)
    }

    /// `GET /api/v1/users/{id}`.
    pub async fn user(&self, id: &str) -> Value {
        let what = format!("GET /api/v1/users/{id}");
        expect_ok(self.get(&format!("/api/v1/users/{id}")).await, &what)
    }

    /// `GET /api/v1/users/{id}/events?start=&end=`.
    pub async fn events(&self, id: &str, start: &str, end: &str) -> Vec<Value> {
        let what = format!("GET /api/v1/users/{id}/events");
        let rb = self
            .http
            .get(format!("{}/api/v1/users/{id}/events", self.base))
            .bearer_auth(&self.token)
            .query(&[("start", start), ("end", end)]);
        match expect_ok(send(rb, &what).await, &what) {
            Value::Array(a) => a,
            other => panic!("{what}: not an array: {other}"),
        }
    }

    /// `GET /api/v1/users/{id}/presence`.
    pub async fn presence(&self, id: &str) -> Value {
        let what = format!("GET /api/v1/users/{id}/presence");
        expect_ok(self.get(&format!("/api/v1/users/{id}/presence")).await, &what)
    }

    /// Waits until every user is `subscribed` with `synced_at` set (initial sync done).
    pub async fn wait_synced(&self, ids: &[&str], timeout: Duration) {
        for id in ids {
            wait_until(timeout, format!("user {id} subscribed and synced"), || async move {
                let u = self.user(id).await;
                (u["state"] == "subscribed" && !u["synced_at"].is_null()).then_some(())
            })
            .await;
        }
    }
}

/// A directory user `{id, login_email}` for mailbox `userN@contoso.test`.
pub fn user_for(id: &str, mailbox: &str) -> Value {
    json!({"id": id, "display_name": id, "login_email": mailbox})
}

/// The subject of each event of `events` whose `uid` is `uid` (occurrences included).
pub fn subjects_of(events: &[Value], uid: &str) -> Vec<String> {
    events.iter().filter(|e| e["uid"] == uid).map(|e| e["subject"].as_str().unwrap_or_default().to_string()).collect()
}

/// Opens the connector's SQLite store (the connector must be stopped).
pub async fn open_store(db: &Path) -> sqlx::SqlitePool {
    use sqlx::sqlite::SqliteConnectOptions;
    let opts = SqliteConnectOptions::new().filename(db).create_if_missing(false);
    sqlx::SqlitePool::connect_with(opts).await.unwrap_or_else(|e| panic!("open {}: {e}", db.display()))
}

/// Starts `exbridge serve` with `extra` TOML appended to the generated configuration (e.g. a
/// `[mapping]` section) and waits for `/healthz`.
pub async fn start_connector_with(env: &Env, config: ConnectorConfig, extra: &str) -> Connector {
    std::fs::write(&config.path, format!("{}\n{extra}", config.to_toml()))
        .unwrap_or_else(|e| panic!("write {}: {e}", config.path.display()));
    let api = Api::new(&config.base_url(), API_TOKEN);
    let mut c = Connector { config, proc: None, api };
    c.restart(env).await;
    c
}

// ---------------------------------------------------------------------------------------------
// Tasks (helpers added for tests/tasks.rs)

impl Api {
    /// A request with the bearer token, an optional JSON body and extra headers; the status and
    /// the JSON body (`null` when empty).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut rb = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.token);
        for (name, value) in headers {
            rb = rb.header(*name, *value);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        send(rb, &format!("{method} {path}")).await
    }
}

// ---------------------------------------------------------------------------------------------
// Additions for the sync-policy tests (crates/exbridge/tests/policy.rs)

impl ConnectorConfig {
    /// [`ConnectorConfig::to_toml`] with `lines` added to its `[sync]` section (e.g.
    /// `join_keywords = { "@webex" = "webex" }`).
    pub fn to_toml_with_sync(&self, lines: &str) -> String {
        self.to_toml().replacen("[sync]\n", &format!("[sync]\n{lines}\n"), 1)
    }
}

impl Connector {
    /// Like [`Connector::start`], with the configuration file's text given.
    pub async fn start_with_toml(env: &Env, config: ConnectorConfig, toml: &str) -> Connector {
        std::fs::write(&config.path, toml).unwrap_or_else(|e| panic!("write {}: {e}", config.path.display()));
        let api = Api::new(&config.base_url(), API_TOKEN);
        let mut c = Connector { config, proc: None, api };
        c.restart(env).await;
        c
    }
}

impl Api {
    /// `POST /api/v1/users`: adds or changes one user.
    pub async fn post_user(&self, user: Value) -> Value {
        let what = "POST /api/v1/users";
        let rb = self.http.post(format!("{}/api/v1/users", self.base)).bearer_auth(&self.token).json(&user);
        expect_ok(send(rb, what).await, what)
    }
}

// ---------------------------------------------------------------------------------------------
// The whole stack of an end-to-end test (e2e.rs, policy.rs, writes.rs)

/// The simulator, a signed-webhook receiver and the connector, run one test at a time.
pub struct Stack {
    pub env: Env,
    pub sim: SimProc,
    pub receiver: Receiver,
    pub connector: Connector,
    /// Dropped last: the next test starts once this one's processes are gone.
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

impl Stack {
    /// Starts the simulator (`mailboxes` × `events`, `seed`), the receiver and the connector
    /// (`sync_lines` added to its `[sync]` section), pushes `users` and, when `ids` are given,
    /// waits until those users are synced.
    pub async fn launch(
        (mailboxes, events, seed): (u32, u32, u64),
        sync_lines: Option<&str>,
        users: Value,
        ids: &[&str],
    ) -> Stack {
        const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
        let serial = serial().await;
        let env = Env::new();
        let sim = SimProc::start(&env, mailboxes, events, seed).await;
        let receiver = Receiver::start(WEBHOOK_SECRET).await;
        let config = ConnectorConfig::new(&env, &sim.ews_url, Some(&receiver.url));
        let connector = match sync_lines {
            Some(lines) => {
                let toml = config.to_toml_with_sync(lines);
                Connector::start_with_toml(&env, config, &toml).await
            }
            None => Connector::start(&env, config).await,
        };
        if !ids.is_empty() {
            connector.api.put_users(users).await;
            connector.api.wait_synced(ids, SYNC_TIMEOUT).await;
        }
        Stack { env, sim, receiver, connector, _serial: serial }
    }
}
