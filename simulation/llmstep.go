package simulation

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/simulation/llm"
)

// One agent's LLM step: its prompt, the call within the run's budget, and
// the stored result with its usage and event.

// step runs one agent's step and stores it with the run's batch (tk, from
// the run's batcher, announced it): it returns once that batch committed. A
// panic in it is logged and stores the step as failed: it never ends the
// process, and a retried job does not pay for the call again.
//
// prev is round-1's states by node position; cur, for a sequential run, is
// this round's, read for the agents before i (nil for a synchronous run).
func (s *Service) step(ctx context.Context, sim *ent.Simulation, p Params, pl *plan, round, i int, prev, cur []StateView, release func(), tk *stepTicket) (err error) {
	node := &pl.graph.Nodes[i]
	var (
		msgs     []llm.Message
		keep     StateView // kept when no call is needed or the call fails
		usage    llm.Usage
		reserved bool
		cached   *cacheEntry // a fresh answer for the answer cache
	)
	defer tk.abandon() // a step that ends without a write (canceled, quota) is not waited for
	store := func(st StateView, failed bool, errMsg string) error {
		release() // a step waiting for its batch holds no call slot
		return pl.batcher(s, sim.ID).submit(tk, &stepWrite{ctx: ctx, agentPK: pl.graph.AgentPKs[i], agentKey: node.AgentID,
			round: round, st: st, keep: keep, failed: failed, errMsg: errMsg, u: usage, reserved: reserved, cache: cached})
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
		msgs = reactionPrompt(node, sim.Trigger, promptOptionsOf(p))
	} else {
		keep = prev[i]
		views := heard(pl, i, prev, cur)
		if keep.Opinion == "" && len(views) == 0 {
			// Nobody around has heard of it yet: nothing to react to, no call.
			return store(keep, false, "")
		}
		own := neighborView{opinion: keep.Opinion, care: keep.Care, support: keep.Support}
		msgs = influencePrompt(node, sim.Trigger, own, views, promptOptionsOf(p))
	}
	req := llm.Request{Messages: msgs, Model: p.Model, MaxTokens: p.MaxOutputTokens}
	if p.Temperature != nil {
		t := float32(*p.Temperature)
		req.Temperature = &t
	}
	if p.Seed != 0 {
		seed := int(p.Seed)
		req.Seed = &seed
	}
	var key string
	if p.Cache {
		// Looked up before the budget: a hit makes no call and costs nothing.
		var ok bool
		if key, ok = s.llm.CacheKey(req); ok {
			a, found, err := s.cachedAnswer(ctx, key)
			if err != nil {
				return err
			}
			if found {
				r, u, err := s.llm.ReactCached(p.Model, a)
				if err == nil {
					usage = u
					return store(StateView{Opinion: r.Opinion, Care: r.Care, Support: r.Support}, false, "")
				}
				// Hostile or stale: not reused; the LLM is asked instead.
				s.log.Warn("cached LLM answer refused", "simulation", sim.ID, "agent", node.AgentID, "round", round, "error", err)
			}
			req.KeepAnswer = true
		}
	}
	if reserved, err = s.reserveCall(ctx, sim.ID, p, pl); err != nil {
		return err
	}
	r, usage, err := s.llm.React(ctx, req)
	if err == nil && key != "" && usage.Answer != nil {
		cached = &cacheEntry{key: key, model: cmp.Or(p.Model, s.llm.Config().Model), answer: *usage.Answer}
	}
	release()
	for _, a := range usage.Anomalies {
		s.log.Warn("LLM answer repaired", "simulation", sim.ID, "agent", node.AgentID, "round", round, "kind", a.Kind, "detail", a.Detail)
	}
	s.recordLLM(usage, err)
	switch {
	case err == nil:
		return store(StateView{Opinion: r.Opinion, Care: r.Care, Support: r.Support}, false, "")
	case ctx.Err() != nil:
		s.account(ctx, sim.ID, usage, reserved)
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

// heard lists the views agent i hears: its neighbours' (in the plan's
// order) that have an opinion, from the previous round, or for a sequential
// run from this round for the agents before it.
func heard(pl *plan, i int, prev, cur []StateView) []neighborView {
	cols, ws := pl.csr.Row(i)
	views := make([]neighborView, 0, len(cols))
	for k, j := range cols {
		v := prev[j]
		if cur != nil && int(j) < i {
			v = cur[j]
		}
		if v.Opinion != "" {
			views = append(views, neighborView{weight: ws[k], opinion: v.Opinion, care: v.Care, support: v.Support})
		}
	}
	return views
}

// saveStep stores a step. When the database refuses its data (something
// cleaning missed), it stores the step as failed, with keep and the reason,
// instead of leaving it to a retried job that would pay for the call again.
func (s *Service) saveStep(ctx context.Context, simID, agentPK int, agentKey string, round int, st, keep StateView, failed bool, errMsg string, u llm.Usage, reserved bool) error {
	err := s.storeStep(ctx, simID, agentPK, agentKey, round, st, failed, errMsg, u, reserved)
	if err == nil || !dataError(err) {
		return err
	}
	s.log.Error("the database refused a step; storing it as failed", "simulation", simID, "agent", agentKey, "round", round, "error", err)
	return s.storeStep(ctx, simID, agentPK, agentKey, round, keep, true, "the step could not be stored: "+err.Error(), u, reserved)
}

// storeStep persists one finished step, its usage and its event in one
// transaction. reserved says one call was already counted by reserveCall.
func (s *Service) storeStep(ctx context.Context, simID, agentPK int, agentKey string, round int, st StateView, failed bool, errMsg string, u llm.Usage, reserved bool) error {
	ctx, cancel := detached(ctx) // a finished (paid-for) step is kept even if the job is being canceled
	defer cancel()
	st.Opinion = llm.CleanText(st.Opinion, llm.MaxOpinionChars) // the client cleans answers; this also covers other sources
	return s.write(ctx, simID, func(tx *sql.Tx, client *ent.Client) error {
		inserted, err := s.states.insertStep(ctx, tx, simID, agentPK, round, st, failed, errMsg, u)
		if err != nil {
			return fmt.Errorf("store step: %w", err)
		}
		completed := 0
		if inserted {
			completed = 1
		}
		if err := s.addUsage(ctx, client, simID, u, reserved, completed, failed && inserted); err != nil {
			return err
		}
		if !inserted {
			return nil
		}
		return s.emitAgent(ctx, tx, simID, agentKey, round, st, failed)
	})
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
