//! The admin UI (`/ui/`) with a fake connector: login, sessions, CSRF, the remote-peer rule,
//! secrets never rendered, and the pages' data.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use common::{FakeConnector, WAIT, add_users, append, temp_store};
use exbridge_config::{Config, ExchangeConfig};
use exbridge_engine::api::{ConnectionReport, Connector, EngineError, Readiness};
use exbridge_engine::event::{EventDoc, FreeBusySlot, PresenceDoc};
use exbridge_server::logs::{LogBuffer, LogLine};
use exbridge_server::ui::UiState;
use exbridge_server::{AppState, Tokens};
use exbridge_store::{
    AttemptOutcome, DirectoryDiff, DirectoryEntry, DirectoryUser, EventType, MailboxStatus, MatchedBy,
    ResolutionAttempt, Store, UpsertOutcome, UserId,
};
use jiff::Timestamp;
use serde_json::json;
use tokio::sync::oneshot;
use tower::ServiceExt;

const PASSWORD: &str = "admin-pass-123";
const EXCHANGE_SECRET: &str = "Sup3r-S3cret-Value";
const NEW_SECRET: &str = "N3w-S3cret-Typed";

fn exchange_config() -> ExchangeConfig {
    let text = format!(
        r#"
[server]
api_tokens = ["public-token-1"]
[[exchange]]
name = "primary"
ews_url = "https://mail.contoso.com/EWS/Exchange.asmx"
auth = "ntlm"
username = "svc@contoso.com"
password = "{EXCHANGE_SECRET}"
"#
    );
    Config::from_toml_str(&text, &[]).unwrap().exchange.remove(0)
}

/// The common fake, plus the admin operations the UI calls.
struct UiConnector {
    inner: FakeConnector,
    servers: Mutex<Vec<ExchangeConfig>>,
    updates: Mutex<Vec<ExchangeConfig>>,
    tests: AtomicUsize,
    rechecks: AtomicUsize,
}

#[async_trait]
impl Connector for UiConnector {
    async fn replace_users(&self, users: Vec<DirectoryUser>, force: bool) -> Result<DirectoryDiff, EngineError> {
        self.inner.replace_users(users, force).await
    }
    async fn upsert_user(&self, user: DirectoryUser) -> Result<UpsertOutcome, EngineError> {
        self.inner.upsert_user(user).await
    }
    async fn delete_user(&self, user: &UserId) -> Result<bool, EngineError> {
        self.inner.delete_user(user).await
    }
    async fn list_users(&self) -> Result<Vec<DirectoryEntry>, EngineError> {
        self.inner.list_users().await
    }
    async fn ensure_user(&self, user: &UserId) -> Result<DirectoryEntry, EngineError> {
        self.inner.ensure_user(user).await
    }
    async fn events(&self, user: &UserId, start: Timestamp, end: Timestamp) -> Result<Vec<EventDoc>, EngineError> {
        self.inner.events(user, start, end).await
    }
    async fn presence(&self, user: &UserId) -> Result<PresenceDoc, EngineError> {
        self.inner.presence(user).await
    }
    async fn free_busy(&self, u: &UserId, s: Timestamp, e: Timestamp) -> Result<Vec<FreeBusySlot>, EngineError> {
        self.inner.free_busy(u, s, e).await
    }
    async fn readiness(&self) -> Readiness {
        self.inner.readiness().await
    }
    async fn exchange_servers(&self) -> Vec<ExchangeConfig> {
        self.servers.lock().unwrap().clone()
    }
    async fn update_exchange_server(&self, server: ExchangeConfig) -> Result<(), EngineError> {
        if server.username.as_deref() == Some("refused@contoso.com") {
            return Err(EngineError::Invalid("username: the engine refuses this account".into()));
        }
        self.updates.lock().unwrap().push(server.clone());
        let mut servers = self.servers.lock().unwrap();
        servers.retain(|s| s.name != server.name);
        servers.push(server);
        Ok(())
    }
    async fn test_connection(&self, server: Option<&str>) -> Vec<ConnectionReport> {
        assert_eq!(server, None);
        self.tests.fetch_add(1, Ordering::SeqCst);
        vec![ConnectionReport {
            server: "primary".into(),
            ok: true,
            ews_url: Some("https://mail.contoso.com/EWS/Exchange.asmx".into()),
            version: Some("Exchange2016 15.1.2507".into()),
            auth: "ntlm".into(),
            latency_ms: Some(42),
            error: None,
            checked_at: Timestamp::now(),
        }]
    }
    async fn recheck_mapping(&self, user: &UserId) -> Result<DirectoryEntry, EngineError> {
        self.rechecks.fetch_add(1, Ordering::SeqCst);
        let mut entry = self.inner.ensure_user(user).await?;
        entry.mailbox.state = MailboxStatus::Subscribed;
        entry.mailbox.mailbox = Some(format!("{}@contoso.com", user.as_str()));
        entry.mailbox.matched_by = Some(MatchedBy::WorkEmail);
        entry.mailbox.attempts.push(ResolutionAttempt {
            identifier: MatchedBy::WorkEmail,
            value: format!("{}@contoso.com", user.as_str()),
            exchange: Some("primary".into()),
            outcome: AttemptOutcome::Resolved { mailbox: format!("{}@contoso.com", user.as_str()) },
            at: Timestamp::now(),
        });
        Ok(entry)
    }
}

struct Ui {
    base: String,
    store: Arc<dyn Store>,
    connector: Arc<UiConnector>,
    logs: Arc<LogBuffer>,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

fn app_state(connector: Arc<UiConnector>, store: Arc<dyn Store>, allow_remote: bool) -> AppState {
    AppState::new(connector, store, Tokens::default()).with_ui(UiState::new(PASSWORD, allow_remote, false))
}

async fn connector(store: &Arc<dyn Store>) -> Arc<UiConnector> {
    Arc::new(UiConnector {
        inner: FakeConnector { store: store.clone(), ready: AtomicBool::new(true) },
        servers: Mutex::new(vec![exchange_config()]),
        updates: Mutex::new(Vec::new()),
        tests: AtomicUsize::new(0),
        rechecks: AtomicUsize::new(0),
    })
}

impl Ui {
    async fn start() -> Ui {
        let (store, dir) = temp_store().await;
        add_users(&store, &["alice", "bob"]).await;
        let connector = connector(&store).await;
        let logs = Arc::new(LogBuffer::new(100));
        let app = app_state(connector.clone(), store.clone(), false).with_logs(logs.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(exbridge_server::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        let client =
            reqwest::Client::builder().timeout(WAIT).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Ui { base, store, connector, logs, client, stop: Some(stop), _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn login(&self, password: &str) -> reqwest::Response {
        self.client.post(self.url("/ui/login")).form(&[("password", password)]).send().await.unwrap()
    }

    /// Logs in; returns the cookie header value and the page's CSRF token.
    async fn session(&self) -> (String, String) {
        let response = self.login(PASSWORD).await;
        assert_eq!(response.status().as_u16(), 303);
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let (_, html) = self.get(&cookie, "/ui/").await;
        let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        assert_eq!(csrf.len(), 64, "{csrf}");
        (cookie, csrf)
    }

    async fn get(&self, cookie: &str, path: &str) -> (u16, String) {
        let r = self.client.get(self.url(path)).header("cookie", cookie).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post_form(&self, cookie: &str, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let r = self.client.post(self.url(path)).header("cookie", cookie).form(form).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[tokio::test]
async fn login_with_the_admin_password_only() {
    let ui = Ui::start().await;
    // No session: every page redirects to the login page.
    for path in ["/ui/", "/ui/users", "/ui/exchange", "/ui/live", "/ui/logs", "/ui/users/alice", "/ui/live/stream"] {
        let r = ui.client.get(ui.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/ui/login", "{path}");
    }
    // `/` goes to the UI when it is enabled.
    let r = ui.client.get(ui.url("/")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/ui/"));
    let (status, page) = ui.get("", "/ui/login").await;
    assert!(status == 200 && page.contains("name=\"password\""), "{page}");

    let wrong = ui.login("not-the-password").await;
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong.text().await.unwrap().contains("Wrong password"));
    let (stale, _) = ui.get("exbridge_ui=0123456789abcdef", "/ui/").await;
    assert_eq!(stale, 303, "an unknown session token is no session");

    let right = ui.login(PASSWORD).await;
    assert_eq!(right.status().as_u16(), 303);
    assert_eq!(right.headers()["location"], "/ui/");
    let cookie = right.headers()["set-cookie"].to_str().unwrap().to_owned();
    println!("Set-Cookie: {}", cookie.replace(cookie.split(';').next().unwrap(), "exbridge_ui=…"));
    assert!(cookie.starts_with("exbridge_ui=") && cookie.split(';').next().unwrap().len() == 12 + 64, "{cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP on loopback: no Secure ({cookie})");
    let session = cookie.split(';').next().unwrap();
    let (status, page) = ui.get(session, "/ui/").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Users by state") && page.contains("<td class=\"state-pending\">pending</td><td>2</td>"),
        "{page}"
    );

    // Logging out ends the session on the server, not only in the browser.
    let (status, _) = ui.post_form(session, "/ui/logout", &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(status, 303);
    let (status, _) = ui.get(session, "/ui/").await;
    assert_eq!(status, 303, "the session is gone after logout");
}

fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn repeated_login_failures_are_slowed_down() {
    let ui = Ui::start().await;
    for n in 1..=3 {
        assert_eq!(ui.login("wrong").await.status().as_u16(), 401, "failure {n}");
    }
    // After three failures the client must wait, even with the right password.
    let r = ui.login(PASSWORD).await;
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert!(r.text().await.unwrap().contains("Too many failed logins"));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(ui.login(PASSWORD).await.status().as_u16(), 303, "allowed again after the delay");
}

#[tokio::test]
async fn posts_need_the_session_csrf_token_and_the_same_origin() {
    let ui = Ui::start().await;
    let (cookie, csrf) = ui.session().await;
    let test = |token: Option<&str>, origin: Option<&str>| {
        let mut r = ui.client.post(ui.url("/ui/exchange/test")).header("cookie", &cookie).header("hx-request", "true");
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) = test(None, None).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("CSRF"), "{body}");
    assert_eq!(test(Some("00".repeat(32).as_str()), None).await.0, 403);
    assert_eq!(ui.connector.tests.load(Ordering::SeqCst), 0, "a refused POST does nothing");
    let (status, body) = test(Some(&csrf), Some("http://evil.example")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("evil.example"), "{body}");

    let (status, body) = test(Some(&csrf), Some(&ui.base)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Exchange2016 15.1.2507") && body.contains("42 ms"), "{body}");
    assert_eq!(ui.connector.tests.load(Ordering::SeqCst), 1);
    // The overview shows the last test's version and latency.
    let (_, overview) = ui.get(&cookie, "/ui/").await;
    assert!(overview.contains("Exchange2016 15.1.2507") && overview.contains("42 ms"), "{overview}");

    // A form field works as well as the header; a POST without a session is refused.
    let (status, _) = ui.post_form(&cookie, "/ui/users/alice/check-mapping", &[("csrf", "wrong")]).await;
    assert_eq!(status, 403);
    assert_eq!(ui.connector.rechecks.load(Ordering::SeqCst), 0);
    let (status, page) = ui.post_form(&cookie, "/ui/users/alice/check-mapping", &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ui.connector.rechecks.load(Ordering::SeqCst), 1);
    assert!(page.contains("resolved to alice@contoso.com") && page.contains("Mapping checked: subscribed"), "{page}");
    let (status, _) = ui.post_form("", "/ui/users/alice/check-mapping", &[("csrf", &csrf)]).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn exchange_secrets_are_never_rendered() {
    let ui = Ui::start().await;
    let (cookie, csrf) = ui.session().await;
    let (status, page) = ui.get(&cookie, "/ui/exchange").await;
    assert_eq!(status, 200);
    assert!(page.contains("svc@contoso.com") && page.contains("set; leave empty to keep it"), "{page}");
    assert!(!page.contains(EXCHANGE_SECRET), "the secret is in the page");

    let form = |username: &'static str, secret: &'static str, concurrency: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "primary".to_owned()),
            ("ews_url", "https://mail2.contoso.com/EWS/Exchange.asmx".to_owned()),
            ("autodiscover_email", String::new()),
            ("auth", "basic".to_owned()),
            ("username", username.to_owned()),
            ("secret", secret.to_owned()),
            ("ca_file", String::new()),
            ("proxy", String::new()),
            ("max_concurrency", concurrency.to_owned()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>| {
        let r = ui.client.post(ui.url("/ui/exchange")).header("cookie", &cookie).form(&f);
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // Invalid: the field is named beside it, nothing is applied, the typed secret not echoed.
    let (status, page) = post(form("svc@contoso.com", NEW_SECRET, "0")).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("is not a number from 1 to 256"), "{page}");
    assert!(!page.contains(NEW_SECRET) && !page.contains(EXCHANGE_SECRET), "a secret is in the page");
    assert!(ui.connector.updates.lock().unwrap().is_empty());
    // The engine's refusal is shown too.
    let (status, page) = post(form("refused@contoso.com", "", "4")).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("the engine refuses this account") && !page.contains(EXCHANGE_SECRET), "{page}");

    // Empty secret keeps the current one.
    let (status, page) = post(form("svc2@contoso.com", "", "4")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Saved and applied") && !page.contains(EXCHANGE_SECRET), "{page}");
    {
        let updates = ui.connector.updates.lock().unwrap();
        let x = updates.last().unwrap();
        assert_eq!(x.password.as_ref().unwrap().expose(), EXCHANGE_SECRET);
        assert_eq!(x.username.as_deref(), Some("svc2@contoso.com"));
        assert_eq!(x.max_concurrency, 4);
        assert_eq!(x.auth.as_str(), "basic");
        assert_eq!(x.ews_url.as_ref().unwrap().as_str(), "https://mail2.contoso.com/EWS/Exchange.asmx");
    }
    // A typed secret replaces it, and is not shown afterwards either.
    let (status, page) = post(form("svc2@contoso.com", NEW_SECRET, "4")).await;
    assert_eq!(status, 200);
    assert_eq!(ui.connector.updates.lock().unwrap().last().unwrap().password.as_ref().unwrap().expose(), NEW_SECRET);
    for path in ["/ui/", "/ui/exchange", "/ui/users", "/ui/users/alice", "/ui/live", "/ui/logs"] {
        let (status, html) = ui.get(&cookie, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains(NEW_SECRET) && !html.contains(EXCHANGE_SECRET), "a secret is in {path}");
    }
    assert!(!page.contains(NEW_SECRET));
}

#[tokio::test]
async fn remote_peers_are_refused_unless_allowed() {
    let (store, _dir) = temp_store().await;
    let connector = connector(&store).await;
    let request = |peer: Option<&str>| {
        let mut r = Request::get("/ui/login").body(Body::empty()).unwrap();
        if let Some(p) = peer {
            r.extensions_mut().insert(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
        }
        r
    };
    let local = exbridge_server::router(app_state(connector.clone(), store.clone(), false));
    for (peer, expected) in
        [(Some("127.0.0.1:5000"), 200), (Some("[::1]:5000"), 200), (Some("10.1.2.3:5000"), 403), (None, 403)]
    {
        let response = local.clone().oneshot(request(peer)).await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{peer:?}");
        if expected == 403 {
            let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            assert!(String::from_utf8_lossy(&body).contains("ui_allow_remote"));
        }
    }
    let remote = exbridge_server::router(app_state(connector, store, true));
    assert_eq!(remote.oneshot(request(Some("10.1.2.3:5000"))).await.unwrap().status().as_u16(), 200);
}

#[tokio::test]
async fn without_admin_password_there_is_no_ui() {
    let (store, _dir) = temp_store().await;
    let connector = connector(&store).await;
    let app = exbridge_server::router(AppState::new(connector, store, Tokens::default()));
    let local = |path: &str| {
        let mut r = Request::get(path).body(Body::empty()).unwrap();
        r.extensions_mut().insert(ConnectInfo("127.0.0.1:5000".parse::<SocketAddr>().unwrap()));
        r
    };
    assert_eq!(app.clone().oneshot(local("/ui/login")).await.unwrap().status().as_u16(), 404);
    let status_page = app.oneshot(local("/")).await.unwrap();
    assert_eq!(status_page.status().as_u16(), 200, "the plain status page stays");
}

#[tokio::test]
async fn users_pages_search_attempts_and_masked_events() {
    let ui = Ui::start().await;
    let (cookie, csrf) = ui.session().await;
    let (_, page) = ui.get(&cookie, "/ui/users").await;
    assert!(page.contains("data-user=\"alice\"") && page.contains("data-user=\"bob\""), "{page}");
    assert!(page.contains("hx-trigger=\"keyup changed delay:300ms"), "{page}");
    // htmx's search request gets only the table.
    let r = ui.client.get(ui.url("/ui/users?q=ALI")).header("cookie", &cookie).header("hx-request", "true");
    let table = r.send().await.unwrap().text().await.unwrap();
    assert!(table.contains("data-user=\"alice\"") && !table.contains("data-user=\"bob\""), "{table}");
    assert!(!table.contains("<html") && table.contains("1 of 2 users"), "{table}");

    let (_, pending) = ui.get(&cookie, "/ui/users/alice").await;
    assert!(
        pending.contains("id=\"user-state\">pending") && pending.contains("work_email: alice@contoso.com"),
        "{pending}"
    );
    let (status, _) = ui.get(&cookie, "/ui/users/nobody").await;
    assert_eq!(status, 404);
    // After "Check mapping" the mailbox is subscribed: presence and events, private ones masked.
    let (_, page) = ui.post_form(&cookie, "/ui/users/alice/check-mapping", &[("csrf", &csrf)]).await;
    assert!(page.contains("Planning") && page.contains("Private"), "{page}");
    assert!(!page.contains("Doctor"), "a private subject is shown: {page}");
    assert!(page.contains("id=\"presence\">busy"), "{page}");
}

#[tokio::test]
async fn live_feed_streams_masked_outbox_entries() {
    let ui = Ui::start().await;
    let (cookie, _) = ui.session().await;
    let (_, page) = ui.get(&cookie, "/ui/live").await;
    assert!(page.contains("data-stream=\"/ui/live/stream\"") && page.contains("presence.changed"), "{page}");
    let r = ui.client.get(ui.url("/ui/live/stream")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut reader = common::SseReader::new(r);
    let doc = serde_json::to_value(common::event("e1", "Doctor", true)).unwrap();
    let appended = append(&ui.store, "alice", EventType::EventCreated, doc, None).await;
    let frame = reader.next_event().await.expect("an SSE event");
    assert_eq!(frame.id.as_deref(), Some(appended.id.as_str()));
    assert_eq!(frame.event.as_deref(), Some("event.created"));
    let data = frame.json();
    assert_eq!(data["data"]["subject"], "Private", "{data}");
    assert!(!frame.data.contains("Doctor"), "{}", frame.data);
    let presence = serde_json::to_value(common::presence("bob")).unwrap();
    append(&ui.store, "bob", EventType::PresenceChanged, presence, None).await;
    let frame = reader.next_event().await.expect("an SSE event");
    assert_eq!(frame.event.as_deref(), Some("presence.changed"));
    assert_eq!(frame.json()["user_id"], json!("bob"));
}

#[tokio::test]
async fn logs_page_filters_by_level() {
    let ui = Ui::start().await;
    let (cookie, _) = ui.session().await;
    for (level, message) in [("INFO", "routine line"), ("WARN", "warning line"), ("ERROR", "broken line")] {
        ui.logs.push(LogLine {
            at: Timestamp::now(),
            level: level.into(),
            target: "t".into(),
            message: message.into(),
        });
    }
    let (_, all) = ui.get(&cookie, "/ui/logs").await;
    assert!(all.contains("routine line") && all.contains("warning line") && all.contains("broken line"), "{all}");
    let (_, warn) = ui.get(&cookie, "/ui/logs?level=warn").await;
    assert!(!warn.contains("routine line") && warn.contains("warning line"), "{warn}");
    assert!(warn.contains("<option selected>WARN</option>"), "{warn}");
    // The overview lists the last errors.
    let (_, overview) = ui.get(&cookie, "/ui/").await;
    assert!(overview.contains("broken line"), "{overview}");
}

#[tokio::test]
async fn assets_are_embedded() {
    let ui = Ui::start().await;
    let r = ui.client.get(ui.url("/ui/assets/htmx.min.js")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(r.text().await.unwrap().contains("version:\"2.0.11\""));
    assert_eq!(ui.client.get(ui.url("/ui/assets/nope.js")).send().await.unwrap().status().as_u16(), 404);
    let (status, css) = ui.get("", "/ui/assets/ui.css").await;
    assert!(status == 200 && css.contains("#feed"));
}
