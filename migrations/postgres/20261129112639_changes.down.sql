-- reverse: create index "simulation_parent_id" to table: "simulations"
DROP INDEX "simulation_parent_id";
-- reverse: modify "simulations" table
ALTER TABLE "simulations" DROP CONSTRAINT "simulations_simulations_branches", DROP COLUMN "parent_id", DROP COLUMN "branched_from_round";
