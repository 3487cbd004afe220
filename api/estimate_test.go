package api_test

import (
	"strings"
	"testing"

	"github.com/ethox/ethox/internal/testdb"
)

// Issue 18: estimateRun answers through GraphQL with what a run would use,
// and refuses what runSimulation refuses, with the same codes, writing nothing.
func TestEstimateRunQuery(t *testing.T) {
	const q = `query($in: RunSimulationInput!) { estimateRun(input: $in) {
		engine model agents rounds calls promptTokens completionTokens costUSD priced answerTokens concurrency
		callLatencySeconds wallTimeSeconds populationSeed perRound { round calls promptTokens completionTokens wallTimeSeconds } } }`
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			var out struct {
				EstimateRun struct {
					Engine                         string
					Model                          *string
					Agents, Rounds, Calls          int
					PromptTokens, CompletionTokens int
					CostUSD, WallTimeSeconds       float64
					Priced                         bool
					PopulationSeed                 *int
					PerRound                       []struct{ Round, Calls int }
				}
			}
			e.query(q, map[string]any{"in": map[string]any{"trigger": "The party will cut bus fares.", "rounds": 1, "numAgents": 30,
				"populationSeed": 5, "engine": "LLM"}}).decode(t, &out)
			est := out.EstimateRun
			if est.Engine != "LLM" || est.Model == nil || est.Agents != 30 || est.Calls != 60 || est.PromptTokens == 0 ||
				est.CompletionTokens == 0 || !(est.CostUSD > 0) || !est.Priced || !(est.WallTimeSeconds > 0) ||
				est.PopulationSeed == nil || *est.PopulationSeed != 5 || len(est.PerRound) != 2 || est.PerRound[1].Calls != 30 {
				t.Fatalf("estimate %+v", est)
			}
			e.query(q, map[string]any{"in": map[string]any{"trigger": "x", "numAgents": 30, "engine": "DEGROOT"}}).decode(t, &out)
			if est := out.EstimateRun; est.Calls != 0 || est.CostUSD != 0 || est.Model != nil || est.PopulationSeed == nil {
				t.Fatalf("classical estimate %+v", est)
			}
			for _, c := range []struct {
				in         map[string]any
				code, want string
			}{
				{map[string]any{"trigger": " "}, "BAD_USER_INPUT", "trigger"},
				{map[string]any{"trigger": "x", "rounds": -2}, "BAD_USER_INPUT", "rounds"},
				{map[string]any{"trigger": "x", "minTies": 1}, "BAD_USER_INPUT", "numAgents"},
				{map[string]any{"trigger": "x", "numAgents": 10, "networkId": "1"}, "BAD_USER_INPUT", "networkId"},
				{map[string]any{"trigger": "x", "numAgents": 10, "populationSeed": -1}, "BAD_USER_INPUT", "populationSeed"},
				{map[string]any{"trigger": "x", "numAgents": 10, "audience": map[string]any{"mode": "MANUAL", "agentIds": []string{"nobody"}}},
					"BAD_USER_INPUT", "audience.agentIds"},
				{map[string]any{"trigger": "x", "networkId": "987654"}, "NOT_FOUND", "987654"},
				{map[string]any{"trigger": "x", "engine": "DEGROOT", "cache": true}, "BAD_USER_INPUT", "cache"},
			} {
				resp := e.query(q, map[string]any{"in": c.in})
				if resp.code() != c.code || len(resp.Errors) == 0 || !strings.Contains(resp.Errors[0].Message, c.want) {
					t.Errorf("%v: %+v", c.in, resp.Errors)
				}
			}
			var counts struct {
				Networks    struct{ TotalCount int }
				Simulations struct{ TotalCount int }
			}
			e.query(`{ networks { totalCount } simulations { totalCount } }`, nil).decode(t, &counts)
			if counts.Simulations.TotalCount != 0 || counts.Networks.TotalCount > 1 {
				t.Fatalf("estimates wrote rows: %+v", counts)
			}
		})
	}
}
