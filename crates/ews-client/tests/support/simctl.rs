//! The simulator's control API (`/sim/stats`, `/sim/faults`) over plain HTTP.

use ews_proto::SmtpAddress;
use exbridge_sim::server::RunningSim;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A control API request over plain HTTP; returns the status and body.
pub async fn control(sim: &RunningSim, method: &str, path: &str, json: Option<&str>) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let body = json.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        sim.addr(),
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

pub async fn stats(sim: &RunningSim) -> serde_json::Value {
    let (status, body) = control(sim, "GET", "/sim/stats", None).await;
    assert_eq!(status, 200, "{body}");
    // The body may be chunked; take the JSON object inside.
    let start = body.find('{').unwrap();
    let end = body.rfind('}').unwrap();
    serde_json::from_str(&body[start..=end]).unwrap()
}

pub async fn fault(sim: &RunningSim, json: &str) {
    let (status, body) = control(sim, "POST", "/sim/faults", Some(json)).await;
    assert!((200..300).contains(&status), "fault {json}: {status} {body}");
}

/// Creates an appointment through the control API; returns its item id.
pub async fn create_item(sim: &RunningSim, mailbox: &SmtpAddress, subject: &str) -> String {
    let body = format!(r#"{{"subject":"{subject}","start":"2030-03-02T09:00:00","end":"2030-03-02T09:30:00"}}"#);
    let (status, text) = control(sim, "POST", &format!("/sim/mailboxes/{mailbox}/items"), Some(&body)).await;
    assert!((200..300).contains(&status), "{status} {text}");
    let start = text.find('{').unwrap();
    let json: serde_json::Value = serde_json::from_str(&text[start..=text.rfind('}').unwrap()]).unwrap();
    json["item_id"].as_str().unwrap().to_string()
}
