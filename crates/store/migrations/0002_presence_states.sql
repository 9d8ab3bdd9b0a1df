-- exbridge store, schema version 2: the last presence the engine emitted per user.
--
-- Portable DDL (SQLite and PostgreSQL). presence is the JSON document of the last
-- presence.changed appended for the user; kept so a restarted engine does not emit a duplicate.
CREATE TABLE presence_states (
    user_id     TEXT PRIMARY KEY REFERENCES directory_users (user_id) ON DELETE CASCADE,
    presence    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
