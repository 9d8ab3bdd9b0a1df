//! EWS operation module `unsubscribe`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `Unsubscribe` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unsubscribe {}

impl FromXml for Unsubscribe {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for Unsubscribe {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `UnsubscribeResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UnsubscribeResponse {}

impl FromXml for UnsubscribeResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for UnsubscribeResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
