package api_test

import (
	"testing"
)

// Issue 16: age is the prototype's 22, 32 or 55 for a bracket; ageBracket
// is the bracket itself, the same on GraphNode (fast path and gqlgen) and
// Agent: the survey's label when the profile has one, else from age.
func TestAgeBracket(t *testing.T) {
	type node struct {
		AgentID    string `json:"agentId"`
		Age        *int
		AgeBracket *string
		Profile    map[string]any
	}
	wantFor := func(t *testing.T, n node) string {
		t.Helper()
		if g, ok := n.Profile["AgeGroup"].(string); ok {
			return g
		}
		if n.Age == nil {
			t.Fatalf("agent %s has no age", n.AgentID)
		}
		return map[int]string{22: "Under 25", 32: "25-40", 55: "40+"}[*n.Age]
	}
	queries := []struct {
		name, query string
		nodes       func(map[string]any) []any
	}{
		{"graph (fast path)", `query($id: ID) { graph(networkId: $id) { nodes { agentId age ageBracket profile } } }`,
			func(d map[string]any) []any { return d["graph"].(map[string]any)["nodes"].([]any) }},
		{"graph (gqlgen)", `query($id: ID) { graph(networkId: $id) { nodes { ...n } } } fragment n on GraphNode { agentId age ageBracket profile }`,
			func(d map[string]any) []any { return d["graph"].(map[string]any)["nodes"].([]any) }},
		{"Network.agents", `query($id: ID!) { node(id: $id) { ... on Network { agents(first: 500) { edges { node { agentId age ageBracket profile } } } } } }`,
			func(d map[string]any) []any {
				var out []any
				for _, e := range d["node"].(map[string]any)["agents"].(map[string]any)["edges"].([]any) {
					out = append(out, e.(map[string]any)["node"])
				}
				return out
			}},
	}
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		uploaded := e.mustUpload(readFixture(t, "ethox-network-20.json"), "").UploadGraph.Network.ID // ages only
		var gen struct{ GenerateNetwork struct{ ID string } }
		e.query(`mutation { generateNetwork(input: {numAgents: 30, seed: 5}) { id } }`, nil).decode(t, &gen) // survey profiles
		for _, network := range []string{uploaded, gen.GenerateNetwork.ID} {
			for _, q := range queries {
				var data map[string]any
				e.query(q.query, map[string]any{"id": network}).decode(t, &data)
				nodes := q.nodes(data)
				if len(nodes) == 0 {
					t.Fatalf("%s: no nodes", q.name)
				}
				brackets := map[string]int{}
				for _, raw := range nodes {
					m := raw.(map[string]any)
					n := node{AgentID: m["agentId"].(string)}
					n.Profile, _ = m["profile"].(map[string]any)
					if a, ok := m["age"].(float64); ok {
						age := int(a)
						n.Age = &age
					}
					b, ok := m["ageBracket"].(string)
					if want := wantFor(t, n); !ok || b != want {
						t.Fatalf("%s, network %s, agent %s (age %v, profile %v): ageBracket %v, want %q", q.name, network, n.AgentID, m["age"], n.Profile["AgeGroup"], m["ageBracket"], want)
					}
					brackets[b]++
				}
				if len(brackets) < 2 {
					t.Fatalf("%s: one bracket only: %v", q.name, brackets)
				}
			}
		}
	})
}
