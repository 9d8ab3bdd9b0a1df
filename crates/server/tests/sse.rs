//! `GET /api/v1/stream` against a real SqliteStore on 127.0.0.1.

mod common;

use common::*;
use exbridge_store::EventType;
use serde_json::json;

fn private_doc(id: &str) -> serde_json::Value {
    serde_json::to_value(event(id, "Doctor", true)).unwrap()
}

async fn open(s: &TestServer, token: &str, last_event_id: Option<&str>, query: &str) -> SseReader {
    let mut request = s.client.get(s.url(&format!("/api/v1/stream{query}"))).bearer_auth(token);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    SseReader::new(response)
}

#[tokio::test]
async fn live_entries_arrive_masked_per_token() {
    let mut s = TestServer::start().await;
    let old = append(&s.store, "u1", EventType::UserMailboxResolved, json!({"mailbox": "u1@contoso.com"}), None).await;
    let mut masked = open(&s, TOKEN, None, "").await;
    let mut full = open(&s, PRIVATE_TOKEN, None, "").await;

    let created = append(&s.store, "u1", EventType::EventCreated, private_doc("e1"), None).await;
    let presence = serde_json::to_value(presence("u2")).unwrap();
    let changed = append(&s.store, "u2", EventType::PresenceChanged, presence, Some("api")).await;

    // Entries from before the connection are not replayed without Last-Event-ID.
    let first = masked.next_event().await.unwrap();
    assert_ne!(first.id.as_deref(), Some(old.id.as_str()));
    assert_eq!(first.id.as_deref(), Some(created.id.as_str()));
    assert_eq!(first.event.as_deref(), Some("event.created"));
    let payload = first.json();
    assert_eq!(payload["id"], created.id.as_str());
    assert_eq!(payload["type"], "event.created");
    assert_eq!(payload["user_id"], "u1");
    assert_eq!(payload["data"]["subject"], "Private");
    assert!(payload["data"].get("body").is_none());
    println!("SSE masked: id={:?} data={}", first.id, first.data);

    let second = masked.next_event().await.unwrap();
    assert_eq!(second.id.as_deref(), Some(changed.id.as_str()));
    assert_eq!(second.json()["data"]["current_event"]["subject"], "Private");
    assert_eq!(second.json()["data"]["next_event"]["subject"], "Standup");

    let first_full = full.next_event().await.unwrap();
    assert_eq!(first_full.json()["data"]["subject"], "Doctor");
    assert_eq!(first_full.json()["data"]["body"], "secret body");
    assert_eq!(full.next_event().await.unwrap().json()["data"]["current_event"]["subject"], "Doctor");

    // Graceful shutdown ends the streams.
    s.shutdown().await;
    assert!(masked.next_event().await.is_none());
    assert!(full.next_event().await.is_none());
}

#[tokio::test]
async fn last_event_id_resumes_with_exactly_the_missed_entries() {
    let mut s = TestServer::start().await;
    let mut reader = open(&s, TOKEN, None, "").await;
    let a = append(&s.store, "u1", EventType::EventCreated, private_doc("a"), None).await;
    let got = reader.next_event().await.unwrap();
    assert_eq!(got.id.as_deref(), Some(a.id.as_str()));
    drop(reader); // the client disconnects

    let mut missed = Vec::new();
    for (i, user) in ["u1", "u2", "u1"].iter().enumerate() {
        let doc = serde_json::to_value(event(&format!("m{i}"), "Public", false)).unwrap();
        missed.push(append(&s.store, user, EventType::EventUpdated, doc, None).await);
    }

    let mut resumed = open(&s, TOKEN, Some(&a.id), "").await;
    for expected in &missed {
        let frame = resumed.next_event().await.unwrap();
        assert_eq!(frame.id.as_deref(), Some(expected.id.as_str()));
        assert_eq!(frame.json()["data"]["id"], expected.data["id"]);
    }
    // Then live ones, nothing replayed twice.
    let live = append(&s.store, "u3", EventType::EventDeleted, private_doc("z"), None).await;
    let frame = resumed.next_event().await.unwrap();
    assert_eq!(frame.id.as_deref(), Some(live.id.as_str()));
    println!("resumed after {}: {} missed then live {}", a.id, missed.len(), live.id);

    // An unknown id replays from the oldest stored entry, and says so.
    let mut replay = open(&s, TOKEN, Some("01900000-0000-7000-8000-000000000000"), "").await;
    let note = replay.next_frame().await.unwrap();
    assert!(note.comments.iter().any(|c| c.contains("replaying from the oldest stored entry")), "{note:?}");
    let frame = replay.next_event().await.unwrap();
    assert_eq!(frame.id.as_deref(), Some(a.id.as_str()));

    // ?types= keeps only those types.
    let mut filtered = open(&s, TOKEN, Some(&a.id), "?types=event.deleted").await;
    assert_eq!(filtered.next_event().await.unwrap().id.as_deref(), Some(live.id.as_str()));
    let r = s.client.get(s.url("/api/v1/stream?types=bogus")).bearer_auth(TOKEN).send().await.unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("types:"), "{body}");
    s.shutdown().await;
}
