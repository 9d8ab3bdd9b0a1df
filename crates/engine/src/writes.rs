//! Event writes from the application to Exchange (`POST/PATCH/DELETE /api/v1/users/{id}/events`):
//! validation, the EWS requests (with impersonation of the user's mailbox), versions and
//! conflicts, echo control, policy, and the durable queue of writes Exchange could not take.
//!
//! # The request body
//!
//! `POST` takes `{subject, start, end, time_zone?, is_all_day?, location?, body?, is_private?,
//! categories?, importance?, free_busy?, attendees?: [{email, name?, type?}], recurrence?}`;
//! `PATCH` the same fields, each optional (`null` clears `location`, `body`, `categories` and
//! `attendees`). `start`/`end` are RFC 3339 with an offset; `time_zone` an IANA name (default
//! `UTC`); `importance` `low|normal|high`; `free_busy` `free|tentative|busy|oof|working_elsewhere`;
//! attendee `type` `required` (default) `|optional|resource`; `recurrence` the JSON the series
//! documents carry ([`crate::mapping::recurrence_json`]). The read-only fields of an event
//! document (`id`, `uid`, `organizer`, `change_key`, …) are ignored, so a document read from the
//! API can be sent back; any other field is refused. Every problem is a 400 naming the field,
//! and nothing is written.
//!
//! `[mapping]` ([`crate::catmap`]) applies: `categories` are the application's names (mapped to
//! Exchange categories, whose colours are added to the mailbox's category list, best effort),
//! `priority` is the application's priority (mapped to `importance`). `app_id` (POST only) is
//! kept in the item's `exbridge-app-id` property; a POST whose `app_id` an item of the calendar
//! already carries creates nothing and answers that item (no duplicate after a lost answer or a
//! lost mirror).
//!
//! # What is written
//!
//! * Create: `CreateItem` in the calendar; a meeting (attendees) with
//!   `SendMeetingInvitations=SendToAllAndSaveCopy`, an appointment with `SendToNone`.
//! * Change: `UpdateItem` with `SendMeetingInvitationsOrCancellations=SendToAllAndSaveCopy` of a
//!   single, of a series (the event id of the series document → its master) or of one
//!   occurrence (`uid~YYYYMMDDTHHMMSSZ` → `OccurrenceItemId` of the master with the
//!   occurrence's `InstanceIndex`, which makes it an exception).
//! * Delete: `DeleteItem` (`MoveToDeletedItems`, `SendMeetingCancellations=SendToAllAndSaveCopy`)
//!   of a single, a whole series or one occurrence.
//!
//! After Exchange accepted, the user's incremental sync runs (through the per-user scheduler:
//! never two runs of a user at once) and is awaited, so the answer (201/200 with the event
//! document, a series as its series document, `change_key` included) is what the mirror holds.
//!
//! # Versions and conflicts
//!
//! Every event document carries `change_key` (the item's EWS ChangeKey; occurrences carry their
//! series'). `PATCH`/`DELETE` take `If-Match: <change_key>`; without it the mirror's change key
//! is used. Writes use `ConflictResolution=NeverOverwrite`; a delete first reads the item's
//! current change key (DeleteItem ignores change keys). A stale version is a **409** `conflict`
//! with `current`: the event as it is now (after syncing the user). The rule for a change on
//! both sides at once: **Exchange is the system of record**; the application's write wins only
//! when it is based on the current version, otherwise it gets 409 and the current state; the
//! Exchange-side change reaches the application as its webhook; so both sides end equal. There
//! is never a silent overwrite.
//!
//! # Echoes
//!
//! The (user, change key) pairs Exchange returns for API writes (and the versions an API delete
//! removed) are remembered for a while; the sync tags the outbox entries of items whose current
//! change key is one of them with `origin = "api"` ([`API_ORIGIN`]), so webhooks without
//! `include_echoes` skip the application's own changes while concurrent Exchange-side changes
//! (other change keys) still reach them. The events endpoint and SSE show everything. The pairs
//! live in memory: after a restart between a write and its sync, the echo is delivered.
//!
//! # Policy (the user's `settings`)
//!
//! * `direction: exchange_to_app` → 422 `not_allowed_by_settings`.
//! * A meeting organised by someone else (`is_meeting` and organizer ≠ the user's mailbox):
//!   `PATCH`/`DELETE` → 422 `read_only_meeting`.
//! * `skip_private: true`: creating a private event or making one private → 422
//!   `private_not_allowed`.
//! * `delete_in_exchange: false`: `DELETE` leaves the item in Exchange and unlinks it (200
//!   `{"status":"unlinked"}`): recorded in the store; the sync emits nothing more about that event
//!   id (for a single or series also its occurrences) and `GET /events` no longer lists it.
//!
//! # Queued writes
//!
//! When Exchange is unreachable, throttling (ErrorServerBusy, 429, 503) or failing (5xx), an
//! accepted write is stored in `pending_writes` and answered **202** `{"status":"queued",
//! "write_id"}`; so is any later write of a user that has queued writes (their order is kept).
//! The engine's applier retries them per user in order with back-off (at least the server's
//! `BackOffMilliseconds`), also after a restart; the outcome is an outbox entry
//! `write.completed` or `write.failed` with `{write_id, idempotency_key?, status, event?,
//! error?}`. A write Exchange rejects (ErrorInvalidRecurrence,
//! ErrorCalendarEndDateIsEarlierThanStartDate, …) is a 422 `exchange_rejected` with `ews_code`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use ews_client::{ErrorClass, ErrorKind, EwsError};
use ews_proto::items::{
    Attendee as EwsAttendee, Body, BodyType, CalendarItem, DayOfWeek, DayOfWeekIndex, Importance, Item, ItemFields,
    LegacyFreeBusy, Month, Recurrence, RecurrencePattern, RecurrenceRange, Sensitivity,
};
use ews_proto::ops::{
    CalendarItemCreateOrDeleteOperation, CalendarItemUpdateOperation, ConflictResolution, CreateItem, DeleteItem,
    DisposalType, GetItem, ItemChange, ItemUpdate, UpdateItem,
};
use ews_proto::shape::{BaseShape, ItemShape, PropertyPath};
use ews_proto::tz::TimeZoneDefinition;
use ews_proto::values::{Date as EwsDate, DateTime};
use ews_proto::{BaseItemId, EmailAddress, FolderId, OccurrenceItemId, ResponseCode, ResponseStatus, SmtpAddress};
use exbridge_store::{
    DirectoryUser, FolderKind, InstanceKey, MirrorEvent, MirrorKey, MirrorKind, NewOutboxEvent, SyncDirection, UserId,
};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::api::EngineError;
use crate::context::{Context, ExchangeServer};
use crate::event::{EventDoc, EventId};
use crate::sync::{item_shape, message_error};

/// The `origin` of outbox entries caused by the application's own writes (the server's
/// `webhooks::API_ORIGIN`).
pub const API_ORIGIN: &str = "api";

/// How long the version an API write produced is remembered for echo tagging.
const ECHO_TTL: Duration = Duration::from_secs(3600);

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// The body is wrong (400 `invalid_event`); `field` names it.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// No such event in the user's mirror (404 `event_not_found`).
    #[error("no event {event_id} for user {user}")]
    NotFound { user: String, event_id: String },
    /// The write was based on an old version (409 `conflict` with `current`).
    #[error("{message}")]
    Conflict { message: String, current: Option<Box<EventDoc>> },
    /// The user's settings or the event's nature forbid it (422 with `code`).
    #[error("{message}")]
    NotAllowed { code: &'static str, message: String },
    /// Exchange refused the write itself (422 `exchange_rejected` with `ews_code`).
    #[error("Exchange rejected the write: {ews_code}: {message}")]
    Rejected { ews_code: String, message: String },
    /// An `Idempotency-Key` is in use by a request that has not finished (409).
    #[error("{0}")]
    InFlight(String),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> WriteError {
    WriteError::Invalid { field: field.into(), message: message.into() }
}

// --- input -----------------------------------------------------------------------------------

/// `required` | `optional` | `resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttendeeKind {
    Required,
    Optional,
    Resource,
}

/// One attendee of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendeeInput {
    pub email: String,
    pub name: Option<String>,
    pub kind: AttendeeKind,
}

/// A write's body, validated. For a `PATCH` every field is optional; `Some(None)` clears.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventInput {
    pub subject: Option<String>,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    /// IANA name.
    pub time_zone: Option<String>,
    pub is_all_day: Option<bool>,
    pub location: Option<Option<String>>,
    pub body: Option<Option<String>>,
    pub is_private: Option<bool>,
    pub categories: Option<Vec<String>>,
    pub importance: Option<Importance>,
    pub free_busy: Option<LegacyFreeBusy>,
    pub attendees: Option<Vec<AttendeeInput>>,
    pub recurrence: Option<Recurrence>,
    /// The application's own id of the event (create only), kept in the item's
    /// `exbridge-app-id` property ([`crate::catmap`]).
    pub app_id: Option<String>,
    /// The application's priority, mapped to `importance` by `[mapping.priorities]`.
    pub priority: Option<String>,
}

/// Fields of an event document the write body may carry and that are ignored (read-only).
const READ_ONLY: &[&str] =
    &["id", "series_id", "uid", "organizer", "is_meeting", "is_cancelled", "join", "changed_at", "change_key"];
const WRITABLE: &[&str] = &[
    "subject",
    "start",
    "end",
    "time_zone",
    "is_all_day",
    "location",
    "body",
    "is_private",
    "categories",
    "importance",
    "free_busy",
    "attendees",
    "recurrence",
    "app_id",
    "priority",
];

/// At most this many attendees per event.
pub const MAX_ATTENDEES: usize = 500;
/// At most this long a subject (Exchange's limit).
pub const MAX_SUBJECT: usize = 255;

fn looks_like_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn string(v: &Value, field: &str) -> Result<String, WriteError> {
    v.as_str().map(str::to_owned).ok_or_else(|| invalid(field, format!("expected a string, got {v}")))
}

fn boolean(v: &Value, field: &str) -> Result<bool, WriteError> {
    v.as_bool().ok_or_else(|| invalid(field, format!("expected true or false, got {v}")))
}

fn int(v: &Value, field: &str, min: i64, max: i64) -> Result<i32, WriteError> {
    let n = v.as_i64().ok_or_else(|| invalid(field, format!("expected an integer, got {v}")))?;
    if n < min || n > max {
        return Err(invalid(field, format!("{n} is not in {min}..={max}")));
    }
    Ok(i32::try_from(n).expect("bounded"))
}

fn time(v: &Value, field: &str) -> Result<Timestamp, WriteError> {
    let text = string(v, field)?;
    text.parse::<Timestamp>()
        .map_err(|e| invalid(field, format!("{text:?} is not an RFC 3339 time with an offset ({e})")))
}

fn named<T: FromStr>(v: &Value, field: &str, allowed: &str) -> Result<T, WriteError> {
    let text = string(v, field)?;
    text.parse::<T>().map_err(|_| invalid(field, format!("{text:?} is not one of {allowed}")))
}

fn date(v: &Value, field: &str) -> Result<EwsDate, WriteError> {
    let text = string(v, field)?;
    text.parse::<jiff::civil::Date>()
        .map(EwsDate::new)
        .map_err(|_| invalid(field, format!("{text:?} is not a date YYYY-MM-DD")))
}

fn obj<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, WriteError> {
    v.as_object().ok_or_else(|| invalid(field, format!("expected an object, got {v}")))
}

fn req<'a>(o: &'a Map<String, Value>, name: &str, at: &str) -> Result<&'a Value, WriteError> {
    o.get(name).filter(|v| !v.is_null()).ok_or_else(|| invalid(format!("{at}.{name}"), "missing"))
}

const DAYS: &str = "Sunday, Monday, …, Saturday, Day, Weekday, WeekendDay";
const INDEXES: &str = "First, Second, Third, Fourth, Last";
const MONTHS: &str = "January … December";

/// The recurrence of a write, in the JSON of [`crate::mapping::recurrence_json`] (regenerating
/// task patterns are refused).
pub fn parse_recurrence(v: &Value) -> Result<Recurrence, WriteError> {
    let r = obj(v, "recurrence")?;
    for key in r.keys() {
        if key != "pattern" && key != "range" {
            return Err(invalid(format!("recurrence.{key}"), "unknown field (expected pattern and range)"));
        }
    }
    let p = obj(req(r, "pattern", "recurrence")?, "recurrence.pattern")?;
    let at = "recurrence.pattern";
    let kind = string(req(p, "type", at)?, "recurrence.pattern.type")?;
    let interval = || int(req(p, "interval", at)?, "recurrence.pattern.interval", 1, 999);
    let day_of_month = || int(req(p, "day_of_month", at)?, "recurrence.pattern.day_of_month", 1, 31);
    let month = || named::<Month>(req(p, "month", at)?, "recurrence.pattern.month", MONTHS);
    let day = || named::<DayOfWeek>(req(p, "days_of_week", at)?, "recurrence.pattern.days_of_week", DAYS);
    let index =
        || named::<DayOfWeekIndex>(req(p, "day_of_week_index", at)?, "recurrence.pattern.day_of_week_index", INDEXES);
    let pattern = match kind.as_str() {
        "daily" => RecurrencePattern::Daily { interval: interval()? },
        "weekly" => {
            let list = req(p, "days_of_week", at)?
                .as_array()
                .ok_or_else(|| invalid("recurrence.pattern.days_of_week", "expected a list of day names"))?;
            if list.is_empty() {
                return Err(invalid("recurrence.pattern.days_of_week", "a weekly pattern needs at least one day"));
            }
            let days = list
                .iter()
                .enumerate()
                .map(|(i, d)| named::<DayOfWeek>(d, &format!("recurrence.pattern.days_of_week[{i}]"), DAYS))
                .collect::<Result<Vec<_>, _>>()?;
            let first_day_of_week = match p.get("first_day_of_week").filter(|v| !v.is_null()) {
                Some(v) => Some(named::<DayOfWeek>(v, "recurrence.pattern.first_day_of_week", DAYS)?),
                None => None,
            };
            RecurrencePattern::Weekly { interval: interval()?, days_of_week: days, first_day_of_week }
        }
        "absolute_monthly" => {
            RecurrencePattern::AbsoluteMonthly { interval: interval()?, day_of_month: day_of_month()? }
        }
        "relative_monthly" => RecurrencePattern::RelativeMonthly {
            interval: interval()?,
            days_of_week: day()?,
            day_of_week_index: index()?,
        },
        "absolute_yearly" => RecurrencePattern::AbsoluteYearly { day_of_month: day_of_month()?, month: month()? },
        "relative_yearly" => {
            RecurrencePattern::RelativeYearly { days_of_week: day()?, day_of_week_index: index()?, month: month()? }
        }
        other => {
            return Err(invalid(
                "recurrence.pattern.type",
                format!(
                    "{other:?} is not one of daily, weekly, absolute_monthly, relative_monthly, absolute_yearly, \
                     relative_yearly"
                ),
            ));
        }
    };
    let g = obj(req(r, "range", "recurrence")?, "recurrence.range")?;
    let at = "recurrence.range";
    let kind = string(req(g, "type", at)?, "recurrence.range.type")?;
    let start_date = date(req(g, "start_date", at)?, "recurrence.range.start_date")?;
    let range = match kind.as_str() {
        "no_end" => RecurrenceRange::NoEnd { start_date },
        "end_date" => {
            let end_date = date(req(g, "end_date", at)?, "recurrence.range.end_date")?;
            if end_date.date < start_date.date {
                return Err(invalid("recurrence.range.end_date", "is before start_date"));
            }
            RecurrenceRange::EndDate { start_date, end_date }
        }
        "numbered" => RecurrenceRange::Numbered {
            start_date,
            number_of_occurrences: int(
                req(g, "number_of_occurrences", at)?,
                "recurrence.range.number_of_occurrences",
                1,
                999,
            )?,
        },
        other => {
            return Err(invalid(
                "recurrence.range.type",
                format!("{other:?} is not one of no_end, end_date, numbered"),
            ));
        }
    };
    Ok(Recurrence { pattern, range })
}

impl EventInput {
    /// Parses and checks a write body: `creating` (POST) requires `subject`, `start` and `end`
    /// and treats `null` as absent; a PATCH refuses `null` for fields that cannot be cleared.
    pub fn parse(body: &Value, creating: bool) -> Result<EventInput, WriteError> {
        let o = body.as_object().ok_or_else(|| invalid("(body)", "expected a JSON object"))?;
        let mut input = EventInput::default();
        for (key, v) in o {
            if READ_ONLY.contains(&key.as_str()) {
                continue;
            }
            if !WRITABLE.contains(&key.as_str()) {
                return Err(invalid(key.as_str(), "unknown field"));
            }
            let clearable = matches!(key.as_str(), "location" | "body" | "categories" | "attendees");
            if v.is_null() {
                if creating {
                    continue;
                }
                if !clearable {
                    return Err(invalid(key.as_str(), "cannot be null (omit it to keep the current value)"));
                }
            }
            match key.as_str() {
                "subject" => {
                    let s = string(v, "subject")?;
                    if s.trim().is_empty() {
                        return Err(invalid("subject", "must not be empty"));
                    }
                    if s.chars().count() > MAX_SUBJECT {
                        return Err(invalid("subject", format!("longer than {MAX_SUBJECT} characters")));
                    }
                    input.subject = Some(s);
                }
                "start" => input.start = Some(time(v, "start")?),
                "end" => input.end = Some(time(v, "end")?),
                "time_zone" => {
                    let name = string(v, "time_zone")?;
                    windows_zone(&name)?;
                    input.time_zone = Some(name);
                }
                "is_all_day" => input.is_all_day = Some(boolean(v, "is_all_day")?),
                "location" => input.location = Some(if v.is_null() { None } else { Some(string(v, "location")?) }),
                "body" => input.body = Some(if v.is_null() { None } else { Some(string(v, "body")?) }),
                "is_private" => input.is_private = Some(boolean(v, "is_private")?),
                "categories" => {
                    let mut list = Vec::new();
                    if !v.is_null() {
                        let a = v.as_array().ok_or_else(|| invalid("categories", "expected a list of strings"))?;
                        for (i, c) in a.iter().enumerate() {
                            let c = string(c, &format!("categories[{i}]"))?;
                            if c.trim().is_empty() {
                                return Err(invalid(format!("categories[{i}]"), "must not be empty"));
                            }
                            list.push(c);
                        }
                    }
                    input.categories = Some(list);
                }
                "app_id" => {
                    if !creating {
                        return Err(invalid("app_id", "is set when the event is created"));
                    }
                    let id = string(v, "app_id")?;
                    if id.trim().is_empty() || id.chars().count() > 255 {
                        return Err(invalid("app_id", "must be 1 to 255 characters"));
                    }
                    input.app_id = Some(id);
                }
                "priority" => {
                    let p = string(v, "priority")?;
                    if p.trim().is_empty() {
                        return Err(invalid("priority", "must not be empty"));
                    }
                    input.priority = Some(p);
                }
                "importance" => {
                    input.importance = Some(match string(v, "importance")?.as_str() {
                        "low" => Importance::Low,
                        "normal" => Importance::Normal,
                        "high" => Importance::High,
                        other => {
                            return Err(invalid("importance", format!("{other:?} is not one of low, normal, high")));
                        }
                    })
                }
                "free_busy" => {
                    input.free_busy = Some(match string(v, "free_busy")?.as_str() {
                        "free" => LegacyFreeBusy::Free,
                        "tentative" => LegacyFreeBusy::Tentative,
                        "busy" => LegacyFreeBusy::Busy,
                        "oof" => LegacyFreeBusy::Oof,
                        "working_elsewhere" => LegacyFreeBusy::WorkingElsewhere,
                        other => {
                            return Err(invalid(
                                "free_busy",
                                format!("{other:?} is not one of free, tentative, busy, oof, working_elsewhere"),
                            ));
                        }
                    })
                }
                "attendees" => {
                    let mut list = Vec::new();
                    if !v.is_null() {
                        let a = v.as_array().ok_or_else(|| invalid("attendees", "expected a list of attendees"))?;
                        if a.len() > MAX_ATTENDEES {
                            return Err(invalid("attendees", format!("more than {MAX_ATTENDEES} attendees")));
                        }
                        for (i, at) in a.iter().enumerate() {
                            list.push(parse_attendee(at, &format!("attendees[{i}]"))?);
                        }
                    }
                    input.attendees = Some(list);
                }
                "recurrence" => input.recurrence = Some(parse_recurrence(v)?),
                _ => unreachable!("WRITABLE lists every field"),
            }
        }
        if creating {
            if input.subject.is_none() {
                return Err(invalid("subject", "missing"));
            }
            if input.start.is_none() {
                return Err(invalid("start", "missing"));
            }
            if input.end.is_none() {
                return Err(invalid("end", "missing"));
            }
        }
        if let (Some(s), Some(e)) = (input.start, input.end) {
            check_times(s, e)?;
        }
        Ok(input)
    }
}

fn check_times(start: Timestamp, end: Timestamp) -> Result<(), WriteError> {
    if end < start {
        return Err(invalid("end", format!("{end} is before start {start}")));
    }
    if end.duration_since(start) > jiff::SignedDuration::from_hours(5 * 366 * 24) {
        return Err(invalid("end", "the event is longer than five years"));
    }
    Ok(())
}

fn parse_attendee(v: &Value, at: &str) -> Result<AttendeeInput, WriteError> {
    let o = obj(v, at)?;
    for key in o.keys() {
        if !matches!(key.as_str(), "email" | "name" | "type" | "response") {
            return Err(invalid(format!("{at}.{key}"), "unknown field (expected email, name, type)"));
        }
    }
    let email = string(req(o, "email", at)?, &format!("{at}.email"))?;
    if !looks_like_email(&email) {
        return Err(invalid(format!("{at}.email"), format!("{email:?} is not an e-mail address")));
    }
    let name = match o.get("name").filter(|v| !v.is_null()) {
        Some(v) => Some(string(v, &format!("{at}.name"))?),
        None => None,
    };
    let kind = match o.get("type").filter(|v| !v.is_null()) {
        None => AttendeeKind::Required,
        Some(v) => match string(v, &format!("{at}.type"))?.as_str() {
            "required" => AttendeeKind::Required,
            "optional" => AttendeeKind::Optional,
            "resource" => AttendeeKind::Resource,
            other => {
                return Err(invalid(
                    format!("{at}.type"),
                    format!("{other:?} is not one of required, optional, resource"),
                ));
            }
        },
    };
    Ok(AttendeeInput { email, name, kind })
}

/// The Windows zone id of an IANA name (what `StartTimeZone` is written with).
fn windows_zone(iana: &str) -> Result<(&'static str, TimeZone), WriteError> {
    let tz = TimeZone::get(iana).map_err(|_| invalid("time_zone", format!("{iana:?} is not an IANA time zone")))?;
    let windows = if iana.eq_ignore_ascii_case("UTC") || iana == "Etc/UTC" {
        "UTC"
    } else {
        ews_proto::tz::iana_to_windows(iana)
            .ok_or_else(|| invalid("time_zone", format!("{iana:?} has no Exchange (Windows) time zone")))?
    };
    Ok((windows, tz))
}

fn zone_definition(iana: &str, at: Timestamp) -> Result<TimeZoneDefinition, WriteError> {
    let (windows, tz) = windows_zone(iana)?;
    let year = tz.to_datetime(at).year();
    TimeZoneDefinition::from_time_zone(windows, &tz, year)
        .map_err(|e| invalid("time_zone", format!("{iana:?} cannot be described to Exchange: {e}")))
}

fn ews_attendees(list: &[AttendeeInput], kind: AttendeeKind) -> Vec<EwsAttendee> {
    list.iter()
        .filter(|a| a.kind == kind)
        .map(|a| EwsAttendee {
            mailbox: EmailAddress {
                name: a.name.clone(),
                email_address: Some(a.email.clone()),
                ..EmailAddress::default()
            },
            ..EwsAttendee::default()
        })
        .collect()
}

fn text_body(text: &str) -> Body {
    Body { body_type: BodyType::Text, is_truncated: None, content: text.to_owned() }
}

fn sensitivity(private: bool) -> Sensitivity {
    if private { Sensitivity::Private } else { Sensitivity::Normal }
}

/// The calendar item `CreateItem` sends for a validated POST body.
pub fn new_calendar_item(input: &EventInput) -> Result<CalendarItem, WriteError> {
    let start = input.start.ok_or_else(|| invalid("start", "missing"))?;
    let end = input.end.ok_or_else(|| invalid("end", "missing"))?;
    let zone = zone_definition(input.time_zone.as_deref().unwrap_or("UTC"), start)?;
    let attendees = input.attendees.clone().unwrap_or_default();
    let non_empty = |v: Vec<EwsAttendee>| (!v.is_empty()).then_some(v);
    Ok(CalendarItem {
        item: ItemFields {
            subject: input.subject.clone(),
            body: input.body.clone().flatten().map(|b| text_body(&b)),
            sensitivity: input.is_private.map(sensitivity),
            categories: input.categories.clone().filter(|c| !c.is_empty()),
            importance: input.importance,
            ..ItemFields::default()
        },
        start: Some(DateTime::utc(start)),
        end: Some(DateTime::utc(end)),
        is_all_day_event: input.is_all_day,
        legacy_free_busy_status: input.free_busy,
        location: input.location.clone().flatten(),
        required_attendees: non_empty(ews_attendees(&attendees, AttendeeKind::Required)),
        optional_attendees: non_empty(ews_attendees(&attendees, AttendeeKind::Optional)),
        resources: non_empty(ews_attendees(&attendees, AttendeeKind::Resource)),
        recurrence: input.recurrence.clone(),
        start_time_zone: Some(zone.clone()),
        end_time_zone: Some(zone),
        ..CalendarItem::default()
    })
}

/// The `UpdateItem` changes of a validated PATCH body (`occurrence`: no recurrence allowed).
pub fn item_updates(input: &EventInput, occurrence: bool) -> Result<Vec<ItemUpdate>, WriteError> {
    let mut u = Vec::new();
    if let Some(name) = &input.time_zone {
        let at = input.start.unwrap_or_else(Timestamp::now);
        let def = zone_definition(name, at)?;
        let end_def = def.clone();
        u.push(ItemUpdate::set_calendar("calendar:StartTimeZone", |c| c.start_time_zone = Some(def)));
        u.push(ItemUpdate::set_calendar("calendar:EndTimeZone", |c| c.end_time_zone = Some(end_def)));
    }
    if let Some(s) = &input.subject {
        u.push(ItemUpdate::calendar_subject(s.clone()));
    }
    if let Some(b) = &input.body {
        u.push(ItemUpdate::calendar_body(text_body(b.as_deref().unwrap_or(""))));
    }
    if let Some(p) = input.is_private {
        u.push(ItemUpdate::calendar_sensitivity(sensitivity(p)));
    }
    if let Some(c) = &input.categories {
        if c.is_empty() {
            u.push(ItemUpdate::delete(PropertyPath::field("item:Categories")));
        } else {
            let c = c.clone();
            u.push(ItemUpdate::set_calendar("item:Categories", |i| i.item.categories = Some(c)));
        }
    }
    if let Some(i) = input.importance {
        u.push(ItemUpdate::set_calendar("item:Importance", |c| c.item.importance = Some(i)));
    }
    if let Some(all_day) = input.is_all_day {
        u.push(ItemUpdate::calendar_is_all_day_event(all_day));
    }
    if let Some(s) = input.start {
        u.push(ItemUpdate::calendar_start(DateTime::utc(s)));
    }
    if let Some(e) = input.end {
        u.push(ItemUpdate::calendar_end(DateTime::utc(e)));
    }
    if let Some(l) = &input.location {
        u.push(ItemUpdate::calendar_location(l.clone().unwrap_or_default()));
    }
    if let Some(f) = input.free_busy {
        u.push(ItemUpdate::calendar_free_busy(f));
    }
    if let Some(a) = &input.attendees {
        u.push(ItemUpdate::calendar_required_attendees(ews_attendees(a, AttendeeKind::Required)));
        u.push(ItemUpdate::calendar_optional_attendees(ews_attendees(a, AttendeeKind::Optional)));
        let resources = ews_attendees(a, AttendeeKind::Resource);
        if resources.is_empty() {
            u.push(ItemUpdate::delete(PropertyPath::field("calendar:Resources")));
        } else {
            u.push(ItemUpdate::set_calendar("calendar:Resources", |c| c.resources = Some(resources)));
        }
    }
    if let Some(r) = &input.recurrence {
        if occurrence {
            return Err(invalid("recurrence", "an occurrence has no recurrence of its own (change the series)"));
        }
        let r = r.clone();
        u.push(ItemUpdate::set_calendar("calendar:Recurrence", |c| c.recurrence = Some(r)));
    }
    if u.is_empty() {
        return Err(invalid("(body)", "nothing to change"));
    }
    Ok(u)
}

/// The hash an `Idempotency-Key` is bound to: method, path and the canonical JSON body.
pub fn request_hash(method: &str, path: &str, body: Option<&Value>) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    if let Some(b) = body {
        h.update(b.to_string().as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

// --- echoes ----------------------------------------------------------------------------------

static ECHOES: LazyLock<Mutex<HashMap<(String, String), Instant>>> = LazyLock::new(Default::default);

/// Remembers that `change_key` of one of `user`'s items is the application's own doing.
pub fn remember_echo(user: &UserId, change_key: &str) {
    let mut echoes = ECHOES.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    echoes.retain(|_, at| now.duration_since(*at) < ECHO_TTL);
    echoes.insert((user.as_str().to_owned(), change_key.to_owned()), now);
}

fn is_echo(user: &UserId, change_key: &str) -> bool {
    let echoes = ECHOES.lock().unwrap_or_else(|e| e.into_inner());
    echoes.contains_key(&(user.as_str().to_owned(), change_key.to_owned()))
}

/// What the sync does to its outbox entries before appending them: entries of unlinked events
/// are dropped, entries whose document's `change_key` an API write produced get
/// `origin = "api"`.
pub fn filter_outbox(user: &UserId, unlinked: &[String], outbox: &mut Vec<NewOutboxEvent>) {
    if !unlinked.is_empty() {
        outbox.retain(|e| {
            let id = e.data.get("id").and_then(Value::as_str);
            let series = e.data.get("series_id").and_then(Value::as_str);
            !unlinked.iter().any(|u| Some(u.as_str()) == id || Some(u.as_str()) == series)
        });
    }
    for e in outbox.iter_mut() {
        if let Some(ck) = e.data.get("change_key").and_then(Value::as_str)
            && is_echo(user, ck)
        {
            e.origin = Some(API_ORIGIN.to_owned());
        }
    }
}

// --- the writes ------------------------------------------------------------------------------

/// Whose mailbox a write goes to.
pub struct Target<'a> {
    pub ctx: &'a Context,
    pub server: &'a ExchangeServer,
    pub mailbox: &'a SmtpAddress,
    pub user: &'a DirectoryUser,
}

/// What Exchange did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Created: the mirror key the answer is read from (its UID as a single or series).
    Created {
        key: MirrorKey,
    },
    /// Changed: the mirror key the answer is read from.
    Updated {
        key: MirrorKey,
    },
    Deleted,
    Unlinked,
}

/// A write as it is queued.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum WriteOp {
    Create { body: Value },
    Update { event_id: String, body: Value, if_match: Option<String> },
    Delete { event_id: String, if_match: Option<String> },
}

/// Whether Exchange could not take the write now (queue it) rather than refusing it.
pub fn is_unavailable(e: &EwsError) -> bool {
    e.is_transient()
        || e.retry_after().is_some()
        || e.response_code() == Some(&ResponseCode::ErrorServerBusy)
        || matches!(e.http_status(), Some(429 | 500..=599))
        || matches!(
            e.kind(),
            ErrorKind::Dns | ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::ConnectionLost | ErrorKind::Tls
        )
}

/// The policy checks that need no mirror: direction and private events.
pub fn check_settings(user: &DirectoryUser, input: Option<&EventInput>) -> Result<(), WriteError> {
    let s = &user.settings;
    if s.direction == SyncDirection::ExchangeToApp {
        return Err(WriteError::NotAllowed {
            code: "not_allowed_by_settings",
            message: format!(
                "user {} syncs exchange_to_app only: the application may not write events",
                user.id.as_str()
            ),
        });
    }
    if s.skip_private && input.and_then(|i| i.is_private) == Some(true) {
        return Err(WriteError::NotAllowed {
            code: "private_not_allowed",
            message: format!("user {} has skip_private set: private events are not written", user.id.as_str()),
        });
    }
    Ok(())
}

/// The mirror row of an event id (live), or 404.
pub async fn find_row(ctx: &Context, user: &UserId, event_id: &str) -> Result<(EventId, MirrorEvent), EngineError> {
    let not_found = || WriteError::NotFound { user: user.as_str().to_owned(), event_id: event_id.to_owned() };
    let id = EventId::decode(event_id).ok_or_else(not_found)?;
    let key = MirrorKey::new(FolderKind::Calendar, id.uid.clone(), id.instance.clone());
    let row = ctx.store.get_event(user, &key).await?.filter(|r| !r.deleted).ok_or_else(not_found)?;
    Ok((id, row))
}

/// The event document of a row.
pub fn row_doc(row: &MirrorEvent) -> Option<EventDoc> {
    serde_json::from_value(row.event.clone()).ok()
}

fn status_error(t: &Target<'_>, op: &str, status: &ResponseStatus) -> EngineError {
    let code = status.code();
    match code {
        ResponseCode::ErrorIrresolvableConflict | ResponseCode::ErrorChangeKeyRequiredForWriteOperations => {
            WriteError::Conflict {
                message: format!(
                    "{op} for {}: the event changed in Exchange since the version the write is based on ({})",
                    t.mailbox.as_str(),
                    code.as_str()
                ),
                current: None,
            }
            .into()
        }
        ResponseCode::ErrorItemNotFound => {
            WriteError::NotFound { user: t.user.id.as_str().to_owned(), event_id: "(item gone in Exchange)".into() }
                .into()
        }
        _ => {
            let err = message_error(t.server, op, Some(t.mailbox), status);
            if err.class() == ErrorClass::Transient || code == ResponseCode::ErrorServerBusy {
                return EngineError::Exchange(err);
            }
            WriteError::Rejected {
                ews_code: code.as_str().to_owned(),
                message: status.message_text.clone().unwrap_or_else(|| code.as_str().to_owned()),
            }
            .into()
        }
    }
}

/// The item's current change key in Exchange.
async fn current_change_key(t: &Target<'_>, id: BaseItemId) -> Result<Option<String>, EngineError> {
    let r = t.server.client.call(Some(t.mailbox), GetItem::new([id], ItemShape::new(BaseShape::IdOnly))).await?;
    let msg = r.messages.into_iter().next().ok_or_else(|| no_message(t, "GetItem"))?;
    if !msg.status.is_success() {
        return Err(status_error(t, "GetItem", &msg.status));
    }
    Ok(msg.items.first().and_then(Item::item_id).and_then(|i| i.change_key.as_ref()).map(|c| c.as_str().to_owned()))
}

fn no_message(t: &Target<'_>, op: &str) -> EngineError {
    EngineError::Exchange(EwsError::new(
        ErrorClass::Transient,
        ErrorKind::Protocol,
        format!("server {:?}: {op} for {} answered no message", t.server.name, t.mailbox.as_str()),
    ))
}

/// The body in Exchange's terms (`[mapping]`): application categories → Exchange categories
/// (their colours added to the mailbox's category list, best effort), `priority` → `importance`.
async fn in_exchange_terms(t: &Target<'_>, input: &EventInput) -> Result<EventInput, WriteError> {
    let mut out = input.clone();
    if let Some(p) = &input.priority {
        if input.importance.is_some() {
            return Err(invalid("priority", "give either importance or priority, not both"));
        }
        out.importance = Some(t.ctx.catmap.importance_for_priority(p).map_err(|e| invalid("priority", e))?);
    }
    if let Some(app) = &input.categories {
        out.categories = Some(t.ctx.catmap.app_to_exchange_categories(app));
        let colors = t.ctx.catmap.colors_for(app);
        if !colors.is_empty() {
            let pairs: Vec<(&str, &str)> = colors.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
            if let Err(e) = crate::catmap::ensure_categories(t.ctx, t.server, t.mailbox, &pairs).await {
                tracing::warn!(user = %t.user.id, error = %e, "could not add the mapped categories' colours");
            }
        }
    }
    Ok(out)
}

/// The mirror key of the item `GetItem` returns for `id` (its UID as a single or series).
async fn key_of(t: &Target<'_>, id: ews_proto::ItemId) -> Result<(MirrorKey, CalendarItem), EngineError> {
    let r = t
        .server
        .client
        .call(Some(t.mailbox), GetItem::new([ews_proto::ItemId { change_key: None, ..id }], item_shape()))
        .await?;
    let msg = r.messages.into_iter().next().ok_or_else(|| no_message(t, "GetItem"))?;
    if !msg.status.is_success() {
        return Err(status_error(t, "GetItem", &msg.status));
    }
    let Some(Item::Calendar(item)) = msg.items.into_iter().next() else {
        return Err(no_message(t, "GetItem"));
    };
    let uid = match item.uid.as_deref().filter(|u| !u.is_empty()) {
        Some(u) => u.to_owned(),
        None => crate::mapping::fallback_uid(item.item.item_id.as_ref().map(|i| i.id.as_str()).unwrap_or_default()),
    };
    Ok((MirrorKey::new(FolderKind::Calendar, uid, InstanceKey::single()), item))
}

/// `CreateItem` of a POST body. With an `app_id` that an item of the calendar already carries,
/// nothing is created: the answer is that item (so a lost mirror or a retried create never
/// makes a duplicate).
pub async fn create(t: &Target<'_>, input: &EventInput) -> Result<Applied, EngineError> {
    check_settings(t.user, Some(input))?;
    if let Some(app_id) = &input.app_id
        && let Some(existing) = crate::catmap::find_by_app_id(t.ctx, t.server, t.mailbox, app_id).await?
    {
        let (key, _) = key_of(t, existing).await?;
        return Ok(Applied::Created { key });
    }
    let input = &in_exchange_terms(t, input).await.map_err(EngineError::from)?;
    let mut item = new_calendar_item(input)?;
    if let Some(app_id) = &input.app_id {
        item.item.extended_properties.push(crate::catmap::app_id_property(app_id));
    }
    let meeting = input.attendees.as_ref().is_some_and(|a| !a.is_empty());
    let send = if meeting {
        CalendarItemCreateOrDeleteOperation::SendToAllAndSaveCopy
    } else {
        CalendarItemCreateOrDeleteOperation::SendToNone
    };
    let op = CreateItem::items([Item::Calendar(item)], Some(FolderId::calendar()), send);
    let r = t.server.client.call(Some(t.mailbox), op).await?;
    let msg = r.messages.into_iter().next().ok_or_else(|| no_message(t, "CreateItem"))?;
    if !msg.status.is_success() {
        return Err(status_error(t, "CreateItem", &msg.status));
    }
    let id = msg.items.first().and_then(Item::item_id).cloned().ok_or_else(|| no_message(t, "CreateItem"))?;
    if let Some(ck) = &id.change_key {
        remember_echo(&t.user.id, ck.as_str());
    }
    // The UID (the mirror's key) and the version after the invitations went out.
    let (key, created) = key_of(t, id).await?;
    if let Some(ck) = created.item.item_id.as_ref().and_then(|i| i.change_key.as_ref()) {
        remember_echo(&t.user.id, ck.as_str());
    }
    Ok(Applied::Created { key })
}

/// The row checks of a PATCH/DELETE: the version (`If-Match` against the mirror) and
/// meetings organised by someone else. Returns the version to write with.
fn check_row(t: &Target<'_>, row: &MirrorEvent, doc: &EventDoc, if_match: Option<&str>) -> Result<String, WriteError> {
    if doc.is_meeting
        && let Some(org) = doc.organizer.as_ref().and_then(|o| o.email.as_deref())
        && !org.eq_ignore_ascii_case(t.mailbox.as_str())
    {
        return Err(WriteError::NotAllowed {
            code: "read_only_meeting",
            message: format!(
                "event {} is a meeting organised by {org}: only the organiser changes or deletes it",
                doc.id
            ),
        });
    }
    let current = row.change_key.as_ref().map(|c| c.as_str().to_owned());
    match (if_match, current) {
        (Some(wanted), Some(current)) if wanted != current => Err(WriteError::Conflict {
            message: format!("If-Match {wanted:?} is not the current version {current:?} of event {}", doc.id),
            current: Some(Box::new(doc.clone())),
        }),
        (Some(wanted), _) => Ok(wanted.to_owned()),
        (None, Some(current)) => Ok(current),
        (None, None) => Err(WriteError::Conflict {
            message: format!("event {} has no known version; read it again", doc.id),
            current: Some(Box::new(doc.clone())),
        }),
    }
}

/// The id a write of this row addresses: the item, or an occurrence of its master.
async fn write_id(
    t: &Target<'_>,
    id: &EventId,
    row: &MirrorEvent,
    change_key: &str,
) -> Result<BaseItemId, EngineError> {
    if row.kind != MirrorKind::Occurrence {
        return Ok(BaseItemId::Item(ews_proto::ItemId::new(row.item_id.as_str(), Some(change_key))));
    }
    let master = ews_proto::ItemId::new(row.item_id.as_str(), None);
    let r = t.server.client.call(Some(t.mailbox), GetItem::new([master], item_shape())).await?;
    let msg = r.messages.into_iter().next().ok_or_else(|| no_message(t, "GetItem"))?;
    if !msg.status.is_success() {
        return Err(status_error(t, "GetItem", &msg.status));
    }
    let Some(Item::Calendar(master)) = msg.items.into_iter().next() else {
        return Err(no_message(t, "GetItem"));
    };
    let original = instance_start(&id.instance).ok_or_else(|| invalid("event_id", "not an occurrence id"))?;
    let index = crate::mapping::occurrence_index(&master, original)
        .ok_or_else(|| WriteError::NotFound { user: t.user.id.as_str().to_owned(), event_id: id.encode() })?;
    Ok(BaseItemId::Occurrence(OccurrenceItemId {
        recurring_master_id: ews_proto::ItemIdValue(row.item_id.as_str().to_owned()),
        change_key: Some(change_key.into()),
        instance_index: index,
    }))
}

fn instance_start(key: &InstanceKey) -> Option<Timestamp> {
    key.as_str().parse().ok()
}

/// After a write of an occurrence Exchange may give the exception its own version: the
/// master's new one is what the occurrence documents carry.
async fn remember_master_version(t: &Target<'_>, row: &MirrorEvent) {
    if row.kind == MirrorKind::Single {
        return;
    }
    match current_change_key(t, BaseItemId::Item(ews_proto::ItemId::new(row.item_id.as_str(), None))).await {
        Ok(Some(ck)) => remember_echo(&t.user.id, &ck),
        Ok(None) => {}
        Err(e) => tracing::debug!(user = %t.user.id, error = %e, "reading the series' version after a write failed"),
    }
}

/// `UpdateItem` of a PATCH body.
pub async fn update(
    t: &Target<'_>,
    event_id: &str,
    input: &EventInput,
    if_match: Option<&str>,
) -> Result<Applied, EngineError> {
    check_settings(t.user, Some(input))?;
    let (id, row) = find_row(t.ctx, &t.user.id, event_id).await?;
    let doc = row_doc(&row).ok_or_else(|| invalid("event_id", "the mirror row is not an event"))?;
    let change_key = check_row(t, &row, &doc, if_match)?;
    // The times the event will have, checked as a whole.
    let start = input.start.or_else(|| doc.start.parse().ok());
    let end = input.end.or_else(|| doc.end.parse().ok());
    if let (Some(s), Some(e)) = (start, end) {
        check_times(s, e)?;
    }
    let input = &in_exchange_terms(t, input).await.map_err(EngineError::from)?;
    let updates = item_updates(input, row.kind == MirrorKind::Occurrence)?;
    let target = write_id(t, &id, &row, &change_key).await?;
    let op = UpdateItem::new(
        vec![ItemChange::new(target, updates)],
        ConflictResolution::NeverOverwrite,
        CalendarItemUpdateOperation::SendToAllAndSaveCopy,
    );
    let r = t.server.client.call(Some(t.mailbox), op).await?;
    let msg = r.messages.into_iter().next().ok_or_else(|| no_message(t, "UpdateItem"))?;
    if !msg.status.is_success() {
        return Err(status_error(t, "UpdateItem", &msg.status));
    }
    if let Some(ck) = msg.items.first().and_then(Item::item_id).and_then(|i| i.change_key.as_ref()) {
        remember_echo(&t.user.id, ck.as_str());
    }
    remember_master_version(t, &row).await;
    Ok(Applied::Updated { key: row.key })
}

/// `DeleteItem` (or the unlink) of a DELETE.
pub async fn delete(t: &Target<'_>, event_id: &str, if_match: Option<&str>) -> Result<Applied, EngineError> {
    check_settings(t.user, None)?;
    let (id, row) = find_row(t.ctx, &t.user.id, event_id).await?;
    let doc = row_doc(&row).ok_or_else(|| invalid("event_id", "the mirror row is not an event"))?;
    let change_key = check_row(t, &row, &doc, if_match)?;
    if !t.user.settings.delete_in_exchange {
        t.ctx.store.unlink_event(&t.user.id, &doc.id).await?;
        tracing::info!(user = %t.user.id, event = %doc.id, "event unlinked (delete_in_exchange is false)");
        return Ok(Applied::Unlinked);
    }
    // DeleteItem ignores ChangeKeys: compare the version first.
    let now = current_change_key(t, BaseItemId::Item(ews_proto::ItemId::new(row.item_id.as_str(), None))).await?;
    if now.as_deref() != Some(change_key.as_str()) {
        return Err(WriteError::Conflict {
            message: format!("event {} changed in Exchange since the version the delete is based on", doc.id),
            current: None,
        }
        .into());
    }
    let target = write_id(t, &id, &row, &change_key).await?;
    remember_echo(&t.user.id, &change_key);
    let op = DeleteItem::calendar_items(
        [target],
        DisposalType::MoveToDeletedItems,
        CalendarItemCreateOrDeleteOperation::SendToAllAndSaveCopy,
    );
    let r = t.server.client.call(Some(t.mailbox), op).await?;
    let msg = r.messages.into_iter().next().ok_or_else(|| no_message(t, "DeleteItem"))?;
    if !msg.status.is_success() {
        return Err(status_error(t, "DeleteItem", &msg.status));
    }
    remember_master_version(t, &row).await;
    Ok(Applied::Deleted)
}

/// Applies one write (validated again: a queued body was validated when accepted).
pub async fn apply(t: &Target<'_>, op: &WriteOp) -> Result<Applied, EngineError> {
    match op {
        WriteOp::Create { body } => create(t, &EventInput::parse(body, true)?).await,
        WriteOp::Update { event_id, body, if_match } => {
            update(t, event_id, &EventInput::parse(body, false)?, if_match.as_deref()).await
        }
        WriteOp::Delete { event_id, if_match } => delete(t, event_id, if_match.as_deref()).await,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field_of(r: Result<EventInput, WriteError>) -> String {
        match r {
            Err(WriteError::Invalid { field, .. }) => field,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_body_parses() {
        let body = json!({
            "subject": "Planning", "start": "2026-03-02T09:00:00+01:00", "end": "2026-03-02T10:00:00+01:00",
            "time_zone": "Europe/Berlin", "location": "Room 1", "is_private": true, "categories": ["Blue"],
            "importance": "high", "free_busy": "tentative",
            "attendees": [{"email": "a@contoso.test"}, {"email": "r@contoso.test", "type": "resource", "name": "R"}],
            "recurrence": {"pattern": {"type": "weekly", "interval": 1, "days_of_week": ["Monday"]},
                           "range": {"type": "numbered", "start_date": "2026-03-02", "number_of_occurrences": 4}},
            "id": "ignored", "change_key": "ignored"
        });
        let input = EventInput::parse(&body, true).unwrap();
        assert_eq!(input.subject.as_deref(), Some("Planning"));
        assert_eq!(input.start.unwrap().to_string(), "2026-03-02T08:00:00Z");
        assert_eq!(input.attendees.as_ref().unwrap()[1].kind, AttendeeKind::Resource);
        let item = new_calendar_item(&input).unwrap();
        assert_eq!(item.resources.as_ref().unwrap().len(), 1);
        assert_eq!(item.required_attendees.as_ref().unwrap().len(), 1);
        assert!(item.optional_attendees.is_none());
        assert_eq!(item.item.sensitivity, Some(Sensitivity::Private));
        assert!(matches!(item.recurrence.unwrap().pattern, RecurrencePattern::Weekly { .. }));
    }

    #[test]
    fn every_problem_names_its_field() {
        let ok = json!({"subject": "S", "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z"});
        let with = |k: &str, v: Value| {
            let mut b = ok.clone();
            b[k] = v;
            EventInput::parse(&b, true)
        };
        assert_eq!(field_of(EventInput::parse(&json!([]), true)), "(body)");
        assert_eq!(
            field_of(EventInput::parse(&json!({"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z"}), true)),
            "subject"
        );
        assert_eq!(field_of(with("subject", json!(""))), "subject");
        assert_eq!(field_of(with("start", json!("tomorrow"))), "start");
        assert_eq!(field_of(with("end", json!("2026-03-02T08:00:00Z"))), "end");
        assert_eq!(field_of(with("time_zone", json!("Mars/Olympus"))), "time_zone");
        assert_eq!(field_of(with("importance", json!("urgent"))), "importance");
        assert_eq!(field_of(with("app_id", json!(""))), "app_id");
        assert_eq!(field_of(with("priority", json!(7))), "priority");
        // The application's id is given when creating, not changed later.
        assert_eq!(field_of(EventInput::parse(&json!({"app_id": "order-1"}), false)), "app_id");
        assert_eq!(field_of(with("free_busy", json!("no_data"))), "free_busy");
        assert_eq!(field_of(with("is_private", json!("yes"))), "is_private");
        assert_eq!(field_of(with("categories", json!(["ok", 3]))), "categories[1]");
        assert_eq!(field_of(with("attendees", json!([{"email": "x"}]))), "attendees[0].email");
        assert_eq!(field_of(with("attendees", json!([{"email": "a@b.c", "type": "boss"}]))), "attendees[0].type");
        assert_eq!(field_of(with("colour", json!("red"))), "colour");
        let rec = |p: Value, r: Value| with("recurrence", json!({"pattern": p, "range": r}));
        let range = json!({"type": "no_end", "start_date": "2026-03-02"});
        assert_eq!(field_of(rec(json!({"type": "hourly"}), range.clone())), "recurrence.pattern.type");
        assert_eq!(
            field_of(rec(json!({"type": "daily", "interval": 0}), range.clone())),
            "recurrence.pattern.interval"
        );
        assert_eq!(
            field_of(rec(json!({"type": "weekly", "interval": 1, "days_of_week": []}), range.clone())),
            "recurrence.pattern.days_of_week"
        );
        assert_eq!(
            field_of(rec(json!({"type": "weekly", "interval": 1, "days_of_week": ["Funday"]}), range.clone())),
            "recurrence.pattern.days_of_week[0]"
        );
        assert_eq!(
            field_of(rec(
                json!({"type": "daily", "interval": 1}),
                json!({"type": "numbered", "start_date": "2026-03-02"})
            )),
            "recurrence.range.number_of_occurrences"
        );
        assert_eq!(
            field_of(rec(
                json!({"type": "daily", "interval": 1}),
                json!({"type": "end_date", "start_date": "2026-03-02", "end_date": "2026-03-01"})
            )),
            "recurrence.range.end_date"
        );
        // A PATCH: partial, null clears the clearable fields only.
        let patch = EventInput::parse(&json!({"location": null, "end": "2026-03-02T11:00:00Z"}), false).unwrap();
        assert_eq!(patch.location, Some(None));
        assert!(patch.subject.is_none());
        assert_eq!(field_of(EventInput::parse(&json!({"subject": null}), false)), "subject");
        assert_eq!(field_of(Err(item_updates(&EventInput::default(), false).unwrap_err())), "(body)");
    }

    #[test]
    fn what_we_emit_is_accepted_back() {
        let r = Recurrence {
            pattern: RecurrencePattern::RelativeMonthly {
                interval: 2,
                days_of_week: DayOfWeek::Tuesday,
                day_of_week_index: DayOfWeekIndex::First,
            },
            range: RecurrenceRange::EndDate {
                start_date: EwsDate::new(jiff::civil::date(2026, 1, 6)),
                end_date: EwsDate::new(jiff::civil::date(2026, 12, 1)),
            },
        };
        assert_eq!(parse_recurrence(&crate::mapping::recurrence_json(&r)).unwrap(), r);
        let w = Recurrence {
            pattern: RecurrencePattern::Weekly {
                interval: 1,
                days_of_week: vec![DayOfWeek::Monday, DayOfWeek::Friday],
                first_day_of_week: Some(DayOfWeek::Sunday),
            },
            range: RecurrenceRange::Numbered {
                start_date: EwsDate::new(jiff::civil::date(2026, 1, 5)),
                number_of_occurrences: 9,
            },
        };
        assert_eq!(parse_recurrence(&crate::mapping::recurrence_json(&w)).unwrap(), w);
    }

    #[test]
    fn echo_tagging_marks_only_known_versions_and_drops_unlinked_events() {
        let user = UserId::new("echo-user");
        remember_echo(&user, "CK-API");
        let ev = |id: &str, ck: &str| {
            NewOutboxEvent::new(
                exbridge_store::EventType::EventUpdated,
                user.clone(),
                Timestamp::UNIX_EPOCH,
                serde_json::json!({"id": id, "change_key": ck}),
            )
        };
        let mut outbox = vec![ev("A", "CK-API"), ev("B", "CK-OTHER"), ev("C", "CK-API")];
        filter_outbox(&user, &["C".to_owned()], &mut outbox);
        assert_eq!(outbox.len(), 2);
        assert_eq!(outbox[0].origin.as_deref(), Some(API_ORIGIN));
        assert_eq!(outbox[1].origin, None);
        // Another user's identical change key is not an echo.
        let mut other = vec![NewOutboxEvent::new(
            exbridge_store::EventType::EventUpdated,
            UserId::new("someone-else"),
            Timestamp::UNIX_EPOCH,
            serde_json::json!({"id": "A", "change_key": "CK-API"}),
        )];
        filter_outbox(&UserId::new("someone-else"), &[], &mut other);
        assert_eq!(other[0].origin, None);
    }
}
