//! exbridge's durable store: the directory, mailbox states, the calendar mirror, sync states,
//! subscriptions, the webhook/SSE outbox and idempotency records.
//!
//! The engine and the server use the object-safe [`Store`] trait (`Arc<dyn Store>`, opened by
//! [`open_store`] from the configuration's `store.url`) and never name a backend.
//! [`SqliteStore`] is the default; PostgreSQL is the next implementation.
//!
//! # Design
//!
//! - **Sync state as data.** What the engine knows about Exchange is rows: per user and folder
//!   the SyncFolderItems state, the mirror, the subscription and its watermark. The engine plans
//!   a sync against [`Store::mirror_index`] (tombstones come from it: "present before, absent
//!   now ⇒ deleted") and writes the result with [`Store::apply_mirror_changes`]: mirror
//!   changes, the folder's new sync state and the outbox entries in ONE transaction, so a crash
//!   can never leave a change without its webhook, nor a webhook for a change that was rolled
//!   back, nor a sync state ahead of the mirror.
//! - **Mirror identity.** A row is keyed by (user, folder, UID, instance key), never by the
//!   EWS ItemId, which can change; the ItemId is an indexed column because a delete
//!   notification carries nothing else.
//! - **Series are stored expanded.** Each occurrence inside the sync window is its own row
//!   (kind `occurrence`, instance key = original start), next to an optional `master` row
//!   holding the engine's series definition. Why: the API, presence and webhooks all speak in
//!   occurrences (`GET /events` answers occurrences, a webhook's `data` is an occurrence as
//!   that endpoint shows it), so the window query is a plain indexed range scan and change
//!   detection is a per-occurrence hash comparison; the engine expands a series once when it
//!   changes (or the window slides) instead of on every read. The window is bounded (30 days
//!   back, 180 ahead), so the row count is too (a daily series is ~210 rows).
//! - **Outbox.** `seq` is global and gap-free in commit order: it comes from a counter row
//!   updated inside the appending transaction, which serialises appenders until commit on any
//!   backend (an identity column would not: on PostgreSQL a smaller seq can commit after a
//!   larger one and an SSE reader resuming at the larger one would skip it). `id` is a UUIDv7:
//!   stable across retries and unique even if the database is wiped and seqs start over.
//!   Each configured webhook has a delivery row per entry it wants (attempts, next attempt,
//!   delivered at, last error). Only the oldest undelivered entry of each user is eligible for
//!   delivery, so a failing entry delays its own user's later entries, and nobody else's.
//!   Delivered entries are pruned after a retention; undelivered ones never are.
//! - **Encryption at rest.** With `store.encryption_key`, the columns holding calendar content
//!   or secrets (mirror `event`, outbox `data`, presence, stored idempotent responses, the
//!   `secrets` table) are sealed with XChaCha20-Poly1305 in Rust before they reach SQL, bound
//!   to their table, column and row; the indexed columns stay plain. Key derivation, the value
//!   format and mixed (partly plain) databases are described in `crypto.rs` ([`StoreKey`]).
//!   Not encrypted: directory identities (names, e-mail addresses), mailbox states, sync
//!   states, subscription ids, content hashes, delivery errors.
//! - **Times** are unix milliseconds (BIGINT) in UTC; JSON documents are TEXT. Both travel
//!   through every sqlx driver, including `Any`.
//! - **One SQL dialect.** Statements (`sql.rs`) and the migration use only syntax that SQLite
//!   and PostgreSQL share. SQLite specifics (PRAGMAs, `BEGIN IMMEDIATE`, the WAL checkpoint)
//!   are confined to `sqlite.rs`.
//!
//! # PostgreSQL, the next step
//!
//! The migration and every statement in `sql.rs` were run on PostgreSQL 15 as they are
//! (migration applied, each statement prepared, the directory/mirror/outbox/idempotency flows
//! executed). What a `PgStore` still has to do:
//! - the Rust glue of `sqlite.rs` over `PgPool` (row decoding is the same: BIGINT ↔ i64,
//!   TEXT ↔ String, BOOLEAN ↔ bool), `begin()` instead of `BEGIN IMMEDIATE`, no PRAGMAs;
//! - `open_store` dispatch for `postgres://` and the sqlx `postgres` feature;
//! - the same tests against a throw-away `initdb` cluster on 127.0.0.1;
//! - optional refinements that would fork the migration: JSONB for JSON columns,
//!   `LISTEN/NOTIFY` so [`Store::outbox_watch`] sees other instances' commits, and
//!   `FOR UPDATE SKIP LOCKED` / leases when several instances deliver webhooks.
//!
//! # Why `async_trait`
//!
//! The engine holds `Arc<dyn Store>` so that a PostgreSQL store can replace SQLite without a
//! generic parameter spreading through the engine, the server and the binary. Native `async fn`
//! in traits is not object-safe (Rust 1.95); `async_trait` boxes each future as
//! `Pin<Box<dyn Future + Send>>`, which is dyn-compatible and `Send` for tokio's multi-threaded
//! runtime. One allocation per call is nothing next to a database round trip, and the trait
//! reads as plain `async fn` signatures rather than hand-written boxed futures.

mod crypto;
mod error;
mod model;
mod sql;
mod sqlite;
mod store;

use std::sync::Arc;

pub use crypto::StoreKey;
pub use error::{Result, StoreError};
pub use model::*;
/// The `secrecy` crate of [`Store::put_secret`] / [`Store::get_secret`]'s `SecretString`.
pub use secrecy;
pub use sqlite::{SqliteStore, SqliteStoreOptions};
pub use store::Store;

/// Opens the store a configuration URL names (`sqlite://…`; `postgres://…` once implemented)
/// and applies pending migrations. No encryption key: see [`open_store_with`].
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    open_store_with(url, None).await
}

/// [`open_store`] with the configuration's `store.encryption_key` (parsed by
/// [`StoreKey::parse`]). With a key, event content, outbox data, presence, stored responses
/// and secrets are encrypted at rest (see the `crypto` notes in the crate docs); opening with
/// a key other than the database's fails with [`StoreError::WrongKey`], opening an encrypted
/// database without a key with [`StoreError::KeyRequired`].
pub async fn open_store_with(url: &str, key: Option<StoreKey>) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let mut options = SqliteStoreOptions::from_url(url)?;
        options.encryption_key = key;
        let store = SqliteStore::open_with(options).await?;
        return Ok(Arc::new(store));
    }
    let reason = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        "the PostgreSQL store is not implemented yet"
    } else {
        "expected sqlite://PATH or postgres://…"
    };
    Err(StoreError::Unsupported { url: url.to_owned(), reason: reason.to_owned() })
}
