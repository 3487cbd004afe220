package graphstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/ent/agentstate"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/internal/testwait"
)

// addRuns stores `runs` finished runs on network id, each with a state and an
// event per agent and round (rounds+1 of them), as LLM runs leave them.
func addRuns(tb testing.TB, db *database.DB, id, runs, rounds int) []int {
	tb.Helper()
	ctx := context.Background()
	ph := db.Placeholder
	var ids []int
	for range runs {
		sim, err := db.Client.Simulation.Create().SetNetworkID(id).SetEngine(entsim.EngineLLM).SetTrigger("t").
			SetStatus(entsim.StatusSUCCEEDED).SetRounds(rounds).Save(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, sim.ID)
		for r := 0; r <= rounds; r++ {
			now := time.Now().UTC()
			if _, err := db.SQL.ExecContext(ctx, `INSERT INTO agent_states (simulation_id, agent_id, round, opinion, care, support,
				failed, latency_ms, prompt_tokens, completion_tokens, retries, created_at)
				SELECT `+ph(1)+`, id, `+ph(2)+`, 'I would rather read about it first; it matters to me a fair amount.', 5, 1,
				false, 200, 400, 60, 0, `+ph(3)+` FROM agents WHERE network_id = `+ph(4), sim.ID, r, now, id); err != nil {
				tb.Fatal(err)
			}
			if _, err := db.SQL.ExecContext(ctx, `INSERT INTO simulation_events (seq, type, agent_key, round, payload, created_at, simulation_id)
				SELECT id + `+ph(1)+`, 'AGENT_UPDATED', agent_id, `+ph(2)+`, '{"opinion":"x"}', `+ph(3)+`, `+ph(4)+` FROM agents WHERE network_id = `+ph(5),
				r*10_000_000, r, now, sim.ID, id); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return ids
}

// rowsOf counts network id's rows in every table a purge empties.
func rowsOf(tb testing.TB, db *database.DB, id int) map[string]int {
	tb.Helper()
	ph := db.Placeholder(1)
	bySim := `simulation_id IN (SELECT id FROM simulations WHERE network_id = ` + ph + `)`
	out := map[string]int{}
	for table, where := range map[string]string{
		"networks": "id = " + ph, "agents": "network_id = " + ph, "ties": "network_id = " + ph,
		"simulations": "network_id = " + ph, "default_selections": "network_id = " + ph,
		"agent_states": bySim, "simulation_events": bySim,
	} {
		var n int
		if err := db.SQL.QueryRow(`SELECT COUNT(*) FROM `+table+` WHERE `+where, id).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func isNotFound(err error) bool { return apperr.KindOf(err) == apperr.NotFound || ent.IsNotFound(err) }

// Deleting hides the network and everything of it from every read at once;
// its rows go in the purge, and nothing of another network does.
func TestDeleteHidesAtOnceThenPurges(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			db := testdb.Open(t, dialect)
			s := graphstore.New(db)
			ctx := context.Background()
			gone, err := s.Import(ctx, randomGraph(300, 900), graphstore.ImportOptions{Name: "gone"})
			if err != nil {
				t.Fatal(err)
			}
			kept, err := s.Import(ctx, randomGraph(50, 100), graphstore.ImportOptions{Name: "kept"})
			if err != nil {
				t.Fatal(err)
			}
			goneSims, keptSims := addRuns(t, db, gone.ID, 2, 2), addRuns(t, db, kept.ID, 1, 1)
			if _, err := s.SetDefault(ctx, gone.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.LoadGraph(ctx, &gone.ID); err != nil { // cached: must not be served after
				t.Fatal(err)
			}
			before, keptBefore := rowsOf(t, db, gone.ID), rowsOf(t, db, kept.ID)

			if err := s.Hide(ctx, gone.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.Hide(ctx, gone.ID); apperr.KindOf(err) != apperr.NotFound {
				t.Fatalf("second delete: %v", err)
			}
			reads := []struct {
				name string
				read func() error
			}{
				{"LoadGraph", func() error { _, err := s.LoadGraph(ctx, &gone.ID); return err }},
				{"Agent", func() error { _, err := s.Agent(ctx, "1", &gone.ID); return err }},
				{"LiveNetwork", func() error { _, err := s.LiveNetwork(ctx, gone.ID); return err }},
				{"SetDefault", func() error { _, err := s.SetDefault(ctx, gone.ID); return err }},
				{"node(network)", func() error { _, err := db.Client.Noder(ctx, gone.ID); return err }},
				{"node(run)", func() error { _, err := db.Client.Noder(ctx, goneSims[0]); return err }},
				{"run", func() error { _, err := db.Client.Simulation.Get(ctx, goneSims[1]); return err }},
				{"run states", func() error {
					_, err := db.Client.AgentState.Query().Where(agentstate.SimulationID(goneSims[0])).First(ctx)
					return err
				}},
			}
			for _, r := range reads {
				if err := r.read(); !isNotFound(err) {
					t.Errorf("%s of a deleted network: %v, want NOT_FOUND", r.name, err)
				}
			}
			if n := db.Client.Network.Query().CountX(ctx); n != 1 {
				t.Errorf("networks listed: %d, want 1", n)
			}
			if ids := db.Client.Simulation.Query().IDsX(ctx); len(ids) != 1 || ids[0] != keptSims[0] {
				t.Errorf("runs listed: %v, want %v", ids, keptSims)
			}
			if def, err := s.DefaultNetwork(ctx); err != nil || def.ID != kept.ID {
				t.Errorf("default after deleting it: %v %v, want the one made default before", def, err)
			}
			if got := rowsOf(t, db, gone.ID); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Errorf("hiding deleted rows: %v -> %v", before, got)
			}

			done, err := s.Purge(ctx, gone.ID, 0)
			if err != nil || !done {
				t.Fatalf("purge: %v %v", done, err)
			}
			for table, n := range rowsOf(t, db, gone.ID) {
				if n != 0 {
					t.Errorf("after the purge %s has %d rows of the network", table, n)
				}
			}
			if got := rowsOf(t, db, kept.ID); fmt.Sprint(got) != fmt.Sprint(keptBefore) {
				t.Errorf("the other network changed: %v -> %v", keptBefore, got)
			}
			if done, err := s.Purge(ctx, gone.ID, 0); err != nil || !done {
				t.Errorf("purge again (a retried job): %v %v", done, err)
			}
			if done, err := s.Purge(ctx, kept.ID, 0); err == nil || !done {
				t.Errorf("purge of a live network: %v %v, want refused", done, err)
			}
		})
	}
}

// A reader never sees part of a network: while it is deleted and purged,
// every read is the whole network or NOT_FOUND, and every read that starts
// after Delete returned is NOT_FOUND.
func TestConcurrentReaderNeverSeesHalfDeletedNetwork(t *testing.T) {
	const agents, ties = 2000, 8000
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			db := testdb.Open(t, dialect)
			s := graphstore.New(db)
			ctx := context.Background()
			n, err := s.Import(ctx, randomGraph(agents, ties), graphstore.ImportOptions{Name: "gone"})
			if err != nil {
				t.Fatal(err)
			}
			addRuns(t, db, n.ID, 1, 1)
			want, err := s.Agent(ctx, "0", &n.ID)
			if err != nil {
				t.Fatal(err)
			}
			var (
				hidden   atomic.Bool
				stop     = make(chan struct{})
				wg       sync.WaitGroup
				mu       sync.Mutex
				problems []string
				whole    atomic.Int64
				notFound atomic.Int64
			)
			report := func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				if len(problems) < 10 {
					problems = append(problems, fmt.Sprintf(format, args...))
				}
			}
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						after := hidden.Load()
						fresh := graphstore.New(db) // no cache: every read goes to the database
						var err error
						var size string
						if w%2 == 0 {
							var g *graphstore.Graph
							if g, err = fresh.LoadGraph(ctx, &n.ID); err == nil && (len(g.Nodes) != agents || len(g.Edges) != ties) {
								size = fmt.Sprintf("graph of %d nodes and %d edges", len(g.Nodes), len(g.Edges))
							}
						} else {
							var d *graphstore.AgentDetail
							if d, err = fresh.Agent(ctx, "0", &n.ID); err == nil && len(d.Neighbors) != len(want.Neighbors) {
								size = fmt.Sprintf("agent with %d of %d neighbours", len(d.Neighbors), len(want.Neighbors))
							}
						}
						switch {
						case err != nil && !isNotFound(err):
							report("read failed: %v", err)
						case err != nil:
							notFound.Add(1)
						case size != "":
							report("half-deleted network read: %s", size)
						case after:
							report("a read started after the delete found the network")
						default:
							whole.Add(1)
						}
					}
				}()
			}
			// Delete once reads are going on (each loads the whole network: slow on a loaded machine).
			testwait.Until(t, 60*time.Second, 10*time.Millisecond, func() (bool, string) {
				return whole.Load() >= 4, "no whole read yet"
			})
			if err := s.Hide(ctx, n.ID); err != nil {
				t.Fatal(err)
			}
			hidden.Store(true)
			if done, err := s.Purge(ctx, n.ID, 0); err != nil || !done {
				t.Fatalf("purge: %v %v", done, err)
			}
			time.Sleep(100 * time.Millisecond)
			close(stop)
			wg.Wait()
			for _, p := range problems {
				t.Error(p)
			}
			if whole.Load() == 0 || notFound.Load() == 0 {
				t.Errorf("reads: %d whole, %d not found; want some of each", whole.Load(), notFound.Load())
			}
		})
	}
}

// newRiver is a process's River client: with workers it works purge jobs
// through s, without it only inserts them.
func newRiver(t *testing.T, db *database.DB, s *graphstore.Store, work bool) *river.Client[*sql.Tx] {
	t.Helper()
	cfg := &river.Config{FetchPollInterval: 50 * time.Millisecond, FetchCooldown: 50 * time.Millisecond, PollOnly: db.Dialect != "postgres"}
	if work {
		workers := river.NewWorkers()
		graphstore.AddPurgeWorker(workers, s)
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}}
	}
	rc, err := river.NewClient(db.RiverDriver(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// The purge is a River job: a process that hid a network and died in the
// middle of purging it leaves the job, and the next process finishes it.
func TestPurgeCompletesAfterRestart(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			db := testdb.Open(t, dialect)
			ctx := context.Background()
			first := graphstore.New(db)
			first.UseJobs(newRiver(t, db, first, false), nil) // this process works no jobs: it "dies" first
			n, err := first.Import(ctx, randomGraph(2000, 6000), graphstore.ImportOptions{Name: "gone"})
			if err != nil {
				t.Fatal(err)
			}
			addRuns(t, db, n.ID, 2, 1)
			if err := first.Delete(ctx, n.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := first.LoadGraph(ctx, &n.ID); !isNotFound(err) {
				t.Fatalf("after delete: %v", err)
			}
			// Part of the purge, cut off as a kill would.
			cut, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			_, err = first.Purge(cut, n.ID, 0)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("cut purge: %v", err)
			}
			left := rowsOf(t, db, n.ID)
			if left["networks"] != 1 || left["agents"] != 2000 {
				t.Fatalf("the cut purge went too far to test anything: %v", left)
			}

			second := graphstore.New(db) // the restarted process
			rc := newRiver(t, db, second, true)
			if err := rc.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = rc.Stop(sctx)
			})
			testwait.Until(t, 60*time.Second, 50*time.Millisecond, func() (bool, string) {
				rows := rowsOf(t, db, n.ID)
				for _, k := range rows {
					if k != 0 {
						return false, fmt.Sprintf("not purged: %v", rows)
					}
				}
				return true, ""
			})
		})
	}
}

// Other writes go on while a large network is purged: no write waits for the
// purge more than a batch or two (the old single DELETE held SQLite's writer
// for seconds).
func TestWritesProceedDuringPurge(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			db := testdb.Open(t, dialect)
			s := graphstore.New(db)
			ctx := context.Background()
			n, err := s.Import(ctx, randomGraph(5000, 20_000), graphstore.ImportOptions{Name: "big"})
			if err != nil {
				t.Fatal(err)
			}
			other, err := s.Import(ctx, randomGraph(20, 40), graphstore.ImportOptions{Name: "other"})
			if err != nil {
				t.Fatal(err)
			}
			addRuns(t, db, n.ID, 3, 2) // 45k states, 45k events
			if err := s.Hide(ctx, n.ID); err != nil {
				t.Fatal(err)
			}
			purged := make(chan error, 1)
			start := time.Now()
			go func() { _, err := s.Purge(ctx, n.ID, 0); purged <- err }()
			var writes int
			var slowest time.Duration
			for {
				select {
				case err := <-purged:
					took := time.Since(start)
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("purge %v; %d writes meanwhile, slowest %v", took, writes, slowest)
					if writes == 0 {
						t.Fatal("no write ran during the purge")
					}
					if slowest > time.Second {
						t.Errorf("a write waited %v during the purge", slowest)
					}
					return
				default:
				}
				t0 := time.Now()
				if _, err := s.SetDefault(ctx, other.ID); err != nil { // a small write
					t.Fatal(err)
				}
				slowest = max(slowest, time.Since(t0))
				writes++
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}
