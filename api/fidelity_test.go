package api_test

import (
	"strings"
	"testing"
)

// Issue 17: the fidelity options reach the run and the generator through
// GraphQL, and the run's params record what it used.
func TestFidelityInputs(t *testing.T) {
	e := newEnv(t, "sqlite")
	var run struct {
		RunSimulation struct {
			Params  map[string]any
			Network struct{ Params map[string]any }
		}
	}
	e.query(`mutation($in: RunSimulationInput!) { runSimulation(input: $in) { params network { params } } }`,
		map[string]any{"in": map[string]any{"trigger": "The party will cut bus fares.", "rounds": 0, "numAgents": 30,
			"preset": "PROTOTYPE", "speaker": "the Labour Party", "neighborNumbers": true, "neighborhood": "UNDIRECTED",
			"profileSource": "BUILTIN", "profileSampling": "WITH_REPLACEMENT", "minTies": 1, "traitVarianceScale": 1.0,
			"maxOutputTokens": 300}}).decode(t, &run)
	p, np := run.RunSimulation.Params, run.RunSimulation.Network.Params
	for k, want := range map[string]any{"preset": "PROTOTYPE", "speaker": "the Labour Party", "neighborNumbers": true,
		"neighborhood": "UNDIRECTED", "updateOrder": "SEQUENTIAL", "temperature": 0.4, "maxOutputTokens": 300.0,
		"neighborLimit": 0.0, "promptVersion": "ethox-prompt/2"} {
		if p[k] != want {
			t.Errorf("params[%s] = %v, want %v (params %v)", k, p[k], want, p)
		}
	}
	for k, want := range map[string]any{"neighbourhood": "undirected", "profileSource": "builtin", "minTies": 1.0, "traitVarianceScale": 1.0} {
		if np[k] != want {
			t.Errorf("network params[%s] = %v, want %v", k, np[k], want)
		}
	}

	var g generated
	e.query(generateMutation, map[string]any{"in": map[string]any{"numAgents": 30, "seed": 2, "profileSampling": "WITH_REPLACEMENT",
		"neighborhood": "CHOSEN", "minTies": 2, "traitVarianceScale": 0.5}}).decode(t, &g)
	for k, want := range map[string]any{"neighbourhood": "chosen", "profileSampling": "with-replacement", "minTies": 2.0, "traitVarianceScale": 0.5} {
		if g.GenerateNetwork.Params[k] != want {
			t.Errorf("generated params[%s] = %v, want %v", k, g.GenerateNetwork.Params[k], want)
		}
	}
	if !strings.HasPrefix(g.GenerateNetwork.Params["profileSource"].(string), "survey:") {
		t.Errorf("default profile source %v", g.GenerateNetwork.Params["profileSource"])
	}

	for _, c := range []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{"trigger": "x", "minTies": 1}, "give them with numAgents"},
		{map[string]any{"trigger": "x", "numAgents": 10, "traitVarianceScale": 0}, "traitVarianceScale must be in (0, 2]"},
		{map[string]any{"trigger": "x", "speaker": "  "}, "speaker must not be empty"},
		{map[string]any{"trigger": "x", "maxOutputTokens": -1}, "maxOutputTokens must be between 0"},
	} {
		resp := e.query(`mutation($in: RunSimulationInput!) { runSimulation(input: $in) { id } }`, map[string]any{"in": c.in})
		if resp.code() != "BAD_USER_INPUT" || len(resp.Errors) == 0 || !strings.Contains(resp.Errors[0].Message, c.want) {
			t.Errorf("%v: %+v", c.in, resp.Errors)
		}
	}
}
