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

// Report is a stored, versioned analysis of a simulation. Generating again adds
// a version instead of recomputing on every read, as the prototype did.
type Report struct {
	ent.Schema
}

func (Report) Fields() []ent.Field {
	return []ent.Field{
		field.Int("simulation_id").Immutable(),
		field.Int("version").Positive().Immutable().
			Annotations(entgql.OrderField("VERSION")),
		// Generated before the run finished.
		field.Bool("provisional").Default(false).Immutable(),
		field.Bool("include_initial").Default(false).Immutable(),
		// round(mean care × 10), 0..100.
		field.Int("care_score_100").Immutable(),
		// round(mean support × 10), -50..50.
		field.Int("change_in_support_50").Immutable(),
		field.Text("report_text").Immutable(),
		field.Enum("narrative_source").Values("LLM", "DETERMINISTIC").Immutable(),
		field.String("model").Optional().Nillable().Immutable(),
		field.JSON("metrics", map[string]any{}).Default(map[string]any{}).Immutable().
			Annotations(entgql.Type("Map")),
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
	}
}

func (Report) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("simulation", Simulation.Type).Ref("reports").Field("simulation_id").
			Unique().Required().Immutable(),
	}
}

func (Report) Indexes() []ent.Index {
	return []ent.Index{index.Fields("simulation_id", "version").Unique()}
}

func (Report) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
