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

// Whom an agent hears in rounds 1..R (Params.Neighborhood).
const (
	// NeighborhoodChosen: a directed network read as "source chose target":
	// an agent hears the agents it chose (the prototype's; the default on
	// generated directed networks).
	NeighborhoodChosen = "CHOSEN"
	// NeighborhoodUndirected: every agent it is tied to, either direction
	// (a mutual choice counts once).
	NeighborhoodUndirected = "UNDIRECTED"
	// NeighborhoodDirected: an uploaded directed network read as "source
	// influences target": an agent hears the sources of its incoming edges
	// (the default on uploaded directed networks, and what runs recorded
	// before the field existed did on every directed network).
	NeighborhoodDirected = "DIRECTED"
)

// The order of the updates within a round (Params.UpdateOrder).
const (
	// UpdateSynchronous: round r reads only round r-1 (Ethox's default).
	UpdateSynchronous = "SYNCHRONOUS"
	// UpdateSequential: agents update in place in node order, so agent i
	// reads round r for the agents before it and round r-1 for the others
	// (the prototype's).
	UpdateSequential = "SEQUENTIAL"
)

// PresetPrototype sets every option to the prototype's value.
const PresetPrototype = "PROTOTYPE"

// PromptVersion identifies the agents' prompts (simulation/prompt.go); it
// changes whenever their wording or layout does. Runs recorded without one
// were started with the prompts before ethox-prompt/2 (a worker has only
// the current prompts: the steps of such a run still to come use them).
const PromptVersion = "ethox-prompt/2"

// DefaultSpeaker names the author of the trigger when a run names none.
const DefaultSpeaker = "the government or party that made the announcement"

// Params are a run's resolved parameters, stored on the Simulation row so
// every worker process runs it identically, and two runs can be compared.
type Params struct {
	// Preset is the preset the run was started with ("" or PresetPrototype);
	// explicit inputs override its values, and the fields below record the
	// values used.
	Preset     string  `json:"preset,omitempty"`
	Rounds     int     `json:"rounds"`
	SelfWeight float64 `json:"selfWeight"`
	// NeighborLimit is how many neighbours an agent hears, strongest ties
	// first; 0 means all of them.
	NeighborLimit int `json:"neighborLimit"`
	// Neighborhood is whom an agent hears (Neighborhood* constants; ""
	// in runs recorded before it existed: DIRECTED on a directed network,
	// UNDIRECTED on an undirected one).
	Neighborhood string `json:"neighborhood,omitempty"`
	// UpdateOrder is UpdateSynchronous or UpdateSequential ("" = synchronous).
	UpdateOrder string `json:"updateOrder,omitempty"`
	// The LLM's parameters, recorded for the runs that call it (LLM, HYBRID).
	Model string `json:"model,omitempty"`
	// Temperature sent with every agent call; nil: none sent (a reasoning model).
	Temperature *float64 `json:"temperature,omitempty"`
	// MaxOutputTokens limits an agent's answer (0: no limit sent; nil in runs
	// recorded before it existed: the process's OPENAI_MAX_TOKENS).
	MaxOutputTokens *int `json:"maxOutputTokens,omitempty"`
	// PromptVersion is the agents' prompts' version (see PromptVersion).
	PromptVersion string `json:"promptVersion,omitempty"`
	// Speaker is who made the announcement: the agents' change in support
	// is their change of support for it ("" in runs before it existed).
	Speaker string `json:"speaker,omitempty"`
	// NeighborNumbers shows neighbours' care and support next to their
	// opinions (false: their opinion texts only, as the prototype).
	NeighborNumbers bool     `json:"neighborNumbers"`
	Seed            int64    `json:"seed"`
	Concurrency     int      `json:"concurrency"`
	Epsilon         float64  `json:"epsilon"`
	MaxCalls        int      `json:"maxCalls,omitempty"`
	MaxTokens       int      `json:"maxTokens,omitempty"`
	MaxCostUSD      float64  `json:"maxCostUSD,omitempty"`
	Audience        Audience `json:"audience"`
	OpinionMaxChars int      `json:"opinionMaxChars"`
	// Cache: the run reuses stored answers to identical requests at
	// temperature 0 with a seed, and stores its own (simulation/cache.go).
	Cache bool `json:"cache,omitempty"`
}

// Sequential reports whether the run updates in place in node order.
func (p Params) Sequential() bool { return p.UpdateOrder == UpdateSequential }

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
