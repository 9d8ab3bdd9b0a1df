//! Subscribe, GetEvents, Unsubscribe and GetStreamingEvents over HTTP against a started
//! simulator: latency of a change to a streaming subscriber, heartbeats, pull watermarks, the
//! 200-subscriptions-per-connection rule, unknown / expired / foreign subscriptions and the
//! `expire_subscriptions` and `drop_streams` faults.
//!
//! Every response document is validated against the EWS schema. Streaming and GetEvents
//! notifications are sent in Exchange's wire form (`m:Notification`, which real clients read;
//! the schema says `t:Notification`): the documents are validated after mapping that one element
//! to the schema's form — the one documented deviation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ews_proto::ResponseCode;
use ews_proto::ops::get_streaming_events::Event as WireEvent;
use ews_proto::ops::{ConnectionStatus, GetStreamingEventsResponse};
use ews_proto::soap::{Body, Envelope};
use ews_proto::stream::EnvelopeSplitter;
use exbridge_sim::config::SimConfig;
use exbridge_sim::server::{self, RunningSim};

const SVC: &str = "svc@contoso.test";
const PASSWORD: &str = "secret";
const U1: &str = "user1@contoso.test";
const U2: &str = "user2@contoso.test";

const T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
const M: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";

type Docs = Arc<Mutex<Vec<(String, String)>>>;

/// Maps Exchange's `m:Notification` to the schema's `t:Notification` (see the module docs).
fn schema_form(xml: &str) -> String {
    xml.replace("<m:Notification>", "<t:Notification>").replace("</m:Notification>", "</t:Notification>")
}

struct Ews {
    http: reqwest::Client,
    url: String,
    base: String,
    docs: Docs,
}

fn envelope(mailbox: Option<&str>, body: &str) -> String {
    let imp = mailbox
        .map(|m| {
            format!(
                "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{m}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
            )
        })
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="{T}" xmlns:m="{M}">
<soap:Header><t:RequestServerVersion Version="Exchange2016"/>{imp}</soap:Header>
<soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
}

impl Ews {
    fn new(sim: &RunningSim) -> Self {
        Ews { http: reqwest::Client::new(), url: sim.ews_url(), base: sim.base_url(), docs: Arc::default() }
    }

    /// A response of an ordinary operation (GetEvents writes the schema's `m:Notification`).
    fn record(&self, label: &str, xml: &str) {
        self.docs.lock().unwrap().push((label.to_string(), xml.to_string()));
    }

    /// As the service account impersonating `mailbox`.
    async fn call(&self, label: &str, mailbox: &str, body: &str) -> Body {
        self.call_as(label, SVC, PASSWORD, Some(mailbox), body).await
    }

    async fn call_as(&self, label: &str, user: &str, password: &str, mailbox: Option<&str>, body: &str) -> Body {
        let resp = self
            .http
            .post(&self.url)
            .basic_auth(user, Some(password))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(envelope(mailbox, body))
            .send()
            .await
            .unwrap();
        let text = resp.text().await.unwrap();
        self.record(label, &text);
        Envelope::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{label}: {e}\n{text}")).body
    }

    async fn subscribe_streaming(&self, mailbox: &str) -> String {
        let body = r#"<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="calendar"/></t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType><t:EventType>ModifiedEvent</t:EventType><t:EventType>DeletedEvent</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>"#;
        let Body::SubscribeResponse(r) = self.call("subscribe-streaming", mailbox, body).await else { panic!() };
        assert!(r.messages[0].status.is_success(), "{:?}", r.messages[0].status);
        assert!(r.messages[0].watermark.is_none());
        r.messages[0].subscription_id.clone().unwrap().0
    }

    async fn subscribe_pull(&self, mailbox: &str) -> (String, String) {
        let body = r#"<m:Subscribe><m:PullSubscriptionRequest SubscribeToAllFolders="true"><t:EventTypes><t:EventType>CreatedEvent</t:EventType><t:EventType>ModifiedEvent</t:EventType><t:EventType>DeletedEvent</t:EventType></t:EventTypes><t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>"#;
        let Body::SubscribeResponse(r) = self.call("subscribe-pull", mailbox, body).await else { panic!() };
        assert!(r.messages[0].status.is_success(), "{:?}", r.messages[0].status);
        (r.messages[0].subscription_id.clone().unwrap().0, r.messages[0].watermark.clone().unwrap().0)
    }

    async fn get_events(&self, mailbox: &str, sub: &str, watermark: &str) -> ews_proto::ops::GetEventsResponseMessage {
        let body = format!(
            "<m:GetEvents><m:SubscriptionId>{sub}</m:SubscriptionId><m:Watermark>{watermark}</m:Watermark></m:GetEvents>"
        );
        let Body::GetEventsResponse(r) = self.call("get-events", mailbox, &body).await else { panic!() };
        r.messages.into_iter().next().unwrap()
    }

    async fn open_stream(&self, mailbox: &str, ids: &[String], minutes: i32) -> Stream {
        let ids: String = ids.iter().map(|i| format!("<t:SubscriptionId>{i}</t:SubscriptionId>")).collect();
        let body = format!(
            "<m:GetStreamingEvents><m:SubscriptionIds>{ids}</m:SubscriptionIds><m:ConnectionTimeout>{minutes}</m:ConnectionTimeout></m:GetStreamingEvents>"
        );
        let resp = self
            .http
            .post(&self.url)
            .basic_auth(SVC, Some(PASSWORD))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(envelope(Some(mailbox), &body))
            .send()
            .await
            .unwrap();
        Stream { resp, splitter: EnvelopeSplitter::new(), ready: Vec::new(), docs: self.docs.clone() }
    }

    async fn control(&self, method: reqwest::Method, path: &str, json: serde_json::Value) -> reqwest::StatusCode {
        self.http.request(method, format!("{}{path}", self.base)).json(&json).send().await.unwrap().status()
    }

    async fn create_item(&self, mailbox: &str, subject: &str) {
        let body = format!(
            r#"<m:CreateItem SendMeetingInvitations="SendToNone"><m:Items><t:CalendarItem><t:Subject>{subject}</t:Subject><t:Start>2026-03-12T10:00:00Z</t:Start><t:End>2026-03-12T11:00:00Z</t:End></t:CalendarItem></m:Items></m:CreateItem>"#
        );
        let Body::CreateItemResponse(r) = self.call("create", mailbox, &body).await else { panic!() };
        assert!(r.messages[0].status.is_success(), "{:?}", r.messages[0].status);
    }

    fn assert_valid(&self) {
        let docs = self.docs.lock().unwrap();
        assert!(!docs.is_empty());
        ews_schema_check::assert_all_valid(&docs);
    }
}

/// One streaming response, document by document.
struct Stream {
    resp: reqwest::Response,
    splitter: EnvelopeSplitter,
    ready: Vec<Vec<u8>>,
    docs: Docs,
}

enum Next {
    Doc(GetStreamingEventsResponse),
    /// The response ended (cleanly or not).
    End {
        clean: bool,
    },
}

impl Stream {
    async fn next(&mut self, within: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if !self.ready.is_empty() {
                let doc = self.ready.remove(0);
                let text = String::from_utf8(doc).unwrap();
                self.docs.lock().unwrap().push(("stream".into(), schema_form(&text)));
                let env = Envelope::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
                let Body::GetStreamingEventsResponse(r) = env.body else { panic!("{text}") };
                return Next::Doc(r);
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk()).await.expect("a document in time");
            match chunk {
                Ok(Some(bytes)) => self.ready.extend(self.splitter.push(&bytes).unwrap()),
                Ok(None) => return Next::End { clean: true },
                Err(_) => return Next::End { clean: false },
            }
        }
    }

    async fn doc(&mut self, within: Duration) -> GetStreamingEventsResponse {
        match self.next(within).await {
            Next::Doc(d) => d,
            Next::End { clean } => panic!("the stream ended (clean: {clean})"),
        }
    }

    /// Waits for a document with notifications, skipping heartbeats.
    async fn notification(&mut self, within: Duration) -> GetStreamingEventsResponse {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let d = self.doc(left).await;
            if d.notifications().next().is_some() {
                return d;
            }
        }
    }
}

fn config() -> SimConfig {
    let mut c = SimConfig::for_tests();
    c.service_user = SVC.into();
    c.service_password = PASSWORD.into();
    c.heartbeat_interval = Duration::from_millis(300);
    c
}

fn is_heartbeat(d: &GetStreamingEventsResponse) -> bool {
    d.messages.iter().all(|m| {
        m.status.is_success() && m.notifications.is_empty() && m.connection_status == Some(ConnectionStatus::OK)
    })
}

#[tokio::test]
async fn changes_through_ews_and_the_control_api_reach_a_streaming_subscriber_quickly() {
    let sim = server::start(config()).await.unwrap();
    let ews = Ews::new(&sim);
    let sub = ews.subscribe_streaming(U1).await;
    let mut stream = ews.open_stream(U1, std::slice::from_ref(&sub), 5).await;
    assert!(is_heartbeat(&stream.doc(Duration::from_secs(5)).await), "a stream opens with ConnectionStatus OK");

    // Through EWS.
    let t0 = Instant::now();
    ews.create_item(U1, "Via EWS").await;
    let d = stream.notification(Duration::from_secs(5)).await;
    let ews_latency = t0.elapsed();
    let n = d.notifications().next().unwrap();
    assert_eq!(n.subscription_id.0, sub);
    assert!(matches!(n.events[0], WireEvent::Created(_)), "{:?}", n.events);
    assert!(n.events[0].watermark().is_some());

    // Through the control API.
    let t0 = Instant::now();
    let status = ews
        .control(
            reqwest::Method::POST,
            &format!("/sim/mailboxes/{U1}/items"),
            serde_json::json!({"subject": "Via control", "start": "2026-03-13T10:00:00Z", "end": "2026-03-13T11:00:00Z"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let d = stream.notification(Duration::from_secs(5)).await;
    let control_latency = t0.elapsed();
    assert!(matches!(d.notifications().next().unwrap().events[0], WireEvent::Created(_)));
    println!("notification latency: EWS change {ews_latency:?}, control-API change {control_latency:?}");
    // The request itself is part of the figure; the target is milliseconds, the bound generous.
    assert!(ews_latency < Duration::from_secs(1), "{ews_latency:?}");
    assert!(control_latency < Duration::from_secs(1), "{control_latency:?}");

    // More than 50 events arrive in notifications of at most 50 events each.
    let mb = sim.store().mailbox(U1).unwrap();
    for i in 0..120 {
        let mut item = ews_proto::items::CalendarItem::default();
        item.item.subject = Some(format!("Bulk {i}"));
        item.start = Some(ews_proto::values::DateTime::utc("2026-03-14T10:00:00Z".parse().unwrap()));
        item.end = Some(ews_proto::values::DateTime::utc("2026-03-14T10:30:00Z".parse().unwrap()));
        sim.store().create_item(&mb, exbridge_sim::store::FolderKind::Calendar, &item.into()).unwrap();
    }
    let mut seen = 0;
    while seen < 120 {
        let d = stream.notification(Duration::from_secs(5)).await;
        for n in d.notifications() {
            assert!(n.events.len() <= 50, "{}", n.events.len());
            seen += n.events.len();
        }
    }
    assert_eq!(seen, 120);
    drop(stream);
    ews.assert_valid();
    sim.shutdown().await;
}

#[tokio::test]
async fn heartbeats_when_idle_then_closed_after_the_connection_timeout() {
    let mut c = config();
    c.connection_timeout_unit = Duration::from_millis(1500);
    let sim = server::start(c).await.unwrap();
    let ews = Ews::new(&sim);
    let sub = ews.subscribe_streaming(U1).await;
    let t0 = Instant::now();
    let mut stream = ews.open_stream(U1, &[sub], 1).await;
    let mut heartbeats = 0;
    loop {
        match stream.next(Duration::from_secs(5)).await {
            Next::Doc(d) if d.is_closed() => break,
            Next::Doc(d) => {
                assert!(is_heartbeat(&d));
                heartbeats += 1;
            }
            Next::End { .. } => panic!("ended without Closed"),
        }
    }
    let took = t0.elapsed();
    assert!(heartbeats >= 3, "{heartbeats} heartbeats in {took:?}");
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_secs(4), "{took:?}");
    assert!(matches!(stream.next(Duration::from_secs(2)).await, Next::End { clean: true }));
    ews.assert_valid();
    sim.shutdown().await;
}

#[tokio::test]
async fn pull_subscription_get_events_with_watermarks() {
    let sim = server::start(config()).await.unwrap();
    let ews = Ews::new(&sim);
    let (sub, wm0) = ews.subscribe_pull(U1).await;

    // Nothing yet: a StatusEvent.
    let m = ews.get_events(U1, &sub, &wm0).await;
    assert!(m.status.is_success());
    let n = m.notification.unwrap();
    assert_eq!(n.more_events, Some(false));
    assert!(matches!(n.events[..], [WireEvent::Status { .. }]), "{:?}", n.events);

    ews.create_item(U1, "One").await;
    ews.create_item(U1, "Two").await;
    let m = ews.get_events(U1, &sub, &wm0).await;
    let n = m.notification.unwrap();
    assert_eq!(n.previous_watermark.as_ref().unwrap().0, wm0);
    assert_eq!(n.events.len(), 2);
    assert!(n.events.iter().all(|e| matches!(e, WireEvent::Created(_))));
    let wm2 = n.events[1].watermark().unwrap().0.clone();
    // Asking again with the old watermark repeats them (nothing acknowledged yet).
    let again = ews.get_events(U1, &sub, &wm0).await.notification.unwrap();
    assert_eq!(again.events.len(), 2);
    // With the last watermark: acknowledged, a StatusEvent.
    let n = ews.get_events(U1, &sub, &wm2).await.notification.unwrap();
    assert!(matches!(n.events[..], [WireEvent::Status { .. }]));
    assert_eq!(n.previous_watermark.unwrap().0, wm2);

    // 60 events: 50, MoreEvents, then 10.
    for i in 0..60 {
        let status = ews
            .control(
                reqwest::Method::POST,
                &format!("/sim/mailboxes/{U1}/items"),
                serde_json::json!({"subject": format!("Bulk {i}"), "start": "2026-03-13T10:00:00Z", "end": "2026-03-13T11:00:00Z"}),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::CREATED);
    }
    let n = ews.get_events(U1, &sub, &wm2).await.notification.unwrap();
    assert_eq!(n.events.len(), 50);
    assert_eq!(n.more_events, Some(true));
    let wm = n.events[49].watermark().unwrap().0.clone();
    let n = ews.get_events(U1, &sub, &wm).await.notification.unwrap();
    assert_eq!(n.events.len(), 10);
    assert_eq!(n.more_events, Some(false));

    // A damaged watermark.
    let m = ews.get_events(U1, &sub, "AAAA").await;
    assert_eq!(m.status.code(), ResponseCode::ErrorInvalidWatermark);

    // Unsubscribe, then the subscription is gone.
    let body = format!("<m:Unsubscribe><m:SubscriptionId>{sub}</m:SubscriptionId></m:Unsubscribe>");
    let Body::UnsubscribeResponse(r) = ews.call("unsubscribe", U1, &body).await else { panic!() };
    assert!(r.messages[0].status.is_success());
    let Body::UnsubscribeResponse(r) = ews.call("unsubscribe-again", U1, &body).await else { panic!() };
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorSubscriptionNotFound);
    assert_eq!(ews.get_events(U1, &sub, &wm).await.status.code(), ResponseCode::ErrorSubscriptionNotFound);
    ews.assert_valid();
    sim.shutdown().await;
}

#[tokio::test]
async fn subscription_limits_per_mailbox_and_per_connection() {
    let mut c = config();
    c.limits.subscriptions_per_mailbox = 250;
    let sim = server::start(c).await.unwrap();
    let ews = Ews::new(&sim);
    let mut ids = Vec::new();
    for _ in 0..201 {
        ids.push(ews.subscribe_streaming(U1).await);
    }
    let mut ok = ews.open_stream(U1, &ids[..200], 1).await;
    assert!(is_heartbeat(&ok.doc(Duration::from_secs(5)).await), "200 subscriptions on one connection");
    drop(ok);
    let mut refused = ews.open_stream(U1, &ids, 1).await;
    let d = refused.doc(Duration::from_secs(5)).await;
    assert!(!d.messages[0].status.is_success(), "201 subscriptions must be refused");
    assert!(matches!(refused.next(Duration::from_secs(2)).await, Next::End { .. }));

    // EWSMaxSubscriptions (20 by default) per mailbox.
    let sim2 = server::start(config()).await.unwrap();
    let ews2 = Ews::new(&sim2);
    for _ in 0..20 {
        ews2.subscribe_streaming(U2).await;
    }
    let body = r#"<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="calendar"/></t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>"#;
    let Body::SubscribeResponse(r) = ews2.call("subscribe-21st", U2, body).await else { panic!() };
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorExceededSubscriptionCount);
    ews.assert_valid();
    ews2.assert_valid();
    sim.shutdown().await;
    sim2.shutdown().await;
}

#[tokio::test]
async fn unknown_foreign_and_expired_subscriptions() {
    let sim = server::start(config()).await.unwrap();
    let ews = Ews::new(&sim);
    let good = ews.subscribe_streaming(U1).await;

    // Unknown id, alone and mixed with a good one: the whole answer is the error.
    for ids in
        [vec!["bm90LWEtc3Vic2NyaXB0aW9u".to_string()], vec![good.clone(), "bm90LWEtc3Vic2NyaXB0aW9u".to_string()]]
    {
        let mut s = ews.open_stream(U1, &ids, 1).await;
        let d = s.doc(Duration::from_secs(5)).await;
        let m = &d.messages[0];
        assert_eq!(m.status.code(), ResponseCode::ErrorInvalidSubscription);
        assert_eq!(m.status.message_text.as_deref(), Some("Subscription is invalid."));
        assert_eq!(
            m.error_subscription_ids.iter().map(|i| i.0.as_str()).collect::<Vec<_>>(),
            vec!["bm90LWEtc3Vic2NyaXB0aW9u"]
        );
        assert!(m.notifications.is_empty());
        assert_eq!(m.connection_status, Some(ConnectionStatus::Closed));
        assert!(matches!(s.next(Duration::from_secs(2)).await, Next::End { clean: true }));
    }

    // Another account's pull subscription.
    let (pull, wm) = ews.subscribe_pull(U1).await;
    let body = format!(
        "<m:GetEvents><m:SubscriptionId>{pull}</m:SubscriptionId><m:Watermark>{wm}</m:Watermark></m:GetEvents>"
    );
    let Body::GetEventsResponse(r) = ews.call_as("foreign-get-events", U2, "password", None, &body).await else {
        panic!()
    };
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorSubscriptionAccessDenied);

    // Unknown id for Unsubscribe.
    let body = "<m:Unsubscribe><m:SubscriptionId>bm90LWEtc3Vic2NyaXB0aW9u</m:SubscriptionId></m:Unsubscribe>";
    let Body::UnsubscribeResponse(r) = ews.call("unsubscribe-unknown", U1, body).await else { panic!() };
    assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorSubscriptionNotFound);

    // expire_subscriptions: pull → ErrorExpiredSubscription, streaming → ErrorSubscriptionNotFound.
    let status =
        ews.control(reqwest::Method::POST, "/sim/faults", serde_json::json!({"kind": "expire_subscriptions"})).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(ews.get_events(U1, &pull, &wm).await.status.code(), ResponseCode::ErrorExpiredSubscription);
    let mut s = ews.open_stream(U1, std::slice::from_ref(&good), 1).await;
    let d = s.doc(Duration::from_secs(5)).await;
    assert_eq!(d.messages[0].status.code(), ResponseCode::ErrorSubscriptionNotFound);
    assert_eq!(d.messages[0].error_subscription_ids[0].0, good);
    assert!(d.is_closed());
    ews.assert_valid();
    sim.shutdown().await;
}

#[tokio::test]
async fn expire_and_drop_faults_end_open_streams() {
    let sim = server::start(config()).await.unwrap();
    let ews = Ews::new(&sim);

    // expire_subscriptions: the error, then Closed, then the end.
    let sub = ews.subscribe_streaming(U1).await;
    let mut s = ews.open_stream(U1, std::slice::from_ref(&sub), 5).await;
    assert!(is_heartbeat(&s.doc(Duration::from_secs(5)).await));
    let status =
        ews.control(reqwest::Method::POST, "/sim/faults", serde_json::json!({"kind": "expire_subscriptions"})).await;
    assert!(status.is_success());
    let d = loop {
        let d = s.doc(Duration::from_secs(5)).await;
        if !is_heartbeat(&d) {
            break d;
        }
    };
    assert_eq!(d.messages[0].status.code(), ResponseCode::ErrorSubscriptionNotFound);
    assert_eq!(d.messages[0].error_subscription_ids[0].0, sub);
    assert!(d.is_closed());
    assert!(matches!(s.next(Duration::from_secs(2)).await, Next::End { clean: true }));

    // drop_streams: the connection ends without Closed.
    let sub = ews.subscribe_streaming(U1).await;
    let mut s = ews.open_stream(U1, &[sub], 5).await;
    assert!(is_heartbeat(&s.doc(Duration::from_secs(5)).await));
    let status = ews.control(reqwest::Method::POST, "/sim/faults", serde_json::json!({"kind": "drop_streams"})).await;
    assert!(status.is_success());
    loop {
        match s.next(Duration::from_secs(5)).await {
            Next::Doc(d) => assert!(!d.is_closed(), "drop_streams sends no Closed"),
            Next::End { clean } => {
                assert!(!clean, "the response is cut off, not completed");
                break;
            }
        }
    }
    ews.assert_valid();
    sim.shutdown().await;
}
