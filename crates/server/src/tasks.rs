//! `/api/v1/users/{id}/tasks[/{task_id}]` (CONTRACT §4 tasks): the mirrored Exchange tasks of a
//! user whose `settings.sync_tasks` is on.
//!
//! * `GET …/tasks[?status=]`, `GET …/tasks/{task_id}`: from the mirror, masked as events are.
//! * `POST …/tasks` (201), `PATCH …/tasks/{task_id}` (200), `DELETE …/tasks/{task_id}` (204):
//!   written to Exchange; the answer is the task as mirrored afterwards. `PATCH`/`DELETE`
//!   honour `If-Match: <change_key>` (409 `conflict` with `current`, the task as it is now).
//!   Writes honour `Idempotency-Key`: the first answer (2xx or 4xx) is stored and replayed for
//!   the same request; the same key with another request, or while the first is running, is
//!   409 `idempotency_conflict`.
//! * `sync_tasks` off → 422 `not_allowed_by_settings` (every endpoint); direction
//!   `exchange_to_app` → 422 for writes; Exchange unreachable → 503 `exchange_unavailable`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post};
use exbridge_engine::task::{STATUSES, TaskDoc, TaskError, TaskInput};
use exbridge_store::{Reservation, StoredResponse, UserId};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::mask::mask_event;

/// The task routes, for the route table.
pub(crate) fn routes() -> Vec<(Method, &'static str, bool, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/api/v1/users/{id}/tasks", true, get(list)),
        (Method::POST, "/api/v1/users/{id}/tasks", true, post(create)),
        (Method::GET, "/api/v1/users/{id}/tasks/{task_id}", true, get(one)),
        (Method::PATCH, "/api/v1/users/{id}/tasks/{task_id}", true, patch(update)),
        (Method::DELETE, "/api/v1/users/{id}/tasks/{task_id}", true, delete(remove)),
    ]
}

/// The status and body of a task error.
fn error_parts(err: TaskError) -> (StatusCode, Value) {
    let api = |e: ApiError| (e.status, e.body());
    match err {
        TaskError::Engine(e) => api(ApiError::from(e)),
        TaskError::NotAllowed(m) => api(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_allowed_by_settings", m)),
        e @ TaskError::NotFound { .. } => api(ApiError::new(StatusCode::NOT_FOUND, "task_not_found", e.to_string())),
        e @ TaskError::Invalid { .. } => api(ApiError::bad_request("invalid_task", e.to_string())),
        TaskError::Unavailable(m) => api(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "exchange_unavailable", m)),
        e @ TaskError::Conflict { .. } => {
            let message = e.to_string();
            let TaskError::Conflict { current, .. } = e else { unreachable!() };
            (StatusCode::CONFLICT, json!({"error": {"code": "conflict", "message": message}, "current": *current}))
        }
    }
}

/// The answer of a task error.
fn task_error(err: TaskError) -> Response {
    let (status, body) = error_parts(err);
    (status, Json(body)).into_response()
}

fn view(doc: &TaskDoc, caller: &Caller) -> Value {
    let mut value = serde_json::to_value(doc).unwrap_or(Value::Null);
    if !caller.private_details {
        mask_event(&mut value);
    }
    value
}

/// `?status=` of the listing.
#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    status: Option<String>,
}

/// `GET /api/v1/users/{id}/tasks`.
pub async fn list(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Some(s) = &q.status
        && !STATUSES.contains(&s.as_str())
    {
        return ApiError::bad_request("invalid_query", format!("status: {s:?} is not one of {}", STATUSES.join(", ")))
            .into_response();
    }
    match app.connector.tasks(&UserId::new(id), q.status.as_deref()).await {
        Ok(docs) => Json(docs.iter().map(|d| view(d, &caller)).collect::<Vec<_>>()).into_response(),
        Err(e) => task_error(e),
    }
}

/// `GET /api/v1/users/{id}/tasks/{task_id}`.
pub async fn one(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, task_id)): Path<(String, String)>,
) -> Response {
    match app.connector.task(&UserId::new(id), &task_id).await {
        Ok(doc) => Json(view(&doc, &caller)).into_response(),
        Err(e) => task_error(e),
    }
}

fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_json", format!("invalid JSON body: {e}")))
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(|v| v.trim().trim_matches('"').to_owned())
}

/// Runs a write under the request's `Idempotency-Key` (if any): replays a stored answer,
/// refuses a reused key, stores the new answer (released instead when Exchange could not be
/// reached, so that the client may retry).
async fn idempotent<F>(app: &AppState, headers: &HeaderMap, user: &UserId, request: String, run: F) -> Response
where
    F: std::future::Future<Output = (StatusCode, Option<Value>, bool)>,
{
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        let (status, body, _) = run.await;
        return answer(status, body);
    };
    let hash: String = Sha256::digest(request.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    match app.store.idempotency_reserve(user, &key, &hash).await {
        Err(e) => return ApiError::from(e).into_response(),
        Ok(Reservation::Existing(record)) => {
            return match record.response {
                Some(r) if record.request_hash == hash => {
                    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
                    answer(status, (!r.body.is_null()).then_some(r.body))
                }
                Some(_) => ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_conflict",
                    format!("Idempotency-Key {key:?} was used with another request"),
                )
                .into_response(),
                None => ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_conflict",
                    format!("a request with Idempotency-Key {key:?} is still in progress"),
                )
                .into_response(),
            };
        }
        Ok(Reservation::Reserved) => {}
    }
    let (status, body, retryable) = run.await;
    let stored = if retryable {
        app.store.idempotency_release(user, &key).await.map(|_| ())
    } else {
        let response = StoredResponse { status: status.as_u16(), body: body.clone().unwrap_or(Value::Null) };
        app.store.idempotency_complete(user, &key, &response).await.map(|_| ())
    };
    if let Err(e) = stored {
        tracing::warn!(user = %user, error = %e, "storing the idempotency record failed");
    }
    answer(status, body)
}

fn answer(status: StatusCode, body: Option<Value>) -> Response {
    match body {
        Some(b) => (status, Json(b)).into_response(),
        None => status.into_response(),
    }
}

/// A task result as (status, body, whether the client may retry with the same key).
fn outcome(result: Result<Option<Value>, TaskError>, ok: StatusCode) -> (StatusCode, Option<Value>, bool) {
    match result {
        Ok(body) => (ok, body, false),
        Err(e) => {
            let retryable = matches!(&e, TaskError::Unavailable(_) | TaskError::Engine(_));
            let (status, body) = error_parts(e);
            (status, Some(body), retryable)
        }
    }
}

/// The request body as JSON and as a task (`full`: a create, every required field present),
/// or the 400 answer naming what is wrong.
fn task_input(body: &Bytes, full: bool) -> Result<(serde_json::Value, TaskInput), Box<Response>> {
    let value = json_body(body).map_err(|e| Box::new(e.into_response()))?;
    let input = TaskInput::from_json(&value, full).map_err(|e| Box::new(task_error(e)))?;
    Ok((value, input))
}

/// `POST /api/v1/users/{id}/tasks`.
pub async fn create(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = UserId::new(id);
    let (value, input) = match task_input(&body, true) {
        Ok(parsed) => parsed,
        Err(response) => return *response,
    };
    let request = format!("POST /users/{user}/tasks {value}");
    let run = async {
        let r = app.connector.create_task(&user, input).await.map(|d| Some(view(&d, &caller)));
        outcome(r, StatusCode::CREATED)
    };
    idempotent(&app, &headers, &user, request, run).await
}

/// `PATCH /api/v1/users/{id}/tasks/{task_id}`.
pub async fn update(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, task_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = UserId::new(id);
    let (value, input) = match task_input(&body, false) {
        Ok(parsed) => parsed,
        Err(response) => return *response,
    };
    let m = if_match(&headers);
    let request = format!("PATCH /users/{user}/tasks/{task_id} {m:?} {value}");
    let run = async {
        let r = app.connector.update_task(&user, &task_id, input, m.as_deref()).await.map(|d| Some(view(&d, &caller)));
        outcome(r, StatusCode::OK)
    };
    idempotent(&app, &headers, &user, request, run).await
}

/// `DELETE /api/v1/users/{id}/tasks/{task_id}`.
pub async fn remove(
    State(app): State<AppState>,
    Path((id, task_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let user = UserId::new(id);
    let m = if_match(&headers);
    let request = format!("DELETE /users/{user}/tasks/{task_id} {m:?}");
    let run = async {
        let r = app.connector.delete_task(&user, &task_id, m.as_deref()).await.map(|()| None);
        outcome(r, StatusCode::NO_CONTENT)
    };
    idempotent(&app, &headers, &user, request, run).await
}

/// Adds the task paths and schemas to the OpenAPI document.
pub(crate) fn document_tasks(doc: &mut Value) {
    let error = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let task = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Task"}}}});
    let user = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "The application's user id"});
    let task_id = json!({"name": "task_id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "The task's stable id"});
    let key = json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string"},
        "description": "The first answer is stored and replayed for the same request"});
    let if_match = json!({"name": "If-Match", "in": "header", "required": false, "schema": {"type": "string"},
        "description": "The task's change_key: refused with 409 (and the current task) when it changed"});
    let input = json!({"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskInput"}}}});
    let common = |mut r: Value| {
        r["401"] = error("Missing or unknown API token");
        r["404"] = error("Unknown user or task (task_not_found)");
        r["422"] = error("sync_tasks is off (or, for writes, direction is exchange_to_app): not_allowed_by_settings");
        r["503"] = error("Exchange unreachable: exchange_unavailable");
        r
    };
    doc["paths"]["/api/v1/users/{id}/tasks"] = json!({
        "get": {"summary": "The user's mirrored Exchange tasks", "operationId": "listTasks",
            "parameters": [user.clone(), {"name": "status", "in": "query", "required": false, "schema": {"enum": STATUSES}}],
            "responses": common(json!({"200": {"description": "Tasks", "content": {"application/json": {"schema":
                {"type": "array", "items": {"$ref": "#/components/schemas/Task"}}}}}}))},
        "post": {"summary": "Create a task in Exchange", "operationId": "createTask",
            "parameters": [user.clone(), key.clone()], "requestBody": input.clone(),
            "responses": common(json!({"201": task("The task as mirrored"), "400": error("Invalid field (named in the message)"),
                "409": error("Idempotency-Key reused")}))}
    });
    doc["paths"]["/api/v1/users/{id}/tasks/{task_id}"] = json!({
        "get": {"summary": "One task", "operationId": "getTask", "parameters": [user.clone(), task_id.clone()],
            "responses": common(json!({"200": task("The task")}))},
        "patch": {"summary": "Change a task in Exchange (given fields; null clears)", "operationId": "updateTask",
            "parameters": [user.clone(), task_id.clone(), if_match.clone(), key.clone()], "requestBody": input,
            "responses": common(json!({"200": task("The task as mirrored"), "400": error("Invalid field"),
                "409": {"description": "Stale If-Match (body has `current`, the task now) or Idempotency-Key reused",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskConflict"}}}}}))},
        "delete": {"summary": "Delete a task in Exchange", "operationId": "deleteTask",
            "parameters": [user, task_id, if_match, key],
            "responses": common(json!({"204": {"description": "Deleted"}, "409": error("Stale If-Match or Idempotency-Key reused")}))}
    });
    let date = json!({"type": ["string", "null"], "description": "RFC 3339 (or YYYY-MM-DD as input)"});
    doc["components"]["schemas"]["Task"] = json!({"type": "object",
    "required": ["id", "subject", "status", "percent_complete", "importance", "categories", "is_private", "changed_at", "change_key"],
    "properties": {
        "id": {"type": "string", "description": "Stable: derived from the ItemId of its first sighting"},
        "subject": {"type": "string"}, "body": {"type": "string"},
        "start_date": {"type": "string", "format": "date-time"}, "due_date": {"type": "string", "format": "date-time"},
        "status": {"enum": STATUSES}, "percent_complete": {"type": "integer", "minimum": 0, "maximum": 100},
        "importance": {"enum": ["low", "normal", "high"]}, "categories": {"type": "array", "items": {"type": "string"}},
        "is_private": {"type": "boolean"}, "completed_at": {"type": "string", "format": "date-time"},
        "changed_at": {"type": "string", "format": "date-time"}, "change_key": {"type": "string"}
    }});
    doc["components"]["schemas"]["TaskInput"] = json!({"type": "object", "additionalProperties": false,
    "description": "POST requires subject; PATCH takes any subset",
    "properties": {
        "subject": {"type": "string", "minLength": 1}, "body": {"type": ["string", "null"]},
        "start_date": date.clone(), "due_date": date,
        "status": {"enum": STATUSES}, "percent_complete": {"type": "integer", "minimum": 0, "maximum": 100},
        "importance": {"enum": ["low", "normal", "high"]},
        "categories": {"type": ["array", "null"], "items": {"type": "string"}}, "is_private": {"type": "boolean"}
    }});
    doc["components"]["schemas"]["TaskConflict"] = json!({"type": "object", "required": ["error", "current"], "properties": {
        "error": {"type": "object", "properties": {"code": {"const": "conflict"}, "message": {"type": "string"}}}, "current": {"$ref": "#/components/schemas/Task"}}});
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_the_contract_shape() {
        let (s, b) = error_parts(TaskError::NotAllowed("off".into()));
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("not_allowed_by_settings"))
        );
        let (s, b) = error_parts(TaskError::Unavailable("down".into()));
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("exchange_unavailable")));
        let (s, b) = error_parts(TaskError::Invalid { field: "due_date".into(), message: "bad".into() });
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(b["error"]["message"].as_str().unwrap().starts_with("due_date:"), "{b}");
        let current = TaskDoc {
            id: "t1".into(),
            subject: "s".into(),
            body: None,
            start_date: None,
            due_date: None,
            status: "not_started".into(),
            percent_complete: 0,
            importance: "normal".into(),
            categories: vec![],
            is_private: false,
            completed_at: None,
            changed_at: "2026-01-01T00:00:00Z".into(),
            change_key: "CK2".into(),
        };
        let (s, b) = error_parts(TaskError::Conflict { current: Box::new(current), stale: "CK1".into() });
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(b["error"]["code"], "conflict");
        assert_eq!(b["current"]["change_key"], "CK2");
    }
}
