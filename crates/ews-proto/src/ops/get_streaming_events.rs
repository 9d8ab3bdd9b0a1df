//! EWS operation module `get_streaming_events`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `GetStreamingEvents` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetStreamingEvents {}

impl FromXml for GetStreamingEvents {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetStreamingEvents {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `GetStreamingEventsResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetStreamingEventsResponse {}

impl FromXml for GetStreamingEventsResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetStreamingEventsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
