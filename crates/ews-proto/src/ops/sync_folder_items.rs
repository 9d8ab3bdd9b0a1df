//! `SyncFolderItems`: the changes in one folder since a sync state.
//!
//! The first call has no `SyncState`; every response carries a new one, to keep after every
//! page. `IncludesLastItemInRange=false` means "call again at once". For calendars the changes
//! are recurring masters and single items, never expanded occurrences (DIGEST §4).

use crate::error::{Error, Result};
use crate::ids::{FolderId, ItemId, SyncState};
use crate::items::Item;
use crate::response::{ResponseStatus, read_messages, write_messages};
use crate::shape::ItemShape;
use crate::xml::{Element, FromXml, Name, ToXml, Writer, m, t};
use crate::xml_enum;

/// Smallest `m:MaxChangesReturned` (`t:MaxSyncChangesReturnedType`).
pub const MIN_CHANGES_RETURNED: i32 = 1;
/// Largest `m:MaxChangesReturned` (`t:MaxSyncChangesReturnedType`): Exchange returns at most 512
/// changes per call.
pub const MAX_CHANGES_RETURNED: i32 = 512;

xml_enum! {
    /// `m:SyncScope` (`t:SyncFolderItemsScopeType`): with or without folder-associated items.
    pub enum SyncFolderItemsScope { NormalItems, NormalAndAssociatedItems }
}

/// `m:SyncFolderItems`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncFolderItems {
    /// Use `IdOnly` and fetch changed items with `GetItem` in batches (DIGEST §4).
    pub item_shape: ItemShape,
    /// `m:SyncFolderId` (`t:AddressListId` is not supported).
    pub sync_folder_id: FolderId,
    /// Absent on the first call.
    pub sync_state: Option<SyncState>,
    /// `m:Ignore`: items whose changes are not reported (e.g. the connector's own writes).
    pub ignore: Option<Vec<ItemId>>,
    /// `m:MaxChangesReturned`, [`MIN_CHANGES_RETURNED`]`..=`[`MAX_CHANGES_RETURNED`].
    pub max_changes_returned: i32,
    pub sync_scope: Option<SyncFolderItemsScope>,
}

impl SyncFolderItems {
    /// Syncs `folder` from `state` (`None`: from the beginning), returning at most `max`
    /// changes (clamped to 1..=512), with an `IdOnly` shape and `NormalItems` scope.
    pub fn new(folder: FolderId, state: Option<SyncState>, max: i32) -> Self {
        SyncFolderItems {
            item_shape: ItemShape::id_only(),
            sync_folder_id: folder,
            sync_state: state,
            ignore: None,
            max_changes_returned: max.clamp(MIN_CHANGES_RETURNED, MAX_CHANGES_RETURNED),
            sync_scope: Some(SyncFolderItemsScope::NormalItems),
        }
    }

    /// Replaces the item shape.
    pub fn with_shape(mut self, shape: ItemShape) -> Self {
        self.item_shape = shape;
        self
    }

    /// Ignores changes to these items.
    pub fn with_ignore(mut self, ids: Vec<ItemId>) -> Self {
        self.ignore = Some(ids);
        self
    }
}

impl FromXml for SyncFolderItems {
    fn from_xml(el: &Element) -> Result<Self> {
        let max_el = el.req(m("MaxChangesReturned"))?;
        let max_changes_returned: i32 = max_el.value().map_err(|e| e.at(el))?;
        if !(MIN_CHANGES_RETURNED..=MAX_CHANGES_RETURNED).contains(&max_changes_returned) {
            return Err(Error::invalid(&max_el.text, "an integer in 1..=512").at(max_el).at(el));
        }
        Ok(SyncFolderItems {
            item_shape: el.get_req(m("ItemShape"))?,
            sync_folder_id: el.get_req(m("SyncFolderId"))?,
            sync_state: el.child(m("SyncState")).map(|s| SyncState::new(s.text.trim())),
            ignore: el.get_list(m("Ignore"), t("ItemId"))?,
            max_changes_returned,
            sync_scope: el.get_text(m("SyncScope"))?,
        })
    }
}

impl ToXml for SyncFolderItems {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .child(m("ItemShape"), &self.item_shape)
            .child(m("SyncFolderId"), &self.sync_folder_id)
            .leaf_opt(m("SyncState"), &self.sync_state)
            .list_opt(m("Ignore"), t("ItemId"), &self.ignore)
            .leaf_val(m("MaxChangesReturned"), &self.max_changes_returned)
            .leaf_opt(m("SyncScope"), &self.sync_scope)
            .end();
    }
}

/// One entry of `m:Changes`, in document order (since Exchange 2010 SP2, newest first).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum SyncChange {
    /// `t:Create`: a new item (only its id with an `IdOnly` shape).
    Create(Item),
    /// `t:Update`: a changed item. For calendars a change to an occurrence or exception shows
    /// up as an update of the recurring master.
    Update(Item),
    /// `t:Delete`: the item is gone (apply directly, no `GetItem`).
    Delete(ItemId),
    /// `t:ReadFlagChange`.
    ReadFlagChange { item_id: ItemId, is_read: bool },
}

impl SyncChange {
    /// The id of the item concerned (for `Create`/`Update`, if the item carries one).
    pub fn item_id(&self) -> Option<&ItemId> {
        match self {
            SyncChange::Create(item) | SyncChange::Update(item) => item.item_id(),
            SyncChange::Delete(id) | SyncChange::ReadFlagChange { item_id: id, .. } => Some(id),
        }
    }

    /// Reads a change element; `None` if `el` is not one.
    pub fn read(el: &Element) -> Option<Result<Self>> {
        let item = |el: &Element| {
            el.children
                .iter()
                .find_map(Item::read)
                .unwrap_or_else(|| Err(Error::missing("an item element (t:CalendarItem, t:Message, …)")))
                .map_err(|e| e.at(el))
        };
        if el.is(t("Create")) {
            Some(item(el).map(SyncChange::Create))
        } else if el.is(t("Update")) {
            Some(item(el).map(SyncChange::Update))
        } else if el.is(t("Delete")) {
            Some(el.get_req(t("ItemId")).map(SyncChange::Delete))
        } else if el.is(t("ReadFlagChange")) {
            Some((|| {
                Ok(SyncChange::ReadFlagChange {
                    item_id: el.get_req(t("ItemId"))?,
                    is_read: el.get_text_req(t("IsRead"))?,
                })
            })())
        } else {
            None
        }
    }

    /// Writes the change with its own element name.
    pub fn write(&self, w: &mut Writer) {
        match self {
            SyncChange::Create(item) => {
                w.start(t("Create"));
                item.write(w);
                w.end();
            }
            SyncChange::Update(item) => {
                w.start(t("Update"));
                item.write(w);
                w.end();
            }
            SyncChange::Delete(id) => {
                w.start(t("Delete")).child(t("ItemId"), id).end();
            }
            SyncChange::ReadFlagChange { item_id, is_read } => {
                w.start(t("ReadFlagChange")).child(t("ItemId"), item_id).leaf_val(t("IsRead"), is_read).end();
            }
        }
    }
}

/// `m:SyncFolderItemsResponseMessage`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncFolderItemsResponseMessage {
    pub status: ResponseStatus,
    /// The state to send next time (keep it after every page; empty on
    /// `ErrorInvalidSyncStateData`, which means: drop the state and resync from scratch).
    pub sync_state: Option<SyncState>,
    /// `false`: more changes are waiting, call again at once.
    pub includes_last_item_in_range: Option<bool>,
    /// `m:Changes` in document order (`None` when the element is absent).
    pub changes: Option<Vec<SyncChange>>,
}

impl SyncFolderItemsResponseMessage {
    /// The changes (empty when `m:Changes` is absent).
    pub fn changes(&self) -> &[SyncChange] {
        self.changes.as_deref().unwrap_or_default()
    }

    /// Whether the caller should call again at once (more changes are waiting).
    pub fn has_more(&self) -> bool {
        self.status.is_success() && self.includes_last_item_in_range == Some(false)
    }
}

impl FromXml for SyncFolderItemsResponseMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        let changes = match el.child(m("Changes")) {
            None => None,
            Some(c) => Some(
                c.children
                    .iter()
                    .filter_map(SyncChange::read)
                    .collect::<Result<Vec<_>>>()
                    .map_err(|e| e.at(c).at(el))?,
            ),
        };
        Ok(SyncFolderItemsResponseMessage {
            status: ResponseStatus::read(el)?,
            sync_state: el.child(m("SyncState")).map(|s| SyncState::new(s.text.trim())),
            includes_last_item_in_range: el.get_text(m("IncludesLastItemInRange"))?,
            changes,
        })
    }
}

impl ToXml for SyncFolderItemsResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        self.status.write_start(w, name);
        w.leaf_opt(m("SyncState"), &self.sync_state)
            .leaf_opt(m("IncludesLastItemInRange"), &self.includes_last_item_in_range);
        if let Some(changes) = &self.changes {
            w.start(m("Changes"));
            for c in changes {
                c.write(w);
            }
            w.end();
        }
        w.end();
    }
}

/// `m:SyncFolderItemsResponse`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncFolderItemsResponse {
    pub messages: Vec<SyncFolderItemsResponseMessage>,
}

impl FromXml for SyncFolderItemsResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(SyncFolderItemsResponse { messages: read_messages(el, "SyncFolderItemsResponseMessage")? })
    }
}

impl ToXml for SyncFolderItemsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "SyncFolderItemsResponseMessage", &self.messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DistinguishedFolderName;
    use crate::items::{CalendarItem, ItemFields, OtherItem};
    use crate::ops::testing::{body, round_trip, sample};
    use crate::response_code::ResponseCode;
    use crate::shape::BaseShape;
    use crate::soap::{Body, Envelope, ExchangeVersion, Header};

    fn request(env: &Envelope) -> &SyncFolderItems {
        match &env.body {
            Body::SyncFolderItems(s) => s,
            other => panic!("not a SyncFolderItems: {}", other.element_name()),
        }
    }

    fn message(env: &Envelope) -> &SyncFolderItemsResponseMessage {
        match &env.body {
            Body::SyncFolderItemsResponse(s) => &s.messages[0],
            other => panic!("not a SyncFolderItemsResponse: {}", other.element_name()),
        }
    }

    const SAMPLES: &[&str] = &[
        "SyncFolderItems-Error-InvalidSyncStateData.response.xml",
        "SyncFolderItems-Incremental-CreateUpdateDelete.response.xml",
        "SyncFolderItems-Incremental.request.xml",
        "SyncFolderItems-Initial.request.xml",
        "SyncFolderItems-Initial.response.xml",
        "SyncFolderItems.request.xml",
        "SyncFolderItems.response.xml",
    ];

    #[test]
    fn parses_request_samples() {
        let env = sample("SyncFolderItems-Initial.request.xml");
        let s = request(&env);
        assert_eq!(s.item_shape.base_shape, BaseShape::IdOnly);
        assert_eq!(s.sync_folder_id, FolderId::distinguished(DistinguishedFolderName::Inbox));
        assert_eq!(s.sync_state, None);
        assert_eq!(s.max_changes_returned, 10);
        assert_eq!(s.sync_scope, Some(SyncFolderItemsScope::NormalItems));

        let env = sample("SyncFolderItems-Incremental.request.xml");
        assert_eq!(request(&env).sync_state, Some(SyncState::new("H4sIAAA==")));

        let env = sample("SyncFolderItems.request.xml");
        let s = request(&env);
        assert_eq!(s.sync_folder_id, FolderId::distinguished(DistinguishedFolderName::SentItems));
        assert_eq!(s.ignore, Some(vec![ItemId::new("AQApAHRAA==", Some("CQAAABY"))]));
        assert_eq!(s.max_changes_returned, 100);
        assert_eq!(s.sync_scope, None);
    }

    #[test]
    fn parses_response_samples() {
        let env = sample("SyncFolderItems-Initial.response.xml");
        let msg = message(&env);
        assert_eq!(msg.sync_state, Some(SyncState::new("H4sIAAA==")));
        assert_eq!(msg.includes_last_item_in_range, Some(true));
        assert!(!msg.has_more());
        assert_eq!(msg.changes().len(), 5);
        assert!(msg.changes().iter().all(|c| matches!(c, SyncChange::Create(_))));
        assert_eq!(
            msg.changes()[0].item_id(),
            Some(&ItemId::new("q04QAAAA==", Some("CQAAABYAAABhFfgM7MNwSYx0VZ0GoBMJAAAATVdC")))
        );

        let env = sample("SyncFolderItems-Incremental-CreateUpdateDelete.response.xml");
        let changes = message(&env).changes();
        assert_eq!(changes.len(), 5);
        let SyncChange::Update(item) = &changes[0] else { panic!("first change is not an update") };
        assert_eq!(item.fields().subject.as_deref(), Some("RE: Company Soccer Team"));
        assert!(matches!(&changes[1], SyncChange::Create(_)));
        assert!(matches!(&changes[2], SyncChange::Create(_)));
        // Attribute values are trimmed (the sample has a leading space in these ids).
        assert_eq!(
            changes[3],
            SyncChange::ReadFlagChange { item_id: ItemId::new("q07AAAAA==", Some("CQAAAA==")), is_read: true }
        );
        assert_eq!(changes[4], SyncChange::Delete(ItemId::new("q1AwAAAA==", Some("CQAAAA=="))));

        let env = sample("SyncFolderItems.response.xml");
        let SyncChange::Create(item) = &message(&env).changes()[0] else { panic!("not a create") };
        assert!(matches!(item, Item::Other(o) if o.kind == "MeetingRequest"));
        assert_eq!(item.fields().subject.as_deref(), Some("Budget Q3"));

        let env = sample("SyncFolderItems-Error-InvalidSyncStateData.response.xml");
        let msg = message(&env);
        assert_eq!(msg.status.code(), ResponseCode::ErrorInvalidSyncStateData);
        assert_eq!(msg.sync_state, Some(SyncState::new("")));
        assert_eq!(msg.changes, None);
    }

    #[test]
    fn constructor_clamps_and_defaults() {
        let s = SyncFolderItems::new(FolderId::calendar(), None, 5000);
        assert_eq!(s.max_changes_returned, MAX_CHANGES_RETURNED);
        assert_eq!(SyncFolderItems::new(FolderId::calendar(), None, 0).max_changes_returned, 1);
        assert_eq!(s.item_shape, ItemShape::id_only());
    }

    #[test]
    fn serializes_valid_documents_and_round_trips() {
        let mut docs: Vec<_> = SAMPLES.iter().map(|name| round_trip(name, &sample(name))).collect();
        let header = Header { request_server_version: Some(ExchangeVersion::Exchange2016), ..Header::default() };
        let first = SyncFolderItems::new(FolderId::calendar(), None, 512);
        docs.push(round_trip("constructed initial request", &Envelope::new(header.clone(), first)));
        let next = SyncFolderItems::new(FolderId::calendar(), Some(SyncState::new("H4sI+/=")), 100)
            .with_shape(ItemShape::id_only().with_fields(&["calendar:UID"]))
            .with_ignore(vec![ItemId::new("mine", Some("ck"))]);
        docs.push(round_trip("constructed next request", &Envelope::new(header.clone(), next)));
        let mut empty_ignore = SyncFolderItems::new(FolderId::tasks(), None, 1);
        empty_ignore.ignore = Some(Vec::new());
        empty_ignore.sync_scope = Some(SyncFolderItemsScope::NormalAndAssociatedItems);
        docs.push(round_trip("constructed request with empty ignore", &Envelope::new(header, empty_ignore)));
        let with_id = |id: &str| ItemFields { item_id: Some(ItemId::new(id, Some("ck"))), ..ItemFields::default() };
        let resp = SyncFolderItemsResponse {
            messages: vec![SyncFolderItemsResponseMessage {
                status: ResponseStatus::success(),
                sync_state: Some(SyncState::new("H4sInext")),
                includes_last_item_in_range: Some(false),
                changes: Some(vec![
                    SyncChange::Create(Item::Calendar(CalendarItem { item: with_id("c1"), ..CalendarItem::default() })),
                    SyncChange::Update(Item::Other(OtherItem {
                        kind: "Message".into(),
                        fields: with_id("m1"),
                        ..OtherItem::default()
                    })),
                    SyncChange::Delete(ItemId::new("d1", None)),
                    SyncChange::ReadFlagChange { item_id: ItemId::new("r1", Some("ck")), is_read: false },
                ]),
            }],
        };
        assert!(resp.messages[0].has_more());
        docs.push(round_trip("constructed response", &Envelope::new(Header::default(), resp)));
        let empty = SyncFolderItemsResponse {
            messages: vec![SyncFolderItemsResponseMessage {
                status: ResponseStatus::success(),
                sync_state: Some(SyncState::new("s")),
                includes_last_item_in_range: Some(true),
                changes: Some(Vec::new()),
            }],
        };
        docs.push(round_trip("constructed empty response", &Envelope::new(Header::default(), empty)));
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        let shape = "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>";
        let folder = r#"<m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId>"#;
        let e = Envelope::parse(&body(&format!(
            "<m:SyncFolderItems>{shape}{folder}<m:MaxChangesReturned>513</m:MaxChangesReturned></m:SyncFolderItems>"
        )))
        .unwrap_err();
        assert!(e.to_string().contains("\"513\": expected an integer in 1..=512"), "{e}");
        assert!(e.to_string().contains("/m:SyncFolderItems/m:MaxChangesReturned"), "{e}");
        let e = Envelope::parse(&body(&format!("<m:SyncFolderItems>{shape}{folder}</m:SyncFolderItems>"))).unwrap_err();
        assert!(
            e.to_string()
                .contains("missing element m:MaxChangesReturned at /soap:Envelope/soap:Body/m:SyncFolderItems"),
            "{e}"
        );
        let e = Envelope::parse(&body(&format!(
            "<m:SyncFolderItems>{shape}<m:MaxChangesReturned>5</m:MaxChangesReturned></m:SyncFolderItems>"
        )))
        .unwrap_err();
        assert!(e.to_string().contains("missing element m:SyncFolderId"), "{e}");
        let e = Envelope::parse(&body(&format!(
            "<m:SyncFolderItems>{shape}{folder}<m:MaxChangesReturned>5</m:MaxChangesReturned><m:SyncScope>All</m:SyncScope></m:SyncFolderItems>"
        )))
        .unwrap_err();
        assert!(e.to_string().contains("/m:SyncFolderItems/m:SyncScope"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:SyncFolderItemsResponse><m:ResponseMessages><m:SyncFolderItemsResponseMessage ResponseClass="Success"><m:Changes><t:ReadFlagChange><t:ItemId Id="a"/><t:IsRead>maybe</t:IsRead></t:ReadFlagChange></m:Changes></m:SyncFolderItemsResponseMessage></m:ResponseMessages></m:SyncFolderItemsResponse>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("/m:SyncFolderItemsResponseMessage/m:Changes/t:ReadFlagChange/t:IsRead"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:SyncFolderItemsResponse><m:ResponseMessages><m:SyncFolderItemsResponseMessage ResponseClass="Success"><m:Changes><t:Create/></m:Changes></m:SyncFolderItemsResponseMessage></m:ResponseMessages></m:SyncFolderItemsResponse>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("missing an item element"), "{e}");
        assert!(e.to_string().contains("/m:Changes/t:Create"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:SyncFolderItemsResponse><m:ResponseMessages><m:SyncFolderItemsResponseMessage ResponseClass="Success"><m:Changes><t:Delete/></m:Changes></m:SyncFolderItemsResponseMessage></m:ResponseMessages></m:SyncFolderItemsResponse>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("missing element t:ItemId at"), "{e}");
    }
}
