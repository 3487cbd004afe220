package api_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/ethox/ethox/api"
	"github.com/ethox/ethox/ent"
)

// countingDriver counts the queries the resolvers' ent client sends (as
// entgql's todo example does).
type countingDriver struct {
	dialect.Driver
	queries atomic.Int64
}

func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.queries.Add(1)
	return d.Driver.Query(ctx, query, args, v)
}

// runStates uploads the 20-agent fixture and runs DEGROOT for 4 rounds: 100
// stored states. It returns the run's id.
func runStates(t *testing.T, e *env) string {
	t.Helper()
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	var run struct{ RunSimulation struct{ ID string } }
	e.query(`mutation { runSimulation(input: {trigger: "Names.", engine: DEGROOT, rounds: 4, seed: 3}) { id } }`, nil).decode(t, &run)
	waitDone(t, e, run.RunSimulation.ID)
	return run.RunSimulation.ID
}

type stateNode struct {
	AgentID  string `json:"agentId"`
	AgentKey string `json:"agentKey"`
	Internal string `json:"agentID"`
	Round    int
	Agent    struct {
		AgentID string `json:"agentId"`
	}
}

type statesResult struct {
	Simulation struct {
		States struct {
			Edges []struct{ Node stateNode }
		}
	}
}

// Issue 16: AgentState.agentID was the agent's internal number while
// agentId is the external id everywhere else ("Did you mean agentID"
// returned "4294967700" instead of "0"). agentId is the external id on
// AgentState too; agentID and agentKey stay, deprecated.
func TestAgentStateNames(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		id := runStates(t, e)
		var got statesResult
		e.query(`query($id: ID!) { simulation(id: $id) { states(first: 100) { edges { node { agentId agentKey agentID round agent { agentId } } } } } }`,
			map[string]any{"id": id}).decode(t, &got)
		if n := len(got.Simulation.States.Edges); n != 100 {
			t.Fatalf("%d states", n)
		}
		seen := map[string]bool{}
		for _, edge := range got.Simulation.States.Edges {
			n := edge.Node
			if n.AgentID == "" || n.AgentID != n.Agent.AgentID || n.AgentKey != n.AgentID || n.Internal == n.AgentID {
				t.Fatalf("state %+v: agentId must be the agent's external id", n)
			}
			seen[n.AgentID] = true
		}
		if !seen["0"] || !seen["19"] || len(seen) != 20 {
			t.Fatalf("external ids %v", seen)
		}
		// The filter argument is the same external id.
		e.query(`query($id: ID!) { simulation(id: $id) { states(agentId: "7", first: 10) { edges { node { agentId round } } } } }`,
			map[string]any{"id": id}).decode(t, &got)
		if es := got.Simulation.States.Edges; len(es) != 5 || es[0].Node.AgentID != "7" {
			t.Fatalf("states(agentId: \"7\"): %+v", es)
		}

		var intro struct {
			Type struct {
				Fields []struct {
					Name              string
					IsDeprecated      bool
					DeprecationReason *string
				}
			} `json:"__type"`
		}
		e.query(`{ __type(name: "AgentState") { fields(includeDeprecated: true) { name isDeprecated deprecationReason } } }`, nil).decode(t, &intro)
		want := map[string]string{"agentId": "", "agentID": "use agentId", "agentKey": "Use agentId", "agent": ""}
		for _, f := range intro.Type.Fields {
			reason, ok := want[f.Name]
			if !ok {
				continue
			}
			delete(want, f.Name)
			if f.IsDeprecated != (reason != "") || reason != "" && (f.DeprecationReason == nil || !strings.Contains(*f.DeprecationReason, reason)) {
				t.Errorf("AgentState.%s: deprecated %v (%v), want reason containing %q", f.Name, f.IsDeprecated, f.DeprecationReason, reason)
			}
		}
		if len(want) > 0 {
			t.Errorf("AgentState lacks %v", want)
		}
	})
}

// Issue 16: AgentState.agentKey cost one query per state. A page of states
// costs the same number of queries whatever its size, with any of the ways
// to ask for the agent's id.
func TestAgentStatesQueryCount(t *testing.T) {
	selections := []struct {
		sel             string
		wantID, wantKey bool
	}{
		{"agentId round", true, false},
		{"agentKey", false, true},
		{"agentId agent { degree }", true, false},
		{"agentKey agent { agentId traits }", false, true},
		{"agentID round", false, false},
	}
	forEachDB(t, func(t *testing.T, dialect string) {
		var drv *countingDriver
		e := newEnv(t, dialect, func(o *api.Options) {
			drv = &countingDriver{Driver: entsql.OpenDB(o.DB.Dialect, o.DB.SQL)}
			o.Client = ent.NewClient(ent.Driver(drv))
		})
		id := runStates(t, e)
		for _, tt := range selections {
			t.Run(tt.sel, func(t *testing.T) {
				count := func(first int) int64 {
					q := fmt.Sprintf(`query($id: ID!) { simulation(id: $id) { states(first: %d) { edges { node { %s } } } } }`, first, tt.sel)
					before := drv.queries.Load()
					var got statesResult
					e.query(q, map[string]any{"id": id}).decode(t, &got)
					if len(got.Simulation.States.Edges) != first {
						t.Fatalf("%d states, want %d", len(got.Simulation.States.Edges), first)
					}
					for _, edge := range got.Simulation.States.Edges {
						if tt.wantID && edge.Node.AgentID == "" || tt.wantKey && edge.Node.AgentKey == "" {
							t.Fatalf("state without its agent's id: %+v", edge.Node)
						}
					}
					return drv.queries.Load() - before
				}
				small, page := count(5), count(100)
				if page != small || page > 4 {
					t.Fatalf("%d queries for 5 states, %d for 100: want the same, at most 4", small, page)
				}
			})
		}
	})
}
