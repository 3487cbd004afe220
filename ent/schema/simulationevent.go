package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/ethox/ethox/simulation/simtypes"
)

// SimulationEvent is the durable, ordered log a subscriber replays before it
// switches to live events: seq is strictly increasing within a simulation.
type SimulationEvent struct {
	ent.Schema
}

func (SimulationEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int("simulation_id").Immutable(),
		field.Int("seq").Positive().Immutable(),
		field.Enum("type").Values("STATUS_CHANGED", "AGENT_UPDATED", "ROUND_COMPLETED", "FINISHED").Immutable(),
		field.String("agent_key").Optional().Nillable().Immutable(),
		field.Int("round").Optional().Nillable().Immutable(),
		// Status, round or the agent's new state, by type.
		field.JSON("payload", simtypes.EventPayload{}).Default(simtypes.EventPayload{}).Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

func (SimulationEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("simulation", Simulation.Type).Ref("events").Field("simulation_id").
			Unique().Required().Immutable(),
	}
}

func (SimulationEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("simulation_id", "seq").Unique()}
}

func (SimulationEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
