//! Items as the store keeps them, compactly, and their conversion to and from the protocol
//! types.
//!
//! An `ews_proto::items::CalendarItem` is about 1.8 KB before any string; 10,000 mailboxes of
//! 50 items would need close to a gigabyte just for the structs. The store therefore keeps the
//! fields a calendar simulator needs in `CalData` / `TaskData` (about 300 bytes plus the
//! strings; simulator users are shared `Arc`s, not copied names and addresses) and builds the
//! protocol item when it is read. Fields of the protocol item that are not kept (e.g.
//! `Culture`, `ConflictingMeetingCount`, `MeetingWorkspaceUrl`) are ignored on write.

use std::sync::Arc;

use ews_proto::items::{
    Attendee, Body, BodyType, CalendarItem, CalendarItemType, DeletedOccurrence, ExtendedProperty, Importance,
    ItemFields, LegacyFreeBusy, OccurrenceInfo, Recurrence, ResponseType, Sensitivity, SingleRecipient, Task,
    TaskStatus,
};
use ews_proto::values::{DateTime, Duration};
use ews_proto::{EmailAddress, FolderId, FolderIdValue, ItemId, MailboxType, SmtpAddress};
use exbridge_calendar::{Expander, ModifiedOccurrence, Occurrence, Series};
use jiff::{Timestamp, civil};

use super::StoreError;
use super::ids::{IdKind, RawId, encode_change_key, encode_id, mix};
use super::zones::{Zone, Zones};

/// A mailbox user as items refer to it (shared, never copied).
#[derive(Debug)]
pub struct Identity {
    /// The mailbox number (`user7` is 7 for seeded mailboxes).
    pub number: u32,
    pub smtp: SmtpAddress,
    pub display_name: String,
}

/// Someone on an item: a mailbox of the simulator, or an outside address.
#[derive(Debug, Clone)]
pub(crate) enum Person {
    Local(Arc<Identity>),
    External(Box<External>),
}

#[derive(Debug, Clone)]
pub(crate) struct External {
    pub name: Option<Box<str>>,
    pub email: Box<str>,
}

impl Person {
    pub(crate) fn email(&self) -> &str {
        match self {
            Person::Local(i) => i.smtp.as_str(),
            Person::External(e) => &e.email,
        }
    }

    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            Person::Local(i) => Some(&i.display_name),
            Person::External(e) => e.name.as_deref(),
        }
    }

    fn to_ews(&self) -> EmailAddress {
        let mut a = EmailAddress::smtp(self.email(), self.name());
        a.mailbox_type = Some(match self {
            Person::Local(_) => MailboxType::Mailbox,
            Person::External(_) => MailboxType::OneOff,
        });
        a
    }

    pub(crate) fn is(&self, who: &Identity) -> bool {
        match self {
            Person::Local(i) => i.number == who.number,
            Person::External(e) => who.smtp.as_str().eq_ignore_ascii_case(&e.email),
        }
    }
}

/// Resolves addresses to simulator users (aliases included).
pub(crate) trait Directory {
    fn identity(&self, address: &str) -> Option<Arc<Identity>>;
}

pub(crate) fn person(dir: &dyn Directory, address: &EmailAddress, field: &'static str) -> Result<Person, StoreError> {
    let email = address
        .email_address
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| StoreError::invalid(field, "an attendee or organizer without an email address"))?;
    Ok(match dir.identity(email) {
        Some(i) => Person::Local(i),
        None => {
            SmtpAddress::parse(email).map_err(|m| StoreError::invalid(field, m))?;
            Person::External(Box::new(External { name: address.name.as_deref().map(Into::into), email: email.into() }))
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Required,
    Optional,
    Resource,
}

#[derive(Debug, Clone)]
pub(crate) struct AttendeeData {
    pub person: Person,
    pub role: Role,
    pub response: ResponseType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BodyData {
    pub html: bool,
    pub content: Box<str>,
}

impl BodyData {
    fn from_ews(b: &Body) -> Self {
        BodyData { html: b.body_type == BodyType::Html, content: b.content.as_str().into() }
    }
    fn to_ews(&self) -> Body {
        if self.html { Body::html(&*self.content) } else { Body::text(&*self.content) }
    }
}

/// A modified occurrence: new times and the fields it overrides.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExceptionData {
    pub original_start: Timestamp,
    pub start: Timestamp,
    pub end: Timestamp,
    pub subject: Option<Box<str>>,
    pub location: Option<Option<Box<str>>>,
    pub body: Option<Option<BodyData>>,
    pub free_busy: Option<LegacyFreeBusy>,
}

#[derive(Debug, Clone)]
pub(crate) struct RecurrenceData {
    pub recurrence: Recurrence,
    pub exceptions: Vec<ExceptionData>,
    /// Original starts of deleted occurrences.
    pub deleted: Vec<Timestamp>,
    /// `exceptions` as the calendar crate takes them (kept in step).
    pub modified: Vec<ModifiedOccurrence>,
}

impl RecurrenceData {
    pub(crate) fn new(recurrence: Recurrence) -> Self {
        RecurrenceData { recurrence, exceptions: Vec::new(), deleted: Vec::new(), modified: Vec::new() }
    }

    pub(crate) fn sync_modified(&mut self) {
        self.exceptions.sort_by_key(|e| e.original_start);
        self.deleted.sort();
        self.deleted.dedup();
        self.modified = self
            .exceptions
            .iter()
            .map(|e| ModifiedOccurrence { original_start: e.original_start, start: e.start, end: e.end })
            .collect();
    }
}

/// A calendar item (single, recurring master, or a meeting copy).
#[derive(Debug, Clone)]
pub(crate) struct CalData {
    /// `None`: derived from the item's id (see [`derived_uid`]).
    pub uid: Option<Box<str>>,
    pub subject: Box<str>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub zone: Arc<Zone>,
    pub is_all_day: bool,
    pub free_busy: LegacyFreeBusy,
    pub sensitivity: Sensitivity,
    pub importance: Importance,
    pub location: Option<Box<str>>,
    pub body: Option<BodyData>,
    pub categories: Vec<Box<str>>,
    /// `None`: the mailbox owner organizes it.
    pub organizer: Option<Person>,
    pub attendees: Vec<AttendeeData>,
    /// The owner's answer when someone else organizes it.
    pub my_response: ResponseType,
    pub is_cancelled: bool,
    pub meeting_request_was_sent: bool,
    pub sequence: u32,
    /// Reminder minutes before start, if a reminder is set.
    pub reminder: Option<u32>,
    pub created: Timestamp,
    pub modified: Timestamp,
    pub recurrence: Option<Box<RecurrenceData>>,
    pub extended: Vec<ExtendedProperty>,
}

/// A task.
#[derive(Debug, Clone)]
pub(crate) struct TaskData {
    pub subject: Box<str>,
    pub body: Option<BodyData>,
    pub sensitivity: Sensitivity,
    pub importance: Importance,
    pub categories: Vec<Box<str>>,
    pub start_date: Option<Timestamp>,
    pub due_date: Option<Timestamp>,
    pub complete_date: Option<Timestamp>,
    pub status: TaskStatus,
    pub percent_complete: u8,
    pub created: Timestamp,
    pub modified: Timestamp,
    pub extended: Vec<ExtendedProperty>,
}

#[derive(Debug, Clone)]
pub(crate) enum Stored {
    Calendar(CalData),
    Task(TaskData),
}

/// What rendering an item needs to know about where it lives.
pub(crate) struct RenderCtx<'a> {
    pub id_key: u64,
    pub owner: &'a Identity,
    pub folder_id: &'a FolderIdValue,
}

impl RenderCtx<'_> {
    pub(crate) fn item_id(&self, number: u64, version: u32) -> ItemId {
        let id = encode_id(self.id_key, RawId { kind: IdKind::Item, mailbox: self.owner.number, number, instance: 0 });
        ItemId::new(id, Some(&self.change_key(number, version)))
    }

    pub(crate) fn occurrence_id(&self, master: u64, index: u32, version: u32) -> ItemId {
        let id = encode_id(
            self.id_key,
            RawId { kind: IdKind::Occurrence, mailbox: self.owner.number, number: master, instance: index },
        );
        ItemId::new(id, Some(&self.change_key(master, version)))
    }

    pub(crate) fn change_key(&self, number: u64, version: u32) -> String {
        encode_change_key(self.id_key, self.owner.number, number, version)
    }

    fn parent(&self) -> FolderId {
        FolderId::Id { id: self.folder_id.clone(), change_key: None }
    }
}

/// The UID of an item that was not given one: Outlook's shape (the fixed class id, a time,
/// a 16-byte id), derived from the seed key, the mailbox and the item number.
pub(crate) fn derived_uid(id_key: u64, mailbox: u32, number: u64) -> String {
    let a = mix(id_key ^ (u64::from(mailbox) << 40) ^ number);
    let b = mix(a ^ 0x5555);
    let c = mix(b ^ 0xaaaa);
    format!("040000008200E00074C5B7101A82E00800000000{a:016X}000000000000000010000000{b:016X}{c:016X}")
}

fn dt(ts: Timestamp) -> DateTime {
    DateTime::utc(ts)
}

fn opt_vec<T>(v: Vec<T>) -> Option<Vec<T>> {
    if v.is_empty() { None } else { Some(v) }
}

impl CalData {
    pub(crate) fn is_meeting(&self) -> bool {
        !self.attendees.is_empty() || self.organizer.is_some()
    }

    pub(crate) fn uid(&self, r: &RenderCtx, number: u64) -> String {
        match &self.uid {
            Some(u) => u.to_string(),
            None => derived_uid(r.id_key, r.owner.number, number),
        }
    }

    /// The series for the calendar crate (for a recurring master).
    pub(crate) fn series(&self) -> Option<Series<'_>> {
        let rec = self.recurrence.as_deref()?;
        Some(Series {
            time_zone: &self.zone.tz,
            start: self.zone.tz.to_datetime(self.start),
            end: self.zone.tz.to_datetime(self.end),
            is_all_day: self.is_all_day,
            recurrence: &rec.recurrence,
            modified: &rec.modified,
            deleted: &rec.deleted,
        })
    }

    pub(crate) fn expander(&self) -> Option<Expander<'_>> {
        self.series().and_then(|s| s.expander().ok())
    }

    fn attendees_of(&self, role: Role) -> Option<Vec<Attendee>> {
        opt_vec(
            self.attendees
                .iter()
                .filter(|a| a.role == role)
                .map(|a| Attendee {
                    mailbox: a.person.to_ews(),
                    response_type: Some(a.response),
                    last_response_time: None,
                    proposed_start: None,
                    proposed_end: None,
                })
                .collect(),
        )
    }

    fn fields(&self, r: &RenderCtx, item_id: ItemId) -> ItemFields {
        ItemFields {
            item_id: Some(item_id),
            parent_folder_id: Some(r.parent()),
            item_class: Some("IPM.Appointment".into()),
            subject: Some(self.subject.to_string()),
            sensitivity: Some(self.sensitivity),
            body: self.body.as_ref().map(BodyData::to_ews),
            date_time_received: Some(dt(self.created)),
            size: Some(self.approximate_size()),
            categories: opt_vec(self.categories.iter().map(|c| c.to_string()).collect()),
            importance: Some(self.importance),
            is_submitted: Some(false),
            is_draft: Some(false),
            is_from_me: Some(false),
            is_resend: Some(false),
            is_unmodified: Some(self.created == self.modified),
            date_time_sent: Some(dt(self.created)),
            date_time_created: Some(dt(self.created)),
            reminder_is_set: Some(self.reminder.is_some()),
            reminder_minutes_before_start: Some(self.reminder.unwrap_or(15) as i32),
            display_to: opt_display(self.attendees.iter().filter(|a| a.role == Role::Required)),
            display_cc: opt_display(self.attendees.iter().filter(|a| a.role == Role::Optional)),
            has_attachments: Some(false),
            extended_properties: self.extended.clone(),
            last_modified_name: Some(r.owner.display_name.clone()),
            last_modified_time: Some(dt(self.modified)),
            is_associated: Some(false),
            ..ItemFields::default()
        }
    }

    fn approximate_size(&self) -> i32 {
        let strings = self.subject.len()
            + self.location.as_deref().map_or(0, str::len)
            + self.body.as_ref().map_or(0, |b| b.content.len())
            + self.attendees.len() * 64;
        (1024 + strings) as i32
    }

    /// The item as EWS shows a single item or a recurring master.
    pub(crate) fn render(&self, r: &RenderCtx, number: u64, version: u32) -> CalendarItem {
        let item_id = r.item_id(number, version);
        let mut c = self.common(r, number, item_id);
        c.calendar_item_type =
            Some(if self.recurrence.is_some() { CalendarItemType::RecurringMaster } else { CalendarItemType::Single });
        c.is_recurring = Some(false);
        c.start = Some(dt(self.start));
        c.end = Some(dt(self.end));
        if let Some(rec) = &self.recurrence {
            c.recurrence = Some(rec.recurrence.clone());
            if let Some(x) = self.expander() {
                let info = |o: Occurrence| OccurrenceInfo {
                    item_id: r.occurrence_id(number, o.index, version),
                    start: dt(o.start),
                    end: dt(o.end),
                    original_start: dt(o.original_start),
                };
                c.first_occurrence = x.first_occurrence().map(info);
                c.last_occurrence = x.last_occurrence().map(info);
                c.modified_occurrences = opt_vec(
                    rec.exceptions
                        .iter()
                        .filter_map(|e| {
                            let index = x.index_of(e.original_start)?;
                            Some(OccurrenceInfo {
                                item_id: r.occurrence_id(number, index, version),
                                start: dt(e.start),
                                end: dt(e.end),
                                original_start: dt(e.original_start),
                            })
                        })
                        .collect(),
                );
            }
            c.deleted_occurrences = opt_vec(rec.deleted.iter().map(|&d| DeletedOccurrence { start: dt(d) }).collect());
        }
        c
    }

    /// An occurrence of this master, as CalendarView or GetItem by OccurrenceItemId shows it.
    pub(crate) fn render_occurrence(&self, r: &RenderCtx, number: u64, version: u32, o: &Occurrence) -> CalendarItem {
        let item_id = r.occurrence_id(number, o.index, version);
        // `modified` indexes `RecurrenceData::modified`, built from `exceptions` in order.
        let exception = o.modified.and_then(|i| self.recurrence.as_ref()?.exceptions.get(i));
        let mut c = self.common(r, number, item_id);
        c.calendar_item_type =
            Some(if o.is_exception() { CalendarItemType::Exception } else { CalendarItemType::Occurrence });
        c.is_recurring = Some(true);
        c.start = Some(dt(o.start));
        c.end = Some(dt(o.end));
        c.original_start = Some(dt(o.original_start));
        c.recurrence_id = Some(dt(o.original_start));
        c.duration = Some(Duration(o.end.duration_since(o.start)));
        if let Some(e) = exception {
            if let Some(s) = &e.subject {
                c.item.subject = Some(s.to_string());
            }
            if let Some(l) = &e.location {
                c.location = l.as_deref().map(str::to_string);
            }
            if let Some(b) = &e.body {
                c.item.body = b.as_ref().map(BodyData::to_ews);
            }
            if let Some(f) = e.free_busy {
                c.legacy_free_busy_status = Some(f);
                c.intended_free_busy_status = Some(f);
            }
        }
        c
    }

    fn common(&self, r: &RenderCtx, number: u64, item_id: ItemId) -> CalendarItem {
        let organizer = match &self.organizer {
            Some(p) => p.to_ews(),
            None => {
                let mut a = EmailAddress::smtp(r.owner.smtp.as_str(), Some(&r.owner.display_name));
                a.mailbox_type = Some(MailboxType::Mailbox);
                a
            }
        };
        let meeting = self.is_meeting();
        let received = self.organizer.is_some();
        let state = i32::from(meeting) | if received { 2 } else { 0 } | if self.is_cancelled { 4 } else { 0 };
        CalendarItem {
            item: self.fields(r, item_id),
            uid: Some(self.uid(r, number)),
            date_time_stamp: Some(dt(self.modified)),
            is_all_day_event: Some(self.is_all_day),
            legacy_free_busy_status: Some(self.free_busy),
            location: self.location.as_deref().map(str::to_string),
            is_meeting: Some(meeting),
            is_cancelled: Some(self.is_cancelled),
            meeting_request_was_sent: Some(self.meeting_request_was_sent),
            is_response_requested: Some(meeting),
            my_response_type: Some(if !meeting {
                ResponseType::Organizer
            } else if received {
                self.my_response
            } else {
                ResponseType::Organizer
            }),
            organizer: Some(SingleRecipient { mailbox: organizer }),
            required_attendees: self.attendees_of(Role::Required),
            optional_attendees: self.attendees_of(Role::Optional),
            resources: self.attendees_of(Role::Resource),
            duration: Some(Duration(self.end.duration_since(self.start))),
            time_zone: Some(self.zone.display_name.to_string()),
            appointment_sequence_number: Some(self.sequence as i32),
            appointment_state: Some(state),
            start_time_zone_id: Some(self.zone.windows_id.to_string()),
            end_time_zone_id: Some(self.zone.windows_id.to_string()),
            intended_free_busy_status: Some(self.free_busy),
            is_organizer: Some(!received),
            is_online_meeting: Some(false),
            ..CalendarItem::default()
        }
    }

    /// Builds the stored form of a protocol item (CreateItem, or UpdateItem on a rendered
    /// item). `prev` is the item before an update: what a client cannot set (UID, creation
    /// time, sequence, exceptions of an unchanged pattern) is kept from it.
    pub(crate) fn from_ews(
        c: &CalendarItem,
        prev: Option<&CalData>,
        owner: &Identity,
        default_zone: &Arc<Zone>,
        zones: &Zones,
        dir: &dyn Directory,
        now: Timestamp,
    ) -> Result<CalData, StoreError> {
        let zone_name = c
            .start_time_zone_id
            .as_deref()
            .or(c.start_time_zone.as_ref().and_then(|z| z.id.as_deref()))
            .or(c.meeting_time_zone.as_ref().and_then(|z| z.time_zone_name.as_deref()));
        let zone = match zone_name {
            Some(name) => zones.get(name).ok_or_else(|| StoreError::UnknownTimeZone(name.to_string()))?,
            None => prev.map_or_else(|| default_zone.clone(), |p| p.zone.clone()),
        };
        let start = c
            .start
            .as_ref()
            .ok_or_else(|| StoreError::invalid("Start", "a calendar item needs a start"))?
            .timestamp_in(&zone.tz)
            .ok_or_else(|| StoreError::invalid("Start", "not a time that exists"))?;
        let end = c
            .end
            .as_ref()
            .ok_or_else(|| StoreError::invalid("End", "a calendar item needs an end"))?
            .timestamp_in(&zone.tz)
            .ok_or_else(|| StoreError::invalid("End", "not a time that exists"))?;
        if end < start {
            return Err(StoreError::EndBeforeStart);
        }
        let is_all_day = c.is_all_day_event.unwrap_or(false);
        let (start, end) = if is_all_day { all_day_bounds(&zone, start, end) } else { (start, end) };

        let organizer = match &c.organizer {
            Some(o) => Some(person(dir, &o.mailbox, "Organizer")?).filter(|p| !p.is(owner)),
            None => prev.and_then(|p| p.organizer.clone()),
        };
        let mut attendees = Vec::new();
        for (list, role, field) in [
            (&c.required_attendees, Role::Required, "RequiredAttendees"),
            (&c.optional_attendees, Role::Optional, "OptionalAttendees"),
            (&c.resources, Role::Resource, "Resources"),
        ] {
            for a in list.iter().flatten() {
                attendees.push(AttendeeData {
                    person: person(dir, &a.mailbox, field)?,
                    role,
                    response: a.response_type.unwrap_or(ResponseType::Unknown),
                });
            }
        }
        let recurrence = match &c.recurrence {
            None => None,
            Some(r) => {
                let mut data = RecurrenceData::new(r.clone());
                // Changing the pattern drops the exceptions, as in Exchange.
                if let Some(old) = prev.and_then(|p| p.recurrence.as_deref()).filter(|old| old.recurrence == *r) {
                    data.exceptions = old.exceptions.clone();
                    data.deleted = old.deleted.clone();
                }
                data.sync_modified();
                Some(Box::new(data))
            }
        };
        let fields = &c.item;
        let mut data = CalData {
            uid: match (&c.uid, prev) {
                (_, Some(p)) => p.uid.clone(),
                (Some(u), None) if !u.trim().is_empty() => Some(u.trim().into()),
                _ => None,
            },
            subject: fields.subject.as_deref().unwrap_or("").into(),
            start,
            end,
            zone,
            is_all_day,
            free_busy: c.legacy_free_busy_status.unwrap_or(LegacyFreeBusy::Busy),
            sensitivity: fields.sensitivity.unwrap_or(Sensitivity::Normal),
            importance: fields.importance.unwrap_or(Importance::Normal),
            location: c.location.as_deref().filter(|l| !l.is_empty()).map(Into::into),
            body: fields.body.as_ref().filter(|b| !b.content.is_empty()).map(BodyData::from_ews),
            categories: fields.categories.iter().flatten().map(|s| s.as_str().into()).collect(),
            my_response: if organizer.is_some() {
                c.my_response_type.filter(|r| *r != ResponseType::Organizer).unwrap_or(ResponseType::NoResponseReceived)
            } else {
                ResponseType::Organizer
            },
            organizer,
            attendees,
            is_cancelled: c.is_cancelled.unwrap_or(false),
            meeting_request_was_sent: prev.is_some_and(|p| p.meeting_request_was_sent),
            sequence: prev.map_or(0, |p| p.sequence),
            reminder: match fields.reminder_is_set {
                Some(false) => None,
                _ => Some(fields.reminder_minutes_before_start.map_or(15, |m| m.max(0) as u32)),
            },
            created: prev.map_or(now, |p| p.created),
            modified: now,
            recurrence,
            extended: fields.extended_properties.clone(),
        };
        data.normalize_series()?;
        Ok(data)
    }

    /// Validates a recurrence and moves the master to its first occurrence (Exchange keeps
    /// the master's Start/End on the first occurrence of the pattern).
    pub(crate) fn normalize_series(&mut self) -> Result<(), StoreError> {
        let Some(series) = self.series() else { return Ok(()) };
        let x = series.expander()?;
        let first = x.occurrence_by_index(1).ok().map(|o| o.original_start).or_else(|| x.original_start_of(1));
        let Some(first) = first else {
            return Err(StoreError::InvalidRecurrence(exbridge_calendar::RecurrenceError::EndDateBeforeStart));
        };
        if first != self.start {
            let length = self.end.duration_since(self.start);
            let tz = &self.zone.tz;
            // Keep the wall-clock length (an all-day item stays whole days).
            let local_start = tz.to_datetime(first);
            let local_len = tz.to_datetime(self.end).duration_since(tz.to_datetime(self.start));
            let end_local = local_start.checked_add(local_len).unwrap_or(local_start);
            let end = tz
                .to_ambiguous_timestamp(end_local)
                .compatible()
                .unwrap_or(first.saturating_add(length).unwrap_or(first));
            self.start = first;
            self.end = end;
        }
        Ok(())
    }

    /// Applies a changed occurrence (a rendered occurrence after the caller edited it) as an
    /// exception; `before` is the occurrence as it was rendered.
    pub(crate) fn set_exception(
        &mut self,
        occurrence: &Occurrence,
        before: &CalendarItem,
        after: &CalendarItem,
    ) -> Result<(), StoreError> {
        let tz = self.zone.tz.clone();
        let time = |v: &Option<DateTime>, field: &'static str| -> Result<Timestamp, StoreError> {
            v.as_ref()
                .and_then(|d| d.timestamp_in(&tz))
                .ok_or_else(|| StoreError::invalid(field, "an occurrence needs a start and an end"))
        };
        let start = time(&after.start, "Start")?;
        let end = time(&after.end, "End")?;
        if end < start {
            return Err(StoreError::EndBeforeStart);
        }
        let master_subject = Some(self.subject.to_string());
        let master_location = self.location.as_deref().map(str::to_string);
        let master_body = self.body.as_ref().map(BodyData::to_ews);
        let Some(rec) = self.recurrence.as_deref_mut() else { return Err(StoreError::ItemNotFound) };
        let mut e = rec
            .exceptions
            .iter()
            .position(|e| e.original_start == occurrence.original_start)
            .map(|i| rec.exceptions.remove(i))
            .unwrap_or(ExceptionData {
                original_start: occurrence.original_start,
                start,
                end,
                subject: None,
                location: None,
                body: None,
                free_busy: None,
            });
        e.start = start;
        e.end = end;
        if after.item.subject != before.item.subject {
            e.subject =
                (after.item.subject != master_subject).then(|| after.item.subject.as_deref().unwrap_or("").into());
        }
        if after.location != before.location {
            e.location = (after.location != master_location).then(|| after.location.as_deref().map(Into::into));
        }
        if after.item.body != before.item.body {
            e.body = (after.item.body != master_body).then(|| after.item.body.as_ref().map(BodyData::from_ews));
        }
        if after.legacy_free_busy_status != before.legacy_free_busy_status {
            e.free_busy = after.legacy_free_busy_status;
        }
        rec.exceptions.push(e);
        rec.sync_modified();
        Ok(())
    }
}

fn opt_display<'a>(attendees: impl Iterator<Item = &'a AttendeeData>) -> Option<String> {
    let names: Vec<&str> = attendees.map(|a| a.person.name().unwrap_or(a.person.email())).collect();
    if names.is_empty() { None } else { Some(names.join("; ")) }
}

/// Start and end of an all-day item: local midnight on the start's date to local midnight
/// after the end (at least one day).
pub(crate) fn all_day_bounds(zone: &Zone, start: Timestamp, end: Timestamp) -> (Timestamp, Timestamp) {
    let tz = &zone.tz;
    let midnight = |d: civil::Date| {
        tz.to_ambiguous_timestamp(d.to_datetime(civil::Time::midnight())).compatible().unwrap_or(Timestamp::UNIX_EPOCH)
    };
    let sd = tz.to_datetime(start).date();
    let el = tz.to_datetime(end);
    let mut ed =
        if el.time() == civil::Time::midnight() { el.date() } else { el.date().tomorrow().unwrap_or(el.date()) };
    if ed <= sd {
        ed = sd.tomorrow().unwrap_or(sd);
    }
    (midnight(sd), midnight(ed))
}

impl TaskData {
    pub(crate) fn render(&self, r: &RenderCtx, number: u64, version: u32) -> Task {
        let complete = self.status == TaskStatus::Completed;
        Task {
            item: ItemFields {
                item_id: Some(r.item_id(number, version)),
                parent_folder_id: Some(r.parent()),
                item_class: Some("IPM.Task".into()),
                subject: Some(self.subject.to_string()),
                sensitivity: Some(self.sensitivity),
                body: self.body.as_ref().map(BodyData::to_ews),
                date_time_received: Some(dt(self.created)),
                size: Some(512 + self.subject.len() as i32),
                categories: opt_vec(self.categories.iter().map(|c| c.to_string()).collect()),
                importance: Some(self.importance),
                date_time_created: Some(dt(self.created)),
                has_attachments: Some(false),
                extended_properties: self.extended.clone(),
                last_modified_name: Some(r.owner.display_name.clone()),
                last_modified_time: Some(dt(self.modified)),
                is_associated: Some(false),
                ..ItemFields::default()
            },
            change_count: Some(1),
            complete_date: self.complete_date.map(dt),
            due_date: self.due_date.map(dt),
            is_complete: Some(complete),
            is_recurring: Some(false),
            owner: Some(r.owner.display_name.clone()),
            percent_complete: Some(f64::from(self.percent_complete)),
            start_date: self.start_date.map(dt),
            status: Some(self.status),
            ..Task::default()
        }
    }

    pub(crate) fn from_ews(t: &Task, prev: Option<&TaskData>, now: Timestamp) -> Result<TaskData, StoreError> {
        let time = |v: &Option<DateTime>, field: &'static str| -> Result<Option<Timestamp>, StoreError> {
            v.as_ref()
                .map(|d| {
                    d.timestamp_in(&jiff::tz::TimeZone::UTC)
                        .ok_or_else(|| StoreError::invalid(field, "not a valid time"))
                })
                .transpose()
        };
        let percent = t.percent_complete.unwrap_or(0.0);
        if !(0.0..=100.0).contains(&percent) {
            return Err(StoreError::invalid("PercentComplete", "must be in 0..=100"));
        }
        let mut status = t.status.unwrap_or(TaskStatus::NotStarted);
        if t.is_complete == Some(true) {
            status = TaskStatus::Completed;
        }
        let complete_date =
            time(&t.complete_date, "CompleteDate")?.or_else(|| (status == TaskStatus::Completed).then_some(now));
        Ok(TaskData {
            subject: t.item.subject.as_deref().unwrap_or("").into(),
            body: t.item.body.as_ref().filter(|b| !b.content.is_empty()).map(BodyData::from_ews),
            sensitivity: t.item.sensitivity.unwrap_or(Sensitivity::Normal),
            importance: t.item.importance.unwrap_or(Importance::Normal),
            categories: t.item.categories.iter().flatten().map(|s| s.as_str().into()).collect(),
            start_date: time(&t.start_date, "StartDate")?,
            due_date: time(&t.due_date, "DueDate")?,
            complete_date: if status == TaskStatus::Completed { complete_date } else { None },
            status,
            percent_complete: if status == TaskStatus::Completed { 100 } else { percent.round() as u8 },
            created: prev.map_or(now, |p| p.created),
            modified: now,
            extended: t.item.extended_properties.clone(),
        })
    }
}
