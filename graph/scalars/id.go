package scalars

import (
	"encoding/json"
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ethox/ethox/apperr"
)

// MarshalID writes an ent id as a GraphQL ID (a string). Ids are unique across
// types (ent's global id ranges), so node(id:) knows the type from the id.
func MarshalID(id int) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(strconv.Itoa(id))) })
}

// UnmarshalID accepts a string or an integer; anything else is a
// BAD_USER_INPUT error that quotes the offending value.
func UnmarshalID(v any) (int, error) {
	switch x := v.(type) {
	case string:
		id, err := strconv.Atoi(x)
		if err != nil {
			return 0, apperr.New(apperr.BadInput, "%q is not a valid ID", x)
		}
		return id, nil
	case json.Number:
		id, err := strconv.Atoi(x.String())
		if err != nil {
			return 0, apperr.New(apperr.BadInput, "%s is not a valid ID", x)
		}
		return id, nil
	case int:
		return x, nil
	case int64:
		return int(x), nil
	default:
		return 0, apperr.New(apperr.BadInput, "%v is not a valid ID", v)
	}
}
