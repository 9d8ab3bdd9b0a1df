//! SOAP and POX Autodiscover.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `GetUserSettingsRequestMessage` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetUserSettingsRequestMessage {}

impl FromXml for GetUserSettingsRequestMessage {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetUserSettingsRequestMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `GetUserSettingsResponseMessage` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetUserSettingsResponseMessage {}

impl FromXml for GetUserSettingsResponseMessage {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetUserSettingsResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
