//! Recurrence patterns and ranges (`t:Recurrence` of a calendar item, `t:RecurrenceType`, and
//! of a task, `t:TaskRecurrenceType`), occurrence info.
//!
//! The schema types `Interval`, `DayOfMonth` and `NumberOfOccurrences` as plain `xs:int`;
//! meaningful values are `Interval >= 1`, `DayOfMonth` 1..=31 and `NumberOfOccurrences >= 1`,
//! and a weekly pattern needs at least one day. These are not checked when reading (the server
//! rejects nonsense with `ErrorInvalidRecurrence`); the forms of the values are.

use crate::error::{Error, ErrorKind, Result};
use crate::ids::ItemId;
use crate::values::{Date, DateTime};
use crate::xml::{Element, FromXml, Name, Ns, ToXml, Writer, XmlText, t};
use crate::xml_enum;

/// `t:DayOfWeekType`, including the grouped values EWS allows in relative patterns (the same
/// type time zone transitions use).
pub use crate::tz::DayOfWeek;

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

impl RecurrencePattern {
    /// The element name of the pattern (`WeeklyRecurrence`, `DailyRegeneration`, …).
    pub fn element_name(&self) -> &'static str {
        match self {
            RecurrencePattern::RelativeYearly { .. } => "RelativeYearlyRecurrence",
            RecurrencePattern::AbsoluteYearly { .. } => "AbsoluteYearlyRecurrence",
            RecurrencePattern::RelativeMonthly { .. } => "RelativeMonthlyRecurrence",
            RecurrencePattern::AbsoluteMonthly { .. } => "AbsoluteMonthlyRecurrence",
            RecurrencePattern::Weekly { .. } => "WeeklyRecurrence",
            RecurrencePattern::Daily { .. } => "DailyRecurrence",
            RecurrencePattern::DailyRegeneration { .. } => "DailyRegeneration",
            RecurrencePattern::WeeklyRegeneration { .. } => "WeeklyRegeneration",
            RecurrencePattern::MonthlyRegeneration { .. } => "MonthlyRegeneration",
            RecurrencePattern::YearlyRegeneration { .. } => "YearlyRegeneration",
        }
    }

    /// Whether this is one of the task-only regenerating patterns (not allowed in the
    /// recurrence of a calendar item).
    pub fn is_regenerating(&self) -> bool {
        matches!(
            self,
            RecurrencePattern::DailyRegeneration { .. }
                | RecurrencePattern::WeeklyRegeneration { .. }
                | RecurrencePattern::MonthlyRegeneration { .. }
                | RecurrencePattern::YearlyRegeneration { .. }
        )
    }

    /// Reads a pattern element; `None` if `el` is not one.
    pub fn read(el: &Element) -> Option<Result<Self>> {
        if el.ns != Ns::Types {
            return None;
        }
        let read = |f: fn(&Element) -> Result<RecurrencePattern>| Some(f(el));
        match el.name.as_str() {
            "RelativeYearlyRecurrence" => read(|el| {
                Ok(RecurrencePattern::RelativeYearly {
                    days_of_week: el.get_text_req(t("DaysOfWeek"))?,
                    day_of_week_index: el.get_text_req(t("DayOfWeekIndex"))?,
                    month: el.get_text_req(t("Month"))?,
                })
            }),
            "AbsoluteYearlyRecurrence" => read(|el| {
                Ok(RecurrencePattern::AbsoluteYearly {
                    day_of_month: el.get_text_req(t("DayOfMonth"))?,
                    month: el.get_text_req(t("Month"))?,
                })
            }),
            "RelativeMonthlyRecurrence" => read(|el| {
                Ok(RecurrencePattern::RelativeMonthly {
                    interval: el.get_text_req(t("Interval"))?,
                    days_of_week: el.get_text_req(t("DaysOfWeek"))?,
                    day_of_week_index: el.get_text_req(t("DayOfWeekIndex"))?,
                })
            }),
            "AbsoluteMonthlyRecurrence" => read(|el| {
                Ok(RecurrencePattern::AbsoluteMonthly {
                    interval: el.get_text_req(t("Interval"))?,
                    day_of_month: el.get_text_req(t("DayOfMonth"))?,
                })
            }),
            "WeeklyRecurrence" => read(|el| {
                Ok(RecurrencePattern::Weekly {
                    interval: el.get_text_req(t("Interval"))?,
                    days_of_week: el.get_text_req::<DaysOfWeek>(t("DaysOfWeek"))?.0,
                    first_day_of_week: el.get_text(t("FirstDayOfWeek"))?,
                })
            }),
            "DailyRecurrence" => read(|el| Ok(RecurrencePattern::Daily { interval: el.get_text_req(t("Interval"))? })),
            "DailyRegeneration" => {
                read(|el| Ok(RecurrencePattern::DailyRegeneration { interval: el.get_text_req(t("Interval"))? }))
            }
            "WeeklyRegeneration" => {
                read(|el| Ok(RecurrencePattern::WeeklyRegeneration { interval: el.get_text_req(t("Interval"))? }))
            }
            "MonthlyRegeneration" => {
                read(|el| Ok(RecurrencePattern::MonthlyRegeneration { interval: el.get_text_req(t("Interval"))? }))
            }
            "YearlyRegeneration" => {
                read(|el| Ok(RecurrencePattern::YearlyRegeneration { interval: el.get_text_req(t("Interval"))? }))
            }
            _ => None,
        }
    }

    /// Writes the pattern element with its own name, children in schema order.
    pub fn write(&self, w: &mut Writer) {
        w.start(t(self.element_name()));
        match self {
            RecurrencePattern::RelativeYearly { days_of_week, day_of_week_index, month } => {
                w.leaf_val(t("DaysOfWeek"), days_of_week)
                    .leaf_val(t("DayOfWeekIndex"), day_of_week_index)
                    .leaf_val(t("Month"), month);
            }
            RecurrencePattern::AbsoluteYearly { day_of_month, month } => {
                w.leaf_val(t("DayOfMonth"), day_of_month).leaf_val(t("Month"), month);
            }
            RecurrencePattern::RelativeMonthly { interval, days_of_week, day_of_week_index } => {
                w.leaf_val(t("Interval"), interval)
                    .leaf_val(t("DaysOfWeek"), days_of_week)
                    .leaf_val(t("DayOfWeekIndex"), day_of_week_index);
            }
            RecurrencePattern::AbsoluteMonthly { interval, day_of_month } => {
                w.leaf_val(t("Interval"), interval).leaf_val(t("DayOfMonth"), day_of_month);
            }
            RecurrencePattern::Weekly { interval, days_of_week, first_day_of_week } => {
                w.leaf_val(t("Interval"), interval)
                    .leaf_val(t("DaysOfWeek"), &DaysOfWeek(days_of_week.clone()))
                    .leaf_opt(t("FirstDayOfWeek"), first_day_of_week);
            }
            RecurrencePattern::Daily { interval }
            | RecurrencePattern::DailyRegeneration { interval }
            | RecurrencePattern::WeeklyRegeneration { interval }
            | RecurrencePattern::MonthlyRegeneration { interval }
            | RecurrencePattern::YearlyRegeneration { interval } => {
                w.leaf_val(t("Interval"), interval);
            }
        }
        w.end();
    }
}

/// `t:DaysOfWeekType`: a space-separated list of [`DayOfWeek`] values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DaysOfWeek(pub Vec<DayOfWeek>);

impl XmlText for DaysOfWeek {
    fn from_text(s: &str) -> std::result::Result<Self, String> {
        s.split_ascii_whitespace()
            .map(DayOfWeek::from_text)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(DaysOfWeek)
            .map_err(|e| format!("a space-separated list of days, each {e}"))
    }
    fn to_text(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Owned(self.0.iter().map(DayOfWeek::as_str).collect::<Vec<_>>().join(" "))
    }
}

impl RecurrenceRange {
    /// Reads a range element; `None` if `el` is not one.
    pub fn read(el: &Element) -> Option<Result<Self>> {
        if el.ns != Ns::Types {
            return None;
        }
        let read = |f: fn(&Element) -> Result<RecurrenceRange>| Some(f(el));
        match el.name.as_str() {
            "NoEndRecurrence" => read(|el| Ok(RecurrenceRange::NoEnd { start_date: el.get_text_req(t("StartDate"))? })),
            "EndDateRecurrence" => read(|el| {
                Ok(RecurrenceRange::EndDate {
                    start_date: el.get_text_req(t("StartDate"))?,
                    end_date: el.get_text_req(t("EndDate"))?,
                })
            }),
            "NumberedRecurrence" => read(|el| {
                Ok(RecurrenceRange::Numbered {
                    start_date: el.get_text_req(t("StartDate"))?,
                    number_of_occurrences: el.get_text_req(t("NumberOfOccurrences"))?,
                })
            }),
            _ => None,
        }
    }

    /// Writes the range element with its own name.
    pub fn write(&self, w: &mut Writer) {
        match self {
            RecurrenceRange::NoEnd { start_date } => {
                w.start(t("NoEndRecurrence")).leaf_val(t("StartDate"), start_date).end();
            }
            RecurrenceRange::EndDate { start_date, end_date } => {
                w.start(t("EndDateRecurrence"))
                    .leaf_val(t("StartDate"), start_date)
                    .leaf_val(t("EndDate"), end_date)
                    .end();
            }
            RecurrenceRange::Numbered { start_date, number_of_occurrences } => {
                w.start(t("NumberedRecurrence"))
                    .leaf_val(t("StartDate"), start_date)
                    .leaf_val(t("NumberOfOccurrences"), number_of_occurrences)
                    .end();
            }
        }
    }
}

impl FromXml for Recurrence {
    /// Reads `t:RecurrenceType` or `t:TaskRecurrenceType` (regenerating patterns accepted; the
    /// calendar item reader rejects them).
    fn from_xml(el: &Element) -> Result<Self> {
        let pattern = el
            .children
            .iter()
            .find_map(RecurrencePattern::read)
            .unwrap_or_else(|| Err(Error::missing("a recurrence pattern (t:WeeklyRecurrence, …)")))
            .map_err(|e| e.at(el))?;
        let range = el
            .children
            .iter()
            .find_map(RecurrenceRange::read)
            .unwrap_or_else(|| {
                Err(Error::missing(
                    "a recurrence range (t:NoEndRecurrence, t:EndDateRecurrence or t:NumberedRecurrence)",
                ))
            })
            .map_err(|e| e.at(el))?;
        Ok(Recurrence { pattern, range })
    }
}

impl ToXml for Recurrence {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        self.pattern.write(w);
        self.range.write(w);
        w.end();
    }
}

impl Recurrence {
    /// Reads the `t:Recurrence` of a calendar item: like [`FromXml`], but a task-only
    /// regenerating pattern is an error.
    pub fn read_calendar(el: &Element) -> Result<Self> {
        let r = Recurrence::from_xml(el)?;
        if r.pattern.is_regenerating() {
            return Err(Error::new(ErrorKind::Unexpected {
                found: format!("t:{}", r.pattern.element_name()),
                expected: "a calendar recurrence pattern (regenerating patterns are for tasks only)".into(),
            })
            .at(el));
        }
        Ok(r)
    }
}

impl FromXml for OccurrenceInfo {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(OccurrenceInfo {
            item_id: el.get_req(t("ItemId"))?,
            start: el.get_text_req(t("Start"))?,
            end: el.get_text_req(t("End"))?,
            original_start: el.get_text_req(t("OriginalStart"))?,
        })
    }
}

impl ToXml for OccurrenceInfo {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .child(t("ItemId"), &self.item_id)
            .leaf_val(t("Start"), &self.start)
            .leaf_val(t("End"), &self.end)
            .leaf_val(t("OriginalStart"), &self.original_start)
            .end();
    }
}

impl FromXml for DeletedOccurrence {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(DeletedOccurrence { start: el.get_text_req(t("Start"))? })
    }
}

impl ToXml for DeletedOccurrence {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).leaf_val(t("Start"), &self.start).end();
    }
}
