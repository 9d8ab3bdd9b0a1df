//! Windows time zone ids (what EWS speaks) resolved to real zones.
//!
//! A small local table of the zones the simulator uses and clients commonly send. When the
//! protocol crate's CLDR table (`ews_proto::tz`) is on main, [`lookup`] should use
//! `ews_proto::tz::windows_to_iana` for ids not listed here; the display names stay here.

use std::sync::Arc;

use dashmap::DashMap;
use jiff::tz::TimeZone;

/// Windows id, IANA name, display name (as Windows shows it).
const TABLE: &[(&str, &str, &str)] = &[
    ("UTC", "Etc/UTC", "(UTC) Coordinated Universal Time"),
    ("GMT Standard Time", "Europe/London", "(UTC+00:00) Dublin, Edinburgh, Lisbon, London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik", "(UTC+00:00) Monrovia, Reykjavik"),
    ("W. Europe Standard Time", "Europe/Berlin", "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"),
    ("Romance Standard Time", "Europe/Paris", "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris"),
    (
        "Central Europe Standard Time",
        "Europe/Budapest",
        "(UTC+01:00) Belgrade, Bratislava, Budapest, Ljubljana, Prague",
    ),
    ("Central European Standard Time", "Europe/Warsaw", "(UTC+01:00) Sarajevo, Skopje, Warsaw, Zagreb"),
    ("GTB Standard Time", "Europe/Bucharest", "(UTC+02:00) Athens, Bucharest"),
    ("FLE Standard Time", "Europe/Kiev", "(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius"),
    ("Russian Standard Time", "Europe/Moscow", "(UTC+03:00) Moscow, St. Petersburg"),
    ("Arabian Standard Time", "Asia/Dubai", "(UTC+04:00) Abu Dhabi, Muscat"),
    ("India Standard Time", "Asia/Kolkata", "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi"),
    ("China Standard Time", "Asia/Shanghai", "(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi"),
    ("Singapore Standard Time", "Asia/Singapore", "(UTC+08:00) Kuala Lumpur, Singapore"),
    ("Tokyo Standard Time", "Asia/Tokyo", "(UTC+09:00) Osaka, Sapporo, Tokyo"),
    ("AUS Eastern Standard Time", "Australia/Sydney", "(UTC+10:00) Canberra, Melbourne, Sydney"),
    ("New Zealand Standard Time", "Pacific/Auckland", "(UTC+12:00) Auckland, Wellington"),
    ("E. South America Standard Time", "America/Sao_Paulo", "(UTC-03:00) Brasilia"),
    ("Pacific SA Standard Time", "America/Santiago", "(UTC-04:00) Santiago"),
    ("Eastern Standard Time", "America/New_York", "(UTC-05:00) Eastern Time (US & Canada)"),
    ("Central Standard Time", "America/Chicago", "(UTC-06:00) Central Time (US & Canada)"),
    ("Mountain Standard Time", "America/Denver", "(UTC-07:00) Mountain Time (US & Canada)"),
    ("US Mountain Standard Time", "America/Phoenix", "(UTC-07:00) Arizona"),
    ("Pacific Standard Time", "America/Los_Angeles", "(UTC-08:00) Pacific Time (US & Canada)"),
    ("Alaskan Standard Time", "America/Anchorage", "(UTC-09:00) Alaska"),
    ("Hawaiian Standard Time", "Pacific/Honolulu", "(UTC-10:00) Hawaii"),
];

/// A time zone as the simulator keeps it: the Windows id items carry, and the real zone.
#[derive(Debug)]
pub struct Zone {
    /// The Windows id, as in the table (canonical spelling).
    pub windows_id: &'static str,
    pub iana: &'static str,
    pub display_name: &'static str,
    pub tz: TimeZone,
}

/// The Windows id, IANA name and display name of a Windows id or IANA name (case-insensitive).
pub fn lookup(name: &str) -> Option<(&'static str, &'static str, &'static str)> {
    let name = name.trim();
    TABLE.iter().copied().find(|(w, i, _)| w.eq_ignore_ascii_case(name) || i.eq_ignore_ascii_case(name))
}

/// Every Windows id the simulator knows.
pub fn windows_ids() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(w, _, _)| *w)
}

/// Resolved zones, shared by every item that uses them (one `Arc` clone per item).
#[derive(Debug, Default)]
pub(crate) struct Zones {
    cache: DashMap<&'static str, Arc<Zone>>,
}

impl Zones {
    /// The zone for a Windows id (or an IANA name from the table); `None` if unknown.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Zone>> {
        let (windows_id, iana, display_name) = lookup(name)?;
        if let Some(z) = self.cache.get(windows_id) {
            return Some(z.clone());
        }
        let tz = TimeZone::get(iana).ok()?;
        let zone = Arc::new(Zone { windows_id, iana, display_name, tz });
        Some(self.cache.entry(windows_id).or_insert(zone).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_zone_resolves() {
        let zones = Zones::default();
        for id in windows_ids() {
            let z = zones.get(id).unwrap_or_else(|| panic!("{id}"));
            assert_eq!(z.windows_id, id);
        }
        assert_eq!(zones.get("w. europe standard time").unwrap().iana, "Europe/Berlin");
        assert_eq!(zones.get("Europe/Berlin").unwrap().windows_id, "W. Europe Standard Time");
        assert!(zones.get("Mars Standard Time").is_none());
        assert!(Arc::ptr_eq(&zones.get("UTC").unwrap(), &zones.get("Etc/UTC").unwrap()));
    }
}
