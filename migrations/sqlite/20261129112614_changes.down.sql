-- reverse: create index "simulation_parent_id" to table: "simulations"
DROP INDEX `simulation_parent_id`;
-- reverse: add columns "branched_from_round" and "parent_id" (by hand): SQLite cannot drop a column with a
-- foreign key, and a rebuild of "simulations" would cascade to every state, event and report; the columns
-- stay, null on every run that is not a branch.
