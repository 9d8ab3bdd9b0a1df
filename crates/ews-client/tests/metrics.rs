//! The client reports per-operation counts, latency and outcome through the `metrics` facade.
//! (Its own test binary: it installs a global recorder.)

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ews_client::{AuthConfig, EwsClient, ServerConfig};
use ews_proto::SmtpAddress;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use secrecy::SecretString;
use support::*;

#[derive(Default)]
struct Captured {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<Mutex<Vec<f64>>>>>,
}

fn key_string(key: &Key) -> String {
    let mut labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

struct CounterHandle(Arc<AtomicU64>);
impl metrics::CounterFn for CounterHandle {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::SeqCst);
    }
}

struct HistogramHandle(Arc<Mutex<Vec<f64>>>);
impl metrics::HistogramFn for HistogramHandle {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

struct Rec(Arc<Captured>);
impl Recorder for Rec {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let c = self.0.counters.lock().unwrap().entry(key_string(key)).or_default().clone();
        Counter::from_arc(Arc::new(CounterHandle(c)))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let h = self.0.histograms.lock().unwrap().entry(key_string(key)).or_default().clone();
        Histogram::from_arc(Arc::new(HistogramHandle(h)))
    }
}

#[tokio::test]
async fn calls_are_counted_and_timed() {
    let captured = Arc::new(Captured::default());
    metrics::set_global_recorder(Rec(captured.clone())).unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        let handler: Handler =
            Arc::new(|_, n| if n == 0 { Resp::status(500, server_busy_fault(10)) } else { Resp::ok(get_folder_ok()) });
        let opts = ServerOpts::new(ServerAuth::None, handler);
        let server = TestServer::start(opts).await;
        let auth = AuthConfig::Basic { username: "svc@contoso.test".into(), password: SecretString::from("x") };
        let client = EwsClient::new(ServerConfig::new("metrics-test", server.ews_url(), auth)).unwrap();
        let m = SmtpAddress::parse("user1@contoso.test").unwrap();
        client.call(Some(&m), probe_op()).await.unwrap();
        client.call(Some(&m), probe_op()).await.unwrap();
    })
    .await
    .unwrap();
    let counters = captured.counters.lock().unwrap();
    let get = |k: &str| counters.get(k).map(|c| c.load(Ordering::SeqCst));
    assert_eq!(get("ews_requests_total{operation=GetFolder,outcome=success,server=metrics-test}"), Some(2));
    assert_eq!(get("ews_retries_total{operation=GetFolder,server=metrics-test}"), Some(1));
    assert_eq!(get("ews_throttled_total{server=metrics-test}"), Some(1));
    assert_eq!(get("ews_connections_opened_total{server=metrics-test}"), Some(1));
    let h = captured.histograms.lock().unwrap();
    let lat = h.get("ews_request_duration_seconds{operation=GetFolder,outcome=success,server=metrics-test}").unwrap();
    assert_eq!(lat.lock().unwrap().len(), 2);
}
