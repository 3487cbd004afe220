-- reverse: create index "agentstate_agent_id" to table: "agent_states"
DROP INDEX `agentstate_agent_id`;
