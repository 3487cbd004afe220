-- reverse: create index "llmcacheentry_created_at" to table: "llm_cache_entries"
DROP INDEX `llmcacheentry_created_at`;
-- reverse: create index "llm_cache_entries_key_key" to table: "llm_cache_entries"
DROP INDEX `llm_cache_entries_key_key`;
-- reverse: set sequence for "llm_cache_entries" table
DELETE FROM sqlite_sequence WHERE name = "llm_cache_entries";
-- reverse: create "llm_cache_entries" table
DROP TABLE `llm_cache_entries`;
-- reverse: add columns "cache_hits" and "cost_saved_usd" (by hand, in place)
ALTER TABLE `simulations` DROP COLUMN `cost_saved_usd`;
ALTER TABLE `simulations` DROP COLUMN `cache_hits`;
