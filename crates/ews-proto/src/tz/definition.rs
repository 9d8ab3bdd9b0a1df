//! EWS `TimeZoneDefinitionType` (Exchange 2010 and later) as plain data, and its conversion to
//! and from a jiff time zone.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use jiff::SignedDuration;
use jiff::civil::{DateTime, Weekday};
use jiff::tz::{Offset, TimeZone};

use super::TzError;
use super::rules::{self, MAX_OFFSET_SECS, MAX_RULE_TIME_SECS, Regime, Rule, RuleDay, Segment, infer_regime};
use super::windows::{canonical_windows_id, time_zone_for_windows_id};

/// EWS `TimeZoneDefinitionType`: a zone by Windows id, optionally spelled out.
///
/// In a request a bare `<t:TimeZoneDefinition Id="Mountain Standard Time"/>` names a zone the
/// server knows; responses (and careful clients) also carry the periods and transitions.
///
/// How the parts fit: `periods` are the offsets (`Std`, `Dlt/2007`, …); each transitions group
/// is one set of yearly rules moving between periods (one plain transition for a zone without
/// daylight saving time, two recurring ones for a zone with it); `transitions` says which group
/// applies when: the first from the beginning of time, each absolute-date transition from its
/// date on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimeZoneDefinition {
    /// `Id` attribute: the Windows time zone id (`"Pacific Standard Time"`).
    pub id: Option<String>,
    /// `Name` attribute: the display name (`"(UTC-08:00) Pacific Time (US & Canada)"`).
    pub name: Option<String>,
    /// `Periods/Period`.
    pub periods: Vec<Period>,
    /// `TransitionsGroups/TransitionsGroup`.
    pub transitions_groups: Vec<TransitionsGroup>,
    /// `Transitions`.
    pub transitions: Option<Transitions>,
}

/// EWS `PeriodType`: one offset a zone can be in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `Bias` (xs:duration): UTC = local time + bias, so the negated UTC offset: `PT8H` for
    /// Pacific standard time (UTC−08:00), `-PT1H` for W. Europe standard time (UTC+01:00). On the
    /// wire Exchange writes e.g. `P0DT8H0M0.0S` / `-P0DT1H0M0.0S`.
    pub bias: SignedDuration,
    /// `Name`: `"Standard"` or `"Daylight"` in what Exchange sends.
    pub name: String,
    /// `Id`, referenced by transitions: `"Std"`, `"Dlt/2007"`,
    /// `"trule:Microsoft/Registry/W. Europe Standard Time/2006-Daylight"`, ….
    pub id: String,
}

/// EWS `TransitionsGroup` (an `ArrayOfTransitionsType` with an `Id`): one set of yearly rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionsGroup {
    pub id: String,
    /// In document order; each targets a period.
    pub transitions: Vec<Transition>,
}

/// EWS `Transitions` of a definition: which transitions group (or period) applies when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transitions {
    /// The target of the initial, undated `Transition`: in force from the beginning of time.
    pub transition: TransitionTarget,
    /// The dated transitions after it (`AbsoluteDateTransition` in what Exchange sends).
    pub transitions: Vec<Transition>,
}

/// One transition: the elements of the `t:Transition` substitution group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// `Transition`: go to the target, with no date (the only element of a group for a zone
    /// without daylight saving time; the first element of `Transitions`).
    Plain { to: TransitionTarget },
    /// `RecurringDayTransition`: every year on the `occurrence`th `day_of_week` of `month`, at
    /// `time_offset` after local midnight (wall clock of the period in force before it).
    RecurringDay {
        to: TransitionTarget,
        time_offset: SignedDuration,
        /// 1..=12.
        month: i8,
        day_of_week: DayOfWeek,
        /// 1..=4, or -1 for the last (5 is read as the last too, as Windows does).
        occurrence: i8,
    },
    /// `RecurringDateTransition`: every year on `day` of `month` at `time_offset`.
    RecurringDate { to: TransitionTarget, time_offset: SignedDuration, month: i8, day: i8 },
    /// `AbsoluteDateTransition`: once, at `date_time` (local wall clock). Exchange writes these at
    /// the start of a year (`2007-01-01T00:00:00`, some clients with a `Z` suffix); the XML layer
    /// keeps the wall clock in `date_time` and any offset written after it in `offset` (used only
    /// to write the value back as it came; group switching uses the wall clock).
    AbsoluteDate { to: TransitionTarget, date_time: DateTime, offset: Option<jiff::tz::Offset> },
}

impl Transition {
    /// Where the transition goes.
    pub fn to(&self) -> &TransitionTarget {
        match self {
            Transition::Plain { to }
            | Transition::RecurringDay { to, .. }
            | Transition::RecurringDate { to, .. }
            | Transition::AbsoluteDate { to, .. } => to,
        }
    }
}

/// EWS `TransitionTargetType`: `<t:To Kind="Period">Dlt/2007</t:To>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransitionTarget {
    pub kind: TransitionTargetKind,
    pub id: String,
}

impl TransitionTarget {
    pub fn period(id: impl Into<String>) -> TransitionTarget {
        TransitionTarget { kind: TransitionTargetKind::Period, id: id.into() }
    }

    pub fn group(id: impl Into<String>) -> TransitionTarget {
        TransitionTarget { kind: TransitionTargetKind::Group, id: id.into() }
    }
}

/// EWS `TransitionTargetKindType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransitionTargetKind {
    Period,
    Group,
}

impl TransitionTargetKind {
    /// The `Kind` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionTargetKind::Period => "Period",
            TransitionTargetKind::Group => "Group",
        }
    }
}

/// EWS `DayOfWeekType`: the seven days, plus `Day`, `Weekday` and `WeekendDay`, which
/// recurrence patterns use and time zone transitions cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayOfWeek {
    Sunday,
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Day,
    Weekday,
    WeekendDay,
}

impl DayOfWeek {
    /// Every value, in schema order.
    pub const ALL: &'static [DayOfWeek] = &[
        DayOfWeek::Sunday,
        DayOfWeek::Monday,
        DayOfWeek::Tuesday,
        DayOfWeek::Wednesday,
        DayOfWeek::Thursday,
        DayOfWeek::Friday,
        DayOfWeek::Saturday,
        DayOfWeek::Day,
        DayOfWeek::Weekday,
        DayOfWeek::WeekendDay,
    ];

    /// The wire spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            DayOfWeek::Sunday => "Sunday",
            DayOfWeek::Monday => "Monday",
            DayOfWeek::Tuesday => "Tuesday",
            DayOfWeek::Wednesday => "Wednesday",
            DayOfWeek::Thursday => "Thursday",
            DayOfWeek::Friday => "Friday",
            DayOfWeek::Saturday => "Saturday",
            DayOfWeek::Day => "Day",
            DayOfWeek::Weekday => "Weekday",
            DayOfWeek::WeekendDay => "WeekendDay",
        }
    }

    /// The weekday, or `None` for `Day`, `Weekday`, `WeekendDay`.
    pub fn weekday(self) -> Option<Weekday> {
        Some(match self {
            DayOfWeek::Sunday => Weekday::Sunday,
            DayOfWeek::Monday => Weekday::Monday,
            DayOfWeek::Tuesday => Weekday::Tuesday,
            DayOfWeek::Wednesday => Weekday::Wednesday,
            DayOfWeek::Thursday => Weekday::Thursday,
            DayOfWeek::Friday => Weekday::Friday,
            DayOfWeek::Saturday => Weekday::Saturday,
            DayOfWeek::Day | DayOfWeek::Weekday | DayOfWeek::WeekendDay => return None,
        })
    }
}

impl From<Weekday> for DayOfWeek {
    fn from(w: Weekday) -> DayOfWeek {
        match w {
            Weekday::Sunday => DayOfWeek::Sunday,
            Weekday::Monday => DayOfWeek::Monday,
            Weekday::Tuesday => DayOfWeek::Tuesday,
            Weekday::Wednesday => DayOfWeek::Wednesday,
            Weekday::Thursday => DayOfWeek::Thursday,
            Weekday::Friday => DayOfWeek::Friday,
            Weekday::Saturday => DayOfWeek::Saturday,
        }
    }
}

impl fmt::Display for DayOfWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value is not one of the `DayOfWeekType` spellings (which are case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an EWS day of the week (Sunday..Saturday, Day, Weekday, WeekendDay)")]
pub struct ParseDayOfWeekError(pub String);

impl FromStr for DayOfWeek {
    type Err = ParseDayOfWeekError;

    fn from_str(s: &str) -> Result<DayOfWeek, ParseDayOfWeekError> {
        Ok(match s {
            "Sunday" => DayOfWeek::Sunday,
            "Monday" => DayOfWeek::Monday,
            "Tuesday" => DayOfWeek::Tuesday,
            "Wednesday" => DayOfWeek::Wednesday,
            "Thursday" => DayOfWeek::Thursday,
            "Friday" => DayOfWeek::Friday,
            "Saturday" => DayOfWeek::Saturday,
            "Day" => DayOfWeek::Day,
            "Weekday" => DayOfWeek::Weekday,
            "WeekendDay" => DayOfWeek::WeekendDay,
            other => return Err(ParseDayOfWeekError(other.to_owned())),
        })
    }
}

/// A bias as a UTC offset (checked: whole seconds, within ±24h).
pub(crate) fn bias_to_offset(bias: SignedDuration, at: impl FnOnce() -> String) -> Result<Offset, TzError> {
    let secs = bias.as_secs();
    if bias.subsec_nanos() != 0 || secs.abs() > MAX_OFFSET_SECS {
        return Err(TzError::BiasOutOfRange { bias, at: at() });
    }
    i32::try_from(-secs)
        .ok()
        .and_then(|s| Offset::from_seconds(s).ok())
        .ok_or_else(|| TzError::BiasOutOfRange { bias, at: at() })
}

/// A time of day, rounded to whole seconds (Windows writes "end of day" as 23:59:59.999).
pub(crate) fn rule_time(offset: SignedDuration, at: impl FnOnce() -> String) -> Result<i32, TzError> {
    let nanos = offset.as_nanos();
    let secs = (nanos + nanos.signum() * 500_000_000) / 1_000_000_000;
    if secs.abs() > i128::from(MAX_RULE_TIME_SECS) {
        return Err(TzError::TimeOffsetOutOfRange { offset, at: at() });
    }
    i32::try_from(secs).map_err(|_| TzError::TimeOffsetOutOfRange { offset, at: at() })
}

pub(crate) fn check_month(month: i64, at: &dyn Fn() -> String) -> Result<i8, TzError> {
    match i8::try_from(month) {
        Ok(m @ 1..=12) => Ok(m),
        _ => Err(TzError::MonthOutOfRange { month, at: at() }),
    }
}

/// The `nth` of a rule from an occurrence: 1..=4, and -1 or 5 for the last.
pub(crate) fn check_occurrence(occurrence: i64, at: &dyn Fn() -> String) -> Result<i8, TzError> {
    match occurrence {
        1..=4 => Ok(occurrence as i8),
        -1 | 5 => Ok(-1),
        _ => Err(TzError::OccurrenceOutOfRange { occurrence, at: at() }),
    }
}

/// A day of the month every year has (so never February 29).
pub(crate) fn check_day(day: i64, month: i8, at: &dyn Fn() -> String) -> Result<i8, TzError> {
    const DAYS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let max = DAYS[usize::try_from(month - 1).unwrap_or(0).min(11)];
    match i8::try_from(day) {
        Ok(d) if (1..=max).contains(&day) => Ok(d),
        _ => Err(TzError::DayOutOfRange { day, month: i64::from(month), at: at() }),
    }
}

pub(crate) fn check_weekday(day_of_week: Option<DayOfWeek>, at: &dyn Fn() -> String) -> Result<Weekday, TzError> {
    match day_of_week {
        Some(d) => {
            d.weekday().ok_or_else(|| TzError::UnsupportedDayOfWeek { day_of_week: d.as_str().to_owned(), at: at() })
        }
        None => Err(TzError::UnsupportedDayOfWeek { day_of_week: "(none)".to_owned(), at: at() }),
    }
}

/// The validated pieces of a definition.
struct Resolved<'a> {
    periods: HashMap<&'a str, Offset>,
    groups: HashMap<&'a str, Regime>,
}

impl TimeZoneDefinition {
    /// The zone this definition describes.
    ///
    /// * No periods: the `Id` must be a Windows id of the CLDR table; the zone is the IANA zone
    ///   CLDR gives for it (see [`time_zone_for_windows_id`](super::time_zone_for_windows_id)).
    /// * Periods: the zone is built from them alone, as the definition says, even when the `Id`
    ///   is a known Windows id. One transitions group in force gives a POSIX-TZ-backed zone; a
    ///   definition switching groups at absolute dates gives a zone with the earlier groups'
    ///   transitions spelled out year by year (from 1970, or the year before the first switch if
    ///   earlier) and the last group's rule from then on. Such a zone is named after the `Id`
    ///   (or `Name`), which is not an IANA name: `iana_name()` returns it, and a
    ///   `ZonedDateTime` printed with it does not parse back. Use
    ///   [`windows_to_iana`](super::windows_to_iana) to name a zone for other systems.
    ///
    /// Without a `Transitions` element the last transitions group applies throughout; a single
    /// period with no groups is a fixed offset.
    pub fn to_time_zone(&self) -> Result<TimeZone, TzError> {
        if self.periods.is_empty() {
            return match self.id.as_deref().and_then(canonical_windows_id) {
                Some(id) => time_zone_for_windows_id(id),
                None => Err(TzError::NoPeriods { id: self.id.clone() }),
            };
        }
        let segments = self.segments()?;
        let name = self.id.as_deref().or(self.name.as_deref()).filter(|s| !s.trim().is_empty()).unwrap_or("Custom");
        rules::build_zone(name, &segments)
    }

    /// The POSIX TZ string of the rules in force after the last dated transition, e.g.
    /// `<+01>-1<+02>-2,M3.5.0/2,M10.5.0/3` for W. Europe Standard Time (abbreviations are
    /// numeric). For a definition without periods, that of the IANA zone is not available and
    /// this is an error ([`TzError::NoPeriods`]).
    pub fn posix_tz_string(&self) -> Result<String, TzError> {
        if self.periods.is_empty() {
            return Err(TzError::NoPeriods { id: self.id.clone() });
        }
        let segments = self.segments()?;
        Ok(segments.last().map(|s| s.regime.posix()).unwrap_or_default())
    }

    /// Describes `tz` as it is in `year`, the way Exchange puts a named zone on the wire: periods
    /// `Std` ("Standard") and, if the zone observes daylight saving time that year, `Dlt`
    /// ("Daylight"); one transitions group `"0"` (two recurring transitions, or one plain
    /// transition to `Std`); `Transitions` pointing at group `"0"`. `Id` is `windows_id`, `Name`
    /// is left empty.
    ///
    /// The yearly rules are read from the zone's transitions in `year` and checked against the
    /// following years, so "last Sunday" is told apart from "fourth Sunday". A zone whose offset
    /// changes for good during `year` is described by the offset it ends the year with; a zone
    /// with more than two offset changes in the year cannot be described
    /// ([`TzError::NotRepresentable`]).
    pub fn from_time_zone(windows_id: &str, tz: &TimeZone, year: i16) -> Result<TimeZoneDefinition, TzError> {
        let regime = infer_regime(tz, year, false)?;
        let bias = |o: Offset| SignedDuration::from_secs(-i64::from(o.seconds()));
        let period =
            |o: Offset, name: &str, id: &str| Period { bias: bias(o), name: name.to_owned(), id: id.to_owned() };
        let recurring = |rule: Rule, to: &str| {
            let to = TransitionTarget::period(to);
            let time_offset = SignedDuration::from_secs(i64::from(rule.time));
            match rule.day {
                RuleDay::Nth { weekday, nth } => Transition::RecurringDay {
                    to,
                    time_offset,
                    month: rule.month,
                    day_of_week: weekday.into(),
                    occurrence: nth,
                },
                RuleDay::Date { day } => Transition::RecurringDate { to, time_offset, month: rule.month, day },
            }
        };
        let (periods, transitions) = match regime {
            Regime::Fixed(o) => {
                (vec![period(o, "Standard", "Std")], vec![Transition::Plain { to: TransitionTarget::period("Std") }])
            }
            Regime::Dst { std, dst, start, end } => (
                vec![period(std, "Standard", "Std"), period(dst, "Daylight", "Dlt")],
                vec![recurring(start, "Dlt"), recurring(end, "Std")],
            ),
        };
        Ok(TimeZoneDefinition {
            id: Some(windows_id.to_owned()),
            name: None,
            periods,
            transitions_groups: vec![TransitionsGroup { id: "0".to_owned(), transitions }],
            transitions: Some(Transitions { transition: TransitionTarget::group("0"), transitions: Vec::new() }),
        })
    }

    fn resolve(&self) -> Result<Resolved<'_>, TzError> {
        let mut periods = HashMap::new();
        for p in &self.periods {
            let offset = bias_to_offset(p.bias, || format!("period {:?}", p.id))?;
            if periods.insert(p.id.as_str(), offset).is_some() {
                return Err(TzError::DuplicatePeriodId { id: p.id.clone() });
            }
        }
        let mut groups = HashMap::new();
        for g in &self.transitions_groups {
            if groups.contains_key(g.id.as_str()) {
                return Err(TzError::DuplicateGroupId { id: g.id.clone() });
            }
            let regime = group_regime(g, &periods)?;
            groups.insert(g.id.as_str(), regime);
        }
        Ok(Resolved { periods, groups })
    }

    /// The regimes of the definition in time order.
    fn segments(&self) -> Result<Vec<Segment>, TzError> {
        let resolved = self.resolve()?;
        let target_regime = |to: &TransitionTarget, at: &dyn Fn() -> String| match to.kind {
            TransitionTargetKind::Group => resolved
                .groups
                .get(to.id.as_str())
                .copied()
                .ok_or_else(|| TzError::UnknownGroup { id: to.id.clone(), at: at() }),
            TransitionTargetKind::Period => resolved
                .periods
                .get(to.id.as_str())
                .map(|o| Regime::Fixed(*o))
                .ok_or_else(|| TzError::UnknownPeriod { id: to.id.clone(), at: at() }),
        };

        let Some(transitions) = &self.transitions else {
            let regime = match (self.transitions_groups.last(), self.periods.as_slice()) {
                (Some(g), _) => resolved.groups[g.id.as_str()],
                (None, [p]) => Regime::Fixed(resolved.periods[p.id.as_str()]),
                (None, periods) => {
                    return Err(TzError::MissingTransitions { periods: periods.len() });
                }
            };
            return Ok(vec![Segment { start: None, regime }]);
        };

        let first = target_regime(&transitions.transition, &|| "transitions, initial transition".to_owned())?;
        let mut dated = Vec::with_capacity(transitions.transitions.len());
        for (i, t) in transitions.transitions.iter().enumerate() {
            let at = || format!("transitions, transition {}", i + 2);
            let Transition::AbsoluteDate { to, date_time, .. } = t else {
                return Err(TzError::Unsupported {
                    reason: "after the initial transition, only absolute-date transitions can \
                             say when a group applies"
                        .into(),
                    at: at(),
                });
            };
            dated.push((*date_time, target_regime(to, &at)?, i + 2));
        }
        dated.sort_by_key(|(dt, _, _)| *dt);
        for pair in dated.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(TzError::DuplicateTransitionDate {
                    date_time: pair[1].0,
                    at: format!("transitions, transitions {} and {}", pair[0].2, pair[1].2),
                });
            }
        }
        let mut segments = vec![Segment { start: None, regime: first }];
        segments.extend(dated.into_iter().map(|(dt, regime, _)| Segment { start: Some(dt), regime }));
        Ok(segments)
    }
}

/// The yearly rules of one transitions group.
fn group_regime(g: &TransitionsGroup, periods: &HashMap<&str, Offset>) -> Result<Regime, TzError> {
    let loc = |i: usize| format!("transitions group {:?}, transition {}", g.id, i + 1);
    let mut plain = Vec::new();
    let mut recurring = Vec::new();
    for (i, t) in g.transitions.iter().enumerate() {
        let at = || loc(i);
        let to = t.to();
        if to.kind == TransitionTargetKind::Group {
            return Err(TzError::GroupTargetInGroup { id: to.id.clone(), at: at() });
        }
        let offset =
            *periods.get(to.id.as_str()).ok_or_else(|| TzError::UnknownPeriod { id: to.id.clone(), at: at() })?;
        match *t {
            Transition::Plain { .. } => plain.push(offset),
            Transition::RecurringDay { time_offset, month, day_of_week, occurrence, .. } => {
                let month = check_month(i64::from(month), &at)?;
                let nth = check_occurrence(i64::from(occurrence), &at)?;
                let weekday = check_weekday(Some(day_of_week), &at)?;
                let time = rule_time(time_offset, at)?;
                let day = RuleDay::Nth { weekday, nth };
                recurring.push((offset, Rule { month, day, time }, i));
            }
            Transition::RecurringDate { time_offset, month, day, .. } => {
                let month = check_month(i64::from(month), &at)?;
                let day = check_day(i64::from(day), month, &at)?;
                let time = rule_time(time_offset, at)?;
                let day = RuleDay::Date { day };
                recurring.push((offset, Rule { month, day, time }, i));
            }
            Transition::AbsoluteDate { .. } => {
                return Err(TzError::Unsupported {
                    reason: "absolute-date transitions inside a transitions group are not \
                             supported (a group holds yearly rules)"
                        .into(),
                    at: at(),
                });
            }
        }
    }
    let group_at = || format!("transitions group {:?}", g.id);
    match (plain.as_slice(), recurring.as_slice()) {
        ([], []) => Err(TzError::Unsupported { reason: "the group has no transitions".into(), at: group_at() }),
        ([offset], []) => Ok(Regime::Fixed(*offset)),
        ([], [(offset, _, _)]) => Ok(Regime::Fixed(*offset)),
        ([], [(a, rule_a, _), (b, rule_b, _)]) => {
            if a == b {
                return Ok(Regime::Fixed(*a));
            }
            // Daylight time is the period further east (a smaller bias).
            let (std, dst, start, end) = if a > b { (*b, *a, *rule_a, *rule_b) } else { (*a, *b, *rule_b, *rule_a) };
            Ok(Regime::daylight(std, dst, start, end))
        }
        ([], more) => Err(TzError::Unsupported {
            reason: format!("{} recurring transitions; a group can hold two (into daylight time and back)", more.len()),
            at: group_at(),
        }),
        (_, []) => Err(TzError::Unsupported {
            reason: format!("{} undated transitions; a group can hold one", plain.len()),
            at: group_at(),
        }),
        (_, _) => Err(TzError::Unsupported {
            reason: "the group mixes undated and recurring transitions".into(),
            at: group_at(),
        }),
    }
}
