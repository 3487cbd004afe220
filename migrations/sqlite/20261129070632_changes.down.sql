-- reverse: create index "defaultselection_network_id" to table: "default_selections"
DROP INDEX `defaultselection_network_id`;
-- reverse: set sequence for "default_selections" table
UPDATE sqlite_sequence SET seq = 0 WHERE name = "default_selections";
-- reverse: create "default_selections" table
DROP TABLE `default_selections`;
