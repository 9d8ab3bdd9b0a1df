//! Items: calendar items, tasks and the other item kinds EWS returns, with everything a
//! calendar sync needs.
//!
//! STRUCTURE FIXED, XML TO BE IMPLEMENTED: the types below are the contract other modules code
//! against; `read`/`write` are stubs.

pub mod calendar;
pub mod common;
pub mod recurrence;
pub mod task;
pub mod timezone;

pub use calendar::*;
pub use common::*;
pub use recurrence::*;
pub use task::*;

use crate::error::Result;
use crate::xml::{Element, Writer};

/// Any item inside `t:Items`, `m:Items`, a sync change or an `ItemChange`.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Item {
    /// `t:CalendarItem`.
    Calendar(CalendarItem),
    /// `t:Task`.
    Task(Task),
    /// Any other item kind (`t:Message`, `t:MeetingRequest`, `t:Item`, `t:Contact`, …):
    /// its element name and the fields shared by all items.
    Other(OtherItem),
}

/// An item of a kind this crate does not model in full.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OtherItem {
    /// Local element name in the types namespace (`Message`, `MeetingRequest`, `Item`, …).
    pub kind: String,
    pub fields: ItemFields,
}

impl Item {
    /// Reads an item element; `None` if `el` is not an item element of the types namespace.
    pub fn read(el: &Element) -> Option<Result<Item>> {
        let _ = el;
        None
    }

    /// Every item child of a wrapper (`t:Items`, `m:Items`); other children are an error.
    pub fn read_all(el: &Element) -> Result<Vec<Item>> {
        let _ = el;
        Ok(Vec::new())
    }

    /// Writes the item with its own element name.
    pub fn write(&self, w: &mut Writer) {
        let _ = w;
    }

    /// The fields common to all items.
    pub fn fields(&self) -> &ItemFields {
        match self {
            Item::Calendar(c) => &c.item,
            Item::Task(t) => &t.item,
            Item::Other(o) => &o.fields,
        }
    }

    /// The item's id, if it has one.
    pub fn item_id(&self) -> Option<&crate::ids::ItemId> {
        self.fields().item_id.as_ref()
    }
}
