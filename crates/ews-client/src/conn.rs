//! One HTTP/1.1 connection we own: TCP, optionally through a proxy tunnel (`CONNECT`),
//! optionally TLS, then a hyper `client::conn::http1` handshake. NTLM authenticates such a
//! connection, so the connection carries its authentication state.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::config::ProxyConfig;
use crate::error::{ErrorClass, ErrorKind, EwsError};

/// Where to connect: the origin's scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl Origin {
    pub fn of(url: &url::Url) -> Result<Origin, EwsError> {
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            s => {
                return Err(EwsError::new(
                    ErrorClass::Fatal,
                    ErrorKind::Config,
                    format!("{url}: unsupported scheme {s} (https or http)"),
                ));
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| EwsError::new(ErrorClass::Fatal, ErrorKind::Config, format!("{url}: no host")))?;
        // IPv6 literals come bracketed from the URL; connecting and SNI want them bare.
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        Ok(Origin { tls, host, port: url.port_or_known_default().unwrap_or(if tls { 443 } else { 80 }) })
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default { host } else { format!("{host}:{}", self.port) }
    }

    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{host}:{}", self.port)
    }
}

/// Everything needed to open connections to origins.
#[derive(Clone)]
pub(crate) struct Connector {
    pub tls: Arc<rustls::ClientConfig>,
    pub proxy: Option<ProxyConfig>,
    pub connect_timeout: std::time::Duration,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

struct BoxedIo(Box<dyn Io>);

impl AsyncRead for BoxedIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for BoxedIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// An open HTTP/1.1 connection.
pub(crate) struct Conn {
    pub id: u64,
    pub sender: SendRequest<Full<Bytes>>,
    /// NTLM: the handshake succeeded on this connection.
    pub authenticated: bool,
    /// `tls-server-end-point` channel binding data when the connection is TLS.
    pub channel_binding: Option<Vec<u8>>,
    pub last_used: Instant,
}

impl Connector {
    /// Opens a connection to `origin`, all within the connect timeout.
    pub async fn connect(&self, origin: &Origin) -> Result<Conn, EwsError> {
        let what = match &self.proxy {
            Some(p) => format!("{} through proxy {}", origin.authority(), p.url),
            None => origin.authority(),
        };
        match tokio::time::timeout(self.connect_timeout, self.connect_inner(origin)).await {
            Ok(r) => r,
            Err(_) => Err(EwsError::new(
                ErrorClass::Transient,
                ErrorKind::Timeout,
                format!("connecting to {what} timed out after {:?}", self.connect_timeout),
            )),
        }
    }

    async fn connect_inner(&self, origin: &Origin) -> Result<Conn, EwsError> {
        let tcp = match &self.proxy {
            None => tcp_connect(&origin.host, origin.port).await?,
            Some(proxy) => {
                let (ph, pp) = proxy.host_port();
                let mut tcp = tcp_connect(&ph, pp).await.map_err(|e| {
                    let msg = format!("proxy {}: {}", proxy.url, e.message());
                    EwsError::new(e.class(), e.kind().clone(), msg)
                })?;
                connect_tunnel(&mut tcp, proxy, origin).await?;
                tcp
            }
        };
        let _ = tcp.set_nodelay(true);
        let (io, channel_binding) = if origin.tls {
            let server_name = rustls::pki_types::ServerName::try_from(origin.host.clone()).map_err(|e| {
                EwsError::new(
                    ErrorClass::Fatal,
                    ErrorKind::Config,
                    format!("{}: not a valid TLS server name: {e}", origin.host),
                )
            })?;
            let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
            let tls = connector.connect(server_name, tcp).await.map_err(|e| {
                let class = if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
                    ErrorClass::Fatal
                } else {
                    // Reset or closed during the handshake: maybe a restarting server.
                    ErrorClass::Transient
                };
                EwsError::new(class, ErrorKind::Tls, crate::tls::explain_handshake_error(&e, &origin.host))
                    .with_source(e)
            })?;
            let cbt = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| crate::tls::tls_server_end_point(c.as_ref()));
            (BoxedIo(Box::new(tls)), cbt)
        } else {
            (BoxedIo(Box::new(tcp)), None)
        };
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| EwsError::new(ErrorClass::Transient, ErrorKind::Connect, format!("HTTP handshake: {e}")))?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(conn = id, error = %e, "EWS connection closed with an error");
            }
        });
        tracing::debug!(conn = id, origin = %origin.authority(), tls = origin.tls, "EWS connection opened");
        Ok(Conn { id, sender, authenticated: false, channel_binding, last_used: Instant::now() })
    }
}

async fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, EwsError> {
    let addrs: Vec<std::net::SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(a) => a.collect(),
        Err(e) => {
            return Err(EwsError::new(
                ErrorClass::Fatal,
                ErrorKind::Dns,
                format!("DNS lookup of {host} failed: {e}; check the host name"),
            )
            .with_source(e));
        }
    };
    if addrs.is_empty() {
        return Err(EwsError::new(ErrorClass::Fatal, ErrorKind::Dns, format!("DNS lookup of {host} found no address")));
    }
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    let e = last.expect("at least one address was tried");
    Err(EwsError::new(ErrorClass::Transient, ErrorKind::Connect, format!("cannot connect to {host}:{port}: {e}"))
        .with_source(e))
}

/// Sends `CONNECT host:port` and reads the proxy's answer.
async fn connect_tunnel(tcp: &mut TcpStream, proxy: &ProxyConfig, origin: &Origin) -> Result<(), EwsError> {
    let authority = origin.authority();
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(user) = &proxy.username {
        let pass = proxy.password.as_ref().map(|p| p.expose_secret()).unwrap_or("");
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    req.push_str("\r\n");
    let io_err = |e: std::io::Error| {
        EwsError::new(ErrorClass::Transient, ErrorKind::Proxy, format!("proxy {}: {e}", proxy.url)).with_source(e)
    };
    tcp.write_all(req.as_bytes()).await.map_err(io_err)?;
    // Read the response head byte by byte: nothing after it may be consumed, it belongs to TLS.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(EwsError::new(
                ErrorClass::Fatal,
                ErrorKind::Proxy,
                format!("proxy {}: response head too long", proxy.url),
            ));
        }
        let n = tcp.read(&mut byte).await.map_err(io_err)?;
        if n == 0 {
            return Err(EwsError::new(
                ErrorClass::Transient,
                ErrorKind::Proxy,
                format!("proxy {} closed the connection during CONNECT {authority}", proxy.url),
            ));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or_default();
    let status: u16 = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    match status {
        200..=299 => Ok(()),
        407 => Err(EwsError::new(
            ErrorClass::Fatal,
            ErrorKind::Proxy,
            format!(
                "proxy {} requires authentication (407) for CONNECT {authority}: {}",
                proxy.url,
                if proxy.username.is_some() {
                    "check the proxy credentials"
                } else {
                    "put user:password in the proxy URL"
                }
            ),
        )
        .with_status(407)),
        s => Err(EwsError::new(
            if matches!(s, 502..=504) { ErrorClass::Transient } else { ErrorClass::Fatal },
            ErrorKind::Proxy,
            format!("proxy {} refused CONNECT {authority}: {}", proxy.url, status_line.trim()),
        )
        .with_status(s)),
    }
}
