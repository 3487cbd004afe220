package networkfile

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Ends gives the same positions whether they were kept by Decode or Validate
// or resolved on demand, and never stale ones after the edges changed.
func TestEnds(t *testing.T) {
	const doc = `{"edges":[{"source":"b","target":"a"},{"source":"a","target":"c"}],
		"nodes":[{"agent_id":"a"},{"agent_id":"b"},{"agent_id":"c"}]}`
	dense := `{"nodes":[{"agent_id":"0"},{"agent_id":"1"},{"agent_id":"2"}],
		"edges":[{"source":1,"target":"0"},{"source":"0","target":"2"}]}`
	want := [][2]int32{{1, 0}, {0, 2}}
	for name, text := range map[string]string{"edges first": doc, "dense ids": dense} {
		t.Run(name, func(t *testing.T) {
			g, err := Decode(strings.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Ends(); !reflect.DeepEqual(got, want) {
				t.Fatalf("after Decode: %v, want %v", got, want)
			}
			typed := &Graph{Nodes: g.Nodes, Edges: g.Edges} // as built from GraphQL input
			if got := typed.Ends(); !reflect.DeepEqual(got, want) {
				t.Fatalf("never validated: %v, want %v", got, want)
			}
			if err := typed.Validate(); err != nil {
				t.Fatal(err)
			}
			typed.Edges = append(typed.Edges[:2:2], Edge{Source: g.Nodes[2].AgentID, Target: g.Nodes[1].AgentID, Weight: 1})
			if got := typed.Ends(); !reflect.DeepEqual(got, append(want, [2]int32{2, 1})) {
				t.Fatalf("after an edge was added: %v", got)
			}
			typed.Edges = append(typed.Edges, Edge{Source: "nobody", Target: g.Nodes[0].AgentID})
			if err := typed.Validate(); err == nil {
				t.Fatal("Validate accepted an unknown endpoint")
			}
			if got := typed.Ends()[3]; got != [2]int32{-1, 0} {
				t.Fatalf("unknown endpoint: %v, want [-1 0]", got)
			}
		})
	}
}

// Validate checks node values on every core but still reports the first
// problem in node order, whether an id or a value.
func TestValidateReportsFirstNodeProblem(t *testing.T) {
	const n = 5000 // several workers
	for _, c := range []struct {
		dup, badValue int // node positions, -1: none
		want          string
	}{
		{dup: 1500, badValue: 3000, want: "nodes[1500].agent_id"},
		{dup: 3000, badValue: 1000, want: "nodes[1000].traits.x"},
		{dup: -1, badValue: 4999, want: "nodes[4999].traits.x"},
		{dup: 2600, badValue: 2600, want: "nodes[2600].agent_id"},
		{dup: 10, badValue: -1, want: "nodes[10].agent_id"},
	} {
		g := &Graph{Nodes: make([]Node, n)}
		for i := range g.Nodes {
			g.Nodes[i] = Node{AgentID: strconv.Itoa(i), Traits: map[string]float64{"x": 0.5}}
		}
		if c.dup >= 0 {
			g.Nodes[c.dup].AgentID = "0"
		}
		if c.badValue >= 0 {
			g.Nodes[c.badValue].Traits = map[string]float64{"x": 7}
		}
		if err := g.Validate(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("dup %d, bad value %d: %v, want %s…", c.dup, c.badValue, err, c.want)
		}
	}
}
