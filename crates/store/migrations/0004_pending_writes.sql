-- exbridge store, schema version 4: event writes through the API.
--
-- Portable DDL (SQLite and PostgreSQL).
--
-- pending_writes: writes the API accepted while Exchange was unreachable or throttling,
-- applied later in seq order per user (state queued → done | failed). operation is the JSON of
-- the write (method, event id, body, If-Match).
CREATE TABLE pending_writes (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES directory_users (user_id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    idempotency_key  TEXT,
    operation        TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    result           TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX pending_writes_user ON pending_writes (user_id, state, seq);

-- unlinked_events: events (ids of singles, series or occurrences) the application deleted while the user's delete_in_exchange is
-- false: the item stays in Exchange, the application hears no more about it.
CREATE TABLE unlinked_events (
    user_id     TEXT NOT NULL REFERENCES directory_users (user_id) ON DELETE CASCADE,
    event_id    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, event_id)
);
