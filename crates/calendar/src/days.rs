//! Dates as day numbers (days since 1970-01-01), so that the pattern arithmetic is plain integer
//! arithmetic. The conversions follow the proleptic Gregorian calendar (the well-known
//! "days from civil" construction: shift the year to start in March so that the leap day is
//! the last day of the shifted year).

use jiff::civil::Date;

/// Smallest and largest day numbers this module converts: the years 1..=9999 (the range of
/// dates a calendar item can sensibly have; jiff accepts a little more).
pub(crate) const MIN_DAY: i64 = -719_162; // 0001-01-01
pub(crate) const MAX_DAY: i64 = 2_932_896; // 9999-12-31

/// Days since 1970-01-01 of a civil date.
pub(crate) fn day_number(d: Date) -> i64 {
    from_ymd(i64::from(d.year()), i64::from(d.month()), i64::from(d.day()))
}

/// Days since 1970-01-01 of year/month/day (month 1..=12, day 1..=31; not checked).
pub(crate) fn from_ymd(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1; // 0..=365
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // 0..=146096
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number, `None` outside [`MIN_DAY`]`..=`[`MAX_DAY`].
pub(crate) fn to_date(n: i64) -> Option<Date> {
    if !(MIN_DAY..=MAX_DAY).contains(&n) {
        return None;
    }
    let (y, m, d) = to_ymd(n);
    Date::new(y as i16, m as i8, d as i8).ok()
}

/// Year, month (1..=12) and day of a day number.
pub(crate) fn to_ymd(n: i64) -> (i64, i64, i64) {
    let z = n + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Day of the week, Sunday = 0 … Saturday = 6 (1970-01-01 was a Thursday).
pub(crate) fn weekday(n: i64) -> i64 {
    (n + 4).rem_euclid(7)
}

/// Number of days in a month of a year.
pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

pub(crate) fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn round_trips_against_jiff() {
        let epoch = date(1970, 1, 1);
        for d in [date(1970, 1, 1), date(2000, 2, 29), date(1900, 3, 1), date(2026, 12, 31), date(1, 1, 1)] {
            let n = day_number(d);
            assert_eq!(n, d.duration_since(epoch).as_secs() / 86_400, "{d}");
            assert_eq!(to_date(n), Some(d));
            assert_eq!(weekday(n), i64::from(d.weekday().to_sunday_zero_offset()), "{d}");
        }
        // Every day of a few centuries, consecutively.
        let mut d = date(1899, 12, 25);
        let mut n = day_number(d);
        while d < date(2101, 1, 5) {
            assert_eq!(to_date(n), Some(d));
            assert_eq!(i64::from(d.days_in_month()), days_in_month(i64::from(d.year()), i64::from(d.month())));
            d = d.tomorrow().unwrap();
            n += 1;
        }
        assert_eq!(to_date(MAX_DAY), Some(date(9999, 12, 31)));
        assert_eq!(to_date(MIN_DAY), Some(date(1, 1, 1)));
        assert_eq!(to_date(MAX_DAY + 1), None);
    }
}
