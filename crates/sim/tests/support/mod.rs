//! Shared by the simulator's HTTP tests: a seeded simulator on 127.0.0.1:0 with a fixed anchor,
//! an EWS caller (Basic auth as the service user, impersonating a mailbox) that records every
//! response document it receives, so that a test can validate all of them against the schema
//! at the end ([`Sim::assert_all_valid`]) and compare them with the real samples
//! ([`assert_shape_like_sample`]).
//!
//! Use it from another test file with `mod support;` (each test binary has its own copy).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use ews_proto::soap::{Body, ConnectingSid, Envelope, ExchangeVersion, Header};
use ews_proto::xml::Element;
use exbridge_sim::config::SimConfig;
use exbridge_sim::ops::SimOperations;
use exbridge_sim::seed::{SeedConfig, seeded_store};
use exbridge_sim::server::{self, RunningSim};
use jiff::civil::{Date, date};

pub const DOMAIN: &str = "contoso.test";
pub const SVC: &str = "svc@contoso.test";
pub const SVC_PASSWORD: &str = "secret";
/// The fixed anchor of the seeded calendars.
pub const ANCHOR: Date = date(2026, 3, 16);

/// A running simulator and the documents its answers carried.
pub struct Sim {
    pub sim: RunningSim,
    pub client: reqwest::Client,
    docs: Arc<Mutex<Vec<(String, String)>>>,
}

impl Sim {
    /// 6 mailboxes × 40 events, seed 7, anchored on [`ANCHOR`].
    pub async fn start() -> Sim {
        Sim::start_with(6, 40).await
    }

    pub async fn start_with(mailboxes: u32, events: u32) -> Sim {
        Sim::start_configured(mailboxes, events, |_| {}).await
    }

    /// With changes to the configuration (heartbeat, connection-timeout unit, limits…).
    pub async fn start_configured(mailboxes: u32, events: u32, change: impl FnOnce(&mut SimConfig)) -> Sim {
        let mut config = SimConfig { mailboxes, events_per_mailbox: events, seed: 7, ..SimConfig::for_tests() };
        change(&mut config);
        let seed = SeedConfig::new(config.seed, mailboxes, events, DOMAIN).with_anchor(ANCHOR);
        let store = Arc::new(seeded_store(&seed).expect("seeding"));
        let ops = Arc::new(SimOperations::new(store.clone()));
        let sim = server::start_with(config, store, ops).await.expect("start the simulator");
        Sim { sim, client: reqwest::Client::new(), docs: Arc::new(Mutex::new(Vec::new())) }
    }

    pub fn store(&self) -> &Arc<exbridge_sim::Store> {
        self.sim.store()
    }

    /// Records a document received elsewhere (e.g. by a streaming reader).
    pub fn record(&self, label: impl Into<String>, xml: impl Into<String>) {
        self.docs.lock().unwrap().push((label.into(), xml.into()));
    }

    /// Every document recorded so far.
    pub fn docs(&self) -> Vec<(String, String)> {
        self.docs.lock().unwrap().clone()
    }

    /// Sends an operation impersonating `mailbox` (or as the service user alone) and returns
    /// the HTTP status and the parsed answer; the answer is recorded under `label`.
    pub async fn call(&self, label: &str, mailbox: Option<&str>, body: impl Into<Body>) -> (u16, Envelope) {
        let header = Header {
            request_server_version: Some(ExchangeVersion::Exchange2016),
            impersonation: mailbox.map(|m| ConnectingSid::PrimarySmtpAddress(m.to_string())),
            ..Header::default()
        };
        let xml = Envelope::new(header, body).to_xml_string();
        let (status, text) = self.raw(label, &xml).await;
        let env = Envelope::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{label}: unparsable answer {e}\n{text}"));
        (status, env)
    }

    /// Like [`Sim::call`], returning the body and asserting HTTP 200.
    pub async fn ok(&self, label: &str, mailbox: &str, body: impl Into<Body>) -> Body {
        let (status, env) = self.call(label, Some(mailbox), body).await;
        assert_eq!(status, 200, "{label}: {:?}", env.body);
        env.body
    }

    /// Posts a raw SOAP document to the EWS endpoint; the answer is recorded.
    pub async fn raw(&self, label: &str, xml: &str) -> (u16, String) {
        self.raw_to(label, &self.sim.ews_url(), xml, "text/xml; charset=utf-8").await
    }

    /// Posts to any path of the simulator with Basic auth; the answer is recorded.
    pub async fn raw_to(&self, label: &str, url: &str, xml: &str, content_type: &str) -> (u16, String) {
        let r = self
            .client
            .post(url)
            .basic_auth(SVC, Some(SVC_PASSWORD))
            .header("Content-Type", content_type)
            .body(xml.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        self.record(label, text.clone());
        (status, text)
    }

    /// Opens a GetStreamingEvents connection impersonating `mailbox` and reads its envelopes
    /// (each recorded) until `done` says so for one of them, the server ends the stream, or
    /// `limit` passes. Returns the envelopes as text.
    pub async fn stream(
        &self,
        label: &str,
        mailbox: &str,
        request: ews_proto::ops::GetStreamingEvents,
        limit: std::time::Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> Vec<String> {
        let header = Header {
            request_server_version: Some(ExchangeVersion::Exchange2016),
            impersonation: Some(ConnectingSid::PrimarySmtpAddress(mailbox.to_string())),
            ..Header::default()
        };
        let xml = Envelope::new(header, request).to_xml_string();
        let mut resp = self
            .client
            .post(self.sim.ews_url())
            .basic_auth(SVC, Some(SVC_PASSWORD))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(xml)
            .send()
            .await
            .unwrap();
        let mut splitter = ews_proto::stream::EnvelopeSplitter::new();
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
                Ok(Ok(Some(c))) => c,
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return out,
            };
            for doc in splitter.push(&chunk).expect("whole envelopes") {
                let text = String::from_utf8(doc).unwrap();
                self.record(format!("{label} #{}", out.len()), text.clone());
                let stop = done(&text);
                out.push(text);
                if stop {
                    return out;
                }
            }
        }
    }

    /// Validates every SOAP document recorded (EWS envelopes; Autodiscover and POX documents
    /// are skipped, they have their own schemas) in one `xmllint` run; returns how many.
    ///
    /// The one documented exception: GetStreamingEvents notifications carry `m:Notification`
    /// (messages namespace) as real Exchange writes it and exchangelib reads it, where the
    /// schema says `t:Notification`; they are validated after mapping that one element to the
    /// schema form ([`to_schema_form`]).
    pub fn assert_all_valid(&self) -> usize {
        let docs: Vec<(String, String)> =
            self.docs().into_iter().filter(|(_, x)| is_ews_envelope(x)).map(|(l, x)| (l, to_schema_form(&x))).collect();
        ews_schema_check::assert_all_valid(&docs);
        docs.len()
    }
}

/// Maps the Exchange wire form of GetStreamingEvents notifications
/// (`m:Notifications/m:Notification`) to the schema's (`m:Notifications/t:Notification`);
/// nothing else changes, and other documents are returned as they are (in GetEvents the
/// schema itself says `m:Notification`).
pub fn to_schema_form(xml: &str) -> String {
    if !xml.contains("GetStreamingEventsResponse") {
        return xml.to_string();
    }
    xml.replace("<m:Notification>", "<t:Notification>").replace("</m:Notification>", "</t:Notification>")
}

/// Whether a document is an EWS SOAP envelope (not Autodiscover, not POX).
pub fn is_ews_envelope(xml: &str) -> bool {
    xml.contains("schemas.xmlsoap.org/soap/envelope") && !xml.contains("exchange/2010/Autodiscover")
}

pub fn user(n: u32) -> String {
    format!("user{n}@{DOMAIN}")
}

/// Element paths (`/{ns}Local/...`, attributes excluded) of a document, below `s:Body`.
pub fn body_paths(xml: &str) -> BTreeSet<String> {
    let root = ews_proto::xml::parse(xml.as_bytes()).expect("parse");
    let mut out = BTreeSet::new();
    if let Some(body) = root.children.iter().find(|c| c.name == "Body") {
        for c in &body.children {
            walk(c, String::new(), &mut out);
        }
    }
    out
}

fn walk(el: &Element, prefix: String, out: &mut BTreeSet<String>) {
    let path = format!("{prefix}/{}", el.name);
    out.insert(path.clone());
    for c in &el.children {
        walk(c, path.clone(), out);
    }
}

/// The real sample's element paths (below `Body`) that `xml` lacks. Sample elements of
/// optional, data-dependent kinds can be excused with `optional` (path suffixes).
pub fn missing_sample_paths(xml: &str, sample: &str, optional: &[&str]) -> Vec<String> {
    let path = ews_schema_check::samples_dir().join(sample);
    let mut sample_xml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // One sample (Autodiscover GroupingInformation) lacks the final `>` of its last end tag.
    if !sample_xml.trim_end().ends_with('>') {
        sample_xml = format!("{}>", sample_xml.trim_end());
    }
    // The streaming sample lacks its closing `</s:Envelope>`.
    if ews_proto::xml::parse(sample_xml.as_bytes()).is_err() && sample_xml.contains("<s:Envelope") {
        sample_xml.push_str("</s:Envelope>");
    }
    let ours = body_paths(xml);
    body_paths(&sample_xml)
        .into_iter()
        .filter(|p| !ours.contains(p))
        .filter(|p| !optional.iter().any(|o| p.ends_with(o) || p.contains(&format!("{o}/"))))
        .collect()
}

/// Asserts that `xml` has every element path of the real sample (see [`missing_sample_paths`]).
#[track_caller]
pub fn assert_shape_like_sample(label: &str, xml: &str, sample: &str, optional: &[&str]) {
    let missing = missing_sample_paths(xml, sample, optional);
    assert!(missing.is_empty(), "{label}: elements of the sample {sample} missing: {missing:#?}\n{xml}");
}
