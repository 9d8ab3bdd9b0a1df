//! `t:CalendarItem`.
//!
//! Elements of `t:CalendarItemType` that are not modelled (skipped when read, never written):
//! `InboxReminders`, `ConflictingMeetings`, `AdjacentMeetings` (the counts are kept),
//! `EnhancedLocation`, `StartWallClock`, `EndWallClock`, `OnlineMeetingSettings` and `CalendarActivityData`. Of those, the samples
//! carry `ConflictingMeetings` (`GetItem-CalendarItem-AllProperties.response.xml`). The
//! `t:Standard`/`t:Daylight` rules of a legacy `t:MeetingTimeZone` are skipped too.

use super::common::{ItemFields, SingleRecipient, get_string, write_non_empty};
use super::recurrence::{DeletedOccurrence, OccurrenceInfo, Recurrence};
use crate::error::Result;
use crate::ids::EmailAddress;
use crate::tz::TimeZoneDefinition;
use crate::values::{DateTime, Duration};
use crate::xml::{Element, FromXml, Name, ToXml, Writer, t};
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
    /// `t:StartTimeZoneId`: the Windows time zone id of the start (`Pacific Standard Time`).
    pub start_time_zone_id: Option<String>,
    pub end_time_zone_id: Option<String>,
    pub intended_free_busy_status: Option<LegacyFreeBusy>,
    pub join_online_meeting_url: Option<String>,
    pub is_organizer: Option<bool>,
}

impl FromXml for Attendee {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(Attendee {
            mailbox: el.get_req(t("Mailbox"))?,
            response_type: el.get_text(t("ResponseType"))?,
            last_response_time: el.get_text(t("LastResponseTime"))?,
            proposed_start: el.get_text(t("ProposedStart"))?,
            proposed_end: el.get_text(t("ProposedEnd"))?,
        })
    }
}

impl ToXml for Attendee {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .child(t("Mailbox"), &self.mailbox)
            .leaf_opt(t("ResponseType"), &self.response_type)
            .leaf_opt(t("LastResponseTime"), &self.last_response_time)
            .leaf_opt(t("ProposedStart"), &self.proposed_start)
            .leaf_opt(t("ProposedEnd"), &self.proposed_end)
            .end();
    }
}

impl FromXml for MeetingTimeZone {
    /// Reads `@TimeZoneName` and `t:BaseOffset`; `t:Standard`/`t:Daylight` are skipped.
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(MeetingTimeZone { time_zone_name: el.attr_as("TimeZoneName")?, base_offset: el.get_text(t("BaseOffset"))? })
    }
}

impl ToXml for MeetingTimeZone {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr_opt("TimeZoneName", &self.time_zone_name).leaf_opt(t("BaseOffset"), &self.base_offset).end();
    }
}

impl FromXml for CalendarItem {
    fn from_xml(el: &Element) -> Result<Self> {
        let recurrence = match el.child(t("Recurrence")) {
            Some(r) => Some(Recurrence::read_calendar(r).map_err(|e| e.at(el))?),
            None => None,
        };
        Ok(CalendarItem {
            item: ItemFields::read(el)?,
            uid: get_string(el, t("UID")),
            recurrence_id: el.get_text(t("RecurrenceId"))?,
            date_time_stamp: el.get_text(t("DateTimeStamp"))?,
            start: el.get_text(t("Start"))?,
            end: el.get_text(t("End"))?,
            original_start: el.get_text(t("OriginalStart"))?,
            is_all_day_event: el.get_text(t("IsAllDayEvent"))?,
            legacy_free_busy_status: el.get_text(t("LegacyFreeBusyStatus"))?,
            location: get_string(el, t("Location")),
            when: get_string(el, t("When")),
            is_meeting: el.get_text(t("IsMeeting"))?,
            is_cancelled: el.get_text(t("IsCancelled"))?,
            is_recurring: el.get_text(t("IsRecurring"))?,
            meeting_request_was_sent: el.get_text(t("MeetingRequestWasSent"))?,
            is_response_requested: el.get_text(t("IsResponseRequested"))?,
            calendar_item_type: el.get_text(t("CalendarItemType"))?,
            my_response_type: el.get_text(t("MyResponseType"))?,
            organizer: el.get(t("Organizer"))?,
            required_attendees: el.get_list(t("RequiredAttendees"), t("Attendee"))?,
            optional_attendees: el.get_list(t("OptionalAttendees"), t("Attendee"))?,
            resources: el.get_list(t("Resources"), t("Attendee"))?,
            conflicting_meeting_count: el.get_text(t("ConflictingMeetingCount"))?,
            adjacent_meeting_count: el.get_text(t("AdjacentMeetingCount"))?,
            duration: el.get_text(t("Duration"))?,
            time_zone: get_string(el, t("TimeZone")),
            appointment_reply_time: el.get_text(t("AppointmentReplyTime"))?,
            appointment_sequence_number: el.get_text(t("AppointmentSequenceNumber"))?,
            appointment_state: el.get_text(t("AppointmentState"))?,
            recurrence,
            first_occurrence: el.get(t("FirstOccurrence"))?,
            last_occurrence: el.get(t("LastOccurrence"))?,
            modified_occurrences: el.get_list(t("ModifiedOccurrences"), t("Occurrence"))?,
            deleted_occurrences: el.get_list(t("DeletedOccurrences"), t("DeletedOccurrence"))?,
            meeting_time_zone: el.get(t("MeetingTimeZone"))?,
            start_time_zone: el.get(t("StartTimeZone"))?,
            end_time_zone: el.get(t("EndTimeZone"))?,
            conference_type: el.get_text(t("ConferenceType"))?,
            allow_new_time_proposal: el.get_text(t("AllowNewTimeProposal"))?,
            is_online_meeting: el.get_text(t("IsOnlineMeeting"))?,
            meeting_workspace_url: get_string(el, t("MeetingWorkspaceUrl")),
            net_show_url: get_string(el, t("NetShowUrl")),
            start_time_zone_id: get_string(el, t("StartTimeZoneId")),
            end_time_zone_id: get_string(el, t("EndTimeZoneId")),
            intended_free_busy_status: el.get_text(t("IntendedFreeBusyStatus"))?,
            join_online_meeting_url: get_string(el, t("JoinOnlineMeetingUrl")),
            is_organizer: el.get_text(t("IsOrganizer"))?,
        })
    }
}

impl ToXml for CalendarItem {
    /// Writes the item fields, then the calendar fields, in schema order. Empty attendee and
    /// occurrence lists are not written (their wrappers must not be empty).
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        self.item.write(w);
        w.leaf_opt(t("UID"), &self.uid)
            .leaf_opt(t("RecurrenceId"), &self.recurrence_id)
            .leaf_opt(t("DateTimeStamp"), &self.date_time_stamp)
            .leaf_opt(t("Start"), &self.start)
            .leaf_opt(t("End"), &self.end)
            .leaf_opt(t("OriginalStart"), &self.original_start)
            .leaf_opt(t("IsAllDayEvent"), &self.is_all_day_event)
            .leaf_opt(t("LegacyFreeBusyStatus"), &self.legacy_free_busy_status)
            .leaf_opt(t("Location"), &self.location)
            .leaf_opt(t("When"), &self.when)
            .leaf_opt(t("IsMeeting"), &self.is_meeting)
            .leaf_opt(t("IsCancelled"), &self.is_cancelled)
            .leaf_opt(t("IsRecurring"), &self.is_recurring)
            .leaf_opt(t("MeetingRequestWasSent"), &self.meeting_request_was_sent)
            .leaf_opt(t("IsResponseRequested"), &self.is_response_requested)
            .leaf_opt(t("CalendarItemType"), &self.calendar_item_type)
            .leaf_opt(t("MyResponseType"), &self.my_response_type)
            .child_opt(t("Organizer"), &self.organizer);
        write_non_empty(w, t("RequiredAttendees"), t("Attendee"), &self.required_attendees);
        write_non_empty(w, t("OptionalAttendees"), t("Attendee"), &self.optional_attendees);
        write_non_empty(w, t("Resources"), t("Attendee"), &self.resources);
        w.leaf_opt(t("ConflictingMeetingCount"), &self.conflicting_meeting_count)
            .leaf_opt(t("AdjacentMeetingCount"), &self.adjacent_meeting_count)
            .leaf_opt(t("Duration"), &self.duration)
            .leaf_opt(t("TimeZone"), &self.time_zone)
            .leaf_opt(t("AppointmentReplyTime"), &self.appointment_reply_time)
            .leaf_opt(t("AppointmentSequenceNumber"), &self.appointment_sequence_number)
            .leaf_opt(t("AppointmentState"), &self.appointment_state)
            .child_opt(t("Recurrence"), &self.recurrence)
            .child_opt(t("FirstOccurrence"), &self.first_occurrence)
            .child_opt(t("LastOccurrence"), &self.last_occurrence);
        write_non_empty(w, t("ModifiedOccurrences"), t("Occurrence"), &self.modified_occurrences);
        write_non_empty(w, t("DeletedOccurrences"), t("DeletedOccurrence"), &self.deleted_occurrences);
        w.child_opt(t("MeetingTimeZone"), &self.meeting_time_zone)
            .child_opt(t("StartTimeZone"), &self.start_time_zone)
            .child_opt(t("EndTimeZone"), &self.end_time_zone)
            .leaf_opt(t("ConferenceType"), &self.conference_type)
            .leaf_opt(t("AllowNewTimeProposal"), &self.allow_new_time_proposal)
            .leaf_opt(t("IsOnlineMeeting"), &self.is_online_meeting)
            .leaf_opt(t("MeetingWorkspaceUrl"), &self.meeting_workspace_url)
            .leaf_opt(t("NetShowUrl"), &self.net_show_url)
            .leaf_opt(t("StartTimeZoneId"), &self.start_time_zone_id)
            .leaf_opt(t("EndTimeZoneId"), &self.end_time_zone_id)
            .leaf_opt(t("IntendedFreeBusyStatus"), &self.intended_free_busy_status)
            .leaf_opt(t("JoinOnlineMeetingUrl"), &self.join_online_meeting_url)
            .leaf_opt(t("IsOrganizer"), &self.is_organizer);
        w.end();
    }
}
