//! EWS operation module `get_events`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `GetEvents` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetEvents {}

impl FromXml for GetEvents {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetEvents {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `GetEventsResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetEventsResponse {}

impl FromXml for GetEventsResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetEventsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
