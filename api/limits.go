package api

import (
	"context"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// depthLimit refuses operations nested deeper than max fields. gqlgen has a
// complexity limit but no depth limit, and no maintained extension does this,
// so it is written here.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	w := &walker{fragDepth: map[string]int{}, fragFields: map[string]int{}, visiting: map[string]bool{}}
	depth, fields := w.walk(oc.Operation.SelectionSet)
	if fields > maxExpandedFields {
		// Fragments spread many times multiply a short document; gqlgen's
		// complexity walk (which runs next) expands them without memo.
		return &gqlerror.Error{
			Message:    "operation expands to more than " + strconv.Itoa(maxExpandedFields) + " fields",
			Extensions: map[string]any{"code": "COMPLEXITY_LIMIT_EXCEEDED"},
		}
	}
	if d.max > 0 && depth > d.max {
		return &gqlerror.Error{
			Message:    "operation has depth " + strconv.Itoa(depth) + ", which exceeds MAX_QUERY_DEPTH (" + strconv.Itoa(d.max) + ")",
			Extensions: map[string]any{"code": "DEPTH_LIMIT_EXCEEDED"},
		}
	}
	return nil
}

// maxExpandedFields bounds the fields of an operation with its fragments
// expanded; legitimate documents stay far below it.
const maxExpandedFields = 10_000

// walker measures depth and expanded field count, memoising each fragment
// (its depth and size do not depend on where it is spread), so a chain of
// fragments each spread twice costs linear time, not exponential.
type walker struct {
	fragDepth, fragFields map[string]int
	visiting              map[string]bool
}

func (w *walker) walk(set ast.SelectionSet) (depth, fields int) {
	for _, sel := range set {
		var d, n int
		switch s := sel.(type) {
		case *ast.Field:
			d, n = w.walk(s.SelectionSet)
			d, n = d+1, n+1
		case *ast.InlineFragment:
			d, n = w.walk(s.SelectionSet)
		case *ast.FragmentSpread:
			if s.Definition == nil || w.visiting[s.Name] {
				continue // validation rejects cycles; guard anyway
			}
			if _, ok := w.fragDepth[s.Name]; !ok {
				w.visiting[s.Name] = true
				w.fragDepth[s.Name], w.fragFields[s.Name] = w.walk(s.Definition.SelectionSet)
				delete(w.visiting, s.Name)
			}
			d, n = w.fragDepth[s.Name], w.fragFields[s.Name]
		}
		depth = max(depth, d)
		fields = min(fields+n, maxExpandedFields+1) // saturate: counts can grow as 2^n
	}
	return depth, fields
}
