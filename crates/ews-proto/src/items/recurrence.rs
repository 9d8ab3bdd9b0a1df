//! Recurrence patterns and ranges (`t:Recurrence`, `t:TaskRecurrence`), occurrence info.

use crate::ids::ItemId;
use crate::values::{Date, DateTime};
use crate::xml_enum;

xml_enum! {
    /// `t:DayOfWeekType`, including the grouped values EWS allows in relative patterns.
    pub enum DayOfWeek { Sunday, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Day, Weekday, WeekendDay }
}

xml_enum! {
    /// `t:DayOfWeekIndexType`.
    pub enum DayOfWeekIndex { First, Second, Third, Fourth, Last }
}

xml_enum! {
    /// `t:MonthNamesType`.
    pub enum Month { January, February, March, April, May, June, July, August, September, October, November, December }
}

/// A recurrence pattern (`RecurrencePatternTypes`; tasks add the regenerating ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecurrencePattern {
    /// `t:RelativeYearlyRecurrence`: e.g. the last Monday of May.
    RelativeYearly {
        days_of_week: DayOfWeek,
        day_of_week_index: DayOfWeekIndex,
        month: Month,
    },
    /// `t:AbsoluteYearlyRecurrence`: e.g. 14 February.
    AbsoluteYearly {
        day_of_month: i32,
        month: Month,
    },
    /// `t:RelativeMonthlyRecurrence`: e.g. every 2 months on the first Tuesday.
    RelativeMonthly {
        interval: i32,
        days_of_week: DayOfWeek,
        day_of_week_index: DayOfWeekIndex,
    },
    /// `t:AbsoluteMonthlyRecurrence`: e.g. every month on the 15th.
    AbsoluteMonthly {
        interval: i32,
        day_of_month: i32,
    },
    /// `t:WeeklyRecurrence`: every `interval` weeks on the listed days (space-separated in XML).
    Weekly {
        interval: i32,
        days_of_week: Vec<DayOfWeek>,
        first_day_of_week: Option<DayOfWeek>,
    },
    /// `t:DailyRecurrence`.
    Daily {
        interval: i32,
    },
    /// Task-only regenerating patterns (`t:DailyRegeneration` …): the next task is due
    /// `interval` units after the previous one is completed.
    DailyRegeneration {
        interval: i32,
    },
    WeeklyRegeneration {
        interval: i32,
    },
    MonthlyRegeneration {
        interval: i32,
    },
    YearlyRegeneration {
        interval: i32,
    },
}

/// A recurrence range (`RecurrenceRangeTypes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecurrenceRange {
    NoEnd { start_date: Date },
    EndDate { start_date: Date, end_date: Date },
    Numbered { start_date: Date, number_of_occurrences: i32 },
}

impl RecurrenceRange {
    pub fn start_date(&self) -> Date {
        match self {
            RecurrenceRange::NoEnd { start_date }
            | RecurrenceRange::EndDate { start_date, .. }
            | RecurrenceRange::Numbered { start_date, .. } => *start_date,
        }
    }
}

/// `t:Recurrence` / `t:TaskRecurrence`: a pattern and a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    pub pattern: RecurrencePattern,
    pub range: RecurrenceRange,
}

/// `t:OccurrenceInfoType` (`FirstOccurrence`, `LastOccurrence`, `ModifiedOccurrences/Occurrence`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OccurrenceInfo {
    pub item_id: ItemId,
    pub start: DateTime,
    pub end: DateTime,
    pub original_start: DateTime,
}

/// `t:DeletedOccurrences/t:DeletedOccurrence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedOccurrence {
    pub start: DateTime,
}
