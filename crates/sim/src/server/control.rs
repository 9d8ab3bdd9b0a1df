//! The control API under `/sim/` (JSON, no authentication) and the OAuth2 token endpoint.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use base64::Engine;
use serde_json::{Value, json};

use super::SimState;
use super::faults::FaultSpec;
use crate::auth::TokenRequestError;
use crate::json::{self, ApiError};

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/sim/oauth2/token", post(token))
        .route("/sim/stats", get(stats))
        .route("/sim/faults", post(fault))
        .route("/sim/mailboxes", post(create_mailbox))
        .route("/sim/mailboxes/{smtp}/items", get(list_items).post(create_item))
        .route("/sim/mailboxes/{smtp}/items/{item_id}", patch(patch_item).delete(delete_item))
        .route("/sim/mailboxes/{smtp}/oof", put(put_oof))
        .route("/sim/mailboxes/{smtp}/tasks", get(list_tasks).post(create_task))
        .route("/sim/mailboxes/{smtp}/tasks/{item_id}", patch(patch_task).delete(delete_item))
}

/// `{"error":{"code":…,"message":…}}` with a status.
pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": {"code": code, "message": message.into()}}))).into_response()
}

fn api_result<T: serde::Serialize>(status: StatusCode, r: Result<T, ApiError>) -> Response {
    match r {
        Ok(v) => (status, Json(v)).into_response(),
        Err(e) => api_error(&e),
    }
}

fn api_error(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(e.body())).into_response()
}

/// The JSON body, or the 400 to answer.
fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    let text = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    serde_json::from_slice(text).map_err(|e| ApiError {
        status: 400,
        code: "invalid_json",
        message: format!("the body is not JSON: {e}"),
        field: None,
    })
}

async fn create_mailbox(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    match json_body(&body) {
        Ok(v) => api_result(StatusCode::CREATED, json::apply_create_mailbox(&state.store, &v)),
        Err(e) => api_error(&e),
    }
}

async fn list_items(State(state): State<Arc<SimState>>, Path(smtp): Path<String>) -> Response {
    api_result(StatusCode::OK, json::list_items(&state.store, &smtp))
}

async fn create_item(State(state): State<Arc<SimState>>, Path(smtp): Path<String>, body: Bytes) -> Response {
    match json_body(&body) {
        Ok(v) => api_result(StatusCode::CREATED, json::apply_create(&state.store, &smtp, &v)),
        Err(e) => api_error(&e),
    }
}

async fn patch_item(
    State(state): State<Arc<SimState>>,
    Path((smtp, item_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    match json_body(&body) {
        Ok(v) => api_result(StatusCode::OK, json::apply_patch(&state.store, &smtp, &item_id, &v)),
        Err(e) => api_error(&e),
    }
}

async fn delete_item(State(state): State<Arc<SimState>>, Path((smtp, item_id)): Path<(String, String)>) -> Response {
    match json::apply_delete(&state.store, &smtp, &item_id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => api_error(&e),
    }
}

async fn list_tasks(State(state): State<Arc<SimState>>, Path(smtp): Path<String>) -> Response {
    api_result(StatusCode::OK, crate::json_tasks::list_tasks(&state.store, &smtp))
}

async fn create_task(State(state): State<Arc<SimState>>, Path(smtp): Path<String>, body: Bytes) -> Response {
    match json_body(&body) {
        Ok(v) => api_result(StatusCode::CREATED, crate::json_tasks::create_task(&state.store, &smtp, &v)),
        Err(e) => api_error(&e),
    }
}

async fn patch_task(
    State(state): State<Arc<SimState>>,
    Path((smtp, item_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    match json_body(&body) {
        Ok(v) => api_result(StatusCode::OK, crate::json_tasks::patch_task(&state.store, &smtp, &item_id, &v)),
        Err(e) => api_error(&e),
    }
}

async fn put_oof(State(state): State<Arc<SimState>>, Path(smtp): Path<String>, body: Bytes) -> Response {
    match json_body(&body) {
        Ok(v) => api_result(StatusCode::OK, json::apply_oof(&state.store, &smtp, &v)),
        Err(e) => api_error(&e),
    }
}

async fn stats(State(state): State<Arc<SimState>>) -> Response {
    Json(state.stats()).into_response()
}

async fn fault(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_fault", format!("not a fault: {e}")),
    };
    let affected = apply_fault(&state, &spec);
    Json(json!({"kind": spec.kind(), "affected": affected})).into_response()
}

/// Applies a fault at once or arms it for the next EWS requests; returns how many streaming
/// connections it touched.
pub fn apply_fault(state: &SimState, spec: &FaultSpec) -> usize {
    match spec {
        FaultSpec::DropStreams => {
            let n = state.streams.drop_all();
            state.stats.faults("drop_streams", n as u64);
            n
        }
        FaultSpec::ExpireSubscriptions => {
            state.store.expire_all_subscriptions();
            let n = state.streams.expire_all();
            state.stats.fault("expire_subscriptions");
            n
        }
        FaultSpec::Reset => {
            state.faults.lock().unwrap().arm(spec);
            state.stats.reset();
            0
        }
        other => {
            state.faults.lock().unwrap().arm(other);
            0
        }
    }
}

/// `POST /sim/oauth2/token`: client-credentials grant, credentials in the form or in Basic.
async fn token(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "the body is not a form"),
    };
    let mut client_id = form.get("client_id").cloned();
    let mut client_secret = form.get("client_secret").cloned();
    if let Some((id, secret)) = basic_credentials(&headers) {
        client_id.get_or_insert(id);
        client_secret.get_or_insert(secret);
    }
    match state.auth.issue_token(
        form.get("grant_type").map(String::as_str),
        client_id.as_deref(),
        client_secret.as_deref(),
    ) {
        Ok(t) => {
            state.stats.token_issued();
            let body = json!({
                "token_type": "Bearer",
                "expires_in": t.expires_in.as_secs(),
                "ext_expires_in": t.expires_in.as_secs(),
                "access_token": t.access_token,
            });
            ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
        }
        Err(TokenRequestError::InvalidRequest(m)) => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &m),
        Err(TokenRequestError::UnsupportedGrantType(g)) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("grant type {g:?} is not supported; use client_credentials"),
        ),
        Err(TokenRequestError::InvalidClient) => {
            state.stats.auth_failure("oauth2");
            oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "wrong client_id or client_secret")
        }
    }
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, Json(json!({"error": code, "error_description": description}))).into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}
