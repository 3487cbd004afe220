package graphstore_test

import (
	"context"
	"testing"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/testdb"
)

// A cached graph is never served for a deleted network.
func TestLoadGraphAfterDelete(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			s := graphstore.New(testdb.Open(t, dialect))
			ctx := context.Background()
			n, err := s.Import(ctx, randomGraph(50, 100), graphstore.ImportOptions{Name: "x"})
			if err != nil {
				t.Fatal(err)
			}
			g1, err := s.LoadGraph(ctx, &n.ID)
			if err != nil || len(g1.Nodes) != 50 || len(g1.Edges) != 100 || len(g1.AgentPKs) != 50 {
				t.Fatalf("load: %v", err)
			}
			if g2, _ := s.LoadGraph(ctx, &n.ID); g2 != g1 {
				t.Fatal("second read not served from the cache")
			}
			if err := s.Delete(ctx, n.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.LoadGraph(ctx, &n.ID); apperr.KindOf(err) != apperr.NotFound {
				t.Fatalf("after delete: %v", err)
			}
		})
	}
}
