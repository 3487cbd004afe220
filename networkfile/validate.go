package networkfile

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strconv"
	"sync"
)

// Validate checks a Graph built without Decode (for example from a typed
// GraphQL input) with the same rules and messages as Decode: non-empty unique
// agent ids, finite numbers inside their documented ranges (see ranges.go),
// attributes that do not shadow built-in fields, and edges between existing
// nodes that are neither self-loops nor duplicates ((a,b) and (b,a) are the
// same edge unless the graph is directed). The first problem found is
// returned.
func (g *Graph) Validate() error {
	g.ends = nil
	// The value checks run on every core (they are most of the work on a
	// generated population's profiles); the ids are then checked in order,
	// so the problem reported is the first, as Decode reports it.
	bad, badErr := firstBadNodeValues(g.Nodes)
	index := make(map[string]int, len(g.Nodes))
	for i := range g.Nodes {
		if err := checkNodeID(i, &g.Nodes[i], index); err != nil {
			return err
		}
		if i == bad {
			return badErr
		}
	}
	return checkEdges(g, index, nil)
}

// firstBadNodeValues returns the first node whose values fail checkNodeValues
// and its error, or -1.
func firstBadNodeValues(nodes []Node) (int, error) {
	workers := max(1, min(runtime.GOMAXPROCS(0), len(nodes)/1024))
	first := make([]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first[w] = -1
			for i := w * len(nodes) / workers; i < (w+1)*len(nodes)/workers; i++ {
				if err := checkNodeValues(i, &nodes[i]); err != nil {
					first[w], errs[w] = i, err
					return
				}
			}
		}()
	}
	wg.Wait()
	for w := range workers {
		if first[w] >= 0 {
			return first[w], errs[w]
		}
	}
	return -1, nil
}

// checkNode validates one node and records its id in index. Decode calls it
// as each node arrives so errors come out in document order.
func checkNode(i int, n *Node, index map[string]int) error {
	if err := checkNodeID(i, n, index); err != nil {
		return err
	}
	return checkNodeValues(i, n)
}

// checkNodeID checks a node's id against the ids before it, recorded in index.
func checkNodeID(i int, n *Node, index map[string]int) error {
	if n.AgentID == "" {
		return bad("nodes[%d].agent_id must not be empty", i)
	}
	if j, dup := index[n.AgentID]; dup {
		return bad("nodes[%d].agent_id %q duplicates nodes[%d]", i, n.AgentID, j)
	}
	index[n.AgentID] = i
	return nil
}

// checkNodeValues checks everything of a node but its id.
func checkNodeValues(i int, n *Node) error {
	if k, ok := firstNonFiniteTrait(n.Traits); !ok {
		return bad("nodes[%d].traits.%s must be a finite number", i, k)
	}
	if k, ok := firstTraitOutOfRange(n.Traits); !ok {
		return outOfRange(fmt.Sprintf("nodes[%d].traits.%s", i, k), n.Traits[k], traitRange)
	}
	if n.Degree != nil && *n.Degree < 0 {
		return bad("nodes[%d].degree must be a non-negative integer", i)
	}
	ints := [...]struct {
		key string
		v   *int
		b   bounds
	}{
		{keyDegree, n.Degree, degreeRange},
		{keyCluster, n.Cluster, clusterRange},
		{keyAge, n.Age, ageRange},
	}
	for _, f := range ints {
		if f.v != nil && !f.b.has(float64(*f.v)) {
			return bad("nodes[%d].%s %d is out of range %s%s", i, f.key, *f.v, f.b.text, f.b.hint)
		}
	}
	floats := [...]struct {
		key string
		v   *float64
		b   bounds
	}{
		{keyDegreeCentrality, n.DegreeCentrality, degreeCentRange},
		{keyBetweennessCentrality, n.BetweennessCentrality, betweennessRange},
		{keyLevelOfCare, n.LevelOfCare, careRange},
		{keyEffectOnUsage, n.EffectOnUsage, supportRange},
	}
	for _, f := range floats {
		if f.v == nil {
			continue
		}
		if !finite(*f.v) {
			return bad("nodes[%d].%s must be a finite number", i, f.key)
		}
		if !f.b.has(*f.v) {
			return outOfRange(fmt.Sprintf("nodes[%d].%s", i, f.key), *f.v, f.b)
		}
	}
	if err := checkFree(fmt.Sprintf("nodes[%d].profile", i), n.Profile); err != nil {
		return err
	}
	if len(n.Attributes) > 0 {
		for _, k := range sortedKeys(n.Attributes) {
			if _, builtin := builtinNodeKeys[k]; builtin {
				return bad("nodes[%d].%s is a built-in field and cannot be an attribute", i, k)
			}
			if err := checkFree(fmt.Sprintf("nodes[%d].%s", i, k), n.Attributes[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkFree checks the numbers inside free-form data (profile, attributes):
// finite, which json.Marshal needs later, and within freeRange.
func checkFree(prefix string, v any) error {
	path, x, ok := badFreeNumber(v)
	switch {
	case ok:
		return nil
	case !finite(x):
		return bad("%s%s must be a finite number", prefix, path)
	default:
		return outOfRange(prefix+path, x, freeRange)
	}
}

// checkEdges validates edges against the node index and reports the first
// bad edge in document order. cache, if not nil, holds endpoint positions
// already resolved by Decode (-1 where it did not); it is overwritten.
func checkEdges(g *Graph, index map[string]int, cache [][2]int32) error {
	ends := cache
	if ends == nil {
		ends = make([][2]int32, len(g.Edges))
	}
	// Per-edge checks first, stopping at the first failure; duplicates are
	// then looked for only before that edge, so whichever problem comes
	// first in the document is the one reported.
	var firstErr error
	limit := len(g.Edges)
	for j := range g.Edges {
		if err := checkEdge(j, &g.Edges[j], index, &ends[j], cache != nil); err != nil {
			firstErr, limit = err, j
			break
		}
	}
	if j, k := firstDuplicate(len(g.Nodes), ends[:limit], g.Directed); j >= 0 {
		e := &g.Edges[j]
		return bad("edges[%d] duplicates edges[%d] (%q–%q)", j, k, e.Source, e.Target)
	}
	if firstErr == nil {
		g.ends = ends // valid: every endpoint resolved (see Ends)
	}
	return firstErr
}

func checkEdge(j int, e *Edge, index map[string]int, ends *[2]int32, cached bool) error {
	s, t := -1, -1
	if cached {
		s, t = int(ends[0]), int(ends[1])
	}
	var err error
	if s < 0 {
		if s, err = checkEndpoint(j, "source", e.Source, index); err != nil {
			return err
		}
	}
	if t < 0 {
		if t, err = checkEndpoint(j, "target", e.Target, index); err != nil {
			return err
		}
	}
	if !finite(e.Weight) {
		return bad("edges[%d].weight must be a finite number", j)
	}
	if !weightRange.has(e.Weight) {
		return outOfRange(fmt.Sprintf("edges[%d].weight", j), e.Weight, weightRange)
	}
	if s == t {
		return bad("edges[%d] is a self-loop on %q", j, e.Source)
	}
	*ends = [2]int32{int32(s), int32(t)}
	return nil
}

// firstDuplicate returns the smallest j whose node pair (unordered unless
// directed) already occurs at an earlier edge k, or (-1, -1). It buckets
// edges by their first node with a counting sort and marks second nodes per
// bucket, which is several times cheaper than a hash set at 1M edges.
func firstDuplicate(n int, ends [][2]int32, directed bool) (int, int) {
	pair := func(e [2]int32) (int32, int32) {
		if !directed && e[0] > e[1] {
			return e[1], e[0]
		}
		return e[0], e[1]
	}
	start := make([]int32, n+1)
	for _, e := range ends {
		a, _ := pair(e)
		start[a+1]++
	}
	for v := 0; v < n; v++ {
		start[v+1] += start[v]
	}
	order := make([]int32, len(ends)) // edge indexes grouped by first node, ascending within a group
	fill := append([]int32(nil), start[:n]...)
	for j, e := range ends {
		a, _ := pair(e)
		order[fill[a]] = int32(j)
		fill[a]++
	}
	markedBy := make([]int32, n) // a+1 of the last group that saw b
	firstAt := make([]int32, n)  // within that group, the first edge with b
	dupJ, dupK := -1, -1
	for a := 0; a < n; a++ {
		for _, j := range order[start[a]:start[a+1]] {
			_, b := pair(ends[j])
			if markedBy[b] == int32(a+1) {
				if dupJ < 0 || int(j) < dupJ {
					dupJ, dupK = int(j), int(firstAt[b])
				}
				continue
			}
			markedBy[b], firstAt[b] = int32(a+1), j
		}
	}
	return dupJ, dupK
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
	return firstTrait(traits, finite)
}

func firstTraitOutOfRange(traits map[string]float64) (string, bool) {
	return firstTrait(traits, traitRange.has)
}

// firstTrait returns the smallest trait name whose value fails ok, so the
// reported name does not depend on map order.
func firstTrait(traits map[string]float64, ok func(float64) bool) (string, bool) {
	badKey, failed := "", false
	for k, v := range traits {
		if !ok(v) && (!failed || k < badKey) {
			badKey, failed = k, true
		}
	}
	return badKey, !failed
}

// badFreeNumber finds a number inside decoded-JSON-like data that is not
// finite (json.Marshal would refuse it later) or outside freeRange, and
// returns its path and value. Keys are visited in sorted order so the
// reported path is deterministic.
func badFreeNumber(v any) (string, float64, bool) {
	switch v := v.(type) {
	case float64:
		return "", v, freeRange.has(v)
	case float32:
		return "", float64(v), freeRange.has(float64(v))
	case int:
		return "", float64(v), freeRange.has(float64(v))
	case int64:
		return "", float64(v), freeRange.has(float64(v))
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if p, x, ok := badFreeNumber(v[k]); !ok {
				return "." + k + p, x, false
			}
		}
	case map[string]float64:
		for _, k := range sortedKeys(v) {
			if !freeRange.has(v[k]) {
				return "." + k, v[k], false
			}
		}
	case []any:
		for j, e := range v {
			if p, x, ok := badFreeNumber(e); !ok {
				return "[" + strconv.Itoa(j) + "]" + p, x, false
			}
		}
	}
	return "", 0, true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
