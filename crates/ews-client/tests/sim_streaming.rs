//! Autodiscover and the streaming manager against the simulator's own operations (its store,
//! its Subscribe / GetStreamingEvents, its Autodiscover with GroupingInformation and
//! redirects), with changes made through the control API as a user would make them.

mod support;

use support::streamhelp::{client, scfg, until};

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ews_client::autodiscover::AutodiscoverProtocol;
use ews_client::{Autodiscover, ChangeKind, ConnectionPhase, GapReason, StreamEvent, StreamingManager, WatchedFolder};
use ews_proto::SmtpAddress;
use exbridge_sim::SimConfig;
use exbridge_sim::server::RunningSim;
use support::simctl::{control, create_item, fault, stats};
use tokio::sync::mpsc::UnboundedReceiver;

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(90), f).await.expect("test took too long")
}

fn mbx(n: u32) -> SmtpAddress {
    SmtpAddress::parse(&format!("user{n}@contoso.test")).unwrap()
}

async fn sim(mailboxes: u32, events: u32) -> RunningSim {
    let cfg = SimConfig {
        mailboxes,
        events_per_mailbox: events,
        heartbeat_interval: Duration::from_millis(100),
        ..SimConfig::for_tests()
    };
    exbridge_sim::start(cfg).await.unwrap()
}

async fn until_streaming(rx: &mut UnboundedReceiver<StreamEvent>, want: usize, conns: usize) {
    let mut subscribed = BTreeSet::new();
    let mut open = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while subscribed.len() < want || open.len() < conns {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(StreamEvent::Subscribed { mailbox })) => {
                subscribed.insert(mailbox);
            }
            Ok(Some(StreamEvent::ConnectionState { connection, state: ConnectionPhase::Open, .. })) => {
                open.insert(connection);
            }
            Ok(Some(StreamEvent::SubscribeFailed { mailbox, error, .. })) => panic!("{mailbox}: {error}"),
            Ok(Some(_)) => {}
            Ok(None) => panic!("channel closed"),
            Err(_) => panic!("only {} subscribed and {} open after 60 s", subscribed.len(), open.len()),
        }
    }
}

fn changed(e: &StreamEvent, mailbox: &SmtpAddress, item: &str) -> bool {
    matches!(e, StreamEvent::Changed { mailbox: m, item_id: Some(id), .. } if m == mailbox && id.id.as_str() == item)
}

#[tokio::test]
async fn a_change_made_through_the_control_api_arrives() {
    bounded(async {
        let sim = sim(5, 3).await;
        let (mgr, mut rx) = StreamingManager::start(client(&sim), scfg(), None);
        mgr.add_mailboxes((1..=5).map(mbx));
        until_streaming(&mut rx, 5, 1).await;
        let id = create_item(&sim, &mbx(3), "Planning").await;
        let (e, _) = until(&mut rx, "the created item", |e| changed(e, &mbx(3), &id)).await;
        let StreamEvent::Changed { folder, kind, .. } = e else { unreachable!() };
        assert_eq!((folder, kind), (WatchedFolder::Calendar, ChangeKind::Created));
        let (status, text) =
            control(&sim, "PATCH", &format!("/sim/mailboxes/{}/items/{id}", mbx(3)), Some(r#"{"subject":"Planning 2"}"#))
                .await;
        assert!((200..300).contains(&status), "{status} {text}");
        until(&mut rx, "the modification", |e| {
            changed(e, &mbx(3), &id) && matches!(e, StreamEvent::Changed { kind: ChangeKind::Modified, .. })
        })
        .await;
        let (status, _) = control(&sim, "DELETE", &format!("/sim/mailboxes/{}/items/{id}", mbx(3)), None).await;
        assert!((200..300).contains(&status));
        until(&mut rx, "the deletion", |e| {
            matches!(e, StreamEvent::Changed { mailbox, kind: ChangeKind::Deleted | ChangeKind::Moved, .. } if *mailbox == mbx(3))
        })
        .await;
        assert_eq!(stats(&sim).await["open_streaming_connections"], 1);
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn drop_streams_then_expire_subscriptions_give_gaps_and_events_flow_again() {
    bounded(async {
        let sim = sim(5, 1).await;
        let (mgr, mut rx) = StreamingManager::start(client(&sim), scfg(), None);
        mgr.add_mailboxes((1..=3).map(mbx));
        until_streaming(&mut rx, 3, 1).await;

        fault(&sim, r#"{"kind":"drop_streams"}"#).await;
        let (gap, _) = until(&mut rx, "a gap", |e| matches!(e, StreamEvent::Gap { .. })).await;
        let StreamEvent::Gap { mailboxes, reason } = gap else { unreachable!() };
        assert_eq!(mailboxes, (1..=3).map(mbx).collect::<Vec<_>>());
        assert!(matches!(reason, GapReason::ConnectionDropped(_)), "{reason:?}");
        let id = create_item(&sim, &mbx(2), "after the drop").await;
        until(&mut rx, "the change after the drop", |e| changed(e, &mbx(2), &id)).await;

        let subscribes = stats(&sim).await["requests"]["Subscribe"].as_u64().unwrap();
        fault(&sim, r#"{"kind":"expire_subscriptions"}"#).await;
        let (gap, _) = until(&mut rx, "a gap", |e| matches!(e, StreamEvent::Gap { .. })).await;
        let StreamEvent::Gap { mailboxes, reason } = gap else { unreachable!() };
        assert_eq!(mailboxes, (1..=3).map(mbx).collect::<Vec<_>>());
        assert!(matches!(reason, GapReason::SubscriptionLost(_)), "{reason:?}");
        assert_eq!(stats(&sim).await["requests"]["Subscribe"].as_u64().unwrap(), subscribes + 3, "resubscribed");
        let id = create_item(&sim, &mbx(1), "after the expiry").await;
        until(&mut rx, "the change after the expiry", |e| changed(e, &mbx(1), &id)).await;
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_thousand_mailboxes_on_five_connections_of_the_simulator() {
    bounded(async {
        let sim = sim(1000, 1).await;
        let (mgr, mut rx) = StreamingManager::start(client(&sim), scfg(), None);
        let started = Instant::now();
        mgr.add_mailboxes((1..=1000).map(mbx));
        until_streaming(&mut rx, 1000, 5).await;
        eprintln!("simulator: 1000 mailboxes subscribed and streaming on 5 connections in {:?}", started.elapsed());
        let st = stats(&sim).await;
        assert_eq!(st["open_streaming_connections"], 5, "{st}");
        let id = create_item(&sim, &mbx(777), "one of a thousand").await;
        until(&mut rx, "the change", |e| changed(e, &mbx(777), &id)).await;
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn autodiscover_of_the_simulator_groups_the_connections() {
    bounded(async {
        let sim = sim(40, 1).await;
        let client = client(&sim);
        let ad_url = format!("{}/autodiscover/autodiscover.svc", sim.base_url());
        let ad = Autodiscover::for_client(&client, Some(ad_url.parse().unwrap()));

        let s = ad.discover(&mbx(7)).await.unwrap();
        assert_eq!(s.ews_url.as_str(), sim.ews_url());
        assert_eq!(s.protocol, AutodiscoverProtocol::Soap);
        assert!(s.grouping_information.as_deref().is_some_and(|g| g.starts_with("EXSIMGRP")), "{s:?}");
        // The simulator's redirect domain answers RedirectAddress.
        let r = ad.discover(&SmtpAddress::parse("user9@redirect.contoso.test").unwrap()).await.unwrap();
        assert_eq!(r.resolved_email, mbx(9));
        // POX too.
        let pox = Autodiscover::for_client(
            &client,
            Some(format!("{}/autodiscover/autodiscover.xml", sim.base_url()).parse().unwrap()),
        );
        let p = pox.discover(&mbx(8)).await.unwrap();
        assert_eq!((p.protocol, p.ews_url.as_str()), (AutodiscoverProtocol::Pox, sim.ews_url().as_str()));

        let groups: BTreeSet<String> = ad
            .discover_many(&(1..=40).map(mbx).collect::<Vec<_>>())
            .await
            .into_iter()
            .map(|r| r.unwrap().grouping_information.unwrap())
            .collect();
        let (mgr, mut rx) = StreamingManager::start(client, scfg(), Some(ad));
        mgr.add_mailboxes((1..=40).map(mbx));
        until_streaming(&mut rx, 40, groups.len()).await;
        let s = mgr.stats().await;
        let conn_groups: BTreeSet<String> = s.connections.iter().map(|c| c.group.clone()).collect();
        assert_eq!(conn_groups, groups, "one connection per GroupingInformation");
        assert_eq!(stats(&sim).await["open_streaming_connections"].as_u64().unwrap() as usize, groups.len());
        mgr.shutdown().await;
    })
    .await;
}
