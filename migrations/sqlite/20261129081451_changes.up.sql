-- create "worker_leases" table
CREATE TABLE `worker_leases` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `client_id` text NOT NULL, `process` text NOT NULL DEFAULT (''), `expires_at` datetime NOT NULL);
-- set sequence for "worker_leases" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("worker_leases", 38654705664);
-- create index "worker_leases_client_id_key" to table: "worker_leases"
CREATE UNIQUE INDEX `worker_leases_client_id_key` ON `worker_leases` (`client_id`);
