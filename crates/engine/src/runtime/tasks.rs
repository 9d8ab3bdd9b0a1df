//! Tasks in the running engine: the tasks step of a user's run (sync when `sync_tasks` is on,
//! forget the rows silently when it was turned off) and the task methods of
//! [`crate::api::Connector`] (reads from the mirror, writes to Exchange then a tasks sync
//! through the user's scheduler, awaited, so the result is mirrored before the answer).
//!
//! A write that cannot reach Exchange answers [`TaskError::Unavailable`] (no durable queue for
//! task writes).

use std::sync::Arc;
use std::time::Duration;

use ews_client::{ErrorClass, EwsError};
use ews_proto::SmtpAddress;
use exbridge_store::{
    DirectoryEntry, DirectoryUser, FolderKind, InstanceKey, MirrorEvent, MirrorKey, SyncDirection, UserId,
};
use jiff::Timestamp;

use super::{Engine, Inner, scheduler, store_err};
use crate::api::EngineError;
use crate::context::ExchangeServer;
use crate::sync::SyncMode;
use crate::task::{TaskDoc, TaskError, TaskInput, is_task_id};
use crate::task_sync::{self, WriteOutcome};

/// How long a request waits for the tasks sync that mirrors its write (or a first tasks sync).
const SYNC_WAIT: Duration = Duration::from_secs(60);

fn doc_of(row: &MirrorEvent) -> Result<TaskDoc, TaskError> {
    serde_json::from_value(row.event.clone()).map_err(|e| {
        TaskError::Engine(EngineError::Invalid(format!("mirror row {} is not a task document: {e}", row.key.uid)))
    })
}

/// An Exchange failure of a task request: unreachable or throttled → 503, else 502.
fn exchange_error(user: &UserId, what: &str, e: EwsError) -> TaskError {
    if e.class() == ErrorClass::Transient {
        TaskError::Unavailable(format!("{what} for user {user}: {e}"))
    } else {
        TaskError::Engine(EngineError::Exchange(e))
    }
}

impl Inner {
    /// The tasks part of a run that synchronised the calendar with `mode`.
    pub(super) async fn tasks_step(
        &self,
        user: &DirectoryUser,
        server: &ExchangeServer,
        mailbox: &SmtpAddress,
        mode: SyncMode,
    ) -> Result<(), scheduler::Failed> {
        let id = &user.id;
        if !user.settings.sync_tasks {
            let synced = self
                .ctx
                .store
                .sync_state(id, FolderKind::Tasks)
                .await
                .map_err(store_err(id, "reading the tasks sync state"))?;
            if synced.is_some() {
                match task_sync::forget_tasks(&self.ctx, id, &self.echoes).await {
                    Ok(n) => tracing::info!(user = %id, rows = n, "sync_tasks is off: tasks mirror forgotten"),
                    Err(e) => tracing::warn!(user = %id, error = %e, "forgetting the tasks mirror failed"),
                }
            }
            return Ok(());
        }
        let started = std::time::Instant::now();
        let _writes = self.echoes.lock(id).await;
        match task_sync::sync_tasks(&self.ctx, server, id, mailbox, mode, Timestamp::now(), &self.echoes).await {
            Ok(report) => {
                tracing::debug!(user = %id, mailbox = %mailbox.as_str(), created = report.created,
                    updated = report.updated, deleted = report.deleted, requests = report.requests,
                    resynced = report.resynced, took = ?started.elapsed(), "tasks synced");
                Ok(())
            }
            Err(e) => {
                let reason = format!("tasks sync of {} on {} failed: {e}", mailbox.as_str(), server.name);
                tracing::warn!(user = %id, mailbox = %mailbox.as_str(), server = %server.name, error = %e,
                    "tasks sync failed");
                Err(scheduler::Failed::new(reason, super::Work::sync(mode)))
            }
        }
    }
}

impl Engine {
    /// The user, refusing when `sync_tasks` is off (and writes with direction
    /// `exchange_to_app`), with the mailbox.
    async fn task_user(
        &self,
        user: &UserId,
        write: bool,
    ) -> Result<(DirectoryEntry, SmtpAddress, Arc<ExchangeServer>), TaskError> {
        let entry = self.inner.ensure_user(user).await?;
        if !entry.user.settings.sync_tasks {
            return Err(TaskError::NotAllowed(format!(
                "tasks are not synchronised for user {user} (sync_tasks is off)"
            )));
        }
        if write && entry.user.settings.direction == SyncDirection::ExchangeToApp {
            return Err(TaskError::NotAllowed(format!(
                "user {user} synchronises exchange_to_app only: tasks cannot be written through the API"
            )));
        }
        let (mailbox, server) = self.inner.mailbox_of(&entry)?;
        Ok((entry, mailbox, server))
    }

    /// Runs the user's work (calendar and tasks sync) now and waits for it.
    async fn sync_now(&self, user: &UserId) {
        let done = self.inner.scheduler.trigger_and_wait(user.clone(), super::Work::sync(SyncMode::Incremental));
        if tokio::time::timeout(SYNC_WAIT, done).await.is_err() {
            tracing::warn!(user = %user, wait = ?SYNC_WAIT, "tasks: the sync did not finish in time");
        }
    }

    /// The live mirror row of task `id`.
    async fn task_row(&self, user: &UserId, id: &str) -> Result<MirrorEvent, TaskError> {
        let not_found = || TaskError::NotFound { user: user.to_string(), id: id.to_owned() };
        if !is_task_id(id) {
            return Err(not_found());
        }
        let key = MirrorKey::new(FolderKind::Tasks, id, InstanceKey::single());
        match self.ctx.store.get_event(user, &key).await.map_err(EngineError::from)? {
            Some(row) if !row.deleted => Ok(row),
            _ => Err(not_found()),
        }
    }

    /// Mirrors the user's tasks first if they never were (sync_tasks just turned on).
    async fn ensure_tasks_synced(&self, user: &UserId) -> Result<(), TaskError> {
        let store = &self.ctx.store;
        if store.sync_state(user, FolderKind::Tasks).await.map_err(EngineError::from)?.is_none() {
            self.sync_now(user).await;
            if store.sync_state(user, FolderKind::Tasks).await.map_err(EngineError::from)?.is_none() {
                return Err(TaskError::Unavailable(format!("the tasks of user {user} could not be synchronised yet")));
            }
        }
        Ok(())
    }

    pub(super) async fn list_tasks(&self, user: &UserId, status: Option<&str>) -> Result<Vec<TaskDoc>, TaskError> {
        self.task_user(user, false).await?;
        self.ensure_tasks_synced(user).await?;
        let rows = self.ctx.store.list_mirror(user, FolderKind::Tasks).await.map_err(EngineError::from)?;
        let mut docs = Vec::with_capacity(rows.len());
        for row in &rows {
            let doc = doc_of(row)?;
            if status.is_none_or(|s| s == doc.status) {
                docs.push(doc);
            }
        }
        Ok(docs)
    }

    pub(super) async fn get_task(&self, user: &UserId, id: &str) -> Result<TaskDoc, TaskError> {
        self.task_user(user, false).await?;
        self.ensure_tasks_synced(user).await?;
        doc_of(&self.task_row(user, id).await?)
    }

    pub(super) async fn create_task_in(&self, user: &UserId, input: TaskInput) -> Result<TaskDoc, TaskError> {
        let (_, mailbox, server) = self.task_user(user, true).await?;
        self.ensure_tasks_synced(user).await?;
        let writing = self.inner.echoes.lock(user).await;
        let created = task_sync::create_task(&server, &mailbox, &input)
            .await
            .map_err(|e| exchange_error(user, "creating a task", e))?;
        let change_key = created.change_key.as_ref().map(|c| c.to_string());
        self.inner.echoes.expect(user, created.id.as_str(), change_key.as_deref());
        drop(writing);
        self.sync_now(user).await;
        let rows = self
            .ctx
            .store
            .events_by_item_id(user, &exbridge_store::ItemId::new(created.id.as_str()))
            .await
            .map_err(EngineError::from)?;
        match rows.iter().find(|r| r.key.folder == FolderKind::Tasks && !r.deleted) {
            Some(row) => doc_of(row),
            None => Err(TaskError::Unavailable(format!(
                "the task was created in Exchange for user {user} but is not mirrored yet; it will be"
            ))),
        }
    }

    pub(super) async fn update_task_in(
        &self,
        user: &UserId,
        id: &str,
        input: TaskInput,
        if_match: Option<&str>,
    ) -> Result<TaskDoc, TaskError> {
        let (_, mailbox, server) = self.task_user(user, true).await?;
        self.ensure_tasks_synced(user).await?;
        let row = self.task_row(user, id).await?;
        let current = row.change_key.as_ref().map(|c| c.as_str());
        if let Some(m) = if_match
            && Some(m) != current
        {
            return Err(TaskError::Conflict { current: Box::new(doc_of(&row)?), stale: m.to_owned() });
        }
        if input.is_empty() {
            return doc_of(&row);
        }
        let writing = self.inner.echoes.lock(user).await;
        let outcome = task_sync::update_task(&server, &mailbox, row.item_id.as_str(), if_match, &input)
            .await
            .map_err(|e| exchange_error(user, "updating a task", e))?;
        if let WriteOutcome::Done(updated) = &outcome {
            let change_key = updated.change_key.as_ref().map(|c| c.to_string());
            self.inner.echoes.expect(user, updated.id.as_str(), change_key.as_deref());
        }
        drop(writing);
        match outcome {
            WriteOutcome::Done(_) => {
                self.sync_now(user).await;
                doc_of(&self.task_row(user, id).await?)
            }
            WriteOutcome::Conflict => {
                self.sync_now(user).await;
                let current = doc_of(&self.task_row(user, id).await?)?;
                Err(TaskError::Conflict { current: Box::new(current), stale: if_match.unwrap_or_default().to_owned() })
            }
            WriteOutcome::NotFound => {
                self.sync_now(user).await;
                Err(TaskError::NotFound { user: user.to_string(), id: id.to_owned() })
            }
        }
    }

    pub(super) async fn delete_task_in(
        &self,
        user: &UserId,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), TaskError> {
        let (_, mailbox, server) = self.task_user(user, true).await?;
        self.ensure_tasks_synced(user).await?;
        let row = self.task_row(user, id).await?;
        if let Some(m) = if_match
            && Some(m) != row.change_key.as_ref().map(|c| c.as_str())
        {
            return Err(TaskError::Conflict { current: Box::new(doc_of(&row)?), stale: m.to_owned() });
        }
        let writing = self.inner.echoes.lock(user).await;
        let outcome = task_sync::delete_task(&server, &mailbox, row.item_id.as_str())
            .await
            .map_err(|e| exchange_error(user, "deleting a task", e))?;
        if let WriteOutcome::Done(_) = &outcome {
            self.inner.echoes.expect(user, row.item_id.as_str(), None);
        }
        drop(writing);
        match outcome {
            WriteOutcome::Done(_) => {
                self.sync_now(user).await;
                Ok(())
            }
            WriteOutcome::Conflict | WriteOutcome::NotFound => {
                self.sync_now(user).await;
                Err(TaskError::NotFound { user: user.to_string(), id: id.to_owned() })
            }
        }
    }
}
