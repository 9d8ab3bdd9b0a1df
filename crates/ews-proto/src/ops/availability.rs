//! Free/busy: `GetUserAvailability` (DIGEST §9).
//!
//! The request names a legacy time zone ([`AvailabilityTimeZone`], `t:TimeZone`), the mailboxes
//! ([`MailboxData`]), and what to return: free/busy ([`FreeBusyViewOptions`]) and/or meeting time
//! suggestions ([`SuggestionsViewOptions`]). Limits (<https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getuseravailability-operation>,
//! <https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/timewindow>):
//!
//! * at most **100** mailboxes per request ([`MAX_MAILBOXES`]; distribution lists of fewer than
//!   100 members are expanded and merged);
//! * the `TimeWindow` may span at most **42 days** by default ([`MAX_TIME_WINDOW_DAYS`]; the
//!   limit is configurable on the server, larger windows fail);
//! * at most 10 000 appointments in the window by default; an appointment partly inside the
//!   window is returned whole, recurring items are expanded by the server.
//!
//! The response holds one [`FreeBusyResponse`] per requested mailbox, in request order, each
//! with its own `m:ResponseMessage`; the level of detail depends on the requester's rights. An
//! unknown mailbox gives `ErrorMailRecipientNotFound`.

use crate::error::{Error, Result};
use crate::items::{DayOfWeek, LegacyFreeBusy};
use crate::response::ResponseStatus;
use crate::response_code::ResponseCode;
use crate::values::{DateTime, Time};
use crate::xml::{Element, FromXml, Name, ToXml, Writer, XmlText, m, t};
use crate::xml_enum;

use super::oof::{MailboxAddress, TimeWindow};

/// At most this many mailboxes in one `GetUserAvailabilityRequest`
/// (`ErrorMailboxDataArrayTooBig` beyond).
pub const MAX_MAILBOXES: usize = 100;

/// Default maximum span of `FreeBusyViewOptions/TimeWindow`, in days
/// (`ErrorTimeIntervalTooBig` beyond).
pub const MAX_TIME_WINDOW_DAYS: i64 = 42;

/// Allowed `MergedFreeBusyIntervalInMinutes` (default 30; <https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/mergedfreebusyintervalinminutes>).
pub const MERGED_FREE_BUSY_INTERVAL_MINUTES: std::ops::RangeInclusive<i32> = 5..=1440;

/// One yearly transition of a legacy time zone (`t:SerializableTimeZoneTime`): "on the
/// `day_order`-th `day_of_week` of `month` at `time`, the bias becomes base bias + `bias`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityTimeZoneTime {
    /// `t:Bias` (required): minutes added to the zone's base bias in this period
    /// (`0` for standard time, `-60` for one hour of daylight saving time).
    pub bias: i32,
    /// `t:Time` (required, `xs:string` in the schema, `02:00:00` on the wire): local time of
    /// the transition.
    pub time: Time,
    /// `t:DayOrder` (required): which occurrence of `day_of_week` in the month, 1..=5, 5 meaning
    /// the last. `0` together with `month` 0 means "no transition".
    pub day_order: i16,
    /// `t:Month` (required): 1..=12, or 0 for a zone without daylight saving time.
    pub month: i16,
    /// `t:DayOfWeek`: required by the schema, but the EWS Managed API leaves it out when it
    /// sends a `Year`, so it is optional here (and left out when `None`).
    pub day_of_week: Option<DayOfWeek>,
    /// `t:Year` (`xs:string` in the schema): absent or 0 for a rule recurring by weekday;
    /// otherwise the change is on day `day_order` of `month`.
    pub year: Option<i16>,
}

impl AvailabilityTimeZoneTime {
    /// "No transition" (month and day order 0), for zones without daylight saving time.
    pub fn none() -> Self {
        AvailabilityTimeZoneTime {
            bias: 0,
            time: Time(jiff::civil::Time::midnight()),
            day_order: 0,
            month: 0,
            day_of_week: Some(DayOfWeek::Sunday),
            year: None,
        }
    }
}

impl FromXml for AvailabilityTimeZoneTime {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(AvailabilityTimeZoneTime {
            bias: el.get_text_req(t("Bias"))?,
            time: el.get_text_req(t("Time"))?,
            day_order: el.get_text_req(t("DayOrder"))?,
            month: el.get_text_req(t("Month"))?,
            day_of_week: el.get_text(t("DayOfWeek"))?,
            year: el.get_text(t("Year"))?,
        })
    }
}

impl ToXml for AvailabilityTimeZoneTime {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(t("Bias"), &self.bias)
            .leaf_val(t("Time"), &self.time)
            .leaf_val(t("DayOrder"), &self.day_order)
            .leaf_val(t("Month"), &self.month)
            .leaf_opt(t("DayOfWeek"), &self.day_of_week)
            .leaf_opt(t("Year"), &self.year)
            .end();
    }
}

/// The legacy time zone of GetUserAvailability and `WorkingHours` (`t:SerializableTimeZone`,
/// element `t:TimeZone`): a base bias and two yearly rules. Sign as on the wire:
/// `UTC = local + bias`, so Pacific Standard Time has `bias` 480.
///
/// This is the XML-facing form; it converts losslessly to and from the plain
/// [`crate::tz::SerializableTimeZone`] (`From` both ways), which turns it into a real zone
/// ([`AvailabilityTimeZone::to_time_zone`], [`AvailabilityTimeZone::from_time_zone`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityTimeZone {
    /// `t:Bias` (required): minutes, `UTC = local + bias` in standard time.
    pub bias: i32,
    /// `t:StandardTime` (required): when standard time starts.
    pub standard_time: AvailabilityTimeZoneTime,
    /// `t:DaylightTime` (required): when daylight saving time starts.
    pub daylight_time: AvailabilityTimeZoneTime,
}

impl AvailabilityTimeZone {
    /// UTC (bias 0, no daylight saving time).
    pub fn utc() -> Self {
        AvailabilityTimeZone::fixed(0)
    }

    /// A zone with a fixed bias in minutes and no daylight saving time.
    pub fn fixed(bias_minutes: i32) -> Self {
        AvailabilityTimeZone {
            bias: bias_minutes,
            standard_time: AvailabilityTimeZoneTime::none(),
            daylight_time: AvailabilityTimeZoneTime::none(),
        }
    }

    /// The real zone this describes (a fixed offset or two yearly changes); see
    /// [`crate::tz::SerializableTimeZone::to_time_zone`].
    pub fn to_time_zone(&self) -> std::result::Result<jiff::tz::TimeZone, crate::tz::TzError> {
        crate::tz::SerializableTimeZone::from(self).to_time_zone()
    }

    /// Describes `tz` as it is in `year`, as the EWS Managed API does; see
    /// [`crate::tz::SerializableTimeZone::from_time_zone`].
    pub fn from_time_zone(tz: &jiff::tz::TimeZone, year: i16) -> std::result::Result<Self, crate::tz::TzError> {
        crate::tz::SerializableTimeZone::from_time_zone(tz, year).map(Self::from)
    }
}

fn day_to_tz(d: DayOfWeek) -> crate::tz::DayOfWeek {
    use crate::tz::DayOfWeek as T;
    match d {
        DayOfWeek::Sunday => T::Sunday,
        DayOfWeek::Monday => T::Monday,
        DayOfWeek::Tuesday => T::Tuesday,
        DayOfWeek::Wednesday => T::Wednesday,
        DayOfWeek::Thursday => T::Thursday,
        DayOfWeek::Friday => T::Friday,
        DayOfWeek::Saturday => T::Saturday,
        DayOfWeek::Day => T::Day,
        DayOfWeek::Weekday => T::Weekday,
        DayOfWeek::WeekendDay => T::WeekendDay,
    }
}

fn day_from_tz(d: crate::tz::DayOfWeek) -> DayOfWeek {
    use crate::tz::DayOfWeek as T;
    match d {
        T::Sunday => DayOfWeek::Sunday,
        T::Monday => DayOfWeek::Monday,
        T::Tuesday => DayOfWeek::Tuesday,
        T::Wednesday => DayOfWeek::Wednesday,
        T::Thursday => DayOfWeek::Thursday,
        T::Friday => DayOfWeek::Friday,
        T::Saturday => DayOfWeek::Saturday,
        T::Day => DayOfWeek::Day,
        T::Weekday => DayOfWeek::Weekday,
        T::WeekendDay => DayOfWeek::WeekendDay,
    }
}

impl From<&AvailabilityTimeZoneTime> for crate::tz::SerializableTimeZoneTime {
    fn from(v: &AvailabilityTimeZoneTime) -> Self {
        crate::tz::SerializableTimeZoneTime {
            bias: v.bias,
            time: v.time.0,
            day_order: v.day_order,
            month: v.month,
            day_of_week: v.day_of_week.map(day_to_tz),
            year: v.year,
        }
    }
}

impl From<&crate::tz::SerializableTimeZoneTime> for AvailabilityTimeZoneTime {
    fn from(v: &crate::tz::SerializableTimeZoneTime) -> Self {
        AvailabilityTimeZoneTime {
            bias: v.bias,
            time: Time(v.time),
            day_order: v.day_order,
            month: v.month,
            day_of_week: v.day_of_week.map(day_from_tz),
            year: v.year,
        }
    }
}

impl From<&AvailabilityTimeZone> for crate::tz::SerializableTimeZone {
    fn from(v: &AvailabilityTimeZone) -> Self {
        crate::tz::SerializableTimeZone {
            bias: v.bias,
            standard_time: (&v.standard_time).into(),
            daylight_time: (&v.daylight_time).into(),
        }
    }
}

impl From<AvailabilityTimeZone> for crate::tz::SerializableTimeZone {
    fn from(v: AvailabilityTimeZone) -> Self {
        (&v).into()
    }
}

impl From<&crate::tz::SerializableTimeZone> for AvailabilityTimeZone {
    fn from(v: &crate::tz::SerializableTimeZone) -> Self {
        AvailabilityTimeZone {
            bias: v.bias,
            standard_time: (&v.standard_time).into(),
            daylight_time: (&v.daylight_time).into(),
        }
    }
}

impl From<crate::tz::SerializableTimeZone> for AvailabilityTimeZone {
    fn from(v: crate::tz::SerializableTimeZone) -> Self {
        (&v).into()
    }
}

impl FromXml for AvailabilityTimeZone {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(AvailabilityTimeZone {
            bias: el.get_text_req(t("Bias"))?,
            standard_time: el.get_req(t("StandardTime"))?,
            daylight_time: el.get_req(t("DaylightTime"))?,
        })
    }
}

impl ToXml for AvailabilityTimeZone {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(t("Bias"), &self.bias)
            .child(t("StandardTime"), &self.standard_time)
            .child(t("DaylightTime"), &self.daylight_time)
            .end();
    }
}

xml_enum! {
    /// `t:MeetingAttendeeType`.
    pub enum MeetingAttendeeType { Organizer, Required, Optional, Room, Resource }
}

/// `t:MailboxData`: one mailbox whose availability is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxData {
    /// `t:Email` (required).
    pub email: MailboxAddress,
    /// `t:AttendeeType` (required): matters for suggestions.
    pub attendee_type: MeetingAttendeeType,
    /// `t:ExcludeConflicts`: leave this attendee's conflicts out of suggestions.
    pub exclude_conflicts: Option<bool>,
}

impl MailboxData {
    /// A `Required` attendee, conflicts included.
    pub fn required(address: impl Into<String>) -> Self {
        MailboxData {
            email: MailboxAddress::new(address),
            attendee_type: MeetingAttendeeType::Required,
            exclude_conflicts: Some(false),
        }
    }
}

impl FromXml for MailboxData {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(MailboxData {
            email: el.get_req(t("Email"))?,
            attendee_type: el.get_text_req(t("AttendeeType"))?,
            exclude_conflicts: el.get_text(t("ExcludeConflicts"))?,
        })
    }
}

impl ToXml for MailboxData {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .child(t("Email"), &self.email)
            .leaf_val(t("AttendeeType"), &self.attendee_type)
            .leaf_opt(t("ExcludeConflicts"), &self.exclude_conflicts)
            .end();
    }
}

xml_enum! {
    /// `t:FreeBusyViewType`: the requested (`RequestedView`) or returned (`FreeBusyViewType`)
    /// level of detail. The schema types it as a list of these values; Exchange sends one.
    pub enum FreeBusyViewType {
        /// Nothing.
        None,
        /// Only the merged digits string.
        MergedOnly,
        /// Calendar events with start, end and busy type.
        FreeBusy,
        /// `FreeBusy` plus the merged digits string.
        FreeBusyMerged,
        /// Events with details (subject, location, …) when the requester may see them.
        Detailed,
        /// `Detailed` plus the merged digits string.
        DetailedMerged,
    }
}

/// `t:FreeBusyViewOptions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeBusyViewOptions {
    /// `t:TimeWindow` (required): at most [`MAX_TIME_WINDOW_DAYS`] days by default. Values
    /// without an offset are in the request's `t:TimeZone`.
    pub time_window: TimeWindow,
    /// `t:MergedFreeBusyIntervalInMinutes`: 5..=1440, default 30; the length of one digit of
    /// `MergedFreeBusy`.
    pub merged_free_busy_interval_in_minutes: Option<i32>,
    /// `t:RequestedView`.
    pub requested_view: Option<FreeBusyViewType>,
}

impl FromXml for FreeBusyViewOptions {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(FreeBusyViewOptions {
            time_window: el.get_req(t("TimeWindow"))?,
            merged_free_busy_interval_in_minutes: el.get_text(t("MergedFreeBusyIntervalInMinutes"))?,
            requested_view: el.get_text(t("RequestedView"))?,
        })
    }
}

impl ToXml for FreeBusyViewOptions {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .child(t("TimeWindow"), &self.time_window)
            .leaf_opt(t("MergedFreeBusyIntervalInMinutes"), &self.merged_free_busy_interval_in_minutes)
            .leaf_opt(t("RequestedView"), &self.requested_view)
            .end();
    }
}

xml_enum! {
    /// `t:SuggestionQuality`.
    pub enum SuggestionQuality { Excellent, Good, Fair, Poor }
}

/// `t:SuggestionsViewOptions`: ask for meeting time suggestions. Ranges are those of the
/// reference pages (<https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/suggestionsviewoptions>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestionsViewOptions {
    /// `t:GoodThreshold`: percentage of attendees that must be free for a "good" slot,
    /// 1..=49, default 25.
    pub good_threshold: Option<i32>,
    /// `t:MaximumResultsByDay`: 0..=48, default 10.
    pub maximum_results_by_day: Option<i32>,
    /// `t:MaximumNonWorkHourResultsByDay`: 0..=48, default 0.
    pub maximum_non_work_hour_results_by_day: Option<i32>,
    /// `t:MeetingDurationInMinutes`: 30..=1440, default 60.
    pub meeting_duration_in_minutes: Option<i32>,
    /// `t:MinimumSuggestionQuality`: default `Fair`.
    pub minimum_suggestion_quality: Option<SuggestionQuality>,
    /// `t:DetailedSuggestionsWindow` (required): the days to suggest times for.
    pub detailed_suggestions_window: TimeWindow,
    /// `t:CurrentMeetingTime`: the meeting being rescheduled.
    pub current_meeting_time: Option<DateTime>,
    /// `t:GlobalObjectId`: the meeting being rescheduled.
    pub global_object_id: Option<String>,
}

impl SuggestionsViewOptions {
    /// Suggestions for the window with server defaults for everything else.
    pub fn new(detailed_suggestions_window: TimeWindow) -> Self {
        SuggestionsViewOptions {
            good_threshold: None,
            maximum_results_by_day: None,
            maximum_non_work_hour_results_by_day: None,
            meeting_duration_in_minutes: None,
            minimum_suggestion_quality: None,
            detailed_suggestions_window,
            current_meeting_time: None,
            global_object_id: None,
        }
    }
}

impl FromXml for SuggestionsViewOptions {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(SuggestionsViewOptions {
            good_threshold: el.get_text(t("GoodThreshold"))?,
            maximum_results_by_day: el.get_text(t("MaximumResultsByDay"))?,
            maximum_non_work_hour_results_by_day: el.get_text(t("MaximumNonWorkHourResultsByDay"))?,
            meeting_duration_in_minutes: el.get_text(t("MeetingDurationInMinutes"))?,
            minimum_suggestion_quality: el.get_text(t("MinimumSuggestionQuality"))?,
            detailed_suggestions_window: el.get_req(t("DetailedSuggestionsWindow"))?,
            current_meeting_time: el.get_text(t("CurrentMeetingTime"))?,
            global_object_id: el.get_text(t("GlobalObjectId"))?,
        })
    }
}

impl ToXml for SuggestionsViewOptions {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_opt(t("GoodThreshold"), &self.good_threshold)
            .leaf_opt(t("MaximumResultsByDay"), &self.maximum_results_by_day)
            .leaf_opt(t("MaximumNonWorkHourResultsByDay"), &self.maximum_non_work_hour_results_by_day)
            .leaf_opt(t("MeetingDurationInMinutes"), &self.meeting_duration_in_minutes)
            .leaf_opt(t("MinimumSuggestionQuality"), &self.minimum_suggestion_quality)
            .child(t("DetailedSuggestionsWindow"), &self.detailed_suggestions_window)
            .leaf_opt(t("CurrentMeetingTime"), &self.current_meeting_time)
            .leaf_opt(t("GlobalObjectId"), &self.global_object_id)
            .end();
    }
}

/// `m:GetUserAvailabilityRequest`. At most [`MAX_MAILBOXES`] mailboxes and a window of at
/// most [`MAX_TIME_WINDOW_DAYS`] days by default; [`GetUserAvailabilityRequest::check`] applies
/// what a server checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetUserAvailabilityRequest {
    /// `t:TimeZone`: the zone of offset-less times in the request and of the returned times.
    /// Optional in the schema; Exchange 2010+ can use the `TimeZoneContext` header instead
    /// (`samples/GetUserAvailability-Suggestions.request.xml`).
    pub time_zone: Option<AvailabilityTimeZone>,
    /// `m:MailboxDataArray/t:MailboxData` (the array is required): 1..=100 mailboxes.
    pub mailbox_data: Vec<MailboxData>,
    /// `t:FreeBusyViewOptions`.
    pub free_busy_view_options: Option<FreeBusyViewOptions>,
    /// `t:SuggestionsViewOptions`.
    pub suggestions_view_options: Option<SuggestionsViewOptions>,
}

impl GetUserAvailabilityRequest {
    /// Free/busy of `mailboxes` over `window` with the given view, times in UTC.
    pub fn free_busy(mailboxes: &[&str], window: TimeWindow, view: FreeBusyViewType) -> Self {
        GetUserAvailabilityRequest {
            time_zone: Some(AvailabilityTimeZone::utc()),
            mailbox_data: mailboxes.iter().map(|a| MailboxData::required(*a)).collect(),
            free_busy_view_options: Some(FreeBusyViewOptions {
                time_window: window,
                merged_free_busy_interval_in_minutes: None,
                requested_view: Some(view),
            }),
            suggestions_view_options: None,
        }
    }

    /// What a server checks before answering: 1..=[`MAX_MAILBOXES`] mailboxes, a time window
    /// with its end after its start and no longer than [`MAX_TIME_WINDOW_DAYS`] days, a merged
    /// interval in [`MERGED_FREE_BUSY_INTERVAL_MINUTES`]. The error is the response code and a
    /// message for the whole request.
    pub fn check(&self) -> std::result::Result<(), (ResponseCode, String)> {
        if self.mailbox_data.is_empty() {
            return Err((ResponseCode::ErrorMailboxDataArrayEmpty, "MailboxDataArray is empty".into()));
        }
        if self.mailbox_data.len() > MAX_MAILBOXES {
            return Err((
                ResponseCode::ErrorMailboxDataArrayTooBig,
                format!("{} mailboxes requested, at most {MAX_MAILBOXES} allowed", self.mailbox_data.len()),
            ));
        }
        let windows = self
            .free_busy_view_options
            .iter()
            .map(|o| o.time_window)
            .chain(self.suggestions_view_options.iter().map(|o| o.detailed_suggestions_window));
        for w in windows {
            let span = window_span(&w);
            if span <= jiff::SignedDuration::ZERO {
                return Err((ResponseCode::ErrorInvalidTimeInterval, "the time window ends before it starts".into()));
            }
            if span > jiff::SignedDuration::from_hours(24 * MAX_TIME_WINDOW_DAYS) {
                return Err((
                    ResponseCode::ErrorTimeIntervalTooBig,
                    format!("the time window is longer than {MAX_TIME_WINDOW_DAYS} days"),
                ));
            }
        }
        let interval = self.free_busy_view_options.as_ref().and_then(|o| o.merged_free_busy_interval_in_minutes);
        if let Some(i) = interval.filter(|i| !MERGED_FREE_BUSY_INTERVAL_MINUTES.contains(i)) {
            return Err((
                ResponseCode::ErrorInvalidMergedFreeBusyInterval,
                format!("MergedFreeBusyIntervalInMinutes {i} is outside 5..=1440"),
            ));
        }
        Ok(())
    }
}

/// The length of a window: exact when both ends carry an offset, else on the civil clock.
fn window_span(w: &TimeWindow) -> jiff::SignedDuration {
    match (w.start_time.timestamp(), w.end_time.timestamp()) {
        (Some(s), Some(e)) => s.duration_until(e),
        _ => w.start_time.civil.duration_until(w.end_time.civil),
    }
}

impl FromXml for GetUserAvailabilityRequest {
    fn from_xml(el: &Element) -> Result<Self> {
        let array = el.req(m("MailboxDataArray"))?;
        Ok(GetUserAvailabilityRequest {
            time_zone: el.get(t("TimeZone"))?,
            mailbox_data: array.get_all(t("MailboxData")).map_err(|e| e.at(el))?,
            free_busy_view_options: el.get(t("FreeBusyViewOptions"))?,
            suggestions_view_options: el.get(t("SuggestionsViewOptions"))?,
        })
    }
}

impl ToXml for GetUserAvailabilityRequest {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .child_opt(t("TimeZone"), &self.time_zone)
            .list(m("MailboxDataArray"), t("MailboxData"), &self.mailbox_data)
            .child_opt(t("FreeBusyViewOptions"), &self.free_busy_view_options)
            .child_opt(t("SuggestionsViewOptions"), &self.suggestions_view_options)
            .end();
    }
}

/// `t:MergedFreeBusy`: one digit per `MergedFreeBusyIntervalInMinutes` interval from the start
/// of the window (<https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/mergedfreebusy>): 0 Free, 1 Tentative, 2 Busy, 3 OOF, 4 No data; an
/// interval with several states gets the highest digit. Reading checks that the text is
/// digits only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MergedFreeBusy(pub String);

impl MergedFreeBusy {
    /// The state of each interval. A digit above 4 (not documented) is read as `NoData`.
    pub fn slots(&self) -> impl Iterator<Item = LegacyFreeBusy> + '_ {
        self.0.bytes().map(|b| match b {
            b'0' => LegacyFreeBusy::Free,
            b'1' => LegacyFreeBusy::Tentative,
            b'2' => LegacyFreeBusy::Busy,
            b'3' => LegacyFreeBusy::Oof,
            _ => LegacyFreeBusy::NoData,
        })
    }

    /// Builds the digits string. `WorkingElsewhere` has no documented digit in EWS (Graph's
    /// `availabilityView` uses 4 for it, but in EWS 4 is "no data"); it is written as 0 (Free),
    /// the documented state closest to "available".
    pub fn from_slots(slots: impl IntoIterator<Item = LegacyFreeBusy>) -> Self {
        MergedFreeBusy(
            slots
                .into_iter()
                .map(|s| match s {
                    LegacyFreeBusy::Free | LegacyFreeBusy::WorkingElsewhere => '0',
                    LegacyFreeBusy::Tentative => '1',
                    LegacyFreeBusy::Busy => '2',
                    LegacyFreeBusy::Oof => '3',
                    LegacyFreeBusy::NoData => '4',
                })
                .collect(),
        )
    }
}

impl XmlText for MergedFreeBusy {
    fn from_text(s: &str) -> std::result::Result<Self, String> {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(MergedFreeBusy(s.to_string()))
        } else {
            Err("a string of free/busy digits such as 000022200".into())
        }
    }
    fn to_text(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(&self.0)
    }
}

/// `t:CalendarEventDetails`: present in `Detailed*` views when the requester may see details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEventDetails {
    /// `t:ID`: an opaque id of the appointment (not an EWS item id).
    pub id: Option<String>,
    pub subject: Option<String>,
    pub location: Option<String>,
    /// `t:IsMeeting` (required).
    pub is_meeting: bool,
    /// `t:IsRecurring` (required).
    pub is_recurring: bool,
    /// `t:IsException` (required).
    pub is_exception: bool,
    /// `t:IsReminderSet` (required).
    pub is_reminder_set: bool,
    /// `t:IsPrivate` (required): private appointments come without subject and location.
    pub is_private: bool,
}

impl FromXml for CalendarEventDetails {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(CalendarEventDetails {
            id: el.get_text(t("ID"))?,
            subject: el.get_text(t("Subject"))?,
            location: el.get_text(t("Location"))?,
            is_meeting: el.get_text_req(t("IsMeeting"))?,
            is_recurring: el.get_text_req(t("IsRecurring"))?,
            is_exception: el.get_text_req(t("IsException"))?,
            is_reminder_set: el.get_text_req(t("IsReminderSet"))?,
            is_private: el.get_text_req(t("IsPrivate"))?,
        })
    }
}

impl ToXml for CalendarEventDetails {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_opt(t("ID"), &self.id)
            .leaf_opt(t("Subject"), &self.subject)
            .leaf_opt(t("Location"), &self.location)
            .leaf_val(t("IsMeeting"), &self.is_meeting)
            .leaf_val(t("IsRecurring"), &self.is_recurring)
            .leaf_val(t("IsException"), &self.is_exception)
            .leaf_val(t("IsReminderSet"), &self.is_reminder_set)
            .leaf_val(t("IsPrivate"), &self.is_private)
            .end();
    }
}

/// `t:CalendarEvent`: one busy block (an appointment or an expanded occurrence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEvent {
    /// `t:StartTime` (required), in the request's time zone.
    pub start_time: DateTime,
    /// `t:EndTime` (required).
    pub end_time: DateTime,
    /// `t:BusyType` (required).
    pub busy_type: LegacyFreeBusy,
    pub details: Option<CalendarEventDetails>,
}

impl FromXml for CalendarEvent {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(CalendarEvent {
            start_time: el.get_text_req(t("StartTime"))?,
            end_time: el.get_text_req(t("EndTime"))?,
            busy_type: el.get_text_req(t("BusyType"))?,
            details: el.get(t("CalendarEventDetails"))?,
        })
    }
}

impl ToXml for CalendarEvent {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(t("StartTime"), &self.start_time)
            .leaf_val(t("EndTime"), &self.end_time)
            .leaf_val(t("BusyType"), &self.busy_type)
            .child_opt(t("CalendarEventDetails"), &self.details)
            .end();
    }
}

/// `t:WorkingPeriod`: working time on some days, in minutes after local midnight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingPeriod {
    /// `t:DayOfWeek` (required, `t:DaysOfWeekType`: a space-separated list).
    pub day_of_week: Vec<DayOfWeek>,
    /// `t:StartTimeInMinutes` (required): 480 = 08:00.
    pub start_time_in_minutes: i32,
    /// `t:EndTimeInMinutes` (required): 1020 = 17:00.
    pub end_time_in_minutes: i32,
}

impl FromXml for WorkingPeriod {
    fn from_xml(el: &Element) -> Result<Self> {
        let days = el.req(t("DayOfWeek"))?;
        let day_of_week = days
            .text
            .split_whitespace()
            .map(|d| DayOfWeek::from_text(d).map_err(|exp| Error::invalid(d, exp).at(days).at(el)))
            .collect::<Result<Vec<_>>>()?;
        if day_of_week.is_empty() {
            return Err(Error::invalid("", "a space-separated list of days").at(days).at(el));
        }
        Ok(WorkingPeriod {
            day_of_week,
            start_time_in_minutes: el.get_text_req(t("StartTimeInMinutes"))?,
            end_time_in_minutes: el.get_text_req(t("EndTimeInMinutes"))?,
        })
    }
}

impl ToXml for WorkingPeriod {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        let days: Vec<&str> = self.day_of_week.iter().map(DayOfWeek::as_str).collect();
        w.start(name)
            .leaf(t("DayOfWeek"), &days.join(" "))
            .leaf_val(t("StartTimeInMinutes"), &self.start_time_in_minutes)
            .leaf_val(t("EndTimeInMinutes"), &self.end_time_in_minutes)
            .end();
    }
}

/// `t:WorkingHours`: the mailbox owner's working time zone and periods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    /// `t:TimeZone` (required).
    pub time_zone: AvailabilityTimeZone,
    /// `t:WorkingPeriodArray/t:WorkingPeriod` (the array is required).
    pub working_periods: Vec<WorkingPeriod>,
}

impl FromXml for WorkingHours {
    fn from_xml(el: &Element) -> Result<Self> {
        let array = el.req(t("WorkingPeriodArray"))?;
        Ok(WorkingHours {
            time_zone: el.get_req(t("TimeZone"))?,
            working_periods: array.get_all(t("WorkingPeriod")).map_err(|e| e.at(el))?,
        })
    }
}

impl ToXml for WorkingHours {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .child(t("TimeZone"), &self.time_zone)
            .list(t("WorkingPeriodArray"), t("WorkingPeriod"), &self.working_periods)
            .end();
    }
}

/// `m:FreeBusyView` (type `t:FreeBusyView`): one mailbox's availability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeBusyView {
    /// `t:FreeBusyViewType` (required): the view the server could give (may be less than
    /// requested, depending on rights).
    pub free_busy_view_type: FreeBusyViewType,
    /// `t:MergedFreeBusy`: for the `*Merged` and `MergedOnly` views.
    pub merged_free_busy: Option<MergedFreeBusy>,
    /// `t:CalendarEventArray/t:CalendarEvent`.
    pub calendar_events: Option<Vec<CalendarEvent>>,
    /// `t:WorkingHours`.
    pub working_hours: Option<WorkingHours>,
}

impl FromXml for FreeBusyView {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(FreeBusyView {
            free_busy_view_type: el.get_text_req(t("FreeBusyViewType"))?,
            merged_free_busy: el.get_text(t("MergedFreeBusy"))?,
            calendar_events: el.get_list(t("CalendarEventArray"), t("CalendarEvent"))?,
            working_hours: el.get(t("WorkingHours"))?,
        })
    }
}

impl ToXml for FreeBusyView {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(t("FreeBusyViewType"), &self.free_busy_view_type)
            .leaf_opt(t("MergedFreeBusy"), &self.merged_free_busy)
            .list_opt(t("CalendarEventArray"), t("CalendarEvent"), &self.calendar_events)
            .child_opt(t("WorkingHours"), &self.working_hours)
            .end();
    }
}

/// Reads an optional `m:ResponseMessage` child.
fn read_status(el: &Element) -> Result<Option<ResponseStatus>> {
    match el.child(m("ResponseMessage")) {
        None => Ok(None),
        Some(msg) => ResponseStatus::read(msg).map(Some).map_err(|e| e.at(el)),
    }
}

fn write_status(w: &mut Writer, status: &Option<ResponseStatus>) {
    if let Some(s) = status {
        s.write_start(w, m("ResponseMessage"));
        w.end();
    }
}

/// `m:FreeBusyResponse`: the answer for one mailbox, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FreeBusyResponse {
    /// `m:ResponseMessage` (optional in the schema, always sent by Exchange).
    pub response_message: Option<ResponseStatus>,
    /// `m:FreeBusyView`.
    pub free_busy_view: Option<FreeBusyView>,
}

impl FreeBusyResponse {
    /// The status; an absent `ResponseMessage` counts as success.
    pub fn status(&self) -> ResponseStatus {
        self.response_message.clone().unwrap_or_default()
    }
}

impl FromXml for FreeBusyResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(FreeBusyResponse { response_message: read_status(el)?, free_busy_view: el.get(m("FreeBusyView"))? })
    }
}

impl ToXml for FreeBusyResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        write_status(w, &self.response_message);
        w.child_opt(m("FreeBusyView"), &self.free_busy_view);
        w.end();
    }
}

/// One attendee's conflict with a suggested time (`t:ArrayOfAttendeeConflictData` choice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttendeeConflictData {
    /// `t:UnknownAttendeeConflictData`: the attendee could not be resolved.
    Unknown,
    /// `t:IndividualAttendeeConflictData`.
    Individual { busy_type: LegacyFreeBusy },
    /// `t:TooBigGroupAttendeeConflictData`: a distribution list too large to expand.
    TooBigGroup,
    /// `t:GroupAttendeeConflictData`.
    Group {
        number_of_members: i32,
        number_of_members_available: i32,
        number_of_members_with_conflict: i32,
        number_of_members_with_no_data: i32,
    },
}

impl AttendeeConflictData {
    fn read(el: &Element) -> Option<Result<Self>> {
        let r = if el.is(t("UnknownAttendeeConflictData")) {
            Ok(AttendeeConflictData::Unknown)
        } else if el.is(t("IndividualAttendeeConflictData")) {
            el.get_text_req(t("BusyType")).map(|busy_type| AttendeeConflictData::Individual { busy_type })
        } else if el.is(t("TooBigGroupAttendeeConflictData")) {
            Ok(AttendeeConflictData::TooBigGroup)
        } else if el.is(t("GroupAttendeeConflictData")) {
            (|| {
                Ok(AttendeeConflictData::Group {
                    number_of_members: el.get_text_req(t("NumberOfMembers"))?,
                    number_of_members_available: el.get_text_req(t("NumberOfMembersAvailable"))?,
                    number_of_members_with_conflict: el.get_text_req(t("NumberOfMembersWithConflict"))?,
                    number_of_members_with_no_data: el.get_text_req(t("NumberOfMembersWithNoData"))?,
                })
            })()
        } else {
            return None;
        };
        Some(r)
    }

    fn write(&self, w: &mut Writer) {
        match self {
            AttendeeConflictData::Unknown => {
                w.start(t("UnknownAttendeeConflictData")).end();
            }
            AttendeeConflictData::Individual { busy_type } => {
                w.start(t("IndividualAttendeeConflictData")).leaf_val(t("BusyType"), busy_type).end();
            }
            AttendeeConflictData::TooBigGroup => {
                w.start(t("TooBigGroupAttendeeConflictData")).end();
            }
            AttendeeConflictData::Group {
                number_of_members,
                number_of_members_available,
                number_of_members_with_conflict,
                number_of_members_with_no_data,
            } => {
                w.start(t("GroupAttendeeConflictData"))
                    .leaf_val(t("NumberOfMembers"), number_of_members)
                    .leaf_val(t("NumberOfMembersAvailable"), number_of_members_available)
                    .leaf_val(t("NumberOfMembersWithConflict"), number_of_members_with_conflict)
                    .leaf_val(t("NumberOfMembersWithNoData"), number_of_members_with_no_data)
                    .end();
            }
        }
    }
}

/// `t:Suggestion`: a proposed meeting time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// `t:MeetingTime` (required).
    pub meeting_time: DateTime,
    /// `t:IsWorkTime` (required).
    pub is_work_time: bool,
    /// `t:SuggestionQuality` (required).
    pub suggestion_quality: SuggestionQuality,
    /// `t:AttendeeConflictDataArray`: one entry per attendee, in request order.
    pub attendee_conflict_data: Option<Vec<AttendeeConflictData>>,
}

impl FromXml for Suggestion {
    fn from_xml(el: &Element) -> Result<Self> {
        let attendee_conflict_data = match el.child(t("AttendeeConflictDataArray")) {
            None => None,
            Some(arr) => Some(
                arr.children
                    .iter()
                    .filter_map(AttendeeConflictData::read)
                    .collect::<Result<Vec<_>>>()
                    .map_err(|e| e.at(arr).at(el))?,
            ),
        };
        Ok(Suggestion {
            meeting_time: el.get_text_req(t("MeetingTime"))?,
            is_work_time: el.get_text_req(t("IsWorkTime"))?,
            suggestion_quality: el.get_text_req(t("SuggestionQuality"))?,
            attendee_conflict_data,
        })
    }
}

impl ToXml for Suggestion {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(t("MeetingTime"), &self.meeting_time)
            .leaf_val(t("IsWorkTime"), &self.is_work_time)
            .leaf_val(t("SuggestionQuality"), &self.suggestion_quality);
        if let Some(data) = &self.attendee_conflict_data {
            w.start(t("AttendeeConflictDataArray"));
            for d in data {
                d.write(w);
            }
            w.end();
        }
        w.end();
    }
}

/// `t:SuggestionDayResult`: the suggestions for one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestionDayResult {
    /// `t:Date` (required, an `xs:dateTime` at midnight).
    pub date: DateTime,
    /// `t:DayQuality` (required).
    pub day_quality: SuggestionQuality,
    /// `t:SuggestionArray/t:Suggestion`.
    pub suggestions: Option<Vec<Suggestion>>,
}

impl FromXml for SuggestionDayResult {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(SuggestionDayResult {
            date: el.get_text_req(t("Date"))?,
            day_quality: el.get_text_req(t("DayQuality"))?,
            suggestions: el.get_list(t("SuggestionArray"), t("Suggestion"))?,
        })
    }
}

impl ToXml for SuggestionDayResult {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(t("Date"), &self.date)
            .leaf_val(t("DayQuality"), &self.day_quality)
            .list_opt(t("SuggestionArray"), t("Suggestion"), &self.suggestions)
            .end();
    }
}

/// `m:SuggestionsResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SuggestionsResponse {
    /// `m:ResponseMessage`.
    pub response_message: Option<ResponseStatus>,
    /// `m:SuggestionDayResultArray/t:SuggestionDayResult`.
    pub suggestion_day_results: Option<Vec<SuggestionDayResult>>,
}

impl FromXml for SuggestionsResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(SuggestionsResponse {
            response_message: read_status(el)?,
            suggestion_day_results: el.get_list(m("SuggestionDayResultArray"), t("SuggestionDayResult"))?,
        })
    }
}

impl ToXml for SuggestionsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        write_status(w, &self.response_message);
        w.list_opt(m("SuggestionDayResultArray"), t("SuggestionDayResult"), &self.suggestion_day_results);
        w.end();
    }
}

/// `m:GetUserAvailabilityResponse`: both parts are optional in the schema.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetUserAvailabilityResponse {
    /// `m:FreeBusyResponseArray/m:FreeBusyResponse`: one per requested mailbox, in order.
    pub free_busy_responses: Option<Vec<FreeBusyResponse>>,
    /// `m:SuggestionsResponse`: when suggestions were asked for.
    pub suggestions_response: Option<SuggestionsResponse>,
}

impl FromXml for GetUserAvailabilityResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(GetUserAvailabilityResponse {
            free_busy_responses: el.get_list(m("FreeBusyResponseArray"), m("FreeBusyResponse"))?,
            suggestions_response: el.get(m("SuggestionsResponse"))?,
        })
    }
}

impl ToXml for GetUserAvailabilityResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .list_opt(m("FreeBusyResponseArray"), m("FreeBusyResponse"), &self.free_busy_responses)
            .child_opt(m("SuggestionsResponse"), &self.suggestions_response)
            .end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::{Body, Envelope, ExchangeVersion, Header};

    fn sample(name: &str) -> Vec<u8> {
        std::fs::read(ews_schema_check::samples_dir().join(name)).unwrap()
    }

    fn dt(s: &str) -> DateTime {
        DateTime::from_text(s).unwrap()
    }

    fn round_trip(env: &Envelope) -> String {
        let s = env.to_xml_string();
        let back = Envelope::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{s}"));
        assert_eq!(&back, env, "round trip changed the envelope:\n{s}");
        s
    }

    fn pacific() -> AvailabilityTimeZone {
        AvailabilityTimeZone {
            bias: 480,
            standard_time: AvailabilityTimeZoneTime {
                bias: 0,
                time: Time::from_text("02:00:00").unwrap(),
                day_order: 1,
                month: 11,
                day_of_week: Some(DayOfWeek::Sunday),
                year: None,
            },
            daylight_time: AvailabilityTimeZoneTime {
                bias: -60,
                time: Time::from_text("02:00:00").unwrap(),
                day_order: 2,
                month: 3,
                day_of_week: Some(DayOfWeek::Sunday),
                year: None,
            },
        }
    }

    fn window() -> TimeWindow {
        TimeWindow { start_time: dt("2026-03-02T00:00:00"), end_time: dt("2026-03-03T00:00:00") }
    }

    #[test]
    fn parses_request_samples() {
        let env = Envelope::parse(&sample("GetUserAvailability.request.xml")).unwrap();
        let Body::GetUserAvailability(req) = &env.body else { panic!("{:?}", env.body) };
        let tz = req.time_zone.as_ref().unwrap();
        assert_eq!(tz.bias, 480);
        assert_eq!(tz.standard_time.bias, 0);
        assert_eq!(tz.standard_time.day_order, 5);
        assert_eq!(tz.standard_time.month, 10);
        assert_eq!(tz.standard_time.day_of_week, Some(DayOfWeek::Sunday));
        assert_eq!(tz.standard_time.time.to_text(), "02:00:00");
        assert_eq!(tz.daylight_time.bias, -60);
        assert_eq!(tz.daylight_time.month, 4);
        assert_eq!(req.mailbox_data.len(), 2);
        assert_eq!(req.mailbox_data[0].email.address, "user1@example.com");
        assert_eq!(req.mailbox_data[1].attendee_type, MeetingAttendeeType::Required);
        assert_eq!(req.mailbox_data[1].exclude_conflicts, Some(false));
        let fb = req.free_busy_view_options.as_ref().unwrap();
        assert_eq!(fb.time_window.start_time, dt("2006-10-16T00:00:00"));
        assert_eq!(fb.time_window.end_time, dt("2006-10-16T23:59:59"));
        assert_eq!(fb.merged_free_busy_interval_in_minutes, Some(60));
        assert_eq!(fb.requested_view, Some(FreeBusyViewType::DetailedMerged));
        assert!(req.suggestions_view_options.is_none());
        assert!(req.check().is_ok());

        let env = Envelope::parse(&sample("GetUserAvailability-Suggestions.request.xml")).unwrap();
        assert_eq!(env.header.time_zone_context.as_ref().unwrap().id.as_deref(), Some("Pacific Standard Time"));
        let Body::GetUserAvailability(req) = &env.body else { panic!() };
        assert!(req.time_zone.is_none());
        assert_eq!(req.mailbox_data[0].attendee_type, MeetingAttendeeType::Organizer);
        assert_eq!(req.mailbox_data[1].email.address, "sadie@contoso.com");
        assert_eq!(req.free_busy_view_options.as_ref().unwrap().requested_view, Some(FreeBusyViewType::FreeBusy));
        let sv = req.suggestions_view_options.as_ref().unwrap();
        assert_eq!(sv.good_threshold, Some(49));
        assert_eq!(sv.maximum_results_by_day, Some(2));
        assert_eq!(sv.maximum_non_work_hour_results_by_day, Some(0));
        assert_eq!(sv.meeting_duration_in_minutes, Some(60));
        assert_eq!(sv.minimum_suggestion_quality, Some(SuggestionQuality::Good));
        assert_eq!(sv.detailed_suggestions_window.end_time, dt("2014-02-14T00:00:00"));
        assert!(req.check().is_ok());
    }

    #[test]
    fn parses_response_samples() {
        let env = Envelope::parse(&sample("GetUserAvailability.response.xml")).unwrap();
        let Body::GetUserAvailabilityResponse(resp) = &env.body else { panic!() };
        let fbs = resp.free_busy_responses.as_ref().unwrap();
        assert_eq!(fbs.len(), 2);
        assert!(fbs.iter().all(|r| r.status().is_success()));
        let v0 = fbs[0].free_busy_view.as_ref().unwrap();
        assert_eq!(v0.free_busy_view_type, FreeBusyViewType::DetailedMerged);
        let merged = v0.merged_free_busy.as_ref().unwrap();
        assert_eq!(merged.0, "000002220220000000000000");
        let slots: Vec<_> = merged.slots().collect();
        assert_eq!(slots.len(), 24);
        assert_eq!(slots[5], LegacyFreeBusy::Busy);
        assert_eq!(slots[4], LegacyFreeBusy::Free);
        assert_eq!(MergedFreeBusy::from_slots(slots), *merged);
        let events = v0.calendar_events.as_ref().unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].start_time, dt("2006-10-16T06:00:00-07:00"));
        assert_eq!(events[0].busy_type, LegacyFreeBusy::Busy);
        let d = events[2].details.as_ref().unwrap();
        assert_eq!(d.id.as_deref(), Some("14B6414B0B1"));
        assert_eq!(d.subject.as_deref(), Some("Meet with doctor"));
        assert_eq!(d.location.as_deref(), Some("Kirkland"));
        assert_eq!(events[0].details.as_ref().unwrap().location.as_deref(), Some(""));
        assert!(!d.is_meeting && !d.is_recurring && !d.is_exception && !d.is_reminder_set && !d.is_private);
        let wh = v0.working_hours.as_ref().unwrap();
        assert_eq!(wh.time_zone.bias, 480);
        assert_eq!(
            wh.working_periods[0].day_of_week,
            vec![DayOfWeek::Monday, DayOfWeek::Tuesday, DayOfWeek::Wednesday, DayOfWeek::Thursday, DayOfWeek::Friday]
        );
        assert_eq!(wh.working_periods[0].start_time_in_minutes, 480);
        assert_eq!(wh.working_periods[0].end_time_in_minutes, 1020);
        let v1 = fbs[1].free_busy_view.as_ref().unwrap();
        assert_eq!(v1.free_busy_view_type, FreeBusyViewType::FreeBusyMerged);
        let e1 = &v1.calendar_events.as_ref().unwrap()[0];
        assert_eq!(e1.busy_type, LegacyFreeBusy::Tentative);
        assert!(e1.details.is_none());
        assert!(resp.suggestions_response.is_none());

        let env = Envelope::parse(&sample("GetUserAvailability-Suggestions.response.xml")).unwrap();
        let Body::GetUserAvailabilityResponse(resp) = &env.body else { panic!() };
        let fbs = resp.free_busy_responses.as_ref().unwrap();
        assert_eq!(fbs[1].free_busy_view.as_ref().unwrap().calendar_events.as_ref().unwrap().len(), 4);
        assert!(fbs[0].free_busy_view.as_ref().unwrap().merged_free_busy.is_none());
        let sr = resp.suggestions_response.as_ref().unwrap();
        assert!(sr.response_message.as_ref().unwrap().is_success());
        let days = sr.suggestion_day_results.as_ref().unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].date, dt("2014-02-13T00:00:00"));
        assert_eq!(days[0].day_quality, SuggestionQuality::Excellent);
        let sug = days[0].suggestions.as_ref().unwrap();
        assert_eq!(sug.len(), 2);
        assert_eq!(sug[1].meeting_time, dt("2014-02-13T09:30:00"));
        assert!(sug[1].is_work_time);
        assert_eq!(
            sug[0].attendee_conflict_data.as_ref().unwrap(),
            &vec![
                AttendeeConflictData::Individual { busy_type: LegacyFreeBusy::Free },
                AttendeeConflictData::Individual { busy_type: LegacyFreeBusy::Free },
            ]
        );
    }

    #[test]
    fn time_zone_conversions() {
        use jiff::Timestamp;
        let env = Envelope::parse(&sample("GetUserAvailability.request.xml")).unwrap();
        let Body::GetUserAvailability(req) = &env.body else { panic!() };
        let wire = req.time_zone.clone().unwrap();
        // Bias 480, daylight from the first Sunday of April, standard from the last of October.
        let zone = wire.to_time_zone().unwrap();
        let offset = |ts: &str| zone.to_offset(ts.parse::<Timestamp>().unwrap()).seconds() / 3600;
        assert_eq!(offset("2006-10-16T12:00:00Z"), -7);
        assert_eq!(offset("2006-12-01T12:00:00Z"), -8);
        assert_eq!(offset("2006-04-01T12:00:00Z"), -8);
        assert_eq!(offset("2006-04-03T12:00:00Z"), -7);

        // Lossless both ways, including the EWS Managed API form (Year, no DayOfWeek).
        let mut managed = pacific();
        managed.daylight_time.year = Some(2026);
        managed.daylight_time.day_of_week = None;
        managed.standard_time.day_of_week = Some(DayOfWeek::WeekendDay);
        for tz in [wire.clone(), pacific(), managed, AvailabilityTimeZone::utc()] {
            let plain = crate::tz::SerializableTimeZone::from(&tz);
            assert_eq!(AvailabilityTimeZone::from(plain.clone()), tz);
            // The XML of the plain type (items/timezone.rs) is the same as ours.
            let (mut a, mut b) = (Writer::new(), Writer::new());
            tz.to_xml(&mut a, t("TimeZone"));
            plain.to_xml(&mut b, t("TimeZone"));
            assert_eq!(a.finish(), b.finish());
        }
        assert_eq!(AvailabilityTimeZone::utc().to_time_zone().unwrap().to_offset(Timestamp::UNIX_EPOCH).seconds(), 0);

        let la = jiff::tz::TimeZone::get("America/Los_Angeles").unwrap();
        let from_la = AvailabilityTimeZone::from_time_zone(&la, 2026).unwrap();
        assert_eq!(from_la.bias, 480);
        assert_eq!(from_la.daylight_time.bias, -60);
        assert_eq!((from_la.daylight_time.month, from_la.daylight_time.day_order), (3, 2));
        assert_eq!((from_la.standard_time.month, from_la.standard_time.day_order), (11, 1));
        let back = from_la.to_time_zone().unwrap();
        let summer: Timestamp = "2026-07-01T12:00:00Z".parse().unwrap();
        assert_eq!(back.to_offset(summer), la.to_offset(summer));

        // The Managed API form reads (DayOfWeek absent when a Year is given).
        let text = String::from_utf8(sample("GetUserAvailability.request.xml")).unwrap();
        let managed_xml = text.replacen(
            "<Month>4</Month>\n          <DayOfWeek>Sunday</DayOfWeek>",
            "<Month>4</Month>\n          <Year>2006</Year>",
            1,
        );
        assert_ne!(managed_xml, text);
        let env = Envelope::parse(managed_xml.as_bytes()).unwrap();
        let Body::GetUserAvailability(req) = &env.body else { panic!() };
        let dt = &req.time_zone.as_ref().unwrap().daylight_time;
        assert_eq!((dt.day_of_week, dt.year), (None, Some(2006)));
        round_trip(&env);
    }

    #[test]
    fn check_limits() {
        let ok = GetUserAvailabilityRequest::free_busy(&["a@contoso.test"], window(), FreeBusyViewType::FreeBusy);
        assert!(ok.check().is_ok());

        let mut r = ok.clone();
        r.mailbox_data.clear();
        assert_eq!(r.check().unwrap_err().0, ResponseCode::ErrorMailboxDataArrayEmpty);

        let many: Vec<String> = (0..=MAX_MAILBOXES).map(|i| format!("u{i}@contoso.test")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let r = GetUserAvailabilityRequest::free_busy(&refs, window(), FreeBusyViewType::FreeBusy);
        assert_eq!(r.check().unwrap_err().0, ResponseCode::ErrorMailboxDataArrayTooBig);
        let r = GetUserAvailabilityRequest::free_busy(&refs[..MAX_MAILBOXES], window(), FreeBusyViewType::FreeBusy);
        assert!(r.check().is_ok());

        let mut r = ok.clone();
        let fb = r.free_busy_view_options.as_mut().unwrap();
        fb.time_window = TimeWindow { start_time: dt("2026-03-01T00:00:00"), end_time: dt("2026-04-12T00:00:00") };
        assert!(r.check().is_ok(), "exactly 42 days is allowed");
        let fb = r.free_busy_view_options.as_mut().unwrap();
        fb.time_window.end_time = dt("2026-04-12T00:00:01");
        assert_eq!(r.check().unwrap_err().0, ResponseCode::ErrorTimeIntervalTooBig);
        let fb = r.free_busy_view_options.as_mut().unwrap();
        fb.time_window.end_time = dt("2026-02-28T00:00:00");
        assert_eq!(r.check().unwrap_err().0, ResponseCode::ErrorInvalidTimeInterval);
        // Offsets are honoured: 10:00+02:00 to 09:00Z is one hour.
        let fb = r.free_busy_view_options.as_mut().unwrap();
        fb.time_window =
            TimeWindow { start_time: dt("2026-03-01T10:00:00+02:00"), end_time: dt("2026-03-01T09:00:00Z") };
        assert!(r.check().is_ok());

        let mut r = ok;
        r.free_busy_view_options.as_mut().unwrap().merged_free_busy_interval_in_minutes = Some(4);
        assert_eq!(r.check().unwrap_err().0, ResponseCode::ErrorInvalidMergedFreeBusyInterval);
    }

    #[test]
    fn serializes_valid_xml_and_round_trips() {
        let header = Header { request_server_version: Some(ExchangeVersion::Exchange2013), ..Header::default() };
        let full_request = GetUserAvailabilityRequest {
            time_zone: Some(pacific()),
            mailbox_data: vec![
                MailboxData {
                    email: MailboxAddress::smtp("room1@contoso.test", Some("Room 1")),
                    attendee_type: MeetingAttendeeType::Room,
                    exclude_conflicts: Some(true),
                },
                MailboxData {
                    email: MailboxAddress::new("x@contoso.test"),
                    attendee_type: MeetingAttendeeType::Optional,
                    exclude_conflicts: None,
                },
            ],
            free_busy_view_options: Some(FreeBusyViewOptions {
                time_window: window(),
                merged_free_busy_interval_in_minutes: Some(15),
                requested_view: Some(FreeBusyViewType::Detailed),
            }),
            suggestions_view_options: Some(SuggestionsViewOptions {
                good_threshold: Some(25),
                maximum_results_by_day: Some(10),
                maximum_non_work_hour_results_by_day: Some(0),
                meeting_duration_in_minutes: Some(30),
                minimum_suggestion_quality: Some(SuggestionQuality::Fair),
                detailed_suggestions_window: window(),
                current_meeting_time: Some(dt("2026-03-02T10:00:00")),
                global_object_id: Some("BAAAAIIA4AB0xbcQGoLgCAAAAAA=".into()),
            }),
        };
        let minimal_request = GetUserAvailabilityRequest {
            time_zone: None,
            mailbox_data: vec![MailboxData::required("a@contoso.test")],
            free_busy_view_options: None,
            suggestions_view_options: Some(SuggestionsViewOptions::new(window())),
        };
        let full_response = GetUserAvailabilityResponse {
            free_busy_responses: Some(vec![
                FreeBusyResponse {
                    response_message: Some(ResponseStatus::success()),
                    free_busy_view: Some(FreeBusyView {
                        free_busy_view_type: FreeBusyViewType::DetailedMerged,
                        merged_free_busy: Some(MergedFreeBusy::from_slots([
                            LegacyFreeBusy::Free,
                            LegacyFreeBusy::Busy,
                            LegacyFreeBusy::Oof,
                            LegacyFreeBusy::NoData,
                        ])),
                        calendar_events: Some(vec![
                            CalendarEvent {
                                start_time: dt("2026-03-02T09:00:00-08:00"),
                                end_time: dt("2026-03-02T10:00:00-08:00"),
                                busy_type: LegacyFreeBusy::WorkingElsewhere,
                                details: Some(CalendarEventDetails {
                                    id: Some("0000".into()),
                                    subject: Some("Standup & <planning>".into()),
                                    location: None,
                                    is_meeting: true,
                                    is_recurring: true,
                                    is_exception: false,
                                    is_reminder_set: true,
                                    is_private: false,
                                }),
                            },
                            CalendarEvent {
                                start_time: dt("2026-03-02T12:00:00-08:00"),
                                end_time: dt("2026-03-02T13:00:00-08:00"),
                                busy_type: LegacyFreeBusy::Oof,
                                details: None,
                            },
                        ]),
                        working_hours: Some(WorkingHours {
                            time_zone: pacific(),
                            working_periods: vec![
                                WorkingPeriod {
                                    day_of_week: vec![DayOfWeek::Monday, DayOfWeek::Wednesday],
                                    start_time_in_minutes: 540,
                                    end_time_in_minutes: 1080,
                                },
                                WorkingPeriod {
                                    day_of_week: vec![DayOfWeek::Weekday],
                                    start_time_in_minutes: 480,
                                    end_time_in_minutes: 720,
                                },
                            ],
                        }),
                    }),
                },
                FreeBusyResponse {
                    response_message: Some(ResponseStatus::error(
                        ResponseCode::ErrorMailRecipientNotFound,
                        "Unable to resolve e-mail address <>;SMTP:nobody@contoso.test to an Active Directory object.",
                    )),
                    free_busy_view: Some(FreeBusyView {
                        free_busy_view_type: FreeBusyViewType::None,
                        merged_free_busy: None,
                        calendar_events: None,
                        working_hours: None,
                    }),
                },
                FreeBusyResponse::default(),
            ]),
            suggestions_response: Some(SuggestionsResponse {
                response_message: Some(ResponseStatus::success()),
                suggestion_day_results: Some(vec![SuggestionDayResult {
                    date: dt("2026-03-02T00:00:00"),
                    day_quality: SuggestionQuality::Poor,
                    suggestions: Some(vec![Suggestion {
                        meeting_time: dt("2026-03-02T14:00:00"),
                        is_work_time: false,
                        suggestion_quality: SuggestionQuality::Poor,
                        attendee_conflict_data: Some(vec![
                            AttendeeConflictData::Unknown,
                            AttendeeConflictData::Individual { busy_type: LegacyFreeBusy::Busy },
                            AttendeeConflictData::TooBigGroup,
                            AttendeeConflictData::Group {
                                number_of_members: 10,
                                number_of_members_available: 7,
                                number_of_members_with_conflict: 2,
                                number_of_members_with_no_data: 1,
                            },
                        ]),
                    }]),
                }]),
            }),
        };
        let constructed = [
            Envelope::new(header.clone(), full_request),
            Envelope::new(header.clone(), minimal_request),
            Envelope::new(
                header,
                GetUserAvailabilityRequest::free_busy(&["a@contoso.test"], window(), FreeBusyViewType::MergedOnly),
            ),
            Envelope::new(Header::default(), full_response),
            Envelope::new(Header::default(), GetUserAvailabilityResponse::default()),
            Envelope::new(
                Header::default(),
                GetUserAvailabilityRequest {
                    time_zone: Some(
                        AvailabilityTimeZone::from_time_zone(&jiff::tz::TimeZone::get("Europe/Berlin").unwrap(), 2026)
                            .unwrap(),
                    ),
                    ..GetUserAvailabilityRequest::free_busy(&["b@contoso.test"], window(), FreeBusyViewType::Detailed)
                },
            ),
        ];
        let mut docs = Vec::new();
        for (i, env) in constructed.iter().enumerate() {
            docs.push((format!("constructed #{i}"), round_trip(env)));
        }
        for name in [
            "GetUserAvailability.request.xml",
            "GetUserAvailability.response.xml",
            "GetUserAvailability-Suggestions.request.xml",
            "GetUserAvailability-Suggestions.response.xml",
        ] {
            let env = Envelope::parse(&sample(name)).unwrap();
            docs.push((name.to_string(), round_trip(&env)));
        }
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        let text = String::from_utf8(sample("GetUserAvailability.response.xml")).unwrap();
        let bad = text.replacen("<BusyType>Busy</BusyType>", "<BusyType>Sleeping</BusyType>", 1);
        let err = Envelope::parse(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("Sleeping"), "{err}");
        assert_eq!(
            err.path(),
            "/soap:Envelope/soap:Body/m:GetUserAvailabilityResponse/m:FreeBusyResponseArray/m:FreeBusyResponse/m:FreeBusyView/t:CalendarEventArray/t:CalendarEvent/t:BusyType"
        );

        let bad = text.replacen("Monday Tuesday", "Monday Funday", 1);
        let err = Envelope::parse(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("Funday"), "{err}");
        assert_eq!(
            err.path(),
            "/soap:Envelope/soap:Body/m:GetUserAvailabilityResponse/m:FreeBusyResponseArray/m:FreeBusyResponse/m:FreeBusyView/t:WorkingHours/t:WorkingPeriodArray/t:WorkingPeriod/t:DayOfWeek"
        );

        let bad = text.replacen("000002220220000000000000", "00000222x", 1);
        let err = Envelope::parse(bad.as_bytes()).unwrap_err();
        assert_eq!(
            err.path(),
            "/soap:Envelope/soap:Body/m:GetUserAvailabilityResponse/m:FreeBusyResponseArray/m:FreeBusyResponse/m:FreeBusyView/t:MergedFreeBusy"
        );

        let bad = text.replacen("<IsPrivate>false</IsPrivate>", "", 1);
        let err = Envelope::parse(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("missing element t:IsPrivate"), "{err}");
        assert_eq!(
            err.path(),
            "/soap:Envelope/soap:Body/m:GetUserAvailabilityResponse/m:FreeBusyResponseArray/m:FreeBusyResponse/m:FreeBusyView/t:CalendarEventArray/t:CalendarEvent/t:CalendarEventDetails"
        );

        let req = String::from_utf8(sample("GetUserAvailability.request.xml")).unwrap();
        let bad = req.replacen("<t:AttendeeType>Required</t:AttendeeType>", "<t:AttendeeType>Boss</t:AttendeeType>", 1);
        let err = Envelope::parse(bad.as_bytes()).unwrap_err();
        assert_eq!(
            err.path(),
            "/soap:Envelope/soap:Body/m:GetUserAvailabilityRequest/m:MailboxDataArray/t:MailboxData/t:AttendeeType"
        );

        let bad = req.replacen("<Month>10</Month>", "", 1);
        let err = Envelope::parse(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("missing element t:Month"), "{err}");
        assert_eq!(err.path(), "/soap:Envelope/soap:Body/m:GetUserAvailabilityRequest/t:TimeZone/t:StandardTime");

        let no_array = req.replace("<MailboxDataArray>", "<Other>").replace("</MailboxDataArray>", "</Other>");
        let err = Envelope::parse(no_array.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("missing element m:MailboxDataArray"), "{err}");
    }
}
