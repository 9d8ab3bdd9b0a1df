//! A recurring series in a time zone and its occurrences in a window.

use std::collections::{HashMap, HashSet};

use ews_proto::items::Recurrence;
use jiff::civil::{self, Date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::RecurrenceError;
use crate::days::{day_number, to_date};
use crate::rule::Rule;

const DAY: SignedDuration = SignedDuration::from_hours(24);

/// One modified occurrence (an *exception*): the occurrence that would have started at
/// `original_start` starts at `start` and ends at `end` instead. Other overrides (subject,
/// location, …) are the caller's: [`Occurrence::modified`] says which entry applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModifiedOccurrence {
    pub original_start: Timestamp,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A recurring series: the first occurrence as wall-clock times in `time_zone`, the pattern
/// and range, its exceptions and its deleted occurrences.
///
/// * Occurrence dates come from the pattern, from `recurrence.range` start date on (its offset,
///   if any, is ignored). The time of day and the length come from `start` and `end`: every
///   occurrence starts at `start`'s wall-clock time on its date and ends at the same wall-clock
///   distance from that date's midnight as `end` is from `start`'s (as Exchange stores
///   `StartTimeOffset`/`EndTimeOffset` in minutes after local midnight). So a 09:00 meeting
///   in `Europe/Berlin` is at 09:00 local in winter and in summer.
/// * An all-day series starts at local midnight of each date and lasts the whole number of
///   days between the dates of `start` and `end` (at least one).
/// * Local times are turned into instants with jiff's `compatible` rule, the one RFC 5545 and
///   Outlook use: a time in a gap (spring forward, e.g. 02:30 on 29 March 2026 in Berlin) is
///   moved forward by the gap's length (03:30 CEST); a time in a fold (fall back, 02:30 on
///   25 October 2026) is the earlier of the two instants (02:30 CEST = 00:30 UTC).
/// * Deleted and modified occurrences are matched by the *local date* of their original
///   start in `time_zone`; an entry whose date is not an occurrence of the series is ignored.
///   A date both deleted and modified counts as deleted. Deleted occurrences keep their
///   instance index: they count toward a numbered range.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    pub time_zone: &'a TimeZone,
    /// Wall-clock start of the first occurrence (only its time of day is used, unless all-day).
    pub start: civil::DateTime,
    /// Wall-clock end of the first occurrence.
    pub end: civil::DateTime,
    pub is_all_day: bool,
    pub recurrence: &'a Recurrence,
    pub modified: &'a [ModifiedOccurrence],
    /// Original starts of deleted occurrences.
    pub deleted: &'a [Timestamp],
}

/// An occurrence of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// 1-based position in the series (EWS `OccurrenceItemId/@InstanceIndex`), counting deleted
    /// occurrences.
    pub index: u32,
    /// Where the pattern puts it.
    pub original_start: Timestamp,
    /// Where it actually is (differs for a moved exception).
    pub start: Timestamp,
    pub end: Timestamp,
    /// For an exception, the position of its entry in [`Series::modified`].
    pub modified: Option<usize>,
}

impl Occurrence {
    /// Whether this is a modified occurrence (`CalendarItemType` Exception, not Occurrence).
    pub fn is_exception(&self) -> bool {
        self.modified.is_some()
    }
}

/// Why an occurrence cannot be returned by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OccurrenceError {
    /// EWS `ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange`.
    #[error("occurrence index {0} is outside the recurrence range")]
    OutOfRange(u32),
    /// EWS `ErrorCalendarOccurrenceIsDeletedFromRecurrence`.
    #[error("occurrence {0} was deleted from the series")]
    Deleted(u32),
}

/// A series ready for queries: the pattern compiled, exceptions indexed by local date.
#[derive(Debug, Clone)]
pub struct Expander<'a> {
    series: Series<'a>,
    rule: Rule,
    start_offset: SignedDuration,
    end_offset: SignedDuration,
    /// Whole days an occurrence can reach beyond its date (for window look-back).
    span_days: i64,
    deleted: HashSet<i64>,
    /// Local date of the original start → entry in `series.modified`.
    modified: HashMap<i64, usize>,
}

impl<'a> Series<'a> {
    /// Validates the series and prepares it for queries.
    pub fn expander(&self) -> Result<Expander<'a>, RecurrenceError> {
        let rule = Rule::new(self.recurrence)?;
        if self.end < self.start {
            return Err(RecurrenceError::EndBeforeStart);
        }
        let (start_offset, end_offset) = if self.is_all_day {
            let days = (day_number(self.end.date()) - day_number(self.start.date())).max(1);
            (SignedDuration::ZERO, DAY * days as i32)
        } else {
            let midnight = self.start.date().to_datetime(civil::Time::midnight());
            (self.start.duration_since(midnight), self.end.duration_since(midnight))
        };
        let span_days = end_offset.as_secs().div_euclid(86_400) + 1;
        let tz = self.time_zone;
        let local_day = |ts: Timestamp| day_number(tz.to_datetime(ts).date());
        let deleted = self.deleted.iter().map(|&ts| local_day(ts)).collect();
        let modified = self.modified.iter().enumerate().map(|(i, m)| (local_day(m.original_start), i)).collect();
        Ok(Expander { series: *self, rule, start_offset, end_offset, span_days, deleted, modified })
    }

    /// Shorthand for `self.expander()?.expand(window_start, window_end)`.
    pub fn expand(&self, window_start: Timestamp, window_end: Timestamp) -> Result<Vec<Occurrence>, RecurrenceError> {
        Ok(self.expander()?.expand(window_start, window_end))
    }
}

impl Expander<'_> {
    fn local(&self, day: i64, offset: SignedDuration) -> Timestamp {
        let date = to_date(day).expect("rule dates are in range");
        let dt = date.to_datetime(civil::Time::midnight()).saturating_add(offset);
        self.series
            .time_zone
            .to_ambiguous_timestamp(dt)
            .compatible()
            .unwrap_or_else(|_| dt.to_zoned_datetime(TimeZone::UTC).map(|z| z.timestamp()).unwrap_or(Timestamp::MAX))
    }

    fn occurrence(&self, index: u64, day: i64) -> Option<Occurrence> {
        if self.deleted.contains(&day) {
            return None;
        }
        let index = u32::try_from(index).ok()?;
        let original_start = self.local(day, self.start_offset);
        Some(match self.modified.get(&day) {
            Some(&i) => {
                let m = &self.series.modified[i];
                Occurrence { index, original_start, start: m.start, end: m.end, modified: Some(i) }
            }
            None => Occurrence {
                index,
                original_start,
                start: original_start,
                end: self.local(day, self.end_offset),
                modified: None,
            },
        })
    }

    /// The occurrences (exceptions included, deleted ones left out) that overlap
    /// `[window_start, window_end)`: `start < window_end && end > window_start` (so an
    /// occurrence ending exactly at the window start is out, as in an EWS CalendarView),
    /// ordered by start, then instance index.
    ///
    /// The work is proportional to the number of pattern dates in the window plus the number
    /// of exceptions; where the window lies after the series start does not matter.
    pub fn expand(&self, window_start: Timestamp, window_end: Timestamp) -> Vec<Occurrence> {
        let mut out = Vec::new();
        if window_end <= window_start {
            return out;
        }
        let tz = self.series.time_zone;
        let first_day = day_number(tz.to_datetime(window_start).date()) - self.span_days - 1;
        let last_day = day_number(tz.to_datetime(window_end).date()) + 1;
        let overlaps = |o: &Occurrence| o.start < window_end && o.end > window_start;
        for (index, day) in self.rule.iter_from(first_day) {
            if day > last_day {
                break;
            }
            if self.modified.contains_key(&day) {
                continue; // exceptions are placed below, wherever they moved
            }
            if let Some(o) = self.occurrence(index, day).filter(overlaps) {
                out.push(o);
            }
        }
        for (&day, &i) in &self.modified {
            let m = &self.series.modified[i];
            if m.start >= window_end || m.end <= window_start {
                continue;
            }
            if let Some(o) = self.rule.index_of(day).and_then(|index| self.occurrence(index, day)) {
                out.push(o);
            }
        }
        out.sort_by_key(|o| (o.start, o.index));
        out
    }

    /// The occurrence with instance index `index` (1-based).
    pub fn occurrence_by_index(&self, index: u32) -> Result<Occurrence, OccurrenceError> {
        let day = self.rule.date_of(u64::from(index)).ok_or(OccurrenceError::OutOfRange(index))?;
        self.occurrence(u64::from(index), day).ok_or(OccurrenceError::Deleted(index))
    }

    /// The instance index of the occurrence originally starting on the local date of
    /// `original_start`, whether deleted or not; `None` if that date is not in the series.
    pub fn index_of(&self, original_start: Timestamp) -> Option<u32> {
        let day = day_number(self.series.time_zone.to_datetime(original_start).date());
        self.rule.index_of(day).and_then(|i| u32::try_from(i).ok())
    }

    /// The instance index of the occurrence on a local date, if the pattern has one there.
    pub fn index_on(&self, date: Date) -> Option<u32> {
        self.rule.index_of(day_number(date)).and_then(|i| u32::try_from(i).ok())
    }

    /// Where the pattern puts occurrence `index` (deleted or not).
    pub fn original_start_of(&self, index: u32) -> Option<Timestamp> {
        self.rule.date_of(u64::from(index)).map(|day| self.local(day, self.start_offset))
    }

    /// The first occurrence that is not deleted (EWS `FirstOccurrence`). Looks at most at
    /// `deleted.len() + 1` dates.
    pub fn first_occurrence(&self) -> Option<Occurrence> {
        self.rule.iter_from(i64::MIN / 4).take(self.deleted.len() + 1).find_map(|(i, d)| self.occurrence(i, d))
    }

    /// The last occurrence that is not deleted (EWS `LastOccurrence`); `None` for a series
    /// without end or when all are deleted.
    pub fn last_occurrence(&self) -> Option<Occurrence> {
        let (last, _) = self.rule.last()?;
        (0..=self.deleted.len() as u64)
            .map_while(|back| last.checked_sub(back).filter(|&i| i > 0))
            .find_map(|i| self.rule.date_of(i).and_then(|d| self.occurrence(i, d)))
    }

    /// The wall-clock length of one occurrence (all-day: whole days).
    pub fn duration(&self) -> SignedDuration {
        self.end_offset - self.start_offset
    }
}
