//! Write operations: CreateItem (calendar items, meetings, tasks, meeting response objects),
//! UpdateItem and DeleteItem, on the [`Store`].
//!
//! Exchange rules the simulator follows (where the documentation is silent, the choice is
//! written down here):
//!
//! * Every message of a batch is answered on its own: a bad item is a `ResponseClass="Error"`
//!   message, the others still succeed.
//! * `SendMeetingInvitations` is required when creating calendar items (missing:
//!   `ErrorSendMeetingInvitationsRequired`); `SendToNone` on a meeting with attendees is
//!   allowed, as in Exchange: the meeting is saved, nobody is invited. `SendOnlyToAll` and
//!   `SendToAllAndSaveCopy` both put the meeting into the calendars of the attendees that are
//!   simulator mailboxes (same UID); the simulator has no Sent Items folder.
//! * Times without an offset: `StartTimeZone`/`EndTimeZone` govern them, else the request's
//!   `TimeZoneContext`, else UTC (DIGEST §7). Without `StartTimeZone` the `TimeZoneContext`
//!   becomes the creation time zone.
//! * UpdateItem: `NeverOverwrite` needs a ChangeKey (`ErrorChangeKeyRequiredForWriteOperations`
//!   without one). A stale ChangeKey conflicts (`ErrorIrresolvableConflict`) with
//!   `NeverOverwrite` and with `AutoResolve`: Exchange's AutoResolve merges only changes that do
//!   not touch the same properties, and the simulator keeps no per-property history to tell, so
//!   it treats every stale key as conflicting. `AlwaysOverwrite` ignores the ChangeKey.
//!   `SendMeetingInvitationsOrCancellations` is required on calendar items
//!   (`ErrorSendMeetingInvitationsOrCancellationsRequired`). Setting `StartTimeZone` without
//!   `Start` keeps the wall-clock times and shifts the instants (DIGEST §7).
//! * DeleteItem ignores ChangeKeys (as Exchange does); `SendMeetingCancellations` is required for
//!   calendar items, `AffectedTaskOccurrences` for tasks. All three disposal types remove the
//!   item (the simulator has no Deleted Items folder). Cancelling marks the attendees' copies
//!   `IsCancelled`.
//! * Response objects: Accept/TentativelyAccept set the attendee's `MyResponseType` and the
//!   attendee's response on the organiser's copy; Decline does the same and removes the meeting
//!   from the attendee's calendar (Exchange moves it to Deleted Items); CancelCalendarItem marks
//!   the attendees' copies cancelled and removes the organiser's meeting; RemoveItem (the
//!   simulator has no Inbox, so it references the cancelled calendar copy) removes a cancelled
//!   copy. Other response objects (reply, forward) are `ErrorInvalidOperation`.

use std::sync::Arc;

use ews_proto::items::{CalendarItem, ExtendedProperty, Item, ItemFields, ResponseType, Task};
use ews_proto::ops::*;
use ews_proto::response::{ResponseStatus, StatusMessage};
use ews_proto::shape::PropertyPath;
use ews_proto::soap::Fault;
use ews_proto::values::DateTime;
use ews_proto::{BaseItemId, ItemId, ResponseCode};

use crate::server::RequestContext;
use crate::server::faults;
use crate::store::{ChangeKeyCheck, FolderKind, Mailbox, Store, StoreError};

/// The mailbox a request acts on.
pub(crate) fn request_mailbox(store: &Store, ctx: &RequestContext) -> Result<Arc<Mailbox>, Fault> {
    let address = ctx.mailbox.as_ref().map(|m| m.smtp.as_str()).unwrap_or(ctx.account.name.as_str());
    store.mailbox(address).map_err(|_| faults::non_existent_mailbox(address))
}

/// Exchange's wording of a response code.
pub(crate) fn message_text(code: &ResponseCode) -> &'static str {
    use ResponseCode as R;
    match code {
        R::ErrorItemNotFound => "The specified object was not found in the store.",
        R::ErrorInvalidIdMalformed => "Id is malformed.",
        R::ErrorIrresolvableConflict => {
            "The send or update operation could not be performed because the change key passed in the request does \
             not match the current change key for the item."
        }
        R::ErrorInvalidChangeKey => "The change key is invalid.",
        R::ErrorChangeKeyRequiredForWriteOperations => "ChangeKey is required for this operation.",
        R::ErrorSendMeetingInvitationsRequired => "SendMeetingInvitations attribute is required for Calendar items.",
        R::ErrorSendMeetingInvitationsOrCancellationsRequired => {
            "SendMeetingInvitationsOrCancellations attribute is required for Calendar items."
        }
        R::ErrorSendMeetingCancellationsRequired => {
            "SendMeetingCancellations attribute is required for Calendar items."
        }
        R::ErrorAffectedTaskOccurrencesRequired => "AffectedTaskOccurrences attribute is required for Task items.",
        R::ErrorCalendarEndDateIsEarlierThanStartDate => "EndDate is earlier than StartDate",
        R::ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange => "Occurrence index is out of recurrence range.",
        R::ErrorCalendarOccurrenceIsDeletedFromRecurrence => {
            "Occurrence with this index was previously deleted from the recurrence."
        }
        R::ErrorCalendarInvalidRecurrence => "The recurrence pattern is invalid.",
        R::ErrorTimeZone => "The time zone isn't valid.",
        R::ErrorFolderNotFound => "The specified folder could not be found in the store.",
        R::ErrorCannotCreateCalendarItemInNonCalendarFolder => {
            "Calendar items can only be created in a calendar folder."
        }
        R::ErrorCannotCreateTaskInNonTaskFolder => "Task items can only be created in a task folder.",
        R::ErrorInvalidPropertySet => "Set action is invalid for property.",
        R::ErrorInvalidPropertyDelete => "Object cannot be deleted.",
        R::ErrorInvalidPropertyAppend => "The property does not support append.",
        R::ErrorSubscriptionNotFound => "The specified subscription was not found.",
        R::ErrorExpiredSubscription => "The subscription has expired.",
        R::ErrorInvalidWatermark => "The watermark used for creating this subscription was not found.",
        R::ErrorInvalidSubscription => "Subscription is invalid.",
        R::ErrorInvalidPullSubscriptionId => "The subscription ID is not a valid pull subscription ID.",
        R::ErrorSubscriptionAccessDenied => {
            "Access is denied. Only the subscription owner may access the subscription."
        }
        R::ErrorMissedNotificationEvents => "Events were lost because too many occurred before they were read.",
        R::ErrorInvalidSubscriptionRequest => "The subscription request is invalid.",
        R::ErrorExceededSubscriptionCount => "You have exceeded the maximum number of subscriptions.",
        R::ErrorNonExistentMailbox => "No mailbox with such guid.",
        R::ErrorInvalidOperation => "The operation is not valid.",
        R::ErrorInvalidItemForOperationCreateItem => "The CreateItem request is invalid for this item type.",
        _ => "The request failed.",
    }
}

/// A status for a store error.
pub(crate) fn error_status(e: &StoreError) -> ResponseStatus {
    let code = e.response_code();
    let text = match e {
        StoreError::InvalidValue { field, message } => format!("{field}: {message}"),
        StoreError::UnknownTimeZone(z) => format!("The time zone isn't valid: {z}"),
        _ => message_text(&code).to_string(),
    };
    ResponseStatus::error(code, text)
}

pub(crate) fn code_status(code: ResponseCode) -> ResponseStatus {
    let text = message_text(&code);
    ResponseStatus::error(code, text)
}

/// An item carrying only its id (what CreateItem and UpdateItem answer with).
fn id_only(item: &Item) -> Item {
    let fields = ItemFields { item_id: item.item_id().cloned(), ..ItemFields::default() };
    match item {
        Item::Task(_) => Item::Task(Task { item: fields, ..Task::default() }),
        _ => Item::Calendar(CalendarItem { item: fields, ..CalendarItem::default() }),
    }
}

/// The Windows id of the request's `TimeZoneContext`.
fn context_zone(ctx: &RequestContext) -> Option<&str> {
    ctx.time_zone_context.as_ref().and_then(|z| z.id.as_deref())
}

fn explicit_zone(c: &CalendarItem) -> Option<&str> {
    c.start_time_zone_id
        .as_deref()
        .or(c.start_time_zone.as_ref().and_then(|z| z.id.as_deref()))
        .or(c.meeting_time_zone.as_ref().and_then(|z| z.time_zone_name.as_deref()))
}

/// Makes floating `Start`/`End` absolute as Exchange reads them: in `StartTimeZone`
/// (`EndTimeZone` for `End`), else in `fallback` (the TimeZoneContext), else UTC.
fn resolve_floating(store: &Store, c: &mut CalendarItem, fallback: Option<&str>) -> Result<(), StoreError> {
    let start_zone = explicit_zone(c).or(fallback).map(str::to_string);
    let end_zone = c
        .end_time_zone_id
        .as_deref()
        .or(c.end_time_zone.as_ref().and_then(|z| z.id.as_deref()))
        .map(str::to_string)
        .or_else(|| start_zone.clone());
    for (value, zone, field) in [(&mut c.start, start_zone, "Start"), (&mut c.end, end_zone, "End")] {
        let Some(v) = value.as_mut() else { continue };
        if v.offset.is_some() {
            continue;
        }
        let tz = match zone {
            Some(z) => store.zone(&z)?.tz.clone(),
            None => jiff::tz::TimeZone::UTC,
        };
        let ts = v.timestamp_in(&tz).ok_or_else(|| StoreError::invalid(field, "not a time that exists"))?;
        *v = DateTime::utc(ts);
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------
// CreateItem

pub fn create_item(store: &Store, ctx: &RequestContext, r: CreateItem) -> Result<CreateItemResponse, Fault> {
    let mailbox = request_mailbox(store, ctx)?;
    let folder = match &r.saved_item_folder_id {
        None => None,
        Some(f) => match store.resolve_folder(&mailbox, f) {
            Ok(x) => Some(x),
            Err(e) => {
                let status = error_status(&e);
                return Ok(CreateItemResponse {
                    messages: r.items.iter().map(|_| CreateItemResponseMessage::error(status.clone())).collect(),
                });
            }
        },
    };
    let messages = r
        .items
        .into_iter()
        .map(|payload| match payload {
            CreateItemPayload::Item(item) => {
                create_one(store, ctx, &mailbox, folder.as_ref(), r.send_meeting_invitations, item)
            }
            CreateItemPayload::ResponseObject(resp) => respond(store, &mailbox, resp),
        })
        .collect();
    Ok(CreateItemResponse { messages })
}

fn create_one(
    store: &Store,
    ctx: &RequestContext,
    mailbox: &Arc<Mailbox>,
    folder: Option<&(Arc<Mailbox>, FolderKind)>,
    send: Option<CalendarItemCreateOrDeleteOperation>,
    mut item: Item,
) -> CreateItemResponseMessage {
    let (target, kind) = match (folder, &item) {
        (Some((m, k)), _) => (m.clone(), *k),
        (None, Item::Task(_)) => (mailbox.clone(), FolderKind::Tasks),
        (None, _) => (mailbox.clone(), FolderKind::Calendar),
    };
    if let Item::Calendar(c) = &mut item {
        if send.is_none() {
            return CreateItemResponseMessage::error(code_status(ResponseCode::ErrorSendMeetingInvitationsRequired));
        }
        let fallback = context_zone(ctx);
        if explicit_zone(c).is_none()
            && let Some(z) = fallback
        {
            c.start_time_zone_id = Some(z.to_string());
        }
        if let Err(e) = resolve_floating(store, c, fallback) {
            return CreateItemResponseMessage::error(error_status(&e));
        }
    }
    let created = match store.create_item(&target, kind, &item) {
        Ok(i) => i,
        Err(e) => return CreateItemResponseMessage::error(error_status(&e)),
    };
    let has_attendees = created.as_calendar().is_some_and(has_attendees);
    if has_attendees
        && matches!(
            send,
            Some(
                CalendarItemCreateOrDeleteOperation::SendOnlyToAll
                    | CalendarItemCreateOrDeleteOperation::SendToAllAndSaveCopy
            )
        )
        && let Some(id) = created.item_id()
        && let Err(e) = store.send_meeting_invitations(&target, &BaseItemId::Item(id.clone()))
    {
        return CreateItemResponseMessage::error(error_status(&e));
    }
    // The invitation changed the change key (MeetingRequestWasSent): answer the current one.
    let current = created.item_id().and_then(|id| store.get_item(&target, &BaseItemId::Item(id.clone())).ok());
    CreateItemResponseMessage::success(vec![id_only(current.as_ref().unwrap_or(&created))])
}

fn has_attendees(c: &CalendarItem) -> bool {
    [&c.required_attendees, &c.optional_attendees, &c.resources]
        .iter()
        .any(|l| l.as_ref().is_some_and(|v| !v.is_empty()))
}

fn attendee_addresses(c: &CalendarItem) -> Vec<String> {
    [&c.required_attendees, &c.optional_attendees, &c.resources]
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|a| a.mailbox.email_address.clone())
        .collect()
}

/// The item of `mailbox`'s calendar with this UID (a meeting copy).
fn find_by_uid(store: &Store, mailbox: &Mailbox, uid: &str) -> Option<Item> {
    let mut offset = 0;
    loop {
        let page = store.find_items(mailbox, FolderKind::Calendar, offset, crate::store::FIND_COUNT_LIMIT);
        if let Some(hit) = page.items.into_iter().find(|i| i.as_calendar().and_then(|c| c.uid.as_deref()) == Some(uid))
        {
            return Some(hit);
        }
        if page.includes_last_item_in_range {
            return None;
        }
        offset = page.next_offset;
    }
}

/// Marks the attendees' copies of an organiser's meeting cancelled.
fn cancel_attendee_copies(store: &Store, organizer: &Mailbox, meeting: &CalendarItem) {
    let Some(uid) = meeting.uid.as_deref() else { return };
    cancel_copies(store, organizer, uid, attendee_addresses(meeting));
}

/// Marks the copies of the meeting `uid` in these attendees' calendars cancelled.
fn cancel_copies(store: &Store, organizer: &Mailbox, uid: &str, addresses: Vec<String>) {
    for address in addresses {
        let Ok(mb) = store.mailbox(&address) else { continue };
        if mb.number() == organizer.number() {
            continue;
        }
        let Some(copy) = find_by_uid(store, &mb, uid) else { continue };
        let Some(id) = copy.item_id() else { continue };
        let _ = store.update_item(&mb, &BaseItemId::Item(id.clone()), ChangeKeyCheck::Ignore, |i| {
            if let Item::Calendar(c) = i {
                c.is_cancelled = Some(true);
                if let Some(s) = c.item.subject.as_mut()
                    && !s.starts_with("Canceled: ")
                {
                    *s = format!("Canceled: {s}");
                }
            }
            Ok(())
        });
    }
}

fn respond(store: &Store, mailbox: &Arc<Mailbox>, r: ResponseObject) -> CreateItemResponseMessage {
    let Some(reference) = r.reference_item_id.clone() else {
        return CreateItemResponseMessage::error(ResponseStatus::error(
            ResponseCode::ErrorInvalidRequest,
            "The ReferenceItemId is required for a response object.",
        ));
    };
    let id = BaseItemId::Item(reference);
    let item = match store.get_item(mailbox, &id) {
        Ok(Item::Calendar(c)) => c,
        Ok(_) => {
            return CreateItemResponseMessage::error(code_status(ResponseCode::ErrorInvalidOperation));
        }
        Err(e) => return CreateItemResponseMessage::error(error_status(&e)),
    };
    let response = match r.kind {
        ResponseObjectKind::AcceptItem => ResponseType::Accept,
        ResponseObjectKind::TentativelyAcceptItem => ResponseType::Tentative,
        ResponseObjectKind::DeclineItem => ResponseType::Decline,
        ResponseObjectKind::CancelCalendarItem => {
            if item
                .organizer
                .as_ref()
                .and_then(|o| o.mailbox.email_address.as_deref())
                .is_some_and(|o| store.mailbox(o).map(|m| m.number() != mailbox.number()).unwrap_or(true))
            {
                return CreateItemResponseMessage::error(code_status(ResponseCode::ErrorInvalidOperation));
            }
            cancel_attendee_copies(store, mailbox, &item);
            return match store.delete_item(mailbox, &id, ChangeKeyCheck::Ignore) {
                Ok(()) => CreateItemResponseMessage::success(Vec::new()),
                Err(e) => CreateItemResponseMessage::error(error_status(&e)),
            };
        }
        ResponseObjectKind::RemoveItem if item.is_cancelled == Some(true) => {
            // The simulator has no Inbox: the reference is the cancelled copy itself.
            return match store.delete_item(mailbox, &id, ChangeKeyCheck::Ignore) {
                Ok(()) => CreateItemResponseMessage::success(Vec::new()),
                Err(e) => CreateItemResponseMessage::error(error_status(&e)),
            };
        }
        _ => return CreateItemResponseMessage::error(code_status(ResponseCode::ErrorInvalidOperation)),
    };
    // The attendee's answer on their own copy.
    let updated = store.update_item(mailbox, &id, ChangeKeyCheck::Ignore, |i| {
        if let Item::Calendar(c) = i {
            c.my_response_type = Some(response);
        }
        Ok(())
    });
    if let Err(e) = updated {
        return CreateItemResponseMessage::error(error_status(&e));
    }
    // And on the organiser's copy.
    let organizer =
        item.organizer.as_ref().and_then(|o| o.mailbox.email_address.as_deref()).and_then(|a| store.mailbox(a).ok());
    if let (Some(org), Some(uid)) = (organizer, item.uid.as_deref())
        && org.number() != mailbox.number()
        && let Some(master) = find_by_uid(store, &org, uid)
        && let Some(mid) = master.item_id()
    {
        let me = mailbox.smtp().normalized();
        let _ = store.update_item(&org, &BaseItemId::Item(mid.clone()), ChangeKeyCheck::Ignore, |i| {
            if let Item::Calendar(c) = i {
                for list in [&mut c.required_attendees, &mut c.optional_attendees, &mut c.resources] {
                    for a in list.iter_mut().flatten() {
                        if a.mailbox.email_address.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&me)) {
                            a.response_type = Some(response);
                        }
                    }
                }
            }
            Ok(())
        });
    }
    if response == ResponseType::Decline
        && let Err(e) = store.delete_item(mailbox, &id, ChangeKeyCheck::Ignore)
    {
        return CreateItemResponseMessage::error(error_status(&e));
    }
    CreateItemResponseMessage::success(Vec::new())
}

// ----------------------------------------------------------------------------------------
// UpdateItem

/// Why one change could not be applied.
fn field_error(code: ResponseCode) -> StoreError {
    // Carried through the store's edit closure; mapped back in `update_one`.
    let field = match code {
        ResponseCode::ErrorInvalidPropertyAppend => "ErrorInvalidPropertyAppend",
        ResponseCode::ErrorInvalidPropertyDelete => "ErrorInvalidPropertyDelete",
        _ => "ErrorInvalidPropertySet",
    };
    StoreError::InvalidValue { field, message: message_text(&code).to_string() }
}

fn uri_of(path: &PropertyPath) -> Option<&str> {
    match path {
        PropertyPath::Field(f) => Some(f.as_str()),
        _ => None,
    }
}

fn set_extended(list: &mut Vec<ExtendedProperty>, p: ExtendedProperty) {
    list.retain(|x| x.field != p.field);
    list.push(p);
}

/// Copies (`Set`), appends (`Append`) or clears (`Delete`, `src` None) one field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Set,
    Append,
    Delete,
}

macro_rules! field {
    ($op:expr, $dst:expr, $src:expr) => {{
        match $op {
            Op::Set => $dst = $src.clone(),
            Op::Delete => $dst = Default::default(),
            Op::Append => return Err(field_error(ResponseCode::ErrorInvalidPropertyAppend)),
        }
    }};
}

macro_rules! list_field {
    ($op:expr, $dst:expr, $src:expr) => {{
        match $op {
            Op::Set => $dst = $src.clone(),
            Op::Delete => $dst = None,
            Op::Append => {
                let extra = $src.clone().unwrap_or_default();
                $dst.get_or_insert_with(Vec::new).extend(extra);
            }
        }
    }};
}

fn apply_common(op: Op, uri: &str, dst: &mut ItemFields, src: &ItemFields) -> Result<bool, StoreError> {
    match uri {
        "item:Subject" => field!(op, dst.subject, src.subject),
        "item:Sensitivity" => field!(op, dst.sensitivity, src.sensitivity),
        "item:Importance" => field!(op, dst.importance, src.importance),
        "item:Categories" => list_field!(op, dst.categories, src.categories),
        "item:ReminderIsSet" => field!(op, dst.reminder_is_set, src.reminder_is_set),
        "item:ReminderMinutesBeforeStart" => {
            field!(op, dst.reminder_minutes_before_start, src.reminder_minutes_before_start)
        }
        "item:Body" => match op {
            Op::Append => match (&mut dst.body, &src.body) {
                (Some(d), Some(s)) => d.content.push_str(&s.content),
                (d, s) => *d = s.clone(),
            },
            _ => field!(op, dst.body, src.body),
        },
        _ => return Ok(false),
    }
    Ok(true)
}

fn apply_calendar(op: Op, uri: &str, dst: &mut CalendarItem, src: &CalendarItem) -> Result<(), StoreError> {
    if apply_common(op, uri, &mut dst.item, &src.item)? {
        return Ok(());
    }
    match uri {
        "calendar:Start" => field!(op, dst.start, src.start),
        "calendar:End" => field!(op, dst.end, src.end),
        "calendar:IsAllDayEvent" => field!(op, dst.is_all_day_event, src.is_all_day_event),
        "calendar:LegacyFreeBusyStatus" => field!(op, dst.legacy_free_busy_status, src.legacy_free_busy_status),
        "calendar:Location" => field!(op, dst.location, src.location),
        "calendar:IsCancelled" => field!(op, dst.is_cancelled, src.is_cancelled),
        "calendar:IsResponseRequested" => field!(op, dst.is_response_requested, src.is_response_requested),
        "calendar:RequiredAttendees" => list_field!(op, dst.required_attendees, src.required_attendees),
        "calendar:OptionalAttendees" => list_field!(op, dst.optional_attendees, src.optional_attendees),
        "calendar:Resources" => list_field!(op, dst.resources, src.resources),
        "calendar:Recurrence" => field!(op, dst.recurrence, src.recurrence),
        "calendar:StartTimeZone" | "calendar:EndTimeZone" | "calendar:MeetingTimeZone" => {
            // Handled by `shift_zone` before the other fields.
        }
        _ => return Err(field_error(ResponseCode::ErrorInvalidPropertySet)),
    }
    if uri == "calendar:Recurrence" && op == Op::Delete {
        dst.modified_occurrences = None;
        dst.deleted_occurrences = None;
    }
    Ok(())
}

fn apply_task(op: Op, uri: &str, dst: &mut Task, src: &Task) -> Result<(), StoreError> {
    if apply_common(op, uri, &mut dst.item, &src.item)? {
        return Ok(());
    }
    match uri {
        "task:StartDate" => field!(op, dst.start_date, src.start_date),
        "task:DueDate" => field!(op, dst.due_date, src.due_date),
        "task:CompleteDate" => field!(op, dst.complete_date, src.complete_date),
        "task:Status" => field!(op, dst.status, src.status),
        "task:PercentComplete" => field!(op, dst.percent_complete, src.percent_complete),
        "task:IsComplete" => field!(op, dst.is_complete, src.is_complete),
        _ => return Err(field_error(ResponseCode::ErrorInvalidPropertySet)),
    }
    Ok(())
}

/// Applies one `ItemChange`'s updates to the rendered item.
fn apply_updates(
    store: &Store,
    fallback_zone: Option<&str>,
    item: &mut Item,
    updates: &[ItemUpdate],
) -> Result<(), StoreError> {
    // A new StartTimeZone without a new Start keeps the wall-clock times (DIGEST §7).
    if let Item::Calendar(c) = item {
        let sets_start = updates.iter().any(|u| uri_of(u.path()) == Some("calendar:Start"));
        for u in updates {
            let ItemUpdate::SetItemField { path, item: Item::Calendar(src) } = u else { continue };
            let Some(uri @ ("calendar:StartTimeZone" | "calendar:EndTimeZone" | "calendar:MeetingTimeZone")) =
                uri_of(path)
            else {
                continue;
            };
            let new_id = match uri {
                "calendar:EndTimeZone" => src.end_time_zone.as_ref().and_then(|z| z.id.clone()),
                "calendar:MeetingTimeZone" => src.meeting_time_zone.as_ref().and_then(|z| z.time_zone_name.clone()),
                _ => src.start_time_zone.as_ref().and_then(|z| z.id.clone()),
            }
            .ok_or_else(|| StoreError::invalid("StartTimeZone", "a time zone needs an Id"))?;
            if uri == "calendar:EndTimeZone" {
                // The simulator keeps one zone per item; EndTimeZone only shifts the end.
                let new = store.zone(&new_id)?;
                let old = store.zone(c.end_time_zone_id.as_deref().unwrap_or("UTC"))?;
                if !updates.iter().any(|u| uri_of(u.path()) == Some("calendar:End"))
                    && let Some(e) = c.end.as_mut()
                {
                    shift(e, &old.tz, &new.tz)?;
                }
                c.end_time_zone_id = Some(new_id);
                continue;
            }
            let new = store.zone(&new_id)?;
            let old = store.zone(c.start_time_zone_id.as_deref().unwrap_or("UTC"))?;
            if !sets_start {
                for v in [c.start.as_mut(), c.end.as_mut()].into_iter().flatten() {
                    shift(v, &old.tz, &new.tz)?;
                }
            }
            c.start_time_zone_id = Some(new_id.clone());
            c.end_time_zone_id = Some(new_id);
            c.start_time_zone = src.start_time_zone.clone();
        }
    }
    for u in updates {
        let (op, path, src) = match u {
            ItemUpdate::SetItemField { path, item } => (Op::Set, path, Some(item)),
            ItemUpdate::AppendToItemField { path, item } => (Op::Append, path, Some(item)),
            ItemUpdate::DeleteItemField { path } => (Op::Delete, path, None),
        };
        match path {
            PropertyPath::Extended(field) => {
                let list = match item {
                    Item::Calendar(c) => &mut c.item.extended_properties,
                    Item::Task(t) => &mut t.item.extended_properties,
                    Item::Other(_) => return Err(StoreError::UnsupportedItem),
                };
                match (op, src) {
                    (Op::Delete, _) => list.retain(|p| p.field != *field),
                    (_, Some(s)) => {
                        let p = s
                            .fields()
                            .extended_properties
                            .iter()
                            .find(|p| p.field == *field)
                            .or(s.fields().extended_properties.first())
                            .cloned()
                            .ok_or_else(|| StoreError::invalid("ExtendedProperty", "the item carries no value"))?;
                        set_extended(list, ExtendedProperty { field: field.clone(), value: p.value });
                    }
                    _ => {}
                }
            }
            PropertyPath::Indexed { .. } => return Err(field_error(ResponseCode::ErrorInvalidPropertySet)),
            PropertyPath::Field(uri) => match (&mut *item, src) {
                (Item::Calendar(dst), Some(Item::Calendar(s))) => {
                    let mut s = s.clone();
                    if uri == "calendar:Start" || uri == "calendar:End" {
                        let zone_given = explicit_zone(&s).is_some() || s.end_time_zone.is_some();
                        resolve_floating(
                            store,
                            &mut s,
                            if zone_given { None } else { fallback_zone.or(dst.start_time_zone_id.as_deref()) },
                        )?;
                    }
                    apply_calendar(op, uri, dst, &s)?
                }
                (Item::Calendar(dst), None) => apply_calendar(op, uri, dst, &CalendarItem::default())?,
                (Item::Task(dst), Some(Item::Task(s))) => apply_task(op, uri, dst, s)?,
                (Item::Task(dst), None) => apply_task(op, uri, dst, &Task::default())?,
                (Item::Calendar(dst), Some(other)) if uri.starts_with("item:") => {
                    apply_common(op, uri, &mut dst.item, other.fields())?;
                }
                (Item::Task(dst), Some(other)) if uri.starts_with("item:") => {
                    apply_common(op, uri, &mut dst.item, other.fields())?;
                }
                _ => return Err(field_error(ResponseCode::ErrorInvalidPropertySet)),
            },
        }
    }
    Ok(())
}

/// Keeps the wall-clock time of `v` (in `old`) in the zone `new`.
fn shift(v: &mut DateTime, old: &jiff::tz::TimeZone, new: &jiff::tz::TimeZone) -> Result<(), StoreError> {
    let ts = v.timestamp_in(old).ok_or_else(|| StoreError::invalid("Start", "not a valid time"))?;
    let wall = old.to_datetime(ts);
    let shifted = DateTime::floating(wall)
        .timestamp_in(new)
        .ok_or_else(|| StoreError::invalid("StartTimeZone", "no such time"))?;
    *v = DateTime::utc(shifted);
    Ok(())
}

fn change_key_of(id: &BaseItemId) -> Option<&ews_proto::ChangeKey> {
    match id {
        BaseItemId::Item(i) => i.change_key.as_ref(),
        BaseItemId::Occurrence(o) => o.change_key.as_ref(),
        BaseItemId::RecurringMaster(r) => r.change_key.as_ref(),
    }
}

pub fn update_item(store: &Store, ctx: &RequestContext, r: UpdateItem) -> Result<UpdateItemResponse, Fault> {
    let mailbox = request_mailbox(store, ctx)?;
    let messages = r.item_changes.iter().map(|change| update_one(store, ctx, &mailbox, &r, change)).collect();
    Ok(UpdateItemResponse { messages })
}

fn update_one(
    store: &Store,
    ctx: &RequestContext,
    mailbox: &Arc<Mailbox>,
    r: &UpdateItem,
    change: &ItemChange,
) -> UpdateItemResponseMessage {
    let fail = |e: StoreError| {
        let status = match &e {
            StoreError::InvalidValue { field, .. } if field.starts_with("Error") => {
                code_status(ResponseCode::parse(field))
            }
            _ => error_status(&e),
        };
        UpdateItemResponseMessage::error(status)
    };
    let current = match store.get_item(mailbox, &change.item_id) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    if r.conflict_resolution == ConflictResolution::NeverOverwrite && change_key_of(&change.item_id).is_none() {
        return UpdateItemResponseMessage::error(code_status(ResponseCode::ErrorChangeKeyRequiredForWriteOperations));
    }
    let is_calendar = matches!(current, Item::Calendar(_));
    if is_calendar && r.send_meeting_invitations_or_cancellations.is_none() {
        return UpdateItemResponseMessage::error(code_status(
            ResponseCode::ErrorSendMeetingInvitationsOrCancellationsRequired,
        ));
    }
    let check = match r.conflict_resolution {
        ConflictResolution::AlwaysOverwrite => ChangeKeyCheck::Ignore,
        ConflictResolution::NeverOverwrite | ConflictResolution::AutoResolve => ChangeKeyCheck::Enforce,
    };
    let fallback = context_zone(ctx).map(str::to_string);
    let updated = match store.update_item(mailbox, &change.item_id, check, |item| {
        apply_updates(store, fallback.as_deref(), item, &change.updates)
    }) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let send = r.send_meeting_invitations_or_cancellations.unwrap_or(CalendarItemUpdateOperation::SendToNone);
    let mut result = updated;
    // Attendees the organiser removed get a cancellation.
    if send != CalendarItemUpdateOperation::SendToNone
        && let (Item::Calendar(before), Item::Calendar(after)) = (&current, &result)
        && before.my_response_type.is_none_or(|t| t == ResponseType::Organizer)
        && let Some(uid) = before.uid.as_deref()
    {
        let kept: Vec<String> = attendee_addresses(after).iter().map(|a| a.to_ascii_lowercase()).collect();
        let removed =
            attendee_addresses(before).into_iter().filter(|a| !kept.contains(&a.to_ascii_lowercase())).collect();
        cancel_copies(store, mailbox, uid, removed);
    }
    if send != CalendarItemUpdateOperation::SendToNone
        && let Item::Calendar(c) = &result
        && has_attendees(c)
        && c.my_response_type.is_none_or(|t| t == ResponseType::Organizer)
    {
        // Invitations go out for the series (an occurrence's change is part of it).
        let master = match &change.item_id {
            BaseItemId::Occurrence(o) => BaseItemId::Item(ItemId::new(o.recurring_master_id.0.clone(), None)),
            BaseItemId::Item(i)
                if store.decode_id(i.id.as_str()).is_some_and(|raw| raw.kind == crate::store::IdKind::Occurrence) =>
            {
                BaseItemId::RecurringMaster(ews_proto::RecurringMasterItemId {
                    occurrence_id: i.id.clone(),
                    change_key: None,
                })
            }
            other => other.clone(),
        };
        let master = match store.get_item(mailbox, &master).ok().and_then(|m| m.item_id().cloned()) {
            Some(id) => BaseItemId::Item(ItemId { change_key: None, ..id }),
            None => master,
        };
        if let Err(e) = store.send_meeting_invitations(mailbox, &master) {
            return fail(e);
        }
        if let Some(id) = result.item_id()
            && let Ok(again) = store.get_item(mailbox, &BaseItemId::Item(id.clone()))
        {
            result = again;
        }
    }
    let mut msg = UpdateItemResponseMessage::success(vec![id_only(&result)]);
    msg.conflict_results = Some(0);
    msg
}

// ----------------------------------------------------------------------------------------
// DeleteItem

pub fn delete_item(store: &Store, ctx: &RequestContext, r: DeleteItem) -> Result<DeleteItemResponse, Fault> {
    let mailbox = request_mailbox(store, ctx)?;
    let messages = r
        .item_ids
        .iter()
        .map(|id| StatusMessage {
            status: match delete_one(store, &mailbox, &r, id) {
                Ok(()) => ResponseStatus::success(),
                Err(s) => s,
            },
        })
        .collect();
    Ok(DeleteItemResponse { messages })
}

fn delete_one(store: &Store, mailbox: &Arc<Mailbox>, r: &DeleteItem, id: &BaseItemId) -> Result<(), ResponseStatus> {
    let item = store.get_item(mailbox, id).map_err(|e| error_status(&e))?;
    match &item {
        Item::Calendar(c) => {
            let Some(send) = r.send_meeting_cancellations else {
                return Err(code_status(ResponseCode::ErrorSendMeetingCancellationsRequired));
            };
            let organised = c.my_response_type.is_none_or(|t| t == ResponseType::Organizer);
            if send != CalendarItemCreateOrDeleteOperation::SendToNone && organised && has_attendees(c) {
                match id {
                    BaseItemId::Occurrence(_) => {}
                    _ if c.original_start.is_some() => {}
                    _ => cancel_attendee_copies(store, mailbox, c),
                }
            }
        }
        Item::Task(_) => {
            if r.affected_task_occurrences.is_none() {
                return Err(code_status(ResponseCode::ErrorAffectedTaskOccurrencesRequired));
            }
        }
        Item::Other(_) => {}
    }
    store.delete_item(mailbox, id, ChangeKeyCheck::Ignore).map_err(|e| error_status(&e))?;
    // An occurrence removed from an organiser's series: the attendees' series follow.
    if let (BaseItemId::Occurrence(o), Item::Calendar(c)) = (id, &item)
        && r.send_meeting_cancellations.is_some_and(|s| s != CalendarItemCreateOrDeleteOperation::SendToNone)
        && has_attendees(c)
        && c.my_response_type.is_none_or(|t| t == ResponseType::Organizer)
    {
        let _ = store
            .send_meeting_invitations(mailbox, &BaseItemId::Item(ItemId::new(o.recurring_master_id.0.clone(), None)));
    }
    Ok(())
}
