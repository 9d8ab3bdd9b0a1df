//! Shared by the integration tests: a fake connector over a real SqliteStore, a running server
//! on 127.0.0.1:0, an SSE reader.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use exbridge_engine::api::{Connector, EngineError, Readiness};
use exbridge_engine::event::{Attendee, EventDoc, FreeBusySlot, JoinDoc, OofDoc, Person, PresenceDoc};
use exbridge_server::{ApiToken, AppState, Tokens};
use exbridge_store::{
    DirectoryDiff, DirectoryEntry, DirectoryUser, EventType, NewOutboxEvent, OutboxEntry, ReplaceGuard, SqliteStore,
    Store, StoreError, UpsertOutcome, UserId,
};
use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::oneshot;

pub const TOKEN: &str = "public-token-1";
pub const PRIVATE_TOKEN: &str = "private-token-1";
/// Every wait in the tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);

/// The engine as a fake: the directory is the real store's, calendars are canned.
pub struct FakeConnector {
    pub store: Arc<dyn Store>,
    pub ready: AtomicBool,
}

pub fn event(id: &str, subject: &str, private: bool) -> EventDoc {
    EventDoc {
        id: id.into(),
        series_id: None,
        uid: format!("uid-{id}"),
        subject: subject.into(),
        start: "2026-03-02T09:00:00+01:00".into(),
        end: "2026-03-02T10:00:00+01:00".into(),
        time_zone: "Europe/Berlin".into(),
        is_all_day: false,
        location: Some("Room 1".into()),
        body: Some("secret body".into()),
        is_private: private,
        categories: vec![],
        importance: "normal".into(),
        free_busy: "busy".into(),
        organizer: Some(Person { email: Some("boss@contoso.com".into()), name: Some("Boss".into()) }),
        attendees: vec![Attendee {
            email: Some("a@contoso.com".into()),
            name: Some("A".into()),
            kind: "required".into(),
            response: "accepted".into(),
        }],
        is_meeting: true,
        is_cancelled: false,
        join: Some(JoinDoc { provider: "teams".into(), url: Some("https://teams.example/join".into()) }),
        recurrence: None,
        changed_at: "2026-03-01T08:00:00Z".into(),
        app_id: None,
        priority: None,
        change_key: None,
    }
}

pub fn presence(user: &str) -> PresenceDoc {
    PresenceDoc {
        user_id: user.into(),
        busy: true,
        current_event: Some(event("cur", "Doctor", true)),
        next_event: Some(event("next", "Standup", false)),
        oof: OofDoc { state: "Disabled".into(), active: false, start: None, end: None, internal_reply: None },
        updated_at: "2026-03-02T08:30:00Z".into(),
    }
}

impl FakeConnector {
    async fn known(&self, user: &UserId) -> Result<DirectoryEntry, EngineError> {
        self.store.get_user(user).await?.ok_or_else(|| EngineError::UnknownUser(user.clone()))
    }
}

#[async_trait]
impl Connector for FakeConnector {
    async fn replace_users(&self, users: Vec<DirectoryUser>, force: bool) -> Result<DirectoryDiff, EngineError> {
        let guard = if force { ReplaceGuard::force() } else { ReplaceGuard::default() };
        match self.store.replace_directory(&users, guard).await {
            Err(e @ StoreError::MassDelete { .. }) => Err(EngineError::MassDelete(e.to_string())),
            other => Ok(other?),
        }
    }
    async fn upsert_user(&self, user: DirectoryUser) -> Result<UpsertOutcome, EngineError> {
        Ok(self.store.upsert_user(&user).await?)
    }
    async fn delete_user(&self, user: &UserId) -> Result<bool, EngineError> {
        Ok(self.store.delete_user(user).await?.is_some())
    }
    async fn list_users(&self) -> Result<Vec<DirectoryEntry>, EngineError> {
        Ok(self.store.list_users().await?)
    }
    async fn ensure_user(&self, user: &UserId) -> Result<DirectoryEntry, EngineError> {
        self.known(user).await
    }
    async fn events(&self, user: &UserId, start: Timestamp, end: Timestamp) -> Result<Vec<EventDoc>, EngineError> {
        self.known(user).await?;
        assert!(start < end);
        Ok(vec![event("pub", "Planning", false), event("priv", "Doctor", true)])
    }
    async fn presence(&self, user: &UserId) -> Result<PresenceDoc, EngineError> {
        self.known(user).await?;
        Ok(presence(user.as_str()))
    }
    async fn free_busy(
        &self,
        user: &UserId,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<FreeBusySlot>, EngineError> {
        self.known(user).await?;
        Ok(vec![FreeBusySlot { start: start.to_string(), end: end.to_string(), status: "busy".into() }])
    }
    async fn readiness(&self) -> Readiness {
        if self.ready.load(Ordering::SeqCst) {
            Readiness { store: Ok(()), exchange: vec![("primary".into(), Ok(()))] }
        } else {
            Readiness { store: Ok(()), exchange: vec![("primary".into(), Err("connection refused".into()))] }
        }
    }
}

/// A store on a temporary file (kept alive by the returned guard).
pub async fn temp_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("exbridge.db")).await.unwrap();
    (Arc::new(store), dir)
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub store: Arc<dyn Store>,
    pub connector: Arc<FakeConnector>,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let (store, dir) = temp_store().await;
        let mut server = Self::start_on(store).await;
        server._dir = Some(dir);
        server
    }

    pub async fn start_on(store: Arc<dyn Store>) -> TestServer {
        let connector = Arc::new(FakeConnector { store: store.clone(), ready: AtomicBool::new(true) });
        let tokens = Tokens::new(vec![ApiToken::new(TOKEN, false), ApiToken::new(PRIVATE_TOKEN, true)]);
        let app = AppState::new(connector.clone(), store.clone(), tokens);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(exbridge_server::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
        TestServer { base, store, connector, client, stop: Some(stop), task: Some(task), _dir: None }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the public (masked) token.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(TOKEN)
    }

    /// Shuts the server down gracefully and waits for it (bounded).
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task).await.expect("server stops in time").unwrap().unwrap();
        }
    }
}

pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, value)
}

pub async fn add_users(store: &Arc<dyn Store>, ids: &[&str]) {
    for id in ids {
        let mut user = DirectoryUser::new(*id);
        user.work_email = Some(format!("{id}@contoso.com"));
        store.upsert_user(&user).await.unwrap();
    }
}

/// Appends one entry; `data` is an event document (private or not).
pub async fn append(
    store: &Arc<dyn Store>,
    user: &str,
    kind: EventType,
    data: Value,
    origin: Option<&str>,
) -> OutboxEntry {
    let mut e = NewOutboxEvent::new(kind, UserId::new(user), Timestamp::now(), data);
    e.origin = origin.map(str::to_owned);
    store.append_outbox(&[e]).await.unwrap().remove(0)
}

/// One SSE frame.
#[derive(Debug, Default, Clone)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    pub comments: Vec<String>,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// Reads an SSE response frame by frame.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status().as_u16(), 200);
        SseReader { response, buffer: String::new() }
    }

    /// The next frame (keep-alive-only frames included), or `None` at the end of the stream.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(pos) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..pos + 2).collect();
                let mut frame = Frame::default();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        frame.comments.push(c.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("id:") {
                        frame.id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        frame.event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                frame.data = data.join("\n");
                return Some(frame);
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk()).await.expect("SSE frame in time").ok()??;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next frame carrying an event (skipping comment-only frames).
    pub async fn next_event(&mut self) -> Option<Frame> {
        loop {
            let frame = self.next_frame().await?;
            if frame.id.is_some() {
                return Some(frame);
            }
        }
    }
}
