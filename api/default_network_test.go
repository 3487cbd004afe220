package api_test

import (
	"strings"
	"testing"
)

// Issue 16: the default network changed silently whenever a network was
// created, runSimulation(numAgents:) included. Network.isDefault says which
// one it is, setDefaultNetwork chooses it, and a run's own population does
// not take it over.
func TestDefaultNetwork(t *testing.T) {
	raw := readFixture(t, "ethox-network-20.json")
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		ids := map[string]string{} // step name → network id
		type step struct {
			name string
			do   func() string // returns the network it created or named, if any
			want string        // the step whose network is the default afterwards
		}
		mutate := func(q string, vars map[string]any, path ...string) string {
			t.Helper()
			var out map[string]any
			e.query(q, vars).decode(t, &out)
			var v any = out
			for _, p := range path {
				v = v.(map[string]any)[p]
			}
			return v.(string)
		}
		steps := []step{
			{"upload", func() string { return e.mustUpload(raw, "upload").UploadGraph.Network.ID }, "upload"},
			{"generate", func() string {
				return mutate(`mutation { generateNetwork(input: {numAgents: 12, seed: 1}) { id } }`, nil, "generateNetwork", "id")
			}, "generate"},
			{"run on a fresh population", func() string {
				return mutate(`mutation { runSimulation(input: {trigger: "x", numAgents: 8, populationSeed: 2, engine: DEGROOT, rounds: 1}) { network { id } } }`,
					nil, "runSimulation", "network", "id")
			}, "generate"},
			{"set the upload", func() string {
				return mutate(`mutation($id: ID!) { setDefaultNetwork(id: $id) { id isDefault } }`, map[string]any{"id": ids["upload"]}, "setDefaultNetwork", "id")
			}, "upload"},
			{"import", func() string {
				in := map[string]any{"nodes": []any{map[string]any{"agentId": "a"}, map[string]any{"agentId": "b"}}, "edges": []any{}}
				return mutate(`mutation($in: GraphInput!) { importGraph(input: $in) { network { id } } }`, map[string]any{"in": in}, "importGraph", "network", "id")
			}, "import"},
			{"set the run's population", func() string {
				return mutate(`mutation($id: ID!) { setDefaultNetwork(id: $id) { id } }`, map[string]any{"id": ids["run on a fresh population"]}, "setDefaultNetwork", "id")
			}, "run on a fresh population"},
			{"delete the default", func() string {
				return mutate(`mutation($id: ID!) { deleteNetwork(id: $id) { defaultNetwork { id } } }`, map[string]any{"id": ids["run on a fresh population"]}, "deleteNetwork", "defaultNetwork", "id")
			}, "import"},
			{"delete the default again", func() string {
				return mutate(`mutation($id: ID!) { deleteNetwork(id: $id) { defaultNetwork { id } } }`, map[string]any{"id": ids["import"]}, "deleteNetwork", "defaultNetwork", "id")
			}, "upload"},
		}
		for _, s := range steps {
			ids[s.name] = s.do()
			want := ids[s.want]
			var got struct {
				DefaultNetwork struct{ ID string }
				Graph          struct{ Network struct{ ID string } }
				Networks       struct {
					Edges []struct {
						Node struct {
							ID        string
							IsDefault bool
						}
					}
				}
			}
			e.query(`{ defaultNetwork { id } graph { network { id } } networks(first: 100) { edges { node { id isDefault } } } }`, nil).decode(t, &got)
			if got.DefaultNetwork.ID != want || got.Graph.Network.ID != want {
				t.Fatalf("after %s: defaultNetwork %s, graph %s, want %s (%s)", s.name, got.DefaultNetwork.ID, got.Graph.Network.ID, want, s.want)
			}
			defaults := 0
			for _, n := range got.Networks.Edges {
				if n.Node.IsDefault {
					defaults++
					if n.Node.ID != want {
						t.Fatalf("after %s: network %s isDefault, want %s", s.name, n.Node.ID, want)
					}
				}
			}
			if defaults != 1 {
				t.Fatalf("after %s: %d networks with isDefault", s.name, defaults)
			}
		}

		// setDefaultNetwork answers the network, now the default; an unknown id is NOT_FOUND.
		var set struct {
			SetDefaultNetwork struct {
				ID        string
				IsDefault bool
			}
		}
		e.query(`mutation($id: ID!) { setDefaultNetwork(id: $id) { id isDefault } }`, map[string]any{"id": ids["generate"]}).decode(t, &set)
		if set.SetDefaultNetwork.ID != ids["generate"] || !set.SetDefaultNetwork.IsDefault {
			t.Fatalf("setDefaultNetwork = %+v", set)
		}
		resp := e.query(`mutation { setDefaultNetwork(id: "999999") { id } }`, nil)
		if resp.code() != "NOT_FOUND" || !strings.Contains(resp.Errors[0].Message, "not found") {
			t.Fatalf("unknown id: %+v", resp.Errors)
		}
	})
}

// A database from before default networks were recorded has its latest
// network as the default; a run's fresh population created then does not
// take it over either.
func TestDefaultNetworkUnrecorded(t *testing.T) {
	raw := readFixture(t, "ethox-network-20.json")
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.mustUpload(raw, "older")
		latest := e.mustUpload(raw, "latest").UploadGraph.Network.ID
		if _, err := e.db.SQL.Exec(`DELETE FROM default_selections`); err != nil { // as before the table existed
			t.Fatal(err)
		}
		var def struct{ DefaultNetwork struct{ ID string } }
		e.query(`{ defaultNetwork { id } }`, nil).decode(t, &def)
		if def.DefaultNetwork.ID != latest {
			t.Fatalf("unrecorded default %s, want the latest %s", def.DefaultNetwork.ID, latest)
		}
		e.query(`mutation { runSimulation(input: {trigger: "x", numAgents: 5, engine: DEGROOT}) { id } }`, nil).decode(t, &struct{}{})
		e.query(`{ defaultNetwork { id } }`, nil).decode(t, &def)
		if def.DefaultNetwork.ID != latest {
			t.Fatalf("after a run on a fresh population: default %s, want %s", def.DefaultNetwork.ID, latest)
		}
	})
}
