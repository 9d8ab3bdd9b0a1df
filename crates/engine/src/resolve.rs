//! A directory user's mailbox: `login_email`, `work_email`, `personal_email`, `external_uid`
//! tried in that order on the servers that may hold them; the first that resolves wins.
//!
//! STUB: the signature is the interface the runtime codes against; the body comes next.

use std::sync::Arc;

use ews_proto::SmtpAddress;
use exbridge_store::{DirectoryUser, MailboxState};
use jiff::Timestamp;

use crate::context::{Context, ExchangeServer};

/// The outcome of resolving a user's mailbox.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// To store: `mailbox`, `matched_by`, `exchange` and the attempts filled in. `state` is
    /// `pending` when resolved (the runtime sets `subscribed` once streaming and the initial
    /// sync are up), `not_found` when no identifier resolved, `error` when some attempt failed
    /// for another reason (Exchange unreachable…) and none resolved.
    pub state: MailboxState,
    /// The mailbox and its server when resolved.
    pub resolved: Option<(SmtpAddress, Arc<ExchangeServer>)>,
}

/// Resolves `user`'s mailbox. `previous` is the stored state: its remembered identifier is
/// tried first (and kept when it still works); its attempt log is extended and bounded.
pub async fn resolve_mailbox(
    ctx: &Context,
    user: &DirectoryUser,
    previous: Option<&MailboxState>,
    now: Timestamp,
) -> Resolution {
    let _ = (ctx, user, previous, now);
    todo!("resolve_mailbox")
}
