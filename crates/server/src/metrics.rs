//! `GET /metrics`: every series of the process in the Prometheus text format (0.0.4).
//!
//! [`install`] installs the Prometheus recorder of the `metrics` facade once per process (the
//! binary calls it at start; later calls return the same handle). Series:
//!
//! * `ews_*` from `ews-client`: `ews_requests_total{server,operation,outcome}`,
//!   `ews_request_duration_seconds`, `ews_retries_total`, `ews_throttled_total{server}` (the
//!   throttling backoffs: one per `ErrorServerBusy`), `ews_concurrency_limit`,
//!   `ews_connections_opened_total`;
//! * the engine's (see [`exbridge_engine::telemetry`]): `exbridge_syncs_total{mode,outcome}`,
//!   `exbridge_sync_duration_seconds{mode}`, `exbridge_presence_changes_total`, and the
//!   gauges set on every scrape `exbridge_users{state}`, `exbridge_users_synced`, `exbridge_streaming_connections{server}`,
//!   `exbridge_subscriptions{server}`;
//! * the dispatcher's ([`crate::webhooks`]): `exbridge_webhook_deliveries_total{webhook,outcome}`
//!   (`success`, `http_error`, `network_error`), `exbridge_webhook_delivery_seconds{webhook}`,
//!   `exbridge_notification_to_webhook_seconds` (see
//!   [`NotificationClock`](exbridge_engine::telemetry::NotificationClock) for the method);
//! * set on every scrape from the store: `exbridge_outbox_depth{webhook}` (entries not yet
//!   delivered to that webhook; no series without webhooks), `exbridge_outbox_entries` (entries
//!   stored, delivered or not, until pruned after 7 days).
//!
//! Without an installed recorder the endpoint answers 503.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// Gauge `exbridge_outbox_depth{webhook}`.
pub const OUTBOX_DEPTH: &str = "exbridge_outbox_depth";
/// Gauge `exbridge_outbox_entries`: entries stored (delivered or not, until pruned).
pub const OUTBOX_ENTRIES: &str = "exbridge_outbox_entries";
/// Counter `exbridge_webhook_deliveries_total{webhook,outcome}`.
pub const WEBHOOK_DELIVERIES_TOTAL: &str = "exbridge_webhook_deliveries_total";
/// Histogram `exbridge_webhook_delivery_seconds{webhook}`: one POST, any outcome.
pub const WEBHOOK_DELIVERY_SECONDS: &str = "exbridge_webhook_delivery_seconds";
/// Histogram `exbridge_notification_to_webhook_seconds`.
pub const NOTIFICATION_TO_WEBHOOK_SECONDS: &str = "exbridge_notification_to_webhook_seconds";

/// The `Content-Type` of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Histogram buckets (seconds) of every `*_seconds` series: 5 ms to 10 min.
pub const BUCKETS: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder (once; later calls
/// return the same handle) and starts a thread folding histogram samples every 5 s. Fails
/// when another recorder was installed first.
pub fn install() -> Result<PrometheusHandle, String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)
                .map_err(|e| format!("configuring the Prometheus buckets: {e}"))?
                .install_recorder()
                .map_err(|e| format!("installing the Prometheus recorder: {e}"))?;
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                })
                .map_err(|e| format!("starting the metrics upkeep thread: {e}"))?;
            let _ = HANDLE.set(handle);
            Ok(())
        })
        .clone()?;
    Ok(HANDLE.get().expect("set when installed").clone())
}

/// The installed handle, if any.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get()
}

/// `GET /metrics`: refreshes the gauges (engine state, outbox depth) and renders every series.
pub async fn serve_metrics(State(app): State<AppState>) -> Response {
    let Some(handle) = handle() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are not enabled in this process\n").into_response();
    };
    app.connector.record_gauges().await;
    match app.store.outbox_stats().await {
        Ok(stats) => {
            ::metrics::gauge!(OUTBOX_ENTRIES).set(stats.entries as f64);
            for (webhook, undelivered) in stats.undelivered {
                ::metrics::gauge!(OUTBOX_DEPTH, "webhook" => webhook.as_str().to_owned()).set(undelivered as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading the outbox depth failed"),
    }
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], handle.render()).into_response()
}
