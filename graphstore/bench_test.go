package graphstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/networkfile"
)

// randomGraph builds n agents with 15 traits and m distinct random ties, all
// metrics supplied.
func randomGraph(n, m int) *networkfile.Graph {
	r := rand.New(rand.NewPCG(1, 2))
	g := &networkfile.Graph{Nodes: make([]networkfile.Node, n)}
	for i := range g.Nodes {
		traits := make(map[string]float64, 15)
		for k := 0; k < 15; k++ {
			traits[fmt.Sprintf("facet%02d", k)] = r.Float64()
		}
		d, dc, bc := r.IntN(20), r.Float64(), r.Float64()
		g.Nodes[i] = networkfile.Node{AgentID: fmt.Sprint(i), Traits: traits, Profile: map[string]any{}, Attributes: map[string]any{},
			Degree: &d, DegreeCentrality: &dc, BetweennessCentrality: &bc}
	}
	seen := map[[2]int]bool{}
	for len(g.Edges) < m {
		s, t := r.IntN(n), r.IntN(n)
		if s >= t || seen[[2]int{s, t}] {
			continue
		}
		seen[[2]int{s, t}] = true
		g.Edges = append(g.Edges, networkfile.Edge{Source: fmt.Sprint(s), Target: fmt.Sprint(t), Weight: r.Float64()})
	}
	return g
}

// BenchmarkImport stores a parsed 10k-agent / 50k-tie network (no HTTP, no parsing).
//
//	go test ./graphstore -run '^$' -bench .
func BenchmarkImport(b *testing.B) {
	g := randomGraph(10_000, 50_000)
	for _, dialect := range testdb.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			s := graphstore.New(testdb.Open(b, dialect))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Import(context.Background(), g, graphstore.ImportOptions{Name: "bench"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadGraph reads the whole 10k-agent / 50k-tie network back.
func BenchmarkLoadGraph(b *testing.B) {
	g := randomGraph(10_000, 50_000)
	for _, dialect := range testdb.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			s := graphstore.New(testdb.Open(b, dialect))
			n, err := s.Import(context.Background(), g, graphstore.ImportOptions{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, err := s.LoadGraph(context.Background(), &n.ID)
				if err != nil || len(out.Edges) != 50_000 {
					b.Fatal(err)
				}
			}
		})
	}
}
