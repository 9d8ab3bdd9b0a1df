//! Items as the store renders them validate against the EWS schema (in GetItem and
//! SyncFolderItems responses), for every kind of seeded item, occurrences and exceptions, tasks,
//! and items changed through the control API.

use ews_proto::ResponseStatus;
use ews_proto::items::Item;
use ews_proto::ops::{
    GetItemResponse, ItemInfoResponseMessage, SyncFolderItemsResponse, SyncFolderItemsResponseMessage,
};
use ews_proto::soap::{Envelope, Header, ServerVersionInfo};
use exbridge_sim::json::{apply_create, apply_patch};
use exbridge_sim::seed::{SeedConfig, seeded_store};
use exbridge_sim::store::FolderKind;
use jiff::civil::date;
use serde_json::json;

fn header() -> Header {
    Header { server_version_info: Some(ServerVersionInfo::exchange2016()), ..Header::default() }
}

#[test]
fn rendered_items_validate_against_the_schema() {
    let store = seeded_store(&SeedConfig::new(4, 6, 50, "contoso.test").with_anchor(date(2026, 3, 16))).unwrap();
    // An item made and changed through the control API, with exceptions and deletions.
    let created = apply_create(
        &store,
        "user1@contoso.test",
        &json!({"subject": "R & D <sync>", "start": "2026-03-16T09:00:00", "end": "2026-03-16T09:30:00", "time_zone": "W. Europe Standard Time",
                "attendees": ["user2@contoso.test", {"email": "x@fabrikam.example", "type": "resource"}],
                "recurrence": {"pattern": {"type": "relative_yearly", "month": "March", "index": "Third", "day": "Monday"}, "range": {"type": "no_end"}}}),
    )
    .unwrap();
    apply_patch(
        &store,
        "user1@contoso.test",
        &created.item_id,
        &json!({"deleted_occurrences": ["2026-03-16T09:00:00"], "modified_occurrences": [{"original_start": "2027-03-15T09:00:00", "start": "2027-03-15T10:00:00"}]}),
    )
    .unwrap();

    let mut docs = Vec::new();
    for mb in store.mailboxes() {
        let mut items: Vec<Item> = Vec::new();
        for folder in FolderKind::ALL {
            items.extend(store.find_items(&mb, folder, 0, 1000).items);
        }
        let view = store
            .calendar_view(&mb, "2026-03-01T00:00:00Z".parse().unwrap(), "2028-03-01T00:00:00Z".parse().unwrap(), None)
            .unwrap();
        items.extend(view.items.into_iter().map(Item::Calendar));
        let n = items.len();
        let get = GetItemResponse {
            messages: items.into_iter().map(|i| ItemInfoResponseMessage::success(vec![i])).collect(),
        };
        docs.push((format!("{} GetItem ({n} items)", mb.smtp()), Envelope::new(header(), get).to_xml_string()));

        let page = store.sync_folder_items(&mb, FolderKind::Calendar, None, 512).unwrap();
        let sync = SyncFolderItemsResponse {
            messages: vec![SyncFolderItemsResponseMessage {
                status: ResponseStatus::success(),
                sync_state: Some(page.sync_state),
                includes_last_item_in_range: Some(page.includes_last_item_in_range),
                changes: Some(page.changes),
            }],
        };
        docs.push((format!("{} SyncFolderItems", mb.smtp()), Envelope::new(header(), sync).to_xml_string()));
    }
    let all: String = docs.iter().map(|(_, x)| x.as_str()).collect();
    for element in [
        "<t:CalendarItem>",
        "<t:Task>",
        "<t:RelativeYearlyRecurrence>",
        "<t:WeeklyRecurrence>",
        "<t:ModifiedOccurrences>",
        "<t:DeletedOccurrences>",
        "<t:RequiredAttendees>",
        "<t:Resources>",
        "<t:CalendarItemType>Exception</t:CalendarItemType>",
        "<t:CalendarItemType>Occurrence</t:CalendarItemType>",
        "<t:Sensitivity>Private</t:Sensitivity>",
        "<t:Create>",
    ] {
        assert!(all.contains(element), "no {element} in the documents");
    }
    ews_schema_check::assert_all_valid(&docs);
}
