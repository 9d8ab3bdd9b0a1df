-- exbridge store, schema version 1.
--
-- Portable DDL: this file is meant to run unchanged on SQLite (>= 3.35) and PostgreSQL (>= 12).
-- Times are BIGINT unix milliseconds (UTC), ids and JSON documents TEXT, flags BOOLEAN; no
-- AUTOINCREMENT / SERIAL: the outbox sequence is a counter row (see store_counters).

-- The directory as the application gives it (CONTRACT §4 user); settings is the JSON object.
CREATE TABLE directory_users (
    user_id         TEXT PRIMARY KEY,
    display_name    TEXT,
    login_email     TEXT,
    work_email      TEXT,
    personal_email  TEXT,
    external_uid    TEXT,
    settings        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- The resolved mailbox of a directory user; attempts is the JSON resolution log.
CREATE TABLE mailbox_states (
    user_id     TEXT PRIMARY KEY REFERENCES directory_users (user_id) ON DELETE CASCADE,
    mailbox     TEXT,
    matched_by  TEXT,
    state       TEXT NOT NULL,
    last_error  TEXT,
    exchange    TEXT,
    synced_at   BIGINT,
    attempts    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The calendar (and task) mirror. Identity is (user, folder, uid, instance_key), never the
-- EWS ItemId, which can change. instance_key is '' for singles and series masters, the
-- occurrence's original start (UTC, RFC 3339) for occurrences. deleted rows are tombstones.
CREATE TABLE mirror_events (
    user_id       TEXT NOT NULL REFERENCES directory_users (user_id) ON DELETE CASCADE,
    folder        TEXT NOT NULL,
    uid           TEXT NOT NULL,
    instance_key  TEXT NOT NULL,
    kind          TEXT NOT NULL,
    item_id       TEXT NOT NULL,
    change_key    TEXT,
    series_id     TEXT,
    start_at      BIGINT,
    end_at        BIGINT,
    event         TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    changed_at    BIGINT NOT NULL,
    deleted       BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, folder, uid, instance_key)
);
CREATE INDEX mirror_events_window ON mirror_events (user_id, folder, start_at);
CREATE INDEX mirror_events_item ON mirror_events (user_id, item_id);
CREATE INDEX mirror_events_tombstones ON mirror_events (changed_at) WHERE deleted = TRUE;

-- SyncFolderItems state per user and folder.
CREATE TABLE folder_sync_states (
    user_id     TEXT NOT NULL REFERENCES directory_users (user_id) ON DELETE CASCADE,
    folder      TEXT NOT NULL,
    sync_state  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, folder)
);

-- One notification subscription per user; folders is a JSON array of folder kinds.
CREATE TABLE subscriptions (
    user_id          TEXT PRIMARY KEY REFERENCES directory_users (user_id) ON DELETE CASCADE,
    subscription_id  TEXT NOT NULL,
    kind             TEXT NOT NULL,
    folders          TEXT NOT NULL,
    watermark        TEXT,
    exchange         TEXT NOT NULL,
    group_id         TEXT,
    anchor_mailbox   TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX subscriptions_by_id ON subscriptions (subscription_id);

-- Monotonic counters. outbox_seq is taken with UPDATE ... RETURNING inside the appending
-- transaction: the row lock serialises appenders until commit, so seq order is commit order
-- (a reader resuming after seq N can never miss a later-committing smaller seq).
CREATE TABLE store_counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO store_counters (name, value) VALUES ('outbox_seq', 0);

-- The durable outbox (webhooks and SSE). Not tied to the directory: entries of a removed user
-- are still delivered. data is the webhook's JSON data.
CREATE TABLE outbox (
    seq          BIGINT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    event_type   TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    data         TEXT NOT NULL,
    origin       TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX outbox_created ON outbox (created_at);

-- The configured webhooks; events is a JSON array of event types, or null for all.
CREATE TABLE webhooks (
    webhook_id   TEXT PRIMARY KEY,
    events       TEXT,
    skip_origin  TEXT,
    updated_at   BIGINT NOT NULL
);

-- Per webhook delivery state of each outbox entry. user_id is copied from the entry for the
-- head-of-line query (oldest undelivered entry per user).
CREATE TABLE outbox_deliveries (
    webhook_id       TEXT NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    seq              BIGINT NOT NULL REFERENCES outbox (seq) ON DELETE CASCADE,
    user_id          TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    delivered_at     BIGINT,
    last_error       TEXT,
    PRIMARY KEY (webhook_id, seq)
);
CREATE INDEX outbox_deliveries_queue ON outbox_deliveries (webhook_id, seq) WHERE delivered_at IS NULL;
CREATE INDEX outbox_deliveries_user_queue ON outbox_deliveries (webhook_id, user_id, seq) WHERE delivered_at IS NULL;
CREATE INDEX outbox_deliveries_by_seq ON outbox_deliveries (seq);

-- Idempotency-Key records of the write API; response is NULL while the request is in flight.
CREATE TABLE idempotency_keys (
    user_id       TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        BIGINT,
    response      TEXT,
    created_at    BIGINT NOT NULL,
    completed_at  BIGINT,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
