//! The one error type of the `tz` module.

use jiff::SignedDuration;

/// What was wrong with a time zone, a Windows id or a conversion.
///
/// Where a value inside a definition is at fault, `at` says where, e.g.
/// `transitions group "1", transition 2` (transitions are numbered from 1 in document order).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TzError {
    /// The id is not a Windows time zone id known to the CLDR table.
    #[error("unknown Windows time zone id {id:?}")]
    UnknownWindowsId { id: String },

    /// CLDR maps the Windows id to IANA names none of which the bundled tz database has.
    #[error(
        "Windows time zone {windows_id:?} maps to IANA zones the bundled tz database lacks \
         (tried {tried:?})"
    )]
    IanaZoneUnavailable { windows_id: String, tried: Vec<String> },

    /// A definition without periods whose id is not a known Windows id (or has no id at all).
    #[error(
        "time zone definition {id:?} has no periods and its Id is not a known Windows time zone \
         id"
    )]
    NoPeriods { id: Option<String> },

    /// Two periods share an id.
    #[error("time zone definition has two periods with Id {id:?}")]
    DuplicatePeriodId { id: String },

    /// Two transitions groups share an id.
    #[error("time zone definition has two transitions groups with Id {id:?}")]
    DuplicateGroupId { id: String },

    /// A transition targets a period that the definition does not have.
    #[error("{at}: targets period {id:?}, which the definition does not have")]
    UnknownPeriod { id: String, at: String },

    /// A transition targets a transitions group that the definition does not have.
    #[error("{at}: targets transitions group {id:?}, which the definition does not have")]
    UnknownGroup { id: String, at: String },

    /// A transition inside a transitions group targets a group instead of a period.
    #[error("{at}: a transition inside a transitions group must target a period, not group {id:?}")]
    GroupTargetInGroup { id: String, at: String },

    /// A period's bias is outside what a UTC offset can be (more than 24 hours either way) or has
    /// a fraction of a second.
    #[error("{at}: bias {bias} is not a whole number of seconds within ±24 hours")]
    BiasOutOfRange { bias: SignedDuration, at: String },

    /// A legacy bias (minutes) is outside ±24 hours.
    #[error("{at}: bias of {minutes} minutes is outside ±24 hours")]
    LegacyBiasOutOfRange { minutes: i64, at: String },

    /// A month is not in 1..=12.
    #[error("{at}: month {month} is not in 1..=12")]
    MonthOutOfRange { month: i64, at: String },

    /// An occurrence (week of the month) is not 1..=4, -1 (last) or 5 (also last).
    #[error("{at}: occurrence {occurrence} is not one of 1, 2, 3, 4, 5 or -1 (last)")]
    OccurrenceOutOfRange { occurrence: i64, at: String },

    /// A day of the month does not exist in that month, or is February 29, which no yearly rule
    /// can express.
    #[error("{at}: day {day} of month {month} is not a day every year has")]
    DayOutOfRange { day: i64, month: i64, at: String },

    /// A day of the week that is not one of Sunday..Saturday (`Day`, `Weekday`, `WeekendDay`) or
    /// none where one is needed.
    #[error("{at}: day of week {day_of_week} cannot place a time zone transition")]
    UnsupportedDayOfWeek { day_of_week: String, at: String },

    /// A transition's time of day is outside ±167 hours.
    #[error("{at}: time offset {offset} is outside ±167 hours")]
    TimeOffsetOutOfRange { offset: SignedDuration, at: String },

    /// The definition is well-formed but uses a shape no zone can be built from (e.g. three
    /// yearly transitions in one group, or an absolute-date transition inside a group).
    #[error("{at}: {reason}")]
    Unsupported { reason: String, at: String },

    /// The definition has several periods but nothing says when each applies.
    #[error(
        "time zone definition has {periods} periods but no transitions groups or transitions \
         saying when each applies"
    )]
    MissingTransitions { periods: usize },

    /// Two absolute-date transitions at the same moment.
    #[error("{at}: two absolute-date transitions at {date_time}")]
    DuplicateTransitionDate { date_time: jiff::civil::DateTime, at: String },

    /// The years spanned by the definition's transitions are too far apart to enumerate.
    #[error("time zone definition spans years {from}..={to}, more than {max} years")]
    SpanTooLong { from: i16, to: i16, max: i16 },

    /// A time zone could not be described for the year asked (`from_time_zone`).
    #[error("cannot describe time zone {zone} in {year}: {reason}")]
    NotRepresentable { zone: String, year: i16, reason: String },

    /// jiff refused a value built from the definition (out-of-range date, malformed rule).
    #[error("{context}: {source}")]
    Jiff {
        context: String,
        #[source]
        source: jiff::Error,
    },
}

impl TzError {
    pub(crate) fn jiff(context: impl Into<String>, source: jiff::Error) -> TzError {
        TzError::Jiff { context: context.into(), source }
    }
}
