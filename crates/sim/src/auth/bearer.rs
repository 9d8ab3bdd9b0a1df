//! OAuth2 bearer tokens of the simulator's own token endpoint (`POST /sim/oauth2/token`,
//! client-credentials grant).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is unknown")]
    Unknown,
}

/// An issued token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub access_token: String,
    pub expires_in: Duration,
}

/// Issues and checks opaque bearer tokens; every token stands for the service account.
#[derive(Debug)]
pub struct TokenIssuer {
    lifetime: Duration,
    tokens: Mutex<HashMap<String, Instant>>,
}

impl TokenIssuer {
    pub fn new(lifetime: Duration) -> Self {
        TokenIssuer { lifetime, tokens: Mutex::new(HashMap::new()) }
    }

    /// A new token valid for the configured lifetime. Forgets tokens expired long ago.
    pub fn issue(&self) -> Token {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes[..]);
        let access_token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let mut tokens = self.tokens.lock().unwrap();
        // Keep expired tokens for a while so their use is answered "expired", not "unknown".
        let keep = self.lifetime.max(Duration::from_secs(60));
        tokens.retain(|_, exp| now.saturating_duration_since(*exp) < keep);
        tokens.insert(access_token.clone(), now + self.lifetime);
        Token { access_token, expires_in: self.lifetime }
    }

    /// Checks a token presented in `Authorization: Bearer`.
    pub fn check(&self, token: &str) -> Result<(), TokenError> {
        match self.tokens.lock().unwrap().get(token) {
            None => Err(TokenError::Unknown),
            Some(exp) if Instant::now() >= *exp => Err(TokenError::Expired),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_check_until_they_expire() {
        let issuer = TokenIssuer::new(Duration::from_millis(30));
        let t = issuer.issue();
        assert_eq!(issuer.check(&t.access_token), Ok(()));
        assert_eq!(issuer.check("nope"), Err(TokenError::Unknown));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(issuer.check(&t.access_token), Err(TokenError::Expired));
    }
}
