-- create "default_selections" table
CREATE TABLE `default_selections` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `created_at` datetime NOT NULL, `network_id` integer NOT NULL, CONSTRAINT `default_selections_networks_default_selections` FOREIGN KEY (`network_id`) REFERENCES `networks` (`id`) ON DELETE CASCADE);
-- set sequence for "default_selections" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("default_selections", 34359738368);
-- create index "defaultselection_network_id" to table: "default_selections"
CREATE INDEX `defaultselection_network_id` ON `default_selections` (`network_id`);
