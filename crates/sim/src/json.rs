//! The JSON of the control API (CONTRACT §3) and what each request does to the store.
//!
//! The HTTP layer (`server`) parses the path, hands the body to one of the `apply_*`
//! functions and answers with the returned value (`serde_json`) or the [`ApiError`] (its
//! `status` and [`ApiError::body`]).
//!
//! ## The item
//!
//! [`ItemJson`]: `{item_id, change_key, uid, item_type, subject, start, end, time_zone,
//! is_all_day, location, body, sensitivity, importance, categories, legacy_free_busy, organizer,
//! attendees, recurrence, modified_occurrences, deleted_occurrences}`, in that order.
//!
//! * `start`/`end`: RFC 3339 with the offset of the item's zone at that instant
//!   (`2026-03-02T09:00:00+01:00`); `time_zone`: the Windows id.
//! * `item_type`: `Single`, `RecurringMaster` or `Exception`. The listing gives every item in
//!   creation order, each master followed by its exceptions (ordered by original start); an
//!   exception's `item_id` is its occurrence id, its `change_key` the master's.
//! * `location`, `body`: string or `null`. `organizer`: `{name, email}` (the owner for their own
//!   items). `attendees`: `[{name, email, type: "Required"|"Optional"|"Resource", response}]`
//!   with EWS response types (`Accept`, `Tentative`, `Decline`, `NoResponseReceived`, …).
//! * `sensitivity`, `importance`, `legacy_free_busy`: the EWS values (`Private`, `High`, `OOF`…).
//! * `modified_occurrences`: `[{item_id, original_start, start, end}]`;
//!   `deleted_occurrences`: `[original_start, …]`.
//! * `recurrence`: `null` or
//!   `{"pattern": P, "range": R}` with `P` one of
//!   `{"type":"daily","interval":1}`,
//!   `{"type":"weekly","interval":1,"days":["Monday","Wednesday"],"first_day_of_week":"Monday"}`,
//!   `{"type":"absolute_monthly","interval":1,"day_of_month":31}`,
//!   `{"type":"relative_monthly","interval":1,"index":"Last","day":"Friday"}`,
//!   `{"type":"absolute_yearly","month":"February","day_of_month":29}`,
//!   `{"type":"relative_yearly","month":"May","index":"Last","day":"Monday"}`
//!   (`index`: First, Second, Third, Fourth, Last; `day`/`days`: Sunday…Saturday, or the groups
//!   Day, Weekday, WeekendDay; `interval` defaults to 1) and `R` one of
//!   `{"type":"no_end","start":"2026-01-05"}`, `{"type":"end_date","start":"2026-01-05","end":"2026-06-01"}`,
//!   `{"type":"numbered","start":"2026-01-05","count":10}` (`start` defaults to the item's start
//!   date in its zone).
//!
//! ## Inputs
//!
//! Times may be RFC 3339 with an offset, a local date-time without offset (read in `time_zone`,
//! default the mailbox's zone), or a date (midnight; for all-day items). Unknown fields are an
//! error; every error names the field.

use std::sync::Arc;

use ews_proto::items::{
    Attendee, Body, CalendarItem, DayOfWeek, DayOfWeekIndex, Importance, Item, LegacyFreeBusy, Month, Recurrence,
    RecurrencePattern, RecurrenceRange, ResponseType, Sensitivity,
};
use ews_proto::values::{Date as XDate, DateTime};
use ews_proto::{BaseItemId, EmailAddress, ItemId, ItemIdValue};
use jiff::civil;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::store::folder::FolderKind;
use crate::store::item::{BodyData, CalData, ExceptionData, Person, RenderCtx, Role, Stored};
use crate::store::{
    ChangeKeyCheck, ExternalAudience, IdKind, Mailbox, MailboxSpec, OofState, OofStatus, Store, StoreError, Zone,
};

// ---------------------------------------------------------------------------------------------
// Errors

/// An error of the control API: HTTP status, a short code, a message, the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        ApiError { status: 400, code: "invalid", message: format!("{field}: {}", message.into()), field: Some(field) }
    }

    fn not_found(message: impl Into<String>) -> Self {
        ApiError { status: 404, code: "not_found", message: message.into(), field: None }
    }

    /// `{"error":{"code":…,"message":…,"field":…}}`.
    pub fn body(&self) -> Value {
        let mut e = Map::new();
        e.insert("code".into(), Value::from(self.code));
        e.insert("message".into(), Value::from(self.message.clone()));
        if let Some(f) = &self.field {
            e.insert("field".into(), Value::from(f.clone()));
        }
        let mut m = Map::new();
        m.insert("error".into(), Value::Object(e));
        Value::Object(m)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::NoSuchMailbox(_)
            | StoreError::ItemNotFound
            | StoreError::MalformedId(_)
            | StoreError::FolderNotFound => ApiError::not_found(message),
            StoreError::MailboxExists(_) => {
                ApiError { status: 409, code: "exists", message, field: Some("smtp".into()) }
            }
            StoreError::Conflict => ApiError { status: 409, code: "conflict", message, field: None },
            StoreError::InvalidValue { field, message } => ApiError::invalid(json_field(field), message),
            StoreError::EndBeforeStart => ApiError::invalid("end", "is before start"),
            StoreError::InvalidRecurrence(r) => ApiError::invalid("recurrence", r.to_string()),
            StoreError::UnknownTimeZone(z) => {
                ApiError::invalid("time_zone", format!("unknown Windows time zone id {z:?}"))
            }
            StoreError::Occurrence(o) => ApiError::invalid("item_id", o.to_string()),
            other => ApiError { status: 400, code: "invalid", message: other.to_string(), field: None },
        }
    }
}

/// The JSON name of a store field name.
fn json_field(field: &str) -> String {
    match field {
        "Start" => "start".into(),
        "End" => "end".into(),
        "RequiredAttendees" | "OptionalAttendees" | "Resources" => "attendees".into(),
        "Organizer" => "organizer".into(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Output shapes

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonJson {
    pub name: Option<String>,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttendeeJson {
    pub name: Option<String>,
    pub email: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub response: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModifiedOccurrenceJson {
    pub item_id: String,
    pub original_start: String,
    pub start: String,
    pub end: String,
}

/// The recurrence shape (in and out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrenceJson {
    pub pattern: PatternJson,
    pub range: RangeJson,
}

fn one() -> i32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PatternJson {
    Daily {
        #[serde(default = "one")]
        interval: i32,
    },
    Weekly {
        #[serde(default = "one")]
        interval: i32,
        days: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_day_of_week: Option<String>,
    },
    AbsoluteMonthly {
        #[serde(default = "one")]
        interval: i32,
        day_of_month: i32,
    },
    RelativeMonthly {
        #[serde(default = "one")]
        interval: i32,
        index: String,
        day: String,
    },
    AbsoluteYearly {
        month: String,
        day_of_month: i32,
    },
    RelativeYearly {
        month: String,
        index: String,
        day: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RangeJson {
    NoEnd {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<String>,
    },
    EndDate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<String>,
        end: String,
    },
    Numbered {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<String>,
        count: i32,
    },
}

/// A calendar item as the control API shows it (field order is the contract's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemJson {
    pub item_id: String,
    pub change_key: String,
    pub uid: String,
    pub item_type: &'static str,
    pub subject: String,
    pub start: String,
    pub end: String,
    pub time_zone: String,
    pub is_all_day: bool,
    pub location: Option<String>,
    pub body: Option<String>,
    pub sensitivity: &'static str,
    pub importance: &'static str,
    pub categories: Vec<String>,
    pub legacy_free_busy: &'static str,
    pub organizer: PersonJson,
    pub attendees: Vec<AttendeeJson>,
    pub recurrence: Option<RecurrenceJson>,
    pub modified_occurrences: Vec<ModifiedOccurrenceJson>,
    pub deleted_occurrences: Vec<String>,
}

/// A mailbox as `POST /sim/mailboxes` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailboxJson {
    pub smtp: String,
    pub aliases: Vec<String>,
    pub display_name: String,
    pub time_zone: String,
}

impl MailboxJson {
    pub fn of(m: &Mailbox) -> Self {
        MailboxJson {
            smtp: m.smtp().to_string(),
            aliases: m.aliases().iter().map(|a| a.to_string()).collect(),
            display_name: m.display_name().to_string(),
            time_zone: m.time_zone().to_string(),
        }
    }
}

/// OOF settings as `PUT /sim/mailboxes/{smtp}/oof` returns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OofJson {
    pub state: &'static str,
    pub start: Option<String>,
    pub end: Option<String>,
    pub internal_reply: String,
    pub external_reply: String,
    pub external_audience: &'static str,
}

impl OofJson {
    pub fn of(o: &OofState) -> Self {
        OofJson {
            state: o.state.as_str(),
            start: o.start.map(|t| t.to_string()),
            end: o.end.map(|t| t.to_string()),
            internal_reply: o.internal_reply.clone(),
            external_reply: o.external_reply.clone(),
            external_audience: o.external_audience.as_str(),
        }
    }
}

fn rfc3339(zone: &Zone, ts: Timestamp) -> String {
    ts.display_with_offset(zone.tz.to_offset(ts)).to_string()
}

fn person_json(p: &Person) -> PersonJson {
    PersonJson { name: p.name().map(str::to_string), email: p.email().to_string() }
}

fn body_text(b: &Option<BodyData>) -> Option<String> {
    b.as_ref().map(|b| b.content.to_string())
}

fn recurrence_json(r: &Recurrence) -> RecurrenceJson {
    let pattern = match &r.pattern {
        RecurrencePattern::Daily { interval } => PatternJson::Daily { interval: *interval },
        RecurrencePattern::Weekly { interval, days_of_week, first_day_of_week } => PatternJson::Weekly {
            interval: *interval,
            days: days_of_week.iter().map(|d| d.as_str().to_string()).collect(),
            first_day_of_week: first_day_of_week.map(|d| d.as_str().to_string()),
        },
        RecurrencePattern::AbsoluteMonthly { interval, day_of_month } => {
            PatternJson::AbsoluteMonthly { interval: *interval, day_of_month: *day_of_month }
        }
        RecurrencePattern::RelativeMonthly { interval, days_of_week, day_of_week_index } => {
            PatternJson::RelativeMonthly {
                interval: *interval,
                index: day_of_week_index.as_str().to_string(),
                day: days_of_week.as_str().to_string(),
            }
        }
        RecurrencePattern::AbsoluteYearly { day_of_month, month } => {
            PatternJson::AbsoluteYearly { month: month.as_str().to_string(), day_of_month: *day_of_month }
        }
        RecurrencePattern::RelativeYearly { days_of_week, day_of_week_index, month } => PatternJson::RelativeYearly {
            month: month.as_str().to_string(),
            index: day_of_week_index.as_str().to_string(),
            day: days_of_week.as_str().to_string(),
        },
        // Task-only patterns never reach a calendar item.
        RecurrencePattern::DailyRegeneration { interval }
        | RecurrencePattern::WeeklyRegeneration { interval }
        | RecurrencePattern::MonthlyRegeneration { interval }
        | RecurrencePattern::YearlyRegeneration { interval } => PatternJson::Daily { interval: *interval },
    };
    let date = |d: &XDate| d.date.to_string();
    let range = match &r.range {
        RecurrenceRange::NoEnd { start_date } => RangeJson::NoEnd { start: Some(date(start_date)) },
        RecurrenceRange::EndDate { start_date, end_date } => {
            RangeJson::EndDate { start: Some(date(start_date)), end: date(end_date) }
        }
        RecurrenceRange::Numbered { start_date, number_of_occurrences } => {
            RangeJson::Numbered { start: Some(date(start_date)), count: *number_of_occurrences }
        }
    };
    RecurrenceJson { pattern, range }
}

/// The JSON of a stored calendar item: the item, then its exceptions.
fn item_json(r: &RenderCtx, number: u64, version: u32, c: &CalData) -> Vec<ItemJson> {
    let item_id = r.item_id(number, version);
    let change_key = r.change_key(number, version);
    let organizer = match &c.organizer {
        Some(p) => person_json(p),
        None => PersonJson { name: Some(r.owner.display_name.clone()), email: r.owner.smtp.to_string() },
    };
    let attendees: Vec<AttendeeJson> = c
        .attendees
        .iter()
        .map(|a| AttendeeJson {
            name: a.person.name().map(str::to_string),
            email: a.person.email().to_string(),
            kind: match a.role {
                Role::Required => "Required",
                Role::Optional => "Optional",
                Role::Resource => "Resource",
            },
            response: a.response.as_str(),
        })
        .collect();
    let zone = &c.zone;
    let expander = c.expander();
    let occurrence_id = |original: Timestamp| -> Option<String> {
        let index = expander.as_ref()?.index_of(original)?;
        Some(r.occurrence_id(number, index, version).id.0)
    };
    let exceptions: Vec<&ExceptionData> =
        c.recurrence.as_ref().map(|rec| rec.exceptions.iter().collect()).unwrap_or_default();
    let master = ItemJson {
        item_id: item_id.id.0,
        change_key: change_key.clone(),
        uid: c.uid(r, number),
        item_type: if c.recurrence.is_some() { "RecurringMaster" } else { "Single" },
        subject: c.subject.to_string(),
        start: rfc3339(zone, c.start),
        end: rfc3339(zone, c.end),
        time_zone: zone.windows_id.to_string(),
        is_all_day: c.is_all_day,
        location: c.location.as_deref().map(str::to_string),
        body: body_text(&c.body),
        sensitivity: c.sensitivity.as_str(),
        importance: c.importance.as_str(),
        categories: c.categories.iter().map(|s| s.to_string()).collect(),
        legacy_free_busy: c.free_busy.as_str(),
        organizer,
        attendees,
        recurrence: c.recurrence.as_ref().map(|rec| recurrence_json(&rec.recurrence)),
        modified_occurrences: exceptions
            .iter()
            .filter_map(|e| {
                Some(ModifiedOccurrenceJson {
                    item_id: occurrence_id(e.original_start)?,
                    original_start: rfc3339(zone, e.original_start),
                    start: rfc3339(zone, e.start),
                    end: rfc3339(zone, e.end),
                })
            })
            .collect(),
        deleted_occurrences: c
            .recurrence
            .as_ref()
            .map(|rec| rec.deleted.iter().map(|d| rfc3339(zone, *d)).collect())
            .unwrap_or_default(),
    };
    let mut out = Vec::with_capacity(1 + exceptions.len());
    for e in &exceptions {
        let Some(id) = occurrence_id(e.original_start) else { continue };
        out.push(ItemJson {
            item_id: id,
            change_key: change_key.clone(),
            item_type: "Exception",
            subject: e.subject.as_deref().unwrap_or(&c.subject).to_string(),
            start: rfc3339(zone, e.start),
            end: rfc3339(zone, e.end),
            location: match &e.location {
                Some(l) => l.as_deref().map(str::to_string),
                None => master.location.clone(),
            },
            body: match &e.body {
                Some(b) => body_text(b),
                None => master.body.clone(),
            },
            legacy_free_busy: e.free_busy.unwrap_or(c.free_busy).as_str(),
            recurrence: None,
            modified_occurrences: Vec::new(),
            deleted_occurrences: Vec::new(),
            ..master.clone()
        });
    }
    out.insert(0, master);
    out
}

/// `GET /sim/mailboxes/{smtp}/items`: every calendar item, in creation order, each master
/// followed by its exceptions. The same store content gives the same list (and bytes).
pub fn list_items(store: &Store, smtp: &str) -> Result<Vec<ItemJson>, ApiError> {
    let mb = store.mailbox(smtp)?;
    Ok(store.with_calendar(&mb, |r, folder| {
        folder
            .items
            .iter()
            .filter_map(|(&n, e)| match &e.data {
                Stored::Calendar(c) => Some(item_json(r, n, e.version, c)),
                Stored::Task(_) => None,
            })
            .flatten()
            .collect()
    }))
}

/// The item JSON of one item (its first entry: the item itself, not its exceptions).
fn one_item_json(store: &Store, mb: &Mailbox, number: u64) -> Result<ItemJson, ApiError> {
    store.with_calendar(mb, |r, folder| {
        let e = folder.items.get(&number).ok_or_else(|| ApiError::from(StoreError::ItemNotFound))?;
        match &e.data {
            Stored::Calendar(c) => Ok(item_json(r, number, e.version, c).swap_remove(0)),
            Stored::Task(_) => Err(StoreError::ItemNotFound.into()),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Input helpers

/// A time as given: an instant, a local date-time, or a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeInput {
    Instant(Timestamp),
    Local(civil::DateTime),
    Date(civil::Date),
}

impl TimeInput {
    pub fn parse(field: &str, s: &str) -> Result<Self, ApiError> {
        let s = s.trim();
        if let Ok(ts) = s.parse::<Timestamp>() {
            return Ok(TimeInput::Instant(ts));
        }
        if s.contains('T') {
            if let Ok(dt) = s.parse::<civil::DateTime>() {
                return Ok(TimeInput::Local(dt));
            }
        } else if let Ok(d) = s.parse::<civil::Date>() {
            return Ok(TimeInput::Date(d));
        }
        Err(ApiError::invalid(
            field,
            format!("{s:?} is not an RFC 3339 time (2026-03-02T09:00:00+01:00), a local time or a date"),
        ))
    }

    fn resolve(self, field: &str, zone: &Zone) -> Result<Timestamp, ApiError> {
        let local = match self {
            TimeInput::Instant(ts) => return Ok(ts),
            TimeInput::Local(dt) => dt,
            TimeInput::Date(d) => d.to_datetime(civil::Time::midnight()),
        };
        zone.tz.to_ambiguous_timestamp(local).compatible().map_err(|e| ApiError::invalid(field, e.to_string()))
    }
}

struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    fn new(v: &Value, allowed: &[&str]) -> Result<Self, ApiError> {
        let map = v.as_object().ok_or_else(|| ApiError::invalid("body", "must be a JSON object"))?.clone();
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::invalid(
                k.as_str(),
                format!("unknown field; expected one of {}", allowed.join(", ")),
            ));
        }
        Ok(Fields { map })
    }

    fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }

    /// Present and not null.
    fn value(&self, k: &str) -> Option<&Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    fn string(&self, k: &str) -> Result<Option<String>, ApiError> {
        match self.value(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid(k, "must be a string")),
        }
    }

    fn required_string(&self, k: &str) -> Result<String, ApiError> {
        self.string(k)?.ok_or_else(|| ApiError::invalid(k, "is required"))
    }

    fn bool(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.value(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::invalid(k, "must be true or false")),
        }
    }

    fn time(&self, k: &str) -> Result<Option<TimeInput>, ApiError> {
        self.string(k)?.map(|s| TimeInput::parse(k, &s)).transpose()
    }

    fn strings(&self, k: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.value(k) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| ApiError::invalid(k, "must be an array of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(ApiError::invalid(k, "must be an array of strings")),
        }
    }

    fn enumerated<T: Copy>(
        &self,
        k: &str,
        all: &[T],
        name: impl Fn(&T) -> &'static str,
    ) -> Result<Option<T>, ApiError> {
        let Some(s) = self.string(k)? else { return Ok(None) };
        all.iter().find(|v| name(v).eq_ignore_ascii_case(s.trim())).copied().map(Some).ok_or_else(|| {
            ApiError::invalid(k, format!("must be one of {}", all.iter().map(&name).collect::<Vec<_>>().join(", ")))
        })
    }
}

fn parse_enum<T: Copy>(field: &str, s: &str, all: &[T], name: impl Fn(&T) -> &'static str) -> Result<T, ApiError> {
    all.iter().find(|v| name(v).eq_ignore_ascii_case(s.trim())).copied().ok_or_else(|| {
        ApiError::invalid(
            field,
            format!("{s:?} is not one of {}", all.iter().map(&name).collect::<Vec<_>>().join(", ")),
        )
    })
}

/// An attendee given as `"a@b"` or `{email, name?, type?, response?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendeeInput {
    pub email: String,
    pub name: Option<String>,
    pub role: &'static str,
    pub response: ResponseType,
}

fn attendees_input(v: &Value) -> Result<Vec<AttendeeInput>, ApiError> {
    let Value::Array(list) = v else { return Err(ApiError::invalid("attendees", "must be an array")) };
    list.iter()
        .enumerate()
        .map(|(i, a)| {
            let field = format!("attendees[{i}]");
            match a {
                Value::String(s) => Ok(AttendeeInput {
                    email: s.clone(),
                    name: None,
                    role: "Required",
                    response: ResponseType::NoResponseReceived,
                }),
                Value::Object(_) => {
                    let f = Fields::new(a, &["email", "name", "type", "response"])
                        .map_err(|e| ApiError::invalid(&field, e.message))?;
                    let email = f.required_string("email").map_err(|e| ApiError::invalid(&field, e.message))?;
                    let role = match f.string("type")?.as_deref().map(str::to_ascii_lowercase).as_deref() {
                        None | Some("required") => "Required",
                        Some("optional") => "Optional",
                        Some("resource") => "Resource",
                        Some(other) => {
                            return Err(ApiError::invalid(
                                format!("{field}.type"),
                                format!("{other:?} is not Required, Optional or Resource"),
                            ));
                        }
                    };
                    let response = match f.string("response")? {
                        None => ResponseType::NoResponseReceived,
                        Some(r) => parse_enum(&format!("{field}.response"), &r, ResponseType::ALL, |x| x.as_str())?,
                    };
                    Ok(AttendeeInput { email, name: f.string("name")?, role, response })
                }
                _ => Err(ApiError::invalid(
                    field,
                    "must be an email address or an object {email, name?, type?, response?}",
                )),
            }
        })
        .collect()
}

fn recurrence_input(v: &Value, start_date: civil::Date) -> Result<Recurrence, ApiError> {
    let r: RecurrenceJson =
        serde_json::from_value(v.clone()).map_err(|e| ApiError::invalid("recurrence", e.to_string()))?;
    let day =
        |field: &str, s: &str| parse_enum(&format!("recurrence.pattern.{field}"), s, DayOfWeek::ALL, |d| d.as_str());
    let index = |s: &str| parse_enum("recurrence.pattern.index", s, DayOfWeekIndex::ALL, |d| d.as_str());
    let month = |s: &str| parse_enum("recurrence.pattern.month", s, Month::ALL, |d| d.as_str());
    let pattern = match &r.pattern {
        PatternJson::Daily { interval } => RecurrencePattern::Daily { interval: *interval },
        PatternJson::Weekly { interval, days, first_day_of_week } => RecurrencePattern::Weekly {
            interval: *interval,
            days_of_week: days.iter().map(|d| day("days", d)).collect::<Result<_, _>>()?,
            first_day_of_week: first_day_of_week.as_deref().map(|d| day("first_day_of_week", d)).transpose()?,
        },
        PatternJson::AbsoluteMonthly { interval, day_of_month } => {
            RecurrencePattern::AbsoluteMonthly { interval: *interval, day_of_month: *day_of_month }
        }
        PatternJson::RelativeMonthly { interval, index: i, day: d } => RecurrencePattern::RelativeMonthly {
            interval: *interval,
            days_of_week: day("day", d)?,
            day_of_week_index: index(i)?,
        },
        PatternJson::AbsoluteYearly { month: m, day_of_month } => {
            RecurrencePattern::AbsoluteYearly { day_of_month: *day_of_month, month: month(m)? }
        }
        PatternJson::RelativeYearly { month: m, index: i, day: d } => RecurrencePattern::RelativeYearly {
            days_of_week: day("day", d)?,
            day_of_week_index: index(i)?,
            month: month(m)?,
        },
    };
    let date = |field: &str, s: &Option<String>| -> Result<XDate, ApiError> {
        match s {
            None => Ok(XDate::new(start_date)),
            Some(s) => s.parse::<civil::Date>().map(XDate::new).map_err(|_| {
                ApiError::invalid(format!("recurrence.range.{field}"), format!("{s:?} is not a date like 2026-01-05"))
            }),
        }
    };
    let range = match &r.range {
        RangeJson::NoEnd { start } => RecurrenceRange::NoEnd { start_date: date("start", start)? },
        RangeJson::EndDate { start, end } => {
            RecurrenceRange::EndDate { start_date: date("start", start)?, end_date: date("end", &Some(end.clone()))? }
        }
        RangeJson::Numbered { start, count } => {
            RecurrenceRange::Numbered { start_date: date("start", start)?, number_of_occurrences: *count }
        }
    };
    Ok(Recurrence { pattern, range })
}

fn attendee_list(list: &[AttendeeInput], role: &str) -> Option<Vec<Attendee>> {
    let v: Vec<Attendee> = list
        .iter()
        .filter(|a| a.role == role)
        .map(|a| Attendee {
            mailbox: EmailAddress::smtp(a.email.trim(), a.name.as_deref()),
            response_type: Some(a.response),
            last_response_time: None,
            proposed_start: None,
            proposed_end: None,
        })
        .collect();
    if v.is_empty() { None } else { Some(v) }
}

// ---------------------------------------------------------------------------------------------
// Items: create, patch, delete

const ITEM_FIELDS: &[&str] = &[
    "subject",
    "start",
    "end",
    "time_zone",
    "is_all_day",
    "location",
    "body",
    "sensitivity",
    "importance",
    "categories",
    "legacy_free_busy",
    "attendees",
    "recurrence",
];

const PATCH_FIELDS: &[&str] = &[
    "subject",
    "start",
    "end",
    "time_zone",
    "is_all_day",
    "location",
    "body",
    "sensitivity",
    "importance",
    "categories",
    "legacy_free_busy",
    "attendees",
    "recurrence",
    "modified_occurrences",
    "deleted_occurrences",
];

fn body_of(s: String) -> Option<Body> {
    if s.is_empty() {
        None
    } else if s.trim_start().starts_with('<') {
        Some(Body::html(s))
    } else {
        Some(Body::text(s))
    }
}

/// Applies the simple fields of a create or patch body to a calendar item.
fn apply_fields(f: &Fields, c: &mut CalendarItem, store: &Store, default_zone: &Arc<Zone>) -> Result<(), ApiError> {
    let old_zone =
        c.start_time_zone_id.as_deref().and_then(|z| store.zone(z).ok()).unwrap_or_else(|| default_zone.clone());
    let zone = match f.string("time_zone")? {
        Some(z) => {
            store.zone(&z).map_err(|_| ApiError::invalid("time_zone", format!("unknown Windows time zone id {z:?}")))?
        }
        None => old_zone.clone(),
    };
    c.start_time_zone_id = Some(zone.windows_id.to_string());
    c.end_time_zone_id = Some(zone.windows_id.to_string());
    let old_start = c.start.as_ref().and_then(|d| d.timestamp());
    let old_end = c.end.as_ref().and_then(|d| d.timestamp());
    let start = f.time("start")?.map(|t| t.resolve("start", &zone)).transpose()?;
    let end = f.time("end")?.map(|t| t.resolve("end", &zone)).transpose()?;
    // A new zone without new times keeps the wall-clock times (as Exchange does).
    let rezone = |ts: Option<Timestamp>| {
        ts.and_then(|t| zone.tz.to_ambiguous_timestamp(old_zone.tz.to_datetime(t)).compatible().ok())
    };
    let (start, end) = match (start, end) {
        (Some(s), Some(e)) => (Some(s), Some(e)),
        (Some(s), None) => {
            let length = match (old_start, old_end) {
                (Some(a), Some(b)) => b.duration_since(a),
                _ => SignedDuration::from_mins(30),
            };
            (Some(s), s.checked_add(length).ok())
        }
        (None, Some(e)) => {
            (if zone.windows_id != old_zone.windows_id { rezone(old_start) } else { old_start }, Some(e))
        }
        (None, None) if zone.windows_id != old_zone.windows_id => (rezone(old_start), rezone(old_end)),
        (None, None) => (old_start, old_end),
    };
    c.start = start.map(DateTime::utc);
    c.end = end.map(DateTime::utc);
    if let Some(s) = f.string("subject")? {
        c.item.subject = Some(s);
    }
    if let Some(b) = f.bool("is_all_day")? {
        c.is_all_day_event = Some(b);
    }
    if f.has("location") {
        c.location = f.string("location")?.filter(|s| !s.is_empty());
    }
    if f.has("body") {
        c.item.body = f.string("body")?.and_then(body_of);
    }
    if let Some(s) = f.enumerated("sensitivity", Sensitivity::ALL, |x| x.as_str())? {
        c.item.sensitivity = Some(s);
    }
    if let Some(i) = f.enumerated("importance", Importance::ALL, |x| x.as_str())? {
        c.item.importance = Some(i);
    }
    if f.has("categories") {
        c.item.categories = f.strings("categories")?.filter(|v| !v.is_empty());
    }
    if let Some(fb) = f.enumerated("legacy_free_busy", LegacyFreeBusy::ALL, |x| x.as_str())? {
        c.legacy_free_busy_status = Some(fb);
    }
    if f.has("attendees") {
        let list = match f.value("attendees") {
            None => Vec::new(),
            Some(v) => attendees_input(v)?,
        };
        c.required_attendees = attendee_list(&list, "Required");
        c.optional_attendees = attendee_list(&list, "Optional");
        c.resources = attendee_list(&list, "Resource");
    }
    if f.has("recurrence") {
        c.recurrence = match f.value("recurrence") {
            None => None,
            Some(v) => {
                let start_date = start.map_or_else(|| jiff::civil::date(2000, 1, 1), |s| zone.tz.to_datetime(s).date());
                Some(recurrence_input(v, start_date)?)
            }
        };
    }
    Ok(())
}

/// `POST /sim/mailboxes/{smtp}/items`: creates the item as a user in Outlook would (new UID
/// and change key, a Created event) and, when it has attendees that are mailboxes of the
/// simulator, sends the invitations (their copies appear in those calendars).
pub fn apply_create(store: &Store, smtp: &str, body: &Value) -> Result<ItemJson, ApiError> {
    let mb = store.mailbox(smtp)?;
    let f = Fields::new(body, ITEM_FIELDS)?;
    f.required_string("subject")?;
    f.time("start")?.ok_or_else(|| ApiError::invalid("start", "is required"))?;
    f.time("end")?.ok_or_else(|| ApiError::invalid("end", "is required"))?;
    let mut c = CalendarItem::default();
    apply_fields(&f, &mut c, store, mb.zone())?;
    let has_attendees = c.required_attendees.is_some() || c.optional_attendees.is_some() || c.resources.is_some();
    let created = store.create_item(&mb, FolderKind::Calendar, &Item::Calendar(c))?;
    let id = created.item_id().cloned().ok_or(StoreError::ItemNotFound)?;
    if has_attendees {
        store.send_meeting_invitations(&mb, &BaseItemId::Item(ItemId { id: id.id.clone(), change_key: None }))?;
    }
    one_item_json(store, &mb, store.item_number(&mb, id.id.as_str())?)
}

/// `PATCH /sim/mailboxes/{smtp}/items/{item_id}`: changes the given fields (null clears
/// `location`, `body`, `categories`, `attendees`, `recurrence`); `deleted_occurrences` and
/// `modified_occurrences` replace the series' lists. An occurrence id changes that occurrence
/// (subject, start, end, location, body, legacy_free_busy). Fires Modified; an organized
/// meeting that was sent is sent again (attendees' copies follow).
pub fn apply_patch(store: &Store, smtp: &str, item_id: &str, body: &Value) -> Result<ItemJson, ApiError> {
    let mb = store.mailbox(smtp)?;
    let raw = store.decode_id(item_id).ok_or_else(|| ApiError::not_found(format!("no item {item_id:?}")))?;
    if raw.mailbox != mb.number() {
        return Err(ApiError::not_found(format!("no item {item_id:?} in {smtp}")));
    }
    let f = Fields::new(body, PATCH_FIELDS)?;
    let id = BaseItemId::Item(ItemId { id: ItemIdValue(item_id.to_string()), change_key: None });
    if raw.kind == IdKind::Occurrence {
        if let Some(k) = f
            .map
            .keys()
            .find(|k| !["subject", "start", "end", "location", "body", "legacy_free_busy"].contains(&k.as_str()))
        {
            return Err(ApiError::invalid(k.as_str(), "cannot be changed on one occurrence"));
        }
        update_fields(store, &mb, &id, &f)?;
        // The occurrence is now an exception: its entry in the listing.
        return list_items(store, smtp)?
            .into_iter()
            .find(|i| i.item_id == item_id)
            .ok_or_else(|| ApiError::not_found(format!("no occurrence {item_id:?}")));
    }
    let number = raw.number;
    let simple: Vec<&String> = f.map.keys().filter(|k| !k.ends_with("_occurrences")).collect();
    if !simple.is_empty() {
        update_fields(store, &mb, &id, &f)?;
    }
    if f.has("deleted_occurrences") || f.has("modified_occurrences") {
        let deleted = if f.has("deleted_occurrences") {
            Some(f.strings("deleted_occurrences")?.unwrap_or_default())
        } else {
            None
        };
        let modified = match f.value("modified_occurrences") {
            None if f.has("modified_occurrences") => Some(Vec::new()),
            None => None,
            Some(Value::Array(list)) => Some(list.clone()),
            Some(_) => return Err(ApiError::invalid("modified_occurrences", "must be an array")),
        };
        let mut failure = None;
        store
            .edit_calendar(&mb, number, |c| {
                let result = edit_occurrences(c, deleted.as_deref(), modified.as_deref());
                result.map_err(|e| {
                    failure = Some(e.clone());
                    StoreError::invalid("body", e.message)
                })
            })
            .map_err(|e| failure.clone().unwrap_or_else(|| e.into()))?;
    }
    let json = one_item_json(store, &mb, number)?;
    if !json.attendees.is_empty() && json.organizer.email.eq_ignore_ascii_case(mb.smtp().as_str()) {
        store.send_meeting_invitations(&mb, &id)?;
        return one_item_json(store, &mb, number);
    }
    Ok(json)
}

/// Applies the simple fields of a patch through the store's update (Modified event), keeping
/// the API error (with its field) when the fields are invalid.
fn update_fields(store: &Store, mb: &Mailbox, id: &BaseItemId, f: &Fields) -> Result<(), ApiError> {
    let mut failure = None;
    let zone = mb.zone().clone();
    store
        .update_item(mb, id, ChangeKeyCheck::Ignore, |item| {
            let Item::Calendar(c) = item else { return Err(StoreError::ItemNotFound) };
            apply_fields(f, c, store, &zone).map_err(|e| {
                let message = e.message.clone();
                failure = Some(e);
                StoreError::invalid("body", message)
            })
        })
        .map_err(|e| failure.unwrap_or_else(|| e.into()))?;
    Ok(())
}

fn edit_occurrences(c: &mut CalData, deleted: Option<&[String]>, modified: Option<&[Value]>) -> Result<(), ApiError> {
    let zone = c.zone.clone();
    let x = c.series().ok_or_else(|| ApiError::invalid("deleted_occurrences", "the item is not a recurring series"))?;
    let x = x.expander().map_err(|e| ApiError::invalid("recurrence", e.to_string()))?;
    let mut new_deleted = None;
    if let Some(list) = deleted {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let field = format!("deleted_occurrences[{i}]");
            let ts = TimeInput::parse(&field, s)?.resolve(&field, &zone)?;
            let index =
                x.index_of(ts).ok_or_else(|| ApiError::invalid(&field, "is not an occurrence of the series"))?;
            out.push(x.original_start_of(index).unwrap_or(ts));
        }
        new_deleted = Some(out);
    }
    let mut new_exceptions = None;
    if let Some(list) = modified {
        let mut out = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let field = format!("modified_occurrences[{i}]");
            let f = Fields::new(
                v,
                &["original_start", "start", "end", "subject", "location", "body", "legacy_free_busy", "item_id"],
            )
            .map_err(|e| ApiError::invalid(&field, e.message))?;
            let original = TimeInput::parse(
                &format!("{field}.original_start"),
                &f.required_string("original_start").map_err(|e| ApiError::invalid(&field, e.message))?,
            )?
            .resolve(&field, &zone)?;
            let index = x.index_of(original).ok_or_else(|| {
                ApiError::invalid(format!("{field}.original_start"), "is not an occurrence of the series")
            })?;
            let original = x.original_start_of(index).unwrap_or(original);
            let length = c.end.duration_since(c.start);
            let start =
                f.time("start")?.map(|t| t.resolve(&format!("{field}.start"), &zone)).transpose()?.unwrap_or(original);
            let end = match f.time("end")? {
                Some(t) => t.resolve(&format!("{field}.end"), &zone)?,
                None => start.checked_add(length).unwrap_or(start),
            };
            if end < start {
                return Err(ApiError::invalid(format!("{field}.end"), "is before start"));
            }
            out.push(ExceptionData {
                original_start: original,
                start,
                end,
                subject: f.string("subject")?.map(Into::into),
                location: f.has("location").then(|| f.string("location").ok().flatten().map(Into::into)),
                body: f.has("body").then(|| {
                    f.string("body")
                        .ok()
                        .flatten()
                        .map(|b| BodyData { html: b.trim_start().starts_with('<'), content: b.into() })
                }),
                free_busy: f.enumerated("legacy_free_busy", LegacyFreeBusy::ALL, |x| x.as_str())?,
            });
        }
        new_exceptions = Some(out);
    }
    let rec = c
        .recurrence
        .as_deref_mut()
        .ok_or_else(|| ApiError::invalid("deleted_occurrences", "the item is not a recurring series"))?;
    if let Some(d) = new_deleted {
        rec.deleted = d;
    }
    if let Some(e) = new_exceptions {
        rec.exceptions = e;
    }
    rec.sync_modified();
    Ok(())
}

/// `DELETE /sim/mailboxes/{smtp}/items/{item_id}`: deletes the item (or, for an occurrence
/// id, that occurrence); fires the notification.
pub fn apply_delete(store: &Store, smtp: &str, item_id: &str) -> Result<(), ApiError> {
    let mb = store.mailbox(smtp)?;
    let id = BaseItemId::Item(ItemId { id: ItemIdValue(item_id.to_string()), change_key: None });
    store.delete_item(&mb, &id, ChangeKeyCheck::Ignore)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Mailboxes and OOF

/// `POST /sim/mailboxes` `{smtp, aliases?, display_name?, time_zone?}`.
pub fn apply_create_mailbox(store: &Store, body: &Value) -> Result<MailboxJson, ApiError> {
    let f = Fields::new(body, &["smtp", "aliases", "display_name", "time_zone"])?;
    let spec = MailboxSpec {
        smtp: f.required_string("smtp")?,
        aliases: f.strings("aliases")?.unwrap_or_default(),
        display_name: f.string("display_name")?,
        time_zone: f.string("time_zone")?,
    };
    let mb = store.add_mailbox(spec)?;
    Ok(MailboxJson::of(&mb))
}

/// `PUT /sim/mailboxes/{smtp}/oof` `{state, start?, end?, internal_reply?, external_reply?,
/// external_audience?}`. Replies not given keep their value.
pub fn apply_oof(store: &Store, smtp: &str, body: &Value) -> Result<OofJson, ApiError> {
    let mb = store.mailbox(smtp)?;
    let f = Fields::new(body, &["state", "start", "end", "internal_reply", "external_reply", "external_audience"])?;
    let state_text = f.required_string("state")?;
    let state = OofStatus::parse(&state_text)
        .ok_or_else(|| ApiError::invalid("state", format!("{state_text:?} is not Disabled, Enabled or Scheduled")))?;
    let zone = mb.zone().clone();
    let start = f.time("start")?.map(|t| t.resolve("start", &zone)).transpose()?;
    let end = f.time("end")?.map(|t| t.resolve("end", &zone)).transpose()?;
    if state == OofStatus::Scheduled {
        let (Some(s), Some(e)) = (start, end) else {
            return Err(ApiError::invalid(
                if start.is_none() { "start" } else { "end" },
                "is required when state is Scheduled",
            ));
        };
        if e <= s {
            return Err(ApiError::invalid("end", "must be after start"));
        }
    }
    let mut oof = store.oof(&mb);
    oof.state = state;
    if start.is_some() || end.is_some() || state == OofStatus::Scheduled {
        oof.start = start;
        oof.end = end;
    }
    if let Some(r) = f.string("internal_reply")? {
        oof.internal_reply = r;
    }
    if let Some(r) = f.string("external_reply")? {
        oof.external_reply = r;
    }
    if let Some(a) = f.string("external_audience")? {
        oof.external_audience = ExternalAudience::parse(&a)
            .ok_or_else(|| ApiError::invalid("external_audience", format!("{a:?} is not None, Known or All")))?;
    }
    store.set_oof(&mb, oof.clone())?;
    Ok(OofJson::of(&oof))
}
