//! Out-of-office settings of a mailbox (what `Get/SetUserOofSettings` read and write).

use jiff::Timestamp;

/// `t:OofState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OofStatus {
    Disabled,
    Enabled,
    Scheduled,
}

impl OofStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OofStatus::Disabled => "Disabled",
            OofStatus::Enabled => "Enabled",
            OofStatus::Scheduled => "Scheduled",
        }
    }

    /// Parses `Disabled`, `Enabled` or `Scheduled` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        [OofStatus::Disabled, OofStatus::Enabled, OofStatus::Scheduled]
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

/// `t:ExternalAudience`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExternalAudience {
    None,
    Known,
    All,
}

impl ExternalAudience {
    pub fn as_str(self) -> &'static str {
        match self {
            ExternalAudience::None => "None",
            ExternalAudience::Known => "Known",
            ExternalAudience::All => "All",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ExternalAudience::None, ExternalAudience::Known, ExternalAudience::All]
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

/// A mailbox's OOF settings. `start`/`end` (EWS `Duration`) only count when `state` is
/// `Scheduled`, but are kept whatever the state, as Exchange keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OofState {
    pub state: OofStatus,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub internal_reply: String,
    pub external_reply: String,
    pub external_audience: ExternalAudience,
}

impl Default for OofState {
    fn default() -> Self {
        OofState {
            state: OofStatus::Disabled,
            start: None,
            end: None,
            internal_reply: String::new(),
            external_reply: String::new(),
            external_audience: ExternalAudience::All,
        }
    }
}

impl OofState {
    /// Whether automatic replies are on at `now`: Enabled, or Scheduled with
    /// `start <= now < end`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        match self.state {
            OofStatus::Disabled => false,
            OofStatus::Enabled => true,
            OofStatus::Scheduled => match (self.start, self.end) {
                (Some(s), Some(e)) => s <= now && now < e,
                _ => false,
            },
        }
    }
}
