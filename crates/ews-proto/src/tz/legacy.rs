//! EWS `SerializableTimeZone` (`t:TimeZone` of GetUserAvailability, `WorkingHours/TimeZone`):
//! the Win32 `TIME_ZONE_INFORMATION` shape, in minutes.

use jiff::civil::Time;
use jiff::tz::{Offset, TimeZone};

use super::TzError;
use super::definition::{DayOfWeek, check_day, check_month, check_occurrence, check_weekday};
use super::rules::{MAX_OFFSET_SECS, Regime, Rule, RuleDay, infer_regime};

/// EWS `SerializableTimeZone`.
///
/// ```xml
/// <t:TimeZone>
///   <Bias>480</Bias>
///   <StandardTime><Bias>0</Bias><Time>02:00:00</Time><DayOrder>1</DayOrder>
///     <Month>11</Month><DayOfWeek>Sunday</DayOfWeek></StandardTime>
///   <DaylightTime><Bias>-60</Bias><Time>02:00:00</Time><DayOrder>2</DayOrder>
///     <Month>3</Month><DayOfWeek>Sunday</DayOfWeek></DaylightTime>
/// </t:TimeZone>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerializableTimeZone {
    /// `Bias`, minutes: UTC = local standard time + bias (480 for UTC−08:00, -60 for UTC+01:00).
    pub bias: i32,
    /// `StandardTime`: when standard time starts, and its extra bias (normally 0).
    pub standard_time: SerializableTimeZoneTime,
    /// `DaylightTime`: when daylight time starts, and its extra bias (normally -60).
    pub daylight_time: SerializableTimeZoneTime,
}

/// EWS `SerializableTimeZoneTime`: one yearly change.
///
/// A zone without daylight saving time has both changes with the same bias (what the EWS Managed
/// API sends), or a `Month` of 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerializableTimeZoneTime {
    /// `Bias`, minutes, added to the zone's bias while this part of the year is in force.
    pub bias: i32,
    /// `Time` (`"02:00:00"` on the wire): wall-clock time of the change, in the time in force
    /// before it.
    pub time: Time,
    /// `DayOrder`: the week of the month, 1..=4 or 5 for the last; when `year` is set, the day
    /// of the month.
    pub day_order: i16,
    /// `Month`: 1..=12, or 0 for "no change".
    pub month: i16,
    /// `DayOfWeek` (required by the schema; the EWS Managed API omits it along with a `Year`).
    pub day_of_week: Option<DayOfWeek>,
    /// `Year` (xs:string on the wire): absent or 0 for a rule recurring by weekday; otherwise
    /// the change is on day `day_order` of `month` (every year, as Windows reads it).
    pub year: Option<i16>,
}

impl SerializableTimeZoneTime {
    /// Whether this carries a change at all (`Month` 1..=12).
    fn has_change(&self) -> bool {
        (1..=12).contains(&self.month)
    }

    fn rule(&self, part: &str) -> Result<Rule, TzError> {
        let at = || part.to_owned();
        let month = check_month(i64::from(self.month), &at)?;
        let t = self.time;
        let time = i32::from(t.hour()) * 3600 + i32::from(t.minute()) * 60 + i32::from(t.second());
        let day = match self.year {
            Some(y) if y != 0 => RuleDay::Date { day: check_day(i64::from(self.day_order), month, &at)? },
            _ => RuleDay::Nth {
                weekday: check_weekday(self.day_of_week, &at)?,
                nth: check_occurrence(i64::from(self.day_order), &at)?,
            },
        };
        Ok(Rule { month, day, time })
    }
}

fn minutes_to_offset(bias_minutes: i64, at: &str) -> Result<Offset, TzError> {
    let secs = -bias_minutes * 60;
    if secs.abs() > MAX_OFFSET_SECS {
        return Err(TzError::LegacyBiasOutOfRange { minutes: bias_minutes, at: at.to_owned() });
    }
    i32::try_from(secs)
        .ok()
        .and_then(|s| Offset::from_seconds(s).ok())
        .ok_or_else(|| TzError::LegacyBiasOutOfRange { minutes: bias_minutes, at: at.to_owned() })
}

impl SerializableTimeZone {
    /// The zone this describes: a fixed offset, or a POSIX-TZ-backed zone with the two yearly
    /// changes.
    pub fn to_time_zone(&self) -> Result<TimeZone, TzError> {
        self.regime()?.to_time_zone()
    }

    /// The POSIX TZ string of the zone, e.g. `<-08>8<-07>7,M3.2.0/2,M11.1.0/2`.
    pub fn posix_tz_string(&self) -> Result<String, TzError> {
        Ok(self.regime()?.posix())
    }

    fn regime(&self) -> Result<Regime, TzError> {
        let (st, dt) = (&self.standard_time, &self.daylight_time);
        for (part, t) in [("StandardTime", st), ("DaylightTime", dt)] {
            if !(0..=12).contains(&t.month) {
                return Err(TzError::MonthOutOfRange { month: i64::from(t.month), at: part.to_owned() });
            }
        }
        let std = minutes_to_offset(i64::from(self.bias) + i64::from(st.bias), "Bias + StandardTime/Bias")?;
        let dst = minutes_to_offset(i64::from(self.bias) + i64::from(dt.bias), "Bias + DaylightTime/Bias")?;
        if !st.has_change() || !dt.has_change() || std == dst {
            return Ok(Regime::Fixed(std));
        }
        let start = dt.rule("DaylightTime")?;
        let end = st.rule("StandardTime")?;
        Ok(Regime::daylight(std, dst, start, end))
    }

    /// Describes `tz` as it is in `year`, as the EWS Managed API does: the standard offset as
    /// `Bias`, `StandardTime` with bias 0, `DaylightTime` with the daylight delta (-60). A zone
    /// without daylight saving time gets two changes with bias 0 (March and October, first
    /// Sunday, 02:00), which Exchange reads as "no change". Fails like
    /// [`TimeZoneDefinition::from_time_zone`](super::TimeZoneDefinition::from_time_zone), and
    /// also for offsets that are not whole minutes or changes after 24:00 local time.
    pub fn from_time_zone(tz: &TimeZone, year: i16) -> Result<SerializableTimeZone, TzError> {
        let regime = infer_regime(tz, year, true)?;
        let zone = || tz.iana_name().map(str::to_owned).unwrap_or_else(|| format!("{tz:?}"));
        let minutes = |o: Offset| {
            if o.seconds() % 60 == 0 {
                Ok(-o.seconds() / 60)
            } else {
                Err(TzError::NotRepresentable {
                    zone: zone(),
                    year,
                    reason: format!("offset {o} is not a whole number of minutes"),
                })
            }
        };
        let change = |rule: Rule, bias: i32| {
            let secs = rule.time.clamp(0, 86_399);
            let time = Time::new((secs / 3600) as i8, (secs / 60 % 60) as i8, (secs % 60) as i8, 0)
                .unwrap_or(Time::midnight());
            match rule.day {
                RuleDay::Nth { weekday, nth } => SerializableTimeZoneTime {
                    bias,
                    time,
                    day_order: if nth < 0 { 5 } else { i16::from(nth) },
                    month: i16::from(rule.month),
                    day_of_week: Some(weekday.into()),
                    year: None,
                },
                RuleDay::Date { day } => SerializableTimeZoneTime {
                    bias,
                    time,
                    day_order: i16::from(day),
                    month: i16::from(rule.month),
                    day_of_week: None,
                    year: Some(year),
                },
            }
        };
        Ok(match regime {
            Regime::Fixed(o) => {
                let dummy = |month| SerializableTimeZoneTime {
                    bias: 0,
                    time: Time::constant(2, 0, 0, 0),
                    day_order: 1,
                    month,
                    day_of_week: Some(DayOfWeek::Sunday),
                    year: None,
                };
                SerializableTimeZone { bias: minutes(o)?, standard_time: dummy(3), daylight_time: dummy(10) }
            }
            Regime::Dst { std, dst, start, end } => {
                let bias = minutes(std)?;
                let dst_bias = minutes(dst)? - bias;
                SerializableTimeZone { bias, standard_time: change(end, 0), daylight_time: change(start, dst_bias) }
            }
        })
    }
}
