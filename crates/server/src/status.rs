//! `GET /`: a plain status page (no login, nothing secret): users by mailbox state, the outbox,
//! readiness, and where the API lives. The admin UI with login replaces it.

use axum::extract::State;
use axum::response::Html;
use exbridge_store::MailboxStatus;

use crate::AppState;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The status page.
pub async fn page(State(app): State<AppState>) -> Html<String> {
    let mut rows = String::new();
    match app.connector.list_users().await {
        Ok(users) => {
            for status in MailboxStatus::ALL {
                let n = users.iter().filter(|u| u.mailbox.state == *status).count();
                rows.push_str(&format!("<tr><td>users {}</td><td>{n}</td></tr>", status.as_str()));
            }
        }
        Err(e) => rows.push_str(&format!("<tr><td>users</td><td>{}</td></tr>", escape(&e.to_string()))),
    }
    match app.store.outbox_stats().await {
        Ok(s) => {
            rows.push_str(&format!("<tr><td>outbox entries</td><td>{}</td></tr>", s.entries));
            for (webhook, n) in &s.undelivered {
                rows.push_str(&format!("<tr><td>undelivered to {}</td><td>{n}</td></tr>", escape(webhook.as_str())));
            }
        }
        Err(e) => rows.push_str(&format!("<tr><td>outbox</td><td>{}</td></tr>", escape(&e.to_string()))),
    }
    let ready = app.connector.readiness().await;
    for (name, r) in &ready.exchange {
        let state = match r {
            Ok(()) => "reachable".to_owned(),
            Err(e) => escape(e),
        };
        rows.push_str(&format!("<tr><td>Exchange {}</td><td>{state}</td></tr>", escape(name)));
    }
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>exbridge</title></head><body>\
         <h1>exbridge</h1><table>{rows}</table>\
         <p>REST API under <code>/api/v1</code> (bearer token): <a href=\"/api/v1/openapi.json\">OpenAPI document</a>, \
         <a href=\"/healthz\">/healthz</a>, <a href=\"/readyz\">/readyz</a>.</p></body></html>"
    ))
}
