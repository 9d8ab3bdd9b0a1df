//! OAuth2 client credentials: a form POST to the token endpoint (same TLS settings and proxy
//! as EWS), the token cached and fetched again shortly before it expires. One fetch at a time:
//! concurrent callers wait for the fetch in progress instead of starting their own.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};

use crate::config::OAuth2Config;
use crate::conn::Connector;
use crate::error::{ErrorClass, ErrorKind, EwsError};

#[derive(Clone)]
struct Token {
    value: SecretString,
    refresh_at: Instant,
    generation: u64,
}

pub(crate) struct TokenSource {
    cfg: OAuth2Config,
    connector: Connector,
    timeout: Duration,
    max_bytes: usize,
    current: Mutex<Option<Token>>,
    refresh: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

/// How long before expiry a token is replaced: a tenth of its lifetime, at most 5 minutes.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(300))
}

impl TokenSource {
    pub fn new(cfg: OAuth2Config, connector: Connector, timeout: Duration, max_bytes: usize) -> Self {
        TokenSource {
            cfg,
            connector,
            timeout,
            max_bytes,
            current: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    /// How many tokens were fetched so far.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn fresh(&self) -> Option<(SecretString, u64)> {
        let cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        cur.as_ref().filter(|t| Instant::now() < t.refresh_at).map(|t| (t.value.clone(), t.generation))
    }

    /// A valid access token and its generation (for [`TokenSource::invalidate`]).
    pub async fn token(&self) -> Result<(SecretString, u64), EwsError> {
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        let _single_flight = self.refresh.lock().await;
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        let (value, lifetime) = self.fetch().await?;
        let generation = self.fetches.fetch_add(1, Ordering::Relaxed) + 1;
        let refresh_at = Instant::now() + lifetime.saturating_sub(refresh_margin(lifetime));
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Token { value: value.clone(), refresh_at, generation });
        tracing::debug!(client_id = %self.cfg.client_id, ?lifetime, "OAuth2 token fetched");
        Ok((value, generation))
    }

    /// Forgets the token of `generation` (the server refused it), unless a newer one is in place.
    pub fn invalidate(&self, generation: u64) {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.as_ref().is_some_and(|t| t.generation == generation) {
            *cur = None;
        }
    }

    fn error(&self, class: ErrorClass, msg: impl std::fmt::Display) -> EwsError {
        EwsError::new(
            class,
            ErrorKind::OAuth,
            format!("OAuth2 token for client {} from {}: {msg}", self.cfg.client_id, self.cfg.token_url),
        )
    }

    async fn fetch(&self) -> Result<(SecretString, Duration), EwsError> {
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            form.append_pair("client_id", &self.cfg.client_id);
            form.append_pair("client_secret", self.cfg.client_secret.expose_secret());
            if !self.cfg.scope.is_empty() {
                form.append_pair("scope", &self.cfg.scope);
            }
            Bytes::from(form.finish())
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/x-www-form-urlencoded"));
        headers.insert(http::header::ACCEPT, http::HeaderValue::from_static("application/json"));
        // Boxed: `request_once` goes through a `Signer`, whose Bearer branch calls back here.
        let resp = Box::pin(crate::transport::request_once(
            &self.connector,
            &crate::transport::Signer::anonymous(self.max_bytes),
            &self.cfg.token_url,
            http::Method::POST,
            headers,
            body,
            self.timeout,
            self.max_bytes,
        ))
        .await
        .map_err(|e| {
            let msg = format!("OAuth2 token endpoint {}: {}", self.cfg.token_url, e.message());
            EwsError::new(e.class(), e.kind().clone(), msg)
        })?;
        let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
        let status = resp.status.as_u16();
        if !resp.status.is_success() {
            let detail = json
                .as_ref()
                .map(|j| {
                    let err = j.get("error").and_then(|v| v.as_str()).unwrap_or("");
                    let desc = j.get("error_description").and_then(|v| v.as_str()).unwrap_or("");
                    format!("{err} {desc}").trim().to_string()
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)]).into_owned());
            let class = if matches!(status, 429 | 500..=599) { ErrorClass::Transient } else { ErrorClass::Fatal };
            let hint = if matches!(status, 400 | 401) { ": check client_id, client_secret and scope" } else { "" };
            return Err(self.error(class, format!("HTTP {status} {detail}{hint}")).with_status(status));
        }
        let Some(json) = json else {
            return Err(self.error(ErrorClass::Fatal, "the answer is not JSON (is token_url right?)"));
        };
        let Some(token) = json.get("access_token").and_then(|v| v.as_str()).filter(|t| !t.is_empty()) else {
            return Err(self.error(ErrorClass::Fatal, "the answer has no access_token"));
        };
        if let Some(tt) = json.get("token_type").and_then(|v| v.as_str())
            && !tt.eq_ignore_ascii_case("bearer")
        {
            return Err(self.error(ErrorClass::Fatal, format!("token_type {tt:?} is not Bearer")));
        }
        // Azure AD v1 sends expires_in as a string.
        let expires_in = json
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())))
            .unwrap_or(3600);
        Ok((SecretString::from(token.to_string()), Duration::from_secs(expires_in)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_scales_with_lifetime() {
        assert_eq!(refresh_margin(Duration::from_secs(3600)), Duration::from_secs(300));
        assert_eq!(refresh_margin(Duration::from_secs(600)), Duration::from_secs(60));
        assert_eq!(refresh_margin(Duration::from_secs(2)), Duration::from_millis(200));
    }
}
