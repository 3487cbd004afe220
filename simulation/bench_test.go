package simulation

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/internal/testwait"
	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/population"
	"github.com/ethox/ethox/simulation/llm"
	"github.com/ethox/ethox/simulation/simtypes"
)

// benchNetwork stores n agents with BFI-2 facets and about 5n random ties.
func benchNetwork(b testing.TB, s *Service, n int) int {
	r := rand.New(rand.NewPCG(3, 4))
	g := &networkfile.Graph{Nodes: make([]networkfile.Node, n)}
	for i := range g.Nodes {
		traits := map[string]float64{}
		for _, f := range population.FacetNames() {
			traits[f] = r.Float64()
		}
		g.Nodes[i] = networkfile.Node{AgentID: fmt.Sprint(i), Traits: traits, Profile: map[string]any{}, Attributes: map[string]any{}}
	}
	seen := map[[2]int]bool{}
	for len(g.Edges) < 5*n {
		a, c := r.IntN(n), r.IntN(n)
		if a >= c || seen[[2]int{a, c}] {
			continue
		}
		seen[[2]int{a, c}] = true
		g.Edges = append(g.Edges, networkfile.Edge{Source: fmt.Sprint(a), Target: fmt.Sprint(c), Weight: 0.2 + 0.8*r.Float64()})
	}
	net, err := s.graphs.Import(context.Background(), g, graphstore.ImportOptions{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return net.ID
}

func benchService(b *testing.B, latency time.Duration, concurrency, workers int) (*Service, *fakellm.Server) {
	return benchServiceOn(b, "sqlite", latency, concurrency, workers)
}

// benchServiceOn is benchService on dialect; a fake that keeps no requests
// (as `ethox fakellm` serves) when record is false, so that its memory is not counted.
func benchServiceOn(b *testing.B, dialect string, latency time.Duration, concurrency, workers int, record ...bool) (*Service, *fakellm.Server) {
	db := testdb.Open(b, dialect)
	h := fakellm.NewHandler(latency, len(record) == 0 || record[0])
	fk := &fakellm.Server{Server: httptest.NewServer(h), Handler: h}
	b.Cleanup(fk.Close)
	lc, err := llm.New(llm.Config{APIKey: "bench", BaseURL: fk.BaseURL(), Concurrency: concurrency})
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(db, lc, Config{Workers: workers, DefaultConcurrency: concurrency}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s, fk
}

func runAndWait(b *testing.B, s *Service, netID, rounds int) {
	sim, err := s.Run(context.Background(), RunInput{Trigger: "Benchmark message.", NetworkID: &netID, Rounds: &rounds})
	if err != nil {
		b.Fatal(err)
	}
	var got *ent.Simulation
	testwait.RunEndEvery(b, 10*time.Minute, 5*time.Millisecond, func() (entsim.Status, string) {
		if got, err = s.db.Client.Simulation.Get(context.Background(), sim.ID); err != nil {
			b.Fatal(err)
		}
		return got.Status, ""
	})
	if got.Status != entsim.StatusSUCCEEDED {
		b.Fatalf("run %s: %v", got.Status, got.Error)
	}
}

// BenchmarkLLMScheduling: 100 agents, stage 0 and 1 round, a fake LLM at a
// fixed 200 ms per call, 32 calls in flight. Utilisation is the ideal
// steps × latency / concurrency over the measured wall time.
//
//	go test ./simulation -run '^$' -bench LLMScheduling -benchtime 3x
func BenchmarkLLMScheduling(b *testing.B) {
	b.Run("100_agents", func(b *testing.B) { benchScheduling(b, 100) })
	// 128 agents: 256 calls fill 8 waves of 32 exactly, so the ideal is reachable;
	// with 100 agents 8 slots must make a 7th call and the floor is 7 × L.
	b.Run("128_agents", func(b *testing.B) { benchScheduling(b, 128) })
}

func benchScheduling(b *testing.B, agents int) {
	const latency, concurrency = 200 * time.Millisecond, 32
	s, fk := benchService(b, latency, concurrency, 8)
	netID := benchNetwork(b, s, agents)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		runAndWait(b, s, netID, 1)
	}
	wall := time.Since(start) / time.Duration(b.N)
	calls := len(fk.Requests()) / b.N
	ideal := time.Duration(calls) * latency / concurrency
	b.ReportMetric(float64(calls), "calls/run")
	b.ReportMetric(wall.Seconds(), "s/run")
	b.ReportMetric(float64(ideal)/float64(wall), "utilisation")
}

// BenchmarkLLMRun10k: a 10,000-agent run (stage 0 and 1 round, 20,000 calls)
// against a fake LLM at 1 ms per call, 64 in flight, with the server's
// default 8 workers, on both databases. Peak memory comes from running it
// under /usr/bin/time -v.
//
//	go test -c -o /tmp/sim.test ./simulation && cd simulation && /usr/bin/time -v /tmp/sim.test -test.run '^$' -test.bench 'LLMRun10k/sqlite' -test.benchtime 1x
func BenchmarkLLMRun10k(b *testing.B) { benchLLMRun(b, 10_000) }

// BenchmarkLLMRun100k: the same with 100,000 agents (200,000 calls).
func BenchmarkLLMRun100k(b *testing.B) { benchLLMRun(b, 100_000) }

func benchLLMRun(b *testing.B, agents int) {
	for _, dialect := range testdb.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			s, fk := benchServiceOn(b, dialect, time.Millisecond, 64, 8, false)
			netID := benchNetwork(b, s, agents)
			before := fk.Calls()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				runAndWait(b, s, netID, 1)
			}
			b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/run")
			b.ReportMetric(float64((fk.Calls()-before)/b.N), "calls/run")
		})
	}
}

// BenchmarkStepBatch: storing 5,000 finished steps (state, usage, event) a
// transaction per step against a transaction per batch of 256, on both
// databases.
//
//	go test ./simulation -run '^$' -bench StepBatch -benchtime 3x
func BenchmarkStepBatch(b *testing.B) {
	const agents, rounds = 50, 100
	for _, dialect := range testdb.Dialects() {
		for _, size := range []int{1, 256} {
			b.Run(fmt.Sprintf("%s/batch_%d", dialect, size), func(b *testing.B) {
				s, _ := benchServiceOn(b, dialect, time.Millisecond, 1, 0, false)
				netID := benchNetwork(b, s, agents)
				ctx := context.Background()
				pl, err := s.loadPlan(ctx, netID, Params{NeighborLimit: 10, Audience: Audience{Mode: simtypes.AudienceAll}})
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					sim, err := s.Run(ctx, RunInput{Trigger: "Bench.", NetworkID: &netID, Rounds: ptrTo(0)})
					if err != nil {
						b.Fatal(err)
					}
					var all []*stepWrite
					for r := 0; r < rounds; r++ {
						for a := 0; a < agents; a++ {
							all = append(all, &stepWrite{ctx: ctx, agentPK: pl.graph.AgentPKs[a], agentKey: pl.graph.Nodes[a].AgentID, round: r,
								st: StateView{Opinion: "A considered opinion of a few words.", Care: 5, Support: 1},
								u:  llm.Usage{Calls: 1, PromptTokens: 300, CompletionTokens: 40}})
						}
					}
					b.StartTimer()
					for lo := 0; lo < len(all); lo += size {
						for _, err := range s.storeBatch(sim.ID, all[lo:min(lo+size, len(all))], pl) {
							if err != nil {
								b.Fatal(err)
							}
						}
					}
				}
				b.ReportMetric(float64(agents*rounds*b.N)/b.Elapsed().Seconds(), "steps/s")
			})
		}
	}
}

// BenchmarkEstimate100k estimates a 2-round LLM run (300,000 calls) on a
// generated 100k-agent population (stored and read once, outside the
// timing): it reports the peak heap growth during an estimate, which stays
// the plan's and a few per-agent arrays because prompts are counted one at
// a time and never held.
func BenchmarkEstimate100k(b *testing.B) {
	s, _ := benchService(b, 0, 64, 0)
	ctx := context.Background()
	// Kept in memory, so that the peak below is the estimate's own (a read
	// from the database costs the estimate what it costs a run's first job).
	s.graphs.ServeFromMemory(ctx, 8<<30, nil)
	net, err := s.graphs.Generate(ctx, graphstore.GenerateOptions{NumAgents: 100_000, Seed: ptrTo(uint64(1))})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.graphs.LoadGraph(ctx, &net.ID); err != nil { // in memory, as after a first read
		b.Fatal(err)
	}
	in := RunInput{Trigger: "The city will close the central library on Sundays.", NetworkID: &net.ID, Rounds: ptrTo(2)}
	var peak uint64
	// Collect garbage at 5% growth, so that the peak measured is about what
	// the estimate holds, not the garbage GOGC=100 would let accumulate on
	// top of the network kept in memory.
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		base := m.HeapAlloc
		stop := make(chan struct{})
		done := make(chan uint64)
		go func() { // samples the heap while the estimate runs
			var top uint64
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				top = max(top, m.HeapAlloc)
				select {
				case <-stop:
					done <- top
					return
				case <-t.C:
				}
			}
		}()
		est, err := s.Estimate(ctx, in)
		close(stop)
		top := <-done
		if err != nil {
			b.Fatal(err)
		}
		if est.Calls != 300_000 {
			b.Fatalf("%d calls estimated", est.Calls)
		}
		if top > base {
			peak = max(peak, top-base)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// BenchmarkBranchCopy measures starting a branch from the stored stage 0 of
// a run on n agents: Run with fromRound 0 and rounds 0, which checks the
// parent and copies its n states in one INSERT … SELECT, in the transaction
// creating the branch (a branch computing nothing ends there).
func BenchmarkBranchCopy(b *testing.B) {
	for _, dialect := range testdb.Dialects() {
		for _, n := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/agents=%d", dialect, n), func(b *testing.B) {
				s, _ := benchServiceOn(b, dialect, 0, 8, 2)
				netID := benchNetwork(b, s, n)
				parent, err := s.Run(context.Background(), RunInput{Trigger: "Benchmark message.", NetworkID: &netID, Rounds: ptrTo(0), Engine: ptrTo("DEGROOT")})
				if err != nil {
					b.Fatal(err)
				}
				testwait.RunEnd(b, 5*time.Minute, func() (entsim.Status, string) {
					st, err := s.status(context.Background(), parent.ID)
					if err != nil {
						b.Fatal(err)
					}
					return st, ""
				})
				b.ResetTimer()
				for b.Loop() {
					br, err := s.Run(context.Background(), RunInput{FromSimulation: &parent.ID, Rounds: ptrTo(0)})
					if err != nil || br.Status != entsim.StatusSUCCEEDED {
						b.Fatalf("branch: %v %v", br, err)
					}
				}
				b.ReportMetric(float64(n), "states/op")
			})
		}
	}
}
