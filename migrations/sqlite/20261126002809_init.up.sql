-- create "api_tokens" table
CREATE TABLE `api_tokens` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `name` text NOT NULL, `role` text NOT NULL, `token_hash` text NOT NULL, `created_at` datetime NOT NULL, `revoked_at` datetime NULL);
-- create index "api_tokens_name_key" to table: "api_tokens"
CREATE UNIQUE INDEX `api_tokens_name_key` ON `api_tokens` (`name`);
-- create index "api_tokens_token_hash_key" to table: "api_tokens"
CREATE UNIQUE INDEX `api_tokens_token_hash_key` ON `api_tokens` (`token_hash`);
-- create "agents" table
CREATE TABLE `agents` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `agent_id` text NOT NULL, `traits` json NOT NULL, `profile` json NOT NULL, `age` integer NULL, `gender` text NULL, `cluster` integer NULL, `degree` integer NOT NULL DEFAULT (0), `degree_centrality` real NOT NULL DEFAULT (0), `betweenness_centrality` real NOT NULL DEFAULT (0), `text_opinion` text NULL, `level_of_care` real NULL, `effect_on_usage` real NULL, `attributes` json NOT NULL, `network_id` integer NOT NULL, CONSTRAINT `agents_networks_agents` FOREIGN KEY (`network_id`) REFERENCES `networks` (`id`) ON DELETE CASCADE);
-- set sequence for "agents" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("agents", 4294967296);
-- create index "agent_network_id_agent_id" to table: "agents"
CREATE UNIQUE INDEX `agent_network_id_agent_id` ON `agents` (`network_id`, `agent_id`);
-- create "agent_states" table
CREATE TABLE `agent_states` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `round` integer NOT NULL, `opinion` text NOT NULL DEFAULT (''), `care` real NOT NULL DEFAULT (0), `support` real NOT NULL DEFAULT (0), `failed` bool NOT NULL DEFAULT (false), `error` text NULL, `latency_ms` integer NOT NULL DEFAULT (0), `prompt_tokens` integer NOT NULL DEFAULT (0), `completion_tokens` integer NOT NULL DEFAULT (0), `retries` integer NOT NULL DEFAULT (0), `created_at` datetime NOT NULL, `agent_id` integer NOT NULL, `simulation_id` integer NOT NULL, CONSTRAINT `agent_states_agents_states` FOREIGN KEY (`agent_id`) REFERENCES `agents` (`id`) ON DELETE CASCADE, CONSTRAINT `agent_states_simulations_states` FOREIGN KEY (`simulation_id`) REFERENCES `simulations` (`id`) ON DELETE CASCADE);
-- set sequence for "agent_states" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("agent_states", 8589934592);
-- create index "agentstate_simulation_id_agent_id_round" to table: "agent_states"
CREATE UNIQUE INDEX `agentstate_simulation_id_agent_id_round` ON `agent_states` (`simulation_id`, `agent_id`, `round`);
-- create index "agentstate_simulation_id_round" to table: "agent_states"
CREATE INDEX `agentstate_simulation_id_round` ON `agent_states` (`simulation_id`, `round`);
-- create "networks" table
CREATE TABLE `networks` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `name` text NOT NULL, `source` text NOT NULL DEFAULT ('UPLOADED'), `directed` bool NOT NULL DEFAULT (false), `created_at` datetime NOT NULL, `node_count` integer NOT NULL DEFAULT (0), `edge_count` integer NOT NULL DEFAULT (0), `trait_keys` json NOT NULL, `params` json NULL);
-- set sequence for "networks" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("networks", 12884901888);
-- create index "network_created_at" to table: "networks"
CREATE INDEX `network_created_at` ON `networks` (`created_at`);
-- create "reports" table
CREATE TABLE `reports` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `version` integer NOT NULL, `provisional` bool NOT NULL DEFAULT (false), `include_initial` bool NOT NULL DEFAULT (false), `care_score_100` integer NOT NULL, `change_in_support_50` integer NOT NULL, `report_text` text NOT NULL, `narrative_source` text NOT NULL, `model` text NULL, `metrics` json NOT NULL, `created_at` datetime NOT NULL, `simulation_id` integer NOT NULL, CONSTRAINT `reports_simulations_reports` FOREIGN KEY (`simulation_id`) REFERENCES `simulations` (`id`) ON DELETE CASCADE);
-- set sequence for "reports" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("reports", 17179869184);
-- create index "report_simulation_id_version" to table: "reports"
CREATE UNIQUE INDEX `report_simulation_id_version` ON `reports` (`simulation_id`, `version`);
-- create "simulations" table
CREATE TABLE `simulations` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `status` text NOT NULL DEFAULT ('QUEUED'), `engine` text NOT NULL, `trigger` text NOT NULL, `params` json NOT NULL, `error` text NULL, `rounds` integer NOT NULL DEFAULT (1), `current_round` integer NOT NULL DEFAULT (0), `completed_steps` integer NOT NULL DEFAULT (0), `total_steps` integer NOT NULL DEFAULT (0), `calls` integer NOT NULL DEFAULT (0), `prompt_tokens` integer NOT NULL DEFAULT (0), `completion_tokens` integer NOT NULL DEFAULT (0), `retries` integer NOT NULL DEFAULT (0), `failed_steps` integer NOT NULL DEFAULT (0), `estimated_cost_usd` real NOT NULL DEFAULT (0), `created_at` datetime NOT NULL, `started_at` datetime NULL, `finished_at` datetime NULL, `network_id` integer NOT NULL, CONSTRAINT `simulations_networks_simulations` FOREIGN KEY (`network_id`) REFERENCES `networks` (`id`) ON DELETE CASCADE);
-- set sequence for "simulations" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("simulations", 21474836480);
-- create index "simulation_status" to table: "simulations"
CREATE INDEX `simulation_status` ON `simulations` (`status`);
-- create index "simulation_network_id_created_at" to table: "simulations"
CREATE INDEX `simulation_network_id_created_at` ON `simulations` (`network_id`, `created_at`);
-- create "simulation_events" table
CREATE TABLE `simulation_events` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `seq` integer NOT NULL, `type` text NOT NULL, `agent_key` text NULL, `round` integer NULL, `payload` json NOT NULL, `created_at` datetime NOT NULL, `simulation_id` integer NOT NULL, CONSTRAINT `simulation_events_simulations_events` FOREIGN KEY (`simulation_id`) REFERENCES `simulations` (`id`) ON DELETE CASCADE);
-- set sequence for "simulation_events" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("simulation_events", 25769803776);
-- create index "simulationevent_simulation_id_seq" to table: "simulation_events"
CREATE UNIQUE INDEX `simulationevent_simulation_id_seq` ON `simulation_events` (`simulation_id`, `seq`);
-- create "ties" table
CREATE TABLE `ties` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `source_id` integer NOT NULL, `target_id` integer NOT NULL, `weight` real NOT NULL DEFAULT (1), `network_id` integer NOT NULL, CONSTRAINT `ties_networks_ties` FOREIGN KEY (`network_id`) REFERENCES `networks` (`id`) ON DELETE CASCADE);
-- set sequence for "ties" table
INSERT INTO sqlite_sequence (name, seq) VALUES ("ties", 30064771072);
-- create index "tie_network_id_source_id" to table: "ties"
CREATE INDEX `tie_network_id_source_id` ON `ties` (`network_id`, `source_id`);
-- create index "tie_network_id_target_id" to table: "ties"
CREATE INDEX `tie_network_id_target_id` ON `ties` (`network_id`, `target_id`);
