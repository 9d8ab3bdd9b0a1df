//! `exbridge check-connection --config FILE`: connects to every `[[exchange]]` server (after
//! Autodiscover when `autodiscover_email` is set) and reports, per server, the version, the
//! authentication method and the latency, or the precise cause of the failure.
//!
//! Exit codes (contract §1): 0 when every server answered, 1 when one failed, 2 when the
//! configuration is invalid (including a CA file or proxy the client cannot use).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ews_client::{
    Autodiscover, AutodiscoverConfig, ErrorKind, EwsClient, EwsError, ServerConfig, UserSettings, server_version_text,
};
use exbridge_config::{Config, ExchangeConfig};

/// What happened with one server.
struct Report {
    name: String,
    lines: Vec<(&'static str, String)>,
    outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Failed,
    ConfigError,
}

pub fn run(path: &Path) -> ExitCode {
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("exbridge check-connection: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let reports = rt.block_on(async {
        let tasks: Vec<_> =
            cfg.exchange.iter().cloned().map(|x| tokio::spawn(async move { check(&x).await })).collect();
        let mut out = Vec::new();
        for (t, x) in tasks.into_iter().zip(&cfg.exchange) {
            out.push(t.await.unwrap_or_else(|e| Report {
                name: x.name.clone(),
                lines: vec![("cause", format!("the check crashed: {e}"))],
                outcome: Outcome::Failed,
            }));
        }
        out
    });
    let mut text = String::new();
    for r in &reports {
        let status = match r.outcome {
            Outcome::Ok => "OK",
            Outcome::Failed => "FAILED",
            Outcome::ConfigError => "CONFIGURATION ERROR",
        };
        let _ = writeln!(text, "{}: {status}", r.name);
        for (k, v) in &r.lines {
            let _ = writeln!(text, "  {:<14}{}", format!("{k}:"), v.replace('\n', "\n                "));
        }
    }
    let ok = reports.iter().filter(|r| r.outcome == Outcome::Ok).count();
    let _ = writeln!(text, "{ok} of {} Exchange server(s) OK", reports.len());
    print!("{text}");
    if reports.iter().any(|r| r.outcome == Outcome::ConfigError) {
        ExitCode::from(2)
    } else if ok == reports.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

async fn check(x: &ExchangeConfig) -> Report {
    let mut r = Report { name: x.name.clone(), lines: Vec::new(), outcome: Outcome::Ok };
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
                r.lines.push(("cause", cause(&e)));
                r.outcome = outcome_of(&e);
                if ews_url.is_none() {
                    return r;
                }
            }
        }
    }
    let Some(url) = ews_url else {
        r.lines.push(("cause", "configuration: neither ews_url nor autodiscover_email is set".into()));
        r.outcome = Outcome::ConfigError;
        return r;
    };
    let client = match ServerConfig::from_exchange(x, url.clone()).and_then(EwsClient::new) {
        Ok(c) => c,
        Err(e) => {
            r.lines.push(("cause", cause(&e)));
            r.outcome = outcome_of(&e);
            return r;
        }
    };
    let cfg = client.config();
    r.lines.push(("url", url.to_string()));
    r.lines.push(("auth", format!("{} as {}", cfg.auth.method(), cfg.auth.account())));
    match client.check_connection(None).await {
        Ok(check) => {
            let version = check
                .server_version
                .as_ref()
                .map(server_version_text)
                .unwrap_or_else(|| "unknown (no ServerVersionInfo in the answer)".into());
            r.lines.push(("version", version));
            r.lines.push(("latency", ms(check.latency)));
            if let Some(note) = check.note {
                r.lines.push(("note", format!("the probe answered {note} (the connection and sign-in work)")));
            }
        }
        Err(e) => {
            r.lines.push(("cause", cause(&e)));
            if r.outcome == Outcome::Ok {
                r.outcome = outcome_of(&e);
            }
        }
    }
    r
}

async fn autodiscover(x: &ExchangeConfig, email: &str) -> Result<(UserSettings, Duration), EwsError> {
    let address = ews_proto::SmtpAddress::parse(email).map_err(|m| {
        EwsError::new(ews_client::ErrorClass::Fatal, ErrorKind::Config, format!("autodiscover_email: {m}"))
    })?;
    let ad = Autodiscover::new(AutodiscoverConfig::from_exchange(x)?)?;
    let started = Instant::now();
    let s = ad.discover(&address).await?;
    Ok((s, started.elapsed()))
}

fn outcome_of(e: &EwsError) -> Outcome {
    if *e.kind() == ErrorKind::Config { Outcome::ConfigError } else { Outcome::Failed }
}

/// The failure, led by what kind of problem it is.
fn cause(e: &EwsError) -> String {
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
