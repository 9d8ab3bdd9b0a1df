//! Simulated users at work, for `exbridge demo`: every interval one realistic calendar change in
//! a random mailbox, so that a connector watching the simulator has something to report.
//!
//! Each change goes through the control API's own functions ([`crate::json`]), which use the
//! store's methods: notifications fire exactly as for `POST/PATCH/DELETE /sim/...` requests.
//!
//! The changes ([`Activity`]): create a meeting later today (sometimes with another mailbox as
//! attendee, whose calendar gets the invitation), move a single item by 30 to 90 minutes,
//! rename one, delete one (never a recurring master, preferably an item the generator made),
//! and now and then schedule or end an out-of-office period. The choices come from the seed:
//! the same seed on the same store at the same instants makes the same changes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::json::{self, ApiError, ItemJson};
use crate::seed::Rng;
use crate::store::{Mailbox, Store};

const SUBJECTS: &[&str] = &[
    "Design review",
    "1:1",
    "Customer call",
    "Sprint planning",
    "Budget sync",
    "Interview",
    "Coffee chat",
    "Release go/no-go",
    "Architecture board",
    "Quarterly numbers",
];

const RENAMES: &[&str] = &["(moved to Teams)", "- agenda updated", "(optional)", "- please prepare", "v2"];

/// One change made by the generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// A new meeting in `mailbox`.
    Created { mailbox: String, subject: String, start: String },
    /// A single item moved to a new start.
    Moved { mailbox: String, subject: String, start: String },
    /// A single item got a new subject.
    Renamed { mailbox: String, subject: String },
    /// A single item was deleted.
    Deleted { mailbox: String, subject: String },
    /// Out-of-office scheduled (`Scheduled`) or ended (`Disabled`).
    Oof { mailbox: String, state: &'static str },
}

/// The generator's state: its random sequence and the UIDs of the items it created (deleted
/// first, so that the seeded calendars are not emptied).
#[derive(Debug, Clone)]
pub struct ActivityGenerator {
    rng: Rng,
    created: BTreeSet<String>,
    oof_on: BTreeSet<String>,
}

impl ActivityGenerator {
    /// A generator whose choices follow from `seed`.
    pub fn new(seed: u64) -> Self {
        ActivityGenerator { rng: Rng::new(seed ^ 0xAC71_517E), created: BTreeSet::new(), oof_on: BTreeSet::new() }
    }

    /// Makes one change in a random mailbox of `store`, as if it happened at `now`. Fails only
    /// when the store has no mailbox or refuses the change (the error names the mailbox).
    pub fn step(&mut self, store: &Store, now: Timestamp) -> Result<Activity, ApiError> {
        let mut mailboxes = store.mailboxes();
        mailboxes.sort_by_key(|m| m.number());
        if mailboxes.is_empty() {
            return Err(ApiError::invalid("mailbox", "the simulator has no mailbox"));
        }
        let mb = mailboxes[self.rng.below(mailboxes.len() as u64) as usize].clone();
        let roll = self.rng.below(100);
        let smtp = mb.smtp().to_string();
        let singles: Vec<ItemJson> = json::list_items(store, &smtp)?
            .into_iter()
            .filter(|i| i.item_type == "Single" && i.organizer.email.eq_ignore_ascii_case(&smtp))
            .collect();
        let result = match roll {
            _ if singles.is_empty() && roll < 92 => self.create(store, &mailboxes, &mb, now),
            0..35 => self.create(store, &mailboxes, &mb, now),
            35..60 => self.move_one(store, &smtp, &singles),
            60..80 => self.rename_one(store, &smtp, &singles),
            80..92 => self.delete_one(store, &smtp, &singles),
            _ => self.oof(store, &smtp, now),
        };
        result.map_err(|e| ApiError { message: format!("simulated activity in {smtp}: {}", e.message), ..e })
    }

    fn create(
        &mut self,
        store: &Store,
        mailboxes: &[Arc<Mailbox>],
        mb: &Mailbox,
        now: Timestamp,
    ) -> Result<Activity, ApiError> {
        // Later today: 15 minutes to 8 hours ahead, on a quarter hour.
        let quarter = 15 * 60;
        let ahead = (1 + self.rng.below(32) as i64) * quarter;
        let start_secs = (now.as_second() / quarter + 1) * quarter + ahead - quarter;
        let start = Timestamp::from_second(start_secs).map_err(|e| ApiError::invalid("start", e.to_string()))?;
        let minutes = [30, 30, 45, 60, 60, 90][self.rng.below(6) as usize];
        let end = start + SignedDuration::from_mins(minutes);
        let subject = format!("{} #{}", SUBJECTS[self.rng.below(SUBJECTS.len() as u64) as usize], self.rng.below(1000));
        let mut body = json!({"subject": subject, "start": start.to_string(), "end": end.to_string()});
        if mailboxes.len() > 1 && self.rng.below(2) == 0 {
            let other = &mailboxes[self.rng.below(mailboxes.len() as u64) as usize];
            if other.number() != mb.number() {
                body["attendees"] = json!([other.smtp().to_string()]);
            }
        }
        if self.rng.below(3) == 0 {
            body["location"] = Value::from(format!("Room {}", 100 + self.rng.below(400)));
        }
        let smtp = mb.smtp().to_string();
        let item = json::apply_create(store, &smtp, &body)?;
        self.created.insert(item.uid.clone());
        Ok(Activity::Created { mailbox: smtp, subject: item.subject, start: item.start })
    }

    fn pick<'a>(&mut self, singles: &'a [ItemJson]) -> &'a ItemJson {
        &singles[self.rng.below(singles.len() as u64) as usize]
    }

    fn move_one(&mut self, store: &Store, smtp: &str, singles: &[ItemJson]) -> Result<Activity, ApiError> {
        let item = self.pick(singles);
        let shift = SignedDuration::from_mins([30, 60, 90, -30, -60][self.rng.below(5) as usize]);
        let start = parse(&item.start, "start")? + shift;
        let end = parse(&item.end, "end")? + shift;
        let body = json!({"start": start.to_string(), "end": end.to_string()});
        let changed = json::apply_patch(store, smtp, &item.item_id, &body)?;
        Ok(Activity::Moved { mailbox: smtp.to_string(), subject: changed.subject, start: changed.start })
    }

    fn rename_one(&mut self, store: &Store, smtp: &str, singles: &[ItemJson]) -> Result<Activity, ApiError> {
        let item = self.pick(singles);
        let base = item.subject.split(" | ").next().unwrap_or(&item.subject).to_string();
        let subject = format!("{base} | {}", RENAMES[self.rng.below(RENAMES.len() as u64) as usize]);
        let changed = json::apply_patch(store, smtp, &item.item_id, &json!({"subject": subject}))?;
        Ok(Activity::Renamed { mailbox: smtp.to_string(), subject: changed.subject })
    }

    fn delete_one(&mut self, store: &Store, smtp: &str, singles: &[ItemJson]) -> Result<Activity, ApiError> {
        let own: Vec<ItemJson> = singles.iter().filter(|i| self.created.contains(&i.uid)).cloned().collect();
        let item = if own.is_empty() { self.pick(singles).clone() } else { self.pick(&own).clone() };
        json::apply_delete(store, smtp, &item.item_id)?;
        self.created.remove(&item.uid);
        Ok(Activity::Deleted { mailbox: smtp.to_string(), subject: item.subject })
    }

    fn oof(&mut self, store: &Store, smtp: &str, now: Timestamp) -> Result<Activity, ApiError> {
        if self.oof_on.remove(smtp) {
            json::apply_oof(store, smtp, &json!({"state": "Disabled"}))?;
            return Ok(Activity::Oof { mailbox: smtp.to_string(), state: "Disabled" });
        }
        let start = now + SignedDuration::from_mins(5 + self.rng.below(120) as i64);
        let end = start + SignedDuration::from_hours(1 + self.rng.below(48) as i64);
        let body = json!({
            "state": "Scheduled",
            "start": start.to_string(),
            "end": end.to_string(),
            "internal_reply": "I am out of the office; back soon.",
        });
        json::apply_oof(store, smtp, &body)?;
        self.oof_on.insert(smtp.to_string());
        Ok(Activity::Oof { mailbox: smtp.to_string(), state: "Scheduled" })
    }
}

fn parse(s: &str, field: &str) -> Result<Timestamp, ApiError> {
    s.parse::<Timestamp>().map_err(|e| ApiError::invalid(field, format!("{s:?}: {e}")))
}

/// Runs an [`ActivityGenerator`] seeded with `seed` on `store`: one change every `interval`
/// (the first after one interval), until the task is aborted. A refused change is logged and
/// skipped.
pub fn spawn_activity(store: Arc<Store>, interval: Duration, seed: u64) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut generator = ActivityGenerator::new(seed);
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match generator.step(&store, Timestamp::now()) {
                Ok(a) => tracing::debug!(activity = ?a, "simulated calendar change"),
                Err(e) => tracing::warn!(error = %e, "simulated calendar change refused"),
            }
        }
    })
}

/// Starts a simulator for `exbridge demo`: `mailboxes` seeded mailboxes (20 items each) of
/// `contoso.test` from `seed`, on a free port of 127.0.0.1, with the `exbridge sim` defaults
/// (service account `svc@contoso.test` / `secret`). Start the generator with
/// `spawn_activity(sim.store().clone(), interval, seed)`.
pub async fn start_demo_sim(mailboxes: u32, seed: u64) -> anyhow::Result<crate::RunningSim> {
    let config = crate::SimConfig {
        mailboxes,
        events_per_mailbox: 20,
        seed,
        ..crate::SimConfig::new(([127, 0, 0, 1], 0).into())
    };
    crate::start(config).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{SeedConfig, seeded_store};
    use crate::store::SubscriptionSpec;
    use jiff::civil::date;

    fn store() -> Arc<Store> {
        let seed = SeedConfig::new(3, 3, 6, "contoso.test").with_anchor(date(2026, 3, 16));
        Arc::new(seeded_store(&seed).expect("seeding"))
    }

    fn snapshot(store: &Store) -> Vec<(String, String, String, String)> {
        let mut out = Vec::new();
        for mb in store.mailboxes() {
            let smtp = mb.smtp().to_string();
            for i in json::list_items(store, &smtp).unwrap() {
                out.push((smtp.clone(), i.uid, i.subject, i.start));
            }
        }
        out.sort();
        out
    }

    fn now() -> Timestamp {
        "2026-03-16T09:07:00Z".parse().unwrap()
    }

    #[test]
    fn steps_change_items_and_fire_notifications() {
        let store = store();
        let subs: Vec<_> =
            store.mailboxes().iter().map(|m| store.subscribe(m, SubscriptionSpec::streaming_calendar())).collect();
        let before = snapshot(&store);
        let mut g = ActivityGenerator::new(11);
        let mut kinds = std::collections::HashSet::new();
        for _ in 0..60 {
            let a = g.step(&store, now()).expect("a simulated change");
            kinds.insert(std::mem::discriminant(&a));
        }
        // 60 draws cover create, move, rename, delete and OOF.
        assert_eq!(kinds.len(), 5, "not every kind of change happened");
        assert_ne!(snapshot(&store), before, "60 changes left the calendars as they were");
        let events: usize = subs.iter().map(|s| s.pending()).sum();
        assert!(events >= 40, "only {events} notifications for 60 changes (OOF changes fire none)");
        // Seeded recurring masters are never deleted.
        let masters = |s: &Store| {
            s.mailboxes()
                .iter()
                .flat_map(|m| json::list_items(s, m.smtp().as_str()).unwrap())
                .filter(|i| i.item_type == "RecurringMaster")
                .map(|i| i.uid)
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(masters(&store), masters(&self::store()));
    }

    #[test]
    fn same_seed_same_changes() {
        let (a, b) = (store(), store());
        let (mut ga, mut gb) = (ActivityGenerator::new(5), ActivityGenerator::new(5));
        let run_a: Vec<Activity> = (0..30).map(|_| ga.step(&a, now()).unwrap()).collect();
        let run_b: Vec<Activity> = (0..30).map(|_| gb.step(&b, now()).unwrap()).collect();
        assert_eq!(run_a, run_b);
        assert_eq!(snapshot(&a), snapshot(&b));
        let mut gc = ActivityGenerator::new(6);
        let run_c: Vec<Activity> = (0..30).map(|_| gc.step(&store(), now()).unwrap()).collect();
        assert_ne!(run_a, run_c, "another seed should make other changes");
    }

    #[test]
    fn created_meetings_are_later_today() {
        let store = store();
        let mut g = ActivityGenerator::new(2);
        let mut seen = 0;
        for _ in 0..40 {
            if let Activity::Created { start, .. } = g.step(&store, now()).unwrap() {
                let start: Timestamp = start.parse().unwrap();
                assert!(start > now() && start <= now() + SignedDuration::from_hours(8), "{start} is not later today");
                seen += 1;
            }
        }
        assert!(seen > 0, "no meeting was created");
    }

    #[tokio::test]
    async fn demo_sim_serves_the_seeded_mailboxes() {
        let sim = start_demo_sim(2, 4).await.expect("the demo simulator starts");
        assert_eq!(sim.addr().ip().to_string(), "127.0.0.1");
        assert_ne!(sim.addr().port(), 0);
        assert_eq!(sim.store().mailbox_count(), 2);
        assert!(json::list_items(sim.store(), "user1@contoso.test").unwrap().len() >= 20);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn spawned_generator_changes_the_store() {
        let store = store();
        let subs: Vec<_> =
            store.mailboxes().iter().map(|m| store.subscribe(m, SubscriptionSpec::streaming_calendar())).collect();
        let before = snapshot(&store);
        let task = spawn_activity(store.clone(), Duration::from_millis(10), 1);
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            while subs.iter().map(|s| s.pending()).sum::<usize>() < 3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        task.abort();
        assert!(waited.is_ok(), "no 3 notifications within 10 s");
        assert_ne!(snapshot(&store), before);
    }
}
