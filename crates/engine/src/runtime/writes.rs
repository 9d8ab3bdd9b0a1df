//! The runtime side of event writes ([`crate::writes`]): one write of a user at a time, the
//! awaited sync after Exchange accepted, conflicts answered with the current state, and the
//! durable queue with its applier (`write.completed` / `write.failed`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use exbridge_store::{EventType, NewOutboxEvent, PendingWrite, PendingWriteState, StoreError, UserId};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Inner, Work};
use crate::api::{EngineError, WriteMeta, WriteOutcome};
use crate::event::EventDoc;
use crate::sync::SyncMode;
use crate::writes::{self, Applied, EventInput, Target, WriteError, WriteOp};

/// How long a write waits for the user's sync after Exchange accepted it.
const SYNC_WAIT: Duration = Duration::from_secs(60);
/// How often the applier looks for due writes when nothing wakes it.
const APPLIER_TICK: Duration = Duration::from_secs(1);

fn new_write_id(user: &UserId) -> String {
    use sha2::{Digest, Sha256};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = format!("{}\n{}\n{n}\n{}", user.as_str(), Timestamp::now().as_nanosecond(), std::process::id());
    let digest = Sha256::digest(seed.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("w_{hex}")
}

/// Back-off of a queued write after `attempts` failures: 2 s doubling up to 5 min.
fn write_backoff(attempts: u32) -> Duration {
    Duration::from_secs(2u64.saturating_mul(1 << attempts.min(8))).min(Duration::from_secs(300))
}

fn engine_error_view(e: &EngineError) -> Value {
    match e {
        EngineError::Write(WriteError::Rejected { ews_code, message }) => {
            json!({"code": "exchange_rejected", "message": message, "ews_code": ews_code})
        }
        EngineError::Write(WriteError::Conflict { message, .. }) => json!({"code": "conflict", "message": message}),
        EngineError::Write(WriteError::NotFound { .. }) => json!({"code": "event_not_found", "message": e.to_string()}),
        EngineError::Write(WriteError::NotAllowed { code, message }) => json!({"code": code, "message": message}),
        EngineError::Write(WriteError::Invalid { .. }) => json!({"code": "invalid_event", "message": e.to_string()}),
        _ => json!({"code": "write_failed", "message": e.to_string()}),
    }
}

impl Inner {
    fn write_lock(&self, user: &UserId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.write_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(user.clone()).or_default().clone()
    }

    /// Runs the user's incremental sync through the scheduler and waits for it.
    async fn sync_now(&self, user: &UserId) {
        let done = self.scheduler.trigger_and_wait(user.clone(), Work::sync(SyncMode::Incremental));
        if tokio::time::timeout(SYNC_WAIT, done).await.is_err() {
            tracing::warn!(user = %user, wait = ?SYNC_WAIT, "the sync after a write did not finish in time");
        }
    }

    async fn doc_at(&self, user: &UserId, event_id: &str) -> Result<Option<EventDoc>, EngineError> {
        match writes::find_row(&self.ctx, user, event_id).await {
            Ok((_, row)) => Ok(writes::row_doc(&row)),
            Err(EngineError::Write(WriteError::NotFound { .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The answer once Exchange accepted: the mirror brought up to date, the event read back.
    async fn finish(&self, user: &UserId, applied: Applied) -> Result<WriteOutcome, EngineError> {
        match applied {
            Applied::Unlinked => return Ok(WriteOutcome::Unlinked),
            Applied::Deleted => {
                self.sync_now(user).await;
                return Ok(WriteOutcome::Deleted);
            }
            _ => {}
        }
        self.sync_now(user).await;
        let missing = |what: &str| {
            EngineError::Store(StoreError::Invalid(format!(
                "{what} of user {user} was written to Exchange but is not in the mirror after the sync"
            )))
        };
        match applied {
            Applied::Created { key } => {
                let row = self.ctx.store.get_event(user, &key).await?.filter(|r| !r.deleted);
                let doc = row.as_ref().and_then(writes::row_doc).ok_or_else(|| missing("the created event"))?;
                Ok(WriteOutcome::Created(Box::new(doc)))
            }
            Applied::Updated { key } => {
                let row = self.ctx.store.get_event(user, &key).await?.filter(|r| !r.deleted);
                let doc = row.as_ref().and_then(writes::row_doc).ok_or_else(|| missing("the changed event"))?;
                Ok(WriteOutcome::Updated(Box::new(doc)))
            }
            Applied::Deleted | Applied::Unlinked => unreachable!("handled above"),
        }
    }

    /// One write of the API (see [`crate::writes`]).
    pub(super) async fn write(&self, user: &UserId, op: WriteOp, meta: WriteMeta) -> Result<WriteOutcome, EngineError> {
        self.check_open()?;
        // 400 before anything else, then the settings.
        let input = match &op {
            WriteOp::Create { body } => Some(EventInput::parse(body, true)?),
            WriteOp::Update { body, .. } => Some(EventInput::parse(body, false)?),
            WriteOp::Delete { .. } => None,
        };
        let entry = self.ensure_user(user).await?;
        writes::check_settings(&entry.user, input.as_ref())?;
        let (mailbox, server) = self.mailbox_of(&entry)?;
        let lock = self.write_lock(user);
        let _turn = lock.lock().await;
        // Behind a queued write of the same user, a write queues too (order).
        if !self.ctx.store.queued_writes(Some(user)).await?.is_empty() {
            return self.enqueue(user, &op, &meta).await;
        }
        let target = Target { ctx: &self.ctx, server: &server, mailbox: &mailbox, user: &entry.user };
        match writes::apply(&target, &op).await {
            Ok(applied) => self.finish(user, applied).await,
            Err(EngineError::Exchange(e)) if writes::is_unavailable(&e) => {
                tracing::warn!(user = %user, mailbox = %mailbox.as_str(), error = %e, "Exchange cannot take the write now; queued");
                self.enqueue(user, &op, &meta).await
            }
            Err(EngineError::Write(WriteError::Conflict { message, current })) => {
                // Exchange is the system of record: answer with the state as it is now.
                self.sync_now(user).await;
                let event_id = match &op {
                    WriteOp::Update { event_id, .. } | WriteOp::Delete { event_id, .. } => Some(event_id.as_str()),
                    WriteOp::Create { .. } => None,
                };
                let now = match event_id {
                    Some(id) => self.doc_at(user, id).await?.map(Box::new),
                    None => None,
                };
                Err(WriteError::Conflict { message, current: now.or(current) }.into())
            }
            Err(e) => Err(e),
        }
    }

    async fn enqueue(&self, user: &UserId, op: &WriteOp, meta: &WriteMeta) -> Result<WriteOutcome, EngineError> {
        let id = new_write_id(user);
        let operation = serde_json::to_value(op).map_err(|e| EngineError::Invalid(format!("queueing a write: {e}")))?;
        let queued = self.ctx.store.enqueue_write(user, &id, meta.idempotency_key.as_deref(), &operation).await?;
        tracing::info!(user = %user, write_id = %queued.id, seq = queued.seq, "write queued");
        self.write_wake.notify_one();
        Ok(WriteOutcome::Queued { write_id: queued.id })
    }

    pub(super) async fn write_status(&self, user: &UserId, write_id: &str) -> Result<Option<Value>, EngineError> {
        let Some(w) = self.ctx.store.pending_write(write_id).await? else { return Ok(None) };
        if &w.user_id != user {
            return Ok(None);
        }
        Ok(Some(json!({
            "write_id": w.id,
            "status": w.state.as_str(),
            "attempts": w.attempts,
            "next_attempt_at": (w.state == PendingWriteState::Queued).then(|| w.next_attempt_at.to_string()),
            "last_error": w.last_error,
            "idempotency_key": w.idempotency_key,
            "result": w.result,
            "created_at": w.created_at.to_string(),
        })))
    }

    /// The applier of queued writes: per user the oldest first, when due; a write Exchange still
    /// cannot take waits (back-off, at least the server's BackOffMilliseconds) and holds back
    /// the user's later ones.
    pub(super) async fn write_loop(self: Arc<Self>) {
        loop {
            if self.check_open().is_err() {
                return;
            }
            let queued = match self.ctx.store.queued_writes(None).await {
                Ok(q) => q,
                Err(e) => {
                    tracing::warn!(error = %e, "listing queued writes failed");
                    Vec::new()
                }
            };
            let mut heads: BTreeMap<UserId, PendingWrite> = BTreeMap::new();
            for w in queued {
                heads.entry(w.user_id.clone()).or_insert(w);
            }
            let now = Timestamp::now();
            for (_, w) in heads {
                if w.next_attempt_at <= now {
                    self.apply_queued(w).await;
                }
            }
            tokio::select! {
                _ = self.write_wake.notified() => {}
                _ = tokio::time::sleep(APPLIER_TICK) => {}
            }
        }
    }

    async fn apply_queued(&self, mut w: PendingWrite) {
        let user = w.user_id.clone();
        let lock = self.write_lock(&user);
        let _turn = lock.lock().await;
        let op: WriteOp = match serde_json::from_value(w.operation.clone()) {
            Ok(op) => op,
            Err(e) => {
                let err = EngineError::Invalid(format!("queued write {} is unreadable: {e}", w.id));
                self.conclude(&mut w, Err(err)).await;
                return;
            }
        };
        let applied = match self.ctx.store.get_user(&user).await {
            Ok(Some(entry)) => match self.mailbox_of(&entry) {
                Ok((mailbox, server)) => {
                    let target = Target { ctx: &self.ctx, server: &server, mailbox: &mailbox, user: &entry.user };
                    writes::apply(&target, &op).await
                }
                Err(e) => Err(e),
            },
            Ok(None) => Err(EngineError::UnknownUser(user.clone())),
            Err(e) => Err(e.into()),
        };
        // Once Exchange took it, the write is done whatever the sync after it does (never
        // applied twice).
        let outcome = match applied {
            Ok(applied) => {
                let status = match &applied {
                    Applied::Created { .. } => "created",
                    Applied::Updated { .. } => "updated",
                    Applied::Deleted => "deleted",
                    Applied::Unlinked => "unlinked",
                };
                match self.finish(&user, applied).await {
                    Ok(outcome) => Ok(outcome),
                    Err(e) => {
                        tracing::warn!(user = %user, write_id = %w.id, error = %e, "queued write applied; reading it back failed");
                        self.conclude(&mut w, Ok((status, None))).await;
                        return;
                    }
                }
            }
            Err(e) => Err(e),
        };
        match outcome {
            Err(EngineError::Exchange(e)) if writes::is_unavailable(&e) => {
                w.attempts += 1;
                let wait = write_backoff(w.attempts).max(e.retry_after().unwrap_or_default());
                w.next_attempt_at = Timestamp::now()
                    .checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default())
                    .unwrap_or_else(|_| Timestamp::now());
                w.last_error = Some(e.to_string());
                tracing::info!(user = %user, write_id = %w.id, attempts = w.attempts, ?wait, error = %e,
                    "queued write still cannot be applied");
                if let Err(e) = self.ctx.store.update_write(&w).await {
                    tracing::warn!(user = %user, write_id = %w.id, error = %e, "recording a write attempt failed");
                }
            }
            Err(EngineError::NoMailbox { .. }) | Err(EngineError::Store(_)) | Err(EngineError::ShuttingDown)
                if w.attempts < 20 =>
            {
                w.attempts += 1;
                w.next_attempt_at = Timestamp::now()
                    .checked_add(jiff::SignedDuration::try_from(write_backoff(w.attempts)).unwrap_or_default())
                    .unwrap_or_else(|_| Timestamp::now());
                let _ = self.ctx.store.update_write(&w).await;
            }
            Ok(outcome) => {
                let (status, event) = match outcome {
                    WriteOutcome::Created(d) => ("created", Some(*d)),
                    WriteOutcome::Updated(d) => ("updated", Some(*d)),
                    WriteOutcome::Deleted => ("deleted", None),
                    WriteOutcome::Unlinked => ("unlinked", None),
                    WriteOutcome::Queued { .. } => ("queued", None),
                };
                self.conclude(&mut w, Ok((status, event))).await
            }
            Err(e) => self.conclude(&mut w, Err(e)).await,
        }
    }

    /// A queued write's final outcome: stored, and told as `write.completed` / `write.failed`.
    async fn conclude(&self, w: &mut PendingWrite, outcome: Result<(&str, Option<EventDoc>), EngineError>) {
        w.attempts += 1;
        let mut data = json!({"write_id": w.id});
        if let Some(k) = &w.idempotency_key {
            data["idempotency_key"] = json!(k);
        }
        let event_type = match &outcome {
            Ok((status, event)) => {
                w.state = PendingWriteState::Done;
                w.last_error = None;
                data["status"] = json!(status);
                if let Some(doc) = event {
                    data["event"] = serde_json::to_value(doc).unwrap_or(Value::Null);
                }
                EventType::WriteCompleted
            }
            Err(e) => {
                w.state = PendingWriteState::Failed;
                w.last_error = Some(e.to_string());
                data["status"] = json!("failed");
                data["error"] = engine_error_view(e);
                EventType::WriteFailed
            }
        };
        w.result = Some(data.clone());
        tracing::info!(user = %w.user_id, write_id = %w.id, state = w.state.as_str(), "queued write concluded");
        if let Err(e) = self.ctx.store.update_write(w).await {
            tracing::warn!(user = %w.user_id, write_id = %w.id, error = %e, "recording a write's outcome failed");
        }
        let event = NewOutboxEvent::new(event_type, w.user_id.clone(), Timestamp::now(), data);
        if let Err(e) = self.ctx.store.append_outbox(&[event]).await {
            tracing::warn!(user = %w.user_id, write_id = %w.id, error = %e, "appending the write's outcome failed");
        }
    }
}
