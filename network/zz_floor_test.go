package network

import (
	"bytes"
	"encoding/json"
	"testing"
)

type nopElem struct{}

func (*nopElem) UnmarshalJSON([]byte) error { return nil }

func BenchmarkZZFloor(b *testing.B) {
	doc := generatedDocument(10_000, 50_000, 1)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			if k == "nodes" || k == "edges" {
				dec.Token()
				for dec.More() {
					var e nopElem
					dec.Decode(&e)
				}
				dec.Token()
			} else {
				var v any
				dec.Decode(&v)
			}
		}
	}
}
