//! `UpdateItem`: property-level changes to existing items (`t:ItemChange` with
//! `t:SetItemField`, `t:AppendToItemField`, `t:DeleteItemField`).

use crate::error::{Error, Result};
use crate::ids::{BaseItemId, FolderId};
use crate::items::{Attendee, Body, CalendarItem, ExtendedProperty, Item, LegacyFreeBusy, Sensitivity};
use crate::response::{ResponseStatus, read_messages, write_messages};
use crate::shape::{ExtendedFieldUri, PropertyPath};
use crate::values::DateTime;
use crate::xml::{Element, FromXml, Name, ToXml, Writer, m, t};
use crate::xml_enum;

use super::create_item::MessageDisposition;
use super::get_item::{read_response_items, write_response_items};

xml_enum! {
    /// `@ConflictResolution` (`t:ConflictResolutionType`). `NeverOverwrite`: the update fails on a
    /// conflict (`ErrorIrresolvableConflict`: fetch the current ChangeKey and retry);
    /// `AutoResolve`: the server resolves it (Exchange's default); `AlwaysOverwrite`.
    pub enum ConflictResolution { NeverOverwrite, AutoResolve, AlwaysOverwrite }
}

xml_enum! {
    /// `@SendMeetingInvitationsOrCancellations` (`t:CalendarItemUpdateOperationType`). Required
    /// by Exchange when updating calendar items.
    pub enum CalendarItemUpdateOperation {
        SendToNone, SendOnlyToAll, SendOnlyToChanged, SendToAllAndSaveCopy, SendToChangedAndSaveCopy,
    }
}

/// One change of an `t:ItemChange` (`t:NonEmptyArrayOfItemChangeDescriptionsType`). Exchange
/// changes one property per entry: the path names it and the item carries its new value (only
/// that property set).
#[derive(Debug, Clone, PartialEq)]
pub enum ItemUpdate {
    /// `t:AppendToItemField`: appends to a text or list property (e.g. `item:Body`,
    /// `calendar:RequiredAttendees`).
    AppendToItemField { path: PropertyPath, item: Item },
    /// `t:SetItemField`: replaces the property.
    SetItemField { path: PropertyPath, item: Item },
    /// `t:DeleteItemField`: removes the property.
    DeleteItemField { path: PropertyPath },
}

impl ItemUpdate {
    /// `t:SetItemField`.
    pub fn set(path: PropertyPath, item: impl Into<Item>) -> Self {
        ItemUpdate::SetItemField { path, item: item.into() }
    }

    /// `t:AppendToItemField`.
    pub fn append(path: PropertyPath, item: impl Into<Item>) -> Self {
        ItemUpdate::AppendToItemField { path, item: item.into() }
    }

    /// `t:DeleteItemField`.
    pub fn delete(path: PropertyPath) -> Self {
        ItemUpdate::DeleteItemField { path }
    }

    /// Sets one calendar property: `uri` is its field URI (`calendar:Start`, `item:Subject`, …)
    /// and `fill` sets the same property on an otherwise empty calendar item.
    ///
    /// ```
    /// # use ews_proto::ops::ItemUpdate;
    /// let u = ItemUpdate::set_calendar("calendar:Location", |c| c.location = Some("Room 2".into()));
    /// ```
    pub fn set_calendar(uri: &str, fill: impl FnOnce(&mut CalendarItem)) -> Self {
        let mut item = CalendarItem::default();
        fill(&mut item);
        ItemUpdate::set(PropertyPath::field(uri), Item::Calendar(item))
    }

    /// `item:Subject` of a calendar item.
    pub fn calendar_subject(subject: impl Into<String>) -> Self {
        let subject = subject.into();
        Self::set_calendar("item:Subject", |c| c.item.subject = Some(subject))
    }

    /// `item:Body` of a calendar item.
    pub fn calendar_body(body: Body) -> Self {
        Self::set_calendar("item:Body", |c| c.item.body = Some(body))
    }

    /// `item:Sensitivity` of a calendar item.
    pub fn calendar_sensitivity(sensitivity: Sensitivity) -> Self {
        Self::set_calendar("item:Sensitivity", |c| c.item.sensitivity = Some(sensitivity))
    }

    /// `calendar:Start`.
    pub fn calendar_start(start: DateTime) -> Self {
        Self::set_calendar("calendar:Start", |c| c.start = Some(start))
    }

    /// `calendar:End`.
    pub fn calendar_end(end: DateTime) -> Self {
        Self::set_calendar("calendar:End", |c| c.end = Some(end))
    }

    /// `calendar:Location`.
    pub fn calendar_location(location: impl Into<String>) -> Self {
        let location = location.into();
        Self::set_calendar("calendar:Location", |c| c.location = Some(location))
    }

    /// `calendar:IsAllDayEvent`.
    pub fn calendar_is_all_day_event(all_day: bool) -> Self {
        Self::set_calendar("calendar:IsAllDayEvent", |c| c.is_all_day_event = Some(all_day))
    }

    /// `calendar:LegacyFreeBusyStatus`.
    pub fn calendar_free_busy(status: LegacyFreeBusy) -> Self {
        Self::set_calendar("calendar:LegacyFreeBusyStatus", |c| c.legacy_free_busy_status = Some(status))
    }

    /// `calendar:RequiredAttendees`: replaces the list; an empty list (which XML cannot carry)
    /// becomes a `t:DeleteItemField`.
    pub fn calendar_required_attendees(attendees: Vec<Attendee>) -> Self {
        if attendees.is_empty() {
            return Self::delete(PropertyPath::field("calendar:RequiredAttendees"));
        }
        Self::set_calendar("calendar:RequiredAttendees", |c| c.required_attendees = Some(attendees))
    }

    /// `calendar:OptionalAttendees`: replaces the list; an empty list becomes a
    /// `t:DeleteItemField`.
    pub fn calendar_optional_attendees(attendees: Vec<Attendee>) -> Self {
        if attendees.is_empty() {
            return Self::delete(PropertyPath::field("calendar:OptionalAttendees"));
        }
        Self::set_calendar("calendar:OptionalAttendees", |c| c.optional_attendees = Some(attendees))
    }

    /// Sets an extended property (path `t:ExtendedFieldURI`) on a calendar item.
    pub fn set_extended_property(property: ExtendedProperty) -> Self {
        let path = PropertyPath::Extended(property.field.clone());
        let mut item = CalendarItem::default();
        item.item.extended_properties.push(property);
        ItemUpdate::set(path, Item::Calendar(item))
    }

    /// Deletes an extended property.
    pub fn delete_extended_property(field: ExtendedFieldUri) -> Self {
        ItemUpdate::delete(PropertyPath::Extended(field))
    }

    /// The property changed.
    pub fn path(&self) -> &PropertyPath {
        match self {
            ItemUpdate::AppendToItemField { path, .. }
            | ItemUpdate::SetItemField { path, .. }
            | ItemUpdate::DeleteItemField { path } => path,
        }
    }

    /// The item carrying the new value (none for a deletion).
    pub fn item(&self) -> Option<&Item> {
        match self {
            ItemUpdate::AppendToItemField { item, .. } | ItemUpdate::SetItemField { item, .. } => Some(item),
            ItemUpdate::DeleteItemField { .. } => None,
        }
    }

    fn element_name(&self) -> &'static str {
        match self {
            ItemUpdate::AppendToItemField { .. } => "AppendToItemField",
            ItemUpdate::SetItemField { .. } => "SetItemField",
            ItemUpdate::DeleteItemField { .. } => "DeleteItemField",
        }
    }

    /// Reads a change description; `None` if `el` is not one.
    pub fn read(el: &Element) -> Option<Result<Self>> {
        let kind = ["AppendToItemField", "SetItemField", "DeleteItemField"].into_iter().find(|n| el.is(t(n)))?;
        Some((|| {
            let path = PropertyPath::read_first(el)?;
            if kind == "DeleteItemField" {
                return Ok(ItemUpdate::DeleteItemField { path });
            }
            let item = el
                .children
                .iter()
                .find_map(Item::read)
                .unwrap_or_else(|| Err(Error::missing("an item element (t:CalendarItem, t:Task, t:Message, …)")))
                .map_err(|e| e.at(el))?;
            Ok(if kind == "SetItemField" {
                ItemUpdate::SetItemField { path, item }
            } else {
                ItemUpdate::AppendToItemField { path, item }
            })
        })())
    }

    /// Writes the change description with its own element name.
    pub fn write(&self, w: &mut Writer) {
        w.start(t(self.element_name()));
        self.path().write(w);
        if let Some(item) = self.item() {
            item.write(w);
        }
        w.end();
    }
}

/// `t:ItemChange`: the changes to one item. `t:CalendarActivityData` (Exchange-internal) is not
/// modelled and skipped on reading.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemChange {
    /// `t:ItemId` (with a ChangeKey for conflict detection), `t:OccurrenceItemId` (changes one
    /// occurrence, turning it into an exception) or `t:RecurringMasterItemId`.
    pub item_id: BaseItemId,
    /// `t:Updates` (at least one).
    pub updates: Vec<ItemUpdate>,
}

impl ItemChange {
    pub fn new(item_id: impl Into<BaseItemId>, updates: Vec<ItemUpdate>) -> Self {
        ItemChange { item_id: item_id.into(), updates }
    }

    /// Adds an update.
    pub fn with(mut self, update: ItemUpdate) -> Self {
        self.updates.push(update);
        self
    }

    /// Sets one calendar property (see [`ItemUpdate::set_calendar`]).
    pub fn set_calendar_field(item_id: impl Into<BaseItemId>, uri: &str, fill: impl FnOnce(&mut CalendarItem)) -> Self {
        ItemChange::new(item_id, vec![ItemUpdate::set_calendar(uri, fill)])
    }

    /// Sets one extended property of a calendar item.
    pub fn set_extended_property(item_id: impl Into<BaseItemId>, property: ExtendedProperty) -> Self {
        ItemChange::new(item_id, vec![ItemUpdate::set_extended_property(property)])
    }
}

impl FromXml for ItemChange {
    fn from_xml(el: &Element) -> Result<Self> {
        let item_id = el
            .children
            .iter()
            .find_map(BaseItemId::read)
            .unwrap_or_else(|| Err(Error::missing("t:ItemId, t:OccurrenceItemId or t:RecurringMasterItemId")))
            .map_err(|e| e.at(el))?;
        let updates_el = el.req(t("Updates"))?;
        let updates = updates_el
            .children
            .iter()
            .filter_map(ItemUpdate::read)
            .collect::<Result<Vec<_>>>()
            .map_err(|e| e.at(updates_el).at(el))?;
        if updates.is_empty() {
            return Err(Error::missing("t:SetItemField, t:AppendToItemField or t:DeleteItemField")
                .at(updates_el)
                .at(el));
        }
        Ok(ItemChange { item_id, updates })
    }
}

impl ToXml for ItemChange {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        self.item_id.write(w);
        w.start(t("Updates"));
        for u in &self.updates {
            u.write(w);
        }
        w.end().end();
    }
}

/// `m:UpdateItem`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateItem {
    pub conflict_resolution: ConflictResolution,
    pub message_disposition: Option<MessageDisposition>,
    /// Required by Exchange when a change touches a calendar item.
    pub send_meeting_invitations_or_cancellations: Option<CalendarItemUpdateOperation>,
    pub suppress_read_receipts: Option<bool>,
    /// `m:SavedItemFolderId`: where a sent message-like item is saved.
    pub saved_item_folder_id: Option<FolderId>,
    /// `m:ItemChanges` (at least one).
    pub item_changes: Vec<ItemChange>,
}

impl UpdateItem {
    /// Updates calendar items, failing on conflicts unless `conflict` says otherwise, and
    /// notifying attendees as `send` says.
    pub fn new(changes: Vec<ItemChange>, conflict: ConflictResolution, send: CalendarItemUpdateOperation) -> Self {
        UpdateItem {
            conflict_resolution: conflict,
            message_disposition: None,
            send_meeting_invitations_or_cancellations: Some(send),
            suppress_read_receipts: None,
            saved_item_folder_id: None,
            item_changes: changes,
        }
    }
}

impl FromXml for UpdateItem {
    fn from_xml(el: &Element) -> Result<Self> {
        let conflict_resolution = el.req_attr_as("ConflictResolution")?;
        let message_disposition = el.attr_as("MessageDisposition")?;
        let send_meeting_invitations_or_cancellations = el.attr_as("SendMeetingInvitationsOrCancellations")?;
        let suppress_read_receipts = el.attr_as("SuppressReadReceipts")?;
        let saved_item_folder_id = el.get(m("SavedItemFolderId"))?;
        let changes = el.req(m("ItemChanges"))?;
        let item_changes: Vec<ItemChange> = changes.get_all(t("ItemChange")).map_err(|e| e.at(el))?;
        if item_changes.is_empty() {
            return Err(Error::missing("element t:ItemChange").at(changes).at(el));
        }
        Ok(UpdateItem {
            conflict_resolution,
            message_disposition,
            send_meeting_invitations_or_cancellations,
            suppress_read_receipts,
            saved_item_folder_id,
            item_changes,
        })
    }
}

impl ToXml for UpdateItem {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .attr_val("ConflictResolution", &self.conflict_resolution)
            .attr_opt("MessageDisposition", &self.message_disposition)
            .attr_opt("SendMeetingInvitationsOrCancellations", &self.send_meeting_invitations_or_cancellations)
            .attr_opt("SuppressReadReceipts", &self.suppress_read_receipts)
            .child_opt(m("SavedItemFolderId"), &self.saved_item_folder_id)
            .list(m("ItemChanges"), t("ItemChange"), &self.item_changes)
            .end();
    }
}

/// `m:UpdateItemResponseMessage`: the updated item ids (with their new ChangeKeys).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateItemResponseMessage {
    pub status: ResponseStatus,
    /// `m:Items`.
    pub items: Vec<Item>,
    /// `m:ConflictResults/t:Count`: how many properties conflicted (with `AutoResolve`).
    pub conflict_results: Option<i32>,
}

impl UpdateItemResponseMessage {
    /// A success carrying the updated items and `ConflictResults` 0.
    pub fn success(items: Vec<Item>) -> Self {
        UpdateItemResponseMessage { status: ResponseStatus::success(), items, conflict_results: Some(0) }
    }

    /// An error with no items.
    pub fn error(status: ResponseStatus) -> Self {
        UpdateItemResponseMessage { status, items: Vec::new(), conflict_results: None }
    }
}

impl FromXml for UpdateItemResponseMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        let status = ResponseStatus::read(el)?;
        let items = read_response_items(el, &status)?;
        let conflict_results = match el.child(m("ConflictResults")) {
            Some(c) => Some(c.get_text_req(t("Count")).map_err(|e| e.at(el))?),
            None => None,
        };
        Ok(UpdateItemResponseMessage { status, items, conflict_results })
    }
}

impl ToXml for UpdateItemResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        self.status.write_start(w, name);
        write_response_items(w, &self.items);
        if let Some(count) = &self.conflict_results {
            w.start(m("ConflictResults")).leaf_val(t("Count"), count).end();
        }
        w.end();
    }
}

/// `m:UpdateItemResponse`: one message per `t:ItemChange`, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateItemResponse {
    pub messages: Vec<UpdateItemResponseMessage>,
}

impl FromXml for UpdateItemResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(UpdateItemResponse { messages: read_messages(el, "UpdateItemResponseMessage")? })
    }
}

impl ToXml for UpdateItemResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "UpdateItemResponseMessage", &self.messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EmailAddress, ItemId, OccurrenceItemId};
    use crate::items::{BodyType, ExtendedValue, ItemFields, OtherItem};
    use crate::ops::testing::{body, round_trip, sample};
    use crate::response_code::ResponseCode;
    use crate::soap::{Body as SoapBody, Envelope, ExchangeVersion, Header};
    use crate::xml::XmlText;

    fn update(env: &Envelope) -> &UpdateItem {
        match &env.body {
            SoapBody::UpdateItem(u) => u,
            other => panic!("not an UpdateItem: {}", other.element_name()),
        }
    }

    fn response(env: &Envelope) -> &UpdateItemResponse {
        match &env.body {
            SoapBody::UpdateItemResponse(u) => u,
            other => panic!("not an UpdateItemResponse: {}", other.element_name()),
        }
    }

    fn calendar(u: &ItemUpdate) -> &CalendarItem {
        match u.item() {
            Some(Item::Calendar(c)) => c,
            other => panic!("not a calendar item: {other:?}"),
        }
    }

    fn dt(s: &str) -> DateTime {
        DateTime::from_text(s).unwrap()
    }

    /// Schema-valid samples (`UpdateItem-Appointment.response.xml` has a broken namespace URI).
    const SAMPLES: &[&str] = &[
        "UpdateItem-AppendToItemField.request.xml",
        "UpdateItem-Appointment.request.xml",
        "UpdateItem-DeleteItemField.request.xml",
        "UpdateItem-Meeting-SendToAllAndSaveCopy.request.xml",
        "UpdateItem-Meeting-SendToAllAndSaveCopy.response.xml",
        "UpdateItem-SetItemField.request.xml",
        "UpdateItem-StartEndTimeZone-WithStartEnd.request.xml",
        "UpdateItem-StartEndTimeZone.request.xml",
        "UpdateItem.response.xml",
    ];

    #[test]
    fn parses_request_samples() {
        let env = sample("UpdateItem-SetItemField.request.xml");
        let u = update(&env);
        assert_eq!(u.conflict_resolution, ConflictResolution::AutoResolve);
        assert_eq!(u.message_disposition, Some(MessageDisposition::SaveOnly));
        assert_eq!(u.send_meeting_invitations_or_cancellations, None);
        let change = &u.item_changes[0];
        assert_eq!(change.item_id, BaseItemId::Item(ItemId::new("AAAtAEFkb...", Some("CQAAABYAAAB..."))));
        let ItemUpdate::SetItemField { path, item } = &change.updates[0] else { panic!("not a SetItemField") };
        assert_eq!(path, &PropertyPath::field("item:Sensitivity"));
        assert_eq!(item.fields().sensitivity, Some(Sensitivity::Normal));

        let env = sample("UpdateItem-AppendToItemField.request.xml");
        let ItemUpdate::AppendToItemField { path, item } = &update(&env).item_changes[0].updates[0] else {
            panic!("not an AppendToItemField")
        };
        assert_eq!(path, &PropertyPath::field("item:Body"));
        let body = item.fields().body.as_ref().unwrap();
        assert_eq!((body.body_type, body.content.as_str()), (BodyType::Text, "Some additional text to append"));

        let env = sample("UpdateItem-DeleteItemField.request.xml");
        assert_eq!(update(&env).item_changes[0].updates, vec![ItemUpdate::delete(PropertyPath::field("item:Body"))]);

        let env = sample("UpdateItem-Meeting-SendToAllAndSaveCopy.request.xml");
        let u = update(&env);
        assert_eq!(u.conflict_resolution, ConflictResolution::AlwaysOverwrite);
        assert_eq!(
            u.send_meeting_invitations_or_cancellations,
            Some(CalendarItemUpdateOperation::SendToAllAndSaveCopy)
        );
        let updates = &u.item_changes[0].updates;
        assert_eq!(updates.len(), 4);
        assert_eq!(calendar(&updates[0]).item.subject.as_deref(), Some("Team building exercise has moved!"));
        assert_eq!(calendar(&updates[1]).location.as_deref(), Some("4567 Contoso Way, Redmond, OH 33333, USA"));
        assert_eq!(calendar(&updates[2]).required_attendees.as_ref().map(Vec::len), Some(3));
        assert_eq!(calendar(&updates[3]).resources.as_ref().map(Vec::len), Some(1));

        let env = sample("UpdateItem-StartEndTimeZone-WithStartEnd.request.xml");
        let u = update(&env);
        assert_eq!(u.message_disposition, None);
        let updates = &u.item_changes[0].updates;
        assert_eq!(updates[0].path(), &PropertyPath::field("calendar:StartTimeZone"));
        assert_eq!(
            calendar(&updates[0]).start_time_zone.as_ref().and_then(|z| z.id.as_deref()),
            Some("Central Standard Time")
        );
        assert_eq!(calendar(&updates[2]).start, Some(dt("2014-06-20T17:00:00.000Z")));
        assert_eq!(updates[3], ItemUpdate::calendar_end(dt("2014-06-20T18:00:00.000Z")));
    }

    #[test]
    fn parses_response_samples() {
        let env = sample("UpdateItem-Meeting-SendToAllAndSaveCopy.response.xml");
        let msg = &response(&env).messages[0];
        assert!(msg.status.is_success());
        assert_eq!(msg.conflict_results, Some(0));
        assert_eq!(msg.items[0].item_id(), Some(&ItemId::new("AAMkA", Some("DwAAA"))));

        let env = sample("UpdateItem.response.xml");
        let msg = &response(&env).messages[0];
        assert_eq!(msg.conflict_results, None);
        assert_eq!(msg.items.len(), 1);
        assert!(matches!(&msg.items[0], Item::Other(o) if o.kind == "Message"));

        // The broken sample: its `t:` prefix is bound to a wrong URI, so the items are not in
        // the types namespace and are refused.
        let bytes = std::fs::read(ews_schema_check::samples_dir().join("UpdateItem-Appointment.response.xml")).unwrap();
        assert!(Envelope::parse(&bytes).is_err());
    }

    #[test]
    fn serializes_valid_documents_and_round_trips() {
        let mut docs = Vec::new();
        for name in SAMPLES {
            docs.push(round_trip(name, &sample(name)));
        }
        let header = Header { request_server_version: Some(ExchangeVersion::Exchange2016), ..Header::default() };
        let id = ItemId::new("AAMkA", Some("DwAAA"));
        let prop = ExtendedProperty {
            field: ExtendedFieldUri::public_string("exbridge-id"),
            value: ExtendedValue::Single("evt-42".into()),
        };
        let change = ItemChange::new(
            id.clone(),
            vec![
                ItemUpdate::calendar_subject("Moved"),
                ItemUpdate::calendar_body(Body::html("<b>moved</b>")),
                ItemUpdate::calendar_sensitivity(Sensitivity::Private),
                ItemUpdate::calendar_start(dt("2025-03-10T09:00:00Z")),
                ItemUpdate::calendar_end(dt("2025-03-10T10:00:00Z")),
                ItemUpdate::calendar_location("Room 2"),
                ItemUpdate::calendar_is_all_day_event(false),
                ItemUpdate::calendar_free_busy(LegacyFreeBusy::Oof),
                ItemUpdate::calendar_required_attendees(vec![Attendee {
                    mailbox: EmailAddress::smtp("a@contoso.test", None),
                    ..Attendee::default()
                }]),
                ItemUpdate::calendar_optional_attendees(vec![]),
                ItemUpdate::set_extended_property(prop.clone()),
                ItemUpdate::delete_extended_property(ExtendedFieldUri::public_string("old")),
                ItemUpdate::append(
                    PropertyPath::field("item:Body"),
                    Item::Other(OtherItem {
                        kind: "Message".into(),
                        fields: ItemFields { body: Some(Body::text("more")), ..ItemFields::default() },
                        ..OtherItem::default()
                    }),
                ),
            ],
        );
        let occurrence = ItemChange::set_calendar_field(
            BaseItemId::Occurrence(OccurrenceItemId {
                recurring_master_id: "AAMkM".into(),
                change_key: None,
                instance_index: 3,
            }),
            "calendar:Start",
            |c| c.start = Some(dt("2025-03-17T09:00:00Z")),
        )
        .with(ItemUpdate::calendar_end(dt("2025-03-17T10:00:00Z")));
        assert_eq!(
            change.updates[9],
            ItemUpdate::delete(PropertyPath::field("calendar:OptionalAttendees")),
            "an empty attendee list is a deletion"
        );
        let ext = ItemChange::set_extended_property(id.clone(), prop);
        let mut req = UpdateItem::new(
            vec![change, occurrence, ext],
            ConflictResolution::NeverOverwrite,
            CalendarItemUpdateOperation::SendToChangedAndSaveCopy,
        );
        req.message_disposition = Some(MessageDisposition::SaveOnly);
        req.suppress_read_receipts = Some(true);
        req.saved_item_folder_id = Some(FolderId::calendar());
        docs.push(round_trip("constructed request", &Envelope::new(header, req)));
        let resp = UpdateItemResponse {
            messages: vec![
                UpdateItemResponseMessage::success(vec![Item::Calendar(CalendarItem {
                    item: ItemFields { item_id: Some(ItemId::new("AAMkA", Some("DwAAB"))), ..ItemFields::default() },
                    ..CalendarItem::default()
                })]),
                UpdateItemResponseMessage::error(ResponseStatus::error(
                    ResponseCode::ErrorIrresolvableConflict,
                    "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
                )),
            ],
        };
        docs.push(round_trip("constructed response", &Envelope::new(Header::default(), resp)));
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        let e = Envelope::parse(&body(r#"<m:UpdateItem><m:ItemChanges><t:ItemChange><t:ItemId Id="a"/><t:Updates><t:DeleteItemField><t:FieldURI FieldURI="item:Body"/></t:DeleteItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#)).unwrap_err();
        assert!(
            e.to_string().contains("missing attribute ConflictResolution at /soap:Envelope/soap:Body/m:UpdateItem"),
            "{e}"
        );
        let e = Envelope::parse(&body(r#"<m:UpdateItem ConflictResolution="AutoResolve"><m:ItemChanges><t:ItemChange><t:ItemId Id="a"/><t:Updates/></t:ItemChange></m:ItemChanges></m:UpdateItem>"#)).unwrap_err();
        assert!(e.to_string().contains("/m:UpdateItem/m:ItemChanges/t:ItemChange/t:Updates"), "{e}");
        let e = Envelope::parse(&body(r#"<m:UpdateItem ConflictResolution="AutoResolve"><m:ItemChanges><t:ItemChange><t:Updates><t:DeleteItemField><t:FieldURI FieldURI="item:Body"/></t:DeleteItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#)).unwrap_err();
        assert!(e.to_string().contains("missing t:ItemId, t:OccurrenceItemId or t:RecurringMasterItemId at /soap:Envelope/soap:Body/m:UpdateItem/m:ItemChanges/t:ItemChange"), "{e}");
        let e = Envelope::parse(&body(r#"<m:UpdateItem ConflictResolution="AutoResolve"><m:ItemChanges><t:ItemChange><t:ItemId Id="a"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Subject"/></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#)).unwrap_err();
        assert!(e.to_string().contains("missing an item element"), "{e}");
        assert!(e.to_string().contains("/t:Updates/t:SetItemField"), "{e}");
        let e =
            Envelope::parse(&body(r#"<m:UpdateItem ConflictResolution="Sometimes"><m:ItemChanges/></m:UpdateItem>"#))
                .unwrap_err();
        assert!(
            e.to_string().contains("Sometimes") && e.to_string().contains("/m:UpdateItem/@ConflictResolution"),
            "{e}"
        );
        let e = Envelope::parse(&body(r#"<m:UpdateItemResponse><m:ResponseMessages><m:UpdateItemResponseMessage ResponseClass="Success"><m:Items/><m:ConflictResults><t:Count>many</t:Count></m:ConflictResults></m:UpdateItemResponseMessage></m:ResponseMessages></m:UpdateItemResponse>"#)).unwrap_err();
        assert!(e.to_string().contains("/m:UpdateItemResponseMessage/m:ConflictResults/t:Count"), "{e}");
    }
}
