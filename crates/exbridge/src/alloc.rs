//! Giving freed heap memory back to the operating system (glibc).
//!
//! The connector's work comes in bursts (an initial sync of thousands of mailboxes, a
//! reconcile round): each mailbox's sync builds its response documents, mapped items and
//! store rows, and drops them. glibc keeps the freed memory in its arenas when it is not at the
//! top of a heap, so the resident size stays at the burst's high-water mark: measured during a
//! 10,000-mailbox initial sync, 549 MiB resident of which `malloc_trim(0)` returned 342 MiB at
//! once (BENCHMARKS.md). A `MALLOC_ARENA_MAX=2` cap did not lower the peak (381 MiB against
//! 363 MiB at 1,000 mailboxes), so the trim is what helps.
//!
//! A trim walks the whole heap (consolidating the free lists and releasing page by page), so
//! its cost grows with the heap, and an idle connector has nothing to give back: the loop
//! checks the resident size every [`TRIM_INTERVAL`] (one read of `/proc/self/statm`) and trims
//! only when it grew by [`GROWTH`] since the last trim, once more on the check after such a
//! trim (the end of a burst frees what it built), and at the latest every
//! [`TRIM_AT_LEAST_EVERY`] checks.

use std::time::Duration;

/// How often [`spawn_trim_loop`] checks whether to trim.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// Growth of the resident size since the last trim that calls for a trim.
pub const GROWTH: u64 = 8 << 20;

/// A trim at least every this many checks (5 minutes), whatever the resident size did.
pub const TRIM_AT_LEAST_EVERY: u32 = 30;

/// Why [`TrimPolicy::check`] asks for a trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimReason {
    /// The resident size grew by [`GROWTH`] since the last trim (or there was none yet).
    Grew,
    /// The check after a [`TrimReason::Grew`] trim.
    FollowUp,
    /// [`TRIM_AT_LEAST_EVERY`] checks without a trim.
    Periodic,
}

/// When to trim, from the resident size at each check (pure, so that it can be tested).
#[derive(Debug, Default)]
pub struct TrimPolicy {
    /// Resident size after the last trim.
    baseline: Option<u64>,
    follow_up: bool,
    checks_since_trim: u32,
}

impl TrimPolicy {
    /// One check with the resident size `rss` (bytes): whether to trim now, and why.
    pub fn check(&mut self, rss: u64) -> Option<TrimReason> {
        self.checks_since_trim += 1;
        let reason = if self.baseline.is_none_or(|base| rss >= base.saturating_add(GROWTH)) {
            Some(TrimReason::Grew)
        } else if self.follow_up {
            Some(TrimReason::FollowUp)
        } else if self.checks_since_trim >= TRIM_AT_LEAST_EVERY {
            Some(TrimReason::Periodic)
        } else {
            None
        };
        self.follow_up = reason == Some(TrimReason::Grew);
        reason
    }

    /// Records a trim that left `rss` bytes resident.
    pub fn trimmed(&mut self, rss: u64) {
        self.baseline = Some(rss);
        self.checks_since_trim = 0;
    }
}

/// The process's resident size in bytes (`/proc/self/statm`), if readable.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096))
}

/// Returns free heap pages to the operating system when [`TrimPolicy`] says so, checking every
/// [`TRIM_INTERVAL`] (glibc's `malloc_trim(0)`). A no-op outside Linux with glibc. Runs until
/// the runtime stops.
pub fn spawn_trim_loop() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async {
        let mut tick = tokio::time::interval(TRIM_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut policy = TrimPolicy::default();
        loop {
            tick.tick().await;
            // Unreadable: trim as before (every check).
            let rss = resident_bytes();
            let reason = match rss {
                Some(rss) => policy.check(rss),
                None => Some(TrimReason::Periodic),
            };
            let Some(reason) = reason else { continue };
            let started = std::time::Instant::now();
            // SAFETY: malloc_trim only releases free memory of glibc's heaps; it takes the
            // allocator's own locks and has no precondition on the caller.
            unsafe { libc::malloc_trim(0) };
            let after = resident_bytes();
            tracing::debug!(?reason, took = ?started.elapsed(), rss_before = ?rss, rss_after = ?after, "malloc_trim");
            policy.trimmed(after.unwrap_or(0));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn an_idle_process_is_trimmed_only_periodically_and_a_burst_twice() {
        let mut p = TrimPolicy::default();
        // The first check trims (nothing known yet).
        assert_eq!(p.check(60 * MIB), Some(TrimReason::Grew));
        p.trimmed(50 * MIB);
        assert_eq!(p.check(51 * MIB), Some(TrimReason::FollowUp));
        p.trimmed(50 * MIB);
        // Idle: small wobbles below GROWTH do not trim, until the periodic one.
        let mut idle = Vec::new();
        for i in 0..TRIM_AT_LEAST_EVERY {
            idle.push(p.check(50 * MIB + u64::from(i % 3) * MIB));
        }
        let trims: Vec<_> = idle.iter().enumerate().filter(|(_, r)| r.is_some()).collect();
        println!("idle checks that trimmed: {trims:?}");
        assert_eq!(trims, vec![(TRIM_AT_LEAST_EVERY as usize - 1, &Some(TrimReason::Periodic))]);
        p.trimmed(50 * MIB);
        // A burst: the resident size grows past GROWTH → a trim, then the follow-up one.
        assert_eq!(p.check(50 * MIB + GROWTH - 1), None);
        assert_eq!(p.check(300 * MIB), Some(TrimReason::Grew));
        p.trimmed(200 * MIB);
        assert_eq!(p.check(200 * MIB), Some(TrimReason::FollowUp));
        p.trimmed(120 * MIB);
        assert_eq!(p.check(121 * MIB), None);
        // Growth is measured from the last trim's result.
        assert_eq!(p.check(120 * MIB + GROWTH), Some(TrimReason::Grew));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_resident_size_is_read() {
        let rss = resident_bytes().expect("/proc/self/statm");
        println!("resident: {rss} bytes");
        assert!(rss > MIB, "{rss}");
    }
}
