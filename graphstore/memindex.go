package graphstore

import (
	"sort"
	"sync"
)

// graphIndex finds an agent and its ties in a graph kept in memory, built on
// the first agent read (O(nodes + edges)) and kept with the graph.
type graphIndex struct {
	once   sync.Once
	byID   map[string]int32
	start  []int32 // node i's incident edges are ties[start[i]:start[i+1]]
	ties   []int32 // edge indices, ascending (the ties' storage order) per node
	others []int32 // the node at the other end of each of those edges
}

func (g *Graph) buildIndex() *graphIndex {
	ix := &g.index
	ix.once.Do(func() {
		ix.byID = make(map[string]int32, len(g.Nodes))
		for i := range g.Nodes {
			ix.byID[g.Nodes[i].AgentID] = int32(i)
		}
		src := make([]int32, len(g.Edges))
		dst := make([]int32, len(g.Edges))
		count := make([]int32, len(g.Nodes)+1)
		for j, e := range g.Edges {
			src[j], dst[j] = ix.byID[e.Source], ix.byID[e.Target]
			count[src[j]+1]++
			if dst[j] != src[j] { // a self-tie is one tie of its agent
				count[dst[j]+1]++
			}
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		ix.start = count
		ix.ties = make([]int32, count[len(g.Nodes)])
		ix.others = make([]int32, len(ix.ties))
		next := append([]int32(nil), count[:len(g.Nodes)]...)
		for j := range g.Edges {
			s, d := src[j], dst[j]
			ix.ties[next[s]], ix.others[next[s]] = int32(j), d
			next[s]++
			if d != s {
				ix.ties[next[d]], ix.others[next[d]] = int32(j), s
				next[d]++
			}
		}
	})
	return ix
}

// agentDetail is agentFromDB's answer read from memory: the agent's
// neighbours in the order of their first tie, weights of several ties to one
// neighbour summed, strongest first (a stable sort); nil when no agent has
// that id.
func (g *Graph) agentDetail(agentID string) *AgentDetail {
	ix := g.buildIndex()
	i, ok := ix.byID[agentID]
	if !ok {
		return nil
	}
	lo, hi := ix.start[i], ix.start[i+1]
	pos := make(map[int32]int, hi-lo)
	neighbors := make([]Neighbor, 0, hi-lo)
	for k := lo; k < hi; k++ {
		o, w := ix.others[k], g.Edges[ix.ties[k]].Weight
		if p, seen := pos[o]; seen {
			neighbors[p].Weight += w
			continue
		}
		pos[o] = len(neighbors)
		neighbors = append(neighbors, Neighbor{AgentID: g.Nodes[o].AgentID, Weight: w, Degree: deref(g.Nodes[o].Degree)})
	}
	sort.SliceStable(neighbors, func(a, b int) bool { return neighbors[a].Weight > neighbors[b].Weight })
	return &AgentDetail{Node: g.Nodes[i], Neighbors: neighbors}
}

func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}
