//! EWS operation module `resolve_names`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `ResolveNames` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResolveNames {}

impl FromXml for ResolveNames {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for ResolveNames {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `ResolveNamesResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResolveNamesResponse {}

impl FromXml for ResolveNamesResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for ResolveNamesResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
