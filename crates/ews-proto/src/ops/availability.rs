//! EWS operation module `availability`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `GetUserAvailabilityRequest` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetUserAvailabilityRequest {}

impl FromXml for GetUserAvailabilityRequest {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetUserAvailabilityRequest {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `GetUserAvailabilityResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetUserAvailabilityResponse {}

impl FromXml for GetUserAvailabilityResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetUserAvailabilityResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
