//! What every part of the engine shares.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ews_client::EwsClient;
use exbridge_calendar::join::JoinDetector;
use exbridge_store::Store;
use jiff::Timestamp;

/// One `[[exchange]]` server.
#[derive(Debug)]
pub struct ExchangeServer {
    /// The configured `name`.
    pub name: String,
    pub client: EwsClient,
    /// Lower-cased domains whose users this server holds (`domains`); empty: any.
    pub domains: Vec<String>,
}

impl ExchangeServer {
    /// Whether `identifier` (an e-mail address, or an external UID without a domain) may live
    /// on this server: its domain is listed, or the server lists none.
    pub fn may_hold(&self, identifier: &str) -> bool {
        if self.domains.is_empty() {
            return true;
        }
        match identifier.rsplit_once('@') {
            Some((_, domain)) => self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)),
            None => true,
        }
    }
}

/// The engine's settings (`[sync]` and `[directory]` of the configuration plus tuning).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub window_past_days: u32,
    pub window_future_days: u32,
    pub reconcile_interval: Duration,
    pub oof_poll_interval: Duration,
    pub directory_refresh_interval: Duration,
    /// Items per GetItem request.
    pub get_item_batch: usize,
    /// `MaxChangesReturned` of SyncFolderItems (1..=512).
    pub sync_page_size: u32,
    /// Mailboxes synchronised at once (the client's per-server concurrency applies on top).
    pub sync_concurrency: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            window_past_days: 30,
            window_future_days: 180,
            reconcile_interval: Duration::from_secs(15 * 60),
            oof_poll_interval: Duration::from_secs(60),
            directory_refresh_interval: Duration::from_secs(10 * 60),
            get_item_batch: 100,
            sync_page_size: 512,
            sync_concurrency: 32,
        }
    }
}

/// The Exchange servers in effect, in configuration order (the order servers are tried for an
/// identifier). Every clone of a [`Context`] shares one list: an admin edit
/// ([`crate::api::Connector::update_exchange_server`]) replaces a server for all of them at
/// once, while work that already holds the old `Arc<ExchangeServer>` finishes on its client.
#[derive(Clone, Default)]
pub struct Servers(Arc<RwLock<Vec<Arc<ExchangeServer>>>>);

impl Servers {
    /// A list of servers, in the order they are tried.
    pub fn new(servers: Vec<Arc<ExchangeServer>>) -> Self {
        Servers(Arc::new(RwLock::new(servers)))
    }

    /// The servers now, in order.
    pub fn list(&self) -> Vec<Arc<ExchangeServer>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The server with this configured name.
    pub fn get(&self, name: &str) -> Option<Arc<ExchangeServer>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).iter().find(|s| s.name == name).cloned()
    }

    /// Replaces the server of the same name, keeping its place, or appends it. Returns the one
    /// replaced.
    pub fn put(&self, server: Arc<ExchangeServer>) -> Option<Arc<ExchangeServer>> {
        let mut list = self.0.write().unwrap_or_else(|e| e.into_inner());
        match list.iter_mut().find(|s| s.name == server.name) {
            Some(slot) => Some(std::mem::replace(slot, server)),
            None => {
                list.push(server);
                None
            }
        }
    }
}

impl From<Vec<Arc<ExchangeServer>>> for Servers {
    fn from(servers: Vec<Arc<ExchangeServer>>) -> Self {
        Servers::new(servers)
    }
}

impl std::fmt::Debug for Servers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list().iter().map(|s| &s.name)).finish()
    }
}

/// Shared by every task of the engine. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    pub store: Arc<dyn Store>,
    /// The servers in effect (see [`Servers`]).
    pub servers: Servers,
    pub settings: EngineSettings,
    pub joins: Arc<JoinDetector>,
    /// `[mapping]` tables and the master category list cache.
    pub catmap: Arc<crate::catmap::CatMap>,
}

impl Context {
    /// The server with this configured name.
    pub fn server(&self, name: &str) -> Option<Arc<ExchangeServer>> {
        self.servers.get(name)
    }

    /// The servers that may hold `identifier`, in configuration order.
    pub fn servers_for(&self, identifier: &str) -> Vec<Arc<ExchangeServer>> {
        self.servers.list().into_iter().filter(|s| s.may_hold(identifier)).collect()
    }

    /// The sync window around `now`: `window_past_days` back (never more than 30), and
    /// `window_future_days` ahead.
    pub fn window(&self, now: Timestamp) -> (Timestamp, Timestamp) {
        let day = 24 * 3600;
        let past = i64::from(self.settings.window_past_days.min(30)) * day;
        let future = i64::from(self.settings.window_future_days) * day;
        let start = Timestamp::from_second(now.as_second() - past).unwrap_or(now);
        let end = Timestamp::from_second(now.as_second() + future).unwrap_or(now);
        (start, end)
    }
}
