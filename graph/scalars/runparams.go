package scalars

import (
	"encoding/json"
	"io"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ethox/ethox/simulation/simtypes"
)

// MarshalRunParams writes a run's parameters (Simulation.params) as the Map
// scalar: their JSON object.
func MarshalRunParams(p simtypes.Params) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		b, err := json.Marshal(p)
		if err != nil { // only a NaN or infinite number, which resolve refuses
			b = []byte("null")
		}
		_, _ = w.Write(b)
	})
}

// UnmarshalRunParams reads a Map as run parameters. No input takes them; gqlgen
// needs the pair.
func UnmarshalRunParams(v any) (simtypes.Params, error) {
	var p simtypes.Params
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	return p, err
}
