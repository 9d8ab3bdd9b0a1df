//! Recurrence expansion: every pattern and range, time zones and DST, month ends, exceptions,
//! numbered ranges with deletions, and a property test against a naive day-by-day model.

use std::time::Instant;

use ews_proto::items::{DayOfWeek, DayOfWeekIndex, Month, Recurrence, RecurrencePattern, RecurrenceRange};
use ews_proto::values::Date as XDate;
use exbridge_calendar::{ModifiedOccurrence, Occurrence, OccurrenceError, RecurrenceError, Series};
use jiff::civil::{self, Date, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn no_end(start: Date) -> RecurrenceRange {
    RecurrenceRange::NoEnd { start_date: XDate::new(start) }
}

fn end_date(start: Date, end: Date) -> RecurrenceRange {
    RecurrenceRange::EndDate { start_date: XDate::new(start), end_date: XDate::new(end) }
}

fn numbered(start: Date, n: i32) -> RecurrenceRange {
    RecurrenceRange::Numbered { start_date: XDate::new(start), number_of_occurrences: n }
}

fn rec(pattern: RecurrencePattern, range: RecurrenceRange) -> Recurrence {
    Recurrence { pattern, range }
}

fn daily(interval: i32) -> RecurrencePattern {
    RecurrencePattern::Daily { interval }
}

fn weekly(interval: i32, days: &[DayOfWeek], first: Option<DayOfWeek>) -> RecurrencePattern {
    RecurrencePattern::Weekly { interval, days_of_week: days.to_vec(), first_day_of_week: first }
}

/// A series from `start` to `end` wall-clock in `zone`, no exceptions.
struct Fixture {
    zone: TimeZone,
    start: civil::DateTime,
    end: civil::DateTime,
    all_day: bool,
    recurrence: Recurrence,
    modified: Vec<ModifiedOccurrence>,
    deleted: Vec<Timestamp>,
}

impl Fixture {
    fn new(zone: &str, start: civil::DateTime, end: civil::DateTime, recurrence: Recurrence) -> Self {
        Fixture { zone: tz(zone), start, end, all_day: false, recurrence, modified: vec![], deleted: vec![] }
    }

    fn series(&self) -> Series<'_> {
        Series {
            time_zone: &self.zone,
            start: self.start,
            end: self.end,
            is_all_day: self.all_day,
            recurrence: &self.recurrence,
            modified: &self.modified,
            deleted: &self.deleted,
        }
    }

    fn expand(&self, from: &str, to: &str) -> Vec<Occurrence> {
        self.series().expand(ts(from), ts(to)).unwrap()
    }

    /// Local start dates of the occurrences in a window.
    fn dates(&self, from: &str, to: &str) -> Vec<Date> {
        self.expand(from, to).iter().map(|o| self.zone.to_datetime(o.start).date()).collect()
    }

    fn local_start(&self, o: &Occurrence) -> civil::DateTime {
        self.zone.to_datetime(o.start)
    }
}

fn at(d: Date, h: i8, m: i8) -> civil::DateTime {
    d.to_datetime(civil::time(h, m, 0, 0))
}

fn utc_strings(occ: &[Occurrence]) -> Vec<String> {
    occ.iter().map(|o| o.start.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Daily

#[test]
fn daily_every_day_no_end() {
    let f = Fixture::new(
        "UTC",
        at(date(2026, 1, 1), 9, 0),
        at(date(2026, 1, 1), 10, 0),
        rec(daily(1), no_end(date(2026, 1, 1))),
    );
    let occ = f.expand("2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z");
    assert_eq!(utc_strings(&occ), ["2026-01-01T09:00:00Z", "2026-01-02T09:00:00Z", "2026-01-03T09:00:00Z"]);
    assert_eq!(occ.iter().map(|o| o.index).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(occ.iter().all(|o| o.end.duration_since(o.start) == SignedDuration::from_hours(1) && !o.is_exception()));
    // A window a year later: indexes keep counting from the series start.
    let occ = f.expand("2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z");
    assert_eq!(occ.len(), 1);
    assert_eq!(occ[0].index, 366);
    assert_eq!(occ[0].start, ts("2027-01-01T09:00:00Z"));
}

#[test]
fn daily_interval_end_date_is_inclusive() {
    let f = Fixture::new(
        "UTC",
        at(date(2026, 3, 1), 8, 0),
        at(date(2026, 3, 1), 8, 30),
        rec(daily(3), end_date(date(2026, 3, 1), date(2026, 3, 10))),
    );
    assert_eq!(
        f.dates("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        [date(2026, 3, 1), date(2026, 3, 4), date(2026, 3, 7), date(2026, 3, 10)]
    );
    let x = f.series().expander().unwrap();
    assert_eq!(x.last_occurrence().unwrap().index, 4);
    assert_eq!(x.first_occurrence().unwrap().start, ts("2026-03-01T08:00:00Z"));
}

#[test]
fn daily_numbered_counts_deleted_occurrences() {
    let mut f = Fixture::new(
        "Europe/Berlin",
        at(date(2026, 5, 4), 9, 0),
        at(date(2026, 5, 4), 9, 15),
        rec(daily(1), numbered(date(2026, 5, 4), 5)),
    );
    // Delete the second occurrence (5 May 09:00 CEST = 07:00 UTC).
    f.deleted.push(ts("2026-05-05T07:00:00Z"));
    let occ = f.expand("2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z");
    assert_eq!(occ.iter().map(|o| o.index).collect::<Vec<_>>(), [1, 3, 4, 5]);
    assert_eq!(f.local_start(occ.last().unwrap()).date(), date(2026, 5, 8), "deleting does not extend the series");
    let x = f.series().expander().unwrap();
    assert_eq!(x.occurrence_by_index(2), Err(OccurrenceError::Deleted(2)));
    assert_eq!(x.occurrence_by_index(6), Err(OccurrenceError::OutOfRange(6)));
    assert_eq!(x.occurrence_by_index(0), Err(OccurrenceError::OutOfRange(0)));
    assert_eq!(x.occurrence_by_index(5).unwrap().start, ts("2026-05-08T07:00:00Z"));
    assert_eq!(x.index_of(ts("2026-05-05T07:00:00Z")), Some(2), "a deleted occurrence keeps its index");
    assert_eq!(x.original_start_of(2), Some(ts("2026-05-05T07:00:00Z")));
    // Deleting the last one makes the one before it the last.
    f.deleted.push(ts("2026-05-08T07:00:00Z"));
    let x = f.series().expander().unwrap();
    assert_eq!(x.last_occurrence().unwrap().index, 4);
    // Deleting the first makes the second the first… which is deleted too, so the third.
    f.deleted.push(ts("2026-05-04T07:00:00Z"));
    let x = f.series().expander().unwrap();
    assert_eq!(x.first_occurrence().unwrap().index, 3);
}

#[test]
fn no_end_daily_over_two_years_far_from_start_is_fast() {
    // Started in the year 1000; a two-year window in 2026. Walking day by day from the start
    // would take 374,000 steps per call; the expansion jumps to the window.
    let f = Fixture::new(
        "America/New_York",
        at(date(1000, 1, 1), 7, 0),
        at(date(1000, 1, 1), 7, 30),
        rec(daily(1), no_end(date(1000, 1, 1))),
    );
    let begin = Instant::now();
    let mut total = 0;
    for _ in 0..20 {
        total += f.expand("2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z").len();
    }
    let elapsed = begin.elapsed();
    assert_eq!(total, 20 * 730);
    assert!(elapsed.as_secs_f64() < 2.0, "20 expansions took {elapsed:?}");
    let occ = f.expand("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    assert_eq!(occ.len(), 1);
    assert_eq!(f.local_start(&occ[0]), at(date(2026, 1, 1), 7, 0));
    let expected = date(2026, 1, 1).duration_since(date(1000, 1, 1)).as_hours() / 24 + 1;
    assert_eq!(i64::from(occ[0].index), expected);
}

// ---------------------------------------------------------------------------------------------
// Weekly

#[test]
fn weekly_several_days() {
    use DayOfWeek::*;
    let f = Fixture::new(
        "UTC",
        at(date(2026, 1, 7), 10, 0), // a Wednesday
        at(date(2026, 1, 7), 11, 0),
        rec(weekly(1, &[Monday, Wednesday, Friday], None), no_end(date(2026, 1, 7))),
    );
    assert_eq!(
        f.dates("2026-01-01T00:00:00Z", "2026-01-17T00:00:00Z"),
        [date(2026, 1, 7), date(2026, 1, 9), date(2026, 1, 12), date(2026, 1, 14), date(2026, 1, 16)]
    );
    let occ = f.expand("2026-01-12T00:00:00Z", "2026-01-13T00:00:00Z");
    assert_eq!(occ[0].index, 3, "Monday 12 Jan is the third occurrence (5 Jan was before the start)");
}

#[test]
fn weekly_interval_depends_on_first_day_of_week() {
    use DayOfWeek::*;
    // Start on Sunday 4 January 2026, every two weeks on Sunday and Monday.
    let start = date(2026, 1, 4);
    let mk = |first| {
        Fixture::new("UTC", at(start, 9, 0), at(start, 10, 0), rec(weekly(2, &[Sunday, Monday], first), no_end(start)))
    };
    // Weeks start on Sunday: Sun 4 + Mon 5 are one week; then Sun 18 + Mon 19.
    assert_eq!(
        mk(Some(Sunday)).dates("2026-01-01T00:00:00Z", "2026-01-25T00:00:00Z"),
        [date(2026, 1, 4), date(2026, 1, 5), date(2026, 1, 18), date(2026, 1, 19)]
    );
    assert_eq!(
        mk(None).dates("2026-01-01T00:00:00Z", "2026-01-25T00:00:00Z"),
        mk(Some(Sunday)).dates("2026-01-01T00:00:00Z", "2026-01-25T00:00:00Z"),
        "Sunday is the default"
    );
    // Weeks start on Monday: Sun 4 closes the week of 29 Dec; the next selected week is the one
    // of Mon 12 (Mon 12, Sun 18), then the week of Mon 26.
    assert_eq!(
        mk(Some(Monday)).dates("2026-01-01T00:00:00Z", "2026-02-02T00:00:00Z"),
        [date(2026, 1, 4), date(2026, 1, 12), date(2026, 1, 18), date(2026, 1, 26), date(2026, 2, 1)]
    );
}

#[test]
fn weekly_day_groups_expand_to_their_days() {
    let start = date(2026, 2, 2); // Monday
    let f = Fixture::new(
        "UTC",
        at(start, 9, 0),
        at(start, 9, 30),
        rec(weekly(1, &[DayOfWeek::Weekday], None), numbered(start, 7)),
    );
    assert_eq!(
        f.dates("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        [
            date(2026, 2, 2),
            date(2026, 2, 3),
            date(2026, 2, 4),
            date(2026, 2, 5),
            date(2026, 2, 6),
            date(2026, 2, 9),
            date(2026, 2, 10)
        ]
    );
    let f = Fixture::new(
        "UTC",
        at(start, 9, 0),
        at(start, 9, 30),
        rec(weekly(1, &[DayOfWeek::WeekendDay], None), numbered(start, 3)),
    );
    assert_eq!(
        f.dates("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        [date(2026, 2, 7), date(2026, 2, 8), date(2026, 2, 14)]
    );
}

#[test]
fn weekly_keeps_wall_clock_across_european_dst() {
    // W. Europe Standard Time = Europe/Berlin: CET (+01) until 29 March 2026, CEST (+02) after,
    // CET again from 25 October 2026.
    let start = date(2026, 3, 16); // Monday
    let f = Fixture::new(
        "Europe/Berlin",
        at(start, 9, 0),
        at(start, 10, 0),
        rec(weekly(1, &[DayOfWeek::Monday], None), no_end(start)),
    );
    let occ = f.expand("2026-03-16T00:00:00Z", "2026-04-07T00:00:00Z");
    assert_eq!(
        utc_strings(&occ),
        ["2026-03-16T08:00:00Z", "2026-03-23T08:00:00Z", "2026-03-30T07:00:00Z", "2026-04-06T07:00:00Z"]
    );
    assert!(occ.iter().all(|o| f.local_start(o).time() == civil::time(9, 0, 0, 0)));
    let occ = f.expand("2026-10-19T00:00:00Z", "2026-10-27T00:00:00Z");
    assert_eq!(utc_strings(&occ), ["2026-10-19T07:00:00Z", "2026-10-26T08:00:00Z"]);
}

#[test]
fn weekly_keeps_wall_clock_across_southern_dst() {
    // Australia/Sydney (AUS Eastern Standard Time): AEDT (+11) until 5 April 2026 03:00, AEST
    // (+10) until 4 October 2026 02:00, AEDT again.
    let start = date(2026, 3, 30); // Monday
    let f = Fixture::new(
        "Australia/Sydney",
        at(start, 9, 0),
        at(start, 10, 0),
        rec(weekly(1, &[DayOfWeek::Monday], None), no_end(start)),
    );
    let occ = f.expand("2026-03-29T00:00:00Z", "2026-04-08T00:00:00Z");
    assert_eq!(utc_strings(&occ), ["2026-03-29T22:00:00Z", "2026-04-05T23:00:00Z"]);
    let occ = f.expand("2026-09-27T00:00:00Z", "2026-10-07T00:00:00Z");
    assert_eq!(utc_strings(&occ), ["2026-09-27T23:00:00Z", "2026-10-04T22:00:00Z"]);
}

#[test]
fn nonexistent_and_ambiguous_local_times_are_compatible() {
    // Daily at 02:30 Berlin: on 29 March 2026 02:30 does not exist (clocks jump 02:00 → 03:00):
    // it moves forward by the gap to 03:30 CEST = 01:30 UTC. On 25 October 2026 02:30 happens
    // twice: the earlier (CEST, 00:30 UTC) is taken.
    let start = date(2026, 3, 27);
    let f = Fixture::new("Europe/Berlin", at(start, 2, 30), at(start, 3, 0), rec(daily(1), no_end(start)));
    let occ = f.expand("2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z");
    assert_eq!(
        utc_strings(&occ),
        ["2026-03-27T01:30:00Z", "2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"]
    );
    // The end (03:00) exists on 29 March: 01:00 UTC, before the moved start. The occurrence
    // then has a negative length; it is kept (Exchange shows it) but ends before it starts.
    let gap = &occ[2];
    assert_eq!(gap.end, ts("2026-03-29T01:00:00Z"));
    let occ = f.expand("2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z");
    assert_eq!(utc_strings(&occ), ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]);
}

// ---------------------------------------------------------------------------------------------
// Monthly

#[test]
fn absolute_monthly_31st_falls_on_the_last_day_of_shorter_months() {
    let start = date(2026, 1, 31);
    let f = Fixture::new(
        "UTC",
        at(start, 12, 0),
        at(start, 13, 0),
        rec(RecurrencePattern::AbsoluteMonthly { interval: 1, day_of_month: 31 }, no_end(start)),
    );
    let dates = f.dates("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    assert_eq!(
        dates,
        [
            date(2026, 1, 31),
            date(2026, 2, 28),
            date(2026, 3, 31),
            date(2026, 4, 30),
            date(2026, 5, 31),
            date(2026, 6, 30),
            date(2026, 7, 31),
            date(2026, 8, 31),
            date(2026, 9, 30),
            date(2026, 10, 31),
            date(2026, 11, 30),
            date(2026, 12, 31)
        ]
    );
    assert_eq!(f.dates("2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z"), [date(2028, 2, 29)], "leap year");
}

#[test]
fn absolute_monthly_interval_and_start_after_the_day() {
    // Every 2 months on the 5th, from 20 January: January's 5th is before the start, so the
    // first occurrence is 5 March.
    let start = date(2026, 1, 20);
    let f = Fixture::new(
        "UTC",
        at(start, 9, 0),
        at(start, 9, 30),
        rec(RecurrencePattern::AbsoluteMonthly { interval: 2, day_of_month: 5 }, numbered(start, 3)),
    );
    assert_eq!(
        f.dates("2026-01-01T00:00:00Z", "2027-06-01T00:00:00Z"),
        [date(2026, 3, 5), date(2026, 5, 5), date(2026, 7, 5)]
    );
    let occ = f.expand("2026-01-01T00:00:00Z", "2027-06-01T00:00:00Z");
    assert_eq!(occ.iter().map(|o| o.index).collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn relative_monthly_every_index_and_day_group() {
    use DayOfWeek::*;
    use DayOfWeekIndex::*;
    // March 2026: Sunday 1 … Tuesday 31. Weekends: 1, 7, 8, 14, 15, 21, 22, 28, 29.
    let cases: &[(DayOfWeek, DayOfWeekIndex, Date)] = &[
        (Monday, First, date(2026, 3, 2)),
        (Monday, Second, date(2026, 3, 9)),
        (Monday, Third, date(2026, 3, 16)),
        (Monday, Fourth, date(2026, 3, 23)),
        (Monday, Last, date(2026, 3, 30)),
        (Sunday, First, date(2026, 3, 1)),
        (Sunday, Last, date(2026, 3, 29)),
        (Tuesday, Last, date(2026, 3, 31)),
        (Day, First, date(2026, 3, 1)),
        (Day, Third, date(2026, 3, 3)),
        (Day, Last, date(2026, 3, 31)),
        (Weekday, First, date(2026, 3, 2)),
        (Weekday, Second, date(2026, 3, 3)),
        (Weekday, Fourth, date(2026, 3, 5)),
        (Weekday, Last, date(2026, 3, 31)),
        (WeekendDay, First, date(2026, 3, 1)),
        (WeekendDay, Second, date(2026, 3, 7)),
        (WeekendDay, Fourth, date(2026, 3, 14)),
        (WeekendDay, Last, date(2026, 3, 29)),
    ];
    for &(day, index, expected) in cases {
        let start = date(2026, 3, 1);
        let f = Fixture::new(
            "UTC",
            at(start, 9, 0),
            at(start, 10, 0),
            rec(
                RecurrencePattern::RelativeMonthly { interval: 1, days_of_week: day, day_of_week_index: index },
                no_end(start),
            ),
        );
        let dates = f.dates("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
        assert_eq!(dates, [expected], "{day:?} {index:?}");
    }
    // Last weekday of every 3rd month: 31 Mar, 30 Jun (Tue), 30 Sep (Wed), 31 Dec (Thu) 2026.
    let start = date(2026, 3, 1);
    let f = Fixture::new(
        "UTC",
        at(start, 17, 0),
        at(start, 18, 0),
        rec(
            RecurrencePattern::RelativeMonthly { interval: 3, days_of_week: Weekday, day_of_week_index: Last },
            no_end(start),
        ),
    );
    assert_eq!(
        f.dates("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        [date(2026, 3, 31), date(2026, 6, 30), date(2026, 9, 30), date(2026, 12, 31)]
    );
}

// ---------------------------------------------------------------------------------------------
// Yearly

#[test]
fn absolute_yearly_february_29() {
    let start = date(2024, 2, 29);
    let mut f = Fixture::new(
        "UTC",
        at(start, 0, 0),
        at(date(2024, 3, 1), 0, 0),
        rec(RecurrencePattern::AbsoluteYearly { day_of_month: 29, month: Month::February }, numbered(start, 5)),
    );
    f.all_day = true;
    assert_eq!(
        f.dates("2020-01-01T00:00:00Z", "2040-01-01T00:00:00Z"),
        [date(2024, 2, 29), date(2025, 2, 28), date(2026, 2, 28), date(2027, 2, 28), date(2028, 2, 29)]
    );
    let x = f.series().expander().unwrap();
    assert_eq!(x.last_occurrence().unwrap().start, ts("2028-02-29T00:00:00Z"));
}

#[test]
fn absolute_yearly_starting_after_this_years_date() {
    let start = date(2026, 6, 1);
    let f = Fixture::new(
        "UTC",
        at(start, 9, 0),
        at(start, 10, 0),
        rec(
            RecurrencePattern::AbsoluteYearly { day_of_month: 14, month: Month::February },
            end_date(start, date(2029, 2, 14)),
        ),
    );
    assert_eq!(
        f.dates("2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z"),
        [date(2027, 2, 14), date(2028, 2, 14), date(2029, 2, 14)]
    );
    let occ = f.expand("2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z");
    assert_eq!(occ[0].index, 1);
}

#[test]
fn relative_yearly() {
    use DayOfWeek::*;
    use DayOfWeekIndex::*;
    let start = date(2026, 1, 1);
    let memorial = Fixture::new(
        "America/New_York",
        at(start, 0, 0),
        at(date(2026, 1, 2), 0, 0),
        rec(
            RecurrencePattern::RelativeYearly { days_of_week: Monday, day_of_week_index: Last, month: Month::May },
            no_end(start),
        ),
    );
    let mut memorial = memorial;
    memorial.all_day = true;
    assert_eq!(
        memorial.dates("2026-01-01T00:00:00Z", "2029-01-01T00:00:00Z"),
        [date(2026, 5, 25), date(2027, 5, 31), date(2028, 5, 29)]
    );
    let thanksgiving = Fixture::new(
        "America/New_York",
        at(start, 12, 0),
        at(start, 15, 0),
        rec(
            RecurrencePattern::RelativeYearly {
                days_of_week: Thursday,
                day_of_week_index: Fourth,
                month: Month::November,
            },
            numbered(start, 2),
        ),
    );
    assert_eq!(
        thanksgiving.dates("2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),
        [date(2026, 11, 26), date(2027, 11, 25)]
    );
    let first_weekend_day_of_august = Fixture::new(
        "UTC",
        at(start, 10, 0),
        at(start, 11, 0),
        rec(
            RecurrencePattern::RelativeYearly {
                days_of_week: WeekendDay,
                day_of_week_index: First,
                month: Month::August,
            },
            numbered(start, 2),
        ),
    );
    // 1 August 2026 is a Saturday; 1 August 2027 a Sunday.
    assert_eq!(
        first_weekend_day_of_august.dates("2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),
        [date(2026, 8, 1), date(2027, 8, 1)]
    );
}

// ---------------------------------------------------------------------------------------------
// All-day, windows, exceptions

#[test]
fn all_day_series_starts_at_local_midnight_across_dst() {
    let start = date(2026, 3, 28);
    let mut f =
        Fixture::new("Europe/Berlin", at(start, 0, 0), at(date(2026, 3, 29), 0, 0), rec(daily(1), numbered(start, 3)));
    f.all_day = true;
    let occ = f.expand("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
    assert_eq!(utc_strings(&occ), ["2026-03-27T23:00:00Z", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"]);
    // 29 March is a 23-hour day in Berlin.
    assert_eq!(occ[1].end, ts("2026-03-29T22:00:00Z"));
    assert!(occ.iter().all(|o| f.local_start(o).time() == civil::Time::midnight()));
    // Times of day on an all-day series are ignored.
    f.start = at(start, 10, 0);
    f.end = at(date(2026, 3, 30), 3, 0);
    let occ = f.expand("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
    assert_eq!(occ[0].end.duration_since(occ[0].start), SignedDuration::from_hours(47), "two days, one of them 23 h");
}

#[test]
fn window_edges_follow_calendar_view() {
    let start = date(2026, 1, 1);
    let f = Fixture::new("UTC", at(start, 9, 0), at(start, 10, 0), rec(daily(1), no_end(start)));
    // Ends exactly at the window start: out. Starts exactly at the window end: out.
    assert!(f.expand("2026-01-02T10:00:00Z", "2026-01-03T09:00:00Z").is_empty());
    // Overlapping either edge: in.
    assert_eq!(f.expand("2026-01-02T09:59:00Z", "2026-01-03T09:00:00Z").len(), 1);
    assert_eq!(f.expand("2026-01-02T10:00:00Z", "2026-01-03T09:00:01Z").len(), 1);
    // Empty and reversed windows.
    assert!(f.expand("2026-01-02T10:00:00Z", "2026-01-02T10:00:00Z").is_empty());
    assert!(f.expand("2026-01-05T00:00:00Z", "2026-01-02T00:00:00Z").is_empty());
}

#[test]
fn long_occurrences_reaching_into_the_window_are_found() {
    // A three-day (non all-day) occurrence every week: Monday 09:00 to Thursday 09:00.
    let start = date(2026, 1, 5);
    let f = Fixture::new(
        "UTC",
        at(start, 9, 0),
        at(date(2026, 1, 8), 9, 0),
        rec(weekly(1, &[DayOfWeek::Monday], None), no_end(start)),
    );
    let occ = f.expand("2026-01-14T00:00:00Z", "2026-01-14T01:00:00Z"); // a Wednesday
    assert_eq!(utc_strings(&occ), ["2026-01-12T09:00:00Z"]);
    assert_eq!(occ[0].index, 2);
}

#[test]
fn exceptions_moved_into_and_out_of_the_window() {
    let start = date(2026, 6, 1); // Monday
    let mut f = Fixture::new("Europe/Berlin", at(start, 9, 0), at(start, 10, 0), rec(daily(1), numbered(start, 10)));
    // Occurrence 3 (3 June 09:00 CEST) moved to 20 June, outside the series and the window.
    f.modified.push(ModifiedOccurrence {
        original_start: ts("2026-06-03T07:00:00Z"),
        start: ts("2026-06-20T12:00:00Z"),
        end: ts("2026-06-20T13:00:00Z"),
    });
    // Occurrence 9 (9 June) moved into the window, to 2 June 14:00.
    f.modified.push(ModifiedOccurrence {
        original_start: ts("2026-06-09T07:00:00Z"),
        start: ts("2026-06-02T12:00:00Z"),
        end: ts("2026-06-02T12:30:00Z"),
    });
    // Occurrence 4 changed in place (later by an hour).
    f.modified.push(ModifiedOccurrence {
        original_start: ts("2026-06-04T07:00:00Z"),
        start: ts("2026-06-04T08:00:00Z"),
        end: ts("2026-06-04T09:00:00Z"),
    });
    // A modification whose original start is not an occurrence is ignored.
    f.modified.push(ModifiedOccurrence {
        original_start: ts("2026-07-04T07:00:00Z"),
        start: ts("2026-06-02T00:00:00Z"),
        end: ts("2026-06-02T01:00:00Z"),
    });
    let occ = f.expand("2026-06-01T00:00:00Z", "2026-06-05T00:00:00Z");
    let got: Vec<(u32, String, bool)> = occ.iter().map(|o| (o.index, o.start.to_string(), o.is_exception())).collect();
    assert_eq!(
        got,
        [
            (1, "2026-06-01T07:00:00Z".to_string(), false),
            (2, "2026-06-02T07:00:00Z".to_string(), false),
            (9, "2026-06-02T12:00:00Z".to_string(), true),
            (4, "2026-06-04T08:00:00Z".to_string(), true),
        ]
    );
    assert_eq!(occ[2].original_start, ts("2026-06-09T07:00:00Z"));
    assert_eq!(occ[2].modified, Some(1));
    // The moved-out one appears where it went.
    let later = f.expand("2026-06-20T00:00:00Z", "2026-06-21T00:00:00Z");
    assert_eq!(later.len(), 1);
    assert_eq!((later[0].index, later[0].modified), (3, Some(0)));
    // Its original slot and the moved-in one's original slot are empty.
    assert!(f.expand("2026-06-03T00:00:00Z", "2026-06-04T00:00:00Z").is_empty());
    assert!(f.expand("2026-06-09T00:00:00Z", "2026-06-10T00:00:00Z").is_empty());
    // occurrence_by_index reports the exception.
    let x = f.series().expander().unwrap();
    assert_eq!(x.occurrence_by_index(9).unwrap().start, ts("2026-06-02T12:00:00Z"));
    // Deleted wins over modified.
    f.deleted.push(ts("2026-06-09T07:00:00Z"));
    assert_eq!(f.expand("2026-06-02T00:00:00Z", "2026-06-03T00:00:00Z").len(), 1);
}

#[test]
fn invalid_recurrences_are_errors() {
    let start = date(2026, 1, 1);
    let check = |pattern: RecurrencePattern, range: RecurrenceRange, err: RecurrenceError| {
        let f = Fixture::new("UTC", at(start, 9, 0), at(start, 10, 0), rec(pattern, range));
        assert_eq!(f.series().expander().unwrap_err(), err);
    };
    check(daily(0), no_end(start), RecurrenceError::Interval(0));
    check(
        RecurrencePattern::AbsoluteMonthly { interval: 1, day_of_month: 32 },
        no_end(start),
        RecurrenceError::DayOfMonth(32),
    );
    check(
        RecurrencePattern::AbsoluteYearly { day_of_month: 0, month: Month::May },
        no_end(start),
        RecurrenceError::DayOfMonth(0),
    );
    check(weekly(1, &[], None), no_end(start), RecurrenceError::NoDaysOfWeek);
    check(weekly(1, &[DayOfWeek::Monday], Some(DayOfWeek::Weekday)), no_end(start), RecurrenceError::FirstDayOfWeek);
    check(daily(1), numbered(start, 0), RecurrenceError::Count(0));
    check(daily(1), end_date(start, date(2025, 12, 31)), RecurrenceError::EndDateBeforeStart);
    check(RecurrencePattern::DailyRegeneration { interval: 1 }, no_end(start), RecurrenceError::Regenerating);
    let f = Fixture::new("UTC", at(start, 10, 0), at(start, 9, 0), rec(daily(1), no_end(start)));
    assert_eq!(f.series().expander().unwrap_err(), RecurrenceError::EndBeforeStart);
}

#[test]
fn end_date_with_no_occurrence_in_its_week() {
    // Weekly on Monday from Wednesday 7 Jan; range ends Sunday 11 Jan: no occurrence at all.
    let start = date(2026, 1, 7);
    let f = Fixture::new(
        "UTC",
        at(start, 9, 0),
        at(start, 10, 0),
        rec(weekly(1, &[DayOfWeek::Monday], None), end_date(start, date(2026, 1, 11))),
    );
    assert!(f.dates("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z").is_empty());
    let x = f.series().expander().unwrap();
    assert_eq!(x.first_occurrence(), None);
    assert_eq!(x.last_occurrence(), None);
    assert_eq!(x.occurrence_by_index(1), Err(OccurrenceError::OutOfRange(1)));
}

// ---------------------------------------------------------------------------------------------
// Property test: the expansion equals a naive day-by-day model.

/// Whether `d` is a date of the pattern, decided directly from the definition (no periods).
fn naive_matches(p: &RecurrencePattern, start: Date, d: Date) -> bool {
    fn wd(d: Date) -> i64 {
        i64::from(d.weekday().to_sunday_zero_offset())
    }
    fn days(a: Date, b: Date) -> i64 {
        b.duration_since(a).as_hours() / 24
    }
    fn in_group(g: DayOfWeek, d: Date) -> bool {
        let w = wd(d);
        match g {
            DayOfWeek::Day => true,
            DayOfWeek::Weekday => (1..=5).contains(&w),
            DayOfWeek::WeekendDay => w == 0 || w == 6,
            one => DayOfWeek::ALL.iter().position(|x| *x == one).unwrap() as i64 == w,
        }
    }
    fn nth_in_month(g: DayOfWeek, idx: DayOfWeekIndex, d: Date) -> bool {
        if !in_group(g, d) {
            return false;
        }
        let month_days: Vec<Date> = (1..=d.days_in_month())
            .map(|n| d.first_of_month().checked_add(jiff::Span::new().days(n - 1)).unwrap())
            .filter(|x| in_group(g, *x))
            .collect();
        match idx {
            DayOfWeekIndex::Last => *month_days.last().unwrap() == d,
            i => month_days[DayOfWeekIndex::ALL.iter().position(|x| *x == i).unwrap()] == d,
        }
    }
    fn months(a: Date, b: Date) -> i64 {
        (i64::from(b.year()) * 12 + i64::from(b.month())) - (i64::from(a.year()) * 12 + i64::from(a.month()))
    }
    fn month_no(m: Month) -> i8 {
        Month::ALL.iter().position(|x| *x == m).unwrap() as i8 + 1
    }
    match p {
        RecurrencePattern::Daily { interval } => days(start, d) % i64::from(*interval) == 0,
        RecurrencePattern::Weekly { interval, days_of_week, first_day_of_week } => {
            let fd = first_day_of_week.map_or(0, |f| DayOfWeek::ALL.iter().position(|x| *x == f).unwrap() as i64);
            let week_start = |x: Date| x.checked_sub(jiff::Span::new().days((wd(x) - fd).rem_euclid(7))).unwrap();
            days_of_week.iter().any(|g| in_group(*g, d))
                && (days(week_start(start), week_start(d)) / 7) % i64::from(*interval) == 0
        }
        RecurrencePattern::AbsoluteMonthly { interval, day_of_month } => {
            months(start, d) % i64::from(*interval) == 0 && d.day() == (*day_of_month as i8).min(d.days_in_month())
        }
        RecurrencePattern::RelativeMonthly { interval, days_of_week, day_of_week_index } => {
            months(start, d) % i64::from(*interval) == 0 && nth_in_month(*days_of_week, *day_of_week_index, d)
        }
        RecurrencePattern::AbsoluteYearly { day_of_month, month } => {
            d.month() == month_no(*month) && d.day() == (*day_of_month as i8).min(d.days_in_month())
        }
        RecurrencePattern::RelativeYearly { days_of_week, day_of_week_index, month } => {
            d.month() == month_no(*month) && nth_in_month(*days_of_week, *day_of_week_index, d)
        }
        _ => unreachable!(),
    }
}

/// Occurrences (index, local date) from the start date up to `until`, day by day.
fn naive_dates(r: &Recurrence, until: Date) -> Vec<(u32, Date)> {
    let start = r.range.start_date().date;
    let mut out = Vec::new();
    let mut d = start;
    let mut index = 0u32;
    while d <= until {
        if naive_matches(&r.pattern, start, d) {
            index += 1;
            match &r.range {
                RecurrenceRange::NoEnd { .. } => {}
                RecurrenceRange::EndDate { end_date, .. } if d > end_date.date => break,
                RecurrenceRange::Numbered { number_of_occurrences, .. } if index > *number_of_occurrences as u32 => {
                    break;
                }
                _ => {}
            }
            out.push((index, d));
        }
        d = d.tomorrow().unwrap();
    }
    out
}

fn arb_day() -> impl Strategy<Value = DayOfWeek> {
    proptest::sample::select(DayOfWeek::ALL.to_vec())
}

fn arb_pattern() -> impl Strategy<Value = RecurrencePattern> {
    let idx = proptest::sample::select(DayOfWeekIndex::ALL.to_vec());
    let month = proptest::sample::select(Month::ALL.to_vec());
    prop_oneof![
        (1..10i32).prop_map(|interval| RecurrencePattern::Daily { interval }),
        (1..4i32, proptest::collection::vec(arb_day(), 1..4), proptest::option::of(0..7usize)).prop_map(
            |(interval, days, f)| {
                RecurrencePattern::Weekly {
                    interval,
                    days_of_week: days,
                    first_day_of_week: f.map(|i| DayOfWeek::ALL[i]),
                }
            }
        ),
        (1..4i32, 1..32i32)
            .prop_map(|(interval, day_of_month)| RecurrencePattern::AbsoluteMonthly { interval, day_of_month }),
        (1..4i32, arb_day(), idx.clone()).prop_map(|(interval, days_of_week, day_of_week_index)| {
            RecurrencePattern::RelativeMonthly { interval, days_of_week, day_of_week_index }
        }),
        (1..32i32, month.clone())
            .prop_map(|(day_of_month, month)| RecurrencePattern::AbsoluteYearly { day_of_month, month }),
        (arb_day(), idx, month).prop_map(|(days_of_week, day_of_week_index, month)| {
            RecurrencePattern::RelativeYearly { days_of_week, day_of_week_index, month }
        }),
    ]
}

fn arb_zone() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec![
        "UTC",
        "Europe/Berlin",
        "America/Los_Angeles",
        "Australia/Sydney",
        "Asia/Kolkata",
        "America/Santiago",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn expansion_matches_naive_model(
        start_off in 0..800i64,
        pattern in arb_pattern(),
        range_seed in 0..3u8,
        range_n in 0..900i64,
        zone in arb_zone(),
        hour in 0..24i8,
        minutes in 0..(3 * 24 * 60i64),
        window_off in 0..700i64,
        window_len in 1..400i64,
        deleted_picks in proptest::collection::vec(0..40usize, 0..4),
    ) {
        let start = date(2025, 1, 1).checked_add(jiff::Span::new().days(start_off)).unwrap();
        let range = match range_seed {
            0 => no_end(start),
            1 => end_date(start, start.checked_add(jiff::Span::new().days(range_n)).unwrap()),
            _ => numbered(start, 1 + (range_n % 60) as i32),
        };
        let r = rec(pattern, range);
        let zone_tz = tz(zone);
        let s = at(start, hour, 0);
        let e = s.checked_add(SignedDuration::from_mins(minutes)).unwrap();
        let window_start = date(2025, 1, 1).checked_add(jiff::Span::new().days(window_off)).unwrap().to_datetime(civil::Time::midnight()).to_zoned_datetime(TimeZone::UTC).unwrap().timestamp();
        let window_end = window_start.checked_add(SignedDuration::from_hours(24 * window_len)).unwrap();

        // Naive reference: every occurrence up to the window end plus slack.
        let until = date(2025, 1, 1).checked_add(jiff::Span::new().days(window_off + window_len + 2)).unwrap();
        let all = naive_dates(&r, until);
        let deleted: Vec<Timestamp> = deleted_picks.iter().filter_map(|&i| all.get(i)).map(|(_, d)| zone_tz.to_ambiguous_timestamp(d.to_datetime(s.time())).compatible().unwrap()).collect();
        let f = Fixture { zone: zone_tz.clone(), start: s, end: e, all_day: false, recurrence: r.clone(), modified: vec![], deleted: deleted.clone() };
        let got = f.series().expand(window_start, window_end).unwrap();

        let to_ts = |d: Date, dt: civil::DateTime| {
            let midnight = s.date().to_datetime(civil::Time::midnight());
            let local = d.to_datetime(civil::Time::midnight()).checked_add(dt.duration_since(midnight)).unwrap();
            zone_tz.to_ambiguous_timestamp(local).compatible().unwrap()
        };
        let mut expected: Vec<(u32, Timestamp, Timestamp)> = all
            .iter()
            .filter(|(_, d)| !deleted.contains(&to_ts(*d, s)))
            .map(|&(i, d)| (i, to_ts(d, s), to_ts(d, e)))
            .filter(|(_, a, b)| *a < window_end && *b > window_start)
            .collect();
        expected.sort_by_key(|(i, a, _)| (*a, *i));
        let got_t: Vec<(u32, Timestamp, Timestamp)> = got.iter().map(|o| (o.index, o.start, o.end)).collect();
        prop_assert_eq!(&got_t, &expected);

        // Sorted, inside the window, within a numbered range.
        prop_assert!(got.windows(2).all(|w| (w[0].start, w[0].index) <= (w[1].start, w[1].index)));
        prop_assert!(got.iter().all(|o| o.start < window_end && o.end > window_start));
        if let RecurrenceRange::Numbered { number_of_occurrences, .. } = r.range {
            prop_assert!(got.iter().all(|o| o.index as i32 <= number_of_occurrences));
        }

        // Index lookups agree with the naive list.
        let x = f.series().expander().unwrap();
        for &(i, d) in all.iter().take(12) {
            prop_assert_eq!(x.index_on(d), Some(i));
            prop_assert_eq!(x.original_start_of(i), Some(to_ts(d, s)));
        }
        if let Some(&(i, d)) = all.last()
            && !matches!(r.range, RecurrenceRange::NoEnd { .. }) && naive_dates(&r, until.checked_add(jiff::Span::new().days(3000)).unwrap()).len() == all.len() {
                // The whole series fits: LastOccurrence is the last one not deleted.
                let last = x.last_occurrence().map(|o| o.index);
                let naive_last = all.iter().rev().find(|(_, d)| !deleted.contains(&to_ts(*d, s))).map(|(i, _)| *i);
                prop_assert_eq!(last, naive_last, "last of {:?}, {} {}", r, i, d);
            }
    }
}
