package graphstore

import (
	"context"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/networkfile"
)

// A trusted Store answers agent reads from memory exactly as the queries
// do, for every agent of a generated (directed, with reciprocal choices)
// network and of a small undirected one.
func TestAgentFromMemoryMatchesDatabase(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := New(testdb.Open(t, dialect))
			seed := uint64(3)
			gen, err := s.Generate(ctx, GenerateOptions{NumAgents: 300, Seed: &seed})
			if err != nil {
				t.Fatal(err)
			}
			small, err := s.Import(ctx, &networkfile.Graph{
				Nodes: []networkfile.Node{{AgentID: "a"}, {AgentID: "b"}, {AgentID: "c"}, {AgentID: "lonely"}},
				Edges: []networkfile.Edge{{Source: "a", Target: "b", Weight: 0.5}, {Source: "c", Target: "a", Weight: 0.9}, {Source: "b", Target: "c", Weight: 0.5}},
			}, ImportOptions{Name: "small"})
			if err != nil {
				t.Fatal(err)
			}
			trust(t, ctx, s)
			for _, n := range []int{gen.ID, small.ID} {
				g, err := s.LoadGraph(ctx, &n)
				if err != nil {
					t.Fatal(err)
				}
				net, err := s.Network(ctx, &n)
				if err != nil {
					t.Fatal(err)
				}
				for i := range g.Nodes {
					id := g.Nodes[i].AgentID
					want, err := s.agentFromDB(ctx, net, id)
					if err != nil {
						t.Fatal(err)
					}
					got, err := s.Agent(ctx, id, &n)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("network %d agent %q:\nmemory   %+v\ndatabase %+v", n, id, got, want)
					}
				}
				if _, err := s.Agent(ctx, "nobody", &n); apperr.KindOf(err) != apperr.NotFound {
					t.Fatalf("unknown agent: %v", err)
				}
			}
		})
	}
}

// trust makes s serve from memory and waits until it does (on PostgreSQL,
// once its listener is connected).
func trust(t *testing.T, ctx context.Context, s *Store) {
	t.Helper()
	s.ServeFromMemory(ctx, DefaultMemoryBytes, nil)
	deadline := time.Now().Add(10 * time.Second)
	for !s.mem.trusted.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the store never started serving from memory")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Concurrent first reads share one load; reads after a delete, in this
// process or (PostgreSQL) in another, are NOT_FOUND, and the default
// network moves with uploads and deletes at once.
func TestMemoryLoadsOnceAndForgetsDeletes(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			db := testdb.Open(t, dialect)
			s := New(db)
			trust(t, ctx, s)
			first, err := s.Import(ctx, testGraph(40), ImportOptions{Name: "first"})
			if err != nil {
				t.Fatal(err)
			}
			n, err := s.Import(ctx, testGraph(50), ImportOptions{Name: "x"})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			got := make([]*Graph, 16)
			for i := range got {
				wg.Go(func() { got[i], _ = s.LoadGraph(ctx, nil) }) // the default: n
			}
			wg.Wait()
			for i := range got {
				if got[i] == nil || got[i] != got[0] || got[i].Network.ID != n.ID {
					t.Fatalf("read %d: %p, want the one load %p of network %d", i, got[i], got[0], n.ID)
				}
			}
			if err := s.Delete(ctx, n.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.LoadGraph(ctx, &n.ID); apperr.KindOf(err) != apperr.NotFound {
				t.Fatalf("after delete: %v", err)
			}
			if _, err := s.Agent(ctx, "0", &n.ID); apperr.KindOf(err) != apperr.NotFound {
				t.Fatalf("agent after delete: %v", err)
			}
			if g, err := s.LoadGraph(ctx, nil); err != nil || g.Network.ID != first.ID {
				t.Fatalf("default after delete: %v", err)
			}
			if dialect != "postgres" {
				return
			}
			// Another process (a second Store with its own memory) deletes.
			other := New(db)
			trust(t, ctx, other)
			if _, err := s.LoadGraph(ctx, &first.ID); err != nil {
				t.Fatal(err)
			}
			if err := other.Delete(ctx, first.ID); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, err := s.LoadGraph(ctx, &first.ID)
				if apperr.KindOf(err) == apperr.NotFound {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a network deleted by another process is still served: %v", err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// A load that began before an eviction keeps nothing; the budget evicts the
// least recently read network first and keeps none over half of it.
func TestMemoryBudget(t *testing.T) {
	m := newMemory(estimateBytes(10, 0))
	g := func(n int) *Graph { return &Graph{Graph: networkfile.Graph{Nodes: make([]networkfile.Node, n)}} }
	gen := m.generation()
	m.evict(99)
	m.put(1, g(2), gen)
	if m.get(1) != nil {
		t.Fatal("a load from before an eviction was kept")
	}
	gen = m.generation()
	m.put(1, g(4), gen)
	m.put(2, g(4), gen)
	if m.get(1) == nil { // 1 is now the most recent
		t.Fatal("1 missing")
	}
	m.put(3, g(4), gen) // 12 > 10: evicts 2
	if m.get(2) != nil || m.get(1) == nil || m.get(3) == nil || m.used != estimateBytes(8, 0) {
		t.Fatalf("after eviction: used=%d", m.used)
	}
	m.put(4, g(6), gen) // over half the budget: not kept
	if m.get(4) != nil {
		t.Fatal("oversized graph kept")
	}
	kept := m.get(1)
	b, err := kept.Body("k", func() ([]byte, error) { return make([]byte, nodeBytes*3), nil })
	if err != nil || b == nil {
		t.Fatal(err)
	}
	// 4 + 3 + 4 nodes' worth > 10: 3, the least recent, goes.
	if m.get(3) != nil || m.get(1) == nil {
		t.Fatal("a body's bytes did not count")
	}
	if again, _ := kept.Body("k", func() ([]byte, error) { t.Fatal("encoded twice"); return nil, nil }); again != b {
		t.Fatal("the kept body was not reused")
	}
}

func testGraph(n int) *networkfile.Graph {
	g := &networkfile.Graph{}
	for i := range n {
		g.Nodes = append(g.Nodes, networkfile.Node{AgentID: itoa(i)})
		if i > 0 {
			g.Edges = append(g.Edges, networkfile.Edge{Source: itoa(i - 1), Target: itoa(i), Weight: 1})
		}
	}
	return g
}

func itoa(i int) string { return strconv.Itoa(i) }
