//! `[mapping]` and the application id against the simulator: an item created through EWS with
//! the app-id property is mirrored with `app_id`, mapped categories and `priority`; a lost
//! mirror (a fresh SQLite) is rebuilt with the same ids and no duplicates; `find_by_app_id`
//! finds the item; `ensure_categories` writes the master category list once.

mod support;

use std::sync::Arc;

use ews_proto::FolderId;
use ews_proto::items::{CalendarItem, Importance, Item, ItemFields};
use ews_proto::ops::{CalendarItemCreateOrDeleteOperation, CreateItem};
use ews_proto::values::DateTime;
use ews_proto::xml::XmlText;
use exbridge_config::{CategoryColor, CategoryMapping, MappingConfig};
use exbridge_engine::catmap::{self, CatMap};
use exbridge_engine::sync::{SyncMode, sync_folder};
use exbridge_engine::{Context, EngineSettings};
use exbridge_sim::store::FolderKind as SimFolder;
use exbridge_store::{DirectoryUser, FolderKind, SqliteStore, Store};
use support::{Env, LIMIT, anchor_now};

fn mapping() -> MappingConfig {
    MappingConfig {
        categories: vec![
            CategoryMapping {
                app: "customer-visit".into(),
                exchange: "Customer visit".into(),
                color: CategoryColor::Preset(4),
            },
            CategoryMapping { app: "internal".into(), exchange: "Internal".into(), color: CategoryColor::None },
        ],
        priorities: vec![
            ("high".into(), Importance::High),
            ("low".into(), Importance::Low),
            ("normal".into(), Importance::Normal),
            ("urgent".into(), Importance::High),
        ],
    }
}

async fn sync(env: &Env, ctx: &Context) {
    sync_folder(ctx, &env.server(), &env.user, &env.mailbox, FolderKind::Calendar, SyncMode::Incremental, anchor_now())
        .await
        .expect("sync");
}

/// (event id, app id) of every mirror row, sorted.
async fn ids(env: &Env, store: &Arc<dyn Store>) -> Vec<(String, Option<String>)> {
    let (start, end) = env.ctx.window(anchor_now());
    let rows = store.events_in_window(&env.user, FolderKind::Calendar, start, end).await.unwrap();
    let mut out: Vec<_> = rows
        .iter()
        .map(|r| (r.event["id"].as_str().unwrap().to_owned(), r.event["app_id"].as_str().map(str::to_owned)))
        .collect();
    out.sort();
    out
}

fn requests(env: &Env, op: &str) -> u64 {
    env.sim.stats().requests.get(op).copied().unwrap_or(0)
}

#[tokio::test]
async fn app_id_survives_a_lost_mirror_and_categories_are_created_once() {
    tokio::time::timeout(LIMIT, async {
        let settings = EngineSettings { window_future_days: 60, ..EngineSettings::default() };
        let mut env = Env::start(1, 5, settings).await;
        env.ctx.catmap = Arc::new(CatMap::new(&mapping()));
        let server = env.server();

        // The application's event, created through EWS with its id in the property.
        let item = CalendarItem {
            item: ItemFields {
                subject: Some("Visit at Fabrikam".into()),
                categories: Some(vec!["Customer visit".into(), "Red category".into()]),
                importance: Some(Importance::High),
                extended_properties: vec![catmap::app_id_property("order-42")],
                ..ItemFields::default()
            },
            start: Some(DateTime::from_text("2026-03-17T09:00:00Z").unwrap()),
            end: Some(DateTime::from_text("2026-03-17T10:00:00Z").unwrap()),
            ..CalendarItem::default()
        };
        let op = CreateItem::items(
            [Item::Calendar(item)],
            Some(FolderId::calendar()),
            CalendarItemCreateOrDeleteOperation::SendToNone,
        );
        let created = server.client.call(Some(&env.mailbox), op).await.unwrap();
        assert!(created.messages[0].status.is_success(), "{:?}", created.messages[0].status);
        let created_id = created.messages[0].items[0].item_id().cloned().unwrap();

        sync(&env, &env.ctx).await;
        let before = ids(&env, &env.ctx.store).await;
        let ours: Vec<_> = before.iter().filter(|(_, a)| a.as_deref() == Some("order-42")).collect();
        assert_eq!(ours.len(), 1, "{before:?}");
        let (start, end) = env.ctx.window(anchor_now());
        let rows = env.ctx.store.events_in_window(&env.user, FolderKind::Calendar, start, end).await.unwrap();
        let doc = &rows.iter().find(|r| r.event["app_id"] == "order-42").unwrap().event;
        assert_eq!(doc["categories"], serde_json::json!(["customer-visit", "Red category"]));
        assert_eq!(doc["priority"], "high");
        assert_eq!(doc["importance"], "high");
        println!(
            "mirrored: id {} app_id order-42, categories {}, priority {}",
            ours[0].0, doc["categories"], doc["priority"]
        );

        // The mirror is lost: a fresh SQLite, synced again from Exchange.
        let dir = tempfile::tempdir().unwrap();
        let fresh: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("exbridge.db")).await.unwrap());
        let mut user = DirectoryUser::new("u1");
        user.work_email = Some(env.mailbox.as_str().to_owned());
        fresh.upsert_user(&user).await.unwrap();
        let rebuilt_ctx = Context { store: fresh.clone(), ..env.ctx.clone() };
        sync(&env, &rebuilt_ctx).await;
        let after = ids(&env, &fresh).await;
        assert_eq!(after, before, "the rebuilt mirror has the same event ids and app ids");
        let mut unique = after.clone();
        unique.dedup_by(|a, b| a.0 == b.0);
        assert_eq!(unique.len(), after.len(), "no duplicate event ids");
        println!("rebuilt mirror: {} rows, identical ids and app ids", after.len());

        // Found again by its app id (the writes path's check before creating).
        let found = catmap::find_by_app_id(&env.ctx, &server, &env.mailbox, "order-42").await.unwrap();
        assert_eq!(found.map(|i| i.id), Some(created_id.id.clone()));
        assert_eq!(catmap::find_by_app_id(&env.ctx, &server, &env.mailbox, "order-43").await.unwrap(), None);

        // Colours: the first call reads the list once and creates it with every mapped category.
        let (gets, creates, updates) = ("GetUserConfiguration", "CreateUserConfiguration", "UpdateUserConfiguration");
        catmap::ensure_categories(&env.ctx, &server, &env.mailbox, &[("Customer visit", "preset4")]).await.unwrap();
        assert_eq!((requests(&env, gets), requests(&env, creates), requests(&env, updates)), (1, 1, 0));
        let mb = env.sim_mailbox();
        let list = env.sim.store().user_config(&mb, SimFolder::Calendar, "CategoryList").expect("a CategoryList");
        let xml = String::from_utf8(list.xml_data.unwrap()).unwrap();
        assert!(xml.contains(r#"name="Customer visit" color="4""#), "{xml}");
        assert!(xml.contains(r#"name="Internal" color="-1""#), "{xml}");
        assert_eq!(catmap::category_names(&xml), vec!["Customer visit".to_string(), "Internal".to_string()]);

        // Second call (any case): nothing sent.
        catmap::ensure_categories(
            &env.ctx,
            &server,
            &env.mailbox,
            &[("customer visit", "preset4"), ("Internal", "none")],
        )
        .await
        .unwrap();
        assert_eq!((requests(&env, gets), requests(&env, creates), requests(&env, updates)), (1, 1, 0));

        // Another process (a fresh cache) finds them present: one read, no write.
        let other = Context { catmap: Arc::new(CatMap::new(&mapping())), ..env.ctx.clone() };
        catmap::ensure_categories(&other, &server, &env.mailbox, &[("Customer visit", "preset4")]).await.unwrap();
        assert_eq!((requests(&env, gets), requests(&env, creates), requests(&env, updates)), (2, 1, 0));

        // A name outside the configuration: read again and added with an update.
        catmap::ensure_categories(&env.ctx, &server, &env.mailbox, &[("Ad hoc", "preset7")]).await.unwrap();
        assert_eq!((requests(&env, gets), requests(&env, creates), requests(&env, updates)), (3, 1, 1));
        let list = env.sim.store().user_config(&mb, SimFolder::Calendar, "CategoryList").unwrap();
        let names = catmap::category_names(&String::from_utf8(list.xml_data.unwrap()).unwrap());
        assert_eq!(names, vec!["Customer visit".to_string(), "Internal".to_string(), "Ad hoc".to_string()]);
        let bad = catmap::ensure_categories(&env.ctx, &server, &env.mailbox, &[("X", "purple")]).await.unwrap_err();
        assert!(bad.to_string().contains("\"purple\""), "{bad}");
        println!("ensure_categories: {:?}", env.sim.stats().requests);
    })
    .await
    .expect("test took too long");
}
