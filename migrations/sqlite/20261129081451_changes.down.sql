-- reverse: create index "worker_leases_client_id_key" to table: "worker_leases"
DROP INDEX `worker_leases_client_id_key`;
-- reverse: set sequence for "worker_leases" table
UPDATE sqlite_sequence SET seq = 0 WHERE name = "worker_leases";
-- reverse: create "worker_leases" table
DROP TABLE `worker_leases`;
