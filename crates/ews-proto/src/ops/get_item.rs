//! `GetItem`: items by id, with the properties an `m:ItemShape` asks for; and the
//! `m:ItemInfoResponseMessageType` that `GetItem` and `CreateItem` answer with.

use crate::error::{Error, Result};
use crate::ids::BaseItemId;
use crate::items::Item;
use crate::response::{ResponseClass, ResponseStatus, read_messages, write_messages};
use crate::shape::ItemShape;
use crate::xml::{Element, FromXml, Name, ToXml, Writer, m};

/// Items per `GetItem` request that Microsoft advises for synchronisation workloads (about 10;
/// DIGEST §1 and §4). The schema has no upper bound; each item gets its own response message.
pub const GET_ITEM_BATCH_SIZE: usize = 10;

/// `m:GetItem`.
#[derive(Debug, Clone, PartialEq)]
pub struct GetItem {
    pub item_shape: ItemShape,
    /// `m:ItemIds` (at least one). `t:RecurringMasterItemIdRanges` is not modelled: it is
    /// skipped on reading.
    pub item_ids: Vec<BaseItemId>,
}

impl GetItem {
    /// Fetches the given items with `shape`.
    pub fn new<I: Into<BaseItemId>>(ids: impl IntoIterator<Item = I>, shape: ItemShape) -> Self {
        GetItem { item_shape: shape, item_ids: ids.into_iter().map(Into::into).collect() }
    }

    /// One request per [`GET_ITEM_BATCH_SIZE`] ids (none for no ids).
    pub fn batches<I: Into<BaseItemId>>(ids: impl IntoIterator<Item = I>, shape: &ItemShape) -> Vec<GetItem> {
        let ids: Vec<BaseItemId> = ids.into_iter().map(Into::into).collect();
        ids.chunks(GET_ITEM_BATCH_SIZE).map(|c| GetItem::new(c.iter().cloned(), shape.clone())).collect()
    }
}

impl FromXml for GetItem {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(GetItem {
            item_shape: el.get_req(m("ItemShape"))?,
            item_ids: read_item_ids(el.req(m("ItemIds"))?).map_err(|e| e.at(el))?,
        })
    }
}

impl ToXml for GetItem {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).child(m("ItemShape"), &self.item_shape);
        write_item_ids(w, m("ItemIds"), &self.item_ids);
        w.end();
    }
}

/// Reads a `t:NonEmptyArrayOfBaseItemIdsType` wrapper: item ids in order, other children
/// (`t:RecurringMasterItemIdRanges`) skipped; at least one id.
pub(crate) fn read_item_ids(el: &Element) -> Result<Vec<BaseItemId>> {
    let ids = el.children.iter().filter_map(BaseItemId::read).collect::<Result<Vec<_>>>().map_err(|e| e.at(el))?;
    if ids.is_empty() {
        return Err(Error::missing("t:ItemId, t:OccurrenceItemId or t:RecurringMasterItemId").at(el));
    }
    Ok(ids)
}

/// Writes item ids inside a wrapper element.
pub(crate) fn write_item_ids(w: &mut Writer, name: Name<'_>, ids: &[BaseItemId]) {
    w.start(name);
    for id in ids {
        id.write(w);
    }
    w.end();
}

/// Reads the required `m:Items` of an item-carrying response message. Exchange always sends
/// it (empty on errors); a missing `m:Items` is accepted as empty only when the message is not
/// a success.
pub(crate) fn read_response_items(el: &Element, status: &ResponseStatus) -> Result<Vec<Item>> {
    match el.child(m("Items")) {
        Some(items) => Item::read_all(items).map_err(|e| e.at(el)),
        None if status.class != ResponseClass::Success => Ok(Vec::new()),
        None => Err(Error::missing("element m:Items").at(el)),
    }
}

/// Writes `m:Items` (always, as the schema requires it).
pub(crate) fn write_response_items(w: &mut Writer, items: &[Item]) {
    w.start(m("Items"));
    for item in items {
        item.write(w);
    }
    w.end();
}

/// `m:ItemInfoResponseMessageType`: a status and the items (`m:Items`), used by
/// `GetItemResponseMessage` and `CreateItemResponseMessage`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ItemInfoResponseMessage {
    pub status: ResponseStatus,
    /// `m:Items`: on success the item(s) asked for or created (for `CreateItem` with a response
    /// object or a sent item, often none); empty on errors.
    pub items: Vec<Item>,
}

impl ItemInfoResponseMessage {
    /// A success carrying the items.
    pub fn success(items: Vec<Item>) -> Self {
        ItemInfoResponseMessage { status: ResponseStatus::success(), items }
    }

    /// An error with no items.
    pub fn error(status: ResponseStatus) -> Self {
        ItemInfoResponseMessage { status, items: Vec::new() }
    }
}

impl FromXml for ItemInfoResponseMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        let status = ResponseStatus::read(el)?;
        let items = read_response_items(el, &status)?;
        Ok(ItemInfoResponseMessage { status, items })
    }
}

impl ToXml for ItemInfoResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        self.status.write_start(w, name);
        write_response_items(w, &self.items);
        w.end();
    }
}

/// `m:GetItemResponseMessage`.
pub type GetItemResponseMessage = ItemInfoResponseMessage;

/// `m:GetItemResponse`: one message per requested id, in request order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetItemResponse {
    pub messages: Vec<GetItemResponseMessage>,
}

impl GetItemResponse {
    /// Every item of every successful message, in order.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.messages.iter().flat_map(|msg| msg.items.iter())
    }
}

impl FromXml for GetItemResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(GetItemResponse { messages: read_messages(el, "GetItemResponseMessage")? })
    }
}

impl ToXml for GetItemResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "GetItemResponseMessage", &self.messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ItemId, OccurrenceItemId, RecurringMasterItemId};
    use crate::items::{CalendarItemType, ItemFields, OtherItem};
    use crate::ops::testing::{body, round_trip, sample};
    use crate::response_code::ResponseCode;
    use crate::shape::{BaseShape, BodyTypeResponse, PropertyPath};
    use crate::soap::{Body, Envelope, ExchangeVersion, Header};

    fn get_item(env: &Envelope) -> &GetItem {
        match &env.body {
            Body::GetItem(g) => g,
            other => panic!("not a GetItem: {}", other.element_name()),
        }
    }

    fn response(env: &Envelope) -> &GetItemResponse {
        match &env.body {
            Body::GetItemResponse(g) => g,
            other => panic!("not a GetItemResponse: {}", other.element_name()),
        }
    }

    const REQUESTS: &[&str] = &[
        "GetItem-CalendarItem-Batch-Attendees.request.xml",
        "GetItem-CalendarItem-IdOnly.request.xml",
        "GetItem-CalendarItem-Meeting.request.xml",
        "GetItem-CalendarItem-Recurrence.request.xml",
    ];

    const RESPONSES: &[&str] = &[
        "GetItem-CalendarItem-AllProperties.response.xml",
        "GetItem-CalendarItem-Batch-Attendees.response.xml",
        "GetItem-CalendarItem-Default.response.xml",
        "GetItem-CalendarItem-IdOnly.response.xml",
        "GetItem-CalendarItem-Meeting.response.xml",
        "GetItem-CalendarItem-Recurrence.response.xml",
        "GetItem-MeetingResponse-Exchange2016.response.xml",
    ];

    #[test]
    fn parses_request_samples() {
        let env = sample("GetItem-CalendarItem-Batch-Attendees.request.xml");
        let g = get_item(&env);
        assert_eq!(g.item_shape.base_shape, BaseShape::IdOnly);
        let props = g.item_shape.additional_properties.as_ref().unwrap();
        assert_eq!(props.len(), 8);
        assert_eq!(props[7], PropertyPath::field("calendar:RequiredAttendees"));
        assert_eq!(g.item_ids.len(), 3);
        assert_eq!(g.item_ids[0], BaseItemId::Item(ItemId::new("AAMkA", Some("DwAAA"))));
        assert!(env.header.time_zone_context.is_some());

        // Default namespace form (no prefix on the messages elements).
        let env = sample("GetItem-CalendarItem-IdOnly.request.xml");
        let g = get_item(&env);
        assert_eq!(g.item_ids, vec![BaseItemId::Item(ItemId::new("AsdD89=", Some("Jajs3==")))]);
        assert_eq!(g.item_shape.additional_properties, Some(vec![PropertyPath::field("item:Subject")]));

        let env = sample("GetItem-CalendarItem-Recurrence.request.xml");
        assert_eq!(get_item(&env).item_shape.additional_properties.as_ref().unwrap().len(), 7);
    }

    #[test]
    fn parses_response_samples() {
        for name in RESPONSES {
            let env = sample(name);
            let r = response(&env);
            assert!(!r.messages.is_empty(), "{name}");
            for msg in &r.messages {
                assert!(msg.status.is_success(), "{name}");
                assert_eq!(msg.items.len(), 1, "{name}: one item per message");
                assert!(msg.items[0].item_id().is_some(), "{name}: the item has its id");
            }
        }
        let env = sample("GetItem-CalendarItem-Batch-Attendees.response.xml");
        assert_eq!(response(&env).messages.len(), 3);
        assert_eq!(response(&env).items().count(), 3);

        let env = sample("GetItem-CalendarItem-Recurrence.response.xml");
        let item = response(&env).items().next().unwrap();
        let Item::Calendar(cal) = item else { panic!("not a calendar item") };
        assert_eq!(cal.calendar_item_type, Some(CalendarItemType::RecurringMaster));
        assert!(cal.recurrence.is_some());

        let env = sample("GetItem-MeetingResponse-Exchange2016.response.xml");
        let item = response(&env).items().next().unwrap();
        assert!(matches!(item, Item::Other(o) if o.kind == "MeetingResponse"));
    }

    #[test]
    fn batches_by_ten() {
        let ids: Vec<ItemId> = (0..23).map(|i| ItemId::new(format!("id{i}"), None)).collect();
        let batches = GetItem::batches(ids, &ItemShape::id_only());
        assert_eq!(batches.iter().map(|b| b.item_ids.len()).collect::<Vec<_>>(), vec![10, 10, 3]);
        assert!(GetItem::batches(Vec::<ItemId>::new(), &ItemShape::id_only()).is_empty());
    }

    #[test]
    fn serializes_valid_documents_and_round_trips() {
        let mut docs = Vec::new();
        for name in REQUESTS.iter().chain(RESPONSES) {
            docs.push(round_trip(name, &sample(name)));
        }
        let header = Header { request_server_version: Some(ExchangeVersion::Exchange2016), ..Header::default() };
        let mut shape = ItemShape::new(BaseShape::AllProperties).with_fields(&["calendar:UID"]);
        shape.body_type = Some(BodyTypeResponse::Text);
        shape.include_mime_content = Some(false);
        let req = GetItem::new(
            [
                BaseItemId::Item(ItemId::new("AAMkA", Some("DwAAA"))),
                BaseItemId::Occurrence(OccurrenceItemId {
                    recurring_master_id: "AAMkM".into(),
                    change_key: None,
                    instance_index: 1,
                }),
                BaseItemId::RecurringMaster(RecurringMasterItemId {
                    occurrence_id: "AAMkO".into(),
                    change_key: Some("Dw".into()),
                }),
            ],
            shape,
        );
        docs.push(round_trip("constructed request", &Envelope::new(header, req)));
        let resp = GetItemResponse {
            messages: vec![
                ItemInfoResponseMessage::success(vec![Item::Other(OtherItem {
                    kind: "Message".into(),
                    fields: ItemFields {
                        item_id: Some(ItemId::new("AAMkA", Some("CQ"))),
                        subject: Some("Hello".into()),
                        ..ItemFields::default()
                    },
                    ..OtherItem::default()
                })]),
                ItemInfoResponseMessage::error(ResponseStatus::error(
                    ResponseCode::ErrorItemNotFound,
                    "The specified object was not found in the store.",
                )),
            ],
        };
        docs.push(round_trip("constructed response", &Envelope::new(Header::default(), resp)));
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        let e = Envelope::parse(&body(
            r#"<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape></m:GetItem>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("missing element m:ItemIds at /soap:Envelope/soap:Body/m:GetItem"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds/></m:GetItem>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("/m:GetItem/m:ItemIds"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:GetItem><m:ItemShape><t:BaseShape>Everything</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="a"/></m:ItemIds></m:GetItem>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("/m:GetItem/m:ItemShape/t:BaseShape"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:GetItemResponse><m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("missing element m:Items at"), "{e}");
        assert!(e.to_string().contains("/m:GetItemResponseMessage"), "{e}");
        // An error message without m:Items is accepted (as empty).
        let env = Envelope::parse(&body(
            r#"<m:GetItemResponse><m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Error"><m:ResponseCode>ErrorItemNotFound</m:ResponseCode></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>"#,
        ))
        .unwrap();
        assert_eq!(response(&env).messages[0].status.code(), ResponseCode::ErrorItemNotFound);
    }
}
