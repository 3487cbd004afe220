package network

import (
	"bytes"
	"runtime"
	"testing"
	"time"
)

func TestZZLarge(t *testing.T) {
	doc := generatedDocument(100_000, 1_000_000, 3)
	t.Logf("doc %d MB", len(doc)>>20)
	for i := 0; i < 1; i++ {
		runtime.GC()
		t0 := time.Now()
		g, err := Decode(bytes.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		g.ComputeMetrics(MetricsOptions{})
		t2 := time.Now()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("decode %v, metrics(all supplied) %v, heap %d MB", t1.Sub(t0), t2.Sub(t1), ms.HeapAlloc>>20)
		for j := range g.Nodes {
			g.Nodes[j].BetweennessCentrality = nil
		}
		t3 := time.Now()
		g.ComputeMetrics(MetricsOptions{})
		t.Logf("sampled betweenness 256 pivots: %v", time.Since(t3))
	}
}
