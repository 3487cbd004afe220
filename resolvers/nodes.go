package resolvers

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
)

// maxNodeIDs bounds nodes(ids:): every id is a bind parameter of one query per
// type, and databases cap those (SQLite 32,766, PostgreSQL 65,535).
const maxNodeIDs = 1000

// nodes resolves nodes(ids:) through ent's Noders, which adds one error per id
// when a table's query fails. Those are collected here: ids that do not exist
// keep their own NOT_FOUND error at their index, while any other failure
// fails the field once (one error, one log line).
func nodes(ctx context.Context, c *ent.Client, ids []int) ([]ent.Noder, error) {
	if len(ids) > maxNodeIDs {
		return nil, apperr.New(apperr.BadInput, "nodes: %d ids requested; at most %d per request", len(ids), maxNodeIDs)
	}
	own := graphql.WithResponseContext(ctx, func(ctx context.Context, err error) *gqlerror.Error {
		// A fresh wrapper: err itself may be a *gqlerror.Error.
		return &gqlerror.Error{Err: err, Message: err.Error(), Path: graphql.GetPath(ctx)}
	}, nil)
	out, err := c.Noders(own, ids)
	if err != nil {
		return nil, err
	}
	var states []*ent.AgentState
	for _, n := range out {
		if st, ok := n.(*ent.AgentState); ok {
			states = append(states, st)
		}
	}
	if err := loadAgentKeys(ctx, c, states); err != nil {
		return nil, err
	}
	errs := graphql.GetErrors(own)
	for _, e := range errs {
		if !notFound(e.Err) {
			return nil, e.Err
		}
	}
	for _, e := range errs {
		if len(e.Path) > 0 {
			if i, ok := e.Path[len(e.Path)-1].(ast.PathIndex); ok {
				graphql.AddError(graphql.WithPathContext(ctx, graphql.NewPathWithIndex(int(i))), e.Err)
				continue
			}
		}
		graphql.AddError(ctx, e.Err)
	}
	return out, nil
}

func notFound(err error) bool {
	var g *gqlerror.Error
	return ent.IsNotFound(err) || (errors.As(err, &g) && g.Extensions["code"] == "NOT_FOUND")
}
