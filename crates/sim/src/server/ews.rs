//! `POST /EWS/Exchange.asmx` and the SOAP Autodiscover endpoint: authentication, parsing,
//! injected faults, impersonation, throttling, latency, then the [`EwsOperations`] handler.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body as HttpBody, Bytes};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use ews_proto::ops::GetStreamingEvents;
use ews_proto::soap::{Body, ConnectingSid, Envelope, ExchangeVersion, Fault, Header, ServerVersionInfo};
use http_body_util::BodyExt;

use super::SimState;
use super::conn::ConnInfo;
use super::faults::{self, Injected};
use super::streaming::{BoxFuture, StreamPlan};
use super::throttle::BudgetKey;
use crate::auth::{Account, Decision, MailboxInfo};

/// Everything an operation needs to know about the request it serves.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub account: Account,
    /// The mailbox the request acts on: the impersonated one, else the caller's own (`None` for
    /// a service account that has no mailbox and did not impersonate).
    pub mailbox: Option<MailboxInfo>,
    /// Whether `mailbox` came from `ExchangeImpersonation`.
    pub impersonating: bool,
    /// `RequestServerVersion` (Exchange2007_SP1 if absent, as Exchange assumes).
    pub version: ExchangeVersion,
    /// What the simulator reports in `ServerVersionInfo`.
    pub server_version: ServerVersionInfo,
    pub time_zone_context: Option<ews_proto::tz::TimeZoneDefinition>,
    /// The whole request header as parsed.
    pub header: Header,
    /// The `X-AnchorMailbox` HTTP header.
    pub anchor_mailbox: Option<String>,
    /// Which TCP connection the request came on.
    pub connection_id: u64,
    pub endpoint: Endpoint,
    /// `http(s)://host[:port]` as the client addressed the server (for URLs in Autodiscover).
    pub base_url: String,
    /// The throttling limits in force (`EWSFindCountLimit`, `EWSMaxSubscriptions`, …).
    pub limits: crate::config::Limits,
}

/// Which endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Ews,
    /// SOAP Autodiscover (`/autodiscover/autodiscover.svc`).
    Autodiscover,
}

/// What `GetStreamingEvents` turns into.
#[derive(Debug)]
pub enum StreamOpen {
    /// Run a streaming connection.
    Stream(StreamPlan),
    /// Answer at once with this body (e.g. an error for invalid subscription ids).
    Respond(Box<Body>),
}

/// The EWS operations. The server does everything around them (auth, impersonation,
/// throttling, faults, envelopes, streaming mechanics).
pub trait EwsOperations: Send + Sync + 'static {
    /// Serves one request body; `Err` is sent as a SOAP fault with HTTP 500.
    fn handle<'a>(&'a self, ctx: &'a RequestContext, body: Body) -> BoxFuture<'a, Result<Body, Fault>>;

    /// Validates a `GetStreamingEvents` request and says what the connection carries.
    fn open_stream<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        _request: GetStreamingEvents,
    ) -> BoxFuture<'a, Result<StreamOpen, Fault>> {
        Box::pin(async { Err(faults::not_implemented("GetStreamingEvents")) })
    }

    /// SOAP Autodiscover (`GetUserSettings`): the whole response envelope, headers included
    /// (Autodiscover has its own `ServerVersionInfo` and WS-Addressing headers).
    fn autodiscover_soap<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        request: Envelope,
    ) -> BoxFuture<'a, Result<Envelope, Fault>> {
        let name = operation_name(&request.body);
        Box::pin(async move { Err(faults::not_implemented(name)) })
    }

    /// POX Autodiscover (`/autodiscover/autodiscover.xml`): the response document for a
    /// request document, or `None` when not implemented.
    fn autodiscover_pox<'a>(&'a self, _ctx: &'a RequestContext, _request: Bytes) -> BoxFuture<'a, Option<String>> {
        Box::pin(async { None })
    }
}

/// Answers every operation with a "not implemented" fault.
#[derive(Debug, Default)]
pub struct NotImplemented;

impl EwsOperations for NotImplemented {
    fn handle<'a>(&'a self, _ctx: &'a RequestContext, body: Body) -> BoxFuture<'a, Result<Body, Fault>> {
        let name = operation_name(&body);
        Box::pin(async move { Err(faults::not_implemented(name)) })
    }
}

/// The operation name used in stats (`GetUserOofSettings`, not `GetUserOofSettingsRequest`).
pub fn operation_name(body: &Body) -> &'static str {
    match body {
        Body::GetUserSettingsRequest(_) => "GetUserSettings",
        b => {
            let n = b.local_name();
            n.strip_suffix("Request").unwrap_or(n)
        }
    }
}

pub(crate) fn xml_response(status: StatusCode, xml: impl Into<HttpBody>) -> Response<HttpBody> {
    let mut r = Response::new(xml.into());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    r
}

fn envelope_string(server_version: &ServerVersionInfo, body: Body) -> String {
    Envelope::new(Header { server_version_info: Some(server_version.clone()), ..Header::default() }, body)
        .to_xml_string()
}

pub(crate) fn fault_response(server_version: &ServerVersionInfo, fault: Fault) -> Response<HttpBody> {
    xml_response(StatusCode::INTERNAL_SERVER_ERROR, envelope_string(server_version, Body::Fault(fault)))
}

/// The first response code other than `NoError` in a serialized response.
fn first_error_code(xml: &str) -> Option<&str> {
    let mut rest = xml;
    while let Some(i) = rest.find("ResponseCode>") {
        let after = &rest[i + "ResponseCode>".len()..];
        let end = after.find('<').unwrap_or(after.len());
        let code = after[..end].trim();
        if !code.is_empty() && code != "NoError" {
            return Some(code);
        }
        rest = &after[end..];
    }
    None
}

/// A 401 with the accepted schemes.
pub(crate) fn unauthorized(state: &SimState, challenge: Option<String>, bearer_failed: bool) -> Response<HttpBody> {
    let mut r = Response::new(HttpBody::empty());
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    let h = r.headers_mut();
    match challenge {
        Some(c) => {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::WWW_AUTHENTICATE, v);
            }
        }
        None => {
            for c in state.auth.challenges(bearer_failed) {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    h.append(header::WWW_AUTHENTICATE, v);
                }
            }
        }
    }
    r
}

/// Authenticates a request; on failure returns the 401 to send (the body is drained so the
/// connection stays usable for the rest of an NTLM handshake).
pub(crate) async fn authenticate(
    state: &SimState,
    conn: &ConnInfo,
    headers: &HeaderMap,
    body: HttpBody,
) -> Result<(Account, HttpBody), Response<HttpBody>> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match state.auth.decide(authorization, &conn.auth) {
        Decision::Allow(a) => Ok((a, body)),
        Decision::Challenge { scheme, token } => {
            drain(body, state.config.max_request_bytes).await;
            state.stats.response(401);
            Err(unauthorized(state, Some(format!("{scheme} {token}")), false))
        }
        Decision::Deny { method, reason } => {
            tracing::debug!(conn = conn.id, %reason, "authentication failed");
            drain(body, state.config.max_request_bytes).await;
            state.stats.auth_failure(method.map_or("none", |m| m.as_str()));
            state.stats.response(401);
            Err(unauthorized(state, None, method == Some(crate::auth::AuthMethod::Bearer)))
        }
    }
}

async fn drain(body: HttpBody, limit: usize) {
    let _ = http_body_util::Limited::new(body, limit).collect().await;
}

/// Reads the whole body up to `limit` bytes.
pub(crate) async fn read_body(body: HttpBody, limit: usize) -> Result<Bytes, String> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(format!("the request body could not be read: {e}")),
    }
}

/// `http(s)://host` from the `Host` header (the listen address if absent).
pub(crate) fn base_url(state: &SimState, conn: &ConnInfo, headers: &HeaderMap) -> String {
    let scheme = if conn.tls { "https" } else { "http" };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| state.local_addr.to_string());
    format!("{scheme}://{host}")
}

/// Resolves `ExchangeImpersonation` and the caller's own mailbox.
fn resolve_mailbox(
    state: &SimState,
    account: &Account,
    header: &Header,
) -> Result<(Option<MailboxInfo>, bool), Box<Fault>> {
    let directory = state.auth.directory();
    match &header.impersonation {
        Some(sid) => {
            if !account.is_service() {
                return Err(Box::new(faults::impersonate_user_denied()));
            }
            let address = match sid {
                ConnectingSid::Sid(v) => v.as_str(),
                other => other.value(),
            };
            match directory.resolve(address.trim()) {
                Some(m) => Ok((Some(m), true)),
                None => Err(Box::new(faults::non_existent_mailbox(address.trim()))),
            }
        }
        None => Ok((directory.resolve(&account.name), false)),
    }
}

/// The EWS (and SOAP Autodiscover) handler.
pub(crate) async fn serve(
    state: Arc<SimState>,
    conn: Arc<ConnInfo>,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: HttpBody,
) -> Response<HttpBody> {
    let (account, body) = match authenticate(&state, &conn, &headers, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let svi = state.server_version.clone();
    let respond = |r: Response<HttpBody>| {
        state.stats.response(r.status().as_u16());
        r
    };

    let bytes = match read_body(body, state.config.max_request_bytes).await {
        Ok(b) => b,
        Err(e) => {
            state.stats.outcome("Invalid", "fault:ErrorSchemaValidation");
            return respond(fault_response(&svi, faults::schema_validation(&e)));
        }
    };
    let envelope = match Envelope::parse(&bytes) {
        Ok(e) => e,
        Err(e) => {
            state.stats.request("Invalid");
            state.stats.outcome("Invalid", "fault:ErrorSchemaValidation");
            return respond(fault_response(&svi, faults::schema_validation(&e.to_string())));
        }
    };
    let op = operation_name(&envelope.body);
    state.stats.request(op);

    // Injected faults, and whether the caller honoured the last back-off.
    let (during_backoff, injected) = state.faults.lock().unwrap().on_request(Instant::now());
    if during_backoff {
        state.stats.during_backoff();
    }
    match injected {
        Injected::None => {}
        Injected::ServerBusy { backoff_ms } => {
            state.stats.fault("server_busy");
            state.stats.outcome(op, "fault:ErrorServerBusy");
            return respond(fault_response(&svi, faults::server_busy(backoff_ms)));
        }
        Injected::HttpStatus { status, retry_after_secs } => {
            state.stats.fault("http_status");
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            state.stats.outcome(op, &format!("http:{}", status.as_u16()));
            let mut r = Response::new(HttpBody::from(status.canonical_reason().unwrap_or("").to_string()));
            *r.status_mut() = status;
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            if let Some(secs) = retry_after_secs {
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return respond(r);
        }
    }

    let (mailbox, impersonating) = if endpoint == Endpoint::Ews {
        match resolve_mailbox(&state, &account, &envelope.header) {
            Ok(v) => v,
            Err(f) => {
                state.stats.outcome(op, &format!("fault:{}", f.response_code()));
                return respond(fault_response(&svi, *f));
            }
        }
    } else {
        (state.auth.directory().resolve(&account.name), false)
    };
    let budget =
        BudgetKey::new(&account.name, impersonating.then(|| mailbox.as_ref().map(|m| m.smtp.as_str())).flatten());
    let ctx = RequestContext {
        account,
        mailbox,
        impersonating,
        version: envelope.header.request_server_version.unwrap_or(ExchangeVersion::Exchange2007_SP1),
        server_version: svi.clone(),
        time_zone_context: envelope.header.time_zone_context.clone(),
        header: envelope.header,
        anchor_mailbox: headers.get("x-anchormailbox").and_then(|v| v.to_str().ok()).map(str::to_string),
        connection_id: conn.id,
        endpoint,
        base_url: base_url(&state, &conn, &headers),
        limits: state.config.limits,
    };

    let latency = state.config.latency + state.faults.lock().unwrap().latency();
    if latency > state.config.latency {
        state.stats.fault("latency");
    }

    if endpoint == Endpoint::Autodiscover {
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let request = Envelope { header: ctx.header.clone(), body: envelope.body };
        return respond(match state.ops.autodiscover_soap(&ctx, request).await {
            Ok(env) => {
                let xml = env.to_xml_string();
                state.stats.outcome(op, first_error_code(&xml).unwrap_or("NoError"));
                xml_response(StatusCode::OK, xml)
            }
            Err(f) => {
                state.stats.outcome(op, &format!("fault:{}", f.response_code()));
                fault_response(&svi, f)
            }
        });
    }

    if let Body::GetStreamingEvents(req) = envelope.body {
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        return respond(super::stream_response(&state, &conn, &ctx, budget, op, req).await);
    }

    // EWSMaxConcurrency: held until the response is produced.
    let Some(_permit) = state.concurrency.try_acquire(&budget) else {
        state.stats.fault("concurrency_limit");
        state.stats.outcome(op, "fault:ErrorServerBusy");
        return respond(fault_response(&svi, faults::server_busy(state.config.limits.busy_back_off_ms)));
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match state.ops.handle(&ctx, envelope.body).await {
        Ok(body) => {
            let xml = envelope_string(&svi, body);
            state.stats.outcome(op, first_error_code(&xml).unwrap_or("NoError"));
            respond(xml_response(StatusCode::OK, xml))
        }
        Err(f) => {
            state.stats.outcome(op, &format!("fault:{}", f.response_code()));
            respond(fault_response(&svi, f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_error_code() {
        let xml = "<m:ResponseCode>NoError</m:ResponseCode><m:ResponseCode>ErrorItemNotFound</m:ResponseCode>";
        assert_eq!(first_error_code(xml), Some("ErrorItemNotFound"));
        assert_eq!(first_error_code("<m:ResponseCode>NoError</m:ResponseCode>"), None);
    }
}
