-- reverse: create index "llmcacheentry_created_at" to table: "llm_cache_entries"
DROP INDEX "llmcacheentry_created_at";
-- reverse: create index "llm_cache_entries_key_key" to table: "llm_cache_entries"
DROP INDEX "llm_cache_entries_key_key";
-- reverse: create "llm_cache_entries" table
DROP TABLE "llm_cache_entries";
-- reverse: modify "simulations" table
ALTER TABLE "simulations" DROP COLUMN "cost_saved_usd", DROP COLUMN "cache_hits";
