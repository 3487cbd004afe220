package simulation

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/apperr"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/simulation/llm"
	"github.com/ethox/ethox/simulation/simtypes"
)

// fakeAnswerTokens is the completion tokens the fake reports for an agent's
// answer: bytes/4 of its JSON. The estimate is told so through
// SIM_ESTIMATE_ANSWER_TOKENS, as an operator would tell it the typical
// answer of their model: what the comparison below tests is the rest (which
// agents call, their prompts, the pricing), not a guess of answer lengths.
// The fake counts prompt tokens as bytes/4 of the system and user messages;
// the estimate adds 4 tokens of framing per message, as the client's own
// pre-call estimate does (about 3% of these prompts), and that difference is
// left in.
func fakeAnswerTokens(t *testing.T) int {
	op, care, support := fakellm.Answer("any prompt")
	b, err := json.Marshal(map[string]any{"opinion": op, "care": care, "change_in_support": support})
	if err != nil {
		t.Fatal(err)
	}
	return len(b) / 4
}

// within reports whether got is within 10% of want.
func within(got, want float64) bool { return math.Abs(got-want) <= 0.1*math.Abs(want) }

func TestEstimateMatchesRun(t *testing.T) {
	cases := []struct {
		name   string
		in     RunInput
		branch *int // estimate and run a branch of a run of in, from this round, with 3 rounds in all
	}{
		{"branch from round 0", RunInput{Rounds: ptrTo(1)}, ptrTo(0)},
		{"branch from round 1, sequential", RunInput{Rounds: ptrTo(1), UpdateOrder: ptrTo(simtypes.UpdateSequential)}, ptrTo(1)},
		{"LLM synchronous", RunInput{Rounds: ptrTo(2)}, nil},
		{"LLM top influencers", RunInput{Rounds: ptrTo(2), Audience: &Audience{Mode: simtypes.AudienceTopInfluencers, TopN: 2}}, nil},
		{"LLM manual audience, sequential, numbers", RunInput{Rounds: ptrTo(2), UpdateOrder: ptrTo(simtypes.UpdateSequential),
			NeighborNumbers: ptrTo(true), Audience: &Audience{Mode: simtypes.AudienceManual, AgentIDs: []string{"3"}}}, nil},
		{"HYBRID", RunInput{Rounds: ptrTo(3), Engine: ptrTo(string(entsim.EngineHYBRID))}, nil},
		{"prototype preset", RunInput{Rounds: ptrTo(1), Preset: ptrTo(simtypes.PresetPrototype)}, nil},
		{"numAgents", RunInput{Rounds: ptrTo(1), NumAgents: ptrTo(40), PopulationSeed: ptrTo(uint64(7))}, nil},
		{"DEGROOT", RunInput{Rounds: ptrTo(2), Engine: ptrTo(string(entsim.EngineDEGROOT))}, nil},
	}
	answer := fakeAnswerTokens(t)
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 0)
			s := h.service(2, func(c *Config) { c.EstimateAnswerTokens = answer })
			ctx := context.Background()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					in := tc.in
					in.Trigger = "The city will close the central library on Sundays."
					if tc.branch != nil {
						parent, err := s.Run(ctx, in)
						if err != nil {
							t.Fatal(err)
						}
						h.wait(parent.ID, 60*time.Second)
						in = RunInput{FromSimulation: &parent.ID, FromRound: tc.branch, Rounds: ptrTo(3)}
					}
					networks := h.count("networks")
					sims := h.count("simulations")
					est, err := s.Estimate(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					if h.count("networks") != networks || h.count("simulations") != sims {
						t.Fatalf("the estimate wrote rows: networks %d → %d, simulations %d → %d",
							networks, h.count("networks"), sims, h.count("simulations"))
					}
					if len(est.PerRound) != est.Rounds+1 {
						t.Fatalf("%d per-round estimates for %d rounds", len(est.PerRound), est.Rounds)
					}
					before := h.fk.Calls()
					sim, err := s.Run(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					done := h.wait(sim.ID, 60*time.Second)
					if done.Status != entsim.StatusSUCCEEDED {
						t.Fatalf("run ended %s: %v", done.Status, done.Error)
					}
					if sent := h.fk.Calls() - before; sent != done.Calls {
						t.Fatalf("run recorded %d calls, the fake saw %d", done.Calls, sent)
					}
					if est.Engine != done.Engine || est.Rounds != done.Rounds {
						t.Fatalf("estimate of engine %s, %d rounds; the run was %s, %d rounds", est.Engine, est.Rounds, done.Engine, done.Rounds)
					}
					t.Logf("calls %d/%d, prompt tokens %d/%d, completion tokens %d/%d, cost %.6f/%.6f, wall %s",
						est.Calls, done.Calls, est.PromptTokens, done.PromptTokens, est.CompletionTokens, done.CompletionTokens,
						est.CostUSD, done.EstimatedCostUsd, est.WallTime)
					if done.Engine == entsim.EngineDEGROOT {
						if est.Calls != 0 || est.PromptTokens != 0 || est.CostUSD != 0 || est.WallTime != 0 || done.Calls != 0 {
							t.Fatalf("a classical run estimated %+v (ran %d calls)", est, done.Calls)
						}
						return
					}
					if done.Calls == 0 || !est.Priced {
						t.Fatalf("nothing to compare: %d calls, priced %v", done.Calls, est.Priced)
					}
					if !within(float64(est.Calls), float64(done.Calls)) ||
						!within(float64(est.PromptTokens), float64(done.PromptTokens)) ||
						!within(float64(est.CompletionTokens), float64(done.CompletionTokens)) ||
						!within(est.CostUSD, done.EstimatedCostUsd) {
						t.Fatalf("estimate off by more than 10%%: calls %d vs %d, prompt tokens %d vs %d, completion tokens %d vs %d, cost %v vs %v",
							est.Calls, done.Calls, est.PromptTokens, done.PromptTokens, est.CompletionTokens, done.CompletionTokens,
							est.CostUSD, done.EstimatedCostUsd)
					}
					if est.WallTime <= 0 || est.Concurrency != 4 {
						t.Fatalf("wall time %s at concurrency %d", est.WallTime, est.Concurrency)
					}
				})
			}
		})
	}
}

func TestEstimateRefusesWhatRunRefuses(t *testing.T) {
	cases := []struct {
		name string
		in   RunInput
		kind apperr.Kind
		want string // in the message: the field
	}{
		{"empty trigger", RunInput{Trigger: " "}, apperr.BadInput, "trigger"},
		{"rounds", RunInput{Rounds: ptrTo(-1)}, apperr.BadInput, "rounds"},
		{"temperature", RunInput{Temperature: ptrTo(3.0)}, apperr.BadInput, "temperature"},
		{"concurrency", RunInput{Concurrency: ptrTo(0)}, apperr.BadInput, "concurrency"},
		{"maxOutputTokens", RunInput{MaxOutputTokens: ptrTo(-1)}, apperr.BadInput, "maxOutputTokens"},
		{"engine", RunInput{Engine: ptrTo("MAGIC")}, apperr.BadInput, "engine"},
		{"audience id", RunInput{Audience: &Audience{Mode: simtypes.AudienceManual, AgentIDs: []string{"nobody"}}}, apperr.BadInput, "audience.agentIds"},
		{"network missing", RunInput{NetworkID: ptrTo(987654)}, apperr.NotFound, "987654"},
		{"networkId and numAgents", RunInput{NetworkID: ptrTo(1), NumAgents: ptrTo(10)}, apperr.BadInput, "numAgents"},
		{"numAgents too many", RunInput{NumAgents: ptrTo(10_000_000)}, apperr.BadInput, "numAgents"},
		{"population option without numAgents", RunInput{MinTies: ptrTo(3)}, apperr.BadInput, "minTies"},
		{"CHOSEN on undirected", RunInput{Neighborhood: ptrTo(simtypes.NeighborhoodChosen)}, apperr.BadInput, "CHOSEN"},
		{"fromRound without fromSimulation", RunInput{FromRound: ptrTo(0)}, apperr.BadInput, "fromRound"},
		{"fromSimulation missing", RunInput{FromSimulation: ptrTo(987654)}, apperr.NotFound, "fromSimulation"},
		{"maxCostUSD on an unpriced model", RunInput{Model: ptrTo("local-model"), MaxCostUSD: ptrTo(1.0)}, apperr.BadInput, "maxCostUSD"},
	}
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 0)
			s := h.service(0, nil)
			ctx := context.Background()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					in := tc.in
					if in.Trigger == "" {
						in.Trigger = "A new bus line opens."
					}
					networks, sims := h.count("networks"), h.count("simulations")
					_, estErr := s.Estimate(ctx, in)
					_, runErr := s.Run(ctx, in)
					if estErr == nil || runErr == nil {
						t.Fatalf("accepted: estimate error %v, run error %v", estErr, runErr)
					}
					if estErr.Error() != runErr.Error() || apperr.KindOf(estErr) != apperr.KindOf(runErr) {
						t.Fatalf("estimate refused with %q (%v), run with %q (%v)", estErr, apperr.KindOf(estErr), runErr, apperr.KindOf(runErr))
					}
					if apperr.KindOf(estErr) != tc.kind || !containsFold(estErr.Error(), tc.want) {
						t.Fatalf("error %q (%v): want %v naming %q", estErr, apperr.KindOf(estErr), tc.kind, tc.want)
					}
					if h.count("networks") != networks || h.count("simulations") != sims {
						t.Fatal("a refused input wrote rows")
					}
				})
			}
		})
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// TestPromptsOpenWithPersona guards what countPrompts relies on: a prompt's
// user message is its persona followed by what an empty persona gives.
func TestPromptsOpenWithPersona(t *testing.T) {
	h := newHarness(t, "sqlite", 0)
	s := h.service(0, nil)
	pl, err := s.loadPlan(context.Background(), h.net.ID, Params{Audience: Audience{Mode: simtypes.AudienceAll}})
	if err != nil {
		t.Fatal(err)
	}
	var blank networkfile.Node
	views := []neighborView{{weight: 0.3, opinion: "I doubt it.", care: 4, support: -1}, {weight: 0.12, opinion: "Fine.", care: 7}}
	for _, opts := range []promptOptions{{speaker: "the mayor", selfWeight: 0.5, maxChars: 400}, {speaker: "x", neighborNumbers: true, selfWeight: 2}} {
		for i := range pl.graph.Nodes {
			node := &pl.graph.Nodes[i]
			cases := []struct{ full, rest []llm.Message }{
				{reactionPrompt(node, "A trigger.", opts), reactionPrompt(&blank, "A trigger.", opts)},
				{influencePrompt(node, "A trigger.", views[0], views, opts), influencePrompt(&blank, "A trigger.", views[0], views, opts)},
				{influencePrompt(node, "A trigger.", neighborView{}, nil, opts), influencePrompt(&blank, "A trigger.", neighborView{}, nil, opts)},
			}
			for _, c := range cases {
				if persona(node) == "" || c.full[0] != c.rest[0] || c.full[1].Content != persona(node)+c.rest[1].Content {
					t.Fatalf("agent %d: the user message is not persona + the rest:\n%q\n%q", i, c.full[1].Content, c.rest[1].Content)
				}
			}
		}
	}
}
