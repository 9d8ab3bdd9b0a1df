//! Items: calendar items, tasks and the other item kinds EWS returns, with everything a
//! calendar sync needs.
//!
//! [`Item::read`] recognises every item element of the types namespace that may appear in an
//! item array (`t:NonEmptyArrayOfAllItemsType`: `t:Item`, `t:Message`, `t:CalendarItem`,
//! `t:MeetingRequest`, `t:CancelCalendarItem`, …). Calendar items and tasks are read in full;
//! every other kind becomes an [`OtherItem`] that keeps its element as it came, so writing it
//! back loses nothing.

pub mod calendar;
pub mod common;
pub mod recurrence;
pub mod task;
pub mod timezone;

pub use calendar::*;
pub use common::*;
pub use recurrence::*;
pub use task::*;

use crate::error::{Error, Result};
use crate::xml::{Element, FromXml, Ns, ToXml, Writer, t};

/// Local names of the item elements of the types namespace (the choices of
/// `t:NonEmptyArrayOfAllItemsType`, plus `t:MeetingMessage`, in schema order).
pub const ITEM_ELEMENTS: &[&str] = &[
    "Item",
    "Message",
    "CalendarItem",
    "Contact",
    "DistributionList",
    "MeetingMessage",
    "MeetingRequest",
    "MeetingResponse",
    "MeetingCancellation",
    "Task",
    "PostItem",
    "ReplyToItem",
    "ForwardItem",
    "ReplyAllToItem",
    "AcceptItem",
    "TentativelyAcceptItem",
    "DeclineItem",
    "CancelCalendarItem",
    "RemoveItem",
    "SuppressReadReceipt",
    "PostReplyItem",
    "AcceptSharingInvitation",
    "RoleMember",
    "Network",
    "Person",
];

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
///
/// Equality: `kind` and `fields` always count; `raw` counts only when both sides have one. So an
/// item built in code (no `raw`) equals what reading its own XML back gives, and two items read
/// from XML are equal only if their elements are.
#[derive(Debug, Clone, Default)]
pub struct OtherItem {
    /// Local element name in the types namespace (`Message`, `MeetingRequest`, `Item`, …).
    pub kind: String,
    /// The `t:ItemType` fields, parsed from the element for convenience.
    pub fields: ItemFields,
    /// The whole element as read (white space between child elements dropped). When present it
    /// is what [`Item::write`] writes, every child in its original order; `kind` and `fields`
    /// are then only a view. When absent (an item built in code), `kind` and `fields` are
    /// written.
    pub raw: Option<Element>,
}

impl OtherItem {
    /// An item built in code: written as `t:{kind}` with `fields`.
    pub fn new(kind: impl Into<String>, fields: ItemFields) -> Self {
        OtherItem { kind: kind.into(), fields, raw: None }
    }

    /// Reads an item element of any kind, keeping the element.
    pub fn from_element(el: &Element) -> Result<Self> {
        let fields = ItemFields::read(el)?;
        let mut raw = el.clone();
        strip_layout(&mut raw);
        Ok(OtherItem { kind: el.name.clone(), fields, raw: Some(raw) })
    }

    fn write(&self, w: &mut Writer) {
        match &self.raw {
            Some(raw) => {
                w.element(raw);
            }
            None => {
                w.start(t(&self.kind));
                self.fields.write(w);
                w.end();
            }
        }
    }
}

impl PartialEq for OtherItem {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.fields == other.fields
            && match (&self.raw, &other.raw) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// Drops the white space that only lays out child elements (text of an element that has
/// children and nothing but white space), recursively. Leaf texts are kept as they are.
fn strip_layout(el: &mut Element) {
    if !el.children.is_empty() && el.text.trim().is_empty() {
        el.text.clear();
    }
    for c in &mut el.children {
        strip_layout(c);
    }
}

impl Item {
    /// Whether `el` is an item element (one of [`ITEM_ELEMENTS`] in the types namespace).
    pub fn is_item_element(el: &Element) -> bool {
        el.ns == Ns::Types && ITEM_ELEMENTS.contains(&el.name.as_str())
    }

    /// Reads an item element; `None` if `el` is not an item element of the types namespace.
    pub fn read(el: &Element) -> Option<Result<Item>> {
        if !Item::is_item_element(el) {
            return None;
        }
        Some(match el.name.as_str() {
            "CalendarItem" => CalendarItem::from_xml(el).map(Item::Calendar),
            "Task" => Task::from_xml(el).map(Item::Task),
            _ => OtherItem::from_element(el).map(Item::Other),
        })
    }

    /// Every item child of a wrapper (`t:Items`, `m:Items`); other children are an error.
    pub fn read_all(el: &Element) -> Result<Vec<Item>> {
        el.children
            .iter()
            .map(|c| {
                Item::read(c).unwrap_or_else(|| {
                    Err(Error::invalid(c.display_name(), "an item element (t:CalendarItem, t:Task, t:Message, …)")
                        .at(c))
                })
            })
            .collect::<Result<_>>()
            .map_err(|e| e.at(el))
    }

    /// Writes the item with its own element name.
    pub fn write(&self, w: &mut Writer) {
        match self {
            Item::Calendar(c) => c.to_xml(w, t("CalendarItem")),
            Item::Task(task) => task.to_xml(w, t("Task")),
            Item::Other(o) => o.write(w),
        }
    }

    /// The element name of the item in the types namespace (`CalendarItem`, `Task`, `Message`, …).
    pub fn kind(&self) -> &str {
        match self {
            Item::Calendar(_) => "CalendarItem",
            Item::Task(_) => "Task",
            Item::Other(o) => &o.kind,
        }
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

    /// The calendar item, if this is one.
    pub fn as_calendar(&self) -> Option<&CalendarItem> {
        match self {
            Item::Calendar(c) => Some(c),
            _ => None,
        }
    }

    /// The task, if this is one.
    pub fn as_task(&self) -> Option<&Task> {
        match self {
            Item::Task(t) => Some(t),
            _ => None,
        }
    }
}

impl From<CalendarItem> for Item {
    fn from(c: CalendarItem) -> Self {
        Item::Calendar(c)
    }
}

impl From<Task> for Item {
    fn from(t: Task) -> Self {
        Item::Task(t)
    }
}

impl From<OtherItem> for Item {
    fn from(o: OtherItem) -> Self {
        Item::Other(o)
    }
}

#[cfg(test)]
mod tests;
