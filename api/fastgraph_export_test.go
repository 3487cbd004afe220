package api

import (
	"strings"

	"github.com/ethox/ethox/graph"
)

// FastGraphQueryForTest is a graph query that selects every field the fast
// path claims, with __typename on every object, from the same schema walk
// that decides what the fast path writes at start-up. It takes $id: ID.
func FastGraphQueryForTest() string {
	fg, err := newFastGraph(graph.NewExecutableSchema(graph.Config{}).Schema(), fastTypes, leftToGqlgen)
	if err != nil {
		panic(err)
	}
	var b strings.Builder
	b.WriteString("query($id: ID) { __typename graph(networkId: $id) ")
	writeSelection(&b, fg.types["Graph"])
	b.WriteString(" }")
	return b.String()
}

// FastAgentQueryForTest is the same for Query.agent: every field the fast
// path claims on AgentDetail. It takes $id: ID and $agent: String!.
func FastAgentQueryForTest() string {
	fg, err := newFastGraph(graph.NewExecutableSchema(graph.Config{}).Schema(), fastTypes, leftToGqlgen)
	if err != nil {
		panic(err)
	}
	var b strings.Builder
	b.WriteString("query($id: ID, $agent: String!) { __typename agent(agentId: $agent, networkId: $id) ")
	writeSelection(&b, fg.types["AgentDetail"])
	b.WriteString(" }")
	return b.String()
}

func writeSelection(b *strings.Builder, t *fastType) {
	b.WriteString("{ __typename")
	for _, name := range t.order {
		b.WriteString(" " + name)
		if c := t.fields[name]; c.child != nil {
			b.WriteByte(' ')
			writeSelection(b, c.child)
		}
	}
	b.WriteString(" }")
}
