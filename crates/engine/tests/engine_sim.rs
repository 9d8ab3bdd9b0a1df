//! The running engine against the simulator: 5 mailboxes resolved, synced and streamed; a
//! change made in the simulator reaches the outbox as one event; streams dropped and
//! subscriptions expired do not lose changes.

mod support;

use ews_client::{AuthConfig, EwsClient, ServerConfig};
use exbridge_calendar::join::JoinDetector;
use exbridge_engine::{Context, ExchangeServer};
use exbridge_sim::config::SimConfig;
use exbridge_sim::ops::SimOperations;
use exbridge_sim::seed::{SeedConfig, seeded_store};
use exbridge_sim::server::RunningSim;
use exbridge_store::{SqliteStore, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ews_client::StreamingConfig;
use ews_proto::items::{CalendarItem, Item, ItemFields};
use ews_proto::values::DateTime;
use ews_proto::xml::XmlText;
use exbridge_engine::runtime::{Engine, EngineOptions};
use exbridge_engine::{Connector, EngineSettings};
use exbridge_sim::server::control::apply_fault;
use exbridge_sim::server::faults::FaultSpec;
use exbridge_sim::store::FolderKind as SimFolder;
use exbridge_store::{DirectoryUser, EventType, MailboxStatus, OutboxEntry, UserId};
use jiff::{SignedDuration, Timestamp};
use support::{ANCHOR, DOMAIN, LIMIT};

struct Env {
    sim: RunningSim,
    ctx: Context,
    _dir: tempfile::TempDir,
}

/// Like `support::Env`, with a 100 ms streaming heartbeat on the simulator so that it notices
/// closed streaming requests quickly, and an empty directory.
async fn start_env(mailboxes: u32, events: u32) -> Env {
    let config = SimConfig {
        mailboxes,
        events_per_mailbox: events,
        seed: 7,
        heartbeat_interval: Duration::from_millis(100),
        ..SimConfig::for_tests()
    };
    let seed = SeedConfig::new(7, mailboxes, events, DOMAIN).with_anchor(ANCHOR);
    let sim_store = Arc::new(seeded_store(&seed).expect("seeding"));
    let ops = Arc::new(SimOperations::new(sim_store.clone()));
    let sim = exbridge_sim::server::start_with(config, sim_store, ops).await.expect("start the simulator");
    let url = sim.ews_url().replace("0.0.0.0", "127.0.0.1");
    let mut cfg = ServerConfig::new(
        "sim",
        url.parse().unwrap(),
        AuthConfig::Basic { username: "svc@contoso.test".into(), password: "secret".to_owned().into() },
    );
    cfg.impersonation = true;
    cfg.throttle.retry_base = Duration::from_millis(10);
    cfg.timeouts.request = Duration::from_secs(20);
    let client = EwsClient::new(cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("exbridge.db")).await.unwrap());
    let ctx = Context {
        store,
        servers: vec![Arc::new(ExchangeServer { name: "sim".into(), client, domains: vec![] })].into(),
        settings: EngineSettings::default(),
        joins: Arc::new(JoinDetector::new(&[])),
        catmap: Arc::default(),
    };
    Env { sim, ctx, _dir: dir }
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

fn appointment(subject: &str, start: Timestamp) -> Item {
    let end = start + SignedDuration::from_hours(1);
    let text = |t: Timestamp| <DateTime as XmlText>::from_text(&t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap();
    Item::Calendar(CalendarItem {
        item: ItemFields { subject: Some(subject.into()), ..ItemFields::default() },
        start: Some(text(start)),
        end: Some(text(end)),
        start_time_zone_id: Some("UTC".into()),
        ..CalendarItem::default()
    })
}

/// Waits for the outbox entries (`event.*` of `user` carrying `subject`) to reach `count`.
async fn event_entries(env: &Env, user: &str, subject: &str, count: usize) -> Vec<OutboxEntry> {
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let all = env.ctx.store.entries_after(0, 10_000).await.unwrap();
            let hits: Vec<OutboxEntry> = all
                .into_iter()
                .filter(|e| e.user_id.as_str() == user && e.event_type.as_str().starts_with("event."))
                .filter(|e| e.data["subject"] == subject)
                .collect();
            if hits.len() >= count {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no event.* for {user} / {subject:?} in time"))
}

/// Creates an event in `user{i}`'s simulated calendar and measures how long until its
/// `event.created` is in the outbox.
async fn change_and_measure(env: &Env, i: u32, subject: &str) -> Duration {
    let mailbox = env.sim.store().mailbox(&format!("user{i}@{DOMAIN}")).unwrap();
    let start = Timestamp::now() + SignedDuration::from_hours(24);
    let started = Instant::now();
    env.sim.store().create_item(&mailbox, SimFolder::Calendar, &appointment(subject, start)).unwrap();
    let hits = event_entries(env, &format!("u{i}"), subject, 1).await;
    let took = started.elapsed();
    // Exactly one: give a late duplicate a moment to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits_after = event_entries(env, &format!("u{i}"), subject, 1).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits_after.len(), 1, "one outbox event per Exchange change: {hits_after:?}");
    assert_eq!(hits[0].event_type, EventType::EventCreated);
    took
}

/// Waits until the simulator's streaming is steady: all five subscriptions active, at least one
/// open streaming request, and no request opened or closed for half a second.
async fn wait_streaming(env: &Env) -> u64 {
    let ok = tokio::time::timeout(Duration::from_secs(30), async {
        let mut steady = 0;
        let mut last = (0, 0);
        loop {
            let stats = env.sim.stats();
            let now = (stats.open_streaming_connections, stats.streaming_connections_opened);
            if stats.active_subscriptions == 5 && now.0 >= 1 && now == last {
                steady += 1;
                if steady >= 17 {
                    return now.0;
                }
            } else {
                steady = 0;
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    })
    .await;
    ok.unwrap_or_else(|_| panic!("streaming did not settle: {:?}", env.sim.stats()))
}

#[tokio::test]
async fn five_mailboxes_resolved_streamed_and_changes_delivered_through_faults() {
    tokio::time::timeout(LIMIT, async {
        let mut env = start_env(5, 4).await;
        // The first OOF poll comes at a spread offset within the interval after the initial
        // sync (not with it), and the presence waits for it: a short interval here.
        env.ctx.settings.oof_poll_interval = Duration::from_secs(2);
        let streaming = StreamingConfig {
            reconnect_base: Duration::from_millis(50),
            reconnect_max: Duration::from_millis(500),
            restream_delay: Duration::from_millis(50),
            ..StreamingConfig::default()
        };
        let options = EngineOptions {
            streaming: HashMap::from([("sim".to_owned(), streaming)]),
            shutdown_wait: Duration::from_secs(10),
            ..EngineOptions::default()
        };
        let engine: Arc<Engine> = Engine::start_with_options(env.ctx.clone(), options).await.unwrap();
        let diff = engine.replace_users(users(5), false).await.unwrap();
        assert_eq!(diff.created.len(), 5);

        // Every user resolved, synced and subscribed.
        let started = Instant::now();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let list = engine.list_users().await.unwrap();
                if list.len() == 5
                    && list
                        .iter()
                        .all(|e| e.mailbox.state == MailboxStatus::Subscribed && e.mailbox.synced_at.is_some())
                {
                    return list;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("users subscribed in time");
        for entry in &ready {
            let n = &entry.user.id.as_str()[1..];
            assert_eq!(entry.mailbox.mailbox.as_deref(), Some(format!("user{n}@{DOMAIN}").as_str()));
            assert_eq!(entry.mailbox.exchange.as_deref(), Some("sim"));
        }
        wait_streaming(&env).await;
        println!(
            "5 users resolved, synced and subscribed in {:?}; {} subscriptions on the simulator",
            started.elapsed(),
            env.sim.stats().active_subscriptions
        );
        let resolved = env.ctx.store.entries_after(0, 10_000).await.unwrap();
        let resolved: Vec<_> = resolved.iter().filter(|e| e.event_type == EventType::UserMailboxResolved).collect();
        assert_eq!(resolved.len(), 5, "one user.mailbox_resolved per user");
        assert_eq!(resolved[0].data["matched_by"], "work_email");
        // Each user's first presence was announced once (nothing happens around now in the
        // seeded calendars, which lie in March 2026), after the first OOF poll.
        let presences = || async {
            let all = env.ctx.store.entries_after(0, 10_000).await.unwrap();
            all.iter().filter(|e| e.event_type == EventType::PresenceChanged).count()
        };
        let first = tokio::time::timeout(Duration::from_secs(20), async {
            while presences().await < 5 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(first.is_ok(), "a presence.changed for every user within 20 s; {} so far", presences().await);
        // Two more OOF polls of unchanged settings announce nothing.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let all = env.ctx.store.entries_after(0, 10_000).await.unwrap();
        for i in 1..=5 {
            let user = format!("u{i}");
            let n =
                all.iter().filter(|e| e.event_type == EventType::PresenceChanged && e.user_id.as_str() == user).count();
            assert_eq!(n, 1, "presence.changed of {user}");
        }

        let took = change_and_measure(&env, 3, "Planning").await;
        println!("change → outbox: {took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");

        let dropped = apply_fault(env.sim.state(), &FaultSpec::DropStreams);
        assert!(dropped >= 1, "streaming connections dropped");
        let took = change_and_measure(&env, 4, "After drop").await;
        println!("drop_streams ({dropped} connections) then change → outbox: {took:?}");

        wait_streaming(&env).await;
        let expired = apply_fault(env.sim.state(), &FaultSpec::ExpireSubscriptions);
        assert!(expired >= 1);
        let took = change_and_measure(&env, 5, "After expiry").await;
        println!("expire_subscriptions then change → outbox: {took:?}");
        wait_streaming(&env).await;

        // Once more on the replacement stream, timed.
        let took = change_and_measure(&env, 2, "Steady again").await;
        println!("change → outbox after the faults: {took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");

        // The API reads from the mirror and presence is there for every user.
        let now = Timestamp::now();
        let events = engine.events(&UserId::new("u3"), now, now + SignedDuration::from_hours(48)).await.unwrap();
        assert!(events.iter().any(|e| e.subject == "Planning"), "{events:?}");
        let presence = engine.presence(&UserId::new("u3")).await.unwrap();
        assert_eq!(presence.next_event.map(|e| e.subject), Some("Planning".to_owned()));
        let readiness = engine.readiness().await;
        assert!(readiness.is_ready(), "{readiness:?}");

        engine.shutdown().await;
        assert!(matches!(
            engine.ensure_user(&UserId::new("u1")).await,
            Err(exbridge_engine::EngineError::ShuttingDown)
        ));
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn unknown_users_missing_mailboxes_and_bursts_of_changes() {
    tokio::time::timeout(LIMIT, async {
        let env = start_env(5, 4).await;
        let options = EngineOptions { shutdown_wait: Duration::from_secs(10), ..EngineOptions::default() };
        let engine = Engine::start_with_options(env.ctx.clone(), options).await.unwrap();
        let mut list = users(2);
        let mut ghost = DirectoryUser::new("ghost");
        ghost.work_email = Some(format!("nobody@{DOMAIN}"));
        list.push(ghost);
        engine.replace_users(list, false).await.unwrap();

        // Unknown user (API source: no refresh to try).
        let unknown = engine.ensure_user(&UserId::new("zzz")).await;
        assert!(matches!(unknown, Err(exbridge_engine::EngineError::UnknownUser(_))), "{unknown:?}");
        // No mailbox: not_found, one user.subscription_failed, NoMailbox from the API.
        let ghost = engine.ensure_user(&UserId::new("ghost")).await.unwrap();
        assert_eq!(ghost.mailbox.state, MailboxStatus::NotFound, "{ghost:?}");
        let now = Timestamp::now();
        let err = engine.events(&UserId::new("ghost"), now, now + SignedDuration::from_hours(1)).await;
        assert!(matches!(err, Err(exbridge_engine::EngineError::NoMailbox { .. })), "{err:?}");
        // Resolving again (a directory refresh would) does not repeat the event.
        engine.trigger(&UserId::new("ghost"), exbridge_engine::runtime::Work::resolve());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let failed: Vec<OutboxEntry> = env
            .ctx
            .store
            .entries_after(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == EventType::UserSubscriptionFailed)
            .collect();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].user_id.as_str(), "ghost");

        // A burst of 50 changes in u1's calendar: every one delivered, in a handful of syncs.
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while engine.ensure_user(&UserId::new("u1")).await.unwrap().mailbox.state != MailboxStatus::Subscribed
                || env.sim.stats().active_subscriptions < 2
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(ready.is_ok());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = env.sim.stats().requests.get("SyncFolderItems").copied().unwrap_or(0);
        let mailbox = env.sim.store().mailbox(&format!("user1@{DOMAIN}")).unwrap();
        for i in 0..50 {
            let start = Timestamp::now() + SignedDuration::from_hours(30 + i);
            env.sim
                .store()
                .create_item(&mailbox, SimFolder::Calendar, &appointment(&format!("Burst {i}"), start))
                .unwrap();
        }
        let all = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let entries = env.ctx.store.entries_after(0, 10_000).await.unwrap();
                let n = entries
                    .iter()
                    .filter(|e| e.event_type == EventType::EventCreated && e.user_id.as_str() == "u1")
                    .filter(|e| e.data["subject"].as_str().is_some_and(|s| s.starts_with("Burst ")))
                    .count();
                if n >= 50 {
                    return n;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("all 50 changes delivered");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let syncs = env.sim.stats().requests.get("SyncFolderItems").copied().unwrap_or(0) - before;
        println!("50 changes → {all} event.created in {syncs} SyncFolderItems requests");
        assert_eq!(all, 50);
        assert!(syncs < 25, "notifications were not coalesced: {syncs} syncs");

        // Removing a user ends its subscription.
        assert!(engine.delete_user(&UserId::new("u2")).await.unwrap());
        let gone = tokio::time::timeout(Duration::from_secs(10), async {
            while env.sim.stats().active_subscriptions > 1 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(gone.is_ok(), "u2's subscription still active: {:?}", env.sim.stats().active_subscriptions);
        engine.shutdown().await;
    })
    .await
    .expect("test took too long");
}
