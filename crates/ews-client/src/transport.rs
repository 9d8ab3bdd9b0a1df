//! The HTTP transport of one server: a pool of kept-alive connections we own, authentication
//! on them (NTLM per connection, Basic and Bearer per request), timeouts, and response
//! decoding (gzip, deflate).

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::auth::ntlm::NtlmHandshake;
use crate::auth::oauth::TokenSource;
use crate::config::{AuthConfig, ServerConfig, Timeouts};
use crate::conn::{Conn, Connector, Origin};
use crate::error::{ErrorClass, ErrorKind, EwsError};

/// A whole HTTP response, body decoded.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A failed exchange; `early` when nothing came back on a connection that may simply have
/// been closed by the server while idle (then one retry on a new connection is safe).
pub(crate) struct Failure {
    pub err: EwsError,
    pub early: bool,
}

impl From<EwsError> for Failure {
    fn from(err: EwsError) -> Self {
        Failure { err, early: false }
    }
}

/// Where a request goes: the URL, its origin (to connect to) and the request target.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub url: Url,
    pub origin: Origin,
    /// Path and query.
    pub path: String,
}

impl Target {
    pub fn new(url: &Url) -> Result<Target, EwsError> {
        let origin = Origin::of(url)?;
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        Ok(Target { url: url.clone(), origin, path })
    }
}

enum Auth {
    /// No credentials (token endpoints, the unauthenticated Autodiscover redirect probe).
    None,
    Basic {
        header: SecretString,
    },
    Ntlm {
        username: String,
        password: SecretString,
    },
    Bearer(Box<TokenSource>),
}

/// Authenticates requests of one account, on connections the caller owns: Basic and Bearer
/// per request, NTLM per connection (the handshake runs on the connection it is given, and
/// the connection remembers it). Shared by the request pool, Autodiscover (any URL, any
/// origin) and the streaming connections.
pub(crate) struct Signer {
    auth: Auth,
    account: String,
    method: &'static str,
    /// NTLM tokens under the `Negotiate` scheme (the server offered only that).
    ntlm_as_negotiate: AtomicBool,
    max_bytes: usize,
}

impl Signer {
    pub fn new(
        auth: &AuthConfig,
        connector: &Connector,
        timeouts: Timeouts,
        max_bytes: usize,
    ) -> Result<Signer, EwsError> {
        let a = match auth {
            AuthConfig::Basic { username, password } => {
                Auth::Basic { header: crate::auth::basic_header(username, password) }
            }
            AuthConfig::Ntlm { username, password } => {
                sspi::Username::parse(username).map_err(|e| {
                    EwsError::new(
                        ErrorClass::Fatal,
                        ErrorKind::Config,
                        format!("username {username:?}: {e} (expected DOMAIN\\user or user@domain)"),
                    )
                })?;
                Auth::Ntlm { username: username.clone(), password: password.clone() }
            }
            AuthConfig::OAuth2(o) => {
                Auth::Bearer(Box::new(TokenSource::new(o.clone(), connector.clone(), timeouts.request, max_bytes)))
            }
        };
        Ok(Signer {
            auth: a,
            account: auth.account().to_string(),
            method: auth.method(),
            ntlm_as_negotiate: AtomicBool::new(false),
            max_bytes,
        })
    }

    /// A signer that sends no credentials.
    pub fn anonymous(max_bytes: usize) -> Signer {
        Signer {
            auth: Auth::None,
            account: String::new(),
            method: "none",
            ntlm_as_negotiate: AtomicBool::new(false),
            max_bytes,
        }
    }

    /// Whether the connection must stay open across requests for the authentication to hold.
    pub fn per_connection(&self) -> bool {
        matches!(self.auth, Auth::Ntlm { .. })
    }

    /// OAuth2 tokens fetched so far (0 for other methods).
    pub fn tokens_fetched(&self) -> u64 {
        match &self.auth {
            Auth::Bearer(ts) => ts.fetches(),
            _ => 0,
        }
    }

    /// Sends `method target` with `headers` and `body` on `c`, authenticated, and returns the
    /// final response with its body unread (the caller reads it whole, or incrementally for a
    /// streaming response). Intermediate 401s (NTLM challenge, a refused Bearer token) are
    /// read and handled here. No timeout: the caller bounds the whole exchange.
    pub async fn send(
        &self,
        c: &mut Conn,
        target: &Target,
        method: &Method,
        headers: &HeaderMap,
        body: &Bytes,
        connector: &Connector,
    ) -> Result<Response<Incoming>, Failure> {
        match &self.auth {
            Auth::None => send_head(c, target, method, headers.clone(), body.clone()).await,
            Auth::Basic { header } => {
                let mut h = headers.clone();
                h.insert(header::AUTHORIZATION, secret_header(header)?);
                let resp = send_head(c, target, method, h, body.clone()).await?;
                if resp.status() == StatusCode::UNAUTHORIZED {
                    drain(resp, self.max_bytes).await;
                    return Err(self
                        .unauthorized(
                            target,
                            "check the user name and password, and that Basic authentication is enabled on the virtual directory",
                        )
                        .into());
                }
                Ok(resp)
            }
            Auth::Bearer(tokens) => {
                let mut refused_once = false;
                loop {
                    let (token, generation) = tokens.token().await?;
                    let mut h = headers.clone();
                    h.insert(
                        header::AUTHORIZATION,
                        secret_header(&SecretString::from(format!("Bearer {}", token.expose_secret())))?,
                    );
                    let resp = send_head(c, target, method, h, body.clone()).await?;
                    if resp.status() != StatusCode::UNAUTHORIZED {
                        return Ok(resp);
                    }
                    let close = connection_close(resp.headers());
                    drain(resp, self.max_bytes).await;
                    tokens.invalidate(generation);
                    if refused_once {
                        return Err(self.unauthorized(target, "the token was refused: check the application's EWS permission (full_access_as_app) and the scope").into());
                    }
                    refused_once = true;
                    if close || c.sender.is_closed() {
                        *c = connector.connect(&target.origin).await?;
                    }
                }
            }
            Auth::Ntlm { username, password } => {
                if c.authenticated {
                    let resp = send_head(c, target, method, headers.clone(), body.clone()).await?;
                    if resp.status() != StatusCode::UNAUTHORIZED {
                        return Ok(resp);
                    }
                    // The server forgot this connection's authentication: authenticate once more.
                    tracing::debug!(conn = c.id, "401 on an NTLM-authenticated connection; authenticating again");
                    let close = connection_close(resp.headers());
                    drain(resp, self.max_bytes).await;
                    c.authenticated = false;
                    if close || c.sender.is_closed() {
                        *c = connector.connect(&target.origin).await?;
                    }
                }
                self.ntlm_handshake(c, target, method, username, password, headers, body, connector).await
            }
        }
    }

    /// The NTLM handshake on `c`: the negotiate message with an empty body, then the
    /// authenticate message with the real request, whose response is returned.
    #[allow(clippy::too_many_arguments)]
    async fn ntlm_handshake(
        &self,
        c: &mut Conn,
        target: &Target,
        method: &Method,
        username: &str,
        password: &SecretString,
        headers: &HeaderMap,
        body: &Bytes,
        connector: &Connector,
    ) -> Result<Response<Incoming>, Failure> {
        let first = if self.ntlm_as_negotiate.load(Ordering::Relaxed) { "Negotiate" } else { "NTLM" };
        let second = if first == "NTLM" { "Negotiate" } else { "NTLM" };
        let mut scheme = first;
        loop {
            let config_err = |m: String| EwsError::new(ErrorClass::Fatal, ErrorKind::Config, m);
            let mut hs = NtlmHandshake::new(
                username,
                password,
                format!("HTTP/{}", target.origin.host),
                c.channel_binding.as_deref(),
            )
            .map_err(config_err)?;
            let t1 = hs.negotiate().map_err(config_err)?;
            let mut h1 = headers.clone();
            h1.insert(header::AUTHORIZATION, auth_value(scheme, &t1)?);
            let r1 = send_head(c, target, method, h1, Bytes::new()).await?;
            if r1.status() != StatusCode::UNAUTHORIZED {
                // No authentication asked for: the connection is usable as it is.
                drain(r1, self.max_bytes).await;
                c.authenticated = true;
                return send_head(c, target, method, headers.clone(), body.clone()).await;
            }
            let r1_headers = r1.headers().clone();
            drain(r1, self.max_bytes).await;
            let challenge = match crate::auth::challenge(&r1_headers, scheme) {
                Some(Some(ch)) => ch,
                _ => {
                    if scheme == first && crate::auth::challenge(&r1_headers, second).is_some() {
                        scheme = second;
                        if c.sender.is_closed() || connection_close(&r1_headers) {
                            *c = connector.connect(&target.origin).await?;
                        }
                        continue;
                    }
                    let offered = crate::auth::offered_schemes(&r1_headers);
                    return Err(self
                        .unauthorized(target, &format!("the server did not answer the NTLM negotiation (it offers: {offered}); enable Windows authentication (NTLM/Negotiate) on the virtual directory or use auth = \"basic\""))
                        .into());
                }
            };
            if connection_close(&r1_headers) {
                return Err(EwsError::new(
                    ErrorClass::Fatal,
                    ErrorKind::Unauthorized,
                    format!(
                        "NTLM for {} at {}: the server closed the connection after its challenge; NTLM needs kept-alive connections end to end (check load balancers and proxies)",
                        self.account, target.url
                    ),
                )
                .with_status(401)
                .into());
            }
            let t3 = hs.authenticate(&challenge).map_err(config_err)?;
            let mut h3 = headers.clone();
            h3.insert(header::AUTHORIZATION, auth_value(scheme, &t3)?);
            let r3 = send_head(c, target, method, h3, body.clone()).await?;
            if r3.status() == StatusCode::UNAUTHORIZED {
                drain(r3, self.max_bytes).await;
                let hint = if c.channel_binding.is_some() {
                    "check the user name (DOMAIN\\user or user@domain) and the password (channel binding was sent for Extended Protection)"
                } else {
                    "check the user name (DOMAIN\\user or user@domain) and the password"
                };
                return Err(self.unauthorized(target, hint).into());
            }
            self.ntlm_as_negotiate.store(scheme == "Negotiate", Ordering::Relaxed);
            c.authenticated = true;
            tracing::debug!(conn = c.id, scheme, "NTLM handshake done");
            return Ok(r3);
        }
    }

    fn unauthorized(&self, target: &Target, hint: &str) -> EwsError {
        EwsError::new(
            ErrorClass::Fatal,
            ErrorKind::Unauthorized,
            format!("401 Unauthorized for {} using {} at {}: {hint}", self.account, self.method, target.url),
        )
        .with_status(401)
    }
}

pub(crate) struct Transport {
    target: Target,
    connector: Connector,
    signer: Arc<Signer>,
    pool: Mutex<Vec<Conn>>,
    max_idle: usize,
    timeouts: Timeouts,
    max_bytes: usize,
    opened: AtomicU64,
    server: String,
}

impl Transport {
    pub fn new(cfg: &ServerConfig) -> Result<Transport, EwsError> {
        let tls = crate::tls::client_config(&cfg.ca_files)?;
        let connector = Connector { tls, proxy: cfg.proxy.clone(), connect_timeout: cfg.timeouts.connect };
        let target = Target::new(&cfg.ews_url)?;
        let signer = Arc::new(Signer::new(&cfg.auth, &connector, cfg.timeouts, cfg.max_response_bytes)?);
        Ok(Transport {
            target,
            connector,
            signer,
            pool: Mutex::new(Vec::new()),
            max_idle: cfg.max_concurrency.max(1),
            timeouts: cfg.timeouts,
            max_bytes: cfg.max_response_bytes,
            opened: AtomicU64::new(0),
            server: cfg.name.clone(),
        })
    }

    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    pub fn signer(&self) -> &Arc<Signer> {
        &self.signer
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Connections opened so far (pooled and dedicated ones).
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// OAuth2 tokens fetched so far (0 for other methods).
    pub fn tokens_fetched(&self) -> u64 {
        self.signer.tokens_fetched()
    }

    /// Closes the idle connections (they are opened again when needed).
    pub fn close_idle(&self) {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn checkout(&self) -> Option<Conn> {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(c) = pool.pop() {
            if !c.sender.is_closed() && c.last_used.elapsed() < self.timeouts.idle {
                return Some(c);
            }
        }
        None
    }

    fn checkin(&self, mut conn: Conn, resp: &HttpResponse) {
        if connection_close(&resp.headers) || conn.sender.is_closed() {
            return;
        }
        conn.last_used = Instant::now();
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        pool.push(conn);
        if pool.len() > self.max_idle {
            pool.remove(0);
        }
    }

    /// Opens a new connection to the EWS origin (not pooled: the caller owns it).
    pub async fn open(&self) -> Result<Conn, EwsError> {
        let c = self.connector.connect(&self.target.origin).await?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("ews_connections_opened_total", "server" => self.server.clone()).increment(1);
        Ok(c)
    }

    /// POSTs a SOAP request to the EWS URL with `headers` (content type and EWS headers; the
    /// transport adds Host, Content-Length and authentication).
    pub async fn post(&self, headers: &HeaderMap, body: Bytes) -> Result<HttpResponse, EwsError> {
        let mut conn = self.checkout();
        let mut retried_stale = false;
        loop {
            let reused = conn.is_some();
            let mut c = match conn.take() {
                Some(c) => c,
                None => self.open().await?,
            };
            let work = async {
                let resp =
                    self.signer.send(&mut c, &self.target, &Method::POST, headers, &body, &self.connector).await?;
                read_whole(resp, self.max_bytes, &self.target.url).await
            };
            let res = match tokio::time::timeout(self.timeouts.request, work).await {
                Ok(r) => r,
                // The connection is in an unknown state: it is dropped below.
                Err(_) => Err(Failure {
                    err: EwsError::new(
                        ErrorClass::Transient,
                        ErrorKind::Timeout,
                        format!("no complete response from {} within {:?}", self.target.url, self.timeouts.request),
                    ),
                    early: false,
                }),
            };
            match res {
                Ok(resp) => {
                    self.checkin(c, &resp);
                    return Ok(resp);
                }
                Err(f) if f.early && reused && !retried_stale => {
                    tracing::debug!(conn = c.id, error = %f.err, "kept-alive connection was stale; retrying on a new one");
                    retried_stale = true;
                }
                Err(f) => return Err(f.err),
            }
        }
    }
}

pub(crate) fn connection_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| s.to_ascii_lowercase().contains("close")))
}

fn header_value(s: &str) -> Result<HeaderValue, EwsError> {
    HeaderValue::from_str(s)
        .map_err(|_| EwsError::new(ErrorClass::Fatal, ErrorKind::Config, format!("{s:?} is not a valid header value")))
}

fn secret_header(s: &SecretString) -> Result<HeaderValue, EwsError> {
    let mut v = HeaderValue::from_str(s.expose_secret()).map_err(|_| {
        EwsError::new(
            ErrorClass::Fatal,
            ErrorKind::Config,
            "the credentials contain characters not allowed in a header",
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn auth_value(scheme: &str, token: &[u8]) -> Result<HeaderValue, EwsError> {
    let mut v = header_value(&format!("{scheme} {}", base64::engine::general_purpose::STANDARD.encode(token)))?;
    v.set_sensitive(true);
    Ok(v)
}

/// Sends one request on `c` and waits for the response head.
async fn send_head(
    c: &mut Conn,
    target: &Target,
    method: &Method,
    mut headers: HeaderMap,
    body: Bytes,
) -> Result<Response<Incoming>, Failure> {
    headers.insert(header::HOST, header_value(&target.origin.host_header())?);
    if !body.is_empty() || *method == Method::POST {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut req = Request::builder()
        .method(method.clone())
        .uri(&target.path)
        .body(Full::new(body))
        .map_err(|e| EwsError::new(ErrorClass::Fatal, ErrorKind::Config, format!("request: {e}")))?;
    *req.headers_mut() = headers;
    let url = &target.url;
    if let Err(e) = c.sender.ready().await {
        return Err(Failure {
            err: EwsError::new(ErrorClass::Transient, ErrorKind::ConnectionLost, format!("connection to {url}: {e}")),
            early: true,
        });
    }
    c.sender.send_request(req).await.map_err(|e| {
        let early = e.is_canceled() || e.is_incomplete_message() || e.is_closed();
        Failure {
            err: EwsError::new(
                ErrorClass::Transient,
                ErrorKind::ConnectionLost,
                format!("connection to {url} lost: {}", error_chain(&e)),
            ),
            early,
        }
    })
}

/// Reads (and drops) a response body so that the connection can carry the next request.
async fn drain(resp: Response<Incoming>, max_bytes: usize) {
    let _ = Limited::new(resp.into_body(), max_bytes).collect().await;
}

/// Reads a whole response body and undoes its content encoding.
pub(crate) async fn read_whole(resp: Response<Incoming>, max_bytes: usize, url: &Url) -> Result<HttpResponse, Failure> {
    let (parts, body) = resp.into_parts();
    let collected = Limited::new(body, max_bytes).collect().await.map_err(|e| {
        let too_big = e.is::<http_body_util::LengthLimitError>();
        Failure {
            err: if too_big {
                EwsError::new(
                    ErrorClass::Mailbox,
                    ErrorKind::Protocol,
                    format!("response from {url} larger than max_response_bytes ({max_bytes})"),
                )
            } else {
                EwsError::new(
                    ErrorClass::Transient,
                    ErrorKind::ConnectionLost,
                    format!("connection to {url} lost while reading the response: {e}"),
                )
            },
            early: false,
        }
    })?;
    let body = decode_body(&parts.headers, collected.to_bytes(), max_bytes).map_err(|m| Failure {
        err: EwsError::new(ErrorClass::Transient, ErrorKind::Protocol, format!("response from {url}: {m}"))
            .with_status(parts.status.as_u16()),
        early: false,
    })?;
    Ok(HttpResponse { status: parts.status, headers: parts.headers, body })
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

/// Undoes `Content-Encoding: gzip | deflate` (deflate as zlib, or raw as some servers send it).
pub(crate) fn decode_body(headers: &HeaderMap, body: Bytes, max_bytes: usize) -> Result<Bytes, String> {
    let Some(enc) = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return Ok(body);
    };
    let enc = enc.trim().to_ascii_lowercase();
    let limit = max_bytes as u64 + 1;
    let mut out = Vec::with_capacity(body.len() * 4);
    let res = match enc.as_str() {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(&body[..]).take(limit).read_to_end(&mut out),
        "deflate" => match flate2::read::ZlibDecoder::new(&body[..]).take(limit).read_to_end(&mut out) {
            Ok(n) => Ok(n),
            Err(_) => {
                out.clear();
                flate2::read::DeflateDecoder::new(&body[..]).take(limit).read_to_end(&mut out)
            }
        },
        other => return Err(format!("unsupported Content-Encoding {other:?}")),
    };
    res.map_err(|e| format!("cannot decode {enc} body: {e}"))?;
    if out.len() > max_bytes {
        return Err(format!("decoded body larger than max_response_bytes ({max_bytes})"));
    }
    Ok(Bytes::from(out))
}

/// One request on a new connection to `url`'s origin (OAuth2 token endpoint, Autodiscover),
/// through the same proxy and TLS settings, authenticated by `signer` (NTLM included: the
/// handshake runs on that connection); the connection is closed afterwards. Redirects are
/// not followed. The whole exchange is bounded by `timeout`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn request_once(
    connector: &Connector,
    signer: &Signer,
    url: &Url,
    method: Method,
    mut headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
    max_bytes: usize,
) -> Result<HttpResponse, EwsError> {
    let target = Target::new(url)?;
    let work = async {
        let mut c = connector.connect(&target.origin).await?;
        if !signer.per_connection() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        headers.entry(header::ACCEPT_ENCODING).or_insert(HeaderValue::from_static("gzip"));
        let resp = signer.send(&mut c, &target, &method, &headers, &body, connector).await.map_err(|f| f.err)?;
        read_whole(resp, max_bytes, url).await.map_err(|f| f.err)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(EwsError::new(
            ErrorClass::Transient,
            ErrorKind::Timeout,
            format!("no complete response from {url} within {timeout:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_and_deflate_are_decoded() {
        let text = b"<soap:Envelope/>".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(decode_body(&h, Bytes::from(gz.clone()), 1 << 20).unwrap(), Bytes::from(text.clone()));
        assert!(decode_body(&h, Bytes::from(gz), 100).is_err(), "limit applies after decoding");

        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(&text).unwrap();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("deflate"));
        assert_eq!(decode_body(&h, Bytes::from(raw.finish().unwrap()), 1 << 20).unwrap(), Bytes::from(text.clone()));

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&text).unwrap();
        assert_eq!(decode_body(&h, Bytes::from(z.finish().unwrap()), 1 << 20).unwrap(), Bytes::from(text));

        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert!(decode_body(&h, Bytes::from_static(b"x"), 10).is_err());
    }
}
