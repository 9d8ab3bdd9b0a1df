//! `exbridge demo` (simulator, connector, activity every second) scraped at `GET /metrics`:
//! the series of EWS requests, users, streaming, syncs and the outbox are there, non-zero.

mod support;

use std::time::Duration;

use support::*;

/// The sum of the samples of `name` whose labels contain every one of `labels`; `None` when
/// there is no such sample.
fn total(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|l| rest.contains(l))).then(|| value.parse().ok())?
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_metrics_show_requests_users_streaming_syncs_and_outbox() {
    let _serial = serial().await;
    let env = Env::new();
    let (mut demo, port) = spawn_demo(&env);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let checks: [(&str, &[&str]); 7] = [
        ("ews_requests_total", &[]),
        ("exbridge_users", &["state=\"subscribed\""]),
        ("exbridge_streaming_connections", &[]),
        ("exbridge_subscriptions", &[]),
        ("exbridge_syncs_total", &["outcome=\"success\""]),
        ("exbridge_sync_duration_seconds_count", &[]),
        ("exbridge_outbox_entries", &[]),
    ];
    let (client, url, checks, demo_ref) = (&client, &url, &checks, &mut demo);
    let text = wait_until(Duration::from_secs(120), "non-zero metrics from the demo", || {
        if let Some(status) = demo_ref.exited() {
            panic!("exbridge demo ended ({status}):\n{}", demo_ref.output());
        }
        async move {
            let response = client.get(url).send().await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            let text = response.text().await.ok()?;
            let all = checks.iter().all(|(name, labels)| total(&text, name, labels).is_some_and(|v| v > 0.0));
            let every_user = total(&text, "exbridge_users", &["state=\"subscribed\""]) == Some(5.0);
            (all && every_user).then_some(text)
        }
    })
    .await;
    for (name, labels) in checks {
        println!("{name}{labels:?} = {}", total(&text, name, labels).unwrap());
    }
    assert!(total(&text, "ews_requests_total", &["operation=\"SyncFolderItems\""]).is_some(), "{text}");
    // The demo has no webhook: no per-webhook depth, but the series of every state are there.
    assert!(total(&text, "exbridge_users", &["state=\"not_found\""]) == Some(0.0), "{text}");
    let status = demo.terminate(Duration::from_secs(30)).await;
    assert!(status.success() || status.code().is_none(), "exbridge demo exited with {status}");
}
