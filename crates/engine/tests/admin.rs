//! Admin operations of the running engine against the in-process simulator: a wrong Exchange
//! password fixed without a restart (and the fix kept in the store across a restart), an
//! invalid edit refused naming its field, connection tests (version and latency, 401,
//! connection refused), and "check mapping".

use std::sync::Arc;
use std::time::Duration;

use exbridge_config::Config;
use exbridge_engine::runtime::Engine;
use exbridge_engine::runtime::admin::stored_name;
use exbridge_engine::{Connector, EngineError};
use exbridge_sim::config::SimConfig;
use exbridge_sim::ops::SimOperations;
use exbridge_sim::seed::{SeedConfig, seeded_store};
use exbridge_sim::server::RunningSim;
use exbridge_store::{DirectoryUser, MailboxStatus, Store, StoreKey, UserId};
use jiff::Timestamp;

const DOMAIN: &str = "contoso.test";
const LIMIT: Duration = Duration::from_secs(120);
const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const WRONG: &str = "wrong-password-7731";

async fn sim(mailboxes: u32) -> RunningSim {
    let config = SimConfig { mailboxes, events_per_mailbox: 2, seed: 7, ..SimConfig::for_tests() };
    let seed = SeedConfig::new(7, mailboxes, 2, DOMAIN);
    let store = Arc::new(seeded_store(&seed).expect("seeding"));
    let ops = Arc::new(SimOperations::new(store.clone()));
    exbridge_sim::server::start_with(config, store, ops).await.expect("start the simulator")
}

fn ews_url(sim: &RunningSim) -> String {
    sim.ews_url().replace("0.0.0.0", "127.0.0.1")
}

/// One `[[exchange]]` table for the simulator's service account.
fn exchange(name: &str, url: &str, password: &str) -> String {
    format!(
        "[[exchange]]\nname = \"{name}\"\news_url = \"{url}\"\nauth = \"basic\"\nusername = \"svc@contoso.test\"\n\
         password = \"{password}\"\nimpersonation = true\n\n"
    )
}

fn config(dir: &std::path::Path, exchange: &str) -> Config {
    let data = dir.display().to_string();
    let text = format!(
        "[server]\napi_tokens = [\"0123456789abcdef\"]\ndata_dir = \"{data}\"\n\n[store]\nurl = \"sqlite://{data}/exbridge.db\"\n\n{exchange}"
    );
    Config::from_toml_str(&text, &[]).expect("test configuration")
}

async fn open_store(dir: &std::path::Path) -> Arc<dyn Store> {
    let url = format!("sqlite://{}/exbridge.db", dir.display());
    exbridge_store::open_store_with(&url, Some(StoreKey::parse(KEY).unwrap())).await.unwrap()
}

fn users(n: u32) -> Vec<DirectoryUser> {
    (1..=n)
        .map(|i| {
            let mut user = DirectoryUser::new(format!("u{i}"));
            user.work_email = Some(format!("user{i}@{DOMAIN}"));
            user
        })
        .collect()
}

/// Waits until every user satisfies `ok`, returning their states.
async fn wait_for_users(
    engine: &Engine,
    what: &str,
    ok: impl Fn(&exbridge_store::MailboxState) -> bool,
) -> Vec<exbridge_store::DirectoryEntry> {
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let entries = engine.list_users().await.unwrap();
            if !entries.is_empty() && entries.iter().all(|e| ok(&e.mailbox)) {
                return entries;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    match waited {
        Ok(entries) => entries,
        Err(_) => {
            let states: Vec<String> = engine
                .list_users()
                .await
                .unwrap()
                .into_iter()
                .map(|e| format!("{}: {} {:?}", e.user.id, e.mailbox.state, e.mailbox.last_error))
                .collect();
            panic!("users never became {what}: {states:#?}")
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_fixed_without_a_restart_and_the_fix_survives_one() {
    tokio::time::timeout(LIMIT, async {
        let sim = sim(3).await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), &exchange("sim", &ews_url(&sim), WRONG));

        let store = open_store(dir.path()).await;
        let engine = Engine::start(&cfg, store.clone()).await.unwrap();
        engine.replace_users(users(3), false).await.unwrap();
        let failed = wait_for_users(&engine, "error", |m| m.state == MailboxStatus::Error).await;
        println!("with the wrong password: {:?}", failed[0].mailbox.last_error);
        assert!(failed[0].mailbox.last_error.as_deref().unwrap_or("").contains("401"), "{:?}", failed[0].mailbox);

        let mut fixed = engine.exchange_servers().await.remove(0);
        assert_eq!(fixed.password.as_ref().unwrap().expose(), WRONG);
        fixed.password = Some(exbridge_config::Secret::new("secret"));
        engine.update_exchange_server(fixed).await.unwrap();
        let subscribed = wait_for_users(&engine, "subscribed", |m| m.state == MailboxStatus::Subscribed).await;
        println!("after the fix: {:?}", subscribed.iter().map(|e| e.mailbox.state).collect::<Vec<_>>());
        assert_eq!(engine.exchange_servers().await[0].password.as_ref().unwrap().expose(), "secret");

        // "Check mapping" resolves again through the scheduler and shows the attempts.
        let entry = engine.recheck_mapping(&UserId::new("u2")).await.unwrap();
        assert_eq!(entry.mailbox.mailbox.as_deref(), Some("user2@contoso.test"));
        assert!(!entry.mailbox.attempts.is_empty());
        assert!(matches!(engine.recheck_mapping(&UserId::new("nobody")).await, Err(EngineError::UnknownUser(_))));

        engine.shutdown().await;
        store.close().await;

        // A restart with the same (wrong) file: the stored settings are used.
        let restarted_at = Timestamp::now();
        let store = open_store(dir.path()).await;
        let engine = Engine::start(&cfg, store.clone()).await.unwrap();
        assert_eq!(engine.exchange_servers().await[0].password.as_ref().unwrap().expose(), "secret");
        let synced = wait_for_users(&engine, "synced after the restart", |m| {
            m.state == MailboxStatus::Subscribed && m.synced_at.is_some_and(|t| t > restarted_at)
        })
        .await;
        assert_eq!(synced.len(), 3);
        engine.shutdown().await;
        store.close().await;
    })
    .await
    .expect("test took too long");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_edit_names_the_field_and_changes_nothing() {
    tokio::time::timeout(LIMIT, async {
        let sim = sim(1).await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), &exchange("sim", &ews_url(&sim), "secret"));
        let store = open_store(dir.path()).await;
        let engine = Engine::start(&cfg, store.clone()).await.unwrap();
        let before = engine.exchange_servers().await;

        let mut bad = before[0].clone();
        bad.ews_url = Some("ftp://127.0.0.1/EWS/Exchange.asmx".parse().unwrap());
        bad.password = Some(exbridge_config::Secret::new("another-secret-5521"));
        let err = engine.update_exchange_server(bad).await.unwrap_err();
        println!("{err}");
        let EngineError::Invalid(message) = &err else { panic!("not Invalid: {err:?}") };
        assert!(message.contains("ews_url"), "{message}");
        assert!(!message.contains("another-secret-5521"), "{message}");
        assert_eq!(engine.exchange_servers().await, before);
        assert!(store.get_secret(&stored_name("sim")).await.unwrap().is_none(), "nothing stored");

        // A new server without a URL nor an Autodiscover address.
        let mut bad = before[0].clone();
        bad.name = "second".into();
        bad.ews_url = None;
        let EngineError::Invalid(message) = engine.update_exchange_server(bad).await.unwrap_err() else {
            panic!("not Invalid")
        };
        assert!(message.contains("exchange.ews_url"), "{message}");
        assert_eq!(engine.exchange_servers().await, before);
        engine.shutdown().await;
        store.close().await;
    })
    .await
    .expect("test took too long");
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_tests_report_version_and_latency_or_the_cause() {
    tokio::time::timeout(LIMIT, async {
        let sim = sim(1).await;
        let dir = tempfile::tempdir().unwrap();
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = ews_url(&sim);
        let servers = [
            exchange("good", &url, "secret"),
            exchange("badpw", &url, WRONG),
            exchange("down", &format!("http://127.0.0.1:{closed}/EWS/Exchange.asmx"), "secret"),
        ]
        .concat();
        let store = open_store(dir.path()).await;
        let engine = Engine::start(&config(dir.path(), &servers), store.clone()).await.unwrap();

        let reports = engine.test_connection(None).await;
        for r in &reports {
            println!("{r:?}");
        }
        let names: Vec<&str> = reports.iter().map(|r| r.server.as_str()).collect();
        assert_eq!(names, ["good", "badpw", "down"]);
        let good = &reports[0];
        assert!(good.ok && good.error.is_none(), "{good:?}");
        assert!(good.version.as_deref().is_some_and(|v| v.contains("Exchange")), "{good:?}");
        assert!(good.latency_ms.is_some());
        assert_eq!(good.auth, "basic");
        assert_eq!(good.ews_url.as_deref(), Some(url.as_str()));
        let badpw = &reports[1];
        assert!(!badpw.ok && badpw.latency_ms.is_none());
        assert!(badpw.error.as_deref().unwrap().starts_with("401"), "{badpw:?}");
        assert!(!badpw.error.as_deref().unwrap().contains(WRONG));
        let down = &reports[2];
        assert!(!down.ok);
        assert!(down.error.as_deref().unwrap().starts_with("connection refused"), "{down:?}");

        let one = engine.test_connection(Some("badpw")).await;
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].server, "badpw");
        assert!(engine.test_connection(Some("unknown")).await.is_empty());
        engine.shutdown().await;
        store.close().await;
    })
    .await
    .expect("test took too long");
}
