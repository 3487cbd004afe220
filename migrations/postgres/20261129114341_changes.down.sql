-- reverse: create index "experimentrun_simulation_id" to table: "experiment_runs"
DROP INDEX "experimentrun_simulation_id";
-- reverse: create index "experimentrun_experiment_id_arm_index_replicate" to table: "experiment_runs"
DROP INDEX "experimentrun_experiment_id_arm_index_replicate";
-- reverse: create "experiment_runs" table
DROP TABLE "experiment_runs";
-- reverse: create index "experimentresult_experiment_id_version" to table: "experiment_results"
DROP INDEX "experimentresult_experiment_id_version";
-- reverse: create "experiment_results" table
DROP TABLE "experiment_results";
-- reverse: create index "experiment_status" to table: "experiments"
DROP INDEX "experiment_status";
-- reverse: create index "experiment_network_id" to table: "experiments"
DROP INDEX "experiment_network_id";
-- reverse: create "experiments" table
DROP TABLE "experiments";
