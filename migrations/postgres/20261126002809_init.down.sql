-- reverse: create index "tie_network_id_target_id" to table: "ties"
DROP INDEX "tie_network_id_target_id";
-- reverse: create index "tie_network_id_source_id" to table: "ties"
DROP INDEX "tie_network_id_source_id";
-- reverse: create "ties" table
DROP TABLE "ties";
-- reverse: create index "simulationevent_simulation_id_seq" to table: "simulation_events"
DROP INDEX "simulationevent_simulation_id_seq";
-- reverse: create "simulation_events" table
DROP TABLE "simulation_events";
-- reverse: create index "report_simulation_id_version" to table: "reports"
DROP INDEX "report_simulation_id_version";
-- reverse: create "reports" table
DROP TABLE "reports";
-- reverse: create index "agentstate_simulation_id_round" to table: "agent_states"
DROP INDEX "agentstate_simulation_id_round";
-- reverse: create index "agentstate_simulation_id_agent_id_round" to table: "agent_states"
DROP INDEX "agentstate_simulation_id_agent_id_round";
-- reverse: create "agent_states" table
DROP TABLE "agent_states";
-- reverse: create index "simulation_status" to table: "simulations"
DROP INDEX "simulation_status";
-- reverse: create index "simulation_network_id_created_at" to table: "simulations"
DROP INDEX "simulation_network_id_created_at";
-- reverse: create "simulations" table
DROP TABLE "simulations";
-- reverse: create index "agent_network_id_agent_id" to table: "agents"
DROP INDEX "agent_network_id_agent_id";
-- reverse: create "agents" table
DROP TABLE "agents";
-- reverse: create index "network_created_at" to table: "networks"
DROP INDEX "network_created_at";
-- reverse: create "networks" table
DROP TABLE "networks";
-- reverse: create index "api_tokens_token_hash_key" to table: "api_tokens"
DROP INDEX "api_tokens_token_hash_key";
-- reverse: create index "api_tokens_name_key" to table: "api_tokens"
DROP INDEX "api_tokens_name_key";
-- reverse: create "api_tokens" table
DROP TABLE "api_tokens";
