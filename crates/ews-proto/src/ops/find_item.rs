//! EWS operation module `find_item`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `FindItem` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FindItem {}

impl FromXml for FindItem {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for FindItem {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `FindItemResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FindItemResponse {}

impl FromXml for FindItemResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for FindItemResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
