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
)

// Network is one uploaded or generated social network. Networks are immutable
// once written: a new upload creates a new Network, so runs keep the exact graph
// they were started on.
type Network struct {
	ent.Schema
}

func (Network) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.Enum("source").Values("UPLOADED", "GENERATED").Default("UPLOADED"),
		field.Bool("directed").Default(false),
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Int("node_count").NonNegative().Default(0).
			Annotations(entgql.OrderField("NODE_COUNT")),
		field.Int("edge_count").NonNegative().Default(0).
			Annotations(entgql.OrderField("EDGE_COUNT")),
		field.Strings("trait_keys").Default([]string{}),
		// Generation parameters (seed, size, profile source) for GENERATED networks.
		field.JSON("params", map[string]any{}).Optional().
			Annotations(entgql.Type("Map")),
		// Set by deleteNetwork: from then on every read treats the network as
		// gone (graphstore.HideDeleted) while a background job purges its rows
		// in short batches; the row itself is deleted last.
		field.Time("deleted_at").Optional().Nillable().
			Annotations(entgql.Skip()),
	}
}

func (Network) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("agents", Agent.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.RelayConnection()),
		edge.To("ties", Tie.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.RelayConnection()),
		edge.To("simulations", Simulation.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.RelayConnection()),
		// Each time it was made the default network (graphstore.DefaultNetwork).
		edge.To("default_selections", DefaultSelection.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
	}
}

func (Network) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at"), index.Fields("deleted_at")}
}

func (Network) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(),
		entgql.RelayConnection(),
	}
}
