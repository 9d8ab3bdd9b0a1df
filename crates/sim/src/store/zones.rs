//! Windows time zone ids (what EWS speaks) resolved to real zones.
//!
//! Every Windows id of CLDR's table is known (through `ews_proto::tz`), and so is every IANA
//! name that maps to one; the display names (`(UTC+01:00) Amsterdam, Berlin, …`, shown in
//! `t:TimeZone`) are listed here for the common zones, other zones show their id.

use std::sync::Arc;

use dashmap::DashMap;
use jiff::tz::TimeZone;

/// Windows id and display name (as Windows shows it) of the zones the seed uses and clients
/// commonly send.
const TABLE: &[(&str, &str)] = &[
    ("UTC", "(UTC) Coordinated Universal Time"),
    ("GMT Standard Time", "(UTC+00:00) Dublin, Edinburgh, Lisbon, London"),
    ("Greenwich Standard Time", "(UTC+00:00) Monrovia, Reykjavik"),
    ("W. Europe Standard Time", "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"),
    ("Romance Standard Time", "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris"),
    ("Central Europe Standard Time", "(UTC+01:00) Belgrade, Bratislava, Budapest, Ljubljana, Prague"),
    ("Central European Standard Time", "(UTC+01:00) Sarajevo, Skopje, Warsaw, Zagreb"),
    ("GTB Standard Time", "(UTC+02:00) Athens, Bucharest"),
    ("FLE Standard Time", "(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius"),
    ("Russian Standard Time", "(UTC+03:00) Moscow, St. Petersburg"),
    ("Arabian Standard Time", "(UTC+04:00) Abu Dhabi, Muscat"),
    ("India Standard Time", "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi"),
    ("China Standard Time", "(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi"),
    ("Singapore Standard Time", "(UTC+08:00) Kuala Lumpur, Singapore"),
    ("Tokyo Standard Time", "(UTC+09:00) Osaka, Sapporo, Tokyo"),
    ("AUS Eastern Standard Time", "(UTC+10:00) Canberra, Melbourne, Sydney"),
    ("New Zealand Standard Time", "(UTC+12:00) Auckland, Wellington"),
    ("E. South America Standard Time", "(UTC-03:00) Brasilia"),
    ("Pacific SA Standard Time", "(UTC-04:00) Santiago"),
    ("Eastern Standard Time", "(UTC-05:00) Eastern Time (US & Canada)"),
    ("Central Standard Time", "(UTC-06:00) Central Time (US & Canada)"),
    ("Mountain Standard Time", "(UTC-07:00) Mountain Time (US & Canada)"),
    ("US Mountain Standard Time", "(UTC-07:00) Arizona"),
    ("Pacific Standard Time", "(UTC-08:00) Pacific Time (US & Canada)"),
    ("Alaskan Standard Time", "(UTC-09:00) Alaska"),
    ("Hawaiian Standard Time", "(UTC-10:00) Hawaii"),
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

/// The Windows id, IANA name and display name of a Windows id or IANA name (any ASCII case).
pub fn lookup(name: &str) -> Option<(&'static str, &'static str, &'static str)> {
    let name = name.trim();
    let windows_id = ews_proto::tz::canonical_windows_id(name).or_else(|| ews_proto::tz::iana_to_windows(name))?;
    let iana = ews_proto::tz::windows_to_iana(windows_id)?;
    let display = TABLE.iter().find(|(w, _)| *w == windows_id).map_or(windows_id, |(_, d)| *d);
    Some((windows_id, iana, display))
}

/// The Windows ids the seed draws from and the tests check (the display-name table).
pub fn windows_ids() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(w, _)| *w)
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
        let tz = ews_proto::tz::time_zone_for_windows_id(windows_id).or_else(|_| TimeZone::get(iana)).ok()?;
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
        // Beyond the local table: any CLDR zone, by Windows id or IANA name.
        let z = zones.get("Mountain Standard Time (Mexico)").unwrap();
        assert_eq!(
            (z.windows_id, z.display_name),
            ("Mountain Standard Time (Mexico)", "Mountain Standard Time (Mexico)")
        );
        assert_eq!(zones.get("Asia/Kathmandu").unwrap().windows_id, "Nepal Standard Time");
        assert!(Arc::ptr_eq(&zones.get("UTC").unwrap(), &zones.get("Etc/UTC").unwrap()));
    }
}
