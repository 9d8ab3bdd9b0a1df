//! EWS operation module `get_item`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `GetItem` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetItem {}

impl FromXml for GetItem {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetItem {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `GetItemResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetItemResponse {}

impl FromXml for GetItemResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetItemResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
