package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/graph/scalars"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/network"
)

// fastGraph answers the common whole-network read, a query whose root fields
// are all `graph`, by writing the JSON directly. gqlgen marshals every list
// element in a goroutine of its own and every field through its middleware
// chain: about 0.9 s for a 10k-agent / 50k-tie network, where this path
// takes a small fraction of it. It reuses gqlgen's scalar marshalers, so the
// bytes are the same (a test compares both paths), and it hands anything it
// does not handle (fragments, directives, errors, other fields) to gqlgen.
func fastGraph(graphs *graphstore.Store) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) (rh graphql.ResponseHandler) {
		defer func() {
			if p := recover(); p != nil {
				rh = next(ctx) // never worse than gqlgen's own path
			}
		}()
		oc := graphql.GetOperationContext(ctx)
		if oc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Query || !plainGraphQuery(oc.Operation.SelectionSet) {
			return next(ctx)
		}
		var buf bytes.Buffer
		buf.WriteByte('{')
		for i, sel := range oc.Operation.SelectionSet {
			f := sel.(*ast.Field)
			if i > 0 {
				buf.WriteByte(',')
			}
			graphql.MarshalString(f.Alias).MarshalGQL(&buf)
			buf.WriteByte(':')
			if f.Name == "__typename" {
				graphql.MarshalString("Query").MarshalGQL(&buf)
				continue
			}
			var id *int
			if v, ok := f.ArgumentMap(oc.Variables)["networkId"]; ok && v != nil {
				n, err := scalars.UnmarshalID(v)
				if err != nil {
					return next(ctx)
				}
				id = &n
			}
			g, err := graphs.LoadGraph(ctx, id)
			if err != nil {
				return next(ctx) // gqlgen reports the error with its path and code
			}
			if err := writeGraph(ctx, &buf, f.SelectionSet, g); err != nil {
				return next(ctx)
			}
		}
		buf.WriteByte('}')
		done := false
		return func(context.Context) *graphql.Response {
			if done {
				return nil
			}
			done = true
			return &graphql.Response{Data: buf.Bytes()}
		}
	}
}

// Fields the fast path knows, per type; anything else goes to gqlgen.
var fastFields = map[string]map[string]bool{
	"Graph":         set("network", "nodes", "edges", "metadata", "__typename"),
	"Network":       set("id", "name", "source", "directed", "createdAt", "nodeCount", "edgeCount", "traitKeys", "params", "__typename"),
	"GraphNode":     set("agentId", "degree", "traits", "degreeCentrality", "betweennessCentrality", "cluster", "age", "gender", "textOpinion", "levelOfCare", "effectOnUsage", "profile", "attributes", "initialOpinion", "initialLevelOfCare", "initialEffectOnUsage", "__typename"),
	"GraphEdge":     set("source", "target", "weight", "__typename"),
	"GraphMetadata": set("nodeCount", "edgeCount", "traitKeys", "directed", "__typename"),
}

var childType = map[string]string{"network": "Network", "nodes": "GraphNode", "edges": "GraphEdge", "metadata": "GraphMetadata"}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func plainGraphQuery(root ast.SelectionSet) bool {
	if len(root) == 0 {
		return false
	}
	hasGraph := false
	seen := map[string]bool{}
	for _, sel := range root {
		f, ok := sel.(*ast.Field)
		if !ok || len(f.Directives) > 0 || seen[f.Alias] || (f.Name != "graph" && f.Name != "__typename") {
			return false
		}
		seen[f.Alias] = true
		if f.Name == "graph" {
			hasGraph = true
			if !plainSelection("Graph", f.SelectionSet) {
				return false
			}
		}
	}
	return hasGraph
}

// plainSelection accepts only known fields, without fragments, directives,
// arguments or repeated aliases (which gqlgen would merge).
func plainSelection(typ string, ss ast.SelectionSet) bool {
	seen := map[string]bool{}
	for _, sel := range ss {
		f, ok := sel.(*ast.Field)
		if !ok || len(f.Directives) > 0 || len(f.Arguments) > 0 || seen[f.Alias] || !fastFields[typ][f.Name] {
			return false
		}
		seen[f.Alias] = true
		if child, ok := childType[f.Name]; ok && typ != "Network" {
			if !plainSelection(child, f.SelectionSet) {
				return false
			}
		}
	}
	return true
}

func writeGraph(ctx context.Context, w *bytes.Buffer, ss ast.SelectionSet, g *graphstore.Graph) error {
	return writeObject(w, ss, func(f *ast.Field) error {
		switch f.Name {
		case "__typename":
			graphql.MarshalString("Graph").MarshalGQL(w)
		case "network":
			if g.Network == nil {
				w.WriteString("null")
				return nil
			}
			return writeNetwork(ctx, w, f.SelectionSet, g.Network)
		case "metadata":
			return writeObject(w, f.SelectionSet, func(m *ast.Field) error {
				switch m.Name {
				case "__typename":
					graphql.MarshalString("GraphMetadata").MarshalGQL(w)
				case "nodeCount":
					graphql.MarshalInt(len(g.Nodes)).MarshalGQL(w)
				case "edgeCount":
					graphql.MarshalInt(len(g.Edges)).MarshalGQL(w)
				case "traitKeys":
					writeStrings(w, g.TraitKeys)
				case "directed":
					graphql.MarshalBoolean(g.Directed).MarshalGQL(w)
				}
				return nil
			})
		case "nodes":
			traits := nodeTraitsJSON(g)
			w.WriteByte('[')
			for i := range g.Nodes {
				if i > 0 {
					w.WriteByte(',')
				}
				if err := writeNode(ctx, w, f.SelectionSet, &g.Nodes[i], traits[i]); err != nil {
					return err
				}
			}
			w.WriteByte(']')
		case "edges":
			w.WriteByte('[')
			for i := range g.Edges {
				if i > 0 {
					w.WriteByte(',')
				}
				e := &g.Edges[i]
				err := writeObject(w, f.SelectionSet, func(ef *ast.Field) error {
					switch ef.Name {
					case "__typename":
						graphql.MarshalString("GraphEdge").MarshalGQL(w)
					case "source":
						graphql.MarshalString(e.Source).MarshalGQL(w)
					case "target":
						graphql.MarshalString(e.Target).MarshalGQL(w)
					case "weight":
						return writeFloat(w, e.Weight)
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			w.WriteByte(']')
		}
		return nil
	})
}

// nodeTraitsJSON encodes every node's traits once per cached graph: they are
// the bulk of a node's bytes and never change.
func nodeTraitsJSON(g *graphstore.Graph) [][]byte {
	return g.Memo("api.traitsJSON", func() any {
		out := make([][]byte, len(g.Nodes))
		var b bytes.Buffer
		for i := range g.Nodes {
			b.Reset()
			scalars.MarshalTraits(g.Nodes[i].Traits).MarshalGQL(&b)
			out[i] = bytes.Clone(b.Bytes())
		}
		return out
	}).([][]byte)
}

func writeNode(ctx context.Context, w *bytes.Buffer, ss ast.SelectionSet, n *network.Node, traitsJSON []byte) error {
	return writeObject(w, ss, func(f *ast.Field) error {
		switch f.Name {
		case "__typename":
			graphql.MarshalString("GraphNode").MarshalGQL(w)
		case "agentId":
			graphql.MarshalString(n.AgentID).MarshalGQL(w)
		case "degree":
			graphql.MarshalInt(deref(n.Degree)).MarshalGQL(w)
		case "traits":
			w.Write(traitsJSON)
		case "degreeCentrality":
			return writeFloat(w, deref(n.DegreeCentrality))
		case "betweennessCentrality":
			return writeFloat(w, deref(n.BetweennessCentrality))
		case "cluster":
			writeOptional(w, n.Cluster, graphql.MarshalInt)
		case "age":
			writeOptional(w, n.Age, graphql.MarshalInt)
		case "gender":
			writeOptional(w, n.Gender, graphql.MarshalString)
		case "textOpinion":
			writeOptional(w, n.TextOpinion, graphql.MarshalString)
		case "levelOfCare":
			return writeOptionalFloat(ctx, w, n.LevelOfCare)
		case "effectOnUsage":
			return writeOptionalFloat(ctx, w, n.EffectOnUsage)
		case "profile":
			writeMap(w, n.Profile)
		case "attributes":
			writeMap(w, n.Attributes)
		default: // initial… fields exist on simulation snapshots only
			w.WriteString("null")
		}
		return nil
	})
}

func writeNetwork(ctx context.Context, w *bytes.Buffer, ss ast.SelectionSet, n *ent.Network) error {
	return writeObject(w, ss, func(f *ast.Field) error {
		switch f.Name {
		case "__typename":
			graphql.MarshalString("Network").MarshalGQL(w)
		case "id":
			scalars.MarshalID(n.ID).MarshalGQL(w)
		case "name":
			graphql.MarshalString(n.Name).MarshalGQL(w)
		case "source":
			n.Source.MarshalGQL(w)
		case "directed":
			graphql.MarshalBoolean(n.Directed).MarshalGQL(w)
		case "createdAt":
			graphql.MarshalTime(n.CreatedAt).MarshalGQL(w)
		case "nodeCount":
			graphql.MarshalInt(n.NodeCount).MarshalGQL(w)
		case "edgeCount":
			graphql.MarshalInt(n.EdgeCount).MarshalGQL(w)
		case "traitKeys":
			writeStrings(w, n.TraitKeys)
		case "params":
			if n.Params == nil {
				w.WriteString("null")
			} else {
				graphql.MarshalMap(n.Params).MarshalGQL(w)
			}
		}
		return nil
	})
}

func writeObject(w *bytes.Buffer, ss ast.SelectionSet, field func(*ast.Field) error) error {
	w.WriteByte('{')
	for i, sel := range ss {
		f := sel.(*ast.Field)
		if i > 0 {
			w.WriteByte(',')
		}
		graphql.MarshalString(f.Alias).MarshalGQL(w)
		w.WriteByte(':')
		if err := field(f); err != nil {
			return err
		}
	}
	w.WriteByte('}')
	return nil
}

func writeStrings(w io.Writer, ss []string) {
	_, _ = w.Write([]byte{'['})
	for i, s := range ss {
		if i > 0 {
			_, _ = w.Write([]byte{','})
		}
		graphql.MarshalString(s).MarshalGQL(w)
	}
	_, _ = w.Write([]byte{']'})
}

func writeOptional[T any](w *bytes.Buffer, v *T, marshal func(T) graphql.Marshaler) {
	if v == nil {
		w.WriteString("null")
		return
	}
	marshal(*v).MarshalGQL(w)
}

func writeOptionalFloat(ctx context.Context, w *bytes.Buffer, v *float64) error {
	if v == nil {
		w.WriteString("null")
		return nil
	}
	return writeFloat(w, *v)
}

var errNonFinite = errors.New("non-finite float")

// writeFloat writes what gqlgen's MarshalFloatContext writes (fmt's %g, the
// shortest 'g' form), without fmt's cost; non-finite values fall back to gqlgen.
func writeFloat(w *bytes.Buffer, f float64) error {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return errNonFinite
	}
	var b [32]byte
	w.Write(strconv.AppendFloat(b[:0], f, 'g', -1, 64))
	return nil
}

// writeMap writes what gqlgen's MarshalMap writes; empty maps (most profiles
// and attributes) skip the JSON encoder.
func writeMap(w *bytes.Buffer, m map[string]any) {
	if len(m) == 0 {
		w.WriteString("{}\n") // json.Encoder's output for an empty map
		return
	}
	graphql.MarshalMap(m).MarshalGQL(w)
}

func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}
