package simulation

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/internal/testwait"
	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/simulation/dynamics"
	"github.com/ethox/ethox/simulation/llm"
	"github.com/ethox/ethox/simulation/simtypes"
)

type harness struct {
	t   *testing.T
	db  *database.DB
	fk  *fakellm.Server
	net *ent.Network
}

func newHarness(t *testing.T, dialect string, latency time.Duration) *harness {
	t.Helper()
	db := testdb.Open(t, dialect)
	f, err := os.Open(fixtures.Path(t, fixtures.Network20))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	defer f.Close()
	g, err := networkfile.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	n, err := graphstore.New(db).Import(context.Background(), g, graphstore.ImportOptions{Name: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	fk := fakellm.New(latency)
	t.Cleanup(fk.Close)
	return &harness{t: t, db: db, fk: fk, net: n}
}

func (h *harness) service(workers int, mod func(*Config)) *Service {
	h.t.Helper()
	return h.serviceWith(workers, llm.Config{APIKey: "test", BaseURL: h.fk.BaseURL(), Concurrency: 32,
		CallTimeout: 5 * time.Second, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, MaxRetries: 2}, mod)
}

// serviceWith is service with the LLM client configured by lcfg.
func (h *harness) serviceWith(workers int, lcfg llm.Config, mod func(*Config)) *Service {
	h.t.Helper()
	lc, err := llm.New(lcfg)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := Config{Workers: workers, ChunkSize: 4, PollInterval: 50 * time.Millisecond, DefaultConcurrency: 4,
		JobTimeout: 20 * time.Second, RescueAfter: 30 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(h.db, lc, cfg, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

func (h *harness) wait(id int, timeout time.Duration) *ent.Simulation {
	h.t.Helper()
	var sim *ent.Simulation
	testwait.RunEnd(h.t, timeout, func() (entsim.Status, string) {
		var err error
		if sim, err = h.db.Client.Simulation.Get(context.Background(), id); err != nil {
			h.t.Fatal(err)
		}
		return sim.Status, fmt.Sprintf("(simulation %d, %d/%d steps)", id, sim.CompletedSteps, sim.TotalSteps)
	})
	return sim
}

func (h *harness) states(id, round int) int {
	var n int
	if err := h.db.SQL.QueryRow("SELECT COUNT(*) FROM agent_states WHERE simulation_id = "+h.db.Placeholder(1)+
		" AND round = "+h.db.Placeholder(2), id, round).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func ptrTo[T any](v T) *T { return &v }

func TestLLMRunOnFixture(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 5*time.Millisecond)
			s := h.service(2, nil)
			sim, err := s.Run(context.Background(), RunInput{Trigger: "The city will close the central library on Sundays.", Rounds: ptrTo(2)})
			if err != nil {
				t.Fatal(err)
			}
			// Run reads the row back after commit, when a worker may have started it already.
			if (sim.Status != entsim.StatusQUEUED && sim.Status != entsim.StatusRUNNING) || sim.Engine != entsim.EngineLLM || sim.TotalSteps != 60 {
				t.Fatalf("queued run = %+v", sim)
			}
			done := h.wait(sim.ID, 60*time.Second)
			if done.Status != entsim.StatusSUCCEEDED || done.CompletedSteps != 60 || done.CurrentRound != 2 {
				t.Fatalf("run ended %s: %+v", done.Status, done)
			}
			for r := 0; r <= 2; r++ {
				if n := h.states(sim.ID, r); n != 20 {
					t.Fatalf("round %d has %d states", r, n)
				}
			}
			reqs := h.fk.Requests()
			if done.Calls != len(reqs) || done.PromptTokens == 0 || done.StartedAt == nil || done.FinishedAt == nil {
				t.Fatalf("usage: calls %d (server saw %d), prompt tokens %d", done.Calls, len(reqs), done.PromptTokens)
			}
			seen := map[string]int{}
			for _, r := range reqs {
				seen[r.User]++
				if r.System != systemPrompt {
					t.Fatalf("system prompt %q is not the shared one", r.System)
				}
			}
			for u, c := range seen {
				if c > 1 {
					t.Errorf("prompt asked %d times: %.80q", c, u)
				}
			}
			// The final snapshot carries the stage-0 answer as initialOpinion, as the fake computes it.
			snap, err := s.Snapshot(context.Background(), done, 2)
			if err != nil || snap == nil {
				t.Fatalf("snapshot: %v", err)
			}
			pl, _ := s.loadPlan(context.Background(), h.net.ID, done.Params)
			for i := range snap.Graph.Nodes {
				want, _, _ := fakellm.Answer(reactionPrompt(&pl.graph.Nodes[i], sim.Trigger, promptOptionsOf(done.Params))[1].Content)
				if snap.Initial[i] == nil || snap.Initial[i].Opinion != want {
					t.Fatalf("node %d initial opinion %+v, want %q", i, snap.Initial[i], want)
				}
			}
			// Rounds overlap in time but each step read exactly the previous round: rebuild
			// every round-r prompt from the stored round r-1 and check the answer stored.
			p := done.Params
			for r := 1; r <= 2; r++ {
				before, _ := s.Snapshot(context.Background(), done, r-1)
				after, _ := s.Snapshot(context.Background(), done, r)
				for i := range after.Graph.Nodes {
					cols, ws := pl.csr.Row(i)
					var views []neighborView
					for k, j := range cols {
						if v := before.State[j]; v.Opinion != "" {
							views = append(views, neighborView{weight: ws[k], opinion: v.Opinion, care: v.Care, support: v.Support})
						}
					}
					own := before.State[i]
					msgs := influencePrompt(&pl.graph.Nodes[i], sim.Trigger, neighborView{opinion: own.Opinion, care: own.Care, support: own.Support},
						views, promptOptionsOf(p))
					want, _, _ := fakellm.Answer(msgs[1].Content)
					if after.State[i].Opinion != want {
						t.Fatalf("round %d agent %d did not read round %d", r, i, r-1)
					}
				}
			}
		})
	}
}

func TestAudienceTargeting(t *testing.T) {
	h := newHarness(t, "sqlite", 0)
	s := h.service(2, nil)
	sim, err := s.Run(context.Background(), RunInput{Trigger: "A new bus line opens.", Rounds: ptrTo(0),
		Audience: &Audience{Mode: simtypes.AudienceManual, AgentIDs: []string{"3", "7"}}})
	if err != nil {
		t.Fatal(err)
	}
	done := h.wait(sim.ID, 30*time.Second)
	if done.Status != entsim.StatusSUCCEEDED || done.Calls != 2 || len(h.fk.Requests()) != 2 {
		t.Fatalf("manual audience: %s, %d calls, server saw %d", done.Status, done.Calls, len(h.fk.Requests()))
	}
	snap, _ := s.Snapshot(context.Background(), done, 0)
	for i, node := range snap.Graph.Nodes {
		heard := snap.State[i].Opinion != ""
		if heard != (node.AgentID == "3" || node.AgentID == "7") {
			t.Errorf("agent %s heard=%v", node.AgentID, heard)
		}
	}
	// Top influencers by degree: the three best-connected agents, and only they, at stage 0.
	sim, err = s.Run(context.Background(), RunInput{Trigger: "Another message.", Rounds: ptrTo(1),
		Audience: &Audience{Mode: simtypes.AudienceTopInfluencers, Metric: simtypes.MetricDegree, TopN: 3}})
	if err != nil {
		t.Fatal(err)
	}
	done = h.wait(sim.ID, 30*time.Second)
	snap, _ = s.Snapshot(context.Background(), done, 0)
	var heard []int
	minHeard, maxOther := 1<<30, -1
	for i, node := range snap.Graph.Nodes {
		if snap.State[i].Opinion != "" {
			heard = append(heard, i)
			minHeard = min(minHeard, *node.Degree)
		} else {
			maxOther = max(maxOther, *node.Degree)
		}
	}
	if len(heard) != 3 || minHeard < maxOther {
		t.Fatalf("top influencers heard=%v (min degree %d, best other %d)", heard, minHeard, maxOther)
	}
	// In round 1 the message spread to their neighbours through the network.
	final, _ := s.Snapshot(context.Background(), done, 1)
	spread := 0
	for i := range final.Graph.Nodes {
		if final.State[i].Opinion != "" {
			spread++
		}
	}
	if spread <= 3 {
		t.Fatalf("no spread in round 1: %d agents have a view", spread)
	}
	if _, err := s.Run(context.Background(), RunInput{Trigger: "x", Audience: &Audience{Mode: simtypes.AudienceManual, AgentIDs: []string{"nobody"}}}); err == nil ||
		!strings.Contains(err.Error(), `"nobody"`) {
		t.Fatalf("unknown manual agent: %v", err)
	}
}

func TestBudgetStopsRun(t *testing.T) {
	h := newHarness(t, "sqlite", 0)
	s := h.service(2, nil)
	sim, err := s.Run(context.Background(), RunInput{Trigger: "Budget test.", Rounds: ptrTo(1), MaxCalls: ptrTo(5)})
	if err != nil {
		t.Fatal(err)
	}
	done := h.wait(sim.ID, 30*time.Second)
	if done.Status != entsim.StatusFAILED || done.Error == nil || !strings.Contains(*done.Error, "maxCalls 5") {
		t.Fatalf("budget: %s %v", done.Status, *done.Error)
	}
	// The fifth call may still be on its way when the run is marked failed.
	for deadline := time.Now().Add(2 * time.Second); len(h.fk.Requests()) < 5 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if done.Calls != 5 || len(h.fk.Requests()) != 5 {
		t.Fatalf("calls %d, server saw %d, want 5", done.Calls, len(h.fk.Requests()))
	}
}

func TestCancelStopsCalls(t *testing.T) {
	h := newHarness(t, "sqlite", 300*time.Millisecond)
	s := h.service(2, func(c *Config) { c.DefaultConcurrency = 2 })
	sim, err := s.Run(context.Background(), RunInput{Trigger: "Cancel me.", Rounds: ptrTo(3)})
	if err != nil {
		t.Fatal(err)
	}
	for len(h.fk.Requests()) < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.Cancel(context.Background(), sim.ID); err != nil {
		t.Fatal(err)
	}
	canceledAt := time.Now()
	time.Sleep(1500 * time.Millisecond)
	for _, r := range h.fk.Requests() {
		if r.At.After(canceledAt) {
			t.Fatalf("a call started %s after cancel returned", r.At.Sub(canceledAt))
		}
	}
	done := h.wait(sim.ID, 5*time.Second)
	if done.Status != entsim.StatusCANCELED {
		t.Fatalf("status %s", done.Status)
	}
}

func TestResumeNeverRepeatsStoredSteps(t *testing.T) {
	h := newHarness(t, "sqlite", 150*time.Millisecond)
	first := h.service(1, func(c *Config) { c.DefaultConcurrency = 1 })
	sim, err := first.Run(context.Background(), RunInput{Trigger: "Resume me.", Rounds: ptrTo(0)})
	if err != nil {
		t.Fatal(err)
	}
	for h.states(sim.ID, 0) < 5 {
		time.Sleep(10 * time.Millisecond)
	}
	// A hard stop: in-flight jobs are canceled mid-call, as in a crash.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := first.river.StopAndCancel(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	storedBefore := map[string]bool{}
	pl, _ := first.loadPlan(context.Background(), h.net.ID, sim.Params)
	rows, _ := h.db.SQL.Query("SELECT agent_id FROM agent_states WHERE simulation_id = ?", sim.ID)
	for rows.Next() {
		var pk int
		_ = rows.Scan(&pk)
		storedBefore[reactionPrompt(&pl.graph.Nodes[pl.index[pk]], sim.Trigger, promptOptionsOf(sim.Params))[1].Content] = true
	}
	rows.Close()
	callsBefore := len(h.fk.Requests())
	if len(storedBefore) == 0 || len(storedBefore) == 20 {
		t.Fatalf("stopped with %d of 20 steps stored", len(storedBefore))
	}

	second := h.service(2, nil) // a restarted process
	done := h.wait(sim.ID, 60*time.Second)
	if done.Status != entsim.StatusSUCCEEDED || h.states(sim.ID, 0) != 20 {
		t.Fatalf("after resume: %s with %d states", done.Status, h.states(sim.ID, 0))
	}
	for _, r := range h.fk.Requests()[callsBefore:] {
		if storedBefore[r.User] {
			t.Fatalf("a stored step was asked again after the restart")
		}
	}
	_ = second
}

func TestClassicalEnginesMatchDynamics(t *testing.T) {
	for _, engine := range []string{"DEGROOT", "FRIEDKIN_JOHNSEN", "HEGSELMANN_KRAUSE"} {
		t.Run(engine, func(t *testing.T) {
			h := newHarness(t, "sqlite", 0)
			s := h.service(1, nil)
			sim, err := s.Run(context.Background(), RunInput{Trigger: "Classical.", Rounds: ptrTo(3), Engine: ptrTo(engine), Seed: ptrTo(int64(7))})
			if err != nil {
				t.Fatal(err)
			}
			done := h.wait(sim.ID, 30*time.Second)
			if done.Status != entsim.StatusSUCCEEDED || done.CompletedSteps != 80 || done.Calls != 0 || len(h.fk.Requests()) != 0 {
				t.Fatalf("%s: %+v", done.Status, done)
			}
			// Recompute independently from the stored stage 0 with the dynamics package.
			p := done.Params
			pl, err := s.loadPlan(context.Background(), h.net.ID, p)
			if err != nil {
				t.Fatal(err)
			}
			model, _ := dynamics.ParseModel(engine)
			dp := dynamics.DefaultParams()
			dp.SelfWeight, dp.Epsilon = p.SelfWeight, p.Epsilon
			snap0, _ := s.Snapshot(context.Background(), done, 0)
			initial := dynamics.NewState(20)
			for i, v := range snap0.State {
				initial.Care[i], initial.Support[i] = v.Care, v.Support
			}
			want, err := dynamics.Run(context.Background(), model, pl.csr, dp, initial, 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			final, _ := s.Snapshot(context.Background(), done, 3)
			for i, v := range final.State {
				if d := v.Care - want.Care[i]; d > 1e-9 || d < -1e-9 {
					t.Fatalf("agent %d care %v, want %v", i, v.Care, want.Care[i])
				}
				if d := v.Support - want.Support[i]; d > 1e-9 || d < -1e-9 {
					t.Fatalf("agent %d support %v, want %v", i, v.Support, want.Support[i])
				}
			}
		})
	}
}

func TestRunInputErrors(t *testing.T) {
	h := newHarness(t, "sqlite", 0)
	s := h.service(0, nil)
	noLLM, err := New(h.db, nil, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 20 agents: 2 rounds make 20 × 3 = 60 steps, exactly the limit; 3 rounds are just over.
	limited, err := New(h.db, nil, Config{MaxAgentRounds: 60, MaxRounds: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := limited.Run(context.Background(), RunInput{Trigger: "x", Rounds: ptrTo(2)}); err != nil {
		t.Fatalf("at the agents × rounds limit: %v", err)
	}
	cases := []struct {
		name string
		svc  *Service
		in   RunInput
		want string
	}{
		{"empty trigger", s, RunInput{Trigger: "  "}, "trigger must not be empty"},
		{"long trigger", s, RunInput{Trigger: strings.Repeat("x", 4001)}, "limit is 4000"},
		{"bad engine", s, RunInput{Trigger: "x", Engine: ptrTo("MAGIC")}, `engine "MAGIC"`},
		{"rounds", s, RunInput{Trigger: "x", Rounds: ptrTo(-1)}, "rounds must be"},
		{"self weight", s, RunInput{Trigger: "x", SelfWeight: ptrTo(-1.0)}, "selfWeight"},
		{"unknown network", s, RunInput{Trigger: "x", NetworkID: ptrTo(12884901999)}, "not found"},
		{"LLM without config", noLLM, RunInput{Trigger: "x", Engine: ptrTo("LLM")}, "OPENAI_API_KEY"},
		{"agents × rounds just over", limited, RunInput{Trigger: "x", Rounds: ptrTo(3)}, "20 × 4 exceeds the limit of 60 (SIM_MAX_AGENT_ROUNDS)"},
		{"rounds just over", limited, RunInput{Trigger: "x", Rounds: ptrTo(4)}, "rounds must be"},
		{"numAgents × rounds just over", limited, RunInput{Trigger: "x", NumAgents: ptrTo(31), Rounds: ptrTo(1)}, "= 62 exceeds the limit of 60"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.svc.Run(context.Background(), tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// Without an LLM the default engine is classical.
	sim, err := noLLM.Run(context.Background(), RunInput{Trigger: "x"})
	if err != nil || sim.Engine != entsim.EngineFRIEDKIN_JOHNSEN {
		t.Fatalf("default engine without LLM: %v %v", sim, err)
	}
}

// Two worker processes (two services with their own River clients and no
// shared memory) share one run on PostgreSQL.
func TestTwoWorkersShareRunOnPostgres(t *testing.T) {
	if why := testdb.PostgresSkipped(); why != "" {
		t.Skip(why)
	}
	h := newHarness(t, "postgres", 40*time.Millisecond)
	a := h.service(2, nil)
	h.service(2, nil)
	sim, err := a.Run(context.Background(), RunInput{Trigger: "Shared run.", Rounds: ptrTo(2)})
	if err != nil {
		t.Fatal(err)
	}
	done := h.wait(sim.ID, 60*time.Second)
	if done.Status != entsim.StatusSUCCEEDED || done.CompletedSteps != 60 {
		t.Fatalf("shared run: %s %d steps", done.Status, done.CompletedSteps)
	}
	var clients int
	if err := h.db.SQL.QueryRow(`SELECT COUNT(DISTINCT c) FROM river_job, unnest(attempted_by) AS c WHERE kind = 'ethox_llm_chunk'`).Scan(&clients); err != nil {
		t.Fatal(err)
	}
	if clients < 2 {
		t.Fatalf("jobs were worked by %d client(s), want both", clients)
	}
	seen := map[string]bool{}
	for _, r := range h.fk.Requests() {
		if seen[r.User] {
			t.Fatalf("a step was asked twice across the two workers")
		}
		seen[r.User] = true
	}
}

func TestHybridRunsLLMThenClassical(t *testing.T) {
	h := newHarness(t, "sqlite", 0)
	s := h.service(2, nil)
	sim, err := s.Run(context.Background(), RunInput{Trigger: "Hybrid.", Rounds: ptrTo(3), Engine: ptrTo("HYBRID")})
	if err != nil {
		t.Fatal(err)
	}
	done := h.wait(sim.ID, 30*time.Second)
	if done.Status != entsim.StatusSUCCEEDED || done.CompletedSteps != 80 {
		t.Fatalf("hybrid: %s %+v", done.Status, done)
	}
	if n := len(h.fk.Requests()); n != 20 || done.Calls != 20 {
		t.Fatalf("hybrid made %d calls (row says %d), want one per agent at stage 0", n, done.Calls)
	}
}

func TestBadAnswersAreRecordedNotFatal(t *testing.T) {
	cases := []struct {
		name       string
		badAgents  int // agents whose every answer is malformed
		wantStatus entsim.Status
	}{
		{"few bad agents", 2, entsim.StatusSUCCEEDED},
		{"too many bad agents", 10, entsim.StatusFAILED},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "sqlite", 0)
			s := h.service(2, nil)
			pl, _ := s.loadPlan(context.Background(), h.net.ID, Params{NeighborLimit: 10, Audience: Audience{Mode: simtypes.AudienceAll}})
			bad := map[string]bool{}
			for i := 0; i < tc.badAgents; i++ {
				bad[persona(&pl.graph.Nodes[i])] = true
			}
			h.fk.SetHook(func(r *fakellm.Request, _ int) (int, map[string]string, string) {
				for p := range bad {
					if strings.Contains(r.User, p) {
						return 200, nil, "I refuse to answer in JSON."
					}
				}
				return 0, nil, ""
			})
			sim, err := s.Run(context.Background(), RunInput{Trigger: "Bad answers.", Rounds: ptrTo(0)})
			if err != nil {
				t.Fatal(err)
			}
			done := h.wait(sim.ID, 30*time.Second)
			if done.Status != tc.wantStatus || done.FailedSteps != tc.badAgents || h.states(sim.ID, 0) != 20 {
				t.Fatalf("status %s, failed %d, states %d; error %v", done.Status, done.FailedSteps, h.states(sim.ID, 0), done.Error)
			}
			var failed int
			_ = h.db.SQL.QueryRow("SELECT COUNT(*) FROM agent_states WHERE simulation_id = ? AND failed AND error IS NOT NULL", sim.ID).Scan(&failed)
			if failed != tc.badAgents {
				t.Fatalf("%d failed states recorded, want %d", failed, tc.badAgents)
			}
		})
	}
}
