-- modify "networks" table
ALTER TABLE "networks" ADD COLUMN "deleted_at" timestamptz NULL;
-- create index "network_deleted_at" to table: "networks"
CREATE INDEX "network_deleted_at" ON "networks" ("deleted_at");
