//! The `/api/v1` handlers (CONTRACT §4): users, events (reads and writes), presence, free/busy.

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use exbridge_engine::writes::EventInput;
use exbridge_engine::{WriteMeta, WriteOutcome};
use exbridge_store::{DirectoryEntry, DirectoryUser, Reservation, StoredResponse, UpsertOutcome, UserId};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::mask::{mask_event, mask_presence};

/// The longest window `events` and `freebusy` accept.
pub const MAX_WINDOW_DAYS: i64 = 400;
/// The window when `start`/`end` are missing: now .. now + 7 days.
pub const DEFAULT_WINDOW_DAYS: i64 = 7;

// --- users -----------------------------------------------------------------------------------

/// `?force=true` of `PUT /users`.
#[derive(Debug, Deserialize)]
pub struct ForceQuery {
    #[serde(default)]
    force: bool,
}

fn looks_like_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

/// Checks one user; `at` prefixes field names (`users[3].` or empty).
fn validate_user(user: &DirectoryUser, at: &str) -> Result<(), ApiError> {
    if user.id.as_str().trim().is_empty() {
        return Err(ApiError::bad_request("invalid_user", format!("{at}id: must not be empty")));
    }
    let emails = [
        ("login_email", &user.login_email),
        ("work_email", &user.work_email),
        ("personal_email", &user.personal_email),
    ];
    for (field, value) in emails {
        if let Some(value) = value
            && !looks_like_email(value)
        {
            return Err(ApiError::bad_request(
                "invalid_user",
                format!("{at}{field}: {value:?} of user {:?} is not an e-mail address", user.id.as_str()),
            ));
        }
    }
    if user.external_uid.as_deref().is_some_and(|v| v.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "invalid_user",
            format!("{at}external_uid: must not be empty for user {:?} (omit it instead)", user.id.as_str()),
        ));
    }
    Ok(())
}

/// Checks a whole directory: every user, and ids unique.
pub fn validate_users(users: &[DirectoryUser]) -> Result<(), ApiError> {
    let mut seen = HashSet::new();
    for (i, user) in users.iter().enumerate() {
        validate_user(user, &format!("[{i}]."))?;
        if !seen.insert(user.id.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_user",
                format!("[{i}].id: {:?} appears more than once", user.id.as_str()),
            ));
        }
    }
    Ok(())
}

/// The user plus the mailbox state, flat (CONTRACT §4 `GET /users/{id}`).
pub fn user_view(entry: &DirectoryEntry) -> Value {
    let mut view = serde_json::to_value(&entry.user).unwrap_or_else(|_| json!({}));
    let obj = view.as_object_mut().expect("a user serializes to an object");
    let m = &entry.mailbox;
    obj.insert("mailbox".into(), json!(m.mailbox));
    obj.insert("matched_by".into(), json!(m.matched_by.map(|b| b.as_str())));
    obj.insert("state".into(), json!(m.state.as_str()));
    if let Some(e) = &m.last_error {
        obj.insert("last_error".into(), json!(e));
    }
    if let Some(x) = &m.exchange {
        obj.insert("exchange".into(), json!(x));
    }
    if let Some(t) = &m.synced_at {
        obj.insert("synced_at".into(), json!(t.to_string()));
    }
    view
}

/// `PUT /api/v1/users`.
pub async fn replace_users(
    State(app): State<AppState>,
    query: Result<Query<ForceQuery>, QueryRejection>,
    body: Result<Json<Vec<DirectoryUser>>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(ForceQuery { force }) = query?;
    let Json(users) = body?;
    validate_users(&users)?;
    let diff = app.connector.replace_users(users, force).await?;
    Ok(Json(json!({
        "created": diff.created,
        "updated": diff.updated,
        "identifiers_changed": diff.identifiers_changed,
        "unchanged": diff.unchanged,
        "removed": diff.removed.iter().map(|r| r.user.id.clone()).collect::<Vec<_>>(),
    })))
}

/// `POST /api/v1/users`: 201 when created, 200 otherwise.
pub async fn upsert_user(
    State(app): State<AppState>,
    body: Result<Json<DirectoryUser>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(user) = body?;
    validate_user(&user, "")?;
    let id = user.id.clone();
    let outcome = app.connector.upsert_user(user).await?;
    let (status, text, identifiers_changed) = match outcome {
        UpsertOutcome::Created => (StatusCode::CREATED, "created", false),
        UpsertOutcome::Updated { identifiers_changed } => (StatusCode::OK, "updated", identifiers_changed),
        UpsertOutcome::Unchanged => (StatusCode::OK, "unchanged", false),
    };
    let body = json!({"id": id, "outcome": text, "identifiers_changed": identifiers_changed});
    Ok((status, Json(body)).into_response())
}

/// `DELETE /api/v1/users/{id}`: 204, or 404 when unknown.
pub async fn delete_user(State(app): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let user = UserId::new(id);
    if app.connector.delete_user(&user).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::from(exbridge_engine::EngineError::UnknownUser(user)))
    }
}

/// `GET /api/v1/users`.
pub async fn list_users(State(app): State<AppState>) -> Result<Json<Vec<Value>>, ApiError> {
    let users = app.connector.list_users().await?;
    Ok(Json(users.iter().map(user_view).collect()))
}

/// `GET /api/v1/users/{id}`.
pub async fn get_user(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let entry = app.connector.ensure_user(&UserId::new(id)).await?;
    Ok(Json(user_view(&entry)))
}

// --- calendar reads --------------------------------------------------------------------------

/// `?start=&end=` of `events` and `freebusy`, RFC 3339.
#[derive(Debug, Deserialize)]
pub struct WindowQuery {
    start: Option<String>,
    end: Option<String>,
}

fn parse_time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    text.parse::<Timestamp>().map_err(|e| {
        ApiError::bad_request("invalid_time", format!("{field}: {text:?} is not an RFC 3339 time with offset ({e})"))
    })
}

/// The window a query asks for, checked: `end > start`, at most [`MAX_WINDOW_DAYS`].
pub fn window(start: Option<&str>, end: Option<&str>, now: Timestamp) -> Result<(Timestamp, Timestamp), ApiError> {
    let default_span = SignedDuration::from_hours(24 * DEFAULT_WINDOW_DAYS);
    let start_ts = start.map(|s| parse_time("start", s)).transpose()?;
    let end_ts = end.map(|s| parse_time("end", s)).transpose()?;
    let (start, end) = match (start_ts, end_ts) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s.saturating_add(default_span).expect("no calendar units")),
        (None, Some(e)) => (now.min(e), e),
        (None, None) => (now, now.saturating_add(default_span).expect("no calendar units")),
    };
    if end <= start {
        return Err(ApiError::bad_request("invalid_window", format!("end: {end} is not after start {start}")));
    }
    if end.duration_since(start) > SignedDuration::from_hours(24 * MAX_WINDOW_DAYS) {
        return Err(ApiError::bad_request(
            "invalid_window",
            format!("end: the window {start} .. {end} is longer than {MAX_WINDOW_DAYS} days"),
        ));
    }
    Ok((start, end))
}

/// `GET /api/v1/users/{id}/events`.
pub async fn events(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: Result<Query<WindowQuery>, QueryRejection>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let Query(q) = query?;
    let (start, end) = window(q.start.as_deref(), q.end.as_deref(), Timestamp::now())?;
    let docs = app.connector.events(&UserId::new(id), start, end).await?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        let mut value = serde_json::to_value(&doc)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
        if !caller.private_details {
            mask_event(&mut value);
        }
        out.push(value);
    }
    Ok(Json(out))
}

/// `GET /api/v1/users/{id}/presence`.
pub async fn presence(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let doc = app.connector.presence(&UserId::new(id)).await?;
    let mut value = serde_json::to_value(&doc)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    if !caller.private_details {
        mask_presence(&mut value);
    }
    Ok(Json(value))
}

/// `GET /api/v1/users/{id}/freebusy`.
pub async fn free_busy(
    State(app): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<WindowQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let (start, end) = window(q.start.as_deref(), q.end.as_deref(), Timestamp::now())?;
    let slots = app.connector.free_busy(&UserId::new(id), start, end).await?;
    Ok(Json(json!(slots)))
}

// --- event writes ----------------------------------------------------------------------------

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

fn header(headers: &HeaderMap, name: &str) -> Result<Option<String>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => {
            let text = v
                .to_str()
                .map_err(|_| ApiError::bad_request("invalid_header", format!("{name}: not visible ASCII")))?
                .trim();
            // `If-Match: "ck"` (an entity tag) and `If-Match: ck` both work.
            let text = text.strip_prefix("W/").unwrap_or(text);
            let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
            if text.is_empty() {
                return Err(ApiError::bad_request("invalid_header", format!("{name}: must not be empty")));
            }
            Ok(Some(text.to_owned()))
        }
    }
}

/// One event write as the handlers pass it on.
enum Write {
    Create(Value),
    Update(String, Value),
    Delete(String),
}

fn render_event(doc: &exbridge_engine::event::EventDoc, caller: &Caller) -> Value {
    let mut value = serde_json::to_value(doc).unwrap_or(Value::Null);
    if !caller.private_details {
        mask_event(&mut value);
    }
    value
}

/// The engine's answer as (status, body); errors stay errors (masked `current`).
async fn run_write(
    app: &AppState,
    caller: &Caller,
    user: &UserId,
    write: Write,
    meta: WriteMeta,
) -> Result<(StatusCode, Value), ApiError> {
    let outcome = match write {
        Write::Create(body) => app.connector.create_event(user, body, meta).await,
        Write::Update(id, body) => app.connector.update_event(user, &id, body, meta).await,
        Write::Delete(id) => app.connector.delete_event(user, &id, meta).await,
    };
    let outcome = outcome.map_err(|e| {
        let mut err = ApiError::from(e);
        if !caller.private_details {
            for (name, value) in &mut err.fields {
                if *name == "current" {
                    mask_event(value);
                }
            }
        }
        err
    })?;
    Ok(match outcome {
        WriteOutcome::Created(doc) => (StatusCode::CREATED, render_event(&doc, caller)),
        WriteOutcome::Updated(doc) => (StatusCode::OK, render_event(&doc, caller)),
        WriteOutcome::Deleted => (StatusCode::NO_CONTENT, Value::Null),
        WriteOutcome::Unlinked => (StatusCode::OK, json!({"status": "unlinked"})),
        WriteOutcome::Queued { write_id } => (StatusCode::ACCEPTED, json!({"status": "queued", "write_id": write_id})),
    })
}

fn respond(status: StatusCode, body: Value, replayed: bool) -> Response {
    let mut response =
        if status == StatusCode::NO_CONTENT { status.into_response() } else { (status, Json(body)).into_response() };
    if replayed {
        response.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    }
    response
}

/// The common path of the three write endpoints: `Idempotency-Key` (reserve, replay, refuse),
/// `If-Match`, the engine, the stored answer.
async fn write_endpoint(
    app: AppState,
    caller: Caller,
    user: UserId,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    write: Write,
) -> Result<Response, ApiError> {
    let key = header(headers, "idempotency-key")?;
    let if_match = header(headers, "if-match")?;
    if key.as_ref().is_some_and(|k| k.len() > MAX_IDEMPOTENCY_KEY) {
        return Err(ApiError::bad_request(
            "invalid_header",
            format!("Idempotency-Key: longer than {MAX_IDEMPOTENCY_KEY} characters"),
        ));
    }
    // Bad bodies are refused before the key is taken (a corrected retry may use the same key).
    match &write {
        Write::Create(body) => {
            EventInput::parse(body, true).map_err(|e| ApiError::from(exbridge_engine::EngineError::from(e)))?;
        }
        Write::Update(_, body) => {
            EventInput::parse(body, false).map_err(|e| ApiError::from(exbridge_engine::EngineError::from(e)))?;
        }
        Write::Delete(_) => {}
    }
    let meta = WriteMeta { if_match: if_match.clone(), idempotency_key: key.clone() };
    let Some(key) = key else {
        let (status, body) = run_write(&app, &caller, &user, write, meta).await?;
        return Ok(respond(status, body, false));
    };
    let body_for_hash = match &write {
        Write::Create(b) | Write::Update(_, b) => Some(b.clone()),
        Write::Delete(_) => None,
    };
    let scope = format!("{method} {path}\nif-match: {}", if_match.as_deref().unwrap_or(""));
    let hash = exbridge_engine::writes::request_hash(method, &scope, body_for_hash.as_ref());
    app.connector.ensure_user(&user).await?;
    match app.store.idempotency_reserve(&user, &key, &hash).await? {
        Reservation::Reserved => {}
        Reservation::Existing(record) => {
            if record.request_hash != hash {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    format!("Idempotency-Key {key:?} of user {user} was used for another request"),
                ));
            }
            return match record.response {
                Some(stored) => {
                    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
                    Ok(respond(status, stored.body, true))
                }
                None => Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_in_flight",
                    format!("a request with Idempotency-Key {key:?} of user {user} is still being processed"),
                )),
            };
        }
    }
    let result = run_write(&app, &caller, &user, write, meta).await;
    let stored = match &result {
        Ok((status, body)) => Some(StoredResponse { status: status.as_u16(), body: body.clone() }),
        // A final answer (4xx) is kept; a failure that may pass (5xx) frees the key for a retry.
        Err(e) if e.status.is_client_error() => Some(StoredResponse { status: e.status.as_u16(), body: e.body() }),
        Err(_) => None,
    };
    let kept = match stored {
        Some(stored) => app.store.idempotency_complete(&user, &key, &stored).await,
        None => app.store.idempotency_release(&user, &key).await,
    };
    if let Err(e) = kept {
        tracing::warn!(user = %user, error = %e, "recording the Idempotency-Key outcome failed");
    }
    let (status, body) = result?;
    Ok(respond(status, body, false))
}

fn json_body(body: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    let Json(value) = body?;
    Ok(value)
}

/// `POST /api/v1/users/{id}/events`: 201 with the event, 202 when queued.
pub async fn create_event(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(body)?;
    let path = format!("/api/v1/users/{id}/events");
    write_endpoint(app, caller, UserId::new(id), "POST", &path, &headers, Write::Create(body)).await
}

/// `PATCH /api/v1/users/{id}/events/{event_id}`: 200 with the event, 202 when queued, 409 on
/// a stale version.
pub async fn update_event(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, event_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(body)?;
    let path = format!("/api/v1/users/{id}/events/{event_id}");
    write_endpoint(app, caller, UserId::new(id), "PATCH", &path, &headers, Write::Update(event_id, body)).await
}

/// `DELETE /api/v1/users/{id}/events/{event_id}`: 204, 200 `{"status":"unlinked"}`, 202 when
/// queued, 409 on a stale version.
pub async fn delete_event(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, event_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("/api/v1/users/{id}/events/{event_id}");
    write_endpoint(app, caller, UserId::new(id), "DELETE", &path, &headers, Write::Delete(event_id)).await
}

/// `GET /api/v1/users/{id}/writes/{write_id}`: a queued write's state.
pub async fn get_write(
    State(app): State<AppState>,
    Path((id, write_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let user = UserId::new(id);
    match app.connector.write_status(&user, &write_id).await? {
        Some(v) => Ok(Json(v)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "write_not_found",
            format!("no queued write {write_id} for user {user}"),
        )),
    }
}

// --- health ----------------------------------------------------------------------------------

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the store and every Exchange server are reachable, else 503 with
/// the reasons.
pub async fn readyz(State(app): State<AppState>) -> Response {
    let r = app.connector.readiness().await;
    let check = |res: &Result<(), String>| match res {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": e}),
    };
    let exchange: Vec<Value> = r
        .exchange
        .iter()
        .map(|(name, res)| {
            let mut v = check(res);
            v["name"] = json!(name);
            v
        })
        .collect();
    let ready = r.is_ready();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "store": check(&r.store),
        "exchange": exchange,
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["a@b.c", "first.last+tag@sub.example.org"] {
            assert!(looks_like_email(good), "{good}");
        }
        for bad in ["", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@.c", "a@b.c."] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }

    #[test]
    fn windows() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let (s, e) = window(None, None, now).unwrap();
        assert_eq!((s, e.to_string().as_str()), (now, "2026-01-08T00:00:00Z"));
        let (s, e) = window(Some("2026-02-01T10:00:00+01:00"), None, now).unwrap();
        assert_eq!(s.to_string(), "2026-02-01T09:00:00Z");
        assert_eq!(e.to_string(), "2026-02-08T09:00:00Z");
        let err = window(Some("yesterday"), None, now).unwrap_err();
        assert!(err.message.starts_with("start:"), "{err}");
        let err = window(Some("2026-01-02T00:00:00Z"), Some("2026-01-01T00:00:00Z"), now).unwrap_err();
        assert!(err.message.starts_with("end:"), "{err}");
        assert!(window(Some("2026-01-01T00:00:00Z"), Some("2027-02-06T00:00:00Z"), now).is_err());
        assert!(window(Some("2026-01-01T00:00:00Z"), Some("2027-02-05T00:00:00Z"), now).is_ok());
    }
}
