package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AgentState is one finished step: an agent's opinion after a round of a
// simulation (round 0 is the reaction to the trigger). It is written as soon as
// the step finishes, and its uniqueness is what makes resumed runs never ask the
// LLM twice for the same step.
type AgentState struct {
	ent.Schema
}

func (AgentState) Fields() []ent.Field {
	return []ent.Field{
		field.Int("simulation_id").Immutable(),
		// The agent's primary key. GraphQL shows it as the deprecated
		// AgentState.agentID: agentId is the external id there, as on every
		// other type (graph/simulation.graphqls), and agent the agent itself.
		field.Int("agent_id").Immutable().
			Annotations(entgql.Directives(entgql.Deprecated(
				"The agent's internal number, not its external id: use agentId (the external id, as on Agent, GraphNode and SimulationEvent) or agent."))),
		field.Int("round").NonNegative().Immutable(),
		field.Text("opinion").Default(""),
		// How much the agent cares, 0..10.
		field.Float("care").Default(0),
		// Change in support, -5..5.
		field.Float("support").Default(0),
		// A failed step keeps the previous state; the failure is recorded here.
		field.Bool("failed").Default(false),
		field.Text("error").Optional().Nillable(),
		field.Int("latency_ms").NonNegative().Default(0),
		field.Int("prompt_tokens").NonNegative().Default(0),
		field.Int("completion_tokens").NonNegative().Default(0),
		field.Int("retries").NonNegative().Default(0),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

func (AgentState) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("simulation", Simulation.Type).Ref("states").Field("simulation_id").
			Unique().Required().Immutable(),
		edge.From("agent", Agent.Type).Ref("states").Field("agent_id").
			Unique().Required().Immutable(),
	}
}

func (AgentState) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("simulation_id", "agent_id", "round").Unique(),
		index.Fields("simulation_id", "round"),
		// Deleting a network cascades to its agents' states by agent_id; without
		// an index of its own each deleted agent scanned every stored state.
		index.Fields("agent_id"),
	}
}

func (AgentState) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
