-- exbridge store, schema version 5: the ItemId index holds singles and series masters only.
--
-- Portable DDL (SQLite and PostgreSQL).
--
-- Every occurrence row of a series carries its master's ItemId. Indexing them made each
-- occurrence insert (most of the rows an initial sync writes) update one more B-tree, keyed by
-- a ~170-byte EWS ItemId, for lookups that need only the item's head row: the rows of an item
-- are found through its head's UID (sql::EVENTS_BY_ITEM).
DROP INDEX mirror_events_item;
CREATE INDEX mirror_events_item ON mirror_events (user_id, item_id) WHERE kind <> 'occurrence';
