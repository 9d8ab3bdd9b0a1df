//! Masking of private events: the one function the API, the SSE stream and the webhooks use.
//!
//! A private event (`is_private: true`) shows subject `"Private"`, no body, no location, no
//! attendees and no join link, unless the caller may see private details (an API token of
//! `private_api_tokens`, a webhook with `include_private = true`). Documents are masked as
//! JSON so that outbox entries (stored as JSON) and typed [`EventDoc`]s go through the same
//! code.
//!
//! [`EventDoc`]: exbridge_engine::event::EventDoc

use exbridge_store::EventType;
use serde_json::Value;

/// The subject a masked event shows.
pub const PRIVATE_SUBJECT: &str = "Private";

/// Masks one event document (JSON of an `EventDoc`, or a task) in place if it is private.
/// Anything that is not an object with `is_private: true` is left alone.
pub fn mask_event(doc: &mut Value) {
    let Some(obj) = doc.as_object_mut() else { return };
    if obj.get("is_private").and_then(Value::as_bool) != Some(true) {
        return;
    }
    obj.insert("subject".into(), Value::String(PRIVATE_SUBJECT.into()));
    obj.remove("body");
    if obj.contains_key("location") {
        obj.insert("location".into(), Value::Null);
    }
    if obj.contains_key("attendees") {
        obj.insert("attendees".into(), Value::Array(Vec::new()));
    }
    obj.remove("join");
}

/// Masks a presence document's current and next event in place.
pub fn mask_presence(doc: &mut Value) {
    if let Some(obj) = doc.as_object_mut() {
        for key in ["current_event", "next_event"] {
            if let Some(event) = obj.get_mut(key) {
                mask_event(event);
            }
        }
    }
}

/// Masks the `data` of an outbox entry of `event_type` (an event or task for `event.*` and
/// `task.*`, a presence for `presence.changed`) unless `private_details`.
pub fn mask_data(event_type: EventType, data: &mut Value, private_details: bool) {
    if private_details {
        return;
    }
    match event_type {
        EventType::EventCreated
        | EventType::EventUpdated
        | EventType::EventDeleted
        | EventType::EventUnlinked
        | EventType::TaskCreated
        | EventType::TaskUpdated
        | EventType::TaskDeleted => mask_event(data),
        EventType::PresenceChanged => mask_presence(data),
        EventType::UserMailboxResolved | EventType::UserSubscriptionFailed => {}
        // The outcome of a queued write carries the event it wrote.
        EventType::WriteCompleted | EventType::WriteFailed => {
            if let Some(event) = data.get_mut("event") {
                mask_event(event);
            }
        }
    }
}

/// The webhook/SSE payload `{id, type, user_id, occurred_at, data}` of an entry, masked.
pub fn masked_payload(entry: &exbridge_store::OutboxEntry, private_details: bool) -> Value {
    let mut payload = entry.payload();
    if let Some(data) = payload.get_mut("data") {
        mask_data(entry.event_type, data, private_details);
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn private_event() -> Value {
        json!({"id":"e1","subject":"Doctor","body":"details","location":"Clinic","is_private":true,
            "attendees":[{"email":"a@b.c","name":"A","type":"required","response":"accepted"}],
            "join":{"provider":"teams","url":"https://x"}})
    }

    #[test]
    fn private_events_lose_their_details() {
        let mut doc = private_event();
        mask_event(&mut doc);
        assert_eq!(doc, json!({"id":"e1","subject":"Private","location":null,"is_private":true,"attendees":[]}));
    }

    #[test]
    fn public_events_and_allowed_callers_are_untouched() {
        let mut public = private_event();
        public["is_private"] = json!(false);
        let before = public.clone();
        mask_event(&mut public);
        assert_eq!(public, before);

        let mut doc = private_event();
        mask_data(EventType::EventCreated, &mut doc, true);
        assert_eq!(doc, private_event());
        mask_data(EventType::EventCreated, &mut doc, false);
        assert_eq!(doc["subject"], "Private");
    }

    #[test]
    fn presence_masks_both_events() {
        let mut presence =
            json!({"user_id":"u","busy":true,"current_event":private_event(),"next_event":private_event()});
        mask_data(EventType::PresenceChanged, &mut presence, false);
        assert_eq!(presence["current_event"]["subject"], "Private");
        assert_eq!(presence["next_event"]["subject"], "Private");
        assert!(presence["next_event"].get("body").is_none());
        let mut resolved = private_event();
        mask_data(EventType::UserMailboxResolved, &mut resolved, false);
        assert_eq!(resolved, private_event());
    }
}
