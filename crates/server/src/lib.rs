//! # exbridge-server: the HTTP face of exbridge
//!
//! * [`api`]: `/api/v1` (CONTRACT §4): users, events, presence, free/busy; `/healthz`, `/readyz`.
//! * [`auth`]: `Authorization: Bearer <token>`, compared in constant time; which tokens see
//!   private details.
//! * [`mask`]: the one masking function for private events, used by the API, SSE and webhooks.
//! * [`sse`]: `GET /api/v1/stream`, the outbox as Server-Sent Events with `Last-Event-ID` resume.
//! * [`webhooks`]: the webhook dispatcher (CONTRACT §5): signed POSTs from the durable outbox,
//!   in order per user, retried with backoff, surviving restarts.
//! * [`openapi`]: the OpenAPI 3.1 document served at `GET /api/v1/openapi.json`.
//! * [`metrics`]: `GET /metrics` in the Prometheus text format (no token).
//!
//! The server talks to the engine only through [`exbridge_engine::Connector`] and reads the
//! outbox from [`exbridge_store::Store`]; it never talks to Exchange itself.
//!
//! Event writes (`POST/PATCH/DELETE …/events`) go to the engine (`exbridge_engine::writes`);
//! the task write endpoints (`…/tasks`) are not served yet and answer 501 `not_implemented`.

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
    /// Set to `true` by [`serve`] when shutting down: SSE streams end.
    shutdown: Arc<watch::Sender<bool>>,
}

impl AppState {
    /// A state with explicit tokens.
    pub fn new(connector: Arc<dyn Connector>, store: Arc<dyn Store>, tokens: Tokens) -> Self {
        AppState { connector, store, tokens, logs: None, shutdown: Arc::new(watch::channel(false).0) }
    }

    /// A state with the tokens of `[server]`: `api_tokens` see private events masked,
    /// `private_api_tokens` see them in full.
    pub fn from_config(
        server: &exbridge_config::ServerConfig,
        connector: Arc<dyn Connector>,
        store: Arc<dyn Store>,
    ) -> Self {
        Self::new(connector, store, Tokens::from_config(server))
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
    public
        .route("/", get(status::page))
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move { not_served(&method, uri.path(), true) })
        .merge(private)
        .fallback(|method: Method, uri: Uri| async move { not_served(&method, uri.path(), false) })
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// The answer for a request no route serves: 501 for the task write endpoints of CONTRACT §4
/// (not implemented yet), otherwise 405 (`path_exists`) or 404, in the API's error
/// shape.
fn not_served(method: &Method, path: &str, path_exists: bool) -> ApiError {
    use axum::http::StatusCode;
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let write = matches!(*method, Method::POST | Method::PATCH | Method::PUT | Method::DELETE);
    let calendar_write =
        write && matches!(segments.as_slice(), ["", "api", "v1", "users", _, "tasks", ..]) && segments.len() <= 7;
    if calendar_write {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            format!("{method} {path}: writing tasks through the API is not implemented yet"),
        )
    } else if path_exists {
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
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            trigger.send_replace(true);
        })
        .await
}
