package simulation

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"

	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
)

// An LLM run's rounds are split into chunk jobs; a chunk job starts each of
// its agents' steps (llmstep.go) as soon as the step's inputs are stored, and
// the last job of a round to finish moves the run on (advance).

func (w *chunkWorker) Work(ctx context.Context, job *river.Job[ChunkArgs]) (err error) {
	s, a := w.s, job.Args
	defer s.recoverJob(ctx, a.SimulationID, &err)
	r, finish, err := s.startJob(ctx, a.SimulationID)
	defer finish()
	if err != nil || r == nil {
		return err
	}
	ctx, cancel, sim, p, pl := r.ctx, r.cancel, r.sim, r.p, r.pl
	if s.llm == nil {
		return errors.New("this process has no LLM configured (OPENAI_API_KEY or OPENAI_BASE_URL) for an LLM run")
	}
	if model := cmp.Or(p.Model, s.llm.Config().Model); p.MaxCostUSD > 0 && !s.llm.Priced(model) {
		// Run refuses this; the prices may have changed since (LLM_PRICES at a restart).
		return s.fail(ctx, sim.ID, fmt.Sprintf("model %q has no price in LLM_PRICES, so maxCostUSD cannot be enforced", model))
	}
	n := len(pl.graph.Nodes)
	size := cmp.Or(a.Size, s.cfg.ChunkSize)
	lo, hi := a.Chunk*size, min((a.Chunk+1)*size, n)
	if lo >= hi {
		return s.advance(ctx, sim.ID, a.Round)
	}
	done, err := s.states.stored(ctx, sim.ID, a.Round, pl.graph.AgentPKs[lo], pl.graph.AgentPKs[hi-1])
	if err != nil {
		return err
	}
	// Rounds are synchronous in what they read (round r only reads round r-1),
	// but not in when they run: an agent's step starts as soon as its own and
	// its shown neighbours' previous states exist, so the next round fills the
	// slots the tail of the current one leaves idle. A sequential run reads,
	// for the neighbours before the agent in node order, their state of this
	// round instead, as an in-place update in node order would: its step
	// waits for them too, so a round runs as far in parallel as its
	// dependencies allow and gives what a serial in-place round gives. The job waits for inputs
	// (woken by steps stored in this process, or every poll interval for other
	// processes') for a bounded time, then snoozes to free its worker.
	deps := chunkDeps(pl, lo, hi)
	sem := pl.slots(p.Concurrency) // shared by this run's chunk jobs in this process
	var (
		wg       sync.WaitGroup
		stopOnce sync.Once
		stopErr  error
		stopped  atomic.Bool // no new steps; calls in flight still finish and are stored
		launched = make([]bool, hi-lo)
		waiting  int
		inFlight atomic.Int32
	)
	waitUntil := time.Now().Add(s.cfg.JobTimeout / 4)
	// A job that only waits gives its worker up soon: otherwise jobs of the
	// next round, queued ahead, could hold every worker while the retried job
	// they wait for (after a database outage, say) sorts behind them.
	idle := max(20*s.cfg.PollInterval, time.Second)
	lastProgress := time.Now()
	var (
		prev, cur     []StateView
		have, haveCur []bool
	)
	// Inputs are read from the database at first and once a poll interval
	// (other processes' steps), in between from memory (steps stored here).
	var lastDB time.Time
	for ctx.Err() == nil && !stopped.Load() {
		changed := pl.changes()
		fromDB := time.Since(lastDB) >= s.cfg.PollInterval
		if fromDB {
			lastDB = time.Now()
		}
		if a.Round > 0 {
			if prev, have, err = s.mergeStates(ctx, sim.ID, a.Round-1, pl, deps, fromDB, prev, have); err != nil {
				stopOnce.Do(func() { stopErr = err; stopped.Store(true) })
				break
			}
			if p.Sequential() {
				if cur, haveCur, err = s.mergeStates(ctx, sim.ID, a.Round, pl, deps, fromDB, cur, haveCur); err != nil {
					stopOnce.Do(func() { stopErr = err; stopped.Store(true) })
					break
				}
			}
		}
		waiting = 0
		for i := lo; i < hi && ctx.Err() == nil && !stopped.Load(); i++ {
			if done[pl.graph.AgentPKs[i]] || launched[i-lo] {
				continue
			}
			if have != nil && !inputsReady(pl, i, have, haveCur) {
				waiting++
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				continue
			}
			launched[i-lo] = true
			lastProgress = time.Now()
			inFlight.Add(1)
			wg.Add(1)
			tk := pl.batcher(s, sim.ID).begin()
			go func(i int, prev, cur []StateView) {
				defer wg.Done()
				defer inFlight.Add(-1)
				defer tk.abandon()
				defer func() {
					// Last resort (step recovers its own panics): River only recovers Work's goroutine.
					if v := recover(); v != nil {
						s.log.Error("panic in a simulation step", "simulation", sim.ID, "round", a.Round,
							"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
						stopOnce.Do(func() { stopErr = fmt.Errorf("panic in a step: %v", v); stopped.Store(true); cancel() })
					}
				}()
				// The slot bounds LLM calls in flight; it is freed as soon as the call
				// returns, so the next call does not wait for this step's write.
				var once sync.Once
				release := func() { once.Do(func() { <-sem }) }
				defer release()
				if err := s.step(ctx, sim, p, pl, a.Round, i, prev, cur, release, tk); err != nil {
					stopOnce.Do(func() {
						stopErr = err
						stopped.Store(true)
						if !errors.Is(err, errStopped) {
							cancel() // a real error: abandon the chunk, River retries it
						}
					})
				}
			}(i, prev, cur)
		}
		if waiting == 0 || time.Now().After(waitUntil) ||
			(inFlight.Load() == 0 && time.Since(lastProgress) > idle) {
			break
		}
		select {
		case <-changed:
			lastProgress = time.Now()
			// Let a few more steps land before looking again.
			time.Sleep(min(s.cfg.PollInterval/10, 5*time.Millisecond))
		case <-time.After(s.cfg.PollInterval):
		case <-ctx.Done():
		}
	}
	wg.Wait()
	if st, err := s.detachedStatus(ctx, sim.ID); err == nil && terminal(st) {
		return nil // canceled, failed or over budget: the row says why
	}
	if stopErr != nil && !errors.Is(stopErr, errStopped) {
		return stopErr // River retries the job; stored steps are skipped then
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if waiting > 0 {
		return river.JobSnooze(s.cfg.PollInterval) // inputs still missing: try again soon, on any worker
	}
	return s.advance(ctx, sim.ID, a.Round)
}

// chunkSize is the agents per job of a run: SIM_CHUNK_SIZE, or four times
// the run's calls in flight if more. A job then lasts about as many LLM
// latencies whatever the concurrency, and a fast LLM does not spend the run
// on per-job overhead (a 10,000-agent run at 64 in flight: 40 jobs a round, not 313).
func (s *Service) chunkSize(p Params) int { return max(s.cfg.ChunkSize, 4*p.Concurrency) }

// detachedStatus reads a run's status after its job's context may have been canceled.
func (s *Service) detachedStatus(ctx context.Context, id int) (entsim.Status, error) {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.status(ctx, id)
}

// roundStates reads a completed round's states by node position.
func (s *Service) roundStates(ctx context.Context, simID, round int, pl *plan) ([]StateView, error) {
	st, _, err := s.mergeStates(ctx, simID, round, pl, nil, true, nil, nil)
	return st, err
}

// mergeStates fills out and have (nil: new ones) with a round's states by
// node position: those stored by this process (remembered when their batch
// committed), and with fromDB those in the database too (with pks, only
// those agents', and only the ones still missing). Entries already present
// are never written again: steps started on them read them concurrently. A
// complete round is cached on the plan (it never changes) and returned
// instead.
func (s *Service) mergeStates(ctx context.Context, simID, round int, pl *plan, pks []int, fromDB bool, out []StateView, have []bool) ([]StateView, []bool, error) {
	n := len(pl.graph.Nodes)
	pl.mu.Lock()
	st, ok := pl.rounds[round]
	if ok {
		pl.mu.Unlock()
		all := make([]bool, len(st))
		for i := range all {
			all[i] = true
		}
		return st, all, nil
	}
	if out == nil {
		out, have = make([]StateView, n), make([]bool, n)
	}
	count := 0
	mem := pl.mem[round]
	for i := range have {
		if !have[i] && mem != nil && mem.have[i] {
			out[i], have[i] = mem.st[i], true
		}
		if have[i] {
			count++
		}
	}
	pl.mu.Unlock()
	if fromDB && count < n {
		var missing []int
		if pks != nil {
			missing = make([]int, 0, len(pks))
			for _, pk := range pks {
				if i, ok := pl.index[pk]; ok && !have[i] {
					missing = append(missing, pk)
				}
			}
		}
		if pks == nil || len(missing) > 0 {
			err := s.states.each(ctx, simID, round, missing, func(pk int, v StateView) {
				if i, ok := pl.index[pk]; ok && !have[i] {
					out[i], have[i] = v, true
					count++
				}
			})
			if err != nil {
				return nil, nil, err
			}
		}
	}
	if count == n {
		pl.mu.Lock()
		if pl.rounds == nil {
			pl.rounds = map[int][]StateView{}
		}
		pl.rounds[round] = out
		delete(pl.mem, round)
		pl.mu.Unlock()
	}
	return out, have, nil
}

// chunkDeps lists the agents whose previous states a chunk's steps read: the
// chunk's agents and their shown neighbours.
func chunkDeps(pl *plan, lo, hi int) []int {
	seen := map[int]bool{}
	var pks []int
	add := func(i int) {
		if !seen[i] {
			seen[i] = true
			pks = append(pks, pl.graph.AgentPKs[i])
		}
	}
	for i := lo; i < hi; i++ {
		add(i)
		cols, _ := pl.csr.Row(i)
		for _, j := range cols {
			add(int(j))
		}
	}
	return pks
}

// inputsReady reports whether the states agent i's step reads exist: its
// own and its shown neighbours' previous states (have), or for a sequential
// run (haveCur not nil) this round's for the neighbours before it.
func inputsReady(pl *plan, i int, have, haveCur []bool) bool {
	if !have[i] {
		return false
	}
	cols, _ := pl.csr.Row(i)
	for _, j := range cols {
		if haveCur != nil && int(j) < i {
			if !haveCur[j] {
				return false
			}
		} else if !have[j] {
			return false
		}
	}
	return true
}

// advance moves a run past a round once every agent has a state for it:
// it starts the next round's jobs or finishes the run. Concurrent finishers
// are serialized on the simulation row, and the current_round check makes a
// repeated call a no-op.
func (s *Service) advance(ctx context.Context, simID, round int) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.write(ctx, simID, func(tx *sql.Tx, client *ent.Client) error {
		q := client.Simulation.Query().Where(entsim.ID(simID)).WithNetwork()
		if s.db.Dialect == dialect.Postgres {
			q = q.ForUpdate() // SQLite's write transactions are serialized already
		}
		sim, err := q.Only(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		n := sim.Edges.Network.NodeCount
		// LLM rounds overlap, so round r+1 can finish before round r advances; its
		// own advance was then a no-op, and this one carries on through it.
		for ; ; round++ {
			if terminal(sim.Status) || sim.CurrentRound != round {
				return nil
			}
			if sim.CompletedSteps+copiedSteps(sim, n) < n*(round+1) {
				// Rounds before this one are complete and every stored state is counted
				// with it: the round cannot be, and the count (a scan of the round,
				// under SQLite's write lock at each job's end) is not needed.
				return nil
			}
			count, err := s.states.count(ctx, tx, simID, round)
			if err != nil {
				return err
			}
			if count < n {
				return nil
			}
			if sim.CompletedSteps > 0 && float64(sim.FailedSteps) > s.cfg.FailShare*float64(sim.CompletedSteps) {
				_, err := s.setStatus(ctx, tx, client, simID, entsim.StatusFAILED, fmt.Sprintf("%d of %d steps failed, over the allowed share of %.0f%% (SIM_FAIL_SHARE)",
					sim.FailedSteps, sim.CompletedSteps, 100*s.cfg.FailShare), live...)
				return err
			}
			if err := s.emitRound(ctx, tx, simID, round); err != nil {
				return err
			}
			if round >= sim.Rounds {
				_, err := s.setStatus(ctx, tx, client, simID, entsim.StatusSUCCEEDED, "", live...)
				return err
			}
			if err := client.Simulation.Update().Where(entsim.ID(simID)).SetCurrentRound(round + 1).Exec(ctx); err != nil {
				return err
			}
			sim.CurrentRound = round + 1
			if sim.Engine != entsim.EngineLLM {
				return s.enqueueRound(ctx, tx, simID, sim.Engine, round+1, n, s.chunkSize(sim.Params))
			}
			// Round r+1 was queued together with round r (see Run): queue r+2.
			if round+2 <= sim.Rounds {
				if err := s.enqueueRound(ctx, tx, simID, sim.Engine, round+2, n, s.chunkSize(sim.Params)); err != nil {
					return err
				}
			}
		}
	})
}
