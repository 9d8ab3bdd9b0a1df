//! The UI's pages and actions. Every handler here runs behind [`super::guard`]: the request
//! has a session (except the login page) and, for POST, a valid CSRF token.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use exbridge_config::{AuthMethod, ExchangeConfig, Secret};
use exbridge_engine::api::{ConnectionReport, EngineError};
use exbridge_engine::event::EventDoc;
use exbridge_store::{AttemptOutcome, DirectoryEntry, EventType, MailboxStatus, UserId};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::{UiSession, UiState};
use crate::AppState;
use crate::mask::PRIVATE_SUBJECT;

/// Renders a template as an HTML response (500 naming the template error otherwise).
pub(super) fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "admin UI: rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("rendering the page failed: {e}")).into_response()
        }
    }
}

fn ui(app: &AppState) -> Arc<UiState> {
    app.ui.clone().expect("the guard lets requests through only when the UI is enabled")
}

/// The client's address (from the connection), for the login rate limit.
pub(super) struct Peer(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

#[derive(Template)]
#[template(path = "ui/forbidden.html")]
pub(super) struct Forbidden<'a> {
    pub reason: &'a str,
}

// ---------------------------------------------------------------------------------------------
// Login

#[derive(Template)]
#[template(path = "ui/login.html")]
struct Login {
    error: Option<String>,
}

/// `GET /ui/login`.
pub(super) async fn login_page() -> Response {
    render(&Login { error: None })
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    password: String,
}

/// `POST /ui/login`: 303 to the overview with a session cookie, 401 on a wrong password,
/// 429 while the client must wait after repeated failures.
pub(super) async fn login(
    State(app): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let ui = ui(&app);
    let ip = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if let Some(wait) = ui.login_wait(ip) {
        let error = format!("Too many failed logins from {ip}: try again in {} s.", wait.as_secs().max(1));
        let mut response = render(&Login { error: Some(error) });
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let checker = ui.clone();
    let ok = tokio::task::spawn_blocking(move || checker.verify_password(&form.password)).await.unwrap_or(false);
    if !ok {
        ui.login_failed(ip);
        tracing::warn!(client = %ip, "admin UI: failed login");
        let mut response = render(&Login { error: Some("Wrong password.".into()) });
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    ui.login_succeeded(ip);
    tracing::info!(client = %ip, "admin UI: logged in");
    let (token, _csrf) = ui.create_session();
    let mut response = Redirect::to("/ui/").into_response();
    if let Ok(v) = HeaderValue::from_str(&ui.cookie(&token, &headers)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// `POST /ui/logout`: ends the session, clears the cookie.
pub(super) async fn logout(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let ui = ui(&app);
    if let Some(token) = super::cookie_token(&headers) {
        ui.end_session(&token);
    }
    let mut response = Redirect::to("/ui/login").into_response();
    let clear = format!("{}; Max-Age=0", ui.cookie("", &headers));
    if let Ok(v) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Overview

struct ServerRow {
    name: String,
    unreachable: Option<String>,
    version: String,
    latency: String,
    tested: String,
}

#[derive(Template)]
#[template(path = "ui/overview.html")]
struct Overview {
    csrf: String,
    nav: &'static str,
    counts: Vec<(&'static str, usize)>,
    total_users: usize,
    users_error: Option<String>,
    streaming: Vec<(String, u64, u64)>,
    outbox_entries: u64,
    backlog: Vec<(String, u64)>,
    outbox_error: Option<String>,
    servers: Vec<ServerRow>,
    store_state: String,
    errors: Vec<(String, String)>,
}

/// Streaming connections and subscribed mailboxes per server, from the engine's gauges
/// (empty when the metrics recorder is not installed in this process).
async fn streaming_figures(app: &AppState) -> Vec<(String, u64, u64)> {
    let Some(handle) = crate::metrics::handle() else { return Vec::new() };
    app.connector.record_gauges().await;
    let text = handle.render();
    let mut out: Vec<(String, u64, u64)> = Vec::new();
    for line in text.lines() {
        let (series, column) = if let Some(rest) = line.strip_prefix("exbridge_streaming_connections{") {
            (rest, 1)
        } else if let Some(rest) = line.strip_prefix("exbridge_subscriptions{") {
            (rest, 2)
        } else {
            continue;
        };
        let Some((labels, value)) = series.rsplit_once("} ") else { continue };
        let Some(server) = labels.split(',').find_map(|l| l.strip_prefix("server=\"")).map(|s| s.trim_end_matches('"'))
        else {
            continue;
        };
        let value = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
        let row = match out.iter().position(|r| r.0 == server) {
            Some(i) => &mut out[i],
            None => {
                out.push((server.to_owned(), 0, 0));
                out.last_mut().expect("just pushed")
            }
        };
        if column == 1 {
            row.1 = value;
        } else {
            row.2 = value;
        }
    }
    out
}

/// `GET /ui/`.
pub(super) async fn overview(State(app): State<AppState>, Extension(session): Extension<UiSession>) -> Response {
    let ui = ui(&app);
    let (mut counts, mut total_users, mut users_error, mut errors) = (Vec::new(), 0, None, Vec::new());
    match app.connector.list_users().await {
        Ok(users) => {
            total_users = users.len();
            for status in MailboxStatus::ALL {
                counts.push((status.as_str(), users.iter().filter(|u| u.mailbox.state == *status).count()));
            }
            let mut failing: Vec<&DirectoryEntry> = users.iter().filter(|u| u.mailbox.last_error.is_some()).collect();
            failing.sort_by_key(|u| std::cmp::Reverse(u.mailbox.updated_at));
            for u in failing.into_iter().take(10) {
                errors.push((format!("user {}", u.user.id.as_str()), u.mailbox.last_error.clone().unwrap_or_default()));
            }
        }
        Err(e) => users_error = Some(format!("listing the users failed: {e}")),
    }
    if let Some(logs) = &app.logs {
        for line in logs.recent("ERROR", 5).into_iter().rev() {
            errors.push((format!("log {} {}", line.at, line.target), line.message));
        }
    }
    let (mut outbox_entries, mut backlog, mut outbox_error) = (0, Vec::new(), None);
    match app.store.outbox_stats().await {
        Ok(s) => {
            outbox_entries = s.entries;
            backlog = s.undelivered.iter().map(|(w, n)| (w.as_str().to_owned(), *n)).collect();
        }
        Err(e) => outbox_error = Some(format!("reading the outbox failed: {e}")),
    }
    let ready = app.connector.readiness().await;
    let tests = ui.last_test();
    let servers = ready
        .exchange
        .iter()
        .map(|(name, r)| {
            let test = tests.iter().find(|t| &t.server == name);
            ServerRow {
                name: name.clone(),
                unreachable: r.clone().err(),
                version: test.and_then(|t| t.version.clone()).unwrap_or_default(),
                latency: test.and_then(|t| t.latency_ms).map(|ms| format!("{ms} ms")).unwrap_or_default(),
                tested: test.map(|t| t.checked_at.to_string()).unwrap_or_else(|| "never".into()),
            }
        })
        .collect();
    let store_state = match &ready.store {
        Ok(()) => "reachable".to_owned(),
        Err(e) => format!("unreachable: {e}"),
    };
    render(&Overview {
        csrf: session.csrf,
        nav: "overview",
        counts,
        total_users,
        users_error,
        streaming: streaming_figures(&app).await,
        outbox_entries,
        backlog,
        outbox_error,
        servers,
        store_state,
        errors,
    })
}

// ---------------------------------------------------------------------------------------------
// Exchange servers

struct ServerView {
    name: String,
    ews_url: String,
    autodiscover_email: String,
    auth: &'static str,
    username: String,
    secret_set: bool,
    ca_file: String,
    proxy: String,
    max_concurrency: String,
    error: Option<String>,
    field_errors: Vec<(&'static str, String)>,
}

impl ServerView {
    /// Only whether a secret is set leaves this function, never the secret.
    fn of(x: &ExchangeConfig) -> Self {
        let secret_set = match x.auth {
            AuthMethod::OAuth2 => x.oauth2.as_ref().is_some_and(|o| !o.client_secret.expose().is_empty()),
            _ => x.password.as_ref().is_some_and(|p| !p.expose().is_empty()),
        };
        ServerView {
            name: x.name.clone(),
            ews_url: x.ews_url.as_ref().map(|u| u.to_string()).unwrap_or_default(),
            autodiscover_email: x.autodiscover_email.clone().unwrap_or_default(),
            auth: x.auth.as_str(),
            username: x.username.clone().unwrap_or_default(),
            secret_set,
            ca_file: x.ca_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            proxy: x.proxy.as_ref().map(|u| u.to_string()).unwrap_or_default(),
            max_concurrency: x.max_concurrency.to_string(),
            error: None,
            field_errors: Vec::new(),
        }
    }

    fn field_error(&self, field: &str) -> Option<&str> {
        self.field_errors.iter().find(|(f, _)| *f == field).map(|(_, e)| e.as_str())
    }

    fn auth_options(&self) -> Vec<(&'static str, bool)> {
        ["basic", "ntlm", "oauth2"].into_iter().map(|a| (a, a == self.auth)).collect()
    }
}

#[derive(Template)]
#[template(path = "ui/exchange.html")]
struct ExchangePage {
    csrf: String,
    nav: &'static str,
    flash: Option<String>,
    servers: Vec<ServerView>,
    reports: Vec<ConnectionReport>,
    /// Whether the reports answer a press of "Test connection" (not the cached ones).
    ran: bool,
}

#[derive(Template)]
#[template(path = "ui/test_results.html")]
struct TestResults {
    reports: Vec<ConnectionReport>,
    ran: bool,
}

async fn exchange_page(app: &AppState, csrf: String, flash: Option<String>, edited: Option<ServerView>) -> Response {
    let mut servers: Vec<ServerView> = app.connector.exchange_servers().await.iter().map(ServerView::of).collect();
    if let Some(edited) = edited {
        match servers.iter_mut().find(|s| s.name == edited.name) {
            Some(s) => *s = edited,
            None => servers.push(edited),
        }
    }
    let reports = ui(app).last_test();
    render(&ExchangePage { csrf, nav: "exchange", flash, servers, reports, ran: false })
}

/// `GET /ui/exchange`.
pub(super) async fn exchange(State(app): State<AppState>, Extension(session): Extension<UiSession>) -> Response {
    exchange_page(&app, session.csrf, None, None).await
}

/// `POST /ui/exchange/test`: runs the connection test of every server (the htmx fragment).
pub(super) async fn test_connection(State(app): State<AppState>) -> Response {
    let reports = app.connector.test_connection(None).await;
    ui(&app).remember_test(&reports);
    render(&TestResults { reports, ran: true })
}

/// The edit form of one server. `secret` empty keeps the current secret.
#[derive(Deserialize)]
pub(super) struct ExchangeForm {
    name: String,
    #[serde(default)]
    ews_url: String,
    #[serde(default)]
    autodiscover_email: String,
    #[serde(default)]
    auth: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    ca_file: String,
    #[serde(default)]
    proxy: String,
    #[serde(default)]
    max_concurrency: String,
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// Applies the form to the server's current settings, or names every bad field.
pub(crate) fn apply_form(
    current: &ExchangeConfig,
    form: &ExchangeForm,
) -> Result<ExchangeConfig, Vec<(&'static str, String)>> {
    let mut x = current.clone();
    let mut errors = Vec::new();
    let url = |field: &'static str, value: &str, schemes: &[&str], errors: &mut Vec<(&'static str, String)>| {
        let value = non_empty(value)?;
        match reqwest::Url::parse(&value) {
            Ok(u) if schemes.contains(&u.scheme()) && u.host_str().is_some() => Some(u),
            _ => {
                errors.push((field, format!("{value:?} is not an {} URL", schemes.join(" or "))));
                None
            }
        }
    };
    x.ews_url = url("ews_url", &form.ews_url, &["https", "http"], &mut errors);
    x.proxy = url("proxy", &form.proxy, &["http"], &mut errors);
    x.autodiscover_email = non_empty(&form.autodiscover_email);
    if let Some(a) = &x.autodiscover_email
        && !a.contains('@')
    {
        errors.push(("autodiscover_email", format!("{a:?} is not an e-mail address")));
    }
    if x.ews_url.is_none() && x.autodiscover_email.is_none() && x.autodiscover_url.is_none() {
        errors.push(("ews_url", "set the EWS URL or an Autodiscover address".into()));
    }
    x.auth = match form.auth.as_str() {
        "basic" => AuthMethod::Basic,
        "ntlm" => AuthMethod::Ntlm,
        "oauth2" => AuthMethod::OAuth2,
        other => {
            errors.push(("auth", format!("{other:?} is not basic, ntlm or oauth2")));
            current.auth
        }
    };
    if x.auth == AuthMethod::OAuth2 && x.oauth2.is_none() {
        errors.push(("auth", "oauth2 needs the [exchange] oauth2 settings of the configuration file".into()));
    }
    x.username = non_empty(&form.username);
    if x.auth != AuthMethod::OAuth2 && x.username.is_none() {
        errors.push(("username", format!("{} authentication needs an account", x.auth.as_str())));
    }
    if !form.secret.is_empty() {
        match (&mut x.oauth2, x.auth) {
            (Some(o), AuthMethod::OAuth2) => o.client_secret = Secret::new(form.secret.clone()),
            _ => x.password = Some(Secret::new(form.secret.clone())),
        }
    }
    x.ca_file = non_empty(&form.ca_file).map(PathBuf::from);
    if let Some(p) = &x.ca_file
        && !p.is_file()
    {
        errors.push(("ca_file", format!("{} is not a readable file", p.display())));
    }
    match form.max_concurrency.trim().parse::<u32>() {
        Ok(n) if (1..=256).contains(&n) => x.max_concurrency = n,
        _ => errors.push(("max_concurrency", format!("{:?} is not a number from 1 to 256", form.max_concurrency))),
    }
    if errors.is_empty() { Ok(x) } else { Err(errors) }
}

/// `POST /ui/exchange`: validates, then applies through the engine (no restart).
pub(super) async fn save_exchange(
    State(app): State<AppState>,
    Extension(session): Extension<UiSession>,
    Form(form): Form<ExchangeForm>,
) -> Response {
    let servers = app.connector.exchange_servers().await;
    let Some(current) = servers.iter().find(|s| s.name == form.name) else {
        let flash = format!("There is no Exchange server named {:?}.", form.name);
        return exchange_page(&app, session.csrf, Some(flash), None).await;
    };
    let failed = |message: Option<String>, field_errors: Vec<(&'static str, String)>| {
        let mut view = ServerView::of(current);
        // Show what was typed (never the secret) next to the errors.
        view.ews_url = form.ews_url.clone();
        view.autodiscover_email = form.autodiscover_email.clone();
        view.username = form.username.clone();
        view.ca_file = form.ca_file.clone();
        view.proxy = form.proxy.clone();
        view.max_concurrency = form.max_concurrency.clone();
        view.error = message;
        view.field_errors = field_errors;
        view
    };
    let updated = match apply_form(current, &form) {
        Ok(x) => x,
        Err(errors) => {
            let view = failed(Some("Not saved: fix the fields below.".into()), errors);
            let mut response = exchange_page(&app, session.csrf, None, Some(view)).await;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return response;
        }
    };
    match app.connector.update_exchange_server(updated).await {
        Ok(()) => {
            tracing::info!(server = %form.name, "admin UI: Exchange server settings saved and applied");
            let flash = format!("Saved and applied the settings of {}.", form.name);
            exchange_page(&app, session.csrf, Some(flash), None).await
        }
        Err(e) => {
            // The engine names the field in its message; show it beside that field too.
            let message = e.to_string();
            let fields = ["ews_url", "autodiscover_email", "auth", "username", "password", "ca_file", "proxy"];
            let field_errors = fields.iter().filter(|f| message.contains(*f)).map(|f| (*f, message.clone())).collect();
            let view = failed(Some(format!("Not saved: {message}")), field_errors);
            let mut response = exchange_page(&app, session.csrf, None, Some(view)).await;
            *response.status_mut() = if matches!(e, EngineError::Invalid(_)) {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_GATEWAY
            };
            response
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Users

struct UserRow {
    id: String,
    href: String,
    name: String,
    matched: String,
    mailbox: String,
    state: &'static str,
    synced: String,
    error: String,
}

fn path_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl UserRow {
    fn of(e: &DirectoryEntry) -> Self {
        UserRow {
            id: e.user.id.as_str().to_owned(),
            href: path_segment(e.user.id.as_str()),
            name: e.user.display_name.clone().unwrap_or_default(),
            matched: e.mailbox.matched_by.map(|m| m.as_str().to_owned()).unwrap_or_default(),
            mailbox: e.mailbox.mailbox.clone().unwrap_or_default(),
            state: e.mailbox.state.as_str(),
            synced: e.mailbox.synced_at.map(|t| t.to_string()).unwrap_or_default(),
            error: e.mailbox.last_error.clone().unwrap_or_default(),
        }
    }

    fn matches(&self, q: &str) -> bool {
        [&self.id, &self.name, &self.matched, &self.mailbox, &self.error].iter().any(|f| f.to_lowercase().contains(q))
            || self.state.contains(q)
    }
}

#[derive(Template)]
#[template(path = "ui/users.html")]
struct UsersPage {
    csrf: String,
    nav: &'static str,
    q: String,
    users: Vec<UserRow>,
    total: usize,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/users_table.html")]
struct UsersTable {
    users: Vec<UserRow>,
    total: usize,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct UsersQuery {
    #[serde(default)]
    q: String,
}

/// `GET /ui/users?q=`: the page, or only the table for htmx's search requests.
pub(super) async fn users(
    State(app): State<AppState>,
    Extension(session): Extension<UiSession>,
    headers: HeaderMap,
    Query(query): Query<UsersQuery>,
) -> Response {
    let (mut users, mut error) = (Vec::new(), None);
    match app.connector.list_users().await {
        Ok(list) => users = list.iter().map(UserRow::of).collect(),
        Err(e) => error = Some(format!("listing the users failed: {e}")),
    }
    let total = users.len();
    let q = query.q.trim().to_lowercase();
    if !q.is_empty() {
        users.retain(|u| u.matches(&q));
    }
    if headers.contains_key("hx-request") {
        render(&UsersTable { users, total, error })
    } else {
        render(&UsersPage { csrf: session.csrf, nav: "users", q: query.q, users, total, error })
    }
}

#[derive(Template)]
#[template(path = "ui/user.html")]
struct UserPage {
    csrf: String,
    nav: &'static str,
    flash: Option<String>,
    u: UserRow,
    exchange: String,
    identifiers: Vec<(&'static str, String)>,
    attempts: Vec<(String, &'static str, String, String, String)>,
    presence: Option<String>,
    presence_error: Option<String>,
    events: Vec<(String, String, String, String, String)>,
    events_error: Option<String>,
}

fn subject_of(e: &EventDoc) -> (String, String) {
    if e.is_private {
        (PRIVATE_SUBJECT.to_owned(), String::new())
    } else {
        (e.subject.clone(), e.location.clone().unwrap_or_default())
    }
}

async fn user_page(app: &AppState, csrf: String, entry: DirectoryEntry, flash: Option<String>) -> Response {
    let id = entry.user.id.clone();
    let identifiers = entry.user.identifiers().into_iter().map(|(k, v)| (k.as_str(), v.to_owned())).collect();
    let attempts = entry
        .mailbox
        .attempts
        .iter()
        .rev()
        .map(|a| {
            let outcome = match &a.outcome {
                AttemptOutcome::Resolved { mailbox } => format!("resolved to {mailbox}"),
                AttemptOutcome::NotFound => "not found".to_owned(),
                AttemptOutcome::Error { message } => format!("error: {message}"),
            };
            (a.at.to_string(), a.identifier.as_str(), a.value.clone(), a.exchange.clone().unwrap_or_default(), outcome)
        })
        .collect();
    let (mut presence, mut presence_error) = (None, None);
    let (mut events, mut events_error) = (Vec::new(), None);
    if entry.mailbox.state == MailboxStatus::Subscribed {
        match app.connector.presence(&id).await {
            Ok(p) => {
                let mut text = if p.busy { "busy".to_owned() } else { "free".to_owned() };
                if let Some(e) = &p.current_event {
                    text.push_str(&format!(" — now: {} (until {})", subject_of(e).0, e.end));
                }
                if let Some(e) = &p.next_event {
                    text.push_str(&format!(" — next: {} at {}", subject_of(e).0, e.start));
                }
                text.push_str(&format!(" — out of office: {}", if p.oof.active { "active" } else { "no" }));
                presence = Some(text);
            }
            Err(e) => presence_error = Some(format!("reading the presence failed: {e}")),
        }
        let now = Timestamp::now();
        match app.connector.events(&id, now, now + SignedDuration::from_hours(24 * 7)).await {
            Ok(list) => {
                events = list
                    .iter()
                    .map(|e| {
                        let (subject, location) = subject_of(e);
                        (e.start.clone(), e.end.clone(), subject, location, e.free_busy.clone())
                    })
                    .collect()
            }
            Err(e) => events_error = Some(format!("reading the events failed: {e}")),
        }
    } else {
        presence_error = Some(format!("The mailbox is {}: no presence.", entry.mailbox.state.as_str()));
        events_error = Some(format!("The mailbox is {}: no events.", entry.mailbox.state.as_str()));
    }
    render(&UserPage {
        csrf,
        nav: "users",
        flash,
        exchange: entry.mailbox.exchange.clone().unwrap_or_default(),
        u: UserRow::of(&entry),
        identifiers,
        attempts,
        presence,
        presence_error,
        events,
        events_error,
    })
}

fn not_found(csrf: String, message: String) -> Response {
    let page = UsersPage { csrf, nav: "users", q: String::new(), users: Vec::new(), total: 0, error: Some(message) };
    let mut response = render(&page);
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// `GET /ui/users/{id}`.
pub(super) async fn user(
    State(app): State<AppState>,
    Extension(session): Extension<UiSession>,
    Path(id): Path<String>,
) -> Response {
    let users = match app.connector.list_users().await {
        Ok(users) => users,
        Err(e) => return not_found(session.csrf, format!("listing the users failed: {e}")),
    };
    match users.into_iter().find(|u| u.user.id.as_str() == id) {
        Some(entry) => user_page(&app, session.csrf, entry, None).await,
        None => not_found(session.csrf, format!("There is no user {id:?} in the directory.")),
    }
}

/// `POST /ui/users/{id}/check-mapping`: resolves the mailbox again now.
pub(super) async fn check_mapping(
    State(app): State<AppState>,
    Extension(session): Extension<UiSession>,
    Path(id): Path<String>,
) -> Response {
    let user = UserId::new(id.clone());
    match app.connector.recheck_mapping(&user).await {
        Ok(entry) => {
            let flash = format!("Mapping checked: {}.", entry.mailbox.state.as_str());
            user_page(&app, session.csrf, entry, Some(flash)).await
        }
        Err(EngineError::UnknownUser(_)) => {
            not_found(session.csrf, format!("There is no user {id:?} in the directory."))
        }
        Err(e) => match app.connector.list_users().await.ok().and_then(|l| l.into_iter().find(|u| u.user.id == user)) {
            Some(entry) => user_page(&app, session.csrf, entry, Some(format!("Check mapping failed: {e}"))).await,
            None => not_found(session.csrf, format!("Check mapping of {id:?} failed: {e}")),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Live feed and logs

#[derive(Template)]
#[template(path = "ui/live.html")]
struct LivePage {
    csrf: String,
    nav: &'static str,
    types: String,
}

/// `GET /ui/live`.
pub(super) async fn live(Extension(session): Extension<UiSession>) -> Response {
    let types = EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(",");
    render(&LivePage { csrf: session.csrf, nav: "live", types })
}

/// `GET /ui/live/stream`: the outbox as SSE, private events masked as for a non-private token.
pub(super) async fn live_stream(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match crate::sse::outbox_stream(&app, &headers, None, false).await {
        Ok(sse) => sse.into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Template)]
#[template(path = "ui/logs.html")]
struct LogsPage {
    csrf: String,
    nav: &'static str,
    levels: Vec<(&'static str, bool)>,
    collected: bool,
    lines: Vec<crate::logs::LogLine>,
}

#[derive(Deserialize)]
pub(super) struct LogsQuery {
    level: Option<String>,
}

/// `GET /ui/logs?level=`: the newest 500 lines at that level or above (INFO by default).
pub(super) async fn logs(
    State(app): State<AppState>,
    Extension(session): Extension<UiSession>,
    Query(query): Query<LogsQuery>,
) -> Response {
    const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
    let wanted = query.level.unwrap_or_else(|| "INFO".into()).to_ascii_uppercase();
    let level = LEVELS.iter().copied().find(|l| *l == wanted).unwrap_or("INFO");
    let lines = app.logs.as_ref().map(|l| l.recent(level, 500)).unwrap_or_default();
    render(&LogsPage {
        csrf: session.csrf,
        nav: "logs",
        levels: LEVELS.iter().map(|l| (*l, *l == level)).collect(),
        collected: app.logs.is_some(),
        lines,
    })
}
