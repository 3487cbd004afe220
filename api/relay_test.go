package api_test

import (
	"testing"
)

func TestRelayConnectionsAndNodes(t *testing.T) {
	raw := readFixture(t, "ethox-network-20.json")
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.mustUpload(raw, "a")
		id := e.mustUpload(raw, "b").UploadGraph.Network.ID

		var nets struct {
			Networks struct {
				TotalCount int `json:"totalCount"`
				Edges      []struct {
					Cursor string
					Node   struct{ ID, Name string }
				}
				PageInfo struct{ HasNextPage bool }
			}
		}
		e.query(`{ networks(first: 1, orderBy: {field: CREATED_AT, direction: DESC}) { totalCount edges { cursor node { id name } } pageInfo { hasNextPage } } }`, nil).decode(t, &nets)
		if nets.Networks.TotalCount != 2 || len(nets.Networks.Edges) != 1 || nets.Networks.Edges[0].Node.Name != "b" || !nets.Networks.PageInfo.HasNextPage {
			t.Fatalf("networks = %+v", nets)
		}

		var agents struct {
			Node struct {
				Agents struct {
					TotalCount int `json:"totalCount"`
					Edges      []struct {
						Node struct {
							AgentID string `json:"agentId"`
							Degree  int
						}
					}
				}
			}
		}
		q := `query($id: ID!) { node(id: $id) { ... on Network { agents(first: 3, where: {degreeGTE: 5, gender: "female"}, orderBy: {field: DEGREE, direction: DESC}) {
			totalCount edges { node { agentId degree } } } } } }`
		e.query(q, map[string]any{"id": id}).decode(t, &agents)
		a := agents.Node.Agents
		if a.TotalCount == 0 || len(a.Edges) == 0 || len(a.Edges) > 3 {
			t.Fatalf("agents = %+v", a)
		}
		for i, ed := range a.Edges {
			if ed.Node.Degree < 5 || (i > 0 && ed.Node.Degree > a.Edges[i-1].Node.Degree) {
				t.Errorf("agent %+v breaks the filter or the order", ed.Node)
			}
		}

		var nodes struct {
			Nodes []struct {
				Typename string `json:"__typename"`
			}
		}
		e.query(`query($id: ID!) { nodes(ids: [$id]) { __typename } }`, map[string]any{"id": id}).decode(t, &nodes)
		if len(nodes.Nodes) != 1 || nodes.Nodes[0].Typename != "Network" {
			t.Fatalf("nodes = %+v", nodes)
		}
		resp := e.query(`{ node(id: "4294967295999") { id } }`, nil)
		if resp.code() != "NOT_FOUND" {
			t.Fatalf("unknown node: %+v", resp.Errors)
		}
	})
}
