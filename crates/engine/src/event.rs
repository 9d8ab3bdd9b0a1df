//! The documents the application sees (CONTRACT §4): an event (an occurrence of the user's
//! calendar), a presence, a free/busy slot; and the stable ids of events.
//!
//! These are stored unmasked (the mirror's `event` JSON is an [`EventDoc`]); masking private
//! items is the server's job, per caller.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use exbridge_store::InstanceKey;
use serde::{Deserialize, Serialize};

/// One event as `GET /api/v1/users/{id}/events` shows it and a webhook's `data` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDoc {
    /// Stable across resyncs and ItemId changes: see [`EventId`].
    pub id: String,
    /// The id of the series an occurrence belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_id: Option<String>,
    /// The iCalendar UID.
    pub uid: String,
    pub subject: String,
    /// RFC 3339 with the offset of `time_zone` at that instant.
    pub start: String,
    pub end: String,
    /// IANA name of the event's zone (mapped from the Windows zone Exchange sends).
    pub time_zone: String,
    pub is_all_day: bool,
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `Sensitivity` Private or Confidential.
    pub is_private: bool,
    pub categories: Vec<String>,
    /// `low` | `normal` | `high`.
    pub importance: String,
    /// `free` | `tentative` | `busy` | `oof` | `working_elsewhere` | `no_data`.
    pub free_busy: String,
    pub organizer: Option<Person>,
    pub attendees: Vec<Attendee>,
    pub is_meeting: bool,
    pub is_cancelled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<JoinDoc>,
    /// The recurrence of a series, on the series document that `event.*` webhooks of a whole
    /// series carry (`id` = the series id, `start`/`end` = its first occurrence); absent on
    /// singles and occurrences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<serde_json::Value>,
    /// When Exchange last changed the item (`LastModifiedTime`), RFC 3339 UTC.
    pub changed_at: String,
    /// The application's own id of the event (the item's `exbridge-app-id` property, see
    /// [`crate::catmap`]), when the application created it through exbridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// The application priority of `importance` (`[mapping.priorities]`); absent without
    /// that table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// The item's version (EWS `ChangeKey` of the single or the series master): pass it as
    /// `If-Match` to `PATCH`/`DELETE`. Not part of the content hash (a new ChangeKey alone is
    /// no `event.updated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub email: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    pub email: Option<String>,
    pub name: Option<String>,
    /// `required` | `optional` | `resource`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `unknown` | `organizer` | `tentative` | `accepted` | `declined` | `none`.
    pub response: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinDoc {
    /// `teams` | `zoom` | `webex` | `google_meet` | `gotomeeting` | `jitsi` | a keyword's provider.
    pub provider: String,
    pub url: Option<String>,
}

/// `GET /api/v1/users/{id}/presence` and the `data` of `presence.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceDoc {
    pub user_id: String,
    pub busy: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_event: Option<EventDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_event: Option<EventDoc>,
    pub oof: OofDoc,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OofDoc {
    /// `Disabled` | `Enabled` | `Scheduled` (EWS `OofState`).
    pub state: String,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_reply: Option<String>,
}

/// One slot of `GET /api/v1/users/{id}/freebusy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreeBusySlot {
    pub start: String,
    pub end: String,
    /// `free` | `tentative` | `busy` | `oof` | `working_elsewhere` | `no_data`.
    pub status: String,
}

/// A stable, reversible event id built from the UID and the instance key, so that it survives
/// a lost mirror, a resync and an ItemId change, and so that `/events/{id}` finds the row
/// without an extra index:
///
/// * the UID itself when it is made of `[A-Za-z0-9._-]` (Outlook's hex UIDs), otherwise `u`
///   followed by its unpadded base64url;
/// * for an occurrence, then `~` and the original start in UTC as `YYYYMMDDTHHMMSSZ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventId {
    pub uid: String,
    pub instance: InstanceKey,
}

impl EventId {
    pub fn new(uid: impl Into<String>, instance: InstanceKey) -> Self {
        EventId { uid: uid.into(), instance }
    }

    fn plain(uid: &str) -> bool {
        !uid.is_empty()
            && !uid.starts_with('u')
            && uid.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    }

    /// The id of the series this occurrence belongs to (its UID alone).
    pub fn series(&self) -> EventId {
        EventId { uid: self.uid.clone(), instance: InstanceKey::single() }
    }

    pub fn encode(&self) -> String {
        let mut out = if Self::plain(&self.uid) {
            self.uid.clone()
        } else {
            format!("u{}", URL_SAFE_NO_PAD.encode(self.uid.as_bytes()))
        };
        if !self.instance.is_single() {
            out.push('~');
            out.extend(self.instance.as_str().chars().filter(|c| *c != '-' && *c != ':'));
        }
        out
    }

    /// The inverse of [`EventId::encode`]; `None` for anything it cannot have produced.
    pub fn decode(id: &str) -> Option<EventId> {
        let (uid_part, instance) = match id.split_once('~') {
            Some((u, i)) => (u, Some(i)),
            None => (id, None),
        };
        let uid = if let Some(b64) = uid_part.strip_prefix('u') {
            String::from_utf8(URL_SAFE_NO_PAD.decode(b64).ok()?).ok()?
        } else if Self::plain(uid_part) {
            uid_part.to_owned()
        } else {
            return None;
        };
        let instance = match instance {
            None => InstanceKey::single(),
            Some(compact) => {
                // YYYYMMDDTHHMMSSZ → YYYY-MM-DDTHH:MM:SSZ
                let b = compact.as_bytes();
                if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
                    return None;
                }
                let text = format!(
                    "{}-{}-{}T{}:{}:{}Z",
                    &compact[0..4],
                    &compact[4..6],
                    &compact[6..8],
                    &compact[9..11],
                    &compact[11..13],
                    &compact[13..15]
                );
                let ts: jiff::Timestamp = text.parse().ok()?;
                let key = InstanceKey::occurrence(ts);
                if key.as_str() != text {
                    return None;
                }
                key
            }
        };
        Some(EventId { uid, instance })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let ts: jiff::Timestamp = "2026-05-04T07:30:00Z".parse().unwrap();
        for uid in ["040000008200E00074C5B7101A82E0080000000010", "a b/c?ü", "user@host", "u123", ""] {
            for instance in [InstanceKey::single(), InstanceKey::occurrence(ts)] {
                let id = EventId::new(uid, instance);
                let text = id.encode();
                assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-~".contains(&b)), "{text}");
                assert_eq!(EventId::decode(&text), Some(id), "{text}");
            }
        }
        assert_eq!(EventId::new("ABC", InstanceKey::occurrence(ts)).encode(), "ABC~20260504T073000Z");
        assert_eq!(EventId::decode("ABC~2026"), None);
        assert_eq!(EventId::decode("a/b"), None);
        assert_eq!(EventId::decode("u!!"), None);
    }
}
