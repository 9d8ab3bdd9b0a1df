//! `FindItem`: items of folders, by page, by calendar window, or by restriction.
//!
//! A `CalendarView` expands recurring series into occurrences and exceptions and hides the
//! masters; an `IndexedPageItemView` does not expand (singles and masters). Exchange limits a
//! calendar view to two years (`ErrorCalendarViewRangeTooBig`), and `EWSFindCountLimit` (1000 by
//! default) caps the items of any one `FindItem` (DIGEST §5, §2).
//!
//! Not modelled (skipped on reading): `m:GroupBy` / `m:DistinguishedGroupBy` of the request and
//! `m:HighlightTerms` of the response. A grouped result (`t:Groups`) is kept as it came.

use jiff::tz::Offset;

use crate::error::{Error, Result};
use crate::ids::FolderId;
use crate::items::Item;
use crate::response::{ResponseStatus, read_messages, write_messages};
use crate::shape::{ItemShape, PropertyPath};
use crate::values::DateTime;
use crate::xml::{Element, FromXml, Name, ToXml, Writer, m, t};
use crate::xml_enum;

use super::restriction::Restriction;

/// Default `EWSFindCountLimit`: the most items one `FindItem` returns; a larger
/// `MaxEntriesReturned` has no effect (Exchange 2010 SP1+ then returns a partial, paged result).
pub const FIND_COUNT_LIMIT: i32 = 1000;

/// The widest `CalendarView` Exchange accepts, in years (`ErrorCalendarViewRangeTooBig` beyond).
pub const CALENDAR_VIEW_MAX_YEARS: i16 = 2;

xml_enum! {
    /// `@Traversal` (`t:ItemQueryTraversalType`).
    pub enum ItemQueryTraversal { Shallow, SoftDeleted, Associated }
}

xml_enum! {
    /// `@BasePoint` of an indexed or seek-to-condition view (`t:IndexBasePointType`).
    pub enum IndexBasePoint { Beginning, End }
}

xml_enum! {
    /// `@Order` of a `t:FieldOrder` (`t:SortDirectionType`).
    pub enum SortDirection { Ascending, Descending }
}

/// `m:IndexedPageItemView`: `max_entries_returned` items from `offset` counted from `base_point`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedPageView {
    pub max_entries_returned: Option<i32>,
    pub offset: i32,
    pub base_point: IndexBasePoint,
}

/// `m:FractionalPageItemView`: from the position `numerator / denominator` of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FractionalPageView {
    pub max_entries_returned: Option<i32>,
    pub numerator: i32,
    pub denominator: i32,
}

/// `m:SeekToConditionPageItemView`: from the first item that matches `condition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeekToConditionPageView {
    pub max_entries_returned: Option<i32>,
    pub base_point: IndexBasePoint,
    /// `t:Condition`.
    pub condition: Restriction,
}

/// `m:CalendarView`: items overlapping `[start_date, end_date)`, recurring series expanded.
/// Items whose End ≤ StartDate or Start ≥ EndDate are excluded. It cannot be paged by offset:
/// when more than `max_entries_returned` items fall in the window the response says
/// `IncludesLastItemInRange="false"`; query smaller windows then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarView {
    pub max_entries_returned: Option<i32>,
    pub start_date: DateTime,
    pub end_date: DateTime,
}

impl CalendarView {
    pub fn new(start_date: DateTime, end_date: DateTime) -> Self {
        CalendarView { max_entries_returned: None, start_date, end_date }
    }

    /// Whether the window is wider than [`CALENDAR_VIEW_MAX_YEARS`], which Exchange refuses with
    /// `ErrorCalendarViewRangeTooBig` (values without an offset are taken as UTC). An approximate
    /// check: Exchange does not document its exact boundary.
    pub fn exceeds_max_range(&self) -> bool {
        let utc = |d: &DateTime| d.timestamp().map(|ts| Offset::UTC.to_datetime(ts)).unwrap_or(d.civil);
        let (start, end) = (utc(&self.start_date), utc(&self.end_date));
        match start.checked_add(jiff::Span::new().years(CALENDAR_VIEW_MAX_YEARS)) {
            Ok(limit) => end > limit,
            Err(_) => true,
        }
    }
}

/// `m:ContactsView`: contacts whose display names fall between two names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactsView {
    pub max_entries_returned: Option<i32>,
    pub initial_name: Option<String>,
    pub final_name: Option<String>,
}

/// The paging choice of `FindItem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemView {
    IndexedPage(IndexedPageView),
    FractionalPage(FractionalPageView),
    SeekToConditionPage(SeekToConditionPageView),
    Calendar(CalendarView),
    Contacts(ContactsView),
}

impl ItemView {
    const NAMES: [&'static str; 5] = [
        "IndexedPageItemView",
        "FractionalPageItemView",
        "SeekToConditionPageItemView",
        "CalendarView",
        "ContactsView",
    ];

    fn element_name(&self) -> &'static str {
        match self {
            ItemView::IndexedPage(_) => Self::NAMES[0],
            ItemView::FractionalPage(_) => Self::NAMES[1],
            ItemView::SeekToConditionPage(_) => Self::NAMES[2],
            ItemView::Calendar(_) => Self::NAMES[3],
            ItemView::Contacts(_) => Self::NAMES[4],
        }
    }

    /// `@MaxEntriesReturned`.
    pub fn max_entries_returned(&self) -> Option<i32> {
        match self {
            ItemView::IndexedPage(v) => v.max_entries_returned,
            ItemView::FractionalPage(v) => v.max_entries_returned,
            ItemView::SeekToConditionPage(v) => v.max_entries_returned,
            ItemView::Calendar(v) => v.max_entries_returned,
            ItemView::Contacts(v) => v.max_entries_returned,
        }
    }

    /// Sets `@MaxEntriesReturned`.
    pub fn set_max_entries_returned(&mut self, max: Option<i32>) {
        match self {
            ItemView::IndexedPage(v) => v.max_entries_returned = max,
            ItemView::FractionalPage(v) => v.max_entries_returned = max,
            ItemView::SeekToConditionPage(v) => v.max_entries_returned = max,
            ItemView::Calendar(v) => v.max_entries_returned = max,
            ItemView::Contacts(v) => v.max_entries_returned = max,
        }
    }

    /// Reads a view element of the messages namespace; `None` if `el` is not one.
    pub fn read(el: &Element) -> Option<Result<Self>> {
        let name = *Self::NAMES.iter().find(|n| el.is(m(n)))?;
        Some((|| {
            let max_entries_returned = el.attr_as("MaxEntriesReturned")?;
            Ok(match name {
                "IndexedPageItemView" => ItemView::IndexedPage(IndexedPageView {
                    max_entries_returned,
                    offset: el.req_attr_as("Offset")?,
                    base_point: el.req_attr_as("BasePoint")?,
                }),
                "FractionalPageItemView" => ItemView::FractionalPage(FractionalPageView {
                    max_entries_returned,
                    numerator: el.req_attr_as("Numerator")?,
                    denominator: el.req_attr_as("Denominator")?,
                }),
                "SeekToConditionPageItemView" => ItemView::SeekToConditionPage(SeekToConditionPageView {
                    max_entries_returned,
                    base_point: el.req_attr_as("BasePoint")?,
                    condition: el.get_req(t("Condition"))?,
                }),
                "CalendarView" => ItemView::Calendar(CalendarView {
                    max_entries_returned,
                    start_date: el.req_attr_as("StartDate")?,
                    end_date: el.req_attr_as("EndDate")?,
                }),
                _ => ItemView::Contacts(ContactsView {
                    max_entries_returned,
                    initial_name: el.attr_as("InitialName")?,
                    final_name: el.attr_as("FinalName")?,
                }),
            })
        })())
    }

    /// Writes the view with its own element name.
    pub fn write(&self, w: &mut Writer) {
        w.start(m(self.element_name())).attr_opt("MaxEntriesReturned", &self.max_entries_returned());
        match self {
            ItemView::IndexedPage(v) => {
                w.attr_val("Offset", &v.offset).attr_val("BasePoint", &v.base_point);
            }
            ItemView::FractionalPage(v) => {
                w.attr_val("Numerator", &v.numerator).attr_val("Denominator", &v.denominator);
            }
            ItemView::SeekToConditionPage(v) => {
                w.attr_val("BasePoint", &v.base_point).child(t("Condition"), &v.condition);
            }
            ItemView::Calendar(v) => {
                w.attr_val("StartDate", &v.start_date).attr_val("EndDate", &v.end_date);
            }
            ItemView::Contacts(v) => {
                w.attr_opt("InitialName", &v.initial_name).attr_opt("FinalName", &v.final_name);
            }
        }
        w.end();
    }
}

/// `t:FieldOrder`: one sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldOrder {
    pub order: SortDirection,
    pub path: PropertyPath,
}

impl FromXml for FieldOrder {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(FieldOrder { order: el.req_attr_as("Order")?, path: PropertyPath::read_first(el)? })
    }
}

impl ToXml for FieldOrder {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr_val("Order", &self.order);
        self.path.write(w);
        w.end();
    }
}

/// `m:QueryString`: an Advanced Query Syntax search (Exchange 2013+).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryString {
    pub query: String,
    pub reset_cache: Option<bool>,
    pub return_highlight_terms: Option<bool>,
    pub return_deleted_items: Option<bool>,
}

impl FromXml for QueryString {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(QueryString {
            query: el.text.clone(),
            reset_cache: el.attr_as("ResetCache")?,
            return_highlight_terms: el.attr_as("ReturnHighlightTerms")?,
            return_deleted_items: el.attr_as("ReturnDeletedItems")?,
        })
    }
}

impl ToXml for QueryString {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .attr_opt("ResetCache", &self.reset_cache)
            .attr_opt("ReturnHighlightTerms", &self.return_highlight_terms)
            .attr_opt("ReturnDeletedItems", &self.return_deleted_items);
        if !self.query.is_empty() {
            w.text(&self.query);
        }
        w.end();
    }
}

/// `m:FindItem`.
#[derive(Debug, Clone, PartialEq)]
pub struct FindItem {
    pub traversal: ItemQueryTraversal,
    /// Ask a `CalendarView` only for the "fast" properties (Subject, Location, Start, End,
    /// FreeBusyStatus, CalendarItemType, IsRecurring, …); fetch the rest with `GetItem`.
    pub item_shape: ItemShape,
    /// The paging choice; Exchange returns everything (up to [`FIND_COUNT_LIMIT`]) without one.
    pub view: Option<ItemView>,
    pub restriction: Option<Restriction>,
    /// `m:SortOrder` (at least one key when present).
    pub sort_order: Option<Vec<FieldOrder>>,
    /// `m:ParentFolderIds` (at least one).
    pub parent_folder_ids: Vec<FolderId>,
    pub query_string: Option<QueryString>,
}

impl FindItem {
    /// Items of `folder` with the given view and shape, shallow traversal.
    pub fn new(folder: FolderId, view: Option<ItemView>, shape: ItemShape) -> Self {
        FindItem {
            traversal: ItemQueryTraversal::Shallow,
            item_shape: shape,
            view,
            restriction: None,
            sort_order: None,
            parent_folder_ids: vec![folder],
            query_string: None,
        }
    }

    /// The calendar items of `folder` overlapping `[start, end)`, recurring series expanded.
    /// Check [`CalendarView::exceeds_max_range`] first for untrusted windows.
    pub fn calendar_view(folder: FolderId, start: DateTime, end: DateTime, shape: ItemShape) -> Self {
        Self::new(folder, Some(ItemView::Calendar(CalendarView::new(start, end))), shape)
    }

    /// A page of `max` items of `folder` from `offset` (counted from the beginning), not expanded.
    pub fn indexed(folder: FolderId, offset: i32, max: i32, shape: ItemShape) -> Self {
        let view = IndexedPageView { max_entries_returned: Some(max), offset, base_point: IndexBasePoint::Beginning };
        Self::new(folder, Some(ItemView::IndexedPage(view)), shape)
    }

    /// Sets `MaxEntriesReturned` on the view (no effect without one).
    pub fn with_max_entries(mut self, max: i32) -> Self {
        if let Some(v) = &mut self.view {
            v.set_max_entries_returned(Some(max));
        }
        self
    }

    /// Sets the restriction.
    pub fn with_restriction(mut self, restriction: impl Into<Restriction>) -> Self {
        self.restriction = Some(restriction.into());
        self
    }

    /// Adds a sort key.
    pub fn sorted_by(mut self, path: PropertyPath, order: SortDirection) -> Self {
        self.sort_order.get_or_insert_with(Vec::new).push(FieldOrder { order, path });
        self
    }
}

impl FromXml for FindItem {
    fn from_xml(el: &Element) -> Result<Self> {
        let traversal = el.req_attr_as("Traversal")?;
        let view = el.children.iter().find_map(ItemView::read).transpose().map_err(|e| e.at(el))?;
        let sort_order = match el.child(m("SortOrder")) {
            None => None,
            Some(s) => {
                let keys: Vec<FieldOrder> = s.get_all(t("FieldOrder")).map_err(|e| e.at(el))?;
                if keys.is_empty() {
                    return Err(Error::missing("element t:FieldOrder").at(s).at(el));
                }
                Some(keys)
            }
        };
        let folders = el.req(m("ParentFolderIds"))?;
        let parent_folder_ids = FolderId::read_all(folders).map_err(|e| e.at(el))?;
        if parent_folder_ids.is_empty() {
            return Err(Error::missing("t:FolderId or t:DistinguishedFolderId").at(folders).at(el));
        }
        Ok(FindItem {
            traversal,
            item_shape: el.get_req(m("ItemShape"))?,
            view,
            restriction: el.get(m("Restriction"))?,
            sort_order,
            parent_folder_ids,
            query_string: el.get(m("QueryString"))?,
        })
    }
}

impl ToXml for FindItem {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr_val("Traversal", &self.traversal).child(m("ItemShape"), &self.item_shape);
        if let Some(v) = &self.view {
            v.write(w);
        }
        w.child_opt(m("Restriction"), &self.restriction).list_opt(m("SortOrder"), t("FieldOrder"), &self.sort_order);
        w.start(m("ParentFolderIds"));
        for f in &self.parent_folder_ids {
            f.write(w);
        }
        w.end();
        w.child_opt(m("QueryString"), &self.query_string).end();
    }
}

/// `m:RootFolder` (`t:FindItemParentType`): the paging position and the items found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FindItemRootFolder {
    /// Where the next indexed page starts.
    pub indexed_paging_offset: Option<i32>,
    /// Where the next fractional page starts.
    pub numerator_offset: Option<i32>,
    pub absolute_denominator: Option<i32>,
    /// `false`: more items match than were returned (page on, or narrow a calendar window).
    pub includes_last_item_in_range: Option<bool>,
    /// How many items match in all.
    pub total_items_in_view: Option<i32>,
    /// `t:Items`.
    pub items: Vec<Item>,
    /// `t:Groups` of a grouped query, kept as it came (not modelled); when present it is written
    /// instead of `t:Items`.
    pub groups: Option<Element>,
}

impl FromXml for FindItemRootFolder {
    fn from_xml(el: &Element) -> Result<Self> {
        let (items, groups) = match (el.child(t("Items")), el.child(t("Groups"))) {
            (Some(items), _) => (Item::read_all(items).map_err(|e| e.at(el))?, None),
            (None, Some(groups)) => (Vec::new(), Some(groups.clone())),
            (None, None) => return Err(Error::missing("element t:Items or t:Groups").at(el)),
        };
        Ok(FindItemRootFolder {
            indexed_paging_offset: el.attr_as("IndexedPagingOffset")?,
            numerator_offset: el.attr_as("NumeratorOffset")?,
            absolute_denominator: el.attr_as("AbsoluteDenominator")?,
            includes_last_item_in_range: el.attr_as("IncludesLastItemInRange")?,
            total_items_in_view: el.attr_as("TotalItemsInView")?,
            items,
            groups,
        })
    }
}

impl ToXml for FindItemRootFolder {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .attr_opt("IndexedPagingOffset", &self.indexed_paging_offset)
            .attr_opt("NumeratorOffset", &self.numerator_offset)
            .attr_opt("AbsoluteDenominator", &self.absolute_denominator)
            .attr_opt("IncludesLastItemInRange", &self.includes_last_item_in_range)
            .attr_opt("TotalItemsInView", &self.total_items_in_view);
        match &self.groups {
            Some(groups) => {
                w.element(groups);
            }
            None => {
                w.start(t("Items"));
                for item in &self.items {
                    item.write(w);
                }
                w.end();
            }
        }
        w.end();
    }
}

/// `m:FindItemResponseMessage`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FindItemResponseMessage {
    pub status: ResponseStatus,
    /// Absent on errors.
    pub root_folder: Option<FindItemRootFolder>,
}

impl FindItemResponseMessage {
    /// The items found (none on errors).
    pub fn items(&self) -> &[Item] {
        self.root_folder.as_ref().map(|r| r.items.as_slice()).unwrap_or_default()
    }
}

impl FromXml for FindItemResponseMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(FindItemResponseMessage { status: ResponseStatus::read(el)?, root_folder: el.get(m("RootFolder"))? })
    }
}

impl ToXml for FindItemResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        self.status.write_start(w, name);
        w.child_opt(m("RootFolder"), &self.root_folder);
        w.end();
    }
}

/// `m:FindItemResponse`: one message per parent folder.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FindItemResponse {
    pub messages: Vec<FindItemResponseMessage>,
}

impl FromXml for FindItemResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(FindItemResponse { messages: read_messages(el, "FindItemResponseMessage")? })
    }
}

impl ToXml for FindItemResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "FindItemResponseMessage", &self.messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DistinguishedFolderName, ItemId};
    use crate::items::{CalendarItem, CalendarItemType, ItemFields};
    use crate::ops::restriction::{Comparison, FieldUriOrConstant, SearchExpression};
    use crate::ops::testing::{body, round_trip, sample};
    use crate::response_code::ResponseCode;
    use crate::shape::BaseShape;
    use crate::soap::{Body, Envelope, ExchangeVersion, Header};
    use crate::xml::XmlText;

    fn request(env: &Envelope) -> &FindItem {
        match &env.body {
            Body::FindItem(f) => f,
            other => panic!("not a FindItem: {}", other.element_name()),
        }
    }

    fn message(env: &Envelope) -> &FindItemResponseMessage {
        match &env.body {
            Body::FindItemResponse(f) => &f.messages[0],
            other => panic!("not a FindItemResponse: {}", other.element_name()),
        }
    }

    fn dt(s: &str) -> DateTime {
        DateTime::from_text(s).unwrap()
    }

    const SAMPLES: &[&str] = &[
        "FindItem-CalendarView-Occurrences.request.xml",
        "FindItem-CalendarView-Occurrences.response.xml",
        "FindItem-CalendarView.request.xml",
        "FindItem-CalendarView.response.xml",
        "FindItem-Error-InvalidIdMalformed.response.xml",
        "FindItem-IndexedPageItemView-RecurringMaster.request.xml",
        "FindItem-IndexedPageItemView-RecurringMaster.response.xml",
    ];

    #[test]
    fn parses_request_samples() {
        let env = sample("FindItem-CalendarView.request.xml");
        let f = request(&env);
        assert_eq!(f.traversal, ItemQueryTraversal::Shallow);
        assert_eq!(f.item_shape.base_shape, BaseShape::IdOnly);
        assert_eq!(f.item_shape.additional_properties.as_ref().map(Vec::len), Some(3));
        assert_eq!(
            f.view,
            Some(ItemView::Calendar(CalendarView {
                max_entries_returned: Some(5),
                start_date: dt("2013-08-21T17:30:24.127Z"),
                end_date: dt("2013-09-20T17:30:24.127Z"),
            }))
        );
        assert_eq!(f.parent_folder_ids, vec![FolderId::Id { id: "AAMk".into(), change_key: Some("AgAA".into()) }]);
        assert_eq!(f.restriction, None);

        let env = sample("FindItem-CalendarView-Occurrences.request.xml");
        let f = request(&env);
        assert_eq!(f.parent_folder_ids, vec![FolderId::calendar()]);
        let Some(ItemView::Calendar(v)) = &f.view else { panic!("not a calendar view") };
        assert_eq!(v.max_entries_returned, None);
        assert!(!v.exceeds_max_range());

        let env = sample("FindItem-IndexedPageItemView-RecurringMaster.request.xml");
        let f = request(&env);
        assert_eq!(
            f.view,
            Some(ItemView::IndexedPage(IndexedPageView {
                max_entries_returned: Some(100),
                offset: 0,
                base_point: IndexBasePoint::Beginning,
            }))
        );
        let expected = SearchExpression::and([
            SearchExpression::Compare {
                op: Comparison::IsGreaterThan,
                path: PropertyPath::field("calendar:Start"),
                value: FieldUriOrConstant::Constant("2014-07-01T07:00:00.000Z".into()),
            },
            SearchExpression::Compare {
                op: Comparison::IsLessThan,
                path: PropertyPath::field("calendar:End"),
                value: FieldUriOrConstant::Constant("2014-07-31T07:00:00.000Z".into()),
            },
        ]);
        assert_eq!(f.restriction, Some(Restriction(expected)));
    }

    #[test]
    fn parses_response_samples() {
        let env = sample("FindItem-CalendarView.response.xml");
        let msg = message(&env);
        let root = msg.root_folder.as_ref().unwrap();
        assert_eq!(root.total_items_in_view, Some(33));
        assert_eq!(root.includes_last_item_in_range, Some(false));
        assert_eq!(root.indexed_paging_offset, None);
        assert_eq!(msg.items().len(), 5);
        let Item::Calendar(first) = &msg.items()[0] else { panic!("not a calendar item") };
        assert_eq!(first.item.subject.as_deref(), Some("Contoso devs team meeting"));
        assert_eq!(first.start, Some(dt("2013-08-21T19:30:00Z")));
        assert_eq!(first.end, Some(dt("2013-08-21T20:00:00Z")));

        let env = sample("FindItem-CalendarView-Occurrences.response.xml");
        let types: Vec<_> = message(&env)
            .items()
            .iter()
            .map(|i| match i {
                Item::Calendar(c) => c.calendar_item_type,
                _ => None,
            })
            .collect();
        assert!(!types.is_empty());
        assert!(types.iter().all(|t| matches!(t, Some(CalendarItemType::Occurrence | CalendarItemType::Exception))));

        let env = sample("FindItem-IndexedPageItemView-RecurringMaster.response.xml");
        let msg = message(&env);
        let root = msg.root_folder.as_ref().unwrap();
        assert_eq!((root.indexed_paging_offset, root.total_items_in_view), (Some(1), Some(1)));
        assert_eq!(root.includes_last_item_in_range, Some(true));
        let Item::Calendar(master) = &msg.items()[0] else { panic!("not a calendar item") };
        assert_eq!(master.calendar_item_type, Some(CalendarItemType::RecurringMaster));
        assert_eq!(master.location.as_deref(), Some("Neighborhood Swimming Pool"));

        let env = sample("FindItem-Error-InvalidIdMalformed.response.xml");
        let msg = message(&env);
        assert_eq!(msg.status.code(), ResponseCode::ErrorInvalidIdMalformed);
        assert_eq!(msg.root_folder, None);
        assert!(msg.items().is_empty());
    }

    #[test]
    fn calendar_view_range_limit() {
        let v = CalendarView::new(dt("2024-01-01T00:00:00Z"), dt("2026-01-01T00:00:00Z"));
        assert!(!v.exceeds_max_range());
        let v = CalendarView::new(dt("2024-01-01T00:00:00Z"), dt("2026-01-01T00:00:01Z"));
        assert!(v.exceeds_max_range());
        // Offsets are taken into account: 2026-01-01T01:00+02:00 is 2025-12-31T23:00Z.
        let v = CalendarView::new(dt("2024-01-01T00:00:00Z"), dt("2026-01-01T01:00:00+02:00"));
        assert!(!v.exceeds_max_range());
    }

    #[test]
    fn serializes_valid_documents_and_round_trips() {
        let mut docs: Vec<_> = SAMPLES.iter().map(|name| round_trip(name, &sample(name))).collect();
        let header = Header { request_server_version: Some(ExchangeVersion::Exchange2016), ..Header::default() };
        let start = dt("2025-03-01T00:00:00Z");
        let end = dt("2025-04-01T00:00:00Z");
        let shape = ItemShape::id_only().with_fields(&["item:Subject", "calendar:Start", "calendar:End"]);
        let cal = FindItem::calendar_view(FolderId::calendar(), start, end, shape.clone()).with_max_entries(500);
        assert_eq!(cal.view.as_ref().and_then(ItemView::max_entries_returned), Some(500));
        docs.push(round_trip("constructed calendar view", &Envelope::new(header.clone(), cal)));
        let indexed = FindItem::indexed(FolderId::calendar(), 100, 50, shape.clone())
            .with_restriction(Restriction::calendar_overlapping(&start, &end))
            .sorted_by(PropertyPath::field("calendar:Start"), SortDirection::Ascending)
            .sorted_by(PropertyPath::field("item:Subject"), SortDirection::Descending);
        docs.push(round_trip("constructed indexed view", &Envelope::new(header.clone(), indexed)));
        let mut others = vec![
            ItemView::FractionalPage(FractionalPageView { max_entries_returned: None, numerator: 1, denominator: 4 }),
            ItemView::SeekToConditionPage(SeekToConditionPageView {
                max_entries_returned: Some(10),
                base_point: IndexBasePoint::End,
                condition: Restriction(SearchExpression::is_less_than(PropertyPath::field("calendar:Start"), &start)),
            }),
            ItemView::Contacts(ContactsView {
                max_entries_returned: Some(10),
                initial_name: Some("A".into()),
                final_name: Some("M".into()),
            }),
        ];
        for (i, view) in others.drain(..).enumerate() {
            let mut f =
                FindItem::new(FolderId::distinguished(DistinguishedFolderName::Contacts), Some(view), shape.clone());
            f.traversal = ItemQueryTraversal::ALL[i % 3];
            docs.push(round_trip(&format!("constructed view {i}"), &Envelope::new(header.clone(), f)));
        }
        let mut q = FindItem::new(FolderId::calendar(), None, ItemShape::id_only());
        q.query_string = Some(QueryString {
            query: "subject:budget".into(),
            reset_cache: Some(true),
            return_highlight_terms: Some(false),
            return_deleted_items: None,
        });
        q.parent_folder_ids.push(FolderId::tasks());
        docs.push(round_trip("constructed query string", &Envelope::new(header, q)));

        let item = |subject: &str| {
            Item::Calendar(CalendarItem {
                item: ItemFields {
                    item_id: Some(ItemId::new("AAMk", Some("Dw"))),
                    subject: Some(subject.into()),
                    ..ItemFields::default()
                },
                start: Some(start),
                end: Some(end),
                calendar_item_type: Some(CalendarItemType::Occurrence),
                ..CalendarItem::default()
            })
        };
        let resp = FindItemResponse {
            messages: vec![
                FindItemResponseMessage {
                    status: ResponseStatus::success(),
                    root_folder: Some(FindItemRootFolder {
                        indexed_paging_offset: Some(2),
                        numerator_offset: Some(1),
                        absolute_denominator: Some(4),
                        includes_last_item_in_range: Some(false),
                        total_items_in_view: Some(3),
                        items: vec![item("a"), item("b")],
                        groups: None,
                    }),
                },
                FindItemResponseMessage {
                    status: ResponseStatus::success(),
                    root_folder: Some(FindItemRootFolder {
                        includes_last_item_in_range: Some(true),
                        total_items_in_view: Some(0),
                        ..FindItemRootFolder::default()
                    }),
                },
                FindItemResponseMessage {
                    status: ResponseStatus::error(ResponseCode::ErrorCalendarViewRangeTooBig, "too big"),
                    root_folder: None,
                },
            ],
        };
        docs.push(round_trip("constructed response", &Envelope::new(Header::default(), resp)));
        let grouped = Envelope::parse(&body(
            r#"<m:FindItemResponse><m:ResponseMessages><m:FindItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:RootFolder TotalItemsInView="0" IncludesLastItemInRange="true"><t:Groups><t:GroupedItems><t:GroupIndex>x</t:GroupIndex><t:Items/></t:GroupedItems></t:Groups></m:RootFolder></m:FindItemResponseMessage></m:ResponseMessages></m:FindItemResponse>"#,
        ))
        .unwrap();
        assert!(message(&grouped).root_folder.as_ref().unwrap().groups.is_some());
        docs.push(round_trip("grouped response", &grouped));
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        let shape = "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>";
        let folders = r#"<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds>"#;
        let e = Envelope::parse(&body(&format!("<m:FindItem>{shape}{folders}</m:FindItem>"))).unwrap_err();
        assert!(e.to_string().contains("missing attribute Traversal at /soap:Envelope/soap:Body/m:FindItem"), "{e}");
        let e = Envelope::parse(&body(&format!(
            r#"<m:FindItem Traversal="Shallow">{shape}<m:CalendarView StartDate="yesterday" EndDate="2025-01-01T00:00:00Z"/>{folders}</m:FindItem>"#
        )))
        .unwrap_err();
        assert!(
            e.to_string().contains("\"yesterday\"") && e.to_string().contains("/m:FindItem/m:CalendarView/@StartDate"),
            "{e}"
        );
        let e = Envelope::parse(&body(&format!(
            r#"<m:FindItem Traversal="Shallow">{shape}<m:CalendarView StartDate="2025-01-01T00:00:00Z"/>{folders}</m:FindItem>"#
        )))
        .unwrap_err();
        assert!(
            e.to_string().contains("missing attribute EndDate at /soap:Envelope/soap:Body/m:FindItem/m:CalendarView"),
            "{e}"
        );
        let e = Envelope::parse(&body(&format!(
            r#"<m:FindItem Traversal="Shallow">{shape}<m:IndexedPageItemView Offset="0" BasePoint="Middle"/>{folders}</m:FindItem>"#
        )))
        .unwrap_err();
        assert!(e.to_string().contains("/m:FindItem/m:IndexedPageItemView/@BasePoint"), "{e}");
        let e =
            Envelope::parse(&body(&format!(r#"<m:FindItem Traversal="Shallow">{shape}</m:FindItem>"#))).unwrap_err();
        assert!(e.to_string().contains("missing element m:ParentFolderIds"), "{e}");
        let e = Envelope::parse(&body(&format!(
            r#"<m:FindItem Traversal="Shallow">{shape}<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="item:Subject"/></t:IsEqualTo></m:Restriction>{folders}</m:FindItem>"#
        )))
        .unwrap_err();
        assert!(e.to_string().contains("/m:FindItem/m:Restriction/t:IsEqualTo"), "{e}");
        let e = Envelope::parse(&body(&format!(
            r#"<m:FindItem Traversal="Shallow">{shape}<m:SortOrder><t:FieldOrder Order="Up"><t:FieldURI FieldURI="calendar:Start"/></t:FieldOrder></m:SortOrder>{folders}</m:FindItem>"#
        )))
        .unwrap_err();
        assert!(e.to_string().contains("/m:FindItem/m:SortOrder/t:FieldOrder/@Order"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:FindItemResponse><m:ResponseMessages><m:FindItemResponseMessage ResponseClass="Success"><m:RootFolder TotalItemsInView="x"><t:Items/></m:RootFolder></m:FindItemResponseMessage></m:ResponseMessages></m:FindItemResponse>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("/m:FindItemResponseMessage/m:RootFolder/@TotalItemsInView"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:FindItemResponse><m:ResponseMessages><m:FindItemResponseMessage ResponseClass="Success"><m:RootFolder/></m:FindItemResponseMessage></m:ResponseMessages></m:FindItemResponse>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("missing element t:Items or t:Groups at"), "{e}");
    }
}
