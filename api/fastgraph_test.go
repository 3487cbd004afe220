package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ethox/ethox/api"
	"github.com/ethox/ethox/graphstore"
)

// The whole-graph fast path writes exactly the bytes gqlgen's executor writes.
func TestGraphFastPathMatchesExecutor(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		up := e.mustUpload(readFixture(t, "ethox-network-20.json"), "fast <path> & \"quotes\"")
		e.mustUpload([]byte(`{"nodes":[{"agent_id":"x","text_opinion":"line\nbreak \u2028 <b>","level_of_care":0.000001,"age":3,"extra":{"a":[1,"b"]}},{"agent_id":"y"}],"edges":[{"source":"x","target":"y","weight":1e-7}]}`), "odd values")
		slow := httptest.NewServer(api.NewHandler(api.Options{Client: e.db.Client, Graphs: graphstore.New(e.db),
			CORSOrigins: []string{"*"}, MaxUploadBytes: 1 << 20, MaxBodyBytes: 1 << 20, DisableGraphFastPath: true}))
		defer slow.Close()
		queries := []struct {
			q    string
			vars map[string]any
		}{
			{graphQuery, nil},
			{graphQuery, map[string]any{"id": up.UploadGraph.Network.ID}},
			{`{ __typename a: graph { __typename m: metadata { __typename directed nodeCount edgeCount traitKeys }
			   network { __typename id name source directed createdAt nodeCount edgeCount traitKeys params }
			   e: edges { __typename weight target source } n: nodes { attributes profile traits agentId initialOpinion initialLevelOfCare initialEffectOnUsage } }
			   b: graph(networkId: "` + up.UploadGraph.Network.ID + `") { metadata { nodeCount } } }`, nil},
			{`query($id: ID) { graph(networkId: $id) { nodes { agentId } } }`, map[string]any{"id": "12884901999"}}, // an error: gqlgen's path
			{`{ graph { nodes { ... on GraphNode { agentId } } } }`, nil},                                           // a fragment: gqlgen's path
		}
		for _, q := range queries {
			body, _ := json.Marshal(map[string]any{"query": q.q, "variables": q.vars})
			fast, slowBody := postRaw(t, e.url, body), postRaw(t, slow.URL, body)
			if !bytes.Equal(fast, slowBody) {
				t.Fatalf("query %.60q:\nfast %.400s\nslow %.400s", q.q, fast, slowBody)
			}
		}
	})
}

func postRaw(t *testing.T, base string, body []byte) []byte {
	t.Helper()
	resp, err := http.Post(base+"/query", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}
