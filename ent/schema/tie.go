package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Tie is a weighted social tie between two agents of the same network (the
// prototype's "edge"; named Tie so GraphQL does not say EdgeEdge).
type Tie struct {
	ent.Schema
}

func (Tie) Fields() []ent.Field {
	return []ent.Field{
		field.Int("network_id").Immutable(),
		// Agent primary keys. Deliberately not foreign keys: per-row FK checks made
		// a 50k-tie COPY take over a second on PostgreSQL. Ties are written only by the
		// importer, which validates both ends, and go away with their network.
		field.Int("source_id").Immutable(),
		field.Int("target_id").Immutable(),
		field.Float("weight").Default(1),
	}
}

func (Tie) Edges() []ent.Edge {
	return []ent.Edge{
		// Not a database foreign key either (internal/migrationgen's
		// unconstrained): its per-row check slowed the COPY of ties; a purge
		// deletes ties before their network (graphstore/delete.go).
		edge.From("network", Network.Type).Ref("ties").Field("network_id").
			Unique().Required().Immutable(),
	}
}

func (Tie) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("network_id", "source_id"),
		index.Fields("network_id", "target_id"),
	}
}

func (Tie) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
