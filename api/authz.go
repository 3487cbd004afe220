package api

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/auth"
)

// Roles of mutations that need more than writer.
var mutationRoles = map[string]auth.Role{
	"deleteNetwork": auth.Admin,
}

// runMutations are counted against the stricter run limit too: each one can
// spend money on LLM calls (a report's narrative is one).
var runMutations = map[string]bool{"runSimulation": true, "generateReport": true, "createExperiment": true, "generateExperimentReport": true}

// authorize checks the token and role an operation needs before any of it
// runs, then applies the mutation rate limits. A rejected operation runs no
// field at all, so a document mixing allowed and forbidden mutations does
// nothing.
func authorize(a checker, readsNeedToken bool, limits *rateLimits, log *slog.Logger) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		if oc == nil || oc.Operation == nil {
			return next(ctx)
		}
		need, what := auth.None, "this "+string(oc.Operation.Operation)
		var fields []string
		if oc.Operation.Operation == ast.Mutation {
			for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Mutation"}) {
				fields = append(fields, f.Name)
				role := auth.Writer
				if r, ok := mutationRoles[f.Name]; ok {
					role = r
				}
				if role > need {
					need, what = role, "mutation "+f.Name
				}
			}
		} else if readsNeedToken {
			need = auth.Reader
		}
		p, err := a.Check(ctx, BearerToken(ctx), need, what)
		if err != nil {
			return errorResponse(ctx, log, err)
		}
		if limits != nil && len(fields) > 0 {
			key := "ip:" + ClientIP(ctx)
			if p != nil && p.Source != "open" {
				key = "token:" + p.Name
			}
			if err := limits.allow(key, fields); err != nil {
				return errorResponse(ctx, log, err)
			}
		}
		return next(ctx)
	}
}

// errorResponse answers a whole operation with one coded error.
func errorResponse(ctx context.Context, log *slog.Logger, err error) graphql.ResponseHandler {
	e := &gqlerror.Error{Message: err.Error(), Extensions: map[string]any{}}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		e.Extensions["code"] = ae.Kind.String()
		if ae.Kind == apperr.RateLimited {
			var rl *rateLimitError
			if errors.As(err, &rl) {
				e.Extensions["retryAfterSeconds"] = int(math.Ceil(rl.retryAfter.Seconds()))
			}
		}
	} else {
		log.ErrorContext(ctx, "internal error", "error", err)
		e.Message = "internal error"
		e.Extensions["code"] = apperr.Internal.String()
	}
	return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{e}})
}

type rateLimitError struct {
	err        *apperr.Error
	retryAfter time.Duration
}

func (e *rateLimitError) Error() string { return e.err.Error() }
func (e *rateLimitError) Unwrap() error { return e.err }

func newRateLimitError(what string, perMinute int, retry time.Duration) error {
	return &rateLimitError{
		err:        apperr.New(apperr.RateLimited, "%s: rate limit of %d per minute exceeded; retry in %s", what, perMinute, retry.Round(100*time.Millisecond)),
		retryAfter: retry,
	}
}
