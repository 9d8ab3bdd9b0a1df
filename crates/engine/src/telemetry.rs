//! The engine's metrics, recorded through the `metrics` facade (the binary installs the
//! Prometheus recorder; without one every call is a no-op), and the [`NotificationClock`]
//! behind `exbridge_notification_to_webhook_seconds`.
//!
//! | series | kind | labels | recorded |
//! | --- | --- | --- | --- |
//! | [`SYNCS_TOTAL`] | counter | `mode` (`incremental`/`full`), `outcome` (`success`/`error`) | after every calendar sync |
//! | [`SYNC_DURATION`] | histogram (seconds) | `mode` | after every calendar sync |
//! | [`PRESENCE_CHANGES_TOTAL`] | counter | | every `presence.changed` appended |
//! | [`USERS`] | gauge | `state` (`pending`/`subscribed`/`not_found`/`error`) | on scrape ([`crate::Connector::record_gauges`]) |
//! | [`USERS_SYNCED`] | gauge | | on scrape: users whose initial sync is complete (`synced_at` set) |
//! | [`STREAMING_CONNECTIONS`] | gauge | `server` | on scrape: streaming connections open now |
//! | [`SUBSCRIPTIONS`] | gauge | `server` | on scrape: mailboxes with every folder subscribed |
//!
//! Throttling backoffs are `ews_throttled_total{server}` of `ews-client` (one per
//! `ErrorServerBusy` answer, each followed by a backoff).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use exbridge_store::UserId;
use jiff::Timestamp;

/// Counter `exbridge_syncs_total{mode,outcome}`.
pub const SYNCS_TOTAL: &str = "exbridge_syncs_total";
/// Histogram `exbridge_sync_duration_seconds{mode}`.
pub const SYNC_DURATION: &str = "exbridge_sync_duration_seconds";
/// Counter `exbridge_presence_changes_total`.
pub const PRESENCE_CHANGES_TOTAL: &str = "exbridge_presence_changes_total";
/// Gauge `exbridge_users{state}`.
pub const USERS: &str = "exbridge_users";
/// Gauge `exbridge_users_synced`.
pub const USERS_SYNCED: &str = "exbridge_users_synced";
/// Gauge `exbridge_streaming_connections{server}`.
pub const STREAMING_CONNECTIONS: &str = "exbridge_streaming_connections";
/// Gauge `exbridge_subscriptions{server}`.
pub const SUBSCRIPTIONS: &str = "exbridge_subscriptions";

/// Records one calendar sync.
pub(crate) fn record_sync(mode: &'static str, success: bool, took: Duration) {
    let outcome = if success { "success" } else { "error" };
    metrics::counter!(SYNCS_TOTAL, "mode" => mode, "outcome" => outcome).increment(1);
    metrics::histogram!(SYNC_DURATION, "mode" => mode).record(took.as_secs_f64());
}

/// Records one `presence.changed` appended to the outbox.
pub(crate) fn record_presence_change() {
    metrics::counter!(PRESENCE_CHANGES_TOTAL).increment(1);
}

/// When the engine first heard of a change of a user that has not reached a webhook yet.
///
/// # Method
/// * A streaming notification for a user's mailbox calls [`noticed`](Self::noticed): the
///   first one since the last measurement is kept (an [`Instant`] for the latency and the
///   wall-clock time to compare with outbox entries); later ones only join it.
/// * A sync that started after the notification and appended nothing calls
///   [`nothing_to_deliver`](Self::nothing_to_deliver): the change had no visible effect and
///   the record is dropped (otherwise the next unrelated change would count the idle time).
/// * The first successful webhook delivery of one of the user's outbox entries created at or
///   after the notification calls [`delivered`](Self::delivered), which ends the measurement
///   and returns the latency: notification → sync → outbox → first webhook 2xx.
///
/// # Limits
/// * One measurement per burst: notifications arriving before the first delivery join the
///   first one, so the figure is the latency of the oldest pending change.
/// * With several webhooks the first successful delivery (to any of them) ends it.
/// * Changes found without a notification (reconcile, gap resync, initial sync) are not
///   measured; a presence change caused by the notified change can end the measurement.
/// * In memory only: a restart forgets pending records. At most one record per user.
#[derive(Debug, Default)]
pub struct NotificationClock {
    pending: Mutex<HashMap<UserId, (Instant, Timestamp)>>,
}

/// The process's clock, shared by the engine (notifications) and the webhook dispatcher
/// (deliveries).
pub fn notification_clock() -> &'static NotificationClock {
    static CLOCK: OnceLock<NotificationClock> = OnceLock::new();
    CLOCK.get_or_init(NotificationClock::default)
}

impl NotificationClock {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, (Instant, Timestamp)>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A streaming notification for `user` arrived now.
    pub fn noticed(&self, user: &UserId) {
        let mut pending = self.lock();
        if !pending.contains_key(user) {
            pending.insert(user.clone(), (Instant::now(), Timestamp::now()));
        }
    }

    /// A sync of `user` that started at `sync_started` appended no outbox entry: a record from
    /// before that start is dropped.
    pub fn nothing_to_deliver(&self, user: &UserId, sync_started: Instant) {
        let mut pending = self.lock();
        if pending.get(user).is_some_and(|(at, _)| *at <= sync_started) {
            pending.remove(user);
        }
    }

    /// An outbox entry of `user` appended at `created_at` was delivered: the time since the
    /// pending notification, when the entry was created at or after it (the record is then
    /// removed).
    pub fn delivered(&self, user: &UserId, created_at: Timestamp) -> Option<Duration> {
        let mut pending = self.lock();
        let (at, wall) = *pending.get(user)?;
        if created_at < wall {
            return None;
        }
        pending.remove(user);
        Some(at.elapsed())
    }

    /// Drops the record of a user (removed from the directory).
    pub fn forget(&self, user: &UserId) {
        self.lock().remove(user);
    }

    /// Users with a pending record.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no record is pending.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_measures_from_the_first_notification_to_a_later_entry() {
        let clock = NotificationClock::default();
        let user = UserId::new("u1");
        let before = Timestamp::now() - jiff::SignedDuration::from_secs(5);
        clock.noticed(&user);
        std::thread::sleep(Duration::from_millis(20));
        clock.noticed(&user); // joins the first
        assert_eq!(clock.len(), 1);
        // An entry from before the notification does not end the measurement.
        assert_eq!(clock.delivered(&user, before), None);
        let took = clock.delivered(&user, Timestamp::now()).expect("measured");
        assert!(took >= Duration::from_millis(20), "{took:?}");
        assert!(clock.is_empty());
        assert_eq!(clock.delivered(&user, Timestamp::now()), None);
    }

    #[test]
    fn clock_drops_a_notification_whose_sync_appended_nothing() {
        let clock = NotificationClock::default();
        let user = UserId::new("u1");
        clock.noticed(&user);
        let sync_started = Instant::now();
        clock.nothing_to_deliver(&user, sync_started);
        assert!(clock.is_empty());
        // A notification arriving during the sync stays.
        let sync_started = Instant::now();
        clock.noticed(&user);
        clock.nothing_to_deliver(&user, sync_started);
        assert_eq!(clock.len(), 1);
        clock.forget(&user);
        assert!(clock.is_empty());
    }
}
