package resolvers

import (
	"math"

	"entgo.io/contrib/entgql"

	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/graph"
)

// UnboundedPage is what a connection asked for without first or last counts
// as: it may return a whole network, so it is costed like a large page.
const UnboundedPage = 1000

// pageCost weights a connection by the items it can return, so that
// `first: 100000` costs what it fetches. It saturates instead of overflowing,
// which would otherwise let a nested bomb wrap around to a small number.
func pageCost(child int, first, last *int) int {
	n := UnboundedPage
	switch {
	case first != nil:
		n = *first
	case last != nil:
		n = *last
	}
	n = max(n, 1)
	child = max(child, 1)
	if child > (math.MaxInt32-1)/n {
		return math.MaxInt32
	}
	return 1 + n*child
}

type cursor = *entgql.Cursor[int]

// branchesEstimate is what one run's list of branches counts as.
const branchesEstimate = 20

// neighborsEstimate is what one agent's neighbour list counts as.
const neighborsEstimate = 100

// complexity sets the cost of every connection field.
func complexity() graph.ComplexityRoot {
	var c graph.ComplexityRoot
	c.Query.Networks = func(child int, _ cursor, first *int, _ cursor, last *int, _ *ent.NetworkOrder, _ *ent.NetworkWhereInput) int {
		return pageCost(child, first, last)
	}
	c.Query.Simulations = func(child int, _ cursor, first *int, _ cursor, last *int, _ *ent.SimulationOrder, _ *ent.SimulationWhereInput) int {
		return pageCost(child, first, last)
	}
	c.Network.Agents = func(child int, _ cursor, first *int, _ cursor, last *int, _ *ent.AgentOrder, _ *ent.AgentWhereInput) int {
		return pageCost(child, first, last)
	}
	c.Network.Simulations = func(child int, _ cursor, first *int, _ cursor, last *int, _ *ent.SimulationOrder, _ *ent.SimulationWhereInput) int {
		return pageCost(child, first, last)
	}
	c.Network.Ties = func(child int, _ cursor, first *int, _ cursor, last *int, _ *ent.TieWhereInput) int {
		return pageCost(child, first, last)
	}
	// A run's branches are a plain list, usually a handful; costed as a page
	// of branchesEstimate so that nesting branches { branches { … } } grows
	// as nested connections do.
	c.Simulation.Branches = func(child int) int {
		n := branchesEstimate
		return pageCost(child, &n, nil)
	}
	c.Simulation.States = func(child int, _ *int, _ *string, first *int, _ cursor) int {
		return pageCost(child, first, nil)
	}
	// A graph's node and edge lists are whole networks (Query.graph and every
	// run snapshot): costed like an unbounded page each.
	c.Graph.Nodes = func(child int) int { return pageCost(child, nil, nil) }
	c.Graph.Edges = func(child int) int { return pageCost(child, nil, nil) }
	c.AgentDetail.Neighbors = func(child int) int { n := neighborsEstimate; return pageCost(child, &n, nil) }
	c.Query.Nodes = func(child int, ids []int) int { n := len(ids); return pageCost(child, &n, nil) }
	return c
}
