//! The tasks folder of one mailbox: SyncFolderItems → GetItem → [`crate::plan`] → one store
//! transaction, as [`crate::sync`] does for the calendar (same discipline: one `task.*` outbox
//! entry per change, a folder's first sync into an empty mirror is silent, the sync state is
//! written in the same transaction as the mirror changes it covers, a lost or invalid sync
//! state means one silent full resync); plus the EWS writes of the task API and the echo
//! registry that tags the application's own changes.
//!
//! Tasks are single rows (see [`crate::task`]), so a full pass simply gathers every page and
//! plans once, against the whole folder, with the last page's sync state.
//!
//! # Echoes
//!
//! A write through the API records `(ItemId, ChangeKey)` of the item as Exchange returned it
//! ([`Echoes::expect`]); the sync that mirrors exactly that version tags its outbox entry with
//! origin [`API_ORIGIN`], so webhooks without `include_echoes` skip it. A change made in
//! Exchange after the write has another ChangeKey and is announced normally. Deletions are
//! matched by ItemId alone.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use ews_client::{ErrorClass, ErrorKind, EwsError};
use ews_proto::items::{Item, Task};
use ews_proto::ops::{
    CalendarItemCreateOrDeleteOperation, ConflictResolution, CreateItem, DeleteItem, DisposalType, GetItem, ItemChange,
    UpdateItem,
};
use ews_proto::shape::{BaseShape, BodyTypeResponse, ItemShape};
use ews_proto::{FolderId, ResponseCode, SmtpAddress};
use exbridge_store::{
    EventType, FolderKind, FolderSyncState, ItemId, MirrorChange, MirrorEvent, MirrorKey, SyncState, UserId,
};
use jiff::Timestamp;

use crate::context::{Context, ExchangeServer};
use crate::mapping::MappedItem;
use crate::plan::{self, PlanInput};
use crate::sync::{PassError, SyncError, SyncMode, SyncPage, SyncReport, message_error, sync_page};
use crate::task::{TaskInput, task_id, task_row};

/// The origin of outbox entries of the application's own writes; the same value as
/// `exbridge_server::webhooks::API_ORIGIN`.
pub const API_ORIGIN: &str = "api";

/// Remembered echoes per user are capped at this many (the oldest are dropped).
const MAX_ECHOES: usize = 256;

/// The task properties mapping reads on top of `AllProperties`.
const TASK_FIELDS: &[&str] = &[
    "item:Body",
    "item:LastModifiedTime",
    "item:Categories",
    "item:Sensitivity",
    "item:Importance",
    "task:StartDate",
    "task:DueDate",
    "task:CompleteDate",
    "task:Status",
    "task:PercentComplete",
    "task:IsComplete",
];

/// The GetItem shape of a tasks sync.
pub fn task_shape() -> ItemShape {
    let mut shape = ItemShape::new(BaseShape::AllProperties).with_fields(TASK_FIELDS);
    shape.body_type = Some(BodyTypeResponse::Text);
    shape
}

/// The application's own task writes not yet seen by a sync (see the module documentation).
/// An expected version: (ItemId, ChangeKey; `None` for a deletion).
type Echo = (String, Option<String>);

#[derive(Debug, Default)]
pub struct Echoes {
    inner: Mutex<HashMap<UserId, Vec<Echo>>>,
    locks: Mutex<HashMap<UserId, Arc<tokio::sync::Mutex<()>>>>,
}

impl Echoes {
    /// The user's write lock: a write holds it from before its EWS call until its echo is
    /// expected, and a tasks sync holds it while it runs, so that a sync started by the write's
    /// own notification cannot see the new version before it is known as an echo.
    pub async fn lock(&self, user: &UserId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.locks.lock().unwrap_or_else(|e| e.into_inner()).entry(user.clone()).or_default().clone();
        lock.lock_owned().await
    }

    /// Expects the sync to see `item_id` at `change_key` (`None`: a deletion).
    pub fn expect(&self, user: &UserId, item_id: &str, change_key: Option<&str>) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let list = map.entry(user.clone()).or_default();
        list.push((item_id.to_owned(), change_key.map(str::to_owned)));
        if list.len() > MAX_ECHOES {
            list.remove(0);
        }
    }

    /// Whether this version was expected (and forgets it).
    fn take(&self, user: &UserId, item_id: &str, change_key: Option<&str>) -> bool {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = map.get_mut(user) else { return false };
        let pos = list.iter().position(|(i, c)| i == item_id && c.as_deref() == change_key);
        if let Some(p) = pos {
            list.remove(p);
        }
        if list.is_empty() {
            map.remove(user);
        }
        pos.is_some()
    }

    /// Forgets a user's expectations (removed user, tasks turned off).
    pub fn forget(&self, user: &UserId) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).remove(user);
        self.locks.lock().unwrap_or_else(|e| e.into_inner()).remove(user);
    }
}

/// Synchronises the tasks folder of `mailbox` into `user`'s mirror. A first sync into an
/// empty mirror is silent (no `task.created`).
pub async fn sync_tasks(
    ctx: &Context,
    server: &ExchangeServer,
    user: &UserId,
    mailbox: &SmtpAddress,
    mode: SyncMode,
    now: Timestamp,
    echoes: &Echoes,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let stored = ctx.store.sync_state(user, FolderKind::Tasks).await?;
    report.initial = stored.is_none();
    let mut state = match mode {
        SyncMode::Incremental => stored.map(|s| s.sync_state),
        SyncMode::Full => None,
    };
    let pass = Pass { ctx, server, user, mailbox, now, echoes };
    loop {
        match pass.run(state.take(), &mut report).await {
            Ok(()) => return Ok(report),
            Err(PassError::InvalidSyncState) if !report.resynced => {
                tracing::warn!(user = %user, mailbox = %mailbox, "tasks sync state invalid; resynchronising the folder");
                ctx.store.clear_sync_state(user, FolderKind::Tasks).await?;
                report.resynced = true;
            }
            Err(PassError::InvalidSyncState) => {
                return Err(SyncError::Exchange(EwsError::new(
                    ErrorClass::Mailbox,
                    ErrorKind::Response,
                    format!("SyncFolderItems (tasks) for {mailbox}: ErrorInvalidSyncStateData without a sync state"),
                )));
            }
            Err(PassError::Sync(e)) => return Err(e),
        }
    }
}

/// Stops mirroring a user's tasks (`sync_tasks` turned off): every row, tombstones included,
/// is forgotten without an event and the sync state cleared. Returns the rows forgotten.
pub async fn forget_tasks(ctx: &Context, user: &UserId, echoes: &Echoes) -> Result<usize, SyncError> {
    let rows = ctx.store.mirror_index(user, FolderKind::Tasks).await?;
    let changes: Vec<MirrorChange> = rows.into_iter().map(|r| MirrorChange::Forget { key: r.key }).collect();
    if !changes.is_empty() {
        ctx.store.apply_mirror_changes(user, &changes, None, &[]).await?;
    }
    ctx.store.clear_sync_state(user, FolderKind::Tasks).await?;
    echoes.forget(user);
    Ok(changes.len())
}

struct Pass<'a> {
    ctx: &'a Context,
    server: &'a ExchangeServer,
    user: &'a UserId,
    mailbox: &'a SmtpAddress,
    now: Timestamp,
    echoes: &'a Echoes,
}

impl Pass<'_> {
    async fn run(&self, mut state: Option<SyncState>, report: &mut SyncReport) -> Result<(), PassError> {
        let full = state.is_none();
        let rows = self.ctx.store.list_mirror(self.user, FolderKind::Tasks).await?;
        let quiet = report.initial && rows.is_empty();
        let mut mirror: BTreeMap<MirrorKey, MirrorEvent> = rows.into_iter().map(|r| (r.key.clone(), r)).collect();
        let mut seen: Vec<MappedItem> = Vec::new();
        let mut seen_deleted: Vec<ItemId> = Vec::new();
        let page_size = i32::try_from(self.ctx.settings.sync_page_size).unwrap_or(512);
        loop {
            report.requests += 1;
            report.pages += 1;
            let SyncPage { changed, mut deleted, new_state, last_page } =
                sync_page(self.server, self.mailbox, FolderId::tasks(), state.as_ref(), page_size).await?;
            let (tasks, missing) = self.get_tasks(&changed, report).await?;
            deleted.extend(missing);
            let items: Vec<MappedItem> = tasks.iter().filter_map(|t| self.map(t, &mirror)).collect();
            if full {
                seen.extend(items.iter().cloned());
                seen_deleted.extend(deleted.iter().cloned());
                if !last_page {
                    state = new_state;
                    continue;
                }
            }
            let (present, deleted) = if full { (&seen[..], &seen_deleted[..]) } else { (&items[..], &deleted[..]) };
            let before: Vec<MirrorEvent> = mirror.values().cloned().collect();
            let p = plan::plan(&PlanInput { user: self.user, now: self.now, before: &before, present, deleted, full });
            let mut outbox = p.outbox;
            if quiet {
                outbox.retain(|e| e.event_type != EventType::TaskCreated);
            }
            // The application's own writes: tagged by the exact version Exchange returned.
            // (Rows as Exchange has them now override the mirror's.)
            let item_of: HashMap<&str, (&str, Option<&str>)> = before
                .iter()
                .chain(present.iter().flat_map(|m| m.rows.iter()))
                .map(|r| (r.key.uid.as_str(), (r.item_id.as_str(), r.change_key.as_ref().map(|c| c.as_str()))))
                .collect();
            for e in &mut outbox {
                let Some(id) = e.data.get("id").and_then(|v| v.as_str()) else { continue };
                let Some((item_id, change_key)) = item_of.get(id) else { continue };
                let key = if e.event_type == EventType::TaskDeleted { None } else { *change_key };
                if self.echoes.take(self.user, item_id, key) {
                    e.origin = Some(API_ORIGIN.to_owned());
                }
            }
            let sync_state = new_state.clone().map(|s| FolderSyncState {
                user_id: self.user.clone(),
                folder: FolderKind::Tasks,
                sync_state: s,
                updated_at: self.now,
            });
            if !p.changes.is_empty() || !outbox.is_empty() || sync_state.is_some() {
                let entries =
                    self.ctx.store.apply_mirror_changes(self.user, &p.changes, sync_state.as_ref(), &outbox).await?;
                report.entries.extend(entries);
            }
            plan::apply_in_memory(&mut mirror, &p.changes);
            mirror.retain(|_, r| !r.deleted);
            report.mirror_changes += p.changes.len();
            report.created += p.created;
            report.updated += p.updated;
            report.deleted += p.deleted;
            state = new_state;
            if last_page {
                return Ok(());
            }
        }
    }

    /// The task of `task` keyed as the mirror keys its ItemId, else by [`task_id`].
    fn map(&self, task: &Task, mirror: &BTreeMap<MirrorKey, MirrorEvent>) -> Option<MappedItem> {
        let item_id = task.item.item_id.as_ref()?.id.as_str().to_owned();
        let id = mirror
            .values()
            .find(|r| r.item_id.as_str() == item_id)
            .map(|r| r.key.uid.as_str().to_owned())
            .unwrap_or_else(|| task_id(&item_id));
        let row = task_row(task, &id, self.now)?;
        Some(MappedItem {
            uid: row.key.uid.clone(),
            item_id: ItemId::new(item_id),
            rows: vec![row],
            deleted_occurrences: Vec::new(),
        })
    }

    async fn get_tasks(
        &self,
        ids: &[ews_proto::ItemId],
        report: &mut SyncReport,
    ) -> Result<(Vec<Task>, Vec<ItemId>), PassError> {
        let mut tasks = Vec::new();
        let mut missing = Vec::new();
        for chunk in ids.chunks(self.ctx.settings.get_item_batch.max(1)) {
            report.requests += 1;
            let response =
                self.server.client.call(Some(self.mailbox), GetItem::new(chunk.to_vec(), task_shape())).await?;
            for (i, msg) in response.messages.into_iter().enumerate() {
                if !msg.status.is_success() {
                    let id = chunk.get(i).map(|x| x.id.as_str().to_owned()).unwrap_or_default();
                    if msg.status.code() == ResponseCode::ErrorItemNotFound {
                        missing.push(ItemId::new(id));
                        continue;
                    }
                    return Err(message_error(self.server, "GetItem", Some(self.mailbox), &msg.status).into());
                }
                // Anything else in the folder (a note, a distribution list…) is not a task.
                tasks.extend(msg.items.into_iter().filter_map(|i| match i {
                    Item::Task(t) => Some(t),
                    _ => None,
                }));
            }
        }
        Ok((tasks, missing))
    }
}

// ---------------------------------------------------------------------------------------------
// Writes

/// The outcome of an update or delete that names a change key.
#[derive(Debug)]
pub enum WriteOutcome {
    /// Done: the item's id and new change key.
    Done(ews_proto::ItemId),
    /// Exchange has a newer version than the change key given.
    Conflict,
    /// The item is gone.
    NotFound,
}

fn first_message_error(
    server: &ExchangeServer,
    op: &str,
    mailbox: &SmtpAddress,
    e: &ews_proto::ResponseStatus,
) -> EwsError {
    message_error(server, op, Some(mailbox), e)
}

/// CreateItem of a task in `mailbox`'s tasks folder (impersonated). Returns its ItemId.
pub async fn create_task(
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    input: &TaskInput,
) -> Result<ews_proto::ItemId, EwsError> {
    let mut op = CreateItem::items(
        [Item::Task(input.to_task())],
        Some(FolderId::tasks()),
        CalendarItemCreateOrDeleteOperation::SendToNone,
    );
    op.send_meeting_invitations = None;
    let response = server.client.call(Some(mailbox), op).await?;
    let msg = response.messages.into_iter().next().ok_or_else(|| {
        EwsError::new(
            ErrorClass::Transient,
            ErrorKind::Protocol,
            format!("CreateItem for {mailbox}: no response message"),
        )
    })?;
    if !msg.status.is_success() {
        return Err(first_message_error(server, "CreateItem", mailbox, &msg.status));
    }
    msg.items.iter().find_map(|i| i.item_id().cloned()).ok_or_else(|| {
        EwsError::new(
            ErrorClass::Transient,
            ErrorKind::Protocol,
            format!("CreateItem for {mailbox}: no ItemId returned"),
        )
    })
}

/// UpdateItem of a task: with a change key, only if it is still current.
pub async fn update_task(
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    item_id: &str,
    change_key: Option<&str>,
    input: &TaskInput,
) -> Result<WriteOutcome, EwsError> {
    let conflict =
        if change_key.is_some() { ConflictResolution::NeverOverwrite } else { ConflictResolution::AlwaysOverwrite };
    let change = ItemChange::new(ews_proto::ItemId::new(item_id, change_key), input.updates());
    let mut op = UpdateItem::new(vec![change], conflict, ews_proto::ops::CalendarItemUpdateOperation::SendToNone);
    op.send_meeting_invitations_or_cancellations = None;
    let response = server.client.call(Some(mailbox), op).await?;
    let msg = response.messages.into_iter().next().ok_or_else(|| {
        EwsError::new(
            ErrorClass::Transient,
            ErrorKind::Protocol,
            format!("UpdateItem for {mailbox}: no response message"),
        )
    })?;
    match msg.status.code() {
        _ if msg.status.is_success() => {}
        ResponseCode::ErrorIrresolvableConflict | ResponseCode::ErrorStaleObject => return Ok(WriteOutcome::Conflict),
        ResponseCode::ErrorItemNotFound => return Ok(WriteOutcome::NotFound),
        _ => return Err(first_message_error(server, "UpdateItem", mailbox, &msg.status)),
    }
    let returned = msg.items.iter().find_map(|i| i.item_id().cloned()).filter(|i| i.change_key.is_some());
    match returned {
        Some(id) => Ok(WriteOutcome::Done(id)),
        // Without the new ChangeKey in the answer, ask for it (the echo is matched on it).
        None => current_id(server, mailbox, item_id).await.map(WriteOutcome::Done),
    }
}

/// The item's current ItemId and ChangeKey (GetItem, IdOnly).
async fn current_id(
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    item_id: &str,
) -> Result<ews_proto::ItemId, EwsError> {
    let op = GetItem::new(vec![ews_proto::ItemId::new(item_id, None)], ItemShape::id_only());
    let response = server.client.call(Some(mailbox), op).await?;
    let msg = response.messages.into_iter().next().ok_or_else(|| {
        EwsError::new(ErrorClass::Transient, ErrorKind::Protocol, format!("GetItem for {mailbox}: no response message"))
    })?;
    if !msg.status.is_success() {
        return Err(first_message_error(server, "GetItem", mailbox, &msg.status));
    }
    Ok(msg.items.iter().find_map(|i| i.item_id().cloned()).unwrap_or_else(|| ews_proto::ItemId::new(item_id, None)))
}

/// DeleteItem of a task (moved to Deleted Items, every occurrence of a recurring task).
pub async fn delete_task(
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    item_id: &str,
) -> Result<WriteOutcome, EwsError> {
    let op = DeleteItem::tasks([ews_proto::ItemId::new(item_id, None)], DisposalType::MoveToDeletedItems);
    let response = server.client.call(Some(mailbox), op).await?;
    let msg = response.messages.into_iter().next().ok_or_else(|| {
        EwsError::new(
            ErrorClass::Transient,
            ErrorKind::Protocol,
            format!("DeleteItem for {mailbox}: no response message"),
        )
    })?;
    match msg.status.code() {
        _ if msg.status.is_success() => Ok(WriteOutcome::Done(ews_proto::ItemId::new(item_id, None))),
        ResponseCode::ErrorItemNotFound => Ok(WriteOutcome::NotFound),
        _ => Err(first_message_error(server, "DeleteItem", mailbox, &msg.status)),
    }
}
