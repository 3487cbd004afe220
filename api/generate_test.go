package api_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"strings"
	"testing"
)

const generateMutation = `mutation($in: GenerateNetworkInput!) { generateNetwork(input: $in) { id name source nodeCount edgeCount params } }`

type generated struct {
	GenerateNetwork struct {
		ID, Name, Source     string
		NodeCount, EdgeCount int
		Params               map[string]any
	}
}

// graphJSON is a network's graph query answer with the network's own id and
// name left out, to compare two networks byte for byte.
func (e *env) graphJSON(id string) string {
	e.t.Helper()
	resp := e.query(`query($id: ID) { graph(networkId: $id) { metadata { nodeCount edgeCount traitKeys }
	  nodes { agentId degree traits degreeCentrality betweennessCentrality cluster age gender profile attributes }
	  edges { source target weight } } }`, map[string]any{"id": id})
	if len(resp.Errors) > 0 {
		e.t.Fatalf("graph: %+v", resp.Errors)
	}
	return string(resp.Data)
}

func TestGenerateNetworkIsReproducible(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		var a, b, c generated
		e.query(generateMutation, map[string]any{"in": map[string]any{"numAgents": 60, "seed": 7}}).decode(t, &a)
		e.query(generateMutation, map[string]any{"in": map[string]any{"numAgents": 60, "seed": 7, "name": "again"}}).decode(t, &b)
		e.query(generateMutation, map[string]any{"in": map[string]any{"numAgents": 60, "seed": 8}}).decode(t, &c)
		g := a.GenerateNetwork
		if g.Source != "GENERATED" || g.NodeCount != 60 || g.EdgeCount == 0 || g.Params["seed"] != float64(7) || g.Params["numAgents"] != float64(60) {
			t.Fatalf("generated = %+v", g)
		}
		ja, jb, jc := e.graphJSON(a.GenerateNetwork.ID), e.graphJSON(b.GenerateNetwork.ID), e.graphJSON(c.GenerateNetwork.ID)
		if ja != jb {
			t.Fatal("the same seed gave different networks")
		}
		if ja == jc {
			t.Fatal("different seeds gave the same network")
		}
		if !strings.Contains(ja, `"Sociability"`) || !strings.Contains(ja, `"bfi2_raw"`) {
			t.Fatalf("no BFI-2 traits in %0.300s", ja)
		}
	})
}

func TestGenerateNetworkWithProfilesAndErrors(t *testing.T) {
	e := newEnv(t, "sqlite")
	csv := readFixture(t, "voter_opinion_survey_350.csv")
	upload := func(file []byte) gqlResponse {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		ops, _ := json.Marshal(map[string]any{"query": generateMutation,
			"variables": map[string]any{"in": map[string]any{"numAgents": 40, "seed": 1, "profiles": nil}}})
		_ = mw.WriteField("operations", string(ops))
		_ = mw.WriteField("map", `{"0":["variables.in.profiles"]}`)
		fw, _ := mw.CreateFormFile("0", "survey.csv")
		_, _ = fw.Write(file)
		_ = mw.Close()
		return e.post(mw.FormDataContentType(), &buf)
	}
	var g generated
	upload(csv).decode(t, &g)
	if !strings.HasPrefix(g.GenerateNetwork.Params["profileSource"].(string), "csv:") {
		t.Fatalf("params = %v", g.GenerateNetwork.Params)
	}
	if body := e.graphJSON(g.GenerateNetwork.ID); !strings.Contains(body, `"Archetype"`) {
		t.Fatalf("no survey profile fields in %0.300s", body)
	}
	before := e.counts()
	lines := strings.SplitN(string(csv), "\n", 3)
	bad := lines[0] + "\n" + strings.Replace(lines[1], ",8,6,3,3,", ",eight,6,3,3,", 1) + "\n"
	resp := upload([]byte(bad))
	if resp.code() != "BAD_USER_INPUT" || !strings.Contains(resp.Errors[0].Message, "line 2") {
		t.Fatalf("bad CSV: %+v", resp.Errors)
	}
	resp = e.query(generateMutation, map[string]any{"in": map[string]any{"numAgents": 0}})
	if resp.code() != "BAD_USER_INPUT" || !strings.Contains(resp.Errors[0].Message, "numAgents") {
		t.Fatalf("numAgents 0: %+v", resp.Errors)
	}
	resp = e.query(generateMutation, map[string]any{"in": map[string]any{"numAgents": 5, "seed": -1}})
	if resp.code() != "BAD_USER_INPUT" || !strings.Contains(resp.Errors[0].Message, "seed") {
		t.Fatalf("negative seed: %+v", resp.Errors)
	}
	if after := e.counts(); after["networks"] != before["networks"] {
		t.Fatalf("rejected generations wrote networks: %v -> %v", before, after)
	}
}

func TestRunSimulationOnFreshPopulation(t *testing.T) {
	e := newEnv(t, "sqlite")
	var run struct {
		RunSimulation struct {
			ID      string
			Network struct {
				Source    string
				NodeCount int
			}
		}
	}
	e.query(`mutation { runSimulation(input: {trigger: "Fresh people.", numAgents: 30, populationSeed: 4, engine: DEGROOT, rounds: 2}) {
		id network { source nodeCount } } }`, nil).decode(t, &run)
	if run.RunSimulation.Network.Source != "GENERATED" || run.RunSimulation.Network.NodeCount != 30 {
		t.Fatalf("run = %+v", run)
	}
	resp := e.query(`mutation { runSimulation(input: {trigger: "x", numAgents: 30, networkId: "12884901888"}) { id } }`, nil)
	if resp.code() != "BAD_USER_INPUT" {
		t.Fatalf("both networkId and numAgents: %+v", resp.Errors)
	}
}
