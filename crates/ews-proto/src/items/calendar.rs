//! `t:CalendarItem`.

use super::common::{ItemFields, SingleRecipient};
use super::recurrence::{DeletedOccurrence, OccurrenceInfo, Recurrence};
use crate::ids::EmailAddress;
use crate::tz::TimeZoneDefinition;
use crate::values::{DateTime, Duration};
use crate::xml_enum;

xml_enum! {
    /// `t:LegacyFreeBusyStatus` / `t:IntendedFreeBusyStatus` / availability `BusyType`.
    pub enum LegacyFreeBusy { Free, Tentative, Busy, Oof = "OOF", WorkingElsewhere, NoData }
}

xml_enum! {
    /// `t:CalendarItemType`.
    pub enum CalendarItemType { Single, Occurrence, Exception, RecurringMaster }
}

xml_enum! {
    /// `t:ResponseTypeType` (an attendee's answer, or `MyResponseType`).
    pub enum ResponseType { Unknown, Organizer, Tentative, Accept, Decline, NoResponseReceived }
}

/// `t:Attendee`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attendee {
    pub mailbox: EmailAddress,
    pub response_type: Option<ResponseType>,
    pub last_response_time: Option<DateTime>,
    pub proposed_start: Option<DateTime>,
    pub proposed_end: Option<DateTime>,
}

/// The legacy `t:MeetingTimeZone` (`t:TimeZoneType`, Exchange 2007 SP1 requests).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeetingTimeZone {
    pub time_zone_name: Option<String>,
    pub base_offset: Option<Duration>,
}

/// `t:CalendarItem`: the fields of `t:ItemType` in `item`, then the calendar fields in schema
/// order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CalendarItem {
    pub item: ItemFields,
    /// `t:UID`: the iCalendar UID shared by organizer and attendee copies; the mirror's key.
    pub uid: Option<String>,
    /// `t:RecurrenceId`: with UID, identifies one instance of a series.
    pub recurrence_id: Option<DateTime>,
    pub date_time_stamp: Option<DateTime>,
    pub start: Option<DateTime>,
    pub end: Option<DateTime>,
    pub original_start: Option<DateTime>,
    pub is_all_day_event: Option<bool>,
    pub legacy_free_busy_status: Option<LegacyFreeBusy>,
    pub location: Option<String>,
    pub when: Option<String>,
    pub is_meeting: Option<bool>,
    pub is_cancelled: Option<bool>,
    pub is_recurring: Option<bool>,
    pub meeting_request_was_sent: Option<bool>,
    pub is_response_requested: Option<bool>,
    pub calendar_item_type: Option<CalendarItemType>,
    pub my_response_type: Option<ResponseType>,
    pub organizer: Option<SingleRecipient>,
    pub required_attendees: Option<Vec<Attendee>>,
    pub optional_attendees: Option<Vec<Attendee>>,
    pub resources: Option<Vec<Attendee>>,
    pub conflicting_meeting_count: Option<i32>,
    pub adjacent_meeting_count: Option<i32>,
    /// `t:Duration` (xs:duration text in the schema, e.g. `PT1H`).
    pub duration: Option<Duration>,
    /// `t:TimeZone`: a display name of the creation time zone.
    pub time_zone: Option<String>,
    pub appointment_reply_time: Option<DateTime>,
    pub appointment_sequence_number: Option<i32>,
    /// `t:AppointmentState` bitmask: 0x1 meeting, 0x2 received, 0x4 cancelled.
    pub appointment_state: Option<i32>,
    pub recurrence: Option<Recurrence>,
    pub first_occurrence: Option<OccurrenceInfo>,
    pub last_occurrence: Option<OccurrenceInfo>,
    pub modified_occurrences: Option<Vec<OccurrenceInfo>>,
    pub deleted_occurrences: Option<Vec<DeletedOccurrence>>,
    pub meeting_time_zone: Option<MeetingTimeZone>,
    pub start_time_zone: Option<TimeZoneDefinition>,
    pub end_time_zone: Option<TimeZoneDefinition>,
    pub conference_type: Option<i32>,
    pub allow_new_time_proposal: Option<bool>,
    pub is_online_meeting: Option<bool>,
    pub meeting_workspace_url: Option<String>,
    pub net_show_url: Option<String>,
    pub start_time_zone_id: Option<String>,
    pub end_time_zone_id: Option<String>,
    pub intended_free_busy_status: Option<LegacyFreeBusy>,
    pub join_online_meeting_url: Option<String>,
    pub is_organizer: Option<bool>,
}
