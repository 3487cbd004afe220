package scalars

import (
	"encoding/json"
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ethox/ethox/apperr"
)

// MarshalAgentKey writes an agent's external id as a string.
func MarshalAgentKey(v string) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(v)) })
}

// UnmarshalAgentKey accepts a string or an integer, as network.json does.
func UnmarshalAgentKey(v any) (string, error) {
	switch k := v.(type) {
	case string:
		if k == "" {
			return "", apperr.New(apperr.BadInput, "agent id must not be empty")
		}
		return k, nil
	case json.Number:
		if _, err := k.Int64(); err != nil {
			return "", apperr.New(apperr.BadInput, "agent id %s must be a string or an integer", k)
		}
		return k.String(), nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case int:
		return strconv.Itoa(k), nil
	default:
		return "", apperr.New(apperr.BadInput, "agent id must be a string or an integer")
	}
}
