//! The simulator's HTTP(S) server: one hyper HTTP/1.1 connection per accepted socket (so NTLM
//! can authenticate the connection), axum routes for EWS, Autodiscover, the OAuth token
//! endpoint and the control API.

pub mod conn;
pub mod control;
pub mod ews;
pub mod faults;
pub mod stats;
pub mod streaming;
pub mod throttle;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Extension;
use axum::Router;
use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::{HeaderMap, Request, Response, StatusCode, Uri, header};
use axum::routing::post;
use ews_proto::ops::GetStreamingEvents;
use ews_proto::soap::ServerVersionInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_service::Service as _;

use crate::auth::{Authenticator, Credentials, Directory, MailboxInfo};
use crate::config::SimConfig;
use crate::seed::{SeedConfig, seeded_store};
use crate::store::Store;
use conn::ConnInfo;
pub use ews::{Endpoint, EwsOperations, NotImplemented, RequestContext, StreamOpen};
use faults::FaultState;
use stats::{Stats, StatsSnapshot};
use streaming::{StreamEnvelopes, StreamRegistry, StreamTiming, XmlEnvelopes};
use throttle::{BudgetKey, Limiter};

/// What every request handler shares.
pub struct SimState {
    pub config: SimConfig,
    pub local_addr: SocketAddr,
    pub server_version: ServerVersionInfo,
    pub auth: Authenticator,
    pub stats: Stats,
    pub faults: Mutex<FaultState>,
    /// `EWSMaxConcurrency`.
    pub concurrency: Limiter,
    pub streams: StreamRegistry,
    pub ops: Arc<dyn EwsOperations>,
    /// The mailboxes.
    pub store: Arc<Store>,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl SimState {
    /// The `GET /sim/stats` document.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot(self.store.active_subscription_count() as u64, self.streams.open_count() as u64)
    }
}

impl Directory for Store {
    fn resolve(&self, address: &str) -> Option<MailboxInfo> {
        let m = self.mailbox(address).ok()?;
        Some(MailboxInfo { smtp: m.smtp().to_string(), display_name: m.display_name().to_string() })
    }
}

/// A running simulator.
pub struct RunningSim {
    addr: SocketAddr,
    state: Arc<SimState>,
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for RunningSim {
    /// Dropping a running simulator stops it (without waiting).
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        self.state.streams.close_all();
    }
}

impl std::fmt::Debug for RunningSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSim").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl RunningSim {
    /// The address it listens on (with the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (or `https://…`).
    pub fn base_url(&self) -> String {
        let scheme = if self.state.config.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The EWS endpoint URL.
    pub fn ews_url(&self) -> String {
        format!("{}/EWS/Exchange.asmx", self.base_url())
    }

    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// The mailbox store behind the simulator.
    pub fn store(&self) -> &Arc<Store> {
        &self.state.store
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.state.stats()
    }

    /// Stops accepting, ends streaming connections with `Closed`, lets open requests finish
    /// (at most a few seconds), then returns.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        self.state.streams.close_all();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Starts the simulator: seeds the mailboxes from the configuration (`--seed`,
/// `--mailboxes`, `--events-per-mailbox`, `--domain`) and serves them.
pub async fn start(config: SimConfig) -> anyhow::Result<RunningSim> {
    let seed = SeedConfig::new(config.seed, config.mailboxes, config.events_per_mailbox, config.domain.clone());
    let store = tokio::task::spawn_blocking(move || seeded_store(&seed)).await?.context("seeding the mailboxes")?;
    let store = Arc::new(store);
    let ops = Arc::new(crate::ops::SimOperations::new(store.clone()));
    start_with(config, store, ops).await
}

/// Starts the simulator on a given store with the given operations.
pub async fn start_with(
    config: SimConfig,
    store: Arc<Store>,
    ops: Arc<dyn EwsOperations>,
) -> anyhow::Result<RunningSim> {
    let tls = match &config.tls {
        Some(files) => Some(load_tls(&files.cert, &files.key)?),
        None => None,
    };
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let server_version = config.version.server_version_info();
    let envelopes: Arc<dyn StreamEnvelopes> = Arc::new(XmlEnvelopes { server_version: server_version.clone() });
    let state = Arc::new(SimState {
        local_addr: addr,
        server_version,
        auth: Authenticator::new(
            Credentials {
                domain: config.domain.clone(),
                service_user: config.service_user.clone(),
                service_password: config.service_password.clone(),
                user_password: config.user_password.clone(),
            },
            config.token_lifetime,
            store.clone(),
        ),
        stats: Stats::default(),
        faults: Mutex::new(FaultState::default()),
        concurrency: Limiter::new(config.limits.concurrency),
        streams: StreamRegistry::new(
            config.limits.hanging_connections,
            config.limits.subscriptions_per_connection,
            StreamTiming { heartbeat: config.heartbeat_interval, minute: config.connection_timeout_unit },
            envelopes,
        ),
        ops,
        store,
        config,
    });
    let router = router(state.clone());
    let (shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, tls, router, shutdown_rx));
    Ok(RunningSim { addr, state, shutdown, task: Some(task) })
}

/// `exbridge sim`: runs until SIGINT or SIGTERM.
pub async fn run(config: SimConfig) -> anyhow::Result<()> {
    let mailboxes = config.mailboxes;
    let sim = start(config).await?;
    println!("exbridge sim: EWS at {} ({} mailboxes)", sim.ews_url(), mailboxes);
    println!("control API at {}/sim/ (stats: {}/sim/stats)", sim.base_url(), sim.base_url());
    wait_for_signal().await;
    println!("exbridge sim: shutting down");
    sim.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn load_tls(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;

    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("invalid PEM in {}", cert.display()))?;
    anyhow::ensure!(!certs.is_empty(), "no certificate in {}", cert.display());
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("cannot read the TLS key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not fit together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = until_set(&mut shutdown) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let _ = sock.set_nodelay(true);
                    let (tls, router, shutdown) = (tls.clone(), router.clone(), shutdown.clone());
                    conns.spawn(async move {
                        match tls {
                            None => serve_io(sock, peer, false, router, shutdown).await,
                            Some(acceptor) => {
                                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(sock)).await {
                                    Ok(Ok(s)) => serve_io(s, peer, true, router, shutdown).await,
                                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                                }
                            }
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
        conns.abort_all();
    }
}

/// Resolves once the flag is set (or its sender is gone).
async fn until_set(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|s| *s).await;
}

/// IIS matches paths case-insensitively: `/EWS/Exchange.asmx` and `/ews/exchange.asmx` are one.
fn normalize_path<B>(req: &mut Request<B>) {
    let path = req.uri().path();
    let lower = path.to_ascii_lowercase();
    if lower == path || !(lower.starts_with("/ews/") || lower.starts_with("/autodiscover/")) {
        return;
    }
    let pq = match req.uri().query() {
        Some(q) => format!("{lower}?{q}"),
        None => lower,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

async fn serve_io<I>(io: I, peer: SocketAddr, tls: bool, router: Router, mut shutdown: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let info = ConnInfo::new(peer, tls);
    let kill = info.kill.clone();
    let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        normalize_path(&mut req);
        req.extensions_mut().insert(info.clone());
        let mut router = router.clone();
        async move { router.call(req).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(120))
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        // drop_streams: dropping the connection closes the socket without another byte.
        _ = kill.killed() => {}
        _ = until_set(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = kill.killed() => {}
                _ = tokio::time::sleep(Duration::from_secs(3)) => {}
            }
        }
    }
}

fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/ews/exchange.asmx", post(ews_endpoint).get(method_not_allowed))
        .route("/autodiscover/autodiscover.svc", post(autodiscover_soap))
        .route("/autodiscover/autodiscover.xml", post(autodiscover_pox))
        .merge(control::routes())
        .with_state(state)
}

async fn method_not_allowed() -> StatusCode {
    StatusCode::METHOD_NOT_ALLOWED
}

async fn ews_endpoint(
    State(state): State<Arc<SimState>>,
    Extension(conn): Extension<Arc<ConnInfo>>,
    headers: HeaderMap,
    body: HttpBody,
) -> Response<HttpBody> {
    let affinity = affinity_cookie(&state, &headers);
    let mut r = ews::serve(state, conn, Endpoint::Ews, headers, body).await;
    if let Some(cookie) = affinity {
        r.headers_mut().append(header::SET_COOKIE, cookie);
    }
    r
}

/// With `X-PreferServerAffinity: true`, Exchange names the mailbox server holding the anchor
/// mailbox in an `X-BackEndOverrideCookie` cookie; the simulator has one back end.
fn affinity_cookie(state: &SimState, headers: &HeaderMap) -> Option<axum::http::HeaderValue> {
    let prefer = headers.get("x-preferserveraffinity")?.to_str().ok()?;
    if !prefer.trim().eq_ignore_ascii_case("true") {
        return None;
    }
    let anchor = headers.get("x-anchormailbox").and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    // A stable number per anchor mailbox (FNV-1a), like the database hash Exchange appends.
    let hash = anchor.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    let value = format!("X-BackEndOverrideCookie=EXCH01.{}~{hash}; path=/", state.config.domain);
    axum::http::HeaderValue::from_str(&value).ok()
}

async fn autodiscover_soap(
    State(state): State<Arc<SimState>>,
    Extension(conn): Extension<Arc<ConnInfo>>,
    headers: HeaderMap,
    body: HttpBody,
) -> Response<HttpBody> {
    ews::serve(state, conn, Endpoint::Autodiscover, headers, body).await
}

async fn autodiscover_pox(
    State(state): State<Arc<SimState>>,
    Extension(conn): Extension<Arc<ConnInfo>>,
    headers: HeaderMap,
    body: HttpBody,
) -> Response<HttpBody> {
    let (account, body) = match ews::authenticate(&state, &conn, &headers, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    state.stats.request("Autodiscover");
    let bytes = match ews::read_body(body, state.config.max_request_bytes).await {
        Ok(b) => b,
        Err(e) => {
            state.stats.response(400);
            return Response::builder().status(StatusCode::BAD_REQUEST).body(HttpBody::from(e)).unwrap();
        }
    };
    let ctx = RequestContext {
        mailbox: state.auth.directory().resolve(&account.name),
        account,
        impersonating: false,
        version: ews_proto::soap::ExchangeVersion::Exchange2007_SP1,
        server_version: state.server_version.clone(),
        time_zone_context: None,
        header: Default::default(),
        anchor_mailbox: None,
        connection_id: conn.id,
        endpoint: Endpoint::Autodiscover,
        base_url: ews::base_url(&state, &conn, &headers),
        limits: state.config.limits,
    };
    let r = match state.ops.autodiscover_pox(&ctx, bytes).await {
        Some(xml) => {
            state.stats.outcome("Autodiscover", "NoError");
            ews::xml_response(StatusCode::OK, xml)
        }
        None => {
            state.stats.outcome("Autodiscover", "http:501");
            Response::builder()
                .status(StatusCode::NOT_IMPLEMENTED)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(HttpBody::from("POX Autodiscover is not implemented"))
                .unwrap()
        }
    };
    state.stats.response(r.status().as_u16());
    r
}

/// `GetStreamingEvents`: asks the operations what to carry, then runs the stream.
pub(crate) async fn stream_response(
    state: &Arc<SimState>,
    conn: &Arc<ConnInfo>,
    ctx: &RequestContext,
    budget: BudgetKey,
    op: &str,
    req: GetStreamingEvents,
) -> Response<HttpBody> {
    let svi = &state.server_version;
    match state.ops.open_stream(ctx, req).await {
        Err(f) => {
            state.stats.outcome(op, &format!("fault:{}", f.response_code()));
            ews::fault_response(svi, f)
        }
        Ok(StreamOpen::Respond(body)) => {
            let xml = ews_proto::soap::Envelope::new(
                ews_proto::soap::Header { server_version_info: Some(svi.clone()), ..Default::default() },
                *body,
            )
            .to_xml_string();
            state.stats.outcome(op, "Respond");
            ews::xml_response(StatusCode::OK, xml)
        }
        Ok(StreamOpen::Stream(plan)) => match state.streams.open(budget, plan, conn.kill.clone()) {
            Ok(stream) => {
                state.stats.stream_opened();
                state.stats.outcome(op, "NoError");
                ews::xml_response(StatusCode::OK, HttpBody::from_stream(stream))
            }
            Err(e) => {
                if matches!(e, streaming::OpenError::TooManyConnections(_)) {
                    state.stats.fault("hanging_connection_limit");
                }
                state.stats.outcome(op, e.code().as_str());
                ews::xml_response(StatusCode::OK, state.streams.envelopes().error(e.code(), &e.message(), &[]))
            }
        },
    }
}
