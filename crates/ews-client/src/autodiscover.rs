//! Autodiscover: from an email address to the mailbox's EWS URL, `GroupingInformation` (for
//! streaming affinity, DIGEST §3), display name and server version (DIGEST §10).
//!
//! # Candidates, in order
//! 1. With an explicit URL (`[[exchange]] autodiscover_url`): that URL only, SOAP
//!    (`…/autodiscover.svc`), then POX at the sibling `…/autodiscover.xml` (a URL ending in
//!    `.xml` is POX only).
//! 2. Otherwise SOAP `GetUserSettings` at `https://<domain>/autodiscover/autodiscover.svc`, then
//!    at `https://autodiscover.<domain>/autodiscover/autodiscover.svc`; then POX
//!    (`…/autodiscover.xml`) at the same two hosts (a host that could not be reached at all is
//!    not tried again); last, the unauthenticated `GET http://autodiscover.<domain>/autodiscover/autodiscover.xml`
//!    whose redirect to an `https` URL is followed (no credentials are ever sent over it). DNS
//!    SRV records and Active Directory SCP lookups are not used.
//!
//! # Redirects
//! HTTP 301/302/303/307/308 resend to `Location`; SOAP `RedirectUrl` / POX `redirectUrl`
//! resend to the new URL; SOAP `RedirectAddress` / POX `redirectAddr` start again with the new
//! address (its own domain's candidates, or the explicit URL). At most
//! [`AutodiscoverConfig::max_redirects`] (10) redirects of all kinds; a URL or address seen
//! twice is a loop and stops at once. A redirect never goes from `https` to `http`.
//!
//! # Authentication
//! With the server's own method (Basic, NTLM on the candidate's connection, OAuth2 token),
//! through the same proxy and TLS settings. A 401 at one candidate does not stop the search:
//! another one may accept the credentials.
//!
//! # Caching
//! Results are cached per address for [`AutodiscoverConfig::cache_ttl`]; the endpoint that
//! answered is cached per domain and tried first for the domain's next address.
//! [`Autodiscover::discover_many`] asks a known SOAP endpoint for up to 100 users per request.
//!
//! Errors name every candidate tried and why it failed ([`AutodiscoverError`]).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ews_proto::SmtpAddress;
use ews_proto::autodiscover::{
    AutodiscoverErrorCode, AutodiscoverResult, DEFAULT_SETTINGS, PoxAutodiscoverRequest, PoxAutodiscoverResponse,
    PoxProtocolType, Redirect, SettingsMap, UserResponse, soap_request,
};
use ews_proto::soap::{Body, Envelope};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use url::Url;

use crate::config::{AuthConfig, ProxyConfig, ServerConfig, Timeouts};
use crate::conn::Connector;
use crate::error::{ErrorClass, ErrorKind, EwsError};
use crate::transport::{HttpResponse, Signer, request_once};

/// `SOAPAction` of a SOAP Autodiscover `GetUserSettings` request.
const SOAP_ACTION: &str = "\"http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings\"";
/// Users per SOAP `GetUserSettings` request (Exchange's limit).
pub const MAX_USERS_PER_REQUEST: usize = 100;

/// How to run Autodiscover for one configured server.
#[derive(Debug, Clone)]
pub struct AutodiscoverConfig {
    /// The configured server name (`[[exchange]] name`), for messages.
    pub name: String,
    pub auth: AuthConfig,
    pub ca_files: Vec<PathBuf>,
    pub proxy: Option<ProxyConfig>,
    pub timeouts: Timeouts,
    /// An explicit Autodiscover URL; when set, no URL is derived from the address's domain.
    pub url: Option<Url>,
    /// How long a result stays cached (per address, and the endpoint per domain).
    pub cache_ttl: Duration,
    /// Redirects of all kinds allowed per lookup.
    pub max_redirects: usize,
    /// Fall back to POX (`autodiscover.xml`) when SOAP fails.
    pub try_pox: bool,
    /// Last resort for a domain: the unauthenticated `http://autodiscover.<domain>` redirect.
    pub try_http_redirect: bool,
    pub max_response_bytes: usize,
    /// Concurrent requests of [`Autodiscover::discover_many`].
    pub concurrency: usize,
}

impl AutodiscoverConfig {
    /// Defaults: no explicit URL, one hour cache, 10 redirects, POX and the http redirect on.
    pub fn new(name: impl Into<String>, auth: AuthConfig) -> Self {
        AutodiscoverConfig {
            name: name.into(),
            auth,
            ca_files: Vec::new(),
            proxy: None,
            timeouts: Timeouts { request: Duration::from_secs(30), ..Timeouts::default() },
            url: None,
            cache_ttl: Duration::from_secs(3600),
            max_redirects: 10,
            try_pox: true,
            try_http_redirect: true,
            max_response_bytes: 4 * 1024 * 1024,
            concurrency: 4,
        }
    }

    /// The Autodiscover settings of a server: same account, CA files, proxy and timeouts.
    pub fn for_server(cfg: &ServerConfig, url: Option<Url>) -> Self {
        AutodiscoverConfig {
            ca_files: cfg.ca_files.clone(),
            proxy: cfg.proxy.clone(),
            timeouts: cfg.timeouts,
            url,
            ..AutodiscoverConfig::new(cfg.name.clone(), cfg.auth.clone())
        }
    }
}

/// Which Autodiscover service answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AutodiscoverProtocol {
    /// `GetUserSettings` at `autodiscover.svc`.
    Soap,
    /// `autodiscover.xml`.
    Pox,
}

impl fmt::Display for AutodiscoverProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AutodiscoverProtocol::Soap => "SOAP",
            AutodiscoverProtocol::Pox => "POX",
        })
    }
}

/// What Autodiscover found for an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSettings {
    /// The address asked for.
    pub email: SmtpAddress,
    /// The address the settings belong to (another one after a `RedirectAddress`).
    pub resolved_email: SmtpAddress,
    /// The EWS URL to use: `ExternalEwsUrl`, else `InternalEwsUrl` (POX: `EXCH`, else `EXPR`).
    pub ews_url: Url,
    pub external_ews_url: Option<Url>,
    pub internal_ews_url: Option<Url>,
    /// `GroupingInformation` (SOAP, Exchange 2013+): mailboxes with the same value share a
    /// mailbox server and may share a streaming connection.
    pub grouping_information: Option<String>,
    /// `UserDisplayName` / POX `User/DisplayName`.
    pub display_name: Option<String>,
    /// `CasVersion` (e.g. `15.01.2507.006`), or POX `Protocol/ServerVersion` (hex).
    pub cas_version: Option<String>,
    /// `EwsSupportedSchemas`.
    pub ews_supported_schemas: Vec<String>,
    /// The endpoint that answered.
    pub autodiscover_url: Url,
    pub protocol: AutodiscoverProtocol,
}

/// One candidate tried, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub protocol: AutodiscoverProtocol,
    /// The URL (`GET http://…` for the unauthenticated redirect probe).
    pub url: String,
    /// The address asked for at this step.
    pub email: String,
    /// Why it did not give settings (`HTTP 302 to …` for a redirect followed).
    pub outcome: String,
    /// The client error kind when the request itself failed (DNS, TLS, 401, …).
    pub kind: Option<ErrorKind>,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} for {}: {}", self.protocol, self.url, self.email, self.outcome)
    }
}

/// Autodiscover found nothing: why, and every candidate tried.
#[derive(Debug, Clone)]
pub struct AutodiscoverError {
    pub server: String,
    pub email: String,
    /// The overall reason (`no candidate answered`, `redirect loop …`, `more than 10 redirects`).
    pub reason: String,
    pub attempts: Vec<Attempt>,
    pub class: ErrorClass,
}

impl fmt::Display for AutodiscoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Autodiscover for {} failed: {}", self.email, self.reason)?;
        if !self.attempts.is_empty() {
            f.write_str("; tried:")?;
            for (i, a) in self.attempts.iter().enumerate() {
                write!(f, "\n  {}. {a}", i + 1)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for AutodiscoverError {}

impl From<AutodiscoverError> for EwsError {
    fn from(e: AutodiscoverError) -> Self {
        // With a single cause (one candidate), keep its kind so that callers can tell DNS
        // from TLS from 401.
        let kinds: HashSet<_> = e.attempts.iter().filter_map(|a| a.kind.clone()).collect();
        let kind = match (kinds.len(), e.attempts.iter().all(|a| a.kind.is_some())) {
            (1, true) => kinds.into_iter().next().unwrap_or(ErrorKind::Autodiscover),
            _ => ErrorKind::Autodiscover,
        };
        let server = e.server.clone();
        EwsError::new(e.class, kind, e.to_string()).in_context(&server, "Autodiscover", None)
    }
}

struct Cached<T> {
    value: T,
    at: Instant,
}

struct Inner {
    cfg: AutodiscoverConfig,
    connector: Connector,
    signer: Arc<Signer>,
    by_address: Mutex<HashMap<String, Cached<UserSettings>>>,
    /// Domain → the endpoint that answered last.
    by_domain: Mutex<HashMap<String, Cached<(AutodiscoverProtocol, Url)>>>,
    requests: std::sync::atomic::AtomicU64,
}

/// Autodiscover for one server's account. Cheap to clone (shared cache).
#[derive(Clone)]
pub struct Autodiscover {
    inner: Arc<Inner>,
}

impl fmt::Debug for Autodiscover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Autodiscover").field("server", &self.inner.cfg.name).field("url", &self.inner.cfg.url).finish()
    }
}

/// What one endpoint said.
enum Step {
    Found(Box<UserSettings>),
    /// Start again with this address.
    Restart(String),
    /// Nothing here; `unreachable` when the host could not be reached at all.
    Failed {
        unreachable: bool,
    },
    /// Stop the lookup (loop, too many redirects).
    Abort(String),
}

/// The state of one lookup.
struct Lookup {
    email: String,
    redirects: usize,
    visited: HashSet<(AutodiscoverProtocol, String, String)>,
    addresses: Vec<String>,
    attempts: Vec<Attempt>,
    transient: bool,
}

impl Autodiscover {
    /// Builds the TLS configuration and the authenticator; opens nothing yet.
    pub fn new(cfg: AutodiscoverConfig) -> Result<Autodiscover, EwsError> {
        let ctx = |e: EwsError| e.in_context(&cfg.name, "Autodiscover", None);
        let tls = crate::tls::client_config(&cfg.ca_files).map_err(ctx)?;
        let connector = Connector { tls, proxy: cfg.proxy.clone(), connect_timeout: cfg.timeouts.connect };
        let signer = Arc::new(Signer::new(&cfg.auth, &connector, cfg.timeouts, cfg.max_response_bytes).map_err(ctx)?);
        Ok(Self::with_parts(cfg, connector, signer))
    }

    /// Autodiscover with a client's connections settings and authenticator (its OAuth2 token
    /// is shared).
    pub fn for_client(client: &crate::EwsClient, url: Option<Url>) -> Autodiscover {
        let cfg = AutodiscoverConfig::for_server(client.config(), url);
        let t = client.transport();
        Self::with_parts(cfg, t.connector().clone(), t.signer().clone())
    }

    fn with_parts(cfg: AutodiscoverConfig, connector: Connector, signer: Arc<Signer>) -> Autodiscover {
        Autodiscover {
            inner: Arc::new(Inner {
                cfg,
                connector,
                signer,
                by_address: Mutex::new(HashMap::new()),
                by_domain: Mutex::new(HashMap::new()),
                requests: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    pub fn config(&self) -> &AutodiscoverConfig {
        &self.inner.cfg
    }

    /// HTTP requests sent so far (for tests and diagnostics).
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets what is cached for `email` (e.g. after `ErrorProxyRequestNotAllowed`: the
    /// mailbox moved).
    pub fn forget(&self, email: &SmtpAddress) {
        self.inner.by_address.lock().unwrap_or_else(|e| e.into_inner()).remove(&email.normalized());
    }

    /// The cached settings of `email`, if fresh.
    pub fn cached(&self, email: &SmtpAddress) -> Option<UserSettings> {
        let map = self.inner.by_address.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&email.normalized()).filter(|c| c.at.elapsed() < self.inner.cfg.cache_ttl).map(|c| c.value.clone())
    }

    fn domain_endpoint(&self, domain: &str) -> Option<(AutodiscoverProtocol, Url)> {
        let map = self.inner.by_domain.lock().unwrap_or_else(|e| e.into_inner());
        map.get(domain).filter(|c| c.at.elapsed() < self.inner.cfg.cache_ttl).map(|c| c.value.clone())
    }

    fn remember(&self, s: &UserSettings) {
        let now = Instant::now();
        self.inner
            .by_address
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.email.normalized(), Cached { value: s.clone(), at: now });
        self.inner
            .by_domain
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.resolved_email.domain(), Cached { value: (s.protocol, s.autodiscover_url.clone()), at: now });
    }

    /// The settings of `email`: from the cache, or by running Autodiscover.
    pub async fn discover(&self, email: &SmtpAddress) -> Result<UserSettings, AutodiscoverError> {
        if let Some(s) = self.cached(email) {
            return Ok(s);
        }
        let mut lk = Lookup {
            email: email.as_str().to_string(),
            redirects: 0,
            visited: HashSet::new(),
            addresses: vec![email.normalized()],
            attempts: Vec::new(),
            transient: false,
        };
        let result = self.run(&mut lk).await;
        match result {
            Ok(mut s) => {
                s.email = email.clone();
                self.remember(&s);
                Ok(s)
            }
            Err(reason) => Err(AutodiscoverError {
                server: self.inner.cfg.name.clone(),
                email: email.to_string(),
                reason,
                class: if lk.transient { ErrorClass::Transient } else { ErrorClass::Fatal },
                attempts: lk.attempts,
            }),
        }
    }

    /// The candidates for `email` (see the module documentation), in order.
    pub fn candidates(&self, email: &str) -> Vec<(AutodiscoverProtocol, Url)> {
        candidates(self.inner.cfg.url.as_ref(), email, self.inner.cfg.try_pox)
    }

    async fn run(&self, lk: &mut Lookup) -> Result<UserSettings, String> {
        'restart: loop {
            let Ok(addr) = SmtpAddress::parse(&lk.email) else {
                return Err(format!("{:?} is not an email address", lk.email));
            };
            let domain = addr.domain();
            let mut list = self.candidates(&lk.email);
            if self.inner.cfg.url.is_none()
                && let Some(known) = self.domain_endpoint(&domain)
            {
                list.retain(|c| *c != known);
                list.insert(0, known);
            }
            let mut unreachable: HashSet<String> = HashSet::new();
            for (proto, url) in list {
                let origin = origin_key(&url);
                if unreachable.contains(&origin) {
                    continue;
                }
                match self.try_endpoint(lk, proto, url).await {
                    Step::Found(s) => return Ok(*s),
                    Step::Restart(new) => {
                        if let Some(r) = self.restart_with(lk, new) {
                            return Err(r);
                        }
                        continue 'restart;
                    }
                    Step::Failed { unreachable: true } => {
                        unreachable.insert(origin);
                    }
                    Step::Failed { unreachable: false } => {}
                    Step::Abort(reason) => return Err(reason),
                }
            }
            if self.inner.cfg.url.is_none() && self.inner.cfg.try_http_redirect {
                match self.http_redirect_probe(lk, &domain).await {
                    Some(Step::Found(s)) => return Ok(*s),
                    Some(Step::Restart(new)) => {
                        if let Some(r) = self.restart_with(lk, new) {
                            return Err(r);
                        }
                        continue 'restart;
                    }
                    Some(Step::Abort(reason)) => return Err(reason),
                    _ => {}
                }
            }
            return Err(if lk.attempts.is_empty() {
                "no candidate to try".to_string()
            } else {
                "no candidate gave the settings".to_string()
            });
        }
    }

    /// Accepts a `RedirectAddress`; returns the reason to stop, if any.
    fn restart_with(&self, lk: &mut Lookup, new: String) -> Option<String> {
        let norm = new.trim().to_ascii_lowercase();
        if lk.addresses.contains(&norm) {
            lk.addresses.push(norm);
            return Some(format!("redirect loop between addresses {}", lk.addresses.join(" → ")));
        }
        lk.addresses.push(norm);
        lk.email = new.trim().to_string();
        None
    }

    /// Counts a redirect; the reason to stop when there were too many.
    fn count_redirect(&self, lk: &mut Lookup) -> Option<String> {
        lk.redirects += 1;
        (lk.redirects > self.inner.cfg.max_redirects)
            .then(|| format!("more than {} redirects", self.inner.cfg.max_redirects))
    }

    /// Asks one endpoint, following URL redirects (HTTP and Autodiscover ones).
    async fn try_endpoint(&self, lk: &mut Lookup, proto: AutodiscoverProtocol, mut url: Url) -> Step {
        loop {
            let email = lk.email.clone();
            if !lk.visited.insert((proto, url.to_string(), email.to_ascii_lowercase())) {
                let reason = format!("redirect loop: {proto} {url} for {email} was already asked");
                lk.attempts.push(attempt(proto, &url, &email, "asked before: redirect loop", None));
                return Step::Abort(reason);
            }
            let resp = match self.post(proto, &url, std::slice::from_ref(&email)).await {
                Ok(r) => r,
                Err(e) => {
                    let unreachable = matches!(e.kind(), ErrorKind::Dns | ErrorKind::Connect | ErrorKind::Tls);
                    lk.transient |= e.is_transient();
                    lk.attempts.push(attempt(proto, &url, &email, e.message(), Some(e.kind().clone())));
                    return Step::Failed { unreachable };
                }
            };
            if let Some(location) = redirect_location(&resp) {
                let next = match url.join(&location) {
                    Ok(n) => n,
                    Err(e) => {
                        lk.attempts.push(attempt(
                            proto,
                            &url,
                            &email,
                            &format!("HTTP {} to an invalid Location {location:?}: {e}", resp.status.as_u16()),
                            None,
                        ));
                        return Step::Failed { unreachable: false };
                    }
                };
                lk.attempts.push(attempt(
                    proto,
                    &url,
                    &email,
                    &format!("HTTP {} to {next}", resp.status.as_u16()),
                    None,
                ));
                if let Some(stop) = self.follow(lk, &url, &next) {
                    return Step::Abort(stop);
                }
                url = next;
                continue;
            }
            if !resp.status.is_success() {
                let s = resp.status;
                lk.transient |= matches!(s.as_u16(), 408 | 429 | 500..=599);
                let what = match s {
                    StatusCode::NOT_FOUND => "HTTP 404 Not Found: no Autodiscover service here".to_string(),
                    StatusCode::FORBIDDEN => "HTTP 403 Forbidden".to_string(),
                    _ => format!("HTTP {s}"),
                };
                let kind = match s {
                    StatusCode::NOT_FOUND => Some(ErrorKind::NotFound),
                    StatusCode::FORBIDDEN => Some(ErrorKind::Forbidden),
                    _ => Some(ErrorKind::Http),
                };
                lk.attempts.push(attempt(proto, &url, &email, &what, kind));
                return Step::Failed { unreachable: false };
            }
            let answer = match proto {
                AutodiscoverProtocol::Soap => read_soap(&resp.body),
                AutodiscoverProtocol::Pox => read_pox(&resp.body),
            };
            match answer {
                Answer::Settings(found) => match found.into_settings(&email, &url, proto) {
                    Ok(s) => return Step::Found(Box::new(s)),
                    Err(why) => {
                        lk.attempts.push(attempt(proto, &url, &email, &why, None));
                        return Step::Failed { unreachable: false };
                    }
                },
                Answer::Redirect(Redirect::Url(u)) => {
                    let next = match Url::parse(u.trim()) {
                        Ok(n) => n,
                        Err(e) => {
                            lk.attempts.push(attempt(
                                proto,
                                &url,
                                &email,
                                &format!("redirect to an invalid URL {u:?}: {e}"),
                                None,
                            ));
                            return Step::Failed { unreachable: false };
                        }
                    };
                    lk.attempts.push(attempt(proto, &url, &email, &format!("RedirectUrl to {next}"), None));
                    if let Some(stop) = self.follow(lk, &url, &next) {
                        return Step::Abort(stop);
                    }
                    url = next;
                }
                Answer::Redirect(Redirect::Address(a)) => {
                    lk.attempts.push(attempt(proto, &url, &email, &format!("RedirectAddress to {a}"), None));
                    if let Some(stop) = self.count_redirect(lk) {
                        return Step::Abort(stop);
                    }
                    if SmtpAddress::parse(&a).is_err() {
                        return Step::Abort(format!("redirect to {a:?}, which is not an email address"));
                    }
                    return Step::Restart(a);
                }
                Answer::Error { busy, text } => {
                    lk.transient |= busy;
                    lk.attempts.push(attempt(proto, &url, &email, &text, None));
                    return Step::Failed { unreachable: false };
                }
            }
        }
    }

    /// Checks a URL redirect from `from` to `to`; the reason to stop, if any.
    fn follow(&self, lk: &mut Lookup, from: &Url, to: &Url) -> Option<String> {
        if from.scheme() == "https" && to.scheme() != "https" {
            return Some(format!("{from} redirects to {to}: a redirect from https to http is not followed"));
        }
        self.count_redirect(lk)
    }

    /// The unauthenticated `GET http://autodiscover.<domain>/autodiscover/autodiscover.xml`:
    /// only a redirect to an `https` URL is used, then asked with POX.
    async fn http_redirect_probe(&self, lk: &mut Lookup, domain: &str) -> Option<Step> {
        let probe = Url::parse(&format!("http://autodiscover.{domain}/autodiscover/autodiscover.xml")).ok()?;
        let email = lk.email.clone();
        self.inner.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let anonymous = Signer::anonymous(self.inner.cfg.max_response_bytes);
        let resp = request_once(
            &self.inner.connector,
            &anonymous,
            &probe,
            Method::GET,
            HeaderMap::new(),
            Bytes::new(),
            self.inner.cfg.timeouts.request,
            self.inner.cfg.max_response_bytes,
        )
        .await;
        let label = format!("GET {probe}");
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                lk.attempts.push(Attempt {
                    protocol: AutodiscoverProtocol::Pox,
                    url: label,
                    email,
                    outcome: e.message().to_string(),
                    kind: Some(e.kind().clone()),
                });
                return None;
            }
        };
        let Some(next) = redirect_location(&resp).and_then(|l| probe.join(&l).ok()) else {
            lk.attempts.push(Attempt {
                protocol: AutodiscoverProtocol::Pox,
                url: label,
                email,
                outcome: format!("HTTP {} without a redirect", resp.status.as_u16()),
                kind: None,
            });
            return None;
        };
        if next.scheme() != "https" {
            lk.attempts.push(Attempt {
                protocol: AutodiscoverProtocol::Pox,
                url: label,
                email,
                outcome: format!("redirect to {next} ignored: only https targets are used"),
                kind: None,
            });
            return None;
        }
        lk.attempts.push(Attempt {
            protocol: AutodiscoverProtocol::Pox,
            url: label,
            email,
            outcome: format!("HTTP {} to {next}", resp.status.as_u16()),
            kind: None,
        });
        if let Some(stop) = self.count_redirect(lk) {
            return Some(Step::Abort(stop));
        }
        Some(self.try_endpoint(lk, AutodiscoverProtocol::Pox, next).await)
    }

    /// POSTs a request for `emails` (SOAP may carry several; POX one).
    async fn post(&self, proto: AutodiscoverProtocol, url: &Url, emails: &[String]) -> Result<HttpResponse, EwsError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/xml"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static(concat!("exbridge/", env!("CARGO_PKG_VERSION"))));
        let body = match proto {
            AutodiscoverProtocol::Soap => {
                headers.insert("soapaction", HeaderValue::from_static(SOAP_ACTION));
                let mut env =
                    soap_request(emails.first().map(String::as_str).unwrap_or(""), DEFAULT_SETTINGS, url.as_str());
                if let Body::GetUserSettingsRequest(r) = &mut env.body {
                    r.users = emails.to_vec();
                }
                env.to_xml_string()
            }
            AutodiscoverProtocol::Pox => {
                PoxAutodiscoverRequest::new(emails.first().cloned().unwrap_or_default()).to_xml_string()
            }
        };
        self.inner.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cfg = &self.inner.cfg;
        request_once(
            &self.inner.connector,
            &self.inner.signer,
            url,
            Method::POST,
            headers,
            Bytes::from(body),
            cfg.timeouts.request,
            cfg.max_response_bytes,
        )
        .await
    }

    /// The settings of many addresses, in the order given. Cached ones are answered at once;
    /// for a domain whose SOAP endpoint is known (or found with its first address), the others
    /// are asked up to [`MAX_USERS_PER_REQUEST`] per request; whatever a batch does not settle
    /// (a redirect, a user error, a failed request) is looked up on its own. When no endpoint
    /// of a domain answers at all, its other addresses fail with the same error without being
    /// tried again.
    pub async fn discover_many(&self, emails: &[SmtpAddress]) -> Vec<Result<UserSettings, AutodiscoverError>> {
        let mut out: Vec<Option<Result<UserSettings, AutodiscoverError>>> = vec![None; emails.len()];
        let mut by_domain: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in emails.iter().enumerate() {
            match self.cached(e) {
                Some(s) => out[i] = Some(Ok(s)),
                None => by_domain.entry(e.domain()).or_default().push(i),
            }
        }
        let sem = Arc::new(tokio::sync::Semaphore::new(self.inner.cfg.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (_, idx) in by_domain {
            let this = self.clone();
            let list: Vec<(usize, SmtpAddress)> = idx.iter().map(|&i| (i, emails[i].clone())).collect();
            let sem = sem.clone();
            tasks.spawn(async move { this.discover_domain(list, sem).await });
        }
        while let Some(r) = tasks.join_next().await {
            if let Ok(done) = r {
                for (i, res) in done {
                    out[i] = Some(res);
                }
            }
        }
        out.into_iter()
            .zip(emails)
            .map(|(r, e)| {
                r.unwrap_or_else(|| {
                    Err(AutodiscoverError {
                        server: self.inner.cfg.name.clone(),
                        email: e.to_string(),
                        reason: "the lookup task failed".into(),
                        attempts: Vec::new(),
                        class: ErrorClass::Transient,
                    })
                })
            })
            .collect()
    }

    async fn discover_domain(
        &self,
        mut list: Vec<(usize, SmtpAddress)>,
        sem: Arc<tokio::sync::Semaphore>,
    ) -> Vec<(usize, Result<UserSettings, AutodiscoverError>)> {
        let mut out = Vec::with_capacity(list.len());
        let domain = list[0].1.domain();
        if self.domain_endpoint(&domain).is_none() {
            let (i, first) = list.remove(0);
            let r = {
                let _p = sem.acquire().await;
                self.discover(&first).await
            };
            if let Err(e) = &r
                && self.domain_endpoint(&domain).is_none()
                && e.attempts.iter().all(|a| a.kind.is_some())
            {
                // No endpoint of the domain answered at all: the same for every address.
                for (j, addr) in list.drain(..) {
                    out.push((j, Err(AutodiscoverError { email: addr.to_string(), ..e.clone() })));
                }
            }
            out.push((i, r));
        }
        let mut single: Vec<(usize, SmtpAddress)> = Vec::new();
        match self.domain_endpoint(&domain) {
            Some((AutodiscoverProtocol::Soap, url)) if list.len() > 1 => {
                let mut batches = tokio::task::JoinSet::new();
                for chunk in list.chunks(MAX_USERS_PER_REQUEST) {
                    let chunk = chunk.to_vec();
                    let (this, url, sem) = (self.clone(), url.clone(), sem.clone());
                    batches.spawn(async move {
                        let _p = sem.acquire().await;
                        this.batch(&url, chunk).await
                    });
                }
                while let Some(r) = batches.join_next().await {
                    if let Ok((done, rest)) = r {
                        out.extend(done);
                        single.extend(rest);
                    }
                }
            }
            _ => single = list,
        }
        let mut singles = tokio::task::JoinSet::new();
        for (i, addr) in single {
            let (this, sem) = (self.clone(), sem.clone());
            singles.spawn(async move {
                let _p = sem.acquire().await;
                (i, this.discover(&addr).await)
            });
        }
        while let Some(r) = singles.join_next().await {
            if let Ok(v) = r {
                out.push(v);
            }
        }
        out
    }

    /// One SOAP request for several users; returns the settled ones and those to look up alone.
    async fn batch(
        &self,
        url: &Url,
        chunk: Vec<(usize, SmtpAddress)>,
    ) -> (Vec<(usize, Result<UserSettings, AutodiscoverError>)>, Vec<(usize, SmtpAddress)>) {
        let emails: Vec<String> = chunk.iter().map(|(_, e)| e.as_str().to_string()).collect();
        let resp = match self.post(AutodiscoverProtocol::Soap, url, &emails).await {
            Ok(r) if r.status.is_success() => r,
            _ => return (Vec::new(), chunk),
        };
        let users = match Envelope::parse(&resp.body).map(|e| e.body) {
            Ok(Body::GetUserSettingsResponse(r)) if r.error_code == AutodiscoverErrorCode::NoError => r.user_responses,
            _ => return (Vec::new(), chunk),
        };
        if users.len() != chunk.len() {
            return (Vec::new(), chunk);
        }
        let mut done = Vec::new();
        let mut rest = Vec::new();
        for ((i, addr), user) in chunk.into_iter().zip(users) {
            match user_answer(&user).into_settings_opt(addr.as_str(), url, AutodiscoverProtocol::Soap) {
                Some(mut s) => {
                    s.email = addr.clone();
                    self.remember(&s);
                    done.push((i, Ok(s)));
                }
                None => rest.push((i, addr)),
            }
        }
        (done, rest)
    }
}

fn attempt(proto: AutodiscoverProtocol, url: &Url, email: &str, outcome: &str, kind: Option<ErrorKind>) -> Attempt {
    Attempt { protocol: proto, url: url.to_string(), email: email.to_string(), outcome: outcome.to_string(), kind }
}

fn origin_key(url: &Url) -> String {
    format!("{}://{}:{}", url.scheme(), url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0))
}

fn redirect_location(resp: &HttpResponse) -> Option<String> {
    if !matches!(resp.status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    resp.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string())
}

/// The candidate endpoints for `email`.
pub(crate) fn candidates(explicit: Option<&Url>, email: &str, try_pox: bool) -> Vec<(AutodiscoverProtocol, Url)> {
    if let Some(url) = explicit {
        if url.path().to_ascii_lowercase().ends_with(".xml") {
            return vec![(AutodiscoverProtocol::Pox, url.clone())];
        }
        let mut out = vec![(AutodiscoverProtocol::Soap, url.clone())];
        if try_pox {
            let mut pox = url.clone();
            let path = url.path();
            let dir = match path.rfind('/') {
                Some(i) if path[i + 1..].contains('.') => &path[..i],
                _ => path.trim_end_matches('/'),
            };
            pox.set_path(&format!("{dir}/autodiscover.xml"));
            pox.set_query(None);
            out.push((AutodiscoverProtocol::Pox, pox));
        }
        return out;
    }
    let domain = email.rsplit_once('@').map(|(_, d)| d.trim().to_ascii_lowercase()).unwrap_or_default();
    if domain.is_empty() {
        return Vec::new();
    }
    let hosts = [domain.clone(), format!("autodiscover.{domain}")];
    let mut out = Vec::new();
    for h in &hosts {
        if let Ok(u) = Url::parse(&format!("https://{h}/autodiscover/autodiscover.svc")) {
            out.push((AutodiscoverProtocol::Soap, u));
        }
    }
    if try_pox {
        for h in &hosts {
            if let Ok(u) = Url::parse(&format!("https://{h}/autodiscover/autodiscover.xml")) {
                out.push((AutodiscoverProtocol::Pox, u));
            }
        }
    }
    out
}

/// Settings as read from either protocol, before the EWS URL is checked.
struct Found {
    resolved: Option<String>,
    external: Option<String>,
    internal: Option<String>,
    grouping: Option<String>,
    display_name: Option<String>,
    cas_version: Option<String>,
    schemas: Vec<String>,
}

impl Found {
    fn from_map(m: &SettingsMap) -> Found {
        Found {
            resolved: None,
            external: m.external_ews_url().map(str::to_string),
            internal: m.internal_ews_url().map(str::to_string),
            grouping: m.grouping_information().map(str::to_string).filter(|s| !s.is_empty()),
            display_name: m.user_display_name().map(str::to_string),
            cas_version: m.cas_version().map(str::to_string),
            schemas: m.ews_supported_schemas().into_iter().map(str::to_string).collect(),
        }
    }

    fn into_settings(self, email: &str, url: &Url, proto: AutodiscoverProtocol) -> Result<UserSettings, String> {
        let parse = |s: &Option<String>| s.as_deref().and_then(|u| Url::parse(u.trim()).ok());
        let external = parse(&self.external);
        let internal = parse(&self.internal);
        let Some(ews_url) = external.clone().or_else(|| internal.clone()) else {
            return Err(match (&self.external, &self.internal) {
                (None, None) => "the answer has no EWS URL (ExternalEwsUrl/InternalEwsUrl)".to_string(),
                _ => format!("the EWS URL in the answer is not a URL: {:?}", self.external.or(self.internal)),
            });
        };
        let email_addr = SmtpAddress::parse(email).map_err(|e| e.to_string())?;
        let resolved = self.resolved.as_deref().and_then(|r| SmtpAddress::parse(r).ok()).unwrap_or(email_addr.clone());
        Ok(UserSettings {
            email: email_addr,
            resolved_email: resolved,
            ews_url,
            external_ews_url: external,
            internal_ews_url: internal,
            grouping_information: self.grouping,
            display_name: self.display_name,
            cas_version: self.cas_version,
            ews_supported_schemas: self.schemas,
            autodiscover_url: url.clone(),
            protocol: proto,
        })
    }
}

enum Answer {
    Settings(Box<Found>),
    Redirect(Redirect),
    Error { busy: bool, text: String },
}

impl Answer {
    fn into_settings_opt(self, email: &str, url: &Url, proto: AutodiscoverProtocol) -> Option<UserSettings> {
        match self {
            Answer::Settings(f) => f.into_settings(email, url, proto).ok(),
            _ => None,
        }
    }
}

fn user_answer(user: &UserResponse) -> Answer {
    if let Some(r) = user.redirect() {
        return Answer::Redirect(r);
    }
    if user.error_code != AutodiscoverErrorCode::NoError {
        return Answer::Error {
            busy: user.error_code == AutodiscoverErrorCode::ServerBusy,
            text: format!("{:?}: {}", user.error_code, user.error_message.clone().unwrap_or_default()),
        };
    }
    Answer::Settings(Box::new(Found::from_map(&user.settings_map())))
}

fn read_soap(body: &[u8]) -> Answer {
    let env = match Envelope::parse(body) {
        Ok(e) => e,
        Err(e) => {
            return Answer::Error {
                busy: false,
                text: format!("not a SOAP Autodiscover response ({e}): {}", snippet(body)),
            };
        }
    };
    match ews_proto::autodiscover::read_soap_response(&env) {
        Ok(AutodiscoverResult::Settings(m)) => Answer::Settings(Box::new(Found::from_map(&m))),
        Ok(AutodiscoverResult::Redirect(r)) => Answer::Redirect(r),
        Ok(AutodiscoverResult::Error { code, message }) => Answer::Error {
            busy: code == AutodiscoverErrorCode::ServerBusy,
            text: format!("Autodiscover error {code:?}: {message}"),
        },
        Err(e) => Answer::Error { busy: false, text: format!("not a GetUserSettings response: {e}") },
    }
}

fn read_pox(body: &[u8]) -> Answer {
    let resp = match PoxAutodiscoverResponse::parse(body) {
        Ok(r) => r,
        Err(e) => {
            return Answer::Error {
                busy: false,
                text: format!("not a POX Autodiscover response ({e}): {}", snippet(body)),
            };
        }
    };
    if let Some(r) = resp.redirect() {
        return Answer::Redirect(r);
    }
    if let Some(err) = &resp.error {
        return Answer::Error {
            busy: false,
            text: format!(
                "Autodiscover error {}: {}",
                err.error_code.map(|c| c.to_string()).unwrap_or_default(),
                err.message.clone().unwrap_or_default()
            ),
        };
    }
    let account = resp.account.as_ref();
    let exch = account.and_then(|a| a.protocol(PoxProtocolType::Exch));
    let expr = account.and_then(|a| a.protocol(PoxProtocolType::Expr));
    Answer::Settings(Box::new(Found {
        resolved: resp.user.as_ref().and_then(|u| u.auto_discover_smtp_address.clone()),
        external: expr.and_then(|p| p.ews_url.clone()),
        internal: exch.and_then(|p| p.ews_url.clone()).or_else(|| resp.ews_url().map(str::to_string)),
        grouping: None,
        display_name: resp.user.as_ref().and_then(|u| u.display_name.clone()),
        cas_version: exch.or(expr).and_then(|p| p.server_version.clone()),
        schemas: Vec::new(),
    }))
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(120)]);
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.is_empty() { "(empty body)".to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(c: &[(AutodiscoverProtocol, Url)]) -> Vec<String> {
        c.iter().map(|(p, u)| format!("{p} {u}")).collect()
    }

    #[test]
    fn candidates_from_the_domain() {
        let c = candidates(None, "Mara@Contoso.com", true);
        assert_eq!(
            urls(&c),
            [
                "SOAP https://contoso.com/autodiscover/autodiscover.svc",
                "SOAP https://autodiscover.contoso.com/autodiscover/autodiscover.svc",
                "POX https://contoso.com/autodiscover/autodiscover.xml",
                "POX https://autodiscover.contoso.com/autodiscover/autodiscover.xml",
            ]
        );
        assert_eq!(candidates(None, "Mara@Contoso.com", false).len(), 2);
        assert!(candidates(None, "nobody", true).is_empty());
    }

    #[test]
    fn candidates_from_an_explicit_url() {
        let u = Url::parse("http://127.0.0.1:8080/autodiscover/autodiscover.svc").unwrap();
        assert_eq!(
            urls(&candidates(Some(&u), "a@b.c", true)),
            [
                "SOAP http://127.0.0.1:8080/autodiscover/autodiscover.svc",
                "POX http://127.0.0.1:8080/autodiscover/autodiscover.xml"
            ]
        );
        let u = Url::parse("https://mail.contoso.com/Autodiscover/Autodiscover.xml").unwrap();
        assert_eq!(
            urls(&candidates(Some(&u), "a@b.c", true)),
            ["POX https://mail.contoso.com/Autodiscover/Autodiscover.xml"]
        );
        let u = Url::parse("https://mail.contoso.com/autodiscover/").unwrap();
        assert_eq!(
            urls(&candidates(Some(&u), "a@b.c", true))[1],
            "POX https://mail.contoso.com/autodiscover/autodiscover.xml"
        );
    }

    #[test]
    fn soap_sample_answers() {
        let dir = ews_schema_check::samples_dir();
        let mut bytes =
            std::fs::read(dir.join("Autodiscover-SOAP-GetUserSettings-GroupingInformation.response.xml")).unwrap();
        // The sample ends with `</s:Envelope` (no `>`).
        while bytes.last().is_some_and(|b| b.is_ascii_whitespace()) {
            bytes.pop();
        }
        bytes.push(b'>');
        let Answer::Settings(f) = read_soap(&bytes) else { panic!("no settings") };
        let url = Url::parse("https://autodiscover.contoso.com/autodiscover/autodiscover.svc").unwrap();
        let s = f.into_settings("mara@contoso.com", &url, AutodiscoverProtocol::Soap).unwrap();
        assert_eq!(s.grouping_information.as_deref(), Some("CONTOSO-1"));
        assert_eq!(s.cas_version.as_deref(), Some("15.01.0160.004"));
        assert!(s.ews_url.as_str().to_ascii_lowercase().ends_with("/ews/exchange.asmx"), "{s:?}");
        let bytes = std::fs::read(dir.join("Autodiscover-SOAP-RedirectAddress.response.xml")).unwrap();
        assert!(matches!(read_soap(&bytes), Answer::Redirect(Redirect::Address(_))));
        let bytes = std::fs::read(dir.join("Autodiscover-POX-redirectAddr.response.xml")).unwrap();
        assert!(matches!(read_pox(&bytes), Answer::Redirect(Redirect::Address(_))));
        let bytes = std::fs::read(dir.join("Autodiscover-POX.response.xml")).unwrap();
        let Answer::Settings(f) = read_pox(&bytes) else { panic!() };
        let s = f.into_settings("mara@contoso.com", &url, AutodiscoverProtocol::Pox).unwrap();
        assert!(s.display_name.is_some());
    }
}
