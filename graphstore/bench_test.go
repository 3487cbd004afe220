package graphstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

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

// BenchmarkImport100k stores a parsed 100k-agent / 1M-tie network: the store
// step of the 1M-tie upload, where index maintenance dominates.
//
//	go test ./graphstore -run '^$' -bench BenchmarkImport100k -benchtime 1x
func BenchmarkImport100k(b *testing.B) {
	g := randomGraph(100_000, 1_000_000)
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

// BenchmarkDeleteNetwork deletes a 10k-agent / 50k-tie network with three
// finished runs (stage 0 and 2 rounds: 90k stored states and 90k events):
// hide_ms is what deleteNetwork waits for (the hide and the purge job's
// insert, one transaction), purge_s the background purge of every row, and
// write_max_ms the slowest small write made meanwhile.
//
//	go test ./graphstore -run '^$' -bench BenchmarkDeleteNetwork -benchtime 1x
func BenchmarkDeleteNetwork(b *testing.B) {
	g := randomGraph(10_000, 50_000)
	for _, dialect := range testdb.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			db := testdb.Open(b, dialect)
			s := graphstore.New(db)
			ctx := context.Background()
			other, err := s.Import(ctx, randomGraph(20, 40), graphstore.ImportOptions{Name: "other"})
			if err != nil {
				b.Fatal(err)
			}
			var hide, purge, slowest time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				n, err := s.Import(ctx, g, graphstore.ImportOptions{Name: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				addRuns(b, db, n.ID, 3, 2)
				b.StartTimer()
				t0 := time.Now()
				if err := s.Hide(ctx, n.ID); err != nil {
					b.Fatal(err)
				}
				hide += time.Since(t0)
				t1 := time.Now()
				purged := make(chan error, 1)
				go func() { _, err := s.Purge(ctx, n.ID, 0); purged <- err }()
			writes:
				for {
					select {
					case err := <-purged:
						if err != nil {
							b.Fatal(err)
						}
						break writes
					default:
					}
					w := time.Now()
					if _, err := s.SetDefault(ctx, other.ID); err != nil {
						b.Fatal(err)
					}
					slowest = max(slowest, time.Since(w))
					time.Sleep(10 * time.Millisecond)
				}
				purge += time.Since(t1)
			}
			b.ReportMetric(float64(hide.Microseconds())/1000/float64(b.N), "hide_ms")
			b.ReportMetric(purge.Seconds()/float64(b.N), "purge_s")
			b.ReportMetric(float64(slowest.Microseconds())/1000, "write_max_ms")
		})
	}
}

// BenchmarkGenerate generates and stores 100k agents (seed 1), as
// `ethox generate --agents 100000 --seed 1` does.
//
//	go test ./graphstore -run '^$' -bench BenchmarkGenerate -benchtime 1x
func BenchmarkGenerate(b *testing.B) {
	seed := uint64(1)
	for _, dialect := range testdb.Dialects() {
		b.Run(dialect+"/100k", func(b *testing.B) {
			s := graphstore.New(testdb.Open(b, dialect))
			for b.Loop() {
				if _, err := s.Generate(context.Background(), graphstore.GenerateOptions{NumAgents: 100_000, Seed: &seed}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
