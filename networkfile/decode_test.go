package networkfile

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/internal/fixtures"
)

// readFixture returns the networkx-generated example of the Python prototype
// (testdata/ethox-network-20.json, also examples/network.json).
func readFixture(tb testing.TB) []byte {
	tb.Helper()
	return fixtures.Read(tb, fixtures.Network20)
}

func decodeFixture(tb testing.TB) *Graph {
	tb.Helper()
	g, err := Decode(strings.NewReader(string(readFixture(tb))))
	if err != nil {
		tb.Fatalf("Decode(fixture): %v", err)
	}
	return g
}

func mustDecode(t *testing.T, doc string) *Graph {
	t.Helper()
	g, err := Decode(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("Decode(%s): %v", doc, err)
	}
	return g
}

func TestDecodeFixture(t *testing.T) {
	g := decodeFixture(t)
	if len(g.Nodes) != 20 || len(g.Edges) != 52 {
		t.Fatalf("got %d nodes, %d edges; want 20, 52", len(g.Nodes), len(g.Edges))
	}
	if g.Directed {
		t.Error("Directed = true, want false (the fixture has no \"directed\" key)")
	}
	n := g.Nodes[0]
	if n.AgentID != "0" {
		t.Fatalf("Nodes[0].AgentID = %q, want \"0\"", n.AgentID)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"degree", deref(n.Degree), 9},
		{"cluster", deref(n.Cluster), 0},
		{"traits.Anxiety", n.Traits["Anxiety"], 0.8},
		{"traits.Energy Level", n.Traits["Energy Level"], 0.45},
		{"age", deref(n.Age), 32},
		{"gender", deref(n.Gender), "female"},
		{"text_opinion", deref(n.TextOpinion), ""},
		{"text_opinion set", n.TextOpinion != nil, true},
		{"degree_centrality", deref(n.DegreeCentrality), 0.4737},
		{"betweenness_centrality", deref(n.BetweennessCentrality), 0.0898},
		{"level_of_care absent", n.LevelOfCare == nil, true},
		{"profile non-nil", n.Profile != nil, true},
		{"attributes empty", n.Attributes != nil && len(n.Attributes) == 0, true},
		{"edge 0", g.Edges[0], Edge{Source: "0", Target: "1", Weight: 0.6855}},
		{"trait keys", len(g.TraitKeys()), 15},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	keys := g.TraitKeys()
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			t.Fatalf("TraitKeys not sorted: %q", keys)
		}
	}
	if err := g.Validate(); err != nil {
		t.Errorf("Validate after Decode: %v", err)
	}
}

// deref returns the pointed-to value, or nil for a nil pointer, so table rows
// can compare optional fields directly.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestDecodeIDsAndWeights(t *testing.T) {
	tests := []struct {
		name       string
		doc        string
		wantIDs    []string
		wantWeight []float64
	}{
		{
			name:       "numeric ids, default weight",
			doc:        `{"nodes":[{"agent_id":1},{"agent_id":2}],"edges":[{"source":1,"target":2}]}`,
			wantIDs:    []string{"1", "2"},
			wantWeight: []float64{1},
		},
		{
			name:       "float ids canonicalised",
			doc:        `{"nodes":[{"agent_id":7.0},{"agent_id":2.5},{"agent_id":1e2},{"agent_id":-0}],"edges":[{"source":7,"target":"2.5","weight":null},{"source":"100","target":0.0,"weight":3}]}`,
			wantIDs:    []string{"7", "2.5", "100", "0"},
			wantWeight: []float64{1, 3},
		},
		{
			name:       "large integer ids stay exact",
			doc:        `{"nodes":[{"agent_id":123456789012345678901},{"agent_id":"x"}],"edges":[{"source":"123456789012345678901","target":"x","weight":0.5}]}`,
			wantIDs:    []string{"123456789012345678901", "x"},
			wantWeight: []float64{0.5},
		},
		{
			name:       "edges before nodes, unknown keys skipped",
			doc:        `{"multigraph":false,"graph":{"a":[1,{"b":null}]},"edges":[{"source":"a","target":"b","key":0}],"directed":null,"nodes":[{"agent_id":"a"},{"agent_id":"b"}]}`,
			wantIDs:    []string{"a", "b"},
			wantWeight: []float64{1},
		},
		{
			name:       "directed keeps both orientations",
			doc:        `{"directed":true,"nodes":[{"agent_id":"a"},{"agent_id":"b"}],"edges":[{"source":"a","target":"b"},{"source":"b","target":"a","weight":2}]}`,
			wantIDs:    []string{"a", "b"},
			wantWeight: []float64{1, 2},
		},
		{
			name:       "escaped ids match their decoded form",
			doc:        `{"nodes":[{"agent_id":"a\"b"},{"agent_id":"\u00e9"},{"agent_id":"\\n"}],"edges":[{"source":"a\u0022b","target":"é"},{"source":"\\n","target":"a\"b"}]}`,
			wantIDs:    []string{"a\"b", "é", "\\n"},
			wantWeight: []float64{1, 1},
		},
		{
			name:       "invalid UTF-8 becomes U+FFFD as in encoding/json",
			doc:        "{\"nodes\":[{\"agent_id\":\"a\xffb\"},{\"agent_id\":\"c\"}],\"edges\":[{\"source\":\"a\xffb\",\"target\":\"c\"}]}",
			wantIDs:    []string{"a\uFFFDb", "c"},
			wantWeight: []float64{1},
		},
		{
			name:       "dense ids resolve from strings, numbers and escapes",
			doc:        `{"nodes":[{"agent_id":0},{"agent_id":"1"},{"agent_id":2}],"edges":[{"source":"\u0030","target":1},{"source":2,"target":1.0,"weight":2},{"source":"2","target":"0"}]}`,
			wantIDs:    []string{"0", "1", "2"},
			wantWeight: []float64{1, 2, 1},
		},
		{
			name:    "empty graph",
			doc:     " {\"nodes\":[],\"edges\":[]}\n\t",
			wantIDs: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustDecode(t, tt.doc)
			ids := []string{}
			for _, n := range g.Nodes {
				ids = append(ids, n.AgentID)
			}
			if !reflect.DeepEqual(ids, tt.wantIDs) {
				t.Errorf("ids = %q, want %q", ids, tt.wantIDs)
			}
			var weights []float64
			for _, e := range g.Edges {
				weights = append(weights, e.Weight)
			}
			if !reflect.DeepEqual(weights, tt.wantWeight) {
				t.Errorf("weights = %v, want %v", weights, tt.wantWeight)
			}
		})
	}
}

func TestDecodeFields(t *testing.T) {
	doc := `{"directed":false,"nodes":[
		{"agent_id":"a","traits":{"Trust":1},"profile":{"job":"nurse","years":3,"tags":["x",2]},
		 "occupation":"teacher","score":2,"nested":{"k":[1.5,null,true]},"nothing":null,
		 "degree":null,"age":40.0,"cluster":-1,"level_of_care":0.25,"effect_on_usage":-1,"gender":null},
		{"agent_id":"b"}],"edges":[]}`
	g := mustDecode(t, doc)
	a, b := g.Nodes[0], g.Nodes[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"profile", a.Profile, map[string]any{"job": "nurse", "years": 3.0, "tags": []any{"x", 2.0}}},
		{"attributes", a.Attributes, map[string]any{
			"occupation": "teacher", "score": 2.0,
			"nested": map[string]any{"k": []any{1.5, nil, true}}, "nothing": nil,
		}},
		{"traits", a.Traits, map[string]float64{"Trust": 1}},
		{"null degree is absent", a.Degree == nil, true},
		{"null gender is absent", a.Gender == nil, true},
		{"integral float age", deref(a.Age), 40},
		{"negative cluster", deref(a.Cluster), -1},
		{"level_of_care", deref(a.LevelOfCare), 0.25},
		{"effect_on_usage", deref(a.EffectOnUsage), -1.0},
		{"bare node traits", b.Traits, map[string]float64{}},
		{"bare node profile", b.Profile, map[string]any{}},
		{"bare node attributes", b.Attributes, map[string]any{}},
		{"bare node text_opinion", b.TextOpinion == nil, true},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

// node wraps node JSON into a minimal valid document.
func node(fields string) string {
	return `{"nodes":[{"agent_id":"a"},{"agent_id":"b"},{"agent_id":"c"}` + fields + `],"edges":[]}`
}

// edges wraps edge JSON into a document with nodes "1".."4".
func edges(list string) string {
	return `{"nodes":[{"agent_id":"1"},{"agent_id":"2"},{"agent_id":"3"},{"agent_id":"4"}],"edges":[` + list + `]}`
}

func TestDecodeBadInput(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"empty input", ``, "invalid JSON at byte 0: unexpected end of input"},
		{"syntax error in element", `{"nodes":[{"agent_id":"a"}, {"agent_id":"b",}],"edges":[]}`, "invalid JSON in nodes[1] (after byte 27): invalid character '}'"},
		{"syntax error at top level", `{"nodes":[],"edges":[] "x":1}`, "invalid JSON at byte 23: invalid character '\"' after object key:value pair"},
		{"bad key", `{"nodes":[],  x}`, "invalid JSON at byte 14: invalid character 'x'"},
		{"truncated", `{"nodes":[{"agent_id":"a"}`, "invalid JSON at byte 26: unexpected end of input"},
		{"truncated element", `{"nodes":[{"agent_id":"a"`, "invalid JSON in nodes[0] (after byte 10): unexpected end of input"},
		{"trailing comma in array", `{"nodes":[{"agent_id":"a"},],"edges":[]}`, "invalid JSON in nodes[1]"},
		{"top level array", `[]`, "top-level value must be an object"},
		{"missing nodes", `{"edges":[]}`, `missing "nodes" array`},
		{"missing edges", `{"nodes":[]}`, `missing "edges" array`},
		{"nodes not array", `{"nodes":{},"edges":[]}`, `"nodes" must be an array`},
		{"nodes null", `{"nodes":null,"edges":[]}`, `"nodes" must be an array`},
		{"edges not array", `{"nodes":[],"edges":"x"}`, `"edges" must be an array`},
		{"duplicate nodes key", `{"nodes":[],"nodes":[],"edges":[]}`, `duplicate "nodes" key`},
		{"directed not bool", `{"directed":"yes","nodes":[],"edges":[]}`, `"directed" must be a boolean`},
		{"directed overflowing number", `{"directed":1e999,"nodes":[],"edges":[]}`, `"directed" must be a boolean`},
		{"trailing data", `{"nodes":[],"edges":[]} x`, "unexpected data after the top-level object"},
		{"second document", `{"nodes":[],"edges":[]}{}`, "unexpected data after the top-level object"},
		{"node not object", node(`,5`), "nodes[3] must be an object"},
		{"node null", node(`,null`), "nodes[3] must be an object"},
		{"agent_id missing", node(`,{"traits":{}}`), "nodes[3].agent_id is missing"},
		{"agent_id null", node(`,{"agent_id":null}`), "nodes[3].agent_id is missing"},
		{"agent_id bool", node(`,{"agent_id":true}`), "nodes[3].agent_id must be a string or a number"},
		{"agent_id object", node(`,{"agent_id":{}}`), "nodes[3].agent_id must be a string or a number"},
		{"agent_id overflow", node(`,{"agent_id":1e999}`), "nodes[3].agent_id must be a string or a finite number"},
		{"agent_id empty", node(`,{"agent_id":""}`), "nodes[3].agent_id must not be empty"},
		{"agent_id duplicate", `{"nodes":[{"agent_id":"x"},{"agent_id":"y"},{"agent_id":"a7"},{"agent_id":1},{"agent_id":2},{"agent_id":"a7"}],"edges":[]}`, `nodes[5].agent_id "a7" duplicates nodes[2]`},
		{"numeric duplicate", `{"nodes":[{"agent_id":7},{"agent_id":"7"}],"edges":[]}`, `nodes[1].agent_id "7" duplicates nodes[0]`},
		{"trait string", node(`,{"agent_id":"d","traits":{"Anxiety":"high"}}`), "nodes[3].traits.Anxiety must be a finite number"},
		{"trait NaN string", node(`,{"agent_id":"d","traits":{"Anxiety":"NaN"}}`), "nodes[3].traits.Anxiety must be a finite number"},
		{"trait overflow", node(`,{"agent_id":"d","traits":{"Trust":0.5,"Anxiety":-1e999}}`), "nodes[3].traits.Anxiety must be a finite number"},
		{"trait null", node(`,{"agent_id":"d","traits":{"Anxiety":null}}`), "nodes[3].traits.Anxiety must be a finite number"},
		{"two bad traits reports the first", node(`,{"agent_id":"d","traits":{"A":1,"Z":"x","B":"x"}}`), "nodes[3].traits.Z must be"},
		{"escaped trait name", node(`,{"agent_id":"d","traits":{"Energy\u0020Level":true}}`), "nodes[3].traits.Energy Level must be"},
		{"duplicate key last wins", node(`,{"agent_id":"d","age":1,"age":"x"}`), "nodes[3].age must be an integer"},
		{"traits not object", node(`,{"agent_id":"d","traits":[0.5]}`), "nodes[3].traits must be an object"},
		{"age float", node(`,{"agent_id":"d","age":32.5}`), "nodes[3].age must be an integer"},
		{"age string", node(`,{"agent_id":"d","age":"32"}`), "nodes[3].age must be an integer"},
		{"cluster bool", node(`,{"agent_id":"d","cluster":false}`), "nodes[3].cluster must be an integer"},
		{"degree negative", node(`,{"agent_id":"d","degree":-1}`), "nodes[3].degree must be a non-negative integer"},
		{"degree fractional", node(`,{"agent_id":"d","degree":1.5}`), "nodes[3].degree must be a non-negative integer"},
		{"gender number", node(`,{"agent_id":"d","gender":1}`), "nodes[3].gender must be a string"},
		{"text_opinion array", node(`,{"agent_id":"d","text_opinion":[]}`), "nodes[3].text_opinion must be a string"},
		{"level_of_care string", node(`,{"agent_id":"d","level_of_care":"high"}`), "nodes[3].level_of_care must be a finite number"},
		{"effect_on_usage overflow", node(`,{"agent_id":"d","effect_on_usage":1e400}`), "nodes[3].effect_on_usage must be a finite number"},
		{"degree_centrality string", node(`,{"agent_id":"d","degree_centrality":"0.1"}`), "nodes[3].degree_centrality must be a finite number"},
		{"betweenness overflow", node(`,{"agent_id":"d","betweenness_centrality":1e999}`), "nodes[3].betweenness_centrality must be a finite number"},
		{"profile not object", node(`,{"agent_id":"d","profile":"x"}`), "nodes[3].profile must be an object"},
		{"profile overflow", node(`,{"agent_id":"d","profile":{"a":{"b":[0,1e999]}}}`), "nodes[3].profile.a.b[1] must be a finite number"},
		{"attribute overflow", node(`,{"agent_id":"d","income":1e999}`), "nodes[3].income must be a finite number"},
		{"edge not object", edges(`[1,2]`), "edges[0] must be an object"},
		{"edge null", edges(`{"source":"1","target":"2"},null`), "edges[1] must be an object"},
		{"edge string", edges(`"1-2"`), "edges[0] must be an object"},
		{"keys are case-sensitive", edges(`{"Source":"1","target":"2"}`), "edges[0].source is missing"},
		{"source missing", edges(`{"target":"2"}`), "edges[0].source is missing"},
		{"target missing", edges(`{"source":"1","target":null}`), "edges[0].target is missing"},
		{"source bool", edges(`{"source":true,"target":"2"}`), "edges[0].source must be a string or a number"},
		{"target unknown", edges(`{"source":"1","target":"2"},{"source":"1","target":"agent_99"}`), `edges[1].target "agent_99" is not a node`},
		{"source unknown", edges(`{"source":5,"target":"2"}`), `edges[0].source "5" is not a node`},
		{"source empty", edges(`{"source":"","target":"2"}`), `edges[0].source is missing`},
		{"weight string", edges(`{"source":"1","target":"2","weight":"heavy"}`), "edges[0].weight must be a finite number"},
		{"weight NaN string", edges(`{"source":"1","target":"2","weight":"NaN"}`), "edges[0].weight must be a finite number"},
		{"weight overflow", edges(`{"source":"1","target":"2"},{"source":"1","target":"3","weight":1e999}`), "edges[1].weight must be a finite number"},
		{"self-loop", edges(`{"source":"1","target":"2"},{"source":4,"target":"4"}`), `edges[1] is a self-loop on "4"`},
		{"duplicate reversed undirected", edges(`{"source":"2","target":"3"},{"source":"1","target":"4"},{"source":"4","target":"1"}`), `edges[2] duplicates edges[1] ("4"–"1")`},
		{"duplicate before unknown endpoint", edges(`{"source":"1","target":"2"},{"source":"2","target":"1"},{"source":"1","target":"9"}`), `edges[1] duplicates edges[0] ("2"–"1")`},
		{"unknown endpoint before duplicate", edges(`{"source":"1","target":"9"},{"source":"1","target":"2"},{"source":"2","target":"1"}`), `edges[0].target "9" is not a node`},
		{"earliest duplicate wins", edges(`{"source":"3","target":"4"},{"source":"1","target":"2"},{"source":"4","target":"3"},{"source":"2","target":"1"},{"source":"3","target":"4"}`), `edges[2] duplicates edges[0] ("4"–"3")`},
		{"dense ids: non-canonical string", `{"nodes":[{"agent_id":0},{"agent_id":"1"},{"agent_id":2}],"edges":[{"source":0,"target":"01"}]}`, `edges[0].target "01" is not a node`},
		{"dense ids: out of range", `{"nodes":[{"agent_id":0},{"agent_id":"1"},{"agent_id":2}],"edges":[{"source":"0","target":3}]}`, `edges[0].target "3" is not a node`},
		{"dense ids: duplicate", `{"nodes":[{"agent_id":0},{"agent_id":"1"},{"agent_id":2}],"edges":[{"source":"0","target":2},{"source":2.0,"target":"\u0030"}]}`, `edges[1] duplicates edges[0] ("2"–"0")`},
		{"duplicate exact directed", `{"directed":true,` + edges(`{"source":"1","target":"4"},{"source":"4","target":"1"},{"source":"1","target":"4"}`)[1:], `edges[2] duplicates edges[0] ("1"–"4")`},
		{"duplicate with directed after edges", `{"edges":[{"source":"1","target":"4"},{"source":"4","target":"1"}],"nodes":[{"agent_id":1},{"agent_id":4}],"directed":false}`, `edges[1] duplicates edges[0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := Decode(strings.NewReader(tt.doc))
			if err == nil {
				t.Fatalf("Decode succeeded (%d nodes), want error containing %q", len(g.Nodes), tt.want)
			}
			assertBadInput(t, err, tt.want)
		})
	}
}

func assertBadInput(t *testing.T, err error, want string) {
	t.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *apperr.Error", err, err)
	}
	if ae.Kind != apperr.BadInput {
		t.Errorf("kind = %v, want %v", ae.Kind, apperr.BadInput)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to contain %q", err.Error(), want)
	}
}

func TestValidate(t *testing.T) {
	nan, inf := 0.0, 1.0
	nan /= nan
	inf /= 0
	neg := -2
	valid := func() *Graph {
		return &Graph{
			Nodes: []Node{{AgentID: "1"}, {AgentID: "2"}, {AgentID: "3"}},
			Edges: []Edge{{Source: "1", Target: "2", Weight: 1}, {Source: "2", Target: "3", Weight: 0.5}},
		}
	}
	tests := []struct {
		name   string
		mutate func(g *Graph)
		want   string // "" means valid
	}{
		{"valid", func(g *Graph) {}, ""},
		{"valid directed reverse edge", func(g *Graph) {
			g.Directed = true
			g.Edges = append(g.Edges, Edge{Source: "2", Target: "1", Weight: 1})
		}, ""},
		{"empty id", func(g *Graph) { g.Nodes[1].AgentID = "" }, "nodes[1].agent_id must not be empty"},
		{"duplicate id", func(g *Graph) { g.Nodes[2].AgentID = "1" }, `nodes[2].agent_id "1" duplicates nodes[0]`},
		{"NaN trait", func(g *Graph) { g.Nodes[2].Traits = map[string]float64{"Anxiety": nan} }, "nodes[2].traits.Anxiety must be a finite number"},
		{"negative degree", func(g *Graph) { g.Nodes[2].Degree = &neg }, "nodes[2].degree must be a non-negative integer"},
		{"infinite level_of_care", func(g *Graph) { g.Nodes[1].LevelOfCare = &inf }, "nodes[1].level_of_care must be a finite number"},
		{"NaN betweenness", func(g *Graph) { g.Nodes[0].BetweennessCentrality = &nan }, "nodes[0].betweenness_centrality must be a finite number"},
		{"NaN in profile", func(g *Graph) { g.Nodes[0].Profile = map[string]any{"x": []any{1.0, nan}} }, "nodes[0].profile.x[1] must be a finite number"},
		{"attribute shadows built-in", func(g *Graph) { g.Nodes[0].Attributes = map[string]any{"age": 3.0} }, "nodes[0].age is a built-in field"},
		{"NaN attribute", func(g *Graph) { g.Nodes[0].Attributes = map[string]any{"score": nan} }, "nodes[0].score must be a finite number"},
		{"unknown target", func(g *Graph) { g.Edges[1].Target = "agent_99" }, `edges[1].target "agent_99" is not a node`},
		{"missing source", func(g *Graph) { g.Edges[0].Source = "" }, "edges[0].source is missing"},
		{"NaN weight", func(g *Graph) { g.Edges[0].Weight = nan }, "edges[0].weight must be a finite number"},
		{"self-loop", func(g *Graph) { g.Edges[1].Target = "2" }, `edges[1] is a self-loop on "2"`},
		{"duplicate before self-loop", func(g *Graph) {
			g.Edges = append(g.Edges, Edge{Source: "2", Target: "1", Weight: 1}, Edge{Source: "3", Target: "3", Weight: 1})
		}, `edges[2] duplicates edges[0] ("2"–"1")`},
		{"reverse duplicate", func(g *Graph) { g.Edges = append(g.Edges, Edge{Source: "3", Target: "2", Weight: 1}) }, `edges[2] duplicates edges[1] ("3"–"2")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := valid()
			tt.mutate(g)
			err := g.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded, want error containing %q", tt.want)
			}
			assertBadInput(t, err, tt.want)
		})
	}
}

// failingReader fails the test's Decode if it is ever read, proving that
// Decode stops at the first bad node instead of reading everything first.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("read past the first error") }

func TestDecodeStreams(t *testing.T) {
	prefix := `{"nodes":[{"agent_id":"a"},{"agent_id":true}`
	_, err := Decode(ioMulti(prefix))
	if err == nil {
		t.Fatal("Decode succeeded")
	}
	assertBadInput(t, err, "nodes[1].agent_id must be a string or a number")
}

func ioMulti(prefix string) *multi { return &multi{s: prefix} }

// multi serves s and then delegates to failingReader.
type multi struct{ s string }

func (m *multi) Read(p []byte) (int, error) {
	if m.s == "" {
		return failingReader{}.Read(p)
	}
	n := copy(p, m.s)
	m.s = m.s[n:]
	return n, nil
}

func TestDecodeReaderErrorIsBadInput(t *testing.T) {
	_, err := Decode(ioMulti(`{"nodes":[`))
	if err == nil {
		t.Fatal("Decode succeeded")
	}
	assertBadInput(t, err, "reading input at byte")
}
