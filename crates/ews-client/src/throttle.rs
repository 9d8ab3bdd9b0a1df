//! Being a good EWS citizen: a per-server pause gate, an AIMD concurrency limiter and the
//! retry delay for transient errors.
//!
//! * **Gate.** `ErrorServerBusy` with `BackOffMilliseconds`, or 503/429 with `Retry-After`,
//!   pauses *every* request to that server until the time is up: requests wait in
//!   [`Throttle::wait_open`], none is sent during the window ("if you do get throttled, stop
//!   sending requests; resending prolongs the recovery").
//! * **Limiter.** At most `limit` requests in flight; `limit` starts at `max_concurrency`, is
//!   halved on each throttling signal and grows by one after a run of successes (additive
//!   increase, multiplicative decrease).
//! * **Retries.** Bounded, with full-jitter exponential delays, for transient errors only
//!   (see [`crate::EwsClient`]).

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::ThrottleConfig;

#[derive(Debug)]
struct State {
    paused_until: Option<Instant>,
    limit: usize,
    in_flight: usize,
    successes: u32,
}

/// The throttling state of one server.
#[derive(Debug)]
pub struct Throttle {
    state: Mutex<State>,
    changed: Notify,
    max: usize,
    cfg: ThrottleConfig,
    server: String,
}

/// A slot in the limiter; released on drop.
#[derive(Debug)]
pub struct Permit<'a> {
    throttle: &'a Throttle,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.throttle.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        drop(s);
        self.throttle.changed.notify_waiters();
    }
}

/// The gate stays closed longer than the caller is willing to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PausedFor(pub Duration);

impl Throttle {
    pub fn new(server: &str, max_concurrency: usize, cfg: ThrottleConfig) -> Self {
        let max = max_concurrency.max(1);
        metrics::gauge!("ews_concurrency_limit", "server" => server.to_string()).set(max as f64);
        Throttle {
            state: Mutex::new(State { paused_until: None, limit: max, in_flight: 0, successes: 0 }),
            changed: Notify::new(),
            max,
            cfg,
            server: server.to_string(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current concurrency limit.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// How long the server stays paused from now (zero when open).
    pub fn paused_for(&self) -> Duration {
        let s = self.lock();
        s.paused_until.map(|u| u.saturating_duration_since(Instant::now())).unwrap_or_default()
    }

    /// Pauses the server for `d` (or `default_backoff` when the server gave no time) and
    /// halves the concurrency limit. A pause never shortens one already running.
    pub fn pause(&self, d: Option<Duration>) {
        let d = d.unwrap_or(self.cfg.default_backoff);
        let until = Instant::now() + d;
        let mut s = self.lock();
        if s.paused_until.is_none_or(|u| u < until) {
            s.paused_until = Some(until);
        }
        s.limit = (s.limit / 2).max(1);
        s.successes = 0;
        let limit = s.limit;
        drop(s);
        tracing::warn!(server = %self.server, pause = ?d, limit, "EWS server throttling: pausing requests");
        metrics::counter!("ews_throttled_total", "server" => self.server.clone()).increment(1);
        metrics::gauge!("ews_concurrency_limit", "server" => self.server.clone()).set(limit as f64);
    }

    /// Halves the limit without pausing (e.g. `ErrorExceededConnectionCount`).
    pub fn shrink(&self) {
        let mut s = self.lock();
        s.limit = (s.limit / 2).max(1);
        s.successes = 0;
        let limit = s.limit;
        drop(s);
        metrics::gauge!("ews_concurrency_limit", "server" => self.server.clone()).set(limit as f64);
    }

    /// Counts a success; after `recover_after` in a row the limit grows by one.
    pub fn success(&self) {
        let mut s = self.lock();
        if s.limit >= self.max {
            s.successes = 0;
            return;
        }
        s.successes += 1;
        if s.successes >= self.cfg.recover_after {
            s.successes = 0;
            s.limit += 1;
            let limit = s.limit;
            drop(s);
            metrics::gauge!("ews_concurrency_limit", "server" => self.server.clone()).set(limit as f64);
            self.changed.notify_waiters();
        }
    }

    /// Waits until the server is not paused. Fails at once with the remaining time when the
    /// pause would outlast `max_wait`.
    pub async fn wait_open(&self) -> Result<(), PausedFor> {
        loop {
            let until = self.lock().paused_until;
            match until {
                Some(u) if u > Instant::now() => {
                    let left = u - Instant::now();
                    if left > self.cfg.max_wait {
                        return Err(PausedFor(left));
                    }
                    tokio::time::sleep_until(u).await;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Takes a slot in the limiter, waiting while `limit` requests are in flight.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                if s.in_flight < s.limit {
                    s.in_flight += 1;
                    return Permit { throttle: self };
                }
            }
            notified.await;
        }
    }

    /// The delay before retry number `attempt` (1-based) of a transient error without a
    /// server hint: uniformly random in `[0, min(retry_max, retry_base · 2^(attempt-1))]`.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let exp = self.cfg.retry_base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let cap = exp.min(self.cfg.retry_max);
        cap.mul_f64(jitter())
    }
}

/// A number in [0, 1) from the standard library's randomly keyed hasher (no RNG crate needed
/// for jitter).
pub(crate) fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn cfg() -> ThrottleConfig {
        ThrottleConfig { recover_after: 2, ..ThrottleConfig::default() }
    }

    #[test]
    fn aimd_halves_and_recovers() {
        let t = Throttle::new("s", 8, cfg());
        assert_eq!(t.limit(), 8);
        t.shrink();
        assert_eq!(t.limit(), 4);
        t.pause(Some(Duration::ZERO));
        assert_eq!(t.limit(), 2);
        t.shrink();
        t.shrink();
        assert_eq!(t.limit(), 1, "never below one");
        for _ in 0..2 {
            t.success();
        }
        assert_eq!(t.limit(), 2);
        for _ in 0..100 {
            t.success();
        }
        assert_eq!(t.limit(), 8, "never above max_concurrency");
    }

    #[test]
    fn retry_delays_are_bounded() {
        let t = Throttle::new("s", 1, ThrottleConfig::default());
        for attempt in 1..40 {
            let d = t.retry_delay(attempt);
            assert!(d <= Duration::from_secs(30), "{d:?}");
        }
        assert!(t.retry_delay(1) <= Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_everyone_until_it_ends() {
        let t = Arc::new(Throttle::new("s", 4, ThrottleConfig::default()));
        t.pause(Some(Duration::from_secs(5)));
        let start = Instant::now();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let t = t.clone();
                tokio::spawn(async move {
                    t.wait_open().await.unwrap();
                    Instant::now()
                })
            })
            .collect();
        for w in waiters {
            assert!(w.await.unwrap() - start >= Duration::from_secs(5));
        }
        // A shorter pause does not cut a longer one.
        t.pause(Some(Duration::from_secs(10)));
        t.pause(Some(Duration::from_secs(1)));
        assert!(t.paused_for() > Duration::from_secs(9));
    }

    #[tokio::test(start_paused = true)]
    async fn long_pause_fails_fast() {
        let cfg = ThrottleConfig { max_wait: Duration::from_secs(60), ..ThrottleConfig::default() };
        let t = Throttle::new("s", 1, cfg);
        t.pause(Some(Duration::from_secs(300)));
        let e = t.wait_open().await.unwrap_err();
        assert!(e.0 > Duration::from_secs(299));
    }

    #[tokio::test]
    async fn limiter_caps_in_flight() {
        let t = Arc::new(Throttle::new("s", 2, ThrottleConfig::default()));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (t, peak) = (t.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let _p = t.acquire().await;
                peak.fetch_max(t.in_flight(), std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(t.in_flight(), 0);
    }
}
