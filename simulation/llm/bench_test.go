package llm

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// BenchmarkReactThroughput: 256 React calls against a fake server with a
// fixed 20ms latency, Concurrency 32. Reports calls/s and utilisation =
// ideal wall time (calls × latency / concurrency) / measured wall time.
//
//	go test -run '^$' -bench ReactThroughput -benchtime 10x ./simulation/llm/
func BenchmarkReactThroughput(b *testing.B) {
	const (
		calls       = 256
		latency     = 20 * time.Millisecond
		concurrency = 32
	)
	f := newFake(b, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		time.Sleep(latency)
		writeChat(w, validJSON, "", 150, 25)
	})
	cfg := testConfig(f.URL)
	cfg.Concurrency = concurrency
	c := mustNew(b, cfg)
	req := agentRequest()

	var total time.Duration
	for b.Loop() {
		start := time.Now()
		var wg sync.WaitGroup
		for range calls {
			wg.Go(func() {
				if _, _, err := c.React(context.Background(), req); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		total += time.Since(start)
	}
	wall := total / time.Duration(b.N)
	ideal := calls * latency / concurrency
	b.ReportMetric(float64(calls)/wall.Seconds(), "calls/s")
	b.ReportMetric(float64(ideal)/float64(wall), "utilisation")
	b.ReportMetric(float64(wall.Milliseconds()), "ms/256calls")
	if f.maxInflight.Load() > concurrency {
		b.Errorf("max in flight %d > %d", f.maxInflight.Load(), concurrency)
	}
}
