package network

import (
	"math"
	"sort"
	"strconv"
)

// Validate checks a Graph built without Decode (for example from a typed
// GraphQL input) with the same rules and messages as Decode: non-empty unique
// agent ids, finite numbers, non-negative degrees, attributes that do not
// shadow built-in fields, and edges between existing nodes that are neither
// self-loops nor duplicates ((a,b) and (b,a) are the same edge unless the
// graph is directed). The first problem found is returned.
func (g *Graph) Validate() error {
	index := make(map[string]int, len(g.Nodes))
	for i := range g.Nodes {
		if err := checkNode(i, &g.Nodes[i], index); err != nil {
			return err
		}
	}
	return checkEdges(g, index)
}

// checkNode validates one node and records its id in index. Decode calls it
// as each node arrives so errors come out in document order.
func checkNode(i int, n *Node, index map[string]int) error {
	if n.AgentID == "" {
		return bad("nodes[%d].agent_id must not be empty", i)
	}
	if j, dup := index[n.AgentID]; dup {
		return bad("nodes[%d].agent_id %q duplicates nodes[%d]", i, n.AgentID, j)
	}
	index[n.AgentID] = i

	if k, ok := firstNonFiniteTrait(n.Traits); !ok {
		return bad("nodes[%d].traits.%s must be a finite number", i, k)
	}
	if n.Degree != nil && *n.Degree < 0 {
		return bad("nodes[%d].degree must be a non-negative integer", i)
	}
	floats := []struct {
		key string
		v   *float64
	}{
		{keyDegreeCentrality, n.DegreeCentrality},
		{keyBetweennessCentrality, n.BetweennessCentrality},
		{keyLevelOfCare, n.LevelOfCare},
		{keyEffectOnUsage, n.EffectOnUsage},
	}
	for _, f := range floats {
		if f.v != nil && !finite(*f.v) {
			return bad("nodes[%d].%s must be a finite number", i, f.key)
		}
	}
	if path, ok := nonFinitePath(n.Profile); !ok {
		return bad("nodes[%d].profile%s must be a finite number", i, path)
	}
	if len(n.Attributes) > 0 {
		for _, k := range sortedKeys(n.Attributes) {
			if _, builtin := builtinNodeKeys[k]; builtin {
				return bad("nodes[%d].%s is a built-in field and cannot be an attribute", i, k)
			}
			if path, ok := nonFinitePath(n.Attributes[k]); !ok {
				return bad("nodes[%d].%s%s must be a finite number", i, k, path)
			}
		}
	}
	return nil
}

func checkEdges(g *Graph, index map[string]int) error {
	// Key: the two node positions packed into one word (positions fit in 32
	// bits for any graph that fits in memory); value: first edge with them.
	seen := make(map[uint64]int, len(g.Edges))
	for j := range g.Edges {
		e := &g.Edges[j]
		s, err := checkEndpoint(j, "source", e.Source, index)
		if err != nil {
			return err
		}
		t, err := checkEndpoint(j, "target", e.Target, index)
		if err != nil {
			return err
		}
		if !finite(e.Weight) {
			return bad("edges[%d].weight must be a finite number", j)
		}
		if s == t {
			return bad("edges[%d] is a self-loop on %q", j, e.Source)
		}
		if !g.Directed && s > t {
			s, t = t, s
		}
		key := uint64(s)<<32 | uint64(uint32(t))
		if k, dup := seen[key]; dup {
			return bad("edges[%d] duplicates edges[%d] (%q–%q)", j, k, e.Source, e.Target)
		}
		seen[key] = j
	}
	return nil
}

func checkEndpoint(j int, key, id string, index map[string]int) (int, error) {
	if id == "" {
		return 0, bad("edges[%d].%s is missing", j, key)
	}
	i, ok := index[id]
	if !ok {
		return 0, bad("edges[%d].%s %q is not a node", j, key, id)
	}
	return i, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func firstNonFiniteTrait(traits map[string]float64) (string, bool) {
	badKey, failed := "", false
	for k, v := range traits {
		if !finite(v) && (!failed || k < badKey) {
			badKey, failed = k, true
		}
	}
	return badKey, !failed
}

// nonFinitePath finds a NaN or infinite float inside decoded-JSON-like data,
// which json.Marshal would refuse later. Keys are visited in sorted order so
// the reported path is deterministic.
func nonFinitePath(v any) (string, bool) {
	switch v := v.(type) {
	case float64:
		return "", finite(v)
	case float32:
		return "", finite(float64(v))
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if p, ok := nonFinitePath(v[k]); !ok {
				return "." + k + p, false
			}
		}
	case []any:
		for j, e := range v {
			if p, ok := nonFinitePath(e); !ok {
				return "[" + strconv.Itoa(j) + "]" + p, false
			}
		}
	}
	return "", true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
