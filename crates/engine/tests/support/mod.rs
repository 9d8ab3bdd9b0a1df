//! A seeded simulator on 127.0.0.1 and an engine [`Context`] against it (Basic auth as the
//! service account, impersonation on, a SQLite store in a temporary directory).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use ews_client::{AuthConfig, EwsClient, ServerConfig};
use ews_proto::SmtpAddress;
use exbridge_calendar::join::JoinDetector;
use exbridge_engine::{Context, EngineSettings, ExchangeServer};
use exbridge_sim::config::SimConfig;
use exbridge_sim::ops::SimOperations;
use exbridge_sim::seed::{SeedConfig, seeded_store};
use exbridge_sim::server::{self, RunningSim};
use exbridge_store::{DirectoryUser, SqliteStore, Store, UserId};
use jiff::Timestamp;
use jiff::civil::{Date, date};
use secrecy::SecretString;

pub const DOMAIN: &str = "contoso.test";
/// The fixed anchor of the seeded calendars.
pub const ANCHOR: Date = date(2026, 3, 16);
/// Every test's time limit.
pub const LIMIT: Duration = Duration::from_secs(120);

pub struct Env {
    pub sim: RunningSim,
    pub ctx: Context,
    pub user: UserId,
    pub mailbox: SmtpAddress,
    _dir: tempfile::TempDir,
}

/// Noon UTC on the anchor day: "now" for syncs of the seeded calendars.
pub fn anchor_now() -> Timestamp {
    "2026-03-16T12:00:00Z".parse().unwrap()
}

impl Env {
    /// `mailboxes` seeded mailboxes with `events` events each; user `u1` is `user1@…`.
    pub async fn start(mailboxes: u32, events: u32, settings: EngineSettings) -> Env {
        let config = SimConfig { mailboxes, events_per_mailbox: events, seed: 7, ..SimConfig::for_tests() };
        let seed = SeedConfig::new(7, mailboxes, events, DOMAIN).with_anchor(ANCHOR);
        let store = Arc::new(seeded_store(&seed).expect("seeding"));
        let ops = Arc::new(SimOperations::new(store.clone()));
        let sim = server::start_with(config, store, ops).await.expect("start the simulator");
        let url = sim.ews_url().replace("0.0.0.0", "127.0.0.1");
        let mut cfg = ServerConfig::new(
            "sim",
            url.parse().unwrap(),
            AuthConfig::Basic { username: "svc@contoso.test".into(), password: SecretString::from("secret") },
        );
        cfg.impersonation = true;
        cfg.throttle.retry_base = Duration::from_millis(10);
        cfg.timeouts.request = Duration::from_secs(20);
        let client = EwsClient::new(cfg).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteStore::open(dir.path().join("exbridge.db")).await.unwrap();
        let store: Arc<dyn Store> = Arc::new(db);
        let mut user = DirectoryUser::new("u1");
        user.work_email = Some(format!("user1@{DOMAIN}"));
        store.upsert_user(&user).await.unwrap();
        let ctx = Context {
            store,
            servers: vec![Arc::new(ExchangeServer { name: "sim".into(), client, domains: vec![] })].into(),
            settings,
            joins: Arc::new(JoinDetector::new(&[])),
            catmap: Arc::default(),
        };
        Env {
            sim,
            ctx,
            user: UserId::new("u1"),
            mailbox: SmtpAddress::parse(&format!("user1@{DOMAIN}")).unwrap(),
            _dir: dir,
        }
    }

    pub fn server(&self) -> Arc<ExchangeServer> {
        self.ctx.servers.list()[0].clone()
    }

    /// The simulator's mailbox of `u1`.
    pub fn sim_mailbox(&self) -> Arc<exbridge_sim::store::Mailbox> {
        self.sim.store().mailbox(self.mailbox.as_str()).unwrap()
    }
}
