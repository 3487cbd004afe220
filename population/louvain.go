package population

import (
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/community"
)

// Communities are found with gonum's Louvain implementation
// (community.Modularize, resolution 1) with a seeded PCG source, on the
// weighted tie graph. Clusters are then numbered by decreasing size, ties
// broken by the smallest agent index in the cluster, so cluster 0 is the
// largest.
//
// gonum's simple graphs iterate neighbours in map order, which would make
// Louvain's floating-point sums (and so, rarely, its result) vary between
// runs; csrGraph below iterates in a fixed order so the same seed always
// gives the same clusters.

// louvainClusters returns the cluster of every agent.
func louvainClusters(n int, ties []tie, seed uint64) []int {
	g := newCSRGraph(n, ties)
	reduced := community.Modularize(g, 1, rand.NewPCG(seed, streamLouvain))
	comms := reduced.Communities()
	type cl struct {
		members []graph.Node
		minID   int64
	}
	cls := make([]cl, 0, len(comms))
	for _, c := range comms {
		if len(c) == 0 {
			continue
		}
		m := c[0].ID()
		for _, v := range c[1:] {
			m = min(m, v.ID())
		}
		cls = append(cls, cl{c, m})
	}
	slices.SortFunc(cls, func(a, b cl) int {
		if len(a.members) != len(b.members) {
			return len(b.members) - len(a.members)
		}
		return int(a.minID - b.minID)
	})
	out := make([]int, n)
	for label, c := range cls {
		for _, v := range c.members {
			out[v.ID()] = label
		}
	}
	return out
}

// csrGraph is an immutable weighted undirected graph on nodes 0..n-1 with
// sorted adjacency lists, implementing graph.WeightedUndirected.
type csrGraph struct {
	start []int32
	adj   []int32
	w     []float64
}

func newCSRGraph(n int, ties []tie) *csrGraph {
	g := &csrGraph{start: make([]int32, n+1)}
	for _, t := range ties {
		g.start[t.a+1]++
		g.start[t.b+1]++
	}
	for v := range n {
		g.start[v+1] += g.start[v]
	}
	g.adj = make([]int32, g.start[n])
	g.w = make([]float64, g.start[n])
	fill := slices.Clone(g.start[:n])
	// ties are sorted by (a, b): appending in that order leaves each
	// adjacency list sorted (for v, first the a < v entries in increasing
	// a, then the b > v entries in increasing b).
	for _, t := range ties {
		g.adj[fill[t.a]], g.w[fill[t.a]] = t.b, t.weight
		fill[t.a]++
		g.adj[fill[t.b]], g.w[fill[t.b]] = t.a, t.weight
		fill[t.b]++
	}
	for v := range n {
		if !slices.IsSorted(g.adj[g.start[v]:g.start[v+1]]) {
			panic("population: adjacency not sorted")
		}
	}
	return g
}

func (g *csrGraph) n() int64 { return int64(len(g.start) - 1) }

func (g *csrGraph) valid(id int64) bool { return id >= 0 && id < g.n() }

// find returns the position of v in u's adjacency, or -1.
func (g *csrGraph) find(uid, vid int64) int {
	if !g.valid(uid) || !g.valid(vid) {
		return -1
	}
	lo, hi := int(g.start[uid]), int(g.start[uid+1])
	if i, ok := slices.BinarySearch(g.adj[lo:hi], int32(vid)); ok {
		return lo + i
	}
	return -1
}

type csrNode int64

func (n csrNode) ID() int64 { return int64(n) }

type csrEdge struct {
	f, t csrNode
	w    float64
}

func (e csrEdge) From() graph.Node         { return e.f }
func (e csrEdge) To() graph.Node           { return e.t }
func (e csrEdge) ReversedEdge() graph.Edge { return csrEdge{e.t, e.f, e.w} }
func (e csrEdge) Weight() float64          { return e.w }

// csrNodes iterates node ids, either a range [next, end) or a list.
type csrNodes struct {
	list      []int32 // nil for a range
	pos, end  int
	cur       int64
	rangeMode bool
	begin     int
}

func (it *csrNodes) Next() bool {
	if it.pos >= it.end {
		return false
	}
	if it.rangeMode {
		it.cur = int64(it.pos)
	} else {
		it.cur = int64(it.list[it.pos])
	}
	it.pos++
	return true
}
func (it *csrNodes) Len() int { return it.end - it.pos }
func (it *csrNodes) Reset()   { it.pos = it.begin }
func (it *csrNodes) Node() graph.Node {
	return csrNode(it.cur)
}

func (g *csrGraph) Node(id int64) graph.Node {
	if !g.valid(id) {
		return nil
	}
	return csrNode(id)
}

func (g *csrGraph) Nodes() graph.Nodes {
	return &csrNodes{rangeMode: true, end: int(g.n())}
}

func (g *csrGraph) From(id int64) graph.Nodes {
	if !g.valid(id) {
		return graph.Empty
	}
	return &csrNodes{list: g.adj[g.start[id]:g.start[id+1]], end: int(g.start[id+1] - g.start[id])}
}

func (g *csrGraph) HasEdgeBetween(xid, yid int64) bool { return g.find(xid, yid) >= 0 }

func (g *csrGraph) Edge(uid, vid int64) graph.Edge {
	if e := g.WeightedEdgeBetween(uid, vid); e != nil {
		return e
	}
	return nil
}

func (g *csrGraph) EdgeBetween(xid, yid int64) graph.Edge { return g.Edge(xid, yid) }

func (g *csrGraph) WeightedEdge(uid, vid int64) graph.WeightedEdge {
	return g.WeightedEdgeBetween(uid, vid)
}

func (g *csrGraph) WeightedEdgeBetween(xid, yid int64) graph.WeightedEdge {
	i := g.find(xid, yid)
	if i < 0 {
		return nil
	}
	return csrEdge{csrNode(xid), csrNode(yid), g.w[i]}
}

// Weight returns the weight of the edge between x and y; a node's weight to
// itself is 0 (there are no self-loops), as in gonum's simple graphs.
func (g *csrGraph) Weight(xid, yid int64) (float64, bool) {
	if xid == yid {
		return 0, g.valid(xid)
	}
	i := g.find(xid, yid)
	if i < 0 {
		return 0, false
	}
	return g.w[i], true
}

var _ graph.WeightedUndirected = (*csrGraph)(nil)
