//! The running engine: per-user workers ([`scheduler`]), the directory source and its
//! refresh ([`directory`]), streaming notifications, reconcile, OOF polling and presence
//! ([`presence`]). [`Engine`] implements [`crate::api::Connector`].
//!
//! # A user's life
//! pending → [`resolve_mailbox_with`](crate::resolve::resolve_mailbox_with) (confirmed by the
//! initial sync) → the state is stored (`user.mailbox_resolved` when the
//! mailbox is new or changed) → initial (silent) [`sync_folder_with`](crate::sync::sync_folder_with) → the mailbox joins its server's
//! [`StreamingManager`] → `subscribed`, `synced_at` moving with every successful sync. No
//! mailbox → `not_found` (`user.subscription_failed` once per state change), tried again on
//! every directory change and refresh. A sync failing at mailbox level resolves the mailbox
//! again; other failures set `error` and are retried with back-off. All work of one user goes
//! through the [`scheduler::Scheduler`]: one run at a time per user, triggers coalesced.

pub mod admin;
pub mod directory;
pub mod presence;
pub mod scheduler;
mod spread;
mod tasks;
mod writes;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ews_client::{
    Autodiscover, AutodiscoverConfig, EwsClient, EwsError, ServerConfig, StreamEvent, StreamingConfig, StreamingManager,
};
use ews_proto::SmtpAddress;
use exbridge_calendar::join::JoinDetector;
use exbridge_calendar::presence::Oof;
use exbridge_config::{Config, ExchangeConfig};
use exbridge_store::{
    DirectoryDiff, DirectoryEntry, DirectoryUser, EventType, FolderKind, MailboxState, MailboxStatus, NewOutboxEvent,
    ReplaceGuard, Store, StoreError, UpsertOutcome, UserId,
};
use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::{ConnectionReport, Connector, EngineError, Readiness};
use crate::context::{Context, EngineSettings, ExchangeServer};
use crate::event::{EventDoc, FreeBusySlot, PresenceDoc};
use crate::reads;
use crate::resolve::{Confirm, resolve_mailbox_with};
use crate::sync::{SyncMode, SyncOptions};
use crate::task::{TaskDoc, TaskError, TaskInput};

pub use directory::DirectorySource;
pub use presence::PresenceTracker;
pub use scheduler::{Backoff, Work};

/// How long `ensure_user` waits for a first resolution before answering with the state as it
/// is.
const RESOLVE_WAIT: Duration = Duration::from_secs(20);
/// At most one directory refresh per this long because of requests for unknown users.
const UNKNOWN_USER_REFRESH: Duration = Duration::from_secs(10);
/// How long a readiness answer is reused.
const READINESS_TTL: Duration = Duration::from_secs(10);
/// Pruning: tombstones, delivered outbox entries and idempotency records older than these.
const TOMBSTONE_RETENTION: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);
const OUTBOX_RETENTION: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);
const IDEMPOTENCY_RETENTION: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// Engine tuning beyond [`EngineSettings`]: what [`Engine::start`] derives from the
/// configuration and tests set directly.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub directory: DirectorySource,
    /// Streaming settings per server name ([`StreamingConfig::default`] for others).
    pub streaming: HashMap<String, StreamingConfig>,
    /// Servers whose mailboxes' `GroupingInformation` is looked up with Autodiscover for
    /// streaming, with their explicit Autodiscover URL if configured. Only servers configured
    /// for Autodiscover (`autodiscover_email` or `autodiscover_url`): with a bare `ews_url`
    /// there may be no Autodiscover endpoint at all, and one connection group is correct for a
    /// single on-premises server.
    pub streaming_autodiscover: HashMap<String, Option<url::Url>>,
    /// Retry delays of failed user work.
    pub backoff: Backoff,
    /// How long `shutdown` waits for runs in flight.
    pub shutdown_wait: Duration,
    /// The `[[exchange]]` settings in effect (the configuration file's, overridden by those
    /// edited in the admin UI): what [`Connector::exchange_servers`] lists and
    /// [`Connector::test_connection`] checks. Empty for engines started on a ready context.
    pub exchange: Vec<ExchangeConfig>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            directory: DirectorySource::Api,
            streaming: HashMap::new(),
            streaming_autodiscover: HashMap::new(),
            backoff: Backoff::default(),
            shutdown_wait: Duration::from_secs(30),
            exchange: Vec::new(),
        }
    }
}

/// Builds the [`Context`] of a configuration: one EWS client per `[[exchange]]` (its EWS URL
/// found by Autodiscover when `ews_url` is not set), lower-cased domains, settings from
/// `[sync]` and `[directory]`.
pub async fn context_from_config(config: &Config, store: Arc<dyn Store>) -> Result<Context, EngineError> {
    let mut servers = Vec::with_capacity(config.exchange.len());
    for x in &config.exchange {
        servers.push(Arc::new(server_from_config(x).await?));
    }
    let settings = EngineSettings {
        window_past_days: config.sync.window_past_days,
        window_future_days: config.sync.window_future_days,
        reconcile_interval: config.sync.reconcile_interval,
        oof_poll_interval: config.sync.oof_poll_interval,
        directory_refresh_interval: config.directory.refresh_interval,
        ..EngineSettings::default()
    };
    Ok(Context {
        store,
        servers: servers.into(),
        settings,
        joins: Arc::new(JoinDetector::new(&config.sync.join_keywords)),
        catmap: Arc::new(crate::catmap::CatMap::new(&config.mapping)),
    })
}

/// One `[[exchange]]` server with its EWS client (its EWS URL found by Autodiscover when
/// `ews_url` is not set).
pub async fn server_from_config(x: &ExchangeConfig) -> Result<ExchangeServer, EngineError> {
    let client = match &x.ews_url {
        Some(_) => EwsClient::new(ServerConfig::try_from(x)?)?,
        None => {
            let email = x.autodiscover_email.as_deref().ok_or_else(|| {
                EngineError::Invalid(format!("[[exchange]] {}: neither ews_url nor autodiscover_email is set", x.name))
            })?;
            let email = SmtpAddress::parse(email)
                .map_err(|e| EngineError::Invalid(format!("[[exchange]] {}: autodiscover_email: {e}", x.name)))?;
            let autodiscover = Autodiscover::new(AutodiscoverConfig::from_exchange(x)?)?;
            let found = autodiscover.discover(&email).await.map_err(EwsError::from)?;
            tracing::info!(server = %x.name, ews_url = %found.ews_url, "EWS URL found by Autodiscover");
            EwsClient::new(ServerConfig::from_exchange(x, found.ews_url)?)?
        }
    };
    Ok(ExchangeServer {
        name: x.name.clone(),
        client,
        domains: x.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
    })
}

/// Whether the server's mailboxes are looked up with Autodiscover for streaming, and with which
/// explicit URL (see [`EngineOptions::streaming_autodiscover`]).
fn streaming_autodiscover_of(x: &ExchangeConfig) -> Option<Option<url::Url>> {
    (x.ews_url.is_none() || x.autodiscover_url.is_some()).then(|| x.autodiscover_url.clone())
}

/// The running engine. Implements [`crate::api::Connector`].
pub struct Engine {
    ctx: Context,
    inner: Arc<Inner>,
}

/// Which mailbox each user is watched with, both ways.
#[derive(Default)]
struct Watched {
    by_user: HashMap<UserId, (String, SmtpAddress)>,
    by_mailbox: HashMap<(String, String), UserId>,
}

struct Inner {
    ctx: Context,
    options: EngineOptions,
    scheduler: scheduler::Scheduler<UserId>,
    /// The `[[exchange]]` settings in effect (see [`EngineOptions::exchange`]).
    exchange: Mutex<Vec<ExchangeConfig>>,
    /// One streaming manager per server name; replaced when the server is edited.
    streams: Mutex<HashMap<String, StreamingManager>>,
    /// Serialises admin edits of Exchange servers.
    admin: tokio::sync::Mutex<()>,
    watched: Mutex<Watched>,
    presence: PresenceTracker,
    closed: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    readiness: tokio::sync::Mutex<Option<(Instant, Readiness)>>,
    last_unknown_refresh: Mutex<Option<Instant>>,
    /// The application's own task writes awaiting their sync (see [`crate::task_sync`]).
    echoes: crate::task_sync::Echoes,
    /// Users whose window (`sync_start`) changed: their next sync is followed by a silent full
    /// pass (see [`crate::policy`], rule 5).
    silent_resync: Mutex<std::collections::HashSet<UserId>>,
    /// API writes of one user, one at a time and in order (see [`writes`]).
    write_locks: Mutex<HashMap<UserId, Arc<tokio::sync::Mutex<()>>>>,
    /// Wakes the queued-write applier.
    write_wake: tokio::sync::Notify,
}

fn store_err<'u>(user: &'u UserId, what: &str) -> impl FnOnce(StoreError) -> scheduler::Failed + 'u {
    let what = what.to_owned();
    move |e| scheduler::Failed::new(format!("{what} for {user}: {e}"), Work::default())
}

impl Engine {
    /// Builds the [`Context`] from the configuration (one EWS client per `[[exchange]]`,
    /// Autodiscover when there is no `ews_url`) and starts the engine: directory load/refresh,
    /// mailbox resolution, initial syncs, streaming, reconcile, presence and OOF polling.
    ///
    /// `[[exchange]]` servers edited in the admin UI and kept in the store
    /// ([`admin::stored_servers`]) replace the file's entries of the same name.
    pub async fn start(config: &Config, store: Arc<dyn Store>) -> Result<Arc<Engine>, EngineError> {
        let mut config = config.clone();
        admin::apply_stored_servers(&mut config.exchange, store.as_ref()).await;
        let config = &config;
        let ctx = context_from_config(config, store).await?;
        let options = EngineOptions {
            directory: DirectorySource::from_config(&config.directory).map_err(EngineError::Invalid)?,
            streaming: config.exchange.iter().map(|x| (x.name.clone(), StreamingConfig::from_exchange(x))).collect(),
            streaming_autodiscover: config
                .exchange
                .iter()
                .filter_map(|x| streaming_autodiscover_of(x).map(|url| (x.name.clone(), url)))
                .collect(),
            exchange: config.exchange.clone(),
            ..EngineOptions::default()
        };
        Self::start_with_options(ctx, options).await
    }

    /// Starts the engine on a ready context (tests): directory from the API, default options.
    pub async fn start_with(ctx: Context) -> Result<Arc<Engine>, EngineError> {
        Self::start_with_options(ctx, EngineOptions::default()).await
    }

    /// Starts the engine on a ready context with explicit options.
    pub async fn start_with_options(ctx: Context, options: EngineOptions) -> Result<Arc<Engine>, EngineError> {
        let horizon = Duration::from_secs(u64::from(ctx.settings.window_future_days.max(1)) * 24 * 3600);
        let presence = PresenceTracker::start(ctx.store.clone(), horizon);
        let mut receivers = Vec::new();
        let mut streams = HashMap::new();
        // Tasks folders are watched too when any user synchronises tasks at start (users who
        // turn `sync_tasks` on later are synchronised on every calendar notification, write
        // and reconcile until the next start).
        let watch_tasks = ctx.store.list_users().await?.iter().any(|e| e.user.settings.sync_tasks);
        for server in &ctx.servers.list() {
            let mut cfg = options.streaming.get(&server.name).cloned().unwrap_or_default();
            cfg.tasks |= watch_tasks;
            let autodiscover = options
                .streaming_autodiscover
                .get(&server.name)
                .map(|url| Autodiscover::for_client(&server.client, url.clone()));
            let (manager, rx) = StreamingManager::start(server.client.clone(), cfg, autodiscover);
            streams.insert(server.name.clone(), manager);
            receivers.push((server.name.clone(), rx));
        }
        let concurrency = ctx.settings.sync_concurrency;
        let backoff = options.backoff;
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            let weak = weak.clone();
            let handler: scheduler::Handler<UserId> = Arc::new(move |user, work| {
                let weak = weak.clone();
                Box::pin(async move {
                    match weak.upgrade() {
                        Some(inner) => inner.process(user, work).await,
                        None => Ok(()),
                    }
                })
            });
            Inner {
                ctx: ctx.clone(),
                scheduler: scheduler::Scheduler::new(concurrency, backoff, handler),
                exchange: Mutex::new(options.exchange.clone()),
                streams: Mutex::new(streams),
                admin: tokio::sync::Mutex::new(()),
                options,
                watched: Mutex::new(Watched::default()),
                presence,
                closed: AtomicBool::new(false),
                tasks: Mutex::new(Vec::new()),
                readiness: tokio::sync::Mutex::new(None),
                last_unknown_refresh: Mutex::new(None),
                echoes: crate::task_sync::Echoes::default(),
                silent_resync: Mutex::new(std::collections::HashSet::new()),
                write_locks: Mutex::new(HashMap::new()),
                write_wake: tokio::sync::Notify::new(),
            }
        });
        let mut tasks = Vec::new();
        for (server, rx) in receivers {
            tasks.push(tokio::spawn(inner.clone().stream_loop(server, rx)));
        }
        if inner.options.directory.is_pulled()
            && let Err(e) = inner.refresh_directory().await
        {
            tracing::error!(error = %e, "initial directory load failed; keeping the stored directory");
        }
        let users = inner.ctx.store.list_users().await?;
        tracing::info!(users = users.len(), servers = inner.ctx.servers.len(), "engine starting");
        for entry in users {
            // The OOF settings are polled on their schedule, not with the start-up sync.
            inner.first_oof_later(&entry.user.id);
            inner.scheduler.trigger(entry.user.id, Work::sync(SyncMode::Incremental));
        }
        if inner.options.directory.is_pulled() {
            tasks.push(tokio::spawn(inner.clone().refresh_loop()));
        }
        tasks.push(tokio::spawn(inner.clone().spread_loop(
            inner.ctx.settings.reconcile_interval,
            Work::sync(SyncMode::Full),
            "reconcile",
        )));
        tasks.push(tokio::spawn(inner.clone().spread_loop(
            inner.ctx.settings.oof_poll_interval,
            Work::oof(),
            "oof poll",
        )));
        tasks.push(tokio::spawn(inner.clone().prune_loop()));
        tasks.push(tokio::spawn(inner.clone().write_loop()));
        inner.tasks.lock().unwrap_or_else(|e| e.into_inner()).extend(tasks);
        Ok(Arc::new(Engine { ctx, inner }))
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Asks for work for a user (tests, admin): merged with what is pending.
    pub fn trigger(&self, user: &UserId, work: Work) {
        self.inner.scheduler.trigger(user.clone(), work);
    }

    /// Stops every task, letting running syncs finish their store transaction; ends streaming
    /// connections. The store stays open (the caller closes it after the server stopped).
    pub async fn shutdown(&self) {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in &tasks {
            task.abort();
        }
        if !self.inner.scheduler.close(self.inner.options.shutdown_wait).await {
            tracing::warn!(wait = ?self.inner.options.shutdown_wait, "shutdown: some user work was still running");
        }
        self.inner.presence.stop().await;
        for (server, manager) in self.inner.streams_now() {
            tracing::debug!(server = %server, "stopping streaming");
            manager.shutdown().await;
        }
        tracing::info!("engine stopped");
    }
}

impl Inner {
    /// The streaming managers now (cloned handles, so no lock is held across an await).
    fn streams_now(&self) -> Vec<(String, StreamingManager)> {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, StreamingManager)> = streams.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn check_open(&self) -> Result<(), EngineError> {
        if self.closed.load(Ordering::SeqCst) { Err(EngineError::ShuttingDown) } else { Ok(()) }
    }

    /// Whether an unknown user may trigger a directory refresh now: at most one per
    /// [`UNKNOWN_USER_REFRESH`], so a flood of requests for unknown ids is not a flood of
    /// directory downloads.
    fn may_refresh_now(&self) -> bool {
        let mut last = self.last_unknown_refresh.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < UNKNOWN_USER_REFRESH) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// Whether the user's settings ask for tasks (false when unknown or unreadable).
    async fn syncs_tasks(&self, user: &UserId) -> bool {
        matches!(self.ctx.store.get_user(user).await, Ok(Some(e)) if e.user.settings.sync_tasks)
    }

    fn user_of(&self, server: &str, mailbox: &SmtpAddress) -> Option<UserId> {
        let watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        watched.by_mailbox.get(&(server.to_owned(), mailbox.normalized())).cloned()
    }

    fn is_watched(&self, user: &UserId, server: &str, mailbox: &SmtpAddress) -> bool {
        let watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        watched.by_user.get(user).is_some_and(|(s, m)| s == server && m.normalized() == mailbox.normalized())
    }

    /// Adds the user's mailbox to its server's streaming (replacing another one it had).
    fn watch(&self, user: &UserId, server: &str, mailbox: &SmtpAddress) {
        self.unwatch(user);
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        watched.by_user.insert(user.clone(), (server.to_owned(), mailbox.clone()));
        watched.by_mailbox.insert((server.to_owned(), mailbox.normalized()), user.clone());
        if let Some(stream) = self.streams.lock().unwrap_or_else(|e| e.into_inner()).get(server) {
            stream.add_mailboxes([mailbox.clone()]);
        }
    }

    fn unwatch(&self, user: &UserId) {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((server, mailbox)) = watched.by_user.remove(user) {
            watched.by_mailbox.remove(&(server.clone(), mailbox.normalized()));
            if let Some(stream) = self.streams.lock().unwrap_or_else(|e| e.into_inner()).get(&server) {
                stream.remove_mailboxes([mailbox]);
            }
        }
    }

    /// The user's first OOF poll, at an offset within `oof_poll_interval` that depends on the
    /// user id (spread evenly over many users), rather than one GetUserOofSettings per mailbox
    /// in the burst of initial syncs. The presence is computed once the OOF settings are known
    /// ([`PresenceTracker::recompute`] waits for them); `GET …/presence` fetches them at once
    /// when asked before.
    fn first_oof_later(&self, user: &UserId) {
        use std::hash::{Hash, Hasher};
        let interval = self.ctx.settings.oof_poll_interval.max(Duration::from_millis(1));
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        user.as_str().hash(&mut hasher);
        let millis = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1);
        let delay = Duration::from_millis(hasher.finish() % millis);
        // On a whole tick: the first polls of many users that fall in the same second (a
        // directory of thousands pushed at once) fire in one wake-up.
        let at = tokio::time::Instant::from_std(spread::aligned(Instant::now() + delay));
        let scheduler = self.scheduler.clone();
        let user = user.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            scheduler.trigger(user, Work::oof());
        });
    }

    /// Everything about a user removed from the directory.
    fn removed(&self, user: &UserId) {
        self.unwatch(user);
        self.echoes.forget(user);
        self.scheduler.forget(user);
        self.presence.forget(user);
        crate::telemetry::notification_clock().forget(user);
    }

    /// Triggers what a directory change needs.
    fn apply_diff(&self, diff: &DirectoryDiff) {
        for user in diff.created.iter().chain(&diff.identifiers_changed) {
            self.scheduler.trigger(user.clone(), Work::resolve());
        }
        // Settings may have changed (e.g. `sync_tasks`): a sync applies them.
        for user in diff.updated.iter().filter(|u| !diff.identifiers_changed.contains(u)) {
            self.scheduler.trigger(user.clone(), Work::sync(SyncMode::Incremental));
        }
        for removed in &diff.removed {
            self.removed(&removed.user.id);
        }
        tracing::info!(
            created = diff.created.len(),
            updated = diff.updated.len(),
            removed = diff.removed.len(),
            unchanged = diff.unchanged,
            "directory applied"
        );
    }

    /// Loads the url/file directory and applies it (mass-delete guard on); retries every
    /// `not_found` user.
    async fn refresh_directory(&self) -> Result<(), String> {
        let Some(loaded) = self.options.directory.load().await else { return Ok(()) };
        let users = loaded?;
        let diff = self
            .ctx
            .store
            .replace_directory(&users, ReplaceGuard::default())
            .await
            .map_err(|e| format!("directory refresh refused or failed: {e}"))?;
        self.apply_diff(&diff);
        let entries = self.ctx.store.list_users().await.map_err(|e| format!("listing users: {e}"))?;
        for entry in entries.into_iter().filter(|e| e.mailbox.state == MailboxStatus::NotFound) {
            self.scheduler.trigger(entry.user.id, Work::resolve());
        }
        Ok(())
    }

    async fn refresh_loop(self: Arc<Self>) {
        let interval = self.ctx.settings.directory_refresh_interval.max(Duration::from_secs(1));
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) = self.refresh_directory().await {
                tracing::warn!(error = %e, "directory refresh failed; keeping the current directory");
            }
        }
    }

    /// Every `interval`, `work` for every user with a mailbox, spread over the interval and
    /// gathered into ticks ([`spread`]: at most one wake-up a second however many users, each
    /// user at most a second after its slot).
    async fn spread_loop(self: Arc<Self>, interval: Duration, work: Work, what: &'static str) {
        let interval = interval.max(Duration::from_secs(1));
        // Rounds follow each other at their nominal times (a round's slots do not move later
        // because the previous round's last tick came late), so each user keeps its period.
        let mut start = tokio::time::Instant::now();
        let mut last_wake: Option<tokio::time::Instant> = None;
        loop {
            let users: Vec<UserId> = match self.ctx.store.list_users().await {
                Ok(users) => users
                    .into_iter()
                    .filter(|e| e.mailbox.mailbox.is_some() && e.mailbox.synced_at.is_some())
                    .map(|e| e.user.id)
                    .collect(),
                Err(e) => {
                    tracing::warn!(error = %e, task = what, "listing users failed");
                    Vec::new()
                }
            };
            if users.is_empty() {
                tokio::time::sleep(interval).await;
                start = tokio::time::Instant::now();
                continue;
            }
            tracing::debug!(users = users.len(), task = what, "starting a round");
            let round = spread::Round::new(users.len(), interval);
            let mut next = 0;
            while let Some(wake) = round.next_wake(next, last_wake.map(|at| at.saturating_duration_since(start))) {
                tokio::time::sleep_until(start + wake).await;
                let now = tokio::time::Instant::now();
                let due = round.due(next, now.saturating_duration_since(start));
                for user in &users[next..due] {
                    self.scheduler.trigger(user.clone(), work);
                }
                next = due;
                last_wake = Some(now);
            }
            start += interval;
        }
    }

    async fn prune_loop(self: Arc<Self>) {
        loop {
            tokio::time::sleep(PRUNE_INTERVAL).await;
            let now = Timestamp::now();
            let store = &self.ctx.store;
            let tombstones = store.prune_tombstones(now - TOMBSTONE_RETENTION).await;
            let outbox = store.prune_outbox(now - OUTBOX_RETENTION).await;
            let idempotency = store.prune_idempotency(now - IDEMPOTENCY_RETENTION).await;
            match (tombstones, outbox, idempotency) {
                (Ok(t), Ok(o), Ok(i)) => tracing::info!(tombstones = t, outbox = o, idempotency = i, "pruned"),
                (t, o, i) => tracing::warn!(?t, ?o, ?i, "pruning failed"),
            }
        }
    }

    async fn stream_loop(self: Arc<Self>, server: String, mut rx: mpsc::UnboundedReceiver<StreamEvent>) {
        while let Some(event) = rx.recv().await {
            match event {
                StreamEvent::Changed { mailbox, kind, folder, .. } => match self.user_of(&server, &mailbox) {
                    Some(user) if folder == ews_client::WatchedFolder::Tasks && !self.syncs_tasks(&user).await => {
                        tracing::trace!(server = %server, user = %user, "tasks change of a user without sync_tasks")
                    }
                    Some(user) => {
                        tracing::trace!(server = %server, mailbox = %mailbox.as_str(), user = %user, ?kind, "change");
                        crate::telemetry::notification_clock().noticed(&user);
                        self.scheduler.trigger(user, Work::sync(SyncMode::Incremental));
                    }
                    None => {
                        tracing::debug!(server = %server, mailbox = %mailbox.as_str(), "change of an unwatched mailbox")
                    }
                },
                StreamEvent::Gap { mailboxes, reason } => {
                    tracing::info!(server = %server, mailboxes = mailboxes.len(), ?reason, "notification gap: resyncing");
                    for mailbox in &mailboxes {
                        if let Some(user) = self.user_of(&server, mailbox) {
                            self.scheduler.trigger(user, Work::sync(SyncMode::Incremental));
                        }
                    }
                }
                StreamEvent::Subscribed { mailbox } => {
                    if let Some(user) = self.user_of(&server, &mailbox) {
                        self.set_stream_state(&user, MailboxStatus::Subscribed, None).await;
                        // Changes between the initial sync and the subscription have no
                        // notification: one incremental sync (one request when none) covers them.
                        self.scheduler.trigger(user, Work::sync(SyncMode::Incremental));
                    }
                }
                StreamEvent::SubscribeFailed { mailbox, folder, error, retrying } => {
                    let user = self.user_of(&server, &mailbox);
                    tracing::warn!(server = %server, mailbox = %mailbox.as_str(), user = ?user, %folder, retrying,
                        error = %error, "subscribe failed");
                    if !retrying && let Some(user) = user {
                        let reason = format!("subscribing to the {folder} folder failed: {error}");
                        self.set_stream_state(&user, MailboxStatus::Error, Some(reason)).await;
                        // The manager gave the mailbox up: resolve it again later (the next
                        // successful sync adds it to streaming again).
                        self.unwatch(&user);
                        let delay = self.options.backoff.delay(4);
                        let scheduler = self.scheduler.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            scheduler.trigger(user, Work::resolve());
                        });
                    }
                }
                StreamEvent::ConnectionState { connection, anchor, mailboxes, state, .. } => {
                    tracing::debug!(server = %server, connection, anchor = %anchor.as_str(), mailboxes, ?state,
                        "streaming connection");
                }
            }
        }
    }

    /// A streaming outcome for a user: `subscribed` (only from `pending`/`error` once synced),
    /// or `error` with `user.subscription_failed` when the state changes.
    async fn set_stream_state(&self, user: &UserId, status: MailboxStatus, reason: Option<String>) {
        let store = &self.ctx.store;
        let Ok(Some(mut state)) = store.mailbox_state(user).await else { return };
        if state.state == status || state.mailbox.is_none() {
            return;
        }
        if status == MailboxStatus::Subscribed && state.synced_at.is_none() {
            return;
        }
        state.state = status;
        state.last_error = reason.clone();
        state.updated_at = Timestamp::now();
        if let Err(e) = store.set_mailbox_state(user, &state).await {
            tracing::warn!(user = %user, error = %e, "storing the mailbox state failed");
            return;
        }
        if let Some(reason) = reason {
            self.subscription_failed(user, &state, &reason).await;
        }
    }

    async fn subscription_failed(&self, user: &UserId, state: &MailboxState, reason: &str) {
        let data = serde_json::json!({
            "user_id": user.as_str(),
            "state": state.state.as_str(),
            "reason": reason,
            "mailbox": state.mailbox,
            "exchange": state.exchange,
        });
        let event = NewOutboxEvent::new(EventType::UserSubscriptionFailed, user.clone(), Timestamp::now(), data);
        if let Err(e) = self.ctx.store.append_outbox(&[event]).await {
            tracing::warn!(user = %user, error = %e, "appending user.subscription_failed failed");
        }
    }

    /// A known user's settings changed (crate::policy, rule 5): a change of `skip_private`
    /// tells the application about every private item of the mirror at once; a change of
    /// `sync_start` schedules a silent full pass. Other changes apply from the next sync on.
    async fn settings_changed(
        &self,
        user: &UserId,
        before: &exbridge_store::UserSettings,
        after: &exbridge_store::UserSettings,
    ) {
        if before.skip_private != after.skip_private {
            let policy = crate::policy::ReadPolicy::from_settings(after);
            let appended = match self.ctx.store.list_mirror(user, FolderKind::Calendar).await {
                Ok(rows) => {
                    let events = crate::policy::visibility_events(&rows, &policy, user, Timestamp::now());
                    let n = events.len();
                    match self.ctx.store.append_outbox(&events).await {
                        Ok(_) => Ok(n),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            match appended {
                Ok(n) => tracing::info!(user = %user, skip_private = after.skip_private, events = n,
                    "skip_private changed: private items announced"),
                Err(e) => tracing::warn!(user = %user, error = %e,
                    "skip_private changed: announcing the private items failed"),
            }
        }
        if before.sync_start != after.sync_start {
            self.silent_resync.lock().unwrap_or_else(|e| e.into_inner()).insert(user.clone());
            self.scheduler.trigger(user.clone(), Work::sync(SyncMode::Full));
            tracing::info!(user = %user, sync_start = ?after.sync_start, "sync_start changed: silent full pass scheduled");
        }
    }

    /// Resolves the user's mailbox and stores the outcome. `Ok(Some(state))` when resolved.
    async fn resolve(
        &self,
        user: &DirectoryUser,
        previous: Option<&MailboxState>,
    ) -> Result<Option<MailboxState>, scheduler::Failed> {
        let id = &user.id;
        let store = &self.ctx.store;
        let now = Timestamp::now();
        // The initial SyncFolderItems confirms the mailbox (no GetFolder round trip).
        let resolution = resolve_mailbox_with(&self.ctx, user, previous, now, Confirm::ByFirstSync).await;
        let mut next = resolution.state.clone();
        next.updated_at = now;
        match &resolution.resolved {
            Some((mailbox, server)) => {
                let same = previous.is_some_and(|p| {
                    p.exchange.as_deref() == Some(server.name.as_str())
                        && p.mailbox.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(mailbox.as_str()))
                });
                next.mailbox = Some(mailbox.as_str().to_owned());
                next.exchange = Some(server.name.clone());
                if same {
                    let p = previous.expect("same implies previous");
                    next.synced_at = p.synced_at;
                    next.state = if p.state == MailboxStatus::Subscribed && p.synced_at.is_some() {
                        MailboxStatus::Subscribed
                    } else {
                        MailboxStatus::Pending
                    };
                } else {
                    next.synced_at = None;
                    next.state = MailboxStatus::Pending;
                    self.unwatch(id);
                    if previous.is_some_and(|p| p.mailbox.is_some()) {
                        // Another mailbox: its sync state means nothing for the new one.
                        store
                            .clear_sync_state(id, FolderKind::Calendar)
                            .await
                            .map_err(store_err(id, "clearing sync state"))?;
                        store
                            .clear_sync_state(id, FolderKind::Tasks)
                            .await
                            .map_err(store_err(id, "clearing the tasks sync state"))?;
                    }
                }
                store.set_mailbox_state(id, &next).await.map_err(store_err(id, "storing the mailbox state"))?;
                if !same {
                    tracing::info!(user = %id, mailbox = %mailbox.as_str(), server = %server.name,
                        matched_by = ?next.matched_by, "mailbox resolved");
                    let data = serde_json::json!({
                        "user_id": id.as_str(),
                        "mailbox": mailbox.as_str(),
                        "matched_by": next.matched_by.map(|m| m.as_str()),
                        "exchange": server.name,
                    });
                    let event = NewOutboxEvent::new(EventType::UserMailboxResolved, id.clone(), now, data);
                    store.append_outbox(&[event]).await.map_err(store_err(id, "appending user.mailbox_resolved"))?;
                }
                Ok(Some(next))
            }
            None => {
                self.unwatch(id);
                next.synced_at = None;
                store.set_mailbox_state(id, &next).await.map_err(store_err(id, "storing the mailbox state"))?;
                let reason = next.last_error.clone().unwrap_or_else(|| match next.state {
                    MailboxStatus::NotFound => "no identifier resolved to a mailbox".to_owned(),
                    _ => "the mailbox could not be resolved".to_owned(),
                });
                tracing::info!(user = %id, state = %next.state, reason = %reason, "mailbox not resolved");
                if previous.map(|p| p.state) != Some(next.state) {
                    self.subscription_failed(id, &next, &reason).await;
                }
                if next.state == MailboxStatus::NotFound {
                    Ok(None)
                } else {
                    Err(scheduler::Failed::new(format!("resolving {id}: {reason}"), Work::resolve()))
                }
            }
        }
    }

    /// The server and mailbox a user is watched with (resolved, synced, in streaming).
    fn watched_mailbox(&self, user: &UserId) -> Option<(Arc<ExchangeServer>, SmtpAddress)> {
        let watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        let (server, mailbox) = watched.by_user.get(user)?;
        Some((self.ctx.server(server)?.clone(), mailbox.clone()))
    }

    /// Polls the user's OOF settings; the presence is recomputed only when they changed.
    async fn poll_oof(&self, id: &UserId, server: &ExchangeServer, mailbox: &SmtpAddress) {
        match reads::oof(&self.ctx, server, mailbox).await {
            // Unchanged settings need no presence recomputation (a sync or the presence
            // task's own deadline recomputes it when the calendar or the time changes it).
            Ok(oof) => {
                self.presence.update_oof(id, oof);
            }
            Err(e) => {
                tracing::warn!(user = %id, mailbox = %mailbox.as_str(), server = %server.name, error = %e,
                    "OOF poll failed");
                if self.presence.oof(id).is_none() {
                    self.presence.set_oof(id, Oof::disabled());
                }
            }
        }
    }

    /// One run of a user's work (see the module documentation).
    async fn process(&self, id: UserId, mut work: Work) -> Result<(), scheduler::Failed> {
        // The OOF poll of a watched mailbox (the idle load: one per user and interval) needs
        // no store read: the mailbox and server are those it is watched with.
        if work == Work::oof()
            && let Some((server, mailbox)) = self.watched_mailbox(&id)
        {
            self.poll_oof(&id, &server, &mailbox).await;
            return Ok(());
        }
        let store = &self.ctx.store;
        let Some(entry) = store.get_user(&id).await.map_err(store_err(&id, "reading the user"))? else {
            self.removed(&id);
            return Ok(());
        };
        let mut state = store.mailbox_state(&id).await.map_err(store_err(&id, "reading the mailbox state"))?;
        let server_known = |s: &MailboxState| s.exchange.as_deref().is_some_and(|n| self.ctx.server(n).is_some());
        let unresolved = state.as_ref().is_none_or(|s| s.mailbox.is_none() || !server_known(s));
        if work.resolve || unresolved {
            match self.resolve(&entry.user, state.as_ref()).await? {
                Some(resolved) => {
                    if resolved.synced_at.is_none() {
                        work.sync = Some(work.sync.unwrap_or(SyncMode::Incremental));
                        self.first_oof_later(&id);
                    }
                    state = Some(resolved);
                }
                None => return Ok(()),
            }
        }
        let Some(mut state) = state else { return Ok(()) };
        let (Some(mailbox), Some(server)) = (
            state.mailbox.as_deref().and_then(|m| SmtpAddress::parse(m).ok()),
            state.exchange.as_deref().and_then(|n| self.ctx.server(n)),
        ) else {
            return Err(scheduler::Failed::new(format!("{id}: stored mailbox is unusable"), Work::resolve()));
        };

        if let Some(mode) = work.sync {
            let started = Instant::now();
            // A mailbox's very first sync is silent: the application learns of the mailbox
            // through `user.mailbox_resolved` and reads `/events`; every later change is a
            // webhook. (Announcing the existing calendar would be 50 webhooks per user, 500,000
            // for 10,000 users at the first start.)
            let silent = self.silent_resync.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            // Before a silent full pass, the changes since the last sync are announced as usual.
            let mode = if silent { SyncMode::Incremental } else { mode };
            let options = SyncOptions { mode, announce_initial: false };
            let now = Timestamp::now();
            // A calendar pass with the user's settings as read above (no second read of the
            // user per sync).
            let policy = crate::policy::ReadPolicy::from_settings(&entry.user.settings);
            let pass = |options: SyncOptions, policy: crate::policy::ReadPolicy, now: Timestamp| {
                let (ctx, server, id, mailbox) = (&self.ctx, &server, &id, &mailbox);
                async move {
                    let calendar = FolderKind::Calendar;
                    crate::sync::sync_folder_with_policy(ctx, server, id, mailbox, calendar, options, &policy, now)
                        .await
                }
            };
            let mut result = pass(options, policy.clone(), now).await;
            if silent && result.is_ok() {
                let options = SyncOptions { mode: SyncMode::Full, announce_initial: false };
                let full = pass(options, policy.silenced(), Timestamp::now()).await;
                tracing::info!(user = %id, ok = full.is_ok(), "silent full pass after a change of sync_start");
                if let Err(e) = full {
                    self.silent_resync.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone());
                    result = Err(e);
                }
            }
            crate::telemetry::record_sync(mode.as_str(), result.is_ok(), started.elapsed());
            match result {
                Ok(report) => {
                    if report.entries.is_empty() {
                        crate::telemetry::notification_clock().nothing_to_deliver(&id, started);
                    }
                    tracing::debug!(user = %id, mailbox = %mailbox.as_str(), server = %server.name, ?mode,
                        created = report.created, updated = report.updated, deleted = report.deleted,
                        requests = report.requests, resynced = report.resynced, took = ?started.elapsed(), "synced");
                    if !self.is_watched(&id, &server.name, &mailbox) {
                        self.watch(&id, &server.name, &mailbox);
                    }
                    state.synced_at = Some(Timestamp::now());
                    state.updated_at = Timestamp::now();
                    state.last_error = None;
                    if state.state != MailboxStatus::Subscribed {
                        state.state = MailboxStatus::Subscribed;
                        tracing::info!(user = %id, mailbox = %mailbox.as_str(), server = %server.name, "subscribed");
                    }
                    store.set_mailbox_state(&id, &state).await.map_err(store_err(&id, "storing the mailbox state"))?;
                    self.presence.recompute(&id);
                }
                Err(e) => {
                    let mailbox_level = e.is_mailbox_error();
                    let reason = format!("sync of {} on {} failed: {e}", mailbox.as_str(), server.name);
                    tracing::warn!(user = %id, mailbox = %mailbox.as_str(), server = %server.name, mailbox_level,
                        error = %e, "sync failed");
                    let before = state.state;
                    state.state = MailboxStatus::Error;
                    state.last_error = Some(reason.clone());
                    state.updated_at = Timestamp::now();
                    store.set_mailbox_state(&id, &state).await.map_err(store_err(&id, "storing the mailbox state"))?;
                    if before != MailboxStatus::Error {
                        self.subscription_failed(&id, &state, &reason).await;
                    }
                    let retry = if mailbox_level { Work::resolve().merge(Work::sync(mode)) } else { Work::sync(mode) };
                    return Err(scheduler::Failed::new(reason, retry.merge(Work { oof: work.oof, ..Work::default() })));
                }
            }
            self.tasks_step(&entry.user, &server, &mailbox, mode).await?;
        }

        if work.oof {
            self.poll_oof(&id, &server, &mailbox).await;
        }
        Ok(())
    }

    async fn ensure_user(&self, id: &UserId) -> Result<DirectoryEntry, EngineError> {
        self.check_open()?;
        let store = &self.ctx.store;
        let entry = match store.get_user(id).await? {
            Some(entry) => entry,
            None => {
                if self.options.directory.is_pulled()
                    && self.may_refresh_now()
                    && let Err(e) = self.refresh_directory().await
                {
                    tracing::warn!(user = %id, error = %e, "directory refresh for an unknown user failed");
                }
                store.get_user(id).await?.ok_or_else(|| EngineError::UnknownUser(id.clone()))?
            }
        };
        let never_resolved = entry.mailbox.mailbox.is_none()
            && entry.mailbox.attempts.is_empty()
            && entry.mailbox.state == MailboxStatus::Pending;
        if !never_resolved {
            return Ok(entry);
        }
        let done = self.scheduler.trigger_and_wait(id.clone(), Work::resolve());
        let _ = tokio::time::timeout(RESOLVE_WAIT, done).await;
        store.get_user(id).await?.ok_or_else(|| EngineError::UnknownUser(id.clone()))
    }

    fn mailbox_of(&self, entry: &DirectoryEntry) -> Result<(SmtpAddress, Arc<ExchangeServer>), EngineError> {
        let m = &entry.mailbox;
        let found = m
            .mailbox
            .as_deref()
            .and_then(|m| SmtpAddress::parse(m).ok())
            .zip(m.exchange.as_deref().and_then(|n| self.ctx.server(n)));
        found.ok_or_else(|| EngineError::NoMailbox {
            user: entry.user.id.clone(),
            reason: m.last_error.clone().unwrap_or_else(|| format!("mailbox state {}", m.state)),
        })
    }
}

fn check_range(start: Timestamp, end: Timestamp) -> Result<(), EngineError> {
    if start < end { Ok(()) } else { Err(EngineError::Invalid(format!("start {start} is not before end {end}"))) }
}

#[async_trait]
impl Connector for Engine {
    async fn replace_users(&self, users: Vec<DirectoryUser>, force: bool) -> Result<DirectoryDiff, EngineError> {
        self.inner.check_open()?;
        let guard = if force { ReplaceGuard::force() } else { ReplaceGuard::default() };
        let previous: HashMap<UserId, exbridge_store::UserSettings> =
            self.ctx.store.list_users().await?.into_iter().map(|e| (e.user.id, e.user.settings)).collect();
        let diff = self.ctx.store.replace_directory(&users, guard).await.map_err(|e| match e {
            StoreError::MassDelete { .. } => EngineError::MassDelete(e.to_string()),
            StoreError::Invalid(msg) => EngineError::Invalid(msg),
            e => EngineError::Store(e),
        })?;
        self.inner.apply_diff(&diff);
        for user in &users {
            if let Some(before) = previous.get(&user.id) {
                self.inner.settings_changed(&user.id, before, &user.settings).await;
            }
        }
        Ok(diff)
    }

    async fn upsert_user(&self, user: DirectoryUser) -> Result<UpsertOutcome, EngineError> {
        self.inner.check_open()?;
        let previous = self.ctx.store.get_user(&user.id).await?.map(|e| e.user.settings);
        let outcome = self.ctx.store.upsert_user(&user).await.map_err(|e| match e {
            StoreError::Invalid(msg) => EngineError::Invalid(msg),
            e => EngineError::Store(e),
        })?;
        if let Some(previous) = previous {
            self.inner.settings_changed(&user.id, &previous, &user.settings).await;
        }
        if matches!(outcome, UpsertOutcome::Created | UpsertOutcome::Updated { identifiers_changed: true }) {
            self.inner.scheduler.trigger(user.id.clone(), Work::resolve());
        } else if matches!(outcome, UpsertOutcome::Updated { .. }) {
            // Settings may have changed (e.g. `sync_tasks`): a sync applies them.
            self.inner.scheduler.trigger(user.id.clone(), Work::sync(SyncMode::Incremental));
        }
        Ok(outcome)
    }

    async fn delete_user(&self, user: &UserId) -> Result<bool, EngineError> {
        self.inner.check_open()?;
        let removed = self.ctx.store.delete_user(user).await?;
        if removed.is_some() {
            self.inner.removed(user);
        }
        Ok(removed.is_some())
    }

    async fn list_users(&self) -> Result<Vec<DirectoryEntry>, EngineError> {
        Ok(self.ctx.store.list_users().await?)
    }

    async fn ensure_user(&self, user: &UserId) -> Result<DirectoryEntry, EngineError> {
        self.inner.ensure_user(user).await
    }

    async fn events(&self, user: &UserId, start: Timestamp, end: Timestamp) -> Result<Vec<EventDoc>, EngineError> {
        check_range(start, end)?;
        let entry = self.inner.ensure_user(user).await?;
        // `skip_private`: the user's private items are not listed (crate::policy, rule 3).
        let skip_private = entry.user.settings.skip_private;
        if entry.mailbox.synced_at.is_some() {
            let rows = self.ctx.store.events_in_window(user, FolderKind::Calendar, start, end).await?;
            let unlinked = self.ctx.store.unlinked_events(user).await?;
            return Ok(rows
                .into_iter()
                .filter(|row| {
                    // Events the application unlinked (DELETE with delete_in_exchange false).
                    let id = row.event.get("id").and_then(|v| v.as_str());
                    let series = row.event.get("series_id").and_then(|v| v.as_str());
                    !unlinked.iter().any(|u| Some(u.as_str()) == id || Some(u.as_str()) == series)
                })
                .filter_map(|row| match serde_json::from_value::<EventDoc>(row.event) {
                    Ok(doc) => Some(doc),
                    Err(e) => {
                        tracing::warn!(user = %user, uid = %row.key.uid, error = %e, "mirror row is not an event document");
                        None
                    }
                })
                .filter(|doc| !(skip_private && doc.is_private))
                .collect());
        }
        let (mailbox, server) = self.inner.mailbox_of(&entry)?;
        let mut docs = reads::calendar_view(&self.ctx, &server, &mailbox, start, end).await?;
        docs.retain(|doc| !(skip_private && doc.is_private));
        Ok(docs)
    }

    async fn presence(&self, user: &UserId) -> Result<PresenceDoc, EngineError> {
        let entry = self.inner.ensure_user(user).await?;
        let (mailbox, server) = self.inner.mailbox_of(&entry)?;
        let oof = match self.inner.presence.oof(user) {
            Some(oof) => oof,
            None => {
                let oof = reads::oof(&self.ctx, &server, &mailbox).await?;
                self.inner.presence.set_oof(user, oof.clone());
                oof
            }
        };
        let horizon = Duration::from_secs(u64::from(self.ctx.settings.window_future_days.max(1)) * 24 * 3600);
        let (doc, _) = presence::compute(self.ctx.store.as_ref(), user, &oof, horizon, Timestamp::now()).await?;
        Ok(doc)
    }

    async fn free_busy(
        &self,
        user: &UserId,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<FreeBusySlot>, EngineError> {
        check_range(start, end)?;
        let entry = self.inner.ensure_user(user).await?;
        let (mailbox, server) = self.inner.mailbox_of(&entry)?;
        Ok(reads::free_busy(&self.ctx, &server, &mailbox, start, end).await?)
    }

    async fn readiness(&self) -> Readiness {
        let mut cached = self.inner.readiness.lock().await;
        if let Some((at, readiness)) = cached.as_ref()
            && at.elapsed() < READINESS_TTL
        {
            return readiness.clone();
        }
        let store = self.ctx.store.health().await.map(|_| ()).map_err(|e| e.to_string());
        let servers = self.ctx.servers.list();
        let mut exchange = Vec::with_capacity(servers.len());
        for server in &servers {
            let check = tokio::time::timeout(Duration::from_secs(10), server.client.check_connection(None)).await;
            let result = match check {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer within 10 s".to_owned()),
            };
            exchange.push((server.name.clone(), result));
        }
        let readiness = Readiness { store, exchange };
        *cached = Some((Instant::now(), readiness.clone()));
        readiness
    }

    async fn exchange_servers(&self) -> Vec<ExchangeConfig> {
        self.inner.exchange_servers()
    }

    async fn update_exchange_server(&self, server: ExchangeConfig) -> Result<(), EngineError> {
        self.inner.update_exchange_server(server).await
    }

    async fn test_connection(&self, server: Option<&str>) -> Vec<ConnectionReport> {
        self.inner.test_connection(server).await
    }

    async fn recheck_mapping(&self, user: &UserId) -> Result<DirectoryEntry, EngineError> {
        self.inner.recheck_mapping(user).await
    }

    async fn tasks(&self, user: &UserId, status: Option<&str>) -> Result<Vec<TaskDoc>, TaskError> {
        self.list_tasks(user, status).await
    }

    async fn task(&self, user: &UserId, id: &str) -> Result<TaskDoc, TaskError> {
        self.get_task(user, id).await
    }

    async fn create_task(&self, user: &UserId, input: TaskInput) -> Result<TaskDoc, TaskError> {
        self.create_task_in(user, input).await
    }

    async fn update_task(
        &self,
        user: &UserId,
        id: &str,
        input: TaskInput,
        if_match: Option<&str>,
    ) -> Result<TaskDoc, TaskError> {
        self.update_task_in(user, id, input, if_match).await
    }

    async fn delete_task(&self, user: &UserId, id: &str, if_match: Option<&str>) -> Result<(), TaskError> {
        self.delete_task_in(user, id, if_match).await
    }

    async fn create_event(
        &self,
        user: &UserId,
        body: serde_json::Value,
        meta: crate::api::WriteMeta,
    ) -> Result<crate::api::WriteOutcome, EngineError> {
        self.inner.write(user, crate::writes::WriteOp::Create { body }, meta).await
    }

    async fn update_event(
        &self,
        user: &UserId,
        event_id: &str,
        body: serde_json::Value,
        meta: crate::api::WriteMeta,
    ) -> Result<crate::api::WriteOutcome, EngineError> {
        let op =
            crate::writes::WriteOp::Update { event_id: event_id.to_owned(), body, if_match: meta.if_match.clone() };
        self.inner.write(user, op, meta).await
    }

    async fn delete_event(
        &self,
        user: &UserId,
        event_id: &str,
        meta: crate::api::WriteMeta,
    ) -> Result<crate::api::WriteOutcome, EngineError> {
        let op = crate::writes::WriteOp::Delete { event_id: event_id.to_owned(), if_match: meta.if_match.clone() };
        self.inner.write(user, op, meta).await
    }

    async fn write_status(&self, user: &UserId, write_id: &str) -> Result<Option<serde_json::Value>, EngineError> {
        self.inner.write_status(user, write_id).await
    }

    async fn record_gauges(&self) {
        use crate::telemetry::{STREAMING_CONNECTIONS, SUBSCRIPTIONS, USERS, USERS_SYNCED};
        match self.ctx.store.user_counts().await {
            Ok(counts) => {
                for (state, count) in &counts.by_state {
                    metrics::gauge!(USERS, "state" => state.as_str()).set(*count as f64);
                }
                metrics::gauge!(USERS_SYNCED).set(counts.synced as f64);
            }
            Err(e) => tracing::warn!(error = %e, "metrics: counting the users failed"),
        }
        for (server, manager) in self.inner.streams_now() {
            let stats = manager.stats().await;
            metrics::gauge!(STREAMING_CONNECTIONS, "server" => server.clone()).set(stats.open_connections as f64);
            metrics::gauge!(SUBSCRIPTIONS, "server" => server.clone()).set(stats.subscribed as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("exbridge-runtime-{name}-{}", std::process::id()))
    }

    /// `[sync] join_keywords` reach the context's join detector.
    #[tokio::test]
    async fn join_keywords_from_the_configuration_reach_the_detector() {
        let toml = r#"
[server]
api_tokens = ["a-long-token"]
[[exchange]]
name = "x"
ews_url = "https://127.0.0.1:1/EWS/Exchange.asmx"
auth = "basic"
username = "svc"
password = "pw"
[sync]
join_keywords = { "@webex" = "webex", "@huddle" = "huddle" }
"#;
        let config = Config::from_toml_str(toml, &[]).unwrap();
        let dir = store_path("joins");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store: Arc<dyn Store> = Arc::new(exbridge_store::SqliteStore::open(dir.join("db")).await.unwrap());
        let ctx = context_from_config(&config, store.clone()).await.unwrap();
        let webex = ctx.joins.detect(Some("@WebEx personal room"), None, false).unwrap();
        assert_eq!((webex.provider.as_str(), webex.url), ("webex", None));
        let own = ctx.joins.detect(None, Some("on @huddle: https://huddle.contoso.com/r/1"), false).unwrap();
        assert_eq!(own.provider.as_str(), "huddle");
        assert_eq!(own.url.as_deref(), Some("https://huddle.contoso.com/r/1"));
        assert!(ctx.joins.detect(Some("https://www.contoso.com/agenda"), None, false).is_none());
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A file directory, no Exchange server: users load at start, an unknown user triggers a
    /// refresh that finds them, a refresh that would empty the directory is refused.
    #[tokio::test]
    async fn file_directory_loads_refreshes_for_unknown_users_and_keeps_the_guard() {
        let dir = store_path("filedir");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("users.json");
        std::fs::write(&file, r#"[{"id":"a"},{"id":"b"}]"#).unwrap();
        let store: Arc<dyn Store> = Arc::new(exbridge_store::SqliteStore::open(dir.join("db")).await.unwrap());
        let ctx = Context {
            store: store.clone(),
            servers: vec![].into(),
            settings: EngineSettings::default(),
            joins: Arc::new(JoinDetector::new(&[])),
            catmap: Arc::default(),
        };
        let options = EngineOptions { directory: DirectorySource::File(file.clone()), ..EngineOptions::default() };
        let engine = tokio::time::timeout(Duration::from_secs(10), Engine::start_with_options(ctx, options))
            .await
            .unwrap()
            .unwrap();
        let ids: Vec<String> =
            engine.list_users().await.unwrap().into_iter().map(|e| e.user.id.into_string()).collect();
        assert_eq!(ids, vec!["a", "b"]);

        std::fs::write(&file, r#"[{"id":"a"},{"id":"b"},{"id":"c"}]"#).unwrap();
        let c = engine.ensure_user(&UserId::new("c")).await;
        // Found by the refresh; with no server it cannot resolve: not_found.
        let c = c.unwrap();
        assert_eq!(c.user.id.as_str(), "c");
        assert_eq!(c.mailbox.state, MailboxStatus::NotFound, "{:?}", c.mailbox);
        // A second unknown id within the rate limit does not reload the file.
        std::fs::write(&file, r#"[{"id":"a"},{"id":"b"},{"id":"c"},{"id":"d"}]"#).unwrap();
        assert!(matches!(engine.ensure_user(&UserId::new("d")).await, Err(EngineError::UnknownUser(_))));

        // Emptying the directory is refused and the old one kept.
        std::fs::write(&file, "[]").unwrap();
        assert!(engine.inner.refresh_directory().await.unwrap_err().contains("refused"));
        assert_eq!(engine.list_users().await.unwrap().len(), 3);
        engine.shutdown().await;
        assert!(matches!(engine.upsert_user(DirectoryUser::new("e")).await, Err(EngineError::ShuttingDown)));
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
