//! Scalar values as EWS writes them: booleans, numbers, xs:dateTime, xs:date, xs:time,
//! xs:duration, and a macro for the schema's string enumerations.

use std::borrow::Cow;
use std::fmt;

use jiff::civil;
use jiff::tz::Offset;
use jiff::{SignedDuration, Timestamp};

use crate::xml::XmlText;

impl XmlText for String {
    fn from_text(s: &str) -> Result<Self, String> {
        Ok(s.to_string())
    }
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl XmlText for bool {
    fn from_text(s: &str) -> Result<Self, String> {
        match s {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err("a boolean (true, false, 1 or 0)".into()),
        }
    }
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(if *self { "true" } else { "false" })
    }
}

macro_rules! int_text {
    ($($t:ty),*) => {$(
        impl XmlText for $t {
            fn from_text(s: &str) -> Result<Self, String> {
                s.parse().map_err(|_| format!("an integer in {}..={}", <$t>::MIN, <$t>::MAX))
            }
            fn to_text(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
        }
    )*};
}
int_text!(i8, u8, i16, u16, i32, u32, i64, u64);

/// Declares a string enumeration of the EWS schema. Unknown values are an error naming the
/// accepted ones.
#[macro_export]
macro_rules! xml_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident $(= $text:literal)?),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in schema order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as written in XML.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $crate::xml_enum!(@text $variant $($text)?)),+ }
            }
        }

        impl $crate::xml::XmlText for $name {
            fn from_text(s: &str) -> Result<Self, String> {
                match s {
                    $($crate::xml_enum!(@text $variant $($text)?) => Ok($name::$variant),)+
                    _ => Err(format!("one of {}", [$($crate::xml_enum!(@text $variant $($text)?)),+].join(", "))),
                }
            }
            fn to_text(&self) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed(self.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                <$name as $crate::xml::XmlText>::from_text(s)
            }
        }
    };
    (@text $variant:ident $text:literal) => { $text };
    (@text $variant:ident) => { stringify!($variant) };
}

/// An xs:dateTime as EWS sends it: a civil date-time and, almost always, an offset (`Z` or
/// `±hh:mm`). Requests may omit the offset; then the item's `StartTimeZone`, the request's
/// `TimeZoneContext`, or UTC applies (see DIGEST §7), which is for the caller to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    pub civil: civil::DateTime,
    pub offset: Option<Offset>,
}

impl DateTime {
    /// A UTC instant (written with `Z`).
    pub fn utc(ts: Timestamp) -> Self {
        DateTime { civil: Offset::UTC.to_datetime(ts), offset: Some(Offset::UTC) }
    }

    /// An instant shown at the given offset.
    pub fn at_offset(ts: Timestamp, offset: Offset) -> Self {
        DateTime { civil: offset.to_datetime(ts), offset: Some(offset) }
    }

    /// A floating local time (no offset).
    pub fn floating(civil: civil::DateTime) -> Self {
        DateTime { civil, offset: None }
    }

    /// The instant, if the value carries an offset.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.offset.and_then(|o| o.to_timestamp(self.civil).ok())
    }

    /// The instant, interpreting a floating value in `tz`.
    pub fn timestamp_in(&self, tz: &jiff::tz::TimeZone) -> Option<Timestamp> {
        match self.timestamp() {
            Some(ts) => Some(ts),
            None => tz.to_ambiguous_timestamp(self.civil).compatible().ok(),
        }
    }
}

impl From<Timestamp> for DateTime {
    fn from(ts: Timestamp) -> Self {
        DateTime::utc(ts)
    }
}

fn fmt_offset(offset: Offset) -> String {
    if offset == Offset::UTC {
        return "Z".to_string();
    }
    let secs = offset.seconds();
    let sign = if secs < 0 { '-' } else { '+' };
    let secs = secs.unsigned_abs();
    format!("{sign}{:02}:{:02}", secs / 3600, (secs % 3600) / 60)
}

/// Splits a trailing `Z` / `±hh:mm` from an xs:date, xs:time or xs:dateTime lexical value.
fn split_offset(s: &str) -> Result<(&str, Option<Offset>), ()> {
    if let Some(rest) = s.strip_suffix('Z') {
        return Ok((rest, Some(Offset::UTC)));
    }
    if s.len() > 6 {
        let (head, tail) = s.split_at(s.len() - 6);
        let b = tail.as_bytes();
        if (b[0] == b'+' || b[0] == b'-') && b[3] == b':' {
            let h: i32 = tail[1..3].parse().map_err(|_| ())?;
            let m: i32 = tail[4..6].parse().map_err(|_| ())?;
            if h > 14 || m > 59 {
                return Err(());
            }
            let secs = (h * 3600 + m * 60) * if b[0] == b'-' { -1 } else { 1 };
            let off = Offset::from_seconds(secs).map_err(|_| ())?;
            return Ok((head, Some(off)));
        }
    }
    Ok((s, None))
}

impl XmlText for DateTime {
    fn from_text(s: &str) -> Result<Self, String> {
        const EXPECTED: &str = "an xs:dateTime such as 2026-03-29T09:00:00Z";
        let (head, offset) = split_offset(s).map_err(|_| EXPECTED.to_string())?;
        if !head.contains('T') {
            return Err(EXPECTED.into());
        }
        let civil: civil::DateTime = head.parse().map_err(|_| EXPECTED.to_string())?;
        Ok(DateTime { civil, offset })
    }
    fn to_text(&self) -> Cow<'_, str> {
        let mut s = self.civil.strftime("%Y-%m-%dT%H:%M:%S").to_string();
        let ns = self.civil.subsec_nanosecond();
        if ns != 0 {
            let frac = format!("{:09}", ns);
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        if let Some(o) = self.offset {
            s.push_str(&fmt_offset(o));
        }
        Cow::Owned(s)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// An xs:date, optionally with an offset (EWS writes recurrence start dates as `2014-03-08-08:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Date {
    pub date: civil::Date,
    pub offset: Option<Offset>,
}

impl Date {
    pub fn new(date: civil::Date) -> Self {
        Date { date, offset: None }
    }
}

impl From<civil::Date> for Date {
    fn from(date: civil::Date) -> Self {
        Date::new(date)
    }
}

impl XmlText for Date {
    fn from_text(s: &str) -> Result<Self, String> {
        const EXPECTED: &str = "an xs:date such as 2026-03-29 or 2026-03-29-08:00";
        let (head, offset) = split_offset(s).map_err(|_| EXPECTED.to_string())?;
        if head.len() != 10 {
            return Err(EXPECTED.into());
        }
        let date: civil::Date = head.parse().map_err(|_| EXPECTED.to_string())?;
        Ok(Date { date, offset })
    }
    fn to_text(&self) -> Cow<'_, str> {
        let mut s = self.date.strftime("%Y-%m-%d").to_string();
        if let Some(o) = self.offset {
            s.push_str(&fmt_offset(o));
        }
        Cow::Owned(s)
    }
}

/// An xs:time (`02:00:00`), used by time zone transitions and OOF/availability structures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Time(pub civil::Time);

impl XmlText for Time {
    fn from_text(s: &str) -> Result<Self, String> {
        s.parse::<civil::Time>().map(Time).map_err(|_| "an xs:time such as 02:00:00".to_string())
    }
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.strftime("%H:%M:%S").to_string())
    }
}

/// An xs:duration without years or months (EWS uses it for biases, offsets and durations:
/// `-PT8H`, `PT1H30M`, `P1D`). Stored as an exact signed duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Duration(pub SignedDuration);

impl Duration {
    pub fn from_secs(secs: i64) -> Self {
        Duration(SignedDuration::from_secs(secs))
    }
    pub fn from_mins(mins: i64) -> Self {
        Duration(SignedDuration::from_mins(mins))
    }
}

impl XmlText for Duration {
    fn from_text(s: &str) -> Result<Self, String> {
        const EXPECTED: &str = "an xs:duration in days, hours, minutes and seconds such as -PT8H or P1DT2H";
        let (neg, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let rest = rest.strip_prefix('P').ok_or(EXPECTED)?;
        if rest.is_empty() {
            return Err(EXPECTED.into());
        }
        let (date_part, time_part) = match rest.split_once('T') {
            Some((d, t)) => {
                if t.is_empty() {
                    return Err(EXPECTED.into());
                }
                (d, Some(t))
            }
            None => (rest, None),
        };
        let mut nanos: i128 = 0;
        let mut parse_part = |part: &str, units: &[(char, i128)]| -> Result<(), String> {
            let mut num = String::new();
            let mut unit_idx = 0;
            for c in part.chars() {
                if c.is_ascii_digit() || c == '.' {
                    num.push(c);
                    continue;
                }
                let pos = units[unit_idx..].iter().position(|(u, _)| *u == c).ok_or(EXPECTED)?;
                let (_, scale) = units[unit_idx + pos];
                unit_idx += pos + 1;
                if num.is_empty() {
                    return Err(EXPECTED.into());
                }
                let value: f64 = num.parse().map_err(|_| EXPECTED.to_string())?;
                if num.contains('.') && c != 'S' {
                    return Err(EXPECTED.into());
                }
                if value > 1e12 {
                    return Err(EXPECTED.into());
                }
                nanos += (value * scale as f64).round() as i128;
                num.clear();
            }
            if num.is_empty() { Ok(()) } else { Err(EXPECTED.into()) }
        };
        const S: i128 = 1_000_000_000;
        parse_part(date_part, &[('D', 86_400 * S)])?;
        if let Some(t) = time_part {
            parse_part(t, &[('H', 3600 * S), ('M', 60 * S), ('S', S)])?;
        }
        if neg {
            nanos = -nanos;
        }
        let secs = i64::try_from(nanos / S).map_err(|_| EXPECTED.to_string())?;
        let sub = (nanos % S) as i32;
        Ok(Duration(SignedDuration::new(secs, sub)))
    }

    fn to_text(&self) -> Cow<'_, str> {
        let d = self.0;
        let neg = d.is_negative();
        let d = d.abs();
        let total = d.as_secs();
        let nanos = d.subsec_nanos();
        let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        out.push_str("PT");
        if h == 0 && m == 0 && s == 0 && nanos == 0 {
            out.push_str("0S");
            return Cow::Owned(out);
        }
        if h > 0 {
            out.push_str(&format!("{h}H"));
        }
        if m > 0 {
            out.push_str(&format!("{m}M"));
        }
        if s > 0 || nanos > 0 {
            if nanos > 0 {
                let frac = format!("{nanos:09}");
                out.push_str(&format!("{s}.{}S", frac.trim_end_matches('0')));
            } else {
                out.push_str(&format!("{s}S"));
            }
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_forms() {
        for s in
            ["2013-08-21T19:30:00Z", "2014-03-08T21:21:00-08:00", "2026-01-01T09:00:00", "2026-01-01T09:00:00.5+05:30"]
        {
            let v = DateTime::from_text(s).unwrap();
            assert_eq!(v.to_text(), s);
        }
        assert!(DateTime::from_text("2026-01-01").is_err());
        assert!(DateTime::from_text("not-a-date").is_err());
        let v = DateTime::from_text("2026-01-01T09:00:00+01:00").unwrap();
        assert_eq!(v.timestamp().unwrap().to_string(), "2026-01-01T08:00:00Z");
    }

    #[test]
    fn date_forms() {
        for s in ["2014-03-08-08:00", "2026-02-03", "2026-02-03Z"] {
            assert_eq!(Date::from_text(s).unwrap().to_text(), s);
        }
        assert!(Date::from_text("2026-2-3").is_err());
    }

    #[test]
    fn durations() {
        for (s, secs) in [
            ("-PT8H", -8 * 3600),
            ("PT1H30M", 5400),
            ("P1D", 86_400),
            ("PT0S", 0),
            ("P1DT2H", 93_600),
            ("-PT30M", -1800),
        ] {
            assert_eq!(Duration::from_text(s).unwrap().0.as_secs(), secs, "{s}");
        }
        assert_eq!(Duration::from_secs(93_600).to_text(), "PT26H");
        assert_eq!(Duration::from_text("PT26H").unwrap(), Duration::from_text("P1DT2H").unwrap());
        for bad in ["", "P", "PT", "8H", "PT8", "PTH", "P1M", "PT1S1H"] {
            assert!(Duration::from_text(bad).is_err(), "{bad}");
        }
    }
}
