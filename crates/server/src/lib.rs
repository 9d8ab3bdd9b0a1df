//! # exbridge-server: the HTTP face of exbridge
//!
//! * [`api`]: `/api/v1` (CONTRACT §4): users, events, presence, free/busy; `/healthz`, `/readyz`.
//! * [`auth`]: `Authorization: Bearer <token>`, compared in constant time; which tokens see
//!   private details.
//! * [`mask`]: the one masking function for private events, used by the API, SSE and webhooks.
//! * [`sse`]: `GET /api/v1/stream`, the outbox as Server-Sent Events with `Last-Event-ID` resume.
//! * [`webhooks`]: the webhook dispatcher (CONTRACT §5): signed POSTs from the durable outbox,
//!   in order per user, retried with backoff, surviving restarts.
//! * [`tasks`]: `/api/v1/users/{id}/tasks[/{task_id}]`: the mirrored Exchange tasks, read and
//!   written through.
//! * [`openapi`]: the OpenAPI 3.1 document served at `GET /api/v1/openapi.json`.
//! * [`metrics`]: `GET /metrics` in the Prometheus text format (no token).
//! * [`ui`]: the admin web UI under `/ui/` (login with `[server] admin_password`); `/`
//!   redirects there when it is enabled, and shows a plain status page otherwise.
//!
//! The server talks to the engine only through [`exbridge_engine::Connector`] and reads the
//! outbox from [`exbridge_store::Store`]; it never talks to Exchange itself.
//!
//! Event and task writes (`POST/PATCH/DELETE …/events`, `…/tasks`) go to the engine
//! (`exbridge_engine::writes`, `exbridge_engine::task_sync`).

// The OpenAPI document is one large `json!` literal.
#![recursion_limit = "512"]

pub mod api;
pub mod auth;
pub mod error;
pub mod logs;
pub mod mask;
pub mod metrics;
pub mod openapi;
pub mod sse;
mod status;
pub mod tasks;
pub mod ui;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::{Method, Uri};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use exbridge_engine::Connector;
use exbridge_store::Store;
use tokio::sync::watch;
use tower_http::trace::TraceLayer;

pub use auth::{ApiToken, Caller, Tokens};
pub use error::ApiError;
pub use webhooks::{DispatchOptions, Dispatcher, spawn_dispatcher, start_dispatcher};

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub connector: Arc<dyn Connector>,
    /// The store (the outbox, for SSE).
    pub store: Arc<dyn Store>,
    /// The accepted API tokens.
    pub tokens: Tokens,
    /// Recent log lines for the admin UI, when the binary collects them.
    pub logs: Option<Arc<logs::LogBuffer>>,
    /// The admin UI, when enabled (`[server] admin_password` set).
    pub ui: Option<Arc<ui::UiState>>,
    /// Set to `true` by [`serve`] when shutting down: SSE streams end.
    shutdown: Arc<watch::Sender<bool>>,
}

impl AppState {
    /// A state with explicit tokens.
    pub fn new(connector: Arc<dyn Connector>, store: Arc<dyn Store>, tokens: Tokens) -> Self {
        AppState { connector, store, tokens, logs: None, ui: None, shutdown: Arc::new(watch::channel(false).0) }
    }

    /// A state with the tokens of `[server]`: `api_tokens` see private events masked,
    /// `private_api_tokens` see them in full; the admin UI when `admin_password` is set (its
    /// Argon2id hash is computed here).
    pub fn from_config(
        server: &exbridge_config::ServerConfig,
        connector: Arc<dyn Connector>,
        store: Arc<dyn Store>,
    ) -> Self {
        let mut app = Self::new(connector, store, Tokens::from_config(server));
        app.ui = ui::UiState::from_config(server).map(Arc::new);
        app
    }

    /// The same state, with the admin UI enabled.
    pub fn with_ui(mut self, ui: ui::UiState) -> Self {
        self.ui = Some(Arc::new(ui));
        self
    }

    /// The same state, with the log lines the admin UI shows.
    pub fn with_logs(mut self, logs: Arc<logs::LogBuffer>) -> Self {
        self.logs = Some(logs);
        self
    }

    /// Ends the SSE streams of this state (what [`serve`] does on shutdown).
    pub fn close_streams(&self) {
        self.shutdown.send_replace(true);
    }
}

/// Every route: (method, path, handler), in the order of the OpenAPI document. `auth` says
/// whether the route needs a token.
fn route_table() -> Vec<(Method, &'static str, bool, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/healthz", false, get(api::healthz)),
        (Method::GET, "/readyz", false, get(api::readyz)),
        (Method::GET, "/metrics", false, get(metrics::serve_metrics)),
        (Method::GET, "/api/v1/openapi.json", false, get(openapi::serve_document)),
        (Method::GET, "/api/v1/users", true, get(api::list_users)),
        (Method::PUT, "/api/v1/users", true, put(api::replace_users)),
        (Method::POST, "/api/v1/users", true, post(api::upsert_user)),
        (Method::GET, "/api/v1/users/{id}", true, get(api::get_user)),
        (Method::DELETE, "/api/v1/users/{id}", true, delete(api::delete_user)),
        (Method::GET, "/api/v1/users/{id}/events", true, get(api::events)),
        (Method::POST, "/api/v1/users/{id}/events", true, post(api::create_event)),
        (Method::PATCH, "/api/v1/users/{id}/events/{event_id}", true, patch(api::update_event)),
        (Method::DELETE, "/api/v1/users/{id}/events/{event_id}", true, delete(api::delete_event)),
        (Method::GET, "/api/v1/users/{id}/writes/{write_id}", true, get(api::get_write)),
        (Method::GET, "/api/v1/users/{id}/presence", true, get(api::presence)),
        (Method::GET, "/api/v1/users/{id}/freebusy", true, get(api::free_busy)),
        (Method::GET, "/api/v1/stream", true, get(sse::stream)),
    ]
    .into_iter()
    .chain(tasks::routes())
    .collect()
}

/// The (method, path) of every route the router serves, for the OpenAPI test and docs.
pub fn routes() -> Vec<(Method, &'static str)> {
    route_table().into_iter().map(|(m, p, _, _)| (m, p)).collect()
}

/// The router of the whole server.
pub fn router(app: AppState) -> Router {
    let mut public = Router::new();
    let mut private = Router::new();
    for (_, path, auth, handler) in route_table() {
        if auth {
            private = private.route(path, handler);
        } else {
            public = public.route(path, handler);
        }
    }
    let private = private
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move { not_served(&method, uri.path(), true) })
        .layer(axum::middleware::from_fn_with_state(app.tokens.clone(), auth::require_token));
    let ui = ui::router(&app);
    public
        .route("/", get(root))
        .merge(ui)
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move { not_served(&method, uri.path(), true) })
        .merge(private)
        .fallback(|method: Method, uri: Uri| async move { not_served(&method, uri.path(), false) })
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// `GET /`: the admin UI when enabled, otherwise the status page.
async fn root(state: axum::extract::State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if state.ui.is_some() {
        axum::response::Redirect::to("/ui/").into_response()
    } else {
        status::page(state).await.into_response()
    }
}

/// The answer for a request no route serves: 405 (`path_exists`) or 404, in the API's error
/// shape.
fn not_served(method: &Method, path: &str, path_exists: bool) -> ApiError {
    use axum::http::StatusCode;
    if path_exists {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("{method} is not served on {path}"))
    } else {
        ApiError::route_not_found(path)
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, ends the SSE
/// streams and waits for the requests in progress.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let trigger = app.shutdown.clone();
    let router = router(app);
    // The peer's address lets the admin UI refuse non-loopback clients.
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            trigger.send_replace(true);
        })
        .await
}
