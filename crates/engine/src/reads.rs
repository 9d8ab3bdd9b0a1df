//! Live reads from Exchange, for what the mirror does not hold: a calendar view for a user
//! whose initial sync is not complete yet, free/busy, automatic replies (OOF).
//!
//! STUB: the signatures are the interface the runtime codes against; the bodies come next.

use ews_client::EwsError;
use ews_proto::SmtpAddress;
use exbridge_calendar::presence::Oof;
use jiff::Timestamp;

use crate::context::{Context, ExchangeServer};
use crate::event::{EventDoc, FreeBusySlot};

/// Occurrences of `mailbox`'s calendar overlapping `[start, end)` (FindItem CalendarView, then
/// GetItem for the fields a view does not return), as the events endpoint shows them.
pub async fn calendar_view(
    ctx: &Context,
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<EventDoc>, EwsError> {
    let _ = (ctx, server, mailbox, start, end);
    todo!("calendar_view")
}

/// Free/busy of `mailbox` in `[start, end)` (GetUserAvailability, FreeBusy view), merged.
pub async fn free_busy(
    ctx: &Context,
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<FreeBusySlot>, EwsError> {
    let _ = (ctx, server, mailbox, start, end);
    todo!("free_busy")
}

/// The mailbox's automatic-reply settings (GetUserOofSettings).
pub async fn oof(ctx: &Context, server: &ExchangeServer, mailbox: &SmtpAddress) -> Result<Oof, EwsError> {
    let _ = (ctx, server, mailbox);
    todo!("oof")
}
