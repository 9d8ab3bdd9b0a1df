//! EWS operation module `delete_item`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `DeleteItem` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeleteItem {}

impl FromXml for DeleteItem {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for DeleteItem {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `DeleteItemResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeleteItemResponse {}

impl FromXml for DeleteItemResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for DeleteItemResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
