//! What the server (REST API, SSE, admin UI) asks of the engine: [`Connector`].
//!
//! The server validates input, authenticates and renders; the engine owns the directory, the
//! mailboxes and everything that talks to Exchange. The trait keeps the server testable with a
//! fake connector and the engine free of HTTP.

use async_trait::async_trait;
use exbridge_config::ExchangeConfig;
use exbridge_store::{DirectoryDiff, DirectoryEntry, DirectoryUser, StoreError, UpsertOutcome, UserId};
use jiff::Timestamp;

use crate::event::{EventDoc, FreeBusySlot, PresenceDoc};
use crate::task::{TaskDoc, TaskError, TaskInput};

/// Why the engine could not answer. The server maps each variant to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The user is not in the directory, even after a refresh (404).
    #[error("unknown user {0}")]
    UnknownUser(UserId),
    /// The user is known but no identifier resolved to a mailbox (404, `code: mailbox_not_found`).
    #[error("no mailbox found for user {user}: {reason}")]
    NoMailbox { user: UserId, reason: String },
    /// Bad input the server could not see (400).
    #[error("{0}")]
    Invalid(String),
    /// `PUT /users` would remove every user or too many (409; retry with `?force=true`).
    #[error("{0}")]
    MassDelete(String),
    /// Exchange failed or is unreachable (502; 503 when throttled).
    #[error("Exchange: {0}")]
    Exchange(#[from] ews_client::EwsError),
    /// The store failed (500).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The engine is shutting down (503).
    #[error("the connector is shutting down")]
    ShuttingDown,
    /// An event write was refused (400, 404, 409, 422: see [`crate::writes::WriteError`]).
    #[error("{0}")]
    Write(#[from] crate::writes::WriteError),
}

/// `/readyz`: the store and every Exchange server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub store: Result<(), String>,
    /// Per `[[exchange]]` server, by name: reachable, or why not.
    pub exchange: Vec<(String, Result<(), String>)>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.store.is_ok() && self.exchange.iter().all(|(_, r)| r.is_ok())
    }
}

/// The engine as the server sees it.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// `PUT /api/v1/users`: replaces the directory; new users are resolved and synced, removed
    /// ones unsubscribed. Refused with [`EngineError::MassDelete`] when it would empty a
    /// non-empty directory, unless `force`.
    async fn replace_users(&self, users: Vec<DirectoryUser>, force: bool) -> Result<DirectoryDiff, EngineError>;

    /// `POST /api/v1/users`: adds or changes one user.
    async fn upsert_user(&self, user: DirectoryUser) -> Result<UpsertOutcome, EngineError>;

    /// `DELETE /api/v1/users/{id}`: false when unknown.
    async fn delete_user(&self, user: &UserId) -> Result<bool, EngineError>;

    /// Every user with their mailbox state.
    async fn list_users(&self) -> Result<Vec<DirectoryEntry>, EngineError>;

    /// The user, refreshing the directory (url/file sources) when unknown and resolving the
    /// mailbox at once when it was never resolved. [`EngineError::UnknownUser`] when still
    /// unknown.
    async fn ensure_user(&self, user: &UserId) -> Result<DirectoryEntry, EngineError>;

    /// Occurrences overlapping `[start, end)`, recurring series expanded, unmasked: from the
    /// mirror once the mailbox's initial sync is complete, otherwise live from Exchange.
    async fn events(&self, user: &UserId, start: Timestamp, end: Timestamp) -> Result<Vec<EventDoc>, EngineError>;

    /// The user's presence now (unmasked).
    async fn presence(&self, user: &UserId) -> Result<PresenceDoc, EngineError>;

    /// Free/busy from Exchange (GetUserAvailability), merged slots in `[start, end)`.
    async fn free_busy(
        &self,
        user: &UserId,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<FreeBusySlot>, EngineError>;

    /// The store and every Exchange server reachable?
    async fn readiness(&self) -> Readiness;

    /// Sets the engine's gauges (users by state, streaming connections and subscriptions per
    /// server, see [`crate::telemetry`]) through the `metrics` facade; called before every
    /// `/metrics` scrape. The default records nothing.
    async fn record_gauges(&self) {}

    /// The `[[exchange]]` servers in effect, including those edited in the admin UI. The
    /// values hold secrets: callers render only whether one is set, never the value.
    async fn exchange_servers(&self) -> Vec<ExchangeConfig> {
        Vec::new()
    }

    /// Adds or replaces (by `name`) one Exchange server and applies it without a restart (new
    /// client, streams reconnected, users re-resolved as needed); persisted in the store (the
    /// secret encrypted when `store.encryption_key` is set) so it survives restarts. Invalid
    /// settings are [`EngineError::Invalid`] naming the field, and change nothing.
    async fn update_exchange_server(&self, server: ExchangeConfig) -> Result<(), EngineError> {
        Err(EngineError::Invalid(format!("editing Exchange server {:?} is not supported here", server.name)))
    }

    /// Connects to one server (`Some(name)`) or every server, as `exbridge check-connection`
    /// does: version, auth method and latency, or the cause of the failure.
    async fn test_connection(&self, server: Option<&str>) -> Vec<ConnectionReport> {
        let _ = server;
        Vec::new()
    }

    /// `POST /api/v1/users/{id}/events`: creates an event (a single or a series) in the user's
    /// mailbox from `body` (see [`crate::writes`] for the shape, the rules and the outcomes).
    async fn create_event(
        &self,
        user: &UserId,
        body: serde_json::Value,
        meta: WriteMeta,
    ) -> Result<WriteOutcome, EngineError> {
        let _ = (user, body, meta);
        Err(EngineError::Invalid("writing events is not supported here".into()))
    }

    /// `PATCH /api/v1/users/{id}/events/{event_id}`: changes a single, a series or one
    /// occurrence (partial `body`).
    async fn update_event(
        &self,
        user: &UserId,
        event_id: &str,
        body: serde_json::Value,
        meta: WriteMeta,
    ) -> Result<WriteOutcome, EngineError> {
        let _ = (user, event_id, body, meta);
        Err(EngineError::Invalid("writing events is not supported here".into()))
    }

    /// `DELETE /api/v1/users/{id}/events/{event_id}`: deletes (or unlinks) a single, a whole
    /// series or one occurrence.
    async fn delete_event(&self, user: &UserId, event_id: &str, meta: WriteMeta) -> Result<WriteOutcome, EngineError> {
        let _ = (user, event_id, meta);
        Err(EngineError::Invalid("writing events is not supported here".into()))
    }

    /// `GET /api/v1/users/{id}/writes/{write_id}`: a queued write's state, `None` when unknown.
    async fn write_status(&self, user: &UserId, write_id: &str) -> Result<Option<serde_json::Value>, EngineError> {
        let _ = (user, write_id);
        Ok(None)
    }

    /// "Check mapping": resolves the user's mailbox again now, trying every identifier in
    /// order, and returns the entry with its attempts.
    async fn recheck_mapping(&self, user: &UserId) -> Result<DirectoryEntry, EngineError> {
        self.ensure_user(user).await
    }

    // --- tasks (CONTRACT §4 tasks; see crate::task). Every method refuses with
    // TaskError::NotAllowed when the user's `settings.sync_tasks` is off. ----------------------

    /// `GET …/tasks`: every mirrored task of the user (unmasked), optionally only those with
    /// `status` (an API status string), ordered by id.
    async fn tasks(&self, user: &UserId, status: Option<&str>) -> Result<Vec<TaskDoc>, TaskError> {
        let _ = (user, status);
        Err(TaskError::Unavailable("tasks are not supported by this connector".into()))
    }

    /// `GET …/tasks/{id}`.
    async fn task(&self, user: &UserId, id: &str) -> Result<TaskDoc, TaskError> {
        let _ = (user, id);
        Err(TaskError::Unavailable("tasks are not supported by this connector".into()))
    }

    /// `POST …/tasks`: creates the task in Exchange; it is in the mirror when this returns.
    /// Refused (NotAllowed) with direction `exchange_to_app`.
    async fn create_task(&self, user: &UserId, input: TaskInput) -> Result<TaskDoc, TaskError> {
        let _ = (user, input);
        Err(TaskError::Unavailable("tasks are not supported by this connector".into()))
    }

    /// `PATCH …/tasks/{id}`: the given fields; with `if_match`, only if it is the task's
    /// current change key (else [`TaskError::Conflict`] with the current task).
    async fn update_task(
        &self,
        user: &UserId,
        id: &str,
        input: TaskInput,
        if_match: Option<&str>,
    ) -> Result<TaskDoc, TaskError> {
        let _ = (user, id, input, if_match);
        Err(TaskError::Unavailable("tasks are not supported by this connector".into()))
    }

    /// `DELETE …/tasks/{id}`; with `if_match` as for [`Connector::update_task`].
    async fn delete_task(&self, user: &UserId, id: &str, if_match: Option<&str>) -> Result<(), TaskError> {
        let _ = (user, id, if_match);
        Err(TaskError::Unavailable("tasks are not supported by this connector".into()))
    }
}

/// What travels with an event write besides its body.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WriteMeta {
    /// `If-Match`: the `change_key` the write is based on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_match: Option<String>,
    /// `Idempotency-Key`, echoed in `write.completed`/`write.failed` of a queued write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// How an event write ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// Created (201) with the event as the mirror now holds it (a series: its series document).
    Created(Box<EventDoc>),
    /// Changed (200) with the event as the mirror now holds it.
    Updated(Box<EventDoc>),
    /// Deleted in Exchange (204).
    Deleted,
    /// Unlinked (200 `{"status":"unlinked"}`): `delete_in_exchange` is false.
    Unlinked,
    /// Exchange could not take it now; queued durably (202 `{"status":"queued","write_id"}`).
    Queued { write_id: String },
}

/// One server's answer to a connection test (`exbridge check-connection`, the admin UI's
/// "Test connection").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnectionReport {
    /// The `[[exchange]]` name.
    pub server: String,
    /// Whether every step succeeded.
    pub ok: bool,
    /// The EWS URL used (configured or found by Autodiscover).
    pub ews_url: Option<String>,
    /// The server's version as it reported it (`ServerVersionInfo`), when reached.
    pub version: Option<String>,
    /// `basic`, `ntlm` or `oauth2`.
    pub auth: String,
    /// Round-trip time of the test request, when it succeeded.
    pub latency_ms: Option<u64>,
    /// Why it failed: DNS, TLS, 401, 403, an EWS error code, … (never a secret).
    pub error: Option<String>,
    /// When the test ran.
    pub checked_at: Timestamp,
}
