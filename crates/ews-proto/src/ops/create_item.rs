//! EWS operation module `create_item`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `CreateItem` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreateItem {}

impl FromXml for CreateItem {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for CreateItem {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `CreateItemResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreateItemResponse {}

impl FromXml for CreateItemResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for CreateItemResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
