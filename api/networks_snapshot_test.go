package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// networks { totalCount edges } reads both from one snapshot: while uploads
// commit back to back, every answer's totalCount is its number of edges
// (all networks fit in the page). Read as two statements, an upload
// committing in between made them disagree.
func TestNetworksCountAndPageAgreeDuringUploads(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		post := func(q string, vars map[string]any, out any) error {
			body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
			resp, err := http.Post(e.url+"/query", "application/json", bytes.NewReader(body))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var r struct {
				Data   json.RawMessage
				Errors []gqlError
			}
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				return err
			}
			if len(r.Errors) > 0 {
				return fmt.Errorf("%+v", r.Errors)
			}
			return json.Unmarshal(r.Data, out)
		}
		// Fields resolved after the snapshot's transaction has ended still read.
		e.mustUpload(readFixture(t, "ethox-network-20.json"), "first")
		var nested struct {
			Networks struct {
				Edges []struct {
					Node struct {
						IsDefault   bool
						Agents      struct{ TotalCount int }
						Simulations struct{ TotalCount int }
					}
				}
			}
		}
		if err := post(`{ networks(first: 5) { edges { node { isDefault agents(first: 2) { totalCount edges { node { agentId network { id } } } }
			simulations(first: 1) { totalCount } } } } }`, nil, &nested); err != nil {
			t.Fatal(err)
		}
		if n := nested.Networks.Edges; len(n) != 1 || !n[0].Node.IsDefault || n[0].Node.Agents.TotalCount != 20 {
			t.Fatalf("nested fields: %+v", nested)
		}
		const uploads = 60
		in := map[string]any{"nodes": []any{map[string]any{"agentId": "a"}, map[string]any{"agentId": "b"}},
			"edges": []any{map[string]any{"source": "a", "target": "b"}}}
		var (
			wg        sync.WaitGroup
			done      atomic.Bool
			reads     atomic.Int64
			disagreed atomic.Int64
		)
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < uploads; i += 2 {
					var out any
					if err := post(`mutation($in: GraphInput!) { importGraph(input: $in, name: "n") { network { id } } }`,
						map[string]any{"in": in}, &out); err != nil {
						t.Errorf("upload: %v", err)
						return
					}
				}
			}()
		}
		var readers sync.WaitGroup
		for range 3 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				for !done.Load() {
					var out struct {
						Networks struct {
							TotalCount int
							Edges      []struct{ Cursor string }
						}
					}
					if err := post(`{ networks(first: 1000) { totalCount edges { cursor } } }`, nil, &out); err != nil {
						t.Errorf("networks: %v", err)
						return
					}
					reads.Add(1)
					if out.Networks.TotalCount != len(out.Networks.Edges) {
						if disagreed.Add(1) <= 3 {
							t.Errorf("totalCount %d with %d edges", out.Networks.TotalCount, len(out.Networks.Edges))
						}
					}
				}
			}()
		}
		wg.Wait()
		time.Sleep(50 * time.Millisecond)
		done.Store(true)
		readers.Wait()
		t.Logf("%d reads during %d uploads, %d disagreed", reads.Load(), uploads, disagreed.Load())
		if reads.Load() < 20 {
			t.Errorf("only %d reads ran during the uploads", reads.Load())
		}
	})
}
