//! Fields shared by every item kind (`t:ItemType`), bodies, recipients and extended properties.
//!
//! Elements of `t:ItemType` that are not modelled (skipped when read, never written):
//! `MimeContent`, `Attachments`, `InternetMessageHeaders`, `ResponseObjects`, `DisplayBcc`,
//! `EffectiveRights`, `UniqueBody`, `Flag`, `StoreEntryId`, `InstanceKey`, `NormalizedBody`,
//! `EntityExtractionResult`, `PolicyTag`, `ArchiveTag`, `RetentionDate`, `Preview`,
//! `RightsManagementLicenseData`, `PredictedActionReasons`, `IsClutter`, `BlockStatus`,
//! `HasBlockedImages`, `TextBody`, `IconIndex`, `SearchKey`, `SortKey` and the social elements
//! (`Hashtags`, `Mentions`, `Likes`, …). Of those, the samples carry `ResponseObjects`,
//! `EffectiveRights`, `Flag`, `InstanceKey` and `EntityExtractionResult`; none matters to a
//! calendar sync. An [`OtherItem`](super::OtherItem) keeps them all in its raw element.

use crate::error::{Error, Result};
use crate::ids::{EmailAddress, FolderId, ItemId};
use crate::shape::ExtendedFieldUri;
use crate::values::DateTime;
use crate::xml::{Element, FromXml, Name, ToXml, Writer, t};
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
    /// The text exactly as sent (white space kept; HTML arrives escaped and is unescaped here).
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

impl FromXml for Body {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(Body {
            body_type: el.req_attr_as("BodyType")?,
            is_truncated: el.attr_as("IsTruncated")?,
            content: el.text.clone(),
        })
    }
}

impl ToXml for Body {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr_val("BodyType", &self.body_type).attr_opt("IsTruncated", &self.is_truncated);
        if !self.content.is_empty() {
            w.text(&self.content);
        }
        w.end();
    }
}

/// The value of an extended property: one string or several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendedValue {
    /// `t:Value`.
    Single(String),
    /// `t:Values/t:Value` (one or more; an empty list is not valid XML and is written as one
    /// empty value).
    Multi(Vec<String>),
}

/// `t:ExtendedProperty`: a MAPI property addressed by tag, id or name in a property set. The
/// connector keeps the application's id of an event in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedProperty {
    pub field: ExtendedFieldUri,
    pub value: ExtendedValue,
}

impl FromXml for ExtendedProperty {
    fn from_xml(el: &Element) -> Result<Self> {
        let field = el.get_req(t("ExtendedFieldURI"))?;
        let value = if let Some(v) = el.child(t("Value")) {
            ExtendedValue::Single(v.text.clone())
        } else if let Some(vs) = el.child(t("Values")) {
            let values: Vec<String> = vs.children_named(t("Value")).map(|v| v.text.clone()).collect();
            if values.is_empty() {
                return Err(Error::missing("element t:Value").at(vs).at(el));
            }
            ExtendedValue::Multi(values)
        } else {
            return Err(Error::missing("element t:Value or t:Values").at(el));
        };
        Ok(ExtendedProperty { field, value })
    }
}

impl ToXml for ExtendedProperty {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).child(t("ExtendedFieldURI"), &self.field);
        match &self.value {
            ExtendedValue::Single(v) => {
                w.leaf(t("Value"), v);
            }
            ExtendedValue::Multi(values) => {
                w.start(t("Values"));
                if values.is_empty() {
                    w.leaf(t("Value"), "");
                }
                for v in values {
                    w.leaf(t("Value"), v);
                }
                w.end();
            }
        }
        w.end();
    }
}

/// `t:SingleRecipientType` (`t:Organizer`, `t:From`, `t:Sender`): a wrapper around `t:Mailbox`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SingleRecipient {
    pub mailbox: EmailAddress,
}

impl FromXml for SingleRecipient {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(SingleRecipient { mailbox: el.get_req(t("Mailbox"))? })
    }
}

impl ToXml for SingleRecipient {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).child(t("Mailbox"), &self.mailbox).end();
    }
}

/// The text of an optional `xs:string` child, exactly as sent (white space is significant in
/// `xs:string`, so it is not trimmed).
pub(crate) fn get_string(el: &Element, name: Name<'_>) -> Option<String> {
    el.child(name).map(|c| c.text.clone())
}

/// `t:ArrayOfStringsType` (`t:Categories`, `t:Companies`, …): the texts of the `t:String`
/// children of an optional wrapper.
pub(crate) fn get_strings(el: &Element, wrapper: Name<'_>) -> Option<Vec<String>> {
    el.child(wrapper).map(|w| w.children_named(t("String")).map(|s| s.text.clone()).collect())
}

/// Writes `<wrapper><t:String>…</t:String>…</wrapper>` if present.
pub(crate) fn write_strings(w: &mut Writer, wrapper: Name<'_>, values: &Option<Vec<String>>) {
    if let Some(values) = values {
        w.start(wrapper);
        for v in values {
            w.leaf(t("String"), v);
        }
        w.end();
    }
}

/// Writes `<wrapper><item/>…</wrapper>` for a `NonEmptyArrayOf…` type: nothing when the list is
/// absent or empty (an empty wrapper would not be valid).
pub(crate) fn write_non_empty<T: ToXml>(w: &mut Writer, wrapper: Name<'_>, item: Name<'_>, values: &Option<Vec<T>>) {
    if let Some(values) = values.as_ref().filter(|v| !v.is_empty()) {
        w.list(wrapper, item, values);
    }
}

/// The elements of `t:ItemType` that matter here, in schema order. The module documentation
/// lists the elements of the schema that are not read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ItemFields {
    pub item_id: Option<ItemId>,
    /// `t:ParentFolderId` (`t:FolderIdType`, an `Id` and a `ChangeKey`). Only
    /// [`FolderId::Id`] can be written here; a distinguished folder id is skipped when writing.
    pub parent_folder_id: Option<FolderId>,
    /// `t:ItemClass`, e.g. `IPM.Appointment`, `IPM.Task`, `IPM.Schedule.Meeting.Request`.
    pub item_class: Option<String>,
    /// `t:Subject` (Exchange cuts it at 255 characters).
    pub subject: Option<String>,
    pub sensitivity: Option<Sensitivity>,
    pub body: Option<Body>,
    pub date_time_received: Option<DateTime>,
    /// `t:Size` in bytes (read-only).
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
    /// `t:ReminderNextTime`: when the reminder fires next (read-only).
    pub reminder_next_time: Option<DateTime>,
    /// `t:ReminderMinutesBeforeStart`: 0..=2629800 (five years), or the marker 1525252321.
    pub reminder_minutes_before_start: Option<i32>,
    pub display_cc: Option<String>,
    pub display_to: Option<String>,
    pub has_attachments: Option<bool>,
    /// `t:ExtendedProperty`, any number.
    pub extended_properties: Vec<ExtendedProperty>,
    /// `t:Culture` (xs:language, e.g. `en-US`).
    pub culture: Option<String>,
    pub last_modified_name: Option<String>,
    pub last_modified_time: Option<DateTime>,
    pub is_associated: Option<bool>,
    pub web_client_read_form_query_string: Option<String>,
    pub web_client_edit_form_query_string: Option<String>,
    pub conversation_id: Option<ItemId>,
}

impl ItemFields {
    /// Reads the `t:ItemType` children of an item element (of any kind); other children are
    /// ignored.
    pub fn read(el: &Element) -> Result<ItemFields> {
        let parent_folder_id = match el.child(t("ParentFolderId")) {
            None => None,
            Some(c) => Some(
                (|| Ok(FolderId::Id { id: c.req_attr_as("Id")?, change_key: c.attr_as("ChangeKey")? }))()
                    .map_err(|e: Error| e.at(el))?,
            ),
        };
        Ok(ItemFields {
            item_id: el.get(t("ItemId"))?,
            parent_folder_id,
            item_class: el.get_text(t("ItemClass"))?,
            subject: get_string(el, t("Subject")),
            sensitivity: el.get_text(t("Sensitivity"))?,
            body: el.get(t("Body"))?,
            date_time_received: el.get_text(t("DateTimeReceived"))?,
            size: el.get_text(t("Size"))?,
            categories: get_strings(el, t("Categories")),
            importance: el.get_text(t("Importance"))?,
            in_reply_to: get_string(el, t("InReplyTo")),
            is_submitted: el.get_text(t("IsSubmitted"))?,
            is_draft: el.get_text(t("IsDraft"))?,
            is_from_me: el.get_text(t("IsFromMe"))?,
            is_resend: el.get_text(t("IsResend"))?,
            is_unmodified: el.get_text(t("IsUnmodified"))?,
            date_time_sent: el.get_text(t("DateTimeSent"))?,
            date_time_created: el.get_text(t("DateTimeCreated"))?,
            reminder_due_by: el.get_text(t("ReminderDueBy"))?,
            reminder_is_set: el.get_text(t("ReminderIsSet"))?,
            reminder_next_time: el.get_text(t("ReminderNextTime"))?,
            reminder_minutes_before_start: el.get_text(t("ReminderMinutesBeforeStart"))?,
            display_cc: get_string(el, t("DisplayCc")),
            display_to: get_string(el, t("DisplayTo")),
            has_attachments: el.get_text(t("HasAttachments"))?,
            extended_properties: el.get_all(t("ExtendedProperty"))?,
            culture: el.get_text(t("Culture"))?,
            last_modified_name: get_string(el, t("LastModifiedName")),
            last_modified_time: el.get_text(t("LastModifiedTime"))?,
            is_associated: el.get_text(t("IsAssociated"))?,
            web_client_read_form_query_string: get_string(el, t("WebClientReadFormQueryString")),
            web_client_edit_form_query_string: get_string(el, t("WebClientEditFormQueryString")),
            conversation_id: el.get(t("ConversationId"))?,
        })
    }

    /// Writes the `t:ItemType` children in schema order (the caller opens and closes the item
    /// element and writes the subtype's own children after these).
    pub fn write(&self, w: &mut Writer) {
        w.child_opt(t("ItemId"), &self.item_id);
        if let Some(FolderId::Id { id, change_key }) = &self.parent_folder_id {
            w.start(t("ParentFolderId")).attr_val("Id", id).attr_opt("ChangeKey", change_key).end();
        }
        w.leaf_opt(t("ItemClass"), &self.item_class)
            .leaf_opt(t("Subject"), &self.subject)
            .leaf_opt(t("Sensitivity"), &self.sensitivity)
            .child_opt(t("Body"), &self.body)
            .leaf_opt(t("DateTimeReceived"), &self.date_time_received)
            .leaf_opt(t("Size"), &self.size);
        write_strings(w, t("Categories"), &self.categories);
        w.leaf_opt(t("Importance"), &self.importance)
            .leaf_opt(t("InReplyTo"), &self.in_reply_to)
            .leaf_opt(t("IsSubmitted"), &self.is_submitted)
            .leaf_opt(t("IsDraft"), &self.is_draft)
            .leaf_opt(t("IsFromMe"), &self.is_from_me)
            .leaf_opt(t("IsResend"), &self.is_resend)
            .leaf_opt(t("IsUnmodified"), &self.is_unmodified)
            .leaf_opt(t("DateTimeSent"), &self.date_time_sent)
            .leaf_opt(t("DateTimeCreated"), &self.date_time_created)
            .leaf_opt(t("ReminderDueBy"), &self.reminder_due_by)
            .leaf_opt(t("ReminderIsSet"), &self.reminder_is_set)
            .leaf_opt(t("ReminderNextTime"), &self.reminder_next_time)
            .leaf_opt(t("ReminderMinutesBeforeStart"), &self.reminder_minutes_before_start)
            .leaf_opt(t("DisplayCc"), &self.display_cc)
            .leaf_opt(t("DisplayTo"), &self.display_to)
            .leaf_opt(t("HasAttachments"), &self.has_attachments)
            .each(t("ExtendedProperty"), &self.extended_properties)
            .leaf_opt(t("Culture"), &self.culture)
            .leaf_opt(t("LastModifiedName"), &self.last_modified_name)
            .leaf_opt(t("LastModifiedTime"), &self.last_modified_time)
            .leaf_opt(t("IsAssociated"), &self.is_associated)
            .leaf_opt(t("WebClientReadFormQueryString"), &self.web_client_read_form_query_string)
            .leaf_opt(t("WebClientEditFormQueryString"), &self.web_client_edit_form_query_string)
            .child_opt(t("ConversationId"), &self.conversation_id);
    }

    /// The extended property addressed by `field`, if present.
    pub fn extended_property(&self, field: &ExtendedFieldUri) -> Option<&ExtendedValue> {
        self.extended_properties.iter().find(|p| &p.field == field).map(|p| &p.value)
    }
}
