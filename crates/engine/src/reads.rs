//! Live reads from Exchange, for what the mirror does not hold: a calendar view for a user
//! whose initial sync is not complete yet, free/busy, automatic replies (OOF).

use ews_client::{ErrorClass, ErrorKind, EwsError};
use ews_proto::items::{CalendarItem, Item, LegacyFreeBusy};
use ews_proto::ops::{
    FindItem, FreeBusyViewType, GetItem, GetUserAvailabilityRequest, GetUserOofSettingsRequest, MAX_TIME_WINDOW_DAYS,
    TimeWindow,
};
use ews_proto::shape::{BaseShape, ItemShape};
use ews_proto::values::DateTime;
use ews_proto::{FolderId, SmtpAddress};
use exbridge_calendar::presence::{Oof, OofState};
use jiff::Timestamp;

use crate::context::{Context, ExchangeServer};
use crate::event::{EventDoc, FreeBusySlot};
use crate::mapping;
use crate::sync::{item_shape, message_error};

/// How often a CalendarView that hit the server's item limit is split in halves.
const MAX_VIEW_SPLITS: u32 = 4;

fn protocol(server: &ExchangeServer, what: String) -> EwsError {
    EwsError::new(ErrorClass::Transient, ErrorKind::Protocol, format!("server {:?}: {what}", server.name))
}

/// The ids of the occurrences, exceptions and singles of a CalendarView over `[start, end)`;
/// a view the server cut short (`IncludesLastItemInRange` false) is split in halves.
async fn view_ids(
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    start: Timestamp,
    end: Timestamp,
    depth: u32,
) -> Result<Vec<ews_proto::ItemId>, EwsError> {
    let op = FindItem::calendar_view(
        FolderId::calendar(),
        DateTime::utc(start),
        DateTime::utc(end),
        ItemShape::new(BaseShape::IdOnly),
    );
    let response = server.client.call(Some(mailbox), op).await?;
    let msg =
        response.messages.into_iter().next().ok_or_else(|| protocol(server, "FindItem answered no message".into()))?;
    if !msg.status.is_success() {
        return Err(message_error(server, "FindItem", Some(mailbox), &msg.status));
    }
    let complete = msg.root_folder.as_ref().and_then(|r| r.includes_last_item_in_range) != Some(false);
    if !complete && depth < MAX_VIEW_SPLITS && end.as_second() - start.as_second() > 3600 {
        let middle = Timestamp::from_second((start.as_second() + end.as_second()) / 2).unwrap_or(start);
        let mut first = Box::pin(view_ids(server, mailbox, start, middle, depth + 1)).await?;
        let second = Box::pin(view_ids(server, mailbox, middle, end, depth + 1)).await?;
        for id in second {
            if !first.iter().any(|x| x.id == id.id) {
                first.push(id);
            }
        }
        return Ok(first);
    }
    if !complete {
        tracing::warn!(mailbox = %mailbox, "calendar view truncated by the server's item limit");
    }
    Ok(msg.items().iter().filter_map(|i| i.item_id().cloned()).collect())
}

/// Occurrences of `mailbox`'s calendar overlapping `[start, end)` (FindItem CalendarView, then
/// GetItem for the fields a view does not return), as the events endpoint shows them: the same
/// ids as the mirror gives them, ordered by start.
pub async fn calendar_view(
    ctx: &Context,
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<EventDoc>, EwsError> {
    let ids = view_ids(server, mailbox, start, end, 0).await?;
    let mut items: Vec<CalendarItem> = Vec::new();
    for chunk in ids.chunks(ctx.settings.get_item_batch.max(1)) {
        let response = server.client.call(Some(mailbox), GetItem::new(chunk.to_vec(), item_shape())).await?;
        for msg in response.messages {
            if !msg.status.is_success() {
                // An item deleted between the view and GetItem is simply not shown.
                tracing::debug!(mailbox = %mailbox, code = %msg.status.code(), "view item skipped");
                continue;
            }
            items.extend(msg.items.into_iter().filter_map(|i| match i {
                Item::Calendar(c) => Some(c),
                _ => None,
            }));
        }
    }
    let mut docs: Vec<(Timestamp, EventDoc)> = items
        .iter()
        .filter_map(|c| {
            let mut doc = mapping::view_item_doc(c, &ctx.joins)?;
            ctx.catmap.apply_to_doc(&mut doc);
            let at: Timestamp = doc.start.parse().ok()?;
            Some((at, doc))
        })
        .collect();
    docs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    Ok(docs.into_iter().map(|(_, d)| d).collect())
}

/// How busy a status is, for overlapping events (busiest wins).
fn weight(s: LegacyFreeBusy) -> u8 {
    match s {
        LegacyFreeBusy::Oof => 5,
        LegacyFreeBusy::Busy => 4,
        LegacyFreeBusy::Tentative => 3,
        LegacyFreeBusy::WorkingElsewhere => 2,
        LegacyFreeBusy::Free => 1,
        LegacyFreeBusy::NoData => 0,
    }
}

/// Merges busy blocks into slots: clipped to `[start, end)`, where blocks overlap the busiest
/// status wins, adjacent slots of one status are joined, gaps are left out. Ordered by start.
pub fn merge_slots(
    blocks: &[(Timestamp, Timestamp, LegacyFreeBusy)],
    start: Timestamp,
    end: Timestamp,
) -> Vec<(Timestamp, Timestamp, LegacyFreeBusy)> {
    let clipped: Vec<(Timestamp, Timestamp, LegacyFreeBusy)> =
        blocks.iter().map(|&(s, e, st)| (s.max(start), e.min(end), st)).filter(|(s, e, _)| s < e).collect();
    let mut bounds: Vec<Timestamp> = clipped.iter().flat_map(|&(s, e, _)| [s, e]).collect();
    bounds.sort();
    bounds.dedup();
    let mut out: Vec<(Timestamp, Timestamp, LegacyFreeBusy)> = Vec::new();
    for w in bounds.windows(2) {
        let (a, b) = (w[0], w[1]);
        let status =
            clipped.iter().filter(|(s, e, _)| *s <= a && *e >= b).map(|(_, _, st)| *st).max_by_key(|s| weight(*s));
        let Some(status) = status else { continue };
        match out.last_mut() {
            Some(last) if last.1 == a && last.2 == status => last.1 = b,
            _ => out.push((a, b, status)),
        }
    }
    out
}

/// The busy blocks of one GetUserAvailability request.
async fn free_busy_blocks(
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<(Timestamp, Timestamp, LegacyFreeBusy)>, EwsError> {
    let op = GetUserAvailabilityRequest::free_busy(
        &[mailbox.as_str()],
        TimeWindow::new(DateTime::utc(start), DateTime::utc(end)),
        FreeBusyViewType::FreeBusy,
    );
    let response = server.client.call(Some(mailbox), op).await?;
    let first = response
        .free_busy_responses
        .and_then(|r| r.into_iter().next())
        .ok_or_else(|| protocol(server, format!("GetUserAvailability for {mailbox}: no FreeBusyResponse")))?;
    if let Some(status) = &first.response_message
        && !status.is_success()
    {
        return Err(message_error(server, "GetUserAvailability", Some(mailbox), status));
    }
    let utc = jiff::tz::TimeZone::UTC;
    Ok(first
        .free_busy_view
        .and_then(|v| v.calendar_events)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| Some((e.start_time.timestamp_in(&utc)?, e.end_time.timestamp_in(&utc)?, e.busy_type)))
        .collect())
}

/// Free/busy of `mailbox` in `[start, end)` (GetUserAvailability, FreeBusy view; windows
/// longer than the server's limit are asked in chunks), merged: see [`merge_slots`].
pub async fn free_busy(
    ctx: &Context,
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<FreeBusySlot>, EwsError> {
    let _ = ctx;
    // GetUserAvailability answers at most MAX_TIME_WINDOW_DAYS per request: ask in chunks.
    let chunk = MAX_TIME_WINDOW_DAYS * 86_400;
    let mut blocks: Vec<(Timestamp, Timestamp, LegacyFreeBusy)> = Vec::new();
    let mut from = start;
    while from < end {
        let to = Timestamp::from_second(from.as_second().saturating_add(chunk)).unwrap_or(end).min(end);
        blocks.extend(free_busy_blocks(server, mailbox, from, to).await?);
        from = to;
    }
    Ok(merge_slots(&blocks, start, end)
        .into_iter()
        .map(|(s, e, st)| FreeBusySlot {
            start: s.to_string(),
            end: e.to_string(),
            status: mapping::free_busy_str(st).to_owned(),
        })
        .collect())
}

/// The mailbox's automatic-reply settings (GetUserOofSettings). The bounds are kept for a
/// `Scheduled` state only (Exchange sends its last window with every state).
pub async fn oof(ctx: &Context, server: &ExchangeServer, mailbox: &SmtpAddress) -> Result<Oof, EwsError> {
    let _ = ctx;
    let response = server.client.call(Some(mailbox), GetUserOofSettingsRequest::new(mailbox.as_str())).await?;
    if !response.response_message.is_success() {
        return Err(message_error(server, "GetUserOofSettings", Some(mailbox), &response.response_message));
    }
    let settings = response
        .oof_settings
        .ok_or_else(|| protocol(server, format!("GetUserOofSettings for {mailbox}: no OofSettings")))?;
    // Exchange sends a Duration whatever the state; it only means something when Scheduled.
    let window = match settings.oof_state {
        OofState::Scheduled => settings.duration.as_ref().and_then(|d| d.timestamps_utc()),
        _ => None,
    };
    Ok(Oof {
        state: settings.oof_state,
        start: window.map(|w| w.0),
        end: window.map(|w| w.1),
        internal_reply: settings.internal_reply.and_then(|r| r.message).filter(|m| !m.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> Timestamp {
        Timestamp::from_second(1_773_619_200 + h * 3600).unwrap()
    }

    #[test]
    fn slots_are_clipped_merged_and_the_busiest_wins() {
        use LegacyFreeBusy::*;
        let blocks = [
            (t(1), t(3), Busy),
            (t(2), t(4), Tentative),
            (t(4), t(5), Tentative),
            (t(7), t(9), Oof),
            (t(8), t(12), Busy),
        ];
        let merged = merge_slots(&blocks, t(0), t(10));
        assert_eq!(merged, vec![(t(1), t(3), Busy), (t(3), t(5), Tentative), (t(7), t(9), Oof), (t(9), t(10), Busy)]);
        assert!(merge_slots(&blocks, t(5), t(7)).is_empty());
    }
}
