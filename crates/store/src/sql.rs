//! The store's SQL, written once for SQLite and PostgreSQL: `$n` placeholders (sqlx's SQLite
//! driver maps `$n` to argument n), `INSERT ... ON CONFLICT ... DO UPDATE/NOTHING` with
//! `excluded`, `RETURNING`, `TRUE`/`FALSE`, `LIMIT`. No backend-specific syntax appears here;
//! the only SQLite-specific statements (PRAGMAs, `BEGIN IMMEDIATE`, the checkpoint) live in
//! `sqlite.rs`.

// --- directory ---------------------------------------------------------------------------------

pub const LIST_USERS: &str = "SELECT u.user_id, u.display_name, u.login_email, u.work_email, u.personal_email, \
     u.external_uid, u.settings, u.created_at, u.updated_at, \
     m.mailbox, m.matched_by, m.state, m.last_error, m.exchange, m.synced_at, m.attempts, \
     m.updated_at AS m_updated_at, m.user_id AS m_user_id \
     FROM directory_users u LEFT JOIN mailbox_states m ON m.user_id = u.user_id ORDER BY u.user_id";

/// Users per mailbox state (NULL: never resolved, i.e. pending) and how many have `synced_at`.
pub const USER_COUNTS: &str = "SELECT m.state, COUNT(*) AS n, COUNT(m.synced_at) AS synced \
     FROM directory_users u LEFT JOIN mailbox_states m ON m.user_id = u.user_id GROUP BY m.state";

pub const GET_USER: &str = "SELECT u.user_id, u.display_name, u.login_email, u.work_email, u.personal_email, \
     u.external_uid, u.settings, u.created_at, u.updated_at, \
     m.mailbox, m.matched_by, m.state, m.last_error, m.exchange, m.synced_at, m.attempts, \
     m.updated_at AS m_updated_at, m.user_id AS m_user_id \
     FROM directory_users u LEFT JOIN mailbox_states m ON m.user_id = u.user_id WHERE u.user_id = $1";

pub const SELECT_USERS_PLAIN: &str = "SELECT u.user_id, u.display_name, u.login_email, u.work_email, \
     u.personal_email, u.external_uid, u.settings, u.created_at, u.updated_at FROM directory_users u";

pub const SELECT_USER_PLAIN: &str = "SELECT u.user_id, u.display_name, u.login_email, u.work_email, \
     u.personal_email, u.external_uid, u.settings, u.created_at, u.updated_at FROM directory_users u \
     WHERE u.user_id = $1";

pub const UPSERT_USER: &str = "INSERT INTO directory_users \
     (user_id, display_name, login_email, work_email, personal_email, external_uid, settings, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
     ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name, \
     login_email = excluded.login_email, work_email = excluded.work_email, \
     personal_email = excluded.personal_email, external_uid = excluded.external_uid, \
     settings = excluded.settings, updated_at = excluded.updated_at";

pub const DELETE_USER: &str = "DELETE FROM directory_users WHERE user_id = $1";

// --- mailbox -----------------------------------------------------------------------------------

pub const GET_MAILBOX: &str = "SELECT m.mailbox, m.matched_by, m.state, m.last_error, m.exchange, \
     m.synced_at, m.attempts, m.updated_at AS m_updated_at, m.user_id AS m_user_id \
     FROM mailbox_states m WHERE m.user_id = $1";

pub const UPSERT_MAILBOX: &str = "INSERT INTO mailbox_states \
     (user_id, mailbox, matched_by, state, last_error, exchange, synced_at, attempts, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (user_id) DO UPDATE SET mailbox = excluded.mailbox, matched_by = excluded.matched_by, \
     state = excluded.state, last_error = excluded.last_error, exchange = excluded.exchange, \
     synced_at = excluded.synced_at, attempts = excluded.attempts, updated_at = excluded.updated_at";

// --- mirror ------------------------------------------------------------------------------------

macro_rules! mirror_insert {
    () => {
        "INSERT INTO mirror_events (user_id, folder, uid, instance_key, kind, item_id, change_key, series_id, \
         start_at, end_at, event, content_hash, changed_at, deleted) VALUES "
    };
}

macro_rules! mirror_on_conflict {
    () => {
        " ON CONFLICT (user_id, folder, uid, instance_key) DO UPDATE SET kind = excluded.kind, \
         item_id = excluded.item_id, change_key = excluded.change_key, series_id = excluded.series_id, \
         start_at = excluded.start_at, end_at = excluded.end_at, event = excluded.event, \
         content_hash = excluded.content_hash, changed_at = excluded.changed_at, deleted = excluded.deleted"
    };
}

/// Parameters per mirror row in [`upsert_mirror_rows`].
pub const MIRROR_PARAMS: usize = 14;

/// The upsert of `rows` mirror rows in one statement. The rows of one statement must have
/// distinct keys (PostgreSQL refuses to update one row twice in a statement).
///
/// The parameters are anonymous (`?`, bound in order): with numbered ones (`$n`) sqlx looks up
/// every parameter's name when binding (`sqlite3_bind_parameter_name`, a walk of the
/// statement's name list), which is quadratic in the parameters of a batch (448 for 32 rows:
/// 9 % of the connector's CPU in the initial sync). Anonymous parameters have no names to walk.
pub fn upsert_mirror_rows(rows: usize) -> String {
    let row = format!("({})", vec!["?"; MIRROR_PARAMS].join(", "));
    let values = vec![row.as_str(); rows].join(", ");
    format!("{}{}{}", mirror_insert!(), values, mirror_on_conflict!())
}

pub const TOMBSTONE_MIRROR: &str = "UPDATE mirror_events SET deleted = TRUE, changed_at = $5 \
     WHERE user_id = $1 AND folder = $2 AND uid = $3 AND instance_key = $4";

pub const FORGET_MIRROR: &str =
    "DELETE FROM mirror_events WHERE user_id = $1 AND folder = $2 AND uid = $3 AND instance_key = $4";

pub const USER_EXISTS: &str = "SELECT COUNT(*) FROM directory_users WHERE user_id = $1";

pub const EVENTS_IN_WINDOW: &str = "SELECT folder, uid, instance_key, kind, item_id, change_key, series_id, \
     start_at, end_at, event, content_hash, changed_at, deleted FROM mirror_events \
     WHERE user_id = $1 AND folder = $2 AND deleted = FALSE AND kind <> 'master' \
     AND start_at < $4 AND (end_at > $3 OR start_at >= $3) \
     ORDER BY start_at, uid, instance_key";

pub const LIST_MIRROR: &str = "SELECT folder, uid, instance_key, kind, item_id, change_key, series_id, \
     start_at, end_at, event, content_hash, changed_at, deleted FROM mirror_events \
     WHERE user_id = $1 AND folder = $2 AND deleted = FALSE ORDER BY uid, instance_key";

pub const GET_EVENT: &str = "SELECT folder, uid, instance_key, kind, item_id, change_key, series_id, \
     start_at, end_at, event, content_hash, changed_at, deleted FROM mirror_events \
     WHERE user_id = $1 AND folder = $2 AND uid = $3 AND instance_key = $4";

pub const EVENTS_BY_ITEM: &str = "SELECT folder, uid, instance_key, kind, item_id, change_key, series_id, \
     start_at, end_at, event, content_hash, changed_at, deleted FROM mirror_events \
     WHERE user_id = $1 AND (folder, uid) IN (SELECT folder, uid FROM mirror_events \
     WHERE user_id = $1 AND item_id = $2 AND kind <> 'occurrence') ORDER BY folder, uid, instance_key";

pub const MIRROR_INDEX: &str = "SELECT folder, uid, instance_key, kind, item_id, change_key, series_id, \
     start_at, end_at, content_hash, changed_at, deleted FROM mirror_events \
     WHERE user_id = $1 AND folder = $2 ORDER BY uid, instance_key";

pub const PRUNE_TOMBSTONES: &str = "DELETE FROM mirror_events WHERE deleted = TRUE AND changed_at < $1";

// --- sync state --------------------------------------------------------------------------------

pub const GET_SYNC_STATE: &str =
    "SELECT sync_state, updated_at FROM folder_sync_states WHERE user_id = $1 AND folder = $2";

pub const UPSERT_SYNC_STATE: &str = "INSERT INTO folder_sync_states (user_id, folder, sync_state, updated_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, folder) DO UPDATE SET \
     sync_state = excluded.sync_state, updated_at = excluded.updated_at";

pub const DELETE_SYNC_STATE: &str = "DELETE FROM folder_sync_states WHERE user_id = $1 AND folder = $2";

// --- subscriptions -----------------------------------------------------------------------------

macro_rules! subscription_select {
    () => {
        "SELECT user_id, subscription_id, kind, folders, watermark, exchange, group_id, anchor_mailbox, \
         created_at, updated_at FROM subscriptions "
    };
}

pub const GET_SUBSCRIPTION: &str = concat!(subscription_select!(), "WHERE user_id = $1");

pub const SUBSCRIPTION_BY_ID: &str = concat!(subscription_select!(), "WHERE subscription_id = $1");

pub const LIST_SUBSCRIPTIONS: &str = concat!(subscription_select!(), "ORDER BY user_id");

pub const UPSERT_SUBSCRIPTION: &str = "INSERT INTO subscriptions \
     (user_id, subscription_id, kind, folders, watermark, exchange, group_id, anchor_mailbox, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT (user_id) DO UPDATE SET subscription_id = excluded.subscription_id, kind = excluded.kind, \
     folders = excluded.folders, watermark = excluded.watermark, exchange = excluded.exchange, \
     group_id = excluded.group_id, anchor_mailbox = excluded.anchor_mailbox, \
     created_at = excluded.created_at, updated_at = excluded.updated_at";

pub const UPDATE_WATERMARK: &str =
    "UPDATE subscriptions SET watermark = $3, updated_at = $4 WHERE user_id = $1 AND subscription_id = $2";

pub const DELETE_SUBSCRIPTION: &str = "DELETE FROM subscriptions WHERE user_id = $1";

pub const DELETE_SUBSCRIPTION_IF: &str = "DELETE FROM subscriptions WHERE user_id = $1 AND subscription_id = $2";

// --- outbox ------------------------------------------------------------------------------------

pub const NEXT_SEQ: &str = "UPDATE store_counters SET value = value + $1 WHERE name = 'outbox_seq' RETURNING value";

pub const LAST_SEQ: &str = "SELECT value FROM store_counters WHERE name = 'outbox_seq'";

pub const SELECT_WEBHOOKS: &str = "SELECT webhook_id, events, skip_origin FROM webhooks ORDER BY webhook_id";

pub const UPSERT_WEBHOOK: &str = "INSERT INTO webhooks (webhook_id, events, skip_origin, updated_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (webhook_id) DO UPDATE SET events = excluded.events, \
     skip_origin = excluded.skip_origin, updated_at = excluded.updated_at";

pub const DELETE_WEBHOOK: &str = "DELETE FROM webhooks WHERE webhook_id = $1";

pub const INSERT_OUTBOX: &str = "INSERT INTO outbox (seq, id, event_type, user_id, occurred_at, data, origin, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub const INSERT_DELIVERY: &str = "INSERT INTO outbox_deliveries \
     (webhook_id, seq, user_id, attempts, next_attempt_at, delivered_at, last_error) \
     VALUES ($1, $2, $3, 0, $4, NULL, NULL)";

/// Heads of line: undelivered deliveries of the webhook in seq order (partial index
/// `outbox_deliveries_queue`) that have no earlier undelivered delivery of the same user (probe of
/// `outbox_deliveries_user_queue`), due now. Written as NOT EXISTS rather than a GROUP BY
/// subquery joined back: SQLite 3.51 plans the join the wrong way round (a second per 100,000
/// pending rows, against milliseconds for this form).
pub const PENDING_FOR_DELIVERY: &str = "SELECT o.seq, o.id, o.event_type, o.user_id, o.occurred_at, o.data, \
     o.origin, o.created_at, d.webhook_id, d.attempts, d.next_attempt_at, d.delivered_at, d.last_error \
     FROM outbox_deliveries d JOIN outbox o ON o.seq = d.seq \
     WHERE d.webhook_id = $1 AND d.delivered_at IS NULL AND d.next_attempt_at <= $2 \
     AND NOT EXISTS (SELECT 1 FROM outbox_deliveries p WHERE p.webhook_id = d.webhook_id \
       AND p.user_id = d.user_id AND p.delivered_at IS NULL AND p.seq < d.seq) \
     ORDER BY d.seq LIMIT $3";

pub const MARK_DELIVERED: &str = "UPDATE outbox_deliveries SET delivered_at = $3, attempts = attempts + 1 \
     WHERE webhook_id = $1 AND seq = $2 AND delivered_at IS NULL";

pub const MARK_FAILED: &str = "UPDATE outbox_deliveries SET attempts = attempts + 1, next_attempt_at = $3, \
     last_error = $4 WHERE webhook_id = $1 AND seq = $2 AND delivered_at IS NULL";

pub const ENTRIES_AFTER: &str = "SELECT o.seq, o.id, o.event_type, o.user_id, o.occurred_at, o.data, o.origin, \
     o.created_at FROM outbox o WHERE o.seq > $1 ORDER BY o.seq LIMIT $2";

pub const OUTBOX_BY_ID: &str = "SELECT o.seq, o.id, o.event_type, o.user_id, o.occurred_at, o.data, o.origin, \
     o.created_at FROM outbox o WHERE o.id = $1";

pub const DELIVERY_STATES: &str = "SELECT webhook_id, attempts, next_attempt_at, delivered_at, last_error \
     FROM outbox_deliveries WHERE seq = $1 ORDER BY webhook_id";

/// Deliveries go with their entry (ON DELETE CASCADE); the explicit delete keeps it independent of
/// foreign-key enforcement.
pub const PRUNE_DELIVERIES: &str = "DELETE FROM outbox_deliveries WHERE seq IN \
     (SELECT o.seq FROM outbox o WHERE o.created_at < $1 AND NOT EXISTS \
      (SELECT 1 FROM outbox_deliveries d WHERE d.seq = o.seq AND d.delivered_at IS NULL))";

pub const PRUNE_OUTBOX: &str = "DELETE FROM outbox WHERE created_at < $1 AND NOT EXISTS \
     (SELECT 1 FROM outbox_deliveries d WHERE d.seq = outbox.seq AND d.delivered_at IS NULL)";

pub const OUTBOX_COUNTS: &str = "SELECT MIN(seq), COUNT(*) FROM outbox";

pub const UNDELIVERED_COUNTS: &str = "SELECT w.webhook_id, \
     (SELECT COUNT(*) FROM outbox_deliveries d WHERE d.webhook_id = w.webhook_id AND d.delivered_at IS NULL) \
     FROM webhooks w ORDER BY w.webhook_id";

// --- idempotency -------------------------------------------------------------------------------

pub const GET_IDEMPOTENCY: &str = "SELECT user_id, idem_key, request_hash, status, response, created_at, \
     completed_at FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2";

pub const RESERVE_IDEMPOTENCY: &str = "INSERT INTO idempotency_keys \
     (user_id, idem_key, request_hash, status, response, created_at, completed_at) \
     VALUES ($1, $2, $3, NULL, NULL, $4, NULL) ON CONFLICT (user_id, idem_key) DO NOTHING";

pub const COMPLETE_IDEMPOTENCY: &str = "UPDATE idempotency_keys SET status = $3, response = $4, completed_at = $5 \
     WHERE user_id = $1 AND idem_key = $2 AND response IS NULL";

pub const RELEASE_IDEMPOTENCY: &str =
    "DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND response IS NULL";

pub const PRUNE_IDEMPOTENCY: &str = "DELETE FROM idempotency_keys WHERE created_at < $1";

// --- health ------------------------------------------------------------------------------------

pub const SCHEMA_VERSION: &str = "SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE";

// --- presence ----------------------------------------------------------------------------------

pub const SELECT_PRESENCE: &str = "SELECT presence FROM presence_states WHERE user_id = $1";

pub const UPSERT_PRESENCE: &str = "INSERT INTO presence_states (user_id, presence, updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (user_id) DO UPDATE SET presence = excluded.presence, updated_at = excluded.updated_at";

// --- encryption at rest ------------------------------------------------------------------------

pub const GET_META: &str = "SELECT value FROM store_meta WHERE name = $1";

pub const INSERT_META: &str = "INSERT INTO store_meta (name, value) VALUES ($1, $2)";

pub const GET_SECRET: &str = "SELECT value FROM secrets WHERE name = $1";

pub const UPSERT_SECRET: &str = "INSERT INTO secrets (name, value, updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

pub const DELETE_SECRET: &str = "DELETE FROM secrets WHERE name = $1";
