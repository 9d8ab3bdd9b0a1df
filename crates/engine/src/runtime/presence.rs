//! Presence from the mirror and the polled OOF settings, and `presence.changed` at the
//! instants it changes.
//!
//! One task owns, per user, the deadline of the next change point
//! ([`next_change_after`]) in a [`BTreeMap`]; it recomputes a user when asked (after a sync,
//! after an OOF poll) and when the user's deadline passes. The last presence emitted is kept in
//! the store ([`Store::append_presence_change`], written with its outbox entry), so a
//! restarted engine compares with it and does not announce an unchanged presence again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exbridge_calendar::presence::{FreeBusy, Oof, OofPresence, PresenceEvent, next_change_after, presence_at};
use exbridge_store::{EventType, FolderKind, NewOutboxEvent, Store, StoreError, UserId};
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::event::{EventDoc, OofDoc, PresenceDoc};

/// `EventDoc.free_busy` → the calendar crate's status (unknown text counts as busy).
fn free_busy(text: &str) -> FreeBusy {
    match text {
        "free" => FreeBusy::Free,
        "tentative" => FreeBusy::Tentative,
        "oof" => FreeBusy::Oof,
        "working_elsewhere" => FreeBusy::WorkingElsewhere,
        "no_data" => FreeBusy::NoData,
        _ => FreeBusy::Busy,
    }
}

fn oof_doc(oof: &OofPresence) -> OofDoc {
    OofDoc {
        state: oof.state.as_str().to_owned(),
        active: oof.active,
        start: oof.start.map(|t| t.to_string()),
        end: oof.end.map(|t| t.to_string()),
        internal_reply: oof.internal_reply.clone(),
    }
}

/// The user's presence at `now` from the mirror, and the next instant it may change.
pub async fn compute(
    store: &dyn Store,
    user: &UserId,
    oof: &Oof,
    horizon: Duration,
    now: Timestamp,
) -> Result<(PresenceDoc, Option<Timestamp>), StoreError> {
    let end = now + jiff::SignedDuration::try_from(horizon).unwrap_or(jiff::SignedDuration::from_hours(24));
    let rows = store.events_in_window(user, FolderKind::Calendar, now, end).await?;
    let mut docs: HashMap<String, EventDoc> = HashMap::new();
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let (Some(start), Some(end)) = (row.start, row.end) else { continue };
        let doc: EventDoc = match serde_json::from_value(row.event) {
            Ok(doc) => doc,
            Err(e) => {
                tracing::warn!(user = %user, uid = %row.key.uid, error = %e, "mirror row is not an event document");
                continue;
            }
        };
        events.push(PresenceEvent {
            id: doc.id.clone(),
            start,
            end,
            is_all_day: doc.is_all_day,
            free_busy: free_busy(&doc.free_busy),
            is_cancelled: doc.is_cancelled,
            is_private: doc.is_private,
            subject: Some(doc.subject.clone()),
        });
        docs.insert(doc.id.clone(), doc);
    }
    let presence = presence_at(&events, oof, now);
    let doc = PresenceDoc {
        user_id: user.to_string(),
        busy: presence.busy,
        current_event: presence.current_event.as_ref().and_then(|e| docs.get(&e.id).cloned()),
        next_event: presence.next_event.as_ref().and_then(|e| docs.get(&e.id).cloned()),
        oof: oof_doc(&presence.oof),
        updated_at: now.to_string(),
    };
    Ok((doc, next_change_after(&events, oof, now)))
}

/// The part of a presence document that counts as a change (all but `updated_at`).
fn comparable(doc: &serde_json::Value) -> serde_json::Value {
    let mut doc = doc.clone();
    if let Some(map) = doc.as_object_mut() {
        map.remove("updated_at");
    }
    doc
}

enum Cmd {
    Recompute(UserId),
    Forget(UserId),
    Stop(oneshot::Sender<()>),
}

/// The presence task's handle. Cheap to clone.
#[derive(Clone)]
pub struct PresenceTracker {
    cmds: mpsc::UnboundedSender<Cmd>,
    oofs: Arc<Mutex<HashMap<UserId, Oof>>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

struct Task {
    store: Arc<dyn Store>,
    horizon: Duration,
    oofs: Arc<Mutex<HashMap<UserId, Oof>>>,
    /// Last emitted (comparable part), loaded from the store on first use.
    last: HashMap<UserId, serde_json::Value>,
    deadlines: BTreeMap<(Timestamp, UserId), ()>,
    deadline_of: HashMap<UserId, Timestamp>,
}

impl PresenceTracker {
    /// Starts the task. `horizon`: how far ahead the next event is looked for.
    pub fn start(store: Arc<dyn Store>, horizon: Duration) -> PresenceTracker {
        let (cmds, rx) = mpsc::unbounded_channel();
        let oofs = Arc::new(Mutex::new(HashMap::new()));
        let task = Task {
            store,
            horizon,
            oofs: oofs.clone(),
            last: HashMap::new(),
            deadlines: BTreeMap::new(),
            deadline_of: HashMap::new(),
        };
        let handle = tokio::spawn(task.run(rx));
        PresenceTracker { cmds, oofs, task: Arc::new(Mutex::new(Some(handle))) }
    }

    /// Recomputes the user's presence now (after a sync), emitting it when it changed. Users
    /// whose OOF settings are not known yet are skipped until [`PresenceTracker::set_oof`].
    pub fn recompute(&self, user: &UserId) {
        let _ = self.cmds.send(Cmd::Recompute(user.clone()));
    }

    /// Records the user's polled OOF settings and recomputes the presence.
    pub fn set_oof(&self, user: &UserId, oof: Oof) {
        self.oofs.lock().unwrap_or_else(|e| e.into_inner()).insert(user.clone(), oof);
        self.recompute(user);
    }

    /// Records the user's polled OOF settings and recomputes the presence only when they
    /// differ from the ones known (or none were). Returns whether they changed. The poll's
    /// fast path: an unchanged answer costs no store read.
    pub fn update_oof(&self, user: &UserId, oof: Oof) -> bool {
        let changed = {
            let mut oofs = self.oofs.lock().unwrap_or_else(|e| e.into_inner());
            match oofs.get(user) {
                Some(known) if *known == oof => false,
                _ => {
                    oofs.insert(user.clone(), oof);
                    true
                }
            }
        };
        if changed {
            self.recompute(user);
        }
        changed
    }

    /// The user's OOF settings as last polled.
    pub fn oof(&self, user: &UserId) -> Option<Oof> {
        self.oofs.lock().unwrap_or_else(|e| e.into_inner()).get(user).cloned()
    }

    /// Drops everything about a removed user.
    pub fn forget(&self, user: &UserId) {
        self.oofs.lock().unwrap_or_else(|e| e.into_inner()).remove(user);
        let _ = self.cmds.send(Cmd::Forget(user.clone()));
    }

    /// Stops the task (a recomputation in progress finishes first).
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.cmds.send(Cmd::Stop(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
        }
        let handle = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            handle.abort();
        }
    }
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        loop {
            let next = self.deadlines.keys().next().map(|(at, _)| *at);
            let sleep = async {
                match next {
                    Some(at) => {
                        let wait = Timestamp::now().duration_until(at);
                        let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
                        tokio::time::sleep(wait).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Recompute(user)) => self.recompute(&user).await,
                    Some(Cmd::Forget(user)) => {
                        self.last.remove(&user);
                        self.clear_deadline(&user);
                    }
                    Some(Cmd::Stop(done)) => {
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
                () = sleep => {
                    let now = Timestamp::now();
                    let due: Vec<UserId> =
                        self.deadlines.keys().take_while(|(at, _)| *at <= now).map(|(_, u)| u.clone()).collect();
                    for user in due {
                        self.clear_deadline(&user);
                        self.recompute(&user).await;
                    }
                }
            }
        }
    }

    fn clear_deadline(&mut self, user: &UserId) {
        if let Some(at) = self.deadline_of.remove(user) {
            self.deadlines.remove(&(at, user.clone()));
        }
    }

    async fn recompute(&mut self, user: &UserId) {
        let Some(oof) = self.oofs.lock().unwrap_or_else(|e| e.into_inner()).get(user).cloned() else {
            return;
        };
        self.clear_deadline(user);
        let now = Timestamp::now();
        let (doc, next) = match compute(self.store.as_ref(), user, &oof, self.horizon, now).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(user = %user, error = %e, "presence: reading the mirror failed");
                return;
            }
        };
        if let Some(at) = next {
            self.deadline_of.insert(user.clone(), at);
            self.deadlines.insert((at, user.clone()), ());
        }
        let json = match serde_json::to_value(&doc) {
            Ok(json) => json,
            Err(e) => {
                tracing::error!(user = %user, error = %e, "presence: cannot serialise");
                return;
            }
        };
        let current = comparable(&json);
        if !self.last.contains_key(user) {
            match self.store.presence_state(user).await {
                Ok(Some(stored)) => {
                    self.last.insert(user.clone(), comparable(&stored));
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(user = %user, error = %e, "presence: reading the last emitted presence failed");
                    return;
                }
            }
        }
        if self.last.get(user) == Some(&current) {
            return;
        }
        let event = NewOutboxEvent::new(EventType::PresenceChanged, user.clone(), now, json.clone());
        match self.store.append_presence_change(user, &json, &event).await {
            Ok(entry) => {
                tracing::debug!(user = %user, seq = entry.seq, busy = doc.busy, "presence.changed");
                crate::telemetry::record_presence_change();
                self.last.insert(user.clone(), current);
            }
            Err(StoreError::UnknownUser(_)) => {
                self.last.remove(user);
                self.clear_deadline(user);
            }
            Err(e) => tracing::warn!(user = %user, error = %e, "presence: appending presence.changed failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use exbridge_calendar::presence::OofState;
    use exbridge_store::{
        DirectoryUser, InstanceKey, ItemId, MirrorChange, MirrorEvent, MirrorKey, MirrorKind, OutboxEntry, SqliteStore,
    };
    use jiff::SignedDuration;

    use super::*;

    struct TempStore {
        store: Arc<dyn Store>,
        path: std::path::PathBuf,
    }

    impl Drop for TempStore {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    async fn store(name: &str) -> TempStore {
        let path = std::env::temp_dir().join(format!("exbridge-presence-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let store = SqliteStore::open(path.join("db.sqlite")).await.unwrap();
        store.upsert_user(&DirectoryUser::new("u1")).await.unwrap();
        TempStore { store: Arc::new(store), path }
    }

    fn doc(uid: &str, subject: &str, start: Timestamp, end: Timestamp) -> EventDoc {
        EventDoc {
            id: uid.to_owned(),
            series_id: None,
            uid: uid.to_owned(),
            subject: subject.to_owned(),
            start: start.to_string(),
            end: end.to_string(),
            time_zone: "UTC".into(),
            is_all_day: false,
            location: None,
            body: None,
            is_private: false,
            categories: vec![],
            importance: "normal".into(),
            free_busy: "busy".into(),
            organizer: None,
            attendees: vec![],
            is_meeting: true,
            is_cancelled: false,
            join: None,
            recurrence: None,
            changed_at: start.to_string(),
            app_id: None,
            priority: None,
            change_key: None,
        }
    }

    async fn put_event(store: &dyn Store, uid: &str, start: Timestamp, end: Timestamp) {
        let event = doc(uid, "Standup", start, end);
        let row = MirrorEvent {
            key: MirrorKey::new(FolderKind::Calendar, uid, InstanceKey::single()),
            kind: MirrorKind::Single,
            item_id: ItemId::new(format!("item-{uid}")),
            change_key: None,
            series_id: None,
            start: Some(start),
            end: Some(end),
            event: serde_json::to_value(&event).unwrap(),
            content_hash: uid.to_owned(),
            changed_at: Timestamp::now(),
            deleted: false,
        };
        store.apply_mirror_changes(&"u1".into(), &[MirrorChange::Upsert(row)], None, &[]).await.unwrap();
    }

    async fn presence_entries(store: &dyn Store, count: usize) -> Vec<OutboxEntry> {
        let got = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                let entries = store.entries_after(0, 100).await.unwrap();
                let entries: Vec<OutboxEntry> =
                    entries.into_iter().filter(|e| e.event_type == EventType::PresenceChanged).collect();
                if entries.len() >= count {
                    return entries;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        got.unwrap_or_else(|_| panic!("fewer than {count} presence.changed entries in time"))
    }

    fn ms_after(entry: &OutboxEntry, instant: Timestamp) -> i64 {
        entry.occurred_at.duration_since(instant).as_millis() as i64
    }

    #[tokio::test]
    async fn a_meeting_makes_the_user_busy_at_its_start_and_free_at_its_end() {
        let t = store("meeting").await;
        let start = Timestamp::now() + SignedDuration::from_secs(2);
        let end = start + SignedDuration::from_secs(2);
        put_event(t.store.as_ref(), "M1", start, end).await;
        let tracker = PresenceTracker::start(t.store.clone(), Duration::from_secs(86400));
        tracker.set_oof(&"u1".into(), Oof::disabled());

        let entries = presence_entries(t.store.as_ref(), 3).await;
        let busy: Vec<bool> = entries.iter().map(|e| e.data["busy"].as_bool().unwrap()).collect();
        let (at_start, at_end) = (ms_after(&entries[1], start), ms_after(&entries[2], end));
        println!("busy sequence {busy:?}; emitted {at_start} ms after the start, {at_end} ms after the end");
        assert_eq!(busy, vec![false, true, false]);
        assert_eq!(entries[0].data["next_event"]["id"], "M1");
        assert_eq!(entries[1].data["current_event"]["subject"], "Standup");
        assert!(entries[2].data.get("current_event").is_none());
        assert!((0..1000).contains(&at_start), "busy {at_start} ms after the start");
        assert!((0..1000).contains(&at_end), "free {at_end} ms after the end");
        // Nothing else changes: no further entry.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(presence_entries(t.store.as_ref(), 0).await.len(), 3);
        tracker.stop().await;
    }

    #[tokio::test]
    async fn a_scheduled_oof_window_opens_and_closes_on_time() {
        let t = store("oof").await;
        let start = Timestamp::now() + SignedDuration::from_millis(1500);
        let end = start + SignedDuration::from_millis(1500);
        let tracker = PresenceTracker::start(t.store.clone(), Duration::from_secs(86400));
        let oof =
            Oof { state: OofState::Scheduled, start: Some(start), end: Some(end), internal_reply: Some("Away".into()) };
        tracker.set_oof(&"u1".into(), oof);
        let entries = presence_entries(t.store.as_ref(), 3).await;
        let active: Vec<bool> = entries.iter().map(|e| e.data["oof"]["active"].as_bool().unwrap()).collect();
        let (opened, closed) = (ms_after(&entries[1], start), ms_after(&entries[2], end));
        println!("oof.active sequence {active:?}; opened +{opened} ms, closed +{closed} ms");
        assert_eq!(active, vec![false, true, false]);
        assert_eq!(entries[1].data["oof"]["state"], "Scheduled");
        assert!((0..1000).contains(&opened) && (0..1000).contains(&closed));
        tracker.stop().await;
    }

    #[tokio::test]
    async fn the_last_presence_survives_a_restart_without_a_duplicate() {
        let t = store("restart").await;
        let user: UserId = "u1".into();
        let start = Timestamp::now() + SignedDuration::from_hours(1);
        put_event(t.store.as_ref(), "LATER", start, start + SignedDuration::from_hours(1)).await;

        let first = PresenceTracker::start(t.store.clone(), Duration::from_secs(86400));
        first.set_oof(&user, Oof::disabled());
        assert_eq!(presence_entries(t.store.as_ref(), 1).await.len(), 1);
        first.recompute(&user);
        first.stop().await;
        assert_eq!(presence_entries(t.store.as_ref(), 0).await.len(), 1, "a recompute without change emits nothing");

        // A new engine on the same store: nothing changed, nothing emitted.
        let second = PresenceTracker::start(t.store.clone(), Duration::from_secs(86400));
        second.set_oof(&user, Oof::disabled());
        second.recompute(&user);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let entries = presence_entries(t.store.as_ref(), 0).await;
        println!("after restart: {} presence.changed entries", entries.len());
        assert_eq!(entries.len(), 1);

        // A real change is still announced.
        let now = Timestamp::now();
        put_event(t.store.as_ref(), "NOW", now - SignedDuration::from_mins(5), now + SignedDuration::from_hours(1))
            .await;
        second.recompute(&user);
        let entries = presence_entries(t.store.as_ref(), 2).await;
        assert_eq!(entries[1].data["busy"], true);
        assert_eq!(entries[1].data["current_event"]["id"], "NOW");
        second.stop().await;
    }

    /// Polls with unchanged OOF settings recompute nothing; a changed answer does.
    #[tokio::test]
    async fn update_oof_recomputes_only_on_a_change() {
        let temp = store("update-oof").await;
        let tracker = PresenceTracker::start(temp.store.clone(), Duration::from_secs(86_400));
        let user = UserId::new("u1");
        let presences = || async {
            let all = temp.store.entries_after(0, 100).await.unwrap();
            all.iter().filter(|e| e.event_type == EventType::PresenceChanged).count()
        };
        let wait_for = |n: usize| async move {
            let ok = tokio::time::timeout(Duration::from_secs(10), async {
                while presences().await < n {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            assert!(ok.is_ok(), "{n} presence.changed expected, {} seen", presences().await);
        };
        assert!(tracker.update_oof(&user, Oof::disabled()), "the first answer is a change");
        wait_for(1).await;
        assert!(!tracker.update_oof(&user, Oof::disabled()), "the same answer again is no change");
        let away = Oof { state: OofState::Enabled, start: None, end: None, internal_reply: Some("Away".into()) };
        assert!(tracker.update_oof(&user, away.clone()), "another answer is a change");
        wait_for(2).await;
        assert_eq!(tracker.oof(&user), Some(away));
        tracker.stop().await;
        assert_eq!(presences().await, 2);
    }
}
