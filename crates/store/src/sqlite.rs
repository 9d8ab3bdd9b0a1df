//! [`SqliteStore`]: the default store, one SQLite file in WAL mode.
//!
//! Two pools on one file: a writer pool of exactly one connection (SQLite allows one writer at
//! a time; queueing in the pool is cheaper and fairer than spinning on SQLITE_BUSY) whose
//! transactions start with `BEGIN IMMEDIATE` (so a transaction never has to upgrade a read lock,
//! which WAL can refuse without waiting, and another process holding the file is waited for with
//! the busy timeout), and a read-only pool for queries, which WAL lets run beside the writer.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use tokio::sync::watch;

use secrecy::{ExposeSecret, SecretString};

use crate::crypto::{Codec, Place, StoreKey};
use crate::error::{Result, StoreError, db, db_user};
use crate::model::*;
use crate::sql;
use crate::store::Store;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteStoreOptions {
    /// The database file (created if missing, with its folder).
    pub path: PathBuf,
    /// Read-only connections beside the single writer. The default 4 is two per core of the
    /// 2-core machines exbridge is sized for: reads are short, and a few in flight hide the
    /// hand-off to sqlx's per-connection worker threads.
    pub read_connections: u32,
    /// How long a statement waits for a lock held by another process (SQLite busy timeout).
    pub busy_timeout: Duration,
    /// How long an operation waits for a pooled connection.
    pub acquire_timeout: Duration,
    /// `synchronous=FULL` instead of `NORMAL`. With WAL, NORMAL never corrupts and never loses
    /// a commit when the process dies; it can lose the last commits on power loss or an OS
    /// crash. FULL syncs the WAL on every commit.
    pub synchronous_full: bool,
    /// `store.encryption_key`: with it, event content, outbox data, presence, stored responses
    /// and secrets are encrypted at rest (see the `crypto` module notes).
    pub encryption_key: Option<StoreKey>,
}

impl SqliteStoreOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteStoreOptions {
            path: path.into(),
            read_connections: 4,
            busy_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
            synchronous_full: false,
            encryption_key: None,
        }
    }

    /// Sets the encryption key.
    pub fn with_encryption_key(mut self, key: StoreKey) -> Self {
        self.encryption_key = Some(key);
        self
    }

    /// From a configuration URL: `sqlite://./data/exbridge.db`, `sqlite:///abs/path.db`,
    /// `sqlite:relative.db`. In-memory databases are refused (the store must be durable).
    pub fn from_url(url: &str) -> Result<Self> {
        let unsupported = |reason: &str| StoreError::Unsupported { url: url.to_owned(), reason: reason.to_owned() };
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| unsupported("expected sqlite://PATH"))?;
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" || rest.contains("mode=memory") {
            return Err(unsupported("the store needs a database file, not an in-memory database"));
        }
        Ok(SqliteStoreOptions::new(path))
    }
}

/// The SQLite store. Cheap to clone (the pools are shared).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: SqlitePool,
    reader: SqlitePool,
    path: PathBuf,
    last_seq: watch::Sender<i64>,
    codec: Codec,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file with default options and migrates it.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(SqliteStoreOptions::new(path.as_ref())).await
    }

    /// Opens the database and applies pending migrations.
    pub async fn open_with(options: SqliteStoreOptions) -> Result<Self> {
        if let Some(parent) = options.path.parent().filter(|p| !p.as_os_str().is_empty())
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            return Err(StoreError::Invalid(format!("cannot create the folder {}: {e}", parent.display())));
        }
        let synchronous = if options.synchronous_full { SqliteSynchronous::Full } else { SqliteSynchronous::Normal };
        let base = SqliteConnectOptions::new()
            .filename(&options.path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true);
        // With a key, deleted and overwritten content is zeroed in the file instead of lingering
        // in free pages.
        let base = if options.encryption_key.is_some() { base.pragma("secure_delete", "ON") } else { base };

        let writer = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(db("open"))?;
        MIGRATOR.run(&writer).await?;
        let codec = setup_encryption(&writer, options.encryption_key.as_ref()).await?;

        let reader = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(base.read_only(true))
            .await
            .map_err(db("open"))?;

        let last: i64 = sqlx::query_scalar(sql::LAST_SEQ).fetch_one(&writer).await.map_err(db("open"))?;
        let (last_seq, _) = watch::channel(last);
        Ok(SqliteStore { inner: Arc::new(Inner { writer, reader, path: options.path, last_seq, codec }) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn begin(&self, op: &'static str) -> Result<Transaction<'static, Sqlite>> {
        self.inner.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db(op))
    }

    fn codec(&self) -> &Codec {
        &self.inner.codec
    }

    fn reader(&self) -> &SqlitePool {
        &self.inner.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.inner.writer
    }

    fn published(&self, entries: &[OutboxEntry]) {
        if let Some(last) = entries.last().map(|e| e.seq) {
            self.inner.last_seq.send_if_modified(|seen| {
                let newer = last > *seen;
                if newer {
                    *seen = last;
                }
                newer
            });
        }
    }
}

/// Checks the configured key against the database's `key_check` (creating the salt and the check
/// on the first keyed open) and returns the codec for its values.
async fn setup_encryption(writer: &SqlitePool, key: Option<&StoreKey>) -> Result<Codec> {
    const OP: &str = "open (check the encryption key)";
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(db(OP))?;
    let salt: Option<String> =
        sqlx::query_scalar(sql::GET_META).bind(META_SALT).fetch_optional(&mut *tx).await.map_err(db(OP))?;
    let check: Option<String> =
        sqlx::query_scalar(sql::GET_META).bind(META_CHECK).fetch_optional(&mut *tx).await.map_err(db(OP))?;
    let Some(key) = key else {
        if check.is_some() {
            return Err(StoreError::KeyRequired {
                what: "this database holds values encrypted with a store.encryption_key, and no key is configured"
                    .into(),
            });
        }
        return Ok(Codec::new(None));
    };
    let salt = match salt {
        Some(text) => crate::crypto::decode_salt(&text).ok_or_else(|| StoreError::Corrupt {
            table: "store_meta",
            column: "value",
            detail: "kdf_salt".into(),
        })?,
        None if check.is_some() => {
            return Err(StoreError::Corrupt {
                table: "store_meta",
                column: "value",
                detail: "kdf_salt is missing".into(),
            });
        }
        None => {
            let salt = crate::crypto::new_salt()?;
            sqlx::query(sql::INSERT_META)
                .bind(META_SALT)
                .bind(crate::crypto::encode_salt(&salt))
                .execute(&mut *tx)
                .await
                .map_err(db(OP))?;
            salt
        }
    };
    let cipher = key.derive(&salt)?;
    match check {
        Some(check) if !cipher.verify_check(&check) => return Err(StoreError::WrongKey),
        Some(_) => {}
        None => {
            sqlx::query(sql::INSERT_META)
                .bind(META_CHECK)
                .bind(cipher.check_value()?)
                .execute(&mut *tx)
                .await
                .map_err(db(OP))?;
        }
    }
    tx.commit().await.map_err(db(OP))?;
    Ok(Codec::new(Some(cipher)))
}

const META_SALT: &str = "kdf_salt";
const META_CHECK: &str = "key_check";

// ---------------------------------------------------------------------------------------------
// value conversion

fn pending_write_from_row(row: &SqliteRow) -> Result<PendingWrite> {
    const T: &str = "pending_writes";
    let json = |column: &'static str, text: &str| {
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt { table: T, column, detail: e.to_string() })
    };
    let state: String = row.get("state");
    let operation: String = row.get("operation");
    let result: Option<String> = row.get("result");
    let attempts: i64 = row.get("attempts");
    Ok(PendingWrite {
        id: row.get("id"),
        user_id: UserId::new(row.get::<String, _>("user_id")),
        seq: row.get("seq"),
        idempotency_key: row.get("idempotency_key"),
        operation: json("operation", &operation)?,
        state: PendingWriteState::parse(&state).ok_or_else(|| StoreError::Corrupt {
            table: T,
            column: "state",
            detail: format!("unknown state {state:?}"),
        })?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: timestamp(row.get("next_attempt_at"), T, "next_attempt_at")?,
        last_error: row.get("last_error"),
        result: result.as_deref().map(|r| json("result", r)).transpose()?,
        created_at: timestamp(row.get("created_at"), T, "created_at")?,
    })
}

/// Times are stored as unix milliseconds: finer precision is truncated.
fn ms(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

/// The store's clock, at the precision it stores.
fn now() -> Timestamp {
    Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap_or_else(|_| Timestamp::now())
}

fn timestamp(value: i64, table: &'static str, column: &'static str) -> Result<Timestamp> {
    Timestamp::from_millisecond(value).map_err(|e| StoreError::Corrupt { table, column, detail: e.to_string() })
}

fn opt_timestamp(value: Option<i64>, table: &'static str, column: &'static str) -> Result<Option<Timestamp>> {
    value.map(|v| timestamp(v, table, column)).transpose()
}

fn text<T>(value: &str, parse: fn(&str) -> Option<T>, table: &'static str, column: &'static str) -> Result<T> {
    parse(value).ok_or_else(|| StoreError::Corrupt { table, column, detail: format!("unknown value {value:?}") })
}

fn from_json<T: DeserializeOwned>(value: &str, table: &'static str, column: &'static str) -> Result<T> {
    serde_json::from_str(value).map_err(|e| StoreError::Corrupt { table, column, detail: e.to_string() })
}

fn to_json<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(format!("{what} cannot be stored as JSON: {e}")))
}

/// Column access naming the operation on failure.
fn col<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(name).map_err(db("read"))
}

fn user_from_row(row: &SqliteRow) -> Result<(DirectoryUser, Timestamp, Timestamp)> {
    const T: &str = "directory_users";
    let user = DirectoryUser {
        id: UserId::new(col::<String>(row, "user_id")?),
        display_name: col(row, "display_name")?,
        login_email: col(row, "login_email")?,
        work_email: col(row, "work_email")?,
        personal_email: col(row, "personal_email")?,
        external_uid: col(row, "external_uid")?,
        settings: from_json(&col::<String>(row, "settings")?, T, "settings")?,
    };
    Ok((
        user,
        timestamp(col(row, "created_at")?, T, "created_at")?,
        timestamp(col(row, "updated_at")?, T, "updated_at")?,
    ))
}

/// The mailbox columns of [`sql::GET_MAILBOX`] / the joins; `None` when the join found no row.
fn mailbox_from_row(row: &SqliteRow) -> Result<Option<MailboxState>> {
    const T: &str = "mailbox_states";
    if col::<Option<String>>(row, "m_user_id")?.is_none() {
        return Ok(None);
    }
    let matched_by: Option<String> = col(row, "matched_by")?;
    Ok(Some(MailboxState {
        mailbox: col(row, "mailbox")?,
        matched_by: matched_by.map(|m| text(&m, MatchedBy::parse, T, "matched_by")).transpose()?,
        state: text(&col::<String>(row, "state")?, MailboxStatus::parse, T, "state")?,
        last_error: col(row, "last_error")?,
        exchange: col(row, "exchange")?,
        synced_at: opt_timestamp(col(row, "synced_at")?, T, "synced_at")?,
        attempts: from_json(&col::<String>(row, "attempts")?, T, "attempts")?,
        updated_at: timestamp(col(row, "m_updated_at")?, T, "updated_at")?,
    }))
}

fn entry_from_row(row: &SqliteRow) -> Result<DirectoryEntry> {
    let (user, created_at, updated_at) = user_from_row(row)?;
    let mailbox = mailbox_from_row(row)?.unwrap_or_else(|| MailboxState::pending(updated_at));
    Ok(DirectoryEntry { user, mailbox, created_at, updated_at })
}

const MIRROR: &str = "mirror_events";

fn key_from_row(row: &SqliteRow) -> Result<MirrorKey> {
    Ok(MirrorKey {
        folder: text(&col::<String>(row, "folder")?, FolderKind::parse, MIRROR, "folder")?,
        uid: Uid::new(col::<String>(row, "uid")?),
        instance: InstanceKey::from_raw(col::<String>(row, "instance_key")?),
    })
}

fn index_from_row(row: &SqliteRow) -> Result<MirrorIndexEntry> {
    Ok(MirrorIndexEntry {
        key: key_from_row(row)?,
        kind: text(&col::<String>(row, "kind")?, MirrorKind::parse, MIRROR, "kind")?,
        item_id: ItemId::new(col::<String>(row, "item_id")?),
        change_key: col::<Option<String>>(row, "change_key")?.map(ChangeKey::new),
        series_id: col(row, "series_id")?,
        start: opt_timestamp(col(row, "start_at")?, MIRROR, "start_at")?,
        end: opt_timestamp(col(row, "end_at")?, MIRROR, "end_at")?,
        content_hash: col(row, "content_hash")?,
        changed_at: timestamp(col(row, "changed_at")?, MIRROR, "changed_at")?,
        deleted: col(row, "deleted")?,
    })
}

fn event_from_row(row: &SqliteRow, user: &UserId, codec: &Codec) -> Result<MirrorEvent> {
    let index = index_from_row(row)?;
    let stored: String = col(row, "event")?;
    let place = Place {
        table: MIRROR,
        column: "event",
        row: &[user.as_str(), index.key.folder.as_str(), index.key.uid.as_str(), index.key.instance.as_str()],
    };
    let event = codec.open(stored, place)?;
    Ok(MirrorEvent {
        key: index.key,
        kind: index.kind,
        item_id: index.item_id,
        change_key: index.change_key,
        series_id: index.series_id,
        start: index.start,
        end: index.end,
        event: from_json(&event, MIRROR, "event")?,
        content_hash: index.content_hash,
        changed_at: index.changed_at,
        deleted: index.deleted,
    })
}

fn subscription_from_row(row: &SqliteRow) -> Result<SubscriptionRecord> {
    const T: &str = "subscriptions";
    Ok(SubscriptionRecord {
        user_id: UserId::new(col::<String>(row, "user_id")?),
        subscription_id: SubscriptionId::new(col::<String>(row, "subscription_id")?),
        kind: text(&col::<String>(row, "kind")?, SubscriptionKind::parse, T, "kind")?,
        folders: from_json(&col::<String>(row, "folders")?, T, "folders")?,
        watermark: col::<Option<String>>(row, "watermark")?.map(Watermark::new),
        exchange: col(row, "exchange")?,
        group_id: col(row, "group_id")?,
        anchor_mailbox: col(row, "anchor_mailbox")?,
        created_at: timestamp(col(row, "created_at")?, T, "created_at")?,
        updated_at: timestamp(col(row, "updated_at")?, T, "updated_at")?,
    })
}

fn outbox_from_row(row: &SqliteRow, codec: &Codec) -> Result<OutboxEntry> {
    const T: &str = "outbox";
    let id: String = col(row, "id")?;
    let data = codec.open(col(row, "data")?, Place { table: T, column: "data", row: &[&id] })?;
    Ok(OutboxEntry {
        seq: col(row, "seq")?,
        id,
        event_type: text(&col::<String>(row, "event_type")?, EventType::parse, T, "event_type")?,
        user_id: UserId::new(col::<String>(row, "user_id")?),
        occurred_at: timestamp(col(row, "occurred_at")?, T, "occurred_at")?,
        data: from_json(&data, T, "data")?,
        origin: col(row, "origin")?,
        created_at: timestamp(col(row, "created_at")?, T, "created_at")?,
    })
}

fn delivery_from_row(row: &SqliteRow) -> Result<DeliveryState> {
    const T: &str = "outbox_deliveries";
    let attempts: i64 = col(row, "attempts")?;
    Ok(DeliveryState {
        webhook_id: WebhookId::new(col::<String>(row, "webhook_id")?),
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: timestamp(col(row, "next_attempt_at")?, T, "next_attempt_at")?,
        delivered_at: opt_timestamp(col(row, "delivered_at")?, T, "delivered_at")?,
        last_error: col(row, "last_error")?,
    })
}

fn webhook_from_row(row: &SqliteRow) -> Result<WebhookTarget> {
    const T: &str = "webhooks";
    let events: Option<String> = col(row, "events")?;
    Ok(WebhookTarget {
        id: WebhookId::new(col::<String>(row, "webhook_id")?),
        events: events.map(|e| from_json(&e, T, "events")).transpose()?,
        skip_origin: col(row, "skip_origin")?,
    })
}

fn idempotency_from_row(row: &SqliteRow, codec: &Codec) -> Result<IdempotencyRecord> {
    const T: &str = "idempotency_keys";
    let user_id: String = col(row, "user_id")?;
    let key: String = col(row, "idem_key")?;
    let status: Option<i64> = col(row, "status")?;
    let body: Option<String> = col(row, "response")?;
    let body =
        body.map(|b| codec.open(b, Place { table: T, column: "response", row: &[&user_id, &key] })).transpose()?;
    let response = match (status, body) {
        (Some(status), Some(body)) => Some(StoredResponse {
            status: u16::try_from(status).map_err(|_| StoreError::Corrupt {
                table: T,
                column: "status",
                detail: status.to_string(),
            })?,
            body: from_json(&body, T, "response")?,
        }),
        _ => None,
    };
    Ok(IdempotencyRecord {
        user_id: UserId::new(user_id),
        key,
        request_hash: col(row, "request_hash")?,
        response,
        created_at: timestamp(col(row, "created_at")?, T, "created_at")?,
        completed_at: opt_timestamp(col(row, "completed_at")?, T, "completed_at")?,
    })
}

// ---------------------------------------------------------------------------------------------
// statements run inside a transaction

async fn upsert_user_in(conn: &mut SqliteConnection, user: &DirectoryUser, now: Timestamp) -> Result<()> {
    sqlx::query(sql::UPSERT_USER)
        .bind(user.id.as_str())
        .bind(user.display_name.as_deref())
        .bind(user.login_email.as_deref())
        .bind(user.work_email.as_deref())
        .bind(user.personal_email.as_deref())
        .bind(user.external_uid.as_deref())
        .bind(to_json(&user.settings, "settings")?)
        .bind(ms(now))
        .execute(conn)
        .await
        .map_err(db("upsert user"))?;
    Ok(())
}

/// Removes a user and everything keyed by them except outbox entries and idempotency records.
/// The foreign keys cascade too; the explicit deletes keep this independent of that setting.
async fn remove_user_in(conn: &mut SqliteConnection, user: DirectoryUser) -> Result<RemovedUser> {
    const OP: &str = "remove user";
    let id = user.id.as_str();
    let mailbox = match sqlx::query(sql::GET_MAILBOX).bind(id).fetch_optional(&mut *conn).await.map_err(db(OP))? {
        Some(row) => mailbox_from_row(&row)?,
        None => None,
    };
    let subscription =
        match sqlx::query(sql::GET_SUBSCRIPTION).bind(id).fetch_optional(&mut *conn).await.map_err(db(OP))? {
            Some(row) => Some(subscription_from_row(&row)?),
            None => None,
        };
    for statement in [
        "DELETE FROM mirror_events WHERE user_id = $1",
        "DELETE FROM folder_sync_states WHERE user_id = $1",
        "DELETE FROM subscriptions WHERE user_id = $1",
        "DELETE FROM mailbox_states WHERE user_id = $1",
        sql::DELETE_USER,
    ] {
        sqlx::query(statement).bind(id).execute(&mut *conn).await.map_err(db(OP))?;
    }
    Ok(RemovedUser { user, mailbox, subscription })
}

/// Mirror rows upserted by one statement when a sync brings many (initial sync, window slide).
const MIRROR_BATCH: usize = 32;

/// The upsert of `rows` (1..=[`MIRROR_BATCH`]) rows in one statement, built once per size.
fn upsert_mirror_batch_sql(rows: usize) -> &'static str {
    static SQL: [OnceLock<String>; MIRROR_BATCH] = [const { OnceLock::new() }; MIRROR_BATCH];
    let rows = rows.clamp(1, MIRROR_BATCH);
    SQL[rows - 1].get_or_init(|| sql::upsert_mirror_rows(rows))
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

fn bind_mirror_row<'q>(
    query: SqliteQuery<'q>,
    user: &UserId,
    event: &MirrorEvent,
    codec: &Codec,
) -> Result<SqliteQuery<'q>> {
    let place = Place {
        table: MIRROR,
        column: "event",
        row: &[user.as_str(), event.key.folder.as_str(), event.key.uid.as_str(), event.key.instance.as_str()],
    };
    let stored = codec.seal(to_json(&event.event, "event")?, place)?;
    Ok(query
        .bind(user.as_str().to_owned())
        .bind(event.key.folder.as_str())
        .bind(event.key.uid.as_str().to_owned())
        .bind(event.key.instance.as_str().to_owned())
        .bind(event.kind.as_str())
        .bind(event.item_id.as_str().to_owned())
        .bind(event.change_key.as_ref().map(|c| c.as_str().to_owned()))
        .bind(event.series_id.clone())
        .bind(event.start.map(ms))
        .bind(event.end.map(ms))
        .bind(stored)
        .bind(event.content_hash.clone())
        .bind(ms(event.changed_at))
        .bind(event.deleted))
}

/// Upserts a run of at most [`MIRROR_BATCH`] rows with distinct keys in one statement (a
/// statement is a round trip to the database thread: one per row made the tail of every
/// sync's rows cost as much as the batches before it).
async fn upsert_rows_in(
    conn: &mut SqliteConnection,
    codec: &Codec,
    user: &UserId,
    rows: &[&MirrorEvent],
) -> Result<()> {
    const OP: &str = "apply mirror change";
    if rows.is_empty() {
        return Ok(());
    }
    let mut query = sqlx::query(upsert_mirror_batch_sql(rows.len()));
    for row in rows {
        query = bind_mirror_row(query, user, row, codec)?;
    }
    query.execute(&mut *conn).await.map_err(db_user(OP, user))?;
    Ok(())
}

/// Applies changes in order; consecutive upserts of distinct keys go in batches.
async fn apply_changes_in(
    conn: &mut SqliteConnection,
    codec: &Codec,
    user: &UserId,
    changes: &[MirrorChange],
) -> Result<()> {
    const OP: &str = "apply mirror change";
    let mut run: Vec<&MirrorEvent> = Vec::with_capacity(MIRROR_BATCH);
    let mut keys: HashSet<&MirrorKey> = HashSet::with_capacity(MIRROR_BATCH);
    for change in changes {
        let key = match change {
            MirrorChange::Upsert(event) => {
                if run.len() == MIRROR_BATCH || keys.contains(&event.key) {
                    upsert_rows_in(conn, codec, user, &run).await?;
                    run.clear();
                    keys.clear();
                }
                keys.insert(&event.key);
                run.push(event);
                continue;
            }
            MirrorChange::Tombstone { key, .. } | MirrorChange::Forget { key } => key,
        };
        upsert_rows_in(conn, codec, user, &run).await?;
        run.clear();
        keys.clear();
        let query = match change {
            MirrorChange::Tombstone { changed_at, .. } => sqlx::query(sql::TOMBSTONE_MIRROR)
                .bind(user.as_str())
                .bind(key.folder.as_str())
                .bind(key.uid.as_str())
                .bind(key.instance.as_str())
                .bind(ms(*changed_at)),
            _ => sqlx::query(sql::FORGET_MIRROR)
                .bind(user.as_str())
                .bind(key.folder.as_str())
                .bind(key.uid.as_str())
                .bind(key.instance.as_str()),
        };
        query.execute(&mut *conn).await.map_err(db(OP))?;
    }
    upsert_rows_in(conn, codec, user, &run).await
}

async fn set_sync_state_in(conn: &mut SqliteConnection, state: &FolderSyncState) -> Result<()> {
    sqlx::query(sql::UPSERT_SYNC_STATE)
        .bind(state.user_id.as_str())
        .bind(state.folder.as_str())
        .bind(state.sync_state.as_str())
        .bind(ms(state.updated_at))
        .execute(conn)
        .await
        .map_err(db_user("set sync state", &state.user_id))?;
    Ok(())
}

/// Appends outbox entries: seqs from the counter row, one delivery row per interested webhook.
async fn append_in(conn: &mut SqliteConnection, codec: &Codec, events: &[NewOutboxEvent]) -> Result<Vec<OutboxEntry>> {
    const OP: &str = "append to outbox";
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let webhooks = sqlx::query(sql::SELECT_WEBHOOKS).fetch_all(&mut *conn).await.map_err(db(OP))?;
    let webhooks = webhooks.iter().map(webhook_from_row).collect::<Result<Vec<_>>>()?;
    let count = i64::try_from(events.len()).map_err(|_| StoreError::Invalid("too many outbox events".into()))?;
    let last: i64 = sqlx::query_scalar(sql::NEXT_SEQ).bind(count).fetch_one(&mut *conn).await.map_err(db(OP))?;
    let now = now();
    let mut entries = Vec::with_capacity(events.len());
    for (seq, event) in (last - count + 1..).zip(events) {
        let entry = OutboxEntry {
            seq,
            id: uuid::Uuid::now_v7().to_string(),
            event_type: event.event_type,
            user_id: event.user_id.clone(),
            occurred_at: event.occurred_at,
            data: event.data.clone(),
            origin: event.origin.clone(),
            created_at: now,
        };
        sqlx::query(sql::INSERT_OUTBOX)
            .bind(entry.seq)
            .bind(entry.id.as_str())
            .bind(entry.event_type.as_str())
            .bind(entry.user_id.as_str())
            .bind(ms(entry.occurred_at))
            .bind(codec.seal(
                to_json(&entry.data, "outbox data")?,
                Place { table: "outbox", column: "data", row: &[&entry.id] },
            )?)
            .bind(entry.origin.as_deref())
            .bind(ms(now))
            .execute(&mut *conn)
            .await
            .map_err(db(OP))?;
        for webhook in webhooks.iter().filter(|w| w.wants(event.event_type, event.origin.as_deref())) {
            sqlx::query(sql::INSERT_DELIVERY)
                .bind(webhook.id.as_str())
                .bind(entry.seq)
                .bind(entry.user_id.as_str())
                .bind(ms(now))
                .execute(&mut *conn)
                .await
                .map_err(db(OP))?;
        }
        entries.push(entry);
    }
    Ok(entries)
}

fn validate_user(user: &DirectoryUser) -> Result<()> {
    if user.id.as_str().trim().is_empty() {
        return Err(StoreError::Invalid("a directory user needs a non-empty id".into()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

#[async_trait]
impl Store for SqliteStore {
    async fn health(&self) -> Result<StoreHealth> {
        let started = Instant::now();
        let version: Option<i64> =
            sqlx::query_scalar(sql::SCHEMA_VERSION).fetch_one(self.reader()).await.map_err(db("health check"))?;
        Ok(StoreHealth { backend: "sqlite", schema_version: version.unwrap_or(0), latency: started.elapsed() })
    }

    async fn close(&self) {
        // Fold the WAL back into the database file so the file alone is a complete copy.
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(self.writer()).await;
        self.inner.reader.close().await;
        self.inner.writer.close().await;
    }

    fn outbox_watch(&self) -> watch::Receiver<i64> {
        self.inner.last_seq.subscribe()
    }

    async fn replace_directory(&self, users: &[DirectoryUser], guard: ReplaceGuard) -> Result<DirectoryDiff> {
        const OP: &str = "replace directory";
        let mut seen = BTreeSet::new();
        for user in users {
            validate_user(user)?;
            if !seen.insert(&user.id) {
                return Err(StoreError::Invalid(format!("user {} appears twice in the directory", user.id)));
            }
        }
        let mut tx = self.begin(OP).await?;
        let rows = sqlx::query(sql::SELECT_USERS_PLAIN).fetch_all(&mut *tx).await.map_err(db(OP))?;
        let mut existing = BTreeMap::new();
        for row in &rows {
            let (user, _, _) = user_from_row(row)?;
            existing.insert(user.id.clone(), user);
        }
        let removing: Vec<UserId> = existing.keys().filter(|id| !seen.contains(id)).cloned().collect();
        let refuse = (guard.refuse_emptying && !existing.is_empty() && removing.len() == existing.len())
            || guard.max_removed.is_some_and(|max| removing.len() > max);
        if refuse {
            return Err(StoreError::MassDelete { removing: removing.len(), existing: existing.len() });
        }

        let now = now();
        let mut diff = DirectoryDiff::default();
        for id in removing {
            let user = existing.remove(&id).expect("listed above");
            diff.removed.push(remove_user_in(&mut tx, user).await?);
        }
        for user in users {
            match existing.get(&user.id) {
                None => diff.created.push(user.id.clone()),
                Some(old) if old == user => {
                    diff.unchanged += 1;
                    continue;
                }
                Some(old) => {
                    if old.identifiers_differ(user) {
                        diff.identifiers_changed.push(user.id.clone());
                    }
                    diff.updated.push(user.id.clone());
                }
            }
            upsert_user_in(&mut tx, user, now).await?;
        }
        tx.commit().await.map_err(db(OP))?;
        Ok(diff)
    }

    async fn upsert_user(&self, user: &DirectoryUser) -> Result<UpsertOutcome> {
        const OP: &str = "upsert user";
        validate_user(user)?;
        let mut tx = self.begin(OP).await?;
        let old = match sqlx::query(sql::SELECT_USER_PLAIN)
            .bind(user.id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(OP))?
        {
            Some(row) => Some(user_from_row(&row)?.0),
            None => None,
        };
        let outcome = match &old {
            None => UpsertOutcome::Created,
            Some(old) if old == user => return Ok(UpsertOutcome::Unchanged),
            Some(old) => UpsertOutcome::Updated { identifiers_changed: old.identifiers_differ(user) },
        };
        upsert_user_in(&mut tx, user, now()).await?;
        tx.commit().await.map_err(db(OP))?;
        Ok(outcome)
    }

    async fn delete_user(&self, user: &UserId) -> Result<Option<RemovedUser>> {
        const OP: &str = "delete user";
        let mut tx = self.begin(OP).await?;
        let Some(row) =
            sqlx::query(sql::SELECT_USER_PLAIN).bind(user.as_str()).fetch_optional(&mut *tx).await.map_err(db(OP))?
        else {
            return Ok(None);
        };
        let (found, _, _) = user_from_row(&row)?;
        let removed = remove_user_in(&mut tx, found).await?;
        tx.commit().await.map_err(db(OP))?;
        Ok(Some(removed))
    }

    async fn list_users(&self) -> Result<Vec<DirectoryEntry>> {
        let rows = sqlx::query(sql::LIST_USERS).fetch_all(self.reader()).await.map_err(db("list users"))?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn user_counts(&self) -> Result<UserCounts> {
        const OP: &str = "count users";
        let rows = sqlx::query(sql::USER_COUNTS).fetch_all(self.reader()).await.map_err(db(OP))?;
        let mut counts = UserCounts::of(&[]);
        for row in &rows {
            let state: Option<String> = row.try_get("state").map_err(db(OP))?;
            let n: i64 = row.try_get("n").map_err(db(OP))?;
            let synced: i64 = row.try_get("synced").map_err(db(OP))?;
            let state = match state.as_deref() {
                None => MailboxStatus::Pending,
                Some(s) => MailboxStatus::parse(s).ok_or_else(|| StoreError::Corrupt {
                    table: "mailbox_states",
                    column: "state",
                    detail: format!("{s:?} is not a mailbox state"),
                })?,
            };
            if let Some(slot) = counts.by_state.iter_mut().find(|(s, _)| *s == state) {
                slot.1 += u64::try_from(n).unwrap_or(0);
            }
            counts.synced += u64::try_from(synced).unwrap_or(0);
        }
        Ok(counts)
    }

    async fn get_user(&self, user: &UserId) -> Result<Option<DirectoryEntry>> {
        let row = sqlx::query(sql::GET_USER)
            .bind(user.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(db("get user"))?;
        row.as_ref().map(entry_from_row).transpose()
    }

    async fn mailbox_state(&self, user: &UserId) -> Result<Option<MailboxState>> {
        let row = sqlx::query(sql::GET_MAILBOX)
            .bind(user.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(db("get mailbox state"))?;
        Ok(match row {
            Some(row) => mailbox_from_row(&row)?,
            None => None,
        })
    }

    async fn set_mailbox_state(&self, user: &UserId, state: &MailboxState) -> Result<()> {
        const OP: &str = "set mailbox state";
        sqlx::query(sql::UPSERT_MAILBOX)
            .bind(user.as_str())
            .bind(state.mailbox.as_deref())
            .bind(state.matched_by.map(MatchedBy::as_str))
            .bind(state.state.as_str())
            .bind(state.last_error.as_deref())
            .bind(state.exchange.as_deref())
            .bind(state.synced_at.map(ms))
            .bind(to_json(&state.attempts, "resolution attempts")?)
            .bind(ms(state.updated_at))
            .execute(self.writer())
            .await
            .map_err(db_user(OP, user))?;
        Ok(())
    }

    async fn apply_mirror_changes(
        &self,
        user: &UserId,
        changes: &[MirrorChange],
        new_sync_state: Option<&FolderSyncState>,
        outbox: &[NewOutboxEvent],
    ) -> Result<Vec<OutboxEntry>> {
        const OP: &str = "apply mirror changes";
        if let Some(state) = new_sync_state
            && state.user_id != *user
        {
            return Err(StoreError::Invalid(format!(
                "the sync state of user {} cannot be saved with the changes of user {user}",
                state.user_id
            )));
        }
        let mut tx = self.begin(OP).await?;
        let known: i64 =
            sqlx::query_scalar(sql::USER_EXISTS).bind(user.as_str()).fetch_one(&mut *tx).await.map_err(db(OP))?;
        if known == 0 {
            return Err(StoreError::UnknownUser(user.clone()));
        }
        apply_changes_in(&mut tx, self.codec(), user, changes).await?;
        if let Some(state) = new_sync_state {
            set_sync_state_in(&mut tx, state).await?;
        }
        let entries = append_in(&mut tx, self.codec(), outbox).await?;
        tx.commit().await.map_err(db(OP))?;
        self.published(&entries);
        Ok(entries)
    }

    async fn events_in_window(
        &self,
        user: &UserId,
        folder: FolderKind,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<MirrorEvent>> {
        let rows = sqlx::query(sql::EVENTS_IN_WINDOW)
            .bind(user.as_str())
            .bind(folder.as_str())
            .bind(ms(start))
            .bind(ms(end))
            .fetch_all(self.reader())
            .await
            .map_err(db("query events"))?;
        rows.iter().map(|row| event_from_row(row, user, self.codec())).collect()
    }

    async fn list_mirror(&self, user: &UserId, folder: FolderKind) -> Result<Vec<MirrorEvent>> {
        let rows = sqlx::query(sql::LIST_MIRROR)
            .bind(user.as_str())
            .bind(folder.as_str())
            .fetch_all(self.reader())
            .await
            .map_err(db("list mirror"))?;
        rows.iter().map(|row| event_from_row(row, user, self.codec())).collect()
    }

    async fn get_event(&self, user: &UserId, key: &MirrorKey) -> Result<Option<MirrorEvent>> {
        let row = sqlx::query(sql::GET_EVENT)
            .bind(user.as_str())
            .bind(key.folder.as_str())
            .bind(key.uid.as_str())
            .bind(key.instance.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(db("get event"))?;
        row.as_ref().map(|row| event_from_row(row, user, self.codec())).transpose()
    }

    async fn events_by_item_id(&self, user: &UserId, item_id: &ItemId) -> Result<Vec<MirrorEvent>> {
        let rows = sqlx::query(sql::EVENTS_BY_ITEM)
            .bind(user.as_str())
            .bind(item_id.as_str())
            .fetch_all(self.reader())
            .await
            .map_err(db("find events by item id"))?;
        rows.iter().map(|row| event_from_row(row, user, self.codec())).collect()
    }

    async fn mirror_index(&self, user: &UserId, folder: FolderKind) -> Result<Vec<MirrorIndexEntry>> {
        let rows = sqlx::query(sql::MIRROR_INDEX)
            .bind(user.as_str())
            .bind(folder.as_str())
            .fetch_all(self.reader())
            .await
            .map_err(db("read mirror index"))?;
        rows.iter().map(index_from_row).collect()
    }

    async fn prune_tombstones(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query(sql::PRUNE_TOMBSTONES)
            .bind(ms(before))
            .execute(self.writer())
            .await
            .map_err(db("prune tombstones"))?;
        Ok(done.rows_affected())
    }

    async fn sync_state(&self, user: &UserId, folder: FolderKind) -> Result<Option<FolderSyncState>> {
        let row = sqlx::query(sql::GET_SYNC_STATE)
            .bind(user.as_str())
            .bind(folder.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(db("get sync state"))?;
        row.map(|row| {
            Ok(FolderSyncState {
                user_id: user.clone(),
                folder,
                sync_state: SyncState::new(col::<String>(&row, "sync_state")?),
                updated_at: timestamp(col(&row, "updated_at")?, "folder_sync_states", "updated_at")?,
            })
        })
        .transpose()
    }

    async fn set_sync_state(&self, state: &FolderSyncState) -> Result<()> {
        let mut conn = self.writer().acquire().await.map_err(db("set sync state"))?;
        set_sync_state_in(&mut conn, state).await
    }

    async fn clear_sync_state(&self, user: &UserId, folder: FolderKind) -> Result<bool> {
        let done = sqlx::query(sql::DELETE_SYNC_STATE)
            .bind(user.as_str())
            .bind(folder.as_str())
            .execute(self.writer())
            .await
            .map_err(db("clear sync state"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_subscription(&self, record: &SubscriptionRecord) -> Result<()> {
        sqlx::query(sql::UPSERT_SUBSCRIPTION)
            .bind(record.user_id.as_str())
            .bind(record.subscription_id.as_str())
            .bind(record.kind.as_str())
            .bind(to_json(&record.folders, "subscription folders")?)
            .bind(record.watermark.as_ref().map(Watermark::as_str))
            .bind(record.exchange.as_str())
            .bind(record.group_id.as_deref())
            .bind(record.anchor_mailbox.as_deref())
            .bind(ms(record.created_at))
            .bind(ms(record.updated_at))
            .execute(self.writer())
            .await
            .map_err(db_user("put subscription", &record.user_id))?;
        Ok(())
    }

    async fn subscription(&self, user: &UserId) -> Result<Option<SubscriptionRecord>> {
        let row = sqlx::query(sql::GET_SUBSCRIPTION)
            .bind(user.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(db("get subscription"))?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    async fn subscription_by_id(&self, id: &SubscriptionId) -> Result<Option<SubscriptionRecord>> {
        let row = sqlx::query(sql::SUBSCRIPTION_BY_ID)
            .bind(id.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(db("get subscription"))?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    async fn list_subscriptions(&self) -> Result<Vec<SubscriptionRecord>> {
        let rows =
            sqlx::query(sql::LIST_SUBSCRIPTIONS).fetch_all(self.reader()).await.map_err(db("list subscriptions"))?;
        rows.iter().map(subscription_from_row).collect()
    }

    async fn update_watermark(
        &self,
        user: &UserId,
        id: &SubscriptionId,
        watermark: &Watermark,
        at: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(sql::UPDATE_WATERMARK)
            .bind(user.as_str())
            .bind(id.as_str())
            .bind(watermark.as_str())
            .bind(ms(at))
            .execute(self.writer())
            .await
            .map_err(db("update watermark"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_subscription(&self, user: &UserId, id: Option<&SubscriptionId>) -> Result<bool> {
        let query = match id {
            Some(id) => sqlx::query(sql::DELETE_SUBSCRIPTION_IF).bind(user.as_str()).bind(id.as_str()),
            None => sqlx::query(sql::DELETE_SUBSCRIPTION).bind(user.as_str()),
        };
        let done = query.execute(self.writer()).await.map_err(db("delete subscription"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_webhooks(&self, webhooks: &[WebhookTarget]) -> Result<()> {
        const OP: &str = "set webhooks";
        let wanted: BTreeSet<&WebhookId> = webhooks.iter().map(|w| &w.id).collect();
        if wanted.len() != webhooks.len() {
            return Err(StoreError::Invalid("two webhooks have the same id".into()));
        }
        let mut tx = self.begin(OP).await?;
        let rows = sqlx::query(sql::SELECT_WEBHOOKS).fetch_all(&mut *tx).await.map_err(db(OP))?;
        for row in &rows {
            let old = webhook_from_row(row)?;
            if !wanted.contains(&old.id) {
                sqlx::query("DELETE FROM outbox_deliveries WHERE webhook_id = $1")
                    .bind(old.id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db(OP))?;
                sqlx::query(sql::DELETE_WEBHOOK).bind(old.id.as_str()).execute(&mut *tx).await.map_err(db(OP))?;
            }
        }
        let now = now();
        for webhook in webhooks {
            let events = webhook.events.as_ref().map(|e| to_json(e, "webhook events")).transpose()?;
            sqlx::query(sql::UPSERT_WEBHOOK)
                .bind(webhook.id.as_str())
                .bind(events)
                .bind(webhook.skip_origin.as_deref())
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .map_err(db(OP))?;
        }
        tx.commit().await.map_err(db(OP))?;
        Ok(())
    }

    async fn append_outbox(&self, events: &[NewOutboxEvent]) -> Result<Vec<OutboxEntry>> {
        const OP: &str = "append to outbox";
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin(OP).await?;
        let entries = append_in(&mut tx, self.codec(), events).await?;
        tx.commit().await.map_err(db(OP))?;
        self.published(&entries);
        Ok(entries)
    }

    async fn pending_for_delivery(
        &self,
        webhook: &WebhookId,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>> {
        let rows = sqlx::query(sql::PENDING_FOR_DELIVERY)
            .bind(webhook.as_str())
            .bind(ms(now))
            .bind(i64::from(limit))
            .fetch_all(self.reader())
            .await
            .map_err(db("read pending deliveries"))?;
        rows.iter()
            .map(|row| {
                Ok(PendingDelivery { entry: outbox_from_row(row, self.codec())?, delivery: delivery_from_row(row)? })
            })
            .collect()
    }

    async fn mark_delivered(&self, webhook: &WebhookId, seq: i64, at: Timestamp) -> Result<bool> {
        let done = sqlx::query(sql::MARK_DELIVERED)
            .bind(webhook.as_str())
            .bind(seq)
            .bind(ms(at))
            .execute(self.writer())
            .await
            .map_err(db("mark delivered"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn mark_failed(
        &self,
        webhook: &WebhookId,
        seq: i64,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<bool> {
        let done = sqlx::query(sql::MARK_FAILED)
            .bind(webhook.as_str())
            .bind(seq)
            .bind(ms(next_attempt_at))
            .bind(error)
            .execute(self.writer())
            .await
            .map_err(db("mark failed"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn entries_after(&self, after: i64, limit: u32) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(sql::ENTRIES_AFTER)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(self.reader())
            .await
            .map_err(db("read outbox"))?;
        rows.iter().map(|row| outbox_from_row(row, self.codec())).collect()
    }

    async fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>> {
        let row =
            sqlx::query(sql::OUTBOX_BY_ID).bind(id).fetch_optional(self.reader()).await.map_err(db("read outbox"))?;
        row.as_ref().map(|row| outbox_from_row(row, self.codec())).transpose()
    }

    async fn delivery_states(&self, seq: i64) -> Result<Vec<DeliveryState>> {
        let rows = sqlx::query(sql::DELIVERY_STATES)
            .bind(seq)
            .fetch_all(self.reader())
            .await
            .map_err(db("read deliveries"))?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn prune_outbox(&self, before: Timestamp) -> Result<u64> {
        const OP: &str = "prune outbox";
        let mut tx = self.begin(OP).await?;
        sqlx::query(sql::PRUNE_DELIVERIES).bind(ms(before)).execute(&mut *tx).await.map_err(db(OP))?;
        let done = sqlx::query(sql::PRUNE_OUTBOX).bind(ms(before)).execute(&mut *tx).await.map_err(db(OP))?;
        tx.commit().await.map_err(db(OP))?;
        Ok(done.rows_affected())
    }

    async fn outbox_stats(&self) -> Result<OutboxStats> {
        const OP: &str = "read outbox stats";
        let row = sqlx::query(sql::OUTBOX_COUNTS).fetch_one(self.reader()).await.map_err(db(OP))?;
        let first_seq: Option<i64> = row.try_get(0).map_err(db(OP))?;
        let entries: i64 = row.try_get(1).map_err(db(OP))?;
        let last_seq: i64 = sqlx::query_scalar(sql::LAST_SEQ).fetch_one(self.reader()).await.map_err(db(OP))?;
        let rows = sqlx::query(sql::UNDELIVERED_COUNTS).fetch_all(self.reader()).await.map_err(db(OP))?;
        let mut undelivered = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get(0).map_err(db(OP))?;
            let count: i64 = row.try_get(1).map_err(db(OP))?;
            undelivered.push((WebhookId::new(id), count.max(0) as u64));
        }
        Ok(OutboxStats { first_seq, last_seq, entries: entries.max(0) as u64, undelivered })
    }

    async fn presence_state(&self, user: &UserId) -> Result<Option<serde_json::Value>> {
        let text: Option<String> = sqlx::query_scalar(sql::SELECT_PRESENCE)
            .bind(user.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(db("get presence state"))?;
        const T: &str = "presence_states";
        let text = text.map(|t| self.codec().open(t, Place { table: T, column: "presence", row: &[user.as_str()] }));
        text.transpose()?.map(|t| from_json(&t, T, "presence")).transpose()
    }

    async fn append_presence_change(
        &self,
        user: &UserId,
        presence: &serde_json::Value,
        event: &NewOutboxEvent,
    ) -> Result<OutboxEntry> {
        const OP: &str = "append presence change";
        let mut tx = self.begin(OP).await?;
        sqlx::query(sql::UPSERT_PRESENCE)
            .bind(user.as_str())
            .bind(self.codec().seal(
                to_json(presence, "presence")?,
                Place { table: "presence_states", column: "presence", row: &[user.as_str()] },
            )?)
            .bind(ms(now()))
            .execute(&mut *tx)
            .await
            .map_err(db_user(OP, user))?;
        let mut entries = append_in(&mut tx, self.codec(), std::slice::from_ref(event)).await?;
        tx.commit().await.map_err(db(OP))?;
        self.published(&entries);
        entries.pop().ok_or_else(|| StoreError::Invalid(format!("no outbox entry appended for {user}")))
    }

    async fn idempotency_get(&self, user: &UserId, key: &str) -> Result<Option<IdempotencyRecord>> {
        let row = sqlx::query(sql::GET_IDEMPOTENCY)
            .bind(user.as_str())
            .bind(key)
            .fetch_optional(self.reader())
            .await
            .map_err(db("read idempotency key"))?;
        row.as_ref().map(|row| idempotency_from_row(row, self.codec())).transpose()
    }

    async fn idempotency_reserve(&self, user: &UserId, key: &str, request_hash: &str) -> Result<Reservation> {
        const OP: &str = "reserve idempotency key";
        let mut tx = self.begin(OP).await?;
        let done = sqlx::query(sql::RESERVE_IDEMPOTENCY)
            .bind(user.as_str())
            .bind(key)
            .bind(request_hash)
            .bind(ms(now()))
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
        let outcome = if done.rows_affected() > 0 {
            Reservation::Reserved
        } else {
            let row = sqlx::query(sql::GET_IDEMPOTENCY)
                .bind(user.as_str())
                .bind(key)
                .fetch_one(&mut *tx)
                .await
                .map_err(db(OP))?;
            Reservation::Existing(idempotency_from_row(&row, self.codec())?)
        };
        tx.commit().await.map_err(db(OP))?;
        Ok(outcome)
    }

    async fn idempotency_complete(&self, user: &UserId, key: &str, response: &StoredResponse) -> Result<bool> {
        let done = sqlx::query(sql::COMPLETE_IDEMPOTENCY)
            .bind(user.as_str())
            .bind(key)
            .bind(i64::from(response.status))
            .bind(self.codec().seal(
                to_json(&response.body, "response")?,
                Place { table: "idempotency_keys", column: "response", row: &[user.as_str(), key] },
            )?)
            .bind(ms(now()))
            .execute(self.writer())
            .await
            .map_err(db("complete idempotency key"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn idempotency_release(&self, user: &UserId, key: &str) -> Result<bool> {
        let done = sqlx::query(sql::RELEASE_IDEMPOTENCY)
            .bind(user.as_str())
            .bind(key)
            .execute(self.writer())
            .await
            .map_err(db("release idempotency key"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn prune_idempotency(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query(sql::PRUNE_IDEMPOTENCY)
            .bind(ms(before))
            .execute(self.writer())
            .await
            .map_err(db("prune idempotency keys"))?;
        Ok(done.rows_affected())
    }

    async fn enqueue_write(
        &self,
        user: &UserId,
        id: &str,
        idempotency_key: Option<&str>,
        operation: &serde_json::Value,
    ) -> Result<PendingWrite> {
        const OP: &str = "queue a write";
        let at = now();
        let mut tx = self.begin(OP).await?;
        let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM pending_writes WHERE user_id = ?")
            .bind(user.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db(OP))?;
        sqlx::query(
            "INSERT INTO pending_writes (id, user_id, seq, idempotency_key, operation, state, attempts, \
             next_attempt_at, last_error, result, created_at) VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, NULL, NULL, ?)",
        )
        .bind(id)
        .bind(user.as_str())
        .bind(seq)
        .bind(idempotency_key)
        .bind(operation.to_string())
        .bind(ms(at))
        .bind(ms(at))
        .execute(&mut *tx)
        .await
        .map_err(db_user(OP, user))?;
        tx.commit().await.map_err(db(OP))?;
        Ok(PendingWrite {
            id: id.to_owned(),
            user_id: user.clone(),
            seq,
            idempotency_key: idempotency_key.map(str::to_owned),
            operation: operation.clone(),
            state: PendingWriteState::Queued,
            attempts: 0,
            next_attempt_at: at,
            last_error: None,
            result: None,
            created_at: at,
        })
    }

    async fn queued_writes(&self, user: Option<&UserId>) -> Result<Vec<PendingWrite>> {
        let rows = sqlx::query(
            "SELECT * FROM pending_writes WHERE state = 'queued' AND (? IS NULL OR user_id = ?) ORDER BY user_id, seq",
        )
        .bind(user.map(|u| u.as_str()))
        .bind(user.map(|u| u.as_str()))
        .fetch_all(self.reader())
        .await
        .map_err(db("list queued writes"))?;
        rows.iter().map(pending_write_from_row).collect()
    }

    async fn pending_write(&self, id: &str) -> Result<Option<PendingWrite>> {
        let row = sqlx::query("SELECT * FROM pending_writes WHERE id = ?")
            .bind(id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("read a queued write"))?;
        row.as_ref().map(pending_write_from_row).transpose()
    }

    async fn update_write(&self, write: &PendingWrite) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE pending_writes SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, result = ? \
             WHERE id = ?",
        )
        .bind(write.state.as_str())
        .bind(i64::from(write.attempts))
        .bind(ms(write.next_attempt_at))
        .bind(write.last_error.as_deref())
        .bind(write.result.as_ref().map(|r| r.to_string()))
        .bind(&write.id)
        .execute(self.writer())
        .await
        .map_err(db("update a queued write"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn unlink_event(&self, user: &UserId, event_id: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO unlinked_events (user_id, event_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(user.as_str())
        .bind(event_id)
        .bind(ms(now()))
        .execute(self.writer())
        .await
        .map_err(db_user("unlink an event", user))?;
        Ok(())
    }

    async fn unlinked_events(&self, user: &UserId) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT event_id FROM unlinked_events WHERE user_id = ? ORDER BY event_id")
            .bind(user.as_str())
            .fetch_all(self.reader())
            .await
            .map_err(db("list unlinked events"))
    }

    fn encrypts_at_rest(&self) -> bool {
        self.codec().is_keyed()
    }

    async fn put_secret(&self, name: &str, value: &SecretString) -> Result<()> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("a secret needs a non-empty name".into()));
        }
        let sealed = self
            .codec()
            .seal_required(value.expose_secret(), Place { table: "secrets", column: "value", row: &[name] })?;
        sqlx::query(sql::UPSERT_SECRET)
            .bind(name)
            .bind(sealed)
            .bind(ms(now()))
            .execute(self.writer())
            .await
            .map_err(db("put secret"))?;
        Ok(())
    }

    async fn get_secret(&self, name: &str) -> Result<Option<SecretString>> {
        let stored: Option<String> = sqlx::query_scalar(sql::GET_SECRET)
            .bind(name)
            .fetch_optional(self.reader())
            .await
            .map_err(db("get secret"))?;
        let Some(stored) = stored else { return Ok(None) };
        if !stored.starts_with(crate::crypto::PREFIX) {
            // Secrets are only ever written sealed: a plain one was put there by hand.
            return Err(StoreError::Corrupt {
                table: "secrets",
                column: "value",
                detail: format!("{name} is not sealed"),
            });
        }
        let plain = self.codec().open(stored, Place { table: "secrets", column: "value", row: &[name] })?;
        Ok(Some(SecretString::from(plain)))
    }

    async fn delete_secret(&self, name: &str) -> Result<bool> {
        let done =
            sqlx::query(sql::DELETE_SECRET).bind(name).execute(self.writer()).await.map_err(db("delete secret"))?;
        Ok(done.rows_affected() > 0)
    }
}
