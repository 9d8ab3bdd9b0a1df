//! Who is calling: Basic, NTLMv2 (per TCP connection) and Bearer authentication.
//!
//! Accounts are the service account (`--service-user`/`--service-password`, may impersonate
//! every mailbox) and every mailbox user (any address or alias of a mailbox, password
//! `--user-password`). A login may be written `user@domain`, `DOMAIN\user` or `user`; the last
//! two are completed with the simulator's mail domain.

pub mod bearer;
pub mod ntlm;

use std::sync::{Arc, Mutex};

use base64::Engine;

pub use bearer::{Token, TokenError, TokenIssuer};
use ntlm::{PendingChallenge, ServerNames};

/// A mailbox as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// Primary SMTP address (canonical spelling).
    pub smtp: String,
    pub display_name: String,
}

/// Looks up mailboxes by any of their addresses (primary or alias), case-insensitively.
pub trait Directory: Send + Sync + 'static {
    fn resolve(&self, address: &str) -> Option<MailboxInfo>;
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    Basic,
    Ntlm,
    Bearer,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Basic => "basic",
            AuthMethod::Ntlm => "ntlm",
            AuthMethod::Bearer => "bearer",
        }
    }
}

/// The kind of account that signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    /// The service account: may impersonate every mailbox.
    Service,
    /// A mailbox user: acts on its own mailbox.
    Mailbox,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The service user as configured, or the mailbox's primary SMTP address.
    pub name: String,
    pub kind: AccountKind,
    pub method: AuthMethod,
}

impl Account {
    pub fn is_service(&self) -> bool {
        self.kind == AccountKind::Service
    }
}

/// The passwords the simulator accepts.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub domain: String,
    pub service_user: String,
    pub service_password: String,
    pub user_password: String,
}

/// Authentication state of one TCP connection (NTLM authenticates connections).
#[derive(Debug, Default)]
pub struct ConnectionAuth {
    pending: Option<PendingChallenge>,
    account: Option<Account>,
}

impl ConnectionAuth {
    /// The account this connection authenticated with NTLM, if any.
    pub fn account(&self) -> Option<&Account> {
        self.account.as_ref()
    }
}

/// The outcome of looking at a request's `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Account),
    /// Answer 401 with `WWW-Authenticate: <scheme> <token>` (the NTLM CHALLENGE) and keep the
    /// connection open for the AUTHENTICATE message.
    Challenge {
        scheme: &'static str,
        token: String,
    },
    /// Answer 401 listing the accepted schemes. `method` is the scheme that failed, if any.
    Deny {
        method: Option<AuthMethod>,
        reason: String,
    },
}

/// Why the token endpoint refused to issue a token (RFC 6749 5.2 error codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequestError {
    InvalidRequest(String),
    InvalidClient,
    UnsupportedGrantType(String),
}

/// Checks credentials; shared by all connections.
pub struct Authenticator {
    creds: Credentials,
    names: ServerNames,
    tokens: TokenIssuer,
    directory: Arc<dyn Directory>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("service_user", &self.creds.service_user).finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(creds: Credentials, token_lifetime: std::time::Duration, directory: Arc<dyn Directory>) -> Self {
        Authenticator {
            names: ServerNames::for_domain(&creds.domain),
            creds,
            tokens: TokenIssuer::new(token_lifetime),
            directory,
        }
    }

    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.directory
    }

    /// `user@domain`, `DOMAIN\user` or `user` → an address, completed with the mail domain.
    fn normalize(&self, login: &str) -> String {
        let user = login.rsplit('\\').next().unwrap_or(login).trim();
        if user.contains('@') { user.to_string() } else { format!("{user}@{}", self.creds.domain) }
    }

    /// The account a login names and the password it must present.
    pub fn identify(&self, login: &str) -> Option<(Account, &str)> {
        let address = self.normalize(login);
        let service = self.normalize(&self.creds.service_user);
        if address.eq_ignore_ascii_case(&service) {
            let account = Account {
                name: self.creds.service_user.clone(),
                kind: AccountKind::Service,
                method: AuthMethod::Basic,
            };
            return Some((account, &self.creds.service_password));
        }
        let mailbox = self.directory.resolve(&address)?;
        Some((
            Account { name: mailbox.smtp, kind: AccountKind::Mailbox, method: AuthMethod::Basic },
            &self.creds.user_password,
        ))
    }

    /// Checks a user name and password.
    pub fn check_password(&self, login: &str, password: &str) -> Option<Account> {
        let (account, expected) = self.identify(login)?;
        (expected == password).then_some(account)
    }

    /// The `WWW-Authenticate` values of a 401, strongest first, as Exchange lists them.
    pub fn challenges(&self, bearer_failed: bool) -> Vec<String> {
        let mut out = vec!["NTLM".to_string(), format!("Basic realm=\"{}\"", self.names.dns_computer)];
        if bearer_failed {
            out.push("Bearer error=\"invalid_token\"".to_string());
        }
        out
    }

    /// Issues a token for the client-credentials grant: `client_id` is the service user,
    /// `client_secret` its password.
    pub fn issue_token(
        &self,
        grant_type: Option<&str>,
        client_id: Option<&str>,
        client_secret: Option<&str>,
    ) -> Result<Token, TokenRequestError> {
        match grant_type {
            None => return Err(TokenRequestError::InvalidRequest("grant_type is missing".into())),
            Some("client_credentials") => {}
            Some(other) => return Err(TokenRequestError::UnsupportedGrantType(other.to_string())),
        }
        let (Some(id), Some(secret)) = (client_id, client_secret) else {
            return Err(TokenRequestError::InvalidRequest("client_id and client_secret are required".into()));
        };
        match self.check_password(id, secret) {
            Some(a) if a.is_service() => Ok(self.tokens.issue()),
            _ => Err(TokenRequestError::InvalidClient),
        }
    }

    /// Decides about one request from its `Authorization` header and its connection's state.
    pub fn decide(&self, authorization: Option<&str>, conn: &Mutex<ConnectionAuth>) -> Decision {
        let Some(header) = authorization.map(str::trim) else {
            return match conn.lock().unwrap().account.clone() {
                Some(a) => Decision::Allow(a),
                None => Decision::Deny { method: None, reason: "no credentials".into() },
            };
        };
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("Basic") {
            return self.basic(rest);
        }
        if scheme.eq_ignore_ascii_case("Bearer") {
            return match self.tokens.check(rest) {
                Ok(()) => Decision::Allow(Account {
                    name: self.creds.service_user.clone(),
                    kind: AccountKind::Service,
                    method: AuthMethod::Bearer,
                }),
                Err(e) => Decision::Deny { method: Some(AuthMethod::Bearer), reason: e.to_string() },
            };
        }
        if scheme.eq_ignore_ascii_case("NTLM") {
            return self.ntlm("NTLM", rest, conn);
        }
        if scheme.eq_ignore_ascii_case("Negotiate") {
            // Raw NTLM inside Negotiate (what Windows sends when Kerberos is unavailable).
            return self.ntlm("Negotiate", rest, conn);
        }
        Decision::Deny { method: None, reason: format!("unsupported authorization scheme {scheme:?}") }
    }

    fn basic(&self, encoded: &str) -> Decision {
        let deny = |reason: &str| Decision::Deny { method: Some(AuthMethod::Basic), reason: reason.to_string() };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            return deny("credentials are not base64");
        };
        let Ok(text) = String::from_utf8(bytes) else {
            return deny("credentials are not UTF-8");
        };
        let Some((user, password)) = text.split_once(':') else {
            return deny("credentials without ':'");
        };
        match self.check_password(user, password) {
            Some(a) => Decision::Allow(a),
            None => deny(&format!("wrong user name or password for {user:?}")),
        }
    }

    fn ntlm(&self, scheme: &'static str, token: &str, conn: &Mutex<ConnectionAuth>) -> Decision {
        let deny = |reason: String| Decision::Deny { method: Some(AuthMethod::Ntlm), reason };
        let Ok(msg) = base64::engine::general_purpose::STANDARD.decode(token) else {
            return deny("NTLM token is not base64".into());
        };
        let mut state = conn.lock().unwrap();
        match ntlm::message_type(&msg) {
            Ok(1) => {
                // A new handshake replaces whatever this connection had.
                state.account = None;
                let mut server_challenge = [0u8; 8];
                rand::fill(&mut server_challenge[..]);
                match ntlm::challenge(&self.names, &msg, server_challenge) {
                    Ok((pending, challenge)) => {
                        state.pending = Some(pending);
                        Decision::Challenge {
                            scheme,
                            token: base64::engine::general_purpose::STANDARD.encode(challenge),
                        }
                    }
                    Err(e) => {
                        state.pending = None;
                        deny(e.to_string())
                    }
                }
            }
            Ok(3) => {
                // The challenge is good for one answer, right or wrong.
                let Some(pending) = state.pending.take() else {
                    return deny("NTLM AUTHENTICATE without a CHALLENGE on this connection".into());
                };
                let auth = match ntlm::parse_authenticate(&msg) {
                    Ok(a) => a,
                    Err(e) => return deny(e.to_string()),
                };
                let Some((mut account, password)) = self.identify(&auth.login()) else {
                    return deny(format!("unknown user {:?}", auth.login()));
                };
                if let Err(e) = ntlm::verify(&pending, &auth, password) {
                    return deny(format!("{} for {:?}", e, auth.login()));
                }
                account.method = AuthMethod::Ntlm;
                state.account = Some(account.clone());
                Decision::Allow(account)
            }
            Ok(other) => deny(format!("unexpected NTLM message type {other}")),
            Err(e) => deny(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Two;
    impl Directory for Two {
        fn resolve(&self, address: &str) -> Option<MailboxInfo> {
            let a = address.to_ascii_lowercase();
            let smtp = match a.as_str() {
                "user1@contoso.test" | "alias1@contoso.test" => "user1@contoso.test",
                "user2@contoso.test" => "user2@contoso.test",
                _ => return None,
            };
            Some(MailboxInfo { smtp: smtp.into(), display_name: smtp.into() })
        }
    }

    fn auth() -> Authenticator {
        Authenticator::new(
            Credentials {
                domain: "contoso.test".into(),
                service_user: "svc@contoso.test".into(),
                service_password: "secret".into(),
                user_password: "password".into(),
            },
            std::time::Duration::from_secs(60),
            Arc::new(Two),
        )
    }

    #[test]
    fn logins_in_every_form() {
        let a = auth();
        assert!(a.check_password("svc@contoso.test", "secret").unwrap().is_service());
        assert!(a.check_password("CONTOSO\\svc", "secret").unwrap().is_service());
        assert!(a.check_password("svc", "secret").unwrap().is_service());
        assert!(a.check_password("svc", "password").is_none());
        assert_eq!(a.check_password("Alias1@Contoso.test", "password").unwrap().name, "user1@contoso.test");
        assert_eq!(a.check_password("CONTOSO\\user2", "password").unwrap().kind, AccountKind::Mailbox);
        assert!(a.check_password("user3", "password").is_none());
    }

    #[test]
    fn basic_header() {
        let a = auth();
        let conn = Mutex::new(ConnectionAuth::default());
        let good = base64::engine::general_purpose::STANDARD.encode("user1@contoso.test:password");
        assert!(matches!(a.decide(Some(&format!("Basic {good}")), &conn), Decision::Allow(_)));
        let bad = base64::engine::general_purpose::STANDARD.encode("user1@contoso.test:nope");
        assert!(matches!(a.decide(Some(&format!("Basic {bad}")), &conn), Decision::Deny { .. }));
        // Basic does not authenticate the connection.
        assert!(matches!(a.decide(None, &conn), Decision::Deny { .. }));
    }

    #[test]
    fn token_grant() {
        let a = auth();
        let t = a.issue_token(Some("client_credentials"), Some("svc@contoso.test"), Some("secret")).unwrap();
        let conn = Mutex::new(ConnectionAuth::default());
        assert!(matches!(a.decide(Some(&format!("Bearer {}", t.access_token)), &conn), Decision::Allow(_)));
        assert_eq!(
            a.issue_token(Some("client_credentials"), Some("user1@contoso.test"), Some("password")),
            Err(TokenRequestError::InvalidClient)
        );
        assert!(matches!(
            a.issue_token(Some("password"), Some("svc"), Some("secret")),
            Err(TokenRequestError::UnsupportedGrantType(_))
        ));
    }
}
