//! Fields shared by every item kind (`t:ItemType`), bodies, recipients and extended properties.

use crate::ids::{EmailAddress, FolderId, ItemId};
use crate::shape::ExtendedFieldUri;
use crate::values::DateTime;
use crate::xml_enum;

xml_enum! {
    /// `t:Sensitivity`. Private and Confidential items are masked by the connector.
    pub enum Sensitivity { Normal, Personal, Private, Confidential }
}

xml_enum! {
    /// `t:Importance`.
    pub enum Importance { Low, Normal, High }
}

xml_enum! {
    /// `@BodyType` of `t:Body`.
    pub enum BodyType { Html = "HTML", Text }
}

/// `t:Body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub body_type: BodyType,
    pub is_truncated: Option<bool>,
    pub content: String,
}

impl Body {
    pub fn text(content: impl Into<String>) -> Self {
        Body { body_type: BodyType::Text, is_truncated: None, content: content.into() }
    }
    pub fn html(content: impl Into<String>) -> Self {
        Body { body_type: BodyType::Html, is_truncated: None, content: content.into() }
    }
}

/// The value of an extended property: one string or several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendedValue {
    Single(String),
    Multi(Vec<String>),
}

/// `t:ExtendedProperty`: a MAPI property addressed by tag, id or name in a property set. The
/// connector keeps the application's id of an event in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedProperty {
    pub field: ExtendedFieldUri,
    pub value: ExtendedValue,
}

/// `t:SingleRecipientType` (`t:Organizer`, `t:From`, `t:Sender`): a wrapper around `t:Mailbox`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SingleRecipient {
    pub mailbox: EmailAddress,
}

/// The elements of `t:ItemType` that matter here, in schema order. Elements of the schema not
/// listed are not read; the golden tests show which sample elements that leaves out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ItemFields {
    pub item_id: Option<ItemId>,
    pub parent_folder_id: Option<FolderId>,
    pub item_class: Option<String>,
    pub subject: Option<String>,
    pub sensitivity: Option<Sensitivity>,
    pub body: Option<Body>,
    pub date_time_received: Option<DateTime>,
    pub size: Option<i32>,
    /// `t:Categories/t:String`.
    pub categories: Option<Vec<String>>,
    pub importance: Option<Importance>,
    pub in_reply_to: Option<String>,
    pub is_submitted: Option<bool>,
    pub is_draft: Option<bool>,
    pub is_from_me: Option<bool>,
    pub is_resend: Option<bool>,
    pub is_unmodified: Option<bool>,
    pub date_time_sent: Option<DateTime>,
    pub date_time_created: Option<DateTime>,
    pub reminder_due_by: Option<DateTime>,
    pub reminder_is_set: Option<bool>,
    pub reminder_minutes_before_start: Option<i32>,
    pub display_cc: Option<String>,
    pub display_to: Option<String>,
    pub has_attachments: Option<bool>,
    pub extended_properties: Vec<ExtendedProperty>,
    pub culture: Option<String>,
    pub last_modified_name: Option<String>,
    pub last_modified_time: Option<DateTime>,
    pub is_associated: Option<bool>,
    pub web_client_read_form_query_string: Option<String>,
    pub web_client_edit_form_query_string: Option<String>,
    pub conversation_id: Option<ItemId>,
}
