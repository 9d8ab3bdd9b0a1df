//! Periodic per-user work spread over an interval, gathered into ticks.
//!
//! A round of `n` users over `interval` gives user `i` the slot `interval × (i+1) / n` after
//! the round's start (the users are evenly spread, and the round ends at `interval`). Waking
//! up for every slot costs one timer wake-up (and thread switch) per user: 167 a second for
//! 10,000 users polled every 60 s. Instead the loop wakes at the next slot but never sooner
//! than [`TICK`] after its previous wake-up, and triggers every user whose slot has come: at
//! most one wake-up a second, each user still once per round and at most [`TICK`] after its
//! slot (so the interval keeps its meaning), and with few users (slots further apart than a
//! tick) exactly at the slots as before. Rounds follow each other at their nominal times
//! (the next round starts at `start + interval`, however late the last tick came), so the
//! delays do not add up from round to round.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The shortest time between two wake-ups of a spread loop (and the granularity of
/// [`aligned`]).
pub(crate) const TICK: Duration = Duration::from_secs(1);

/// One round of `n` users over `interval`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Round {
    n: usize,
    interval: Duration,
}

impl Round {
    pub(crate) fn new(n: usize, interval: Duration) -> Round {
        Round { n, interval }
    }

    /// The slot of user `i` (0-based), after the round's start.
    pub(crate) fn slot(&self, i: usize) -> Duration {
        let n = self.n.max(1) as u128;
        let nanos = self.interval.as_nanos() * (i as u128 + 1) / n;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// When to wake next (after the round's start): the slot of user `next`, but not before
    /// `last_wake + TICK` (no bound before the round's first wake-up). `None` when the round is
    /// done.
    pub(crate) fn next_wake(&self, next: usize, last_wake: Option<Duration>) -> Option<Duration> {
        (next < self.n).then(|| last_wake.map_or(self.slot(next), |last| self.slot(next).max(last + TICK)))
    }

    /// How many users (from the first) have their slot at or before `elapsed`, from `next` on:
    /// the new value of `next`.
    pub(crate) fn due(&self, mut next: usize, elapsed: Duration) -> usize {
        while next < self.n && self.slot(next) <= elapsed {
            next += 1;
        }
        next
    }
}

/// `at` rounded up to the next whole [`TICK`] since a process-wide origin: one-shot timers
/// of many users (each user's first OOF poll) that fall within the same tick fire together,
/// in one wake-up, at most a tick late.
pub(crate) fn aligned(at: Instant) -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    let since = at.saturating_duration_since(origin).as_nanos();
    let tick = TICK.as_nanos();
    let ticks = since.div_ceil(tick);
    origin + Duration::from_nanos(u64::try_from(ticks * tick).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `rounds` rounds as the loop does (the last wake-up carried over, each round
    /// starting at the previous one's nominal end); returns the wake-ups and, per round and
    /// user, its trigger time from the first round's start.
    fn simulate(n: usize, interval: Duration, rounds: u32) -> (Vec<Duration>, Vec<Vec<Duration>>) {
        let round = Round::new(n, interval);
        let (mut wakes, mut triggered) = (Vec::new(), Vec::new());
        let mut last: Option<Duration> = None;
        for r in 0..rounds {
            let start = interval * r;
            let mut at = vec![Duration::MAX; n];
            let mut next = 0;
            while let Some(wake) = round.next_wake(next, last.map(|l| l.saturating_sub(start))) {
                let due = round.due(next, wake);
                assert!(due > next, "a wake-up at {wake:?} triggered nobody (next {next})");
                for t in &mut at[next..due] {
                    *t = start + wake;
                }
                next = due;
                last = Some(start + wake);
                wakes.push(start + wake);
            }
            triggered.push(at);
        }
        (wakes, triggered)
    }

    #[test]
    fn many_users_are_gathered_into_one_wake_up_a_tick_each_polled_once_within_a_tick_of_its_slot() {
        let interval = Duration::from_secs(60);
        for n in [3, 1_000, 10_000] {
            let round = Round::new(n, interval);
            let (wakes, triggered) = simulate(n, interval, 3);
            println!("{n} users, 3 rounds of {interval:?}: {} wake-ups (one per slot: {})", wakes.len(), 3 * n);
            assert!(wakes.len() <= 3 * 61, "{} wake-ups", wakes.len());
            for (r, at) in triggered.iter().enumerate() {
                let start = interval * r as u32;
                for (i, at) in at.iter().enumerate() {
                    let slot = start + round.slot(i);
                    assert!(*at >= slot && *at <= slot + TICK, "round {r} user {i}: slot {slot:?}, triggered {at:?}");
                }
            }
            // Each user's period stays within a tick of the interval (the delays do not add up).
            for i in 0..n {
                for r in 1..triggered.len() {
                    let period = triggered[r][i] - triggered[r - 1][i];
                    assert!(period + TICK >= interval && period <= interval + TICK, "user {i}: {period:?}");
                }
            }
            assert_eq!(round.slot(n - 1), interval, "the round ends at the interval");
            assert!(wakes.windows(2).all(|w| w[1] >= w[0] + TICK));
        }
    }

    #[test]
    fn few_users_are_triggered_exactly_at_their_slots() {
        let interval = Duration::from_secs(3600);
        let (wakes, triggered) = simulate(10, interval, 2);
        assert_eq!(wakes.len(), 20);
        let round = Round::new(10, interval);
        for (r, at) in triggered.iter().enumerate() {
            for (i, at) in at.iter().enumerate() {
                assert_eq!(*at, interval * r as u32 + round.slot(i));
            }
        }
        assert_eq!(round.slot(0), Duration::from_secs(360));
    }

    #[test]
    fn aligned_rounds_up_to_a_whole_tick_so_nearby_timers_fire_together() {
        let now = Instant::now();
        let a = aligned(now + Duration::from_millis(1_100));
        let b = aligned(now + Duration::from_millis(1_150));
        assert_eq!(a, b, "two timers 50 ms apart in the same tick");
        assert!(a >= now + Duration::from_millis(1_150) && a <= now + Duration::from_millis(1_100) + TICK);
        assert_eq!(aligned(a), a, "an aligned instant stays");
        assert!(aligned(a + Duration::from_nanos(1)) == a + TICK);
    }
}
