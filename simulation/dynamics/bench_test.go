package dynamics

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchGraph is a seeded random undirected graph of n agents and 5n edges
// (≈10n CSR entries), with random similarities and influencibilities.
type benchGraph struct {
	n        int
	src, dst []int32
	w, infl  []float64
	csr      *CSR
	initial  State
}

var benchGraphs = map[int]*benchGraph{}

func getBenchGraph(b *testing.B, n int) *benchGraph {
	if g, ok := benchGraphs[n]; ok {
		return g
	}
	r := rand.New(rand.NewPCG(uint64(n), 42))
	m := 5 * n
	g := &benchGraph{n: n, src: make([]int32, m), dst: make([]int32, m), w: make([]float64, m)}
	for e := range m {
		g.src[e], g.dst[e], g.w[e] = int32(r.IntN(n)), int32(r.IntN(n)), 0.05+r.Float64()
	}
	g.infl = randomInfl(r, n, 0.31, 0.84)
	g.initial = randomState(r, n)
	g.csr = BuildCSR(n, g.src, g.dst, g.w, false, g.infl, 0)
	benchGraphs[n] = g
	return g
}

func sizeName(n, nnz int) string {
	f := func(x int) string {
		if x >= 1_000_000 && x%1_000_000 < 50_000 {
			return fmt.Sprintf("%dM", x/1_000_000)
		}
		if x >= 1_000_000 {
			return fmt.Sprintf("%.1fM", float64(x)/1e6)
		}
		return fmt.Sprintf("%dk", x/1000)
	}
	return fmt.Sprintf("agents=%s/entries=%s", f(n), f(nnz))
}

// BenchmarkStep times one round; edges/s counts CSR entries per second.
func BenchmarkStep(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		g := getBenchGraph(b, n)
		for _, m := range models {
			b.Run(fmt.Sprintf("%v/%s", m, sizeName(n, g.csr.NNZ())), func(b *testing.B) {
				p := DefaultParams()
				prev := g.initial.Clone()
				next := NewState(n)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					Step(m, g.csr, p, &g.initial, &prev, &next)
					prev, next = next, prev
				}
				b.ReportMetric(float64(g.csr.NNZ())*float64(b.N)/b.Elapsed().Seconds(), "edges/s")
			})
		}
	}
}

// BenchmarkStepWorkers shows how a 1M-agent DeGroot round scales with the
// number of workers.
func BenchmarkStepWorkers(b *testing.B) {
	g := getBenchGraph(b, 1_000_000)
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("%v/%s/workers=%d", DeGroot, sizeName(g.n, g.csr.NNZ()), workers), func(b *testing.B) {
			p := DefaultParams()
			p.Workers = workers
			prev := g.initial.Clone()
			next := NewState(g.n)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				Step(DeGroot, g.csr, p, &g.initial, &prev, &next)
				prev, next = next, prev
			}
			b.ReportMetric(float64(g.csr.NNZ())*float64(b.N)/b.Elapsed().Seconds(), "edges/s")
		})
	}
}

// BenchmarkBuildCSR times building the influence matrix from the edge list.
func BenchmarkBuildCSR(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		g := getBenchGraph(b, n)
		for _, limit := range []int{0, 8} {
			b.Run(fmt.Sprintf("%s/limit=%d", sizeName(n, g.csr.NNZ()), limit), func(b *testing.B) {
				b.ReportAllocs()
				var c *CSR
				for range b.N {
					c = BuildCSR(n, g.src, g.dst, g.w, false, g.infl, limit)
				}
				b.ReportMetric(float64(2*len(g.src))*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
				b.ReportMetric(float64(c.NNZ()), "nnz")
			})
		}
	}
}
