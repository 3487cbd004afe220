package api_test

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/api"
	"github.com/ethox/ethox/internal/testwait"
)

const graphQuery = `query($id: ID) {
  graph(networkId: $id) {
    network { id name }
    metadata { nodeCount edgeCount traitKeys directed }
    nodes { agentId degree traits degreeCentrality betweennessCentrality cluster age gender
            textOpinion levelOfCare effectOnUsage profile attributes }
    edges { source target weight }
  }
}`

type graphResult struct {
	Graph struct {
		Network *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"network"`
		Metadata struct {
			NodeCount int      `json:"nodeCount"`
			EdgeCount int      `json:"edgeCount"`
			TraitKeys []string `json:"traitKeys"`
			Directed  bool     `json:"directed"`
		} `json:"metadata"`
		Nodes []map[string]any `json:"nodes"`
		Edges []struct {
			Source string  `json:"source"`
			Target string  `json:"target"`
			Weight float64 `json:"weight"`
		} `json:"edges"`
	} `json:"graph"`
}

// The prototype's fields and their names in the GraphQL graph view.
var fixtureFields = map[string]string{
	"degree":                 "degree",
	"cluster":                "cluster",
	"traits":                 "traits",
	"degree_centrality":      "degreeCentrality",
	"betweenness_centrality": "betweennessCentrality",
	"age":                    "age",
	"gender":                 "gender",
	"text_opinion":           "textOpinion",
	"level_of_care":          "levelOfCare",
	"effect_on_usage":        "effectOnUsage",
}

func TestUploadRoundTripsFixture(t *testing.T) {
	raw := readFixture(t, "ethox-network-20.json")
	var want struct {
		Nodes []map[string]any `json:"nodes"`
		Edges []map[string]any `json:"edges"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		up := e.mustUpload(raw, "prototype")
		n := up.UploadGraph.Network
		if n.Name != "prototype" || n.Source != "UPLOADED" || n.NodeCount != 20 || n.EdgeCount != 52 || len(n.TraitKeys) != 15 {
			t.Fatalf("network = %+v", n)
		}
		var got graphResult
		e.query(graphQuery, nil).decode(t, &got)
		g := got.Graph
		if g.Network == nil || g.Network.ID != n.ID {
			t.Fatalf("default graph is %+v, want the upload %s", g.Network, n.ID)
		}
		if len(g.Nodes) != len(want.Nodes) || len(g.Edges) != len(want.Edges) {
			t.Fatalf("got %d nodes %d edges, want %d and %d", len(g.Nodes), len(g.Edges), len(want.Nodes), len(want.Edges))
		}
		for i, wn := range want.Nodes {
			gn := g.Nodes[i]
			if gn["agentId"] != fmt.Sprint(wn["agent_id"]) {
				t.Fatalf("nodes[%d].agentId = %v, want %v", i, gn["agentId"], wn["agent_id"])
			}
			for from, to := range fixtureFields {
				wv, ok := wn[from]
				if !ok {
					continue
				}
				if !reflect.DeepEqual(gn[to], wv) {
					t.Errorf("nodes[%d].%s = %#v, want %#v", i, to, gn[to], wv)
				}
			}
		}
		for j, we := range want.Edges {
			ge := g.Edges[j]
			if ge.Source != fmt.Sprint(we["source"]) || ge.Target != fmt.Sprint(we["target"]) || ge.Weight != we["weight"].(float64) {
				t.Errorf("edges[%d] = %+v, want %v", j, ge, we)
			}
		}
	})
}

func TestUploadComputesMissingMetricsAndKeepsExtraFields(t *testing.T) {
	doc := `{"nodes":[{"agent_id":1,"traits":{"Anxiety":0.5},"region":"North","scores":[1,2]},{"agent_id":2},{"agent_id":3}],
	         "edges":[{"source":1,"target":2},{"source":2,"target":3,"weight":0.25}]}`
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.mustUpload([]byte(doc), "")
		var got graphResult
		e.query(graphQuery, nil).decode(t, &got)
		nodes := got.Graph.Nodes
		if len(nodes) != 3 {
			t.Fatalf("nodes = %v", nodes)
		}
		// A path 1-2-3: the middle node lies on the only shortest path between the ends.
		if nodes[1]["agentId"] != "2" || nodes[1]["degree"] != float64(2) || nodes[1]["degreeCentrality"] != float64(1) || nodes[1]["betweennessCentrality"] != float64(1) {
			t.Errorf("middle node = %v", nodes[1])
		}
		if nodes[0]["degree"] != float64(1) || nodes[0]["degreeCentrality"] != 0.5 || nodes[0]["betweennessCentrality"] != float64(0) {
			t.Errorf("end node = %v", nodes[0])
		}
		attrs := nodes[0]["attributes"].(map[string]any)
		if attrs["region"] != "North" || !reflect.DeepEqual(attrs["scores"], []any{float64(1), float64(2)}) {
			t.Errorf("attributes = %v", attrs)
		}
		if got.Graph.Edges[0].Weight != 1 || got.Graph.Edges[1].Weight != 0.25 {
			t.Errorf("edges = %+v", got.Graph.Edges)
		}
	})
}

func TestBadUploadsAreRejectedAndWriteNothing(t *testing.T) {
	fixture := readFixture(t, "ethox-network-20.json")
	cases := []struct {
		name, doc, wantMsg string
	}{
		{"malformed JSON", `{"nodes": [`, "invalid JSON"},
		{"not an object", `[1,2]`, ""},
		{"missing nodes", `{"edges": []}`, `"nodes"`},
		{"missing edges", `{"nodes": [{"agent_id": "a"}]}`, `"edges"`},
		{"edge to unknown agent", `{"nodes":[{"agent_id":"a"},{"agent_id":"b"}],"edges":[{"source":"a","target":"b"},{"source":"a","target":"agent_99"}]}`, `edges[1].target "agent_99" is not a node`},
		{"duplicate agent ids", `{"nodes":[{"agent_id":"a"},{"agent_id":"a"}],"edges":[]}`, `nodes[1].agent_id "a"`},
		{"non-numeric weight", `{"nodes":[{"agent_id":"a"},{"agent_id":"b"}],"edges":[{"source":"a","target":"b","weight":"heavy"}]}`, `edges[0].weight`},
		{"non-numeric trait", `{"nodes":[{"agent_id":"a","traits":{"Anxiety":"high"}}],"edges":[]}`, `nodes[0].traits.Anxiety`},
		{"NaN trait", `{"nodes":[{"agent_id":"a","traits":{"Anxiety":"NaN"}}],"edges":[]}`, `nodes[0].traits.Anxiety`},
		{"Inf weight", `{"nodes":[{"agent_id":"a"},{"agent_id":"b"}],"edges":[{"source":"a","target":"b","weight":1e999}]}`, `edges[0].weight`},
	}
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.mustUpload(fixture, "existing")
		before := e.counts()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp := e.upload([]byte(tc.doc), "")
				if resp.code() != "BAD_USER_INPUT" {
					t.Fatalf("code = %q, errors %+v", resp.code(), resp.Errors)
				}
				if !strings.Contains(resp.Errors[0].Message, tc.wantMsg) {
					t.Errorf("message %q does not name %q", resp.Errors[0].Message, tc.wantMsg)
				}
				if after := e.counts(); !reflect.DeepEqual(after, before) {
					t.Errorf("rows changed: %v -> %v", before, after)
				}
			})
		}
	})
}

func TestUploadOverLimitIsRefusedWhileReading(t *testing.T) {
	fixture := readFixture(t, "ethox-network-20.json")
	limit := int64(len(fixture)) // the multipart envelope pushes the request over it
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, func(o *api.Options) { o.MaxUploadBytes = limit })
		for _, chunked := range []bool{false, true} {
			ct, body := multipartBody(t, uploadMutation, nil, fixture, "network.json")
			req := newPost(t, e.url, ct, body, chunked)
			resp := e.send(req)
			if resp.code() != "BAD_USER_INPUT" || !strings.Contains(resp.Errors[0].Message, "MAX_UPLOAD_BYTES") {
				t.Fatalf("chunked=%v: status %d errors %+v", chunked, resp.Status, resp.Errors)
			}
		}
		if c := e.counts(); c["networks"] != 0 {
			t.Errorf("an oversized upload wrote %v", c)
		}
	})
}

func TestUnparsableQueryIsBadUserInput(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, q := range []string{`{ graph { nodes { agentId }`, `{ graph { noSuchField } }`, `query { graph(networkId: "x") { nodes { agentId } } }`} {
		resp := e.query(q, nil)
		if resp.code() != "BAD_USER_INPUT" {
			t.Errorf("%s: code %q, errors %+v", q, resp.code(), resp.Errors)
		}
	}
}

func TestGraphWithoutNetworkIsEmpty(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		var got graphResult
		e.query(graphQuery, nil).decode(t, &got)
		if got.Graph.Network != nil || len(got.Graph.Nodes) != 0 || len(got.Graph.Edges) != 0 || got.Graph.Metadata.NodeCount != 0 {
			t.Fatalf("graph = %+v", got.Graph)
		}
		resp := e.query(graphQuery, map[string]any{"id": "12884901999"})
		if resp.code() != "NOT_FOUND" {
			t.Fatalf("unknown network: %+v", resp.Errors)
		}
	})
}

func TestAgentDetail(t *testing.T) {
	raw := readFixture(t, "ethox-network-20.json")
	var fixture struct {
		Nodes []struct {
			AgentID string `json:"agent_id"`
			Degree  int    `json:"degree"`
		} `json:"nodes"`
		Edges []struct {
			Source, Target string
			Weight         float64
		} `json:"edges"`
	}
	if err := json.Unmarshal(raw, &fixture); err != nil {
		t.Fatal(err)
	}
	// Expected neighbours of agent "0", computed from the file itself.
	want := map[string]float64{}
	degree := map[string]int{}
	for _, n := range fixture.Nodes {
		degree[n.AgentID] = n.Degree
	}
	for _, ed := range fixture.Edges {
		switch "0" {
		case ed.Source:
			want[ed.Target] = ed.Weight
		case ed.Target:
			want[ed.Source] = ed.Weight
		}
	}
	const q = `query($a: String!) { agent(agentId: $a) { node { agentId degree gender } neighbors { agentId weight degree } } }`
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.mustUpload(raw, "")
		var got struct {
			Agent struct {
				Node struct {
					AgentID string `json:"agentId"`
					Degree  int    `json:"degree"`
				} `json:"node"`
				Neighbors []struct {
					AgentID string  `json:"agentId"`
					Weight  float64 `json:"weight"`
					Degree  int     `json:"degree"`
				} `json:"neighbors"`
			} `json:"agent"`
		}
		e.query(q, map[string]any{"a": "0"}).decode(t, &got)
		if got.Agent.Node.AgentID != "0" || got.Agent.Node.Degree != 9 || len(got.Agent.Neighbors) != len(want) {
			t.Fatalf("agent = %+v, want %d neighbours", got.Agent, len(want))
		}
		prev := math.Inf(1)
		for _, nb := range got.Agent.Neighbors {
			if w, ok := want[nb.AgentID]; !ok || w != nb.Weight || degree[nb.AgentID] != nb.Degree {
				t.Errorf("neighbour %+v not in the file (want weight %v degree %d)", nb, w, degree[nb.AgentID])
			}
			if nb.Weight > prev {
				t.Errorf("neighbours not sorted by weight")
			}
			prev = nb.Weight
		}
		resp := e.query(q, map[string]any{"a": "nobody"})
		if resp.code() != "NOT_FOUND" || string(resp.Data) != `{"agent":null}` || !strings.Contains(resp.Errors[0].Message, "nobody") {
			t.Fatalf("unknown agent: data %s errors %+v", resp.Data, resp.Errors)
		}
	})
}

func TestImportGraphTypedInput(t *testing.T) {
	const m = `mutation($in: GraphInput!) { importGraph(input: $in, name: "typed") { network { id nodeCount edgeCount } metadata { traitKeys } } }`
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		in := map[string]any{
			"nodes": []any{
				map[string]any{"agentId": 1, "traits": map[string]any{"Trust": 0.5}, "gender": "female", "attributes": map[string]any{"x": 1}},
				map[string]any{"agentId": "b", "age": 40},
			},
			"edges": []any{map[string]any{"source": 1, "target": "b", "weight": 0.5}},
		}
		var got struct {
			ImportGraph struct {
				Network struct {
					ID        string `json:"id"`
					NodeCount int    `json:"nodeCount"`
					EdgeCount int    `json:"edgeCount"`
				} `json:"network"`
				Metadata struct {
					TraitKeys []string `json:"traitKeys"`
				} `json:"metadata"`
			} `json:"importGraph"`
		}
		e.query(m, map[string]any{"in": in}).decode(t, &got)
		if got.ImportGraph.Network.NodeCount != 2 || got.ImportGraph.Network.EdgeCount != 1 || !reflect.DeepEqual(got.ImportGraph.Metadata.TraitKeys, []string{"Trust"}) {
			t.Fatalf("import = %+v", got.ImportGraph)
		}
		var g graphResult
		e.query(graphQuery, nil).decode(t, &g)
		if g.Graph.Nodes[0]["agentId"] != "1" || g.Graph.Edges[0].Target != "b" {
			t.Fatalf("graph = %+v", g.Graph)
		}
		before := e.counts()
		bad := map[string]any{"nodes": []any{map[string]any{"agentId": "a"}}, "edges": []any{map[string]any{"source": "a", "target": "zz"}}}
		resp := e.query(m, map[string]any{"in": bad})
		if resp.code() != "BAD_USER_INPUT" || !strings.Contains(resp.Errors[0].Message, `edges[0].target "zz" is not a node`) {
			t.Fatalf("bad import: %+v", resp.Errors)
		}
		if after := e.counts(); !reflect.DeepEqual(before, after) {
			t.Errorf("rows changed: %v -> %v", before, after)
		}
		nan := map[string]any{"nodes": []any{map[string]any{"agentId": "a", "traits": map[string]any{"Trust": "x"}}}, "edges": []any{}}
		if resp := e.query(m, map[string]any{"in": nan}); resp.code() != "BAD_USER_INPUT" {
			t.Fatalf("bad trait: %+v", resp.Errors)
		}
	})
}

func TestDeleteNetworkAndDefault(t *testing.T) {
	raw := readFixture(t, "ethox-network-20.json")
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		first := e.mustUpload(raw, "first").UploadGraph.Network.ID
		second := e.mustUpload(raw, "second").UploadGraph.Network.ID
		var def struct {
			DefaultNetwork struct{ ID, Name string } `json:"defaultNetwork"`
		}
		e.query(`{ defaultNetwork { id name } }`, nil).decode(t, &def)
		if def.DefaultNetwork.ID != second {
			t.Fatalf("default = %+v, want the latest upload %s", def, second)
		}
		// The older network is intact.
		var g graphResult
		e.query(graphQuery, map[string]any{"id": first}).decode(t, &g)
		if len(g.Graph.Nodes) != 20 || len(g.Graph.Edges) != 52 {
			t.Fatalf("first network changed: %d nodes", len(g.Graph.Nodes))
		}
		var del struct {
			DeleteNetwork struct {
				DeletedID      string `json:"deletedId"`
				DefaultNetwork struct{ ID string }
			} `json:"deleteNetwork"`
		}
		e.query(`mutation($id: ID!) { deleteNetwork(id: $id) { deletedId defaultNetwork { id } } }`, map[string]any{"id": second}).decode(t, &del)
		if del.DeleteNetwork.DeletedID != second || del.DeleteNetwork.DefaultNetwork.ID != first {
			t.Fatalf("delete = %+v", del)
		}
		// Hidden at once from every read, and no run can start on it.
		for _, q := range []string{
			`query($id: ID!) { graph(networkId: $id) { metadata { nodeCount } } }`,
			`query($id: ID!) { agent(agentId: "0", networkId: $id) { node { agentId } } }`,
			`query($id: ID!) { node(id: $id) { id } }`,
			`mutation($id: ID!) { runSimulation(input: {trigger: "x", engine: DEGROOT, rounds: 1, networkId: $id}) { id } }`,
			`mutation($id: ID!) { setDefaultNetwork(id: $id) { id } }`,
		} {
			resp := e.query(q, map[string]any{"id": second})
			if resp.code() != "NOT_FOUND" && !(strings.Contains(q, "node(") && string(resp.Data) == `{"node":null}`) {
				t.Errorf("%s on a deleted network: %s %+v, want NOT_FOUND", q, resp.Data, resp.Errors)
			}
		}
		var list struct {
			Networks struct {
				TotalCount int
				Edges      []struct{ Node struct{ ID string } }
			}
		}
		e.query(`{ networks(first: 10) { totalCount edges { node { id } } } }`, nil).decode(t, &list)
		if list.Networks.TotalCount != 1 || len(list.Networks.Edges) != 1 || list.Networks.Edges[0].Node.ID != first {
			t.Errorf("networks after delete: %+v", list)
		}
		// Purged by a background job.
		testwait.Until(t, 30*time.Second, 20*time.Millisecond, func() (bool, string) {
			c := e.counts()
			return c["networks"] == 1 && c["agents"] == 20 && c["ties"] == 52, fmt.Sprintf("not purged: %v", c)
		})
		resp := e.query(`mutation($id: ID!) { deleteNetwork(id: $id) { deletedId } }`, map[string]any{"id": second})
		if resp.code() != "NOT_FOUND" {
			t.Fatalf("second delete: %+v", resp.Errors)
		}
	})
}
