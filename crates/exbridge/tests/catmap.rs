//! `[mapping]` end to end: `exbridge sim` holds items with Exchange categories and importance;
//! `exbridge serve` configured with a category and priority table shows them in the
//! application's names through `GET /api/v1/users/{id}/events`.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

const MAPPING: &str = r#"
[mapping]
[[mapping.categories]]
app = "customer-visit"
exchange = "Customer visit"
color = "preset4"
[[mapping.categories]]
app = "internal"
exchange = "Internal"
color = "none"
[mapping.priorities]
low = "Low"
normal = "Normal"
high = "High"
urgent = "High"
"#;

fn by_subject<'a>(events: &'a [Value], subject: &str) -> Option<&'a Value> {
    events.iter().find(|e| e["subject"] == subject)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_show_application_categories_and_priority() {
    let _serial = serial().await;
    tokio::time::timeout(Duration::from_secs(180), async {
        let env = Env::new();
        let sim = SimProc::start(&env, 1, 2, 7).await;
        let mb = "user1@contoso.test";
        let start = rfc3339_in(Duration::from_secs(86_400));
        let end = rfc3339_in(Duration::from_secs(86_400 + 3600));
        sim.api
            .create_item(
                mb,
                json!({"subject": "Fabrikam visit", "start": start, "end": end,
                       "categories": ["Customer visit", "Red category"], "importance": "High"}),
            )
            .await;

        let config = ConnectorConfig::new(&env, &sim.ews_url, None);
        let connector = start_connector_with(&env, config, MAPPING).await;
        connector.api.put_users(json!([user_for("alice", mb)])).await;
        connector.api.wait_synced(&["alice"], Duration::from_secs(60)).await;

        let w0 = rfc3339_in(Duration::ZERO);
        let w1 = rfc3339_in(Duration::from_secs(3 * 86_400));
        let events = connector.api.events("alice", &w0, &w1).await;
        let e = by_subject(&events, "Fabrikam visit").unwrap_or_else(|| panic!("not in {events:#?}"));
        assert_eq!(e["categories"], json!(["customer-visit", "Red category"]));
        assert_eq!(e["priority"], "high");
        assert_eq!(e["importance"], "high", "the contract field stays");
        println!(
            "GET /events: categories {} priority {} importance {}",
            e["categories"], e["priority"], e["importance"]
        );

        // A change made in Exchange after the initial sync arrives mapped too.
        sim.api
            .create_item(
                mb,
                json!({"subject": "Team sync", "start": start, "end": end,
                       "categories": ["internal"], "importance": "Low"}),
            )
            .await;
        let e = wait_until(Duration::from_secs(30), "Team sync in GET /events", || {
            let api = connector.api.clone();
            let (w0, w1) = (w0.clone(), w1.clone());
            async move { by_subject(&api.events("alice", &w0, &w1).await, "Team sync").cloned() }
        })
        .await;
        assert_eq!(e["categories"], json!(["internal"]));
        assert_eq!(e["priority"], "low");
        println!("live change: categories {} priority {}", e["categories"], e["priority"]);
    })
    .await
    .expect("test took too long");
}
