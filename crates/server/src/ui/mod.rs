//! The admin web UI under `/ui/`: server-rendered pages (askama templates in
//! `crates/server/templates/ui`, htmx vendored in `crates/server/assets`), served by the
//! connector itself when `[server] admin_password` is set.
//!
//! Security:
//! * The admin password is hashed with Argon2id at startup ([`UiState::new`]); only the salt
//!   and the hash stay in memory. A login recomputes the hash and compares it in constant
//!   time. After [`FREE_FAILURES`] failed logins from one client address, each further attempt
//!   waits an exponentially growing delay (429 until then); a success clears the count.
//! * A session is a random 256-bit token in the cookie [`COOKIE`] (`HttpOnly; SameSite=Strict;
//!   Path=/ui`, `Secure` over HTTPS), kept server-side (by its SHA-256) with an idle expiry of
//!   [`IDLE`]; logging out deletes it.
//! * Every POST needs the session's CSRF token (form field `csrf` or header `X-CSRF-Token`,
//!   which the pages give htmx through `hx-headers`), and is refused when `Origin` or
//!   `Sec-Fetch-Site` says it came from another site.
//! * Peers that are not on the loopback interface get 403 unless `[server] ui_allow_remote`.
//!   Behind a reverse proxy on the same host every peer is loopback: the proxy must then
//!   restrict access itself.

mod assets;
mod pages;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use exbridge_engine::api::ConnectionReport;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "exbridge_ui";
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// Failed logins from one address before delays start.
pub const FREE_FAILURES: u32 = 3;
/// The longest delay between login attempts from one address.
pub const MAX_DELAY: Duration = Duration::from_secs(300);
/// The most sessions kept at once (the least recently used is dropped beyond).
const MAX_SESSIONS: usize = 1000;

/// An Argon2id hash of the admin password with its salt.
struct PasswordHash {
    salt: [u8; 16],
    hash: [u8; 32],
}

fn argon2() -> argon2::Argon2<'static> {
    // OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
    let params = argon2::Params::new(19 * 1024, 2, 1, Some(32)).expect("valid Argon2 parameters");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

impl PasswordHash {
    fn new(password: &str) -> Self {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("the OS random generator");
        let mut hash = [0u8; 32];
        argon2().hash_password_into(password.as_bytes(), &salt, &mut hash).expect("Argon2 hashing with valid sizes");
        PasswordHash { salt, hash }
    }

    fn verify(&self, password: &str) -> bool {
        let mut candidate = [0u8; 32];
        if argon2().hash_password_into(password.as_bytes(), &self.salt, &mut candidate).is_err() {
            return false;
        }
        candidate.ct_eq(&self.hash).into()
    }
}

struct Session {
    csrf: String,
    last_seen: Instant,
}

#[derive(Default)]
struct Failures {
    count: u32,
    next_allowed: Option<Instant>,
}

/// The delay imposed after `count` consecutive failures: none for the first
/// [`FREE_FAILURES`], then 1 s, 2 s, 4 s, … up to [`MAX_DELAY`].
pub fn login_delay(count: u32) -> Duration {
    if count < FREE_FAILURES {
        return Duration::ZERO;
    }
    let exp = (count - FREE_FAILURES).min(16);
    Duration::from_secs(1u64 << exp).min(MAX_DELAY)
}

/// The admin UI's state: the password hash, sessions, login failures, the last connection test.
pub struct UiState {
    password: PasswordHash,
    allow_remote: bool,
    secure_cookie: bool,
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    last_test: Mutex<Vec<ConnectionReport>>,
}

impl std::fmt::Debug for UiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiState")
            .field("allow_remote", &self.allow_remote)
            .field("secure_cookie", &self.secure_cookie)
            .finish_non_exhaustive()
    }
}

/// The session of a request, put into its extensions by the guard.
#[derive(Debug, Clone)]
pub(crate) struct UiSession {
    /// The CSRF token every form and htmx request of this session carries.
    pub csrf: String,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random generator");
    hex::encode(bytes)
}

fn session_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl UiState {
    /// Hashes `password` (Argon2id; takes a moment) and keeps only the hash. `allow_remote`
    /// serves peers outside the loopback interface; `secure_cookie` always marks the cookie
    /// `Secure`.
    pub fn new(password: &str, allow_remote: bool, secure_cookie: bool) -> Self {
        UiState {
            password: PasswordHash::new(password),
            allow_remote,
            secure_cookie,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            last_test: Mutex::new(Vec::new()),
        }
    }

    /// The UI of `[server]`: `None` (disabled) without `admin_password`.
    pub fn from_config(server: &exbridge_config::ServerConfig) -> Option<Self> {
        let password = server.admin_password.as_ref()?;
        Some(UiState::new(password.expose(), server.ui_allow_remote, server.ui_secure_cookie))
    }

    /// Starts a session: (cookie token, CSRF token).
    fn create_session(&self) -> (String, String) {
        let token = random_hex();
        let csrf = random_hex();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| now.duration_since(s.last_seen) < IDLE);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(session_key(&token), Session { csrf: csrf.clone(), last_seen: now });
        (token, csrf)
    }

    /// The live session of a cookie token (refreshing its idle timer).
    fn session(&self, token: &str) -> Option<UiSession> {
        let key = session_key(token);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let session = sessions.get_mut(&key)?;
        if now.duration_since(session.last_seen) >= IDLE {
            sessions.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(UiSession { csrf: session.csrf.clone() })
    }

    fn end_session(&self, token: &str) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&session_key(token));
    }

    /// How long `ip` must still wait before its next login attempt.
    fn login_wait(&self, ip: IpAddr) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let next = failures.get(&ip)?.next_allowed?;
        next.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
    }

    fn login_failed(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > 10_000 {
            let now = Instant::now();
            failures.retain(|_, f| f.next_allowed.is_some_and(|t| t > now));
        }
        let f = failures.entry(ip).or_default();
        f.count = f.count.saturating_add(1);
        let delay = login_delay(f.count);
        f.next_allowed = (!delay.is_zero()).then(|| Instant::now() + delay);
    }

    fn login_succeeded(&self, ip: IpAddr) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&ip);
    }

    /// Checks the admin password (Argon2id, constant-time comparison of the hashes).
    pub fn verify_password(&self, password: &str) -> bool {
        self.password.verify(password)
    }

    fn remember_test(&self, reports: &[ConnectionReport]) {
        let mut last = self.last_test.lock().unwrap_or_else(|e| e.into_inner());
        for r in reports {
            last.retain(|old| old.server != r.server);
            last.push(r.clone());
        }
        last.sort_by(|a, b| a.server.cmp(&b.server));
    }

    fn last_test(&self) -> Vec<ConnectionReport> {
        self.last_test.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn cookie(&self, token: &str, headers: &HeaderMap) -> String {
        let mut cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/ui");
        if self.secure_cookie || over_https(headers) {
            cookie.push_str("; Secure");
        }
        cookie
    }
}

/// Whether a TLS-terminating proxy said the request came over HTTPS.
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').next().is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
}

/// The session cookie's value, if the request has one.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == COOKIE && !value.is_empty()).then(|| value.to_owned())
    })
}

/// Whether `Origin` / `Sec-Fetch-Site` say a POST came from this site (absent headers pass:
/// the CSRF token still has to match).
fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(format!("Sec-Fetch-Site {site:?} is not same-origin"));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let ok = !host.is_empty() && (origin == format!("http://{host}") || origin == format!("https://{host}"));
        if !ok {
            return Err(format!("Origin {origin:?} is not this server ({host:?})"));
        }
    }
    Ok(())
}

pub(crate) fn forbidden(reason: &str) -> Response {
    let page = pages::Forbidden { reason };
    let mut response = pages::render(&page);
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

/// The value of `key` in an `application/x-www-form-urlencoded` body (only for tokens, which
/// need no decoding).
fn form_value<'a>(body: &'a [u8], key: &str) -> Option<&'a str> {
    std::str::from_utf8(body).ok()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// The largest form the UI accepts.
const MAX_FORM: usize = 64 * 1024;

/// Every `/ui` request: loopback peers only (unless allowed), a session except for the login
/// page and the assets, and for POST the same origin and the session's CSRF token.
async fn guard(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(ui) = app.ui.clone() else { return StatusCode::NOT_FOUND.into_response() };
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let loopback = peer.is_some_and(|ip| ip.is_loopback() || ip.to_canonical().is_loopback());
    if !loopback && !ui.allow_remote {
        let who = peer.map_or("an unknown peer".to_owned(), |ip| ip.to_string());
        return forbidden(&format!(
            "The admin UI answers only on the loopback interface; {who} is not local (set [server] ui_allow_remote = true to allow it)."
        ));
    }
    let path = request.uri().path().to_owned();
    let post = request.method() == Method::POST;
    if post && let Err(why) = same_origin(request.headers()) {
        return forbidden(&format!("Cross-site request refused: {why}."));
    }
    if path.starts_with("/ui/assets/") || path == "/ui/login" {
        return next.run(request).await;
    }
    let session = cookie_token(request.headers()).and_then(|t| ui.session(&t));
    let Some(session) = session else {
        if post {
            return forbidden("No session: log in again.");
        }
        let mut response = Redirect::to("/ui/login").into_response();
        if request.headers().contains_key("hx-request") {
            response.headers_mut().insert("hx-redirect", HeaderValue::from_static("/ui/login"));
        }
        return response;
    };
    let mut request = request;
    if post {
        let header_token = request.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
        };
        let presented = header_token.or_else(|| form_value(&bytes, "csrf").map(str::to_owned)).unwrap_or_default();
        let valid: bool = presented.as_bytes().ct_eq(session.csrf.as_bytes()).into();
        if !valid {
            return forbidden("Missing or wrong CSRF token: reload the page and try again.");
        }
        request = Request::from_parts(parts, Body::from(bytes));
    }
    request.extensions_mut().insert(session);
    next.run(request).await
}

/// Headers on every UI response: no caching of pages, no framing, scripts and styles from here.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    response
}

/// The `/ui` routes, behind the guard. Requests get 404 when the UI is disabled.
pub(crate) fn router(app: &AppState) -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(pages::overview))
        .route("/ui/login", get(pages::login_page).post(pages::login))
        .route("/ui/logout", post(pages::logout))
        .route("/ui/exchange", get(pages::exchange).post(pages::save_exchange))
        .route("/ui/exchange/test", post(pages::test_connection))
        .route("/ui/users", get(pages::users))
        .route("/ui/users/{id}", get(pages::user))
        .route("/ui/users/{id}/check-mapping", post(pages::check_mapping))
        .route("/ui/live", get(pages::live))
        .route("/ui/live/stream", get(pages::live_stream))
        .route("/ui/logs", get(pages::logs))
        .route("/ui/assets/{file}", get(assets::serve))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .layer(axum::middleware::from_fn(security_headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_verifies_only_the_password() {
        let h = PasswordHash::new("correct horse");
        assert!(h.verify("correct horse"));
        for wrong in ["", "correct horse ", "Correct horse", "correct hors"] {
            assert!(!h.verify(wrong), "{wrong:?}");
        }
        // Salted: two hashes of the same password differ.
        assert_ne!(h.hash, PasswordHash::new("correct horse").hash);
    }

    #[test]
    fn delays_grow_exponentially_and_are_capped() {
        let delays: Vec<u64> = (0..8).map(|n| login_delay(n).as_secs()).collect();
        assert_eq!(delays, [0, 0, 0, 1, 2, 4, 8, 16]);
        assert_eq!(login_delay(40), MAX_DELAY);
    }

    #[test]
    fn cookies_and_origins() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; exbridge_ui=tok123; b=2"));
        assert_eq!(cookie_token(&h).as_deref(), Some("tok123"));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3001"));
        assert!(same_origin(&h).is_ok());
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:3001"));
        assert!(same_origin(&h).is_ok());
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(same_origin(&h).unwrap_err().contains("evil.example"));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:3001"));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_origin(&h).is_err());
        assert_eq!(form_value(b"name=x&csrf=abc", "csrf"), Some("abc"));
        assert_eq!(form_value(b"name=x", "csrf"), None);
    }

    #[test]
    fn sessions_expire_on_logout() {
        let ui = UiState::new("pw", false, false);
        let (token, csrf) = ui.create_session();
        assert_eq!(ui.session(&token).unwrap().csrf, csrf);
        assert!(ui.session("other").is_none());
        ui.end_session(&token);
        assert!(ui.session(&token).is_none());
        let headers = HeaderMap::new();
        assert_eq!(ui.cookie("t", &headers), "exbridge_ui=t; HttpOnly; SameSite=Strict; Path=/ui");
        assert!(UiState::new("pw", false, true).cookie("t", &headers).ends_with("; Secure"));
    }
}
