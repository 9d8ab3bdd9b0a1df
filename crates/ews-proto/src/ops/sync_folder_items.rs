//! EWS operation module `sync_folder_items`.
//!
//! STUB: to be implemented.

use crate::error::Result;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

/// `SyncFolderItems` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncFolderItems {}

impl FromXml for SyncFolderItems {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for SyncFolderItems {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}

/// `SyncFolderItemsResponse` (stub).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncFolderItemsResponse {}

impl FromXml for SyncFolderItemsResponse {
    fn from_xml(_el: &Element) -> Result<Self> {
        Ok(Self {})
    }
}

impl ToXml for SyncFolderItemsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).end();
    }
}
