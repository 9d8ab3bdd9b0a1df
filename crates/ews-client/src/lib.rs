//! # ews-client: the connector's window onto Exchange
//!
//! An EWS client for on-premises Exchange 2016/2019/SE (and Exchange Online while it lasts):
//!
//! * **Transport**: HTTP/1.1 connections it owns (hyper 1 `client::conn::http1`), kept alive and
//!   reused per server; TLS with rustls, always verified (system roots, Mozilla roots, extra
//!   CA files); HTTP proxies through `CONNECT` with Basic proxy credentials; connect and request
//!   timeouts; gzip/deflate responses.
//! * **Auth**: Basic; NTLMv2 per connection (sspi), with the `tls-server-end-point` channel
//!   binding for Extended Protection; OAuth2 client credentials with a cached token refreshed
//!   before it expires (one fetch at a time).
//! * **Calls**: [`EwsClient::call`] sends a typed [`ews_proto::Operation`] with
//!   `RequestServerVersion`, `ExchangeImpersonation` and `X-AnchorMailbox`, and maps SOAP faults
//!   and HTTP errors to an [`EwsError`] that says what failed, where, for whom and whether it
//!   is worth retrying ([`ErrorClass`]).
//! * **Throttling**: `ErrorServerBusy` / 503 / 429 pause *all* requests to the server for the
//!   time it asked; an AIMD limiter shrinks concurrency under pressure and lets it recover;
//!   transient errors get a few jittered retries, nothing more.
//! * **Autodiscover** ([`autodiscover`]): SOAP `GetUserSettings` then POX, on the domain's two
//!   hosts or an explicit URL, redirects (address, URL, HTTP) bounded at 10 with loop detection,
//!   authenticated like EWS (NTLM runs its handshake on each one-off connection), cached per
//!   address and per domain; batches of 100 users per request for many addresses. An error lists
//!   every candidate tried and why it failed.
//! * **Streaming notifications** ([`streaming`]): [`StreamingManager`] subscribes thousands of
//!   mailboxes (bounded concurrency, through the same throttling), groups them by
//!   `GroupingInformation` into `GetStreamingEvents` connections of at most 200 subscriptions with
//!   anchor-mailbox affinity (`X-AnchorMailbox`, `X-PreferServerAffinity`,
//!   `X-BackEndOverrideCookie`), keeps each on a dedicated authenticated connection with a
//!   heartbeat watchdog and jittered reconnects, never exceeds the hanging-connection budget of
//!   any account, and reports [`StreamEvent`]s: changes, **gaps** (resynchronise these
//!   mailboxes), connection states and per-mailbox subscribe failures.
//! * **Configuration** ([`from_config`]): `[[exchange]]` of the contract configuration to
//!   [`ServerConfig`], [`AutodiscoverConfig`] and [`StreamingConfig`].
//!
//! Measured on the development machine (debug build, loopback simulator): 1,000 mailboxes
//! subscribed and streaming on 5 connections in about 0.2 s; 10,000 on 50 connections in about
//! 2 s.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ews_client::EwsError> {
//! use ews_client::{AuthConfig, EwsClient, ServerConfig};
//! use secrecy::SecretString;
//! let cfg = ServerConfig::new(
//!     "primary",
//!     "https://mail.contoso.com/EWS/Exchange.asmx".parse().unwrap(),
//!     AuthConfig::Ntlm { username: "CONTOSO\\svc-exbridge".into(), password: SecretString::from("…") },
//! );
//! let client = EwsClient::new(cfg)?;
//! let check = client.check_connection(None).await?;
//! println!("{} answers as {:?} in {:?}", check.server, check.server_version, check.latency);
//! # Ok(()) }
//! ```
//!
//! Metrics (through the `metrics` facade; the binary installs the exporter):
//! `ews_requests_total{server,operation,outcome}`, `ews_request_duration_seconds{…}`,
//! `ews_retries_total{server,operation}`, `ews_throttled_total{server}`,
//! `ews_concurrency_limit{server}`, `ews_connections_opened_total{server}`.

mod auth;
pub mod autodiscover;
mod client;
pub mod config;
mod conn;
pub mod error;
pub mod from_config;
pub mod streaming;
pub mod throttle;
pub mod tls;
mod transport;

pub use autodiscover::{Autodiscover, AutodiscoverConfig, AutodiscoverError, UserSettings};
pub use client::{CallOptions, ClientStats, ConnectionCheck, EwsClient, SoapResponse, server_version_text};
pub use config::{AuthConfig, OAuth2Config, ProxyConfig, ServerConfig, ThrottleConfig, Timeouts};
pub use error::{ErrorClass, ErrorKind, EwsError};
pub use streaming::{
    ChangeKind, ConnectionPhase, GapReason, MailboxSpec, StreamEvent, StreamingConfig, StreamingManager,
    StreamingStats, WatchedFolder,
};
