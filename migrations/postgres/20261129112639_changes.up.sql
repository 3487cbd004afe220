-- modify "simulations" table
ALTER TABLE "simulations" ADD COLUMN "branched_from_round" bigint NULL, ADD COLUMN "parent_id" bigint NULL, ADD CONSTRAINT "simulations_simulations_branches" FOREIGN KEY ("parent_id") REFERENCES "simulations" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
-- create index "simulation_parent_id" to table: "simulations"
CREATE INDEX "simulation_parent_id" ON "simulations" ("parent_id");
