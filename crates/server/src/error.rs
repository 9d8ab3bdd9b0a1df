//! The API's error shape `{"error":{"code","message"}}` (CONTRACT §4) and the mapping of
//! [`EngineError`] and [`StoreError`] to HTTP statuses.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use exbridge_engine::EngineError;
use exbridge_engine::writes::WriteError;
use exbridge_store::StoreError;

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Machine-readable, snake_case (`user_not_found`, `invalid_json`, …).
    pub code: &'static str,
    /// For humans: what was wrong, naming the field or the user.
    pub message: String,
    /// More members of the `error` object (`ews_code`).
    pub error_fields: Vec<(&'static str, serde_json::Value)>,
    /// More top-level members of the body (`current` of a 409 conflict).
    pub fields: Vec<(&'static str, serde_json::Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), error_fields: Vec::new(), fields: Vec::new() }
    }

    /// The same error with one more member of the `error` object.
    pub fn with_error_field(mut self, name: &'static str, value: serde_json::Value) -> Self {
        self.error_fields.push((name, value));
        self
    }

    /// The same error with one more top-level member of the body.
    pub fn with_field(mut self, name: &'static str, value: serde_json::Value) -> Self {
        self.fields.push((name, value));
        self
    }

    /// 400 with `code` and `message`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: missing or unknown token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 404 for a path no route serves.
    pub fn route_not_found(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "route_not_found", format!("no such endpoint: {path}"))
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        for (name, value) in &self.error_fields {
            body["error"][*name] = value.clone();
        }
        for (name, value) in &self.fields {
            body[*name] = value.clone();
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        let message = err.to_string();
        match &err {
            EngineError::UnknownUser(_) => ApiError::new(StatusCode::NOT_FOUND, "user_not_found", message),
            EngineError::NoMailbox { .. } => ApiError::new(StatusCode::NOT_FOUND, "mailbox_not_found", message),
            EngineError::Invalid(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message),
            EngineError::MassDelete(_) => ApiError::new(
                StatusCode::CONFLICT,
                "mass_delete",
                format!("{message} (repeat with ?force=true to apply it anyway)"),
            ),
            EngineError::Exchange(e) => {
                let throttled = e.retry_after().is_some() || matches!(e.http_status(), Some(429 | 503));
                if throttled {
                    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "exchange_throttled", message)
                } else {
                    ApiError::new(StatusCode::BAD_GATEWAY, "exchange_error", message)
                }
            }
            EngineError::Store(_) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", message),
            EngineError::ShuttingDown => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message),
            EngineError::Write(w) => write_error(w, message),
        }
    }
}

fn write_error(err: &WriteError, message: String) -> ApiError {
    match err {
        WriteError::Invalid { .. } => ApiError::bad_request("invalid_event", message),
        WriteError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "event_not_found", message),
        WriteError::Conflict { current, .. } => ApiError::new(StatusCode::CONFLICT, "conflict", message).with_field(
            "current",
            current.as_ref().and_then(|d| serde_json::to_value(d).ok()).unwrap_or(serde_json::Value::Null),
        ),
        WriteError::NotAllowed { code, .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message),
        WriteError::Rejected { ews_code, .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "exchange_rejected", message)
                .with_error_field("ews_code", serde_json::Value::String(ews_code.clone()))
        }
        WriteError::InFlight(_) => ApiError::new(StatusCode::CONFLICT, "idempotency_in_flight", message),
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", format!("store: {err}"))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match &rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a JSON body with Content-Type: application/json",
            ),
            // serde_path_to_error inside axum names the field: `[1].work_email: invalid type …`.
            JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
                let text = rejection.body_text();
                let text = text
                    .strip_prefix("Failed to deserialize the JSON body into the target type: ")
                    .or_else(|| text.strip_prefix("Failed to parse the request body as JSON: "))
                    .unwrap_or(&text);
                ApiError::bad_request("invalid_json", format!("invalid JSON body: {text}"))
            }
            _ => ApiError::bad_request(
                "invalid_json",
                format!("could not read the JSON body: {}", rejection.body_text()),
            ),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let text = rejection.body_text();
        let text = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text);
        ApiError::bad_request("invalid_query", format!("invalid query string: {text}"))
    }
}
