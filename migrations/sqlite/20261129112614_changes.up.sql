-- add columns "branched_from_round" and "parent_id" to table: "simulations" (by hand: the generated table
-- rebuild would drop "simulations", and with it, through ON DELETE CASCADE, every state, event and report)
ALTER TABLE `simulations` ADD COLUMN `branched_from_round` integer NULL;
ALTER TABLE `simulations` ADD COLUMN `parent_id` integer NULL CONSTRAINT `simulations_simulations_branches` REFERENCES `simulations` (`id`) ON DELETE SET NULL;
-- create index "simulation_parent_id" to table: "simulations"
CREATE INDEX `simulation_parent_id` ON `simulations` (`parent_id`);
