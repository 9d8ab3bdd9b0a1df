//! Bearer-token authentication of `/api/v1`.
//!
//! Tokens are compared in constant time: both sides are hashed with SHA-256 first (so the
//! comparison does not leak the length of a configured token) and the digests compared with
//! `subtle`. Every configured token is compared, whether an earlier one matched or not.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// One accepted API token.
#[derive(Clone)]
pub struct ApiToken {
    digest: [u8; 32],
    /// Whether callers with this token see private events unmasked.
    pub private_details: bool,
}

impl ApiToken {
    /// A token; `private_details` lets its callers see private events unmasked.
    pub fn new(token: &str, private_details: bool) -> Self {
        ApiToken { digest: Sha256::digest(token.as_bytes()).into(), private_details }
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken").field("private_details", &self.private_details).finish_non_exhaustive()
    }
}

/// The authenticated caller, put into the request's extensions by [`require_token`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Whether private events are shown unmasked to this caller.
    pub private_details: bool,
}

/// The token set (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Tokens(Arc<Vec<ApiToken>>);

impl Tokens {
    pub fn new(tokens: Vec<ApiToken>) -> Self {
        Tokens(Arc::new(tokens))
    }

    /// The tokens of `[server]`: `api_tokens` see private events masked, `private_api_tokens`
    /// see them in full.
    pub fn from_config(server: &exbridge_config::ServerConfig) -> Self {
        let tokens = server
            .api_tokens
            .iter()
            .map(|t| ApiToken::new(t.expose(), false))
            .chain(server.private_api_tokens.iter().map(|t| ApiToken::new(t.expose(), true)))
            .collect();
        Tokens::new(tokens)
    }

    /// The caller a presented token authenticates, if any (constant time per token).
    pub fn authenticate(&self, presented: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found: Option<Caller> = None;
        for token in self.0.iter() {
            let equal: bool = token.digest[..].ct_eq(&digest[..]).into();
            if equal {
                let private_details = token.private_details || found.is_some_and(|c| c.private_details);
                found = Some(Caller { private_details });
            }
        }
        found
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Middleware: 401 unless `Authorization: Bearer <token>` names a configured token.
pub async fn require_token(State(tokens): State<Tokens>, mut request: Request, next: Next) -> Response {
    let header = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let Some(header) = header else {
        return ApiError::unauthorized("missing Authorization: Bearer <token> header").into_response();
    };
    let presented = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return ApiError::unauthorized("the Authorization header must be `Bearer <token>`").into_response(),
    };
    match tokens.authenticate(presented) {
        Some(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        None => ApiError::unauthorized("unknown API token").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exbridge_config::{Secret, ServerConfig};

    #[test]
    fn tokens_from_config() {
        let server = ServerConfig {
            listen: "127.0.0.1:3001".parse().unwrap(),
            api_tokens: vec![Secret::new("plain-token"), Secret::new("both-token")],
            private_api_tokens: vec![Secret::new("private-token"), Secret::new("both-token")],
            admin_password: None,
            data_dir: "./data".into(),
            ui_allow_remote: false,
            ui_secure_cookie: false,
        };
        let tokens = Tokens::from_config(&server);
        assert_eq!(tokens.authenticate("plain-token"), Some(Caller { private_details: false }));
        assert_eq!(tokens.authenticate("private-token"), Some(Caller { private_details: true }));
        assert_eq!(tokens.authenticate("both-token"), Some(Caller { private_details: true }));
        for wrong in ["", "plain-token ", "plain-toke", "PLAIN-TOKEN"] {
            assert_eq!(tokens.authenticate(wrong), None, "{wrong:?}");
        }
        assert_eq!(Tokens::default().authenticate("plain-token"), None);
        assert!(!format!("{tokens:?}").contains("plain"));
    }
}
