//! A small EWS stand-in for the client's tests: a hyper HTTP/1.1 server on loopback with
//! optional TLS, Basic / NTLMv2 (sspi acceptor, channel binding checked) / Bearer auth, a
//! token endpoint, gzip, and a handler deciding each EWS answer. It counts accepted TCP
//! connections and records every EWS request that got through authentication.

#![allow(dead_code, clippy::result_large_err)]

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sspi::{
    AuthIdentity, BufferType, CredentialUse, DataRepresentation, Ntlm, SecurityBuffer, SecurityStatus,
    ServerRequestFlags, Sspi, SspiImpl, Username,
};
use tokio::net::TcpListener;

pub mod notify;
pub mod simctl;
pub mod streamhelp;

pub const NS: &str = r#"xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types""#;

/// The request most tests send: GetFolder of the root folder, IdOnly.
pub fn probe_op() -> ews_proto::ops::GetFolder {
    ews_proto::ops::GetFolder {
        folder_shape: ews_proto::ops::FolderShape::new(ews_proto::shape::BaseShape::IdOnly),
        folder_ids: vec![ews_proto::FolderId::distinguished(ews_proto::DistinguishedFolderName::MsgFolderRoot)],
    }
}

/// A SOAP envelope with a ServerVersionInfo header around `body`.
pub fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope {NS}><soap:Header><t:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11"/></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
}

/// A successful GetFolder response (the probe the tests send).
pub fn get_folder_ok() -> String {
    envelope(
        r#"<m:GetFolderResponse><m:ResponseMessages><m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Folders><t:Folder><t:FolderId Id="AQMk" ChangeKey="AQAA"/></t:Folder></m:Folders></m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse>"#,
    )
}

/// An `ErrorServerBusy` SOAP fault with `BackOffMilliseconds`, as Exchange sends it.
pub fn server_busy_fault(back_off_ms: u64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode><faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring><detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode><e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The server cannot service this request right now. Try again later.</e:Message><t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><t:Value Name="BackOffMilliseconds">{back_off_ms}</t:Value></t:MessageXml></detail></s:Fault></s:Body></s:Envelope>"#
    )
}

/// A fault with an EWS response code.
pub fn ews_fault(code: &str, message: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:{code}</faultcode><faultstring xml:lang="en-US">{message}</faultstring><detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">{code}</e:ResponseCode><e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">{message}</e:Message></detail></s:Fault></s:Body></s:Envelope>"#
    )
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub conn: usize,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Option<Duration>,
}

impl Resp {
    pub fn ok(body: impl Into<Vec<u8>>) -> Resp {
        Resp::status(200, body)
    }
    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Resp {
        Resp {
            status,
            headers: vec![("content-type".into(), "text/xml; charset=utf-8".into())],
            body: body.into(),
            delay: None,
        }
    }
    pub fn delayed(mut self, d: Duration) -> Resp {
        self.delay = Some(d);
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// Decides the answer to the n-th (0-based) authenticated EWS request.
pub type Handler = Arc<dyn Fn(&Recorded, usize) -> Resp + Send + Sync>;

pub fn always_ok() -> Handler {
    Arc::new(|_, _| Resp::ok(get_folder_ok()))
}

#[derive(Clone)]
pub enum ServerAuth {
    None,
    Basic {
        user: String,
        pass: String,
    },
    /// NTLMv2; `negotiate_only` offers (and accepts) only the `Negotiate` scheme.
    Ntlm {
        user: String,
        pass: String,
        negotiate_only: bool,
    },
    /// Bearer tokens from `POST /token` (`client_id`/`client_secret` must match).
    Bearer {
        client_id: String,
        client_secret: String,
        expires_in: u64,
    },
}

pub struct ServerOpts {
    pub auth: ServerAuth,
    pub handler: Handler,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Leaf certificate (DER) for the channel binding check.
    pub cert_der: Option<Vec<u8>>,
    pub gzip: bool,
}

impl ServerOpts {
    pub fn new(auth: ServerAuth, handler: Handler) -> Self {
        ServerOpts { auth, handler, tls: None, cert_der: None, gzip: false }
    }
}

pub struct State {
    pub accepts: AtomicUsize,
    pub requests: Mutex<Vec<Recorded>>,
    pub tokens_issued: AtomicUsize,
    pub ntlm_handshakes: AtomicUsize,
    /// The next request on an NTLM-authenticated connection gets a 401 (the server forgot).
    pub forget_ntlm_once: std::sync::atomic::AtomicBool,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    tokens: Mutex<HashMap<String, Instant>>,
    opts: ServerOpts,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start(opts: ServerOpts) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            accepts: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            tokens_issued: AtomicUsize::new(0),
            ntlm_handshakes: AtomicUsize::new(0),
            forget_ntlm_once: std::sync::atomic::AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            tokens: Mutex::new(HashMap::new()),
            opts,
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let conn_no = st.accepts.fetch_add(1, Ordering::SeqCst) + 1;
                let st = st.clone();
                tokio::spawn(async move {
                    if let Some(tls) = st.opts.tls.clone() {
                        let Ok(stream) = tokio_rustls::TlsAcceptor::from(tls).accept(tcp).await else { return };
                        serve(stream, st, conn_no).await;
                    } else {
                        serve(tcp, st, conn_no).await;
                    }
                });
            }
        });
        TestServer { addr, state, task }
    }

    pub fn base(&self) -> String {
        let scheme = if self.state.opts.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://localhost:{}", self.addr.port())
    }

    pub fn ews_url(&self) -> url::Url {
        format!("{}/EWS/Exchange.asmx", self.base()).parse().unwrap()
    }

    pub fn accepts(&self) -> usize {
        self.state.accepts.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
}

struct ConnState {
    ntlm: Option<Ntlm>,
    authenticated: bool,
}

async fn serve<S>(stream: S, st: Arc<State>, conn_no: usize)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let cs = Arc::new(Mutex::new(ConnState { ntlm: None, authenticated: false }));
    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
        let st = st.clone();
        let cs = cs.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let (resp, delay) = handle(&st, &cs, conn_no, parts, body);
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            st.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
}

fn build(r: Resp, gzip: bool) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(r.status);
    let body = if gzip {
        b = b.header("content-encoding", "gzip");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&r.body).unwrap();
        enc.finish().unwrap()
    } else {
        r.body
    };
    for (k, v) in r.headers {
        b = b.header(k, v);
    }
    b.body(Full::new(Bytes::from(body))).unwrap()
}

fn unauthorized(challenges: &[String]) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(401);
    for c in challenges {
        b = b.header("www-authenticate", c);
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

fn handle(
    st: &Arc<State>,
    cs: &Arc<Mutex<ConnState>>,
    conn_no: usize,
    parts: http::request::Parts,
    body: Bytes,
) -> (Response<Full<Bytes>>, Option<Duration>) {
    let n = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    st.max_in_flight.fetch_max(n, Ordering::SeqCst);
    match authenticate(st, cs, &parts, &body) {
        Err(resp) => (resp, None),
        Ok(()) => {
            let rec = Recorded {
                at: Instant::now(),
                conn: conn_no,
                path: parts.uri.path().to_string(),
                headers: parts.headers.clone(),
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            let n = {
                let mut reqs = st.requests.lock().unwrap();
                reqs.push(rec.clone());
                reqs.len() - 1
            };
            let resp = (st.opts.handler)(&rec, n);
            let gzip = st.opts.gzip
                && parts
                    .headers
                    .get("accept-encoding")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("gzip"));
            let delay = resp.delay;
            (build(resp, gzip), delay)
        }
    }
}

fn authenticate(
    st: &Arc<State>,
    cs: &Arc<Mutex<ConnState>>,
    parts: &http::request::Parts,
    body: &Bytes,
) -> Result<(), Response<Full<Bytes>>> {
    let path = parts.uri.path();
    let authz = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if path == "/token" {
        return Err(token(st, body));
    }
    match &st.opts.auth {
        ServerAuth::None => {}
        ServerAuth::Basic { user, pass } => {
            let want = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")));
            if authz != want {
                return Err(unauthorized(&["Basic realm=\"test\"".into()]));
            }
        }
        ServerAuth::Bearer { .. } => {
            let tok = authz.strip_prefix("Bearer ").unwrap_or("");
            let ok = st.tokens.lock().unwrap().get(tok).is_some_and(|exp| Instant::now() < *exp);
            if !ok {
                return Err(unauthorized(&["Bearer".into()]));
            }
        }
        ServerAuth::Ntlm { user, pass, negotiate_only } => {
            let offered: Vec<&str> = if *negotiate_only { vec!["Negotiate"] } else { vec!["NTLM", "Negotiate"] };
            let mut c = cs.lock().unwrap();
            let token = authz.split_once(' ').and_then(|(scheme, tok)| {
                offered
                    .iter()
                    .find(|o| o.eq_ignore_ascii_case(scheme))
                    .and_then(|s| Some((*s, base64::engine::general_purpose::STANDARD.decode(tok.trim()).ok()?)))
            });
            match token {
                None if c.authenticated && authz.is_empty() => {
                    if st.forget_ntlm_once.swap(false, Ordering::SeqCst) {
                        c.authenticated = false;
                        return Err(unauthorized(&offered.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
                    }
                }
                None => {
                    c.authenticated = false;
                    return Err(unauthorized(&offered.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
                }
                Some((scheme, tok)) => {
                    let msg_type = tok.get(8).copied().unwrap_or(0);
                    if msg_type == 1 {
                        let mut ntlm = Ntlm::new();
                        let out = ntlm_accept(&mut ntlm, user, pass, &tok, st.opts.cert_der.as_deref());
                        match out {
                            Ok(challenge) => {
                                c.ntlm = Some(ntlm);
                                c.authenticated = false;
                                let b64 = base64::engine::general_purpose::STANDARD.encode(challenge);
                                return Err(unauthorized(&[format!("{scheme} {b64}")]));
                            }
                            Err(_) => {
                                return Err(unauthorized(&offered.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
                            }
                        }
                    }
                    let Some(mut ntlm) = c.ntlm.take() else {
                        return Err(unauthorized(&offered.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
                    };
                    match ntlm_accept(&mut ntlm, user, pass, &tok, st.opts.cert_der.as_deref()) {
                        Ok(_) => {
                            c.authenticated = true;
                            st.ntlm_handshakes.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => {
                            c.authenticated = false;
                            return Err(unauthorized(&offered.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// One accept step; returns the output token (the challenge after a type 1 message).
fn ntlm_accept(
    ntlm: &mut Ntlm,
    user: &str,
    pass: &str,
    token: &[u8],
    cert_der: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let identity = AuthIdentity { username: Username::parse(user).unwrap(), password: pass.to_string().into() };
    let mut creds = ntlm
        .acquire_credentials_handle()
        .with_credential_use(CredentialUse::Inbound)
        .with_auth_data(&identity)
        .execute(ntlm)
        .map_err(|e| e.to_string())?
        .credentials_handle;
    let mut input = vec![SecurityBuffer::new(token.to_vec(), BufferType::Token)];
    if let Some(der) = cert_der {
        use sha2::Digest;
        let mut app = b"tls-server-end-point:".to_vec();
        app.extend_from_slice(&sha2::Sha256::digest(der));
        let mut cb = vec![0u8; 24];
        cb.extend_from_slice(&(app.len() as u32).to_le_bytes());
        cb.extend_from_slice(&32u32.to_le_bytes());
        cb.extend_from_slice(&app);
        input.push(SecurityBuffer::new(cb, BufferType::ChannelBindings));
    }
    let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let builder = ntlm
        .accept_security_context()
        .with_credentials_handle(&mut creds)
        .with_context_requirements(ServerRequestFlags::ALLOCATE_MEMORY)
        .with_target_data_representation(DataRepresentation::Native)
        .with_input(&mut input)
        .with_output(&mut output);
    let result = ntlm
        .accept_security_context_impl(builder)
        .and_then(|mut g| g.resolve_to_result())
        .map_err(|e| e.to_string())?;
    if matches!(result.status, SecurityStatus::CompleteNeeded | SecurityStatus::CompleteAndContinue) {
        ntlm.complete_auth_token(&mut output).map_err(|e| e.to_string())?;
    }
    Ok(std::mem::take(&mut output[0].buffer))
}

fn token(st: &Arc<State>, body: &[u8]) -> Response<Full<Bytes>> {
    let ServerAuth::Bearer { client_id, client_secret, expires_in } = &st.opts.auth else {
        return build(Resp::status(404, ""), false);
    };
    let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("client_id") != Some(client_id)
        || form.get("client_secret") != Some(client_secret)
    {
        return build(
            Resp::status(401, r#"{"error":"invalid_client","error_description":"bad secret"}"#)
                .header("content-type", "application/json"),
            false,
        );
    }
    let n = st.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    let tok = format!("tok-{n}");
    st.tokens.lock().unwrap().insert(tok.clone(), Instant::now() + Duration::from_secs(*expires_in));
    build(
        Resp::ok(format!(r#"{{"access_token":"{tok}","token_type":"Bearer","expires_in":{expires_in}}}"#))
            .header("content-type", "application/json"),
        false,
    )
}

/// A test CA and a server certificate for `localhost`/127.0.0.1 it signed.
pub struct TestPki {
    pub ca_pem: String,
    pub server: Arc<rustls::ServerConfig>,
    pub leaf_der: Vec<u8>,
    pub leaf_pem: String,
    pub key_pem: String,
}

pub fn pki(names: &[&str], expired: bool) -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "exbridge test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let leaf_der = cert.der().to_vec();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    TestPki { ca_pem: ca.pem(), server: Arc::new(server), leaf_der, leaf_pem: cert.pem(), key_pem: key.serialize_pem() }
}

/// A minimal HTTP CONNECT proxy that requires `Proxy-Authorization: Basic user:pass` and counts
/// the tunnels it opened.
pub struct TestProxy {
    pub addr: SocketAddr,
    pub connects: Arc<AtomicUsize>,
    pub refused: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestProxy {
    pub async fn start(user: &str, pass: &str) -> TestProxy {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connects = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let want = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")));
        let (c2, r2) = (connects.clone(), refused.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                let (connects, refused, want) = (c2.clone(), r2.clone(), want.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if client.read(&mut b).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(b[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let mut lines = head.lines();
                    let first = lines.next().unwrap_or_default().to_string();
                    let target = first.split_whitespace().nth(1).unwrap_or_default().to_string();
                    let auth_ok = lines.any(|l| {
                        l.split_once(':')
                            .is_some_and(|(k, v)| k.eq_ignore_ascii_case("proxy-authorization") && v.trim() == want)
                    });
                    if !first.starts_with("CONNECT ") || !auth_ok {
                        refused.fetch_add(1, Ordering::SeqCst);
                        let _ = client
                            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"proxy\"\r\nContent-Length: 0\r\n\r\n")
                            .await;
                        return;
                    }
                    // Tunnels only to loopback, whatever name was asked for.
                    let port = target.rsplit(':').next().unwrap_or("0");
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n").await;
                        return;
                    };
                    connects.fetch_add(1, Ordering::SeqCst);
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        TestProxy { addr, connects, refused, task }
    }
}
