//! A user's presence at an instant, and the next instant it can change.
//!
//! The connector keeps each user's expanded occurrences and OOF settings. [`presence_at`]
//! computes the presence object of CONTRACT §4 (`GET /api/v1/users/{id}/presence`, and the
//! `data` of the `presence.changed` webhook of §5) at one instant; [`next_change_after`] says
//! when to look again, so `presence.changed` is emitted when a meeting starts or ends or a
//! scheduled OOF window opens or closes, not only when the calendar changes. [`Presence`] is
//! `PartialEq`: compare the new value with the last one emitted and emit only real changes.
//!
//! ## The rules
//!
//! * **Cancelled events are ignored entirely**: they are never the current or the next event,
//!   never make the user busy and are no change points.
//! * **Current event.** A non-cancelled event is *current* when `start <= now < end` (the end
//!   is exclusive, so at the end instant of one meeting and the start of the next, only the
//!   next is current: back-to-back meetings have no gap). An event with `end <= start` is
//!   never current. When several are current, the *busiest* wins
//!   (`Oof` > `Busy` > `Tentative` > `Free`, `WorkingElsewhere`, `NoData`), then the earliest
//!   start, then the later end, then the smallest `id`, then the first in the slice. Free,
//!   working-elsewhere and no-data events can be the current event (they are on the calendar)
//!   but do not make the user busy.
//! * **Busy** is true when the current event is `Busy` or `Oof`, i.e. when any current event
//!   is. `Tentative` does *not* make the user busy: Exchange shows tentative as a status of its
//!   own, and [`EventRef::free_busy`] of the current event lets the application show it.
//! * **Busy reflects the calendar only.** Active automatic replies do not set `busy`; they are
//!   reported separately in [`OofPresence::active`]. (When a user blocks the absence in the
//!   calendar too, as Outlook offers, that `Oof` event makes them busy.)
//! * **All-day events** count like any other: they carry their own instants (midnight to
//!   midnight in their time zone), computed by the caller.
//! * **Next event** is the earliest non-cancelled event with `start > now` (strictly: an event
//!   starting at `now` is current, not next); among events starting together the busiest, then
//!   the same tie-breaks as above.
//! * **OOF active** when the state is `Enabled` (bounds ignored, as Exchange does), or
//!   `Scheduled` with both bounds present and `start <= now < end`. A scheduled window with a
//!   missing bound, or with `end <= start`, is never active. The state and the bounds are
//!   reported as given.
//! * **Private events** keep their instants and free/busy status but their subject is `None`.
//! * **Change points.** [`next_change_after`] is the earliest instant `> now` among the starts
//!   and ends of non-cancelled events and, for a `Scheduled` OOF with both bounds, the
//!   window's start and end. Between two consecutive change points nothing that
//!   [`presence_at`] looks at changes, so for every `t` with `now < t < next_change_after(now)`,
//!   `presence_at(t) == presence_at(now)` exactly (`next_event` included: it can only change
//!   when an event starts). A change point may bring no visible change (the end of a meeting
//!   hidden behind a busier one); compare with `==` before emitting.

use jiff::Timestamp;

/// The free/busy status of an event (EWS `LegacyFreeBusyStatus`).
pub use ews_proto::items::LegacyFreeBusy as FreeBusy;
/// The OOF state (EWS `OofState`): `Disabled`, `Enabled` or `Scheduled`.
pub use ews_proto::ops::oof::OofState;

/// One (already expanded) occurrence of the user's calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceEvent {
    pub id: String,
    pub start: Timestamp,
    /// Exclusive.
    pub end: Timestamp,
    pub is_all_day: bool,
    pub free_busy: FreeBusy,
    pub is_cancelled: bool,
    pub is_private: bool,
    pub subject: Option<String>,
}

/// The user's automatic-reply (OOF) settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oof {
    pub state: OofState,
    pub start: Option<Timestamp>,
    /// Exclusive.
    pub end: Option<Timestamp>,
    pub internal_reply: Option<String>,
}

impl Oof {
    /// Automatic replies off.
    pub fn disabled() -> Self {
        Oof { state: OofState::Disabled, start: None, end: None, internal_reply: None }
    }

    /// Whether automatic replies are on at `now` (see the module rules).
    pub fn is_active(&self, now: Timestamp) -> bool {
        match self.state {
            OofState::Disabled => false,
            OofState::Enabled => true,
            OofState::Scheduled => match self.window() {
                Some((start, end)) => start <= now && now < end,
                None => false,
            },
        }
    }

    /// The window of a `Scheduled` OOF with both bounds; `None` otherwise.
    fn window(&self) -> Option<(Timestamp, Timestamp)> {
        match (self.state, self.start, self.end) {
            (OofState::Scheduled, Some(start), Some(end)) => Some((start, end)),
            _ => None,
        }
    }
}

/// An event as the presence object shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    pub id: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub free_busy: FreeBusy,
    /// `None` for a private event.
    pub subject: Option<String>,
    pub is_all_day: bool,
    pub is_private: bool,
}

impl EventRef {
    fn of(event: &PresenceEvent) -> Self {
        EventRef {
            id: event.id.clone(),
            start: event.start,
            end: event.end,
            free_busy: event.free_busy,
            subject: if event.is_private { None } else { event.subject.clone() },
            is_all_day: event.is_all_day,
            is_private: event.is_private,
        }
    }
}

/// The `oof` member of the presence object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OofPresence {
    pub state: OofState,
    pub active: bool,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub internal_reply: Option<String>,
}

/// A user's presence at an instant (CONTRACT §4, without `user_id` and `updated_at`, which
/// the caller adds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// The current event is `Busy` or `Oof`. Not affected by automatic replies.
    pub busy: bool,
    pub current_event: Option<EventRef>,
    pub next_event: Option<EventRef>,
    pub oof: OofPresence,
}

/// How busy a status makes the user, for choosing among overlapping events.
fn busyness(free_busy: FreeBusy) -> u8 {
    match free_busy {
        FreeBusy::Oof => 3,
        FreeBusy::Busy => 2,
        FreeBusy::Tentative => 1,
        FreeBusy::Free | FreeBusy::WorkingElsewhere | FreeBusy::NoData => 0,
    }
}

/// Whether `a` is preferred over `b` when both are candidates: busiest, earliest start, later
/// end, smallest id. `Equal` for indistinguishable events (then the first in the slice wins).
fn preference(a: &PresenceEvent, b: &PresenceEvent) -> std::cmp::Ordering {
    busyness(b.free_busy)
        .cmp(&busyness(a.free_busy))
        .then(a.start.cmp(&b.start))
        .then(b.end.cmp(&a.end))
        .then(a.id.cmp(&b.id))
}

/// The presence at `now`. See the module documentation for the rules.
pub fn presence_at(events: &[PresenceEvent], oof: &Oof, now: Timestamp) -> Presence {
    let live = || events.iter().filter(|e| !e.is_cancelled);
    let current = live().filter(|e| e.start <= now && now < e.end).min_by(|a, b| preference(a, b));
    let next = live().filter(|e| e.start > now).min_by(|a, b| {
        // The earliest start first; `preference` then ranks events starting together.
        a.start.cmp(&b.start).then_with(|| preference(a, b))
    });
    Presence {
        busy: current.is_some_and(|e| busyness(e.free_busy) >= busyness(FreeBusy::Busy)),
        current_event: current.map(EventRef::of),
        next_event: next.map(EventRef::of),
        oof: OofPresence {
            state: oof.state,
            active: oof.is_active(now),
            start: oof.start,
            end: oof.end,
            internal_reply: oof.internal_reply.clone(),
        },
    }
}

/// The earliest instant after `now` at which [`presence_at`] may give a different answer:
/// the first start or end of a non-cancelled event, or bound of a scheduled OOF window, that
/// is strictly later than `now`. `None` when nothing can change any more. For every `t` with
/// `now < t < next_change_after(now)`, `presence_at(t) == presence_at(now)`.
pub fn next_change_after(events: &[PresenceEvent], oof: &Oof, now: Timestamp) -> Option<Timestamp> {
    let event_points = events.iter().filter(|e| !e.is_cancelled).flat_map(|e| [e.start, e.end]);
    let oof_points = oof.window().into_iter().flat_map(|(start, end)| [start, end]);
    event_points.chain(oof_points).filter(|&t| t > now).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;
    use proptest::prelude::*;

    fn t0() -> Timestamp {
        "2026-11-24T09:00:00Z".parse().unwrap()
    }

    fn at(secs: i64) -> Timestamp {
        t0() + SignedDuration::from_secs(secs)
    }

    fn ev(id: &str, start: i64, end: i64, free_busy: FreeBusy) -> PresenceEvent {
        PresenceEvent {
            id: id.to_string(),
            start: at(start),
            end: at(end),
            is_all_day: false,
            free_busy,
            is_cancelled: false,
            is_private: false,
            subject: Some(format!("Subject {id}")),
        }
    }

    fn current_id(p: &Presence) -> Option<&str> {
        p.current_event.as_ref().map(|e| e.id.as_str())
    }

    fn next_id(p: &Presence) -> Option<&str> {
        p.next_event.as_ref().map(|e| e.id.as_str())
    }

    #[test]
    fn meeting_starting_in_two_seconds() {
        let events = [ev("m", 2, 1802, FreeBusy::Busy)];
        let oof = Oof::disabled();
        let now = at(0);

        let before = presence_at(&events, &oof, now);
        assert!(!before.busy);
        assert_eq!(current_id(&before), None);
        assert_eq!(next_id(&before), Some("m"));
        assert_eq!(before.next_event.as_ref().unwrap().subject.as_deref(), Some("Subject m"));

        assert_eq!(next_change_after(&events, &oof, now), Some(at(2)));
        assert_eq!(presence_at(&events, &oof, at(1)), before);

        let during = presence_at(&events, &oof, at(2));
        assert!(during.busy);
        assert_eq!(current_id(&during), Some("m"));
        assert_eq!(next_id(&during), None);
        assert_ne!(during, before);
        assert_eq!(next_change_after(&events, &oof, at(2)), Some(at(1802)));
        assert_eq!(presence_at(&events, &oof, at(1801)), during);

        let after = presence_at(&events, &oof, at(1802));
        assert!(!after.busy);
        assert_eq!(current_id(&after), None);
        assert_eq!(next_id(&after), None);
        assert_eq!(next_change_after(&events, &oof, at(1802)), None);
    }

    #[test]
    fn overlapping_meetings_pick_the_busiest_then_the_earliest() {
        let events = [
            ev("free", 0, 100, FreeBusy::Free),
            ev("tentative", 10, 100, FreeBusy::Tentative),
            ev("busy-late", 30, 60, FreeBusy::Busy),
            ev("busy-early", 20, 40, FreeBusy::Busy),
        ];
        let oof = Oof::disabled();
        let p = |s| presence_at(&events, &oof, at(s));
        assert_eq!(current_id(&p(5)), Some("free"));
        assert!(!p(5).busy);
        assert_eq!(current_id(&p(15)), Some("tentative"));
        assert!(!p(15).busy);
        assert_eq!(current_id(&p(35)), Some("busy-early"));
        assert!(p(35).busy);
        assert_eq!(current_id(&p(40)), Some("busy-late"));
        assert_eq!(current_id(&p(60)), Some("tentative"));
        assert_eq!(current_id(&p(100)), None);

        let points: Vec<_> =
            std::iter::successors(Some(at(-1)), |&t| next_change_after(&events, &oof, t)).skip(1).collect();
        assert_eq!(points, [0, 10, 20, 30, 40, 60, 100].map(at));
    }

    #[test]
    fn events_starting_together_next_is_the_busiest() {
        let events = [
            ev("a-free", 10, 20, FreeBusy::Free),
            ev("b-busy", 10, 20, FreeBusy::Busy),
            ev("later", 15, 20, FreeBusy::Oof),
        ];
        let p = presence_at(&events, &Oof::disabled(), at(0));
        assert_eq!(next_id(&p), Some("b-busy"));
    }

    #[test]
    fn back_to_back_meetings_have_one_change_point() {
        let events = [ev("first", 0, 30, FreeBusy::Busy), ev("second", 30, 60, FreeBusy::Busy)];
        let oof = Oof::disabled();
        let during_first = presence_at(&events, &oof, at(10));
        assert_eq!(current_id(&during_first), Some("first"));
        assert_eq!(next_id(&during_first), Some("second"));
        assert_eq!(next_change_after(&events, &oof, at(10)), Some(at(30)));

        let at_switch = presence_at(&events, &oof, at(30));
        assert!(at_switch.busy, "no gap between back-to-back meetings");
        assert_eq!(current_id(&at_switch), Some("second"));
        assert_eq!(next_id(&at_switch), None);
        assert_eq!(next_change_after(&events, &oof, at(30)), Some(at(60)));
    }

    #[test]
    fn cancelled_and_free_events_do_not_make_busy() {
        let mut cancelled = ev("cancelled", 0, 60, FreeBusy::Busy);
        cancelled.is_cancelled = true;
        let mut cancelled_later = ev("cancelled-later", 100, 160, FreeBusy::Busy);
        cancelled_later.is_cancelled = true;
        let events = [
            cancelled,
            cancelled_later,
            ev("free", 10, 50, FreeBusy::Free),
            ev("elsewhere", 20, 40, FreeBusy::WorkingElsewhere),
            ev("nodata", 25, 35, FreeBusy::NoData),
        ];
        let oof = Oof::disabled();
        for s in [0, 15, 30, 45, 55, 120] {
            let p = presence_at(&events, &oof, at(s));
            assert!(!p.busy, "at {s}");
            assert_ne!(current_id(&p), Some("cancelled"));
            assert_ne!(next_id(&p), Some("cancelled-later"));
        }
        // The free event is on the calendar: it is the current event, the user is not busy.
        assert_eq!(current_id(&presence_at(&events, &oof, at(30))), Some("free"));
        // Cancelled events are no change points.
        assert_eq!(next_change_after(&events, &oof, at(-5)), Some(at(10)));
        assert_eq!(next_change_after(&events, &oof, at(50)), None);
    }

    #[test]
    fn tentative_is_not_busy_but_visible() {
        let events = [ev("maybe", 0, 60, FreeBusy::Tentative)];
        let p = presence_at(&events, &Oof::disabled(), at(10));
        assert!(!p.busy);
        assert_eq!(p.current_event.unwrap().free_busy, FreeBusy::Tentative);
    }

    #[test]
    fn oof_event_is_busy() {
        let events = [ev("away", 0, 60, FreeBusy::Oof), ev("meeting", 0, 60, FreeBusy::Busy)];
        let p = presence_at(&events, &Oof::disabled(), at(10));
        assert!(p.busy);
        assert_eq!(current_id(&p), Some("away"));
    }

    #[test]
    fn all_day_events_count_like_others() {
        let day: Timestamp = "2026-11-24T00:00:00+01:00".parse().unwrap();
        let next_day = day + SignedDuration::from_hours(24);
        let events = [PresenceEvent {
            id: "holiday".into(),
            start: day,
            end: next_day,
            is_all_day: true,
            free_busy: FreeBusy::Oof,
            is_cancelled: false,
            is_private: false,
            subject: Some("Holiday".into()),
        }];
        let oof = Oof::disabled();
        let before = day - SignedDuration::from_secs(1);
        assert!(!presence_at(&events, &oof, before).busy);
        assert_eq!(next_change_after(&events, &oof, before), Some(day));
        let p = presence_at(&events, &oof, day);
        assert!(p.busy);
        assert!(p.current_event.as_ref().unwrap().is_all_day);
        assert_eq!(next_change_after(&events, &oof, day), Some(next_day));
        assert!(!presence_at(&events, &oof, next_day).busy);
    }

    #[test]
    fn scheduled_oof_opens_and_closes() {
        let oof = Oof {
            state: OofState::Scheduled,
            start: Some(at(100)),
            end: Some(at(200)),
            internal_reply: Some("Away".into()),
        };
        let events = [ev("m", 150, 160, FreeBusy::Busy)];
        let before = presence_at(&events, &oof, at(0));
        assert!(!before.oof.active);
        assert_eq!(before.oof.state, OofState::Scheduled);
        assert_eq!(before.oof.start, Some(at(100)));
        assert_eq!(before.oof.end, Some(at(200)));
        assert_eq!(before.oof.internal_reply.as_deref(), Some("Away"));
        assert_eq!(next_change_after(&events, &oof, at(0)), Some(at(100)));

        let open = presence_at(&events, &oof, at(100));
        assert!(open.oof.active);
        assert!(!open.busy, "busy reflects the calendar only");
        assert_ne!(open, before);
        assert_eq!(next_change_after(&events, &oof, at(100)), Some(at(150)));
        assert_eq!(next_change_after(&events, &oof, at(160)), Some(at(200)));

        let closed = presence_at(&events, &oof, at(200));
        assert!(!closed.oof.active);
        assert_eq!(next_change_after(&events, &oof, at(200)), None);
    }

    #[test]
    fn scheduled_oof_without_bounds_is_inactive() {
        for (start, end) in [(None, Some(at(10))), (Some(at(-10)), None), (None, None)] {
            let oof = Oof { state: OofState::Scheduled, start, end, internal_reply: None };
            assert!(!presence_at(&[], &oof, at(0)).oof.active);
            assert_eq!(next_change_after(&[], &oof, at(-100)), None);
        }
        let inverted = Oof { state: OofState::Scheduled, start: Some(at(10)), end: Some(at(0)), internal_reply: None };
        assert!(!presence_at(&[], &inverted, at(5)).oof.active);
    }

    #[test]
    fn enabled_oof_is_active_whatever_the_bounds() {
        let oof = Oof { state: OofState::Enabled, start: Some(at(100)), end: Some(at(200)), internal_reply: None };
        for s in [0, 150, 300] {
            let p = presence_at(&[], &oof, at(s));
            assert!(p.oof.active);
            assert!(!p.busy);
        }
        assert_eq!(next_change_after(&[], &oof, at(0)), None);
        let disabled = Oof { state: OofState::Disabled, ..oof };
        assert!(!presence_at(&[], &disabled, at(150)).oof.active);
        assert_eq!(next_change_after(&[], &disabled, at(0)), None);
    }

    #[test]
    fn private_subject_is_hidden() {
        let mut private = ev("p", 0, 60, FreeBusy::Busy);
        private.is_private = true;
        let mut private_next = ev("q", 100, 160, FreeBusy::Busy);
        private_next.is_private = true;
        let p = presence_at(&[private, private_next], &Oof::disabled(), at(10));
        let current = p.current_event.unwrap();
        assert!(current.is_private);
        assert_eq!(current.subject, None);
        assert_eq!(current.start, at(0));
        assert_eq!(p.next_event.unwrap().subject, None);
    }

    fn free_busy() -> impl Strategy<Value = FreeBusy> {
        proptest::sample::select(FreeBusy::ALL)
    }

    fn event() -> impl Strategy<Value = PresenceEvent> {
        (0u8..6, -50i64..150, 0i64..80, free_busy(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(id, start, len, free_busy, cancelled, private, all_day)| PresenceEvent {
                id: format!("e{id}"),
                start: at(start),
                end: at(start + len),
                is_all_day: all_day,
                free_busy,
                is_cancelled: cancelled,
                is_private: private,
                subject: Some(format!("s{id}")),
            },
        )
    }

    fn oof() -> impl Strategy<Value = Oof> {
        (proptest::sample::select(OofState::ALL), proptest::option::of(-50i64..150), proptest::option::of(-50i64..150))
            .prop_map(|(state, start, end)| Oof {
                state,
                start: start.map(at),
                end: end.map(at),
                internal_reply: Some("reply".into()),
            })
    }

    proptest! {
        /// Between `now` and the next change point the presence does not change.
        #[test]
        fn presence_is_constant_until_the_next_change(
            events in proptest::collection::vec(event(), 0..8),
            oof in oof(),
            now_ms in -100_000i64..200_000,
            fraction in 0.0f64..1.0,
        ) {
            let now = t0() + SignedDuration::from_millis(now_ms);
            let here = presence_at(&events, &oof, now);
            let next = next_change_after(&events, &oof, now);
            let horizon = next.unwrap_or(at(1000));
            prop_assert!(horizon > now);
            let gap = (horizon - now).as_nanos();
            // Strictly between now and the change point: 1 ns after now up to 1 ns before.
            let step = 1 + ((gap - 2).max(0) as f64 * fraction) as i128;
            if step < gap {
                let t = now + SignedDuration::from_nanos(step as i64);
                prop_assert!(now < t && t < horizon);
                prop_assert_eq!(&presence_at(&events, &oof, t), &here);
            }
            // Just before the change point too.
            let just_before = horizon - SignedDuration::from_nanos(1);
            if just_before > now {
                prop_assert_eq!(&presence_at(&events, &oof, just_before), &here);
            }
            // The change point is a real boundary: an event start or end, or an OOF bound.
            if let Some(next) = next {
                let boundary = events.iter().filter(|e| !e.is_cancelled)
                    .any(|e| e.start == next || e.end == next)
                    || (oof.state == OofState::Scheduled && oof.start.is_some() && oof.end.is_some()
                        && (oof.start == Some(next) || oof.end == Some(next)));
                prop_assert!(boundary);
            }
        }

        /// The answer does not depend on the order of the events, and `busy` follows the rules.
        #[test]
        fn presence_is_order_independent_and_consistent(
            events in proptest::collection::vec(event(), 0..8),
            oof in oof(),
            now_s in -60i64..160,
        ) {
            // Distinct ids, so that the tie-breaks decide between any two events.
            let events: Vec<_> = events.into_iter().enumerate()
                .map(|(i, e)| PresenceEvent { id: format!("e{i}"), ..e })
                .collect();
            let now = at(now_s);
            let p = presence_at(&events, &oof, now);
            let mut reversed = events.clone();
            reversed.reverse();
            let q = presence_at(&reversed, &oof, now);
            prop_assert_eq!(&p, &q);
            let live: Vec<_> = events.iter().filter(|e| !e.is_cancelled).collect();
            let any_busy = live.iter().any(|e| {
                e.start <= now && now < e.end && matches!(e.free_busy, FreeBusy::Busy | FreeBusy::Oof)
            });
            prop_assert_eq!(p.busy, any_busy);
            if let Some(cur) = &p.current_event {
                prop_assert!(cur.start <= now && now < cur.end);
            }
            if let Some(next) = &p.next_event {
                prop_assert!(next.start > now);
                prop_assert!(live.iter().all(|e| e.start <= now || e.start >= next.start));
            }
        }
    }
}
