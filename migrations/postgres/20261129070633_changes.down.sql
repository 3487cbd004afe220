-- reverse: create index "defaultselection_network_id" to table: "default_selections"
DROP INDEX "defaultselection_network_id";
-- reverse: create "default_selections" table
DROP TABLE "default_selections";
