// Package resolvers implements the GraphQL resolvers. They stay thin: they
// translate between GraphQL and the plain Go packages that hold the logic.
package resolvers

import (
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/experiment"
	"github.com/ethox/ethox/graph"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/reporting"
	"github.com/ethox/ethox/simulation"
)

// Resolver is the root resolver, holding the process-wide dependencies.
type Resolver struct {
	Client  *ent.Client
	Graphs  *graphstore.Store
	Sims    *simulation.Service
	Reports *reporting.Service
	// Experiments creates, advances and reports experiments.
	Exps *experiment.Service
	// ProgressInterval throttles simulationProgress messages.
	ProgressInterval time.Duration
}

// NewSchema builds the executable schema over the given dependencies.
func NewSchema(r *Resolver) graphql.ExecutableSchema {
	return operationScope{graph.NewExecutableSchema(graph.Config{Resolvers: r, Complexity: complexity()})}
}
