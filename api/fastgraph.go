package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/graph/scalars"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/httpenc"
	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/telemetry"
)

// The graph fast path answers the whole-network read, a query whose root
// fields are all `graph` (or __typename), and the one-agent read (one `agent`
// field, on a network kept in memory), by writing the JSON itself. gqlgen
// marshals every list element in a goroutine of its own and every field
// through its middleware chain: about 0.9 s for a 10k-agent / 50k-tie
// network, ten times this path. It writes the bytes gqlgen would (a test
// compares both on every field it claims) and hands every other request to
// gqlgen, counted and logged as a fallback with its reason.
//
// Which fields it writes is decided once, at start-up, by walking the schema
// from Query.graph and Query.agent (newFastGraph): every field of every type reached must
// have a writer in fastTypes, with the same type and no arguments, or be
// listed in leftToGqlgen; anything else refuses to start, naming the field.

// fastSrc is what the writers read: a graph, and for Query.agent the
// agent's neighbours (graphstore.Graph.Neighbors).
type fastSrc struct {
	*graphstore.Graph
	neighbors []graphstore.Neighbor
}

// fastField is how the fast path writes one field of one object type.
type fastField struct {
	// typ is the field's type as the schema spells it ("Int!", "[GraphNode!]!").
	typ string
	// leaf writes a scalar or enum field (or a list of them) of the object at
	// index i of g: a node or an edge; 0 for the graph, its metadata and network.
	leaf func(w *bytes.Buffer, g *fastSrc, i int) error
	// object is the type of an object field. count makes it a list of that
	// many objects (index 0..count-1); present, when set, says whether a
	// nullable one exists.
	object  string
	count   func(g *fastSrc) int
	present func(g *fastSrc) bool
}

// fastTypes are the fast path's writers, per object type and field.
var fastTypes = map[string]map[string]fastField{
	"Graph": {
		"network":  {typ: "Network", object: "Network", present: func(g *fastSrc) bool { return g.Network != nil }},
		"nodes":    {typ: "[GraphNode!]!", object: "GraphNode", count: func(g *fastSrc) int { return len(g.Nodes) }},
		"edges":    {typ: "[GraphEdge!]!", object: "GraphEdge", count: func(g *fastSrc) int { return len(g.Edges) }},
		"metadata": {typ: "GraphMetadata!", object: "GraphMetadata"},
	},
	"GraphMetadata": {
		"nodeCount": {typ: "Int!", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error { return writeInt(w, len(g.Nodes)) }},
		"edgeCount": {typ: "Int!", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error { return writeInt(w, len(g.Edges)) }},
		"traitKeys": {typ: "[String!]!", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error { return writeStrings(w, g.TraitKeys) }},
		"directed":  {typ: "Boolean!", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error { return writeBool(w, g.Directed) }},
	},
	"Network": {
		"id": {typ: "ID!", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error {
			return marshal(w, scalars.MarshalID(g.Network.ID))
		}},
		"name":     {typ: "String!", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error { return writeString(w, g.Network.Name) }},
		"source":   {typ: "NetworkSource!", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error { return marshal(w, g.Network.Source) }},
		"directed": {typ: "Boolean!", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error { return writeBool(w, g.Network.Directed) }},
		"createdAt": {typ: "Time!", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error {
			return marshal(w, graphql.MarshalTime(g.Network.CreatedAt))
		}},
		"nodeCount": {typ: "Int!", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error { return writeInt(w, g.Network.NodeCount) }},
		"edgeCount": {typ: "Int!", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error { return writeInt(w, g.Network.EdgeCount) }},
		"traitKeys": {typ: "[String!]!", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error { return writeStrings(w, g.Network.TraitKeys) }},
		"params":    {typ: "Map", leaf: func(w *bytes.Buffer, g *fastSrc, _ int) error { return writeNullableMap(w, g.Network.Params) }},
	},
	"GraphNode": {
		"agentId": {typ: "String!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error { return writeString(w, g.Nodes[i].AgentID) }},
		"degree":  {typ: "Int!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error { return writeInt(w, deref(g.Nodes[i].Degree)) }},
		"traits": {typ: "Traits!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error {
			return writeEncoded(w, g.NodeTraitsJSON(encodeTraits)[i])
		}},
		"degreeCentrality": {typ: "Float!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error {
			return writeFloat(w, deref(g.Nodes[i].DegreeCentrality))
		}},
		"betweennessCentrality": {typ: "Float!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error {
			return writeFloat(w, deref(g.Nodes[i].BetweennessCentrality))
		}},
		"cluster": {typ: "Int", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error {
			return writeOptional(w, g.Nodes[i].Cluster, writeInt)
		}},
		"age": {typ: "Int", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error {
			return writeOptional(w, g.Nodes[i].Age, writeInt)
		}},
		"ageBracket": {typ: "String", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error {
			return writeOptional(w, networkfile.AgeBracket(g.Nodes[i].Age, g.Nodes[i].Profile), writeString)
		}},
		"gender": {typ: "String", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error {
			return writeOptional(w, g.Nodes[i].Gender, writeString)
		}},
		"textOpinion": {typ: "String", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error {
			return writeOptional(w, g.Nodes[i].TextOpinion, writeString)
		}},
		"levelOfCare": {typ: "Float", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error {
			return writeOptional(w, g.Nodes[i].LevelOfCare, writeFloat)
		}},
		"effectOnUsage": {typ: "Float", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error {
			return writeOptional(w, g.Nodes[i].EffectOnUsage, writeFloat)
		}},
		"profile":    {typ: "Map!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error { return writeMap(w, g.Nodes[i].Profile) }},
		"attributes": {typ: "Map!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error { return writeMap(w, g.Nodes[i].Attributes) }},
		// Stage-0 values exist on simulation snapshots only, never on Query.graph.
		"initialOpinion":       {typ: "String", leaf: writeNull},
		"initialLevelOfCare":   {typ: "Float", leaf: writeNull},
		"initialEffectOnUsage": {typ: "Float", leaf: writeNull},
	},
	// Query.agent: node is the agent's node, written at its index.
	"AgentDetail": {
		"node":      {typ: "GraphNode!", object: "GraphNode"},
		"neighbors": {typ: "[Neighbor!]!", object: "Neighbor", count: func(g *fastSrc) int { return len(g.neighbors) }},
	},
	"Neighbor": {
		"agentId": {typ: "String!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error { return writeString(w, g.neighbors[i].AgentID) }},
		"weight":  {typ: "Float!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error { return writeFloat(w, g.neighbors[i].Weight) }},
		"degree":  {typ: "Int!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error { return writeInt(w, g.neighbors[i].Degree) }},
	},
	"GraphEdge": {
		"source": {typ: "String!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error { return writeString(w, g.Edges[i].Source) }},
		"target": {typ: "String!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error { return writeString(w, g.Edges[i].Target) }},
		"weight": {typ: "Float!", leaf: func(w *bytes.Buffer, g *fastSrc, i int) error { return writeFloat(w, g.Edges[i].Weight) }},
	},
}

// leftToGqlgen are the fields of the types above that the fast path does not
// write: a query selecting one falls back (reason unwritten_field).
var leftToGqlgen = map[string]bool{
	"Network.agents":      true, // connections with arguments, resolved from the database
	"Network.ties":        true,
	"Network.simulations": true,
	"Network.exports":     true, // download links
	"Network.isDefault":   true, // read from the database: the cached network may no longer be the default
}

// Why a graph read went to gqlgen: the label values of
// ethox_graph_fast_path_fallbacks_total, a fixed set.
const (
	fallbackShape    = "query_shape"      // fragments, directives, field arguments, repeated aliases, other root fields
	fallbackField    = "unwritten_field"  // a field in leftToGqlgen
	fallbackArgument = "bad_argument"     // a networkId that is not an ID
	fallbackLoad     = "load_error"       // the network could not be read (not found, database error)
	fallbackValue    = "unwritable_value" // a value gqlgen refuses too (a non-finite float, a null map), so gqlgen reports it
	fallbackPanic    = "panic"            // a writer panicked (logged at ERROR with the stack)
)

var fallbackReasons = []string{fallbackShape, fallbackField, fallbackArgument, fallbackLoad, fallbackValue, fallbackPanic}

// fastType is an object type as the fast path writes it: the schema's fields
// that it claims, each with its writer.
type fastType struct {
	name     string
	typename []byte // the JSON of __typename
	fields   map[string]*fastClaim
	order    []string // claimed field names in schema order
}

type fastClaim struct {
	fastField
	child *fastType // object fields
}

// fastGraph is the fast path, built for one schema.
type fastGraph struct {
	root      string // the query type's name
	rootName  []byte // its __typename JSON
	types     map[string]*fastType
	graphs    *graphstore.Store
	log       *slog.Logger
	fallbacks *prometheus.CounterVec // nil without metrics
}

// mustFastGraph builds the fast path for schema, panicking when the schema
// has a field on the graph's types that the fast path cannot write: a
// deployment would otherwise answer it wrongly or slowly without a word.
func mustFastGraph(schema *ast.Schema, graphs *graphstore.Store, log *slog.Logger, m *telemetry.Metrics) graphql.OperationMiddleware {
	fg, err := newFastGraph(schema, fastTypes, leftToGqlgen)
	if err != nil {
		panic(err)
	}
	fg.graphs, fg.log = graphs, log
	if m != nil {
		fg.fallbacks = m.GraphFastPathFallbacks
		for _, r := range fallbackReasons {
			fg.fallbacks.WithLabelValues(r) // every reason is exported from the start, at 0
		}
	}
	return fg.middleware
}

// newFastGraph walks schema from Query.graph and Query.agent through the object fields the
// fast path writes, and checks that every field it reaches is written (with
// the schema's type and no arguments) or left to gqlgen, and that every
// writer and left field still exists. The error names every problem.
func newFastGraph(schema *ast.Schema, writers map[string]map[string]fastField, left map[string]bool) (*fastGraph, error) {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if schema.Query == nil {
		return nil, errors.New("graph fast path: the schema has no query type")
	}
	fg := &fastGraph{root: schema.Query.Name, rootName: marshalBytes(graphql.MarshalString(schema.Query.Name)), types: map[string]*fastType{}}
	root := schema.Query.Fields.ForName("graph")
	switch {
	case root == nil:
		fail("%s.graph is missing", fg.root)
	case root.Type.String() != "Graph!":
		fail("%s.graph is %s, the fast path writes Graph!", fg.root, root.Type)
	case len(root.Arguments) != 1 || root.Arguments[0].Name != "networkId" || root.Arguments[0].Type.String() != "ID" || root.Arguments[0].DefaultValue != nil:
		fail("%s.graph has arguments %s, the fast path reads exactly (networkId: ID)", fg.root, argumentList(root.Arguments))
	}
	agent := schema.Query.Fields.ForName("agent")
	switch {
	case agent == nil:
		fail("%s.agent is missing", fg.root)
	case agent.Type.String() != "AgentDetail":
		fail("%s.agent is %s, the fast path writes AgentDetail", fg.root, agent.Type)
	case len(agent.Arguments) != 2 || agent.Arguments.ForName("agentId") == nil || agent.Arguments.ForName("agentId").Type.String() != "String!" ||
		agent.Arguments.ForName("networkId") == nil || agent.Arguments.ForName("networkId").Type.String() != "ID" ||
		agent.Arguments.ForName("agentId").DefaultValue != nil || agent.Arguments.ForName("networkId").DefaultValue != nil:
		fail("%s.agent has arguments %s, the fast path reads exactly (agentId: String!, networkId: ID)", fg.root, argumentList(agent.Arguments))
	}
	reached := map[string]bool{}
	var walk func(name string, inList bool) *fastType
	walk = func(name string, inList bool) *fastType {
		if t := fg.types[name]; t != nil {
			return t
		}
		def := schema.Types[name]
		mine, ok := writers[name]
		if def == nil || def.Kind != ast.Object || !ok {
			fail("type %s is reached from %s.graph or .agent but is not an object type the fast path writes", name, fg.root)
			return nil
		}
		reached[name] = true
		t := &fastType{name: name, fields: map[string]*fastClaim{}}
		t.typename = marshalBytes(graphql.MarshalString(name))
		fg.types[name] = t
		for _, fd := range def.Fields {
			if strings.HasPrefix(fd.Name, "__") {
				continue
			}
			w, ok := mine[fd.Name]
			switch {
			case !ok && left[name+"."+fd.Name]:
				continue
			case !ok:
				fail("%s.%s: %s has no writer; add one to fastTypes in api/fastgraph.go (or list it in leftToGqlgen)", name, fd.Name, fd.Type)
				continue
			case len(fd.Arguments) > 0:
				fail("%s.%s has arguments %s; the fast path writes fields without arguments only (list it in leftToGqlgen)", name, fd.Name, argumentList(fd.Arguments))
				continue
			case fd.Type.String() != w.typ:
				fail("%s.%s is %s in the schema, the fast path writes %s", name, fd.Name, fd.Type, w.typ)
				continue
			case w.object == "" && w.leaf == nil:
				fail("%s.%s has neither a leaf writer nor an object type", name, fd.Name)
				continue
			case w.object != "" && w.count != nil && inList:
				fail("%s.%s is a list inside a list, which the fast path does not write", name, fd.Name)
				continue
			case w.object != "" && !fd.Type.NonNull && w.present == nil:
				fail("%s.%s is nullable but its writer has no present check", name, fd.Name)
				continue
			}
			c := &fastClaim{fastField: w}
			if w.object != "" {
				if c.child = walk(w.object, inList || w.count != nil); c.child == nil {
					continue
				}
			}
			t.fields[fd.Name] = c
			t.order = append(t.order, fd.Name)
		}
		for fname := range mine {
			if def.Fields.ForName(fname) == nil {
				fail("%s.%s has a writer in api/fastgraph.go but is not in the schema", name, fname)
			}
		}
		return t
	}
	if root != nil && root.Type.Name() == "Graph" {
		walk("Graph", false)
	}
	if agent != nil && agent.Type.Name() == "AgentDetail" {
		walk("AgentDetail", false)
	}
	for key := range left {
		typ, fname, _ := strings.Cut(key, ".")
		if def := schema.Types[typ]; !reached[typ] || def.Fields.ForName(fname) == nil {
			fail("%s is listed in leftToGqlgen but is not a field of a type the fast path writes", key)
		}
	}
	for typ := range writers {
		if !reached[typ] && fg.types[typ] == nil {
			fail("type %s has writers in api/fastgraph.go but is not reached from %s.graph or .agent", typ, fg.root)
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, fmt.Errorf("graph fast path does not match the schema:\n  %s", strings.Join(problems, "\n  "))
	}
	return fg, nil
}

func argumentList(args ast.ArgumentDefinitionList) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = a.Name + ": " + a.Type.String()
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// fallback is why a graph read goes to gqlgen: a reason from the fixed set
// and a detail for the log (schema names and fixed words only, never input).
type fallback struct {
	reason, detail string
	err            error
	// quiet: an ordinary outcome of a client's input (an unknown network or
	// agent, a network too large to keep), logged at DEBUG so that a client
	// asking for missing ids cannot flood the log at WARN.
	quiet bool
}

// middleware answers plain graph queries and hands everything else to next.
func (fg *fastGraph) middleware(ctx context.Context, next graphql.OperationHandler) (rh graphql.ResponseHandler) {
	oc := graphql.GetOperationContext(ctx)
	if oc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Query || !fg.readsGraph(oc) {
		return next(ctx) // not a graph read: not a fallback either
	}
	defer func() {
		if p := recover(); p != nil {
			fg.count(fallbackPanic)
			fg.log.ErrorContext(ctx, "graph fast path panicked; gqlgen answers instead", "reason", fallbackPanic,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			rh = next(ctx)
		}
	}()
	data, fb := fg.answer(ctx, oc)
	if fb != nil {
		fg.count(fb.reason)
		args := []any{"reason", fb.reason, "detail", fb.detail}
		if fb.err != nil {
			args = append(args, "error", fb.err)
		}
		level := slog.LevelWarn
		if fb.quiet {
			level = slog.LevelDebug
		}
		fg.log.Log(ctx, level, "graph fast path fell back to gqlgen", args...)
		return next(ctx)
	}
	done := false
	return func(context.Context) *graphql.Response {
		if done {
			return nil
		}
		done = true
		return &graphql.Response{Data: data}
	}
}

func (fg *fastGraph) count(reason string) {
	if fg.fallbacks != nil {
		fg.fallbacks.WithLabelValues(reason).Inc()
	}
}

// readsGraph says whether the query selects the graph field at its root,
// through fragments and @skip/@include too.
func (fg *fastGraph) readsGraph(oc *graphql.OperationContext) bool {
	for _, sel := range oc.Operation.SelectionSet {
		if f, ok := sel.(*ast.Field); ok && (f.Name == "graph" || f.Name == "agent") {
			return true
		}
	}
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{fg.root}) {
		if f.Name == "graph" || f.Name == "agent" {
			return true
		}
	}
	return false
}

// answer writes the whole response's data, or says why gqlgen must.
func (fg *fastGraph) answer(ctx context.Context, oc *graphql.OperationContext) ([]byte, *fallback) {
	type rootField struct {
		key     []byte
		plan    *objectPlan // nil for __typename
		id      *int
		agent   bool   // Query.agent rather than Query.graph
		agentID string // its agentId
		src     *fastSrc
		index   int // the agent's node index
	}
	var roots []rootField
	seen := map[string]bool{}
	reads, agents := 0, 0
	for _, sel := range oc.Operation.SelectionSet {
		f, ok := sel.(*ast.Field)
		if fb := plainField(sel, f, ok, seen); fb != nil {
			return nil, fb
		}
		r := rootField{key: jsonKey(f.Alias, len(roots) == 0)}
		switch f.Name {
		case "__typename":
		case "graph", "agent":
			typ := "Graph"
			if f.Name == "agent" {
				typ, r.agent = "AgentDetail", true
				agents++
			}
			reads++
			plan, fb := compile(fg.types[typ], f.SelectionSet)
			if fb != nil {
				return nil, fb
			}
			r.plan = plan
			args := f.ArgumentMap(oc.Variables)
			if v, ok := args["networkId"]; ok && v != nil {
				n, err := scalars.UnmarshalID(v)
				if err != nil {
					return nil, &fallback{reason: fallbackArgument, detail: "networkId is not an ID", err: err}
				}
				r.id = &n
			}
			if r.agent {
				if r.agentID, ok = args["agentId"].(string); !ok {
					return nil, &fallback{reason: fallbackArgument, detail: "agentId is not a string"}
				}
			}
		default:
			return nil, &fallback{reason: fallbackShape, detail: "root field " + fg.root + "." + f.Name + " beside graph"}
		}
		roots = append(roots, r)
	}
	if agents > 0 && reads > 1 {
		// Each agent body is kept per agent; a query reading more is ad hoc.
		return nil, &fallback{reason: fallbackShape, detail: "root field " + fg.root + ".agent beside another read"}
	}
	for i := range roots {
		r := &roots[i]
		if r.plan == nil {
			continue
		}
		if !r.agent {
			g, err := fg.graphs.LoadGraph(ctx, r.id)
			if err != nil {
				// gqlgen reports the error with its path and code.
				return nil, &fallback{reason: fallbackLoad, detail: "the network could not be read", err: err,
					quiet: apperr.KindOf(err) == apperr.NotFound}
			}
			r.src = &fastSrc{Graph: g}
			continue
		}
		// An agent is read from a network kept in memory only; a network too
		// large to keep, a missing one and an unknown agent are gqlgen's
		// (its errors and its indexed queries).
		g, err := fg.graphs.MemoryGraph(ctx, r.id)
		if err != nil {
			return nil, &fallback{reason: fallbackLoad, detail: "the network could not be read", err: err,
				quiet: apperr.KindOf(err) == apperr.NotFound}
		}
		if g == nil {
			return nil, &fallback{reason: fallbackLoad, detail: "no network, or one not kept in memory", quiet: true}
		}
		n, ok := g.AgentIndex(r.agentID)
		if !ok {
			return nil, &fallback{reason: fallbackLoad, detail: "no such agent", quiet: true}
		}
		r.src, r.index = &fastSrc{Graph: g}, n
	}
	write := func(buf *bytes.Buffer) error {
		buf.WriteByte('{')
		for _, r := range roots {
			buf.Write(r.key)
			if r.plan == nil {
				buf.Write(fg.rootName)
				continue
			}
			if r.agent && r.src.neighbors == nil {
				r.src.neighbors = r.src.Graph.Neighbors(r.agentID)
			}
			if err := r.plan.write(buf, r.src, r.index); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	}
	unwritable := func(err error) *fallback {
		return &fallback{reason: fallbackValue, detail: "a value the fast path cannot write", err: err}
	}
	var kept *rootField
	for i := range roots {
		if roots[i].plan == nil {
			continue
		}
		if kept != nil {
			kept = nil // two graph reads: not kept with either
			break
		}
		kept = &roots[i]
	}
	if kept == nil {
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
			return nil, unwritable(err)
		}
		return buf.Bytes(), nil
	}
	// One read: its whole HTTP response body is kept with the graph for this
	// selection (and agent), since a network never changes, with its ETag and
	// compressed forms; serveOperation sends it as it is (keptBody).
	var key strings.Builder
	selectionKey(&key, oc.Operation.SelectionSet)
	encode := func() ([]byte, error) {
		var buf bytes.Buffer
		buf.WriteString(dataPrefix)
		if err := write(&buf); err != nil {
			return nil, err
		}
		buf.WriteByte('}')
		return buf.Bytes(), nil
	}
	var body *httpenc.Body
	var err error
	if kept.agent {
		body, err = kept.src.Graph.AgentBody(kept.agentID, key.String(), encode)
	} else {
		body, err = kept.src.Graph.Body(key.String(), encode)
	}
	if err != nil {
		return nil, unwritable(err)
	}
	keepBody(ctx, body)
	return bodyData(body), nil
}

// selectionKey writes a selection set the fast path accepted (fields only)
// as response keys and field names: what decides the bytes it writes.
func selectionKey(b *strings.Builder, ss ast.SelectionSet) {
	for i, sel := range ss {
		f := sel.(*ast.Field)
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(f.Alias)
		b.WriteByte(':')
		b.WriteString(f.Name)
		if len(f.SelectionSet) > 0 {
			b.WriteByte('{')
			selectionKey(b, f.SelectionSet)
			b.WriteByte('}')
		}
	}
}

// plainField accepts a field without directives under an alias not seen
// before in its selection set (gqlgen merges repeated ones).
func plainField(sel ast.Selection, f *ast.Field, ok bool, seen map[string]bool) *fallback {
	switch {
	case !ok:
		kind := "a fragment spread"
		if _, inline := sel.(*ast.InlineFragment); inline {
			kind = "an inline fragment"
		}
		return &fallback{reason: fallbackShape, detail: kind}
	case len(f.Directives) > 0:
		return &fallback{reason: fallbackShape, detail: "a directive on " + fieldName(f)}
	case seen[f.Alias]:
		return &fallback{reason: fallbackShape, detail: "a repeated response key for " + fieldName(f)}
	}
	seen[f.Alias] = true
	return nil
}

func fieldName(f *ast.Field) string {
	if f.ObjectDefinition != nil {
		return f.ObjectDefinition.Name + "." + f.Name
	}
	return f.Name
}

// objectPlan is a selection set compiled against the fast path's writers,
// once per request: each step writes one response key.
type objectPlan struct {
	steps []planStep
}

type planStep struct {
	key   []byte // `"alias":`, with a leading comma after the first key
	value []byte // a constant value (__typename), or
	claim *fastClaim
	child *objectPlan
}

func compile(t *fastType, ss ast.SelectionSet) (*objectPlan, *fallback) {
	p := &objectPlan{steps: make([]planStep, 0, len(ss))}
	seen := map[string]bool{}
	for _, sel := range ss {
		f, ok := sel.(*ast.Field)
		if fb := plainField(sel, f, ok, seen); fb != nil {
			return nil, fb
		}
		s := planStep{key: jsonKey(f.Alias, len(p.steps) == 0)}
		if f.Name == "__typename" {
			s.value = t.typename
			p.steps = append(p.steps, s)
			continue
		}
		// A claimed field has no arguments in the schema (newFastGraph), so
		// validation has refused any.
		c := t.fields[f.Name]
		if c == nil {
			return nil, &fallback{reason: fallbackField, detail: t.name + "." + f.Name + " is left to gqlgen"}
		}
		s.claim = c
		if c.child != nil {
			child, fb := compile(c.child, f.SelectionSet)
			if fb != nil {
				return nil, fb
			}
			s.child = child
		}
		p.steps = append(p.steps, s)
	}
	return p, nil
}

// write writes the object at index i of g (see fastField.leaf).
func (p *objectPlan) write(w *bytes.Buffer, g *fastSrc, i int) error {
	w.WriteByte('{')
	for k := range p.steps {
		s := &p.steps[k]
		w.Write(s.key)
		var err error
		switch {
		case s.value != nil:
			w.Write(s.value)
		case s.child == nil:
			err = s.claim.leaf(w, g, i)
		case s.claim.count != nil:
			err = s.child.writeList(w, g, s.claim.count(g))
		case s.claim.present != nil && !s.claim.present(g):
			w.WriteString("null")
		default:
			err = s.child.write(w, g, i)
		}
		if err != nil {
			return err
		}
	}
	w.WriteByte('}')
	return nil
}

func (p *objectPlan) writeList(w *bytes.Buffer, g *fastSrc, n int) error {
	w.WriteByte('[')
	for i := range n {
		if i > 0 {
			w.WriteByte(',')
		}
		if err := p.write(w, g, i); err != nil {
			return err
		}
	}
	w.WriteByte(']')
	return nil
}

// jsonKey is `"alias":`, after a comma unless it is an object's first key.
func jsonKey(alias string, first bool) []byte {
	var b bytes.Buffer
	if !first {
		b.WriteByte(',')
	}
	graphql.MarshalString(alias).MarshalGQL(&b)
	b.WriteByte(':')
	return b.Bytes()
}

// Value writers: each writes what gqlgen's marshaler for the field's type
// writes.

func marshal(w *bytes.Buffer, m graphql.Marshaler) error {
	m.MarshalGQL(w)
	return nil
}

func marshalBytes(m graphql.Marshaler) []byte {
	var b bytes.Buffer
	m.MarshalGQL(&b)
	return b.Bytes()
}

// encodeTraits is the Traits scalar's encoding, kept with each loaded graph
// (graphstore.Graph.NodeTraitsJSON); nil for nil traits.
func encodeTraits(t map[string]float64) []byte {
	if t == nil {
		return nil
	}
	return marshalBytes(scalars.MarshalTraits(t))
}

// errNull is a null value in a non-null field, which gqlgen reports as an error.
var errNull = errors.New("null in a non-null field")

func writeEncoded(w *bytes.Buffer, b []byte) error {
	if b == nil {
		return errNull
	}
	w.Write(b)
	return nil
}

func writeNull(w *bytes.Buffer, _ *fastSrc, _ int) error {
	w.WriteString("null")
	return nil
}

func writeString(w *bytes.Buffer, s string) error {
	graphql.MarshalString(s).MarshalGQL(w)
	return nil
}

func writeInt(w *bytes.Buffer, n int) error {
	var b [20]byte
	w.Write(strconv.AppendInt(b[:0], int64(n), 10))
	return nil
}

func writeBool(w *bytes.Buffer, v bool) error {
	w.WriteString(strconv.FormatBool(v))
	return nil
}

func writeStrings(w *bytes.Buffer, ss []string) error {
	w.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			w.WriteByte(',')
		}
		_ = writeString(w, s)
	}
	w.WriteByte(']')
	return nil
}

func writeOptional[T any](w *bytes.Buffer, v *T, write func(*bytes.Buffer, T) error) error {
	if v == nil {
		w.WriteString("null")
		return nil
	}
	return write(w, *v)
}

var errNonFinite = errors.New("non-finite float")

// writeFloat writes what gqlgen's MarshalFloatContext writes (fmt's %g, the
// shortest 'g' form), without fmt's cost; non-finite values fall back to
// gqlgen, which reports them as errors.
func writeFloat(w *bytes.Buffer, f float64) error {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return errNonFinite
	}
	var b [32]byte
	w.Write(strconv.AppendFloat(b[:0], f, 'g', -1, 64))
	return nil
}

// writeMap writes what gqlgen's MarshalMap writes for a Map! field; empty
// maps (most profiles and attributes) skip the JSON encoder.
func writeMap(w *bytes.Buffer, m map[string]any) error {
	if m == nil {
		return errNull
	}
	if len(m) == 0 {
		w.WriteString("{}\n") // json.Encoder's output for an empty map
		return nil
	}
	graphql.MarshalMap(m).MarshalGQL(w)
	return nil
}

// writeNullableMap writes a Map field.
func writeNullableMap(w *bytes.Buffer, m map[string]any) error {
	if m == nil {
		w.WriteString("null")
		return nil
	}
	return writeMap(w, m)
}

func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}
