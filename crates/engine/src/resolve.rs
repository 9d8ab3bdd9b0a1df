//! A directory user's mailbox: `login_email`, `work_email`, `personal_email`, `external_uid`
//! tried in that order on the servers that may hold them; the first that resolves wins.
//!
//! For each identifier (the one that matched last time first), on each server that
//! [`may_hold`](ExchangeServer::may_hold) it, in configuration order:
//!
//! 1. `ResolveNames` as the service account: `SMTP:<address>` for an e-mail identifier (an
//!    alias or proxy address resolves to its mailbox, whose primary SMTP address is taken), the
//!    bare value for an `external_uid` (ambiguous name resolution). Exactly one resolution of
//!    mailbox type `Mailbox` counts; none is *not found*; several is *ambiguous* (logged as an
//!    error attempt with the reason, but counted as not found for the result state).
//! 2. `GetFolder(calendar)` impersonating the address found, to confirm that the mailbox
//!    exists and can be impersonated ([`Confirm::GetFolder`], what [`resolve_mailbox`] does).
//!    The runtime uses [`Confirm::ByFirstSync`] instead: the initial `SyncFolderItems` of the
//!    calendar is the first impersonated request anyway, and a mailbox-level failure there
//!    (`ErrorNonExistentMailbox`, `ErrorImpersonateUserDenied`…) resolves the mailbox again, so
//!    the extra round trip is saved (one request per mailbox at the initial sync).
//!
//! `ResolveNames` is kept for e-mail identifiers too, even for the login e-mail: an impersonated
//! request with an alias succeeds (Exchange and the simulator accept any proxy address in
//! `ExchangeImpersonation/SmtpAddress`) but does not say which address is primary, and the
//! mailbox shown must be the primary SMTP address.
//!
//! Every attempt is logged ([`ResolutionAttempt`]), appended to the previous log, which is kept
//! to its last [`MAX_ATTEMPTS`] entries.

use std::sync::Arc;

use ews_client::EwsError;
use ews_proto::ids::MailboxType;
use ews_proto::ops::{FolderShape, GetFolder, ResolveNames};
use ews_proto::shape::BaseShape;
use ews_proto::{ResponseCode, SmtpAddress};
use exbridge_store::{AttemptOutcome, DirectoryUser, MailboxState, MailboxStatus, MatchedBy, ResolutionAttempt};
use jiff::Timestamp;

use crate::context::{Context, ExchangeServer};
use crate::sync::message_error;

/// How many resolution attempts a mailbox state keeps.
pub const MAX_ATTEMPTS: usize = 20;

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

/// What one identifier gave on one server.
enum Outcome {
    Resolved(SmtpAddress),
    NotFound,
    Ambiguous(String),
    Failed(String),
}

fn is_not_found(e: &EwsError) -> bool {
    matches!(
        e.response_code(),
        Some(
            ResponseCode::ErrorNonExistentMailbox
                | ResponseCode::ErrorNameResolutionNoResults
                | ResponseCode::ErrorMailRecipientNotFound
        )
    ) || ["ErrorNonExistentMailbox", "ErrorNameResolutionNoResults", "ErrorMailRecipientNotFound"]
        .iter()
        .any(|c| e.message().contains(c))
}

/// How a mailbox found by `ResolveNames` is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Confirm {
    /// `GetFolder(calendar)` impersonating the mailbox found: one more request; a mailbox
    /// that cannot be opened is *not found* or an error here.
    #[default]
    GetFolder,
    /// Not confirmed here: the caller's next impersonated request (the runtime's initial
    /// `SyncFolderItems`) confirms it, and a mailbox-level failure there resolves again.
    ByFirstSync,
}

async fn try_identifier(server: &ExchangeServer, by: MatchedBy, value: &str, confirm: Confirm) -> Outcome {
    let query = match by {
        MatchedBy::ExternalUid => value.to_owned(),
        _ => format!("SMTP:{value}"),
    };
    let response = match server.client.call(None, ResolveNames::new(query)).await {
        Ok(r) => r,
        Err(e) if is_not_found(&e) => return Outcome::NotFound,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let Some(msg) = response.messages.into_iter().next() else {
        return Outcome::Failed(format!("server {:?}: ResolveNames answered no message", server.name));
    };
    let code = msg.status.code();
    if code == ResponseCode::ErrorNameResolutionNoResults {
        return Outcome::NotFound;
    }
    let resolutions = msg.resolution_set.map(|s| s.resolutions).unwrap_or_default();
    if !msg.status.is_success() && code != ResponseCode::ErrorNameResolutionMultipleResults {
        let err = message_error(server, "ResolveNames", None, &msg.status);
        return Outcome::Failed(err.to_string());
    }
    let mailboxes: Vec<String> = resolutions
        .iter()
        .filter(|r| matches!(r.mailbox.mailbox_type, None | Some(MailboxType::Mailbox)))
        .filter_map(|r| r.mailbox.email_address.clone())
        .collect();
    let address = match mailboxes.as_slice() {
        [] => return Outcome::NotFound,
        [one] => one.clone(),
        many => return Outcome::Ambiguous(format!("ambiguous: {} mailboxes match ({})", many.len(), many.join(", "))),
    };
    let Ok(smtp) = SmtpAddress::parse(&address) else {
        return Outcome::Failed(format!("ResolveNames returned an unusable address {address:?}"));
    };
    if confirm == Confirm::ByFirstSync {
        return Outcome::Resolved(smtp);
    }
    // Confirm: the calendar folder of that mailbox, impersonated.
    match server.client.call(Some(&smtp), GetFolder::calendar(FolderShape::new(BaseShape::IdOnly))).await {
        Ok(r) => match r.messages.first() {
            Some(m) if m.status.is_success() => Outcome::Resolved(smtp),
            Some(m) => {
                let err = message_error(server, "GetFolder", Some(&smtp), &m.status);
                if is_not_found(&err) { Outcome::NotFound } else { Outcome::Failed(err.to_string()) }
            }
            None => Outcome::Failed(format!("server {:?}: GetFolder answered no message", server.name)),
        },
        Err(e) if is_not_found(&e) => Outcome::NotFound,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// Resolves `user`'s mailbox. `previous` is the stored state: its remembered identifier is
/// tried first (and kept when it still works); its attempt log is extended and bounded.
/// Confirms with [`Confirm::GetFolder`].
pub async fn resolve_mailbox(
    ctx: &Context,
    user: &DirectoryUser,
    previous: Option<&MailboxState>,
    now: Timestamp,
) -> Resolution {
    resolve_mailbox_with(ctx, user, previous, now, Confirm::GetFolder).await
}

/// [`resolve_mailbox`] with the way a `ResolveNames` answer is confirmed.
pub async fn resolve_mailbox_with(
    ctx: &Context,
    user: &DirectoryUser,
    previous: Option<&MailboxState>,
    now: Timestamp,
    confirm: Confirm,
) -> Resolution {
    let mut identifiers = user.identifiers();
    if let Some(prev) = previous.and_then(|p| p.matched_by)
        && let Some(pos) = identifiers.iter().position(|(by, _)| *by == prev)
    {
        let first = identifiers.remove(pos);
        identifiers.insert(0, first);
    }
    let mut attempts: Vec<ResolutionAttempt> = previous.map(|p| p.attempts.clone()).unwrap_or_default();
    let mut failures: Vec<String> = Vec::new();
    let mut ambiguous: Vec<String> = Vec::new();
    let mut resolved: Option<(MatchedBy, SmtpAddress, Arc<ExchangeServer>)> = None;

    'identifiers: for (by, value) in identifiers {
        let servers = ctx.servers_for(value);
        if servers.is_empty() {
            attempts.push(ResolutionAttempt {
                identifier: by,
                value: value.to_owned(),
                exchange: None,
                outcome: AttemptOutcome::NotFound,
                at: now,
            });
            continue;
        }
        for server in servers {
            let outcome = try_identifier(&server, by, value, confirm).await;
            let recorded = match &outcome {
                Outcome::Resolved(m) => AttemptOutcome::Resolved { mailbox: m.as_str().to_owned() },
                Outcome::NotFound => AttemptOutcome::NotFound,
                Outcome::Ambiguous(msg) | Outcome::Failed(msg) => AttemptOutcome::Error { message: msg.clone() },
            };
            attempts.push(ResolutionAttempt {
                identifier: by,
                value: value.to_owned(),
                exchange: Some(server.name.clone()),
                outcome: recorded,
                at: now,
            });
            match outcome {
                Outcome::Resolved(m) => {
                    resolved = Some((by, m, server));
                    break 'identifiers;
                }
                Outcome::NotFound => {}
                Outcome::Ambiguous(msg) => ambiguous.push(format!("{} {value:?}: {msg}", by.as_str())),
                Outcome::Failed(msg) => failures.push(format!("{} {value:?}: {msg}", by.as_str())),
            }
        }
    }
    if attempts.len() > MAX_ATTEMPTS {
        attempts.drain(..attempts.len() - MAX_ATTEMPTS);
    }

    let mut state = MailboxState {
        mailbox: None,
        matched_by: None,
        state: MailboxStatus::NotFound,
        last_error: None,
        exchange: None,
        synced_at: None,
        attempts,
        updated_at: now,
    };
    match resolved {
        Some((by, mailbox, server)) => {
            let same = previous.is_some_and(|p| {
                p.mailbox.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(mailbox.as_str()))
                    && p.exchange.as_deref() == Some(server.name.as_str())
            });
            state.mailbox = Some(mailbox.as_str().to_owned());
            state.matched_by = Some(by);
            state.state = MailboxStatus::Pending;
            state.exchange = Some(server.name.clone());
            state.synced_at = if same { previous.and_then(|p| p.synced_at) } else { None };
            Resolution { state, resolved: Some((mailbox, server)) }
        }
        None if !failures.is_empty() => {
            state.state = MailboxStatus::Error;
            state.last_error = Some(failures.join("; "));
            Resolution { state, resolved: None }
        }
        None => {
            let tried: Vec<&str> = user.identifiers().into_iter().map(|(by, _)| by.as_str()).collect();
            let mut reason = if tried.is_empty() {
                "the user has no identifier".to_owned()
            } else {
                format!("no mailbox found for {}", tried.join(", "))
            };
            if !ambiguous.is_empty() {
                reason.push_str(&format!(" ({})", ambiguous.join("; ")));
            }
            state.last_error = Some(reason);
            Resolution { state, resolved: None }
        }
    }
}
