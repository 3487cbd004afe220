package population

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/community"
)

// Communities
//
// Up to gonumLouvainMaxAgents agents, communities are found with gonum's
// Louvain implementation (community.Modularize, resolution 1) with a seeded
// PCG source, on the weighted tie graph. gonum's local-moving step costs
// time proportional to the size of every candidate community, which grows
// with N: single-threaded on the development machine it took ~1 s at
// 10,000 agents but over 2 minutes at 100,000. Above the threshold the same algorithm (Blondel et al. 2008
// with gonum's conventions: nodes visited in a seeded random order, moved to
// the neighbouring community with the best modularity gain if it exceeds
// 1e-15, passes repeated until no move, then communities aggregated into
// nodes and the process repeated until a level makes no move) runs in
// louvainFast, which keeps per-community totals so that a move costs time
// proportional to the node's degree. TestLouvainFastMatchesGonum checks
// that both reach similar modularity (scored by gonum's community.Q).
//
// Either way clusters are then numbered by decreasing size, ties broken by
// the smallest agent index in the cluster, so cluster 0 is the largest.
//
// gonum's simple graphs iterate neighbours in map order, which would make
// Louvain's floating-point sums (and so, rarely, its result) vary between
// runs; csrGraph below iterates in a fixed order so the same seed always
// gives the same clusters.

// gonumLouvainMaxAgents is the largest population clustered by gonum.
const gonumLouvainMaxAgents = 10_000

// louvainClusters returns the cluster of every agent.
func louvainClusters(n int, ties []tie, seed uint64) []int {
	g := newCSRGraph(n, ties)
	src := rand.NewPCG(seed, streamLouvain)
	var comm []int32
	if n <= gonumLouvainMaxAgents {
		comm = make([]int32, n)
		for c, members := range community.Modularize(g, 1, src).Communities() {
			for _, v := range members {
				comm[v.ID()] = int32(c)
			}
		}
	} else {
		comm = louvainFast(g, rand.New(src))
	}
	return labelBySize(comm)
}

// labelBySize renumbers communities by decreasing size, ties by smallest
// member.
func labelBySize(comm []int32) []int {
	type cl struct{ size, minID int }
	byID := map[int32]*cl{}
	var order []int32
	for v, c := range comm {
		x, ok := byID[c]
		if !ok {
			x = &cl{minID: v}
			byID[c] = x
			order = append(order, c)
		}
		x.size++
	}
	slices.SortFunc(order, func(a, b int32) int {
		x, y := byID[a], byID[b]
		if x.size != y.size {
			return y.size - x.size
		}
		return x.minID - y.minID
	})
	label := make(map[int32]int, len(order))
	for i, c := range order {
		label[c] = i
	}
	out := make([]int, len(comm))
	for v, c := range comm {
		out[v] = label[c]
	}
	return out
}

// louvainFast is the Louvain method on g; it returns the community of every
// node (arbitrary numbering).
func louvainFast(g *csrGraph, rng *rand.Rand) []int32 {
	n := int(g.n())
	member := make([]int32, n) // original node -> node of the current level
	for i := range member {
		member[i] = int32(i)
	}
	start, adj, w := g.start, g.adj, g.w
	self := make([]float64, n) // A_vv: internal weight (ordered pairs)
	for {
		nl := len(start) - 1
		k := make([]float64, nl)
		var m2 float64
		for v := range nl {
			k[v] = self[v]
			for e := start[v]; e < start[v+1]; e++ {
				k[v] += w[e]
			}
			m2 += k[v]
		}
		if m2 == 0 {
			break
		}
		comm := make([]int32, nl)
		tot := slices.Clone(k)
		order := make([]int32, nl)
		for v := range nl {
			comm[v], order[v] = int32(v), int32(v)
		}
		wTo := make([]float64, nl)
		seen := make([]bool, nl)
		var touched []int32
		improved := false
		for {
			for i := 0; i < nl-1; i++ {
				j := i + rng.IntN(nl-i)
				order[i], order[j] = order[j], order[i]
			}
			moved := false
			for _, v := range order {
				a := comm[v]
				touched = touched[:0]
				for e := start[v]; e < start[v+1]; e++ {
					c := comm[adj[e]]
					if !seen[c] {
						seen[c] = true
						touched = append(touched, c)
					}
					wTo[c] += w[e]
				}
				remove := wTo[a] - k[v]*(tot[a]-k[v])/m2
				best, dst := math.Inf(-1), int32(-1)
				for _, c := range touched {
					if c == a {
						continue
					}
					if dq := wTo[c] - k[v]*tot[c]/m2; dq > best || (dq == best && c < dst) {
						best, dst = dq, c
					}
				}
				for _, c := range touched {
					wTo[c], seen[c] = 0, false
				}
				if dst >= 0 && 2*(best-remove)/m2 > 1e-15 {
					tot[a] -= k[v]
					tot[dst] += k[v]
					comm[v] = dst
					moved = true
				}
			}
			if !moved {
				break
			}
			improved = true
		}
		if !improved {
			break
		}

		// Aggregate: communities (numbered by first node) become nodes.
		id := make([]int32, nl)
		for i := range id {
			id[i] = -1
		}
		nc := int32(0)
		for v := range nl {
			if id[comm[v]] < 0 {
				id[comm[v]] = nc
				nc++
			}
		}
		members := make([][]int32, nc)
		for v := range nl {
			c := id[comm[v]]
			members[c] = append(members[c], int32(v))
		}
		newStart := make([]int32, nc+1)
		var newAdj []int32
		var newW []float64
		newSelf := make([]float64, nc)
		for c := range nc {
			touched = touched[:0]
			for _, v := range members[c] {
				newSelf[c] += self[v]
				for e := start[v]; e < start[v+1]; e++ {
					d := id[comm[adj[e]]]
					if d == c {
						newSelf[c] += w[e]
						continue
					}
					if !seen[d] {
						seen[d] = true
						touched = append(touched, d)
					}
					wTo[d] += w[e]
				}
			}
			slices.Sort(touched)
			for _, d := range touched {
				newAdj = append(newAdj, d)
				newW = append(newW, wTo[d])
				wTo[d], seen[d] = 0, false
			}
			newStart[c+1] = int32(len(newAdj))
		}
		for i := range member {
			member[i] = id[comm[member[i]]]
		}
		start, adj, w, self = newStart, newAdj, newW, newSelf
	}
	return member
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

// csrNodes iterates node ids: 0..end-1 when list is nil, else list.
type csrNodes struct {
	list     []int32
	pos, end int
	cur      int64
}

func (it *csrNodes) Next() bool {
	if it.pos >= it.end {
		return false
	}
	if it.list == nil {
		it.cur = int64(it.pos)
	} else {
		it.cur = int64(it.list[it.pos])
	}
	it.pos++
	return true
}
func (it *csrNodes) Len() int         { return it.end - it.pos }
func (it *csrNodes) Reset()           { it.pos = 0 }
func (it *csrNodes) Node() graph.Node { return csrNode(it.cur) }

func (g *csrGraph) Node(id int64) graph.Node {
	if !g.valid(id) {
		return nil
	}
	return csrNode(id)
}

func (g *csrGraph) Nodes() graph.Nodes {
	return &csrNodes{end: int(g.n())}
}

func (g *csrGraph) From(id int64) graph.Nodes {
	if !g.valid(id) {
		return graph.Empty
	}
	list := g.adj[g.start[id]:g.start[id+1]:g.start[id+1]]
	if list == nil {
		list = []int32{} // non-nil: an empty list, not a range
	}
	return &csrNodes{list: list, end: len(list)}
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
