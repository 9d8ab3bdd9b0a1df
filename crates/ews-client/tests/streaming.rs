//! The streaming manager end to end on the simulator's server (auth, impersonation, the
//! streaming plumbing with its heartbeats, `drop_streams` / `expire_subscriptions` faults and
//! `/sim/stats`), with Subscribe / GetStreamingEvents as test operations (`support::notify`)
//! until the simulator implements them; plus an in-test server for the affinity cookie.

mod support;

use support::streamhelp::{client, scfg, until};

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ews_client::streaming::ConnectionInfo;
use ews_client::{
    AuthConfig, ChangeKind, ConnectionPhase, EwsClient, GapReason, MailboxSpec, ServerConfig, StreamEvent,
    StreamingManager, WatchedFolder,
};
use ews_proto::{ResponseCode, SmtpAddress};
use exbridge_sim::config::SimConfig;
use exbridge_sim::server::RunningSim;
use secrecy::SecretString;
use support::notify::NotifyOps;
use support::simctl::{fault, stats};
use tokio::sync::mpsc::UnboundedReceiver;

const LIMIT: Duration = Duration::from_secs(60);

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f).await.expect("test took too long")
}

fn mbx(n: u32) -> SmtpAddress {
    SmtpAddress::parse(&format!("user{n}@contoso.test")).unwrap()
}

async fn sim(ops: Arc<NotifyOps>, mailboxes: u32, heartbeat: Duration) -> RunningSim {
    let mut cfg = SimConfig::for_tests();
    cfg.mailboxes = mailboxes;
    cfg.heartbeat_interval = heartbeat;
    ops.start(cfg, mailboxes).await
}

/// Waits until every mailbox in `want` is subscribed and `conns` connections are open.
async fn until_streaming(rx: &mut UnboundedReceiver<StreamEvent>, want: usize, conns: usize) -> Vec<StreamEvent> {
    let mut seen = Vec::new();
    let mut subscribed = BTreeSet::new();
    let mut open = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while subscribed.len() < want || open.len() < conns {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(StreamEvent::Subscribed { mailbox })) => {
                subscribed.insert(mailbox.normalized());
            }
            Ok(Some(StreamEvent::ConnectionState { connection, state: ConnectionPhase::Open, .. })) => {
                open.insert(connection);
            }
            Ok(Some(StreamEvent::SubscribeFailed { mailbox, error, .. })) => panic!("{mailbox}: {error}"),
            Ok(Some(e)) => seen.push(e),
            Ok(None) => panic!("channel closed"),
            Err(_) => panic!("only {} subscribed and {} open after 30 s", subscribed.len(), open.len()),
        }
    }
    seen
}

fn is_change_of(e: &StreamEvent, mailbox: &SmtpAddress, item: &str) -> bool {
    matches!(e, StreamEvent::Changed { mailbox: m, item_id: Some(id), .. } if m == mailbox && id.id.as_str() == item)
}

#[tokio::test]
async fn a_change_arrives_routed_by_the_anchor() {
    bounded(async {
        let ops = NotifyOps::new();
        let sim = sim(ops.clone(), 5, Duration::from_millis(100)).await;
        let (mgr, mut rx) = StreamingManager::start(client(&sim), scfg(), None);
        mgr.add_mailboxes([mbx(3), mbx(1), mbx(2)]);
        until_streaming(&mut rx, 3, 1).await;

        assert!(ops.change("user2@contoso.test", "calendar", "item-1", "created"));
        let (e, _) = until(&mut rx, "the change", |e| is_change_of(e, &mbx(2), "item-1")).await;
        let StreamEvent::Changed { folder, kind, watermark, .. } = e else { unreachable!() };
        assert_eq!((folder, kind), (WatchedFolder::Calendar, ChangeKind::Created));
        assert_eq!(watermark.unwrap().as_str(), "wm-item-1");
        assert_eq!(mgr.watermark(&mbx(2), WatchedFolder::Calendar).await.unwrap().as_str(), "wm-item-1");

        // Every Subscribe routed by the anchor (the alphabetically first mailbox), and the
        // stream impersonates it.
        let subs = ops.subscribes.lock().unwrap().clone();
        assert_eq!(subs.len(), 3);
        assert_eq!(subs[0].mailbox, "user1@contoso.test", "the anchor is subscribed first");
        assert!(subs.iter().all(|s| s.anchor.as_deref() == Some("user1@contoso.test")), "{subs:?}");
        assert_eq!(ops.stream_anchors.lock().unwrap().as_slice(), ["user1@contoso.test"]);
        assert_eq!(stats(&sim).await["open_streaming_connections"], 1);
        let s = mgr.stats().await;
        assert_eq!((s.mailboxes, s.subscribed, s.open_connections), (3, 3, 1));
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn drop_streams_gives_a_gap_then_events_flow_again() {
    bounded(async {
        let ops = NotifyOps::new();
        let sim = sim(ops.clone(), 5, Duration::from_millis(100)).await;
        let (mgr, mut rx) = StreamingManager::start(client(&sim), scfg(), None);
        mgr.add_mailboxes((1..=4).map(mbx));
        until_streaming(&mut rx, 4, 1).await;

        fault(&sim, r#"{"kind":"drop_streams"}"#).await;
        let (gap, before) = until(&mut rx, "a gap", |e| matches!(e, StreamEvent::Gap { .. })).await;
        let StreamEvent::Gap { mailboxes, reason } = gap else { unreachable!() };
        assert_eq!(mailboxes, (1..=4).map(mbx).collect::<Vec<_>>());
        assert!(matches!(reason, GapReason::ConnectionDropped(_)), "{reason:?}");
        // The Gap comes after the new stream is up.
        assert!(
            before
                .iter()
                .any(|e| matches!(e, StreamEvent::ConnectionState { state: ConnectionPhase::Reconnecting { .. }, .. })),
            "{before:#?}"
        );
        assert!(
            before.iter().any(|e| matches!(e, StreamEvent::ConnectionState { state: ConnectionPhase::Open, .. })),
            "{before:#?}"
        );

        assert!(ops.change("user4@contoso.test", "calendar", "after-drop", "modified"));
        until(&mut rx, "the change after the drop", |e| is_change_of(e, &mbx(4), "after-drop")).await;
        assert_eq!(stats(&sim).await["streaming_connections_opened"], 2);
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn expired_subscriptions_are_resubscribed_then_gap() {
    bounded(async {
        let ops = NotifyOps::new();
        let sim = sim(ops.clone(), 5, Duration::from_millis(100)).await;
        let (mgr, mut rx) = StreamingManager::start(client(&sim), scfg(), None);
        mgr.add_mailboxes((1..=3).map(mbx));
        until_streaming(&mut rx, 3, 1).await;
        let before = ops.subscribes.lock().unwrap().len();

        ops.invalidate_all();
        fault(&sim, r#"{"kind":"expire_subscriptions"}"#).await;
        let (gap, _) = until(&mut rx, "a gap", |e| matches!(e, StreamEvent::Gap { .. })).await;
        let StreamEvent::Gap { mailboxes, reason } = gap else { unreachable!() };
        assert_eq!(mailboxes, (1..=3).map(mbx).collect::<Vec<_>>());
        assert_eq!(reason, GapReason::SubscriptionLost(ResponseCode::ErrorSubscriptionNotFound));
        assert_eq!(ops.subscribes.lock().unwrap().len(), before + 3, "each mailbox subscribed again");
        assert_eq!(ops.active(), 3);

        assert!(ops.change("user1@contoso.test", "calendar", "after-expiry", "deleted"));
        let (e, _) = until(&mut rx, "the change", |e| is_change_of(e, &mbx(1), "after-expiry")).await;
        assert!(matches!(e, StreamEvent::Changed { kind: ChangeKind::Deleted, .. }));
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn invalid_subscriptions_at_reconnect_are_replaced() {
    bounded(async {
        let ops = NotifyOps::new();
        let sim = sim(ops.clone(), 5, Duration::from_millis(100)).await;
        let (mgr, mut rx) = StreamingManager::start(client(&sim), scfg(), None);
        mgr.add_mailboxes((1..=2).map(mbx));
        until_streaming(&mut rx, 2, 1).await;

        // The server forgets the subscriptions (a restart), then the connection drops: the
        // reconnect is answered with ErrorInvalidSubscription for both ids.
        ops.invalidate_all();
        fault(&sim, r#"{"kind":"drop_streams"}"#).await;
        let mut reasons = Vec::new();
        while reasons.len() < 2 {
            let (gap, _) = until(&mut rx, "gaps", |e| matches!(e, StreamEvent::Gap { .. })).await;
            if let StreamEvent::Gap { reason, .. } = gap {
                reasons.push(reason);
            }
        }
        assert!(reasons.contains(&GapReason::SubscriptionLost(ResponseCode::ErrorInvalidSubscription)), "{reasons:?}");
        assert_eq!(ops.active(), 2);
        assert!(ops.change("user2@contoso.test", "calendar", "x", "created"));
        until(&mut rx, "the change", |e| is_change_of(e, &mbx(2), "x")).await;
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn mailbox_failures_are_reported_and_do_not_stop_the_others() {
    bounded(async {
        let ops = NotifyOps::new();
        ops.fail.lock().unwrap().insert("user1@contoso.test".into(), ResponseCode::ErrorImpersonateUserDenied);
        ops.fail.lock().unwrap().insert("user3@contoso.test".into(), ResponseCode::ErrorNonExistentMailbox);
        let sim = sim(ops.clone(), 5, Duration::from_millis(100)).await;
        let (mgr, mut rx) = StreamingManager::start(client(&sim), scfg(), None);
        let unknown = SmtpAddress::parse("nobody@contoso.test").unwrap();
        mgr.add_mailboxes((1..=5).map(mbx).chain([unknown.clone()]));

        let mut failed = Vec::new();
        let mut subscribed = BTreeSet::new();
        let mut opened = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while failed.len() < 3 || subscribed.len() < 3 {
            match tokio::time::timeout_at(deadline, rx.recv()).await.expect("events") {
                Some(StreamEvent::SubscribeFailed { mailbox, error, retrying, .. }) => {
                    assert!(!retrying, "{error}");
                    failed.push((mailbox, error.response_code().cloned()));
                }
                Some(StreamEvent::Subscribed { mailbox }) => {
                    // Reported once the connection streams with its subscription.
                    assert!(opened, "{mailbox} subscribed before its connection opened");
                    subscribed.insert(mailbox);
                }
                Some(StreamEvent::ConnectionState { state: ConnectionPhase::Open, .. }) => opened = true,
                _ => {}
            }
        }
        failed.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            failed,
            vec![
                (unknown, Some(ResponseCode::ErrorNonExistentMailbox)),
                (mbx(1), Some(ResponseCode::ErrorImpersonateUserDenied)),
                (mbx(3), Some(ResponseCode::ErrorNonExistentMailbox)),
            ]
        );
        assert_eq!(subscribed, [mbx(2), mbx(4), mbx(5)].into_iter().collect());
        // user1 could not be the anchor: the next mailbox is.
        assert_eq!(ops.stream_anchors.lock().unwrap().as_slice(), ["user2@contoso.test"]);
        assert!(ops.change("user5@contoso.test", "calendar", "i5", "created"));
        until(&mut rx, "the change", |e| is_change_of(e, &mbx(5), "i5")).await;
        let s = mgr.stats().await;
        assert_eq!((s.subscribed, s.failed), (3, 3));
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn mailboxes_are_added_and_removed_at_runtime() {
    bounded(async {
        let ops = NotifyOps::new();
        let sim = sim(ops.clone(), 5, Duration::from_millis(100)).await;
        let mut cfg = scfg();
        cfg.tasks = true;
        let (mgr, mut rx) = StreamingManager::start(client(&sim), cfg, None);
        mgr.add_mailboxes([mbx(1), mbx(2)]);
        until_streaming(&mut rx, 2, 1).await;
        assert_eq!(ops.active(), 4, "calendar and tasks of each");

        mgr.add_mailboxes([mbx(3)]);
        until(&mut rx, "user3 subscribed", |e| matches!(e, StreamEvent::Subscribed { mailbox } if *mailbox == mbx(3)))
            .await;
        // The connection is reissued with the new ids; a change in the tasks folder arrives.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(ops.change("user3@contoso.test", "tasks", "t3", "created"));
            match tokio::time::timeout(
                Duration::from_millis(500),
                until(&mut rx, "t3", |e| is_change_of(e, &mbx(3), "t3")),
            )
            .await
            {
                Ok((StreamEvent::Changed { folder, .. }, _)) => {
                    assert_eq!(folder, WatchedFolder::Tasks);
                    break;
                }
                _ => assert!(Instant::now() < deadline, "the change of a mailbox added later never came"),
            }
        }

        // The anchor leaves: its subscriptions end, the next mailbox anchors the connection.
        mgr.remove_mailboxes([mbx(1)]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while ops.unsubscribes.lock().unwrap().len() < 2
            || ops.stream_anchors.lock().unwrap().last().unwrap() != "user2@contoso.test"
        {
            assert!(Instant::now() < deadline, "no unsubscribe / re-anchor");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!ops.change("user1@contoso.test", "calendar", "gone", "created"), "user1 is unsubscribed");
        assert!(ops.change("user2@contoso.test", "calendar", "i2", "created"));
        until(&mut rx, "the change", |e| is_change_of(e, &mbx(2), "i2")).await;
        let s = mgr.stats().await;
        assert_eq!(s.mailboxes, 2);
        assert_eq!(s.connections.len(), 1);
        assert_eq!(s.connections[0].anchor, mbx(2));
        assert_eq!(s.connections[0].subscriptions, 4);
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_watchdog_closes_a_silent_connection() {
    bounded(async {
        let ops = NotifyOps::new();
        // The server sends its first `OK` and then nothing for an hour.
        let sim = sim(ops.clone(), 5, Duration::from_secs(3600)).await;
        let mut cfg = scfg();
        cfg.heartbeat_interval = Duration::from_millis(150);
        cfg.missed_heartbeats = 2;
        let (mgr, mut rx) = StreamingManager::start(client(&sim), cfg, None);
        mgr.add_mailboxes([mbx(1), mbx(2)]);
        until_streaming(&mut rx, 2, 1).await;
        let started = Instant::now();
        let (gap, before) = until(&mut rx, "a gap", |e| matches!(e, StreamEvent::Gap { .. })).await;
        let StreamEvent::Gap { mailboxes, reason } = gap else { unreachable!() };
        assert_eq!(reason, GapReason::HeartbeatTimeout(Duration::from_millis(300)));
        assert_eq!(mailboxes, vec![mbx(1), mbx(2)]);
        assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
        assert!(before.iter().any(|e| matches!(e, StreamEvent::ConnectionState { state: ConnectionPhase::Reconnecting { reason, .. }, .. } if reason.contains("watchdog"))), "{before:#?}");
        let st = stats(&sim).await;
        assert!(st["streaming_connections_opened"].as_u64().unwrap() >= 2, "{st}");
        assert_eq!(st["open_streaming_connections"], 1, "the dead connection was closed: {st}");
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_thousand_mailboxes_on_five_connections() {
    bounded(async {
        let ops = NotifyOps::new();
        let sim = sim(ops.clone(), 1000, Duration::from_millis(200)).await;
        let mut cfg = scfg();
        cfg.heartbeat_interval = Duration::from_millis(200);
        let (mgr, mut rx) = StreamingManager::start(client(&sim), cfg, None);
        let started = Instant::now();
        mgr.add_mailboxes((1..=1000).map(mbx));
        until_streaming(&mut rx, 1000, 5).await;
        let took = started.elapsed();
        eprintln!("1000 mailboxes subscribed and streaming on 5 connections in {took:?}");

        let st = stats(&sim).await;
        assert_eq!(st["open_streaming_connections"], 5, "{st}");
        assert_eq!(st["requests"]["Subscribe"], 1000);
        let s = mgr.stats().await;
        assert_eq!(s.open_connections, 5);
        let mut sizes: Vec<usize> = s.connections.iter().map(|c: &ConnectionInfo| c.subscriptions).collect();
        sizes.sort();
        assert_eq!(sizes, vec![200; 5]);
        let anchors: BTreeSet<_> = s.connections.iter().map(|c| c.anchor.clone()).collect();
        assert_eq!(anchors.len(), 5, "one anchor (budget) per connection");

        assert!(ops.change("user777@contoso.test", "calendar", "i777", "modified"));
        let (e, _) = until(&mut rx, "the change", |e| is_change_of(e, &mbx(777), "i777")).await;
        assert!(matches!(e, StreamEvent::Changed { kind: ChangeKind::Modified, .. }));
        mgr.shutdown().await;
        assert_eq!(stats(&sim).await["open_streaming_connections"], 0);
    })
    .await;
}

#[tokio::test]
async fn connections_are_charged_to_the_anchor_or_to_the_service_account() {
    bounded(async {
        // The simulator allows 2 hanging connections per budget (account + impersonated mailbox).
        let ops = NotifyOps::new();
        let mut sc = SimConfig::for_tests();
        sc.mailboxes = 6;
        sc.heartbeat_interval = Duration::from_millis(100);
        sc.limits.hanging_connections = 2;
        let sim = ops.start(sc, 6).await;
        let mut cfg = scfg();
        cfg.subscriptions_per_connection = 2;
        cfg.max_connections_per_account = 2;

        // Impersonating: each connection runs as its own anchor, so three connections open
        // although each budget allows two.
        let (mgr, mut rx) = StreamingManager::start(client(&sim), cfg.clone(), None);
        mgr.add_mailboxes((1..=6).map(mbx));
        until_streaming(&mut rx, 6, 3).await;
        assert_eq!(stats(&sim).await["open_streaming_connections"], 3);
        mgr.shutdown().await;

        // Without impersonation every connection is the service account's: two open, the
        // third waits for a slot instead of exceeding the limit. Its two mailboxes are not
        // reported subscribed: no stream carries them.
        let mut c = client(&sim).config().clone();
        c.impersonation = false;
        let (mgr, mut rx) = StreamingManager::start(EwsClient::new(c).unwrap(), cfg, None);
        mgr.add_mailboxes((1..=6).map(mbx));
        let mut seen = until_streaming(&mut rx, 4, 2).await;
        let waiting =
            |e: &StreamEvent| matches!(e, StreamEvent::ConnectionState { state: ConnectionPhase::WaitingForSlot, .. });
        if !seen.iter().any(waiting) {
            let (e, before) = until(&mut rx, "a waiting connection", waiting).await;
            seen.extend(before);
            seen.push(e);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Ok(e) = rx.try_recv() {
            seen.push(e);
        }
        let late: Vec<_> = seen.iter().filter(|e| matches!(e, StreamEvent::Subscribed { .. })).collect();
        assert!(late.is_empty(), "subscribed without a stream: {late:?}");
        assert_eq!(mgr.stats().await.open_connections, 2);
        let st = stats(&sim).await;
        assert_eq!(st["open_streaming_connections"], 2, "{st}");
        assert!(st["faults_served"].get("hanging_connection_limit").is_none(), "{st}");
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn grouping_information_from_autodiscover_splits_connections() {
    bounded(async {
        let ops = NotifyOps::new();
        for n in [1, 3, 5] {
            ops.grouping.lock().unwrap().insert(format!("user{n}@contoso.test"), "DAG-1".into());
        }
        for n in [2, 4] {
            ops.grouping.lock().unwrap().insert(format!("user{n}@contoso.test"), "DAG-2".into());
        }
        let sim = sim(ops.clone(), 6, Duration::from_millis(100)).await;
        let client = client(&sim);
        let ad = ews_client::Autodiscover::for_client(
            &client,
            Some(format!("{}/autodiscover/autodiscover.svc", sim.base_url()).parse().unwrap()),
        );
        let (mgr, mut rx) = StreamingManager::start(client, scfg(), Some(ad.clone()));
        // user6's grouping is given by the caller and wins.
        mgr.add_mailboxes(
            (1..=5).map(|n| MailboxSpec::new(mbx(n))).chain([MailboxSpec::new(mbx(6)).with_grouping("DAG-2")]),
        );
        until_streaming(&mut rx, 6, 2).await;
        let s = mgr.stats().await;
        let mut conns: Vec<(String, String, usize)> =
            s.connections.iter().map(|c| (c.group.clone(), c.anchor.to_string(), c.mailboxes)).collect();
        conns.sort();
        assert_eq!(
            conns,
            vec![("DAG-1".into(), "user1@contoso.test".into(), 3), ("DAG-2".into(), "user2@contoso.test".into(), 3)]
        );
        assert_eq!(ad.requests_sent(), 2, "one lookup to find the endpoint, then one batch for the other four");
        mgr.shutdown().await;
    })
    .await;
}

mod affinity {
    //! An in-test EWS server that sets `X-BackEndOverrideCookie` like Exchange Online.

    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use hyper::body::{Frame, Incoming};
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::task::{Context, Poll};

    struct ChanBody(tokio::sync::mpsc::Receiver<Bytes>);

    impl hyper::body::Body for ChanBody {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
        }
    }

    #[derive(Debug, Clone)]
    struct Seen {
        op: &'static str,
        impersonated: String,
        anchor: String,
        prefer: bool,
        cookie: Option<String>,
    }

    fn envelope(body: &str) -> String {
        support::envelope(body)
    }

    #[tokio::test]
    async fn the_anchor_cookie_routes_every_member_and_the_stream() {
        bounded(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
            let held: Arc<Mutex<Vec<tokio::sync::mpsc::Sender<Bytes>>>> = Arc::default();
            let (seen2, held2) = (seen.clone(), held.clone());
            let server = tokio::spawn(async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else { return };
                    let (seen, held) = (seen2.clone(), held2.clone());
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                            let (seen, held) = (seen.clone(), held.clone());
                            async move {
                                let (parts, body) = req.into_parts();
                                let body = body.collect().await.unwrap().to_bytes();
                                let text = String::from_utf8_lossy(&body).into_owned();
                                let h = |k: &str| parts.headers.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
                                let impersonated = text
                                    .split("<t:ConnectingSID>")
                                    .nth(1)
                                    .and_then(|r| r.split('>').nth(1))
                                    .and_then(|r| r.split('<').next())
                                    .unwrap_or("")
                                    .to_string();
                                let op = if text.contains("<m:Subscribe>") { "Subscribe" } else { "GetStreamingEvents" };
                                let cookie = h("cookie");
                                seen.lock().unwrap().push(Seen {
                                    op,
                                    impersonated: impersonated.clone(),
                                    anchor: h("x-anchormailbox").unwrap_or_default(),
                                    prefer: h("x-preferserveraffinity").as_deref() == Some("true"),
                                    cookie: cookie.clone(),
                                });
                                let mut resp = hyper::Response::builder().header("content-type", "text/xml; charset=utf-8");
                                if op == "Subscribe" {
                                    if cookie.is_none() {
                                        resp = resp.header("set-cookie", "X-BackEndOverrideCookie=BE1.contoso.test~42; path=/");
                                    }
                                    let xml = envelope(&format!(
                                        r#"<m:SubscribeResponse><m:ResponseMessages><m:SubscribeResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:SubscriptionId>s-{impersonated}</m:SubscriptionId></m:SubscribeResponseMessage></m:ResponseMessages></m:SubscribeResponse>"#
                                    ));
                                    let (tx, rx) = tokio::sync::mpsc::channel(1);
                                    tx.try_send(Bytes::from(xml)).unwrap();
                                    drop(tx);
                                    return Ok::<_, std::convert::Infallible>(resp.body(ChanBody(rx)).unwrap());
                                }
                                let ok = envelope(
                                    r#"<m:GetStreamingEventsResponse><m:ResponseMessages><m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:ConnectionStatus>OK</m:ConnectionStatus></m:GetStreamingEventsResponseMessage></m:ResponseMessages></m:GetStreamingEventsResponse>"#,
                                );
                                let (tx, rx) = tokio::sync::mpsc::channel(4);
                                tx.try_send(Bytes::from(ok)).unwrap();
                                held.lock().unwrap().push(tx);
                                Ok(resp.body(ChanBody(rx)).unwrap())
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                            .await;
                    });
                }
            });
            let auth = AuthConfig::Basic { username: "svc@contoso.test".into(), password: SecretString::from("secret") };
            let url = format!("http://127.0.0.1:{}/EWS/Exchange.asmx", addr.port());
            let client = EwsClient::new(ServerConfig::new("affinity", url.parse().unwrap(), auth)).unwrap();
            let (mgr, mut rx) = StreamingManager::start(client, scfg(), None);
            mgr.add_mailboxes([mbx(9), mbx(7), mbx(8)]);
            until_streaming(&mut rx, 3, 1).await;
            let seen = seen.lock().unwrap().clone();
            let subs: Vec<&Seen> = seen.iter().filter(|s| s.op == "Subscribe").collect();
            assert_eq!(subs.len(), 3);
            // The anchor first, without a cookie; the others with its cookie and its anchor header.
            assert_eq!(subs[0].impersonated, "user7@contoso.test");
            assert_eq!(subs[0].cookie, None);
            for s in &subs {
                assert!(s.prefer, "{s:?}");
                assert_eq!(s.anchor, "user7@contoso.test", "{s:?}");
            }
            for s in &subs[1..] {
                assert_eq!(s.cookie.as_deref(), Some("X-BackEndOverrideCookie=BE1.contoso.test~42"), "{s:?}");
            }
            let stream = seen.iter().find(|s| s.op == "GetStreamingEvents").unwrap();
            assert_eq!(stream.impersonated, "user7@contoso.test");
            assert_eq!(stream.anchor, "user7@contoso.test");
            assert!(stream.prefer);
            assert_eq!(stream.cookie.as_deref(), Some("X-BackEndOverrideCookie=BE1.contoso.test~42"));
            mgr.shutdown().await;
            server.abort();
        })
        .await;
    }
}

#[tokio::test]
async fn after_closed_the_next_request_goes_out_at_once_on_the_same_ntlm_connection() {
    bounded(async {
        let ops = NotifyOps::new();
        let mut sc = SimConfig::for_tests();
        sc.heartbeat_interval = Duration::from_millis(100);
        // ConnectionTimeout 1 "minute" lasts 300 ms: the server ends each stream with `Closed`.
        sc.connection_timeout_unit = Duration::from_millis(300);
        let sim = ops.start(sc, 5).await;
        let auth = AuthConfig::Ntlm { username: "CONTOSO\\svc".into(), password: SecretString::from("secret") };
        let mut c = ServerConfig::new("sim", sim.ews_url().parse().unwrap(), auth);
        c.max_concurrency = 1;
        let client = EwsClient::new(c).unwrap();
        let mut cfg = scfg();
        cfg.connection_timeout_minutes = 1;
        let (mgr, mut rx) = StreamingManager::start(client.clone(), cfg, None);
        mgr.add_mailboxes([mbx(1), mbx(2)]);
        until_streaming(&mut rx, 2, 1).await;
        let opened_before = client.stats().connections_opened;

        // Several orderly `Closed`s later: no Gap, no reconnect state, events still arrive.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(ops.change("user1@contoso.test", "calendar", "late", "modified"));
        let (_, before) = until(&mut rx, "the change", |e| is_change_of(e, &mbx(1), "late")).await;
        assert!(
            !before.iter().any(|e| matches!(e, StreamEvent::Gap { .. } | StreamEvent::ConnectionState { .. })),
            "{before:#?}"
        );
        let st = stats(&sim).await;
        assert!(st["requests"]["GetStreamingEvents"].as_u64().unwrap() >= 4, "{st}");
        assert_eq!(client.stats().connections_opened, opened_before, "the authenticated connection is reused");
        assert_eq!(st["auth_failures"].as_object().map(|o| o.len()).unwrap_or(0), 0, "{st}");
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn ten_thousand_mailboxes_on_fifty_connections() {
    bounded(async {
        let ops = NotifyOps::new();
        let sim = sim(ops.clone(), 10_000, Duration::from_secs(1)).await;
        let mut cfg = scfg();
        cfg.heartbeat_interval = Duration::from_secs(1);
        let (mgr, mut rx) = StreamingManager::start(client(&sim), cfg, None);
        let started = Instant::now();
        mgr.add_mailboxes((1..=10_000).map(mbx));
        until_streaming(&mut rx, 10_000, 50).await;
        eprintln!("10000 mailboxes subscribed and streaming on 50 connections in {:?}", started.elapsed());
        let st = stats(&sim).await;
        assert_eq!(st["open_streaming_connections"], 50, "{st}");
        assert!(st["faults_served"].get("hanging_connection_limit").is_none(), "{st}");
        assert!(ops.change("user9999@contoso.test", "calendar", "i9999", "created"));
        until(&mut rx, "the change", |e| is_change_of(e, &mbx(9999), "i9999")).await;
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_resubscription_that_fails_for_a_while_still_ends_in_a_gap() {
    bounded(async {
        let ops = NotifyOps::new();
        let sim = sim(ops.clone(), 5, Duration::from_millis(100)).await;
        let (mgr, mut rx) = StreamingManager::start(client(&sim), scfg(), None);
        mgr.add_mailboxes([mbx(1), mbx(2)]);
        until_streaming(&mut rx, 2, 1).await;

        // user2's mailbox is moving: its new Subscribe fails (transiently) more often than the
        // client retries, then works.
        ops.fail_times
            .lock()
            .unwrap()
            .insert("user2@contoso.test".into(), (ResponseCode::ErrorMailboxMoveInProgress, 4));
        ops.invalidate_all();
        fault(&sim, r#"{"kind":"expire_subscriptions"}"#).await;
        let mut gapped = BTreeSet::new();
        let mut retried = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while gapped.len() < 2 {
            match tokio::time::timeout_at(deadline, rx.recv()).await.expect("gaps for both") {
                Some(StreamEvent::Gap { mailboxes, reason }) => {
                    assert_eq!(reason, GapReason::SubscriptionLost(ResponseCode::ErrorSubscriptionNotFound));
                    gapped.extend(mailboxes);
                }
                Some(StreamEvent::SubscribeFailed { mailbox, retrying, error, .. }) => {
                    assert_eq!(mailbox, mbx(2));
                    assert!(retrying, "{error}");
                    assert!(!gapped.contains(&mbx(2)), "the Gap comes after the subscription is back");
                    retried = true;
                }
                _ => {}
            }
        }
        assert!(retried);
        assert!(ops.change("user2@contoso.test", "calendar", "back", "created"));
        until(&mut rx, "the change", |e| is_change_of(e, &mbx(2), "back")).await;
        mgr.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_server_that_ends_every_stream_at_once_is_not_hammered() {
    bounded(async {
        let ops = NotifyOps::new();
        let mut sc = SimConfig::for_tests();
        sc.heartbeat_interval = Duration::from_secs(10);
        // Every stream: `OK`, then `Closed` a millisecond later.
        sc.connection_timeout_unit = Duration::from_millis(1);
        let sim = ops.start(sc, 5).await;
        let mut cfg = scfg();
        cfg.reconnect_base = Duration::from_millis(200);
        cfg.reconnect_max = Duration::from_secs(2);
        let (mgr, mut rx) = StreamingManager::start(client(&sim), cfg, None);
        mgr.add_mailboxes([mbx(1)]);
        until(&mut rx, "backing off", |e| {
            matches!(e, StreamEvent::ConnectionState { state: ConnectionPhase::Reconnecting { reason, .. }, .. } if reason.contains("ended at once"))
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let n = stats(&sim).await["requests"]["GetStreamingEvents"].as_u64().unwrap();
        assert!(n < 15, "{n} requests in about 1.5 s");
        mgr.shutdown().await;
    })
    .await;
}
