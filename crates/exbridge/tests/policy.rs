//! End-to-end tests of the per-user sync settings on the Exchange → application path
//! (`exbridge_engine::policy`) and of join-link detection through the whole path: `exbridge sim`
//! and `exbridge serve` as processes, changes through the simulator's control API, webhooks at
//! a receiver, `GET /events` and `GET /presence`.
//!
//! Each switch has one test contrasting two users of the same run: `on` (user1, the switch
//! set) and `off` (user2, the default settings), so the test shows that the switch changes
//! what the application sees.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

/// How long a webhook may take (generous: the machine is shared).
const WEBHOOK_WAIT: Duration = Duration::from_secs(20);
/// How long to wait for unwanted deliveries after the wanted ones arrived.
const SETTLE: Duration = Duration::from_secs(3);
const ON: &str = "user1@contoso.test";
const OFF: &str = "user2@contoso.test";

impl Stack {
    /// Users `on` (user1, `settings`) and `off` (user2, defaults), `[sync] join_keywords` set.
    async fn start(settings: Value) -> Stack {
        let mut on = user_for("on", ON);
        on["settings"] = settings;
        let sync = r#"join_keywords = { "@webex" = "webex", "@meet" = "google_meet" }"#;
        Stack::launch((3, 12, 11), Some(sync), json!([on, user_for("off", OFF)]), &["on", "off"]).await
    }

    /// The same single item created in both calendars (`hours` from now); their UIDs.
    async fn create_both(&self, subject: &str, hours: i64, extra: Value) -> (Value, Value) {
        let mut item = json!({"subject": subject, "start": at(hours), "end": at(hours + 1)});
        if let (Some(o), Some(e)) = (item.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        let a = self.sim.api.create_item(ON, item.clone()).await;
        let b = self.sim.api.create_item(OFF, item).await;
        (a, b)
    }

    async fn wait(&self, mark: usize, user: &str, event_type: &str, uid: &Value) -> Delivery {
        let uid = uid.as_str().unwrap().to_string();
        self.receiver
            .wait_for(mark, WEBHOOK_WAIT, format!("{event_type} of {uid} for {user}"), |d| {
                d.user_id == user && d.event_type == event_type && d.uid() == Some(uid.as_str())
            })
            .await
    }

    /// The event deliveries for `user` after `mark`, after a settling pause.
    async fn events_for(&self, mark: usize, user: &str) -> Vec<Delivery> {
        tokio::time::sleep(SETTLE).await;
        self.receiver.since(mark).into_iter().filter(|d| d.user_id == user && d.is_event()).collect()
    }

    async fn listed(&self, user: &str) -> Vec<Value> {
        let past = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(29 * 24);
        let start = jiff::Timestamp::from_second(past.as_second()).unwrap().to_string();
        self.connector.api.events(user, &start, &rfc3339_in(Duration::from_secs(170 * 86_400))).await
    }

    /// Waits until `GET /events` of `user` lists (or no longer lists) `uid`.
    async fn wait_listed(&self, user: &str, uid: &Value, listed: bool) {
        let uid = uid.as_str().unwrap().to_string();
        wait_until(WEBHOOK_WAIT, format!("GET /events of {user} listing {uid}: {listed}"), || {
            let uid = uid.clone();
            async move { (self.listed(user).await.iter().any(|e| e["uid"] == uid.as_str()) == listed).then_some(()) }
        })
        .await;
    }
}

/// RFC 3339 `hours` from now (whole seconds).
fn at(hours: i64) -> String {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(hours);
    jiff::Timestamp::from_second(t.as_second()).unwrap().to_string()
}

fn summary(ds: &[Delivery]) -> Vec<(String, String)> {
    ds.iter().map(|d| (d.event_type.clone(), d.data["subject"].as_str().unwrap_or_default().to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direction_app_to_exchange_forwards_no_exchange_change() {
    let s = Stack::start(json!({"direction": "app_to_exchange"})).await;
    let mark = s.receiver.mark();
    let (a, b) = s.create_both("Direction", 24, json!({})).await;
    s.wait(mark, "off", "event.created", &b["uid"]).await;
    // The mirror of `on` is kept up to date all the same.
    s.wait_listed("on", &a["uid"], true).await;
    s.sim.api.patch_item(ON, a["item_id"].as_str().unwrap(), json!({"subject": "Direction 2"})).await;
    s.sim.api.patch_item(OFF, b["item_id"].as_str().unwrap(), json!({"subject": "Direction 2"})).await;
    s.wait(mark, "off", "event.updated", &b["uid"]).await;
    wait_until(WEBHOOK_WAIT, "the rename in on's mirror", || async {
        s.listed("on").await.iter().any(|e| e["uid"] == a["uid"] && e["subject"] == "Direction 2").then_some(())
    })
    .await;
    s.sim.api.delete_item(ON, a["item_id"].as_str().unwrap()).await;
    s.sim.api.delete_item(OFF, b["item_id"].as_str().unwrap()).await;
    s.wait(mark, "off", "event.deleted", &b["uid"]).await;
    s.wait_listed("on", &a["uid"], false).await;
    // A meeting now: presence is still computed for `on`.
    let now = s.sim.api.create_item(ON, json!({"subject": "Busy now", "start": at(-1), "end": at(1)})).await;
    wait_until(WEBHOOK_WAIT, "on busy", || async {
        (s.connector.api.presence("on").await["busy"] == true).then_some(())
    })
    .await;
    let on = s.events_for(mark, "on").await;
    let off = s.events_for(mark, "off").await;
    println!("direction: on got {:?}; off got {:?}", summary(&on), summary(&off));
    assert!(on.is_empty(), "app_to_exchange must forward no Exchange change: {:#?}", summary(&on));
    assert_eq!(off.len(), 3, "{:#?}", summary(&off));
    let _ = now;
    // app → Exchange: `app_to_exchange` takes the application's writes; switched to
    // `exchange_to_app`, the same user's writes are refused (422) while `off` (both) takes them.
    let write = json!({"subject": "From the app", "start": at(40), "end": at(41)});
    let (status, doc) =
        s.connector.api.request(reqwest::Method::POST, "/api/v1/users/on/events", Some(write.clone()), &[]).await;
    assert_eq!(status.as_u16(), 201, "{doc}");
    assert!(
        s.sim.api.item_by_uid(ON, doc["uid"].as_str().unwrap()).await.is_some(),
        "the app's event must be in Exchange"
    );
    let mut user = user_for("on", ON);
    user["settings"] = json!({"direction": "exchange_to_app"});
    s.connector.api.post_user(user).await;
    let (status, err) =
        s.connector.api.request(reqwest::Method::POST, "/api/v1/users/on/events", Some(write.clone()), &[]).await;
    assert_eq!((status.as_u16(), err["error"]["code"].as_str()), (422, Some("not_allowed_by_settings")), "{err}");
    let (status, doc) =
        s.connector.api.request(reqwest::Method::POST, "/api/v1/users/off/events", Some(write), &[]).await;
    assert_eq!(status.as_u16(), 201, "{doc}");
    println!("direction: app write for app_to_exchange 201, for exchange_to_app 422, for both 201");
    s.receiver.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_in_app_false_unlinks_instead_of_deleting() {
    let s = Stack::start(json!({"delete_in_app": false})).await;
    let mark = s.receiver.mark();
    let (a, b) = s.create_both("Unlink me", 26, json!({})).await;
    let daily = json!({"recurrence": {"pattern": {"type": "daily"}, "range": {"type": "numbered", "count": 4}}});
    let (sa, sb) = s.create_both("Unlink series", 50, daily).await;
    for (user, uid) in [("on", &a["uid"]), ("off", &b["uid"]), ("on", &sa["uid"]), ("off", &sb["uid"])] {
        s.wait(mark, user, "event.created", uid).await;
    }
    let mark = s.receiver.mark();
    // A single, one occurrence (the second), then the whole series, in both calendars.
    s.sim.api.delete_item(ON, a["item_id"].as_str().unwrap()).await;
    s.sim.api.delete_item(OFF, b["item_id"].as_str().unwrap()).await;
    let second = ts(sa["start"].as_str().unwrap()) + jiff::SignedDuration::from_hours(24);
    for (mb, item) in [(ON, &sa), (OFF, &sb)] {
        let patch = json!({"deleted_occurrences": [second.to_string()]});
        s.sim.api.patch_item(mb, item["item_id"].as_str().unwrap(), patch).await;
    }
    let occ_on = s.wait(mark, "on", "event.unlinked", &sa["uid"]).await;
    let occ_off = s.wait(mark, "off", "event.deleted", &sb["uid"]).await;
    assert!(!occ_on.data["series_id"].is_null() && !occ_off.data["series_id"].is_null(), "{}", occ_on.data);
    let mark2 = s.receiver.mark();
    for (mb, item) in [(ON, &sa), (OFF, &sb)] {
        s.sim.api.delete_item(mb, item["item_id"].as_str().unwrap()).await;
    }
    let series_on = s.wait(mark2, "on", "event.unlinked", &sa["uid"]).await;
    s.wait(mark2, "off", "event.deleted", &sb["uid"]).await;
    assert!(series_on.data["series_id"].is_null() && !series_on.data["recurrence"].is_null(), "{}", series_on.data);
    let single_on = s.wait(mark, "on", "event.unlinked", &a["uid"]).await;
    assert_eq!(single_on.data["reason"], "deleted_in_exchange");
    assert_eq!(single_on.data["subject"], "Unlink me", "the last document: {}", single_on.data);
    s.wait(mark, "off", "event.deleted", &b["uid"]).await;
    let on = s.events_for(mark, "on").await;
    let off = s.events_for(mark, "off").await;
    println!("delete_in_app: on got {:?}; off got {:?}", summary(&on), summary(&off));
    assert!(on.iter().all(|d| d.event_type == "event.unlinked"), "{:#?}", summary(&on));
    assert_eq!(on.len(), 3, "{:#?}", summary(&on));
    assert!(off.iter().all(|d| d.event_type == "event.deleted") && off.len() == 3, "{:#?}", summary(&off));
    // Both mirrors dropped the item.
    s.wait_listed("on", &a["uid"], false).await;
    // app → Exchange: deletes from the application are governed by `delete_in_exchange`
    // (writes.rs `settings_govern_writes`: a DELETE becomes an unlink, the item stays).
    s.receiver.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_private_hides_private_items() {
    let s = Stack::start(json!({"skip_private": true})).await;
    let mark = s.receiver.mark();
    let (pa, pb) = s.create_both("Secret", 28, json!({"sensitivity": "Private"})).await;
    let (a, b) = s.create_both("Public", 30, json!({})).await;
    s.wait(mark, "off", "event.created", &pb["uid"]).await;
    s.wait(mark, "on", "event.created", &a["uid"]).await;
    s.wait(mark, "off", "event.created", &b["uid"]).await;
    // Listed for off, not for on (whose mirror has it: presence needs it).
    s.wait_listed("off", &pb["uid"], true).await;
    assert!(!s.listed("on").await.iter().any(|e| e["uid"] == pa["uid"]), "a private item listed for on");
    assert!(!s.listed("on").await.iter().any(|e| e["is_private"] == true), "private items listed for on");
    assert!(s.listed("off").await.iter().any(|e| e["is_private"] == true));

    // The public item becomes private: on's app drops it; back to public: created again.
    let m2 = s.receiver.mark();
    s.sim.api.patch_item(ON, a["item_id"].as_str().unwrap(), json!({"sensitivity": "Private"})).await;
    s.sim.api.patch_item(OFF, b["item_id"].as_str().unwrap(), json!({"sensitivity": "Private"})).await;
    s.wait(m2, "on", "event.deleted", &a["uid"]).await;
    let upd = s.wait(m2, "off", "event.updated", &b["uid"]).await;
    assert_eq!(upd.data["changed"], json!(["is_private"]), "{}", upd.data);
    let m3 = s.receiver.mark();
    s.sim.api.patch_item(ON, a["item_id"].as_str().unwrap(), json!({"sensitivity": "Normal"})).await;
    s.wait(m3, "on", "event.created", &a["uid"]).await;
    let on = s.events_for(mark, "on").await;
    println!("skip_private: on got {:?}", summary(&on));
    assert!(
        !on.iter().any(|d| d.uid() == pa["uid"].as_str()),
        "the private item reached on's app: {:#?}",
        summary(&on)
    );
    let types: Vec<&str> = on.iter().map(|d| d.event_type.as_str()).collect();
    assert_eq!(types, ["event.created", "event.deleted", "event.created"]);

    // app → Exchange: a private event from the application is refused for `on` (it could never
    // come back to it), taken for `off`.
    let secret = json!({"subject": "App secret", "start": at(42), "end": at(43), "is_private": true});
    let (status, err) =
        s.connector.api.request(reqwest::Method::POST, "/api/v1/users/on/events", Some(secret.clone()), &[]).await;
    assert_eq!((status.as_u16(), err["error"]["code"].as_str()), (422, Some("private_not_allowed")), "{err}");
    let (status, doc) =
        s.connector.api.request(reqwest::Method::POST, "/api/v1/users/off/events", Some(secret), &[]).await;
    assert_eq!((status.as_u16(), doc["is_private"].as_bool()), (201, Some(true)), "{doc}");

    // Settings changed later: skip_private off → the private items are announced at once.
    let m4 = s.receiver.mark();
    let mut user = user_for("on", ON);
    user["settings"] = json!({"skip_private": false});
    s.connector.api.post_user(user).await;
    s.wait(m4, "on", "event.created", &pa["uid"]).await;
    s.wait_listed("on", &pa["uid"], true).await;
    s.receiver.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_start_cuts_older_items_and_a_later_change_is_silent() {
    let serial_free_start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(5 * 24);
    let sync_start = serial_free_start.to_zoned_datetime(jiff::tz::TimeZone::UTC).date().to_string();
    let s = Stack::start(json!({"sync_start": sync_start})).await;
    let mark = s.receiver.mark();
    // Ten days ago (before on's sync_start, inside the 30-day window) and two days ago.
    let (old_a, old_b) = s.create_both("Ten days ago", -240, json!({})).await;
    let (new_a, new_b) = s.create_both("Two days ago", -48, json!({})).await;
    s.wait(mark, "off", "event.created", &old_b["uid"]).await;
    s.wait(mark, "off", "event.created", &new_b["uid"]).await;
    s.wait(mark, "on", "event.created", &new_a["uid"]).await;
    s.wait_listed("off", &old_b["uid"], true).await;
    let on = s.events_for(mark, "on").await;
    println!("sync_start: on got {:?}", summary(&on));
    assert!(!on.iter().any(|d| d.uid() == old_a["uid"].as_str()), "{:#?}", summary(&on));
    assert!(!s.listed("on").await.iter().any(|e| e["uid"] == old_a["uid"]), "an item before sync_start is listed");
    // Nothing on's GET /events shows ends before sync_start.
    let start = ts(&format!("{sync_start}T00:00:00Z"));
    for e in s.listed("on").await {
        assert!(ts(e["end"].as_str().unwrap()) >= start, "listed for on before sync_start: {e}");
    }

    // sync_start removed: a silent full pass brings the older item into on's mirror.
    let m2 = s.receiver.mark();
    let mut user = user_for("on", ON);
    user["settings"] = json!({});
    s.connector.api.post_user(user).await;
    s.wait_listed("on", &old_a["uid"], true).await;
    let after = s.events_for(m2, "on").await;
    println!("sync_start removed: on got {:?}", summary(&after));
    assert!(after.is_empty(), "a window change must be silent: {:#?}", summary(&after));
    // app → Exchange: `sync_start` only bounds what is mirrored; the application's writes are
    // governed by `direction` (above) and `skip_private` (below).
    s.receiver.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_list_the_changed_fields_for_an_organisers_time_change() {
    let s = Stack::start(json!({})).await;
    let mark = s.receiver.mark();
    // user2 (off) organises a meeting with user1 (on) as attendee: a copy lands in on's calendar.
    let meeting = json!({
        "subject": "Planning", "start": at(52), "end": at(53), "location": "Room 2.14",
        "attendees": [{"email": ON, "name": "User One", "type": "Required"}]
    });
    let m = s.sim.api.create_item(OFF, meeting).await;
    let copy = s.wait(mark, "on", "event.created", &m["uid"]).await;
    assert_eq!(copy.data["organizer"]["email"], OFF, "{}", copy.data);
    s.wait(mark, "off", "event.created", &m["uid"]).await;

    // The organiser moves it by an hour.
    let m2 = s.receiver.mark();
    s.sim.api.patch_item(OFF, m["item_id"].as_str().unwrap(), json!({"start": at(53), "end": at(54)})).await;
    let on = s.wait(m2, "on", "event.updated", &m["uid"]).await;
    let off = s.wait(m2, "off", "event.updated", &m["uid"]).await;
    println!("changed: attendee copy {}, organiser {}", on.data["changed"], off.data["changed"]);
    assert_eq!(on.data["changed"], json!(["start", "end"]), "{}", on.data);
    assert_eq!(off.data["changed"], json!(["start", "end"]), "{}", off.data);
    // A change of the location only.
    let m3 = s.receiver.mark();
    s.sim.api.patch_item(OFF, m["item_id"].as_str().unwrap(), json!({"location": "Board room"})).await;
    let on = s.wait(m3, "on", "event.updated", &m["uid"]).await;
    assert_eq!(on.data["changed"], json!(["location"]), "{}", on.data);
    // app → Exchange: a meeting organised by someone else is read-only for the application
    // (writes.rs `meetings_and_conflicts`: PATCH/DELETE on the attendee's copy → 422).
    s.receiver.assert_all_valid();
}

/// The join a created item should get: provider and URL, or none.
type Expected = Option<(&'static str, Option<&'static str>)>;

/// The provider a meeting URL in `text` stands for, by the test's own reading of the seeded
/// shapes, with the URL.
fn expected_join(location: Option<&str>, body: Option<&str>) -> Option<(String, String)> {
    let shapes = [
        ("teams", "https://teams.microsoft.com/l/meetup-join/"),
        ("zoom", ".zoom.us/j/"),
        ("webex", ".webex.com/meet/"),
        ("google_meet", "https://meet.google.com/"),
        ("gotomeeting", "gotomeeting.com/join/"),
        ("jitsi", "https://meet.jit.si/"),
    ];
    for text in [location, body].into_iter().flatten() {
        let text = text.replace("&amp;", "&");
        let mut found: Option<(usize, String, String)> = None;
        for (provider, marker) in shapes {
            if let Some(i) = text.find(marker) {
                let begin = text[..i + marker.len()].rfind("https://").unwrap_or(i);
                let url: String =
                    text[begin..].chars().take_while(|c| !c.is_whitespace() && !"<>\"'".contains(*c)).collect();
                if found.as_ref().is_none_or(|f| begin < f.0) {
                    found = Some((begin, provider.to_string(), url));
                }
            }
        }
        if let Some((_, p, u)) = found {
            return Some((p, u));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_links_are_detected_through_the_whole_path() {
    let s = Stack::start(json!({})).await;
    // Every seeded item of both mailboxes: the `join` GET /events shows is what the item's
    // location and body hold.
    let mut checked = 0;
    let mut providers = std::collections::BTreeSet::new();
    for (user, mb) in [("on", ON), ("off", OFF)] {
        let listed = s.listed(user).await;
        for item in s.sim.api.items(mb).await.iter().filter(|i| i["item_type"] != "Exception") {
            // Private items are listed masked (no join); an exception may have its own text.
            let private = item["sensitivity"] == "Private" || item["sensitivity"] == "Confidential";
            let exceptions = item["modified_occurrences"].as_array().is_some_and(|a| !a.is_empty());
            if private || exceptions {
                continue;
            }
            let Some(e) = listed.iter().find(|e| e["uid"] == item["uid"]) else { continue };
            let want = expected_join(item["location"].as_str(), item["body"].as_str());
            let got = e.get("join").filter(|j| !j.is_null()).map(|j| {
                (
                    j["provider"].as_str().unwrap_or_default().to_string(),
                    j["url"].as_str().unwrap_or_default().to_string(),
                )
            });
            assert_eq!(got, want, "join of seeded item {} ({}) of {mb}: {item}", item["subject"], item["uid"]);
            if let Some((p, _)) = want {
                providers.insert(p);
            }
            checked += 1;
        }
    }
    println!("seeded items checked: {checked}, providers: {providers:?}");
    assert!(checked >= 4, "too few seeded items listed: {checked}");
    for p in ["teams", "zoom", "webex"] {
        assert!(providers.contains(p), "no seeded {p} meeting checked: {providers:?}");
    }

    // Formats the seed does not have, created now.
    let safelinks = "https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fmeet.google.com%2Fabc-defg-hij&data=x&reserved=0";
    let cases: Vec<(&str, Value, Expected)> = vec![
        (
            "Meet",
            json!({"location": "https://meet.google.com/abc-defg-hij"}),
            Some(("google_meet", Some("https://meet.google.com/abc-defg-hij"))),
        ),
        (
            "GoTo",
            json!({"body": "Join: https://global.gotomeeting.com/join/123456789 (audio too)"}),
            Some(("gotomeeting", Some("https://global.gotomeeting.com/join/123456789"))),
        ),
        (
            "Jitsi",
            json!({"body": "Room https://meet.jit.si/ContosoSync."}),
            Some(("jitsi", Some("https://meet.jit.si/ContosoSync"))),
        ),
        (
            "SafeLinks",
            json!({"body": format!("Join {safelinks}")}),
            Some(("google_meet", Some("https://meet.google.com/abc-defg-hij"))),
        ),
        (
            "Html Teams",
            json!({"body": "<html><body><p>Docs: <a href=\"https://www.contoso.com/agenda\">agenda</a></p><p><a href=\"https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0?context=%7b%7d&amp;x=1\">Join the meeting now</a></p></body></html>"}),
            Some((
                "teams",
                Some("https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0?context=%7b%7d&x=1"),
            )),
        ),
        ("Keyword", json!({"location": "@webex personal room", "body": "See you there."}), Some(("webex", None))),
        (
            "Keyword url",
            json!({"location": "@meet https://intranet.contoso.com/room"}),
            Some(("google_meet", Some("https://intranet.contoso.com/room"))),
        ),
        ("Plain", json!({"location": "https://www.contoso.com/agenda", "body": "https://zoom.us/download"}), None),
    ];
    let mark = s.receiver.mark();
    let mut uids = Vec::new();
    for (i, (subject, extra, _)) in cases.iter().enumerate() {
        let mut item = json!({"subject": subject, "start": at(60 + i as i64), "end": at(61 + i as i64)});
        item.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let created = s.sim.api.create_item(OFF, item).await;
        uids.push(created["uid"].clone());
    }
    for uid in &uids {
        s.wait(mark, "off", "event.created", uid).await;
    }
    let listed = s.listed("off").await;
    for ((subject, _, want), uid) in cases.iter().zip(&uids) {
        let e = listed.iter().find(|e| e["uid"] == *uid).unwrap_or_else(|| panic!("{subject} not listed"));
        let got = e.get("join").filter(|j| !j.is_null()).cloned();
        let want = want.map(|(p, u)| json!({"provider": p, "url": u}));
        let got = got.map(|mut j| {
            if j.get("url").is_none() {
                j["url"] = Value::Null;
            }
            j
        });
        println!("{subject}: join {got:?}");
        assert_eq!(got, want, "join of {subject}: {e}");
    }

    // Presence: the current meeting's join link.
    let zoom = "https://contoso.zoom.us/j/98765432101?pwd=abc";
    s.sim
        .api
        .create_item(
            ON,
            json!({"subject": "Zoom now", "start": at(-1), "end": at(1), "location": zoom, "legacy_free_busy": "OOF"}),
        )
        .await;
    let p = wait_until(WEBHOOK_WAIT, "presence of on with the current meeting", || async {
        let p = s.connector.api.presence("on").await;
        (p["current_event"]["subject"] == "Zoom now").then_some(p)
    })
    .await;
    assert_eq!(p["current_event"]["join"], json!({"provider": "zoom", "url": zoom}), "{p}");
    s.receiver.assert_all_valid();
}
