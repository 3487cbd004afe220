package graphstore_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/population"
)

// Generate passes the model options to the generator and stores what it
// generated: a directed network of choices by default, an undirected one on
// request, with the options recorded in params and the same graph loaded
// back as population.Generate returns.
func TestGenerateOptions(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			s := graphstore.New(testdb.Open(t, dialect))
			ctx := context.Background()
			seed := uint64(9)
			for _, c := range []struct {
				name     string
				opts     graphstore.GenerateOptions
				directed bool
				params   map[string]any
			}{
				{"default", graphstore.GenerateOptions{}, true, map[string]any{
					"neighbourhood": "chosen", "minTies": 0.0, "traitVarianceScale": 0.65, "profileSampling": "without-replacement"}},
				{"undirected builtin", graphstore.GenerateOptions{ProfileSource: population.ProfilesBuiltin,
					Neighbourhood: population.NeighbourhoodUndirected, MinTies: 1, TraitVarianceScale: 1}, false, map[string]any{
					"neighbourhood": "undirected", "minTies": 1.0, "traitVarianceScale": 1.0, "profileSource": "builtin"}},
			} {
				o := c.opts
				o.NumAgents, o.Seed = 40, &seed
				n, err := s.Generate(ctx, o)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				g, err := s.LoadGraph(ctx, &n.ID)
				if err != nil {
					t.Fatal(err)
				}
				if g.Directed != c.directed || n.Directed != c.directed {
					t.Errorf("%s: directed %v (network %v), want %v", c.name, g.Directed, n.Directed, c.directed)
				}
				// The params went through JSON: numbers are float64.
				var params map[string]any
				b, _ := json.Marshal(n.Params)
				_ = json.Unmarshal(b, &params)
				for k, v := range c.params {
					if params[k] != v {
						t.Errorf("%s: params[%q] = %v, want %v", c.name, k, params[k], v)
					}
				}
				if params["modelVersion"] != population.ModelVersion {
					t.Errorf("%s: modelVersion %v", c.name, params["modelVersion"])
				}
				want, err := population.Generate(ctx, population.Options{NumAgents: 40, Seed: seed, ProfileSource: o.ProfileSource,
					Neighbourhood: o.Neighbourhood, MinTies: o.MinTies, TraitVarianceScale: o.TraitVarianceScale})
				if err != nil {
					t.Fatal(err)
				}
				if len(g.Edges) != len(want.Graph.Edges) {
					t.Fatalf("%s: %d edges stored, %d generated", c.name, len(g.Edges), len(want.Graph.Edges))
				}
				stored := map[[2]string]float64{}
				for _, e := range g.Edges {
					stored[[2]string{e.Source, e.Target}] = e.Weight
				}
				for _, e := range want.Graph.Edges {
					if w, ok := stored[[2]string{e.Source, e.Target}]; !ok || w != e.Weight {
						t.Fatalf("%s: edge %s→%s (%v) stored as %v, %v", c.name, e.Source, e.Target, e.Weight, w, ok)
					}
				}
			}
			_, err := s.Generate(ctx, graphstore.GenerateOptions{NumAgents: 10, Seed: &seed, TraitVarianceScale: 3})
			if apperr.KindOf(err) != apperr.BadInput || !strings.Contains(err.Error(), "traitVarianceScale") {
				t.Errorf("scale 3: %v", err)
			}
		})
	}
}
