package graphstore

import (
	"testing"

	"github.com/ethox/ethox/networkfile"
)

func graphOf(nodes int) *Graph {
	return &Graph{Graph: networkfile.Graph{Nodes: make([]networkfile.Node, nodes)}}
}

func TestGraphCacheEvictsLeastRecent(t *testing.T) {
	c := newGraphCache(10)
	c.put(1, graphOf(4))
	c.put(2, graphOf(4))
	if c.get(1) == nil { // 1 is now the most recent
		t.Fatal("1 missing")
	}
	c.put(3, graphOf(4)) // 12 > 10: evicts 2
	if c.get(2) != nil || c.get(1) == nil || c.get(3) == nil || c.items != 8 {
		t.Fatalf("after eviction: items=%d", c.items)
	}
	c.put(4, graphOf(6)) // more than half the cache: not kept
	if c.get(4) != nil {
		t.Fatal("oversized graph cached")
	}
	c.remove(1)
	if c.get(1) != nil || c.items != 4 {
		t.Fatalf("after remove: items=%d", c.items)
	}
}
