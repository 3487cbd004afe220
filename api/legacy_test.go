package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/api"
	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/simulation"
)

// The prototype's REST API (legacyapi), served by the real server over real
// databases, with the fake LLM behind the real go-openai client. Shapes are
// checked against the prototype's own data in testdata/.

type restResp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r restResp) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("status %d, not JSON: %v: %.300s", r.Status, err, r.Body)
	}
}

// detail is the {"detail": …} of an error answer.
func (r restResp) detail(t testing.TB) string {
	t.Helper()
	var d map[string]any
	r.decode(t, &d)
	s, ok := d["detail"].(string)
	if !ok || len(d) != 1 {
		t.Fatalf("status %d: not a {detail} answer: %s", r.Status, r.Body)
	}
	return s
}

func (e *env) rest(method, path, contentType string, body io.Reader, header ...string) restResp {
	e.t.Helper()
	return e.restCtx(context.Background(), method, path, contentType, body, header...)
}

func (e *env) restCtx(ctx context.Context, method, path, contentType string, body io.Reader, header ...string) restResp {
	e.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return restResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (e *env) restJSON(path string, v any, header ...string) restResp {
	e.t.Helper()
	b, _ := json.Marshal(v)
	return e.rest(http.MethodPost, path, "application/json", bytes.NewReader(b), header...)
}

// fileForm is the prototype client's upload: FormData with the file under "file".
func fileForm(t testing.TB, field, filename string, data []byte) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, filename)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(data)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), &buf
}

func (e *env) restUpload(data []byte, header ...string) restResp {
	e.t.Helper()
	ct, body := fileForm(e.t, "file", "network.json", data)
	return e.rest(http.MethodPost, "/api/graph/upload/", ct, body, header...)
}

// prototypeNetwork is testdata's network.json, decoded.
type protoNetwork struct {
	Nodes []map[string]any `json:"nodes"`
	Edges []map[string]any `json:"edges"`
}

func readProtoNetwork(t testing.TB) protoNetwork {
	var n protoNetwork
	if err := json.Unmarshal(readFixture(t, fixtures.Network20), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func edgeKey(e map[string]any) string {
	return fmt.Sprint(e["source"], "→", e["target"], "=", e["weight"])
}

func TestLegacyGraphNodesUpload(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		// No network yet: an empty graph, not an error; no node.
		r := e.rest(http.MethodGet, "/api/graph/", "", nil)
		if r.Status != http.StatusOK || string(r.Body) != `{"nodes":[],"edges":[],"metadata":{"node_count":0,"edge_count":0,"trait_keys":[]}}` {
			t.Fatalf("empty graph: %d %s", r.Status, r.Body)
		}
		if r = e.rest(http.MethodGet, "/api/nodes/0/", "", nil); r.Status != http.StatusNotFound || r.detail(t) != "Not found." {
			t.Fatalf("node without network: %d %s", r.Status, r.Body)
		}

		proto := readProtoNetwork(t)
		r = e.restUpload(readFixture(t, fixtures.Network20))
		var up struct {
			Detail   string
			Metadata struct {
				NodeCount int      `json:"node_count"`
				EdgeCount int      `json:"edge_count"`
				TraitKeys []string `json:"trait_keys"`
			}
		}
		r.decode(t, &up)
		if r.Status != http.StatusOK || up.Detail != "Graph uploaded successfully." || up.Metadata.NodeCount != 20 ||
			up.Metadata.EdgeCount != 52 || len(up.Metadata.TraitKeys) != 15 || !slices.IsSorted(up.Metadata.TraitKeys) {
			t.Fatalf("upload: %d %s", r.Status, r.Body)
		}

		// The graph comes back exactly as the prototype's network.json held it.
		var g struct {
			Nodes    []map[string]any `json:"nodes"`
			Edges    []map[string]any `json:"edges"`
			Metadata map[string]any   `json:"metadata"`
		}
		r = e.rest(http.MethodGet, "/api/graph/", "", nil)
		r.decode(t, &g)
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("graph: %d %v", r.Status, r.Header)
		}
		if !reflect.DeepEqual(g.Nodes, proto.Nodes) {
			t.Fatalf("nodes differ from the prototype's network.json:\n got %v\nwant %v", g.Nodes[0], proto.Nodes[0])
		}
		got, want := make([]string, len(g.Edges)), make([]string, len(proto.Edges))
		for i := range g.Edges {
			got[i] = edgeKey(g.Edges[i])
			if len(g.Edges[i]) != 3 {
				t.Fatalf("edge %v", g.Edges[i])
			}
		}
		for i := range proto.Edges {
			want[i] = edgeKey(proto.Edges[i])
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Fatalf("edges differ")
		}
		if len(g.Metadata) != 3 || g.Metadata["node_count"] != 20.0 || g.Metadata["edge_count"] != 52.0 {
			t.Fatalf("metadata %v", g.Metadata)
		}

		// One node with its neighbours, computed here from the prototype's file.
		var d struct {
			Node      map[string]any `json:"node"`
			Neighbors []struct {
				AgentID string  `json:"agent_id"`
				Weight  float64 `json:"weight"`
				Degree  int     `json:"degree"`
			} `json:"neighbors"`
		}
		r = e.rest(http.MethodGet, "/api/nodes/0/", "", nil)
		r.decode(t, &d)
		if r.Status != http.StatusOK || !reflect.DeepEqual(d.Node, proto.Nodes[0]) {
			t.Fatalf("node 0: %d %s", r.Status, r.Body)
		}
		degree := map[string]int{}
		for _, n := range proto.Nodes {
			degree[n["agent_id"].(string)] = int(n["degree"].(float64))
		}
		wantNb := map[string]float64{}
		for _, ed := range proto.Edges {
			switch "0" {
			case ed["source"]:
				wantNb[ed["target"].(string)] += ed["weight"].(float64)
			case ed["target"]:
				wantNb[ed["source"].(string)] += ed["weight"].(float64)
			}
		}
		if len(d.Neighbors) != len(wantNb) || len(d.Neighbors) != degree["0"] {
			t.Fatalf("neighbors %+v, want %v", d.Neighbors, wantNb)
		}
		for i, nb := range d.Neighbors {
			if w, ok := wantNb[nb.AgentID]; !ok || w != nb.Weight || nb.Degree != degree[nb.AgentID] ||
				(i > 0 && nb.Weight > d.Neighbors[i-1].Weight) {
				t.Fatalf("neighbor %d %+v", i, nb)
			}
		}
		for _, path := range []string{"/api/nodes/nobody/", "/api/nodes/a%2Fb/", "/api/nodes/%00/", "/api/nodes/%ff/"} {
			if r = e.rest(http.MethodGet, path, "", nil); r.Status != http.StatusNotFound || r.detail(t) != "Not found." {
				t.Fatalf("%s: %d %s", path, r.Status, r.Body)
			}
		}

		// The upload is an ordinary network: GraphQL reads it, named after the file.
		var q struct {
			DefaultNetwork struct {
				Name      string
				Source    string
				NodeCount int
			}
			Agent struct{ Neighbors []struct{ AgentID string } }
		}
		e.query(`{ defaultNetwork { name source nodeCount } agent(agentId: "0") { neighbors { agentId } } }`, nil).decode(t, &q)
		if q.DefaultNetwork.Name != "network.json" || q.DefaultNetwork.Source != "UPLOADED" || q.DefaultNetwork.NodeCount != 20 ||
			len(q.Agent.Neighbors) != len(d.Neighbors) || q.Agent.Neighbors[0].AgentID != d.Neighbors[0].AgentID {
			t.Fatalf("GraphQL view of the REST upload: %+v", q)
		}

		// The reverse: an upload through GraphQL becomes what /api/graph/ serves.
		e.mustUpload([]byte(tinyGraph), "tiny")
		r = e.rest(http.MethodGet, "/api/graph/", "", nil)
		r.decode(t, &g)
		if len(g.Nodes) != 3 || g.Nodes[0]["agent_id"] != "a" || g.Metadata["edge_count"] != 2.0 {
			t.Fatalf("graph after a GraphQL upload: %s", r.Body)
		}
		if r = e.rest(http.MethodGet, "/api/nodes/b/", "", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"agent_id":"c"`) {
			t.Fatalf("node b: %d %s", r.Status, r.Body)
		}
	})
}

func TestLegacyUploadErrors(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.MaxUploadBytes = 64 << 10 })
	before := e.counts()
	noFile := "No file provided. Use form key 'file'."
	ct, wrongField := fileForm(t, "upload", "network.json", []byte(tinyGraph))
	for name, r := range map[string]restResp{
		"other field": e.rest(http.MethodPost, "/api/graph/upload/", ct, wrongField),
		"json body":   e.rest(http.MethodPost, "/api/graph/upload/", "application/json", strings.NewReader(tinyGraph)),
		"empty":       e.rest(http.MethodPost, "/api/graph/upload/", "", nil),
	} {
		if r.Status != http.StatusBadRequest || r.detail(t) != noFile {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	// The same validation as uploadGraph, with the same message.
	for _, bad := range []string{
		`{"nodes": [{"agent_id": "a"}], "edges": [{"source": "a", "target": "zz"}]}`,
		`{"nodes": [`,
		`[1, 2]`,
		`{"nodes": [{"agent_id": "a", "traits": {"x": "high"}}], "edges": []}`,
	} {
		r := e.restUpload([]byte(bad))
		gql := e.upload([]byte(bad), "")
		if r.Status != http.StatusBadRequest || gql.code() != "BAD_USER_INPUT" || r.detail(t) != gql.Errors[0].Message {
			t.Errorf("%s: REST %d %s; GraphQL %+v", bad, r.Status, r.Body, gql.Errors)
		}
	}
	// MAX_UPLOAD_BYTES, announced or streamed.
	big := bytes.Repeat([]byte(" "), 70<<10)
	if r := e.restUpload(big); r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(r.detail(t), "MAX_UPLOAD_BYTES") {
		t.Errorf("too large: %d %s", r.Status, r.Body)
	}
	ct, body := fileForm(t, "file", "n.json", big)
	req, _ := http.NewRequest(http.MethodPost, e.url+"/api/graph/upload/", io.MultiReader(body))
	req.ContentLength = -1
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "MAX_UPLOAD_BYTES") {
		t.Errorf("chunked too large: %d %s", resp.StatusCode, b)
	}
	if after := e.counts(); !reflect.DeepEqual(after, before) {
		t.Fatalf("refused uploads wrote rows: %v → %v", before, after)
	}
}

// MAX_CONCURRENT_IMPORTS applies as to uploadGraph: the slot is the store's.
func TestLegacyUploadConcurrencyLimit(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.Graphs.SetLimits(graphstore.Limits{Concurrent: 1}) })
	release := holdImportSlot(t, e)
	r := e.restUpload([]byte(tinyGraph))
	if r.Status != http.StatusTooManyRequests || !strings.Contains(r.detail(t), "MAX_CONCURRENT_IMPORTS") {
		t.Fatalf("upload past the limit: %d %s", r.Status, r.Body)
	}
	release()
	if r = e.restUpload([]byte(tinyGraph)); r.Status != http.StatusOK {
		t.Fatalf("upload after: %d %s", r.Status, r.Body)
	}
}

// holdImportSlot takes the store's one import slot with an import whose
// file never arrives, until release.
func holdImportSlot(t *testing.T, e *env) (release func()) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = e.opts.Graphs.ImportFile(context.Background(), pr, graphstore.ImportOptions{Name: "held"})
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, err := e.opts.Graphs.ImportFile(context.Background(), strings.NewReader(""), graphstore.ImportOptions{Name: "probe"})
		if apperr.KindOf(err) == apperr.RateLimited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the import slot was never taken")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func() {
		_ = pw.CloseWithError(io.ErrUnexpectedEOF)
		<-done
	}
}

// simGraph is a graph of the run endpoint's graphs, decoded loosely: the test
// compares JSON types with the prototype's.
type simGraph struct {
	Nodes []map[string]any `json:"nodes"`
	Edges []map[string]any `json:"edges"`
}

type runResp struct {
	SimulationID     any      `json:"simulation_id"`
	InitialGraph     simGraph `json:"initial_graph"`
	PostTriggerGraph simGraph `json:"post_trigger_graph"`
	FinalGraph       simGraph `json:"final_graph"`
}

func jsonType(v any) string {
	switch v.(type) {
	case float64:
		return "number"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func TestLegacyRunAndReport(t *testing.T) {
	var protoResult struct {
		Trigger string           `json:"trigger"`
		Agents  []map[string]any `json:"agents"`
	}
	if err := json.Unmarshal(readFixture(t, fixtures.ResultA), &protoResult); err != nil {
		t.Fatal(err)
	}
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		r := e.restJSON("/api/simulations/run/", map[string]any{"trigger": "  " + protoResult.Trigger + " ", "num_agents": 6})
		if r.Status != http.StatusOK {
			t.Fatalf("run: %d %s", r.Status, r.Body)
		}
		var top map[string]json.RawMessage
		r.decode(t, &top)
		if len(top) != 4 {
			t.Fatalf("run answer keys: %v", top)
		}
		var out runResp
		r.decode(t, &out)
		id, ok := out.SimulationID.(string)
		if !ok || id == "" {
			t.Fatalf("simulation_id %v", out.SimulationID)
		}

		// Every field of the prototype's final agents, with the same JSON type.
		for name, g := range map[string]simGraph{"initial": out.InitialGraph, "post_trigger": out.PostTriggerGraph, "final": out.FinalGraph} {
			if len(g.Nodes) != 6 || len(g.Edges) == 0 {
				t.Fatalf("%s graph: %d nodes, %d edges", name, len(g.Nodes), len(g.Edges))
			}
			for i, n := range g.Nodes {
				if n["agent_id"] != float64(i) {
					t.Fatalf("%s node %d: agent_id %#v", name, i, n["agent_id"])
				}
				for key, v := range protoResult.Agents[0] {
					has, ok := n[key]
					stage := strings.HasPrefix(key, "initial_") || key == "text_opinion" || key == "level_of_care" || key == "effect_on_usage"
					switch {
					case name == "initial" && stage, name == "post_trigger" && strings.HasPrefix(key, "initial_"):
						if ok {
							t.Fatalf("%s node %d has %s", name, i, key)
						}
					case !ok || jsonType(has) != jsonType(v):
						t.Fatalf("%s node %d: %s = %#v, the prototype's is %#v", name, i, key, has, v)
					}
				}
				if name != "initial" {
					care := n["level_of_care"].(float64)
					if care < 0 || care > 1 || n["text_opinion"] == "" {
						t.Fatalf("%s node %d: %v", name, i, n)
					}
				}
			}
			for _, ed := range g.Edges {
				if jsonType(ed["source"]) != "number" || jsonType(ed["target"]) != "number" || jsonType(ed["weight"]) != "number" || len(ed) != 3 {
					t.Fatalf("%s edge %v", name, ed)
				}
			}
		}
		f0, p0 := out.FinalGraph.Nodes[0], out.PostTriggerGraph.Nodes[0]
		if f0["initial_opinion"] != p0["text_opinion"] || f0["initial_level_of_care"] != p0["level_of_care"] || f0["initial_effect_on_usage"] != p0["effect_on_usage"] {
			t.Fatalf("final's initial_* is not stage 0: %v / %v", f0, p0)
		}

		// An ordinary durable run: GraphQL shows it, with the same final graph.
		var q struct {
			Simulation struct {
				Status, Engine, Trigger string
				Progress                struct{ Rounds int }
				FinalGraph              struct {
					Nodes []struct {
						AgentID     string   `json:"agentId"`
						LevelOfCare *float64 `json:"levelOfCare"`
						TextOpinion *string  `json:"textOpinion"`
					}
				}
			}
		}
		e.query(`query($id: ID!) { simulation(id: $id) { status engine trigger progress { rounds }
			finalGraph { nodes { agentId levelOfCare textOpinion } } } }`, map[string]any{"id": id}).decode(t, &q)
		s := q.Simulation
		if s.Status != "SUCCEEDED" || s.Engine != "LLM" || s.Progress.Rounds != 1 || s.Trigger != protoResult.Trigger || len(s.FinalGraph.Nodes) != 6 {
			t.Fatalf("GraphQL view of the run: %+v", s)
		}
		for i, n := range s.FinalGraph.Nodes {
			if fmt.Sprint(i) != n.AgentID || *n.LevelOfCare != out.FinalGraph.Nodes[i]["level_of_care"] || *n.TextOpinion != out.FinalGraph.Nodes[i]["text_opinion"] {
				t.Fatalf("node %d: GraphQL %+v, REST %v", i, n, out.FinalGraph.Nodes[i])
			}
		}

		// No report yet.
		if r = e.rest(http.MethodGet, "/api/simulations/report/?simulation_id="+id, "", nil); r.Status != http.StatusNotFound {
			t.Fatalf("latest report before any: %d %s", r.Status, r.Body)
		}
		// A report, as generateReport makes it, for the id the run gave (a string, as the prototype's client sends it).
		r = e.restJSON("/api/simulations/report/", map[string]any{"simulation_id": id, "trigger": protoResult.Trigger, "include_initial": true})
		var rep map[string]any
		r.decode(t, &rep)
		if r.Status != http.StatusOK || len(rep) != 4 || rep["simulation_id"] != id || rep["report_text"] == "" {
			t.Fatalf("report: %d %s", r.Status, r.Body)
		}
		var meanCare, meanSupport float64
		if err := e.db.SQL.QueryRow(`SELECT AVG(care), AVG(support) FROM agent_states WHERE simulation_id = `+e.db.Placeholder(1)+` AND round = 1`,
			idInt(t, id)).Scan(&meanCare, &meanSupport); err != nil {
			t.Fatal(err)
		}
		if rep["care_score_100"] != math.Round(meanCare*10) || rep["change_in_support_50"] != math.Round(meanSupport*10) {
			t.Fatalf("report numbers %v, mean care %v support %v", rep, meanCare, meanSupport)
		}
		var gq struct {
			Simulation struct {
				Report struct {
					Version           int
					IncludeInitial    bool
					CareScore100      int
					ChangeInSupport50 int
					ReportText        string
				}
			}
		}
		e.query(`query($id: ID!) { simulation(id: $id) { report { version includeInitial careScore100 changeInSupport50 reportText } } }`,
			map[string]any{"id": id}).decode(t, &gq)
		if g := gq.Simulation.Report; g.Version != 1 || !g.IncludeInitial || float64(g.CareScore100) != rep["care_score_100"] || g.ReportText != rep["report_text"] {
			t.Fatalf("GraphQL report %+v, REST %v", g, rep)
		}
		// A number is accepted too; the latest report is served by GET.
		if r = e.restJSON("/api/simulations/report/", map[string]any{"simulation_id": idInt(t, id)}); r.Status != http.StatusOK {
			t.Fatalf("report by number: %d %s", r.Status, r.Body)
		}
		var latest map[string]any
		r = e.rest(http.MethodGet, "/api/simulations/report/?simulation_id="+id, "", nil)
		r.decode(t, &latest)
		if r.Status != http.StatusOK || latest["simulation_id"] != id || latest["include_initial"] != false || latest["report_text"] == "" {
			t.Fatalf("latest report: %d %s", r.Status, r.Body)
		}

		// The reverse round trip: a run started through GraphQL, reported through REST.
		var run struct{ RunSimulation struct{ ID string } }
		e.query(`mutation { runSimulation(input: {trigger: "Over GraphQL.", engine: DEGROOT, rounds: 2}) { id } }`, nil).decode(t, &run)
		waitDone(t, e, run.RunSimulation.ID)
		if r = e.restJSON("/api/simulations/report/", map[string]any{"simulation_id": run.RunSimulation.ID}); r.Status != http.StatusOK {
			t.Fatalf("REST report of a GraphQL run: %d %s", r.Status, r.Body)
		}
	})
}

func TestLegacyRunErrors(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.MaxBodyBytes = 4 << 10
		o.Sims.Graphs().SetLimits(graphstore.Limits{MaxGenerateAgents: 100})
	})
	cases := []struct {
		body   string
		status int
		detail string
	}{
		{`{"num_agents": 3}`, 400, "Missing 'trigger' field."},
		{`{"trigger": null, "num_agents": 3}`, 400, "Missing 'trigger' field."},
		{`{"trigger": "   ", "num_agents": 3}`, 400, "'trigger' must be non-empty."},
		{`{"trigger": 7, "num_agents": 3}`, 400, "'trigger' must be a string."},
		{`{"trigger": "x"}`, 400, "Missing 'num_agents' field."},
		{`{"trigger": "x", "num_agents": "many"}`, 400, "'num_agents' must be an integer."},
		{`{"trigger": "x", "num_agents": 2.5}`, 400, "'num_agents' must be an integer."},
		{`{"trigger": "x", "num_agents": true}`, 400, "'num_agents' must be an integer."},
		{`{"trigger": "x", "num_agents": 0}`, 400, "'num_agents' must be at least 1."},
		{`{"trigger": "x", "num_agents": -4}`, 400, "'num_agents' must be at least 1."},
		{`{"trigger": "x", "num_agents": 1e12}`, 400, "'num_agents' must be at most 2147483647."},
		{`{"trigger": "x", "num_agents": 101}`, 400, "MAX_GENERATE_AGENTS"},
		{`[{"trigger": "x", "num_agents": 3}]`, 400, "Request body must be JSON object."},
		{`{"trigger": "x", "num_agents": 3`, 400, "Request body must be JSON object."},
		{`null`, 400, "Request body must be JSON object."},
		{`{"trigger": "` + strings.Repeat("x", 5000) + `", "num_agents": 3}`, 413, "MAX_BODY_BYTES"},
	}
	for _, tc := range cases {
		r := e.rest(http.MethodPost, "/api/simulations/run/", "application/json", strings.NewReader(tc.body))
		if r.Status != tc.status || !strings.Contains(r.detail(t), tc.detail) {
			t.Errorf("%.60s: %d %s, want %d %q", tc.body, r.Status, r.Body, tc.status, tc.detail)
		}
	}
	var n int
	_ = e.db.SQL.QueryRow("SELECT COUNT(*) FROM simulations").Scan(&n)
	if c := e.counts(); n != 0 || c["networks"] != 0 {
		t.Fatalf("refused runs wrote %d simulations, %v", n, c)
	}

	// Without an LLM: 503, saying what to set, before any population is made.
	noLLM := newEnv(t, "sqlite", func(o *api.Options) {
		sims, err := simulation.New(o.DB, nil, simulation.Config{Workers: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		o.Sims = sims
	})
	r := noLLM.restJSON("/api/simulations/run/", map[string]any{"trigger": "x", "num_agents": 3})
	if d := r.detail(t); r.Status != http.StatusServiceUnavailable || !strings.Contains(d, "OPENAI_API_KEY") || !strings.Contains(d, "OPENAI_BASE_URL") {
		t.Fatalf("no LLM: %d %s", r.Status, r.Body)
	}
	if c := noLLM.counts(); c["networks"] != 0 {
		t.Fatalf("a refused run generated a population: %v", c)
	}
}

func TestLegacyReportErrors(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, tc := range []struct {
		body   any
		status int
		detail string
	}{
		{map[string]any{}, 400, "Missing or invalid 'simulation_id'."},
		{map[string]any{"simulation_id": ""}, 400, "Missing or invalid 'simulation_id'."},
		{map[string]any{"simulation_id": true}, 400, "Missing or invalid 'simulation_id'."},
		{map[string]any{"simulation_id": "21474836999"}, 404, "Simulation not found or expired."},
		{map[string]any{"simulation_id": 21474836999}, 404, "Simulation not found or expired."},
		{map[string]any{"simulation_id": "7d3c9c1e-2b0a-4f5e-9a43-1b2c3d4e5f60"}, 404, "Simulation not found or expired."},
		{map[string]any{"simulation_id": "1", "include_initial": "yes"}, 400, "'include_initial' must be a boolean."},
		{[]int{1}, 400, "Request body must be JSON object."},
	} {
		r := e.restJSON("/api/simulations/report/", tc.body)
		if r.Status != tc.status || r.detail(t) != tc.detail {
			t.Errorf("%v: %d %s", tc.body, r.Status, r.Body)
		}
	}
	for q, want := range map[string]int{"": 400, "?simulation_id=": 400, "?simulation_id=21474836999": 404, "?simulation_id=abc": 404} {
		if r := e.rest(http.MethodGet, "/api/simulations/report/"+q, "", nil); r.Status != want {
			t.Errorf("GET report%s: %d %s", q, r.Status, r.Body)
		}
	}
}

// Unknown paths, other methods and a missing trailing slash answer in JSON.
func TestLegacyRouting(t *testing.T) {
	e := newEnv(t, "sqlite")
	r := e.rest(http.MethodPost, "/api/graph/", "application/json", strings.NewReader("{}"))
	if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET" || r.detail(t) != `Method "POST" not allowed.` {
		t.Fatalf("POST /api/graph/: %d %v %s", r.Status, r.Header, r.Body)
	}
	if r = e.rest(http.MethodGet, "/api/simulations/run/", "", nil); r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
		t.Fatalf("GET run: %d %v", r.Status, r.Header)
	}
	// A missing trailing slash is redirected, keeping the method (307).
	for path, want := range map[string]string{"/api/graph": "/api/graph/", "/api/nodes/7?x=1": "/api/nodes/7/?x=1"} {
		if r = e.rest(http.MethodGet, path, "", nil); r.Status != http.StatusTemporaryRedirect || r.Header.Get("Location") != want {
			t.Fatalf("%s: %d %v", path, r.Status, r.Header)
		}
	}
	if r = e.rest(http.MethodPost, "/api/simulations/run", "application/json", strings.NewReader("{}")); r.Status != http.StatusTemporaryRedirect {
		t.Fatalf("POST without slash: %d %v", r.Status, r.Header)
	}
	for _, p := range []string{"/api/", "/api/nope/", "/api/graph/extra/"} {
		if r = e.rest(http.MethodGet, p, "", nil); r.Status != http.StatusNotFound || r.detail(t) != "Not found." {
			t.Fatalf("%s: %d %s", p, r.Status, r.Body)
		}
	}
}

// Tokens and roles as GraphQL's; uploads, runs and reports share the
// GraphQL mutation and run budgets.
func TestLegacyAuthAndLimits(t *testing.T) {
	e := newEnv(t, "sqlite", withAuth(t, true), func(o *api.Options) {
		o.MutationRate = api.RateLimit{PerMinute: 6, Burst: 3}
		o.RunRate = api.RateLimit{PerMinute: 1, Burst: 1}
	})
	auth := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	if r := e.rest(http.MethodGet, "/api/graph/", "", nil); r.Status != http.StatusUnauthorized || !strings.Contains(r.detail(t), "reader") {
		t.Fatalf("read without token: %d %s", r.Status, r.Body)
	}
	if r := e.rest(http.MethodGet, "/api/graph/", "", nil, auth(readerToken)...); r.Status != http.StatusOK {
		t.Fatalf("read as reader: %d %s", r.Status, r.Body)
	}
	if r := e.rest(http.MethodGet, "/api/nodes/0/", "", nil, auth("wrong-token-0123456789")...); r.Status != http.StatusUnauthorized {
		t.Fatalf("bad token: %d %s", r.Status, r.Body)
	}
	if r := e.restUpload([]byte(tinyGraph)); r.Status != http.StatusUnauthorized {
		t.Fatalf("upload without token: %d %s", r.Status, r.Body)
	}
	if r := e.restUpload([]byte(tinyGraph), auth(readerToken)...); r.Status != http.StatusForbidden || !strings.Contains(r.detail(t), "writer") {
		t.Fatalf("upload as reader: %d %s", r.Status, r.Body)
	}
	if r := e.restJSON("/api/simulations/run/", map[string]any{"trigger": "x", "num_agents": 2}, auth(readerToken)...); r.Status != http.StatusForbidden {
		t.Fatalf("run as reader: %d %s", r.Status, r.Body)
	}
	if c := e.counts(); c["networks"] != 0 {
		t.Fatalf("refused requests wrote: %v", c)
	}
	// Mutations: one REST upload, then GraphQL and REST draw on the same burst of 3.
	if r := e.restUpload([]byte(tinyGraph), auth(writerToken)...); r.Status != http.StatusOK {
		t.Fatalf("upload as writer: %d %s", r.Status, r.Body)
	}
	// Runs: one report (REST) spends the run budget of 1; GraphQL's generateReport is refused after it, and so is REST's.
	r := e.restJSON("/api/simulations/report/", map[string]any{"simulation_id": "21474836999"}, auth(writerToken)...)
	if r.Status != http.StatusNotFound {
		t.Fatalf("report: %d %s", r.Status, r.Body)
	}
	if g := e.queryAs(writerToken, mutationCases["generateReport"].doc, nil); g.code() != "RATE_LIMITED" {
		t.Fatalf("GraphQL report after a REST one: %+v", g.Errors)
	}
	r = e.restJSON("/api/simulations/run/", map[string]any{"trigger": "x", "num_agents": 2}, auth(writerToken)...)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(r.detail(t), "runSimulation") {
		t.Fatalf("run past RATE_LIMIT_RUNS: %d %v %s", r.Status, r.Header, r.Body)
	}
	// Two mutations were spent (upload, report): the third passes, the fourth (a REST upload) is refused.
	if g := e.queryAs(writerToken, mutationCases["cancelSimulation"].doc, nil); g.code() != "NOT_FOUND" {
		t.Fatalf("third mutation: %+v", g.Errors)
	}
	if r := e.restUpload([]byte(tinyGraph), auth(writerToken)...); r.Status != http.StatusTooManyRequests {
		t.Fatalf("upload past RATE_LIMIT_MUTATIONS: %d %s", r.Status, r.Body)
	}
}

// Cross-site browser requests are refused and CORS applies, as for /query.
func TestLegacyCrossSiteAndCORS(t *testing.T) {
	e := newEnv(t, "sqlite", withOrigins(appOrigin))
	ct, body := fileForm(t, "file", "n.json", []byte(tinyGraph))
	r := e.rest(http.MethodPost, "/api/graph/upload/", ct, body, "Origin", evilOrigin, "Sec-Fetch-Site", "cross-site")
	if r.Status != http.StatusForbidden {
		t.Fatalf("cross-site upload: %d %s", r.Status, r.Body)
	}
	r = e.rest(http.MethodPost, "/api/simulations/run/", "text/plain", strings.NewReader(`{"trigger":"x","num_agents":2}`),
		"Origin", evilOrigin, "Sec-Fetch-Site", "cross-site")
	if r.Status != http.StatusForbidden {
		t.Fatalf("cross-site run: %d %s", r.Status, r.Body)
	}
	if c := e.counts(); c["networks"] != 0 {
		t.Fatalf("cross-site requests wrote: %v", c)
	}
	// Same-origin (the front end served by Ethox) and the allowed origin pass.
	ct, body = fileForm(t, "file", "n.json", []byte(tinyGraph))
	if r = e.rest(http.MethodPost, "/api/graph/upload/", ct, body, "Origin", e.url, "Sec-Fetch-Site", "same-origin"); r.Status != http.StatusOK {
		t.Fatalf("same-origin upload: %d %s", r.Status, r.Body)
	}
	r = e.rest(http.MethodGet, "/api/graph/", "", nil, "Origin", appOrigin, "Sec-Fetch-Site", "cross-site")
	if r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Fatalf("allowed origin: %d %v", r.Status, r.Header)
	}
	r = e.rest(http.MethodOptions, "/api/simulations/run/", "", nil, "Origin", appOrigin,
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if r.Status/100 != 2 || r.Header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Fatalf("preflight: %d %v", r.Status, r.Header)
	}
	r = e.rest(http.MethodGet, "/api/graph/", "", nil, "Origin", evilOrigin)
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin got CORS: %v", r.Header)
	}
}

// The request metrics carry the route pattern, never the raw path; every
// request is in the request log.
func TestLegacyMetricsByRoute(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, "sqlite", func(o *api.Options) { o.Logger = slogJSON(&logs) })
	e.rest(http.MethodGet, "/api/graph/", "", nil)
	e.rest(http.MethodGet, "/api/nodes/agent-42/", "", nil)
	e.restUpload([]byte(tinyGraph))
	e.restJSON("/api/simulations/report/", map[string]any{"simulation_id": "1"})
	e.rest(http.MethodGet, "/api/simulations/report/?simulation_id=1", "", nil)
	e.restJSON("/api/simulations/run/", map[string]any{"num_agents": 1})
	e.rest(http.MethodGet, "/api/whatever/9/", "", nil)
	_, metrics := download(t, e.url+"/metrics")
	for _, want := range []string{
		`{code="200",method="GET",route="GET /api/graph/{$}"}`,
		`{code="404",method="GET",route="GET /api/nodes/{agent_id}/{$}"}`,
		`{code="200",method="POST",route="POST /api/graph/upload/{$}"}`,
		`{code="404",method="POST",route="POST /api/simulations/report/{$}"}`,
		`{code="404",method="GET",route="GET /api/simulations/report/{$}"}`,
		`{code="400",method="POST",route="POST /api/simulations/run/{$}"}`,
		`{code="404",method="GET",route="/api/"}`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(metrics), "agent-42") || strings.Contains(string(metrics), "whatever") {
		t.Error("a raw path is in the metrics")
	}
	logged := map[string]bool{}
	for _, l := range logs.lines() {
		var rec struct{ Msg, Method, Path string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "request" {
			logged[rec.Method+" "+rec.Path] = true
		}
	}
	for _, want := range []string{"GET /api/graph/", "GET /api/nodes/agent-42/", "POST /api/graph/upload/", "POST /api/simulations/report/",
		"GET /api/simulations/report/", "POST /api/simulations/run/", "GET /api/whatever/9/"} {
		if !logged[want] {
			t.Errorf("request log lacks %s", want)
		}
	}
}

// At shutdown a waiting run request is answered, naming its run, which goes on.
func TestLegacyRunAnsweredAtShutdown(t *testing.T) {
	shutdown := make(chan struct{})
	e := newEnv(t, "sqlite", func(o *api.Options) { o.Shutdown = shutdown })
	e.fk.SetLatency(2 * time.Second)
	done := make(chan restResp, 1)
	go func() {
		done <- e.restJSON("/api/simulations/run/", map[string]any{"trigger": "Interrupted wait.", "num_agents": 2})
	}()
	var id string
	for deadline := time.Now().Add(20 * time.Second); id == ""; {
		_ = e.db.SQL.QueryRow(`SELECT CAST(id AS TEXT) FROM simulations WHERE trigger = 'Interrupted wait.'`).Scan(&id)
		if time.Now().After(deadline) {
			t.Fatal("the run was never created")
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(shutdown)
	select {
	case r := <-done:
		if d := r.detail(t); r.Status != http.StatusServiceUnavailable || !strings.Contains(d, id) || !strings.Contains(d, "shutting down") {
			t.Fatalf("at shutdown: %d %s", r.Status, r.Body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting request was not answered at shutdown")
	}
	e.fk.SetLatency(time.Millisecond)
	waitDone(t, e, id)
}

// The run endpoint waits past WRITE_TIMEOUT and READ_TIMEOUT; a client that
// goes away leaves its run running.
func TestLegacyRunOutlivesTimeoutsAndClient(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.WriteTimeout = 400 * time.Millisecond
		o.ReadTimeout = 400 * time.Millisecond
	})
	e.fk.SetLatency(350 * time.Millisecond) // two rounds of calls: longer than either timeout
	start := time.Now()
	r := e.restJSON("/api/simulations/run/", map[string]any{"trigger": "Slow but complete.", "num_agents": 3})
	var out runResp
	r.decode(t, &out)
	if r.Status != http.StatusOK || len(out.FinalGraph.Nodes) != 3 || time.Since(start) < 700*time.Millisecond {
		t.Fatalf("slow run: %d after %v: %.200s", r.Status, time.Since(start), r.Body)
	}

	// The client gives up early: the run goes on to the end.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	b, _ := json.Marshal(map[string]any{"trigger": "Nobody waits.", "num_agents": 3})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/api/simulations/run/", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the client should have timed out, got %d", resp.StatusCode)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var status string
		err := e.db.SQL.QueryRow(`SELECT status FROM simulations WHERE trigger = 'Nobody waits.'`).Scan(&status)
		if err == nil && status == "SUCCEEDED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("abandoned run: %q %v", status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A run's answer (every agent's opinion, megabytes on large networks) is
// compressed in the coding the client prefers; error answers stay plain.
func TestLegacyAnswersCompressed(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, coding := range []string{"br", "gzip", "zstd"} {
		r := e.restJSON("/api/simulations/run/", map[string]any{"trigger": "Compress the answer.", "num_agents": 6}, "Accept-Encoding", coding)
		if r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != coding {
			t.Fatalf("%s: %d, Content-Encoding %q", coding, r.Status, r.Header.Get("Content-Encoding"))
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(decodeBody(t, coding, r.Body), &top); err != nil || len(top) != 4 {
			t.Fatalf("%s: decoded answer %v, keys %d", coding, err, len(top))
		}
	}
	if r := e.restJSON("/api/simulations/run/", map[string]any{"trigger": ""}, "Accept-Encoding", "br"); r.Status != http.StatusBadRequest || r.Header.Get("Content-Encoding") != "" {
		t.Fatalf("error answer: %d, Content-Encoding %q", r.Status, r.Header.Get("Content-Encoding"))
	}
}
