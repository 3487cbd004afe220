package simulation

import (
	"context"
	"testing"
	"time"

	"github.com/ethox/ethox/config"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/simulation/dynamics"
	"github.com/ethox/ethox/simulation/simtypes"
)

// serviceFromEnv builds a service whose LLM client is configured as the
// server configures it, by config.FromEnv over env (the fake's address added).
func (h *harness) serviceFromEnv(env map[string]string) *Service {
	h.t.Helper()
	all := map[string]string{"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": h.fk.BaseURL()}
	for k, v := range env {
		all[k] = v
	}
	cfg, err := config.FromEnv(func(k string) string { return all[k] })
	if err != nil {
		h.t.Fatal(err)
	}
	return h.serviceWith(2, cfg.LLM, nil)
}

// TestSamplingReachesRequests: the agents' temperature and answer limit are
// the prototype's (0.4, 200 tokens) by default, from the settings' table
// through the client to every request, and recorded in the run's params; a
// preset, a run's input and a reasoning model change them.
func TestSamplingReachesRequests(t *testing.T) {
	h := newHarness(t, "sqlite", 0)
	f := func(x float64) *float64 { return &x }
	for _, c := range []struct {
		name      string
		env       map[string]string
		in        RunInput
		wantTemp  *float64 // nil: none sent
		wantMax   *int     // nil: none sent
		wantOrder string
		wantLimit int
	}{
		{name: "defaults", wantTemp: f(0.4), wantMax: ptrTo(200), wantOrder: simtypes.UpdateSynchronous, wantLimit: 10},
		{name: "settings", env: map[string]string{"OPENAI_TEMPERATURE": "1", "OPENAI_MAX_TOKENS": "0"},
			wantTemp: f(1), wantOrder: simtypes.UpdateSynchronous, wantLimit: 10},
		{name: "preset over settings", env: map[string]string{"OPENAI_TEMPERATURE": "1", "OPENAI_MAX_TOKENS": "0"},
			in: RunInput{Preset: ptrTo("PROTOTYPE")}, wantTemp: f(0.4), wantMax: ptrTo(200), wantOrder: simtypes.UpdateSequential},
		{name: "input over preset", in: RunInput{Preset: ptrTo("PROTOTYPE"), Temperature: f(0.9), MaxOutputTokens: ptrTo(0),
			UpdateOrder: ptrTo("SYNCHRONOUS"), NeighborLimit: ptrTo(3)}, wantTemp: f(0.9), wantOrder: simtypes.UpdateSynchronous, wantLimit: 3},
		{name: "reasoning model", in: RunInput{Model: ptrTo("gpt-5-mini")}, wantOrder: simtypes.UpdateSynchronous, wantLimit: 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := h.serviceFromEnv(c.env)
			before := len(h.fk.Requests())
			in := c.in
			in.Trigger, in.Rounds = "The council will double parking fees in the centre.", ptrTo(1)
			sim, err := s.Run(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			done := h.wait(sim.ID, 60*time.Second)
			if done.Status != entsim.StatusSUCCEEDED {
				t.Fatalf("run ended %s: %v", done.Status, done.Error)
			}
			reqs := h.fk.Requests()[before:]
			if len(reqs) == 0 {
				t.Fatal("no requests")
			}
			for _, r := range reqs {
				if !sameFloat(r.Temperature, c.wantTemp) || !sameInt(r.MaxTokens, c.wantMax) || r.MaxCompletionTokens != nil {
					t.Fatalf("request sent temperature %v, max_tokens %v, max_completion_tokens %v; want %v, %v",
						show(r.Temperature), show(r.MaxTokens), show(r.MaxCompletionTokens), show(c.wantTemp), show(c.wantMax))
				}
			}
			p := done.Params
			wantMax := 0
			if c.wantMax != nil {
				wantMax = *c.wantMax
			}
			if !sameFloat(p.Temperature, c.wantTemp) || p.MaxOutputTokens == nil || *p.MaxOutputTokens != wantMax ||
				p.UpdateOrder != c.wantOrder || p.NeighborLimit != c.wantLimit || p.Neighborhood != simtypes.NeighborhoodUndirected ||
				p.PromptVersion != simtypes.PromptVersion || p.Speaker != simtypes.DefaultSpeaker || p.NeighborNumbers {
				t.Fatalf("params %+v", p)
			}
			if c.in.Preset != nil && p.Preset != simtypes.PresetPrototype {
				t.Fatalf("preset not recorded: %+v", p)
			}
		})
	}
}

func sameFloat(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
func sameInt(a, b *int) bool       { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func show[T any](p *T) any {
	if p == nil {
		return "none"
	}
	return *p
}

// TestSequentialLLMRun: with updateOrder SEQUENTIAL every step of a round
// read, for the agents before it in node order, their state of the same
// round, and for the others the previous round's, as the prototype's
// in-place update did; the speaker and the neighbours' numbers reach the
// prompts.
func TestSequentialLLMRun(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 2*time.Millisecond)
			s := h.service(2, nil)
			ctx := context.Background()
			sim, err := s.Run(ctx, RunInput{Trigger: "The ministry will merge the two regional hospitals.", Rounds: ptrTo(2),
				UpdateOrder: ptrTo("SEQUENTIAL"), Speaker: ptrTo("the Ministry of Health"), NeighborNumbers: ptrTo(true)})
			if err != nil {
				t.Fatal(err)
			}
			done := h.wait(sim.ID, 90*time.Second)
			if done.Status != entsim.StatusSUCCEEDED || done.CompletedSteps != 60 {
				t.Fatalf("run ended %s: %+v", done.Status, done)
			}
			p := done.Params
			if !p.Sequential() || p.Speaker != "the Ministry of Health" || !p.NeighborNumbers {
				t.Fatalf("params %+v", p)
			}
			pl, err := s.loadPlan(ctx, h.net.ID, p)
			if err != nil {
				t.Fatal(err)
			}
			o := promptOptionsOf(p)
			differs := 0
			for r := 1; r <= 2; r++ {
				before, _ := s.Snapshot(ctx, done, r-1)
				after, _ := s.Snapshot(ctx, done, r)
				for i := range after.Graph.Nodes {
					cols, ws := pl.csr.Row(i)
					var views, sync []neighborView
					for k, j := range cols {
						v, old := before.State[j], before.State[j]
						if int(j) < i {
							v = after.State[j]
						}
						if v.Opinion != "" {
							views = append(views, neighborView{weight: ws[k], opinion: v.Opinion, care: v.Care, support: v.Support})
						}
						if old.Opinion != "" {
							sync = append(sync, neighborView{weight: ws[k], opinion: old.Opinion, care: old.Care, support: old.Support})
						}
					}
					own := before.State[i]
					ov := neighborView{opinion: own.Opinion, care: own.Care, support: own.Support}
					msgs := influencePrompt(&pl.graph.Nodes[i], sim.Trigger, ov, views, o)
					want, _, _ := fakellm.Answer(msgs[1].Content)
					if after.State[i].Opinion != want {
						t.Fatalf("round %d agent %d did not read the agents before it in round %d", r, i, r)
					}
					if syncWant, _, _ := fakellm.Answer(influencePrompt(&pl.graph.Nodes[i], sim.Trigger, ov, sync, o)[1].Content); syncWant != want {
						differs++
					}
				}
			}
			if differs == 0 {
				t.Fatal("no step read a state of its own round: the test shows nothing")
			}
			for _, r := range h.fk.Requests() {
				if r.System != systemPrompt {
					t.Fatal("system prompt differs between calls")
				}
			}
		})
	}
}

// TestSequentialClassicalRun: a classical run with updateOrder SEQUENTIAL
// stores the in-place rounds of dynamics (Params.Sequential).
func TestSequentialClassicalRun(t *testing.T) {
	h := newHarness(t, "sqlite", 0)
	s := h.service(2, nil)
	ctx := context.Background()
	for _, order := range []string{"SEQUENTIAL", "SYNCHRONOUS"} {
		sim, err := s.Run(ctx, RunInput{Trigger: "Classical.", Engine: ptrTo("DEGROOT"), Rounds: ptrTo(2), Seed: ptrTo(int64(5)),
			UpdateOrder: ptrTo(order)})
		if err != nil {
			t.Fatal(err)
		}
		done := h.wait(sim.ID, 30*time.Second)
		if done.Status != entsim.StatusSUCCEEDED || done.Params.UpdateOrder != order || done.Params.Temperature != nil ||
			done.Params.PromptVersion != "" {
			t.Fatalf("%s run: %s, params %+v", order, done.Status, done.Params)
		}
		pl, _ := s.loadPlan(ctx, h.net.ID, done.Params)
		dp := dynamics.DefaultParams()
		dp.Sequential = order == "SEQUENTIAL"
		r0, _ := s.roundStates(ctx, sim.ID, 0, pl)
		prev := toDynamics(r0)
		for r := 1; r <= 2; r++ {
			next := dynamics.NewState(len(r0))
			dynamics.Step(dynamics.DeGroot, pl.csr, dp, nil, &prev, &next)
			got, _ := s.roundStates(ctx, sim.ID, r, pl)
			for i := range got {
				if d := got[i].Care - next.Care[i]; d > 1e-9 || d < -1e-9 {
					t.Fatalf("%s round %d agent %d: care %v, want %v", order, r, i, got[i].Care, next.Care[i])
				}
			}
			prev = next
		}
	}
}
