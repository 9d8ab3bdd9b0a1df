//! Time zones as EWS speaks them, turned into real [`jiff`] time zones.
//!
//! EWS names zones by **Windows time zone id** (`"W. Europe Standard Time"`), and may also send
//! a zone spelled out as a [`TimeZoneDefinition`] (periods, transition groups, transitions:
//! `StartTimeZone`, `EndTimeZone`, `TimeZoneContext`) or, in GetUserAvailability and
//! `WorkingHours`, as a legacy [`SerializableTimeZone`] (a bias and two yearly rules).
//!
//! * Windows id ↔ IANA name: a table generated from Unicode CLDR `windowsZones`
//!   ([`windows_to_iana`], [`iana_to_windows`], [`time_zone_for_windows_id`], …; the raw rows are
//!   [`WINDOWS_ZONES`], the CLDR release is [`CLDR_VERSION`]). Regenerate it with
//!   `python3 tools/gen-windows-zones.py`.
//! * [`TimeZoneDefinition::to_time_zone`] and [`SerializableTimeZone::to_time_zone`] build a
//!   [`jiff::tz::TimeZone`] from what was on the wire; `from_time_zone` goes the other way.
//!
//! The types here are plain data (no XML); every conversion validates its input and reports
//! what was wrong as a [`TzError`] instead of panicking.
//!
//! Sign convention (as on the wire): a *bias* is what is added to local time to get UTC,
//! `UTC = local + bias`, so it is the negated UTC offset: Pacific Standard Time has bias
//! `PT8H` (UTC−08:00), W. Europe Standard Time `-PT1H` (UTC+01:00).

mod definition;
mod error;
mod legacy;
mod rules;
mod windows;
pub mod windows_zones;

pub use definition::{
    DayOfWeek, ParseDayOfWeekError, Period, TimeZoneDefinition, Transition, TransitionTarget, TransitionTargetKind,
    Transitions, TransitionsGroup,
};
pub use error::TzError;
pub use legacy::{SerializableTimeZone, SerializableTimeZoneTime};
pub use windows::{
    WindowsZoneMapping, canonical_windows_id, iana_to_windows, time_zone_for_windows_id, windows_to_iana,
    windows_to_iana_for_territory, windows_zone_ids,
};
pub use windows_zones::{CLDR_CORE_PACKAGE_VERSION, CLDR_VERSION, WINDOWS_ZONES};
