//! The simulator's state: mailboxes, their calendar and tasks folders, OOF settings, change
//! logs and subscriptions.
//!
//! ## Concurrency
//!
//! Designed for 10,000 mailboxes × 50 items with many concurrent readers and writers:
//!
//! * The mailbox directory is a sharded concurrent map ([`dashmap`]) from every normalised
//!   address (primary and aliases) to an `Arc<Mailbox>`; looking a mailbox up never takes a
//!   global lock. Mailbox metadata (address, aliases, display name, zone) is immutable.
//! * Each mailbox has its own `parking_lot::RwLock` over its folders and OOF settings: reads
//!   (GetItem, CalendarView, SyncFolderItems, FindItem) of one mailbox run in parallel, a
//!   write excludes only that mailbox. No operation holds two mailbox locks at once.
//! * Events are published while the writer still holds the mailbox lock, so every subscriber
//!   sees a mailbox's events in watermark order; delivery is a push onto the subscription's
//!   queue plus a `tokio::sync::Notify` (see [`notify`]).
//!
//! ## Ids
//!
//! Item ids, change keys, folder ids, watermarks and sync states are opaque base64 made by the
//! store (see the `ids` module): an id names its mailbox and item number, so a foreign or
//! damaged id is [`StoreError::MalformedId`], an unknown one [`StoreError::ItemNotFound`].
//! Occurrences have ids of their own (master + instance index), usable wherever an item id is.
//!
//! ## Items
//!
//! The API speaks `ews_proto::items::Item` in and out; items are kept compactly (see the
//! `item` module for what is kept). An update is a closure editing the rendered item; the
//! result is stored back, so the EWS server can apply `SetItemField`/`DeleteItemField` to the
//! protocol type and the control API its JSON patch.

pub mod folder;
mod ids;
pub mod item;
pub mod notify;
pub mod oof;
pub mod user_config;
pub mod zones;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use dashmap::DashMap;
use ews_proto::items::{CalendarItem, Item, ResponseType};
use ews_proto::{
    BaseItemId, ChangeKey, DistinguishedFolderName, FolderId, FolderIdValue, ItemId, ItemIdValue, ResponseCode,
    SmtpAddress, SubscriptionId, SyncState,
};
use exbridge_calendar::{OccurrenceError, RecurrenceError};
use jiff::{SignedDuration, Timestamp};
use parking_lot::{Mutex, RwLock};

pub use ews_proto::ops::SyncChange;
pub use folder::{FolderKind, MAX_TOMBSTONES};
pub use ids::{IdKind, RawId};
pub use item::Identity;
pub use notify::{Event, EventBatch, EventKind, MAX_QUEUED_EVENTS, Subscription, SubscriptionKind, SubscriptionSpec};
pub use oof::{ExternalAudience, OofState, OofStatus};
pub use zones::Zone;

use folder::{Change, Folder};
use item::{CalData, Directory, Person, RenderCtx, Stored, TaskData};

/// Items one FindItem (or CalendarView) returns at most (`EWSFindCountLimit`).
pub const FIND_COUNT_LIMIT: usize = 1000;
/// `MaxChangesReturned` of SyncFolderItems is 1..=512.
pub const MAX_SYNC_CHANGES: u32 = 512;
/// The longest CalendarView: two years (731 days, so that any two calendar years fit).
pub const MAX_CALENDAR_VIEW: SignedDuration = SignedDuration::from_hours(731 * 24);

/// What can go wrong; [`StoreError::response_code`] gives the EWS code to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no mailbox {0}")]
    NoSuchMailbox(String),
    #[error("a mailbox with the address {0} already exists")]
    MailboxExists(String),
    #[error("{0:?} is not an id of this simulator")]
    MalformedId(String),
    #[error("the item does not exist")]
    ItemNotFound,
    #[error("the folder does not exist")]
    FolderNotFound,
    #[error("the item changed since the change key was read; fetch the current change key and retry")]
    Conflict,
    #[error("the change key is malformed or belongs to another item")]
    InvalidChangeKey,
    #[error("the sync state is invalid: {0}")]
    InvalidSyncState(&'static str),
    #[error("a calendar view may span at most two years")]
    CalendarViewRangeTooBig,
    #[error("the end is before the start")]
    EndBeforeStart,
    #[error("invalid recurrence: {0}")]
    InvalidRecurrence(#[from] RecurrenceError),
    #[error("{0}")]
    Occurrence(#[from] OccurrenceError),
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    #[error("a calendar item can only be created in a calendar folder")]
    NotACalendarFolder,
    #[error("a task can only be created in a tasks folder")]
    NotATasksFolder,
    #[error("the simulator stores calendar items and tasks only")]
    UnsupportedItem,
    #[error("invalid {field}: {message}")]
    InvalidValue { field: &'static str, message: String },
    #[error("the subscription does not exist")]
    SubscriptionNotFound,
    #[error("the subscription has expired")]
    SubscriptionExpired,
    #[error("the watermark is invalid")]
    InvalidWatermark,
}

impl StoreError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        StoreError::InvalidValue { field, message: message.into() }
    }

    /// The EWS response code for this error.
    pub fn response_code(&self) -> ResponseCode {
        use ResponseCode as R;
        match self {
            StoreError::NoSuchMailbox(_) => R::ErrorNonExistentMailbox,
            StoreError::MailboxExists(_) => R::ErrorInvalidOperation,
            StoreError::MalformedId(_) => R::ErrorInvalidIdMalformed,
            StoreError::ItemNotFound => R::ErrorItemNotFound,
            StoreError::FolderNotFound => R::ErrorFolderNotFound,
            StoreError::Conflict => R::ErrorIrresolvableConflict,
            StoreError::InvalidChangeKey => R::ErrorInvalidChangeKey,
            StoreError::InvalidSyncState(_) => R::ErrorInvalidSyncStateData,
            StoreError::CalendarViewRangeTooBig => R::ErrorCalendarViewRangeTooBig,
            StoreError::EndBeforeStart => R::ErrorCalendarEndDateIsEarlierThanStartDate,
            StoreError::InvalidRecurrence(RecurrenceError::EndBeforeStart) => {
                R::ErrorCalendarEndDateIsEarlierThanStartDate
            }
            StoreError::InvalidRecurrence(_) => R::ErrorCalendarInvalidRecurrence,
            StoreError::Occurrence(OccurrenceError::OutOfRange(_)) => {
                R::ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange
            }
            StoreError::Occurrence(OccurrenceError::Deleted(_)) => R::ErrorCalendarOccurrenceIsDeletedFromRecurrence,
            StoreError::UnknownTimeZone(_) => R::ErrorTimeZone,
            StoreError::NotACalendarFolder => R::ErrorCannotCreateCalendarItemInNonCalendarFolder,
            StoreError::NotATasksFolder => R::ErrorCannotCreateTaskInNonTaskFolder,
            StoreError::UnsupportedItem => R::ErrorInvalidItemForOperationCreateItem,
            StoreError::InvalidValue { .. } => R::ErrorInvalidRequest,
            StoreError::SubscriptionNotFound => R::ErrorSubscriptionNotFound,
            StoreError::SubscriptionExpired => R::ErrorExpiredSubscription,
            StoreError::InvalidWatermark => R::ErrorInvalidWatermark,
        }
    }
}

/// Keys of a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Makes item ids, change keys and UIDs; derive it from the seed so that the same seed gives
    /// the same ids ([`StoreConfig::from_seed`]).
    pub seed_key: u64,
    /// Signs sync states and watermarks; `None`: random, so states of an earlier run are
    /// rejected.
    pub run_key: Option<[u8; 32]>,
}

impl StoreConfig {
    pub fn from_seed(seed: u64) -> Self {
        StoreConfig { seed_key: ids::mix(seed ^ 0x05ee_d1d5), run_key: None }
    }
}

/// A new mailbox.
#[derive(Debug, Clone, Default)]
pub struct MailboxSpec {
    pub smtp: String,
    pub aliases: Vec<String>,
    /// Default: the local part of the address.
    pub display_name: Option<String>,
    /// Windows time zone id (an IANA name of the known zones is accepted); default `UTC`.
    pub time_zone: Option<String>,
}

/// A mailbox.
#[derive(Debug)]
pub struct Mailbox {
    identity: Arc<Identity>,
    aliases: Vec<SmtpAddress>,
    zone: Arc<Zone>,
    data: RwLock<MailboxData>,
    subscribers: Mutex<Vec<Arc<Subscription>>>,
    /// Watermark sequence of the last event.
    seq: Arc<AtomicU64>,
}

#[derive(Debug)]
struct MailboxData {
    next_item: u64,
    calendar: Folder,
    tasks: Folder,
    oof: OofState,
    /// User configuration objects (`CategoryList` …) by folder and name.
    user_configs: std::collections::BTreeMap<(FolderKind, String), user_config::StoredUserConfig>,
}

impl MailboxData {
    fn folder(&self, kind: FolderKind) -> &Folder {
        match kind {
            FolderKind::Calendar => &self.calendar,
            FolderKind::Tasks => &self.tasks,
        }
    }
    fn folder_mut(&mut self, kind: FolderKind) -> &mut Folder {
        match kind {
            FolderKind::Calendar => &mut self.calendar,
            FolderKind::Tasks => &mut self.tasks,
        }
    }
    /// Which folder holds item `number`.
    fn locate(&self, number: u64) -> Option<FolderKind> {
        FolderKind::ALL.into_iter().find(|k| self.folder(*k).items.contains_key(&number))
    }
}

impl Mailbox {
    pub fn smtp(&self) -> &SmtpAddress {
        &self.identity.smtp
    }
    pub fn number(&self) -> u32 {
        self.identity.number
    }
    pub fn display_name(&self) -> &str {
        &self.identity.display_name
    }
    pub fn aliases(&self) -> &[SmtpAddress] {
        &self.aliases
    }
    /// The mailbox's Windows time zone id.
    pub fn time_zone(&self) -> &'static str {
        self.zone.windows_id
    }
    pub fn zone(&self) -> &Arc<Zone> {
        &self.zone
    }
    pub fn identity(&self) -> &Arc<Identity> {
        &self.identity
    }
    /// Active (not expired) subscriptions on this mailbox.
    pub fn subscription_count(&self) -> usize {
        let mut subs = self.subscribers.lock();
        subs.retain(|s| !s.is_expired());
        subs.len()
    }
    /// Number of items in a folder.
    pub fn item_count(&self, folder: FolderKind) -> usize {
        self.data.read().folder(folder).len()
    }
}

/// Folder properties (GetFolder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    pub id: FolderIdValue,
    pub kind: FolderKind,
    pub display_name: &'static str,
    pub folder_class: &'static str,
    pub total_count: usize,
    pub child_folder_count: usize,
}

/// A CalendarView answer.
#[derive(Debug, Clone)]
pub struct CalendarView {
    /// Singles, occurrences and exceptions overlapping the window, by start.
    pub items: Vec<CalendarItem>,
    /// False when `max_entries` (or the find limit) cut the list.
    pub includes_last_item_in_range: bool,
}

/// A FindItem page (IndexedPageItemView: masters and singles, not expanded).
#[derive(Debug, Clone)]
pub struct FindPage {
    pub items: Vec<Item>,
    pub total_items_in_view: usize,
    pub includes_last_item_in_range: bool,
    /// Offset of the next page.
    pub next_offset: usize,
}

/// A SyncFolderItems answer.
#[derive(Debug, Clone)]
pub struct SyncPage {
    /// Create/Update carry the whole item (filter by the request's shape); Delete the id.
    pub changes: Vec<SyncChange>,
    pub sync_state: SyncState,
    pub includes_last_item_in_range: bool,
}

/// Whether an update or delete compares the change key the client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKeyCheck {
    /// A stale change key is [`StoreError::Conflict`] (`NeverOverwrite`, `AutoResolve` with a
    /// stale key).
    Enforce,
    /// Overwrite whatever the change key (`AlwaysOverwrite`).
    Ignore,
}

/// What an item id names in a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Item(u64),
    Occurrence { master: u64, index: u32 },
}

/// The simulator's mailboxes.
#[derive(Debug)]
pub struct Store {
    id_key: u64,
    run_key: [u8; 32],
    wm_key: u64,
    by_address: DashMap<String, Arc<Mailbox>>,
    by_number: DashMap<u32, Arc<Mailbox>>,
    next_number: AtomicU32,
    creating: Mutex<()>,
    zones: zones::Zones,
    subscriptions: DashMap<String, Arc<Subscription>>,
    sub_nonce: u64,
    sub_counter: AtomicU64,
}

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

fn normalize(address: &str) -> String {
    let a = address.trim();
    let a = a.strip_prefix("smtp:").or_else(|| a.strip_prefix("SMTP:")).unwrap_or(a);
    a.to_ascii_lowercase()
}

impl Directory for Store {
    fn identity(&self, address: &str) -> Option<Arc<Identity>> {
        self.by_address.get(&normalize(address)).map(|m| m.identity.clone())
    }
}

impl Store {
    pub fn new(config: StoreConfig) -> Self {
        let run_key = config.run_key.unwrap_or_else(|| {
            let mut k = [0u8; 32];
            for chunk in k.chunks_mut(8) {
                chunk.copy_from_slice(&random_u64().to_le_bytes());
            }
            k
        });
        let wm_key = u64::from_le_bytes(run_key[..8].try_into().expect("32 bytes"));
        Store {
            id_key: config.seed_key,
            run_key,
            wm_key,
            by_address: DashMap::new(),
            by_number: DashMap::new(),
            next_number: AtomicU32::new(1),
            creating: Mutex::new(()),
            zones: zones::Zones::default(),
            subscriptions: DashMap::new(),
            sub_nonce: random_u64(),
            sub_counter: AtomicU64::new(0),
        }
    }

    // ------------------------------------------------------------------------------------
    // Mailboxes

    /// Adds a mailbox; its number is the next free one.
    pub fn add_mailbox(&self, spec: MailboxSpec) -> Result<Arc<Mailbox>, StoreError> {
        self.add_mailbox_numbered(spec, None)
    }

    pub(crate) fn add_mailbox_numbered(
        &self,
        spec: MailboxSpec,
        number: Option<u32>,
    ) -> Result<Arc<Mailbox>, StoreError> {
        let smtp = SmtpAddress::parse(&spec.smtp).map_err(|m| StoreError::invalid("smtp", m))?;
        let aliases = spec
            .aliases
            .iter()
            .map(|a| SmtpAddress::parse(a).map_err(|m| StoreError::invalid("aliases", m)))
            .collect::<Result<Vec<_>, _>>()?;
        let zone_name = spec.time_zone.as_deref().unwrap_or("UTC");
        let zone = self.zones.get(zone_name).ok_or_else(|| StoreError::UnknownTimeZone(zone_name.to_string()))?;
        let display_name = spec
            .display_name
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| smtp.as_str().split('@').next().unwrap_or_default().to_string());
        let _guard = self.creating.lock();
        let mut keys = vec![smtp.normalized()];
        for a in &aliases {
            if !keys.contains(&a.normalized()) {
                keys.push(a.normalized());
            }
        }
        if let Some(taken) = keys.iter().find(|k| self.by_address.contains_key(*k)) {
            return Err(StoreError::MailboxExists(taken.clone()));
        }
        let number = match number {
            Some(n) => {
                self.next_number.fetch_max(n + 1, Ordering::SeqCst);
                n
            }
            None => self.next_number.fetch_add(1, Ordering::SeqCst),
        };
        let mailbox = Arc::new(Mailbox {
            identity: Arc::new(Identity { number, smtp, display_name }),
            aliases,
            zone,
            data: RwLock::new(MailboxData {
                next_item: 1,
                calendar: Folder::new(),
                tasks: Folder::new(),
                oof: OofState::default(),
                user_configs: Default::default(),
            }),
            subscribers: Mutex::new(Vec::new()),
            seq: Arc::new(AtomicU64::new(0)),
        });
        for k in keys {
            self.by_address.insert(k, mailbox.clone());
        }
        self.by_number.insert(number, mailbox.clone());
        Ok(mailbox)
    }

    /// The mailbox of an address (primary or alias, any case, an `smtp:` prefix allowed).
    pub fn mailbox(&self, address: &str) -> Result<Arc<Mailbox>, StoreError> {
        self.by_address
            .get(&normalize(address))
            .map(|m| m.clone())
            .ok_or_else(|| StoreError::NoSuchMailbox(address.to_string()))
    }

    pub fn mailbox_by_number(&self, number: u32) -> Option<Arc<Mailbox>> {
        self.by_number.get(&number).map(|m| m.clone())
    }

    /// Every mailbox, by number.
    pub fn mailboxes(&self) -> Vec<Arc<Mailbox>> {
        let mut all: Vec<Arc<Mailbox>> = self.by_number.iter().map(|m| m.clone()).collect();
        all.sort_by_key(|m| m.number());
        all
    }

    pub fn mailbox_count(&self) -> usize {
        self.by_number.len()
    }

    /// Mailboxes matching a ResolveNames query, by number, at most `max`: an exact address
    /// (primary or alias, `smtp:` prefix allowed) gives that mailbox alone; otherwise a
    /// case-insensitive prefix of the display name, of any of its words, or of an address.
    pub fn resolve_names(&self, query: &str, max: usize) -> Vec<Arc<Mailbox>> {
        if let Ok(m) = self.mailbox(query) {
            return vec![m];
        }
        let q = normalize(query);
        if q.is_empty() {
            return Vec::new();
        }
        let matches = |m: &Mailbox| {
            let name = m.display_name().to_ascii_lowercase();
            name.starts_with(&q)
                || name.split_whitespace().any(|w| w.starts_with(&q))
                || m.smtp().normalized().starts_with(&q)
                || m.aliases().iter().any(|a| a.normalized().starts_with(&q))
        };
        let mut found: Vec<Arc<Mailbox>> = self.by_number.iter().filter(|m| matches(m)).map(|m| m.clone()).collect();
        found.sort_by_key(|m| m.number());
        found.truncate(max);
        found
    }

    /// The mailbox an item, occurrence or folder id belongs to.
    pub fn mailbox_of_id(&self, id: &str) -> Result<Arc<Mailbox>, StoreError> {
        let raw = ids::decode_id(self.id_key, id).ok_or_else(|| StoreError::MalformedId(id.to_string()))?;
        self.mailbox_by_number(raw.mailbox).ok_or(StoreError::ItemNotFound)
    }

    /// Decodes an id made by this store.
    pub fn decode_id(&self, id: &str) -> Option<RawId> {
        ids::decode_id(self.id_key, id)
    }

    /// A time zone by Windows id (or known IANA name).
    pub fn zone(&self, name: &str) -> Result<Arc<Zone>, StoreError> {
        self.zones.get(name).ok_or_else(|| StoreError::UnknownTimeZone(name.to_string()))
    }

    // ------------------------------------------------------------------------------------
    // Folders

    pub fn folder_id(&self, mailbox: &Mailbox, kind: FolderKind) -> FolderIdValue {
        FolderIdValue(ids::encode_id(
            self.id_key,
            RawId { kind: IdKind::Folder, mailbox: mailbox.number(), number: u64::from(kind.byte()), instance: 0 },
        ))
    }

    /// The mailbox and folder a folder id names; `default` is the mailbox of the request
    /// (impersonated or signed in) for a distinguished id without a mailbox.
    pub fn resolve_folder(
        &self,
        default: &Arc<Mailbox>,
        id: &FolderId,
    ) -> Result<(Arc<Mailbox>, FolderKind), StoreError> {
        match id {
            FolderId::Distinguished(d) => {
                let kind = match d.id {
                    DistinguishedFolderName::Calendar => FolderKind::Calendar,
                    DistinguishedFolderName::Tasks => FolderKind::Tasks,
                    _ => return Err(StoreError::FolderNotFound),
                };
                let mailbox = match d.mailbox.as_ref().and_then(|m| m.email_address.as_deref()) {
                    Some(address) => self.mailbox(address)?,
                    None => default.clone(),
                };
                Ok((mailbox, kind))
            }
            FolderId::Id { id, .. } => {
                let raw =
                    ids::decode_id(self.id_key, id.as_str()).ok_or_else(|| StoreError::MalformedId(id.0.clone()))?;
                if raw.kind != IdKind::Folder {
                    return Err(StoreError::FolderNotFound);
                }
                let kind = FolderKind::from_byte(raw.number).ok_or(StoreError::FolderNotFound)?;
                let mailbox = self.mailbox_by_number(raw.mailbox).ok_or(StoreError::FolderNotFound)?;
                Ok((mailbox, kind))
            }
        }
    }

    pub fn folder_info(&self, mailbox: &Mailbox, kind: FolderKind) -> FolderInfo {
        FolderInfo {
            id: self.folder_id(mailbox, kind),
            kind,
            display_name: kind.display_name(),
            folder_class: kind.folder_class(),
            total_count: mailbox.item_count(kind),
            child_folder_count: 0,
        }
    }

    // ------------------------------------------------------------------------------------
    // Items: helpers

    fn render_ctx<'a>(&self, mailbox: &'a Mailbox, folder_id: &'a FolderIdValue) -> RenderCtx<'a> {
        RenderCtx { id_key: self.id_key, owner: &mailbox.identity, folder_id }
    }

    fn target<'i>(&self, mailbox: &Mailbox, id: &'i BaseItemId) -> Result<(Target, Option<&'i ChangeKey>), StoreError> {
        let decode = |s: &ItemIdValue| {
            ids::decode_id(self.id_key, s.as_str()).ok_or_else(|| StoreError::MalformedId(s.0.clone()))
        };
        let (raw, ck) = match id {
            BaseItemId::Item(i) => (decode(&i.id)?, i.change_key.as_ref()),
            BaseItemId::Occurrence(o) => {
                let m = decode(&o.recurring_master_id)?;
                if m.kind != IdKind::Item || o.instance_index < 1 {
                    return Err(StoreError::ItemNotFound);
                }
                (RawId { kind: IdKind::Occurrence, instance: o.instance_index as u32, ..m }, o.change_key.as_ref())
            }
            BaseItemId::RecurringMaster(r) => {
                let o = decode(&r.occurrence_id)?;
                (RawId { kind: IdKind::Item, instance: 0, ..o }, r.change_key.as_ref())
            }
        };
        if raw.mailbox != mailbox.number() {
            return Err(StoreError::ItemNotFound);
        }
        let target = match raw.kind {
            IdKind::Item => Target::Item(raw.number),
            IdKind::Occurrence => Target::Occurrence { master: raw.number, index: raw.instance },
            IdKind::Folder => return Err(StoreError::ItemNotFound),
        };
        Ok((target, ck))
    }

    fn check_change_key(
        &self,
        mailbox: &Mailbox,
        number: u64,
        version: u32,
        ck: Option<&ChangeKey>,
    ) -> Result<(), StoreError> {
        let Some(ck) = ck else { return Ok(()) };
        let (m, item, v) = ids::decode_change_key(self.id_key, ck.as_str()).ok_or(StoreError::InvalidChangeKey)?;
        if m != mailbox.number() || item != number {
            return Err(StoreError::InvalidChangeKey);
        }
        if v != version {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    fn render(&self, mailbox: &Mailbox, d: &MailboxData, target: Target) -> Result<Item, StoreError> {
        let number = match target {
            Target::Item(n) | Target::Occurrence { master: n, .. } => n,
        };
        let kind = d.locate(number).ok_or(StoreError::ItemNotFound)?;
        let entry = &d.folder(kind).items[&number];
        let folder_id = self.folder_id(mailbox, kind);
        let r = self.render_ctx(mailbox, &folder_id);
        match (&entry.data, target) {
            (Stored::Calendar(c), Target::Item(_)) => Ok(Item::Calendar(c.render(&r, number, entry.version))),
            (Stored::Task(t), Target::Item(_)) => Ok(Item::Task(t.render(&r, number, entry.version))),
            (Stored::Calendar(c), Target::Occurrence { index, .. }) => {
                let x = c.expander().ok_or(StoreError::ItemNotFound)?;
                let o = x.occurrence_by_index(index)?;
                Ok(Item::Calendar(c.render_occurrence(&r, number, entry.version, &o)))
            }
            (Stored::Task(_), Target::Occurrence { .. }) => Err(StoreError::ItemNotFound),
        }
    }

    /// Queues an event for the mailbox's subscribers. Called with the mailbox's write lock
    /// held, so events are delivered in watermark order.
    fn publish(&self, mailbox: &Mailbox, kind: EventKind, folder: FolderKind, number: u64) {
        let seq = mailbox.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let mut subs = mailbox.subscribers.lock();
        subs.retain(|s| !s.is_expired());
        if subs.is_empty() {
            return;
        }
        let event = Event {
            kind,
            watermark: ews_proto::Watermark(ids::encode_watermark(self.wm_key, mailbox.number(), seq)),
            time_stamp: Timestamp::now(),
            item_id: ItemIdValue(ids::encode_id(
                self.id_key,
                RawId { kind: IdKind::Item, mailbox: mailbox.number(), number, instance: 0 },
            )),
            parent_folder_id: self.folder_id(mailbox, folder),
            folder,
            seq,
        };
        for s in subs.iter() {
            s.deliver(&event);
        }
    }

    /// Inserts items without events (seeding).
    pub(crate) fn insert_quiet(&self, mailbox: &Mailbox, folder: FolderKind, data: impl IntoIterator<Item = Stored>) {
        let mut d = mailbox.data.write();
        for item in data {
            let number = d.next_item;
            d.next_item += 1;
            d.folder_mut(folder).insert(number, item);
        }
        d.folder_mut(folder).items.shrink_to_fit();
    }

    fn convert_new(
        &self,
        mailbox: &Mailbox,
        item: &Item,
        prev: Option<&Stored>,
        now: Timestamp,
    ) -> Result<Stored, StoreError> {
        match (item, prev) {
            (Item::Calendar(c), None | Some(Stored::Calendar(_))) => {
                let prev = match prev {
                    Some(Stored::Calendar(p)) => Some(p),
                    _ => None,
                };
                Ok(Stored::Calendar(CalData::from_ews(
                    c,
                    prev,
                    &mailbox.identity,
                    &mailbox.zone,
                    &self.zones,
                    self,
                    now,
                )?))
            }
            (Item::Task(t), None | Some(Stored::Task(_))) => {
                let prev = match prev {
                    Some(Stored::Task(p)) => Some(p),
                    _ => None,
                };
                Ok(Stored::Task(TaskData::from_ews(t, prev, now)?))
            }
            (Item::Other(_), _) => Err(StoreError::UnsupportedItem),
            _ => Err(StoreError::invalid("Item", "an item cannot change its kind")),
        }
    }

    // ------------------------------------------------------------------------------------
    // Items: operations

    /// Creates an item (CreateItem, or a user in Outlook): a new id, UID and change key; a
    /// `Created` event. Returns the item as stored.
    pub fn create_item(&self, mailbox: &Mailbox, folder: FolderKind, item: &Item) -> Result<Item, StoreError> {
        match (item, folder) {
            (Item::Calendar(_), FolderKind::Tasks) => return Err(StoreError::NotACalendarFolder),
            (Item::Task(_), FolderKind::Calendar) => return Err(StoreError::NotATasksFolder),
            _ => {}
        }
        let data = self.convert_new(mailbox, item, None, Timestamp::now())?;
        let mut d = mailbox.data.write();
        let number = d.next_item;
        d.next_item += 1;
        d.folder_mut(folder).insert(number, data);
        self.publish(mailbox, EventKind::Created, folder, number);
        self.render(mailbox, &d, Target::Item(number))
    }

    /// An item, an occurrence (its id or `OccurrenceItemId`) or a master (`RecurringMasterItemId`).
    pub fn get_item(&self, mailbox: &Mailbox, id: &BaseItemId) -> Result<Item, StoreError> {
        let (target, _) = self.target(mailbox, id)?;
        self.render(mailbox, &mailbox.data.read(), target)
    }

    /// Several items under one lock, each with its own result (a GetItem batch).
    pub fn get_items(&self, mailbox: &Mailbox, ids: &[BaseItemId]) -> Vec<Result<Item, StoreError>> {
        let d = mailbox.data.read();
        ids.iter().map(|id| self.target(mailbox, id).and_then(|(t, _)| self.render(mailbox, &d, t))).collect()
    }

    /// Updates an item: `edit` changes the item as rendered; the result is stored, the change
    /// key changes, a `Modified` event is raised. On an occurrence the change becomes an
    /// exception of its series (an update of the master, as SyncFolderItems reports it).
    /// With [`ChangeKeyCheck::Enforce`], a change key in `id` that is not current is
    /// [`StoreError::Conflict`].
    pub fn update_item(
        &self,
        mailbox: &Mailbox,
        id: &BaseItemId,
        check: ChangeKeyCheck,
        edit: impl FnOnce(&mut Item) -> Result<(), StoreError>,
    ) -> Result<Item, StoreError> {
        let (target, ck) = self.target(mailbox, id)?;
        let now = Timestamp::now();
        let mut d = mailbox.data.write();
        let number = match target {
            Target::Item(n) | Target::Occurrence { master: n, .. } => n,
        };
        let kind = d.locate(number).ok_or(StoreError::ItemNotFound)?;
        let version = d.folder(kind).items[&number].version;
        if check == ChangeKeyCheck::Enforce {
            self.check_change_key(mailbox, number, version, ck)?;
        }
        let before = self.render(mailbox, &d, target)?;
        let mut after = before.clone();
        edit(&mut after)?;
        let entry = d.folder_mut(kind).items.get_mut(&number).ok_or(StoreError::ItemNotFound)?;
        match target {
            Target::Item(_) => {
                let new = self.convert_new(mailbox, &after, Some(&entry.data), now)?;
                entry.data = preserve_meeting_state(&entry.data, new);
            }
            Target::Occurrence { index, .. } => {
                let Stored::Calendar(c) = &mut entry.data else { return Err(StoreError::ItemNotFound) };
                let (Item::Calendar(b), Item::Calendar(a)) = (&before, &after) else {
                    return Err(StoreError::invalid("Item", "an occurrence is a calendar item"));
                };
                let occurrence = c.expander().ok_or(StoreError::ItemNotFound)?.occurrence_by_index(index)?;
                c.set_exception(&occurrence, b, a)?;
                c.modified = now;
            }
        }
        d.folder_mut(kind).touch(number);
        self.publish(mailbox, EventKind::Modified, kind, number);
        self.render(mailbox, &d, target)
    }

    /// Deletes an item (a `Deleted` event), or one occurrence of a series (the series is
    /// modified: a `Modified` event for the master).
    pub fn delete_item(&self, mailbox: &Mailbox, id: &BaseItemId, check: ChangeKeyCheck) -> Result<(), StoreError> {
        let (target, ck) = self.target(mailbox, id)?;
        let mut d = mailbox.data.write();
        let number = match target {
            Target::Item(n) | Target::Occurrence { master: n, .. } => n,
        };
        let kind = d.locate(number).ok_or(StoreError::ItemNotFound)?;
        if check == ChangeKeyCheck::Enforce {
            self.check_change_key(mailbox, number, d.folder(kind).items[&number].version, ck)?;
        }
        match target {
            Target::Item(_) => {
                d.folder_mut(kind).remove(number);
                self.publish(mailbox, EventKind::Deleted, kind, number);
            }
            Target::Occurrence { index, .. } => {
                let entry = d.folder_mut(kind).items.get_mut(&number).ok_or(StoreError::ItemNotFound)?;
                let Stored::Calendar(c) = &mut entry.data else { return Err(StoreError::ItemNotFound) };
                let o = c.expander().ok_or(StoreError::ItemNotFound)?.occurrence_by_index(index)?;
                let rec = c.recurrence.as_deref_mut().ok_or(StoreError::ItemNotFound)?;
                rec.exceptions.retain(|e| e.original_start != o.original_start);
                rec.deleted.push(o.original_start);
                rec.sync_modified();
                c.modified = Timestamp::now();
                d.folder_mut(kind).touch(number);
                self.publish(mailbox, EventKind::Modified, kind, number);
            }
        }
        Ok(())
    }

    /// Edits the stored form of a calendar item directly (the control API's occurrence
    /// lists); a `Modified` event.
    pub(crate) fn edit_calendar(
        &self,
        mailbox: &Mailbox,
        number: u64,
        edit: impl FnOnce(&mut CalData) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut d = mailbox.data.write();
        let entry = d.calendar.items.get_mut(&number).ok_or(StoreError::ItemNotFound)?;
        let Stored::Calendar(c) = &mut entry.data else { return Err(StoreError::ItemNotFound) };
        let mut copy = c.clone();
        edit(&mut copy)?;
        copy.normalize_series()?;
        copy.modified = Timestamp::now();
        *c = copy;
        d.calendar.touch(number);
        self.publish(mailbox, EventKind::Modified, FolderKind::Calendar, number);
        Ok(())
    }

    /// The item number of an item id of `mailbox` (not an occurrence id).
    pub(crate) fn item_number(&self, mailbox: &Mailbox, id: &str) -> Result<u64, StoreError> {
        match self.target(mailbox, &BaseItemId::Item(ItemId::new(id, None)))? {
            (Target::Item(n), _) => Ok(n),
            (Target::Occurrence { .. }, _) => Err(StoreError::ItemNotFound),
        }
    }

    // ------------------------------------------------------------------------------------
    // Views

    /// FindItem with a CalendarView: singles, occurrences and exceptions overlapping
    /// `[start, end)` (masters are expanded, not shown), by start. At most `max_entries`
    /// (and at most [`FIND_COUNT_LIMIT`]); a window longer than [`MAX_CALENDAR_VIEW`] is
    /// [`StoreError::CalendarViewRangeTooBig`].
    pub fn calendar_view(
        &self,
        mailbox: &Mailbox,
        start: Timestamp,
        end: Timestamp,
        max_entries: Option<usize>,
    ) -> Result<CalendarView, StoreError> {
        if end < start {
            return Err(StoreError::EndBeforeStart);
        }
        if end.duration_since(start) > MAX_CALENDAR_VIEW {
            return Err(StoreError::CalendarViewRangeTooBig);
        }
        let limit = max_entries.unwrap_or(FIND_COUNT_LIMIT).min(FIND_COUNT_LIMIT);
        let d = mailbox.data.read();
        // (start, end, item number, occurrence)
        let mut hits = Vec::new();
        for (&number, entry) in &d.calendar.items {
            let Stored::Calendar(c) = &entry.data else { continue };
            match c.expander() {
                None if c.recurrence.is_none() && c.start < end && c.end > start => {
                    hits.push((c.start, c.end, number, None));
                }
                None => {} // a series that cannot be expanded shows nothing
                Some(x) => {
                    for o in x.expand(start, end) {
                        hits.push((o.start, o.end, number, Some(o)));
                    }
                }
            }
        }
        hits.sort_by_key(|(s, e, n, o)| (*s, *e, *n, o.map(|o| o.index)));
        let includes_last = hits.len() <= limit;
        hits.truncate(limit);
        let folder_id = self.folder_id(mailbox, FolderKind::Calendar);
        let r = self.render_ctx(mailbox, &folder_id);
        let items = hits
            .into_iter()
            .filter_map(|(_, _, number, o)| {
                let entry = &d.calendar.items[&number];
                let Stored::Calendar(c) = &entry.data else { return None };
                Some(match o {
                    None => c.render(&r, number, entry.version),
                    Some(o) => c.render_occurrence(&r, number, entry.version, &o),
                })
            })
            .collect();
        Ok(CalendarView { items, includes_last_item_in_range: includes_last })
    }

    /// FindItem with an IndexedPageItemView from the beginning: items in creation order
    /// (masters not expanded), `max` per page (at most [`FIND_COUNT_LIMIT`]).
    pub fn find_items(&self, mailbox: &Mailbox, folder: FolderKind, offset: usize, max: usize) -> FindPage {
        let max = max.clamp(1, FIND_COUNT_LIMIT);
        let d = mailbox.data.read();
        let f = d.folder(folder);
        let total = f.len();
        let folder_id = self.folder_id(mailbox, folder);
        let r = self.render_ctx(mailbox, &folder_id);
        let items: Vec<Item> = f
            .items
            .iter()
            .skip(offset)
            .take(max)
            .map(|(&n, e)| match &e.data {
                Stored::Calendar(c) => Item::Calendar(c.render(&r, n, e.version)),
                Stored::Task(t) => Item::Task(t.render(&r, n, e.version)),
            })
            .collect();
        let next_offset = offset.saturating_add(items.len()).min(total);
        FindPage { includes_last_item_in_range: next_offset >= total, items, total_items_in_view: total, next_offset }
    }

    /// SyncFolderItems: up to `max_changes` (1..=512) net changes since `state` (none or
    /// empty: everything, as creates). The returned state is opaque; a state of another folder,
    /// mailbox or run, or a damaged one, is [`StoreError::InvalidSyncState`].
    pub fn sync_folder_items(
        &self,
        mailbox: &Mailbox,
        folder: FolderKind,
        state: Option<&str>,
        max_changes: u32,
    ) -> Result<SyncPage, StoreError> {
        if !(1..=MAX_SYNC_CHANGES).contains(&max_changes) {
            return Err(StoreError::invalid("MaxChangesReturned", format!("must be in 1..=512, not {max_changes}")));
        }
        let d = mailbox.data.read();
        let f = d.folder(folder);
        let (since, mut known) = match state.map(str::trim).filter(|s| !s.is_empty()) {
            None => (0, std::collections::BTreeSet::new()),
            Some(s) => {
                let st = ids::decode_sync_state(&self.run_key, s)
                    .ok_or(StoreError::InvalidSyncState("not a sync state of this server"))?;
                if st.mailbox != mailbox.number() || st.folder != folder.byte() {
                    return Err(StoreError::InvalidSyncState("the sync state belongs to another folder"));
                }
                if !f.valid_state(st.cursor, &st.known) {
                    return Err(StoreError::InvalidSyncState("the sync state is too old"));
                }
                (st.cursor, st.known)
            }
        };
        let (changes, seq, includes_last) = f.changes_since(since, &mut known, max_changes as usize);
        let folder_id = self.folder_id(mailbox, folder);
        let r = self.render_ctx(mailbox, &folder_id);
        let render = |n: u64| {
            let e = &f.items[&n];
            match &e.data {
                Stored::Calendar(c) => Item::Calendar(c.render(&r, n, e.version)),
                Stored::Task(t) => Item::Task(t.render(&r, n, e.version)),
            }
        };
        let changes = changes
            .into_iter()
            .map(|c| match c {
                Change::Create(n) => SyncChange::Create(render(n)),
                Change::Update(n) => SyncChange::Update(render(n)),
                Change::Delete(n) => SyncChange::Delete(ItemId {
                    id: ItemIdValue(ids::encode_id(
                        self.id_key,
                        RawId { kind: IdKind::Item, mailbox: mailbox.number(), number: n, instance: 0 },
                    )),
                    change_key: None,
                }),
            })
            .collect();
        Ok(SyncPage {
            changes,
            sync_state: SyncState(ids::encode_sync_state(&self.run_key, mailbox.number(), folder.byte(), seq, &known)),
            includes_last_item_in_range: includes_last,
        })
    }

    /// Every task of a mailbox as GetItem renders it, in creation order (the control API's
    /// listing).
    pub fn tasks(&self, mailbox: &Mailbox) -> Vec<ews_proto::items::Task> {
        let d = mailbox.data.read();
        let folder_id = self.folder_id(mailbox, FolderKind::Tasks);
        let r = self.render_ctx(mailbox, &folder_id);
        d.tasks
            .items
            .iter()
            .filter_map(|(&n, e)| match &e.data {
                Stored::Task(t) => Some(t.render(&r, n, e.version)),
                Stored::Calendar(_) => None,
            })
            .collect()
    }

    /// Every calendar item of a mailbox in creation order (the control API's listing).
    pub(crate) fn with_calendar<R>(&self, mailbox: &Mailbox, f: impl FnOnce(&RenderCtx, &Folder) -> R) -> R {
        let d = mailbox.data.read();
        let folder_id = self.folder_id(mailbox, FolderKind::Calendar);
        let r = self.render_ctx(mailbox, &folder_id);
        f(&r, &d.calendar)
    }

    // ------------------------------------------------------------------------------------
    // Meetings

    /// Puts a meeting into the calendars of its attendees that are mailboxes of this simulator
    /// (SendMeetingInvitations): a new item with the organizer's UID, or an update of the copy
    /// an earlier invitation made. Marks the organizer's item as sent. Returns the mailboxes
    /// invited.
    pub fn send_meeting_invitations(
        &self,
        organizer: &Mailbox,
        id: &BaseItemId,
    ) -> Result<Vec<Arc<Mailbox>>, StoreError> {
        let (target, _) = self.target(organizer, id)?;
        let Target::Item(number) = target else {
            return Err(StoreError::invalid("ItemId", "invite with the series' id"));
        };
        let (meeting, uid) = {
            let mut d = organizer.data.write();
            let entry = d.calendar.items.get_mut(&number).ok_or(StoreError::ItemNotFound)?;
            let Stored::Calendar(c) = &mut entry.data else { return Err(StoreError::ItemNotFound) };
            if c.organizer.is_some() {
                return Err(StoreError::invalid("ItemId", "only the organizer sends invitations"));
            }
            if !c.meeting_request_was_sent {
                c.meeting_request_was_sent = true;
                d.calendar.touch(number);
                self.publish(organizer, EventKind::Modified, FolderKind::Calendar, number);
            }
            let Some(Stored::Calendar(c)) = d.calendar.items.get(&number).map(|e| &e.data) else { unreachable!() };
            let folder_id = self.folder_id(organizer, FolderKind::Calendar);
            (c.clone(), c.uid(&self.render_ctx(organizer, &folder_id), number))
        };
        let mut invited = Vec::new();
        for a in &meeting.attendees {
            let Person::Local(who) = &a.person else { continue };
            if who.number == organizer.number() {
                continue;
            }
            let Some(mb) = self.mailbox_by_number(who.number) else { continue };
            let mut copy = meeting.clone();
            copy.uid = Some(uid.as_str().into());
            copy.organizer = Some(Person::Local(organizer.identity.clone()));
            copy.my_response = ResponseType::NoResponseReceived;
            copy.meeting_request_was_sent = false;
            copy.reminder = Some(15);
            let mut d = mb.data.write();
            let existing = d.calendar.items.iter().find_map(|(&n, e)| match &e.data {
                Stored::Calendar(c) if c.uid.as_deref() == Some(uid.as_str()) => Some((n, c.my_response, c.created)),
                _ => None,
            });
            match existing {
                Some((n, response, created)) => {
                    copy.my_response = response;
                    copy.created = created;
                    if let Some(e) = d.calendar.items.get_mut(&n) {
                        e.data = Stored::Calendar(copy);
                    }
                    d.calendar.touch(n);
                    self.publish(&mb, EventKind::Modified, FolderKind::Calendar, n);
                }
                None => {
                    let n = d.next_item;
                    d.next_item += 1;
                    d.calendar.insert(n, Stored::Calendar(copy));
                    self.publish(&mb, EventKind::Created, FolderKind::Calendar, n);
                }
            }
            drop(d);
            invited.push(mb);
        }
        Ok(invited)
    }

    // ------------------------------------------------------------------------------------
    // OOF

    pub fn oof(&self, mailbox: &Mailbox) -> OofState {
        mailbox.data.read().oof.clone()
    }

    /// Sets the OOF settings (no notification: Exchange raises none for OOF). A Scheduled state
    /// needs a start before its end.
    pub fn set_oof(&self, mailbox: &Mailbox, oof: OofState) -> Result<(), StoreError> {
        if oof.state == OofStatus::Scheduled {
            match (oof.start, oof.end) {
                (Some(s), Some(e)) if s < e => {}
                (Some(_), Some(_)) => {
                    return Err(StoreError::invalid("end", "a scheduled OOF must end after it starts"));
                }
                _ => return Err(StoreError::invalid("start", "a scheduled OOF needs a start and an end")),
            }
        }
        mailbox.data.write().oof = oof;
        Ok(())
    }

    // ------------------------------------------------------------------------------------
    // Subscriptions

    /// Subscribes to a mailbox's events from now on.
    pub fn subscribe(&self, mailbox: &Mailbox, spec: SubscriptionSpec) -> Arc<Subscription> {
        let id = SubscriptionId(ids::encode_subscription_id(
            self.sub_nonce,
            self.sub_counter.fetch_add(1, Ordering::SeqCst),
        ));
        // Under the mailbox's read lock no event is being published: the subscription's
        // starting watermark and its place in the list agree.
        let _d = mailbox.data.read();
        let sub =
            Arc::new(Subscription::new(id.clone(), mailbox.identity.clone(), spec, mailbox.seq.clone(), self.wm_key));
        mailbox.subscribers.lock().push(sub.clone());
        self.subscriptions.insert(id.0, sub.clone());
        sub
    }

    /// A subscription by id: [`StoreError::SubscriptionNotFound`] if unknown or unsubscribed,
    /// [`StoreError::SubscriptionExpired`] if it expired.
    pub fn subscription(&self, id: &str) -> Result<Arc<Subscription>, StoreError> {
        let sub = self.subscriptions.get(id.trim()).map(|s| s.clone()).ok_or(StoreError::SubscriptionNotFound)?;
        if sub.is_expired() { Err(StoreError::SubscriptionExpired) } else { Ok(sub) }
    }

    /// Ends a subscription.
    pub fn unsubscribe(&self, id: &str) -> Result<(), StoreError> {
        let (_, sub) = self.subscriptions.remove(id.trim()).ok_or(StoreError::SubscriptionNotFound)?;
        sub.expire();
        Ok(())
    }

    /// Expires every subscription (the `expire_subscriptions` fault); returns how many.
    pub fn expire_all_subscriptions(&self) -> usize {
        let mut n = 0;
        for s in self.subscriptions.iter() {
            if !s.is_expired() {
                n += 1;
            }
            s.expire();
        }
        n
    }

    /// Subscriptions that have not expired.
    pub fn active_subscription_count(&self) -> usize {
        self.subscriptions.iter().filter(|s| !s.is_expired()).count()
    }

    /// Forgets expired subscriptions (they answer SubscriptionNotFound afterwards); returns how
    /// many were removed.
    pub fn sweep_subscriptions(&self) -> usize {
        let before = self.subscriptions.len();
        self.subscriptions.retain(|_, s| !s.is_expired());
        before - self.subscriptions.len()
    }
}

/// What UpdateItem on a master cannot change: whether it was sent, its sequence.
fn preserve_meeting_state(old: &Stored, new: Stored) -> Stored {
    match (old, new) {
        (Stored::Calendar(o), Stored::Calendar(mut n)) => {
            n.meeting_request_was_sent = o.meeting_request_was_sent;
            if n.start != o.start || n.end != o.end || n.location != o.location {
                n.sequence = o.sequence + 1;
            }
            Stored::Calendar(n)
        }
        (_, n) => n,
    }
}

#[cfg(test)]
mod size_tests {
    /// The per-item footprint decides whether 10,000 × 50 items fit in memory (see `item`).
    #[test]
    fn stored_items_stay_compact() {
        assert!(std::mem::size_of::<super::folder::Entry>() <= 288, "{}", std::mem::size_of::<super::folder::Entry>());
        assert!(std::mem::size_of::<super::item::Person>() <= 16);
        assert!(std::mem::size_of::<super::item::AttendeeData>() <= 24);
    }
}
