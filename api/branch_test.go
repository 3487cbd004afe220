package api_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/testwait"
)

const branchRun = `mutation($in: RunSimulationInput!) { runSimulation(input: $in) { id status branchedFromRound parent { id } } }`

// branchView is what the branch tests read of a run.
type branchView struct {
	Simulation struct {
		ID, Status, Engine string
		Error              *string
		Trigger            string
		Rounds             int
		BranchedFromRound  *int
		Parent             *struct{ ID string }
		Branches           []struct {
			ID                string
			Engine            string
			BranchedFromRound *int
		}
		Params   map[string]any
		Progress struct{ CompletedSteps, TotalSteps int }
		Usage    struct{ Calls, PromptTokens int }
		Stage0   *struct{ Nodes []branchNode } `json:"postTriggerGraph"`
		Final    *struct{ Nodes []branchNode } `json:"finalGraph"`
		States   struct{ TotalCount int }
		Exports  struct{ StatesCsv string }
	}
}

type branchNode struct {
	AgentID     string   `json:"agentId"`
	TextOpinion *string  `json:"textOpinion"`
	LevelOfCare *float64 `json:"levelOfCare"`
	Support     *float64 `json:"effectOnUsage"`
}

const branchQuery = `query($id: ID!) { simulation(id: $id) { id status engine error trigger rounds branchedFromRound params
  parent { id } branches { id engine branchedFromRound }
  progress { completedSteps totalSteps } usage { calls promptTokens }
  postTriggerGraph { nodes { agentId textOpinion levelOfCare effectOnUsage } }
  finalGraph { nodes { agentId textOpinion levelOfCare effectOnUsage } }
  states(round: 0) { totalCount } exports { statesCsv } } }`

// start runs in and returns its id, failing the test on an error.
func (e *env) start(t *testing.T, in map[string]any) string {
	t.Helper()
	var run struct{ RunSimulation struct{ ID string } }
	e.query(branchRun, map[string]any{"in": in}).decode(t, &run)
	return run.RunSimulation.ID
}

func (e *env) view(t *testing.T, id string) branchView {
	t.Helper()
	var v branchView
	e.query(branchQuery, map[string]any{"id": id}).decode(t, &v)
	return v
}

// reactions counts the stage-0 calls among reqs: the reaction prompt is the
// only one without the agent's own view (or "no view on it yet").
func reactions(reqs []fakellm.Request) int {
	n := 0
	for _, r := range reqs {
		if !strings.Contains(r.User, "Your view (") && !strings.Contains(r.User, "no view on it yet") {
			n++
		}
	}
	return n
}

// careScore is a report's headline care score of run id.
func (e *env) careScore(t *testing.T, id string) (int, float64) {
	t.Helper()
	var rep struct {
		GenerateReport struct {
			CareScore100      int
			ChangeInSupport50 float64
		}
	}
	e.query(`mutation($id: ID!) { generateReport(simulationId: $id) { careScore100 changeInSupport50 } }`,
		map[string]any{"id": id}).decode(t, &rep)
	return rep.GenerateReport.CareScore100, rep.GenerateReport.ChangeInSupport50
}

// TestBranchFromStoredStage branches one LLM run from its stored stage 0
// into LLM rounds, Friedkin–Johnsen, DeGroot and a different self weight,
// then branches a branch, and checks that no stored stage is asked again,
// that every branch reads like a run (graphs, states, reports, exports),
// and the tree.
func TestBranchFromStoredStage(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
		const trigger = "The city will close the central library on Sundays."
		parentID := e.start(t, map[string]any{"trigger": trigger, "rounds": 2, "engine": "LLM", "seed": 7})
		waitDone(t, e, parentID)
		parent := e.view(t, parentID).Simulation
		if reactions(e.fk.Requests()) != 20 {
			t.Fatalf("the parent made %d stage-0 calls, want 20", reactions(e.fk.Requests()))
		}

		// An LLM branch with the parent's own parameters, from round 0: it asks
		// rounds 1 and 2 again, never stage 0; the fake answers are a function of
		// the prompt, so it must end where the parent did.
		before := len(e.fk.Requests())
		same := e.start(t, map[string]any{"fromSimulation": parentID, "fromRound": 0})
		waitDone(t, e, same)
		reqs := e.fk.Requests()[before:]
		b := e.view(t, same).Simulation
		if n := reactions(reqs); n != 0 {
			t.Fatalf("the branch from round 0 made %d stage-0 calls", n)
		}
		if b.Usage.Calls != len(reqs) || b.Usage.Calls != parent.Usage.Calls-20 || b.Usage.Calls == 0 {
			t.Fatalf("branch usage %d calls, fake saw %d, parent %d (20 of them stage 0)", b.Usage.Calls, len(reqs), parent.Usage.Calls)
		}
		if b.Progress.TotalSteps != 40 || b.Progress.CompletedSteps != 40 {
			t.Fatalf("branch progress %+v, want the 40 steps of rounds 1..2", b.Progress)
		}
		if b.Trigger != trigger || b.Rounds != 2 || b.Engine != "LLM" || b.Params["seed"] != float64(7) ||
			b.BranchedFromRound == nil || *b.BranchedFromRound != 0 || b.Parent == nil || b.Parent.ID != parentID {
			t.Fatalf("branch = %+v", b)
		}
		if b.Stage0 == nil || !reflect.DeepEqual(b.Stage0, parent.Stage0) || b.States.TotalCount != 20 {
			t.Fatalf("branch stage 0 differs from its parent's:\n%+v\n%+v", b.Stage0, parent.Stage0)
		}
		if b.Final == nil || !reflect.DeepEqual(b.Final, parent.Final) {
			t.Fatalf("same parameters, same fake answers: the final graphs differ")
		}
		if pc, ps := e.careScore(t, parentID); true {
			if bc, bs := e.careScore(t, same); bc != pc || bs != ps {
				t.Fatalf("reports differ: parent %d/%v, branch %d/%v", pc, ps, bc, bs)
			}
		}
		// Its export holds all three rounds, the copied stage 0 included.
		status, body := download(t, e.url+b.Exports.StatesCsv)
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if status != http.StatusOK || err != nil || len(recs) != 1+60 {
			t.Fatalf("branch export: status %d, %d records, %v", status, len(recs), err)
		}

		// Classical branches and another self weight, from the same stage 0: no call at all.
		before = len(e.fk.Requests())
		fj := e.start(t, map[string]any{"fromSimulation": parentID, "engine": "FRIEDKIN_JOHNSEN", "rounds": 5})
		dg := e.start(t, map[string]any{"fromSimulation": parentID, "engine": "DEGROOT", "rounds": 5})
		sw := e.start(t, map[string]any{"fromSimulation": parentID, "engine": "DEGROOT", "rounds": 5, "selfWeight": 3})
		for _, id := range []string{fj, dg, sw} {
			waitDone(t, e, id)
			v := e.view(t, id).Simulation
			if v.Usage.Calls != 0 || v.Progress.TotalSteps != 100 || v.Progress.CompletedSteps != 100 || v.Final == nil ||
				!reflect.DeepEqual(v.Stage0, parent.Stage0) {
				t.Fatalf("classical branch %s: %+v", v.Engine, v)
			}
		}
		if n := len(e.fk.Requests()) - before; n != 0 {
			t.Fatalf("classical branches made %d calls", n)
		}
		if fjv, dgv, swv := e.view(t, fj).Simulation, e.view(t, dg).Simulation, e.view(t, sw).Simulation; reflect.DeepEqual(fjv.Final, dgv.Final) ||
			reflect.DeepEqual(dgv.Final, swv.Final) {
			t.Fatalf("FJ, DeGroot and DeGroot with self weight 3 ended the same")
		}

		// A branch of a branch, from the branch's round 1 (its own, computed
		// round): rounds 0..1 copied, round 2 by DeGroot; and a branch that
		// computes nothing (rounds = fromRound) ends at once.
		before = len(e.fk.Requests())
		bb := e.start(t, map[string]any{"fromSimulation": same, "fromRound": 1, "engine": "DEGROOT"})
		waitDone(t, e, bb)
		none := e.start(t, map[string]any{"fromSimulation": parentID, "fromRound": 2, "rounds": 2})
		waitDone(t, e, none)
		if n := len(e.fk.Requests()) - before; n != 0 {
			t.Fatalf("a branch of a branch made %d calls", n)
		}
		bbv, nonev := e.view(t, bb).Simulation, e.view(t, none).Simulation
		if bbv.Parent == nil || bbv.Parent.ID != same || bbv.Rounds != 2 || bbv.Progress.TotalSteps != 20 ||
			!reflect.DeepEqual(bbv.Stage0, parent.Stage0) {
			t.Fatalf("branch of a branch = %+v", bbv)
		}
		if nonev.Progress.TotalSteps != 0 || !reflect.DeepEqual(nonev.Final, parent.Final) {
			t.Fatalf("a branch computing nothing = %+v", nonev)
		}
		var round1 struct {
			A, B struct{ GraphAt struct{ Nodes []branchNode } }
		}
		e.query(`query($a: ID!, $b: ID!) { a: simulation(id: $a) { graphAt(round: 1) { nodes { agentId textOpinion levelOfCare effectOnUsage } } }
			b: simulation(id: $b) { graphAt(round: 1) { nodes { agentId textOpinion levelOfCare effectOnUsage } } } }`,
			map[string]any{"a": same, "b": bb}).decode(t, &round1)
		if len(round1.B.GraphAt.Nodes) != 20 || !reflect.DeepEqual(round1.A, round1.B) {
			t.Fatalf("the branch of a branch's round 1 is not its parent's")
		}

		// The speaker defines the support the stored stages measured: another one is refused.
		resp := e.query(branchRun, map[string]any{"in": map[string]any{"fromSimulation": parentID, "speaker": "the mayor"}})
		if resp.code() != "BAD_USER_INPUT" || !strings.Contains(resp.Errors[0].Message, "speaker") {
			t.Fatalf("another speaker: %+v", resp.Errors)
		}

		// The tree.
		tree := e.view(t, parentID).Simulation
		var ids []string
		for _, br := range tree.Branches {
			ids = append(ids, br.ID)
		}
		if tree.Parent != nil || tree.BranchedFromRound != nil || !reflect.DeepEqual(ids, []string{same, fj, dg, sw, none}) {
			t.Fatalf("parent's branches %v, want %v", ids, []string{same, fj, dg, sw, none})
		}
		if sb := e.view(t, same).Simulation.Branches; len(sb) != 1 || sb[0].ID != bb || *sb[0].BranchedFromRound != 1 || sb[0].Engine != "DEGROOT" {
			t.Fatalf("branch's branches %+v", sb)
		}
	})
}

// TestBranchInputErrors: every input that would change what the parent's
// stored stages meant is refused, naming the field, and writes nothing.
func TestBranchInputErrors(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		other := e.mustUpload(readFixture(t, "ethox-network-20.json"), "other").UploadGraph.Network.ID
		e.mustUpload(readFixture(t, "ethox-network-20.json"), "") // the default: the runs' network
		parent := e.start(t, map[string]any{"trigger": "Parent.", "rounds": 1, "engine": "DEGROOT",
			"audience": map[string]any{"mode": "TOP_INFLUENCERS", "topN": 5}})
		waitDone(t, e, parent)
		// A run that never completed its stage 0: stopped by its budget after 5 of 20 calls.
		stopped := e.start(t, map[string]any{"trigger": "Stopped.", "rounds": 3, "engine": "LLM", "maxCalls": 5})
		testwait.RunEnd(t, 30*time.Second, func() (string, string) { v := e.view(t, stopped); return v.Simulation.Status, "" })
		count := func() int {
			var n int
			_ = e.db.SQL.QueryRow("SELECT COUNT(*) FROM simulations").Scan(&n)
			return n
		}
		runs := count()
		cases := []struct {
			in         map[string]any
			code, want string
		}{
			{map[string]any{"trigger": "x", "fromRound": 0}, "BAD_USER_INPUT", "fromRound needs fromSimulation"},
			{map[string]any{"fromSimulation": "21474836999"}, "NOT_FOUND", "fromSimulation"},
			{map[string]any{"fromSimulation": parent, "fromRound": -1}, "BAD_USER_INPUT", "fromRound"},
			{map[string]any{"fromSimulation": parent, "fromRound": 2}, "BAD_USER_INPUT", "fromRound 2"},
			{map[string]any{"fromSimulation": parent, "fromRound": 1, "rounds": 0}, "BAD_USER_INPUT", "rounds"},
			{map[string]any{"fromSimulation": parent, "networkId": other}, "BAD_USER_INPUT", "networkId"},
			{map[string]any{"fromSimulation": parent, "numAgents": 30}, "BAD_USER_INPUT", "numAgents"},
			{map[string]any{"fromSimulation": parent, "trigger": "Another message."}, "BAD_USER_INPUT", "trigger"},
			{map[string]any{"fromSimulation": parent, "audience": map[string]any{"mode": "ALL"}}, "BAD_USER_INPUT", "audience"},
			{map[string]any{"fromSimulation": parent, "audience": map[string]any{"mode": "TOP_INFLUENCERS", "topN": 6}}, "BAD_USER_INPUT", "audience"},
			{map[string]any{"fromSimulation": stopped}, "BAD_USER_INPUT", "has no round complete"},
			{map[string]any{"fromSimulation": parent, "rounds": 1000}, "BAD_USER_INPUT", "rounds"},
		}
		for _, tc := range cases {
			resp := e.query(branchRun, map[string]any{"in": tc.in})
			if resp.code() != tc.code || !strings.Contains(resp.Errors[0].Message, tc.want) {
				t.Errorf("%v: code %q errors %+v", tc.in, resp.code(), resp.Errors)
			}
		}
		if n := count(); n != runs {
			t.Fatalf("refused branches wrote %d simulations", n-runs)
		}
		// The parent's own values are accepted when repeated.
		ok := e.start(t, map[string]any{"fromSimulation": parent, "fromRound": 1, "trigger": " Parent. ",
			"audience": map[string]any{"mode": "TOP_INFLUENCERS", "topN": 5}, "rounds": 3})
		waitDone(t, e, ok)
		if v := e.view(t, ok).Simulation; v.Progress.TotalSteps != 40 || fmt.Sprint(v.Params["audience"]) != "map[metric:DEGREE mode:TOP_INFLUENCERS topN:5]" {
			t.Fatalf("branch repeating its parent's values = %+v", v)
		}
	})
}
