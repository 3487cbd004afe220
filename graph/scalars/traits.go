// Package scalars holds the marshalling of custom GraphQL scalars.
package scalars

import (
	"encoding/json"
	"io"
	"math"
	"slices"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/internal/jsonenc"
)

// MarshalTraits writes a trait map (facet name to a 0..1 value) as a JSON
// object with sorted keys, byte for byte what encoding/json writes. It is
// written out because it runs once per agent of every whole-graph read, where
// encoding/json's reflective map encoding was a tenth of the response time.
func MarshalTraits(v map[string]float64) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b := make([]byte, 0, 32*len(keys)+2)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONFloat(b, v[k])
		}
		b = append(b, '}')
		_, _ = w.Write(b)
	})
}

// appendJSONString quotes s as encoding/json does (HTML-safe escaping).
func appendJSONString(b []byte, s string) []byte { return jsonenc.AppendString(b, s) }

// appendJSONFloat formats f as encoding/json does. NaN and Inf never reach it
// (traits are validated as finite) and are written as 0.
func appendJSONFloat(b []byte, f float64) []byte {
	if out, err := jsonenc.AppendFloat(b, f); err == nil {
		return out
	}
	return append(b, '0')
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
