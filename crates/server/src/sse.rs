//! `GET /api/v1/stream`: the outbox as Server-Sent Events.
//!
//! Each entry is one event: `id:` the entry's id, `event:` its type, `data:` the webhook payload
//! `{id, type, user_id, occurred_at, data}` masked for the caller's token. Without
//! `Last-Event-ID` the stream starts with entries committed after the request; with it, right
//! after that entry; an id the store does not know (pruned, or from a wiped database) replays
//! from the oldest stored entry, and a comment line says so. `?types=a,b` keeps only those
//! types. The stream ends when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use exbridge_store::EventType;
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::mask::masked_payload;

/// How often an idle stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
const BATCH: u32 = 200;

/// `?types=` of the stream.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    types: Option<String>,
}

fn parse_types(types: Option<&str>) -> Result<Option<Vec<EventType>>, ApiError> {
    let Some(types) = types.filter(|t| !t.trim().is_empty()) else { return Ok(None) };
    let mut out = Vec::new();
    for name in types.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match EventType::parse(name) {
            Some(t) => out.push(t),
            None => {
                let expected: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("types: unknown event type {name:?}, expected some of {}", expected.join(", ")),
                ));
            }
        }
    }
    Ok(Some(out))
}

/// The handler.
pub async fn stream(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(q) = query?;
    let types = parse_types(q.types.as_deref())?;
    outbox_stream(&app, &headers, types, caller.private_details).await
}

/// The outbox as SSE from the position `Last-Event-ID` names (or from now), `types` only,
/// masked unless `private_details`: the API's stream and the admin UI's live feed.
pub(crate) async fn outbox_stream(
    app: &AppState,
    headers: &HeaderMap,
    types: Option<Vec<EventType>>,
    private_details: bool,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, ApiError> {
    let store = app.store.clone();
    // Subscribe before reading the position, so nothing committed in between is missed.
    let mut watch = store.outbox_watch();
    let live_from = *watch.borrow_and_update();
    let last_event_id =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let (mut after, note) = match last_event_id {
        None => (live_from, None),
        Some(id) => match store.outbox_entry(id).await? {
            Some(entry) => (entry.seq, None),
            None => (
                0,
                Some(format!("Last-Event-ID {id:?} is not stored (pruned?): replaying from the oldest stored entry")),
            ),
        },
    };

    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let mut shutdown = app.shutdown.subscribe();
    tokio::spawn(async move {
        if let Some(note) = note
            && tx.send(Event::default().comment(note)).await.is_err()
        {
            return;
        }
        loop {
            if *shutdown.borrow() {
                return;
            }
            // Send everything committed after `after`.
            loop {
                let batch = match store.entries_after(after, BATCH).await {
                    Ok(batch) => batch,
                    Err(e) => {
                        tracing::warn!(error = %e, "SSE stream: reading the outbox failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            _ = shutdown.wait_for(|v| *v) => return,
                            _ = tx.closed() => return,
                        }
                    }
                };
                let full = batch.len() as u32 >= BATCH;
                for entry in batch {
                    after = entry.seq;
                    if types.as_ref().is_some_and(|t| !t.contains(&entry.event_type)) {
                        continue;
                    }
                    let payload = masked_payload(&entry, private_details);
                    let event = Event::default()
                        .id(entry.id.clone())
                        .event(entry.event_type.as_str())
                        .data(payload.to_string());
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                if !full {
                    break;
                }
            }
            tokio::select! {
                changed = watch.changed() => if changed.is_err() { return },
                _ = shutdown.wait_for(|v| *v) => return,
                _ = tx.closed() => return,
            }
        }
    });

    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(Ok)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_filter() {
        assert_eq!(parse_types(None).unwrap(), None);
        assert_eq!(
            parse_types(Some("event.created, presence.changed")).unwrap(),
            Some(vec![EventType::EventCreated, EventType::PresenceChanged])
        );
        let err = parse_types(Some("event.created,nope")).unwrap_err();
        assert!(err.message.contains("types: unknown event type \"nope\""), "{err}");
    }
}
