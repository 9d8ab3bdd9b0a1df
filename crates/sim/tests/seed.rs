//! Seeding: determinism (same seed → same bytes), variety of the content, scale.

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use exbridge_sim::json::{ItemJson, PatternJson, list_items};
use exbridge_sim::seed::{SeedConfig, seeded_store};
use exbridge_sim::store::{FolderKind, Store};
use jiff::civil::date;

fn listing(store: &Store) -> String {
    let mut out = String::new();
    for mb in store.mailboxes() {
        out.push_str(&format!("{} {:?} {} {}\n", mb.smtp(), mb.aliases(), mb.display_name(), mb.time_zone()));
        out.push_str(&serde_json::to_string(&list_items(store, mb.smtp().as_str()).unwrap()).unwrap());
        out.push('\n');
    }
    out
}

fn config(seed: u64) -> SeedConfig {
    SeedConfig::new(seed, 30, 50, "contoso.test").with_anchor(date(2026, 3, 16))
}

#[test]
fn same_seed_gives_byte_identical_content() {
    let a = listing(&seeded_store(&config(42)).unwrap());
    let b = listing(&seeded_store(&config(42)).unwrap());
    assert!(a.len() > 100_000, "{}", a.len());
    assert_eq!(a, b, "same seed, same bytes");
}

#[test]
fn different_seed_or_anchor_gives_different_content() {
    let a = listing(&seeded_store(&config(42)).unwrap());
    let b = listing(&seeded_store(&config(43)).unwrap());
    assert_ne!(a, b);
    let c = listing(&seeded_store(&config(42).with_anchor(date(2026, 3, 17))).unwrap());
    assert_ne!(a, c);
    // A mailbox's content does not depend on how many mailboxes there are beside it, except
    // for whom it invites (attendees are drawn from all users).
    let small = seeded_store(&SeedConfig::new(42, 30, 10, "contoso.test").with_anchor(date(2026, 3, 16))).unwrap();
    let big = seeded_store(&config(42)).unwrap();
    let s = list_items(&small, "user5@contoso.test").unwrap();
    let b = list_items(&big, "user5@contoso.test").unwrap();
    let masters = |v: &[ItemJson]| {
        v.iter().filter(|i| i.item_type != "Exception").take(10).map(|i| i.subject.clone()).collect::<Vec<_>>()
    };
    assert_eq!(masters(&s), masters(&b));
}

#[test]
fn seeded_calendars_have_every_kind_of_item() {
    let store = seeded_store(&SeedConfig::new(9, 20, 50, "contoso.test").with_anchor(date(2026, 3, 16))).unwrap();
    assert_eq!(store.mailbox_count(), 20);
    let mut all = Vec::new();
    for mb in store.mailboxes() {
        assert_eq!(mb.item_count(FolderKind::Calendar), 50);
        assert_eq!(mb.item_count(FolderKind::Tasks), 3);
        let n = mb.number();
        assert_eq!(mb.smtp().as_str(), format!("user{n}@contoso.test"));
        // Both aliases resolve to the mailbox.
        for a in mb.aliases() {
            assert_eq!(store.mailbox(a.as_str()).unwrap().number(), n);
        }
        assert!(mb.aliases().iter().any(|a| a.as_str() == format!("u{n}@alias.contoso.test")));
        assert!(mb.display_name().contains(' '));
        let items = list_items(&store, mb.smtp().as_str()).unwrap();
        // Each mailbox has every kind (the first items cycle through them).
        assert!(items.iter().any(|i| i.is_all_day), "{n}: all-day");
        assert!(items.iter().any(|i| i.sensitivity == "Private"), "{n}: private");
        assert!(items.iter().any(|i| i.recurrence.is_some()), "{n}: recurring");
        assert!(
            items.iter().any(|i| !i.attendees.is_empty() && i.organizer.email == mb.smtp().as_str()),
            "{n}: organized"
        );
        assert!(items.iter().any(|i| i.organizer.email != mb.smtp().as_str()), "{n}: received");
        all.extend(items.into_iter().map(|i| (n, i)));
    }
    let has = |f: &dyn Fn(&ItemJson) -> bool| all.iter().filter(|(_, i)| f(i)).count();
    let text = |i: &ItemJson| format!("{} {}", i.location.as_deref().unwrap_or(""), i.body.as_deref().unwrap_or(""));
    assert!(has(&|i| text(i).contains("https://teams.microsoft.com/l/meetup-join/")) > 20);
    assert!(has(&|i| text(i).contains("https://contoso.zoom.us/j/")) > 10);
    assert!(has(&|i| text(i).contains("https://contoso.webex.com/meet/")) > 10);
    assert!(has(&|i| i.location.as_deref().is_some_and(|l| l.starts_with("https://"))) > 5, "links in the location");
    // Ordinary URLs that are not meeting links, some on the providers' own hosts.
    assert!(has(&|i| text(i).contains("https://intranet.contoso.com/")) > 5);
    assert!(has(&|i| text(i).contains("https://teams.microsoft.com/l/channel/")) > 2);
    assert!(has(&|i| text(i).contains("https://zoom.us/download")) > 2);
    // Series of every frequency, with exceptions and deletions.
    let pattern = |p: &dyn Fn(&PatternJson) -> bool| has(&|i| i.recurrence.as_ref().is_some_and(|r| p(&r.pattern)));
    assert!(pattern(&|p| matches!(p, PatternJson::Daily { .. })) > 0);
    assert!(
        pattern(
            &|p| matches!(p, PatternJson::Weekly { days, .. } if days == &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"])
        ) > 0,
        "weekday standups"
    );
    assert!(pattern(&|p| matches!(p, PatternJson::Weekly { .. })) > 20);
    assert!(pattern(&|p| matches!(p, PatternJson::AbsoluteMonthly { .. })) > 0);
    assert!(pattern(&|p| matches!(p, PatternJson::RelativeMonthly { .. })) > 0);
    assert!(pattern(&|p| matches!(p, PatternJson::AbsoluteYearly { .. })) > 0);
    assert!(has(&|i| !i.modified_occurrences.is_empty()) > 10);
    assert!(has(&|i| !i.deleted_occurrences.is_empty()) > 10);
    assert!(has(&|i| i.item_type == "Exception") > 10);
    // Attendees are simulator users (and some outsiders) with several response types.
    let responses: HashSet<&str> = all.iter().flat_map(|(_, i)| i.attendees.iter().map(|a| a.response)).collect();
    assert!(responses.len() >= 4, "{responses:?}");
    assert!(has(&|i| i.attendees.iter().any(|a| a.email.starts_with("user"))) > 50);
    assert!(has(&|i| i.attendees.iter().any(|a| a.email.ends_with("@fabrikam.example"))) > 5);
    assert!(has(&|i| i.attendees.iter().any(|a| a.kind == "Resource")) > 0);
    // Several zones, and free/busy variety.
    let zones: BTreeSet<&str> = all.iter().map(|(_, i)| i.time_zone.as_str()).collect();
    assert!(zones.len() >= 5, "{zones:?}");
    let fb: BTreeSet<&str> = all.iter().map(|(_, i)| i.legacy_free_busy).collect();
    for v in ["Busy", "Free", "Tentative", "OOF", "WorkingElsewhere"] {
        assert!(fb.contains(v), "{v} missing from {fb:?}");
    }
    // Items are around the anchor (16 March 2026).
    let near = has(&|i| i.item_type == "Single" && i.start.as_str() >= "2026-02-28" && i.start.as_str() < "2026-04-25");
    assert!(near > 500, "{near}");
}

/// `cargo test -p exbridge-sim --release --test seed -- --ignored --nocapture`
#[test]
#[ignore = "scale measurement: run in release"]
fn seed_10000_mailboxes_of_50_events() {
    let rss_before = peak_rss_kib();
    let begin = Instant::now();
    let store = seeded_store(&SeedConfig::new(1, 10_000, 50, "contoso.test").with_anchor(date(2026, 3, 16))).unwrap();
    let elapsed = begin.elapsed();
    let rss_after = peak_rss_kib();
    let items: usize =
        store.mailboxes().iter().map(|m| m.item_count(FolderKind::Calendar) + m.item_count(FolderKind::Tasks)).sum();
    println!(
        "seeded {} mailboxes, {items} items in {:.2} s; peak RSS {} MiB (before: {} MiB)",
        store.mailbox_count(),
        elapsed.as_secs_f64(),
        rss_after / 1024,
        rss_before / 1024
    );
    // A CalendarView over a month for every mailbox.
    let begin = Instant::now();
    let mut n = 0;
    for mb in store.mailboxes() {
        n += store
            .calendar_view(&mb, "2026-03-01T00:00:00Z".parse().unwrap(), "2026-04-01T00:00:00Z".parse().unwrap(), None)
            .unwrap()
            .items
            .len();
    }
    println!("calendar views of one month for all mailboxes: {n} items in {:.2} s", begin.elapsed().as_secs_f64());
    assert_eq!(store.mailbox_count(), 10_000);
    assert!(elapsed.as_secs_f64() < 10.0, "seeding took {elapsed:?}");
    assert!(rss_after < 1024 * 1024, "peak RSS {rss_after} KiB");
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
