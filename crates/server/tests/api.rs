//! The REST API against a fake connector over a real SqliteStore, on 127.0.0.1.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn health_and_readiness() {
    let mut s = TestServer::start().await;
    let (status, body) = json_of(s.client.get(s.url("/healthz")).send().await.unwrap()).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));

    let (status, body) = json_of(s.client.get(s.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["exchange"][0], json!({"name": "primary", "ok": true}));

    s.connector.ready.store(false, Ordering::SeqCst);
    let (status, body) = json_of(s.client.get(s.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["exchange"][0]["error"], "connection refused");
    println!("readyz not ready: {body}");
    s.shutdown().await;
}

#[tokio::test]
async fn every_api_endpoint_wants_a_valid_token() {
    let mut s = TestServer::start().await;
    add_users(&s.store, &["u1"]).await;
    let endpoints = [
        ("GET", "/api/v1/users"),
        ("PUT", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/users/u1"),
        ("DELETE", "/api/v1/users/u1"),
        ("GET", "/api/v1/users/u1/events"),
        ("GET", "/api/v1/users/u1/presence"),
        ("GET", "/api/v1/users/u1/freebusy"),
        ("GET", "/api/v1/stream"),
    ];
    for (method, path) in endpoints {
        let method: reqwest::Method = method.parse().unwrap();
        for token in [None, Some("wrong-token"), Some("public-token-")] {
            let mut request = s.client.request(method.clone(), s.url(path)).json(&json!([]));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let (status, body) = json_of(request.send().await.unwrap()).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
        }
    }
    // A non-Bearer scheme is refused as well; the user is still there.
    let (status, _) =
        json_of(s.client.get(s.url("/api/v1/users")).basic_auth("x", Some(TOKEN)).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(s.store.get_user(&"u1".into()).await.unwrap().is_some());
    // The OpenAPI document is public.
    let (status, doc) = json_of(s.client.get(s.url("/api/v1/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    s.shutdown().await;
}

#[tokio::test]
async fn users_crud_and_validation() {
    let mut s = TestServer::start().await;
    let put = |body: Value, force: bool| {
        let url = if force { s.url("/api/v1/users?force=true") } else { s.url("/api/v1/users") };
        s.client.put(url).bearer_auth(TOKEN).json(&body).send()
    };

    let users = json!([
        {"id": "u1", "display_name": "One", "work_email": "one@contoso.com"},
        {"id": "u2", "login_email": "two@contoso.com", "settings": {"direction": "exchange_to_app", "sync_tasks": true}}
    ]);
    let (status, body) = json_of(put(users, false).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], json!(["u1", "u2"]));
    println!("PUT /users: {body}");

    // GET /users: flat user + mailbox state.
    let (status, body) = json_of(s.get("/api/v1/users").send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().unwrap().len(), 2);
    assert_eq!(body[0]["id"], "u1");
    assert_eq!(body[0]["work_email"], "one@contoso.com");
    assert_eq!(body[0]["state"], "pending");
    assert_eq!(body[0]["mailbox"], Value::Null);
    assert_eq!(body[0]["matched_by"], Value::Null);
    assert_eq!(body[1]["settings"]["direction"], "exchange_to_app");
    assert_eq!(body[1]["settings"]["delete_in_app"], true);

    // GET /users/{id}
    let (status, body) = json_of(s.get("/api/v1/users/u2").send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["login_email"], "two@contoso.com");
    assert_eq!(body["state"], "pending");
    assert!(body.get("synced_at").is_none());

    // POST upserts one.
    let post = |body: Value| s.client.post(s.url("/api/v1/users")).bearer_auth(TOKEN).json(&body).send();
    let (status, body) = json_of(post(json!({"id": "u3", "personal_email": "three@example.org"})).await.unwrap()).await;
    assert_eq!((status, body["outcome"].clone()), (201, json!("created")));
    let (status, body) = json_of(post(json!({"id": "u3", "personal_email": "3@example.org"})).await.unwrap()).await;
    assert_eq!(
        (status, body["outcome"].clone(), body["identifiers_changed"].clone()),
        (200, json!("updated"), json!(true))
    );

    // Validation names the field.
    for (bad, field) in [
        (json!([{"id": ""}]), "[0].id"),
        (json!([{"id": "a"}, {"id": "a"}]), "[1].id"),
        (json!([{"id": "a", "work_email": "not-an-email"}]), "[0].work_email"),
        (json!([{"id": "a", "settings": {"direction": "sideways"}}]), "[0].settings.direction"),
        (json!([{"id": "a", "settings": {"sync_start": "yesterday"}}]), "[0].settings.sync_start"),
        (json!([{"display_name": "no id"}]), "id"),
        (json!({"id": "not an array"}), "invalid type"),
    ] {
        let (status, body) = json_of(put(bad.clone(), false).await.unwrap()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{bad}: {message:?} should name {field}");
        println!("400 for {bad}: {message}");
    }
    let (status, body) = json_of(
        s.client
            .put(s.url("/api/v1/users"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body("[{\"id\": ")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!("invalid_json")), "{body}");
    let (status, body) = json_of(post(json!({"id": "u4", "login_email": "x@"})).await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("login_email:"), "{body}");

    // The mass-delete guard: emptying the directory needs force.
    let (status, body) = json_of(put(json!([]), false).await.unwrap()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "mass_delete");
    assert!(body["error"]["message"].as_str().unwrap().contains("force=true"));
    assert_eq!(s.store.list_users().await.unwrap().len(), 3);
    let (status, body) = json_of(put(json!([]), true).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removed"], json!(["u1", "u2", "u3"]));

    // DELETE
    add_users(&s.store, &["u9"]).await;
    let delete = |id: &str| s.client.delete(s.url(&format!("/api/v1/users/{id}"))).bearer_auth(TOKEN).send();
    assert_eq!(delete("u9").await.unwrap().status().as_u16(), 204);
    let (status, body) = json_of(delete("u9").await.unwrap()).await;
    assert_eq!((status, body["error"]["code"].clone()), (404, json!("user_not_found")));
    s.shutdown().await;
}

#[tokio::test]
async fn unknown_users_and_routes_are_404() {
    let mut s = TestServer::start().await;
    for path in [
        "/api/v1/users/nobody",
        "/api/v1/users/nobody/events",
        "/api/v1/users/nobody/presence",
        "/api/v1/users/nobody/freebusy",
    ] {
        let (status, body) = json_of(s.get(path).send().await.unwrap()).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "user_not_found", "{path}");
        assert!(body["error"]["message"].as_str().unwrap().contains("nobody"));
    }
    let (status, body) = json_of(s.get("/api/v1/nothing-here").send().await.unwrap()).await;
    assert_eq!((status, body["error"]["code"].clone()), (404, json!("route_not_found")));
    // Event writes check their body first: 400 naming the field.
    for (method, path, field) in
        [("POST", "/api/v1/users/u1/events", "subject"), ("PATCH", "/api/v1/users/u1/events/e1", "colour")]
    {
        let body = if method == "POST" { json!({"start": "2026-01-01T10:00:00Z"}) } else { json!({"colour": 1}) };
        let r = s.client.request(method.parse().unwrap(), s.url(path)).bearer_auth(TOKEN).json(&body);
        let (status, body) = json_of(r.send().await.unwrap()).await;
        assert_eq!((status, body["error"]["code"].clone()), (400, json!("invalid_event")), "{method} {path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
    }
    let r = s.client.patch(s.url("/api/v1/users")).bearer_auth(TOKEN).send().await.unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!((status, body["error"]["code"].clone()), (405, json!("method_not_allowed")), "{body}");
    s.shutdown().await;
}

#[tokio::test]
async fn events_presence_freebusy_and_masking() {
    let mut s = TestServer::start().await;
    add_users(&s.store, &["u1"]).await;

    // Masked for the ordinary token.
    let (status, body) = json_of(s.get("/api/v1/users/u1/events").send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let public = &body[0];
    assert_eq!(public["subject"], "Planning");
    assert_eq!(public["body"], "secret body");
    assert_eq!(public["join"]["provider"], "teams");
    let private = &body[1];
    assert_eq!(private["id"], "priv");
    assert_eq!(private["is_private"], true);
    assert_eq!(private["subject"], "Private");
    assert!(private.get("body").is_none() && private.get("join").is_none(), "{private}");
    assert_eq!(private["location"], Value::Null);
    assert_eq!(private["attendees"], json!([]));
    assert_eq!(private["start"], "2026-03-02T09:00:00+01:00");
    println!("masked private event: {private}");

    // In full for the private token.
    let r = s.client.get(s.url("/api/v1/users/u1/events")).bearer_auth(PRIVATE_TOKEN).send().await.unwrap();
    let (_, body) = json_of(r).await;
    assert_eq!(body[1]["subject"], "Doctor");
    assert_eq!(body[1]["body"], "secret body");
    assert_eq!(body[1]["location"], "Room 1");

    // Presence: the current (private) event masked, the next (public) one untouched.
    let (status, body) = json_of(s.get("/api/v1/users/u1/presence").send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["busy"], true);
    assert_eq!(body["current_event"]["subject"], "Private");
    assert!(body["current_event"].get("body").is_none());
    assert_eq!(body["next_event"]["subject"], "Standup");
    assert_eq!(body["oof"]["state"], "Disabled");
    let r = s.client.get(s.url("/api/v1/users/u1/presence")).bearer_auth(PRIVATE_TOKEN).send().await.unwrap();
    assert_eq!(json_of(r).await.1["current_event"]["subject"], "Doctor");

    // Free/busy echoes the window it was asked for.
    let (status, body) = json_of(
        s.get("/api/v1/users/u1/freebusy?start=2026-03-02T00:00:00%2B01:00&end=2026-03-03T00:00:00Z")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!([{"start": "2026-03-01T23:00:00Z", "end": "2026-03-03T00:00:00Z", "status": "busy"}]));

    // Bad windows name the field.
    for (query, field) in [
        ("start=tomorrow", "start:"),
        ("start=2026-03-02T00:00:00Z&end=2026-03-01", "end:"),
        ("start=2026-03-02T00:00:00Z&end=2026-03-01T00:00:00Z", "end:"),
        ("start=2026-01-01T00:00:00Z&end=2027-06-01T00:00:00Z", "end:"),
    ] {
        for endpoint in ["events", "freebusy"] {
            let (status, body) =
                json_of(s.get(&format!("/api/v1/users/u1/{endpoint}?{query}")).send().await.unwrap()).await;
            assert_eq!(status, 400, "{endpoint}?{query}: {body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.starts_with(field), "{endpoint}?{query}: {message}");
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let mut s = TestServer::start().await;
    add_users(&s.store, &["u1"]).await;
    let doc = exbridge_server::openapi::document();
    for (method, path) in exbridge_server::openapi::documented_routes(&doc) {
        if path == "/api/v1/stream" {
            continue; // a stream never ends; covered by the SSE tests
        }
        let path = path.replace("{id}", "u1");
        let method: reqwest::Method = method.parse().unwrap();
        let r =
            s.client.request(method.clone(), s.url(&path)).bearer_auth(TOKEN).json(&json!([])).send().await.unwrap();
        let (status, body) = json_of(r).await;
        assert!(status != 405 && body["error"]["code"] != "route_not_found", "{method} {path}: {status} {body}");
    }
    s.shutdown().await;
}
