//! Mailbox resolution and live reads against the simulator.

mod support;

use std::collections::BTreeSet;

use exbridge_calendar::presence::{Oof, OofState};
use exbridge_engine::EngineSettings;
use exbridge_engine::reads::{calendar_view, free_busy, oof};
use exbridge_engine::resolve::{Confirm, resolve_mailbox, resolve_mailbox_with};
use exbridge_engine::sync::{SyncMode, day_window, sync_folder};
use exbridge_sim::server::faults::FaultSpec;
use exbridge_sim::store::MailboxSpec;
use exbridge_store::{AttemptOutcome, DirectoryUser, FolderKind, MailboxStatus, MatchedBy};
use support::{Env, LIMIT, anchor_now};

fn user(id: &str) -> DirectoryUser {
    DirectoryUser::new(id)
}

#[tokio::test]
async fn users_resolve_by_work_email_personal_alias_and_external_uid() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(3, 2, EngineSettings::default()).await;
        env.sim
            .store()
            .add_mailbox(MailboxSpec {
                smtp: "erika.mustermann@contoso.test".into(),
                aliases: vec!["emp-4711@contoso.test".into()],
                display_name: Some("Erika Mustermann".into()),
                time_zone: Some("W. Europe Standard Time".into()),
            })
            .unwrap();
        let now = anchor_now();

        // Only a work e-mail.
        let mut work = user("w");
        work.work_email = Some("user1@contoso.test".into());
        let r = resolve_mailbox(&env.ctx, &work, None, now).await;
        assert_eq!(r.state.state, MailboxStatus::Pending);
        assert_eq!(r.state.matched_by, Some(MatchedBy::WorkEmail));
        assert_eq!(r.state.mailbox.as_deref(), Some("user1@contoso.test"));
        assert_eq!(r.state.exchange.as_deref(), Some("sim"));
        assert_eq!(
            r.resolved.as_ref().map(|(m, s)| (m.as_str(), s.name.as_str())),
            Some(("user1@contoso.test", "sim"))
        );

        // A login e-mail that matches nothing, then a personal e-mail that is an alias: the primary.
        let mut personal = user("p");
        personal.login_email = Some("nobody@contoso.test".into());
        personal.personal_email = Some("u2@alias.contoso.test".into());
        let r = resolve_mailbox(&env.ctx, &personal, None, now).await;
        assert_eq!(r.state.matched_by, Some(MatchedBy::PersonalEmail));
        assert_eq!(r.state.mailbox.as_deref(), Some("user2@contoso.test"));
        let outcomes: Vec<_> = r.state.attempts.iter().map(|a| (a.identifier, a.outcome.clone())).collect();
        assert_eq!(
            outcomes,
            vec![
                (MatchedBy::LoginEmail, AttemptOutcome::NotFound),
                (MatchedBy::PersonalEmail, AttemptOutcome::Resolved { mailbox: "user2@contoso.test".into() }),
            ]
        );

        // An external UID found by ambiguous name resolution of an alias.
        let mut external = user("x");
        external.external_uid = Some("emp-4711".into());
        let r = resolve_mailbox(&env.ctx, &external, None, now).await;
        assert_eq!(r.state.matched_by, Some(MatchedBy::ExternalUid));
        assert_eq!(r.state.mailbox.as_deref(), Some("erika.mustermann@contoso.test"));

        // Resolving again puts the remembered identifier first and extends the log.
        let previous = r_state(&personal, &env, now).await;
        let again = resolve_mailbox(&env.ctx, &personal, Some(&previous), now).await;
        assert_eq!(again.state.attempts.len(), previous.attempts.len() + 1, "only the remembered identifier was tried");
        assert_eq!(again.state.attempts.last().map(|a| a.identifier), Some(MatchedBy::PersonalEmail));

        // Nothing matches.
        let mut nobody = user("n");
        nobody.work_email = Some("ghost@contoso.test".into());
        nobody.external_uid = Some("zz-no-such-employee".into());
        let r = resolve_mailbox(&env.ctx, &nobody, None, now).await;
        assert_eq!(r.state.state, MailboxStatus::NotFound);
        assert!(r.resolved.is_none() && r.state.mailbox.is_none());
        assert_eq!(r.state.attempts.len(), 2);
        assert!(r.state.attempts.iter().all(|a| a.outcome == AttemptOutcome::NotFound));
        println!("not found: {:?}", r.state.last_error);
        println!("attempt log: {}", serde_json::to_string(&r.state.attempts).unwrap());
        // The log is bounded.
        let mut state = r.state;
        for _ in 0..12 {
            state = resolve_mailbox(&env.ctx, &nobody, Some(&state), now).await.state;
        }
        assert_eq!(state.attempts.len(), exbridge_engine::resolve::MAX_ATTEMPTS);

        // An external UID matching several mailboxes is not an answer.
        let mut vague = user("v");
        vague.external_uid = Some("user".into());
        let r = resolve_mailbox(&env.ctx, &vague, None, now).await;
        assert_eq!(r.state.state, MailboxStatus::NotFound);
        assert!(
            matches!(&r.state.attempts[0].outcome, AttemptOutcome::Error { message } if message.contains("ambiguous"))
        );
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn an_unreachable_exchange_is_an_error_not_a_missing_mailbox() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(1, 1, EngineSettings::default()).await;
        let mut u = user("e");
        u.work_email = Some("user1@contoso.test".into());
        let fault = FaultSpec::HttpStatus { status: 500, count: 1000, retry_after_secs: None };
        exbridge_sim::server::control::apply_fault(env.sim.state(), &fault);
        let r = resolve_mailbox(&env.ctx, &u, None, anchor_now()).await;
        println!("unreachable: {:?}", r.state.last_error);
        assert_eq!(r.state.state, MailboxStatus::Error);
        assert!(matches!(r.state.attempts[0].outcome, AttemptOutcome::Error { .. }));
        exbridge_sim::server::control::apply_fault(env.sim.state(), &FaultSpec::Reset);
        let r = resolve_mailbox(&env.ctx, &u, Some(&r.state), anchor_now()).await;
        assert_eq!(r.state.state, MailboxStatus::Pending);
        assert_eq!(r.state.attempts.len(), 2);
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn identifiers_are_only_tried_on_servers_that_may_hold_them() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(1, 1, EngineSettings::default()).await;
        let mut ctx = env.ctx.clone();
        let client = env.server().client.clone();
        ctx.servers = vec![std::sync::Arc::new(exbridge_engine::ExchangeServer {
            name: "elsewhere".into(),
            client,
            domains: vec!["fabrikam.test".into()],
        })]
        .into();
        let before = env.sim.stats().requests.values().sum::<u64>();
        let mut u = user("d");
        u.work_email = Some("user1@contoso.test".into());
        let r = resolve_mailbox(&ctx, &u, None, anchor_now()).await;
        assert_eq!(r.state.state, MailboxStatus::NotFound);
        assert_eq!(r.state.attempts.len(), 1);
        assert_eq!(r.state.attempts[0].exchange, None);
        assert_eq!(env.sim.stats().requests.values().sum::<u64>(), before, "no request for a foreign domain");
    })
    .await
    .expect("test took too long");
}

/// Confirmed by the first sync: one ResolveNames per resolution and no GetFolder; an alias
/// still gives the primary address; a missing mailbox is still not found.
#[tokio::test]
async fn resolution_confirmed_by_the_first_sync_sends_only_resolve_names() {
    tokio::time::timeout(LIMIT, async {
        let env = Env::start(2, 1, EngineSettings::default()).await;
        let count = |op: &str| env.sim.stats().requests.get(op).copied().unwrap_or(0);
        let (names0, folders0) = (count("ResolveNames"), count("GetFolder"));
        let mut u = user("a");
        u.login_email = Some("u2@alias.contoso.test".into());
        let r = resolve_mailbox_with(&env.ctx, &u, None, anchor_now(), Confirm::ByFirstSync).await;
        assert_eq!(r.state.state, MailboxStatus::Pending);
        assert_eq!(r.state.matched_by, Some(MatchedBy::LoginEmail));
        assert_eq!(r.state.mailbox.as_deref(), Some("user2@contoso.test"));
        let mut ghost = user("g");
        ghost.login_email = Some("ghost@contoso.test".into());
        let r = resolve_mailbox_with(&env.ctx, &ghost, None, anchor_now(), Confirm::ByFirstSync).await;
        assert_eq!(r.state.state, MailboxStatus::NotFound);
        assert_eq!((count("ResolveNames") - names0, count("GetFolder") - folders0), (2, 0));
        // The default still confirms with GetFolder.
        let r = resolve_mailbox(&env.ctx, &u, None, anchor_now()).await;
        assert_eq!(r.state.mailbox.as_deref(), Some("user2@contoso.test"));
        assert_eq!(count("GetFolder") - folders0, 1);
    })
    .await
    .expect("test took too long");
}

/// A previous state of `user` that matched by its personal e-mail.
async fn r_state(u: &DirectoryUser, env: &Env, now: jiff::Timestamp) -> exbridge_store::MailboxState {
    let mut reordered = u.clone();
    reordered.login_email = None;
    let r = resolve_mailbox(&env.ctx, &reordered, None, now).await;
    assert_eq!(r.state.matched_by, Some(MatchedBy::PersonalEmail));
    r.state
}

#[tokio::test]
async fn live_calendar_view_gives_the_mirror_ids_and_free_busy_and_oof_answer() {
    tokio::time::timeout(LIMIT, async {
        let settings = EngineSettings { window_future_days: 14, ..EngineSettings::default() };
        let env = Env::start(1, 20, settings).await;
        let now = anchor_now();
        let server = env.server();
        sync_folder(&env.ctx, &server, &env.user, &env.mailbox, FolderKind::Calendar, SyncMode::Incremental, now)
            .await
            .unwrap();
        let window = day_window(&env.ctx, now);
        let live = calendar_view(&env.ctx, &server, &env.mailbox, window.0, window.1).await.unwrap();
        let mirrored =
            env.ctx.store.events_in_window(&env.user, FolderKind::Calendar, window.0, window.1).await.unwrap();
        let live_ids: BTreeSet<String> = live.iter().map(|d| d.id.clone()).collect();
        let mirror_ids: BTreeSet<String> =
            mirrored.iter().map(|r| r.event["id"].as_str().unwrap().to_owned()).collect();
        assert!(!live_ids.is_empty());
        assert_eq!(live_ids, mirror_ids);
        for doc in &live {
            let row = mirrored.iter().find(|r| r.event["id"] == doc.id.as_str()).unwrap();
            assert_eq!(row.event["start"], doc.start.as_str(), "{}", doc.id);
            assert_eq!(row.event["subject"], doc.subject.as_str(), "{}", doc.id);
        }
        println!("live view: {} events, same ids as the mirror", live.len());

        let slots = free_busy(&env.ctx, &server, &env.mailbox, window.0, window.1).await.unwrap();
        assert!(!slots.is_empty());
        for w in slots.windows(2) {
            let (end, next): (jiff::Timestamp, jiff::Timestamp) =
                (w[0].end.parse().unwrap(), w[1].start.parse().unwrap());
            assert!(end <= next, "slots overlap or are unordered: {w:?}");
            assert!(end < next || w[0].status != w[1].status, "adjacent slots of one status not merged: {w:?}");
        }
        for slot in &slots {
            let (s, e): (jiff::Timestamp, jiff::Timestamp) = (slot.start.parse().unwrap(), slot.end.parse().unwrap());
            assert!(window.0 <= s && s < e && e <= window.1, "{slot:?}");
            assert!(
                ["free", "tentative", "busy", "oof", "working_elsewhere", "no_data"].contains(&slot.status.as_str())
            );
        }
        // Every busy mirrored event (not cancelled) is covered by a non-free slot.
        for row in mirrored.iter().filter(|r| r.event["free_busy"] == "busy" && r.event["is_cancelled"] == false) {
            let (s, e) = (row.start.unwrap().max(window.0), row.end.unwrap().min(window.1));
            let covered = slots.iter().any(|slot| {
                let (a, b): (jiff::Timestamp, jiff::Timestamp) =
                    (slot.start.parse().unwrap(), slot.end.parse().unwrap());
                a <= s && e <= b && slot.status != "free"
            });
            assert!(covered || s >= e, "busy event {} not in free/busy", row.event["id"]);
        }
        println!("free/busy: {} slots, first {:?}", slots.len(), slots.first());

        let o = oof(&env.ctx, &server, &env.mailbox).await.unwrap();
        assert_eq!(o, Oof::disabled());
        let (from, to): (jiff::Timestamp, jiff::Timestamp) =
            ("2026-03-20T00:00:00Z".parse().unwrap(), "2026-03-27T00:00:00Z".parse().unwrap());
        let scheduled = exbridge_sim::store::OofState {
            state: exbridge_sim::store::OofStatus::Scheduled,
            start: Some(from),
            end: Some(to),
            internal_reply: "On holiday".into(),
            ..exbridge_sim::store::OofState::default()
        };
        env.sim.store().set_oof(&env.sim_mailbox(), scheduled).unwrap();
        let o = oof(&env.ctx, &server, &env.mailbox).await.unwrap();
        println!("oof: {o:?}");
        assert_eq!(o.state, OofState::Scheduled);
        assert_eq!((o.start, o.end), (Some(from), Some(to)));
        assert!(o.internal_reply.as_deref().is_some_and(|r| r.contains("On holiday")));
        assert!(o.is_active("2026-03-21T00:00:00Z".parse().unwrap()));
    })
    .await
    .expect("test took too long");
}
