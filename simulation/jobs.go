package simulation

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/simulation/dynamics"
	"github.com/ethox/ethox/simulation/llm"
)

// ChunkArgs is one job: the LLM steps of a chunk of agents in one round.
type ChunkArgs struct {
	SimulationID int `json:"simulationId"`
	Round        int `json:"round"`
	Chunk        int `json:"chunk"`
}

func (ChunkArgs) Kind() string { return "ethox_llm_chunk" }

// ClassicalArgs is one job: the classical rounds of a run, computed in memory
// and stored round by round (a round on a million agents takes well under a
// second, so the job stays short; a restart resumes after the last stored round).
type ClassicalArgs struct {
	SimulationID int `json:"simulationId"`
}

func (ClassicalArgs) Kind() string { return "ethox_classical" }

type chunkWorker struct {
	river.WorkerDefaults[ChunkArgs]
	s *Service
}

type classicalWorker struct {
	river.WorkerDefaults[ClassicalArgs]
	s *Service
}

// stepState is an agent's view after a step.
type stepState struct {
	opinion       string
	care, support float64
}

func terminal(st entsim.Status) bool {
	return st == entsim.StatusSUCCEEDED || st == entsim.StatusFAILED || st == entsim.StatusCANCELED
}

// begin loads a simulation for a job and marks it RUNNING; nil means the job
// has nothing to do (deleted or finished).
func (s *Service) begin(ctx context.Context, id int) (*ent.Simulation, Params, error) {
	sim, err := s.db.Client.Simulation.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, Params{}, nil
	}
	if err != nil {
		return nil, Params{}, err
	}
	if terminal(sim.Status) {
		s.forgetPlan(id)
		return nil, Params{}, nil
	}
	p, err := paramsFromMap(sim.Params)
	if err != nil {
		return nil, Params{}, s.fail(ctx, id, fmt.Sprintf("unreadable parameters: %v", err))
	}
	if sim.Status == entsim.StatusQUEUED {
		err = s.transition(ctx, id, `status = 'RUNNING', started_at = `+s.db.Placeholder(1), []any{time.Now().UTC()},
			"status = 'QUEUED'", func(tx *sql.Tx) error {
				return s.emit(ctx, tx, id, EventStatusChanged, nil, nil, map[string]any{"status": string(entsim.StatusRUNNING)})
			})
		if err != nil {
			return nil, Params{}, err
		}
	}
	return sim, p, nil
}

// jobRun is what a job works on: its run, parameters and plan, and a context
// that Cancel (in this process) cancels.
type jobRun struct {
	ctx    context.Context
	cancel context.CancelFunc
	sim    *ent.Simulation
	p      Params
	pl     *plan
}

// startJob loads a job's run; nil means there is nothing to do. The caller
// must call done.
func (s *Service) startJob(ctx context.Context, simID int) (r *jobRun, done func(), err error) {
	sim, p, err := s.begin(ctx, simID)
	if err != nil || sim == nil {
		return nil, func() {}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	untrack := s.track(sim.ID, cancel)
	done = func() { untrack(); cancel() }
	pl, err := s.planFor(ctx, sim.ID, sim.NetworkID, p)
	if err != nil {
		done()
		return nil, func() {}, err
	}
	return &jobRun{ctx: ctx, cancel: cancel, sim: sim, p: p, pl: pl}, done, nil
}

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
	lo, hi := a.Chunk*s.cfg.ChunkSize, min((a.Chunk+1)*s.cfg.ChunkSize, n)
	if lo >= hi {
		return s.advance(ctx, sim.ID, a.Round)
	}
	done, err := s.storedAgents(ctx, sim.ID, a.Round, pl.graph.AgentPKs[lo:hi])
	if err != nil {
		return err
	}
	// Rounds are synchronous in what they read (round r only reads round r-1),
	// but not in when they run: an agent's step starts as soon as its own and
	// its shown neighbours' previous states exist, so the next round fills the
	// slots the tail of the current one leaves idle. The job waits for inputs
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
	for ctx.Err() == nil && !stopped.Load() {
		changed := pl.changes()
		var (
			prev []stepState
			have []bool
		)
		if a.Round > 0 {
			if prev, have, err = s.statesOf(ctx, sim.ID, a.Round-1, pl, deps); err != nil {
				stopOnce.Do(func() { stopErr = err; stopped.Store(true) })
				break
			}
		}
		waiting = 0
		for i := lo; i < hi && ctx.Err() == nil && !stopped.Load(); i++ {
			if done[pl.graph.AgentPKs[i]] || launched[i-lo] {
				continue
			}
			if have != nil && !inputsReady(pl, i, have) {
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
			go func(i int, prev []stepState) {
				defer wg.Done()
				defer inFlight.Add(-1)
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
				if err := s.step(ctx, sim, p, pl, a.Round, i, prev, release); err != nil {
					stopOnce.Do(func() {
						stopErr = err
						stopped.Store(true)
						if !errors.Is(err, errStopped) {
							cancel() // a real error: abandon the chunk, River retries it
						}
					})
				}
			}(i, prev)
		}
		if waiting == 0 || time.Now().After(waitUntil) ||
			(inFlight.Load() == 0 && time.Since(lastProgress) > idle) {
			break
		}
		select {
		case <-changed:
			lastProgress = time.Now()
			// Let a few more steps land before querying again.
			time.Sleep(min(s.cfg.PollInterval/10, 5*time.Millisecond))
		case <-time.After(s.cfg.PollInterval):
		case <-ctx.Done():
		}
	}
	wg.Wait()
	if st, err := s.status(context.WithoutCancel(ctx), sim.ID); err == nil && terminal(st) {
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

// step runs one agent's step and stores it. A panic in it is logged and
// stores the step as failed: it never ends the process, and a retried job
// does not pay for the call again.
func (s *Service) step(ctx context.Context, sim *ent.Simulation, p Params, pl *plan, round, i int, prev []stepState, release func()) (err error) {
	node := &pl.graph.Nodes[i]
	var (
		msgs     []llm.Message
		keep     stepState // kept when no call is needed or the call fails
		usage    llm.Usage
		reserved bool
	)
	store := func(st stepState, failed bool, errMsg string) error {
		return s.saveStep(ctx, sim.ID, pl.graph.AgentPKs[i], node.AgentID, round, st, keep, failed, errMsg, usage, reserved)
	}
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in a simulation step", "simulation", sim.ID, "agent", node.AgentID, "round", round,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = protect(func() error { return store(keep, true, fmt.Sprintf("internal error: %v", v)) })
		}
		if err == nil {
			pl.stored() // wake the next round's jobs waiting for this input
		}
	}()
	if round == 0 {
		if !pl.audience[i] {
			return store(keep, false, "")
		}
		msgs = reactionPrompt(node, sim.Trigger)
	} else {
		keep = prev[i]
		cols, ws := pl.csr.Row(i)
		views := make([]neighborView, 0, len(cols))
		for k, j := range cols {
			if v := prev[j]; v.opinion != "" {
				views = append(views, neighborView{weight: ws[k], opinion: v.opinion, care: v.care, support: v.support})
			}
		}
		if keep.opinion == "" && len(views) == 0 {
			// Nobody around has heard of it yet: nothing to react to, no call.
			return store(keep, false, "")
		}
		own := neighborView{opinion: keep.opinion, care: keep.care, support: keep.support}
		msgs = influencePrompt(node, sim.Trigger, own, p.SelfWeight, views, p.OpinionMaxChars)
	}
	if reserved, err = s.reserveCall(ctx, sim.ID, p); err != nil {
		return err
	}
	req := llm.Request{Messages: msgs, Model: p.Model}
	if p.Temperature != nil {
		t := float32(*p.Temperature)
		req.Temperature = &t
	}
	if p.Seed != 0 {
		seed := int(p.Seed)
		req.Seed = &seed
	}
	r, usage, err := s.llm.React(ctx, req)
	release()
	for _, a := range usage.Anomalies {
		s.log.Warn("LLM answer repaired", "simulation", sim.ID, "agent", node.AgentID, "round", round, "kind", a.Kind, "detail", a.Detail)
	}
	s.recordLLM(usage, err)
	switch {
	case err == nil:
		return store(stepState{opinion: r.Opinion, care: r.Care, support: r.Support}, false, "")
	case ctx.Err() != nil:
		s.account(context.WithoutCancel(ctx), sim.ID, usage, reserved)
		return ctx.Err()
	case errors.Is(err, llm.ErrQuota):
		s.account(ctx, sim.ID, usage, reserved)
		_ = s.fail(ctx, sim.ID, "LLM quota exhausted: "+err.Error())
		return errStopped
	default:
		// One bad agent never fails a run: it keeps its previous state, and the
		// failure is recorded; the run fails only past SIM_FAIL_SHARE.
		return store(keep, true, err.Error())
	}
}

// saveStep stores a step. When the database refuses its data (something
// cleaning missed), it stores the step as failed, with keep and the reason,
// instead of leaving it to a retried job that would pay for the call again.
func (s *Service) saveStep(ctx context.Context, simID, agentPK int, agentKey string, round int, st, keep stepState, failed bool, errMsg string, u llm.Usage, reserved bool) error {
	err := s.storeStep(ctx, simID, agentPK, agentKey, round, st, failed, errMsg, u, reserved)
	if err == nil || !dataError(err) {
		return err
	}
	s.log.Error("the database refused a step; storing it as failed", "simulation", simID, "agent", agentKey, "round", round, "error", err)
	return s.storeStep(ctx, simID, agentPK, agentKey, round, keep, true, "the step could not be stored: "+err.Error(), u, reserved)
}

// dataError reports whether the database (or the event encoding) refused a
// value, as opposed to failing for a reason a retry could fix.
func dataError(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// data exception, NOT NULL or CHECK violation, program limit exceeded
		return strings.HasPrefix(pg.Code, "22") || pg.Code == "23502" || pg.Code == "23514" || pg.Code == "54000"
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() {
		case sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE,
			sqlite3.SQLITE_CONSTRAINT_NOTNULL, sqlite3.SQLITE_CONSTRAINT_CHECK: // NaN is stored as NULL
			return true
		}
	}
	var unsupported *json.UnsupportedValueError
	return errors.As(err, &unsupported)
}

// maxErrorChars bounds the reasons stored with failed steps and runs (they
// may quote a server's answer).
const maxErrorChars = 2000

// protect runs f, turning a panic into an error.
func protect(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return f()
}

// recoverJob, deferred by a worker, turns a panic into a failed run with the
// reason logged, and a job River does not retry: River recovers panics in
// Work too, but would retry the job for hours while the run stays RUNNING.
func (s *Service) recoverJob(ctx context.Context, simID int, err *error) {
	v := recover()
	if v == nil {
		return
	}
	s.log.Error("panic in a simulation job", "simulation", simID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	reason := llm.CleanText(fmt.Sprintf("internal error in a job: %v", v), maxErrorChars) // River stores it as JSON
	if ferr := protect(func() error { return s.fail(ctx, simID, reason) }); ferr != nil {
		s.log.Error("could not fail the run after a panic", "simulation", simID, "error", ferr)
	}
	*err = river.JobCancel(errors.New(reason))
}

// reserveCall takes one call from the run's budget, atomically, and only while
// the run is RUNNING: a canceled run starts no new call.
func (s *Service) reserveCall(ctx context.Context, id int, p Params) (reserved bool, err error) {
	ph := s.db.Placeholder
	if p.MaxCalls == 0 && p.MaxTokens == 0 && p.MaxCostUSD == 0 {
		// No budget to hold a place in: a read of the status is enough to keep
		// calls from starting after a cancel, and the call is counted when its
		// step is stored. The write it saves held a call slot for about 10 ms
		// under SQLite's single writer (2 s of slot time in a 200-call run).
		var st string
		if err := s.db.SQL.QueryRowContext(ctx, `SELECT status FROM simulations WHERE id = `+ph(1), id).Scan(&st); err != nil {
			return false, err
		}
		if st != string(entsim.StatusRUNNING) {
			return false, errStopped
		}
		return false, nil
	}
	res, err := s.db.SQL.ExecContext(ctx, `UPDATE simulations SET calls = calls + 1 WHERE id = `+ph(1)+` AND status = 'RUNNING'
		AND (`+ph(2)+` = 0 OR calls < `+ph(3)+`)
		AND (`+ph(4)+` = 0 OR prompt_tokens + completion_tokens < `+ph(5)+`)
		AND (`+ph(6)+` = 0 OR estimated_cost_usd < `+ph(7)+`)`,
		id, p.MaxCalls, p.MaxCalls, p.MaxTokens, p.MaxTokens, p.MaxCostUSD, p.MaxCostUSD)
	if err != nil {
		return false, err
	}
	if k, _ := res.RowsAffected(); k == 1 {
		return true, nil
	}
	sim, err := s.db.Client.Simulation.Get(ctx, id)
	if err != nil {
		return false, err
	}
	if sim.Status != entsim.StatusRUNNING {
		return false, errStopped
	}
	var reason string
	switch {
	case p.MaxCalls > 0 && sim.Calls >= p.MaxCalls:
		reason = fmt.Sprintf("budget reached: maxCalls %d (%d calls made)", p.MaxCalls, sim.Calls)
	case p.MaxTokens > 0 && sim.PromptTokens+sim.CompletionTokens >= p.MaxTokens:
		reason = fmt.Sprintf("budget reached: maxTokens %d (%d tokens used)", p.MaxTokens, sim.PromptTokens+sim.CompletionTokens)
	default:
		reason = fmt.Sprintf("budget reached: maxCostUSD %.4f (estimated %.4f spent)", p.MaxCostUSD, sim.EstimatedCostUsd)
	}
	_ = s.fail(ctx, id, reason)
	return false, errStopped
}

// storeStep persists one finished step and its usage in one transaction.
// reserved says one call was already counted by reserveCall.
func (s *Service) storeStep(ctx context.Context, simID, agentPK int, agentKey string, round int, st stepState, failed bool, errMsg string, u llm.Usage, reserved bool) error {
	ctx = context.WithoutCancel(ctx) // a finished (paid-for) step is kept even if the job is being canceled
	var errCol any
	if failed {
		errCol = llm.CleanText(errMsg, maxErrorChars)
	}
	st.opinion = llm.CleanText(st.opinion, llm.MaxOpinionChars) // the client cleans answers; this also covers other sources
	q := database.InsertSQL(s.db.Dialect, "agent_states", stateColumns, 1, "ON CONFLICT (simulation_id, agent_id, round) DO NOTHING")
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	res, err := tx.ExecContext(ctx, q, simID, agentPK, round, st.opinion, st.care, st.support, failed, errCol,
		u.Latency.Milliseconds(), u.PromptTokens, u.CompletionTokens, u.Retries, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("store step: %w", err)
	}
	inserted, _ := res.RowsAffected()
	if err := s.addUsage(ctx, tx, simID, u, reserved, int(inserted), failed && inserted == 1); err != nil {
		return err
	}
	if inserted == 1 {
		err := s.emit(ctx, tx, simID, EventAgentUpdated, &agentKey, &round, map[string]any{
			"opinion": st.opinion, "care": st.care, "support": st.support, "failed": failed})
		if err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.events.notify(simID)
	return nil
}

var stateColumns = []string{"simulation_id", "agent_id", "round", "opinion", "care", "support", "failed", "error",
	"latency_ms", "prompt_tokens", "completion_tokens", "retries", "created_at"}

func (s *Service) addUsage(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, simID int, u llm.Usage, reserved bool, completed int, failed bool) error {
	calls := u.Calls
	if reserved {
		calls-- // counted by reserveCall; a reserved call never sent gives its place back
	}
	failedN := 0
	if failed {
		failedN = 1
	}
	ph := s.db.Placeholder
	_, err := ex.ExecContext(ctx, `UPDATE simulations SET completed_steps = completed_steps + `+ph(1)+
		`, calls = calls + `+ph(2)+`, prompt_tokens = prompt_tokens + `+ph(3)+`, completion_tokens = completion_tokens + `+ph(4)+
		`, retries = retries + `+ph(5)+`, failed_steps = failed_steps + `+ph(6)+`, estimated_cost_usd = estimated_cost_usd + `+ph(7)+
		` WHERE id = `+ph(8), completed, calls, u.PromptTokens, u.CompletionTokens, u.Retries, failedN, u.CostUSD, simID)
	return err
}

// account records the usage of a call whose step is not stored (canceled).
func (s *Service) account(ctx context.Context, simID int, u llm.Usage, reserved bool) {
	if err := s.addUsage(ctx, s.db.SQL, simID, u, reserved, 0, false); err != nil {
		s.log.Warn("record usage", "simulation", simID, "error", err)
	}
}

func (s *Service) status(ctx context.Context, id int) (entsim.Status, error) {
	sim, err := s.db.Client.Simulation.Get(ctx, id)
	if err != nil {
		return "", err
	}
	return sim.Status, nil
}

// fail ends a run with a reason, unless it already ended.
func (s *Service) fail(ctx context.Context, id int, reason string) error {
	ctx = context.WithoutCancel(ctx)
	reason = llm.CleanText(reason, maxErrorChars) // may quote a server's error
	ph := s.db.Placeholder
	err := s.transition(ctx, id, `status = 'FAILED', error = `+ph(1)+`, finished_at = `+ph(2), []any{reason, time.Now().UTC()},
		"status IN ('QUEUED', 'RUNNING')", func(tx *sql.Tx) error { return s.emitTerminal(ctx, tx, id, entsim.StatusFAILED) })
	s.forgetPlan(id)
	return err
}

// transition updates a run's row where cond holds and, if it did, runs
// onChange in the same transaction (to log the change), then wakes the run's
// subscribers. set's placeholders are numbered from 1.
func (s *Service) transition(ctx context.Context, id int, set string, args []any, cond string, onChange func(tx *sql.Tx) error) error {
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	res, err := tx.ExecContext(ctx, `UPDATE simulations SET `+set+` WHERE id = `+s.db.Placeholder(len(args)+1)+` AND `+cond,
		append(args, id)...)
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return nil // someone else got there first
	}
	if err := onChange(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.events.notify(id)
	return nil
}

// storedAgents returns which of the given agents already have a state in round.
func (s *Service) storedAgents(ctx context.Context, simID, round int, pks []int) (map[int]bool, error) {
	ph := s.db.Placeholder
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT agent_id FROM agent_states WHERE simulation_id = `+ph(1)+
		` AND round = `+ph(2)+` AND agent_id >= `+ph(3)+` AND agent_id <= `+ph(4), simID, round, pks[0], pks[len(pks)-1])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := map[int]bool{}
	for rows.Next() {
		var pk int
		if err := rows.Scan(&pk); err != nil {
			return nil, err
		}
		done[pk] = true
	}
	return done, rows.Err()
}

// roundStates reads a completed round's states by node position.
func (s *Service) roundStates(ctx context.Context, simID, round int, pl *plan) ([]stepState, error) {
	st, _, err := s.statesOf(ctx, simID, round, pl, nil)
	return st, err
}

// statesOf reads a round's states by node position, and which agents have
// one; with pks, only those agents' states. A complete round is cached on the
// plan (it never changes).
func (s *Service) statesOf(ctx context.Context, simID, round int, pl *plan, pks []int) ([]stepState, []bool, error) {
	pl.mu.Lock()
	st, ok := pl.rounds[round]
	pl.mu.Unlock()
	if ok {
		have := make([]bool, len(st))
		for i := range have {
			have[i] = true
		}
		return st, have, nil
	}
	ph := s.db.Placeholder
	q := `SELECT agent_id, opinion, care, support FROM agent_states WHERE simulation_id = ` + ph(1) + ` AND round = ` + ph(2)
	args := []any{simID, round}
	if pks != nil {
		in := make([]string, len(pks))
		for k, pk := range pks {
			in[k] = ph(k + 3)
			args = append(args, pk)
		}
		q += ` AND agent_id IN (` + strings.Join(in, ", ") + `)`
	}
	rows, err := s.db.SQL.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out := make([]stepState, len(pl.graph.Nodes))
	have := make([]bool, len(out))
	count := 0
	for rows.Next() {
		var pk int
		var v stepState
		if err := rows.Scan(&pk, &v.opinion, &v.care, &v.support); err != nil {
			return nil, nil, err
		}
		if i, ok := pl.index[pk]; ok && !have[i] {
			out[i], have[i] = v, true
			count++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if count == len(out) {
		pl.mu.Lock()
		if pl.rounds == nil {
			pl.rounds = map[int][]stepState{}
		}
		pl.rounds[round] = out
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

// inputsReady reports whether agent i's own and shown neighbours' previous states exist.
func inputsReady(pl *plan, i int, have []bool) bool {
	if !have[i] {
		return false
	}
	cols, _ := pl.csr.Row(i)
	for _, j := range cols {
		if !have[j] {
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
	defer s.events.notify(simID) // after the commit: subscribers read what it wrote
	return s.inTx(context.WithoutCancel(ctx), func(tx *sql.Tx, client *ent.Client) error {
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
		if terminal(sim.Status) || sim.CurrentRound != round {
			return nil
		}
		var count int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM agent_states WHERE simulation_id = `+s.db.Placeholder(1)+
			` AND round = `+s.db.Placeholder(2), simID, round).Scan(&count); err != nil {
			return err
		}
		n := sim.Edges.Network.NodeCount
		if count < n {
			return nil
		}
		// Plain SQL here: ent's UpdateOne opens a transaction of its own, which a
		// client bound to an existing *sql.Tx cannot do.
		ph := s.db.Placeholder
		now := time.Now().UTC()
		if sim.CompletedSteps > 0 && float64(sim.FailedSteps) > s.cfg.FailShare*float64(sim.CompletedSteps) {
			s.forgetPlan(simID)
			_, err := tx.ExecContext(ctx, `UPDATE simulations SET status = 'FAILED', finished_at = `+ph(1)+`, error = `+ph(2)+
				` WHERE id = `+ph(3), now, fmt.Sprintf("%d of %d steps failed, over the allowed share of %.0f%% (SIM_FAIL_SHARE)",
				sim.FailedSteps, sim.CompletedSteps, 100*s.cfg.FailShare), simID)
			if err != nil {
				return err
			}
			return s.emitTerminal(ctx, tx, simID, entsim.StatusFAILED)
		}
		if err := s.emit(ctx, tx, simID, EventRoundCompleted, nil, &round, map[string]any{"round": round}); err != nil {
			return err
		}
		if round >= sim.Rounds {
			s.forgetPlan(simID)
			_, err := tx.ExecContext(ctx, `UPDATE simulations SET status = 'SUCCEEDED', finished_at = `+ph(1)+` WHERE id = `+ph(2), now, simID)
			if err != nil {
				return err
			}
			return s.emitTerminal(ctx, tx, simID, entsim.StatusSUCCEEDED)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE simulations SET current_round = `+ph(1)+` WHERE id = `+ph(2), round+1, simID); err != nil {
			return err
		}
		if sim.Engine == entsim.EngineLLM {
			// Round r+1 was queued together with round r (see Run): queue r+2.
			if round+2 > sim.Rounds {
				return nil
			}
			return s.enqueueRound(ctx, tx, simID, sim.Engine, round+2, n)
		}
		return s.enqueueRound(ctx, tx, simID, sim.Engine, round+1, n)
	})
}

func (w *classicalWorker) Work(ctx context.Context, job *river.Job[ClassicalArgs]) (err error) {
	s := w.s
	defer s.recoverJob(ctx, job.Args.SimulationID, &err)
	r, finish, err := s.startJob(ctx, job.Args.SimulationID)
	defer finish()
	if err != nil || r == nil {
		return err
	}
	ctx, sim, p, pl := r.ctx, r.sim, r.p, r.pl
	model := dynamics.FriedkinJohnsen
	if sim.Engine != entsim.EngineHYBRID {
		if model, err = dynamics.ParseModel(string(sim.Engine)); err != nil {
			return s.fail(ctx, sim.ID, err.Error())
		}
	}
	n := len(pl.graph.Nodes)
	complete, err := s.completeRounds(ctx, sim.ID, n)
	if err != nil {
		return err
	}
	// Round 0: stored by the LLM stage (HYBRID) or by an earlier attempt, else the initial state.
	var initial dynamics.State
	if complete >= 0 {
		st, err := s.roundStates(ctx, sim.ID, 0, pl)
		if err != nil {
			return err
		}
		initial = toDynamics(st)
	} else {
		initial = initialState(pl, p.Seed)
		if err := s.storeRound(ctx, sim.ID, 0, pl, initial, texts(pl)); err != nil {
			return err
		}
		complete = 0
	}
	prev := initial.Clone() // Step must never write into the Friedkin–Johnsen anchor
	if complete > 0 {
		st, err := s.roundStates(ctx, sim.ID, complete, pl)
		if err != nil {
			return err
		}
		prev = toDynamics(st)
	}
	dp := dynamics.DefaultParams()
	dp.SelfWeight, dp.Epsilon = p.SelfWeight, p.Epsilon
	if err := dp.Validate(n); err != nil {
		return s.fail(ctx, sim.ID, err.Error())
	}
	next := dynamics.NewState(n)
	for r := complete + 1; r <= sim.Rounds; r++ {
		if st, err := s.status(ctx, sim.ID); err != nil || terminal(st) {
			return err
		}
		dynamics.Step(model, pl.csr, dp, &initial, &prev, &next)
		if err := s.storeRound(ctx, sim.ID, r, pl, next, nil); err != nil {
			return err
		}
		prev, next = next, prev
	}
	return s.advanceClassical(ctx, sim.ID)
}

// completeRounds returns the highest round r such that rounds 0..r all have
// every agent's state, or -1.
func (s *Service) completeRounds(ctx context.Context, simID, n int) (int, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT round, COUNT(*) FROM agent_states WHERE simulation_id = `+s.db.Placeholder(1)+
		` GROUP BY round ORDER BY round`, simID)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	last := -1
	for rows.Next() {
		var r, c int
		if err := rows.Scan(&r, &c); err != nil {
			return 0, err
		}
		if r != last+1 || c < n {
			break
		}
		last = r
	}
	return last, rows.Err()
}

// storeRound writes one round of classical states and the progress in one transaction.
func (s *Service) storeRound(ctx context.Context, simID, round int, pl *plan, st dynamics.State, opinions []string) error {
	ctx = context.WithoutCancel(ctx)
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	now := time.Now().UTC()
	inserted, err := database.InsertBatches(ctx, tx, s.db.Dialect, "agent_states", stateColumns,
		"ON CONFLICT (simulation_id, agent_id, round) DO NOTHING", len(pl.graph.Nodes), func(i int, args []any) []any {
			op := ""
			if opinions != nil {
				op = opinions[i]
			}
			return append(args, simID, pl.graph.AgentPKs[i], round, op, st.Care[i], st.Support[i], false, nil, 0, 0, 0, 0, now)
		})
	if err != nil {
		return fmt.Errorf("store round %d: %w", round, err)
	}
	ph := s.db.Placeholder
	if _, err := tx.ExecContext(ctx, `UPDATE simulations SET completed_steps = completed_steps + `+ph(1)+
		`, current_round = `+ph(2)+` WHERE id = `+ph(3), inserted, round, simID); err != nil {
		return err
	}
	// Classical rounds log one event per round, not per agent: a round may hold a million agents.
	if inserted > 0 {
		if err := s.emit(ctx, tx, simID, EventRoundCompleted, nil, &round, map[string]any{"round": round}); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.events.notify(simID)
	return nil
}

func (s *Service) advanceClassical(ctx context.Context, simID int) error {
	ctx = context.WithoutCancel(ctx)
	err := s.transition(ctx, simID, `status = 'SUCCEEDED', finished_at = `+s.db.Placeholder(1), []any{time.Now().UTC()},
		"status = 'RUNNING'", func(tx *sql.Tx) error { return s.emitTerminal(ctx, tx, simID, entsim.StatusSUCCEEDED) })
	s.forgetPlan(simID)
	return err
}

func toDynamics(st []stepState) dynamics.State {
	out := dynamics.NewState(len(st))
	for i, v := range st {
		out.Care[i], out.Support[i] = v.care, v.support
	}
	return out
}

// initialState gives classical runs their stage 0: the uploaded level_of_care
// (0..1, scaled to care 0..10) and effect_on_usage (support) where present;
// otherwise a seeded prior, care ~ N(5, 2) and support ~ N(0, 2), clipped.
// Agents outside the audience start indifferent (0, 0).
func initialState(pl *plan, seed int64) dynamics.State {
	n := len(pl.graph.Nodes)
	st := dynamics.NewState(n)
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	for i := range pl.graph.Nodes {
		node := &pl.graph.Nodes[i]
		z1, z2 := r.NormFloat64(), r.NormFloat64() // drawn for every agent, so the prior does not depend on the audience
		if !pl.audience[i] {
			continue
		}
		st.Care[i] = clamp(5+2*z1, 0, 10)
		st.Support[i] = clamp(2*z2, -5, 5)
		if node.LevelOfCare != nil {
			st.Care[i] = clamp(*node.LevelOfCare*10, 0, 10)
		}
		if node.EffectOnUsage != nil {
			st.Support[i] = clamp(*node.EffectOnUsage, -5, 5)
		}
	}
	return st
}

// texts keeps the uploaded opinions of audience members at stage 0.
func texts(pl *plan) []string {
	out := make([]string, len(pl.graph.Nodes))
	for i, node := range pl.graph.Nodes {
		if pl.audience[i] && node.TextOpinion != nil {
			out[i] = *node.TextOpinion
		}
	}
	return out
}

func clamp(x, lo, hi float64) float64 { return math.Min(hi, math.Max(lo, x)) }

func (s *Service) recordLLM(u llm.Usage, err error) {
	m := s.metrics
	if m == nil {
		return
	}
	// A Prometheus counter panics on a negative increment: never pass one.
	pos := func(n int) float64 { return float64(max(n, 0)) }
	m.LLMCalls.Add(pos(u.Calls))
	m.LLMTokens.WithLabelValues("prompt").Add(pos(u.PromptTokens))
	m.LLMTokens.WithLabelValues("completion").Add(pos(u.CompletionTokens))
	m.LLMRetries.Add(pos(u.Retries))
	m.LLMLatency.Observe(u.Latency.Seconds())
	if err != nil && !errors.Is(err, context.Canceled) {
		m.LLMFailures.Inc()
	}
}
