package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ethox/ethox/internal/synthnet"
	"github.com/ethox/ethox/internal/testdb"
)

var benchSizes = []struct{ nodes, edges int }{{10_000, 50_000}, {100_000, 1_000_000}}

// BenchmarkUpload posts network.json as a multipart upload to a real server
// and waits for the stored network: parse, validate, and bulk insert.
//
//	go test ./api -run '^$' -bench BenchmarkUpload -benchtime 3x
func BenchmarkUpload(b *testing.B) {
	for _, size := range benchSizes {
		doc := synthnet.JSON(size.nodes, size.edges, 1)
		for _, dialect := range testdb.Dialects() {
			b.Run(fmt.Sprintf("%s/%dk_nodes_%dk_edges", dialect, size.nodes/1000, size.edges/1000), func(b *testing.B) {
				e := newEnv(b, dialect)
				b.SetBytes(int64(len(doc)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					ct, body := multipartBody(b, uploadMutation, nil, doc, "network.json")
					resp := e.post(ct, body)
					if len(resp.Errors) > 0 || !strings.Contains(string(resp.Data), `"nodeCount":`+strconv.Itoa(size.nodes)) {
						b.Fatalf("upload: %+v %s", resp.Errors, resp.Data)
					}
				}
			})
		}
	}
}

// BenchmarkGraphQuery reads a whole 10k-node / 50k-edge network through the
// graph query over HTTP, every node field included.
//
//	go test ./api -run '^$' -bench BenchmarkGraphQuery
func BenchmarkGraphQuery(b *testing.B) {
	doc := synthnet.JSON(10_000, 50_000, 1)
	body := []byte(`{"query":` + strconv.Quote(strings.ReplaceAll(graphQuery, "\n", " ")) + `}`)
	for _, dialect := range testdb.Dialects() {
		b.Run(dialect+"/10k_nodes_50k_edges", func(b *testing.B) {
			e := newEnv(b, dialect)
			e.mustUpload(doc, "bench")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, err := http.Post(e.url+"/query", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n < 1_000_000 {
					b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
				}
				b.SetBytes(n)
			}
		})
	}
}

// BenchmarkAgentQuery looks up one agent and its neighbours in a 10k/50k network.
func BenchmarkAgentQuery(b *testing.B) {
	doc := synthnet.JSON(10_000, 50_000, 1)
	for _, dialect := range testdb.Dialects() {
		b.Run(dialect+"/10k_nodes_50k_edges", func(b *testing.B) {
			e := newEnv(b, dialect)
			e.mustUpload(doc, "bench")
			var ids struct {
				Graph struct{ Nodes []struct{ AgentID string } }
			}
			e.query(`{ graph { nodes { agentId } } }`, nil).decode(b, &ids)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := ids.Graph.Nodes[(i*7919)%len(ids.Graph.Nodes)].AgentID
				var out struct {
					Agent struct{ Neighbors []struct{ AgentID string } }
				}
				e.query(`query($id: String!) { agent(agentId: $id) { node { agentId } neighbors { agentId weight degree } } }`,
					map[string]any{"id": id}).decode(b, &out)
			}
		})
	}
}
