//! Read operations: GetFolder, FindItem, GetItem, SyncFolderItems, ResolveNames, OOF and
//! availability, answered from the [`Store`] as Exchange 2016 answers them.
//!
//! Errors that concern one folder or item of a batch are `ResponseClass="Error"` messages in
//! the batch (as Exchange does); errors of the whole request are SOAP faults.
//!
//! [`project_item`] applies an `ItemShape` (IdOnly / Default / AllProperties plus
//! AdditionalProperties and BodyType) to a fully rendered item; the write operations use it too.

use std::sync::Arc;

use base64::Engine as _;
use ews_proto::items::{Body as ItemBody, BodyType, CalendarItem, Item, ItemFields, LegacyFreeBusy, Sensitivity, Task};
use ews_proto::ops::*;
use ews_proto::shape::{BaseShape, BodyTypeResponse, ItemShape, PropertyPath};
use ews_proto::soap::Fault;
use ews_proto::values::DateTime;
use ews_proto::{
    DistinguishedFolderName, EmailAddress, FolderId, FolderIdValue, MailboxType, ResponseCode, ResponseStatus,
};
use jiff::{SignedDuration, Timestamp};

use crate::server::RequestContext;
use crate::server::faults;
use crate::store::{FolderKind, Mailbox, OofState, OofStatus, Store, StoreError};

// ---------------------------------------------------------------------------------------------
// Helpers

/// The mailbox the request acts on (impersonated or signed in).
pub fn request_mailbox(store: &Store, ctx: &RequestContext) -> Result<Arc<Mailbox>, Fault> {
    match &ctx.mailbox {
        Some(m) => store.mailbox(&m.smtp).map_err(|_| faults::non_existent_mailbox(&m.smtp)),
        None => Err(faults::non_existent_mailbox(&ctx.account.name)),
    }
}

/// Exchange's MessageText for a store error.
pub fn message_text(e: &StoreError) -> String {
    match e {
        StoreError::MalformedId(_) => "Id is malformed.".into(),
        StoreError::ItemNotFound => "The specified object was not found in the store.".into(),
        StoreError::FolderNotFound => "The specified folder could not be found in the store.".into(),
        StoreError::InvalidSyncState(_) => "Synchronization state data is corrupt or otherwise invalid.".into(),
        StoreError::CalendarViewRangeTooBig => {
            "The time window specified is larger than the maximum allowed for the calendar view.".into()
        }
        StoreError::EndBeforeStart => "EndDate is earlier than StartDate".into(),
        StoreError::InvalidChangeKey => "The change key is invalid.".into(),
        StoreError::Conflict => {
            "The send or update operation could not be performed because the change key passed in the request does \
             not match the current change key for the item."
                .into()
        }
        StoreError::NoSuchMailbox(_) => "The SMTP address has no mailbox associated with it.".into(),
        other => other.to_string(),
    }
}

/// A `ResponseStatus` for a store error.
pub fn error_status(e: &StoreError) -> ResponseStatus {
    let mut s = ResponseStatus::error(e.response_code(), message_text(e));
    // Exchange adds DescriptiveLinkKey 0 to its error messages.
    s.descriptive_link_key = Some(0);
    s
}

fn dt(ts: Timestamp) -> DateTime {
    DateTime::utc(ts)
}

// ---------------------------------------------------------------------------------------------
// Item shapes

/// Where an item is shown: FindItem never returns the body (nor attendee lists), as Exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeUse {
    Find,
    Get,
}

const DEFAULT_CALENDAR: &[&str] = &[
    "item:ItemId",
    "item:ParentFolderId",
    "item:Subject",
    "item:Sensitivity",
    "item:Body",
    "item:HasAttachments",
    "item:IsAssociated",
    "calendar:Start",
    "calendar:End",
    "calendar:LegacyFreeBusyStatus",
    "calendar:Location",
    "calendar:CalendarItemType",
    "calendar:Organizer",
];

const DEFAULT_TASK: &[&str] = &[
    "item:ItemId",
    "item:ParentFolderId",
    "item:Subject",
    "item:Sensitivity",
    "item:Body",
    "item:HasAttachments",
    "item:IsAssociated",
    "task:DueDate",
    "task:PercentComplete",
    "task:StartDate",
    "task:Status",
];

/// Copies the field named `name` (the local part of its FieldURI) from `s` to `d`; returns
/// `false` from the enclosing function when no listed field has that name.
macro_rules! copy_fields {
    ($d:ident, $s:ident, $name:ident; $($uri:literal => $f:ident),* $(,)?) => {
        match $name {
            $($uri => $d.$f = $s.$f.clone(),)*
            _ => return false,
        }
    };
}

fn copy_item_field(d: &mut ItemFields, s: &ItemFields, name: &str) -> bool {
    copy_fields!(d, s, name;
        "ItemId" => item_id, "ParentFolderId" => parent_folder_id, "ItemClass" => item_class,
        "Subject" => subject, "Sensitivity" => sensitivity, "Body" => body,
        "DateTimeReceived" => date_time_received, "Size" => size, "Categories" => categories,
        "Importance" => importance, "InReplyTo" => in_reply_to, "IsSubmitted" => is_submitted,
        "IsDraft" => is_draft, "IsFromMe" => is_from_me, "IsResend" => is_resend,
        "IsUnmodified" => is_unmodified, "DateTimeSent" => date_time_sent,
        "DateTimeCreated" => date_time_created, "ReminderDueBy" => reminder_due_by,
        "ReminderIsSet" => reminder_is_set, "ReminderNextTime" => reminder_next_time,
        "ReminderMinutesBeforeStart" => reminder_minutes_before_start, "DisplayCc" => display_cc,
        "DisplayTo" => display_to, "HasAttachments" => has_attachments, "Culture" => culture,
        "LastModifiedName" => last_modified_name, "LastModifiedTime" => last_modified_time,
        "IsAssociated" => is_associated, "WebClientReadFormQueryString" => web_client_read_form_query_string,
        "WebClientEditFormQueryString" => web_client_edit_form_query_string, "ConversationId" => conversation_id,
    );
    true
}

fn copy_calendar_field(d: &mut CalendarItem, s: &CalendarItem, name: &str) -> bool {
    copy_fields!(d, s, name;
        "UID" => uid, "RecurrenceId" => recurrence_id, "DateTimeStamp" => date_time_stamp, "Start" => start,
        "End" => end, "OriginalStart" => original_start, "IsAllDayEvent" => is_all_day_event,
        "LegacyFreeBusyStatus" => legacy_free_busy_status, "Location" => location, "When" => when,
        "IsMeeting" => is_meeting, "IsCancelled" => is_cancelled, "IsRecurring" => is_recurring,
        "MeetingRequestWasSent" => meeting_request_was_sent, "IsResponseRequested" => is_response_requested,
        "CalendarItemType" => calendar_item_type, "MyResponseType" => my_response_type, "Organizer" => organizer,
        "RequiredAttendees" => required_attendees, "OptionalAttendees" => optional_attendees,
        "Resources" => resources, "ConflictingMeetingCount" => conflicting_meeting_count,
        "AdjacentMeetingCount" => adjacent_meeting_count, "Duration" => duration, "TimeZone" => time_zone,
        "AppointmentReplyTime" => appointment_reply_time,
        "AppointmentSequenceNumber" => appointment_sequence_number, "AppointmentState" => appointment_state,
        "Recurrence" => recurrence, "FirstOccurrence" => first_occurrence, "LastOccurrence" => last_occurrence,
        "ModifiedOccurrences" => modified_occurrences, "DeletedOccurrences" => deleted_occurrences,
        "MeetingTimeZone" => meeting_time_zone, "StartTimeZone" => start_time_zone,
        "EndTimeZone" => end_time_zone, "ConferenceType" => conference_type,
        "AllowNewTimeProposal" => allow_new_time_proposal, "IsOnlineMeeting" => is_online_meeting,
        "MeetingWorkspaceUrl" => meeting_workspace_url, "NetShowUrl" => net_show_url,
        "StartTimeZoneId" => start_time_zone_id, "EndTimeZoneId" => end_time_zone_id,
        "IntendedFreeBusyStatus" => intended_free_busy_status, "JoinOnlineMeetingUrl" => join_online_meeting_url,
        "IsOrganizer" => is_organizer,
    );
    true
}

fn copy_task_field(d: &mut Task, s: &Task, name: &str) -> bool {
    copy_fields!(d, s, name;
        "ActualWork" => actual_work, "BillingInformation" => billing_information, "ChangeCount" => change_count,
        "Companies" => companies, "CompleteDate" => complete_date, "Contacts" => contacts, "DueDate" => due_date,
        "IsComplete" => is_complete, "IsRecurring" => is_recurring, "Mileage" => mileage, "Owner" => owner,
        "PercentComplete" => percent_complete, "Recurrence" => recurrence, "StartDate" => start_date,
        "Status" => status, "StatusDescription" => status_description, "TotalWork" => total_work,
    );
    true
}

/// Copies one property (by `FieldURI`) from `src` to `dst`; unknown or foreign properties
/// are skipped (Exchange returns nothing for a property an item does not have).
fn copy_path(dst: &mut Item, src: &Item, path: &PropertyPath) {
    match path {
        PropertyPath::Field(uri) => {
            let (prefix, name) = uri.split_once(':').unwrap_or(("", uri.as_str()));
            match (dst, src) {
                (Item::Calendar(d), Item::Calendar(s)) => match prefix {
                    "item" => {
                        copy_item_field(&mut d.item, &s.item, name);
                    }
                    "calendar" => {
                        copy_calendar_field(d, s, name);
                    }
                    _ => {}
                },
                (Item::Task(d), Item::Task(s)) => match prefix {
                    "item" => {
                        copy_item_field(&mut d.item, &s.item, name);
                    }
                    "task" => {
                        copy_task_field(d, s, name);
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        PropertyPath::Extended(x) => {
            let (d, s) = match (dst, src) {
                (Item::Calendar(d), Item::Calendar(s)) => (&mut d.item, &s.item),
                (Item::Task(d), Item::Task(s)) => (&mut d.item, &s.item),
                _ => return,
            };
            for p in s.extended_properties.iter().filter(|p| &p.field == x) {
                if !d.extended_properties.contains(p) {
                    d.extended_properties.push(p.clone());
                }
            }
        }
        PropertyPath::Indexed { .. } => {}
    }
}

fn fields_of_mut(item: &mut Item) -> &mut ItemFields {
    match item {
        Item::Calendar(c) => &mut c.item,
        Item::Task(t) => &mut t.item,
        Item::Other(o) => &mut o.fields,
    }
}

/// Applies `shape` to a fully rendered item.
pub fn project_item(full: &Item, shape: &ItemShape, usage: ShapeUse) -> Item {
    let mut out = match shape.base_shape {
        // "AllProperties does not return all properties": extended properties only when
        // asked for in AdditionalProperties.
        BaseShape::AllProperties => {
            let mut out = full.clone();
            fields_of_mut(&mut out).extended_properties.clear();
            out
        }
        base => {
            let mut out = match full {
                Item::Calendar(_) => Item::Calendar(CalendarItem::default()),
                Item::Task(_) => Item::Task(Task::default()),
                Item::Other(o) => Item::Other(o.clone()),
            };
            let defaults: &[&str] = match (base, full) {
                (BaseShape::IdOnly, _) => &["item:ItemId"],
                (_, Item::Task(_)) => DEFAULT_TASK,
                _ => DEFAULT_CALENDAR,
            };
            for uri in defaults {
                copy_path(&mut out, full, &PropertyPath::field(uri));
            }
            out
        }
    };
    for p in shape.additional_properties.iter().flatten() {
        copy_path(&mut out, full, p);
    }
    if usage == ShapeUse::Find {
        fields_of_mut(&mut out).body = None;
        if let Item::Calendar(c) = &mut out {
            c.required_attendees = None;
            c.optional_attendees = None;
            c.resources = None;
        }
    }
    if let Some(body) = fields_of_mut(&mut out).body.as_mut() {
        convert_body(body, shape.body_type.unwrap_or(BodyTypeResponse::Best));
    }
    out
}

/// Converts a body to the requested type (HTML ↔ text, as Exchange's converter roughly does).
fn convert_body(body: &mut ItemBody, wanted: BodyTypeResponse) {
    match (wanted, body.body_type) {
        (BodyTypeResponse::Text, BodyType::Html) => {
            body.content = html_to_text(&body.content);
            body.body_type = BodyType::Text;
        }
        (BodyTypeResponse::Html, BodyType::Text) => {
            let escaped = body.content.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            body.content = format!(
                "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>\r\n<div>{}</div>\r\n</body>\r\n</html>\r\n",
                escaped.replace('\n', "<br>\r\n")
            );
            body.body_type = BodyType::Html;
        }
        _ => {}
    }
}

fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    let mut tag = String::new();
    let mut hrefs: Vec<Option<String>> = Vec::new();
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                tag.clear();
            }
            '>' if in_tag => {
                in_tag = false;
                let t = tag.trim_start_matches('/').to_ascii_lowercase();
                if t.starts_with("br") || t.starts_with("p") || t.starts_with("div") {
                    out.push('\n');
                }
                // A hyperlink keeps its target after its text, `text<URL>`, as Exchange's
                // converter (and Outlook's plain-text view) renders it.
                if tag.starts_with('/') && t == "a" {
                    if let Some(href) = hrefs.pop().flatten() {
                        out.push('<');
                        out.push_str(&href);
                        out.push('>');
                    }
                } else if t == "a" || t.starts_with("a ") {
                    hrefs.push(href_of(&tag));
                }
            }
            _ if in_tag => tag.push(c),
            _ => out.push(c),
        }
    }
    let out = out.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    lines.join("\r\n").trim().to_string()
}

/// The `href` value of an `a` tag's inside (`a href="…"`), if any.
fn href_of(tag: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find("href=")? + 5;
    let rest = &tag[at..];
    let value = match rest.chars().next()? {
        q @ ('"' | '\'') => rest[1..].split(q).next()?,
        _ => rest.split(char::is_whitespace).next()?,
    };
    Some(value.to_owned()).filter(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------------------------
// GetFolder

/// Folders a simulated mailbox has beyond calendar and tasks (they hold no items).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Virtual {
    Root,
    MsgFolderRoot,
    Inbox,
}

impl Virtual {
    fn byte(self) -> u8 {
        match self {
            Virtual::Root => 1,
            Virtual::MsgFolderRoot => 2,
            Virtual::Inbox => 3,
        }
    }
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Virtual::Root),
            2 => Some(Virtual::MsgFolderRoot),
            3 => Some(Virtual::Inbox),
            _ => None,
        }
    }
}

const VIRTUAL_PREFIX: &[u8] = b"AAMkSimFolder";

fn virtual_id(mailbox: &Mailbox, v: Virtual) -> FolderIdValue {
    let mut bytes = VIRTUAL_PREFIX.to_vec();
    bytes.extend_from_slice(&mailbox.number().to_be_bytes());
    bytes.push(v.byte());
    FolderIdValue(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn decode_virtual(store: &Store, id: &str) -> Option<(Arc<Mailbox>, Virtual)> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(id).ok()?;
    let rest = bytes.strip_prefix(VIRTUAL_PREFIX)?;
    if rest.len() != 5 {
        return None;
    }
    let number = u32::from_be_bytes(rest[..4].try_into().ok()?);
    Some((store.mailbox_by_number(number)?, Virtual::from_byte(rest[4])?))
}

enum ResolvedFolder {
    Store(Arc<Mailbox>, FolderKind),
    Virtual(Arc<Mailbox>, Virtual),
}

fn resolve_any_folder(store: &Store, default: &Arc<Mailbox>, id: &FolderId) -> Result<ResolvedFolder, StoreError> {
    if let FolderId::Distinguished(d) = id {
        let v = match d.id {
            DistinguishedFolderName::Root => Some(Virtual::Root),
            DistinguishedFolderName::MsgFolderRoot => Some(Virtual::MsgFolderRoot),
            DistinguishedFolderName::Inbox => Some(Virtual::Inbox),
            _ => None,
        };
        if let Some(v) = v {
            let mailbox = match d.mailbox.as_ref().and_then(|m| m.email_address.as_deref()) {
                Some(address) => store.mailbox(address)?,
                None => default.clone(),
            };
            return Ok(ResolvedFolder::Virtual(mailbox, v));
        }
    }
    if let FolderId::Id { id, .. } = id
        && let Some((m, v)) = decode_virtual(store, id.as_str())
    {
        return Ok(ResolvedFolder::Virtual(m, v));
    }
    store.resolve_folder(default, id).map(|(m, k)| ResolvedFolder::Store(m, k))
}

/// A folder change key: stable per folder and content count.
fn folder_change_key(id: &FolderIdValue, count: usize) -> ews_proto::ChangeKey {
    let mut bytes = vec![1u8, 0, 0, 0];
    bytes.extend_from_slice(&(count as u32).to_be_bytes());
    bytes.extend_from_slice(&id.0.as_bytes()[id.0.len().saturating_sub(6)..]);
    ews_proto::ChangeKey(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn folder_element(store: &Store, f: &ResolvedFolder, shape: &FolderShape) -> Folder {
    let (kind, id, parent, class, name, total, children) = match f {
        ResolvedFolder::Store(m, k) => {
            let info = store.folder_info(m, *k);
            let kind = match k {
                FolderKind::Calendar => ews_proto::ops::FolderKind::Calendar,
                FolderKind::Tasks => ews_proto::ops::FolderKind::Tasks,
            };
            (
                kind,
                info.id,
                Some(virtual_id(m, Virtual::MsgFolderRoot)),
                info.folder_class.to_string(),
                info.display_name.to_string(),
                info.total_count,
                info.child_folder_count,
            )
        }
        ResolvedFolder::Virtual(m, v) => {
            let (parent, class, name, children) = match v {
                Virtual::Root => (None, "", "Top of Information Store", 1),
                Virtual::MsgFolderRoot => (Some(virtual_id(m, Virtual::Root)), "", "Top of Information Store", 3),
                Virtual::Inbox => (Some(virtual_id(m, Virtual::MsgFolderRoot)), "IPF.Note", "Inbox", 0),
            };
            let name = if *v == Virtual::Root { "root" } else { name };
            (
                ews_proto::ops::FolderKind::Folder,
                virtual_id(m, *v),
                parent,
                class.to_string(),
                name.to_string(),
                0,
                children,
            )
        }
    };
    let change_key = folder_change_key(&id, total);
    let store_id = |v: FolderIdValue, ck: Option<ews_proto::ChangeKey>| StoreFolderId { id: v, change_key: ck };
    let mut folder = Folder::with_id(kind, store_id(id.clone(), Some(change_key)));
    let all = shape.base_shape == BaseShape::AllProperties;
    let default = shape.base_shape != BaseShape::IdOnly;
    let wants = |uri: &str| {
        shape.additional_properties.iter().flatten().any(|p| matches!(p, PropertyPath::Field(f) if f == uri))
    };
    if all || wants("folder:ParentFolderId") {
        folder.parent_folder_id = parent.map(|p| {
            let ck = folder_change_key(&p, 0);
            store_id(p, Some(ck))
        });
    }
    if (all || wants("folder:FolderClass")) && !class.is_empty() {
        folder.folder_class = Some(class);
    }
    if default || wants("folder:DisplayName") {
        folder.display_name = Some(name);
    }
    if default || wants("folder:TotalCount") {
        folder.total_count = Some(total as i32);
    }
    if default || wants("folder:ChildFolderCount") {
        folder.child_folder_count = Some(children as i32);
    }
    if kind == ews_proto::ops::FolderKind::Folder && (default || wants("folder:UnreadCount")) {
        folder.unread_count = Some(0);
    }
    if all || wants("folder:EffectiveRights") {
        folder.effective_rights = Some(EffectiveRights {
            create_associated: true,
            create_contents: true,
            create_hierarchy: true,
            delete: true,
            modify: true,
            read: true,
            view_private_items: Some(true),
        });
    }
    folder
}

pub fn get_folder(store: &Store, ctx: &RequestContext, r: GetFolder) -> Result<GetFolderResponse, Fault> {
    let mailbox = request_mailbox(store, ctx)?;
    let messages = r
        .folder_ids
        .iter()
        .map(|id| match resolve_any_folder(store, &mailbox, id) {
            Ok(f) => GetFolderResponseMessage {
                status: ResponseStatus::success(),
                folders: Some(vec![folder_element(store, &f, &r.folder_shape)]),
            },
            // Exchange writes an empty `m:Folders` with the error.
            Err(e) => GetFolderResponseMessage { status: error_status(&e), folders: Some(Vec::new()) },
        })
        .collect();
    Ok(GetFolderResponse { messages })
}

// ---------------------------------------------------------------------------------------------
// FindItem

fn find_error(e: &StoreError) -> FindItemResponseMessage {
    FindItemResponseMessage { status: error_status(e), root_folder: None }
}

fn timestamp_of(d: &DateTime) -> Option<Timestamp> {
    d.timestamp_in(&jiff::tz::TimeZone::UTC)
}

pub fn find_item(store: &Store, ctx: &RequestContext, r: FindItem) -> Result<FindItemResponse, Fault> {
    let mailbox = request_mailbox(store, ctx)?;
    let limit = ctx.limits.find_count.max(1);
    let messages = r
        .parent_folder_ids
        .iter()
        .map(|folder| {
            let (mb, kind) = match resolve_any_folder(store, &mailbox, folder) {
                Ok(ResolvedFolder::Store(m, k)) => (m, k),
                Ok(ResolvedFolder::Virtual(..)) => {
                    // Root, msgfolderroot and the inbox hold no items here.
                    return FindItemResponseMessage {
                        status: ResponseStatus::success(),
                        root_folder: Some(FindItemRootFolder {
                            indexed_paging_offset: Some(0),
                            numerator_offset: None,
                            absolute_denominator: None,
                            includes_last_item_in_range: Some(true),
                            total_items_in_view: Some(0),
                            items: Vec::new(),
                            groups: None,
                        }),
                    };
                }
                Err(e) => return find_error(&e),
            };
            match &r.view {
                Some(ItemView::Calendar(v)) => {
                    if kind != FolderKind::Calendar {
                        return FindItemResponseMessage {
                            status: ResponseStatus::error(
                                ResponseCode::ErrorInvalidOperation,
                                "CalendarView is only supported on calendar folders.",
                            ),
                            root_folder: None,
                        };
                    }
                    let (Some(start), Some(end)) = (timestamp_of(&v.start_date), timestamp_of(&v.end_date)) else {
                        return find_error(&StoreError::invalid("CalendarView", "invalid date"));
                    };
                    let max = v.max_entries_returned.map(|m| m.max(0) as usize).map(|m| m.min(limit));
                    // TotalItemsInView counts the whole view (up to the find limit), as Exchange
                    // does; MaxEntriesReturned cuts what is returned.
                    match store.calendar_view(&mb, start, end, Some(limit)) {
                        Ok(view) => {
                            let total = view.items.len();
                            let max = max.unwrap_or(limit);
                            let includes_last = view.includes_last_item_in_range && total <= max;
                            let items: Vec<Item> = view
                                .items
                                .into_iter()
                                .take(max)
                                .map(|c| project_item(&Item::Calendar(c), &r.item_shape, ShapeUse::Find))
                                .collect();
                            FindItemResponseMessage {
                                status: ResponseStatus::success(),
                                root_folder: Some(FindItemRootFolder {
                                    indexed_paging_offset: None,
                                    numerator_offset: None,
                                    absolute_denominator: None,
                                    includes_last_item_in_range: Some(includes_last),
                                    total_items_in_view: Some(total as i32),
                                    items,
                                    groups: None,
                                }),
                            }
                        }
                        Err(e) => find_error(&e),
                    }
                }
                view => {
                    let (offset, max, from_end) = match view {
                        Some(ItemView::IndexedPage(p)) => (
                            p.offset.max(0) as usize,
                            p.max_entries_returned.map(|m| m.max(1) as usize).unwrap_or(limit),
                            p.base_point == IndexBasePoint::End,
                        ),
                        _ => (0, limit, false),
                    };
                    let max = max.min(limit);
                    let filtered = r.restriction.is_some() || r.sort_order.as_ref().is_some_and(|o| !o.is_empty());
                    if filtered {
                        let mut items = all_items(store, &mb, kind);
                        if let Some(restriction) = &r.restriction {
                            items.retain(|i| matches(i, restriction.expression()));
                        }
                        if let Some(order) = &r.sort_order {
                            sort_items(&mut items, order);
                        }
                        let total = items.len();
                        let (start, take) = if from_end {
                            let end = total.saturating_sub(offset);
                            (end.saturating_sub(max), end.min(max))
                        } else {
                            (offset.min(total), max)
                        };
                        let page: Vec<Item> = items
                            .iter()
                            .skip(start)
                            .take(take)
                            .map(|i| project_item(i, &r.item_shape, ShapeUse::Find))
                            .collect();
                        let (next, last) = if from_end {
                            (offset + page.len(), start == 0)
                        } else {
                            let next = (start + page.len()).min(total);
                            (next, next >= total)
                        };
                        return FindItemResponseMessage {
                            status: ResponseStatus::success(),
                            root_folder: Some(FindItemRootFolder {
                                indexed_paging_offset: Some(next as i32),
                                numerator_offset: None,
                                absolute_denominator: None,
                                includes_last_item_in_range: Some(last),
                                total_items_in_view: Some(total as i32),
                                items: page,
                                groups: None,
                            }),
                        };
                    }
                    let total = mb.item_count(kind);
                    // From the end: Offset counts back from the last item.
                    let (start, take) = if from_end {
                        let end = total.saturating_sub(offset);
                        (end.saturating_sub(max), end.min(max))
                    } else {
                        (offset, max)
                    };
                    let page = store.find_items(&mb, kind, start, take.max(1));
                    let mut items = page.items;
                    if take == 0 {
                        items.clear();
                    }
                    let returned = items.len();
                    let items =
                        items.iter().map(|i| project_item(i, &r.item_shape, ShapeUse::Find)).collect::<Vec<_>>();
                    let (next, last) = if from_end {
                        (offset + returned, start == 0)
                    } else {
                        let next = (start + returned).min(total);
                        (next, next >= total)
                    };
                    FindItemResponseMessage {
                        status: ResponseStatus::success(),
                        root_folder: Some(FindItemRootFolder {
                            indexed_paging_offset: Some(next as i32),
                            numerator_offset: None,
                            absolute_denominator: None,
                            includes_last_item_in_range: Some(last),
                            total_items_in_view: Some(total as i32),
                            items,
                            groups: None,
                        }),
                    }
                }
            }
        })
        .collect();
    Ok(FindItemResponse { messages })
}

// ---------------------------------------------------------------------------------------------
// Restrictions and sort orders (FindItem with an IndexedPageItemView)

/// The text of a property of an item, as it would be written in XML (`None`: not set).
fn property_text(item: &Item, path: &PropertyPath) -> Option<Vec<String>> {
    use ews_proto::xml::XmlText;
    fn txt<T: XmlText>(v: &Option<T>) -> Option<Vec<String>> {
        v.as_ref().map(|v| vec![v.to_text().into_owned()])
    }
    let fields = fields_ref(item);
    match path {
        PropertyPath::Extended(x) => {
            fields.extended_properties.iter().find(|p| &p.field == x).map(|p| match &p.value {
                ews_proto::items::ExtendedValue::Single(v) => vec![v.clone()],
                ews_proto::items::ExtendedValue::Multi(v) => v.clone(),
            })
        }
        PropertyPath::Indexed { .. } => None,
        PropertyPath::Field(uri) => {
            let (prefix, name) = uri.split_once(':').unwrap_or(("", uri.as_str()));
            match (prefix, name) {
                ("item", "ItemId") => fields.item_id.as_ref().map(|i| vec![i.id.0.clone()]),
                ("item", "Subject") => txt(&fields.subject),
                ("item", "ItemClass") => txt(&fields.item_class),
                ("item", "Sensitivity") => txt(&fields.sensitivity),
                ("item", "Importance") => txt(&fields.importance),
                ("item", "Categories") => fields.categories.clone(),
                ("item", "DateTimeCreated") => txt(&fields.date_time_created),
                ("item", "DateTimeReceived") => txt(&fields.date_time_received),
                ("item", "LastModifiedTime") => txt(&fields.last_modified_time),
                ("item", "HasAttachments") => txt(&fields.has_attachments),
                ("calendar", n) => match item {
                    Item::Calendar(c) => match n {
                        "Start" => txt(&c.start),
                        "End" => txt(&c.end),
                        "UID" => txt(&c.uid),
                        "Location" => txt(&c.location),
                        "IsAllDayEvent" => txt(&c.is_all_day_event),
                        "IsRecurring" => txt(&c.is_recurring),
                        "IsMeeting" => txt(&c.is_meeting),
                        "IsCancelled" => txt(&c.is_cancelled),
                        "CalendarItemType" => txt(&c.calendar_item_type),
                        "LegacyFreeBusyStatus" => txt(&c.legacy_free_busy_status),
                        "MyResponseType" => txt(&c.my_response_type),
                        "AppointmentSequenceNumber" => txt(&c.appointment_sequence_number),
                        _ => None,
                    },
                    _ => None,
                },
                ("task", n) => match item {
                    Item::Task(t) => match n {
                        "DueDate" => txt(&t.due_date),
                        "StartDate" => txt(&t.start_date),
                        "CompleteDate" => txt(&t.complete_date),
                        "Status" => txt(&t.status),
                        "IsComplete" => txt(&t.is_complete),
                        "PercentComplete" => t.percent_complete.map(|p| vec![p.to_string()]),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            }
        }
    }
}

fn fields_ref(item: &Item) -> &ItemFields {
    match item {
        Item::Calendar(c) => &c.item,
        Item::Task(t) => &t.item,
        Item::Other(o) => &o.fields,
    }
}

/// Orders two property texts: as instants when both are date-times, as numbers when both
/// are numbers, else as strings ignoring case (as Exchange compares strings).
fn compare_text(a: &str, b: &str) -> std::cmp::Ordering {
    let time = |s: &str| s.parse::<Timestamp>().ok();
    if let (Some(x), Some(y)) = (time(a), time(b)) {
        return x.cmp(&y);
    }
    if let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) {
        return x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
    }
    a.to_lowercase().cmp(&b.to_lowercase())
}

/// Whether an item satisfies a restriction.
pub fn matches(item: &Item, e: &SearchExpression) -> bool {
    use std::cmp::Ordering::*;
    match e {
        SearchExpression::And(v) => v.iter().all(|e| matches(item, e)),
        SearchExpression::Or(v) => v.iter().any(|e| matches(item, e)),
        SearchExpression::Not(e) => !matches(item, e),
        SearchExpression::Exists(p) => property_text(item, p).is_some(),
        SearchExpression::Compare { op, path, value } => {
            let Some(left) = property_text(item, path) else { return false };
            let right = match value {
                FieldUriOrConstant::Constant(c) => vec![c.clone()],
                FieldUriOrConstant::Path(p) => match property_text(item, p) {
                    Some(v) => v,
                    None => return false,
                },
            };
            left.iter().any(|l| {
                right.iter().any(|r| {
                    let o = compare_text(l, r);
                    match op {
                        Comparison::IsEqualTo => o == Equal,
                        Comparison::IsNotEqualTo => o != Equal,
                        Comparison::IsGreaterThan => o == Greater,
                        Comparison::IsGreaterThanOrEqualTo => o != Less,
                        Comparison::IsLessThan => o == Less,
                        Comparison::IsLessThanOrEqualTo => o != Greater,
                    }
                })
            })
        }
        SearchExpression::Contains { path, value, mode, comparison } => {
            let Some(texts) = property_text(item, path) else { return false };
            let ignore_case = !matches!(comparison, None | Some(ContainmentComparison::Exact));
            let norm = |s: &str| if ignore_case { s.to_lowercase() } else { s.to_string() };
            let needle = norm(value);
            texts.iter().map(|t| norm(t)).any(|t| match mode.unwrap_or(ContainmentMode::Substring) {
                ContainmentMode::FullString => t == needle,
                ContainmentMode::Prefixed => t.starts_with(&needle),
                ContainmentMode::PrefixOnWords => t.split_whitespace().any(|w| w.starts_with(&needle)),
                ContainmentMode::Substring | ContainmentMode::ExactPhrase => t.contains(&needle),
            })
        }
        SearchExpression::Excludes { path, bitmask } => {
            let parse = |s: &str| match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(h) => i64::from_str_radix(h, 16).ok(),
                None => s.parse::<i64>().ok(),
            };
            let (Some(texts), Some(mask)) = (property_text(item, path), parse(bitmask)) else { return false };
            texts.iter().filter_map(|t| parse(t)).all(|v| v & mask == 0)
        }
    }
}

fn sort_items(items: &mut [Item], order: &[FieldOrder]) {
    items.sort_by(|a, b| {
        for o in order {
            let (x, y) = (property_text(a, &o.path), property_text(b, &o.path));
            let c = match (x.as_ref().and_then(|v| v.first()), y.as_ref().and_then(|v| v.first())) {
                (Some(x), Some(y)) => compare_text(x, y),
                (None, Some(_)) => std::cmp::Ordering::Less,
                (Some(_), None) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            let c = if o.order == SortDirection::Descending { c.reverse() } else { c };
            if c != std::cmp::Ordering::Equal {
                return c;
            }
        }
        std::cmp::Ordering::Equal
    });
}

/// Every item of a folder, in creation order.
fn all_items(store: &Store, mb: &Mailbox, kind: FolderKind) -> Vec<Item> {
    let mut out = Vec::new();
    loop {
        let page = store.find_items(mb, kind, out.len(), crate::store::FIND_COUNT_LIMIT);
        let done = page.includes_last_item_in_range || page.items.is_empty();
        out.extend(page.items);
        if done {
            return out;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GetItem

pub fn get_item(store: &Store, ctx: &RequestContext, r: GetItem) -> Result<GetItemResponse, Fault> {
    let mailbox = request_mailbox(store, ctx)?;
    let messages = r
        .item_ids
        .iter()
        .map(|id| {
            let raw = match id {
                ews_proto::BaseItemId::Item(i) => i.id.0.as_str(),
                ews_proto::BaseItemId::Occurrence(o) => o.recurring_master_id.0.as_str(),
                ews_proto::BaseItemId::RecurringMaster(m) => m.occurrence_id.0.as_str(),
            };
            let mb = match store.mailbox_of_id(raw) {
                Ok(m) => m,
                Err(e) => return ItemInfoResponseMessage::error(error_status(&e)),
            };
            if mb.number() != mailbox.number() {
                // The impersonated (or signed-in) user has no rights on other mailboxes.
                let mut s = ResponseStatus::error(
                    ResponseCode::ErrorAccessDenied,
                    "Access is denied. Check credentials and try again.",
                );
                s.descriptive_link_key = Some(0);
                return ItemInfoResponseMessage::error(s);
            }
            match store.get_item(&mailbox, id) {
                Ok(item) => ItemInfoResponseMessage::success(vec![project_item(&item, &r.item_shape, ShapeUse::Get)]),
                Err(e) => ItemInfoResponseMessage::error(error_status(&e)),
            }
        })
        .collect();
    Ok(GetItemResponse { messages })
}

// ---------------------------------------------------------------------------------------------
// SyncFolderItems

pub fn sync_folder_items(
    store: &Store,
    ctx: &RequestContext,
    r: SyncFolderItems,
) -> Result<SyncFolderItemsResponse, Fault> {
    if !(1..=crate::store::MAX_SYNC_CHANGES as i32).contains(&r.max_changes_returned) {
        // Exchange rejects this in schema validation (xs:int with a 1..512 range).
        return Err(faults::schema_validation(&format!(
            "The 'http://schemas.microsoft.com/exchange/services/2006/messages:MaxChangesReturned' element is \
             invalid - The value '{}' is invalid according to its datatype \
             'http://schemas.microsoft.com/exchange/services/2006/types:MaxSyncChangesReturnedType' - The \
             MinInclusive constraint failed.",
            r.max_changes_returned
        )));
    }
    let mailbox = request_mailbox(store, ctx)?;
    // Exchange's error messages carry an empty SyncState and IncludesLastItemInRange true.
    let sync_error = |status: ResponseStatus| SyncFolderItemsResponseMessage {
        status,
        sync_state: Some(ews_proto::SyncState(String::new())),
        includes_last_item_in_range: Some(true),
        changes: None,
    };
    let message = match resolve_any_folder(store, &mailbox, &r.sync_folder_id) {
        Err(e) => sync_error(error_status(&e)),
        Ok(ResolvedFolder::Virtual(..)) => sync_error(ResponseStatus::error(
            ResponseCode::ErrorSyncFolderNotFound,
            "The specified folder could not be found in the store.",
        )),
        Ok(ResolvedFolder::Store(mb, kind)) => {
            let state = r.sync_state.as_ref().map(|s| s.0.as_str());
            match store.sync_folder_items(&mb, kind, state, r.max_changes_returned as u32) {
                Ok(page) => {
                    let ignore: Vec<&str> = r.ignore.iter().flatten().map(|i| i.id.0.as_str()).collect();
                    let changes: Vec<SyncChange> = page
                        .changes
                        .into_iter()
                        .filter(|c| c.item_id().is_none_or(|i| !ignore.contains(&i.id.0.as_str())))
                        .map(|c| match c {
                            SyncChange::Create(i) => SyncChange::Create(project_item(&i, &r.item_shape, ShapeUse::Get)),
                            SyncChange::Update(i) => SyncChange::Update(project_item(&i, &r.item_shape, ShapeUse::Get)),
                            other => other,
                        })
                        .collect();
                    SyncFolderItemsResponseMessage {
                        status: ResponseStatus::success(),
                        sync_state: Some(page.sync_state),
                        includes_last_item_in_range: Some(page.includes_last_item_in_range),
                        changes: Some(changes),
                    }
                }
                Err(e) => sync_error(error_status(&e)),
            }
        }
    };
    Ok(SyncFolderItemsResponse { messages: vec![message] })
}

// ---------------------------------------------------------------------------------------------
// ResolveNames

/// Resolutions returned at most (Exchange: 100).
const MAX_RESOLUTIONS: usize = 100;

fn resolution(m: &Mailbox, full: bool) -> Resolution {
    let smtp = m.smtp().to_string();
    Resolution {
        mailbox: EmailAddress {
            name: Some(m.display_name().to_string()),
            email_address: Some(smtp.clone()),
            routing_type: Some("SMTP".into()),
            mailbox_type: Some(MailboxType::Mailbox),
            item_id: None,
            original_display_name: None,
        },
        contact: full.then(|| {
            let mut entries = vec![EmailAddressEntry {
                key: EmailAddressKey::EmailAddress1,
                name: None,
                routing_type: None,
                mailbox_type: None,
                address: format!("SMTP:{smtp}"),
            }];
            for (a, key) in m.aliases().iter().zip([EmailAddressKey::EmailAddress2, EmailAddressKey::EmailAddress3]) {
                entries.push(EmailAddressEntry {
                    key,
                    name: None,
                    routing_type: None,
                    mailbox_type: None,
                    address: format!("smtp:{a}"),
                });
            }
            Contact {
                item_id: None,
                display_name: Some(m.display_name().to_string()),
                given_name: None,
                company_name: None,
                email_addresses: Some(entries),
                contact_source: Some(ContactSource::ActiveDirectory),
                department: None,
                job_title: None,
                office_location: None,
                surname: None,
            }
        }),
    }
}

pub fn resolve_names(store: &Store, _ctx: &RequestContext, r: ResolveNames) -> Result<ResolveNamesResponse, Fault> {
    let query = r.unresolved_entry.trim();
    let query = query.strip_prefix("SMTP:").or_else(|| query.strip_prefix("smtp:")).unwrap_or(query);
    let found = store.resolve_names(query, MAX_RESOLUTIONS + 1);
    let message = match found.len() {
        0 => ResolveNamesResponseMessage {
            status: ResponseStatus::error(ResponseCode::ErrorNameResolutionNoResults, "No results were found."),
            resolution_set: None,
        },
        n => {
            let shown = &found[..n.min(MAX_RESOLUTIONS)];
            let set = ResolutionSet {
                indexed_paging_offset: None,
                numerator_offset: None,
                absolute_denominator: None,
                includes_last_item_in_range: Some(n <= MAX_RESOLUTIONS),
                total_items_in_view: Some(shown.len() as i32),
                resolutions: shown.iter().map(|m| resolution(m, r.return_full_contact_data)).collect(),
            };
            let status = if n == 1 {
                ResponseStatus::success()
            } else {
                let mut s = ResponseStatus::error(
                    ResponseCode::ErrorNameResolutionMultipleResults,
                    "Multiple results were found.",
                );
                s.class = ews_proto::ResponseClass::Warning;
                s
            };
            ResolveNamesResponseMessage { status, resolution_set: Some(set) }
        }
    };
    Ok(ResolveNamesResponse { messages: vec![message] })
}

// ---------------------------------------------------------------------------------------------
// OOF

fn oof_mailbox(store: &Store, ctx: &RequestContext, address: &str) -> Result<Arc<Mailbox>, Fault> {
    let own = request_mailbox(store, ctx)?;
    let target = store.mailbox(address).map_err(|_| faults::non_existent_mailbox(address))?;
    if target.number() != own.number() {
        // Exchange answers a request for someone else's OOF with this fault.
        return Err(Fault {
            code: "soap:Client".into(),
            string: "Microsoft.Exchange.Data.Storage.AccessDeniedException: User is not mailbox owner.".into(),
            string_lang: None,
            actor: None,
            detail: None,
        });
    }
    Ok(target)
}

/// The store's OOF settings as `t:OofSettings`.
pub fn oof_to_proto(o: &OofState) -> UserOofSettings {
    let state = match o.state {
        OofStatus::Disabled => ews_proto::ops::OofState::Disabled,
        OofStatus::Enabled => ews_proto::ops::OofState::Enabled,
        OofStatus::Scheduled => ews_proto::ops::OofState::Scheduled,
    };
    let audience = match o.external_audience {
        crate::store::ExternalAudience::None => ews_proto::ops::ExternalAudience::None,
        crate::store::ExternalAudience::Known => ews_proto::ops::ExternalAudience::Known,
        crate::store::ExternalAudience::All => ews_proto::ops::ExternalAudience::All,
    };
    let mut s = UserOofSettings::new(state, audience);
    // Exchange always sends a Duration (the last one set, or a default window).
    let (start, end) = match (o.start, o.end) {
        (Some(s), Some(e)) => (s, e),
        _ => {
            let now = Timestamp::now();
            let hour = Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(3600)).unwrap_or(now);
            (hour, hour + SignedDuration::from_hours(24))
        }
    };
    s.duration = Some(TimeWindow::new(dt(start), dt(end)));
    s.internal_reply = Some(ReplyBody::new(o.internal_reply.clone()));
    s.external_reply = Some(ReplyBody::new(o.external_reply.clone()));
    s
}

/// `t:UserOofSettings` as the store's OOF settings.
pub fn oof_from_proto(s: &UserOofSettings) -> OofState {
    let state = match s.oof_state {
        ews_proto::ops::OofState::Disabled => OofStatus::Disabled,
        ews_proto::ops::OofState::Enabled => OofStatus::Enabled,
        ews_proto::ops::OofState::Scheduled => OofStatus::Scheduled,
    };
    let external_audience = match s.external_audience {
        ews_proto::ops::ExternalAudience::None => crate::store::ExternalAudience::None,
        ews_proto::ops::ExternalAudience::Known => crate::store::ExternalAudience::Known,
        ews_proto::ops::ExternalAudience::All => crate::store::ExternalAudience::All,
    };
    let window = s.duration.and_then(|d| d.timestamps_utc());
    OofState {
        state,
        start: window.map(|w| w.0),
        end: window.map(|w| w.1),
        internal_reply: s.internal_reply.as_ref().and_then(|r| r.message.clone()).unwrap_or_default(),
        external_reply: s.external_reply.as_ref().and_then(|r| r.message.clone()).unwrap_or_default(),
        external_audience,
    }
}

pub fn get_user_oof_settings(
    store: &Store,
    ctx: &RequestContext,
    r: GetUserOofSettingsRequest,
) -> Result<GetUserOofSettingsResponse, Fault> {
    let mailbox = oof_mailbox(store, ctx, &r.mailbox.address)?;
    let oof = store.oof(&mailbox);
    Ok(GetUserOofSettingsResponse::success(oof_to_proto(&oof), ews_proto::ops::ExternalAudience::All))
}

pub fn set_user_oof_settings(
    store: &Store,
    ctx: &RequestContext,
    r: SetUserOofSettingsRequest,
) -> Result<SetUserOofSettingsResponse, Fault> {
    let mailbox = oof_mailbox(store, ctx, &r.mailbox.address)?;
    if let Err((code, text)) = r.check() {
        return Ok(SetUserOofSettingsResponse { response_message: Some(ResponseStatus::error(code, text)) });
    }
    let mut new = oof_from_proto(&r.user_oof_settings);
    if new.state != OofStatus::Scheduled && new.start.is_none() {
        // Keep the last duration, as Exchange does.
        let old = store.oof(&mailbox);
        new.start = old.start;
        new.end = old.end;
    }
    match store.set_oof(&mailbox, new) {
        Ok(()) => Ok(SetUserOofSettingsResponse::success()),
        Err(e) => Ok(SetUserOofSettingsResponse {
            response_message: Some(ResponseStatus::error(
                ResponseCode::ErrorInvalidScheduledOofDuration,
                e.to_string(),
            )),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// GetUserAvailability

fn free_busy_digit(b: LegacyFreeBusy) -> u8 {
    match b {
        LegacyFreeBusy::Free => 0,
        LegacyFreeBusy::Tentative => 1,
        LegacyFreeBusy::Busy => 2,
        LegacyFreeBusy::Oof => 3,
        LegacyFreeBusy::WorkingElsewhere => 0,
        LegacyFreeBusy::NoData => 4,
    }
}

pub fn get_user_availability(
    store: &Store,
    _ctx: &RequestContext,
    r: GetUserAvailabilityRequest,
) -> Result<GetUserAvailabilityResponse, Fault> {
    if let Err((code, text)) = r.check() {
        return Err(Fault::ews(code, &text, None));
    }
    let Some(options) = &r.free_busy_view_options else {
        return Err(Fault::ews(
            ResponseCode::ErrorInvalidRequest,
            "The request must contain FreeBusyViewOptions or SuggestionsViewOptions.",
            None,
        ));
    };
    // Times without an offset are in the request's legacy time zone; answers are in it too.
    let tz = match &r.time_zone {
        Some(z) => z.to_time_zone().map_err(|e| Fault::ews(ResponseCode::ErrorTimeZone, &e.to_string(), None))?,
        None => jiff::tz::TimeZone::UTC,
    };
    let to_ts = |d: &DateTime| d.timestamp_in(&tz);
    let (Some(start), Some(end)) = (to_ts(&options.time_window.start_time), to_ts(&options.time_window.end_time))
    else {
        return Err(Fault::ews(ResponseCode::ErrorInvalidTimeInterval, "The time window is invalid.", None));
    };
    let local = |ts: Timestamp| DateTime::floating(tz.to_datetime(ts));
    let view = options.requested_view.unwrap_or(FreeBusyViewType::FreeBusy);
    let interval = options.merged_free_busy_interval_in_minutes.unwrap_or(30).max(5) as i64;
    let merged = matches!(
        view,
        FreeBusyViewType::FreeBusyMerged | FreeBusyViewType::DetailedMerged | FreeBusyViewType::MergedOnly
    );
    let detailed = matches!(view, FreeBusyViewType::Detailed | FreeBusyViewType::DetailedMerged);
    let events_wanted = !matches!(view, FreeBusyViewType::MergedOnly | FreeBusyViewType::None);
    let availability_zone = r.time_zone.clone().unwrap_or_else(ews_proto::ops::AvailabilityTimeZone::utc);

    let responses = r
        .mailbox_data
        .iter()
        .map(|md| {
            let Ok(mb) = store.mailbox(&md.email.address) else {
                return FreeBusyResponse {
                    response_message: Some(
                        ResponseStatus::error(
                            ResponseCode::ErrorMailRecipientNotFound,
                            format!(
                                "Microsoft.Exchange.InfoWorker.Common.Availability.MailRecipientNotFoundException: \
                             Unable to resolve e-mail address {} to an Active Directory object.",
                                md.email.address
                            ),
                        )
                        .with_value("ErrorSource", "EmailAddress"),
                    ),
                    free_busy_view: None,
                };
            };
            let items = store.calendar_view(&mb, start, end, None).map(|v| v.items).unwrap_or_default();
            let mut events = Vec::new();
            let slots = (((end.as_second() - start.as_second()) / 60 + interval - 1) / interval).max(0) as usize;
            let mut digits = vec![0u8; slots];
            for c in &items {
                let (Some(s), Some(e)) =
                    (c.start.as_ref().and_then(|d| d.timestamp()), c.end.as_ref().and_then(|d| d.timestamp()))
                else {
                    continue;
                };
                let busy = c.legacy_free_busy_status.unwrap_or(LegacyFreeBusy::Busy);
                let digit = free_busy_digit(busy);
                let first = ((s.as_second() - start.as_second()).max(0) / 60) / interval;
                let last = ((e.as_second() - start.as_second()) / 60 + interval - 1) / interval;
                for slot in first.max(0)..last.min(slots as i64) {
                    let d = &mut digits[slot as usize];
                    *d = (*d).max(digit);
                }
                let private = c.item.sensitivity == Some(Sensitivity::Private);
                let details = detailed.then(|| CalendarEventDetails {
                    id: c.item.item_id.as_ref().map(|i| i.id.0.clone()),
                    subject: if private { None } else { c.item.subject.clone() },
                    location: if private { None } else { c.location.clone() },
                    is_meeting: c.is_meeting.unwrap_or(false),
                    is_recurring: c.is_recurring.unwrap_or(false),
                    is_exception: c.calendar_item_type == Some(ews_proto::items::CalendarItemType::Exception),
                    is_reminder_set: c.item.reminder_is_set.unwrap_or(false),
                    is_private: private,
                });
                events.push(CalendarEvent { start_time: local(s), end_time: local(e), busy_type: busy, details });
            }
            let merged_fb =
                merged.then(|| MergedFreeBusy(digits.iter().map(|d| char::from(b'0' + d)).collect::<String>()));
            FreeBusyResponse {
                response_message: Some(ResponseStatus::success()),
                free_busy_view: Some(FreeBusyView {
                    free_busy_view_type: view,
                    merged_free_busy: merged_fb,
                    calendar_events: if events_wanted { Some(events) } else { None },
                    working_hours: Some(WorkingHours {
                        time_zone: availability_zone.clone(),
                        working_periods: vec![WorkingPeriod {
                            day_of_week: vec![
                                ews_proto::items::DayOfWeek::Monday,
                                ews_proto::items::DayOfWeek::Tuesday,
                                ews_proto::items::DayOfWeek::Wednesday,
                                ews_proto::items::DayOfWeek::Thursday,
                                ews_proto::items::DayOfWeek::Friday,
                            ],
                            start_time_in_minutes: 480,
                            end_time_in_minutes: 1020,
                        }],
                    }),
                }),
            }
        })
        .collect();
    Ok(GetUserAvailabilityResponse { free_busy_responses: Some(responses), suggestions_response: None })
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn html_to_text_keeps_link_targets_after_their_text() {
        let html = "<html><body><p>Agenda.</p><p><a href=\"https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0?a=1&amp;b=2\">Join the meeting now</a></p><a name=\"x\">anchor</a></body></html>";
        assert_eq!(
            html_to_text(html),
            "Agenda.\r\n\r\nJoin the meeting now<https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0?a=1&b=2>\r\nanchor"
        );
        assert_eq!(
            html_to_text("<a href='https://x.test/a'>x</a> and <A HREF=https://y.test>y</A>"),
            "x<https://x.test/a> and y<https://y.test>"
        );
    }
}
