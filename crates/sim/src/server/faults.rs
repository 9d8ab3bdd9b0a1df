//! Faults injected through `POST /sim/faults`, and the SOAP faults the server sends.

use std::time::{Duration, Instant};

use ews_proto::ResponseCode;
use ews_proto::response::MessageXml;
use ews_proto::soap::{Fault, FaultDetail};
use serde::{Deserialize, Serialize};

/// The body of `POST /sim/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultSpec {
    /// Close every streaming connection abruptly (no `Closed` message, TCP closed).
    DropStreams,
    /// Invalidate every subscription.
    ExpireSubscriptions,
    /// Answer the next `count` EWS requests with `ErrorServerBusy` and `BackOffMilliseconds`.
    ServerBusy { count: u32, backoff_ms: u64 },
    /// Answer the next `count` EWS requests with this HTTP status (`Retry-After` on 503/429).
    HttpStatus {
        status: u16,
        count: u32,
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// Delay every EWS response by `ms` more (0 ends it).
    Latency { ms: u64 },
    /// End every injected fault and zero the counters.
    Reset,
}

impl FaultSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            FaultSpec::DropStreams => "drop_streams",
            FaultSpec::ExpireSubscriptions => "expire_subscriptions",
            FaultSpec::ServerBusy { .. } => "server_busy",
            FaultSpec::HttpStatus { .. } => "http_status",
            FaultSpec::Latency { .. } => "latency",
            FaultSpec::Reset => "reset",
        }
    }
}

/// What an injected fault makes of one EWS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injected {
    /// Serve the request normally.
    None,
    /// Answer `ErrorServerBusy` with this back-off.
    ServerBusy { backoff_ms: u64 },
    /// Answer with this HTTP status and, if set, `Retry-After` seconds.
    HttpStatus { status: u16, retry_after_secs: Option<u64> },
}

/// The faults pending for the next EWS requests.
#[derive(Debug, Default)]
pub struct FaultState {
    server_busy: Option<(u32, u64)>,
    http_status: Option<(u16, u32, Option<u64>)>,
    /// A back-off the server announced runs until then.
    backoff_until: Option<Instant>,
    latency: Duration,
}

impl FaultState {
    /// Arms a request-level fault (the others act at once and are handled by the caller).
    pub fn arm(&mut self, spec: &FaultSpec) {
        match *spec {
            FaultSpec::ServerBusy { count, backoff_ms } => {
                self.server_busy = (count > 0).then_some((count, backoff_ms))
            }
            FaultSpec::HttpStatus { status, count, retry_after_secs } => {
                let retry = retry_after_secs.or(matches!(status, 429 | 503).then_some(1));
                self.http_status = (count > 0).then_some((status, count, retry));
            }
            FaultSpec::Latency { ms } => self.latency = Duration::from_millis(ms),
            FaultSpec::Reset => *self = FaultState::default(),
            FaultSpec::DropStreams | FaultSpec::ExpireSubscriptions => {}
        }
    }

    /// Extra latency of every EWS response.
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// Looks at one arriving EWS request: whether it came during an announced back-off, and
    /// which fault it gets (consuming one of the armed count).
    pub fn on_request(&mut self, now: Instant) -> (bool, Injected) {
        let during_backoff = self.backoff_until.is_some_and(|until| now < until);
        if let Some((status, left, retry)) = self.http_status.as_mut().map(|(s, l, r)| (*s, l, *r)) {
            *left -= 1;
            if *left == 0 {
                self.http_status = None;
            }
            if let Some(secs) = retry {
                self.extend_backoff(now + Duration::from_secs(secs));
            }
            return (during_backoff, Injected::HttpStatus { status, retry_after_secs: retry });
        }
        if let Some((left, backoff_ms)) = self.server_busy.as_mut().map(|(l, b)| (l, *b)) {
            *left -= 1;
            if *left == 0 {
                self.server_busy = None;
            }
            self.extend_backoff(now + Duration::from_millis(backoff_ms));
            return (during_backoff, Injected::ServerBusy { backoff_ms });
        }
        (during_backoff, Injected::None)
    }

    fn extend_backoff(&mut self, until: Instant) {
        if self.backoff_until.is_none_or(|u| u < until) {
            self.backoff_until = Some(until);
        }
    }
}

/// `ErrorServerBusy` as Exchange sends it (HTTP 500).
pub fn server_busy(backoff_ms: u64) -> Fault {
    Fault::ews(
        ResponseCode::ErrorServerBusy,
        "The server cannot service this request right now. Try again later.",
        Some(backoff_ms),
    )
}

/// The fault for a request that is not a valid EWS SOAP message.
pub fn schema_validation(problem: &str) -> Fault {
    let message = format!("The request failed schema validation: {problem}");
    Fault {
        code: format!("t:{}", ResponseCode::ErrorSchemaValidation.as_str()),
        string: message.clone(),
        string_lang: Some("en-US".into()),
        actor: None,
        detail: Some(FaultDetail {
            response_code: Some(ResponseCode::ErrorSchemaValidation),
            message: Some(message),
            message_xml: Some(MessageXml {
                values: vec![("Violation".into(), problem.to_string())],
                other: Vec::new(),
            }),
            other: Vec::new(),
        }),
    }
}

/// `ErrorImpersonateUserDenied`: the caller may not send `ExchangeImpersonation`.
pub fn impersonate_user_denied() -> Fault {
    Fault::ews(
        ResponseCode::ErrorImpersonateUserDenied,
        "The account does not have permission to impersonate the requested user.",
        None,
    )
}

/// `ErrorNonExistentMailbox` for an address that names no mailbox.
pub fn non_existent_mailbox(address: &str) -> Fault {
    let mut f =
        Fault::ews(ResponseCode::ErrorNonExistentMailbox, "The SMTP address has no mailbox associated with it.", None);
    if let Some(d) = f.detail.as_mut() {
        d.message_xml =
            Some(MessageXml { values: vec![("SmtpAddress".into(), address.to_string())], other: Vec::new() });
    }
    f
}

/// The placeholder answer for an operation the simulator does not implement (yet).
pub fn not_implemented(operation: &str) -> Fault {
    Fault::ews(
        ResponseCode::ErrorInvalidOperation,
        &format!("The simulator does not implement the operation {operation}."),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_json() {
        let f: FaultSpec = serde_json::from_str(r#"{"kind":"server_busy","count":2,"backoff_ms":500}"#).unwrap();
        assert_eq!(f, FaultSpec::ServerBusy { count: 2, backoff_ms: 500 });
        let f: FaultSpec = serde_json::from_str(r#"{"kind":"http_status","status":503,"count":1}"#).unwrap();
        assert_eq!(f, FaultSpec::HttpStatus { status: 503, count: 1, retry_after_secs: None });
        assert!(serde_json::from_str::<FaultSpec>(r#"{"kind":"explode"}"#).is_err());
    }

    #[test]
    fn busy_counts_down_and_opens_a_backoff_window() {
        let mut s = FaultState::default();
        s.arm(&FaultSpec::ServerBusy { count: 2, backoff_ms: 1000 });
        let t0 = Instant::now();
        assert_eq!(s.on_request(t0), (false, Injected::ServerBusy { backoff_ms: 1000 }));
        assert_eq!(s.on_request(t0 + Duration::from_millis(10)), (true, Injected::ServerBusy { backoff_ms: 1000 }));
        assert_eq!(s.on_request(t0 + Duration::from_millis(2000)), (false, Injected::None));
    }

    #[test]
    fn http_503_gets_retry_after() {
        let mut s = FaultState::default();
        s.arm(&FaultSpec::HttpStatus { status: 503, count: 1, retry_after_secs: None });
        assert_eq!(s.on_request(Instant::now()).1, Injected::HttpStatus { status: 503, retry_after_secs: Some(1) });
        assert_eq!(s.on_request(Instant::now()).1, Injected::None);
    }
}
