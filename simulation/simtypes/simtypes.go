// Package simtypes holds the shapes a run stores as JSON: its parameters
// (Simulation.params) and its events' payloads (SimulationEvent.payload).
// ent/schema types those fields with them, so the package imports neither
// ent nor simulation.
package simtypes

// Audience modes: who hears the trigger at stage 0.
const (
	AudienceAll            = "ALL"
	AudienceTopInfluencers = "TOP_INFLUENCERS"
	AudienceBridges        = "BRIDGES"
	AudienceManual         = "MANUAL"

	MetricDegree      = "DEGREE"
	MetricBetweenness = "BETWEENNESS"
)

// Audience selects the agents that hear the trigger at stage 0; the others
// start indifferent and can only learn of it through their ties.
type Audience struct {
	Mode     string   `json:"mode"`
	Metric   string   `json:"metric,omitempty"`
	TopN     int      `json:"topN,omitempty"`
	AgentIDs []string `json:"agentIds,omitempty"`
}

// Params are a run's resolved parameters, stored on the Simulation row so
// every worker process runs it identically.
type Params struct {
	Rounds          int      `json:"rounds"`
	SelfWeight      float64  `json:"selfWeight"`
	NeighborLimit   int      `json:"neighborLimit"`
	Model           string   `json:"model,omitempty"`
	Temperature     *float64 `json:"temperature,omitempty"`
	Seed            int64    `json:"seed"`
	Concurrency     int      `json:"concurrency"`
	Epsilon         float64  `json:"epsilon"`
	MaxCalls        int      `json:"maxCalls,omitempty"`
	MaxTokens       int      `json:"maxTokens,omitempty"`
	MaxCostUSD      float64  `json:"maxCostUSD,omitempty"`
	Audience        Audience `json:"audience"`
	OpinionMaxChars int      `json:"opinionMaxChars"`
}

// EventPayload is an event's payload; which fields it has depends on the
// event's type:
//   - STATUS_CHANGED and FINISHED: Status;
//   - ROUND_COMPLETED: Round;
//   - AGENT_UPDATED: the agent's new state (the event names the agent and round).
type EventPayload struct {
	Status string `json:"status,omitempty"`
	Round  *int   `json:"round,omitempty"`
	*AgentUpdate
}

// AgentUpdate is an agent's state after a stored step.
type AgentUpdate struct {
	Opinion string  `json:"opinion"`
	Care    float64 `json:"care"`
	Support float64 `json:"support"`
	Failed  bool    `json:"failed"`
}
