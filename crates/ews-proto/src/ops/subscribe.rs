//! EWS operation module `subscribe`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `Subscribe` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subscribe {}

impl FromXml for Subscribe {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for Subscribe {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `SubscribeResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubscribeResponse {}

impl FromXml for SubscribeResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for SubscribeResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
