package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ethox/ethox/api"
	"github.com/ethox/ethox/graphstore"
)

// The whole-graph fast path writes exactly the bytes gqlgen's executor
// writes: for a query selecting every field it claims (generated from the
// schema walk that decides what it writes), on an empty database, uploads
// with odd values and a generated network (profiles, params), and for
// hand-written queries with aliases, reordered fields and queries that fall
// back. Each is sent twice to the fast path: encoded, then from memory.
func TestGraphFastPathMatchesExecutor(t *testing.T) {
	all := api.FastGraphQueryForTest()
	for _, want := range []string{"initialEffectOnUsage", "betweennessCentrality", "traitKeys", "params", "weight", "directed"} {
		if !strings.Contains(all, want) {
			t.Fatalf("the generated query lacks %s: %s", want, all)
		}
	}
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		slow := httptest.NewServer(api.NewHandler(api.Options{Client: e.db.Client, Graphs: graphstore.New(e.db),
			CORSOrigins: []string{"*"}, MaxUploadBytes: 1 << 20, MaxBodyBytes: 1 << 20, DisableGraphFastPath: true,
			Logger: slog.New(slog.DiscardHandler)}))
		defer slow.Close()
		same := func(q string, vars map[string]any) {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
			slowBody := postRaw(t, slow.URL, body)
			// Twice: the first read encodes and keeps the response with its
			// network, the second is served from what was kept.
			for range 2 {
				if fast := postRaw(t, e.url, body); !bytes.Equal(fast, slowBody) {
					t.Fatalf("query %.80q %v:\nfast %.600s\nslow %.600s", q, vars, fast, slowBody)
				}
			}
		}
		same(all, nil) // no network yet: an empty graph with a null network

		up := e.mustUpload(readFixture(t, "ethox-network-20.json"), "fast <path> & \"quotes\"")
		e.mustUpload([]byte(`{"nodes":[{"agent_id":"x","text_opinion":"line\nbreak \u2028 <b>","level_of_care":0.000001,"age":3,"extra":{"a":[1,"b"]}},{"agent_id":"y"}],"edges":[{"source":"x","target":"y","weight":1e-7}]}`), "odd values")
		same(all, nil)
		same(all, map[string]any{"id": up.UploadGraph.Network.ID})
		var gen struct{ GenerateNetwork struct{ ID string } }
		e.query(`mutation { generateNetwork(input: {numAgents: 40, seed: 7}) { id } }`, nil).decode(t, &gen)
		same(all, nil)
		same(all, map[string]any{"id": gen.GenerateNetwork.ID})
		// One agent and its neighbours: every claimed field, on each network
		// (a self-tie, repeated ties and odd values among them).
		agentQ := api.FastAgentQueryForTest()
		for _, id := range []any{nil, up.UploadGraph.Network.ID, gen.GenerateNetwork.ID} {
			var g struct {
				Graph struct{ Nodes []struct{ AgentID string } }
			}
			e.query(`query($id: ID) { graph(networkId: $id) { nodes { agentId } } }`, map[string]any{"id": id}).decode(t, &g)
			if len(g.Graph.Nodes) == 0 {
				t.Fatalf("network %v has no agents", id)
			}
			for _, n := range g.Graph.Nodes {
				same(agentQ, map[string]any{"id": id, "agent": n.AgentID})
			}
		}
		for reason, n := range fallbackCounts(t, e.url) {
			if n != "0" {
				t.Fatalf("the generated query fell back (%s: %s): the comparison did not test the fast path", reason, n)
			}
		}

		for _, q := range []struct {
			q    string
			vars map[string]any
		}{
			{graphQuery, nil},
			{graphQuery, map[string]any{"id": up.UploadGraph.Network.ID}},
			{`{ __typename a: graph { __typename m: metadata { __typename directed nodeCount edgeCount traitKeys }
			   network { __typename id name source directed createdAt nodeCount edgeCount traitKeys params }
			   e: edges { __typename weight target source } n: nodes { attributes profile traits agentId initialOpinion initialLevelOfCare initialEffectOnUsage } }
			   b: graph(networkId: "` + up.UploadGraph.Network.ID + `") { metadata { nodeCount } } }`, nil},
			{`query($id: ID) { graph(networkId: $id) { nodes { agentId } } }`, map[string]any{"id": "12884901999"}}, // not found: gqlgen's path
			{`{ graph { nodes { ... on GraphNode { agentId } } } }`, nil},                                           // a fragment: gqlgen's path
			{`{ graph { network { id agents(first: 2) { totalCount } } } }`, nil},                                   // a field left to gqlgen
			{`{ x: agent(agentId: "x") { neighbors { weight w2: weight agentId degree __typename } n: node { __typename agentId traits } } }`, nil},
			{`{ x: agent(agentId: "x") { node { agentId } } g: graph { metadata { nodeCount } } }`, nil}, // two reads: gqlgen's path
			{`{ agent(agentId: "nobody") { node { agentId } } }`, nil},                                   // not found: gqlgen's path
			{`query($id: ID) { agent(agentId: "x", networkId: $id) { node { agentId } } }`, map[string]any{"id": "12884901999"}},
			{`{ agent(agentId: "x") { ... on AgentDetail { node { agentId } } } }`, nil},
		} {
			same(q.q, q.vars)
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

// Every graph query the fast path hands to gqlgen is counted by reason in
// /metrics and logged at WARN with the reason (a missing network only at
// DEBUG: it is ordinary client input); other queries are not.
func TestGraphFastPathFallbacksCountedAndLogged(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		var logs syncBuffer
		e := newEnv(t, dialect, func(o *api.Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
		e.mustUpload(readFixture(t, "ethox-network-20.json"), "fallbacks")
		for _, c := range []struct{ query, reason, detail string }{
			{`{ graph { nodes { agentId } } }`, "", ""},
			{`{ networks { totalCount } }`, "", ""},
			{`{ graph { nodes { ...N } } } fragment N on GraphNode { agentId }`, "query_shape", "a fragment spread"},
			{`{ ... on Query { graph { edges { weight } } } }`, "query_shape", "an inline fragment"},
			{`{ graph { edges @include(if: true) { weight } } }`, "query_shape", "a directive on Graph.edges"},
			{`{ graph { metadata { nodeCount } } defaultNetwork { id } }`, "query_shape", "root field Query.defaultNetwork beside graph"},
			{`{ graph { network { exports { graphml } } } }`, "unwritten_field", "Network.exports is left to gqlgen"},
			{`{ graph(networkId: "not-an-id") { edges { weight } } }`, "bad_argument", "networkId is not an ID"},
			{`{ graph(networkId: "12884901999") { edges { weight } } }`, "load_error", "the network could not be read"},
		} {
			quiet := c.reason == "load_error" // here a missing network
			before := len(logs.lines())
			e.query(c.query, nil)
			line := ""
			for _, l := range logs.lines()[before-1:] {
				if strings.Contains(l, "graph fast path") {
					line = l
				}
			}
			switch {
			case (c.reason == "" || quiet) && line != "":
				t.Errorf("%s: logged %s", c.query, line)
			case c.reason != "" && !quiet && !(strings.Contains(line, "level=WARN") && strings.Contains(line, "reason="+c.reason) && strings.Contains(line, c.detail)):
				t.Errorf("%s: log line %q, want WARN with reason %s and %q", c.query, line, c.reason, c.detail)
			}
		}
		want := map[string]string{"query_shape": "4", "unwritten_field": "1", "bad_argument": "1", "load_error": "1", "unwritable_value": "0", "panic": "0"}
		if got := fallbackCounts(t, e.url); !maps.Equal(got, want) {
			t.Errorf("ethox_graph_fast_path_fallbacks_total = %v, want %v", got, want)
		}
	})
}

// fallbackCounts reads ethox_graph_fast_path_fallbacks_total by reason from /metrics.
func fallbackCounts(t *testing.T, base string) map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, `ethox_graph_fast_path_fallbacks_total{reason="`); ok {
			reason, n, _ := strings.Cut(rest, `"} `)
			out[reason] = n
		}
	}
	if len(out) == 0 {
		t.Fatalf("/metrics has no ethox_graph_fast_path_fallbacks_total")
	}
	return out
}

// An agent's kept response is never served once its network is deleted:
// EvictNetwork drops the network with every body kept with it.
func TestAgentFastPathForgetsDeletedNetwork(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		up := e.mustUpload(readFixture(t, "ethox-network-20.json"), "kept then deleted")
		id := up.UploadGraph.Network.ID
		var g struct {
			Graph struct{ Nodes []struct{ AgentID string } }
		}
		e.query(`query($id: ID) { graph(networkId: $id) { nodes { agentId } } }`, map[string]any{"id": id}).decode(t, &g)
		body, _ := json.Marshal(map[string]any{"query": `query($id: ID, $a: String!) { agent(agentId: $a, networkId: $id) { node { agentId } neighbors { agentId } } }`,
			"variables": map[string]any{"id": id, "a": g.Graph.Nodes[0].AgentID}})
		first := postRaw(t, e.url, body)
		if again := postRaw(t, e.url, body); !bytes.Equal(first, again) || !bytes.Contains(first, []byte(`"node":{"agentId"`)) {
			t.Fatalf("agent read: %s then %s", first, again)
		}
		e.query(`mutation($id: ID!) { deleteNetwork(id: $id) { deletedId } }`, map[string]any{"id": id}).decode(t, &struct{}{})
		after := postRaw(t, e.url, body)
		if !bytes.Contains(after, []byte(`"NOT_FOUND"`)) || !bytes.Contains(after, []byte(`"data":{"agent":null}`)) {
			t.Fatalf("agent of a deleted network: %s", after)
		}
	})
}
