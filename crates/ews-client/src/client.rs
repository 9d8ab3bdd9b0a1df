//! [`EwsClient`]: typed EWS calls against one server, with impersonation, throttling,
//! bounded retries, error classification and metrics.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ews_proto::ops::{FolderShape, GetFolder};
use ews_proto::shape::BaseShape;
use ews_proto::soap::{ConnectingSid, ServerVersionInfo};
use ews_proto::tz::TimeZoneDefinition;
use ews_proto::xml::{self, Element, FromXml, Ns, soap, t};
use ews_proto::{
    Body, DistinguishedFolderName, Envelope, Fault, FolderId, Header, Operation, ResponseCode, ResponseStatus,
    SmtpAddress,
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use crate::config::{AuthConfig, ServerConfig};
use crate::error::{ErrorClass, ErrorKind, EwsError};
use crate::throttle::Throttle;
use crate::transport::{HttpResponse, Transport};

/// Per-call options beyond the operation and mailbox.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// `t:TimeZoneContext`: the zone for times without an offset, and for the response.
    pub time_zone: Option<TimeZoneDefinition>,
    /// `X-AnchorMailbox` other than the target mailbox (streaming affinity groups route by
    /// their anchor mailbox).
    pub anchor_mailbox: Option<SmtpAddress>,
    /// Extra HTTP headers (`X-PreferServerAffinity`, `Cookie: X-BackEndOverrideCookie=…`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// A SOAP response as it came (faults and throttling already turned into errors).
#[derive(Debug, Clone)]
pub struct SoapResponse {
    /// 200, or 500 with a SOAP body that is not a fault.
    pub status: u16,
    /// The HTTP response headers (`Set-Cookie` carries `X-BackEndOverrideCookie`).
    pub headers: HeaderMap,
    pub envelope: Envelope,
}

/// What `check-connection` reports for a server.
#[derive(Debug, Clone)]
pub struct ConnectionCheck {
    pub server: String,
    pub url: String,
    /// `Basic`, `NTLM` or `OAuth2`.
    pub auth_method: &'static str,
    pub server_version: Option<ServerVersionInfo>,
    /// Time of the whole check (connect, authenticate, one request).
    pub latency: Duration,
    /// The response code of the probe when it was an error that does not concern the
    /// connection (e.g. the service account has no mailbox of its own).
    pub note: Option<String>,
}

/// `Exchange 2016 (15.1.2507.6, V2017_07_11)`: the product a `ServerVersionInfo` names.
pub fn server_version_text(v: &ServerVersionInfo) -> String {
    let product = match (v.major_version, v.minor_version) {
        (Some(8), _) => "Exchange 2007",
        (Some(14), _) => "Exchange 2010",
        (Some(15), Some(0)) => "Exchange 2013",
        (Some(15), Some(1)) => "Exchange 2016",
        (Some(15), Some(2)) => "Exchange 2019 or SE",
        (Some(15), Some(m)) if m >= 20 => "Exchange Online",
        _ => "Exchange",
    };
    let num = |n: Option<i32>| n.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
    let mut s = format!(
        "{product} ({}.{}.{}.{}",
        num(v.major_version),
        num(v.minor_version),
        num(v.major_build_number),
        num(v.minor_build_number)
    );
    if let Some(schema) = &v.version {
        s.push_str(", ");
        s.push_str(schema);
    }
    s.push(')');
    s
}

/// Connection and throttling figures of a client (for tests and diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientStats {
    pub connections_opened: u64,
    pub tokens_fetched: u64,
    pub concurrency_limit: usize,
    pub in_flight: usize,
    pub paused_for: Duration,
}

struct Inner {
    cfg: ServerConfig,
    transport: Transport,
    throttle: Throttle,
    server_version: Mutex<Option<ServerVersionInfo>>,
}

/// An EWS client for one Exchange server. Cheap to clone (shared state); clones share the
/// connection pool, the OAuth2 token and the throttling state.
#[derive(Clone)]
pub struct EwsClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EwsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EwsClient")
            .field("server", &self.inner.cfg.name)
            .field("url", &self.inner.cfg.ews_url.as_str())
            .finish()
    }
}

/// Operations that change a mailbox: retried only when the request surely was not processed.
const WRITES: &[&str] = &[
    "CreateItem",
    "UpdateItem",
    "DeleteItem",
    "SendItem",
    "MoveItem",
    "CopyItem",
    "SetUserOofSettings",
    "CreateFolder",
    "UpdateFolder",
    "DeleteFolder",
    "CreateAttachment",
    "DeleteAttachment",
];

/// Codes that, when every response message carries them, mean the whole call failed for this
/// mailbox (rather than for one item of it).
const MAILBOX_WIDE: &[ResponseCode] = &[
    ResponseCode::ErrorNonExistentMailbox,
    ResponseCode::ErrorImpersonateUserDenied,
    ResponseCode::ErrorImpersonationFailed,
    ResponseCode::ErrorMailRecipientNotFound,
    ResponseCode::ErrorMailboxConfiguration,
];

impl EwsClient {
    /// Builds the client (TLS roots, CA files, proxy); opens no connection yet.
    pub fn new(cfg: ServerConfig) -> Result<EwsClient, EwsError> {
        let ctx = |e: EwsError| e.in_context(&cfg.name, "setup", None);
        cfg.validate().map_err(|m| ctx(EwsError::new(ErrorClass::Fatal, ErrorKind::Config, m)))?;
        let transport = Transport::new(&cfg).map_err(ctx)?;
        let throttle = Throttle::new(&cfg.name, cfg.max_concurrency, cfg.throttle);
        Ok(EwsClient { inner: Arc::new(Inner { cfg, transport, throttle, server_version: Mutex::new(None) }) })
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.cfg
    }

    /// The configured server name.
    pub fn name(&self) -> &str {
        &self.inner.cfg.name
    }

    /// `ServerVersionInfo` of the latest response that had one.
    pub fn server_version(&self) -> Option<ServerVersionInfo> {
        self.inner.server_version.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The throttling state (pause, concurrency limit).
    pub fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }

    pub fn stats(&self) -> ClientStats {
        let t = &self.inner.throttle;
        ClientStats {
            connections_opened: self.inner.transport.connections_opened(),
            tokens_fetched: self.inner.transport.tokens_fetched(),
            concurrency_limit: t.limit(),
            in_flight: t.in_flight(),
            paused_for: t.paused_for(),
        }
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// Closes idle connections.
    pub fn close_idle(&self) {
        self.inner.transport.close_idle();
    }

    /// Calls `op` for `mailbox` (impersonated when the server is configured so, and always
    /// the `X-AnchorMailbox`), and returns its typed response. Per-item errors inside the
    /// response stay in it; whole-call failures (faults, HTTP errors, every message failing
    /// with a mailbox-wide, transient or fatal code) are [`EwsError`]s.
    pub async fn call<O: Operation>(&self, mailbox: Option<&SmtpAddress>, op: O) -> Result<O::Response, EwsError> {
        self.call_with(mailbox, op, &CallOptions::default()).await
    }

    /// [`EwsClient::call`] with options (time zone context, anchor mailbox, headers).
    pub async fn call_with<O: Operation>(
        &self,
        mailbox: Option<&SmtpAddress>,
        op: O,
        opts: &CallOptions,
    ) -> Result<O::Response, EwsError> {
        let resp = self.call_body_with(O::NAME, mailbox, op.into(), opts).await?;
        let name = resp.envelope.body.element_name();
        O::Response::try_from(resp.envelope.body).map_err(|_| {
            EwsError::new(
                ErrorClass::Mailbox,
                ErrorKind::Protocol,
                format!("the server answered {} with {name}", O::NAME),
            )
            .in_context(&self.inner.cfg.name, O::NAME, mailbox)
        })
    }

    /// [`EwsClient::call_with`], also returning the HTTP response headers (`Set-Cookie` of
    /// `X-BackEndOverrideCookie` after a `Subscribe` with `X-PreferServerAffinity`).
    pub async fn call_with_headers<O: Operation>(
        &self,
        mailbox: Option<&SmtpAddress>,
        op: O,
        opts: &CallOptions,
    ) -> Result<(O::Response, HeaderMap), EwsError> {
        let resp = self.call_body_with(O::NAME, mailbox, op.into(), opts).await?;
        let name = resp.envelope.body.element_name();
        let typed = O::Response::try_from(resp.envelope.body).map_err(|_| {
            EwsError::new(
                ErrorClass::Mailbox,
                ErrorKind::Protocol,
                format!("the server answered {} with {name}", O::NAME),
            )
            .in_context(&self.inner.cfg.name, O::NAME, mailbox)
        })?;
        Ok((typed, resp.headers))
    }

    /// The SOAP request of `body` for `mailbox` as [`EwsClient::call_body_with`] would send
    /// it: the HTTP headers (without authentication) and the envelope.
    pub(crate) fn prepare(
        &self,
        operation: &str,
        mailbox: Option<&SmtpAddress>,
        body: Body,
        opts: &CallOptions,
    ) -> (HeaderMap, Bytes) {
        let envelope = Envelope::new(self.header(mailbox, opts), body);
        (self.http_headers(operation, mailbox, opts), Bytes::from(envelope.to_xml_string()))
    }

    /// Sends any body element and returns the parsed response envelope (for tests and for
    /// operations without a typed request).
    pub async fn call_body(
        &self,
        operation: &str,
        mailbox: Option<&SmtpAddress>,
        body: Body,
    ) -> Result<SoapResponse, EwsError> {
        self.call_body_with(operation, mailbox, body, &CallOptions::default()).await
    }

    /// [`EwsClient::call_body`] with options.
    pub async fn call_body_with(
        &self,
        operation: &str,
        mailbox: Option<&SmtpAddress>,
        body: Body,
        opts: &CallOptions,
    ) -> Result<SoapResponse, EwsError> {
        let envelope = Envelope::new(self.header(mailbox, opts), body);
        let xml = envelope.to_xml_string();
        let (status, headers, root) = self.execute(operation, mailbox, opts, xml).await?;
        let envelope = Envelope::from_element(&root).map_err(|e| {
            EwsError::new(
                ErrorClass::Mailbox,
                ErrorKind::Protocol,
                format!("cannot read the {operation} response: {e}"),
            )
            .with_source(e)
            .in_context(&self.inner.cfg.name, operation, mailbox)
        })?;
        Ok(SoapResponse { status, headers, envelope })
    }

    /// Connects, authenticates and sends one small request (GetFolder of the root folder,
    /// IdOnly) for `mailbox` (or the account's own mailbox); reports the server version and
    /// the latency. A mailbox-level answer (e.g. the account has no mailbox) still counts as
    /// a working connection and is reported in `note`.
    pub async fn check_connection(&self, mailbox: Option<&SmtpAddress>) -> Result<ConnectionCheck, EwsError> {
        let started = Instant::now();
        let probe = GetFolder {
            folder_shape: FolderShape::new(BaseShape::IdOnly),
            folder_ids: vec![FolderId::distinguished(DistinguishedFolderName::MsgFolderRoot)],
        };
        let note = match self.call(mailbox, probe).await {
            Ok(_) => None,
            Err(e) if e.class() == ErrorClass::Mailbox => {
                Some(e.response_code().map(|c| c.to_string()).unwrap_or_else(|| e.message().to_string()))
            }
            Err(e) => return Err(e),
        };
        Ok(ConnectionCheck {
            server: self.inner.cfg.name.clone(),
            url: self.inner.cfg.ews_url.to_string(),
            auth_method: self.inner.cfg.auth.method(),
            server_version: self.server_version(),
            latency: started.elapsed(),
            note,
        })
    }

    fn header(&self, mailbox: Option<&SmtpAddress>, opts: &CallOptions) -> Header {
        let cfg = &self.inner.cfg;
        Header {
            request_server_version: Some(cfg.server_version),
            impersonation: match mailbox {
                Some(m) if cfg.impersonation => Some(ConnectingSid::SmtpAddress(m.to_string())),
                _ => None,
            },
            time_zone_context: opts.time_zone.clone(),
            ..Header::default()
        }
    }

    fn http_headers(&self, operation: &str, mailbox: Option<&SmtpAddress>, opts: &CallOptions) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
        h.insert(header::ACCEPT, HeaderValue::from_static("text/xml"));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        h.insert(header::USER_AGENT, HeaderValue::from_static(concat!("exbridge/", env!("CARGO_PKG_VERSION"))));
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}/{operation}\"", Ns::MESSAGES_URI)) {
            h.insert("soapaction", v);
        }
        let own = match &self.inner.cfg.auth {
            AuthConfig::Basic { username, .. } | AuthConfig::Ntlm { username, .. } => SmtpAddress::parse(username).ok(),
            AuthConfig::OAuth2(_) => None,
        };
        let anchor = opts.anchor_mailbox.as_ref().or(mailbox).or(own.as_ref());
        if let Some(a) = anchor
            && let Ok(v) = HeaderValue::from_str(a.as_str())
        {
            h.insert("x-anchormailbox", v);
        }
        for (k, v) in &opts.headers {
            h.append(k.clone(), v.clone());
        }
        h
    }

    /// Sends `xml` with throttling and retries; returns the parsed response document.
    async fn execute(
        &self,
        operation: &str,
        mailbox: Option<&SmtpAddress>,
        opts: &CallOptions,
        xml: String,
    ) -> Result<(u16, HeaderMap, Element), EwsError> {
        let cfg = &self.inner.cfg;
        let throttle = &self.inner.throttle;
        let headers = self.http_headers(operation, mailbox, opts);
        let body = Bytes::from(xml);
        let is_write = WRITES.contains(&operation);
        let started = Instant::now();
        let mut attempt = 0u32;
        let result = loop {
            let res = async {
                throttle.wait_open().await.map_err(|p| paused_error(p.0))?;
                let _permit = throttle.acquire().await;
                // A pause may have begun while this call waited for its slot.
                throttle.wait_open().await.map_err(|p| paused_error(p.0))?;
                let resp = self.inner.transport.post(&headers, body.clone()).await?;
                self.interpret(resp)
            }
            .await;
            match res {
                Ok(r) => {
                    throttle.success();
                    break Ok(r);
                }
                Err(e) => {
                    let e = e.in_context(&cfg.name, operation, mailbox);
                    let retry = e.is_transient()
                        && attempt < cfg.throttle.max_retries
                        && !(is_write && may_have_been_processed(&e))
                        && !matches!(e.kind(), ErrorKind::Throttled if e.retry_after().is_some_and(|d| d > cfg.throttle.max_wait));
                    if !retry {
                        break Err(e);
                    }
                    attempt += 1;
                    metrics::counter!("ews_retries_total", "server" => cfg.name.clone(), "operation" => operation.to_string())
                        .increment(1);
                    // Throttling already closed the gate for the time the server asked for.
                    if !is_throttling(&e) {
                        let delay = throttle.retry_delay(attempt);
                        tracing::info!(error = %e, attempt, ?delay, "transient EWS error; retrying");
                        tokio::time::sleep(delay).await;
                    } else {
                        tracing::info!(error = %e, attempt, "EWS server throttling; retrying after the pause");
                    }
                }
            }
        };
        let outcome = match &result {
            Ok(_) => "success",
            Err(e) => e.class().as_str(),
        };
        let labels =
            [("server", cfg.name.clone()), ("operation", operation.to_string()), ("outcome", outcome.to_string())];
        metrics::counter!("ews_requests_total", &labels).increment(1);
        metrics::histogram!("ews_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            tracing::debug!(error = %e, class = %e.class(), "EWS call failed");
        }
        result
    }

    /// Turns an HTTP response into a SOAP document, or into an error (pausing the server
    /// when it signals throttling).
    pub(crate) fn interpret(&self, resp: HttpResponse) -> Result<(u16, HeaderMap, Element), EwsError> {
        let cfg = &self.inner.cfg;
        let status = resp.status;
        let code = status.as_u16();
        match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                let hint = retry_after(&resp.headers);
                self.inner.throttle.pause(hint);
                let wait = hint.unwrap_or(cfg.throttle.default_backoff);
                return Err(EwsError::new(
                    ErrorClass::Transient,
                    ErrorKind::Throttled,
                    format!("HTTP {status}: the server is overloaded; requests paused for {wait:?}"),
                )
                .with_status(code)
                .with_retry_after(Some(wait)));
            }
            StatusCode::FORBIDDEN => {
                return Err(EwsError::new(
                    ErrorClass::Fatal,
                    ErrorKind::Forbidden,
                    format!(
                        "403 Forbidden for {} using {} at {}: the account may not use EWS (EWS access policy, or client certificates required)",
                        cfg.auth.account(),
                        cfg.auth.method(),
                        cfg.ews_url
                    ),
                )
                .with_status(code));
            }
            StatusCode::NOT_FOUND => {
                return Err(EwsError::new(
                    ErrorClass::Fatal,
                    ErrorKind::NotFound,
                    format!("404 Not Found at {}: check ews_url (it normally ends in /EWS/Exchange.asmx)", cfg.ews_url),
                )
                .with_status(code));
            }
            s if s.is_redirection() => {
                let location = resp.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
                if location.to_ascii_lowercase().contains("genericerrorpage") {
                    return Err(EwsError::new(
                        ErrorClass::Transient,
                        ErrorKind::Http,
                        format!("HTTP {code}: EWS redirected to its error page {location}"),
                    )
                    .with_status(code));
                }
                return Err(EwsError::new(
                    ErrorClass::Fatal,
                    ErrorKind::Http,
                    format!("HTTP {code}: {} redirects to {location:?}: set ews_url to the final EWS URL", cfg.ews_url),
                )
                .with_status(code));
            }
            _ => {}
        }
        let parsed = xml::parse(&resp.body).ok().filter(|r| r.is(soap("Envelope")));
        let Some(root) = parsed else {
            let snippet = snippet(&resp.body);
            let class = if status.is_success() { ErrorClass::Fatal } else { ErrorClass::of_http_status(code) };
            let what = if status.is_success() {
                format!("HTTP {code} but not a SOAP envelope (is ews_url an EWS endpoint?): {snippet}")
            } else {
                format!("HTTP {status}: {snippet}")
            };
            return Err(EwsError::new(class, ErrorKind::Http, what).with_status(code));
        };
        if let Some(info) = root
            .child(soap("Header"))
            .and_then(|h| h.child(t("ServerVersionInfo")))
            .and_then(|i| ServerVersionInfo::from_xml(i).ok())
        {
            *self.inner.server_version.lock().unwrap_or_else(|e| e.into_inner()) = Some(info);
        }
        let body_el = root.child(soap("Body")).and_then(|b| b.children.first());
        let Some(body_el) = body_el else {
            return Err(EwsError::new(ErrorClass::Mailbox, ErrorKind::Protocol, "the SOAP response has an empty body")
                .with_status(code));
        };
        if body_el.is(soap("Fault")) {
            let fault = Fault::from_xml(body_el).map_err(|e| {
                EwsError::new(ErrorClass::Transient, ErrorKind::Protocol, format!("unreadable SOAP fault: {e}"))
                    .with_status(code)
            })?;
            return Err(self.fault_error(&fault, code));
        }
        // Response messages: pause on ErrorServerBusy; fail the call when all failed alike.
        let statuses = response_statuses(body_el);
        if let Some(busy) = statuses.iter().find(|s| s.code.as_ref() == Some(&ResponseCode::ErrorServerBusy)) {
            self.inner.throttle.pause(busy.back_off());
        }
        if let Some(first) = statuses.first()
            && !first.is_success()
            && statuses.iter().all(|s| !s.is_success() && s.code == first.code)
        {
            let rc = first.code();
            let class = ErrorClass::of_code(&rc);
            if class != ErrorClass::Mailbox || MAILBOX_WIDE.contains(&rc) {
                if rc == ResponseCode::ErrorExceededConnectionCount {
                    self.inner.throttle.shrink();
                }
                let back_off = first.back_off();
                let kind = if rc == ResponseCode::ErrorServerBusy { ErrorKind::Throttled } else { ErrorKind::Response };
                let text = first.message_text.clone().unwrap_or_default();
                return Err(EwsError::new(class, kind, self.code_message(&rc, &text))
                    .with_code(rc)
                    .with_status(code)
                    .with_retry_after(back_off));
            }
        }
        Ok((code, resp.headers, root))
    }

    fn fault_error(&self, fault: &Fault, status: u16) -> EwsError {
        let rc = fault.response_code();
        let mut class = ErrorClass::of_code(&rc);
        let mut kind = ErrorKind::Fault;
        let mut retry_after = fault.back_off();
        match rc {
            ResponseCode::ErrorServerBusy => {
                self.inner.throttle.pause(retry_after);
                retry_after = Some(retry_after.unwrap_or(self.inner.cfg.throttle.default_backoff));
                kind = ErrorKind::Throttled;
            }
            ResponseCode::ErrorExceededConnectionCount => self.inner.throttle.shrink(),
            ResponseCode::Other(ref s)
                if s.starts_with("soap:") || s.starts_with("s:") || s == "Client" || s == "Server" =>
            {
                // A plain SOAP fault without an EWS code: the request was malformed (Client) or
                // the server failed (Server).
                class = if s.ends_with("Server") { ErrorClass::Transient } else { ErrorClass::Fatal };
            }
            _ => {}
        }
        let text = fault.detail.as_ref().and_then(|d| d.message.clone()).unwrap_or_else(|| fault.string.clone());
        EwsError::new(class, kind, self.code_message(&rc, &text))
            .with_code(rc)
            .with_status(status)
            .with_retry_after(retry_after)
    }

    fn code_message(&self, rc: &ResponseCode, text: &str) -> String {
        let cfg = &self.inner.cfg;
        let advice = match rc {
            ResponseCode::ErrorImpersonateUserDenied | ResponseCode::ErrorImpersonationDenied => {
                format!("; grant {} the ApplicationImpersonation role for this mailbox", cfg.auth.account())
            }
            ResponseCode::ErrorNonExistentMailbox => "; the address has no mailbox on this server".to_string(),
            ResponseCode::ErrorInvalidServerVersion | ResponseCode::ErrorInvalidSchemaVersionForMailboxVersion => {
                let reported = self
                    .server_version()
                    .and_then(|v| v.version)
                    .map(|v| format!(" (the server reports {v})"))
                    .unwrap_or_default();
                format!(
                    "; server_version {:?} is not accepted{reported}: choose an older one",
                    cfg.server_version.as_str()
                )
            }
            ResponseCode::ErrorServerBusy => "; the server asked us to back off".to_string(),
            _ => String::new(),
        };
        let text = text.trim();
        if text.is_empty() { format!("{rc}{advice}") } else { format!("{rc}: {text}{advice}") }
    }
}

fn paused_error(left: Duration) -> EwsError {
    EwsError::new(
        ErrorClass::Transient,
        ErrorKind::Throttled,
        format!("the server asked for a pause of {left:?} more, longer than max_wait; try again later"),
    )
    .with_code(ResponseCode::ErrorServerBusy)
    .with_retry_after(Some(left))
}

fn is_throttling(e: &EwsError) -> bool {
    matches!(e.kind(), ErrorKind::Throttled)
}

/// A transient failure after which a write may already have taken effect.
fn may_have_been_processed(e: &EwsError) -> bool {
    matches!(e.kind(), ErrorKind::Timeout | ErrorKind::ConnectionLost | ErrorKind::Http | ErrorKind::Protocol)
        && !matches!(e.http_status(), Some(429 | 503))
}

/// `Retry-After`: seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(v).ok()?;
    let d = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(d).unwrap_or(Duration::ZERO))
}

/// The status of every response message in an operation response element (elements with a
/// `ResponseClass` attribute, wherever the operation nests them).
fn response_statuses(el: &Element) -> Vec<ResponseStatus> {
    fn walk(el: &Element, depth: usize, out: &mut Vec<ResponseStatus>) {
        for c in &el.children {
            if c.attr("ResponseClass").is_some() {
                if let Ok(s) = ResponseStatus::read(c) {
                    out.push(s);
                }
            } else if depth < 4 {
                walk(c, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(el, 0, &mut out);
    out
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.is_empty() { "(empty body)".to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_text_names_the_product() {
        assert_eq!(server_version_text(&ServerVersionInfo::exchange2016()), "Exchange 2016 (15.1.2507.6, V2017_07_11)");
        let online = ServerVersionInfo { major_version: Some(15), minor_version: Some(20), ..Default::default() };
        assert_eq!(server_version_text(&online), "Exchange Online (15.20.?.?)");
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past means now");
        let future = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let s = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&future).unwrap();
        h.insert(header::RETRY_AFTER, HeaderValue::from_str(&s).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn statuses_are_found_at_any_depth() {
        let xml = br#"<m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Error"><m:MessageText>busy</m:MessageText><m:ResponseCode>ErrorServerBusy</m:ResponseCode><m:MessageXml><t:Value Name="BackOffMilliseconds">1500</t:Value></m:MessageXml></m:GetItemResponseMessage><m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>"#;
        let el = xml::parse(xml).unwrap();
        let s = response_statuses(&el);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].code(), ResponseCode::ErrorServerBusy);
        assert_eq!(s[0].back_off(), Some(Duration::from_millis(1500)));
        assert!(s[1].is_success());
    }
}
