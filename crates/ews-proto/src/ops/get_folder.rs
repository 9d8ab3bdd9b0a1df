//! EWS operation module `get_folder`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `GetFolder` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetFolder {}

impl FromXml for GetFolder {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetFolder {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `GetFolderResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetFolderResponse {}

impl FromXml for GetFolderResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for GetFolderResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
