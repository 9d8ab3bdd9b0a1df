//! What the client needs to know about one Exchange server: where it is, how to sign in, how
//! to reach it (CA files, proxy) and how hard to push it (concurrency, timeouts, back-off).
//!
//! Secrets are [`SecretString`]s: `Debug` prints `[REDACTED]`, and nothing in this crate
//! formats them into a message.

use std::path::PathBuf;
use std::time::Duration;

use ews_proto::soap::ExchangeVersion;
use secrecy::SecretString;
use url::Url;

/// How the client authenticates to EWS.
#[derive(Debug, Clone)]
pub enum AuthConfig {
    /// HTTP Basic on every request (only sensible over TLS).
    Basic { username: String, password: SecretString },
    /// NTLMv2 on each connection (`DOMAIN\user` or a UPN `user@domain`), with channel binding
    /// (Extended Protection) when the connection is TLS. A server that offers only `Negotiate`
    /// gets the same NTLM tokens under that scheme.
    Ntlm { username: String, password: SecretString },
    /// OAuth2 client credentials (Bearer token).
    OAuth2(OAuth2Config),
}

impl AuthConfig {
    /// `Basic`, `NTLM` or `OAuth2`, as error messages and `check-connection` name it.
    pub fn method(&self) -> &'static str {
        match self {
            AuthConfig::Basic { .. } => "Basic",
            AuthConfig::Ntlm { .. } => "NTLM",
            AuthConfig::OAuth2(_) => "OAuth2",
        }
    }

    /// The account the error messages name: the user name, or the OAuth2 client id.
    pub fn account(&self) -> &str {
        match self {
            AuthConfig::Basic { username, .. } | AuthConfig::Ntlm { username, .. } => username,
            AuthConfig::OAuth2(o) => &o.client_id,
        }
    }
}

/// OAuth2 client-credentials grant.
#[derive(Debug, Clone)]
pub struct OAuth2Config {
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    /// e.g. `https://outlook.office365.com/.default`; omitted from the request when empty.
    pub scope: String,
}

/// An HTTP proxy reached with `CONNECT` (for https and http targets alike).
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// `http://host:port`, without credentials.
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

impl ProxyConfig {
    /// Parses `http://[user:password@]host[:port]`; credentials are taken out of the URL (and
    /// percent-decoded) so that the URL can be shown.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut url = Url::parse(s).map_err(|e| format!("proxy {:?}: {e}", redact_userinfo(s)))?;
        if url.scheme() != "http" {
            return Err(format!(
                "proxy {}: only http:// proxies are supported (CONNECT), not {}://",
                redact_userinfo(s),
                url.scheme()
            ));
        }
        if url.host_str().is_none() {
            return Err(format!("proxy {}: no host", redact_userinfo(s)));
        }
        let decode = |v: &str| percent_encoding_decode(v);
        let username = (!url.username().is_empty()).then(|| decode(url.username()));
        let password = url.password().map(|p| SecretString::from(decode(p)));
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(ProxyConfig { url, username, password })
    }

    pub(crate) fn host_port(&self) -> (String, u16) {
        (self.url.host_str().unwrap_or_default().to_string(), self.url.port_or_known_default().unwrap_or(8080))
    }
}

fn percent_encoding_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `scheme://host…` with any `user:password@` replaced by `***@`.
pub(crate) fn redact_userinfo(s: &str) -> String {
    match (s.find("://"), s.rfind('@')) {
        (Some(i), Some(j)) if j > i => format!("{}***@{}", &s[..i + 3], &s[j + 1..]),
        _ => s.to_string(),
    }
}

/// Time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect, proxy CONNECT and TLS handshake together.
    pub connect: Duration,
    /// One HTTP exchange, from sending the request to the last byte of the response. EWS stops
    /// a batch after one minute, so the default leaves room for that.
    pub request: Duration,
    /// A kept-alive connection unused for longer is closed rather than reused.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(10), request: Duration::from_secs(100), idle: Duration::from_secs(60) }
    }
}

/// Back-off and retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Retries after a transient failure (so at most `max_retries + 1` attempts per call).
    pub max_retries: u32,
    /// First retry delay for transient errors without a server hint; doubles each attempt,
    /// with full jitter.
    pub retry_base: Duration,
    /// Upper bound of that delay.
    pub retry_max: Duration,
    /// Pause when the server signals throttling without saying how long: `ErrorServerBusy`
    /// without `BackOffMilliseconds`, 503/429 without `Retry-After`.
    pub default_backoff: Duration,
    /// The longest a call waits for a server pause to end; a longer pause fails the call at
    /// once with a transient error that carries the remaining time (`retry_after`).
    pub max_wait: Duration,
    /// Successive successes that raise the concurrency limit by one (after it was halved).
    pub recover_after: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            max_retries: 3,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            default_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(300),
            recover_after: 20,
        }
    }
}

/// One Exchange server as the client sees it.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The configured name (`[[exchange]] name`), used in errors, logs and metrics.
    pub name: String,
    /// `https://host/EWS/Exchange.asmx`.
    pub ews_url: Url,
    pub auth: AuthConfig,
    /// Send `ExchangeImpersonation` for the target mailbox of each call.
    pub impersonation: bool,
    /// `RequestServerVersion`.
    pub server_version: ExchangeVersion,
    /// Extra trusted CA certificates (PEM files, each may hold several). TLS is always
    /// verified, against the system's roots, the Mozilla roots and these.
    pub ca_files: Vec<PathBuf>,
    pub proxy: Option<ProxyConfig>,
    /// Concurrent non-streaming requests to this server (the AIMD limiter's ceiling).
    pub max_concurrency: usize,
    pub timeouts: Timeouts,
    pub throttle: ThrottleConfig,
    /// Largest response body accepted (after decompression).
    pub max_response_bytes: usize,
}

impl ServerConfig {
    /// A configuration with the defaults: impersonation on, `Exchange2016`, 8 concurrent
    /// requests, default timeouts and back-off.
    pub fn new(name: impl Into<String>, ews_url: Url, auth: AuthConfig) -> Self {
        ServerConfig {
            name: name.into(),
            ews_url,
            auth,
            impersonation: true,
            server_version: ExchangeVersion::Exchange2016,
            ca_files: Vec::new(),
            proxy: None,
            max_concurrency: 8,
            timeouts: Timeouts::default(),
            throttle: ThrottleConfig::default(),
            max_response_bytes: 64 * 1024 * 1024,
        }
    }

    /// Checks what can be checked without the network.
    pub fn validate(&self) -> Result<(), String> {
        match self.ews_url.scheme() {
            "https" | "http" => {}
            other => return Err(format!("ews_url {}: scheme must be https (or http), not {other}", self.ews_url)),
        }
        if self.ews_url.host_str().is_none() {
            return Err(format!("ews_url {}: no host", self.ews_url));
        }
        if !self.ews_url.username().is_empty() || self.ews_url.password().is_some() {
            return Err("ews_url: put credentials in username/password, not in the URL".into());
        }
        if self.max_concurrency == 0 {
            return Err("max_concurrency must be at least 1".into());
        }
        match &self.auth {
            AuthConfig::Basic { username, .. } | AuthConfig::Ntlm { username, .. } if username.trim().is_empty() => {
                return Err("username is empty".into());
            }
            AuthConfig::OAuth2(o) => {
                if !matches!(o.token_url.scheme(), "https" | "http") {
                    return Err(format!("token_url {}: scheme must be https", o.token_url));
                }
                if o.client_id.trim().is_empty() {
                    return Err("client_id is empty".into());
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn proxy_credentials_leave_the_url() {
        let p = ProxyConfig::parse("http://us%40er:p%3Ass@proxy.contoso.test:3128").unwrap();
        assert_eq!(p.url.as_str(), "http://proxy.contoso.test:3128/");
        assert_eq!(p.username.as_deref(), Some("us@er"));
        assert_eq!(p.password.as_ref().unwrap().expose_secret(), "p:ss");
        assert!(!format!("{p:?}").contains("p:ss"));
        assert_eq!(p.host_port(), ("proxy.contoso.test".into(), 3128));
    }

    #[test]
    fn proxy_errors_hide_the_password() {
        let e = ProxyConfig::parse("socks5://u:secret@proxy:1080").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn debug_redacts_secrets() {
        let cfg = ServerConfig::new(
            "primary",
            Url::parse("https://mail.contoso.test/EWS/Exchange.asmx").unwrap(),
            AuthConfig::Ntlm { username: "CONTOSO\\svc".into(), password: SecretString::from("hunter2") },
        );
        let s = format!("{cfg:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("CONTOSO"));
        let o = AuthConfig::OAuth2(OAuth2Config {
            token_url: Url::parse("https://login.test/token").unwrap(),
            client_id: "app".into(),
            client_secret: SecretString::from("s3cr3t"),
            scope: String::new(),
        });
        assert!(!format!("{o:?}").contains("s3cr3t"));
    }

    #[test]
    fn validate_rejects_bad_values() {
        let auth = AuthConfig::Basic { username: "u".into(), password: SecretString::from("p") };
        let mut cfg = ServerConfig::new("x", Url::parse("ftp://h/EWS/Exchange.asmx").unwrap(), auth);
        assert!(cfg.validate().is_err());
        cfg.ews_url = Url::parse("https://h/EWS/Exchange.asmx").unwrap();
        assert!(cfg.validate().is_ok());
        cfg.max_concurrency = 0;
        assert!(cfg.validate().is_err());
    }
}
