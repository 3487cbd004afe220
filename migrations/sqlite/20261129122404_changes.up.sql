-- add columns "cache_hits" and "cost_saved_usd" to table: "simulations" (by hand: the generated table rebuild
-- would drop "simulations", and with it, through ON DELETE CASCADE, every state, event and report)
ALTER TABLE `simulations` ADD COLUMN `cache_hits` integer NOT NULL DEFAULT (0);
ALTER TABLE `simulations` ADD COLUMN `cost_saved_usd` real NOT NULL DEFAULT (0);
-- create "llm_cache_entries" table
CREATE TABLE `llm_cache_entries` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `key` text NOT NULL, `model` text NOT NULL, `answer` text NOT NULL, `prompt_tokens` integer NOT NULL, `completion_tokens` integer NOT NULL, `created_at` datetime NOT NULL);
-- set sequence for "llm_cache_entries" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("llm_cache_entries", 55834574848);
-- create index "llm_cache_entries_key_key" to table: "llm_cache_entries"
CREATE UNIQUE INDEX `llm_cache_entries_key_key` ON `llm_cache_entries` (`key`);
-- create index "llmcacheentry_created_at" to table: "llm_cache_entries"
CREATE INDEX `llmcacheentry_created_at` ON `llm_cache_entries` (`created_at`);
