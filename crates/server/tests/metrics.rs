//! `GET /metrics` after driving the webhook dispatcher over a real SqliteStore: deliveries by
//! outcome, outbox depth, notification-to-webhook latency, in the Prometheus text format.

mod common;

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use common::*;
use exbridge_config::{Secret, WebhookConfig};
use exbridge_engine::telemetry::notification_clock;
use exbridge_server::webhooks::{DispatchOptions, start_dispatcher, webhook_ids, webhooks_from_config};
use exbridge_store::{EventType, UserId};
use tokio::sync::oneshot;

/// The value of the first sample of `name` whose labels contain every one of `labels`
/// (`key="value"`), if any.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = match series.split_once('{') {
            Some((m, rest)) => (m, rest),
            None => (series, ""),
        };
        (metric == name && labels.iter().all(|l| rest.contains(l))).then(|| value.parse().ok())?
    })
}

fn hook(url: String) -> WebhookConfig {
    WebhookConfig {
        url: url.parse().unwrap(),
        secret: Secret::new("metrics-secret"),
        events: vec!["*".into()],
        include_private: false,
        include_echoes: false,
    }
}

/// A receiver answering 200 on `/ok` and 500 on `/fail`.
async fn receiver() -> String {
    let app = Router::new()
        .route("/ok", post(|| async { StatusCode::OK }))
        .route("/fail", post(|| async { StatusCode::INTERNAL_SERVER_ERROR }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// A URL where nothing listens.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/gone")
}

#[tokio::test]
async fn metrics_show_deliveries_outbox_depth_and_notification_latency() {
    exbridge_server::metrics::install().expect("recorder installed");
    assert!(exbridge_server::metrics::install().is_ok(), "a second install returns the same handle");
    let mut server = TestServer::start().await;
    let store = server.store.clone();
    add_users(&store, &["u1", "u2"]).await;

    let base = receiver().await;
    let hooks = vec![hook(format!("{base}/ok")), hook(format!("{base}/fail")), hook(closed_port_url().await)];
    let ids = webhook_ids(&hooks);
    let options = DispatchOptions {
        timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        concurrency: 4,
        poll_interval: Duration::from_millis(200),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let dispatcher = start_dispatcher(store.clone(), webhooks_from_config(&hooks), options, async move {
        let _ = stopped.await;
    })
    .await
    .unwrap();

    // What the engine does when a streaming notification arrives, then the sync's entry.
    notification_clock().noticed(&UserId::new("u1"));
    tokio::time::sleep(Duration::from_millis(30)).await;
    append(&store, "u1", EventType::EventCreated, serde_json::to_value(event("e1", "Plan", false)).unwrap(), None)
        .await;
    append(&store, "u2", EventType::EventCreated, serde_json::to_value(event("e2", "Lunch", false)).unwrap(), None)
        .await;

    let ok = format!("webhook=\"{}\"", ids[0].as_str());
    let fail = format!("webhook=\"{}\"", ids[1].as_str());
    let gone = format!("webhook=\"{}\"", ids[2].as_str());
    let deadline = tokio::time::Instant::now() + WAIT;
    let text = loop {
        let response = server.client.get(server.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        let text = response.text().await.unwrap();
        let delivered = sample(&text, "exbridge_webhook_deliveries_total", &[&ok, "outcome=\"success\""]);
        let failed = sample(&text, "exbridge_webhook_deliveries_total", &[&fail, "outcome=\"http_error\""]);
        let refused = sample(&text, "exbridge_webhook_deliveries_total", &[&gone, "outcome=\"network_error\""]);
        let depth_ok = sample(&text, "exbridge_outbox_depth", &[&ok]);
        if delivered == Some(2.0) && failed >= Some(2.0) && refused >= Some(2.0) && depth_ok == Some(0.0) {
            break text;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for the delivery metrics:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Undelivered entries per webhook: both stay queued for the failing ones.
    assert_eq!(sample(&text, "exbridge_outbox_depth", &[&fail]), Some(2.0), "{text}");
    assert_eq!(sample(&text, "exbridge_outbox_depth", &[&gone]), Some(2.0), "{text}");
    // One notification, measured once, at least the 30 ms before its entry was appended.
    assert_eq!(sample(&text, "exbridge_notification_to_webhook_seconds_count", &[]), Some(1.0), "{text}");
    let latency = sample(&text, "exbridge_notification_to_webhook_seconds_sum", &[]).unwrap();
    assert!((0.03..20.0).contains(&latency), "latency {latency}");
    assert!(sample(&text, "exbridge_webhook_delivery_seconds_count", &[&ok]) == Some(2.0), "{text}");
    // Buckets from milliseconds to minutes.
    assert!(text.contains("exbridge_webhook_delivery_seconds_bucket{") && text.contains("le=\"0.005\""), "{text}");
    assert!(text.contains("le=\"600\""), "{text}");
    assert!(notification_clock().is_empty());
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("exbridge_webhook_deliveries_total")).collect();
    println!("{}", lines.join("\n"));
    println!("notification-to-webhook: {latency:.3} s");

    let _ = stop.send(());
    tokio::time::timeout(WAIT, dispatcher.join()).await.expect("dispatcher stops in time");
    server.shutdown().await;
}
