//! [`EwsError`]: what failed, where, for whom, and whether trying again can help.
//!
//! Every error is in one of three classes ([`ErrorClass`]):
//! * `Transient`: the server or the network is busy or briefly unavailable; the same request
//!   may succeed later (the client already retried it a bounded number of times);
//! * `Mailbox`: this mailbox (or item) only; other users' work goes on;
//! * `Fatal`: the configuration is wrong (credentials, certificate, URL, version); nothing
//!   will work until an operator fixes it.

use std::fmt;
use std::time::Duration;

use ews_proto::{ResponseCode, SmtpAddress};

/// Whether retrying can help, and how far the failure reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    Transient,
    Mailbox,
    Fatal,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Mailbox => "mailbox",
            ErrorClass::Fatal => "fatal",
        }
    }

    /// The class of an EWS response code met as a whole-request failure (a SOAP fault, or
    /// every response message of a call failing with it).
    pub fn of_code(code: &ResponseCode) -> ErrorClass {
        use ResponseCode as C;
        match code {
            C::ErrorServerBusy
            | C::ErrorInternalServerTransientError
            | C::ErrorInternalServerError
            | C::ErrorTimeoutExpired
            | C::ErrorMailboxStoreUnavailable
            | C::ErrorMailboxMoveInProgress
            | C::ErrorTooManyObjectsOpened
            | C::ErrorExceededConnectionCount
            | C::ErrorConnectionFailed
            | C::ErrorBatchProcessingStopped
            | C::ErrorADUnavailable
            | C::ErrorProxyRequestProcessingFailed
            | C::ErrorNoRespondingCASInDestinationSite
            | C::ErrorFreeBusyGenerationFailed => ErrorClass::Transient,
            C::ErrorInvalidServerVersion
            | C::ErrorInvalidSchemaVersionForMailboxVersion
            | C::ErrorSchemaValidation
            | C::ErrorInvalidRequest
            | C::ErrorInvalidExchangeImpersonationHeaderData
            | C::ErrorImpersonationDenied
            | C::ErrorInvalidManagementRoleHeader
            | C::ErrorIncorrectSchemaVersion
            | C::ErrorWrongServerVersion
            | C::ErrorWrongServerVersionDelegate => ErrorClass::Fatal,
            // ErrorNonExistentMailbox, ErrorImpersonateUserDenied, ErrorMailRecipientNotFound,
            // ErrorItemNotFound, ErrorAccessDenied, … and codes this schema does not know.
            _ => ErrorClass::Mailbox,
        }
    }

    /// The class of a bare HTTP status (no SOAP body to read).
    pub fn of_http_status(status: u16) -> ErrorClass {
        match status {
            408 | 429 | 500 | 502 | 503 | 504 => ErrorClass::Transient,
            _ => ErrorClass::Fatal,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of failure it was.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration is unusable (bad URL, unreadable CA file, …).
    Config,
    /// The host name did not resolve.
    Dns,
    /// TCP connect failed (refused, unreachable, reset during connect).
    Connect,
    /// The proxy refused the tunnel (407 or another status).
    Proxy,
    /// The TLS handshake failed; the message names the certificate problem.
    Tls,
    /// Connect or request timeout.
    Timeout,
    /// The connection broke while a request was on it.
    ConnectionLost,
    /// 401 after authenticating.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404: wrong EWS path.
    NotFound,
    /// The token endpoint refused the client credentials or answered nonsense.
    OAuth,
    /// 503/429 and other throttling signals, or a server pause longer than the caller waits.
    Throttled,
    /// Any other HTTP status without a SOAP body.
    Http,
    /// A SOAP fault.
    Fault,
    /// Every response message failed with the same code.
    Response,
    /// The response could not be read as the expected SOAP message.
    Protocol,
    /// Autodiscover found no settings; the message lists every candidate and why it failed.
    Autodiscover,
    /// A streaming connection stopped delivering (no bytes within the heartbeat watchdog).
    Watchdog,
}

#[derive(Debug)]
struct Inner {
    class: ErrorClass,
    kind: ErrorKind,
    server: String,
    operation: String,
    mailbox: Option<SmtpAddress>,
    response_code: Option<ResponseCode>,
    http_status: Option<u16>,
    retry_after: Option<Duration>,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// An EWS call failure with its context. Displays as
/// `server "primary", FindItem for user1@contoso.test: <message>`.
pub struct EwsError(Box<Inner>);

impl EwsError {
    pub fn new(class: ErrorClass, kind: ErrorKind, message: impl Into<String>) -> Self {
        EwsError(Box::new(Inner {
            class,
            kind,
            server: String::new(),
            operation: String::new(),
            mailbox: None,
            response_code: None,
            http_status: None,
            retry_after: None,
            message: message.into(),
            source: None,
        }))
    }

    pub(crate) fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }

    pub(crate) fn with_code(mut self, code: ResponseCode) -> Self {
        self.0.response_code = Some(code);
        self
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.0.http_status = Some(status);
        self
    }

    pub(crate) fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.0.retry_after = d;
        self
    }

    /// Fills the context that is not yet set.
    pub(crate) fn in_context(mut self, server: &str, operation: &str, mailbox: Option<&SmtpAddress>) -> Self {
        if self.0.server.is_empty() {
            self.0.server = server.to_string();
        }
        if self.0.operation.is_empty() {
            self.0.operation = operation.to_string();
        }
        if self.0.mailbox.is_none() {
            self.0.mailbox = mailbox.cloned();
        }
        self
    }

    pub fn class(&self) -> ErrorClass {
        self.0.class
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    pub fn is_transient(&self) -> bool {
        self.0.class == ErrorClass::Transient
    }

    /// The configured server name.
    pub fn server(&self) -> &str {
        &self.0.server
    }

    /// The EWS operation (`FindItem`), or what was being done (`OAuth2 token`).
    pub fn operation(&self) -> &str {
        &self.0.operation
    }

    pub fn mailbox(&self) -> Option<&SmtpAddress> {
        self.0.mailbox.as_ref()
    }

    /// The EWS response code of a fault or failed response.
    pub fn response_code(&self) -> Option<&ResponseCode> {
        self.0.response_code.as_ref()
    }

    pub fn http_status(&self) -> Option<u16> {
        self.0.http_status
    }

    /// How long the server asked us to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// The human explanation without the context prefix.
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl fmt::Display for EwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.0;
        if !i.server.is_empty() {
            write!(f, "server {:?}", i.server)?;
            if !i.operation.is_empty() {
                write!(f, ", {}", i.operation)?;
            }
            if let Some(m) = &i.mailbox {
                write!(f, " for {m}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&i.message)
    }
}

impl fmt::Debug for EwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.0;
        f.debug_struct("EwsError")
            .field("class", &i.class)
            .field("kind", &i.kind)
            .field("server", &i.server)
            .field("operation", &i.operation)
            .field("mailbox", &i.mailbox)
            .field("response_code", &i.response_code)
            .field("http_status", &i.http_status)
            .field("retry_after", &i.retry_after)
            .field("message", &i.message)
            .field("source", &i.source)
            .finish()
    }
}

impl std::error::Error for EwsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_codes() {
        assert_eq!(ErrorClass::of_code(&ResponseCode::ErrorServerBusy), ErrorClass::Transient);
        assert_eq!(ErrorClass::of_code(&ResponseCode::ErrorMailboxMoveInProgress), ErrorClass::Transient);
        assert_eq!(ErrorClass::of_code(&ResponseCode::ErrorNonExistentMailbox), ErrorClass::Mailbox);
        assert_eq!(ErrorClass::of_code(&ResponseCode::ErrorImpersonateUserDenied), ErrorClass::Mailbox);
        assert_eq!(ErrorClass::of_code(&ResponseCode::ErrorItemNotFound), ErrorClass::Mailbox);
        assert_eq!(ErrorClass::of_code(&ResponseCode::ErrorInvalidServerVersion), ErrorClass::Fatal);
        assert_eq!(ErrorClass::of_code(&ResponseCode::parse("ErrorSomethingNew")), ErrorClass::Mailbox);
    }

    #[test]
    fn display_names_the_context() {
        let e = EwsError::new(ErrorClass::Mailbox, ErrorKind::Fault, "no such mailbox").in_context(
            "primary",
            "FindItem",
            Some(&SmtpAddress::parse("user1@contoso.test").unwrap()),
        );
        assert_eq!(e.to_string(), "server \"primary\", FindItem for user1@contoso.test: no such mailbox");
    }
}
