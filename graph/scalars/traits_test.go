package scalars

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// MarshalTraits writes what encoding/json writes for the same map.
func TestMarshalTraitsMatchesEncodingJSON(t *testing.T) {
	cases := []map[string]float64{
		nil,
		{},
		{"Anxiety": 0.8, "Trust": 0.425, "Energy Level": 1, "b": 0},
		{"tiny": 1e-7, "small": 0.000001, "neg": -2.5e-9, "big": 1e21, "bigger": 1.5e300, "int": 3, "neg0": math.Copysign(0, -1)},
		{"<html> & \"quotes\"": 1, "ünïcødé": 2, "tab\there": 3, "back\\slash": 4},
	}
	for _, m := range cases {
		var got bytes.Buffer
		MarshalTraits(m).MarshalGQL(&got)
		want, _ := json.Marshal(m)
		if m == nil {
			want = []byte("{}")
		}
		if got.String() != string(want) {
			t.Errorf("MarshalTraits(%v) = %s, want %s", m, got.String(), want)
		}
	}
}
