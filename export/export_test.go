package export_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/ethox/ethox/database"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/export"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/networkfile"
)

// liveHeapWriter discards what it is given and samples the live heap every
// n writes, keeping the largest sample.
type liveHeapWriter struct {
	writes, every int
	max           uint64
}

func (w *liveHeapWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.writes%w.every == 0 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		w.max = max(w.max, m.HeapAlloc)
	}
	return len(p), nil
}

// 100k agent states stream out in constant memory: the live heap while
// writing stays far below the size of the export.
func TestStatesExportStreams(t *testing.T) {
	ctx := context.Background()
	db := testdb.Open(t, "sqlite")
	const agents, rounds = 10_000, 10
	g := &networkfile.Graph{Nodes: make([]networkfile.Node, agents)}
	for i := range g.Nodes {
		g.Nodes[i] = networkfile.Node{AgentID: fmt.Sprint(i), Traits: map[string]float64{}, Profile: map[string]any{}, Attributes: map[string]any{}}
	}
	n, err := graphstore.New(db).Import(ctx, g, graphstore.ImportOptions{Name: "big"})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := db.Client.Simulation.Create().SetNetworkID(n.ID).SetEngine(entsim.EngineDEGROOT).SetTrigger("x").SetRounds(rounds - 1).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := graphstore.New(db).LoadGraph(ctx, &n.ID)
	opinion := "An opinion of about one hundred characters, so that the whole export weighs some twenty megabytes in all."
	now := time.Now().UTC()
	cols := []string{"simulation_id", "agent_id", "round", "opinion", "care", "support", "failed", "latency_ms", "prompt_tokens", "completion_tokens", "retries", "created_at"}
	tx, _ := db.SQL.BeginTx(ctx, nil)
	_, err = database.InsertBatches(ctx, tx, db.Dialect, "agent_states", cols, "", agents*rounds, func(i int, args []any) []any {
		return append(args, sim.ID, full.AgentPKs[i%agents], i/agents, opinion, 5.0, 1.0, false, 10, 100, 20, 0, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var size countingWriter
	w := &liveHeapWriter{every: 200}
	if err := export.StatesCSV(ctx, db, sim.ID, io.MultiWriter(&size, w)); err != nil {
		t.Fatal(err)
	}
	growth := int64(w.max) - int64(base.HeapAlloc)
	t.Logf("exported %d bytes; live heap grew at most %d bytes", size.n, growth)
	if size.n < 10<<20 || growth > 4<<20 {
		t.Fatalf("exported %d bytes with a live heap growth of %d bytes: not streaming", size.n, growth)
	}
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
