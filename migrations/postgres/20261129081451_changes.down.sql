-- reverse: create index "worker_leases_client_id_key" to table: "worker_leases"
DROP INDEX "worker_leases_client_id_key";
-- reverse: create "worker_leases" table
DROP TABLE "worker_leases";
