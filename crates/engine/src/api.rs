//! What the server (REST API, SSE, admin UI) asks of the engine: [`Connector`].
//!
//! The server validates input, authenticates and renders; the engine owns the directory, the
//! mailboxes and everything that talks to Exchange. The trait keeps the server testable with a
//! fake connector and the engine free of HTTP.

use async_trait::async_trait;
use exbridge_store::{DirectoryDiff, DirectoryEntry, DirectoryUser, StoreError, UpsertOutcome, UserId};
use jiff::Timestamp;

use crate::event::{EventDoc, FreeBusySlot, PresenceDoc};

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
}
