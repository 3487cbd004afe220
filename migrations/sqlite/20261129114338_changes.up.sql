-- create "experiments" table
CREATE TABLE `experiments` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `name` text NOT NULL, `network_id` integer NOT NULL, `status` text NOT NULL DEFAULT ('QUEUED'), `error` text NULL, `seed` integer NOT NULL, `replicates` integer NOT NULL, `arms` json NOT NULL, `max_calls` integer NOT NULL DEFAULT (0), `max_tokens` integer NOT NULL DEFAULT (0), `max_cost_usd` real NOT NULL DEFAULT (0), `concurrent_runs` integer NOT NULL, `bootstrap_resamples` integer NOT NULL, `cache` bool NOT NULL DEFAULT (false), `total_steps` integer NOT NULL DEFAULT (0), `created_at` datetime NOT NULL, `started_at` datetime NULL, `finished_at` datetime NULL);
-- set sequence for "experiments" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("experiments", 42949672960);
-- create index "experiment_status" to table: "experiments"
CREATE INDEX `experiment_status` ON `experiments` (`status`);
-- create index "experiment_network_id" to table: "experiments"
CREATE INDEX `experiment_network_id` ON `experiments` (`network_id`);
-- create "experiment_results" table
CREATE TABLE `experiment_results` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `version` integer NOT NULL, `result` json NOT NULL, `narrative` text NOT NULL, `narrative_source` text NOT NULL, `model` text NULL, `created_at` datetime NOT NULL, `experiment_id` integer NOT NULL, CONSTRAINT `experiment_results_experiments_results` FOREIGN KEY (`experiment_id`) REFERENCES `experiments` (`id`) ON DELETE CASCADE);
-- set sequence for "experiment_results" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("experiment_results", 47244640256);
-- create index "experimentresult_experiment_id_version" to table: "experiment_results"
CREATE UNIQUE INDEX `experimentresult_experiment_id_version` ON `experiment_results` (`experiment_id`, `version`);
-- create "experiment_runs" table
CREATE TABLE `experiment_runs` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `arm_index` integer NOT NULL, `arm` text NOT NULL, `replicate` integer NOT NULL, `seed` integer NOT NULL, `simulation_id` integer NULL, `experiment_id` integer NOT NULL, CONSTRAINT `experiment_runs_experiments_runs` FOREIGN KEY (`experiment_id`) REFERENCES `experiments` (`id`) ON DELETE CASCADE);
-- set sequence for "experiment_runs" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("experiment_runs", 51539607552);
-- create index "experimentrun_experiment_id_arm_index_replicate" to table: "experiment_runs"
CREATE UNIQUE INDEX `experimentrun_experiment_id_arm_index_replicate` ON `experiment_runs` (`experiment_id`, `arm_index`, `replicate`);
-- create index "experimentrun_simulation_id" to table: "experiment_runs"
CREATE UNIQUE INDEX `experimentrun_simulation_id` ON `experiment_runs` (`simulation_id`);
