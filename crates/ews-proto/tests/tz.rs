//! Time zones: the CLDR table against jiff's bundled tzdb, custom EWS definitions against the
//! IANA zones they stand for, and malformed input.

use ews_proto::tz::{
    CLDR_VERSION, DayOfWeek, Period, SerializableTimeZone, SerializableTimeZoneTime, TimeZoneDefinition, Transition,
    TransitionTarget, Transitions, TransitionsGroup, TzError, WINDOWS_ZONES, canonical_windows_id, iana_to_windows,
    time_zone_for_windows_id, windows_to_iana, windows_to_iana_for_territory, windows_zone_ids,
};
use jiff::civil::{Date, DateTime, Time, date};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone, offset};
use jiff::{SignedDuration, Timestamp};

// ---------------------------------------------------------------------------------------------
// Helpers

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn minutes(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

fn period(id: &str, name: &str, bias: SignedDuration) -> Period {
    Period { bias, name: name.into(), id: id.into() }
}

fn on_day(to: &str, time: SignedDuration, month: i8, occurrence: i8) -> Transition {
    Transition::RecurringDay {
        to: TransitionTarget::period(to),
        time_offset: time,
        month,
        day_of_week: DayOfWeek::Sunday,
        occurrence,
    }
}

fn group(id: &str, transitions: Vec<Transition>) -> TransitionsGroup {
    TransitionsGroup { id: id.into(), transitions }
}

fn starting_with(group_id: &str) -> Option<Transitions> {
    Some(Transitions { transition: TransitionTarget::group(group_id), transitions: vec![] })
}

/// A custom definition equivalent to "W. Europe Standard Time": UTC+1, UTC+2 from the last
/// Sunday of March 02:00 to the last Sunday of October 03:00.
fn w_europe() -> TimeZoneDefinition {
    TimeZoneDefinition {
        id: Some("Custom W. Europe".into()),
        name: Some("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna".into()),
        periods: vec![period("Std", "Standard", -hours(1)), period("Dlt", "Daylight", -hours(2))],
        transitions_groups: vec![group("0", vec![on_day("Dlt", hours(2), 3, -1), on_day("Std", hours(3), 10, -1)])],
        transitions: starting_with("0"),
    }
}

/// "AUS Eastern Standard Time": UTC+10, UTC+11 from the first Sunday of October 02:00 to the
/// first Sunday of April 03:00 (daylight time across the new year).
fn aus_eastern() -> TimeZoneDefinition {
    TimeZoneDefinition {
        id: Some("Custom AUS Eastern".into()),
        name: None,
        periods: vec![period("Std", "Standard", -hours(10)), period("Dlt", "Daylight", -hours(11))],
        transitions_groups: vec![group("0", vec![on_day("Dlt", hours(2), 10, 1), on_day("Std", hours(3), 4, 1)])],
        transitions: starting_with("0"),
    }
}

/// The definition Exchange's own samples carry for "Pacific Standard Time": US rules before 2007
/// (group "0") and from 2007 on (group "1").
fn pacific_two_groups() -> TimeZoneDefinition {
    TimeZoneDefinition {
        id: Some("Pacific Standard Time".into()),
        name: Some("(UTC-08:00) Pacific Time (US & Canada)".into()),
        periods: vec![
            period("Std", "Standard", hours(8)),
            period("Dlt/1", "Daylight", hours(7)),
            period("Dlt/2007", "Daylight", hours(7)),
        ],
        transitions_groups: vec![
            group("0", vec![on_day("Dlt/1", hours(2), 4, 1), on_day("Std", hours(2), 10, -1)]),
            group("1", vec![on_day("Dlt/2007", hours(2), 3, 2), on_day("Std", hours(2), 11, 1)]),
        ],
        transitions: Some(Transitions {
            transition: TransitionTarget::group("0"),
            transitions: vec![Transition::AbsoluteDate {
                offset: None,
                to: TransitionTarget::group("1"),
                date_time: date(2007, 1, 1).at(8, 0, 0, 0),
            }],
        }),
    }
}

fn utc(dt: DateTime) -> Timestamp {
    Offset::UTC.to_timestamp(dt).unwrap()
}

/// Both zones give the same offset at every `step` from `from` to `to` (UTC), and the same
/// resolution (unambiguous / gap / fold with the same offsets) for every local wall-clock time
/// at every `step` of the same range.
fn assert_same_zone(ours: &TimeZone, reference: &TimeZone, from: Date, to: Date, step: SignedDuration) {
    let mut mismatches = Vec::new();
    let end = utc(to.at(0, 0, 0, 0));
    let mut ts = utc(from.at(0, 0, 0, 0));
    while ts < end {
        let (a, b) = (ours.to_offset(ts), reference.to_offset(ts));
        if a != b {
            mismatches.push(format!("instant {ts}: {a} vs {b}"));
        }
        ts = ts.checked_add(step).unwrap();
    }
    let end = to.at(0, 0, 0, 0);
    let mut dt = from.at(0, 0, 0, 0);
    while dt < end {
        let (a, b) = (ours.to_ambiguous_timestamp(dt).offset(), reference.to_ambiguous_timestamp(dt).offset());
        if a != b {
            mismatches.push(format!("local {dt}: {a:?} vs {b:?}"));
        }
        dt = dt.checked_add(step).unwrap();
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches against {:?}, first ones: {:#?}",
        mismatches.len(),
        reference.iana_name(),
        &mismatches[..mismatches.len().min(10)]
    );
}

fn local_offset(tz: &TimeZone, dt: DateTime) -> AmbiguousOffset {
    tz.to_ambiguous_timestamp(dt).offset()
}

fn unambiguous(h: i8) -> AmbiguousOffset {
    AmbiguousOffset::Unambiguous { offset: offset(h) }
}

// ---------------------------------------------------------------------------------------------
// The CLDR table

#[test]
fn every_windows_zone_loads_from_the_bundled_tzdb() {
    let mut offenders = Vec::new();
    let mut count = 0;
    for id in windows_zone_ids() {
        count += 1;
        match time_zone_for_windows_id(id) {
            Ok(tz) => {
                let iana = windows_to_iana(id).unwrap();
                if TimeZone::get(iana).is_err() {
                    offenders.push(format!("{id}: windows_to_iana gives {iana}, unknown to jiff"));
                }
                if tz.iana_name().is_none() {
                    offenders.push(format!("{id}: loaded zone has no IANA name"));
                }
            }
            Err(e) => offenders.push(format!("{id}: {e}")),
        }
    }
    assert!(offenders.is_empty(), "Windows zones jiff cannot load:\n{}", offenders.join("\n"));
    // CLDR 48 has 139; a regenerated table should not lose most of them.
    assert!(count >= 130, "only {count} Windows zones in CLDR {CLDR_VERSION}");
}

#[test]
fn every_iana_zone_of_every_territory_loads_and_maps_back() {
    let mut offenders = Vec::new();
    for row in WINDOWS_ZONES {
        for &name in row.iana_ids {
            if TimeZone::get(name).is_err() {
                offenders.push(format!("{name} ({} / {})", row.windows_id, row.territory));
            }
            if iana_to_windows(name) != Some(row.windows_id) {
                offenders.push(format!("{name} does not map back to {}", row.windows_id));
            }
        }
        if let Some(iana) = windows_to_iana_for_territory(row.windows_id, row.territory)
            && TimeZone::get(iana).is_err()
        {
            offenders.push(format!("{iana} (preferred spelling) unknown to jiff"));
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

#[test]
fn windows_ids_are_sorted_and_unique() {
    let ids: Vec<_> = windows_zone_ids().collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(ids.contains(&"W. Europe Standard Time"));
    assert!(ids.contains(&"UTC"));
}

#[test]
fn windows_to_iana_examples() {
    assert_eq!(windows_to_iana("Pacific Standard Time"), Some("America/Los_Angeles"));
    assert_eq!(windows_to_iana("W. Europe Standard Time"), Some("Europe/Berlin"));
    assert_eq!(windows_to_iana("AUS Eastern Standard Time"), Some("Australia/Sydney"));
    // CLDR spells these the old way; the IANA-preferred spelling is returned.
    assert_eq!(windows_to_iana("India Standard Time"), Some("Asia/Kolkata"));
    assert_eq!(windows_to_iana("FLE Standard Time"), Some("Europe/Kyiv"));
    assert_eq!(windows_to_iana("UTC"), Some("Etc/UTC"));
    assert_eq!(windows_to_iana("pacific standard time"), Some("America/Los_Angeles"));
    assert_eq!(windows_to_iana(" Pacific Standard Time "), Some("America/Los_Angeles"));
    assert_eq!(windows_to_iana("Atlantis Standard Time"), None);
    assert_eq!(windows_to_iana(""), None);

    assert_eq!(windows_to_iana_for_territory("W. Europe Standard Time", "CH"), Some("Europe/Zurich"));
    assert_eq!(windows_to_iana_for_territory("Eastern Standard Time", "us"), Some("America/New_York"));
    assert_eq!(windows_to_iana_for_territory("Dateline Standard Time", "ZZ"), Some("Etc/GMT+12"));
    assert_eq!(windows_to_iana_for_territory("W. Europe Standard Time", "US"), None);
    assert_eq!(canonical_windows_id("w. europe standard time"), Some("W. Europe Standard Time"));
}

#[test]
fn iana_to_windows_examples() {
    assert_eq!(iana_to_windows("Europe/Berlin"), Some("W. Europe Standard Time"));
    assert_eq!(iana_to_windows("Europe/Oslo"), Some("W. Europe Standard Time"));
    assert_eq!(iana_to_windows("America/Los_Angeles"), Some("Pacific Standard Time"));
    assert_eq!(iana_to_windows("Asia/Kolkata"), Some("India Standard Time"));
    assert_eq!(iana_to_windows("Asia/Calcutta"), Some("India Standard Time"));
    assert_eq!(iana_to_windows("Europe/Kyiv"), Some("FLE Standard Time"));
    assert_eq!(iana_to_windows("US/Pacific"), Some("Pacific Standard Time"));
    assert_eq!(iana_to_windows("Etc/GMT+12"), Some("Dateline Standard Time"));
    assert_eq!(iana_to_windows("UTC"), Some("UTC"));
    // Resolved through jiff: any case.
    assert_eq!(iana_to_windows("europe/berlin"), Some("W. Europe Standard Time"));
    assert_eq!(iana_to_windows("Mars/Olympus_Mons"), None);
    assert_eq!(iana_to_windows(""), None);
}

#[test]
fn time_zone_for_windows_id_loads_the_iana_zone() {
    let tz = time_zone_for_windows_id("Pacific Standard Time").unwrap();
    assert_eq!(tz.iana_name(), Some("America/Los_Angeles"));
    let tz = time_zone_for_windows_id("India Standard Time").unwrap();
    assert_eq!(tz.to_offset(utc(date(2026, 1, 1).at(0, 0, 0, 0))).seconds(), 19_800);
    assert!(matches!(time_zone_for_windows_id("Nowhere Standard Time"), Err(TzError::UnknownWindowsId { .. })));
}

// ---------------------------------------------------------------------------------------------
// TimeZoneDefinition -> TimeZone

#[test]
fn w_europe_definition_converts_local_times_around_both_transitions() {
    let tz = w_europe().to_time_zone().unwrap();
    // Spring forward, 2026-03-29 02:00 -> 03:00.
    assert_eq!(local_offset(&tz, date(2026, 3, 29).at(1, 30, 0, 0)), unambiguous(1));
    assert_eq!(local_offset(&tz, date(2026, 3, 29).at(3, 30, 0, 0)), unambiguous(2));
    assert_eq!(
        local_offset(&tz, date(2026, 3, 29).at(2, 30, 0, 0)),
        AmbiguousOffset::Gap { before: offset(1), after: offset(2) }
    );
    // Fall back, 2026-10-25 03:00 -> 02:00.
    assert_eq!(local_offset(&tz, date(2026, 10, 25).at(1, 30, 0, 0)), unambiguous(2));
    assert_eq!(local_offset(&tz, date(2026, 10, 25).at(3, 30, 0, 0)), unambiguous(1));
    assert_eq!(
        local_offset(&tz, date(2026, 10, 25).at(2, 30, 0, 0)),
        AmbiguousOffset::Fold { before: offset(2), after: offset(1) }
    );
    // The instants of the transitions.
    let zdt = date(2026, 3, 29).at(3, 30, 0, 0).to_zoned_datetime(tz.clone()).unwrap();
    assert_eq!(zdt.timestamp(), utc(date(2026, 3, 29).at(1, 30, 0, 0)));

    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    assert_same_zone(&tz, &berlin, date(2026, 1, 1), date(2027, 1, 1), hours(1));
    assert_same_zone(&tz, &berlin, date(1996, 1, 1), date(2040, 1, 1), hours(7));
    assert_eq!(w_europe().posix_tz_string().unwrap(), "<+01>-1<+02>-2,M3.5.0/2,M10.5.0/3");
}

#[test]
fn southern_hemisphere_definition_has_daylight_time_across_new_year() {
    let tz = aus_eastern().to_time_zone().unwrap();
    // End of daylight time, 2026-04-05 03:00 -> 02:00.
    assert_eq!(local_offset(&tz, date(2026, 4, 5).at(1, 30, 0, 0)), unambiguous(11));
    assert_eq!(local_offset(&tz, date(2026, 4, 5).at(3, 30, 0, 0)), unambiguous(10));
    // Start, 2026-10-04 02:00 -> 03:00.
    assert_eq!(local_offset(&tz, date(2026, 10, 4).at(1, 30, 0, 0)), unambiguous(10));
    assert_eq!(local_offset(&tz, date(2026, 10, 4).at(3, 30, 0, 0)), unambiguous(11));
    // Midsummer and midwinter.
    assert_eq!(local_offset(&tz, date(2026, 1, 1).at(12, 0, 0, 0)), unambiguous(11));
    assert_eq!(local_offset(&tz, date(2026, 7, 1).at(12, 0, 0, 0)), unambiguous(10));

    let sydney = TimeZone::get("Australia/Sydney").unwrap();
    assert_same_zone(&tz, &sydney, date(2026, 1, 1), date(2027, 1, 1), hours(1));
    assert_same_zone(&tz, &sydney, date(2008, 6, 1), date(2040, 1, 1), hours(7));
}

#[test]
fn definition_without_daylight_time_is_a_fixed_offset() {
    let india = TimeZoneDefinition {
        id: Some("India Standard Time".into()),
        name: None,
        periods: vec![period("Std", "Standard", -(hours(5) + minutes(30)))],
        transitions_groups: vec![group("0", vec![Transition::Plain { to: TransitionTarget::period("Std") }])],
        transitions: starting_with("0"),
    };
    let tz = india.to_time_zone().unwrap();
    let kolkata = TimeZone::get("Asia/Kolkata").unwrap();
    assert_same_zone(&tz, &kolkata, date(2026, 1, 1), date(2027, 1, 1), minutes(30));
    assert_eq!(tz.to_fixed_offset().unwrap().seconds(), 5 * 3600 + 1800);

    // A single period and nothing else is the same thing.
    let bare = TimeZoneDefinition {
        id: None,
        name: None,
        periods: vec![period("Std", "Standard", hours(3))],
        transitions_groups: vec![],
        transitions: None,
    };
    assert_eq!(bare.to_time_zone().unwrap().to_fixed_offset().unwrap(), offset(-3));
}

#[test]
fn definition_switching_groups_follows_each_group_in_its_years() {
    let tz = pacific_two_groups().to_time_zone().unwrap();
    let la = TimeZone::get("America/Los_Angeles").unwrap();
    // Old rules: 2006-04-02 (first Sunday of April) is the start of daylight time.
    assert_eq!(local_offset(&tz, date(2006, 3, 12).at(12, 0, 0, 0)), unambiguous(-8));
    assert_eq!(local_offset(&tz, date(2006, 4, 2).at(3, 0, 0, 0)), unambiguous(-7));
    // New rules: second Sunday of March.
    assert_eq!(local_offset(&tz, date(2007, 3, 11).at(12, 0, 0, 0)), unambiguous(-7));
    assert_eq!(local_offset(&tz, date(2026, 11, 1).at(3, 0, 0, 0)), unambiguous(-8));
    assert_same_zone(&tz, &la, date(1987, 1, 1), date(2040, 1, 1), hours(5));
    assert_same_zone(&tz, &la, date(2026, 1, 1), date(2027, 1, 1), hours(1));
    // The group applying after the last switch.
    assert_eq!(pacific_two_groups().posix_tz_string().unwrap(), "<-08>8<-07>7,M3.2.0/2,M11.1.0/2");

    // Order in the document does not matter, nor does a switch coming in the future: every
    // year follows the group in force in it.
    let mut future = pacific_two_groups();
    future.transitions = Some(Transitions {
        transition: TransitionTarget::group("1"),
        transitions: vec![Transition::AbsoluteDate {
            offset: None,
            to: TransitionTarget::group("0"),
            date_time: date(2031, 1, 1).at(0, 0, 0, 0),
        }],
    });
    let tz = future.to_time_zone().unwrap();
    assert_eq!(local_offset(&tz, date(2030, 3, 20).at(12, 0, 0, 0)), unambiguous(-7));
    assert_eq!(local_offset(&tz, date(2031, 3, 20).at(12, 0, 0, 0)), unambiguous(-8));
    assert_eq!(local_offset(&tz, date(2045, 4, 10).at(12, 0, 0, 0)), unambiguous(-7));
}

#[test]
fn a_switch_to_a_fixed_period_ends_daylight_time() {
    // W. Europe rules until 2027-11-01, then UTC+2 for good (the last Sunday of October 2027
    // is the 31st).
    let mut def = w_europe();
    def.periods.push(period("Perm", "Standard", -hours(2)));
    def.transitions_groups.push(group("1", vec![Transition::Plain { to: TransitionTarget::period("Perm") }]));
    def.transitions = Some(Transitions {
        transition: TransitionTarget::group("0"),
        transitions: vec![Transition::AbsoluteDate {
            offset: None,
            to: TransitionTarget::group("1"),
            date_time: date(2027, 11, 1).at(0, 0, 0, 0),
        }],
    });
    let tz = def.to_time_zone().unwrap();
    assert_eq!(local_offset(&tz, date(2027, 1, 15).at(12, 0, 0, 0)), unambiguous(1));
    assert_eq!(local_offset(&tz, date(2027, 7, 15).at(12, 0, 0, 0)), unambiguous(2));
    assert_eq!(local_offset(&tz, date(2027, 10, 31).at(12, 0, 0, 0)), unambiguous(1));
    assert_eq!(local_offset(&tz, date(2027, 11, 2).at(12, 0, 0, 0)), unambiguous(2));
    assert_eq!(local_offset(&tz, date(2035, 1, 15).at(12, 0, 0, 0)), unambiguous(2));
}

#[test]
fn windows_end_of_day_times_round_to_midnight() {
    // Windows writes "end of day" as 23:59:59.999.
    let mut def = w_europe();
    def.transitions_groups[0].transitions[0] = Transition::RecurringDay {
        to: TransitionTarget::period("Dlt"),
        time_offset: hours(24) - SignedDuration::from_millis(1),
        month: 3,
        day_of_week: DayOfWeek::Saturday,
        occurrence: -1,
    };
    assert_eq!(def.posix_tz_string().unwrap(), "<+01>-1<+02>-2,M3.5.6/24,M10.5.0/3");
    let tz = def.to_time_zone().unwrap();
    // Last Saturday of March 2026 is the 28th; daylight time from the 29th 00:00.
    assert_eq!(local_offset(&tz, date(2026, 3, 28).at(23, 30, 0, 0)), unambiguous(1));
    assert_eq!(local_offset(&tz, date(2026, 3, 29).at(1, 30, 0, 0)), unambiguous(2));
}

#[test]
fn definition_by_id_only_uses_the_cldr_table() {
    let def = TimeZoneDefinition { id: Some("Mountain Standard Time".into()), ..TimeZoneDefinition::default() };
    assert_eq!(def.to_time_zone().unwrap().iana_name(), Some("America/Denver"));
    let def = TimeZoneDefinition { id: Some("Mountain Time".into()), ..TimeZoneDefinition::default() };
    let err = def.to_time_zone().unwrap_err();
    assert!(matches!(err, TzError::NoPeriods { .. }), "{err}");
    assert!(err.to_string().contains("Mountain Time"), "{err}");
    let err = TimeZoneDefinition::default().to_time_zone().unwrap_err();
    assert!(matches!(err, TzError::NoPeriods { id: None }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Malformed definitions

fn err_of(def: &TimeZoneDefinition) -> TzError {
    match def.to_time_zone() {
        Ok(tz) => panic!("expected an error, got {tz:?}"),
        Err(e) => e,
    }
}

fn with_first_transition(t: Transition) -> TimeZoneDefinition {
    let mut def = w_europe();
    def.transitions_groups[0].transitions[0] = t;
    def
}

/// What the case is, the definition, the error expected, a part of its message.
type MalformedCase = (&'static str, TimeZoneDefinition, fn(&TzError) -> bool, &'static str);

#[test]
fn malformed_definitions_name_what_is_wrong() {
    let cases: Vec<MalformedCase> = vec![
        (
            "unknown period",
            with_first_transition(on_day("Summer", hours(2), 3, -1)),
            |e| matches!(e, TzError::UnknownPeriod { id, .. } if id == "Summer"),
            "transitions group \"0\", transition 1",
        ),
        (
            "month 13",
            with_first_transition(on_day("Dlt", hours(2), 13, -1)),
            |e| matches!(e, TzError::MonthOutOfRange { month: 13, .. }),
            "month 13",
        ),
        (
            "month 0",
            with_first_transition(on_day("Dlt", hours(2), 0, -1)),
            |e| matches!(e, TzError::MonthOutOfRange { month: 0, .. }),
            "not in 1..=12",
        ),
        (
            "occurrence 6",
            with_first_transition(on_day("Dlt", hours(2), 3, 6)),
            |e| matches!(e, TzError::OccurrenceOutOfRange { occurrence: 6, .. }),
            "occurrence 6",
        ),
        (
            "occurrence 0",
            with_first_transition(on_day("Dlt", hours(2), 3, 0)),
            |e| matches!(e, TzError::OccurrenceOutOfRange { occurrence: 0, .. }),
            "occurrence 0",
        ),
        (
            "weekday",
            with_first_transition(Transition::RecurringDay {
                to: TransitionTarget::period("Dlt"),
                time_offset: hours(2),
                month: 3,
                day_of_week: DayOfWeek::Weekday,
                occurrence: 1,
            }),
            |e| matches!(e, TzError::UnsupportedDayOfWeek { .. }),
            "Weekday",
        ),
        (
            "April 31",
            with_first_transition(Transition::RecurringDate {
                to: TransitionTarget::period("Dlt"),
                time_offset: hours(2),
                month: 4,
                day: 31,
            }),
            |e| matches!(e, TzError::DayOutOfRange { day: 31, month: 4, .. }),
            "day 31 of month 4",
        ),
        (
            "February 29",
            with_first_transition(Transition::RecurringDate {
                to: TransitionTarget::period("Dlt"),
                time_offset: hours(2),
                month: 2,
                day: 29,
            }),
            |e| matches!(e, TzError::DayOutOfRange { day: 29, month: 2, .. }),
            "day 29 of month 2",
        ),
        (
            "time offset",
            with_first_transition(on_day("Dlt", hours(200), 3, -1)),
            |e| matches!(e, TzError::TimeOffsetOutOfRange { .. }),
            "167 hours",
        ),
        (
            "absolute date in group",
            with_first_transition(Transition::AbsoluteDate {
                offset: None,
                to: TransitionTarget::period("Dlt"),
                date_time: date(2026, 3, 29).at(2, 0, 0, 0),
            }),
            |e| matches!(e, TzError::Unsupported { .. }),
            "inside a transitions group",
        ),
        (
            "group target in group",
            with_first_transition(Transition::Plain { to: TransitionTarget::group("0") }),
            |e| matches!(e, TzError::GroupTargetInGroup { .. }),
            "must target a period",
        ),
        (
            "unknown group",
            TimeZoneDefinition { transitions: starting_with("7"), ..w_europe() },
            |e| matches!(e, TzError::UnknownGroup { id, .. } if id == "7"),
            "group \"7\"",
        ),
        (
            "duplicate period",
            {
                let mut d = w_europe();
                d.periods.push(period("Std", "Standard", -hours(1)));
                d
            },
            |e| matches!(e, TzError::DuplicatePeriodId { id } if id == "Std"),
            "two periods",
        ),
        (
            "duplicate group",
            {
                let mut d = w_europe();
                d.transitions_groups.push(d.transitions_groups[0].clone());
                d
            },
            |e| matches!(e, TzError::DuplicateGroupId { .. }),
            "two transitions groups",
        ),
        (
            "bias 30h",
            {
                let mut d = w_europe();
                d.periods[0].bias = hours(30);
                d
            },
            |e| matches!(e, TzError::BiasOutOfRange { .. }),
            "period \"Std\"",
        ),
        (
            "fractional bias",
            {
                let mut d = w_europe();
                d.periods[0].bias = SignedDuration::from_millis(-3_600_500);
                d
            },
            |e| matches!(e, TzError::BiasOutOfRange { .. }),
            "whole number of seconds",
        ),
        (
            "three recurring transitions",
            {
                let mut d = w_europe();
                d.transitions_groups[0].transitions.push(on_day("Dlt", hours(2), 6, 1));
                d
            },
            |e| matches!(e, TzError::Unsupported { .. }),
            "3 recurring transitions",
        ),
        (
            "empty group",
            {
                let mut d = w_europe();
                d.transitions_groups[0].transitions.clear();
                d
            },
            |e| matches!(e, TzError::Unsupported { .. }),
            "no transitions",
        ),
        (
            "two periods and nothing else",
            TimeZoneDefinition { transitions_groups: vec![], transitions: None, ..w_europe() },
            |e| matches!(e, TzError::MissingTransitions { periods: 2 }),
            "2 periods",
        ),
        (
            "recurring transition at the top level",
            TimeZoneDefinition {
                transitions: Some(Transitions {
                    transition: TransitionTarget::group("0"),
                    transitions: vec![on_day("Dlt", hours(2), 3, -1)],
                }),
                ..w_europe()
            },
            |e| matches!(e, TzError::Unsupported { .. }),
            "transitions, transition 2",
        ),
        (
            "two switches at one time",
            {
                let mut d = pacific_two_groups();
                let t = d.transitions.as_mut().unwrap();
                t.transitions.push(t.transitions[0].clone());
                d
            },
            |e| matches!(e, TzError::DuplicateTransitionDate { .. }),
            "2007-01-01T08:00:00",
        ),
        (
            "switches thousands of years apart",
            {
                let mut d = pacific_two_groups();
                let t = d.transitions.as_mut().unwrap();
                t.transitions.push(Transition::AbsoluteDate {
                    offset: None,
                    to: TransitionTarget::group("0"),
                    date_time: date(9000, 1, 1).at(0, 0, 0, 0),
                });
                d
            },
            |e| matches!(e, TzError::SpanTooLong { .. }),
            "more than 1000 years",
        ),
    ];
    for (what, def, is_expected, message_part) in cases {
        let err = err_of(&def);
        assert!(is_expected(&err), "{what}: unexpected error {err:?}");
        let message = err.to_string();
        assert!(message.contains(message_part), "{what}: message {message:?} lacks {message_part:?}");
    }
}

#[test]
fn definitions_at_the_edges_of_the_calendar_do_not_panic() {
    for year in [-9999, -9998, 1, 9998, 9999] {
        let mut def = pacific_two_groups();
        if let Some(Transition::AbsoluteDate { date_time, .. }) =
            def.transitions.as_mut().unwrap().transitions.first_mut()
        {
            *date_time = date(year, 1, 1).at(0, 0, 0, 0);
        }
        let _ = def.to_time_zone();
        let mut def = w_europe();
        def.transitions_groups[0].transitions[1] = on_day("Std", hours(-167), 1, 1);
        if let Ok(tz) = def.to_time_zone() {
            let _ = tz.to_ambiguous_timestamp(date(year, 1, 1).at(0, 0, 0, 0));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SerializableTimeZone

fn legacy_time(bias: i32, h: i8, day_order: i16, month: i16) -> SerializableTimeZoneTime {
    SerializableTimeZoneTime {
        bias,
        time: Time::new(h, 0, 0, 0).unwrap(),
        day_order,
        month,
        day_of_week: Some(DayOfWeek::Sunday),
        year: None,
    }
}

#[test]
fn legacy_zone_of_the_get_user_availability_sample() {
    // samples/GetUserAvailability.request.xml: Pacific time with the US rules before 2007.
    let legacy = SerializableTimeZone {
        bias: 480,
        standard_time: legacy_time(0, 2, 5, 10),
        daylight_time: legacy_time(-60, 2, 1, 4),
    };
    assert_eq!(legacy.posix_tz_string().unwrap(), "<-08>8<-07>7,M4.1.0/2,M10.5.0/2");
    let tz = legacy.to_time_zone().unwrap();
    let la = TimeZone::get("America/Los_Angeles").unwrap();
    assert_same_zone(&tz, &la, date(2006, 1, 1), date(2007, 1, 1), hours(1));
}

#[test]
fn legacy_zones_in_both_hemispheres_and_without_daylight_time() {
    let europe = SerializableTimeZone {
        bias: -60,
        standard_time: legacy_time(0, 3, 5, 10),
        daylight_time: legacy_time(-60, 2, 5, 3),
    };
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    assert_same_zone(&europe.to_time_zone().unwrap(), &berlin, date(2026, 1, 1), date(2027, 1, 1), hours(1));

    let sydney = SerializableTimeZone {
        bias: -600,
        standard_time: legacy_time(0, 3, 1, 4),
        daylight_time: legacy_time(-60, 2, 1, 10),
    };
    let reference = TimeZone::get("Australia/Sydney").unwrap();
    assert_same_zone(&sydney.to_time_zone().unwrap(), &reference, date(2026, 1, 1), date(2027, 1, 1), hours(1));

    // No daylight time, the EWS Managed API way (two changes with bias 0) and with month 0.
    let tokyo = SerializableTimeZone {
        bias: -540,
        standard_time: legacy_time(0, 2, 1, 3),
        daylight_time: legacy_time(0, 2, 1, 10),
    };
    assert_eq!(tokyo.to_time_zone().unwrap().to_fixed_offset().unwrap(), offset(9));
    let tokyo = SerializableTimeZone {
        standard_time: legacy_time(0, 0, 0, 0),
        daylight_time: legacy_time(-60, 0, 0, 0),
        ..tokyo
    };
    assert_eq!(tokyo.to_time_zone().unwrap().to_fixed_offset().unwrap(), offset(9));
}

#[test]
fn malformed_legacy_zones_are_errors() {
    let good = SerializableTimeZone {
        bias: -60,
        standard_time: legacy_time(0, 3, 5, 10),
        daylight_time: legacy_time(-60, 2, 5, 3),
    };
    let mut bad = good.clone();
    bad.daylight_time.month = 13;
    assert!(matches!(bad.to_time_zone(), Err(TzError::MonthOutOfRange { month: 13, .. })));
    let mut bad = good.clone();
    bad.standard_time.day_order = 6;
    assert!(matches!(bad.to_time_zone(), Err(TzError::OccurrenceOutOfRange { occurrence: 6, .. })));
    let mut bad = good.clone();
    bad.standard_time.day_of_week = None;
    let err = bad.to_time_zone().unwrap_err();
    assert!(matches!(err, TzError::UnsupportedDayOfWeek { .. }), "{err}");
    assert!(err.to_string().contains("StandardTime"), "{err}");
    let mut bad = good.clone();
    bad.bias = 100_000;
    assert!(matches!(bad.to_time_zone(), Err(TzError::LegacyBiasOutOfRange { .. })));
    let mut bad = good.clone();
    bad.bias = i32::MIN;
    bad.daylight_time.bias = i32::MIN;
    assert!(bad.to_time_zone().is_err());
    let mut bad = good;
    bad.daylight_time.year = Some(2026);
    bad.daylight_time.day_order = 30;
    bad.daylight_time.month = 2;
    assert!(matches!(bad.to_time_zone(), Err(TzError::DayOutOfRange { day: 30, month: 2, .. })));
}

// ---------------------------------------------------------------------------------------------
// Round trips: jiff zone -> wire form -> jiff zone

const ROUND_TRIP_ZONES: &[(&str, &str)] = &[
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("GMT Standard Time", "Europe/London"),
    ("Eastern Standard Time", "America/New_York"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Chatham Islands Standard Time", "Pacific/Chatham"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("UTC", "Etc/UTC"),
];

#[test]
fn round_trip_through_time_zone_definition() {
    for &(windows_id, iana) in ROUND_TRIP_ZONES {
        let tz = TimeZone::get(iana).unwrap();
        for year in [2026, 2027] {
            let def = TimeZoneDefinition::from_time_zone(windows_id, &tz, year)
                .unwrap_or_else(|e| panic!("{iana} {year}: {e}"));
            assert_eq!(def.id.as_deref(), Some(windows_id));
            let back = def.to_time_zone().unwrap_or_else(|e| panic!("{iana} {year}: {e}"));
            assert_same_zone(&back, &tz, date(year, 1, 1), date(year + 1, 1, 1), minutes(30));
        }
        // The rules hold for the years after too (current tzdb rules are yearly rules).
        let def = TimeZoneDefinition::from_time_zone(windows_id, &tz, 2026).unwrap();
        let back = def.to_time_zone().unwrap();
        assert_same_zone(&back, &tz, date(2026, 1, 1), date(2036, 1, 1), hours(3));
    }
}

#[test]
fn round_trip_through_serializable_time_zone() {
    for &(_, iana) in ROUND_TRIP_ZONES {
        let tz = TimeZone::get(iana).unwrap();
        let legacy = SerializableTimeZone::from_time_zone(&tz, 2026).unwrap_or_else(|e| panic!("{iana}: {e}"));
        let back = legacy.to_time_zone().unwrap_or_else(|e| panic!("{iana}: {e}"));
        assert_same_zone(&back, &tz, date(2026, 1, 1), date(2027, 1, 1), minutes(30));
    }
}

#[test]
fn from_time_zone_writes_what_exchange_writes() {
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    // 2027: the last Sunday of March is the 28th, also the fourth; it must still say "last".
    let def = TimeZoneDefinition::from_time_zone("W. Europe Standard Time", &berlin, 2027).unwrap();
    let mut expected = w_europe();
    expected.id = Some("W. Europe Standard Time".into());
    expected.name = None;
    expected.periods[1].id = "Dlt".into();
    assert_eq!(def, expected);

    let la = TimeZone::get("America/Los_Angeles").unwrap();
    let legacy = SerializableTimeZone::from_time_zone(&la, 2026).unwrap();
    assert_eq!(
        legacy,
        SerializableTimeZone {
            bias: 480,
            standard_time: legacy_time(0, 2, 1, 11),
            daylight_time: legacy_time(-60, 2, 2, 3),
        }
    );

    let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
    let def = TimeZoneDefinition::from_time_zone("Tokyo Standard Time", &tokyo, 2026).unwrap();
    assert_eq!(def.periods, vec![period("Std", "Standard", -hours(9))]);
    assert_eq!(
        def.transitions_groups,
        vec![group("0", vec![Transition::Plain { to: TransitionTarget::period("Std") }])]
    );
}

#[test]
fn from_time_zone_refuses_what_it_cannot_describe() {
    // Morocco: UTC+1 with a month of UTC+0 around Ramadan, on dates no yearly rule describes;
    // 2026 has two changes (describable for that year), never more than two. A zone with a
    // fixed offset and a DST-like excursion in the other direction still round-trips.
    let casablanca = TimeZone::get("Africa/Casablanca").unwrap();
    let def = TimeZoneDefinition::from_time_zone("Morocco Standard Time", &casablanca, 2026).unwrap();
    let back = def.to_time_zone().unwrap();
    assert_same_zone(&back, &casablanca, date(2026, 1, 1), date(2027, 1, 1), hours(1));

    // A POSIX zone with three offsets in a year cannot be described.
    let odd = TimeZone::tzif("Odd", &three_offsets_tzif()).unwrap();
    let err = TimeZoneDefinition::from_time_zone("Odd", &odd, 2026).unwrap_err();
    assert!(matches!(err, TzError::NotRepresentable { .. }), "{err}");
}

/// A TZif zone going +01 -> +02 -> +03 in 2026.
fn three_offsets_tzif() -> Vec<u8> {
    let transitions = [
        (utc(date(2026, 3, 1).at(0, 0, 0, 0)).as_second(), 1u8),
        (utc(date(2026, 9, 1).at(0, 0, 0, 0)).as_second(), 2u8),
    ];
    let types: [(i32, &[u8]); 3] = [(3600, b"+01\0"), (7200, b"+02\0"), (10800, b"+03\0")];
    let mut out = Vec::new();
    let header = |out: &mut Vec<u8>, timecnt: u32, typecnt: u32, charcnt: u32| {
        out.extend_from_slice(b"TZif2");
        out.extend_from_slice(&[0; 15]);
        for n in [0, 0, 0, timecnt, typecnt, charcnt] {
            out.extend_from_slice(&n.to_be_bytes());
        }
    };
    header(&mut out, 0, 1, 4);
    out.extend_from_slice(&3600i32.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(b"+01\0");
    header(&mut out, 2, 3, 12);
    for (t, _) in transitions {
        out.extend_from_slice(&t.to_be_bytes());
    }
    for (_, i) in transitions {
        out.push(i);
    }
    for (i, (off, _)) in types.iter().enumerate() {
        out.extend_from_slice(&off.to_be_bytes());
        out.push(0);
        out.push(4 * i as u8);
    }
    for (_, name) in types {
        out.extend_from_slice(name);
    }
    out.extend_from_slice(b"\n<+03>-3\n");
    out
}

// ---------------------------------------------------------------------------------------------
// Arbitrary input never panics

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn day_of_week() -> impl Strategy<Value = DayOfWeek> {
        prop_oneof![
            Just(DayOfWeek::Sunday),
            Just(DayOfWeek::Wednesday),
            Just(DayOfWeek::Saturday),
            Just(DayOfWeek::Weekday),
        ]
    }

    fn target(ids: &'static [&'static str]) -> impl Strategy<Value = TransitionTarget> {
        (prop::sample::select(ids), any::<bool>())
            .prop_map(|(id, group)| if group { TransitionTarget::group(id) } else { TransitionTarget::period(id) })
    }

    const IDS: &[&str] = &["Std", "Dlt", "0", "1", "x"];

    fn transition() -> impl Strategy<Value = Transition> {
        let time = (-200i64..200).prop_map(|m| SignedDuration::from_mins(m * 60));
        prop_oneof![
            target(IDS).prop_map(|to| Transition::Plain { to }),
            (target(IDS), time.clone(), any::<i8>(), day_of_week(), any::<i8>()).prop_map(
                |(to, time_offset, month, day_of_week, occurrence)| {
                    Transition::RecurringDay { to, time_offset, month, day_of_week, occurrence }
                }
            ),
            (target(IDS), time, any::<i8>(), any::<i8>())
                .prop_map(|(to, time_offset, month, day)| Transition::RecurringDate { to, time_offset, month, day }),
            (target(IDS), -9999i16..=9999, 1i8..=12).prop_map(|(to, y, m)| {
                Transition::AbsoluteDate { offset: None, to, date_time: date(y, m, 1).at(0, 0, 0, 0) }
            }),
        ]
    }

    fn definition() -> impl Strategy<Value = TimeZoneDefinition> {
        let period = (prop::sample::select(IDS), -1600i64..1600)
            .prop_map(|(id, m)| super::period(id, "P", SignedDuration::from_mins(m)));
        let group = (prop::sample::select(IDS), prop::collection::vec(transition(), 0..4))
            .prop_map(|(id, transitions)| TransitionsGroup { id: id.into(), transitions });
        let transitions = prop::option::of(
            (target(IDS), prop::collection::vec(transition(), 0..4))
                .prop_map(|(transition, transitions)| Transitions { transition, transitions }),
        );
        (prop::collection::vec(period, 0..4), prop::collection::vec(group, 0..3), transitions).prop_map(
            |(periods, transitions_groups, transitions)| TimeZoneDefinition {
                id: None,
                name: None,
                periods,
                transitions_groups,
                transitions,
            },
        )
    }

    fn legacy_time() -> impl Strategy<Value = SerializableTimeZoneTime> {
        (
            any::<i32>(),
            0i8..24,
            any::<i16>(),
            any::<i16>(),
            prop::option::of(day_of_week()),
            prop::option::of(any::<i16>()),
        )
            .prop_map(|(bias, h, day_order, month, day_of_week, year)| SerializableTimeZoneTime {
                bias,
                time: Time::new(h, 0, 0, 0).unwrap(),
                day_order,
                month,
                day_of_week,
                year,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn definitions_convert_or_fail_without_panicking(def in definition()) {
            if let Ok(tz) = def.to_time_zone() {
                let _ = tz.to_ambiguous_timestamp(date(2026, 3, 29).at(2, 30, 0, 0));
            }
            let _ = def.posix_tz_string();
        }

        #[test]
        fn legacy_zones_convert_or_fail_without_panicking(
            bias in any::<i32>(), std in legacy_time(), dlt in legacy_time()
        ) {
            let legacy = SerializableTimeZone { bias, standard_time: std, daylight_time: dlt };
            if let Ok(tz) = legacy.to_time_zone() {
                let _ = tz.to_ambiguous_timestamp(date(2026, 3, 29).at(2, 30, 0, 0));
            }
        }
    }
}
