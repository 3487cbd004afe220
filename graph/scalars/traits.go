// Package scalars holds the marshalling of custom GraphQL scalars.
package scalars

import (
	"encoding/json"
	"io"
	"math"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ethox/ethox/apperr"
)

// MarshalTraits writes a trait map (facet name to a 0..1 value) as a JSON object.
func MarshalTraits(v map[string]float64) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		if v == nil {
			v = map[string]float64{}
		}
		// encoding/json sorts keys, so the output is stable.
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte("{}")
		}
		_, _ = w.Write(b)
	})
}

// UnmarshalTraits accepts a JSON object of finite numbers.
func UnmarshalTraits(v any) (map[string]float64, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, apperr.New(apperr.BadInput, "traits must be an object of numbers")
	}
	out := make(map[string]float64, len(m))
	for k, raw := range m {
		var f float64
		switch n := raw.(type) {
		case json.Number:
			var err error
			if f, err = n.Float64(); err != nil {
				return nil, apperr.New(apperr.BadInput, "traits.%s must be a finite number", k)
			}
		case float64:
			f = n
		case int64:
			f = float64(n)
		case int:
			f = float64(n)
		default:
			return nil, apperr.New(apperr.BadInput, "traits.%s must be a finite number", k)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, apperr.New(apperr.BadInput, "traits.%s must be a finite number", k)
		}
		out[k] = f
	}
	return out, nil
}
