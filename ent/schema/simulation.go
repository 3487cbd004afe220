package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/ethox/ethox/simulation/simtypes"
)

// Simulation is one run of a trigger message over a network, by an LLM or a
// classical opinion-dynamics engine. Counters are kept on the row so progress
// and usage are one read away.
type Simulation struct {
	ent.Schema
}

func (Simulation) Fields() []ent.Field {
	return []ent.Field{
		field.Int("network_id").Immutable(),
		field.Enum("status").Values("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED").
			Default("QUEUED").Annotations(entgql.OrderField("STATUS")),
		field.Enum("engine").Values("LLM", "HYBRID", "DEGROOT", "FRIEDKIN_JOHNSEN", "HEGSELMANN_KRAUSE").
			Immutable(),
		field.Text("trigger").NotEmpty().Immutable(),
		// Every run parameter (self weight, neighbour limit, model, budget, audience...).
		field.JSON("params", simtypes.Params{}).Default(simtypes.Params{}).
			Annotations(entgql.Type("Map")),
		field.Text("error").Optional().Nillable(),
		field.Int("rounds").NonNegative().Default(1),
		field.Int("current_round").NonNegative().Default(0),
		field.Int("completed_steps").NonNegative().Default(0),
		field.Int("total_steps").NonNegative().Default(0),
		field.Int("calls").NonNegative().Default(0),
		field.Int("prompt_tokens").NonNegative().Default(0),
		field.Int("completion_tokens").NonNegative().Default(0),
		field.Int("retries").NonNegative().Default(0),
		field.Int("failed_steps").NonNegative().Default(0),
		field.Float("estimated_cost_usd").Default(0),
		// The answer cache (params.cache): calls answered from llm_cache_entries
		// instead of the LLM, and what they would have cost at LLM_PRICES.
		field.Int("cache_hits").NonNegative().Default(0),
		field.Float("cost_saved_usd").Default(0),
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("started_at").Optional().Nillable(),
		field.Time("finished_at").Optional().Nillable(),
		// A branch (runSimulation's fromSimulation) starts from its parent's
		// stored states at branched_from_round, copied into its own rows
		// (simulation/branch.go). Both stay null on other runs.
		field.Int("parent_id").Optional().Nillable().Immutable().
			Comment("The run this one branched from (fromSimulation); null on a run started from scratch, or once its parent is deleted."),
		field.Int("branched_from_round").Optional().Nillable().NonNegative().Immutable().
			Comment("A branch's fromRound: its rounds 0..branchedFromRound are its parent's, copied; null on a run started from scratch."),
	}
}

func (Simulation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("network", Network.Type).Ref("simulations").Field("network_id").
			Unique().Required().Immutable(),
		edge.To("states", AgentState.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("events", SimulationEvent.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("reports", Report.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		// The branch tree. SET NULL: deleteNetwork's purge deletes a network's
		// runs in batches in any order, and a branch always shares its parent's
		// network; a branch keeps its copied states, so it stands on its own.
		// GraphQL's branches field is written by hand ([Simulation!]!, oldest first).
		edge.To("branches", Simulation.Type).
			Annotations(entsql.OnDelete(entsql.SetNull), entgql.Skip()).
			From("parent").Field("parent_id").Unique().Immutable(),
	}
}

func (Simulation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("status"),
		index.Fields("network_id", "created_at"),
		index.Fields("parent_id"), // branches of a run; SET NULL when it is deleted
	}
}

func (Simulation) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(),
		entgql.RelayConnection(),
	}
}
