//! A recurrence compiled into integer arithmetic on day numbers.
//!
//! Every pattern is a sequence of *periods* (period `q` = 0, 1, 2, …): `interval` days for
//! Daily, `interval` weeks for Weekly, `interval` months for the monthly patterns, one year for
//! the yearly ones. Period 0 is the one holding the range's start date. Every period yields
//! the same number `k` of pattern dates (1, or the number of weekdays of a weekly pattern),
//! except period 0, whose dates before the start date do not count (`c0 ≤ k` of them remain).
//! So the 1-based instance index of the `p`-th date of period `q ≥ 1` is `c0 + (q-1)·k + p + 1`,
//! and a window years after the start is reached in O(1), not by walking from the start.

use ews_proto::items::{DayOfWeek, DayOfWeekIndex, Month, Recurrence, RecurrencePattern, RecurrenceRange};

use crate::RecurrenceError;
use crate::days::{MAX_DAY, day_number, days_in_month, from_ymd, to_ymd, weekday};

/// Which days a relative pattern counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayGroup {
    /// One day of the week, Sunday = 0.
    One(i64),
    /// Any day (`Day`): the n-th day of the month.
    Any,
    /// Monday to Friday (`Weekday`).
    Weekday,
    /// Saturday and Sunday (`WeekendDay`).
    Weekend,
}

impl DayGroup {
    fn from_ews(d: DayOfWeek) -> DayGroup {
        match d {
            DayOfWeek::Sunday => DayGroup::One(0),
            DayOfWeek::Monday => DayGroup::One(1),
            DayOfWeek::Tuesday => DayGroup::One(2),
            DayOfWeek::Wednesday => DayGroup::One(3),
            DayOfWeek::Thursday => DayGroup::One(4),
            DayOfWeek::Friday => DayGroup::One(5),
            DayOfWeek::Saturday => DayGroup::One(6),
            DayOfWeek::Day => DayGroup::Any,
            DayOfWeek::Weekday => DayGroup::Weekday,
            DayOfWeek::WeekendDay => DayGroup::Weekend,
        }
    }

    fn contains(self, wd: i64) -> bool {
        match self {
            DayGroup::One(d) => d == wd,
            DayGroup::Any => true,
            DayGroup::Weekday => (1..=5).contains(&wd),
            DayGroup::Weekend => wd == 0 || wd == 6,
        }
    }

    /// The days of the week of a group (for weekly patterns), Sunday = 0.
    fn days(self) -> Vec<i64> {
        (0..7).filter(|&wd| self.contains(wd)).collect()
    }
}

/// The day a monthly or yearly pattern picks within a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayRule {
    /// Day of month 1..=31; in a shorter month, the last day of the month.
    Absolute(i64),
    /// The first..fourth or last day of `group` in the month.
    Relative { nth: Nth, group: DayGroup },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nth {
    /// 1..=4.
    Number(i64),
    Last,
}

impl Nth {
    fn from_ews(i: DayOfWeekIndex) -> Nth {
        match i {
            DayOfWeekIndex::First => Nth::Number(1),
            DayOfWeekIndex::Second => Nth::Number(2),
            DayOfWeekIndex::Third => Nth::Number(3),
            DayOfWeekIndex::Fourth => Nth::Number(4),
            DayOfWeekIndex::Last => Nth::Last,
        }
    }
}

impl DayRule {
    /// The day number picked in a month. Always exists: every month has at least four of each
    /// weekday, twenty weekdays and eight weekend days.
    fn in_month(self, year: i64, month: i64) -> i64 {
        let first = from_ymd(year, month, 1);
        let len = days_in_month(year, month);
        match self {
            DayRule::Absolute(d) => first + d.min(len) - 1,
            DayRule::Relative { nth: Nth::Number(n), group } => {
                let mut seen = 0;
                for day in first..first + len {
                    if group.contains(weekday(day)) {
                        seen += 1;
                        if seen == n {
                            return day;
                        }
                    }
                }
                unreachable!("every month has four days of every day group")
            }
            DayRule::Relative { nth: Nth::Last, group } => {
                (first..first + len).rev().find(|&d| group.contains(weekday(d))).expect("a month has every weekday")
            }
        }
    }
}

fn month_number(m: Month) -> i64 {
    Month::ALL.iter().position(|x| *x == m).expect("Month::ALL holds every month") as i64 + 1
}

fn positive_interval(interval: i32) -> Result<i64, RecurrenceError> {
    if interval >= 1 { Ok(i64::from(interval)) } else { Err(RecurrenceError::Interval(interval)) }
}

fn day_of_month(day: i32) -> Result<i64, RecurrenceError> {
    if (1..=31).contains(&day) { Ok(i64::from(day)) } else { Err(RecurrenceError::DayOfMonth(day)) }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Dates `start + q·interval`.
    Daily {
        interval: i64,
    },
    /// `week0` is the first day (per FirstDayOfWeek) of the week holding the start date;
    /// `offsets` are the chosen days as distances from the first day of the week, ascending.
    Weekly {
        interval: i64,
        week0: i64,
        offsets: Vec<i64>,
    },
    /// `month0` = year·12 + (month − 1) of the start date.
    Monthly {
        interval: i64,
        month0: i64,
        day: DayRule,
    },
    Yearly {
        year0: i64,
        month: i64,
        day: DayRule,
    },
}

/// The end of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    None,
    /// The last date that may hold an occurrence (inclusive).
    Date(i64),
    /// The number of occurrences, deleted ones included.
    Count(u64),
}

/// A compiled recurrence: pattern dates and their instance indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    kind: Kind,
    /// Day number of the range start date.
    start: i64,
    end: End,
    /// Dates of period 0 on or after the start date.
    c0: u64,
    /// Dates per period.
    k: u64,
}

/// The dates of one period, ascending (at most seven).
#[derive(Debug, Clone, Copy)]
struct PeriodDates {
    days: [i64; 7],
    len: usize,
}

impl PeriodDates {
    fn one(day: i64) -> Self {
        PeriodDates { days: [day, 0, 0, 0, 0, 0, 0], len: 1 }
    }
    fn as_slice(&self) -> &[i64] {
        &self.days[..self.len]
    }
}

impl Rule {
    pub(crate) fn new(recurrence: &Recurrence) -> Result<Rule, RecurrenceError> {
        let start = day_number(recurrence.range.start_date().date);
        let kind = match &recurrence.pattern {
            RecurrencePattern::Daily { interval } => Kind::Daily { interval: positive_interval(*interval)? },
            RecurrencePattern::Weekly { interval, days_of_week, first_day_of_week } => {
                let interval = positive_interval(*interval)?;
                let fdow = match first_day_of_week.map(DayGroup::from_ews) {
                    None => 0,
                    Some(DayGroup::One(d)) => d,
                    Some(_) => return Err(RecurrenceError::FirstDayOfWeek),
                };
                let mut offsets: Vec<i64> = days_of_week
                    .iter()
                    .flat_map(|d| DayGroup::from_ews(*d).days())
                    .map(|wd| (wd - fdow).rem_euclid(7))
                    .collect();
                offsets.sort_unstable();
                offsets.dedup();
                if offsets.is_empty() {
                    return Err(RecurrenceError::NoDaysOfWeek);
                }
                let week0 = start - (weekday(start) - fdow).rem_euclid(7);
                Kind::Weekly { interval, week0, offsets }
            }
            RecurrencePattern::AbsoluteMonthly { interval, day_of_month: day } => {
                let (y, m, _) = to_ymd(start);
                Kind::Monthly {
                    interval: positive_interval(*interval)?,
                    month0: y * 12 + m - 1,
                    day: DayRule::Absolute(day_of_month(*day)?),
                }
            }
            RecurrencePattern::RelativeMonthly { interval, days_of_week, day_of_week_index } => {
                let (y, m, _) = to_ymd(start);
                Kind::Monthly {
                    interval: positive_interval(*interval)?,
                    month0: y * 12 + m - 1,
                    day: DayRule::Relative {
                        nth: Nth::from_ews(*day_of_week_index),
                        group: DayGroup::from_ews(*days_of_week),
                    },
                }
            }
            RecurrencePattern::AbsoluteYearly { day_of_month: day, month } => Kind::Yearly {
                year0: to_ymd(start).0,
                month: month_number(*month),
                day: DayRule::Absolute(day_of_month(*day)?),
            },
            RecurrencePattern::RelativeYearly { days_of_week, day_of_week_index, month } => Kind::Yearly {
                year0: to_ymd(start).0,
                month: month_number(*month),
                day: DayRule::Relative {
                    nth: Nth::from_ews(*day_of_week_index),
                    group: DayGroup::from_ews(*days_of_week),
                },
            },
            RecurrencePattern::DailyRegeneration { .. }
            | RecurrencePattern::WeeklyRegeneration { .. }
            | RecurrencePattern::MonthlyRegeneration { .. }
            | RecurrencePattern::YearlyRegeneration { .. } => return Err(RecurrenceError::Regenerating),
        };
        let end = match &recurrence.range {
            RecurrenceRange::NoEnd { .. } => End::None,
            RecurrenceRange::EndDate { end_date, .. } => {
                let end = day_number(end_date.date);
                if end < start {
                    return Err(RecurrenceError::EndDateBeforeStart);
                }
                End::Date(end)
            }
            RecurrenceRange::Numbered { number_of_occurrences, .. } => {
                if *number_of_occurrences < 1 {
                    return Err(RecurrenceError::Count(*number_of_occurrences));
                }
                End::Count(*number_of_occurrences as u64)
            }
        };
        let mut rule = Rule { kind, start, end, c0: 0, k: 0 };
        rule.k = rule.period_dates(1).map_or(1, |p| p.len as u64);
        rule.c0 = rule.period_dates(0).map_or(0, |p| p.as_slice().iter().filter(|&&d| d >= start).count() as u64);
        Ok(rule)
    }

    /// The dates of period `q` (`q ≥ 0`), or `None` past the year 9999.
    fn period_dates(&self, q: i64) -> Option<PeriodDates> {
        let dates = match &self.kind {
            Kind::Daily { interval } => PeriodDates::one(self.start.checked_add(q.checked_mul(*interval)?)?),
            Kind::Weekly { interval, week0, offsets } => {
                let base = week0.checked_add(q.checked_mul(*interval)?.checked_mul(7)?)?;
                let mut p = PeriodDates { days: [0; 7], len: offsets.len() };
                for (slot, off) in p.days.iter_mut().zip(offsets) {
                    *slot = base + off;
                }
                p
            }
            Kind::Monthly { interval, month0, day } => {
                let m = month0.checked_add(q.checked_mul(*interval)?)?;
                let (y, mo) = (m.div_euclid(12), m.rem_euclid(12) + 1);
                if y > 9999 {
                    return None;
                }
                PeriodDates::one(day.in_month(y, mo))
            }
            Kind::Yearly { year0, month, day } => {
                let y = year0.checked_add(q)?;
                if y > 9999 {
                    return None;
                }
                PeriodDates::one(day.in_month(y, *month))
            }
        };
        if dates.as_slice().last().is_some_and(|&d| d > MAX_DAY) {
            return None;
        }
        Some(dates)
    }

    /// The period holding day `n` (may be negative, before period 0).
    fn period_of(&self, n: i64) -> i64 {
        match &self.kind {
            Kind::Daily { interval } => (n - self.start).div_euclid(*interval),
            Kind::Weekly { interval, week0, .. } => (n - week0).div_euclid(7).div_euclid(*interval),
            Kind::Monthly { interval, month0, .. } => {
                let (y, m, _) = to_ymd(n);
                (y * 12 + m - 1 - month0).div_euclid(*interval)
            }
            Kind::Yearly { year0, .. } => to_ymd(n).0 - year0,
        }
    }

    /// Instance indexes before period `q` (`q ≥ 0`).
    fn base(&self, q: i64) -> u64 {
        if q <= 0 { 0 } else { self.c0.saturating_add((q as u64 - 1).saturating_mul(self.k)) }
    }

    fn within_end(&self, index: u64, day: i64) -> bool {
        match self.end {
            End::None => true,
            End::Date(end) => day <= end,
            End::Count(n) => index <= n,
        }
    }

    /// The 1-based instance index of day `n` if it is a date of the series.
    pub(crate) fn index_of(&self, n: i64) -> Option<u64> {
        if n < self.start {
            return None;
        }
        let q = self.period_of(n);
        let dates = self.period_dates(q)?;
        let pos = dates.as_slice().iter().position(|&d| d == n)? as u64;
        let before_start = if q == 0 { dates.as_slice().iter().filter(|&&d| d < self.start).count() as u64 } else { 0 };
        let index = self.base(q) + pos - before_start + 1;
        self.within_end(index, n).then_some(index)
    }

    /// The date of instance `index` (1-based), if the range holds it.
    pub(crate) fn date_of(&self, index: u64) -> Option<i64> {
        if index == 0 {
            return None;
        }
        let (q, pos) = if index <= self.c0 {
            (0, (self.k - self.c0 + index - 1) as usize)
        } else {
            let rest = index - self.c0 - 1;
            (i64::try_from(1 + rest / self.k).ok()?, (rest % self.k) as usize)
        };
        let day = *self.period_dates(q)?.as_slice().get(pos)?;
        self.within_end(index, day).then_some(day)
    }

    /// The instance index and date of the last occurrence, `None` for a series without end.
    pub(crate) fn last(&self) -> Option<(u64, i64)> {
        match self.end {
            End::None => None,
            End::Count(n) => self.date_of(n).map(|d| (n, d)),
            End::Date(end) => {
                // The last date on or before `end`: look back through the period of `end`
                // and, if it holds none, the period before.
                let q = self.period_of(end).max(0);
                for q in [q, q - 1] {
                    if q < 0 {
                        break;
                    }
                    let dates = self.period_dates(q)?;
                    if let Some(&d) = dates.as_slice().iter().rev().find(|&&d| d <= end && d >= self.start) {
                        return self.index_of(d).map(|i| (i, d));
                    }
                }
                None
            }
        }
    }

    /// Dates of the series from day `from` on, with their instance indexes, ascending.
    pub(crate) fn iter_from(&self, from: i64) -> Iter<'_> {
        let from = from.max(self.start);
        let q = self.period_of(from).max(0);
        Iter { rule: self, q, pos: 0, from, index: self.base(q), dates: None, done: false }
    }
}

/// Iterator over `(index, day)` pairs; see [`Rule::iter_from`].
pub(crate) struct Iter<'a> {
    rule: &'a Rule,
    q: i64,
    pos: usize,
    /// Dates before this day are skipped (but counted).
    from: i64,
    /// Index of the last date passed.
    index: u64,
    dates: Option<PeriodDates>,
    done: bool,
}

impl Iterator for Iter<'_> {
    type Item = (u64, i64);

    fn next(&mut self) -> Option<(u64, i64)> {
        while !self.done {
            if self.dates.is_none() {
                match self.rule.period_dates(self.q) {
                    Some(d) => self.dates = Some(d),
                    None => {
                        self.done = true;
                        break;
                    }
                }
            }
            let dates = self.dates.expect("set above");
            let Some(&day) = dates.as_slice().get(self.pos) else {
                self.q += 1;
                self.pos = 0;
                self.dates = None;
                continue;
            };
            self.pos += 1;
            if day < self.rule.start {
                continue; // before the range: not an instance
            }
            self.index += 1;
            if !self.rule.within_end(self.index, day) {
                self.done = true;
                break;
            }
            if day >= self.from {
                return Some((self.index, day));
            }
        }
        None
    }
}
