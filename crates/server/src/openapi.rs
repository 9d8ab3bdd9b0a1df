//! The OpenAPI 3.1 document of the API, written by hand with `serde_json::json!` (a test checks
//! that it lists exactly the routes the router serves).

use axum::Json;
use serde_json::{Value, json};

/// `GET /api/v1/openapi.json` (no token needed).
pub async fn serve_document() -> Json<Value> {
    Json(document())
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn user_id_param() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "The application's user id"})
}

fn window_params() -> Vec<Value> {
    vec![
        json!({"name": "start", "in": "query", "required": false, "schema": {"type": "string", "format": "date-time"},
            "description": "RFC 3339 with offset; default now"}),
        json!({"name": "end", "in": "query", "required": false, "schema": {"type": "string", "format": "date-time"},
            "description": "RFC 3339 with offset, after start, at most 400 days later; default start + 7 days"}),
    ]
}

fn standard_errors(mut responses: Value, extra: &[(&str, &str)]) -> Value {
    let obj = responses.as_object_mut().expect("responses is an object");
    obj.insert("401".into(), error_response("Missing or unknown API token"));
    for (status, description) in extra {
        obj.insert((*status).into(), error_response(description));
    }
    responses
}

/// The document.
pub fn document() -> Value {
    let mut doc = base_document();
    add_event_writes(&mut doc);
    doc
}

/// The event write endpoints (`POST/PATCH/DELETE …/events`, `GET …/writes/{write_id}`) and
/// their schemas; see `exbridge_engine::writes` for the rules.
fn add_event_writes(doc: &mut Value) {
    let headers = |if_match: bool| {
        let mut h = vec![
            json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255},
            "description": "Same key and same request: the stored answer again (one item written). Same key, other request: 422 \
                idempotency_key_reused. While the first request runs: 409 idempotency_in_flight. Kept 24 h."}),
        ];
        if if_match {
            h.push(json!({"name": "If-Match", "in": "header", "required": false, "schema": {"type": "string"},
                "description": "The change_key the write is based on; stale: 409 conflict with `current`. Without it the \
                    mirror's version is used and a change made in Exchange meanwhile is a 409 too."}));
        }
        h
    };
    let event_id = json!({"name": "event_id", "in": "path", "required": true, "schema": {"type": "string"},
        "description": "A single's or series' id (the series document: the master), or an occurrence's `uid~YYYYMMDDTHHMMSSZ`"});
    let write_errors = |extra: &[(&str, &str)]| {
        let mut list = vec![
            ("400", "Invalid body (the message names the field)"),
            ("404", "Unknown user, no mailbox, or unknown event"),
            (
                "422",
                "not_allowed_by_settings (direction exchange_to_app), read_only_meeting (organised by someone \
                else), private_not_allowed (skip_private), exchange_rejected (with ews_code), idempotency_key_reused",
            ),
            ("502", "Exchange failed"),
        ];
        list.extend_from_slice(extra);
        list.into_iter().map(|(a, b)| (a.to_owned(), b.to_owned())).collect::<Vec<_>>()
    };
    let errors = |responses: Value, extra: &[(&str, &str)]| {
        let owned = write_errors(extra);
        let refs: Vec<(&str, &str)> = owned.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        standard_errors(responses, &refs)
    };
    let queued = json_response(
        "Exchange is unreachable or throttling: the write is queued durably and applied in order; \
        its outcome comes as write.completed / write.failed",
        schema_ref("QueuedWrite"),
    );
    let conflict = json!({"description": "The write is based on an old version (Exchange is the system of record)",
        "content": {"application/json": {"schema": schema_ref("Conflict")}}});
    let paths = doc["paths"].as_object_mut().expect("paths");
    let events = paths.get_mut("/api/v1/users/{id}/events").expect("events path");
    events["post"] = json!({
        "summary": "Create an event (single or series) in the user's mailbox",
        "description": "Meetings (with attendees) are sent to them. The answer is the event as the mirror holds it after \
            the user's sync (a series: its series document), with change_key.",
        "operationId": "createEvent",
        "parameters": headers(false),
        "requestBody": {"required": true, "content": {"application/json": {"schema": schema_ref("EventWrite")}}},
        "responses": errors(json!({"201": json_response("Created", schema_ref("Event")), "202": queued.clone()}),
            &[("409", "idempotency_in_flight")])
    });
    let mut item = json!({
        "parameters": [user_id_param(), event_id],
        "patch": {
            "summary": "Change a single, a series or one occurrence (which becomes an exception)",
            "operationId": "updateEvent",
            "parameters": headers(true),
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema_ref("EventWrite")}}},
            "responses": errors(json!({"200": json_response("Changed", schema_ref("Event")), "202": queued.clone(),
                "409": conflict.clone()}), &[])
        },
        "delete": {
            "summary": "Delete a single, a whole series or one occurrence (attendees get cancellations)",
            "description": "With the user's delete_in_exchange false the item stays in Exchange and is unlinked: 200 \
                {\"status\":\"unlinked\"}, no more webhooks about it, no longer listed.",
            "operationId": "deleteEvent",
            "parameters": headers(true),
            "responses": errors(json!({"204": {"description": "Deleted"},
                "200": json_response("Unlinked", json!({"type": "object", "properties": {"status": {"const": "unlinked"}}})),
                "202": queued, "409": conflict}), &[])
        }
    });
    item["patch"]["responses"]["409"]["description"] =
        json!("The write is based on an old version (409 conflict with current), or idempotency_in_flight");
    paths.insert("/api/v1/users/{id}/events/{event_id}".into(), item);
    paths.insert("/api/v1/users/{id}/writes/{write_id}".into(), json!({
        "parameters": [user_id_param(),
            {"name": "write_id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "get": {
            "summary": "A queued write's state", "operationId": "getWrite",
            "responses": standard_errors(json!({"200": json_response("The write", json!({"type": "object", "properties": {
                "write_id": {"type": "string"}, "status": {"enum": ["queued", "done", "failed"]},
                "attempts": {"type": "integer"}, "last_error": {"type": ["string", "null"]},
                "result": {"description": "The data of its write.completed / write.failed"}}}))}),
                &[("404", "Unknown write")])
        }
    }));
    let schemas = doc["components"]["schemas"].as_object_mut().expect("schemas");
    schemas["Event"]["properties"]["change_key"] =
        json!({"type": "string", "description": "The item's version: send it as If-Match"});
    schemas.insert("EventWrite".into(), json!({"type": "object",
        "description": "POST needs subject, start, end; PATCH any subset (null clears location, body, categories, \
            attendees). Read-only Event fields (id, uid, organizer, change_key, …) are ignored; others are refused.",
        "properties": {
            "subject": {"type": "string", "maxLength": 255},
            "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
            "time_zone": {"type": "string", "description": "IANA name; default UTC"},
            "is_all_day": {"type": "boolean"}, "location": {"type": ["string", "null"]}, "body": {"type": ["string", "null"]},
            "is_private": {"type": "boolean"}, "categories": {"type": ["array", "null"], "items": {"type": "string"}},
            "importance": {"enum": ["low", "normal", "high"]},
            "free_busy": {"enum": ["free", "tentative", "busy", "oof", "working_elsewhere"]},
            "attendees": {"type": ["array", "null"], "items": {"type": "object", "required": ["email"], "properties": {
                "email": {"type": "string"}, "name": {"type": "string"}, "type": {"enum": ["required", "optional", "resource"]}}}},
            "recurrence": {"type": "object", "description": "As the series documents carry it: {pattern: {type: daily|weekly|\
                absolute_monthly|relative_monthly|absolute_yearly|relative_yearly, …}, range: {type: no_end|end_date|numbered, \
                start_date, …}}"},
            "app_id": {"type": "string", "maxLength": 255, "description": "POST only: the application's id of the \
                event, kept in the item (exbridge-app-id property); a POST with an app_id an item already carries \
                answers that item instead of creating another"},
            "priority": {"type": "string", "description": "The application's priority, mapped to importance by \
                [mapping.priorities] (low|normal|high without a table); not together with importance"}
        }}));
    schemas.insert(
        "QueuedWrite".into(),
        json!({"type": "object", "required": ["status", "write_id"], "properties": {
        "status": {"const": "queued"}, "write_id": {"type": "string"}}}),
    );
    schemas.insert(
        "Conflict".into(),
        json!({"allOf": [schema_ref("Error"), {"type": "object", "properties": {
        "current": {"oneOf": [schema_ref("Event"), {"type": "null"}], "description": "The event as it is now"}}}]}),
    );
}

fn base_document() -> Value {
    let nullable_string = json!({"type": ["string", "null"]});
    let event_types: Vec<&str> = exbridge_store::EventType::ALL.iter().map(|t| t.as_str()).collect();
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "exbridge API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Exchange calendar connector: directory, events, presence, free/busy, event stream. \
                Private events show subject \"Private\" and no body, location, attendees or join link unless the \
                token is one of [server] private_api_tokens."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {"get": {
                "summary": "The process is up", "operationId": "healthz", "security": [],
                "responses": {"200": json_response("Up", json!({"type": "object", "properties": {"status": {"const": "ok"}}}))}
            }},
            "/readyz": {"get": {
                "summary": "The store and every Exchange server are reachable", "operationId": "readyz", "security": [],
                "responses": {
                    "200": json_response("Ready", schema_ref("Readiness")),
                    "503": json_response("Not ready, with the reasons", schema_ref("Readiness"))
                }
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics (text format 0.0.4): EWS requests, syncs, streaming, outbox depth, \
                    webhook deliveries, users by state", "operationId": "metrics", "security": [],
                "responses": {
                    "200": {"description": "Every series", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "503": {"description": "Metrics are not enabled in this process"}
                }
            }},
            "/api/v1/openapi.json": {"get": {
                "summary": "This document", "operationId": "openapi", "security": [],
                "responses": {"200": json_response("The OpenAPI document", json!({"type": "object"}))}
            }},
            "/api/v1/users": {
                "get": {
                    "summary": "Every directory user with their mailbox state", "operationId": "listUsers",
                    "responses": standard_errors(json!({"200": json_response("Users", json!({"type": "array", "items": schema_ref("UserView")}))}), &[])
                },
                "put": {
                    "summary": "Replace the directory", "operationId": "replaceUsers",
                    "parameters": [{"name": "force", "in": "query", "required": false, "schema": {"type": "boolean"},
                        "description": "Apply even when it would remove every user (mass-delete guard)"}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "array", "items": schema_ref("User")}}}},
                    "responses": standard_errors(json!({"200": json_response("What changed", schema_ref("DirectoryDiff"))}),
                        &[("400", "Invalid JSON or user (the message names the field)"), ("409", "Mass delete refused; repeat with ?force=true")])
                },
                "post": {
                    "summary": "Add or change one user", "operationId": "upsertUser",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": schema_ref("User")}}},
                    "responses": standard_errors(json!({
                        "200": json_response("Updated or unchanged", schema_ref("UpsertResult")),
                        "201": json_response("Created", schema_ref("UpsertResult"))
                    }), &[("400", "Invalid JSON or user (the message names the field)")])
                }
            },
            "/api/v1/users/{id}": {
                "parameters": [user_id_param()],
                "get": {
                    "summary": "One user with their mailbox state (resolves the mailbox at once when never resolved)",
                    "operationId": "getUser",
                    "responses": standard_errors(json!({"200": json_response("The user", schema_ref("UserView"))}), &[("404", "Unknown user")])
                },
                "delete": {
                    "summary": "Remove a user", "operationId": "deleteUser",
                    "responses": standard_errors(json!({"204": {"description": "Removed"}}), &[("404", "Unknown user")])
                }
            },
            "/api/v1/users/{id}/events": {
                "parameters": [user_id_param()],
                "get": {
                    "summary": "Occurrences overlapping the window, series expanded", "operationId": "listEvents",
                    "parameters": window_params(),
                    "responses": standard_errors(json!({"200": json_response("Events", json!({"type": "array", "items": schema_ref("Event")}))}),
                        &[("400", "Bad start/end (the message names the field)"), ("404", "Unknown user or no mailbox"),
                          ("502", "Exchange failed"), ("503", "Exchange throttled or the connector is shutting down")])
                }
            },
            "/api/v1/users/{id}/presence": {
                "parameters": [user_id_param()],
                "get": {
                    "summary": "The user's presence now", "operationId": "getPresence",
                    "responses": standard_errors(json!({"200": json_response("Presence", schema_ref("Presence"))}),
                        &[("404", "Unknown user or no mailbox"), ("502", "Exchange failed")])
                }
            },
            "/api/v1/users/{id}/freebusy": {
                "parameters": [user_id_param()],
                "get": {
                    "summary": "Free/busy from Exchange", "operationId": "getFreeBusy",
                    "parameters": window_params(),
                    "responses": standard_errors(json!({"200": json_response("Slots", json!({"type": "array", "items": schema_ref("FreeBusySlot")}))}),
                        &[("400", "Bad start/end (the message names the field)"), ("404", "Unknown user or no mailbox"), ("502", "Exchange failed")])
                }
            },
            "/api/v1/stream": {
                "get": {
                    "summary": "Server-Sent Events: the webhook events, masked for the token",
                    "description": "Each SSE event has `id:` the entry id, `event:` its type and `data:` the webhook payload. \
                        Send `Last-Event-ID` to resume after that entry; an unknown id replays from the oldest stored entry \
                        (a comment line says so).",
                    "operationId": "stream",
                    "parameters": [
                        {"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string"}},
                        {"name": "types", "in": "query", "required": false, "schema": {"type": "string"},
                            "description": "Comma-separated event types to keep"}
                    ],
                    "responses": standard_errors(json!({"200": {"description": "The stream",
                        "content": {"text/event-stream": {"schema": schema_ref("WebhookPayload")}}}}),
                        &[("400", "Unknown event type in types")])
                }
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
                    "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "Settings": {"type": "object", "properties": {
                    "direction": {"enum": ["both", "exchange_to_app", "app_to_exchange"], "default": "both"},
                    "delete_in_exchange": {"type": "boolean", "default": true},
                    "delete_in_app": {"type": "boolean", "default": true},
                    "skip_private": {"type": "boolean", "default": false},
                    "sync_tasks": {"type": "boolean", "default": false},
                    "sync_start": {"type": "string", "format": "date", "description": "Default: 30 days back"}
                }},
                "User": {"type": "object", "required": ["id"], "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "display_name": {"type": "string"},
                    "login_email": {"type": "string", "format": "email"},
                    "work_email": {"type": "string", "format": "email"},
                    "personal_email": {"type": "string", "format": "email"},
                    "external_uid": {"type": "string"},
                    "settings": schema_ref("Settings")
                }},
                "UserView": {"allOf": [schema_ref("User"), {"type": "object", "required": ["mailbox", "matched_by", "state"], "properties": {
                    "mailbox": nullable_string,
                    "matched_by": {"enum": ["login_email", "work_email", "personal_email", "external_uid", null]},
                    "state": {"enum": ["pending", "subscribed", "not_found", "error"]},
                    "last_error": {"type": "string"},
                    "exchange": {"type": "string"},
                    "synced_at": {"type": "string", "format": "date-time"}
                }}]},
                "DirectoryDiff": {"type": "object", "properties": {
                    "created": {"type": "array", "items": {"type": "string"}},
                    "updated": {"type": "array", "items": {"type": "string"}},
                    "identifiers_changed": {"type": "array", "items": {"type": "string"}},
                    "unchanged": {"type": "integer"},
                    "removed": {"type": "array", "items": {"type": "string"}}
                }},
                "UpsertResult": {"type": "object", "properties": {
                    "id": {"type": "string"},
                    "outcome": {"enum": ["created", "updated", "unchanged"]},
                    "identifiers_changed": {"type": "boolean"}
                }},
                "Person": {"type": "object", "properties": {"email": nullable_string, "name": nullable_string}},
                "Attendee": {"type": "object", "properties": {
                    "email": nullable_string, "name": nullable_string,
                    "type": {"enum": ["required", "optional", "resource"]},
                    "response": {"enum": ["unknown", "organizer", "tentative", "accepted", "declined", "none"]}
                }},
                "Event": {"type": "object",
                    "required": ["id", "uid", "subject", "start", "end", "time_zone", "is_all_day", "location", "is_private",
                        "categories", "importance", "free_busy", "organizer", "attendees", "is_meeting", "is_cancelled", "changed_at"],
                    "properties": {
                        "id": {"type": "string"}, "series_id": {"type": "string"}, "uid": {"type": "string"},
                        "subject": {"type": "string"},
                        "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
                        "time_zone": {"type": "string"}, "is_all_day": {"type": "boolean"},
                        "location": nullable_string, "body": {"type": "string"}, "is_private": {"type": "boolean"},
                        "categories": {"type": "array", "items": {"type": "string"}},
                        "importance": {"enum": ["low", "normal", "high"]},
                        "free_busy": {"enum": ["free", "tentative", "busy", "oof", "working_elsewhere", "no_data"]},
                        "organizer": {"oneOf": [schema_ref("Person"), {"type": "null"}]},
                        "attendees": {"type": "array", "items": schema_ref("Attendee")},
                        "is_meeting": {"type": "boolean"}, "is_cancelled": {"type": "boolean"},
                        "join": {"type": "object", "properties": {"provider": {"type": "string"}, "url": nullable_string}},
                        "recurrence": {"type": "object", "description": "On whole-series webhook documents only"},
                        "changed_at": {"type": "string", "format": "date-time"}
                    }},
                "Oof": {"type": "object", "required": ["state", "active"], "properties": {
                    "state": {"enum": ["Disabled", "Enabled", "Scheduled"]}, "active": {"type": "boolean"},
                    "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
                    "internal_reply": {"type": "string"}
                }},
                "Presence": {"type": "object", "required": ["user_id", "busy", "oof", "updated_at"], "properties": {
                    "user_id": {"type": "string"}, "busy": {"type": "boolean"},
                    "current_event": schema_ref("Event"), "next_event": schema_ref("Event"),
                    "oof": schema_ref("Oof"), "updated_at": {"type": "string", "format": "date-time"}
                }},
                "FreeBusySlot": {"type": "object", "required": ["start", "end", "status"], "properties": {
                    "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
                    "status": {"enum": ["free", "tentative", "busy", "oof", "working_elsewhere", "no_data"]}
                }},
                "Check": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}, "error": {"type": "string"}}},
                "Readiness": {"type": "object", "properties": {
                    "status": {"enum": ["ready", "not_ready"]},
                    "store": schema_ref("Check"),
                    "exchange": {"type": "array", "items": {"allOf": [schema_ref("Check"),
                        {"type": "object", "properties": {"name": {"type": "string"}}}]}}
                }},
                "WebhookPayload": {"type": "object", "required": ["id", "type", "user_id", "occurred_at", "data"], "properties": {
                    "id": {"type": "string", "description": "Stable across retries (UUIDv7)"},
                    "type": {"enum": event_types},
                    "user_id": {"type": "string"},
                    "occurred_at": {"type": "string", "format": "date-time"},
                    "data": {"description": "An Event for event.*, a Presence for presence.changed, \
                        {write_id, idempotency_key?, status, event?, error?} for write.completed / write.failed"}
                }}
            }
        }
    });
    crate::tasks::document_tasks(&mut doc);
    doc
}

/// Every (METHOD, path) the document describes.
pub fn documented_routes(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                if item.get(method).is_some() {
                    out.push((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_lists_exactly_the_router_routes() {
        let mut served: Vec<(String, String)> =
            crate::routes().into_iter().map(|(m, p)| (m.as_str().to_owned(), p.to_owned())).collect();
        served.sort();
        assert_eq!(documented_routes(&document()), served);
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(doc["components"]["schemas"].get(name).is_some(), "dangling $ref {name}");
        }
    }
}
