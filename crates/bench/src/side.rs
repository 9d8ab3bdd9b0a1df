//! The same calendar fetch three ways against one simulator: exbridge's `EwsClient`,
//! exchangelib (Python, `python/calendar_view.py`), and a minimal reqwest loop posting the
//! prepared request bytes (the simulator's ceiling). Each is CalendarView of every mailbox in
//! the same window at the same concurrency.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ews_client::{AuthConfig, EwsClient, ServerConfig};
use ews_proto::ops::FindItem;
use ews_proto::shape::{BaseShape, ItemShape};
use ews_proto::soap::{ConnectingSid, ExchangeVersion};
use ews_proto::values::DateTime;
use ews_proto::{Body, Envelope, FolderId, Header, SmtpAddress};
use secrecy::SecretString;

use crate::procs::{DOMAIN, SVC, SVC_PASSWORD};

/// The outcome of one way of fetching.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// Mailboxes fetched.
    pub mailboxes: u64,
    /// Calendar items returned in all.
    pub items: u64,
    /// Mailboxes whose fetch failed.
    pub errors: u64,
    /// Wall time of the whole fetch.
    pub elapsed: Duration,
}

impl Fetch {
    /// Mailboxes per second.
    pub fn throughput(&self) -> f64 {
        self.mailboxes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The fetch window: 30 days back, 60 days ahead of `now`, whole seconds.
pub fn window(now: jiff::Timestamp) -> (jiff::Timestamp, jiff::Timestamp) {
    let now = jiff::Timestamp::from_second(now.as_second()).expect("a valid second");
    (now - jiff::SignedDuration::from_hours(30 * 24), now + jiff::SignedDuration::from_hours(60 * 24))
}

fn mailbox(k: usize) -> String {
    format!("user{k}@{DOMAIN}")
}

fn calendar_view(start: jiff::Timestamp, end: jiff::Timestamp) -> FindItem {
    FindItem::calendar_view(
        FolderId::calendar(),
        DateTime::utc(start),
        DateTime::utc(end),
        ItemShape::new(BaseShape::AllProperties),
    )
}

/// Runs `work(k)` for k in 1..=n on `concurrency` workers; returns (items, errors, elapsed).
async fn drive<F, Fut>(n: usize, concurrency: usize, work: F) -> Fetch
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<u64>> + Send,
{
    let next = Arc::new(AtomicUsize::new(1));
    let items = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let work = Arc::new(work);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (next, items, errors, work) = (next.clone(), items.clone(), errors.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k > n {
                    break;
                }
                match work(k).await {
                    Ok(c) => {
                        items.fetch_add(c, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("exbridge-bench: calendar fetch of {}: {e:#}", mailbox(k));
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Fetch {
        mailboxes: n as u64,
        items: items.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    }
}

/// CalendarView of user1…userN through `ews_client::EwsClient` with `concurrency` requests in
/// flight (Basic, impersonation).
pub async fn exbridge_client(
    ews_url: &str,
    n: usize,
    concurrency: usize,
    (start, end): (jiff::Timestamp, jiff::Timestamp),
) -> Result<Fetch> {
    let auth = AuthConfig::Basic { username: SVC.into(), password: SecretString::from(SVC_PASSWORD) };
    let mut cfg = ServerConfig::new("sim", ews_url.parse().context("the EWS URL")?, auth);
    cfg.max_concurrency = concurrency;
    let client = EwsClient::new(cfg).context("build the EWS client")?;
    Ok(drive(n, concurrency, move |k| {
        let client = client.clone();
        async move {
            let smtp = SmtpAddress::parse(&mailbox(k)).map_err(anyhow::Error::msg)?;
            let resp = client.call(Some(&smtp), calendar_view(start, end)).await?;
            let msg = resp.messages.first().context("no response message")?;
            if !msg.status.is_success() {
                bail!("{:?}", msg.status);
            }
            Ok(msg.items().len() as u64)
        }
    })
    .await)
}

/// The request bytes `EwsClient` would send for mailbox `k`'s CalendarView.
fn request_bytes(k: usize, start: jiff::Timestamp, end: jiff::Timestamp) -> String {
    let header = Header {
        request_server_version: Some(ExchangeVersion::Exchange2016),
        impersonation: Some(ConnectingSid::SmtpAddress(mailbox(k))),
        ..Header::default()
    };
    let body: Body = calendar_view(start, end).into();
    Envelope::new(header, body).to_xml_string()
}

/// The simulator's ceiling: the same CalendarView requests, prepared up front, posted by a bare
/// reqwest loop (keep-alive, Basic) with `concurrency` in flight; responses read, not parsed.
pub async fn ceiling(
    ews_url: &str,
    n: usize,
    concurrency: usize,
    (start, end): (jiff::Timestamp, jiff::Timestamp),
) -> Result<Fetch> {
    let bodies: Arc<Vec<String>> = Arc::new((1..=n).map(|k| request_bytes(k, start, end)).collect());
    let http =
        reqwest::Client::builder().pool_max_idle_per_host(concurrency).timeout(Duration::from_secs(60)).build()?;
    let url = ews_url.to_string();
    Ok(drive(n, concurrency, move |k| {
        let (http, url, bodies) = (http.clone(), url.clone(), bodies.clone());
        async move {
            let r = http
                .post(&url)
                .basic_auth(SVC, Some(SVC_PASSWORD))
                .header("content-type", "text/xml; charset=utf-8")
                .header("soapaction", "\"http://schemas.microsoft.com/exchange/services/2006/messages/FindItem\"")
                .body(bodies[k - 1].clone())
                .send()
                .await?;
            let status = r.status();
            let text = r.bytes().await?;
            if !status.is_success() {
                bail!("HTTP {status}");
            }
            Ok(count(&text, b"<t:CalendarItem>") + count(&text, b"<t:CalendarItem "))
        }
    })
    .await)
}

fn count(hay: &[u8], needle: &[u8]) -> u64 {
    hay.windows(needle.len()).filter(|w| *w == needle).count() as u64
}

/// exchangelib's `account.calendar.view(start, end)` for every mailbox on `concurrency` threads
/// (`python/calendar_view.py`), timed by the script around the fetch alone.
pub async fn exchangelib(
    python: &Path,
    script: &Path,
    ews_url: &str,
    n: usize,
    concurrency: usize,
    (start, end): (jiff::Timestamp, jiff::Timestamp),
) -> Result<Fetch> {
    let run = tokio::process::Command::new(python)
        .arg(script)
        .args([ews_url, SVC, SVC_PASSWORD, DOMAIN, &n.to_string(), &concurrency.to_string()])
        .args([start.to_string(), end.to_string()])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(3600), run)
        .await
        .context("exchangelib did not finish within an hour")?
        .with_context(|| format!("run {} {}", python.display(), script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("exchangelib script failed ({}):\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).context("no JSON line from the exchangelib script")?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    Ok(Fetch {
        mailboxes: v["mailboxes"].as_u64().unwrap_or(0),
        items: v["items"].as_u64().unwrap_or(0),
        errors: v["errors"].as_u64().unwrap_or(0),
        elapsed: Duration::from_secs_f64(v["seconds"].as_f64().unwrap_or(0.0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_posts_a_calendar_view_for_the_impersonated_mailbox() {
        let (s, e) = window("2026-01-15T10:00:00Z".parse().unwrap());
        let xml = request_bytes(7, s, e);
        assert!(xml.contains("user7@contoso.test"), "{xml}");
        assert!(xml.contains("CalendarView") && xml.contains("2025-12-16T10:00:00Z"), "{xml}");
        assert!(xml.contains("2026-03-16T10:00:00Z"), "{xml}");
    }
}
