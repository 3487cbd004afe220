package simulation

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/simulation/dynamics"
	"github.com/ethox/ethox/simulation/simtypes"
)

// plan is everything a worker needs about a run's network, loaded once per
// process and run: networks never change after upload, so it stays valid.
type plan struct {
	graph    *graphstore.Graph
	index    map[int]int // agent primary key -> node position
	csr      *dynamics.CSR
	influ    []float64
	audience []bool // hears the trigger at stage 0

	mu     sync.Mutex
	rounds map[int][]StateView // completed rounds, by node position
	sem    chan struct{}       // the run's LLM calls in flight in this process
	change chan struct{}       // closed (and replaced) when a step of the run is stored here
	batch  *stepBatcher        // writes the run's finished steps in groups (batch.go)
	seen   runningSeen         // when the run was last read RUNNING (budget.go)
	mem    map[int]*roundMem   // states stored by this process in incomplete rounds (batch.go)
}

// changes returns a channel closed at the next stored step of this run.
func (pl *plan) changes() <-chan struct{} {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.change == nil {
		pl.change = make(chan struct{})
	}
	return pl.change
}

// stored wakes the jobs waiting for inputs.
func (pl *plan) stored() {
	pl.mu.Lock()
	if pl.change != nil {
		close(pl.change)
		pl.change = nil
	}
	pl.mu.Unlock()
}

// slots returns the run's concurrency limit, shared by all its chunk jobs here.
func (pl *plan) slots(n int) chan struct{} {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.sem == nil {
		pl.sem = make(chan struct{}, n)
	}
	return pl.sem
}

func (s *Service) loadPlan(ctx context.Context, networkID int, p Params) (*plan, error) {
	g, err := s.graphs.LoadGraph(ctx, &networkID)
	if err != nil {
		return nil, err
	}
	return buildPlan(g, p)
}

func buildPlan(g *graphstore.Graph, p Params) (*plan, error) {
	n := len(g.Nodes)
	pl := &plan{graph: g, index: make(map[int]int, n), influ: make([]float64, n)}
	pos := make(map[string]int32, n)
	for i, node := range g.Nodes {
		pl.index[g.AgentPKs[i]] = i
		pos[node.AgentID] = int32(i)
		pl.influ[i] = dynamics.Influencibility(node.Traits)
	}
	src, dst, w, directed := influenceEdges(g, pos, p.Neighborhood)
	pl.csr = dynamics.BuildCSR(n, src, dst, w, directed, pl.influ, p.NeighborLimit)
	aud, err := audience(g, p.Audience)
	if err != nil {
		return nil, err
	}
	pl.audience = aud
	return pl, nil
}

// influenceEdges turns the network's ties into influence edges for
// dynamics.BuildCSR, whose directed edges read src→dst as "src influences
// dst" (dst hears src), for the run's neighbourhood:
//
//   - CHOSEN (a directed network whose edge source→target means that source
//     chose target, as population generates it): reversed, so that an agent
//     hears the agents it chose, as in the prototype;
//   - DIRECTED (an uploaded directed network): as they are, source
//     influences target;
//   - UNDIRECTED: both directions; on a directed network a pair tied both
//     ways (a mutual choice) counts once, with the first edge's weight,
//     instead of twice;
//   - "" (runs recorded before the field existed): as the network is,
//     directed edges as DIRECTED.
func influenceEdges(g *graphstore.Graph, pos map[string]int32, neighborhood string) (src, dst []int32, w []float64, directed bool) {
	directed = g.Directed
	switch neighborhood {
	case simtypes.NeighborhoodChosen:
		directed = true
	case simtypes.NeighborhoodDirected:
		directed = true
	case simtypes.NeighborhoodUndirected:
		directed = false
	}
	src = make([]int32, 0, len(g.Edges))
	dst = make([]int32, 0, len(g.Edges))
	w = make([]float64, 0, len(g.Edges))
	var seen map[[2]int32]bool
	if !directed && g.Directed {
		seen = make(map[[2]int32]bool, len(g.Edges))
	}
	for _, e := range g.Edges {
		s, t := pos[e.Source], pos[e.Target]
		if neighborhood == simtypes.NeighborhoodChosen {
			s, t = t, s // source chose target: target influences source
		}
		if seen != nil {
			pair := [2]int32{min(s, t), max(s, t)}
			if seen[pair] {
				continue
			}
			seen[pair] = true
		}
		src, dst, w = append(src, s), append(dst, t), append(w, e.Weight)
	}
	return src, dst, w, directed
}

// audience marks who hears the trigger at stage 0.
func audience(g *graphstore.Graph, a Audience) ([]bool, error) {
	n := len(g.Nodes)
	out := make([]bool, n)
	switch a.Mode {
	case "", simtypes.AudienceAll:
		for i := range out {
			out[i] = true
		}
	case simtypes.AudienceManual:
		pos := make(map[string]int, n)
		for i, node := range g.Nodes {
			pos[node.AgentID] = i
		}
		for k, id := range a.AgentIDs {
			i, ok := pos[id]
			if !ok {
				return nil, apperr.New(apperr.BadInput, "audience.agentIds[%d] %q is not an agent of the network", k, id)
			}
			out[i] = true
		}
	case simtypes.AudienceTopInfluencers, simtypes.AudienceBridges:
		candidates := make([]int, 0, n)
		var cross []bool
		if a.Mode == simtypes.AudienceBridges {
			cross = crossClusterTies(g)
		}
		for i := range g.Nodes {
			if cross != nil && !cross[i] {
				continue
			}
			candidates = append(candidates, i)
		}
		metric := func(i int) float64 {
			node := g.Nodes[i]
			if a.Metric == simtypes.MetricBetweenness && node.BetweennessCentrality != nil {
				return *node.BetweennessCentrality
			}
			if node.Degree != nil {
				return float64(*node.Degree)
			}
			return 0
		}
		// Highest metric first; ties by position so the choice is reproducible.
		slices.SortStableFunc(candidates, func(x, y int) int { return cmp.Compare(metric(y), metric(x)) })
		top := a.TopN
		if top <= 0 {
			top = max(1, n/10)
		}
		for _, i := range candidates[:min(top, len(candidates))] {
			out[i] = true
		}
	default:
		return nil, fmt.Errorf("audience mode %q", a.Mode)
	}
	return out, nil
}

// crossClusterTies marks the agents with a tie into another community: the
// agents through whom a message crosses between groups. It is nil when the
// network has no communities, and then every agent is a candidate.
func crossClusterTies(g *graphstore.Graph) []bool {
	cluster := make(map[string]int, len(g.Nodes))
	pos := make(map[string]int, len(g.Nodes))
	for i, node := range g.Nodes {
		if node.Cluster == nil {
			return nil
		}
		cluster[node.AgentID] = *node.Cluster
		pos[node.AgentID] = i
	}
	cross := make([]bool, len(g.Nodes))
	for _, e := range g.Edges {
		if cluster[e.Source] != cluster[e.Target] {
			cross[pos[e.Source]], cross[pos[e.Target]] = true, true
		}
	}
	return cross
}
