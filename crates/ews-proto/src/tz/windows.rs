//! Windows time zone ids ↔ IANA names, by the generated CLDR table.

use jiff::tz::TimeZone;

use super::TzError;
use super::windows_zones::{IANA_ALTERNATES, IANA_PREFERRED, IANA_TO_WINDOWS, WINDOWS_ZONES};

/// One row of CLDR `windowsZones`: the IANA zones a Windows zone stands for in one territory.
///
/// Territory `"001"` (the world) names the canonical zone; `"ZZ"` rows give the `Etc/GMT±n`
/// zones. IANA ids are spelled as CLDR spells them, which for a few zones is an older IANA
/// spelling (`Asia/Calcutta`); the lookup functions return the IANA-preferred spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowsZoneMapping {
    pub windows_id: &'static str,
    pub territory: &'static str,
    /// The principal zone first.
    pub iana_ids: &'static [&'static str],
}

impl WindowsZoneMapping {
    pub const fn new(
        windows_id: &'static str,
        territory: &'static str,
        iana_ids: &'static [&'static str],
    ) -> WindowsZoneMapping {
        WindowsZoneMapping { windows_id, territory, iana_ids }
    }
}

/// The rows of one Windows id (exact match first, then ignoring ASCII case).
fn rows(windows_id: &str) -> &'static [WindowsZoneMapping] {
    let exact = |id: &str| {
        let lo = WINDOWS_ZONES.partition_point(|m| m.windows_id < id);
        let hi = WINDOWS_ZONES.partition_point(|m| m.windows_id <= id);
        &WINDOWS_ZONES[lo..hi]
    };
    let found = exact(windows_id);
    if !found.is_empty() {
        return found;
    }
    match WINDOWS_ZONES.iter().find(|m| m.windows_id.eq_ignore_ascii_case(windows_id.trim())) {
        Some(m) => exact(m.windows_id),
        None => &[],
    }
}

/// The IANA-preferred spelling of a zone id as CLDR spells it (`Asia/Calcutta` → `Asia/Kolkata`).
fn preferred(cldr_id: &'static str) -> &'static str {
    match IANA_PREFERRED.binary_search_by(|(k, _)| (*k).cmp(cldr_id)) {
        Ok(i) => IANA_PREFERRED[i].1,
        Err(_) => cldr_id,
    }
}

/// The Windows id as the table spells it, for an id given in any ASCII case
/// (`"w. europe standard time"` → `"W. Europe Standard Time"`); `None` if unknown.
pub fn canonical_windows_id(windows_id: &str) -> Option<&'static str> {
    rows(windows_id).first().map(|m| m.windows_id)
}

/// The canonical IANA zone of a Windows zone (CLDR territory `001`), in its IANA-preferred
/// spelling: `"Pacific Standard Time"` → `"America/Los_Angeles"`,
/// `"India Standard Time"` → `"Asia/Kolkata"` (CLDR writes `Asia/Calcutta`).
pub fn windows_to_iana(windows_id: &str) -> Option<&'static str> {
    windows_to_iana_for_territory(windows_id, "001")
}

/// The principal IANA zone of a Windows zone in one territory (an ISO 3166 region code such as
/// `"US"` or `"DE"`, `"001"` for the world, `"ZZ"` for `Etc/GMT±n`), IANA-preferred spelling.
/// `None` if CLDR has no row for that Windows id and territory.
pub fn windows_to_iana_for_territory(windows_id: &str, territory: &str) -> Option<&'static str> {
    rows(windows_id)
        .iter()
        .find(|m| m.territory.eq_ignore_ascii_case(territory.trim()))
        .and_then(|m| m.iana_ids.first())
        .map(|id| preferred(id))
}

/// The Windows zone of an IANA zone, from any territory's row: `"Europe/Berlin"`,
/// `"Europe/Oslo"` → `"W. Europe Standard Time"`. Aliases are accepted (`"Asia/Kolkata"`,
/// `"Asia/Calcutta"`, `"US/Pacific"`), and so is any name jiff's bundled tz database resolves
/// (case-insensitively) to one of these.
pub fn iana_to_windows(iana: &str) -> Option<&'static str> {
    fn lookup(name: &str) -> Option<&'static str> {
        IANA_TO_WINDOWS.binary_search_by(|(k, _)| (*k).cmp(name)).ok().map(|i| IANA_TO_WINDOWS[i].1)
    }
    if let Some(w) = lookup(iana) {
        return Some(w);
    }
    let tz = TimeZone::get(iana.trim()).ok()?;
    tz.iana_name().and_then(lookup).or_else(|| tz.primary_iana_name().and_then(lookup))
}

/// Every Windows time zone id CLDR knows, sorted (byte-wise), each once.
pub fn windows_zone_ids() -> impl Iterator<Item = &'static str> {
    // The generator checks that every id has exactly one territory "001" row.
    WINDOWS_ZONES.iter().filter(|m| m.territory == "001").map(|m| m.windows_id)
}

/// The names to try, in order, to load a zone CLDR spells `cldr_id`.
fn candidates(cldr_id: &'static str) -> Vec<&'static str> {
    let mut names = vec![preferred(cldr_id), cldr_id];
    if let Ok(i) = IANA_ALTERNATES.binary_search_by(|(k, _)| (*k).cmp(cldr_id)) {
        names.extend_from_slice(IANA_ALTERNATES[i].1);
    }
    let mut seen = Vec::with_capacity(names.len());
    names.retain(|n| {
        let new = !seen.contains(n);
        seen.push(*n);
        new
    });
    names
}

/// Loads, from the tz database bundled with jiff, the zone CLDR gives for the Windows id
/// (territory `001`). Where jiff lacks the name CLDR uses, CLDR's other names for the same zone
/// are tried.
pub fn time_zone_for_windows_id(windows_id: &str) -> Result<TimeZone, TzError> {
    let row = rows(windows_id)
        .iter()
        .find(|m| m.territory == "001")
        .ok_or_else(|| TzError::UnknownWindowsId { id: windows_id.to_owned() })?;
    let mut tried = Vec::new();
    for cldr_id in row.iana_ids {
        for name in candidates(cldr_id) {
            match TimeZone::get(name) {
                Ok(tz) => return Ok(tz),
                Err(_) => tried.push(name.to_owned()),
            }
        }
    }
    Err(TzError::IanaZoneUnavailable { windows_id: row.windows_id.to_owned(), tried })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tz::windows_zones::IANA_TO_WINDOWS;

    #[test]
    fn tables_are_sorted_for_binary_search() {
        for pair in WINDOWS_ZONES.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!((a.windows_id, a.territory) < (b.windows_id, b.territory), "{a:?} !< {b:?}");
        }
        for pair in IANA_TO_WINDOWS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{pair:?}");
        }
        for pair in IANA_PREFERRED.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{pair:?}");
        }
        for pair in IANA_ALTERNATES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn every_table_zone_is_in_the_reverse_table() {
        for m in WINDOWS_ZONES {
            for id in m.iana_ids {
                assert_eq!(iana_to_windows(id), Some(m.windows_id), "{id}");
            }
        }
    }

    #[test]
    fn candidates_start_with_preferred_spelling_without_duplicates() {
        assert_eq!(candidates("Asia/Calcutta"), ["Asia/Kolkata", "Asia/Calcutta"]);
        assert_eq!(candidates("Europe/Berlin"), ["Europe/Berlin"]);
    }
}
