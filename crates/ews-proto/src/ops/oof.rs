//! EWS operation module `oof`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `GetUserOofSettingsRequest` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetUserOofSettingsRequest {}

impl FromXml for GetUserOofSettingsRequest {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetUserOofSettingsRequest {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `GetUserOofSettingsResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetUserOofSettingsResponse {}

impl FromXml for GetUserOofSettingsResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetUserOofSettingsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `SetUserOofSettingsRequest` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SetUserOofSettingsRequest {}

impl FromXml for SetUserOofSettingsRequest {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for SetUserOofSettingsRequest {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `SetUserOofSettingsResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SetUserOofSettingsResponse {}

impl FromXml for SetUserOofSettingsResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for SetUserOofSettingsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
