//! Every operation the connector needs, end to end against the simulator, once per
//! authentication method (Basic, NTLMv2, OAuth2), with impersonation; and the `latency` fault.

mod support;

use support::simctl::{fault, stats};

use std::time::{Duration, Instant};

use ews_client::{AuthConfig, ErrorClass, EwsClient, OAuth2Config, ServerConfig};
use ews_proto::items::{CalendarItem, ExtendedProperty, ExtendedValue, Item, ItemFields};
use ews_proto::ops::*;
use ews_proto::shape::{BaseShape, ExtendedFieldUri, ItemShape, PropertyPath};
use ews_proto::values::DateTime;
use ews_proto::{FolderId, SmtpAddress};
use exbridge_sim::config::SimConfig;
use exbridge_sim::server::RunningSim;
use jiff::{Timestamp, ToSpan};
use secrecy::SecretString;

const LIMIT: Duration = Duration::from_secs(90);

fn config(sim: &RunningSim, auth: AuthConfig) -> ServerConfig {
    let url = format!("http://localhost:{}/EWS/Exchange.asmx", sim.addr().port());
    let mut c = ServerConfig::new("sim", url.parse().unwrap(), auth);
    c.throttle.retry_base = Duration::from_millis(10);
    c.timeouts.request = Duration::from_secs(10);
    c
}

fn auth_methods(sim: &RunningSim) -> Vec<AuthConfig> {
    let secret = || SecretString::from("secret");
    vec![
        AuthConfig::Basic { username: "svc@contoso.test".into(), password: secret() },
        AuthConfig::Ntlm { username: "svc@contoso.test".into(), password: secret() },
        AuthConfig::OAuth2(OAuth2Config {
            token_url: format!("http://localhost:{}/sim/oauth2/token", sim.addr().port()).parse().unwrap(),
            client_id: "svc@contoso.test".into(),
            client_secret: secret(),
            scope: "https://outlook.office365.com/.default".into(),
        }),
    ]
}

fn app_id_property() -> ExtendedFieldUri {
    ExtendedFieldUri::public_string("exbridge-app-id")
}

/// The connector's whole conversation with one mailbox.
async fn conversation(client: &EwsClient, mailbox: &SmtpAddress, method: &str) {
    let mb = Some(mailbox);
    let now = Timestamp::now();

    // The calendar folder.
    let folder = client.call(mb, GetFolder::calendar(FolderShape::new(BaseShape::Default))).await.unwrap();
    let msg = &folder.messages[0];
    assert!(msg.status.is_success(), "{method}: {:?}", msg.status);

    // A calendar view: recurring series come back expanded.
    let view = FindItem::calendar_view(
        FolderId::calendar(),
        DateTime::utc(now - (30 * 24).hours()),
        DateTime::utc(now + (60 * 24).hours()),
        ItemShape::new(BaseShape::Default),
    );
    let found = client.call(mb, view).await.unwrap();
    let items = found.messages[0].items();
    assert!(!items.is_empty(), "{method}: empty calendar view");
    let kinds: std::collections::BTreeSet<String> = items
        .iter()
        .filter_map(|i| i.as_calendar().and_then(|c| c.calendar_item_type).map(|t| t.to_string()))
        .collect();
    assert!(kinds.contains("Occurrence"), "{method}: no occurrences in {kinds:?}");

    // GetItem in batches of ten, with bodies.
    let ids: Vec<_> = items.iter().take(12).filter_map(|i| i.item_id().cloned()).collect();
    let mut fetched = 0;
    for batch in GetItem::batches(ids.clone(), &ItemShape::new(BaseShape::AllProperties)) {
        let got = client.call(mb, batch).await.unwrap();
        fetched += got.items().count();
    }
    assert_eq!(fetched, ids.len(), "{method}: GetItem lost items");

    // Initial sync, then create → the incremental sync reports it.
    let mut state = None;
    loop {
        let page = client.call(mb, SyncFolderItems::new(FolderId::calendar(), state.clone(), 512)).await.unwrap();
        let m = &page.messages[0];
        assert!(m.status.is_success(), "{method}: {:?}", m.status);
        state = m.sync_state.clone();
        if m.includes_last_item_in_range != Some(false) {
            break;
        }
    }
    let mut appointment = CalendarItem {
        item: ItemFields {
            subject: Some(format!("created with {method}")),
            extended_properties: vec![ExtendedProperty {
                field: app_id_property(),
                value: ExtendedValue::Single(format!("app-{method}")),
            }],
            ..ItemFields::default()
        },
        start: Some(DateTime::utc(now.checked_add(jiff::SignedDuration::from_hours(26)).unwrap())),
        end: Some(DateTime::utc(now.checked_add(jiff::SignedDuration::from_hours(27)).unwrap())),
        ..CalendarItem::default()
    };
    appointment.location = Some("Room 1".into());
    let created = client
        .call(
            mb,
            CreateItem::items([Item::Calendar(appointment)], None, CalendarItemCreateOrDeleteOperation::SendToNone),
        )
        .await
        .unwrap();
    let id = created.messages[0].items[0].item_id().cloned().expect("created item id");
    let incremental = client.call(mb, SyncFolderItems::new(FolderId::calendar(), state, 512)).await.unwrap();
    assert!(
        incremental.messages[0]
            .changes()
            .iter()
            .any(|c| matches!(c, SyncChange::Create(i) if i.item_id().map(|x| &x.id) == Some(&id.id))),
        "{method}: the incremental sync missed the new item"
    );

    // The application's id comes back from GetItem.
    let shape = ItemShape {
        additional_properties: Some(vec![PropertyPath::Extended(app_id_property())]),
        ..ItemShape::new(BaseShape::IdOnly)
    };
    let got = client.call(mb, GetItem::new([id.clone()], shape)).await.unwrap();
    let item = got.items().next().expect("item");
    assert_eq!(
        item.fields().extended_properties.first().map(|p| &p.value),
        Some(&ExtendedValue::Single(format!("app-{method}"))),
        "{method}"
    );

    // Update with the ChangeKey; a stale ChangeKey is a conflict.
    let update = UpdateItem::new(
        vec![ItemChange::set_calendar_field(id.clone(), "item:Subject", |c| {
            c.item.subject = Some("moved".into());
        })],
        ConflictResolution::NeverOverwrite,
        CalendarItemUpdateOperation::SendToNone,
    );
    let updated = client.call(mb, update.clone()).await.unwrap();
    let new_id = updated.messages[0].items[0].item_id().cloned().expect("updated id");
    assert_ne!(new_id.change_key, id.change_key, "{method}: ChangeKey did not change");
    let stale = client.call(mb, update).await.unwrap();
    assert_eq!(stale.messages[0].status.code(), ews_proto::ResponseCode::ErrorIrresolvableConflict, "{method}");

    // Delete.
    let deleted = client
        .call(
            mb,
            DeleteItem::calendar_items(
                [new_id],
                DisposalType::HardDelete,
                CalendarItemCreateOrDeleteOperation::SendToNone,
            ),
        )
        .await
        .unwrap();
    assert!(deleted.messages[0].status.is_success(), "{method}");

    // Out of office, free/busy, name resolution.
    let oof = client.call(mb, GetUserOofSettingsRequest::new(mailbox.as_str())).await.unwrap();
    assert!(oof.response_message.is_success() && oof.oof_settings.is_some(), "{method}");
    let names = client.call(mb, ResolveNames::new(mailbox.as_str())).await.unwrap();
    assert!(names.messages[0].resolution_set.is_some(), "{method}");

    // A pull subscription sees a change; then it is removed.
    let sub = client.call(mb, Subscribe::pull(SubscriptionScope::calendar(), 10)).await.unwrap();
    let m = &sub.messages[0];
    let (sub_id, watermark) = (m.subscription_id.clone().unwrap(), m.watermark.clone().unwrap());
    let events = client.call(mb, GetEvents { subscription_id: sub_id.clone(), watermark }).await.unwrap();
    assert!(events.messages[0].status.is_success(), "{method}");
    let gone = client.call(mb, Unsubscribe { subscription_id: sub_id }).await.unwrap();
    assert!(gone.messages[0].status.is_success(), "{method}");
}

#[tokio::test]
async fn the_connectors_operations_with_every_auth_method() {
    tokio::time::timeout(LIMIT, async {
        let sim = exbridge_sim::server::start(SimConfig::for_tests()).await.unwrap();
        let mailbox = SmtpAddress::parse("user2@contoso.test").unwrap();
        for auth in auth_methods(&sim) {
            let method = auth.method().to_string();
            let mut cfg = config(&sim, auth);
            cfg.impersonation = true;
            let client = EwsClient::new(cfg).unwrap();
            conversation(&client, &mailbox, &method).await;
        }
        let s = stats(&sim).await;
        assert_eq!(s["auth_failures"], serde_json::json!({}), "{s}");
        for op in ["GetFolder", "FindItem", "GetItem", "SyncFolderItems", "CreateItem", "UpdateItem", "DeleteItem"] {
            assert!(s["requests"][op].as_u64().unwrap_or(0) >= 3, "{op} not called with every method: {s}");
        }
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn latency_fault_is_felt_and_a_short_timeout_is_a_transient_error() {
    tokio::time::timeout(LIMIT, async {
        let sim = exbridge_sim::server::start(SimConfig::for_tests()).await.unwrap();
        let mailbox = SmtpAddress::parse("user1@contoso.test").unwrap();
        let auth = auth_methods(&sim).remove(0);
        let mut cfg = config(&sim, auth.clone());
        cfg.impersonation = true;
        let client = EwsClient::new(cfg).unwrap();
        let op = || GetFolder::calendar(FolderShape::new(BaseShape::IdOnly));
        client.call(Some(&mailbox), op()).await.unwrap();

        fault(&sim, r#"{"kind":"latency","ms":400}"#).await;
        let t = Instant::now();
        client.call(Some(&mailbox), op()).await.unwrap();
        let slow = t.elapsed();
        assert!(slow >= Duration::from_millis(400), "latency fault not felt: {slow:?}");

        let mut short = config(&sim, auth);
        short.impersonation = true;
        short.timeouts.request = Duration::from_millis(150);
        short.throttle.max_retries = 1;
        let impatient = EwsClient::new(short).unwrap();
        let err = impatient.call(Some(&mailbox), op()).await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Transient, "{err}");
        println!("latency fault: call took {slow:?}; with a 150 ms timeout: {err}");

        fault(&sim, r#"{"kind":"reset"}"#).await;
        let t = Instant::now();
        client.call(Some(&mailbox), op()).await.unwrap();
        assert!(t.elapsed() < Duration::from_millis(400), "latency stayed after reset");
    })
    .await
    .expect("test took too long");
}
