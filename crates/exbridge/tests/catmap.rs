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

        // The application writes in its own terms: Exchange gets the mapped category and the
        // importance, the item carries the application's id, and a second create with the same
        // id (no Idempotency-Key: say the application lost its answer) makes no duplicate.
        let write = json!({"subject": "Order 77 delivery", "start": start, "end": end,
                           "categories": ["customer-visit"], "priority": "urgent", "app_id": "order-77"});
        let (status, doc) =
            connector.api.request(reqwest::Method::POST, "/api/v1/users/alice/events", Some(write.clone()), &[]).await;
        assert_eq!(status.as_u16(), 201, "{doc}");
        assert_eq!((&doc["categories"], &doc["app_id"]), (&json!(["customer-visit"]), &json!("order-77")), "{doc}");
        assert_eq!(doc["importance"], "high", "{doc}");
        let in_exchange = sim.api.item_by_uid(mb, doc["uid"].as_str().unwrap()).await.expect("the item in Exchange");
        assert_eq!(in_exchange["categories"], json!(["Customer visit"]), "{in_exchange}");
        assert_eq!(in_exchange["importance"], "High", "{in_exchange}");
        let (status, again) =
            connector.api.request(reqwest::Method::POST, "/api/v1/users/alice/events", Some(write), &[]).await;
        assert!(status.is_success(), "{again}");
        assert_eq!(again["uid"], doc["uid"], "the same item, not a second one");
        let copies = sim.api.items(mb).await.into_iter().filter(|i| i["subject"] == "Order 77 delivery").count();
        assert_eq!(copies, 1, "one item for app id order-77");
        println!(
            "app write: Exchange categories {} importance {}; app_id {}; second create -> same uid, {copies} item",
            in_exchange["categories"], in_exchange["importance"], doc["app_id"]
        );
        let (status, err) = connector
            .api
            .request(
                reqwest::Method::POST,
                "/api/v1/users/alice/events",
                Some(json!({"subject": "x", "start": start, "end": end, "priority": "someday"})),
                &[],
            )
            .await;
        assert_eq!((status.as_u16(), err["error"]["code"].as_str()), (400, Some("invalid_event")), "{err}");
        assert!(err["error"]["message"].as_str().unwrap().starts_with("priority"), "{err}");
    })
    .await
    .expect("test took too long");
}
