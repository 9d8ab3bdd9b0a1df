//! One folder of one mailbox: SyncFolderItems → GetItem → [`crate::plan`] → one store
//! transaction (mirror changes + sync state + outbox entries).
//!
//! STUB: the signatures are the interface the runtime codes against; the bodies come next.

use ews_client::EwsError;
use ews_proto::SmtpAddress;
use exbridge_store::{FolderKind, OutboxEntry, StoreError, UserId};
use jiff::Timestamp;

use crate::context::{Context, ExchangeServer};

/// How to synchronise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// From the stored sync state (initial sync when there is none).
    Incremental,
    /// Forget the sync state and compare everything Exchange has with the mirror (reconcile,
    /// window slide, suspected inconsistency). Raises events only for real differences.
    Full,
}

/// What a sync did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// EWS requests sent.
    pub requests: u32,
    /// The sync state was lost or invalid (ErrorInvalidSyncStateData) and a full resync ran.
    pub resynced: bool,
    /// Whether this was the folder's first sync (no sync state before).
    pub initial: bool,
    /// The outbox entries appended.
    pub entries: Vec<OutboxEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Exchange(#[from] EwsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// The mailbox itself is gone or inaccessible (re-resolve it), as opposed to a transient
    /// or server-wide failure.
    pub fn is_mailbox_error(&self) -> bool {
        matches!(self, SyncError::Exchange(e) if e.class() == ews_client::ErrorClass::Mailbox)
    }
}

/// Synchronises one folder of `mailbox` (impersonated) into `user`'s mirror.
pub async fn sync_folder(
    ctx: &Context,
    server: &ExchangeServer,
    user: &UserId,
    mailbox: &SmtpAddress,
    folder: FolderKind,
    mode: SyncMode,
    now: Timestamp,
) -> Result<SyncReport, SyncError> {
    let _ = (ctx, server, user, mailbox, folder, mode, now);
    todo!("sync_folder")
}
