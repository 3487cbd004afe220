package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/ent/agent"
)

// AgentState.agentId is the agent's external id, a column of the agent's
// row: it is read for a whole page at once (loadAgentKeys), not one query
// per state.

// agentKeyOf is state's agentId: loaded with its page, or read alone.
func agentKeyOf(ctx context.Context, c *ent.Client, st *ent.AgentState) (string, error) {
	if a := st.Edges.Agent; a != nil && a.AgentID != "" {
		return a.AgentID, nil
	}
	if err := loadAgentKeys(ctx, c, []*ent.AgentState{st}); err != nil {
		return "", err
	}
	return st.Edges.Agent.AgentID, nil
}

// loadAgentKeys gives every state whose agent's external id is not loaded
// yet its agent (the id, or the external id added to an agent loaded without
// it), in one query.
func loadAgentKeys(ctx context.Context, c *ent.Client, states []*ent.AgentState) error {
	var pks []int
	seen := map[int]bool{}
	for _, st := range states {
		if a := st.Edges.Agent; (a == nil || a.AgentID == "") && !seen[st.AgentID] {
			seen[st.AgentID] = true
			pks = append(pks, st.AgentID)
		}
	}
	if len(pks) == 0 {
		return nil
	}
	agents, err := c.Agent.Query().Where(agent.IDIn(pks...)).Select(agent.FieldID, agent.FieldAgentID).All(ctx)
	if err != nil {
		return err
	}
	key := make(map[int]string, len(agents))
	for _, a := range agents {
		key[a.ID] = a.AgentID
	}
	for _, st := range states {
		switch a := st.Edges.Agent; {
		case a == nil:
			st.Edges.Agent = &ent.Agent{ID: st.AgentID, AgentID: key[st.AgentID]}
		case a.AgentID == "":
			a.AgentID = key[st.AgentID]
		}
	}
	return nil
}

// selectsAgentKey reports whether the connection field being resolved
// selects agentId or agentKey on its edges' nodes.
func selectsAgentKey(ctx context.Context) bool {
	oc := graphql.GetOperationContext(ctx)
	for _, edges := range graphql.CollectFieldsCtx(ctx, nil) {
		if edges.Name != "edges" {
			continue
		}
		for _, node := range graphql.CollectFields(oc, edges.Selections, nil) {
			if node.Name != "node" {
				continue
			}
			for _, f := range graphql.CollectFields(oc, node.Selections, nil) {
				if f.Name == "agentId" || f.Name == "agentKey" {
					return true
				}
			}
		}
	}
	return false
}
