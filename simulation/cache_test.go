package simulation

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/ethox/ethox/apperr"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/internal/testdb"
)

// The answer cache, run after run on one database: what each run asks the
// (fake) LLM, what it takes from the cache and what it stores there.
func TestAnswerCache(t *testing.T) {
	const trigger = "The city will close the central library on Sundays."
	base := func(mod func(*RunInput)) RunInput {
		in := RunInput{Trigger: trigger, Rounds: ptrTo(0), Temperature: ptrTo(0.0), Seed: ptrTo(int64(7)), Cache: ptrTo(true)}
		if mod != nil {
			mod(&in)
		}
		return in
	}
	const agents = 20 // the fixture's, all in the audience: one stage-0 call each
	cases := []struct {
		name           string
		in             RunInput
		corrupt        bool // make every stored answer invalid before the run
		calls, hits    int  // the run's
		stored         int  // entries added
		sameAsFirstRun bool
	}{
		{name: "first run: misses, stored", in: base(nil), calls: agents, stored: agents},
		{name: "identical request: every answer reused", in: base(nil), hits: agents, sameAsFirstRun: true},
		{name: "a hit costs nothing against a budget", in: base(func(in *RunInput) { in.MaxCalls = ptrTo(1) }), hits: agents, sameAsFirstRun: true},
		{name: "cache off: asked again", in: base(func(in *RunInput) { in.Cache = nil }), calls: agents},
		{name: "another trigger", in: base(func(in *RunInput) { in.Trigger = "The city will open the library on Sundays." }), calls: agents, stored: agents},
		{name: "another model", in: base(func(in *RunInput) { in.Model = ptrTo("gpt-4.1-nano") }), calls: agents, stored: agents},
		{name: "another seed", in: base(func(in *RunInput) { in.Seed = ptrTo(int64(8)) }), calls: agents, stored: agents},
		{name: "another answer limit", in: base(func(in *RunInput) { in.MaxOutputTokens = ptrTo(150) }), calls: agents, stored: agents},
		{name: "temperature above 0: not stored", in: base(func(in *RunInput) { in.Temperature = ptrTo(0.4) }), calls: agents},
		{name: "temperature above 0 again: not reused", in: base(func(in *RunInput) { in.Temperature = ptrTo(0.4) }), calls: agents},
		{name: "no seed: not stored", in: base(func(in *RunInput) { in.Seed = nil }), calls: agents},
		{name: "no seed again: not reused", in: base(func(in *RunInput) { in.Seed = nil }), calls: agents},
		{name: "stored answers invalid: refused, asked again, replaced", in: base(nil), corrupt: true, calls: agents},
		{name: "the replaced answers reused", in: base(nil), hits: agents, sameAsFirstRun: true},
	}
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 0)
			s := h.service(2, nil)
			ctx := context.Background()
			var first map[string]string // agent → stage-0 opinion of the first run
			var firstCost float64
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					if tc.corrupt {
						if _, err := h.db.SQL.Exec(`UPDATE llm_cache_entries SET answer = '{"opinion": "", "care": 99}'`); err != nil {
							t.Fatal(err)
						}
					}
					entries, sent := h.count("llm_cache_entries"), h.fk.Calls()
					sim, err := s.Run(ctx, tc.in)
					if err != nil {
						t.Fatal(err)
					}
					done := h.wait(sim.ID, 60*time.Second)
					if done.Status != entsim.StatusSUCCEEDED || done.FailedSteps != 0 {
						t.Fatalf("run ended %s with %d failed steps: %v", done.Status, done.FailedSteps, done.Error)
					}
					if got := h.fk.Calls() - sent; got != tc.calls || done.Calls != tc.calls || done.CacheHits != tc.hits {
						t.Fatalf("the fake saw %d calls, the run recorded %d calls and %d cache hits; want %d calls, %d hits",
							got, done.Calls, done.CacheHits, tc.calls, tc.hits)
					}
					if got := h.count("llm_cache_entries") - entries; got != tc.stored {
						t.Fatalf("%d entries stored, want %d", got, tc.stored)
					}
					if tc.hits > 0 && (done.PromptTokens != 0 || done.EstimatedCostUsd != 0 ||
						math.Abs(done.CostSavedUsd-firstCost) > 1e-9*max(1, firstCost) || !(done.CostSavedUsd > 0)) {
						t.Fatalf("hits: %d prompt tokens, cost %v, saved %v (the first run cost %v)", done.PromptTokens, done.EstimatedCostUsd, done.CostSavedUsd, firstCost)
					}
					if tc.hits == 0 && done.CostSavedUsd != 0 {
						t.Fatalf("no hit, %v saved", done.CostSavedUsd)
					}
					snap, err := s.Snapshot(ctx, done, 0)
					if err != nil {
						t.Fatal(err)
					}
					opinions := map[string]string{}
					for i, n := range snap.Graph.Nodes {
						opinions[n.AgentID] = snap.State[i].Opinion
					}
					if first == nil {
						first, firstCost = opinions, done.EstimatedCostUsd
					}
					if tc.sameAsFirstRun {
						for id, op := range first {
							if opinions[id] != op {
								t.Fatalf("agent %s: %q, the first run's %q", id, opinions[id], op)
							}
						}
					}
				})
			}
			// Bounded: beyond the row cap the oldest go, and expired entries are never used.
			s.cfg.CacheMaxEntries = 5
			if err := s.pruneCache(ctx); err != nil {
				t.Fatal(err)
			}
			if n := h.count("llm_cache_entries"); n != 5 {
				t.Fatalf("%d entries after pruning to 5", n)
			}
			s.cfg.CacheTTL = time.Nanosecond
			sim, err := s.Run(ctx, base(nil))
			if err != nil {
				t.Fatal(err)
			}
			if done := h.wait(sim.ID, 60*time.Second); done.CacheHits != 0 || done.Calls != agents {
				t.Fatalf("expired entries: %d hits, %d calls", done.CacheHits, done.Calls)
			}
		})
	}
}

func TestCacheInputs(t *testing.T) {
	h := newHarness(t, "sqlite", 0)
	s := h.service(0, nil)
	for _, tc := range []struct {
		name string
		in   RunInput
		ok   bool
	}{
		{"cache with DEGROOT", RunInput{Engine: ptrTo(string(entsim.EngineDEGROOT)), Cache: ptrTo(true)}, false},
		{"cache with FRIEDKIN_JOHNSEN", RunInput{Engine: ptrTo(string(entsim.EngineFRIEDKIN_JOHNSEN)), Cache: ptrTo(true)}, false},
		{"cache false with DEGROOT", RunInput{Engine: ptrTo(string(entsim.EngineDEGROOT)), Cache: ptrTo(false)}, true},
		{"cache with HYBRID", RunInput{Engine: ptrTo(string(entsim.EngineHYBRID)), Cache: ptrTo(true)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Trigger = "A new bus line opens."
			sim, err := s.Run(context.Background(), in)
			switch {
			case tc.ok && err != nil:
				t.Fatal(err)
			case tc.ok:
				if sim.Params.Cache != (in.Cache != nil && *in.Cache) {
					t.Fatalf("params.cache = %v", sim.Params.Cache)
				}
			case err == nil || apperr.KindOf(err) != apperr.BadInput || !containsFold(err.Error(), "cache"):
				t.Fatalf("error %v, want BAD_USER_INPUT naming cache", err)
			}
		})
	}
}
