-- reverse: create index "network_deleted_at" to table: "networks"
DROP INDEX "network_deleted_at";
-- reverse: modify "networks" table
ALTER TABLE "networks" DROP COLUMN "deleted_at";
