package simulation

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/simulation/simtypes"
)

// choiceGraph is four agents whose edges are choices: 0 chose 1 and 2,
// 1 chose 0 (a mutual choice with 0), 3 chose 2; nobody chose 3.
func choiceGraph(directed bool) *graphstore.Graph {
	g := &graphstore.Graph{Graph: networkfile.Graph{Directed: directed}}
	for i := range 4 {
		g.Nodes = append(g.Nodes, networkfile.Node{AgentID: strconv.Itoa(i)})
		g.AgentPKs = append(g.AgentPKs, 100+i)
	}
	for _, e := range [][2]string{{"0", "1"}, {"0", "2"}, {"1", "0"}, {"3", "2"}} {
		g.Edges = append(g.Edges, networkfile.Edge{Source: e[0], Target: e[1], Weight: 0.5})
	}
	return g
}

// heardBy lists, for every agent, the agents whose views it is shown.
func heardBy(t *testing.T, g *graphstore.Graph, neighborhood string) [][]int {
	t.Helper()
	pl, err := buildPlan(g, Params{Neighborhood: neighborhood, Audience: Audience{Mode: simtypes.AudienceAll}})
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]int, len(g.Nodes))
	for i := range out {
		cols, ws := pl.csr.Row(i)
		for k, j := range cols {
			out[i] = append(out[i], int(j))
			if ws[k] != 0.5 { // similarity 0.5 × influencibility 1 (no facets): counted once
				t.Errorf("%s: weight %d→%d = %v", neighborhood, i, j, ws[k])
			}
		}
	}
	return out
}

// TestPlanDirection: on a network of choices (source chose target) an agent
// hears the agents it chose, as in the prototype; an uploaded directed
// network keeps "source influences target"; UNDIRECTED hears both ways and
// counts a mutual choice once.
func TestPlanDirection(t *testing.T) {
	for _, c := range []struct {
		neighborhood string
		directed     bool
		want         [][]int
	}{
		{simtypes.NeighborhoodChosen, true, [][]int{{1, 2}, {0}, nil, {2}}},
		{simtypes.NeighborhoodDirected, true, [][]int{{1}, {0}, {0, 3}, nil}},
		{"", true, [][]int{{1}, {0}, {0, 3}, nil}}, // runs recorded before the field: as DIRECTED
		{simtypes.NeighborhoodUndirected, true, [][]int{{1, 2}, {0}, {0, 3}, {2}}},
		{simtypes.NeighborhoodUndirected, false, [][]int{{1, 2}, {0}, {0, 3}, {2}}},
	} {
		g := choiceGraph(c.directed)
		if !c.directed {
			g.Edges = slices.Delete(g.Edges, 2, 3) // an undirected network has the pair once
		}
		if got := heardBy(t, g, c.neighborhood); !slices.EqualFunc(got, c.want, slices.Equal) {
			t.Errorf("%q on a directed=%v network: agents hear %v, want %v", c.neighborhood, c.directed, got, c.want)
		}
	}
}

// TestNeighborhoodOf: the default neighbourhood and neighbour limit by
// network, and CHOSEN refused on an undirected network.
func TestNeighborhoodOf(t *testing.T) {
	chosen := &ent.Network{ID: 1, Directed: true, Params: map[string]any{"neighbourhood": "chosen"}}
	uploaded := &ent.Network{ID: 2, Directed: true}
	undirected := &ent.Network{ID: 3, Params: map[string]any{"neighbourhood": "undirected"}}
	limit := 4
	for _, c := range []struct {
		name      string
		net       *ent.Network
		in        RunInput
		p         Params
		want      string
		wantLimit int
		wantErr   bool
	}{
		{"generated choices", chosen, RunInput{}, Params{}, simtypes.NeighborhoodChosen, 0, false},
		{"generated choices, a limit", chosen, RunInput{NeighborLimit: &limit}, Params{NeighborLimit: limit}, simtypes.NeighborhoodChosen, 4, false},
		{"generated choices read undirected", chosen, RunInput{}, Params{Neighborhood: simtypes.NeighborhoodUndirected}, simtypes.NeighborhoodUndirected, 10, false},
		{"uploaded directed", uploaded, RunInput{}, Params{}, simtypes.NeighborhoodDirected, 10, false},
		{"uploaded directed read as choices", uploaded, RunInput{}, Params{Neighborhood: simtypes.NeighborhoodChosen}, simtypes.NeighborhoodChosen, 0, false},
		{"undirected", undirected, RunInput{}, Params{}, simtypes.NeighborhoodUndirected, 10, false},
		{"undirected, prototype preset", undirected, RunInput{}, Params{Preset: simtypes.PresetPrototype}, simtypes.NeighborhoodUndirected, 0, false},
		{"undirected as choices", undirected, RunInput{}, Params{Neighborhood: simtypes.NeighborhoodChosen}, "", 0, true},
	} {
		p := c.p
		err := neighborhoodOf(c.net, c.in, &p)
		if (err != nil) != c.wantErr {
			t.Errorf("%s: error %v", c.name, err)
			continue
		}
		if err == nil && (p.Neighborhood != c.want || p.NeighborLimit != c.wantLimit) {
			t.Errorf("%s: neighborhood %q limit %d, want %q %d", c.name, p.Neighborhood, p.NeighborLimit, c.want, c.wantLimit)
		}
	}
}

// TestGeneratedNetworkHearsChoices: on a generated population every agent
// of a run hears exactly the agents it chose (no neighbour limit), and
// agents who chose nobody hear nobody.
func TestGeneratedNetworkHearsChoices(t *testing.T) {
	h := newHarness(t, "sqlite", 0)
	s := h.service(0, nil)
	ctx := context.Background()
	seed := uint64(3)
	net, err := s.Graphs().Generate(ctx, graphstore.GenerateOptions{NumAgents: 120, Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := s.Run(ctx, RunInput{Trigger: "A message.", NetworkID: &net.ID, Rounds: ptrTo(1)})
	if err != nil {
		t.Fatal(err)
	}
	p := sim.Params
	if p.Neighborhood != simtypes.NeighborhoodChosen || p.NeighborLimit != 0 {
		t.Fatalf("params %+v", p)
	}
	pl, err := s.loadPlan(ctx, net.ID, p)
	if err != nil {
		t.Fatal(err)
	}
	chose := map[string][]string{}
	for _, e := range pl.graph.Edges {
		chose[e.Source] = append(chose[e.Source], e.Target)
	}
	nobody, most := 0, 0
	for i, node := range pl.graph.Nodes {
		cols, _ := pl.csr.Row(i)
		var hears []string
		for _, j := range cols {
			hears = append(hears, pl.graph.Nodes[j].AgentID)
		}
		slices.Sort(hears)
		want := slices.Sorted(slices.Values(chose[node.AgentID]))
		if !slices.Equal(hears, want) {
			t.Fatalf("agent %s hears %v, chose %v", node.AgentID, hears, want)
		}
		if len(want) == 0 {
			nobody++
		}
		most = max(most, len(want))
	}
	if nobody == 0 || most <= 10 {
		t.Errorf("%d agents chose nobody, the most anyone chose is %d: the test wants both kinds", nobody, most)
	}
}
