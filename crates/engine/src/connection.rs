//! Connection tests of one `[[exchange]]` server: what `exbridge check-connection` prints and
//! what the admin UI's "Test connection" shows ([`crate::api::Connector::test_connection`]).
//!
//! [`check_server`] runs Autodiscover when `autodiscover_email` is set, builds a fresh
//! [`EwsClient`] and sends one probe request; the outcome is a [`ConnectionReport`] plus the
//! labelled lines the CLI prints. Failure causes are led by their kind (`DNS failure`,
//! `TLS problem`, `401 Unauthorized …`, `403 Forbidden`, `EWS error <code>`); they are built
//! from error messages that never carry a secret.

use std::time::{Duration, Instant};

use ews_client::{
    Autodiscover, AutodiscoverConfig, ErrorClass, ErrorKind, EwsClient, EwsError, ServerConfig, UserSettings,
    server_version_text,
};
use exbridge_config::ExchangeConfig;
use jiff::Timestamp;

use crate::api::ConnectionReport;

/// How one server's check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Every step succeeded.
    Ok,
    /// The server could not be reached or refused the request.
    Failed,
    /// The settings themselves are unusable (CA file, proxy, missing URL, …).
    ConfigError,
}

/// The result of [`check_server`].
#[derive(Debug, Clone)]
pub struct ServerCheck {
    /// The summary the admin UI shows.
    pub report: ConnectionReport,
    /// `(label, text)` lines as `exbridge check-connection` prints them (`autodiscover`, `url`,
    /// `auth`, `version`, `latency`, `note`, `cause`).
    pub lines: Vec<(&'static str, String)>,
    pub outcome: CheckOutcome,
}

impl ServerCheck {
    fn fail(&mut self, e: &EwsError) {
        let c = cause(e);
        self.lines.push(("cause", c.clone()));
        if self.outcome == CheckOutcome::Ok {
            self.outcome = outcome_of(e);
        }
        self.report.ok = false;
        self.report.error.get_or_insert(c);
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Connects to one server (after Autodiscover when `autodiscover_email` is set) and reports the
/// version, the authentication method and the latency, or the cause of the failure.
pub async fn check_server(x: &ExchangeConfig) -> ServerCheck {
    let mut r = ServerCheck {
        report: ConnectionReport {
            server: x.name.clone(),
            ok: true,
            ews_url: None,
            version: None,
            auth: x.auth.as_str().to_owned(),
            latency_ms: None,
            error: None,
            checked_at: Timestamp::now(),
        },
        lines: Vec::new(),
        outcome: CheckOutcome::Ok,
    };
    let mut ews_url = x.ews_url.clone();
    if let Some(email) = &x.autodiscover_email {
        match autodiscover(x, email).await {
            Ok((s, took)) => {
                r.lines.push((
                    "autodiscover",
                    format!("{} via {} {} in {}", s.ews_url, s.protocol, s.autodiscover_url, ms(took)),
                ));
                if let Some(configured) = &ews_url
                    && *configured != s.ews_url
                {
                    r.lines.push(("note", format!("ews_url {configured} is configured and used, not {}", s.ews_url)));
                }
                ews_url.get_or_insert(s.ews_url);
            }
            Err(e) => {
                r.fail(&e);
                if ews_url.is_none() {
                    return r;
                }
            }
        }
    }
    let Some(url) = ews_url else {
        let c = "configuration: neither ews_url nor autodiscover_email is set".to_owned();
        r.lines.push(("cause", c.clone()));
        r.outcome = CheckOutcome::ConfigError;
        r.report.ok = false;
        r.report.error = Some(c);
        return r;
    };
    r.report.ews_url = Some(url.to_string());
    let client = match ServerConfig::from_exchange(x, url.clone()).and_then(EwsClient::new) {
        Ok(c) => c,
        Err(e) => {
            r.fail(&e);
            return r;
        }
    };
    let cfg = client.config();
    r.lines.push(("url", url.to_string()));
    r.lines.push(("auth", format!("{} as {}", cfg.auth.method(), cfg.auth.account())));
    match client.check_connection(None).await {
        Ok(check) => {
            r.report.version = check.server_version.as_ref().map(server_version_text);
            let version =
                r.report.version.clone().unwrap_or_else(|| "unknown (no ServerVersionInfo in the answer)".into());
            r.lines.push(("version", version));
            r.lines.push(("latency", ms(check.latency)));
            r.report.latency_ms = Some(u64::try_from(check.latency.as_millis()).unwrap_or(u64::MAX));
            if let Some(note) = check.note {
                r.lines.push(("note", format!("the probe answered {note} (the connection and sign-in work)")));
            }
        }
        Err(e) => r.fail(&e),
    }
    r
}

async fn autodiscover(x: &ExchangeConfig, email: &str) -> Result<(UserSettings, Duration), EwsError> {
    let address = ews_proto::SmtpAddress::parse(email)
        .map_err(|m| EwsError::new(ErrorClass::Fatal, ErrorKind::Config, format!("autodiscover_email: {m}")))?;
    let ad = Autodiscover::new(AutodiscoverConfig::from_exchange(x)?)?;
    let started = Instant::now();
    let s = ad.discover(&address).await?;
    Ok((s, started.elapsed()))
}

fn outcome_of(e: &EwsError) -> CheckOutcome {
    if *e.kind() == ErrorKind::Config { CheckOutcome::ConfigError } else { CheckOutcome::Failed }
}

/// The failure, led by what kind of problem it is (`connection refused: …`, `401 Unauthorized
/// (wrong credentials or method): …`, `EWS error ErrorAccessDenied: …`).
pub fn cause(e: &EwsError) -> String {
    let msg = e.message();
    let what = match e.kind() {
        ErrorKind::Dns => "DNS failure".to_string(),
        ErrorKind::Connect if msg.to_ascii_lowercase().contains("refused") => "connection refused".to_string(),
        ErrorKind::Connect => "cannot connect".to_string(),
        ErrorKind::Tls => "TLS problem".to_string(),
        ErrorKind::Timeout => "timeout".to_string(),
        ErrorKind::Proxy => "proxy problem".to_string(),
        ErrorKind::Unauthorized => "401 Unauthorized (wrong credentials or method)".to_string(),
        ErrorKind::Forbidden => "403 Forbidden".to_string(),
        ErrorKind::NotFound => "wrong EWS path (404)".to_string(),
        ErrorKind::Http if msg.contains("not a SOAP envelope") => "not an EWS endpoint".to_string(),
        ErrorKind::Http => match e.http_status() {
            Some(s) => format!("HTTP {s}"),
            None => "HTTP problem".to_string(),
        },
        ErrorKind::OAuth => "OAuth2 token request failed".to_string(),
        ErrorKind::Throttled => "the server is busy (throttling)".to_string(),
        ErrorKind::Autodiscover => "Autodiscover failed".to_string(),
        ErrorKind::Config => "configuration".to_string(),
        ErrorKind::Fault | ErrorKind::Response => match e.response_code() {
            Some(code) => format!("EWS error {code}"),
            None => "EWS error".to_string(),
        },
        _ => format!("{:?}", e.kind()),
    };
    format!("{what}: {msg}")
}
