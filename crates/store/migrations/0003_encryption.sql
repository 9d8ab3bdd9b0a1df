-- exbridge store, schema version 3: encryption at rest.
--
-- Portable DDL (SQLite and PostgreSQL).
-- store_meta: named values of the store itself. With store.encryption_key set it holds
--   kdf_salt (base64 of the database's random 16-byte key-derivation salt) and key_check
--   (a known text sealed with the data key, to detect a wrong key at open).
-- secrets: credentials entered in the UI or API (Exchange passwords, client secrets, webhook
--   secrets); value is always sealed (enc:v1:...), the store refuses to write one without a key.
CREATE TABLE store_meta (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);

CREATE TABLE secrets (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
