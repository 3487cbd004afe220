package network

import (
	"bytes"
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
		`[]`,
		``,
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
		// Metrics must not panic on anything Decode accepts.
		g.ComputeMetrics(MetricsOptions{ExactBetweennessMaxNodes: 8, BetweennessSamples: 3})
	})
}
