//! Admin operations on a running engine: the Exchange servers in effect and their hot edit,
//! connection tests, and "check mapping" for one user.
//!
//! # Editing a server
//! [`Connector::update_exchange_server`](crate::api::Connector::update_exchange_server)
//! validates the settings as the configuration loader validates one `[[exchange]]` table
//! ([`ExchangeConfig::validated`]), builds a new [`EwsClient`](ews_client::EwsClient) (after
//! Autodiscover when there is no `ews_url`), stores the settings, and only then swaps the server
//! in the shared [`Servers`](crate::context::Servers) list: work holding the old server
//! finishes on the old client, new work takes the new one. The server's streaming manager is
//! replaced (the mailboxes it watched are handed to the new one), and users whose state may
//! depend on the server are resolved again: every user in `error`, `not_found` or `pending`,
//! and every user of that server when its connection settings (URL, authentication,
//! credentials, TLS, proxy, version) changed.
//!
//! # Persistence
//! Edited servers are kept in the store's `secrets` table, which is always encrypted (with
//! `store.encryption_key`): `exchange.server.<name>` holds the server's table as TOML
//! ([`ExchangeConfig::to_toml_string`], secrets included), `exchange.servers` the JSON list of
//! edited names. Without an encryption key the store refuses secrets, and so an edit is refused
//! ([`EngineError::Invalid`]) before anything changes. At start, [`apply_stored_servers`]
//! replaces the configuration file's entries of the same name (and adds the others), logging
//! which, never the values.

use std::sync::Arc;
use std::time::Duration;

use ews_client::{Autodiscover, StreamingConfig, StreamingManager};
use ews_proto::SmtpAddress;
use exbridge_config::ExchangeConfig;
use exbridge_store::secrecy::{ExposeSecret, SecretString};
use exbridge_store::{DirectoryEntry, MailboxStatus, Store, StoreError, UserId};
use jiff::Timestamp;

use super::{Inner, RESOLVE_WAIT, Work, server_from_config, streaming_autodiscover_of};
use crate::api::{ConnectionReport, EngineError};
use crate::connection::check_server;
use crate::context::ExchangeServer;
use crate::sync::SyncMode;

/// The store secret listing the names of edited servers (a JSON array).
pub const STORED_INDEX: &str = "exchange.servers";
/// How long one server's connection test may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The store secret holding an edited server's settings.
pub fn stored_name(server: &str) -> String {
    format!("exchange.server.{server}")
}

/// The servers edited in the admin UI and kept in the store, in the order they were first
/// edited. A stored entry that no longer reads is skipped with a warning.
pub async fn stored_servers(store: &dyn Store) -> Result<Vec<ExchangeConfig>, StoreError> {
    let mut out = Vec::new();
    for name in stored_names(store).await? {
        let Some(text) = store.get_secret(&stored_name(&name)).await? else { continue };
        match ExchangeConfig::from_stored_toml(text.expose_secret()) {
            Ok(x) if x.name == name => out.push(x),
            Ok(x) => {
                tracing::warn!(server = %name, stored_as = %x.name, "stored Exchange settings carry another name; ignored")
            }
            Err(e) => tracing::warn!(server = %name, error = %e, "stored Exchange settings are invalid; ignored"),
        }
    }
    Ok(out)
}

async fn stored_names(store: &dyn Store) -> Result<Vec<String>, StoreError> {
    match store.get_secret(STORED_INDEX).await? {
        None => Ok(Vec::new()),
        Some(list) => serde_json::from_str(list.expose_secret()).map_err(|e| {
            StoreError::Invalid(format!("the stored list {STORED_INDEX} is not a JSON list of names: {e}"))
        }),
    }
}

/// Replaces the entries of `servers` that were edited in the admin UI by their stored
/// settings, appends stored servers the list does not have, and logs which (names only).
/// When the store cannot be read (e.g. its key is missing) the list is kept as it is.
pub async fn apply_stored_servers(servers: &mut Vec<ExchangeConfig>, store: &dyn Store) {
    let stored = match stored_servers(store).await {
        Ok(stored) => stored,
        Err(e) => {
            tracing::warn!(error = %e, "reading the Exchange settings edited in the admin UI failed; using the configuration file's");
            return;
        }
    };
    for x in stored {
        match servers.iter_mut().find(|s| s.name == x.name) {
            Some(slot) => {
                tracing::info!(server = %x.name, "using the Exchange settings edited in the admin UI (stored) instead of the configuration file's");
                *slot = x;
            }
            None => {
                tracing::info!(server = %x.name, "adding the Exchange server edited in the admin UI (stored)");
                servers.push(x);
            }
        }
    }
}

/// Stores an edited server (and its name in the index).
async fn persist(store: &dyn Store, x: &ExchangeConfig) -> Result<(), EngineError> {
    let refused = |e: StoreError| match e {
        StoreError::KeyRequired { .. } => EngineError::Invalid(format!(
            "saving Exchange server {:?} needs store.encryption_key: its settings hold secrets, which the store keeps \
             only encrypted; nothing was changed",
            x.name
        )),
        e => EngineError::Store(e),
    };
    let mut names = stored_names(store).await.map_err(refused)?;
    store.put_secret(&stored_name(&x.name), &SecretString::from(x.to_toml_string())).await.map_err(refused)?;
    if !names.contains(&x.name) {
        names.push(x.name.clone());
        let list = serde_json::to_string(&names).expect("a list of strings serialises");
        store.put_secret(STORED_INDEX, &SecretString::from(list)).await.map_err(refused)?;
    }
    Ok(())
}

/// Whether two settings of one server reach Exchange the same way (only `domains` and the
/// concurrency limits may differ).
fn same_connection(a: &ExchangeConfig, b: &ExchangeConfig) -> bool {
    let mut b = b.clone();
    b.domains = a.domains.clone();
    b.max_concurrency = a.max_concurrency;
    b.max_streaming_connections = a.max_streaming_connections;
    *a == b
}

impl Inner {
    /// See [`crate::api::Connector::update_exchange_server`] and the module documentation.
    pub(super) async fn update_exchange_server(self: &Arc<Self>, x: ExchangeConfig) -> Result<(), EngineError> {
        self.check_open()?;
        let name = x.name.clone();
        let x = x.validated().map_err(|e| EngineError::Invalid(format!("Exchange server {name:?}: {e}")))?;
        let _one_at_a_time = self.admin.lock().await;
        let server = Arc::new(server_from_config(&x).await?);
        persist(self.ctx.store.as_ref(), &x).await?;
        self.check_open()?;

        let old = {
            let mut list = self.exchange.lock().unwrap_or_else(|e| e.into_inner());
            match list.iter_mut().find(|s| s.name == name) {
                Some(slot) => Some(std::mem::replace(slot, x.clone())),
                None => {
                    list.push(x.clone());
                    None
                }
            }
        };
        let connection_changed = old.as_ref().is_none_or(|o| !same_connection(o, &x));
        self.ctx.servers.put(server.clone());
        if let Some(previous) = self.restart_streaming(&x, &server) {
            previous.shutdown().await;
        }
        *self.readiness.lock().await = None;
        tracing::info!(server = %name, ews_url = ?x.ews_url.as_ref().map(|u| u.as_str()), auth = x.auth.as_str(),
            added = old.is_none(), connection_changed, "Exchange server updated from the admin UI");

        let users = self.ctx.store.list_users().await?;
        let mut again = 0usize;
        for entry in users {
            let of_server = entry.mailbox.exchange.as_deref() == Some(name.as_str());
            let stuck =
                matches!(entry.mailbox.state, MailboxStatus::Error | MailboxStatus::NotFound | MailboxStatus::Pending);
            if stuck || (of_server && connection_changed) {
                self.scheduler.trigger(entry.user.id, Work::resolve().merge(Work::sync(SyncMode::Incremental)));
                again += 1;
            }
        }
        tracing::info!(server = %name, users = again, "resolving users again after the Exchange server changed");
        Ok(())
    }

    /// Starts a new streaming manager for the server with the mailboxes the old one watched;
    /// returns the old one (to be shut down by the caller).
    fn restart_streaming(self: &Arc<Self>, x: &ExchangeConfig, server: &ExchangeServer) -> Option<StreamingManager> {
        let autodiscover = streaming_autodiscover_of(x).map(|url| Autodiscover::for_client(&server.client, url));
        let (manager, rx) =
            StreamingManager::start(server.client.clone(), StreamingConfig::from_exchange(x), autodiscover);
        let old = {
            // Same lock order as `watch`: watched, then streams.
            let watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
            let mailboxes: Vec<SmtpAddress> =
                watched.by_user.values().filter(|(s, _)| *s == x.name).map(|(_, m)| m.clone()).collect();
            manager.add_mailboxes(mailboxes);
            self.streams.lock().unwrap_or_else(|e| e.into_inner()).insert(x.name.clone(), manager)
        };
        let task = tokio::spawn(self.clone().stream_loop(x.name.clone(), rx));
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(task);
        old
    }

    /// The `[[exchange]]` settings in effect.
    pub(super) fn exchange_servers(&self) -> Vec<ExchangeConfig> {
        self.exchange.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Connection tests of one server or all, in configuration order, run at once.
    pub(super) async fn test_connection(&self, only: Option<&str>) -> Vec<ConnectionReport> {
        let configs: Vec<ExchangeConfig> =
            self.exchange_servers().into_iter().filter(|x| only.is_none_or(|n| n == x.name)).collect();
        let tasks: Vec<_> = configs
            .iter()
            .cloned()
            .map(|x| tokio::spawn(async move { tokio::time::timeout(TEST_TIMEOUT, check_server(&x)).await }))
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for (task, x) in tasks.into_iter().zip(&configs) {
            let error = match task.await {
                Ok(Ok(check)) => {
                    out.push(check.report);
                    continue;
                }
                Ok(Err(_)) => format!("timeout: no answer within {} s", TEST_TIMEOUT.as_secs()),
                Err(e) => format!("the check crashed: {e}"),
            };
            out.push(ConnectionReport {
                server: x.name.clone(),
                ok: false,
                ews_url: x.ews_url.as_ref().map(|u| u.to_string()),
                version: None,
                auth: x.auth.as_str().to_owned(),
                latency_ms: None,
                error: Some(error),
                checked_at: Timestamp::now(),
            });
        }
        out
    }

    /// Resolves the user's mailbox again now (through the scheduler, so never beside another
    /// run of the same user) and returns the entry with its attempts.
    pub(super) async fn recheck_mapping(&self, id: &UserId) -> Result<DirectoryEntry, EngineError> {
        self.ensure_user(id).await?;
        let done = self.scheduler.trigger_and_wait(id.clone(), Work::resolve());
        match tokio::time::timeout(RESOLVE_WAIT, done).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(EngineError::ShuttingDown),
            Err(_) => {
                tracing::info!(user = %id, "check mapping: the resolution is still running; answering with the state now")
            }
        }
        self.ctx.store.get_user(id).await?.ok_or_else(|| EngineError::UnknownUser(id.clone()))
    }
}
