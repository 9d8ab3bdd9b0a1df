//! Per-user work, serialised per user and bounded overall.
//!
//! Every trigger for a user is merged into the user's *pending* [`Work`]; at most one run per
//! user is in flight, and a run takes everything pending at the moment it starts. A burst of
//! notifications for one user therefore becomes at most two runs: the one in flight and one
//! more with everything that arrived meanwhile. A semaphore bounds the runs in flight overall;
//! a pending user waits for a permit without holding anyone else up. A failed run is retried
//! after an exponential back-off, per user; other users are not affected.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, oneshot};

use crate::sync::SyncMode;

/// What to do for one user. Triggers merge: flags OR, a full sync wins over an incremental one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Resolve the mailbox (again) before anything else.
    pub resolve: bool,
    /// Synchronise the calendar.
    pub sync: Option<SyncMode>,
    /// Poll the automatic-reply (OOF) settings.
    pub oof: bool,
}

impl Work {
    pub fn resolve() -> Work {
        Work { resolve: true, ..Work::default() }
    }

    pub fn sync(mode: SyncMode) -> Work {
        Work { sync: Some(mode), ..Work::default() }
    }

    pub fn oof() -> Work {
        Work { oof: true, ..Work::default() }
    }

    /// Everything `self` and `other` ask for.
    pub fn merge(self, other: Work) -> Work {
        let sync = match (self.sync, other.sync) {
            (Some(SyncMode::Full), _) | (_, Some(SyncMode::Full)) => Some(SyncMode::Full),
            (Some(SyncMode::Incremental), _) | (_, Some(SyncMode::Incremental)) => Some(SyncMode::Incremental),
            (None, None) => None,
        };
        Work { resolve: self.resolve || other.resolve, sync, oof: self.oof || other.oof }
    }
}

/// A failed run: why, and the work to retry after the back-off.
#[derive(Debug, Clone)]
pub struct Failed {
    pub reason: String,
    pub retry: Work,
}

impl Failed {
    pub fn new(reason: impl Into<String>, retry: Work) -> Self {
        Failed { reason: reason.into(), retry }
    }
}

/// The future of one run: `Err` schedules `retry` after the back-off.
pub type RunFuture = Pin<Box<dyn Future<Output = Result<(), Failed>> + Send>>;

/// Runs the work of one user.
pub type Handler<K> = Arc<dyn Fn(K, Work) -> RunFuture + Send + Sync>;

/// Retry delays after failed runs: `base × 2^(failures-1)`, at most `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        self.base.saturating_mul(factor).min(self.max)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: Duration::from_secs(5), max: Duration::from_secs(15 * 60) }
    }
}

#[derive(Default)]
struct Slot {
    running: bool,
    pending: Option<Work>,
    waiters: Vec<oneshot::Sender<()>>,
    failures: u32,
}

struct State<K> {
    slots: HashMap<K, Slot>,
    closed: bool,
    /// Run loops alive (one per user with work).
    active: usize,
}

struct Inner<K> {
    state: Mutex<State<K>>,
    permits: Semaphore,
    handler: Handler<K>,
    backoff: Backoff,
    idle: Notify,
}

/// See the module documentation. Cheap to clone.
pub struct Scheduler<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for Scheduler<K> {
    fn clone(&self) -> Self {
        Scheduler { inner: self.inner.clone() }
    }
}

impl<K: Clone + Eq + Hash + Send + Sync + std::fmt::Display + 'static> Scheduler<K> {
    /// At most `concurrency` runs at once (at least one).
    pub fn new(concurrency: usize, backoff: Backoff, handler: Handler<K>) -> Self {
        Scheduler {
            inner: Arc::new(Inner {
                state: Mutex::new(State { slots: HashMap::new(), closed: false, active: 0 }),
                permits: Semaphore::new(concurrency.max(1)),
                handler,
                backoff,
                idle: Notify::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `work` to the user's pending work and makes sure a run will take it. Ignored once
    /// closed.
    pub fn trigger(&self, key: K, work: Work) {
        self.enqueue(key, work, None);
    }

    /// Like [`Scheduler::trigger`]; the receiver completes when a run that included this work
    /// has finished (successfully or not), and errs when the scheduler closed first.
    pub fn trigger_and_wait(&self, key: K, work: Work) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(key, work, Some(tx));
        rx
    }

    fn enqueue(&self, key: K, work: Work, waiter: Option<oneshot::Sender<()>>) {
        let start = {
            let mut state = self.lock();
            if state.closed {
                return;
            }
            let slot = state.slots.entry(key.clone()).or_default();
            slot.pending = Some(slot.pending.map_or(work, |p| p.merge(work)));
            slot.waiters.extend(waiter);
            let start = !slot.running;
            slot.running = true;
            if start {
                state.active += 1;
            }
            start
        };
        if start {
            let this = self.clone();
            tokio::spawn(async move { this.run_loop(key).await });
        }
    }

    /// Forgets the user's pending work and back-off (a removed user). A run in flight ends
    /// normally.
    pub fn forget(&self, key: &K) {
        let mut state = self.lock();
        if let Some(slot) = state.slots.get_mut(key) {
            slot.pending = None;
            slot.failures = 0;
            slot.waiters.clear();
        }
    }

    async fn run_loop(self, key: K) {
        loop {
            let permit = self.inner.permits.acquire().await.ok();
            // Taking the work and deciding to stop happen under one lock, so a trigger either
            // lands in the work taken or finds `running` false and starts a new loop.
            let taken = {
                let mut state = self.lock();
                let closed = state.closed || permit.is_none();
                let slot = state.slots.entry(key.clone()).or_default();
                match slot.pending.take() {
                    Some(work) if !closed => Some((work, std::mem::take(&mut slot.waiters))),
                    _ => {
                        slot.running = false;
                        slot.waiters.clear();
                        if slot.failures == 0 && slot.pending.is_none() {
                            state.slots.remove(&key);
                        }
                        state.active -= 1;
                        if state.active == 0 {
                            self.inner.idle.notify_waiters();
                        }
                        None
                    }
                }
            };
            let Some((work, waiters)) = taken else { return };
            let result = (self.inner.handler)(key.clone(), work).await;
            drop(permit);
            for waiter in waiters {
                let _ = waiter.send(());
            }
            let retry = {
                let mut state = self.lock();
                let slot = state.slots.entry(key.clone()).or_default();
                match &result {
                    Ok(()) => {
                        slot.failures = 0;
                        None
                    }
                    Err(_) => {
                        slot.failures += 1;
                        Some(self.inner.backoff.delay(slot.failures))
                    }
                }
            };
            if let (Err(failed), Some(delay)) = (result, retry) {
                tracing::warn!(user = %key, retry_in = ?delay, error = %failed.reason, "user work failed, will retry");
                let work = failed.retry;
                let this = self.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    this.trigger(key, work);
                });
            }
        }
    }

    /// Stops accepting work and waits (at most `wait`) for the runs in flight to finish.
    /// Returns whether everything finished in time.
    pub async fn close(&self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        self.lock().closed = true;
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().active == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.lock().active == 0;
            }
        }
    }

    /// Users with a run in flight or pending work (tests, metrics).
    pub fn busy(&self) -> usize {
        self.lock().active
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    type Calls = Arc<Mutex<Vec<(String, Work)>>>;

    fn fast() -> Backoff {
        Backoff { base: Duration::from_millis(20), max: Duration::from_millis(100) }
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "timed out waiting for {what}");
    }

    #[test]
    fn work_merges_and_full_wins() {
        let w = Work::sync(SyncMode::Incremental).merge(Work::oof());
        assert_eq!(w, Work { resolve: false, sync: Some(SyncMode::Incremental), oof: true });
        assert_eq!(w.merge(Work::sync(SyncMode::Full)).sync, Some(SyncMode::Full));
        assert_eq!(Work::sync(SyncMode::Full).merge(Work::sync(SyncMode::Incremental)).sync, Some(SyncMode::Full));
        assert!(Work::default().merge(Work::resolve()).resolve);
        let b = Backoff { base: Duration::from_secs(5), max: Duration::from_secs(60) };
        assert_eq!(
            (b.delay(1), b.delay(2), b.delay(3), b.delay(10)),
            (Duration::from_secs(5), Duration::from_secs(10), Duration::from_secs(20), Duration::from_secs(60))
        );
    }

    #[tokio::test]
    async fn a_burst_of_triggers_coalesces_into_few_runs() {
        let calls: Calls = Arc::default();
        let gate = Arc::new(Semaphore::new(0));
        let (c, g) = (calls.clone(), gate.clone());
        let handler: Handler<String> = Arc::new(move |key, work| {
            let (c, g) = (c.clone(), g.clone());
            Box::pin(async move {
                c.lock().unwrap().push((key, work));
                g.acquire().await.unwrap().forget();
                Ok(())
            })
        });
        let s = Scheduler::new(4, fast(), handler);
        s.trigger("u1".to_owned(), Work::sync(SyncMode::Incremental));
        until("the first run", || calls.lock().unwrap().len() == 1).await;
        for i in 0..500 {
            let work = if i == 250 { Work::oof() } else { Work::sync(SyncMode::Incremental) };
            s.trigger("u1".to_owned(), work);
        }
        gate.add_permits(10);
        until("idle", || s.busy() == 0).await;
        let calls = calls.lock().unwrap().clone();
        println!("500 triggers during a run → {} runs: {:?}", calls.len(), calls);
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[1].1, Work { resolve: false, sync: Some(SyncMode::Incremental), oof: true });
    }

    #[tokio::test]
    async fn one_run_per_user_at_a_time_and_bounded_overall() {
        let in_flight: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let max_per_user = Arc::new(AtomicUsize::new(0));
        let total = Arc::new(AtomicUsize::new(0));
        let max_total = Arc::new(AtomicUsize::new(0));
        let runs = Arc::new(AtomicUsize::new(0));
        let (f, mpu, t, mt, r) =
            (in_flight.clone(), max_per_user.clone(), total.clone(), max_total.clone(), runs.clone());
        let handler: Handler<String> = Arc::new(move |key, _work| {
            let (f, mpu, t, mt, r) = (f.clone(), mpu.clone(), t.clone(), mt.clone(), r.clone());
            Box::pin(async move {
                let n = {
                    let mut map = f.lock().unwrap();
                    let n = map.entry(key.clone()).or_default();
                    *n += 1;
                    *n
                };
                mpu.fetch_max(n, Ordering::SeqCst);
                let now = t.fetch_add(1, Ordering::SeqCst) + 1;
                mt.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(3)).await;
                t.fetch_sub(1, Ordering::SeqCst);
                *f.lock().unwrap().get_mut(&key).unwrap() -= 1;
                r.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        });
        let s = Scheduler::new(3, fast(), handler);
        for round in 0..20 {
            for user in 0..10 {
                s.trigger(format!("u{user}"), Work::sync(SyncMode::Incremental));
            }
            if round % 5 == 0 {
                tokio::time::sleep(Duration::from_millis(4)).await;
            }
        }
        until("idle", || s.busy() == 0).await;
        println!(
            "runs={} max per user={} max overall={}",
            runs.load(Ordering::SeqCst),
            max_per_user.load(Ordering::SeqCst),
            max_total.load(Ordering::SeqCst)
        );
        assert_eq!(max_per_user.load(Ordering::SeqCst), 1);
        assert!(max_total.load(Ordering::SeqCst) <= 3);
        // Every user ran at least once, and far fewer than the 200 triggers.
        assert!(runs.load(Ordering::SeqCst) >= 10 && runs.load(Ordering::SeqCst) < 200);
    }

    #[tokio::test]
    async fn a_failing_user_is_retried_with_backoff_and_blocks_nobody() {
        let calls: Calls = Arc::default();
        let c = calls.clone();
        let handler: Handler<String> = Arc::new(move |key, work| {
            let c = c.clone();
            Box::pin(async move {
                c.lock().unwrap().push((key.clone(), work));
                if key == "bad" {
                    return Err(Failed::new("Exchange says no", Work::resolve()));
                }
                Ok(())
            })
        });
        // Concurrency 1: the failing user must not hold the only permit while it waits.
        let s = Scheduler::new(1, fast(), handler);
        s.trigger("bad".to_owned(), Work::sync(SyncMode::Incremental));
        s.trigger("good".to_owned(), Work::sync(SyncMode::Incremental));
        let done = s.trigger_and_wait("good2".to_owned(), Work::oof());
        tokio::time::timeout(Duration::from_secs(5), done).await.expect("good2 ran").unwrap();
        until("three attempts of bad", || calls.lock().unwrap().iter().filter(|(k, _)| k == "bad").count() >= 3).await;
        let calls = calls.lock().unwrap().clone();
        println!("calls: {calls:?}");
        assert!(calls.iter().any(|(k, _)| k == "good"));
        let bad: Vec<Work> = calls.iter().filter(|(k, _)| k == "bad").map(|(_, w)| *w).collect();
        // The retry runs the work the failure asked for.
        assert_eq!(bad[0], Work::sync(SyncMode::Incremental));
        assert_eq!(bad[1], Work::resolve());
        assert!(s.close(Duration::from_secs(2)).await);
    }

    #[tokio::test]
    async fn close_waits_for_the_run_in_flight_and_refuses_new_work() {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let handler: Handler<String> = Arc::new(move |_key, _work| {
            let r = r.clone();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                r.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        });
        let s = Scheduler::new(2, fast(), handler);
        s.trigger("u1".to_owned(), Work::oof());
        tokio::time::sleep(Duration::from_millis(20)).await;
        s.trigger("u1".to_owned(), Work::oof()); // pending behind the run: dropped by close
        assert!(s.close(Duration::from_secs(5)).await);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "the run in flight finished, the pending one did not start");
        s.trigger("u2".to_owned(), Work::oof());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
