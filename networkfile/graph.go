// Package networkfile holds the social network a simulation runs on: decoding and
// validating uploads in the networkx-style JSON format of the Python
// prototype, and computing the centrality metrics the prototype used to ship
// precomputed.
//
// The JSON format is
//
//	{"nodes": [{"agent_id": "0", "traits": {"Anxiety": 0.8, ...}, "degree": 9, ...}, ...],
//	 "edges": [{"source": "0", "target": "1", "weight": 0.68}, ...],
//	 "directed": false}
//
// Every error from Decode and Validate is an *apperr.Error of kind BadInput
// whose message starts with a JSON-path-like location such as nodes[3].age.
package networkfile

import "sort"

// Graph is a validated social network. Node order is the upload order and is
// meaningful to callers (edge endpoints refer to AgentIDs, not indexes).
type Graph struct {
	Directed bool
	Nodes    []Node
	Edges    []Edge

	// ends holds the node positions of every edge's endpoints, set when
	// Decode or Validate accepts the graph (see Ends).
	ends [][2]int32
}

// Ends returns the node positions (source, target) of every edge, in edge
// order. Decode and Validate keep the positions they resolved while checking,
// so a validated graph's callers (metrics, the importer) do not look every
// endpoint up again; a graph changed since, or never validated, has them
// resolved here (endpoints that are not nodes come out as -1). Callers must
// not modify the result.
func (g *Graph) Ends() [][2]int32 {
	if g.ends != nil && len(g.ends) == len(g.Edges) {
		return g.ends
	}
	index := make(map[string]int32, len(g.Nodes))
	for i := range g.Nodes {
		index[g.Nodes[i].AgentID] = int32(i)
	}
	pos := func(id string) int32 {
		if i, ok := index[id]; ok {
			return i
		}
		return -1
	}
	ends := make([][2]int32, len(g.Edges))
	for j, e := range g.Edges {
		ends[j] = [2]int32{pos(e.Source), pos(e.Target)}
	}
	return ends
}

// Node is one agent. Pointer fields are optional in the upload: nil means the
// upload did not carry the value (or carried JSON null).
type Node struct {
	AgentID string
	// Traits maps personality trait names to scores; never nil after Decode.
	Traits map[string]float64
	// Profile is the free-form "profile" object; never nil after Decode.
	Profile map[string]any
	// Attributes keeps every node field not listed here, as decoded by
	// encoding/json (all numbers become float64), so that uploads round-trip.
	// Never nil after Decode.
	Attributes map[string]any

	Degree                *int
	Cluster               *int
	DegreeCentrality      *float64
	BetweennessCentrality *float64
	Age                   *int
	Gender                *string
	TextOpinion           *string
	LevelOfCare           *float64
	EffectOnUsage         *float64
}

// Edge connects two nodes by AgentID. Weight defaults to 1 in uploads.
type Edge struct {
	Source, Target string
	Weight         float64
}

// TraitKeys returns the sorted union of trait names over all nodes.
func (g *Graph) TraitKeys() []string {
	seen := make(map[string]struct{})
	for i := range g.Nodes {
		for k := range g.Nodes[i].Traits {
			seen[k] = struct{}{}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
