package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/internal/testwait"
)

type simResult struct {
	Simulation struct {
		ID       string
		Status   string
		Error    *string
		Progress struct{ Round, Rounds, CompletedSteps, TotalSteps int }
		Usage    struct {
			Calls            int
			PromptTokens     int
			EstimatedCostUSD float64
		}
		FinalGraph *struct {
			Nodes []struct {
				AgentID            string   `json:"agentId"`
				TextOpinion        *string  `json:"textOpinion"`
				LevelOfCare        *float64 `json:"levelOfCare"`
				EffectOnUsage      *float64 `json:"effectOnUsage"`
				InitialOpinion     *string  `json:"initialOpinion"`
				InitialLevelOfCare *float64 `json:"initialLevelOfCare"`
			}
		}
		States struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					AgentKey string
					Round    int
				}
			}
		}
	}
}

const simQuery = `query($id: ID!) { simulation(id: $id) { id status error progress { round rounds completedSteps totalSteps }
  usage { calls promptTokens estimatedCostUSD }
  finalGraph { nodes { agentId textOpinion levelOfCare effectOnUsage initialOpinion initialLevelOfCare } }
  states(round: 1, first: 5) { totalCount edges { node { agentKey round } } } } }`

func TestRunSimulationOverGraphQL(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
		var run struct {
			RunSimulation struct {
				ID, Status, Engine string
			}
		}
		e.query(`mutation($in: RunSimulationInput!) { runSimulation(input: $in) { id status engine } }`,
			map[string]any{"in": map[string]any{"trigger": "Bike lanes on Main Street from May.", "rounds": 1}}).decode(t, &run)
		if run.RunSimulation.Status != "QUEUED" || run.RunSimulation.Engine != "LLM" {
			t.Fatalf("run = %+v", run)
		}
		var got simResult
		testwait.RunEndEvery(t, 30*time.Second, 50*time.Millisecond, func() (string, string) {
			got = simResult{}
			e.query(simQuery, map[string]any{"id": run.RunSimulation.ID}).decode(t, &got)
			return got.Simulation.Status, ""
		})
		s := got.Simulation
		if s.Status != "SUCCEEDED" || s.Progress.CompletedSteps != 40 || s.Progress.TotalSteps != 40 || s.Usage.Calls < 20 || s.Usage.PromptTokens == 0 {
			t.Fatalf("finished run = %+v", s)
		}
		if s.FinalGraph == nil || len(s.FinalGraph.Nodes) != 20 {
			t.Fatalf("final graph = %+v", s.FinalGraph)
		}
		for _, n := range s.FinalGraph.Nodes {
			if n.TextOpinion == nil || *n.TextOpinion == "" || n.InitialOpinion == nil || n.LevelOfCare == nil || *n.LevelOfCare > 1 || n.InitialLevelOfCare == nil {
				t.Fatalf("snapshot node %+v", n)
			}
		}
		if s.States.TotalCount != 20 || len(s.States.Edges) != 5 || s.States.Edges[0].Node.Round != 1 || s.States.Edges[0].Node.AgentKey == "" {
			t.Fatalf("states = %+v", s.States)
		}
	})
}

func TestRunSimulationErrors(t *testing.T) {
	e := newEnv(t, "sqlite")
	const m = `mutation($in: RunSimulationInput!) { runSimulation(input: $in) { id } }`
	resp := e.query(m, map[string]any{"in": map[string]any{"trigger": "x"}})
	if resp.code() != "NOT_FOUND" {
		t.Fatalf("no network: %+v", resp.Errors)
	}
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	cases := []struct {
		in         map[string]any
		code, want string
	}{
		{map[string]any{"trigger": ""}, "BAD_USER_INPUT", "trigger"},
		{map[string]any{"trigger": "x", "rounds": -1}, "BAD_USER_INPUT", "rounds"},
		{map[string]any{"trigger": "x", "networkId": "12884901999"}, "NOT_FOUND", "network"},
		{map[string]any{"trigger": "x", "engine": "NOPE"}, "BAD_USER_INPUT", "NOPE"},
		{map[string]any{"trigger": "x", "audience": map[string]any{"mode": "MANUAL", "agentIds": []string{"ghost"}}}, "BAD_USER_INPUT", `"ghost"`},
	}
	for _, tc := range cases {
		resp := e.query(m, map[string]any{"in": tc.in})
		if resp.code() != tc.code || !strings.Contains(resp.Errors[0].Message, tc.want) {
			t.Errorf("%v: code %q errors %+v", tc.in, resp.code(), resp.Errors)
		}
	}
	if c := e.counts(); c["networks"] != 1 {
		t.Fatalf("counts %v", c)
	}
	var n int
	_ = e.db.SQL.QueryRow("SELECT COUNT(*) FROM simulations").Scan(&n)
	if n != 0 {
		t.Fatalf("rejected runs wrote %d simulations", n)
	}
	resp = e.query(`mutation { cancelSimulation(id: "21474836999") { id } }`, nil)
	if resp.code() != "NOT_FOUND" {
		t.Fatalf("cancel unknown: %+v", resp.Errors)
	}
}
