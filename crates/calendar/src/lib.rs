//! # exbridge-calendar: calendar domain logic
//!
//! Pure functions shared by the Exchange simulator and the connector; no I/O.
//!
//! * [`Series`]: a recurring series (an EWS `t:Recurrence` with its modified and deleted
//!   occurrences) in a real time zone, expanded into the [`Occurrence`]s that overlap a
//!   window, as an EWS `CalendarView` does. Every pattern (Daily, Weekly, AbsoluteMonthly,
//!   RelativeMonthly, AbsoluteYearly, RelativeYearly) and range (NoEnd, EndDate, Numbered).
//! * [`presence`]: a user's presence (busy, current and next event, automatic replies) at an
//!   instant, computed from expanded occurrences and OOF settings, and the next instant it can
//!   change; see that module for its rules.
//! * [`join`]: the online-meeting join link (Teams, Zoom, Webex, Google Meet, GoToMeeting,
//!   Jitsi) in an event's location or body, see [`join::JoinDetector`].
//!
//! ## The rules implemented
//!
//! * **Wall-clock time.** Occurrences keep their local time across daylight-saving changes: a
//!   weekly 09:00 meeting in W. Europe is at 09:00 local in January and in July (08:00 UTC,
//!   then 07:00 UTC). Nonexistent and ambiguous local times follow jiff's `compatible` rule
//!   (forward over a gap, the earlier instant in a fold); see [`Series`].
//! * **Day of month past the end of the month.** An absolute monthly or yearly pattern on day
//!   29, 30 or 31 falls on the *last day* of a shorter month: "day 31 of every month" is
//!   30 April, 28 or 29 February; "every 29 February" is 28 February in common years. This is
//!   what Outlook tells the user when such a pattern is saved ("Some months have fewer than 31
//!   days. For these months, the occurrence will fall on the last day of the month.") and what
//!   [MS-OXOCAL] describes for the recurrence blob.
//! * **Relative patterns.** `First`..`Fourth` and `Last` of a day of the week, or of a day
//!   group: `Day` (the n-th / last day of the month), `Weekday` (Monday–Friday), `WeekendDay`
//!   (Saturday, Sunday). Every month has at least four of each, so every month has exactly one
//!   occurrence.
//! * **Weekly.** Every `interval` weeks on the listed days; weeks begin on `FirstDayOfWeek`
//!   (Sunday when absent), which decides which weeks an interval above 1 selects. Day groups in
//!   the list stand for their days.
//! * **Intervals** are counted from the period (day, week, month) holding the range's start
//!   date; pattern dates before the start date are not occurrences, and the first occurrence is
//!   the first pattern date on or after it. The yearly patterns recur every year.
//! * **Ranges.** `EndDate` includes occurrences on the end date. `Numbered` counts the first N
//!   pattern dates, deleted occurrences included (as Exchange does: deleting an occurrence
//!   does not extend the series).
//! * **Instance indexes** are 1-based (EWS `InstanceIndex`, the first occurrence is 1) and
//!   count deleted occurrences too.
//! * **Limits.** Dates stop at the year 9999. Expanding a window costs the number of pattern
//!   dates inside it plus the number of exceptions, however far the window lies from the
//!   series start.

mod days;
pub mod join;
pub mod presence;
mod rule;
mod series;

pub use series::{Expander, ModifiedOccurrence, Occurrence, OccurrenceError, Series};

/// A recurrence that cannot be expanded. Maps to EWS `ErrorCalendarInvalidRecurrence` (and
/// `ErrorCalendarEndDateIsEarlierThanStartDate` for [`RecurrenceError::EndBeforeStart`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecurrenceError {
    #[error("the recurrence interval must be at least 1, not {0}")]
    Interval(i32),
    #[error("the day of the month must be in 1..=31, not {0}")]
    DayOfMonth(i32),
    #[error("a weekly recurrence needs at least one day of the week")]
    NoDaysOfWeek,
    #[error("the first day of the week must be a single day (Sunday..Saturday)")]
    FirstDayOfWeek,
    #[error("the number of occurrences must be at least 1, not {0}")]
    Count(i32),
    #[error("the end date of the recurrence is before its start date")]
    EndDateBeforeStart,
    #[error("the end of the first occurrence is before its start")]
    EndBeforeStart,
    #[error("regenerating patterns (task recurrences) have no fixed occurrences to expand")]
    Regenerating,
}
