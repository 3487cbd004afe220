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

// DefaultSelection records one time a network was made the default network,
// the one operations use without a network id: the default is the network
// of the latest selection (graphstore.DefaultNetwork). Uploads, imports and
// generations made for their own sake add one, and so does
// setDefaultNetwork; a population runSimulation(numAgents:) generates for its
// run does not. Deleting a network deletes its selections, so the network
// made default before it is the default again. GraphQL shows
// Network.isDefault instead.
type DefaultSelection struct {
	ent.Schema
}

func (DefaultSelection) Fields() []ent.Field {
	return []ent.Field{
		field.Int("network_id").Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

func (DefaultSelection) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("network", Network.Type).Ref("default_selections").Field("network_id").
			Unique().Required().Immutable(),
	}
}

func (DefaultSelection) Indexes() []ent.Index {
	return []ent.Index{index.Fields("network_id")}
}

func (DefaultSelection) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
