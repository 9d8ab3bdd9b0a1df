//! The `/api/v1` handlers (CONTRACT §4): users, events, presence, free/busy.

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use exbridge_store::{DirectoryEntry, DirectoryUser, UpsertOutcome, UserId};
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
