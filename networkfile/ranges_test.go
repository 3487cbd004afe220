package networkfile

import (
	"fmt"
	"strings"
	"testing"
)

// Every number of an upload is refused outside its documented range, with
// the item named, through Decode and through Validate alike; the bounds
// themselves are accepted.
func TestRanges(t *testing.T) {
	// Four nodes and four edges so that indexes in messages are not all 0.
	doc := func(node3, edge3 string) string {
		return `{"nodes":[{"agent_id":"0"},{"agent_id":"1"},{"agent_id":"2"},{"agent_id":"3"` + node3 + `},{"agent_id":"4"}],
		 "edges":[{"source":"0","target":"1"},{"source":"1","target":"2"},{"source":"2","target":"3"},{"source":"3","target":"4"` + edge3 + `}]}`
	}
	node := func(fields string) string { return doc(","+fields, "") }
	edge := func(fields string) string { return doc("", ","+fields) }
	tests := []struct {
		name, doc string
		want      string // "" means accepted
	}{
		{"weight overflowing the sums", edge(`"weight":1.7e308`), "edges[3].weight 1.7e+308 is out of range [0, 1e6]"},
		{"weight just over", edge(`"weight":1000000.5`), "edges[3].weight 1.0000005e+06 is out of range [0, 1e6]"},
		{"negative weight", edge(`"weight":-0.5`), "edges[3].weight -0.5 is out of range [0, 1e6]"},
		{"weight at the bounds", doc("", `,"weight":1e6`) + "", ""},
		{"zero weight", edge(`"weight":0`), ""},
		{"trait on the raw 1..5 scale", node(`"traits":{"Anxiety":0.5,"Compassion":7}`), "nodes[3].traits.Compassion 7 is out of range [0, 1] (facets are on 0..1"},
		{"negative trait", node(`"traits":{"Trust":-0.01}`), "nodes[3].traits.Trust -0.01 is out of range [0, 1]"},
		{"huge trait", node(`"traits":{"x":1e308}`), "nodes[3].traits.x 1e+308 is out of range [0, 1]"},
		{"first bad trait by name", node(`"traits":{"Z":2,"B":3,"A":0.5}`), "nodes[3].traits.B 3 is out of range"},
		{"traits at the bounds", node(`"traits":{"A":0,"B":1}`), ""},
		{"care on 0..10", node(`"level_of_care":7`), "nodes[3].level_of_care 7 is out of range [0, 1] (care/10)"},
		{"negative care", node(`"level_of_care":-0.1`), "nodes[3].level_of_care -0.1 is out of range [0, 1]"},
		{"care at the bounds", node(`"level_of_care":1`), ""},
		{"support over", node(`"effect_on_usage":5.5`), "nodes[3].effect_on_usage 5.5 is out of range [-5, 5]"},
		{"support under", node(`"effect_on_usage":-6`), "nodes[3].effect_on_usage -6 is out of range [-5, 5]"},
		{"support at the bounds", node(`"effect_on_usage":-5`), ""},
		{"age over", node(`"age":130`), "nodes[3].age 130 is out of range [0, 120]"},
		{"negative age", node(`"age":-1`), "nodes[3].age -1 is out of range [0, 120]"},
		{"age at the bounds", node(`"age":120`), ""},
		{"degree beyond GraphQL Int", node(`"degree":3000000000`), "nodes[3].degree 3000000000 is out of range [0, 2147483647]"},
		{"cluster beyond GraphQL Int", node(`"cluster":-3000000000`), "nodes[3].cluster -3000000000 is out of range [-2147483648, 2147483647]"},
		{"cluster -1", node(`"cluster":-1`), ""},
		{"degree centrality over", node(`"degree_centrality":2.5`), "nodes[3].degree_centrality 2.5 is out of range [0, 2]"},
		{"directed degree centrality", node(`"degree_centrality":2`), ""},
		{"negative degree centrality", node(`"degree_centrality":-0.1`), "nodes[3].degree_centrality -0.1 is out of range [0, 2]"},
		{"unnormalized betweenness", node(`"betweenness_centrality":12`), "nodes[3].betweenness_centrality 12 is out of range [0, 1] (normalized"},
		{"betweenness at the bound", node(`"betweenness_centrality":1`), ""},
		{"huge profile number", node(`"profile":{"a":{"income":[1,1e300]}}`), "nodes[3].profile.a.income[1] 1e+300 is out of range [-9007199254740992, 9007199254740992]"},
		{"huge attribute", node(`"score":-1e20`), "nodes[3].score -1e+20 is out of range [-9007199254740992, 9007199254740992]"},
		{"free numbers at the bounds", node(`"score":9007199254740992,"profile":{"x":-9007199254740992}`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := Decode(strings.NewReader(tt.doc))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if err := g.Validate(); err != nil {
					t.Fatalf("Validate after Decode: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode accepted it, want %q", tt.want)
			}
			assertBadInput(t, err, tt.want)
		})
	}
}

// The typed-input path (importGraph, generated populations) goes through
// Validate, with the same messages.
func TestValidateRanges(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	i := func(x int) *int { return &x }
	valid := func() *Graph {
		return &Graph{
			Nodes: []Node{{AgentID: "a"}, {AgentID: "b"}, {AgentID: "c"}},
			Edges: []Edge{{Source: "a", Target: "b", Weight: 1}, {Source: "b", Target: "c", Weight: 0.5}},
		}
	}
	tests := []struct {
		name   string
		mutate func(g *Graph)
		want   string
	}{
		{"huge weight", func(g *Graph) { g.Edges[1].Weight = 1.7e308 }, "edges[1].weight 1.7e+308 is out of range [0, 1e6]"},
		{"negative weight", func(g *Graph) { g.Edges[0].Weight = -1 }, "edges[0].weight -1 is out of range [0, 1e6]"},
		{"trait", func(g *Graph) { g.Nodes[2].Traits = map[string]float64{"Compassion": 7} }, "nodes[2].traits.Compassion 7 is out of range [0, 1]"},
		{"care", func(g *Graph) { g.Nodes[1].LevelOfCare = f(10) }, "nodes[1].level_of_care 10 is out of range [0, 1]"},
		{"support", func(g *Graph) { g.Nodes[1].EffectOnUsage = f(-5.01) }, "nodes[1].effect_on_usage -5.01 is out of range [-5, 5]"},
		{"age", func(g *Graph) { g.Nodes[0].Age = i(121) }, "nodes[0].age 121 is out of range [0, 120]"},
		{"degree centrality", func(g *Graph) { g.Nodes[0].DegreeCentrality = f(3) }, "nodes[0].degree_centrality 3 is out of range [0, 2]"},
		{"betweenness", func(g *Graph) { g.Nodes[0].BetweennessCentrality = f(-1) }, "nodes[0].betweenness_centrality -1 is out of range [0, 1]"},
		{"profile map of floats", func(g *Graph) {
			g.Nodes[0].Profile = map[string]any{"bfi2_raw": map[string]float64{"Trust": 1e17}}
		}, "nodes[0].profile.bfi2_raw.Trust 1e+17 is out of range"},
		{"int attribute", func(g *Graph) { g.Nodes[0].Attributes = map[string]any{"ties": int64(1) << 60} }, "nodes[0].ties 1.152921504606847e+18 is out of range"},
		{"in range", func(g *Graph) {
			g.Nodes[0].Traits = map[string]float64{"Anxiety": 0, "Trust": 1}
			g.Nodes[0].LevelOfCare, g.Nodes[0].EffectOnUsage = f(0.73), f(5)
			g.Nodes[0].Age, g.Nodes[0].Degree, g.Nodes[0].Cluster = i(0), i(2), i(-1)
			g.Edges[0].Weight = 1e6
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := valid()
			tt.mutate(g)
			err := g.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded, want %q", tt.want)
			}
			assertBadInput(t, err, tt.want)
		})
	}
}

// The prototype's network is inside every range.
func TestFixtureInRange(t *testing.T) {
	g := decodeFixture(t)
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
}

// A sampled betweenness estimate can exceed the true maximum of 1 (from
// leaf pivots only, a star's centre gets n/(n-1)); computed values are
// capped so that the exported network re-uploads.
func TestSampledBetweennessWithinRange(t *testing.T) {
	const n = 10
	for seed := range int64(20) {
		g := &Graph{}
		for i := range n {
			g.Nodes = append(g.Nodes, Node{AgentID: fmt.Sprint(i)})
			if i > 0 {
				g.Edges = append(g.Edges, Edge{Source: "0", Target: fmt.Sprint(i), Weight: 1})
			}
		}
		g.ComputeMetrics(MetricsOptions{ExactBetweennessMaxNodes: -1, BetweennessSamples: 3, Seed: seed})
		for i, node := range g.Nodes {
			if b := *node.BetweennessCentrality; !(b >= 0 && b <= 1) {
				t.Fatalf("seed %d: nodes[%d] betweenness %v outside [0, 1]", seed, i, b)
			}
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("seed %d: the computed metrics do not validate: %v", seed, err)
		}
	}
}
