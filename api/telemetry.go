package api

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ethox/ethox/telemetry"
)

// operationMetrics counts GraphQL operations by name and outcome and times
// them to their first response (a subscription's first message).
func operationMetrics(m *telemetry.Metrics) graphql.OperationMiddleware {
	names := &labelSet{max: maxOperationNames, seen: map[string]bool{}}
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		name, typ := "anonymous", "query"
		if oc != nil {
			if oc.OperationName != "" {
				name = oc.OperationName
			}
			if oc.Operation != nil {
				typ = string(oc.Operation.Operation)
				if name == "anonymous" && oc.Operation.Name != "" {
					name = oc.Operation.Name // the request named none, the document names one
				}
			}
		}
		name = names.label(name)
		start := time.Now()
		handler := next(ctx)
		first := true
		return func(ctx context.Context) *graphql.Response {
			resp := handler(ctx)
			if first && resp != nil {
				first = false
				outcome := "ok"
				if len(resp.Errors) > 0 {
					outcome = "error"
				}
				m.Operations.WithLabelValues(name, typ, outcome).Inc()
				m.OperationTime.WithLabelValues(name, typ).Observe(time.Since(start).Seconds())
			}
			return resp
		}
	}
}

// maxOperationNames bounds the operation label: names come from clients, and
// each new one would be a new time series.
const maxOperationNames = 500

// labelSet admits the first max distinct values; later new ones become "other".
type labelSet struct {
	max  int
	mu   sync.Mutex
	seen map[string]bool
}

func (l *labelSet) label(v string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[v] {
		return v
	}
	if len(l.seen) >= l.max || len(v) > 100 {
		return "other"
	}
	l.seen[v] = true
	return v
}
