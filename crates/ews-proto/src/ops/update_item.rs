//! EWS operation module `update_item`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `UpdateItem` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateItem {}

impl FromXml for UpdateItem {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for UpdateItem {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `UpdateItemResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateItemResponse {}

impl FromXml for UpdateItemResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for UpdateItemResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
