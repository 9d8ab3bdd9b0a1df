//! STUB replaced by the time zone branch: Windows time zones and EWS time zone definitions.

/// `t:TimeZoneDefinitionType` (stub).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimeZoneDefinition {
    pub id: Option<String>,
    pub name: Option<String>,
}
