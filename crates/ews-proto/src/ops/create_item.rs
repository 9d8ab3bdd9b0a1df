//! `CreateItem`: new items (appointments, meetings, tasks, messages) and meeting response
//! objects (accept, decline, cancel, …), which EWS also creates with `CreateItem`.

use crate::error::Result;
use crate::ids::{EmailAddress, FolderId, ItemId};
use crate::items::{Body, Item, Sensitivity, SingleRecipient};
use crate::response::{read_messages, write_messages};
use crate::values::DateTime;
use crate::xml::{Element, FromXml, Name, Ns, ToXml, Writer, m, t};
use crate::xml_enum;

use super::get_item::ItemInfoResponseMessage;

xml_enum! {
    /// `@MessageDisposition` (`t:MessageDispositionType`): what happens to a message-like item.
    /// Required by Exchange for messages and response objects; ignored for appointments.
    pub enum MessageDisposition { SaveOnly, SendOnly, SendAndSaveCopy }
}

xml_enum! {
    /// `@SendMeetingInvitations` of `CreateItem` and `@SendMeetingCancellations` of `DeleteItem`
    /// (`t:CalendarItemCreateOrDeleteOperationType`). Required by Exchange for calendar items.
    pub enum CalendarItemCreateOrDeleteOperation { SendToNone, SendOnlyToAll, SendToAllAndSaveCopy }
}

xml_enum! {
    /// The response objects of `CreateItem`'s `m:Items` modelled here, by element name. The
    /// others (`t:SuppressReadReceipt`, `t:PostReplyItem`, `t:AcceptSharingInvitation`) are read
    /// as [`Item::Other`], which keeps the element as it came.
    pub enum ResponseObjectKind {
        /// `t:ReplyToItem` (`t:SmartResponseType`).
        ReplyToItem,
        /// `t:ForwardItem` (`t:SmartResponseType`).
        ForwardItem,
        /// `t:ReplyAllToItem` (`t:SmartResponseType` + `IsSpecificMessageReply`).
        ReplyAllToItem,
        /// `t:AcceptItem` (`t:MeetingRegistrationResponseObjectType`).
        AcceptItem,
        /// `t:TentativelyAcceptItem` (`t:MeetingRegistrationResponseObjectType`).
        TentativelyAcceptItem,
        /// `t:DeclineItem` (`t:MeetingRegistrationResponseObjectType`).
        DeclineItem,
        /// `t:CancelCalendarItem` (`t:SmartResponseType`): the organizer cancels a meeting.
        CancelCalendarItem,
        /// `t:RemoveItem` (`t:ResponseObjectType`): an attendee removes a cancelled meeting.
        RemoveItem,
    }
}

/// The shape of a response object's content, which decides the elements it may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `t:SmartResponseType`: Subject, Body, recipients, receipts, From, ReferenceItemId,
    /// NewBodyContent.
    Smart,
    /// `t:MeetingRegistrationResponseObjectType`: ItemClass, Sensitivity, Body, Attachments,
    /// InternetMessageHeaders, Sender, recipients, receipts, From, ReferenceItemId, ProposedStart,
    /// ProposedEnd.
    WellKnown,
    /// `t:RemoveItemType`: the message fields, then ReferenceItemId.
    Remove,
}

impl ResponseObjectKind {
    fn family(self) -> Family {
        match self {
            ResponseObjectKind::ReplyToItem
            | ResponseObjectKind::ForwardItem
            | ResponseObjectKind::ReplyAllToItem
            | ResponseObjectKind::CancelCalendarItem => Family::Smart,
            ResponseObjectKind::AcceptItem
            | ResponseObjectKind::TentativelyAcceptItem
            | ResponseObjectKind::DeclineItem => Family::WellKnown,
            ResponseObjectKind::RemoveItem => Family::Remove,
        }
    }
}

/// A response object in `CreateItem`'s `m:Items`: a reply, forward, meeting response or meeting
/// cancellation that refers to an existing item (`t:ReferenceItemId`).
///
/// The fields are those of the three schema families; on writing, only the fields that the
/// kind's schema type allows are written (in schema order) and the others are ignored:
/// * `subject`, `new_body_content`: reply, reply-all, forward, cancel;
/// * `is_specific_message_reply`: reply-all;
/// * `item_class`, `sensitivity`, `attachments`, `internet_message_headers`, `sender`,
///   `proposed_start`, `proposed_end`: accept, tentatively accept, decline;
/// * `body`, recipients, receipts, `from`: all but remove;
/// * `object_name`, `message_elements`: remove.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseObject {
    /// The element name.
    pub kind: ResponseObjectKind,
    pub item_class: Option<String>,
    pub sensitivity: Option<Sensitivity>,
    pub subject: Option<String>,
    pub body: Option<Body>,
    /// `t:Attachments`, kept as it came (not modelled).
    pub attachments: Option<Element>,
    /// `t:InternetMessageHeaders`, kept as it came (not modelled).
    pub internet_message_headers: Option<Element>,
    pub sender: Option<SingleRecipient>,
    pub to_recipients: Option<Vec<EmailAddress>>,
    pub cc_recipients: Option<Vec<EmailAddress>>,
    pub bcc_recipients: Option<Vec<EmailAddress>>,
    pub is_read_receipt_requested: Option<bool>,
    pub is_delivery_receipt_requested: Option<bool>,
    pub from: Option<SingleRecipient>,
    /// The item answered, forwarded, cancelled or removed (a meeting request, a calendar item, a
    /// meeting cancellation). Optional in the schema, needed by Exchange.
    pub reference_item_id: Option<ItemId>,
    pub new_body_content: Option<Body>,
    pub is_specific_message_reply: Option<bool>,
    pub proposed_start: Option<DateTime>,
    pub proposed_end: Option<DateTime>,
    /// `@ObjectName` of a `t:RemoveItem`.
    pub object_name: Option<String>,
    /// The `t:MessageType` elements of a `t:RemoveItem` (all optional and meaningless for a
    /// removal), kept as they came and written before `t:ReferenceItemId`.
    pub message_elements: Vec<Element>,
}

impl ResponseObject {
    /// A response object of `kind` referring to `reference`, with nothing else set.
    pub fn new(kind: ResponseObjectKind, reference: ItemId) -> Self {
        ResponseObject { reference_item_id: Some(reference), ..Self::empty(kind) }
    }

    /// A response object of `kind` with no field set.
    pub fn empty(kind: ResponseObjectKind) -> Self {
        ResponseObject {
            kind,
            item_class: None,
            sensitivity: None,
            subject: None,
            body: None,
            attachments: None,
            internet_message_headers: None,
            sender: None,
            to_recipients: None,
            cc_recipients: None,
            bcc_recipients: None,
            is_read_receipt_requested: None,
            is_delivery_receipt_requested: None,
            from: None,
            reference_item_id: None,
            new_body_content: None,
            is_specific_message_reply: None,
            proposed_start: None,
            proposed_end: None,
            object_name: None,
            message_elements: Vec::new(),
        }
    }

    /// `t:AcceptItem` of a meeting request or calendar item.
    pub fn accept(reference: ItemId) -> Self {
        Self::new(ResponseObjectKind::AcceptItem, reference)
    }

    /// `t:TentativelyAcceptItem`.
    pub fn tentatively_accept(reference: ItemId) -> Self {
        Self::new(ResponseObjectKind::TentativelyAcceptItem, reference)
    }

    /// `t:DeclineItem`.
    pub fn decline(reference: ItemId) -> Self {
        Self::new(ResponseObjectKind::DeclineItem, reference)
    }

    /// `t:CancelCalendarItem` of a meeting the mailbox organizes, with an optional message to
    /// the attendees (send it with `MessageDisposition=SendAndSaveCopy`).
    pub fn cancel_meeting(reference: ItemId, message: Option<Body>) -> Self {
        ResponseObject { new_body_content: message, ..Self::new(ResponseObjectKind::CancelCalendarItem, reference) }
    }

    /// `t:RemoveItem`: removes a cancelled meeting from an attendee's calendar.
    pub fn remove(reference: ItemId) -> Self {
        Self::new(ResponseObjectKind::RemoveItem, reference)
    }

    /// Reads a response object element; `None` if `el` is not one.
    pub fn read(el: &Element) -> Option<Result<Self>> {
        if el.ns != Ns::Types {
            return None;
        }
        let kind = *ResponseObjectKind::ALL.iter().find(|k| k.as_str() == el.name)?;
        Some(Self::read_kind(el, kind))
    }

    fn read_kind(el: &Element, kind: ResponseObjectKind) -> Result<Self> {
        let family = kind.family();
        let mut r = ResponseObject::empty(kind);
        r.reference_item_id = el.get(t("ReferenceItemId"))?;
        if family == Family::Remove {
            r.object_name = el.attr_as("ObjectName")?;
            r.message_elements =
                el.children.iter().filter(|c| !c.is(t("ReferenceItemId"))).cloned().map(strip_layout).collect();
            return Ok(r);
        }
        r.body = el.get(t("Body"))?;
        r.to_recipients = el.get_list(t("ToRecipients"), t("Mailbox"))?;
        r.cc_recipients = el.get_list(t("CcRecipients"), t("Mailbox"))?;
        r.bcc_recipients = el.get_list(t("BccRecipients"), t("Mailbox"))?;
        r.is_read_receipt_requested = el.get_text(t("IsReadReceiptRequested"))?;
        r.is_delivery_receipt_requested = el.get_text(t("IsDeliveryReceiptRequested"))?;
        r.from = el.get(t("From"))?;
        match family {
            Family::Smart => {
                r.subject = el.child(t("Subject")).map(|s| s.text.clone());
                r.new_body_content = el.get(t("NewBodyContent"))?;
                if kind == ResponseObjectKind::ReplyAllToItem {
                    r.is_specific_message_reply = el.get_text(t("IsSpecificMessageReply"))?;
                }
            }
            Family::WellKnown => {
                r.item_class = el.child(t("ItemClass")).map(|s| s.text.clone());
                r.sensitivity = el.get_text(t("Sensitivity"))?;
                r.attachments = el.child(t("Attachments")).cloned().map(strip_layout);
                r.internet_message_headers = el.child(t("InternetMessageHeaders")).cloned().map(strip_layout);
                r.sender = el.get(t("Sender"))?;
                r.proposed_start = el.get_text(t("ProposedStart"))?;
                r.proposed_end = el.get_text(t("ProposedEnd"))?;
            }
            Family::Remove => {}
        }
        Ok(r)
    }

    /// Writes the response object with its own element name.
    pub fn write(&self, w: &mut Writer) {
        let kind = self.kind;
        let family = kind.family();
        w.start(t(kind.as_str()));
        if family == Family::Remove {
            w.attr_opt("ObjectName", &self.object_name);
            for e in &self.message_elements {
                w.element(e);
            }
            w.child_opt(t("ReferenceItemId"), &self.reference_item_id);
            w.end();
            return;
        }
        if family == Family::WellKnown {
            w.leaf_opt(t("ItemClass"), &self.item_class).leaf_opt(t("Sensitivity"), &self.sensitivity);
        } else {
            w.leaf_opt(t("Subject"), &self.subject);
        }
        w.child_opt(t("Body"), &self.body);
        if family == Family::WellKnown {
            for e in [&self.attachments, &self.internet_message_headers].into_iter().flatten() {
                w.element(e);
            }
            w.child_opt(t("Sender"), &self.sender);
        }
        w.list_opt(t("ToRecipients"), t("Mailbox"), &self.to_recipients)
            .list_opt(t("CcRecipients"), t("Mailbox"), &self.cc_recipients)
            .list_opt(t("BccRecipients"), t("Mailbox"), &self.bcc_recipients)
            .leaf_opt(t("IsReadReceiptRequested"), &self.is_read_receipt_requested)
            .leaf_opt(t("IsDeliveryReceiptRequested"), &self.is_delivery_receipt_requested);
        w.child_opt(t("From"), &self.from);
        w.child_opt(t("ReferenceItemId"), &self.reference_item_id);
        if family == Family::Smart {
            w.child_opt(t("NewBodyContent"), &self.new_body_content);
            if kind == ResponseObjectKind::ReplyAllToItem {
                w.leaf_opt(t("IsSpecificMessageReply"), &self.is_specific_message_reply);
            }
        } else {
            w.leaf_opt(t("ProposedStart"), &self.proposed_start).leaf_opt(t("ProposedEnd"), &self.proposed_end);
        }
        w.end();
    }
}

/// Drops white space that only lays out child elements, so kept elements compare equal after a
/// round trip through the writer.
fn strip_layout(mut el: Element) -> Element {
    fn strip(el: &mut Element) {
        if !el.children.is_empty() && el.text.trim().is_empty() {
            el.text.clear();
        }
        el.children.iter_mut().for_each(strip);
    }
    strip(&mut el);
    el
}

/// One entry of `CreateItem`'s `m:Items`.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum CreateItemPayload {
    /// A new item (`t:CalendarItem`, `t:Task`, `t:Message`, …).
    Item(Item),
    /// A response object referring to an existing item.
    ResponseObject(ResponseObject),
}

impl CreateItemPayload {
    /// Reads an entry: response objects first, then items; `None` for any other element.
    pub fn read(el: &Element) -> Option<Result<Self>> {
        if let Some(r) = ResponseObject::read(el) {
            return Some(r.map(CreateItemPayload::ResponseObject));
        }
        Item::read(el).map(|r| r.map(CreateItemPayload::Item))
    }

    pub fn write(&self, w: &mut Writer) {
        match self {
            CreateItemPayload::Item(item) => item.write(w),
            CreateItemPayload::ResponseObject(r) => r.write(w),
        }
    }
}

impl From<Item> for CreateItemPayload {
    fn from(item: Item) -> Self {
        CreateItemPayload::Item(item)
    }
}

impl From<ResponseObject> for CreateItemPayload {
    fn from(r: ResponseObject) -> Self {
        CreateItemPayload::ResponseObject(r)
    }
}

/// `m:CreateItem`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateItem {
    pub message_disposition: Option<MessageDisposition>,
    /// `@SendMeetingInvitations`: required by Exchange when creating calendar items.
    pub send_meeting_invitations: Option<CalendarItemCreateOrDeleteOperation>,
    /// `m:SavedItemFolderId`: the folder to create in (default: the kind's default folder).
    pub saved_item_folder_id: Option<FolderId>,
    /// `m:Items` (at least one). Unknown elements are skipped on reading.
    pub items: Vec<CreateItemPayload>,
}

impl CreateItem {
    /// Creates items (e.g. calendar items) in `folder` (`None`: the default folder), sending
    /// meeting invitations as `send` says.
    pub fn items(
        items: impl IntoIterator<Item = Item>,
        folder: Option<FolderId>,
        send: CalendarItemCreateOrDeleteOperation,
    ) -> Self {
        CreateItem {
            message_disposition: None,
            send_meeting_invitations: Some(send),
            saved_item_folder_id: folder,
            items: items.into_iter().map(CreateItemPayload::Item).collect(),
        }
    }

    /// Sends a response object (accept, decline, cancel, …) and saves a copy.
    pub fn respond(response: ResponseObject) -> Self {
        CreateItem {
            message_disposition: Some(MessageDisposition::SendAndSaveCopy),
            send_meeting_invitations: None,
            saved_item_folder_id: None,
            items: vec![CreateItemPayload::ResponseObject(response)],
        }
    }
}

impl FromXml for CreateItem {
    fn from_xml(el: &Element) -> Result<Self> {
        let items_el = el.req(m("Items"))?;
        let items = items_el
            .children
            .iter()
            .filter_map(CreateItemPayload::read)
            .collect::<Result<Vec<_>>>()
            .map_err(|e| e.at(items_el).at(el))?;
        if items.is_empty() {
            return Err(crate::error::Error::missing("an item or response object").at(items_el).at(el));
        }
        Ok(CreateItem {
            message_disposition: el.attr_as("MessageDisposition")?,
            send_meeting_invitations: el.attr_as("SendMeetingInvitations")?,
            saved_item_folder_id: el.get(m("SavedItemFolderId"))?,
            items,
        })
    }
}

impl ToXml for CreateItem {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .attr_opt("MessageDisposition", &self.message_disposition)
            .attr_opt("SendMeetingInvitations", &self.send_meeting_invitations)
            .child_opt(m("SavedItemFolderId"), &self.saved_item_folder_id);
        w.start(m("Items"));
        for item in &self.items {
            item.write(w);
        }
        w.end().end();
    }
}

/// `m:CreateItemResponseMessage`: the created item ids (empty for sent items and most response
/// objects).
pub type CreateItemResponseMessage = ItemInfoResponseMessage;

/// `m:CreateItemResponse`: one message per item of the request, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreateItemResponse {
    pub messages: Vec<CreateItemResponseMessage>,
}

impl FromXml for CreateItemResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(CreateItemResponse { messages: read_messages(el, "CreateItemResponseMessage")? })
    }
}

impl ToXml for CreateItemResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "CreateItemResponseMessage", &self.messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DistinguishedFolderName;
    use crate::items::{Attendee, BodyType, CalendarItem, ExtendedProperty, ExtendedValue, ItemFields};
    use crate::ops::testing::{body, round_trip, sample};
    use crate::response::ResponseStatus;
    use crate::response_code::ResponseCode;
    use crate::shape::ExtendedFieldUri;
    use crate::soap::{Body as SoapBody, ConnectingSid, Envelope, ExchangeVersion, Header};
    use crate::xml::XmlText;

    fn create(env: &Envelope) -> &CreateItem {
        match &env.body {
            SoapBody::CreateItem(c) => c,
            other => panic!("not a CreateItem: {}", other.element_name()),
        }
    }

    fn response(env: &Envelope) -> &CreateItemResponse {
        match &env.body {
            SoapBody::CreateItemResponse(c) => c,
            other => panic!("not a CreateItemResponse: {}", other.element_name()),
        }
    }

    fn calendar(p: &CreateItemPayload) -> &CalendarItem {
        match p {
            CreateItemPayload::Item(Item::Calendar(c)) => c,
            other => panic!("not a calendar item: {other:?}"),
        }
    }

    const REQUESTS: &[&str] = &[
        "CreateItem-Appointment-Impersonation.request.xml",
        "CreateItem-Appointment-StartTimeZone-ExtendedProperty.request.xml",
        "CreateItem-Appointment-StartTimeZone.request.xml",
        "CreateItem-Appointment-TimeZoneContext.request.xml",
        "CreateItem-CancelCalendarItem.request.xml",
        "CreateItem-Meeting-SendToAllAndSaveCopy.request.xml",
        "CreateItem-MeetingRequest-Ref.request.xml",
        "CreateItem-RecurringMeeting.request.xml",
    ];

    const RESPONSES: &[&str] = &[
        "CreateItem-Appointment-Impersonation.response.xml",
        "CreateItem-CancelCalendarItem.response.xml",
        "CreateItem-Meeting-SendToAllAndSaveCopy.response.xml",
        "CreateItem-MeetingRequest-Error-ItemNotFound.response.xml",
        "CreateItem-MeetingRequest-Ref.response.xml",
        "CreateItem-RecurringMeeting.response.xml",
    ];

    fn dt(s: &str) -> DateTime {
        DateTime::from_text(s).unwrap()
    }

    #[test]
    fn parses_response_object_samples() {
        let env = sample("CreateItem-CancelCalendarItem.request.xml");
        let c = create(&env);
        assert_eq!(c.message_disposition, Some(MessageDisposition::SendAndSaveCopy));
        assert_eq!(c.send_meeting_invitations, None);
        assert_eq!(c.items.len(), 1);
        let CreateItemPayload::ResponseObject(r) = &c.items[0] else { panic!("not a response object") };
        assert_eq!(r.kind, ResponseObjectKind::CancelCalendarItem);
        assert_eq!(r.reference_item_id, Some(ItemId::new("AAMkA", Some("DwAAA"))));
        let body = r.new_body_content.as_ref().unwrap();
        assert_eq!(body.body_type, BodyType::Html);
        assert_eq!(body.content, "The outdoor meeting has been canceled due to hailstorms.");

        let env = sample("CreateItem-MeetingRequest-Ref.request.xml");
        let c = create(&env);
        assert_eq!(c.message_disposition, Some(MessageDisposition::SendAndSaveCopy));
        assert_eq!(
            c.items,
            vec![CreateItemPayload::ResponseObject(ResponseObject::accept(ItemId::new(
                "AAAlAFVzZ",
                Some("CwAAABYAA")
            )))]
        );
    }

    #[test]
    fn parses_item_samples() {
        let env = sample("CreateItem-Appointment-Impersonation.request.xml");
        assert!(env.header.impersonation.as_ref().map(ConnectingSid::value).is_some());
        let c = create(&env);
        assert_eq!(c.send_meeting_invitations, Some(CalendarItemCreateOrDeleteOperation::SendToNone));
        let cal = calendar(&c.items[0]);
        assert_eq!(cal.item.subject.as_deref(), Some("Tennis lesson"));
        assert_eq!(cal.start, Some(dt("2013-09-21T19:00:00.000Z")));
        assert_eq!(cal.location.as_deref(), Some("Tennis club"));

        let env = sample("CreateItem-Meeting-SendToAllAndSaveCopy.request.xml");
        let c = create(&env);
        assert_eq!(c.send_meeting_invitations, Some(CalendarItemCreateOrDeleteOperation::SendToAllAndSaveCopy));
        let cal = calendar(&c.items[0]);
        assert_eq!(cal.required_attendees.as_ref().map(Vec::len), Some(2));
        assert_eq!(cal.optional_attendees.as_ref().map(Vec::len), Some(1));

        let env = sample("CreateItem-Appointment-StartTimeZone-ExtendedProperty.request.xml");
        let cal = calendar(&create(&env).items[0]);
        assert_eq!(cal.item.extended_properties.len(), 1);
        assert_eq!(cal.start_time_zone.as_ref().and_then(|z| z.id.as_deref()), Some("Central Standard Time"));

        let env = sample("CreateItem-RecurringMeeting.request.xml");
        assert!(calendar(&create(&env).items[0]).recurrence.is_some());
    }

    #[test]
    fn parses_response_samples() {
        for name in RESPONSES {
            let env = sample(name);
            assert_eq!(response(&env).messages.len(), 1, "{name}");
        }
        let env = sample("CreateItem-Appointment-Impersonation.response.xml");
        let msg = &response(&env).messages[0];
        assert!(msg.status.is_success());
        assert_eq!(msg.items.len(), 1);
        assert_eq!(msg.items[0].item_id(), Some(&ItemId::new("AAMkA", Some("DwAAA"))));

        let env = sample("CreateItem-MeetingRequest-Error-ItemNotFound.response.xml");
        let msg = &response(&env).messages[0];
        assert_eq!(msg.status.code(), ResponseCode::ErrorItemNotFound);
        assert!(msg.items.is_empty());

        let env = sample("CreateItem-MeetingRequest-Ref.response.xml");
        assert!(response(&env).messages[0].items.is_empty());
    }

    #[test]
    fn serializes_valid_documents_and_round_trips() {
        let mut docs = Vec::new();
        for name in REQUESTS.iter().chain(RESPONSES) {
            docs.push(round_trip(name, &sample(name)));
        }
        let header = Header {
            request_server_version: Some(ExchangeVersion::Exchange2016),
            impersonation: Some(ConnectingSid::SmtpAddress("user1@contoso.test".into())),
            ..Header::default()
        };
        let event = CalendarItem {
            item: ItemFields {
                subject: Some("Planning".into()),
                body: Some(Body::text("Agenda: <none> & more")),
                extended_properties: vec![ExtendedProperty {
                    field: ExtendedFieldUri::public_string("exbridge-id"),
                    value: ExtendedValue::Single("evt-42".into()),
                }],
                ..ItemFields::default()
            },
            start: Some(dt("2025-03-10T09:00:00Z")),
            end: Some(dt("2025-03-10T10:00:00Z")),
            location: Some("Room 1".into()),
            required_attendees: Some(vec![Attendee {
                mailbox: EmailAddress::smtp("a@contoso.test", Some("A")),
                ..Attendee::default()
            }]),
            ..CalendarItem::default()
        };
        let req = CreateItem::items(
            [Item::Calendar(event)],
            Some(FolderId::distinguished(DistinguishedFolderName::Calendar)),
            CalendarItemCreateOrDeleteOperation::SendToAllAndSaveCopy,
        );
        docs.push(round_trip("constructed calendar item", &Envelope::new(header.clone(), req)));

        // Every response object kind, with every field set: only the allowed ones are written.
        let reference = ItemId::new("AAMkRef", Some("DwRef"));
        let mailbox = SingleRecipient { mailbox: EmailAddress::smtp("o@contoso.test", Some("O")) };
        let full = ResponseObject {
            item_class: Some("IPM.Schedule.Meeting.Resp.Pos".into()),
            sensitivity: Some(Sensitivity::Normal),
            subject: Some("Re: Planning".into()),
            body: Some(Body::text("body")),
            sender: Some(mailbox.clone()),
            to_recipients: Some(vec![EmailAddress::smtp("x@contoso.test", None)]),
            cc_recipients: Some(vec![EmailAddress::smtp("y@contoso.test", None)]),
            bcc_recipients: Some(vec![EmailAddress::smtp("z@contoso.test", None)]),
            is_read_receipt_requested: Some(false),
            is_delivery_receipt_requested: Some(false),
            from: Some(mailbox),
            new_body_content: Some(Body::html("<p>new</p>")),
            is_specific_message_reply: Some(true),
            proposed_start: Some(dt("2025-03-11T09:00:00Z")),
            proposed_end: Some(dt("2025-03-11T10:00:00Z")),
            object_name: Some("Remove".into()),
            ..ResponseObject::new(ResponseObjectKind::AcceptItem, reference.clone())
        };
        let mut written = Vec::new();
        for kind in ResponseObjectKind::ALL {
            let r = ResponseObject { kind: *kind, ..full.clone() };
            let env = Envelope::new(header.clone(), CreateItem::respond(r));
            let xml = env.to_xml_string();
            written.push((format!("response object {kind}"), xml.clone()));
            // Reading back gives the fields of the kind's family.
            let back = Envelope::parse(xml.as_bytes()).unwrap();
            let CreateItemPayload::ResponseObject(r) = &create(&back).items[0] else { panic!() };
            assert_eq!(r.kind, *kind);
            assert_eq!(r.reference_item_id.as_ref(), Some(&reference));
            match kind.family() {
                Family::Smart => {
                    assert_eq!(r.subject.as_deref(), Some("Re: Planning"));
                    assert!(r.new_body_content.is_some() && r.proposed_start.is_none());
                    assert_eq!(r.is_specific_message_reply.is_some(), *kind == ResponseObjectKind::ReplyAllToItem);
                }
                Family::WellKnown => {
                    assert!(r.subject.is_none() && r.new_body_content.is_none());
                    assert_eq!(r.proposed_end, Some(dt("2025-03-11T10:00:00Z")));
                    assert!(r.sender.is_some() && r.item_class.is_some());
                }
                Family::Remove => {
                    assert_eq!(r.object_name.as_deref(), Some("Remove"));
                    assert!(r.body.is_none() && r.to_recipients.is_none());
                }
            }
            assert_eq!(back, round_trip_env(&back));
        }
        docs.extend(written);
        docs.push(round_trip(
            "constructed cancel",
            &Envelope::new(
                header.clone(),
                CreateItem::respond(ResponseObject::cancel_meeting(reference.clone(), Some(Body::text("Cancelled")))),
            ),
        ));
        let resp = CreateItemResponse {
            messages: vec![
                ItemInfoResponseMessage::success(vec![Item::Calendar(CalendarItem {
                    item: ItemFields { item_id: Some(ItemId::new("AAMkNew", Some("DwNew"))), ..ItemFields::default() },
                    ..CalendarItem::default()
                })]),
                ItemInfoResponseMessage::success(Vec::new()),
                ItemInfoResponseMessage::error(ResponseStatus::error(ResponseCode::ErrorItemNotFound, "not found")),
            ],
        };
        docs.push(round_trip("constructed response", &Envelope::new(Header::default(), resp)));
        ews_schema_check::assert_all_valid(&docs);
    }

    fn round_trip_env(env: &Envelope) -> Envelope {
        Envelope::parse(env.to_xml_string().as_bytes()).unwrap()
    }

    #[test]
    fn remove_item_keeps_message_elements() {
        let env = Envelope::parse(&body(
            r#"<m:CreateItem MessageDisposition="SendAndSaveCopy"><m:Items><t:RemoveItem ObjectName="x"><t:Subject>s</t:Subject><t:IsRead>true</t:IsRead><t:ReferenceItemId Id="r"/></t:RemoveItem></m:Items></m:CreateItem>"#,
        ))
        .unwrap();
        let CreateItemPayload::ResponseObject(r) = &create(&env).items[0] else { panic!() };
        assert_eq!(r.kind, ResponseObjectKind::RemoveItem);
        assert_eq!(r.message_elements.len(), 2);
        assert_eq!(r.reference_item_id, Some(ItemId::new("r", None)));
        let docs = vec![round_trip("remove item", &env)];
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        let e = Envelope::parse(&body(r#"<m:CreateItem/>"#)).unwrap_err();
        assert!(e.to_string().contains("missing element m:Items at /soap:Envelope/soap:Body/m:CreateItem"), "{e}");
        let e = Envelope::parse(&body(r#"<m:CreateItem><m:Items/></m:CreateItem>"#)).unwrap_err();
        assert!(e.to_string().contains("/m:CreateItem/m:Items"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:CreateItem SendMeetingInvitations="SendToEveryone"><m:Items><t:AcceptItem><t:ReferenceItemId Id="a"/></t:AcceptItem></m:Items></m:CreateItem>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("/m:CreateItem/@SendMeetingInvitations"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:CreateItem><m:Items><t:DeclineItem><t:ProposedStart>soon</t:ProposedStart></t:DeclineItem></m:Items></m:CreateItem>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("/m:CreateItem/m:Items/t:DeclineItem/t:ProposedStart"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:CreateItem><m:Items><t:CancelCalendarItem><t:ReferenceItemId/></t:CancelCalendarItem></m:Items></m:CreateItem>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("missing attribute Id at"), "{e}");
        assert!(e.to_string().contains("t:CancelCalendarItem/t:ReferenceItemId"), "{e}");
    }
}
