//! `exbridge serve` and the connector half of `exbridge demo`: store, engine, webhook
//! dispatcher and HTTP server, started in that order and stopped in the reverse order.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use exbridge_config::Config;
use exbridge_engine::Connector;
use exbridge_engine::runtime::Engine;
use exbridge_store::Store;
use tokio::sync::watch;

/// A running connector.
pub struct Running {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    /// The address the API listens on (the real port when configured with port 0).
    pub addr: std::net::SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    dispatcher: exbridge_server::Dispatcher,
    /// The log file in `data_dir` (`None` when it could not be opened); flushed last.
    log_file: Option<crate::logging::FileGuard>,
}

/// Resolves once the stop flag is set.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Opens the store, starts the engine, the webhook dispatcher and the HTTP server.
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.server.data_dir)
        .with_context(|| format!("creating data_dir {}", config.server.data_dir.display()))?;
    let log_file = match crate::logging::start_file(&config.server.data_dir) {
        Ok(guard) => {
            tracing::info!(file = %guard.path().display(), "logging to a file");
            Some(guard)
        }
        Err(e) => {
            tracing::warn!(data_dir = %config.server.data_dir.display(), error = %e, "no log file");
            None
        }
    };
    ensure_sqlite_parent(&config.store.url)?;
    let key = config
        .store
        .encryption_key
        .as_ref()
        .map(|k| exbridge_store::StoreKey::parse(k.expose()))
        .transpose()
        .with_context(|| "reading store.encryption_key")?;
    let store = exbridge_store::open_store_with(&config.store.url, key)
        .await
        .with_context(|| format!("opening the store {}", redact_url(&config.store.url)))?;
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {} (server.listen)", config.server.listen))?;
    let addr = listener.local_addr()?;
    // Before the engine and the dispatcher register their series.
    if let Err(e) = exbridge_server::metrics::install() {
        tracing::warn!(error = %e, "GET /metrics is disabled");
    }
    let engine = Engine::start(config, store.clone()).await.context("starting the engine")?;
    let (stop, stop_rx) = watch::channel(false);
    let dispatcher = exbridge_server::spawn_dispatcher(store.clone(), &config.webhooks, stopped(stop_rx.clone()))
        .await
        .context("starting the webhook dispatcher")?;
    let connector: Arc<dyn Connector> = engine.clone();
    let app = exbridge_server::AppState::from_config(&config.server, connector, store.clone())
        .with_logs(crate::logging::buffer());
    let server = tokio::spawn(exbridge_server::serve(listener, app, stopped(stop_rx)));
    tracing::info!(%addr, webhooks = config.webhooks.len(), exchange = config.exchange.len(), "exbridge is running");
    Ok(Running { engine, store, addr, stop, server, dispatcher, log_file })
}

impl Running {
    /// Stops accepting requests, ends SSE streams, stops the engine (running syncs finish
    /// their transaction), lets in-flight webhook deliveries finish, then closes the store.
    /// Undelivered outbox entries stay in the store for the next start.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        match tokio::time::timeout(Duration::from_secs(10), self.server).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP server stopped with an error"),
            Err(_) => tracing::warn!("HTTP server did not stop within 10 s"),
            _ => {}
        }
        self.engine.shutdown().await;
        if tokio::time::timeout(Duration::from_secs(15), self.dispatcher.join()).await.is_err() {
            tracing::warn!("webhook deliveries still running after 15 s; they will be retried at the next start");
        }
        self.store.close().await;
        tracing::info!("stopped");
        drop(self.log_file);
    }
}

/// `exbridge serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let running = start(&config).await?;
    crate::alloc::spawn_trim_loop();
    println!("exbridge: API on http://{}/api/v1 (GET /healthz, /readyz)", running.addr);
    crate::signals::wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// Creates the folder of a `sqlite://PATH` database.
fn ensure_sqlite_parent(url: &str) -> anyhow::Result<()> {
    if let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        let path = rest.split('?').next().unwrap_or(rest);
        if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
    }
    Ok(())
}

/// The store URL without its password.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
