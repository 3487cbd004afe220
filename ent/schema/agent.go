package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Agent is one person of a network: personality, profile, position in the graph,
// and the opinion fields an upload may carry.
type Agent struct {
	ent.Schema
}

func (Agent) Fields() []ent.Field {
	return []ent.Field{
		field.Int("network_id").Immutable(),
		// The external id from the uploaded file, unique within its network.
		// GraphQL spells it agentId (graph/schema.graphqls), as the graph view does.
		field.String("agent_id").NotEmpty().Immutable().
			Annotations(entgql.OrderField("AGENT_ID"), entgql.Skip(entgql.SkipType)),
		// BFI-2 facets (or any other trait) normalised to 0..1.
		field.JSON("traits", map[string]float64{}).Default(map[string]float64{}).
			Annotations(entgql.Type("Traits"), entgql.Skip(entgql.SkipWhereInput)),
		// Voter and demographic attributes.
		field.JSON("profile", map[string]any{}).Default(map[string]any{}).
			Annotations(entgql.Type("Map")),
		field.Int("age").Optional().Nillable().
			Comment("Age in years. A population from the prototype, or from a survey with only an age bracket, carries the bracket's representative age: 22 (Under 25), 32 (25-40) or 55 (40+), the prototype's colour scale; ageBracket gives the bracket itself."),
		field.String("gender").Optional().Nillable(),
		field.Int("cluster").Optional().Nillable(),
		field.Int("degree").NonNegative().Default(0).
			Annotations(entgql.OrderField("DEGREE")),
		field.Float("degree_centrality").Default(0).
			Annotations(entgql.OrderField("DEGREE_CENTRALITY")),
		field.Float("betweenness_centrality").Default(0).
			Annotations(entgql.OrderField("BETWEENNESS_CENTRALITY")),
		field.Text("text_opinion").Optional().Nillable(),
		field.Float("level_of_care").Optional().Nillable(),
		field.Float("effect_on_usage").Optional().Nillable(),
		// Every other node field of the upload, so an upload round-trips losslessly.
		field.JSON("attributes", map[string]any{}).Default(map[string]any{}).
			Annotations(entgql.Type("Map")),
	}
}

func (Agent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("network", Network.Type).Ref("agents").Field("network_id").
			Unique().Required().Immutable(),
		edge.To("states", AgentState.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
	}
}

func (Agent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("network_id", "agent_id").Unique(),
	}
}

func (Agent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
