package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler"
	dto "github.com/prometheus/client_model/go"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ethox/ethox/graph"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/resolvers"
	"github.com/ethox/ethox/telemetry"
)

func realSchema() *ast.Schema { return graph.NewExecutableSchema(graph.Config{}).Schema() }

// The fast path claims every field of the graph's own types, and of Network
// every field but the ones it leaves to gqlgen.
func TestFastGraphClaimsEveryGraphField(t *testing.T) {
	s := realSchema()
	fg, err := newFastGraph(s, fastTypes, leftToGqlgen)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"Graph", "GraphNode", "GraphEdge", "GraphMetadata", "Network", "AgentDetail", "Neighbor"} {
		var want []string
		for _, f := range s.Types[typ].Fields {
			if !leftToGqlgen[typ+"."+f.Name] {
				want = append(want, f.Name)
			}
		}
		if got := fg.types[typ].order; !slices.Equal(got, want) {
			t.Errorf("%s: claims %v, want %v", typ, got, want)
		}
	}
}

// withField returns a copy of s where type typ has field f added (or, with
// remove, its field named f.Name removed); s itself is unchanged.
func withField(s *ast.Schema, typ string, f *ast.FieldDefinition, remove bool) *ast.Schema {
	out := *s
	out.Types = maps.Clone(s.Types)
	def := *s.Types[typ]
	def.Fields = slices.DeleteFunc(slices.Clone(def.Fields), func(old *ast.FieldDefinition) bool { return old.Name == f.Name })
	if !remove {
		def.Fields = append(def.Fields, f)
	}
	out.Types[typ] = &def
	if typ == s.Query.Name {
		out.Query = &def
	}
	return &out
}

// A schema the fast path cannot write refuses to start, naming the field.
func TestFastGraphRefusesFieldsItCannotWrite(t *testing.T) {
	s := realSchema()
	named := func(name string) *ast.Type { return ast.NamedType(name, nil) }
	for _, c := range []struct {
		name   string
		schema *ast.Schema
		want   string
	}{
		{"a new node field", withField(s, "GraphNode", &ast.FieldDefinition{Name: "mood", Type: named("String")}, false),
			"GraphNode.mood: String has no writer"},
		{"a new metadata field", withField(s, "GraphMetadata", &ast.FieldDefinition{Name: "density", Type: ast.NonNullNamedType("Float", nil)}, false),
			"GraphMetadata.density: Float! has no writer"},
		{"a new network field", withField(s, "Network", &ast.FieldDefinition{Name: "description", Type: named("String")}, false),
			"Network.description: String has no writer"},
		{"a changed type", withField(s, "GraphEdge", &ast.FieldDefinition{Name: "weight", Type: named("Float")}, false),
			"GraphEdge.weight is Float in the schema, the fast path writes Float!"},
		{"an argument", withField(s, "GraphNode", &ast.FieldDefinition{Name: "traits", Type: ast.NonNullNamedType("Traits", nil),
			Arguments: ast.ArgumentDefinitionList{{Name: "keys", Type: ast.ListType(ast.NonNullNamedType("String", nil), nil)}}}, false),
			"GraphNode.traits has arguments (keys: [String!])"},
		{"a removed field", withField(s, "GraphEdge", &ast.FieldDefinition{Name: "weight"}, true),
			"GraphEdge.weight has a writer in api/fastgraph.go but is not in the schema"},
		{"a removed left field", withField(s, "Network", &ast.FieldDefinition{Name: "exports"}, true),
			"Network.exports is listed in leftToGqlgen"},
		{"a new root argument", withField(s, "Query", &ast.FieldDefinition{Name: "graph", Type: ast.NonNullNamedType("Graph", nil),
			Arguments: ast.ArgumentDefinitionList{{Name: "networkId", Type: named("ID")}, {Name: "round", Type: named("Int")}}}, false),
			"Query.graph has arguments (networkId: ID, round: Int)"},
	} {
		_, err := newFastGraph(c.schema, fastTypes, leftToGqlgen)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.Contains(p.(error).Error(), c.want) {
					t.Errorf("%s: mustFastGraph panicked with %v", c.name, p)
				}
			}()
			mustFastGraph(c.schema, nil, slog.New(slog.DiscardHandler), nil)
		}()
	}
	if _, err := newFastGraph(s, fastTypes, leftToGqlgen); err != nil {
		t.Fatalf("the real schema: %v", err) // the copies left it alone
	}
}

// lockedBuffer collects log output written from request goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A panic while writing falls back to gqlgen's answer, counted and logged
// at ERROR with its stack.
func TestFastGraphPanicFallsBackLogged(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	graphs := graphstore.New(db)
	g := &networkfile.Graph{Nodes: []networkfile.Node{{AgentID: "a"}, {AgentID: "b"}}, Edges: []networkfile.Edge{{Source: "a", Target: "b", Weight: 1}}}
	for i := range g.Nodes {
		g.Nodes[i].Traits, g.Nodes[i].Profile, g.Nodes[i].Attributes = map[string]float64{"o": 0.5}, map[string]any{}, map[string]any{}
	}
	if _, err := graphs.Import(context.Background(), g, graphstore.ImportOptions{Name: "panic"}); err != nil {
		t.Fatal(err)
	}
	writers := maps.Clone(fastTypes)
	writers["GraphEdge"] = maps.Clone(fastTypes["GraphEdge"])
	w := writers["GraphEdge"]["weight"]
	w.leaf = func(*bytes.Buffer, *fastSrc, int) error { panic("writer broke") }
	writers["GraphEdge"]["weight"] = w
	fg, err := newFastGraph(realSchema(), writers, leftToGqlgen)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	metrics := telemetry.New(nil)
	fg.graphs, fg.log, fg.fallbacks = graphs, slog.New(slog.NewTextHandler(&logs, nil)), metrics.GraphFastPathFallbacks

	serve := func(fast bool) string {
		srv := handler.New(resolvers.NewSchema(&resolvers.Resolver{Client: db.Client, Graphs: graphs}))
		srv.AddTransport(jsonPOST{})
		if fast {
			srv.AroundOperations(fg.middleware)
		}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		body, _ := json.Marshal(map[string]string{"query": `{ graph { edges { source weight } } }`})
		resp, err := http.Post(ts.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got, want := serve(true), serve(false); got != want || !strings.Contains(want, `"weight":1`) {
		t.Fatalf("after a panic: %s, want gqlgen's %s", got, want)
	}
	out := logs.String()
	for _, want := range []string{"level=ERROR", "graph fast path panicked", "reason=panic", "writer broke", "fastgraph_internal_test.go"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	var m dto.Metric
	if err := metrics.GraphFastPathFallbacks.WithLabelValues(fallbackPanic).Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
		t.Errorf("panic fallbacks = %v (%v), want 1", m.GetCounter().GetValue(), err)
	}
}

// Reads of unknown networks and agents are ordinary client input: they fall
// back to gqlgen (which reports them) counted, but not logged at WARN,
// so a client asking for missing ids cannot flood the log.
func TestFastGraphNotFoundFallbacksAreQuiet(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	graphs := graphstore.New(db)
	fg, err := newFastGraph(realSchema(), fastTypes, leftToGqlgen)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	metrics := telemetry.New(nil)
	fg.graphs, fg.log, fg.fallbacks = graphs, slog.New(slog.NewTextHandler(&logs, nil)), metrics.GraphFastPathFallbacks
	srv := handler.New(resolvers.NewSchema(&resolvers.Resolver{Client: db.Client, Graphs: graphs}))
	srv.AddTransport(jsonPOST{})
	srv.AroundOperations(fg.middleware)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	queries := []string{
		`{ graph(networkId: "987654") { nodes { agentId } } }`,
		`{ agent(agentId: "nobody", networkId: "987654") { node { agentId } } }`,
		`{ agent(agentId: "nobody") { node { agentId } } }`,
	}
	for _, q := range queries {
		body, _ := json.Marshal(map[string]string{"query": q})
		resp, err := http.Post(ts.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `not found`) { // no error presenter here: the message, not the code
			t.Errorf("%s: %s, want not found", q, b)
		}
	}
	if out := logs.String(); strings.Contains(out, "level=WARN") {
		t.Errorf("not-found reads logged at WARN:\n%s", out)
	}
	var m dto.Metric
	if err := metrics.GraphFastPathFallbacks.WithLabelValues(fallbackLoad).Write(&m); err != nil || m.GetCounter().GetValue() != float64(len(queries)) {
		t.Errorf("load_error fallbacks = %v (%v), want %d", m.GetCounter().GetValue(), err, len(queries))
	}
}
