//! Giving freed heap memory back to the operating system (glibc).
//!
//! The connector's work comes in bursts (an initial sync of thousands of mailboxes, a
//! reconcile round): each mailbox's sync builds its response documents, mapped items and
//! store rows, and drops them. glibc keeps the freed memory in its arenas when it is not at the
//! top of a heap, so the resident size stays at the burst's high-water mark: measured during a
//! 10,000-mailbox initial sync, 549 MiB resident of which `malloc_trim(0)` returned 342 MiB at
//! once (BENCHMARKS.md). A `MALLOC_ARENA_MAX=2` cap did not lower the peak (381 MiB against
//! 363 MiB at 1,000 mailboxes), so the trim is what helps.

use std::time::Duration;

/// How often [`spawn_trim_loop`] trims.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// Returns free heap pages to the operating system every [`TRIM_INTERVAL`] (glibc's
/// `malloc_trim(0)`: a walk of the free lists, milliseconds for hundreds of MiB). A no-op
/// outside Linux with glibc. Runs until the runtime stops.
pub fn spawn_trim_loop() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async {
        let mut tick = tokio::time::interval(TRIM_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // SAFETY: malloc_trim only releases free memory of glibc's heaps; it takes the
            // allocator's own locks and has no precondition on the caller.
            unsafe { libc::malloc_trim(0) };
        }
    });
}
