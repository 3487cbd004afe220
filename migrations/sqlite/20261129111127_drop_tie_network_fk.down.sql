-- reverse: create index "tie_network_id_target_id" to table: "ties"
DROP INDEX `tie_network_id_target_id`;
-- reverse: create index "tie_network_id_source_id" to table: "ties"
DROP INDEX `tie_network_id_source_id`;
-- reverse: set sequence for "new_ties" table
UPDATE sqlite_sequence SET seq = 0 WHERE name = "new_ties";
-- reverse: create "new_ties" table
DROP TABLE `new_ties`;
