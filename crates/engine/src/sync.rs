//! One folder of one mailbox: SyncFolderItems → GetItem → [`crate::plan`] → one store
//! transaction (mirror changes + sync state + outbox entries).
//!
//! # A pass
//!
//! 1. `SyncFolderItems` (IdOnly) from the stored state, `sync_page_size` changes per page,
//!    until `IncludesLastItemInRange`.
//! 2. Per page: `GetItem` of the created/updated ids in batches of `get_item_batch` (all
//!    properties plus the recurrence, occurrence lists, zone ids and the text body), then one
//!    more round for the exceptions (`ModifiedOccurrences`) of the fetched masters that touch
//!    the window, all masters' exceptions batched together. A created/updated item that
//!    GetItem no longer finds is treated as deleted.
//! 3. Per page: the items are mapped ([`crate::mapping`]) in the sync window (`ctx.window(now)`
//!    widened to whole UTC days), planned against the mirror ([`crate::plan`]) and written with
//!    the page's sync state in ONE `apply_mirror_changes`: the state is never ahead of the
//!    mirror.
//!
//! # Full passes
//!
//! Without a sync state (first sync, [`SyncMode::Full`], or after `ErrorInvalidSyncStateData`)
//! every item Exchange has is listed and the last page is planned against the *whole* mirror:
//! identical items raise nothing, items missing from Exchange are deleted, occurrences that
//! left the window are forgotten and those that entered it are added, silently. During such a
//! pass the sync state is written only with the last page (an interrupted full pass starts
//! over, rather than leaving deletions undetected behind a saved state).
//!
//! # The user's settings
//!
//! [`sync_folder_with`] reads the user's settings and applies them ([`crate::policy`]): the
//! window starts no earlier than `sync_start`, single items ending before it are left out (and
//! their rows forgotten, silently), and the planned events are filtered and retyped
//! ([`ReadPolicy::filter_outbox`]) before they are appended; the mirror changes are the same
//! whatever the settings.
//!
//! EWS requests are counted in [`SyncReport::requests`]: an initial sync of 50 items is one
//! SyncFolderItems, one GetItem, plus one GetItem for exceptions if any series has some.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ews_client::{ErrorClass, ErrorKind, EwsError};
use ews_proto::items::{CalendarItem, CalendarItemType, Item};
use ews_proto::ops::{GetItem, SyncChange, SyncFolderItems};
use ews_proto::shape::{BaseShape, BodyTypeResponse, ItemShape};
use ews_proto::{FolderId, ResponseCode, ResponseStatus, SmtpAddress};
use exbridge_store::{
    EventType, FolderKind, FolderSyncState, InstanceKey, ItemId, MirrorChange, MirrorEvent, MirrorKey, OutboxEntry,
    StoreError, SyncState, UserId,
};
use jiff::Timestamp;

use crate::context::{Context, ExchangeServer};
use crate::mapping::{self, MappedItem};
use crate::plan::{self, PlanInput};
use crate::policy::ReadPolicy;

/// How to synchronise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// From the stored sync state (initial sync when there is none).
    Incremental,
    /// Forget the sync state and compare everything Exchange has with the mirror (reconcile,
    /// window slide, suspected inconsistency). Raises events only for real differences.
    Full,
}

impl SyncMode {
    /// `incremental` or `full` (the `mode` label of the sync metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Incremental => "incremental",
            SyncMode::Full => "full",
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// Items created, updated, deleted in the mirror (created ones of a quiet first sync
    /// included, see [`SyncOptions::announce_initial`]).
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// EWS requests sent.
    pub requests: u32,
    /// The sync state was lost or invalid (ErrorInvalidSyncStateData) and a full resync ran.
    pub resynced: bool,
    /// Whether this was the folder's first sync (no sync state before).
    pub initial: bool,
    /// The outbox entries appended.
    pub entries: Vec<OutboxEntry>,
    /// Mirror changes written (upserts, tombstones and forgets, silent ones included).
    pub mirror_changes: usize,
    /// SyncFolderItems pages read.
    pub pages: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Exchange(#[from] EwsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// The mailbox itself is gone or inaccessible (re-resolve it), as opposed to a transient
    /// or server-wide failure.
    pub fn is_mailbox_error(&self) -> bool {
        matches!(self, SyncError::Exchange(e) if e.class() == ews_client::ErrorClass::Mailbox)
    }
}

/// The calendar properties mapping needs on top of `AllProperties`.
const CALENDAR_FIELDS: &[&str] = &[
    "calendar:UID",
    "calendar:Recurrence",
    "calendar:ModifiedOccurrences",
    "calendar:DeletedOccurrences",
    "calendar:StartTimeZoneId",
    "calendar:EndTimeZoneId",
    "calendar:StartTimeZone",
    "calendar:IsCancelled",
    "calendar:OriginalStart",
    "item:Body",
    "item:LastModifiedTime",
];

/// The GetItem shape of a sync: everything mapping reads, the body as text.
pub fn item_shape() -> ItemShape {
    let mut shape = ItemShape::new(BaseShape::AllProperties).with_fields(CALENDAR_FIELDS);
    shape.body_type = Some(BodyTypeResponse::Text);
    shape
        .additional_properties
        .get_or_insert_with(Vec::new)
        .push(ews_proto::shape::PropertyPath::Extended(crate::catmap::app_id_field()));
    shape
}

/// `ctx.window(now)` widened to whole UTC days, so that the window moves once a day.
pub fn day_window(ctx: &Context, now: Timestamp) -> (Timestamp, Timestamp) {
    let (start, end) = ctx.window(now);
    let day = 86_400;
    let floor = start.as_second().div_euclid(day) * day;
    let ceil = (end.as_second() + day - 1).div_euclid(day) * day;
    (Timestamp::from_second(floor).unwrap_or(start), Timestamp::from_second(ceil).unwrap_or(end))
}

/// An EWS error for a failed response message (the client passes per-message failures of
/// mailbox-local codes through; the code is in the message).
pub(crate) fn message_error(
    server: &ExchangeServer,
    operation: &str,
    mailbox: Option<&SmtpAddress>,
    status: &ResponseStatus,
) -> EwsError {
    let code = status.code();
    let text = status.message_text.clone().unwrap_or_default();
    let who = mailbox.map(|m| format!(" for {m}")).unwrap_or_default();
    EwsError::new(
        ErrorClass::of_code(&code),
        ErrorKind::Response,
        format!("server {:?}, {operation}{who}: {code}: {text}", server.name),
    )
}

/// One page of `SyncFolderItems` (IdOnly): the items created or changed (each id once), the
/// items deleted, the new sync state and whether this was the last page. Shared by the calendar
/// and the tasks passes.
pub(crate) struct SyncPage {
    pub changed: Vec<ews_proto::ItemId>,
    pub deleted: Vec<ItemId>,
    pub new_state: Option<SyncState>,
    pub last_page: bool,
}

/// Why [`sync_page`] failed: the stored sync state is no longer valid (the caller resyncs), or
/// anything else.
pub(crate) enum PageError {
    InvalidSyncState,
    Ews(EwsError),
}

/// Fetches the page of `folder` after `state` (the first page without one).
pub(crate) async fn sync_page(
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    folder: FolderId,
    state: Option<&SyncState>,
    page_size: i32,
) -> Result<SyncPage, PageError> {
    let request = SyncFolderItems::new(folder, state.cloned().map(|s| s.into_string().into()), page_size);
    let response = match server.client.call(Some(mailbox), request).await {
        Ok(r) => r,
        // Some servers answer a bad state with a SOAP fault rather than a message.
        Err(e) if state.is_some() && e.response_code() == Some(&ResponseCode::ErrorInvalidSyncStateData) => {
            return Err(PageError::InvalidSyncState);
        }
        Err(e) => return Err(PageError::Ews(e)),
    };
    let Some(msg) = response.messages.into_iter().next() else {
        return Err(PageError::Ews(EwsError::new(
            ErrorClass::Transient,
            ErrorKind::Protocol,
            format!("SyncFolderItems for {mailbox}: no response message"),
        )));
    };
    if !msg.status.is_success() {
        if msg.status.code() == ResponseCode::ErrorInvalidSyncStateData && state.is_some() {
            return Err(PageError::InvalidSyncState);
        }
        return Err(PageError::Ews(message_error(server, "SyncFolderItems", Some(mailbox), &msg.status)));
    }
    let last_page = msg.includes_last_item_in_range != Some(false);
    let new_state = msg.sync_state.clone().map(|s| SyncState::new(s.0));
    let mut changed: Vec<ews_proto::ItemId> = Vec::new();
    let mut changed_seen = BTreeSet::new();
    let mut deleted: Vec<ItemId> = Vec::new();
    for change in msg.changes() {
        match change {
            SyncChange::Create(item) | SyncChange::Update(item) => {
                if let Some(id) = item.item_id()
                    && changed_seen.insert(id.id.as_str().to_owned())
                {
                    changed.push(id.clone());
                }
            }
            SyncChange::Delete(id) => deleted.push(ItemId::new(id.id.as_str())),
            SyncChange::ReadFlagChange { .. } => {}
        }
    }
    Ok(SyncPage { changed, deleted, new_state, last_page })
}

impl From<PageError> for PassError {
    fn from(e: PageError) -> Self {
        match e {
            PageError::InvalidSyncState => PassError::InvalidSyncState,
            PageError::Ews(e) => PassError::Sync(e.into()),
        }
    }
}

/// Why one pass of a folder sync stopped: its sync state is invalid (the caller resyncs), or
/// anything else. Shared by the calendar and the tasks passes.
pub(crate) enum PassError {
    InvalidSyncState,
    Sync(SyncError),
}

impl<E: Into<SyncError>> From<E> for PassError {
    fn from(e: E) -> Self {
        PassError::Sync(e.into())
    }
}

/// How to synchronise: the mode and what to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    pub mode: SyncMode,
    /// Whether the items found by a folder's very first sync (no sync state and an empty
    /// mirror) are announced with `event.created` (default). When false they are mirrored
    /// silently; later syncs announce changes as usual. A resync over a non-empty mirror is
    /// never affected: it raises events for real differences only.
    pub announce_initial: bool,
}

impl SyncOptions {
    pub fn new(mode: SyncMode) -> Self {
        SyncOptions { mode, announce_initial: true }
    }
}

/// Synchronises one folder of `mailbox` (impersonated) into `user`'s mirror, with
/// [`SyncOptions::new`]`(mode)`.
pub async fn sync_folder(
    ctx: &Context,
    server: &ExchangeServer,
    user: &UserId,
    mailbox: &SmtpAddress,
    folder: FolderKind,
    mode: SyncMode,
    now: Timestamp,
) -> Result<SyncReport, SyncError> {
    sync_folder_with(ctx, server, user, mailbox, folder, SyncOptions::new(mode), now).await
}

/// [`sync_folder`] with options; the user's settings (from the store's directory, the
/// defaults for a user it does not hold) applied as [`crate::policy`] describes.
pub async fn sync_folder_with(
    ctx: &Context,
    server: &ExchangeServer,
    user: &UserId,
    mailbox: &SmtpAddress,
    folder: FolderKind,
    options: SyncOptions,
    now: Timestamp,
) -> Result<SyncReport, SyncError> {
    let policy = match ctx.store.get_user(user).await? {
        Some(entry) => ReadPolicy::from_settings(&entry.user.settings),
        None => ReadPolicy::default(),
    };
    sync_folder_with_policy(ctx, server, user, mailbox, folder, options, &policy, now).await
}

/// [`sync_folder_with`] with an explicit [`ReadPolicy`] (its window, and what it forwards).
#[allow(clippy::too_many_arguments)]
pub async fn sync_folder_with_policy(
    ctx: &Context,
    server: &ExchangeServer,
    user: &UserId,
    mailbox: &SmtpAddress,
    folder: FolderKind,
    options: SyncOptions,
    policy: &ReadPolicy,
    now: Timestamp,
) -> Result<SyncReport, SyncError> {
    let mode = options.mode;
    let mut report = SyncReport::default();
    let stored = ctx.store.sync_state(user, folder).await?;
    report.initial = stored.is_none();
    let mut state = match mode {
        SyncMode::Incremental => stored.map(|s| s.sync_state),
        SyncMode::Full => None,
    };
    let pass = Pass {
        ctx,
        server,
        user,
        mailbox,
        folder,
        now,
        window: policy.window(day_window(ctx, now)),
        announce_initial: options.announce_initial,
        policy,
    };
    loop {
        match pass.run(state.take(), &mut report).await {
            Ok(()) => return Ok(report),
            Err(PassError::InvalidSyncState) if !report.resynced => {
                tracing::warn!(user = %user, mailbox = %mailbox, folder = %folder,
                    "the sync state is invalid (ErrorInvalidSyncStateData); resynchronising the whole folder");
                ctx.store.clear_sync_state(user, folder).await?;
                report.resynced = true;
            }
            Err(PassError::InvalidSyncState) => {
                return Err(SyncError::Exchange(EwsError::new(
                    ErrorClass::Mailbox,
                    ErrorKind::Response,
                    format!("SyncFolderItems for {mailbox}: ErrorInvalidSyncStateData without a sync state"),
                )));
            }
            Err(PassError::Sync(e)) => return Err(e),
        }
    }
}

struct Pass<'a> {
    ctx: &'a Context,
    server: &'a ExchangeServer,
    user: &'a UserId,
    mailbox: &'a SmtpAddress,
    folder: FolderKind,
    now: Timestamp,
    window: (Timestamp, Timestamp),
    announce_initial: bool,
    policy: &'a ReadPolicy,
}

impl Pass<'_> {
    fn folder_id(&self) -> FolderId {
        match self.folder {
            FolderKind::Calendar => FolderId::calendar(),
            FolderKind::Tasks => FolderId::tasks(),
        }
    }

    async fn run(&self, mut state: Option<SyncState>, report: &mut SyncReport) -> Result<(), PassError> {
        let full = state.is_none();
        let mut mirror: Option<BTreeMap<MirrorKey, MirrorEvent>> = None;
        let mut seen: Vec<MappedItem> = Vec::new();
        // Items Exchange has but that could not be fetched or mapped: their mirror rows stay
        // as they are (never planned as deleted by a full pass).
        let mut skipped: BTreeSet<String> = BTreeSet::new();
        // A first sync into an empty mirror that is not to be announced.
        let mut quiet_creates = false;
        let page_size = i32::try_from(self.ctx.settings.sync_page_size).unwrap_or(512);
        loop {
            report.requests += 1;
            report.pages += 1;
            let SyncPage { changed, mut deleted, new_state, last_page } =
                sync_page(self.server, self.mailbox, self.folder_id(), state.as_ref(), page_size).await?;
            let (items, missing) = self.fetch(&changed, report, &mut skipped).await?;
            deleted.extend(missing);

            let has_work = !items.is_empty() || !deleted.is_empty() || (full && last_page);
            if has_work && mirror.is_none() {
                let rows = self.ctx.store.list_mirror(self.user, self.folder).await?;
                quiet_creates = !self.announce_initial && report.initial && rows.is_empty();
                mirror = Some(rows.into_iter().map(|r| (r.key.clone(), r)).collect());
            }
            let mut page_items = Vec::new();
            // Items the user's window leaves out (policy rule 4): their rows are forgotten.
            let mut cut: BTreeSet<String> = BTreeSet::new();
            if let Some(m) = &mirror {
                for (item, exceptions) in &items {
                    match self.map(item, exceptions, m) {
                        Ok(mapped) if self.policy.cuts(self.window, &mapped) => {
                            cut.insert(mapped.uid.as_str().to_owned());
                        }
                        Ok(mapped) => page_items.push(mapped),
                        Err(e) => {
                            tracing::warn!(user = %self.user, mailbox = %self.mailbox, error = %e,
                                "calendar item skipped");
                            if let Some(id) = &item.item.item_id {
                                skipped.insert(id.id.as_str().to_owned());
                            }
                        }
                    }
                }
            }
            let final_full = full && last_page;
            let save_state = !full || last_page;
            let (mut changes, mut outbox, counts) = match &mirror {
                // The first sync into an empty mirror, not announced, on its last page: every
                // item is new. The rows are moved into the changes (no copy, no events).
                Some(m) if quiet_creates && last_page && m.is_empty() => {
                    let present = if full {
                        seen.append(&mut page_items);
                        std::mem::take(&mut seen)
                    } else {
                        std::mem::take(&mut page_items)
                    };
                    let p = plan::initial_quiet(present);
                    (p.changes, p.outbox, (p.created, p.updated, p.deleted))
                }
                Some(m) => {
                    let before: Vec<MirrorEvent> = m
                        .values()
                        .filter(|r| !skipped.contains(r.item_id.as_str()) && !cut.contains(r.key.uid.as_str()))
                        .cloned()
                        .collect();
                    // A full pass plans its intermediate pages on their own items, and its last
                    // page on every item seen against the whole mirror.
                    if final_full {
                        seen.append(&mut page_items);
                    }
                    let present: &[MappedItem] = if final_full { &seen } else { &page_items };
                    let p = plan::plan(&PlanInput {
                        user: self.user,
                        now: self.now,
                        before: &before,
                        present,
                        deleted: &deleted,
                        full: final_full,
                    });
                    if full && !last_page {
                        seen.append(&mut page_items);
                    }
                    (p.changes, p.outbox, (p.created, p.updated, p.deleted))
                }
                None => (Vec::new(), Vec::new(), (0, 0, 0)),
            };
            if let Some(m) = &mirror
                && !cut.is_empty()
            {
                let forgets = m
                    .values()
                    .filter(|r| cut.contains(r.key.uid.as_str()))
                    .map(|r| MirrorChange::Forget { key: r.key.clone() });
                changes.splice(0..0, forgets);
            }
            outbox = self.policy.filter_outbox(outbox);
            if quiet_creates {
                outbox.retain(|e| !matches!(e.event_type, EventType::EventCreated | EventType::TaskCreated));
            }
            if !outbox.is_empty() {
                // The application's own writes are tagged as echoes, unlinked events dropped.
                let unlinked = self.ctx.store.unlinked_events(self.user).await?;
                crate::writes::filter_outbox(self.user, &unlinked, &mut outbox);
            }
            let sync_state = match (&new_state, save_state) {
                (Some(s), true) => Some(FolderSyncState {
                    user_id: self.user.clone(),
                    folder: self.folder,
                    sync_state: s.clone(),
                    updated_at: self.now,
                }),
                _ => None,
            };
            if !changes.is_empty() || !outbox.is_empty() || sync_state.is_some() {
                let entries =
                    self.ctx.store.apply_mirror_changes(self.user, &changes, sync_state.as_ref(), &outbox).await?;
                report.entries.extend(entries);
            }
            // The next page plans against the mirror as it is now (not needed after the last).
            if let Some(m) = mirror.as_mut().filter(|_| !last_page) {
                plan::apply_in_memory(m, &changes);
                // Tombstones are not part of the live mirror the next page plans against.
                m.retain(|_, r| !r.deleted);
            }
            report.mirror_changes += changes.len();
            report.created += counts.0;
            report.updated += counts.1;
            report.deleted += counts.2;
            state = new_state;
            if last_page {
                return Ok(());
            }
        }
    }

    /// GetItem of the changed items, then of the exceptions of the masters among them.
    /// Returns the calendar items with their exceptions, and the ids GetItem no longer finds.
    #[allow(clippy::type_complexity)]
    async fn fetch(
        &self,
        ids: &[ews_proto::ItemId],
        report: &mut SyncReport,
        skipped: &mut BTreeSet<String>,
    ) -> Result<(Vec<(CalendarItem, HashMap<InstanceKey, CalendarItem>)>, Vec<ItemId>), PassError> {
        let (items, missing) = self.get_items(ids, report, skipped).await?;
        let exception_ids: Vec<ews_proto::ItemId> = items
            .iter()
            .filter(|c| c.calendar_item_type == Some(CalendarItemType::RecurringMaster) || c.recurrence.is_some())
            .flat_map(|c| mapping::exception_ids_in_window(c, self.window))
            .collect();
        // An exception that cannot be fetched shows the master's content at its own times.
        let (exceptions, _) = self.get_items(&exception_ids, report, &mut BTreeSet::new()).await?;
        let mut by_uid: HashMap<String, HashMap<InstanceKey, CalendarItem>> = HashMap::new();
        for e in exceptions {
            let zone = mapping::item_zone(&e);
            let original = e.original_start.or(e.recurrence_id).and_then(|o| o.timestamp_in(&zone.tz));
            if let (Some(uid), Some(original)) = (e.uid.clone(), original) {
                by_uid.entry(uid).or_default().insert(InstanceKey::occurrence(original), e);
            }
        }
        let out = items
            .into_iter()
            .map(|c| {
                let ex = c.uid.as_ref().and_then(|u| by_uid.remove(u)).unwrap_or_default();
                (c, ex)
            })
            .collect();
        Ok((out, missing))
    }

    async fn get_items(
        &self,
        ids: &[ews_proto::ItemId],
        report: &mut SyncReport,
        skipped: &mut BTreeSet<String>,
    ) -> Result<(Vec<CalendarItem>, Vec<ItemId>), PassError> {
        let mut items = Vec::new();
        let mut missing = Vec::new();
        let batch = self.ctx.settings.get_item_batch.max(1);
        for chunk in ids.chunks(batch) {
            report.requests += 1;
            let response =
                self.server.client.call(Some(self.mailbox), GetItem::new(chunk.to_vec(), item_shape())).await?;
            for (i, msg) in response.messages.into_iter().enumerate() {
                if !msg.status.is_success() {
                    let code = msg.status.code();
                    let id = chunk.get(i).map(|x| x.id.as_str().to_owned()).unwrap_or_default();
                    if code == ResponseCode::ErrorItemNotFound {
                        missing.push(ItemId::new(id));
                        continue;
                    }
                    let err = message_error(self.server, "GetItem", Some(self.mailbox), &msg.status);
                    if err.class() == ErrorClass::Mailbox {
                        tracing::warn!(user = %self.user, item = %id, error = %err, "item skipped");
                        skipped.insert(id);
                        continue;
                    }
                    return Err(err.into());
                }
                for item in msg.items {
                    if let Item::Calendar(c) = item {
                        items.push(c);
                    }
                }
            }
        }
        Ok((items, missing))
    }

    fn map(
        &self,
        item: &CalendarItem,
        exceptions: &HashMap<InstanceKey, CalendarItem>,
        mirror: &BTreeMap<MirrorKey, MirrorEvent>,
    ) -> Result<MappedItem, mapping::MappingError> {
        // An item without UID keeps the key the mirror gave its ItemId at its first sighting.
        let uid_override = match (&item.uid, &item.item.item_id) {
            (None, Some(id)) => {
                mirror.values().find(|r| r.item_id.as_str() == id.id.as_str()).map(|r| r.key.uid.as_str().to_owned())
            }
            _ => None,
        };
        let mut mapped = mapping::map_calendar_item(
            item,
            exceptions,
            self.window,
            &self.ctx.joins,
            self.folder,
            uid_override.as_deref(),
        )?;
        if self.ctx.catmap.is_active() {
            for row in &mut mapped.rows {
                let Ok(mut doc) = serde_json::from_value::<crate::event::EventDoc>(row.event.clone()) else { continue };
                self.ctx.catmap.apply_to_doc(&mut doc);
                row.content_hash = mapping::content_hash(&doc);
                row.event = serde_json::to_value(&doc).unwrap_or(serde_json::Value::Null);
            }
        }
        Ok(mapped)
    }
}
