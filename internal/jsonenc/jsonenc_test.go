package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// Append writes what json.Marshal writes, for every kind of value a decoded
// upload or a generated population holds.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, v := range []any{
		nil, true, false, "", "plain", `quo"te\back`, "<a href='x'>&amp;</a>", "tab\tnew\nline\x01", "é ü 日本", "bad \xff utf8", "\u2028\u2029",
		0.0, math.Copysign(0, -1), 1.0, -2.5, 0.1, 1e-7, 1.5e-9, 1e20, 1e21, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64,
		3, -7, int64(1) << 60,
		map[string]float64{"b": 0.25, "a": 1e-8, "<k>": 3},
		map[string]float64{},
		map[string]float64(nil),
		map[string]any{"z": []any{1.0, "x", nil, map[string]any{}}, "a": map[string]float64{"q": 0.5}, "m": false, "n": nil, "target_ties": 4},
		[]any{},
		[]any(nil),
		map[string]any{"odd": []int{1, 2}}, // not decoded-JSON-like: encoding/json's job
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Append(nil, v)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Append(%#v) = %s, %v; json.Marshal gives %s", v, got, err, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), map[string]any{"x": math.Inf(-1)}, map[string]float64{"x": math.NaN()}} {
		if _, err := Append(nil, v); err == nil {
			t.Errorf("Append(%v): no error", v)
		}
	}
}
