-- ethox:allow-drop: SQLite cannot drop a constraint, so "ties" is rebuilt without the foreign key to
-- "networks" (graphstore purges ties itself); every row is copied first, and nothing references "ties",
-- so dropping the old table cascades nowhere (unlike a rebuild of "networks", see 20261129081735).
-- disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- create "new_ties" table
CREATE TABLE `new_ties` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `source_id` integer NOT NULL, `target_id` integer NOT NULL, `weight` real NOT NULL DEFAULT (1), `network_id` integer NOT NULL);
-- set sequence for "new_ties" table (by hand: carry the old sequence over, so ids of deleted ties are not reused)
INSERT INTO sqlite_sequence (name, seq) VALUES ('new_ties', (SELECT max(30064771072, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'ties'), 0))));
-- copy rows from old table "ties" to new temporary table "new_ties"
INSERT INTO `new_ties` (`id`, `source_id`, `target_id`, `weight`, `network_id`) SELECT `id`, `source_id`, `target_id`, `weight`, `network_id` FROM `ties`;
-- drop "ties" table after copying rows
DROP TABLE `ties`;
-- rename temporary table "new_ties" to "ties"
ALTER TABLE `new_ties` RENAME TO `ties`;
-- create index "tie_network_id_source_id" to table: "ties"
CREATE INDEX `tie_network_id_source_id` ON `ties` (`network_id`, `source_id`);
-- create index "tie_network_id_target_id" to table: "ties"
CREATE INDEX `tie_network_id_target_id` ON `ties` (`network_id`, `target_id`);
-- enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
