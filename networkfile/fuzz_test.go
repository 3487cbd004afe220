package networkfile

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ethox/ethox/apperr"
)

// FuzzDecode checks that Decode never panics, only ever returns BadInput
// errors, and that whatever it accepts is a consistent graph.
func FuzzDecode(f *testing.F) {
	f.Add(readFixture(f))
	seeds := []string{
		`{"nodes":[{"agent_id":1},{"agent_id":2}],"edges":[{"source":1,"target":2}]}`,
		`{"directed":true,"nodes":[{"agent_id":"a","traits":{"x":1e308}},{"agent_id":"b","profile":{"p":[1,{"q":null}]}}],"edges":[{"source":"b","target":"a","weight":-2.5}]}`,
		`{"edges":[{"source":"a","target":"b"}],"graph":{"name":[]},"nodes":[{"agent_id":"a","age":3.0,"degree":0},{"agent_id":"b","x":"y"}]}`,
		`{"nodes":[{"agent_id":"a"},{"agent_id":"a"}],"edges":[]}`,
		`{"nodes":[{"agent_id":"a"}],"edges":[{"source":"a","target":"a"}]}`,
		`{"nodes":[],"edges":[]} `,
		`{"nodes":[{"agent_id":7.0}],"edges":[]}`,
		// Regression: invalid UTF-8 in a key must become U+FFFD as in encoding/json.
		"{\"nodes\":[{\"agent_id\":\"6\",\"t\xff\xff\xff\x80s\":{\"a\":1}}],\"edges\":[]}",
		`[]`,
		``,
		// Out of range (ranges.go): each is refused with the item named.
		`{"nodes":[{"agent_id":"a"},{"agent_id":"b"}],"edges":[{"source":"a","target":"b","weight":1.7e308},{"source":"b","target":"a","weight":1.7e308}]}`,
		`{"nodes":[{"agent_id":"a","traits":{"Compassion":7},"level_of_care":7,"effect_on_usage":-6,"age":130}],"edges":[]}`,
		`{"nodes":[{"agent_id":"a","degree":3000000000,"cluster":-1,"degree_centrality":2.5,"betweenness_centrality":12}],"edges":[]}`,
		`{"nodes":[{"agent_id":"a","profile":{"x":[9007199254740993]},"score":-1e20}],"edges":[]}`,
		// At the bounds: accepted.
		`{"nodes":[{"agent_id":"a","traits":{"A":0,"B":1},"level_of_care":1,"effect_on_usage":-5,"age":120,"degree_centrality":2,"betweenness_centrality":1,"x":9007199254740992},{"agent_id":"b"}],"edges":[{"source":"a","target":"b","weight":1e6}]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Decode(bytes.NewReader(data))
		if err != nil {
			if k := apperr.KindOf(err); k != apperr.BadInput {
				t.Fatalf("error kind %v, want BadInput: %v", k, err)
			}
			return
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("Decode accepted a graph that Validate rejects: %v", err)
		}
		ids := make(map[string]bool, len(g.Nodes))
		for i, n := range g.Nodes {
			if n.Traits == nil || n.Profile == nil || n.Attributes == nil {
				t.Fatalf("nodes[%d] has a nil map", i)
			}
			ids[n.AgentID] = true
		}
		for j, e := range g.Edges {
			if !ids[e.Source] || !ids[e.Target] {
				t.Fatalf("edges[%d] %q-%q has an endpoint that is not a node", j, e.Source, e.Target)
			}
		}
		differential(t, data, g)
		// Metrics must not panic on anything Decode accepts.
		g.ComputeMetrics(MetricsOptions{ExactBetweennessMaxNodes: 8, BetweennessSamples: 3})
	})
}

// differential compares what Decode's hand-written element parser kept in
// Traits, Profile and Attributes with what encoding/json makes of the same
// document, which catches scanning mistakes in jsonscan.go.
func differential(t *testing.T, data []byte, g *Graph) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatalf("Decode accepted what encoding/json rejects: %v", err)
	}
	var nodes []map[string]any
	if err := json.Unmarshal(top["nodes"], &nodes); err != nil {
		t.Fatalf("encoding/json cannot read the accepted nodes: %v", err)
	}
	if len(nodes) != len(g.Nodes) {
		t.Fatalf("encoding/json sees %d nodes, Decode %d", len(nodes), len(g.Nodes))
	}
	for i, m := range nodes {
		n := g.Nodes[i]
		attrs := map[string]any{}
		for k, v := range m {
			if _, builtin := builtinNodeKeys[k]; !builtin {
				attrs[k] = v
			}
		}
		if !reflect.DeepEqual(attrs, n.Attributes) {
			t.Fatalf("nodes[%d] attributes: Decode %#v, encoding/json %#v", i, n.Attributes, attrs)
		}
		if p, ok := m[keyProfile].(map[string]any); ok && !reflect.DeepEqual(p, n.Profile) {
			t.Fatalf("nodes[%d] profile: Decode %#v, encoding/json %#v", i, n.Profile, p)
		}
		if tr, ok := m[keyTraits].(map[string]any); ok {
			want := map[string]float64{}
			for k, v := range tr {
				want[k] = v.(float64)
			}
			if !reflect.DeepEqual(want, n.Traits) {
				t.Fatalf("nodes[%d] traits: Decode %#v, encoding/json %#v", i, n.Traits, want)
			}
		}
		if id, ok := m[keyAgentID].(string); ok && id != n.AgentID {
			t.Fatalf("nodes[%d] agent_id: Decode %q, encoding/json %q", i, n.AgentID, id)
		}
	}
}
