//! Helpers shared by the streaming tests: a Basic client for the simulator, a streaming
//! configuration with quick reconnects, and waiting for a given event.

use std::time::Duration;

use ews_client::streaming::{StreamEvent, StreamingConfig};
use ews_client::{AuthConfig, EwsClient, ServerConfig};
use exbridge_sim::server::RunningSim;
use secrecy::SecretString;
use tokio::sync::mpsc::UnboundedReceiver;

/// The service account over Basic, quick retries.
pub fn client(sim: &RunningSim) -> EwsClient {
    let auth = AuthConfig::Basic { username: "svc@contoso.test".into(), password: SecretString::from("secret") };
    let mut c = ServerConfig::new("sim", sim.ews_url().parse().unwrap(), auth);
    c.throttle.retry_base = Duration::from_millis(10);
    c.timeouts.request = Duration::from_secs(10);
    EwsClient::new(c).unwrap()
}

/// Quick reconnects, a 1 s watchdog against the simulator's 100 ms heartbeats.
pub fn scfg() -> StreamingConfig {
    StreamingConfig {
        heartbeat_interval: Duration::from_millis(100),
        missed_heartbeats: 10,
        reconnect_base: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(500),
        restream_delay: Duration::from_millis(50),
        resubscribe_retry: Duration::from_millis(300),
        ..StreamingConfig::default()
    }
}

/// Receives until `pred` matches (within 30 s); returns the match and what came before it.
pub async fn until(
    rx: &mut UnboundedReceiver<StreamEvent>,
    what: &str,
    pred: impl Fn(&StreamEvent) -> bool,
) -> (StreamEvent, Vec<StreamEvent>) {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) if pred(&e) => return (e, seen),
            Ok(Some(e)) => seen.push(e),
            Ok(None) => panic!("event channel closed while waiting for {what}; saw {seen:#?}"),
            Err(_) => panic!("no {what} within 30 s; saw {seen:#?}"),
        }
    }
}
