package resolvers

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// operationScope gives every operation a scope for values read once per
// query, such as the default network's id that each Network.isDefault
// compares with (a list of 100 networks costs one read, not 100).
type operationScope struct{ graphql.ExecutableSchema }

type scopeKey struct{}

type scope struct {
	defaultOnce sync.Once
	defaultID   int
	hasDefault  bool
	defaultErr  error
}

func (s operationScope) Exec(ctx context.Context) graphql.ResponseHandler {
	return s.ExecutableSchema.Exec(context.WithValue(ctx, scopeKey{}, &scope{}))
}

// defaultNetworkID is the default network's id, read once per query. A
// mutation reads it each time: it may change the default between fields.
func (r *Resolver) defaultNetworkID(ctx context.Context) (int, bool, error) {
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	oc := graphql.GetOperationContext(ctx)
	if sc == nil || oc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Query {
		return r.Graphs.DefaultNetworkID(ctx)
	}
	sc.defaultOnce.Do(func() { sc.defaultID, sc.hasDefault, sc.defaultErr = r.Graphs.DefaultNetworkID(ctx) })
	return sc.defaultID, sc.hasDefault, sc.defaultErr
}
