//! EWS calendar items → [`EventDoc`]s and mirror rows. Pure: no I/O, no clock.
//!
//! # What an item becomes
//!
//! * A **single** item: one row of kind `single`, key (UID, [`InstanceKey::single`]), holding
//!   its [`EventDoc`].
//! * A **recurring master**: one row of kind `master` holding the *series document* (see
//!   below), plus one row of kind `occurrence` per occurrence overlapping the sync window,
//!   keyed by [`InstanceKey::occurrence`] of its original start. Occurrences are expanded with
//!   [`exbridge_calendar::Series`] in the series' own zone (wall-clock: a 09:00 meeting in
//!   W. Europe is 09:00 Europe/Berlin in January and in July). A regular occurrence carries the
//!   master's content at its own times; an exception (modified occurrence) carries the content
//!   of its own GetItem (subject, location, body, free/busy… may differ) when it was fetched,
//!   else the master's content at the exception's times.
//!
//! # The series document
//!
//! An [`EventDoc`] with `id` = the series id (`EventId::new(uid, InstanceKey::single())`),
//! no `series_id`, `start`/`end` = the master's `Start`/`End` (the first occurrence the
//! pattern defines, whether or not it was deleted later, so that deleting the first occurrence
//! is an occurrence-level change and not a series change), and `recurrence` =
//! [`recurrence_json`]: the pattern and the range, *without* the lists of modified and deleted
//! occurrences (those are occurrence-level changes, reported per occurrence).
//!
//! # Content hash
//!
//! [`content_hash`]: SHA-256 over the document's canonical JSON without `changed_at` (it moves
//! with every save of the master, even when an unrelated exception changed). So an item saved
//! again without a visible change, or whose ChangeKey changed, hashes the same and raises no
//! `event.updated`.
//!
//! # Items without a UID
//!
//! Every calendar item Exchange stores has a UID; a missing one is tolerated: the caller passes
//! the key the mirror already uses for that ItemId (its first sighting), else
//! [`fallback_uid`] derives one from the ItemId (`itemid-` + 32 hex digits of its SHA-256).
//! Such a key is stable as long as the ItemId is; if Exchange changes the ItemId of a UID-less
//! item, it shows up as a deletion and a creation.

use std::collections::{HashMap, HashSet};

use ews_proto::items::{
    Attendee as EwsAttendee, CalendarItem, CalendarItemType, Importance, LegacyFreeBusy, Recurrence, RecurrencePattern,
    RecurrenceRange, ResponseType, Sensitivity,
};
use ews_proto::values::DateTime as EwsDateTime;
use exbridge_calendar::join::JoinDetector;
use exbridge_calendar::{ModifiedOccurrence, Series};
use exbridge_store::{ChangeKey, FolderKind, InstanceKey, ItemId, MirrorEvent, MirrorKey, MirrorKind, Uid};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::event::{Attendee, EventDoc, EventId, JoinDoc, Person};

/// Why an item could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the calendar item has no ItemId")]
    NoItemId,
    #[error("calendar item {item_id}: no {field}")]
    Missing { item_id: String, field: &'static str },
}

/// An Exchange item mapped to what the mirror keeps of it.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedItem {
    pub uid: Uid,
    pub item_id: ItemId,
    /// The single row, or the master row followed by the occurrence rows in the window
    /// (ordered by instance key).
    pub rows: Vec<MirrorEvent>,
    /// For a series: the instance keys of its deleted occurrences (all of them, inside the
    /// window or not). Empty for a single.
    pub deleted_occurrences: Vec<InstanceKey>,
}

impl MappedItem {
    /// The single row or the master row.
    pub fn head(&self) -> Option<&MirrorEvent> {
        self.rows.iter().find(|r| r.key.instance.is_single())
    }

    /// Whether this is a recurring series.
    pub fn is_series(&self) -> bool {
        self.head().is_some_and(|r| r.kind == MirrorKind::Master)
    }
}

/// The zone of an item: its IANA name and the zone itself.
#[derive(Debug, Clone)]
pub struct ItemZone {
    pub name: String,
    pub tz: TimeZone,
}

/// The zone of `item`: `StartTimeZoneId` (Windows id → IANA through the CLDR table), else the
/// `StartTimeZone` definition, else the legacy `MeetingTimeZone` name, else UTC.
pub fn item_zone(item: &CalendarItem) -> ItemZone {
    let windows = item
        .start_time_zone_id
        .as_deref()
        .or(item.start_time_zone.as_ref().and_then(|d| d.id.as_deref()))
        .or(item.meeting_time_zone.as_ref().and_then(|m| m.time_zone_name.as_deref()));
    if let Some(id) = windows
        && let Ok(tz) = ews_proto::tz::time_zone_for_windows_id(id)
    {
        let name = tz
            .iana_name()
            .map(str::to_owned)
            .or_else(|| ews_proto::tz::windows_to_iana(id).map(str::to_owned))
            .unwrap_or_else(|| "UTC".to_owned());
        return ItemZone { name, tz };
    }
    if let Some(def) = &item.start_time_zone
        && let Ok(tz) = def.to_time_zone()
    {
        let name = tz.iana_name().unwrap_or("UTC").to_owned();
        return ItemZone { name, tz };
    }
    ItemZone { name: "UTC".to_owned(), tz: TimeZone::UTC }
}

/// RFC 3339 with the offset `tz` has at that instant (`2026-01-15T09:00:00+01:00`).
pub fn rfc3339_in(ts: Timestamp, tz: &TimeZone) -> String {
    ts.display_with_offset(tz.to_offset(ts)).to_string()
}

/// The instant of an EWS date-time; a value without offset is read in `tz`.
fn instant(value: &Option<EwsDateTime>, tz: &TimeZone) -> Option<Timestamp> {
    value.as_ref().and_then(|v| v.timestamp_in(tz))
}

/// The key for an item without UID: `itemid-` and 32 hex digits of the SHA-256 of the ItemId.
pub fn fallback_uid(item_id: &str) -> String {
    let digest = Sha256::digest(item_id.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("itemid-{hex}")
}

/// `free` | `tentative` | `busy` | `oof` | `working_elsewhere` | `no_data`.
pub fn free_busy_str(status: LegacyFreeBusy) -> &'static str {
    match status {
        LegacyFreeBusy::Free => "free",
        LegacyFreeBusy::Tentative => "tentative",
        LegacyFreeBusy::Busy => "busy",
        LegacyFreeBusy::Oof => "oof",
        LegacyFreeBusy::WorkingElsewhere => "working_elsewhere",
        LegacyFreeBusy::NoData => "no_data",
    }
}

fn response_str(r: Option<ResponseType>) -> &'static str {
    match r {
        None | Some(ResponseType::Unknown) => "unknown",
        Some(ResponseType::Organizer) => "organizer",
        Some(ResponseType::Tentative) => "tentative",
        Some(ResponseType::Accept) => "accepted",
        Some(ResponseType::Decline) => "declined",
        Some(ResponseType::NoResponseReceived) => "none",
    }
}

fn attendees(item: &CalendarItem) -> Vec<Attendee> {
    let lists: [(&Option<Vec<EwsAttendee>>, &str); 3] =
        [(&item.required_attendees, "required"), (&item.optional_attendees, "optional"), (&item.resources, "resource")];
    lists
        .into_iter()
        .flat_map(|(list, kind)| {
            list.iter().flatten().map(move |a| Attendee {
                email: a.mailbox.email_address.clone(),
                name: a.mailbox.name.clone(),
                kind: kind.to_owned(),
                response: response_str(a.response_type).to_owned(),
            })
        })
        .collect()
}

/// The event document of `item` with the given identity and times; everything else from the
/// item itself.
pub fn event_doc(
    item: &CalendarItem,
    id: &EventId,
    series_id: Option<String>,
    uid: &str,
    (start, end): (Timestamp, Timestamp),
    zone: &ItemZone,
    joins: &JoinDetector,
) -> EventDoc {
    let fields = &item.item;
    let body = fields.body.as_ref().map(|b| b.content.clone()).filter(|b| !b.is_empty());
    let body_is_html = fields.body.as_ref().is_some_and(|b| b.body_type == ews_proto::items::BodyType::Html);
    let location = item.location.clone().filter(|l| !l.is_empty());
    let join = joins
        .detect(location.as_deref(), body.as_deref(), body_is_html)
        .map(|j| JoinDoc { provider: j.provider.as_str().to_owned(), url: j.url });
    let is_private = matches!(fields.sensitivity, Some(Sensitivity::Private | Sensitivity::Confidential));
    let importance = match fields.importance {
        Some(Importance::Low) => "low",
        Some(Importance::High) => "high",
        _ => "normal",
    };
    let free_busy = free_busy_str(item.legacy_free_busy_status.unwrap_or(LegacyFreeBusy::Busy));
    let organizer = item
        .organizer
        .as_ref()
        .map(|o| Person { email: o.mailbox.email_address.clone(), name: o.mailbox.name.clone() });
    let changed_at = instant(&fields.last_modified_time, &TimeZone::UTC).map(|t| t.to_string()).unwrap_or_default();
    let is_cancelled = item.is_cancelled.unwrap_or(false) || item.appointment_state.is_some_and(|s| s & 4 != 0);
    EventDoc {
        id: id.encode(),
        series_id,
        uid: uid.to_owned(),
        subject: fields.subject.clone().unwrap_or_default(),
        start: rfc3339_in(start, &zone.tz),
        end: rfc3339_in(end, &zone.tz),
        time_zone: zone.name.clone(),
        is_all_day: item.is_all_day_event.unwrap_or(false),
        location,
        body,
        is_private,
        categories: fields.categories.clone().unwrap_or_default(),
        importance: importance.to_owned(),
        free_busy: free_busy.to_owned(),
        organizer,
        attendees: attendees(item),
        is_meeting: item.is_meeting.unwrap_or(false),
        is_cancelled,
        join,
        recurrence: None,
        changed_at,
        app_id: crate::catmap::app_id_of(fields),
        priority: None,
        change_key: fields.item_id.as_ref().and_then(|i| i.change_key.as_ref()).map(|c| c.as_str().to_owned()),
    }
}

/// The JSON description of a recurrence on a series document:
///
/// ```json
/// {"pattern": {"type": "weekly", "interval": 1, "days_of_week": ["Monday"], "first_day_of_week": "Sunday"},
///  "range": {"type": "end_date", "start_date": "2026-01-05", "end_date": "2026-06-29"}}
/// ```
///
/// Pattern types: `daily {interval}`, `weekly {interval, days_of_week, first_day_of_week?}`,
/// `absolute_monthly {interval, day_of_month}`, `relative_monthly {interval, days_of_week,
/// day_of_week_index}`, `absolute_yearly {month, day_of_month}`, `relative_yearly {month,
/// days_of_week, day_of_week_index}` (task-only regenerating patterns: `*_regeneration
/// {interval}`); day and month names as EWS writes them (`Monday`, `Weekday`, `First`,
/// `Last`, `January`). Range types: `no_end {start_date}`, `end_date {start_date,
/// end_date}`, `numbered {start_date, number_of_occurrences}`; dates `YYYY-MM-DD`.
pub fn recurrence_json(r: &Recurrence) -> serde_json::Value {
    let pattern = match &r.pattern {
        RecurrencePattern::Daily { interval } => json!({"type": "daily", "interval": interval}),
        RecurrencePattern::Weekly { interval, days_of_week, first_day_of_week } => {
            let days: Vec<&str> = days_of_week.iter().map(|d| d.as_str()).collect();
            let mut p = json!({"type": "weekly", "interval": interval, "days_of_week": days});
            if let Some(f) = first_day_of_week {
                p["first_day_of_week"] = json!(f.as_str());
            }
            p
        }
        RecurrencePattern::AbsoluteMonthly { interval, day_of_month } => {
            json!({"type": "absolute_monthly", "interval": interval, "day_of_month": day_of_month})
        }
        RecurrencePattern::RelativeMonthly { interval, days_of_week, day_of_week_index } => json!({
            "type": "relative_monthly", "interval": interval,
            "days_of_week": days_of_week.as_str(), "day_of_week_index": day_of_week_index.as_str()
        }),
        RecurrencePattern::AbsoluteYearly { day_of_month, month } => {
            json!({"type": "absolute_yearly", "month": month.as_str(), "day_of_month": day_of_month})
        }
        RecurrencePattern::RelativeYearly { days_of_week, day_of_week_index, month } => json!({
            "type": "relative_yearly", "month": month.as_str(),
            "days_of_week": days_of_week.as_str(), "day_of_week_index": day_of_week_index.as_str()
        }),
        RecurrencePattern::DailyRegeneration { interval } => {
            json!({"type": "daily_regeneration", "interval": interval})
        }
        RecurrencePattern::WeeklyRegeneration { interval } => {
            json!({"type": "weekly_regeneration", "interval": interval})
        }
        RecurrencePattern::MonthlyRegeneration { interval } => {
            json!({"type": "monthly_regeneration", "interval": interval})
        }
        RecurrencePattern::YearlyRegeneration { interval } => {
            json!({"type": "yearly_regeneration", "interval": interval})
        }
    };
    let range = match &r.range {
        RecurrenceRange::NoEnd { start_date } => json!({"type": "no_end", "start_date": start_date.date.to_string()}),
        RecurrenceRange::EndDate { start_date, end_date } => json!({
            "type": "end_date", "start_date": start_date.date.to_string(), "end_date": end_date.date.to_string()
        }),
        RecurrenceRange::Numbered { start_date, number_of_occurrences } => json!({
            "type": "numbered", "start_date": start_date.date.to_string(),
            "number_of_occurrences": number_of_occurrences
        }),
    };
    json!({"pattern": pattern, "range": range})
}

/// SHA-256 (hex) of the document's JSON without `changed_at` and `change_key`. serde_json
/// maps are ordered by key, so the JSON text is canonical.
pub fn content_hash(doc: &EventDoc) -> String {
    let mut value = serde_json::to_value(doc).unwrap_or(serde_json::Value::Null);
    value_hash(&mut value)
}

/// [`content_hash`] of a document already turned into JSON: the two version fields are taken
/// out while the compact JSON text is fed to the hash, then put back (`value` ends as it was).
/// The bytes hashed are those of `value.to_string()` without the two keys, so the hash is the
/// same as it always was (stored hashes stay comparable) without building the text.
pub fn value_hash(value: &mut serde_json::Value) -> String {
    const VERSION_FIELDS: [&str; 2] = ["changed_at", "change_key"];
    let taken: Vec<(&str, serde_json::Value)> = match value.as_object_mut() {
        Some(obj) => VERSION_FIELDS.iter().filter_map(|k| obj.remove(*k).map(|v| (*k, v))).collect(),
        None => Vec::new(),
    };
    let mut hasher = HashWriter(Sha256::new());
    // Writing to the hasher cannot fail; a Value always serialises.
    let _ = serde_json::to_writer(&mut hasher, &*value);
    if let Some(obj) = value.as_object_mut() {
        for (k, v) in taken {
            obj.insert(k.to_owned(), v);
        }
    }
    let digest = hasher.0.finalize();
    let mut hex = String::with_capacity(digest.len() * 2);
    for b in digest.iter() {
        hex.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    hex
}

/// Feeds what is written to a SHA-256.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The mirror row of a document.
#[allow(clippy::too_many_arguments)]
pub fn row(
    folder: FolderKind,
    kind: MirrorKind,
    uid: &Uid,
    instance: InstanceKey,
    item_id: &ItemId,
    change_key: Option<&ChangeKey>,
    times: (Timestamp, Timestamp),
    doc: &EventDoc,
    changed_at: Timestamp,
) -> MirrorEvent {
    let mut event = serde_json::to_value(doc).unwrap_or(serde_json::Value::Null);
    let content_hash = value_hash(&mut event);
    MirrorEvent {
        key: MirrorKey::new(folder, uid.clone(), instance),
        kind,
        item_id: item_id.clone(),
        change_key: change_key.cloned(),
        series_id: doc.series_id.clone(),
        start: Some(times.0),
        end: Some(times.1),
        event,
        content_hash,
        changed_at,
        deleted: false,
    }
}

/// Maps one calendar item (a single or a recurring master, as GetItem returns it) into mirror
/// rows, expanding a series inside `[window.0, window.1)`.
///
/// `exceptions`: the GetItem results of the master's modified occurrences, by the instance key
/// of their original start (missing ones fall back to the master's content). `uid_override`:
/// the key to use when the item has no UID (see the module documentation).
pub fn map_calendar_item(
    item: &CalendarItem,
    exceptions: &HashMap<InstanceKey, CalendarItem>,
    window: (Timestamp, Timestamp),
    joins: &JoinDetector,
    folder: FolderKind,
    uid_override: Option<&str>,
) -> Result<MappedItem, MappingError> {
    let ews_id = item.item.item_id.as_ref().ok_or(MappingError::NoItemId)?;
    let item_id = ItemId::new(ews_id.id.as_str());
    let change_key = ews_id.change_key.as_ref().map(|c| ChangeKey::new(c.as_str()));
    let uid_text = match item.uid.as_deref().filter(|u| !u.is_empty()) {
        Some(u) => u.to_owned(),
        None => uid_override.map(str::to_owned).unwrap_or_else(|| fallback_uid(ews_id.id.as_str())),
    };
    let uid = Uid::new(uid_text.clone());
    let zone = item_zone(item);
    let missing = |field| MappingError::Missing { item_id: ews_id.id.as_str().to_owned(), field };
    let start = instant(&item.start, &zone.tz).ok_or_else(|| missing("Start"))?;
    let end = instant(&item.end, &zone.tz).ok_or_else(|| missing("End"))?.max(start);
    let changed_at = instant(&item.item.last_modified_time, &TimeZone::UTC).unwrap_or(start);
    let series_key = EventId::new(uid_text.clone(), InstanceKey::single());

    let recurrence = item.recurrence.as_ref().filter(|_| item.calendar_item_type != Some(CalendarItemType::Single));
    let Some(recurrence) = recurrence else {
        let doc = event_doc(item, &series_key, None, &uid_text, (start, end), &zone, joins);
        let r = row(
            folder,
            MirrorKind::Single,
            &uid,
            InstanceKey::single(),
            &item_id,
            change_key.as_ref(),
            (start, end),
            &doc,
            changed_at,
        );
        return Ok(MappedItem { uid, item_id, rows: vec![r], deleted_occurrences: Vec::new() });
    };

    // The series document.
    let mut master_doc = event_doc(item, &series_key, None, &uid_text, (start, end), &zone, joins);
    master_doc.recurrence = Some(recurrence_json(recurrence));
    let mut rows = vec![row(
        folder,
        MirrorKind::Master,
        &uid,
        InstanceKey::single(),
        &item_id,
        change_key.as_ref(),
        (start, end),
        &master_doc,
        changed_at,
    )];

    let modified: Vec<ModifiedOccurrence> = item
        .modified_occurrences
        .iter()
        .flatten()
        .filter_map(|o| {
            Some(ModifiedOccurrence {
                original_start: o.original_start.timestamp_in(&zone.tz)?,
                start: o.start.timestamp_in(&zone.tz)?,
                end: o.end.timestamp_in(&zone.tz)?,
            })
        })
        .collect();
    let deleted: Vec<Timestamp> =
        item.deleted_occurrences.iter().flatten().filter_map(|d| d.start.timestamp_in(&zone.tz)).collect();
    let deleted_occurrences = deleted.iter().map(|&t| InstanceKey::occurrence(t)).collect();

    let series = Series {
        time_zone: &zone.tz,
        start: zone.tz.to_datetime(start),
        end: zone.tz.to_datetime(end),
        is_all_day: item.is_all_day_event.unwrap_or(false),
        recurrence,
        modified: &modified,
        deleted: &deleted,
    };
    // The document of an occurrence the series expands unchanged: the master's content,
    // built (join link detected, body copied…) once for the whole series; each occurrence
    // changes only its id and times.
    let series_encoded = series_key.encode();
    let mut template =
        event_doc(item, &series_key, Some(series_encoded.clone()), &uid_text, (start, end), &zone, joins);
    // An occurrence is all-day when its series is, whatever its own GetItem says.
    template.is_all_day = item.is_all_day_event.unwrap_or(false);
    // Its version is the series' (the master's ChangeKey, what a write of it is checked
    // against).
    template.change_key = change_key.as_ref().map(|c| c.as_str().to_owned());
    let mut occurrence_row = |original_start: Timestamp, times: (Timestamp, Timestamp), is_exception: bool| {
        let instance = InstanceKey::occurrence(original_start);
        let id = EventId::new(uid_text.clone(), instance.clone());
        let exception = if is_exception { exceptions.get(&instance) } else { None };
        let doc = match exception {
            Some(source) => {
                let mut doc = event_doc(source, &id, Some(series_encoded.clone()), &uid_text, times, &zone, joins);
                doc.is_all_day = template.is_all_day;
                doc.change_key = template.change_key.clone();
                doc
            }
            None => {
                let mut doc = template.clone();
                doc.id = id.encode();
                doc.start = rfc3339_in(times.0, &zone.tz);
                doc.end = rfc3339_in(times.1, &zone.tz);
                doc
            }
        };
        rows.push(row(
            folder,
            MirrorKind::Occurrence,
            &uid,
            instance,
            &item_id,
            change_key.as_ref(),
            times,
            &doc,
            changed_at,
        ));
    };
    match series.expander() {
        Ok(expander) => {
            let occurrences = expander.expand(window.0, window.1);
            let expanded: HashSet<Timestamp> = occurrences.iter().map(|o| o.original_start).collect();
            for o in &occurrences {
                occurrence_row(o.original_start, (o.start, o.end), o.is_exception());
            }
            // An exception moved out of the window while its original start is inside it keeps
            // its row (at its actual times), so that the move is reported as a change of that
            // occurrence rather than passing for the window's slide.
            let deleted_days: HashSet<InstanceKey> = deleted.iter().map(|&t| InstanceKey::occurrence(t)).collect();
            for m in &modified {
                let inside = m.original_start >= window.0 && m.original_start < window.1;
                let key = InstanceKey::occurrence(m.original_start);
                if inside
                    && !expanded.contains(&m.original_start)
                    && !deleted_days.contains(&key)
                    && expander.index_of(m.original_start).is_some()
                {
                    occurrence_row(m.original_start, (m.start, m.end), true);
                }
            }
        }
        Err(e) => {
            tracing::warn!(uid = %uid_text, error = %e, "recurring series cannot be expanded; mirroring its master only");
        }
    }
    rows[1..].sort_by(|a, b| a.key.instance.cmp(&b.key.instance));
    Ok(MappedItem { uid, item_id, rows, deleted_occurrences })
}

/// The ItemIds of the exceptions of `master` worth fetching for `window`: those whose actual
/// or original times overlap it.
pub fn exception_ids_in_window(master: &CalendarItem, window: (Timestamp, Timestamp)) -> Vec<ews_proto::ItemId> {
    let zone = item_zone(master);
    master
        .modified_occurrences
        .iter()
        .flatten()
        .filter(|o| {
            let (Some(s), Some(e), Some(os)) =
                (o.start.timestamp_in(&zone.tz), o.end.timestamp_in(&zone.tz), o.original_start.timestamp_in(&zone.tz))
            else {
                return false;
            };
            (s < window.1 && e > window.0) || (os >= window.0 && os < window.1)
        })
        .map(|o| o.item_id.clone())
        .collect()
}

/// The 1-based EWS `InstanceIndex` of the occurrence of the series `master` originally
/// starting at `original_start` (deleted or not); `None` when the series has no occurrence
/// that day or cannot be expanded.
pub fn occurrence_index(master: &CalendarItem, original_start: Timestamp) -> Option<i32> {
    let zone = item_zone(master);
    let start = instant(&master.start, &zone.tz)?;
    let end = instant(&master.end, &zone.tz)?.max(start);
    let recurrence = master.recurrence.as_ref()?;
    let series = Series {
        time_zone: &zone.tz,
        start: zone.tz.to_datetime(start),
        end: zone.tz.to_datetime(end),
        is_all_day: master.is_all_day_event.unwrap_or(false),
        recurrence,
        modified: &[],
        deleted: &[],
    };
    let index = series.expander().ok()?.index_of(original_start)?;
    i32::try_from(index).ok()
}

/// The mirror-compatible document of an occurrence, exception or single as a CalendarView (or
/// GetItem of an occurrence id) returns it: same id as the mirror gives it.
pub fn view_item_doc(item: &CalendarItem, joins: &JoinDetector) -> Option<EventDoc> {
    let zone = item_zone(item);
    let start = instant(&item.start, &zone.tz)?;
    let end = instant(&item.end, &zone.tz)?.max(start);
    let uid = match item.uid.as_deref().filter(|u| !u.is_empty()) {
        Some(u) => u.to_owned(),
        None => fallback_uid(item.item.item_id.as_ref()?.id.as_str()),
    };
    let occurrence =
        matches!(item.calendar_item_type, Some(CalendarItemType::Occurrence | CalendarItemType::Exception));
    if occurrence {
        let original = instant(&item.original_start, &zone.tz).or(instant(&item.recurrence_id, &zone.tz))?;
        let id = EventId::new(uid.clone(), InstanceKey::occurrence(original));
        let series = EventId::new(uid.clone(), InstanceKey::single()).encode();
        Some(event_doc(item, &id, Some(series), &uid, (start, end), &zone, joins))
    } else {
        let id = EventId::new(uid.clone(), InstanceKey::single());
        Some(event_doc(item, &id, None, &uid, (start, end), &zone, joins))
    }
}

#[cfg(test)]
mod tests {
    use ews_proto::items::{
        Attendee as EwsAttendee, Body, DeletedOccurrence, ItemFields, OccurrenceInfo, SingleRecipient,
    };
    use ews_proto::values::Date as XDate;
    use ews_proto::xml::XmlText;
    use ews_proto::{EmailAddress, ItemId as EwsItemId};

    use super::*;

    fn dt(s: &str) -> EwsDateTime {
        EwsDateTime::from_text(s).unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn window() -> (Timestamp, Timestamp) {
        (ts("2026-01-01T00:00:00Z"), ts("2026-08-01T00:00:00Z"))
    }

    fn base(subject: &str, start: &str, end: &str, zone: &str) -> CalendarItem {
        CalendarItem {
            item: ItemFields {
                item_id: Some(EwsItemId::new("AAMk-1", Some("CK1"))),
                subject: Some(subject.into()),
                last_modified_time: Some(dt("2026-01-02T10:00:00Z")),
                ..ItemFields::default()
            },
            uid: Some("UID-1".into()),
            start: Some(dt(start)),
            end: Some(dt(end)),
            start_time_zone_id: Some(zone.into()),
            calendar_item_type: Some(CalendarItemType::Single),
            ..CalendarItem::default()
        }
    }

    fn map(item: &CalendarItem) -> MappedItem {
        map_calendar_item(item, &HashMap::new(), window(), &JoinDetector::new(&[]), FolderKind::Calendar, None).unwrap()
    }

    fn doc(row: &MirrorEvent) -> EventDoc {
        serde_json::from_value(row.event.clone()).unwrap()
    }

    #[test]
    fn windows_zones_become_iana_with_the_offset_of_the_day() {
        let winter = map(&base("x", "2026-01-15T08:00:00Z", "2026-01-15T09:00:00Z", "W. Europe Standard Time"));
        let d = doc(&winter.rows[0]);
        assert_eq!((d.start.as_str(), d.end.as_str()), ("2026-01-15T09:00:00+01:00", "2026-01-15T10:00:00+01:00"));
        assert_eq!(d.time_zone, "Europe/Berlin");
        let summer = map(&base("x", "2026-07-15T07:00:00Z", "2026-07-15T08:00:00Z", "W. Europe Standard Time"));
        assert_eq!(doc(&summer.rows[0]).start, "2026-07-15T09:00:00+02:00");
        let pacific = map(&base("x", "2026-07-15T16:00:00Z", "2026-07-15T17:00:00Z", "Pacific Standard Time"));
        assert_eq!(doc(&pacific.rows[0]).start, "2026-07-15T09:00:00-07:00");
        assert_eq!(doc(&pacific.rows[0]).time_zone, "America/Los_Angeles");
    }

    #[test]
    fn fields_are_mapped() {
        let mut item = base("Board", "2026-02-02T09:00:00Z", "2026-02-02T10:00:00Z", "UTC");
        item.item.sensitivity = Some(Sensitivity::Confidential);
        item.item.importance = Some(Importance::High);
        item.item.categories = Some(vec!["Red".into()]);
        item.item.body = Some(Body::text("Agenda attached"));
        item.legacy_free_busy_status = Some(LegacyFreeBusy::Oof);
        item.location = Some("https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0".into());
        item.is_meeting = Some(true);
        item.is_cancelled = Some(true);
        item.organizer = Some(SingleRecipient { mailbox: EmailAddress::smtp("boss@contoso.test", Some("Boss")) });
        let attendee = |a: &str, r| EwsAttendee {
            mailbox: EmailAddress::smtp(a, None),
            response_type: Some(r),
            ..EwsAttendee::default()
        };
        item.required_attendees = Some(vec![attendee("a@contoso.test", ResponseType::Accept)]);
        item.optional_attendees = Some(vec![attendee("b@contoso.test", ResponseType::Decline)]);
        item.resources = Some(vec![attendee("room@contoso.test", ResponseType::NoResponseReceived)]);
        let d = doc(&map(&item).rows[0]);
        assert!(d.is_private && d.is_meeting && d.is_cancelled);
        assert_eq!((d.importance.as_str(), d.free_busy.as_str()), ("high", "oof"));
        assert_eq!(d.categories, vec!["Red".to_owned()]);
        assert_eq!(d.body.as_deref(), Some("Agenda attached"));
        assert_eq!(d.organizer.unwrap().email.as_deref(), Some("boss@contoso.test"));
        let kinds: Vec<(&str, &str)> = d.attendees.iter().map(|a| (a.kind.as_str(), a.response.as_str())).collect();
        assert_eq!(kinds, vec![("required", "accepted"), ("optional", "declined"), ("resource", "none")]);
        assert_eq!(d.join.unwrap().provider, "teams");
        assert_eq!(d.id, "UID-1");
        assert_eq!(d.changed_at, "2026-01-02T10:00:00Z");
    }

    #[test]
    fn the_hash_ignores_saves_without_visible_change() {
        let a = base("x", "2026-02-02T09:00:00Z", "2026-02-02T10:00:00Z", "UTC");
        let mut b = a.clone();
        b.item.item_id = Some(EwsItemId::new("AAMk-1", Some("CK2")));
        b.item.last_modified_time = Some(dt("2026-02-01T00:00:00Z"));
        let (ra, rb) = (&map(&a).rows[0], &map(&b).rows[0]);
        assert_eq!(ra.content_hash, rb.content_hash);
        assert_ne!(ra, rb, "the row itself records the new change key");
        let mut c = a.clone();
        c.location = Some("Room 2".into());
        assert_ne!(map(&c).rows[0].content_hash, ra.content_hash);
    }

    #[test]
    fn the_hash_is_sha256_of_the_canonical_text_without_the_version_fields() {
        let row = &map(&base("x", "2026-02-02T09:00:00Z", "2026-02-02T10:00:00Z", "UTC")).rows[0];
        // The definition the stored hashes were made with: hash the compact text of the
        // document without `changed_at` and `change_key`.
        let mut bare = row.event.clone();
        let obj = bare.as_object_mut().unwrap();
        assert!(obj.remove("changed_at").is_some() && obj.remove("change_key").is_some());
        let expected: String = Sha256::digest(bare.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(row.content_hash, expected);
        // The document keeps its version fields.
        assert_eq!(row.event["change_key"], "CK1");
        assert_eq!(row.event["changed_at"], "2026-01-02T10:00:00Z");
        assert_eq!(content_hash(&doc(row)), expected);
    }

    #[test]
    fn a_series_expands_with_exceptions_and_deletions() {
        let mut master = base("Standup", "2026-03-02T08:00:00Z", "2026-03-02T08:15:00Z", "W. Europe Standard Time");
        master.calendar_item_type = Some(CalendarItemType::RecurringMaster);
        master.recurrence = Some(Recurrence {
            pattern: RecurrencePattern::Daily { interval: 1 },
            range: RecurrenceRange::Numbered {
                start_date: XDate::new("2026-03-02".parse().unwrap()),
                number_of_occurrences: 5,
            },
        });
        // The third is moved an hour later with its own subject; the fourth is deleted.
        master.modified_occurrences = Some(vec![OccurrenceInfo {
            item_id: EwsItemId::new("AAMk-1-occ3", None),
            start: dt("2026-03-04T09:00:00Z"),
            end: dt("2026-03-04T09:15:00Z"),
            original_start: dt("2026-03-04T08:00:00Z"),
        }]);
        master.deleted_occurrences = Some(vec![DeletedOccurrence { start: dt("2026-03-05T08:00:00Z") }]);
        let mut exception = master.clone();
        exception.item.subject = Some("Standup with demo".into());
        exception.recurrence = None;
        let third = InstanceKey::occurrence(ts("2026-03-04T08:00:00Z"));
        let exceptions = HashMap::from([(third.clone(), exception)]);
        let m = map_calendar_item(&master, &exceptions, window(), &JoinDetector::new(&[]), FolderKind::Calendar, None)
            .unwrap();
        assert!(m.is_series());
        assert_eq!(m.rows.len(), 5, "master + 4 occurrences (one deleted)");
        let head = doc(&m.rows[0]);
        assert_eq!((head.id.as_str(), head.series_id.as_deref()), ("UID-1", None));
        assert_eq!(head.recurrence.as_ref().unwrap()["range"]["type"], "numbered");
        let occ3 = m.rows.iter().find(|r| r.key.instance == third).unwrap();
        let d = doc(occ3);
        assert_eq!(d.subject, "Standup with demo");
        assert_eq!(d.start, "2026-03-04T10:00:00+01:00");
        assert_eq!(d.series_id.as_deref(), Some("UID-1"));
        assert_eq!(d.id, "UID-1~20260304T080000Z");
        assert_eq!(m.deleted_occurrences, vec![InstanceKey::occurrence(ts("2026-03-05T08:00:00Z"))]);
        let others: Vec<String> =
            m.rows[1..].iter().filter(|r| r.key.instance != third).map(|r| doc(r).subject).collect();
        assert_eq!(others, vec!["Standup"; 3]);
        // The series document does not change when an exception does.
        let plain = map(&master);
        assert_eq!(plain.rows[0].content_hash, m.rows[0].content_hash);
    }

    #[test]
    fn an_exception_moved_out_of_the_window_keeps_its_row() {
        let mut master = base("Review", "2026-03-02T08:00:00Z", "2026-03-02T09:00:00Z", "UTC");
        master.calendar_item_type = Some(CalendarItemType::RecurringMaster);
        master.recurrence = Some(Recurrence {
            pattern: RecurrencePattern::Daily { interval: 1 },
            range: RecurrenceRange::Numbered {
                start_date: XDate::new("2026-03-02".parse().unwrap()),
                number_of_occurrences: 3,
            },
        });
        master.modified_occurrences = Some(vec![OccurrenceInfo {
            item_id: EwsItemId::new("AAMk-1-occ2", None),
            start: dt("2026-09-01T08:00:00Z"),
            end: dt("2026-09-01T09:00:00Z"),
            original_start: dt("2026-03-03T08:00:00Z"),
        }]);
        let m = map(&master);
        assert_eq!(m.rows.len(), 4, "master + 3 occurrences, the moved one included");
        let moved =
            m.rows.iter().find(|r| r.key.instance == InstanceKey::occurrence(ts("2026-03-03T08:00:00Z"))).unwrap();
        assert_eq!(moved.start, Some(ts("2026-09-01T08:00:00Z")));
    }

    #[test]
    fn all_day_series_run_midnight_to_midnight_local() {
        let mut master = base("Holiday", "2026-03-09T23:00:00Z", "2026-03-10T23:00:00Z", "W. Europe Standard Time");
        master.is_all_day_event = Some(true);
        master.calendar_item_type = Some(CalendarItemType::RecurringMaster);
        master.recurrence = Some(Recurrence {
            pattern: RecurrencePattern::Weekly {
                interval: 1,
                days_of_week: vec![ews_proto::items::DayOfWeek::Tuesday],
                first_day_of_week: None,
            },
            range: RecurrenceRange::Numbered {
                start_date: XDate::new("2026-03-10".parse().unwrap()),
                number_of_occurrences: 4,
            },
        });
        let m = map(&master);
        let starts: Vec<String> = m.rows[1..].iter().map(|r| doc(r).start).collect();
        // Berlin switches to summer time on 29 March.
        assert_eq!(
            starts,
            [
                "2026-03-10T00:00:00+01:00",
                "2026-03-17T00:00:00+01:00",
                "2026-03-24T00:00:00+01:00",
                "2026-03-31T00:00:00+02:00"
            ]
        );
        assert!(m.rows[1..].iter().all(|r| doc(r).is_all_day));
        assert_eq!(doc(&m.rows[4]).end, "2026-04-01T00:00:00+02:00");
    }

    #[test]
    fn items_without_uid_get_a_stable_key_from_their_item_id() {
        let mut item = base("x", "2026-02-02T09:00:00Z", "2026-02-02T10:00:00Z", "UTC");
        item.uid = None;
        let a = map(&item);
        assert_eq!(a.uid.as_str(), fallback_uid("AAMk-1"));
        assert!(a.uid.as_str().starts_with("itemid-") && a.uid.as_str().len() == 39);
        assert_eq!(map(&item).uid, a.uid);
        let kept = map_calendar_item(
            &item,
            &HashMap::new(),
            window(),
            &JoinDetector::new(&[]),
            FolderKind::Calendar,
            Some("first-sighting"),
        )
        .unwrap();
        assert_eq!(kept.uid.as_str(), "first-sighting");
    }
}
