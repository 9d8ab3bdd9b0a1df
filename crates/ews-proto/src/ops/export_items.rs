//! EWS operation module `export_items`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `ExportItemsResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportItemsResponse {}

impl FromXml for ExportItemsResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for ExportItemsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
