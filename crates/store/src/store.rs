//! The [`Store`] trait: everything the engine, the API and the webhook deliverer keep.

use async_trait::async_trait;
use jiff::Timestamp;
use secrecy::SecretString;
use tokio::sync::watch;

use crate::error::Result;
use crate::model::*;

/// The durable store behind the connector.
///
/// Object-safe (`Arc<dyn Store>`): the engine and the server never name a backend. Every
/// method is one database transaction unless it says otherwise; times passed in are taken as
/// given (the caller's clock), times a method stamps itself are the store's clock.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- lifecycle -------------------------------------------------------------------------

    /// Round trip to the database, with the schema version (for `/readyz`).
    async fn health(&self) -> Result<StoreHealth>;

    /// Waits for running operations, checkpoints and closes the database. Later calls fail.
    async fn close(&self);

    /// The highest committed outbox `seq`, updated after every commit that appended entries:
    /// webhook deliverers and SSE streams wait on it instead of polling.
    fn outbox_watch(&self) -> watch::Receiver<i64>;

    // --- directory -------------------------------------------------------------------------

    /// Replaces the whole directory (`PUT /api/v1/users`, or a directory refresh). Users no
    /// longer present are removed with their mailbox state, mirror, sync states and
    /// subscription (returned, so the engine can end it in Exchange). Refused as a whole with
    /// [`StoreError::MassDelete`](crate::StoreError::MassDelete) when `guard` says so.
    async fn replace_directory(&self, users: &[DirectoryUser], guard: ReplaceGuard) -> Result<DirectoryDiff>;

    /// Adds or changes one user (`POST /api/v1/users`).
    async fn upsert_user(&self, user: &DirectoryUser) -> Result<UpsertOutcome>;

    /// Removes one user as `replace_directory` removes them; `None` if unknown.
    async fn delete_user(&self, user: &UserId) -> Result<Option<RemovedUser>>;

    /// Every user with their mailbox state, ordered by id.
    async fn list_users(&self) -> Result<Vec<DirectoryEntry>>;

    async fn get_user(&self, user: &UserId) -> Result<Option<DirectoryEntry>>;

    /// Users per mailbox state and how many completed their initial sync (metrics, progress
    /// of a large start). The default counts [`Store::list_users`].
    async fn user_counts(&self) -> Result<UserCounts> {
        Ok(UserCounts::of(&self.list_users().await?))
    }

    // --- mailbox ---------------------------------------------------------------------------

    /// `None` when the mailbox was never resolved (the API shows it as pending).
    async fn mailbox_state(&self, user: &UserId) -> Result<Option<MailboxState>>;

    /// Fails with `UnknownUser` when the user is not in the directory.
    async fn set_mailbox_state(&self, user: &UserId, state: &MailboxState) -> Result<()>;

    // --- mirror ----------------------------------------------------------------------------

    /// Applies a sync's result in ONE transaction: the mirror changes (upserts, tombstones,
    /// forgets) in order, the folder's new sync state if given (its `user_id` must be `user`),
    /// and the outbox entries telling the application about them. Either all of it is durable
    /// or none of it is. Returns the appended entries.
    async fn apply_mirror_changes(
        &self,
        user: &UserId,
        changes: &[MirrorChange],
        new_sync_state: Option<&FolderSyncState>,
        outbox: &[NewOutboxEvent],
    ) -> Result<Vec<OutboxEntry>>;

    /// Live (not deleted) singles and occurrences of `folder` overlapping `[start, end)`,
    /// ordered by start; a zero-length item counts when `start <= its start < end`. Masters
    /// and undated rows are not returned.
    async fn events_in_window(
        &self,
        user: &UserId,
        folder: FolderKind,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<MirrorEvent>>;

    /// Every live row of `folder` (all kinds, dated or not), ordered by key: tasks, or a full
    /// scan of a calendar.
    async fn list_mirror(&self, user: &UserId, folder: FolderKind) -> Result<Vec<MirrorEvent>>;

    /// One row, tombstone or not.
    async fn get_event(&self, user: &UserId, key: &MirrorKey) -> Result<Option<MirrorEvent>>;

    /// The rows (tombstones included) that SyncFolderItems knows as `item_id`: a delete
    /// notification carries only the ItemId. Found through the item's single or master row
    /// (its occurrences share its UID), so occurrence rows without their master are not.
    async fn events_by_item_id(&self, user: &UserId, item_id: &ItemId) -> Result<Vec<MirrorEvent>>;

    /// The whole mirror of a folder without JSON, tombstones included: what the engine diffs
    /// a full sync against ("present before, absent now ⇒ deleted").
    async fn mirror_index(&self, user: &UserId, folder: FolderKind) -> Result<Vec<MirrorIndexEntry>>;

    /// Removes tombstones changed before `before`; returns how many.
    async fn prune_tombstones(&self, before: Timestamp) -> Result<u64>;

    // --- sync state ------------------------------------------------------------------------

    async fn sync_state(&self, user: &UserId, folder: FolderKind) -> Result<Option<FolderSyncState>>;

    /// Fails with `UnknownUser` when the user is not in the directory.
    async fn set_sync_state(&self, state: &FolderSyncState) -> Result<()>;

    /// Forgets a folder's sync state (the next sync starts over, e.g. after
    /// ErrorInvalidSyncStateData). Returns whether there was one.
    async fn clear_sync_state(&self, user: &UserId, folder: FolderKind) -> Result<bool>;

    // --- subscriptions ---------------------------------------------------------------------

    /// Inserts or replaces the user's subscription. Fails with `UnknownUser` when the user is
    /// not in the directory.
    async fn put_subscription(&self, record: &SubscriptionRecord) -> Result<()>;

    async fn subscription(&self, user: &UserId) -> Result<Option<SubscriptionRecord>>;

    /// The subscription a notification names.
    async fn subscription_by_id(&self, id: &SubscriptionId) -> Result<Option<SubscriptionRecord>>;

    /// Every subscription, ordered by user.
    async fn list_subscriptions(&self) -> Result<Vec<SubscriptionRecord>>;

    /// Moves the watermark of the user's subscription, only if it is still `id` (a late
    /// notification of a replaced subscription changes nothing). Returns whether it moved.
    async fn update_watermark(
        &self,
        user: &UserId,
        id: &SubscriptionId,
        watermark: &Watermark,
        at: Timestamp,
    ) -> Result<bool>;

    /// Removes the user's subscription (only if it is still `id`, when given). Returns whether
    /// one was removed.
    async fn delete_subscription(&self, user: &UserId, id: Option<&SubscriptionId>) -> Result<bool>;

    // --- outbox ----------------------------------------------------------------------------

    /// Declares the configured webhooks (at start-up). Entries appended later get a delivery
    /// row for each webhook that [`wants`](WebhookTarget::wants) them; webhooks no longer
    /// configured lose their delivery rows; a new webhook starts with entries appended after
    /// this call.
    async fn set_webhooks(&self, webhooks: &[WebhookTarget]) -> Result<()>;

    /// Appends entries in one transaction (events not tied to a mirror change: presence,
    /// mailbox resolved, subscription failed).
    async fn append_outbox(&self, events: &[NewOutboxEvent]) -> Result<Vec<OutboxEntry>>;

    /// Entries to deliver to `webhook` now: for each user only the oldest undelivered entry
    /// (the head of the user's queue), and only if its `next_attempt_at <= now`. A failing
    /// head holds back its user's later entries, never another user's. Oldest first.
    async fn pending_for_delivery(
        &self,
        webhook: &WebhookId,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>>;

    /// Records a 2xx. Returns false if it was already delivered (or there is no such
    /// delivery).
    async fn mark_delivered(&self, webhook: &WebhookId, seq: i64, at: Timestamp) -> Result<bool>;

    /// Records a failed attempt and when to try again. Returns false if the entry is already
    /// delivered (or there is no such delivery).
    async fn mark_failed(&self, webhook: &WebhookId, seq: i64, next_attempt_at: Timestamp, error: &str)
    -> Result<bool>;

    /// Entries with `seq > after`, oldest first (SSE, `Last-Event-ID` resume).
    async fn entries_after(&self, after: i64, limit: u32) -> Result<Vec<OutboxEntry>>;

    /// The entry with this id (to turn an SSE `Last-Event-ID` into a seq).
    async fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>>;

    /// Every webhook's delivery state of one entry.
    async fn delivery_states(&self, seq: i64) -> Result<Vec<DeliveryState>>;

    /// Removes entries appended before `before` that every webhook has delivered. An entry
    /// some webhook still has to deliver is never removed. Returns how many were removed.
    async fn prune_outbox(&self, before: Timestamp) -> Result<u64>;

    async fn outbox_stats(&self) -> Result<OutboxStats>;

    // --- presence --------------------------------------------------------------------------

    /// The presence document of the last `presence.changed` appended for the user (kept across
    /// restarts so that an unchanged presence is not announced again); `None` when none was.
    async fn presence_state(&self, user: &UserId) -> Result<Option<serde_json::Value>>;

    /// Records `presence` as the user's last emitted presence and appends `event` (its
    /// `presence.changed`) in ONE transaction. Fails with `UnknownUser` when the user is not in
    /// the directory. Returns the appended entry.
    async fn append_presence_change(
        &self,
        user: &UserId,
        presence: &serde_json::Value,
        event: &NewOutboxEvent,
    ) -> Result<OutboxEntry>;

    // --- idempotency -----------------------------------------------------------------------

    async fn idempotency_get(&self, user: &UserId, key: &str) -> Result<Option<IdempotencyRecord>>;

    /// Takes the key for a request with `request_hash`, or tells how it was used before.
    /// Atomic: of two concurrent requests with one key, one gets `Reserved`.
    async fn idempotency_reserve(&self, user: &UserId, key: &str, request_hash: &str) -> Result<Reservation>;

    /// Stores the response of a reserved key. Returns false if the key is not reserved.
    async fn idempotency_complete(&self, user: &UserId, key: &str, response: &StoredResponse) -> Result<bool>;

    /// Gives up a reservation that has no response yet (the request failed before reaching
    /// Exchange; the client may retry). Returns whether one was released.
    async fn idempotency_release(&self, user: &UserId, key: &str) -> Result<bool>;

    /// Removes records created before `before`; returns how many.
    async fn prune_idempotency(&self, before: Timestamp) -> Result<u64>;

    // --- secrets ---------------------------------------------------------------------------

    /// Whether values are encrypted at rest (a `store.encryption_key` is configured). Without
    /// it the secret methods refuse to store anything.
    fn encrypts_at_rest(&self) -> bool;

    /// Stores (or replaces) a credential entered in the UI or API: an Exchange password, a
    /// client secret, a webhook secret. Always encrypted; fails with
    /// [`StoreError::KeyRequired`](crate::StoreError::KeyRequired) without a key.
    async fn put_secret(&self, name: &str, value: &SecretString) -> Result<()>;

    /// The secret stored under `name`, if any.
    async fn get_secret(&self, name: &str) -> Result<Option<SecretString>>;

    /// Removes a secret; returns whether there was one.
    async fn delete_secret(&self, name: &str) -> Result<bool>;

    // --- API writes (schema 4) ---------------------------------------------------------------

    /// Queues an API write for `user` (state `queued`, due at once, `seq` after the user's
    /// others). Fails with `UnknownUser` when the user is not in the directory.
    async fn enqueue_write(
        &self,
        user: &UserId,
        id: &str,
        idempotency_key: Option<&str>,
        operation: &serde_json::Value,
    ) -> Result<PendingWrite> {
        let _ = (user, id, idempotency_key, operation);
        Err(crate::StoreError::Invalid("this store does not queue writes".into()))
    }

    /// Queued writes (state `queued`), of one user or all, ordered by user then `seq`.
    async fn queued_writes(&self, user: Option<&UserId>) -> Result<Vec<PendingWrite>> {
        let _ = user;
        Ok(Vec::new())
    }

    /// One write, whatever its state.
    async fn pending_write(&self, id: &str) -> Result<Option<PendingWrite>> {
        let _ = id;
        Ok(None)
    }

    /// Records an attempt's outcome: the new state, attempts, next attempt, error and result.
    /// Returns false when there is no such write.
    async fn update_write(&self, write: &PendingWrite) -> Result<bool> {
        let _ = write;
        Ok(false)
    }

    /// Records that the application unlinked the event `event_id` (a single, a series or an
    /// occurrence; its user's `delete_in_exchange` is false): the item stays in Exchange, the
    /// application hears no more about it.
    async fn unlink_event(&self, user: &UserId, event_id: &str) -> Result<()> {
        let _ = (user, event_id);
        Err(crate::StoreError::Invalid("this store does not record unlinked events".into()))
    }

    /// The event ids the application unlinked.
    async fn unlinked_events(&self, user: &UserId) -> Result<Vec<String>> {
        let _ = user;
        Ok(Vec::new())
    }
}
