-- create index "agentstate_agent_id" to table: "agent_states"
CREATE INDEX `agentstate_agent_id` ON `agent_states` (`agent_id`);
