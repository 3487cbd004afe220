package simulation

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/simulation/llm"
)

// A run's usage (calls, tokens, retries, estimated cost) and progress are
// counters on its row; its budget (maxCalls, maxTokens, maxCostUSD) is held
// by reserving each call before it is sent.

// reserveCall takes one call from the run's budget, atomically, and only while
// the run is RUNNING: a canceled run starts no new call.
func (s *Service) reserveCall(ctx context.Context, id int, p Params, pl *plan) (reserved bool, err error) {
	if p.MaxCalls == 0 && p.MaxTokens == 0 && p.MaxCostUSD == 0 {
		// No budget to hold a place in: a read of the status is enough to keep
		// calls from starting after a cancel, and the call is counted when its
		// step is stored. The write it saves held a call slot for about 10 ms
		// under SQLite's single writer (2 s of slot time in a 200-call run).
		// The read is shared by the run's steps here for a poll interval (a
		// read per step was a seventh of a 10,000-agent run's CPU): a cancel
		// in this process ends the steps' context at once, one elsewhere is
		// seen within that interval.
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if pl.seen.fresh(s.cfg.PollInterval) || !pl.seen.refreshing.CompareAndSwap(false, true) {
			return false, nil // read lately, or being read by another step
		}
		defer pl.seen.refreshing.Store(false)
		st, err := s.status(ctx, id)
		if err != nil {
			return false, err
		}
		if st != entsim.StatusRUNNING {
			return false, errStopped
		}
		pl.seen.mark()
		return false, nil
	}
	// Plain SQL: the limits compare sums of columns, and a zero limit is none.
	ph := s.db.Placeholder
	res, err := s.db.SQL.ExecContext(ctx, `UPDATE simulations SET calls = calls + 1 WHERE id = `+ph(1)+` AND status = `+ph(2)+`
		AND (`+ph(3)+` = 0 OR calls < `+ph(4)+`)
		AND (`+ph(5)+` = 0 OR prompt_tokens + completion_tokens < `+ph(6)+`)
		AND (`+ph(7)+` = 0 OR estimated_cost_usd < `+ph(8)+`)`,
		id, entsim.StatusRUNNING, p.MaxCalls, p.MaxCalls, p.MaxTokens, p.MaxTokens, p.MaxCostUSD, p.MaxCostUSD)
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

// addUsage adds a step's usage and progress to its run's counters through
// client (bound to the step's transaction, or the root client). reserved
// says one call was already counted by reserveCall; completed is the number
// of steps stored, failed whether the stored step failed.
func (s *Service) addUsage(ctx context.Context, client *ent.Client, simID int, u llm.Usage, reserved bool, completed int, failed bool) error {
	calls := u.Calls
	if reserved {
		calls-- // counted by reserveCall; a reserved call never sent gives its place back
	}
	failedN := 0
	if failed {
		failedN = 1
	}
	return client.Simulation.Update().Where(entsim.ID(simID)).
		AddCompletedSteps(completed).AddCalls(calls).AddPromptTokens(u.PromptTokens).AddCompletionTokens(u.CompletionTokens).
		AddRetries(u.Retries).AddFailedSteps(failedN).AddEstimatedCostUsd(u.CostUSD).AddCacheHits(u.CacheHits).AddCostSavedUsd(u.CostSavedUSD).
		Exec(ctx)
}

// account records the usage of a call whose step is not stored (canceled).
func (s *Service) account(ctx context.Context, simID int, u llm.Usage, reserved bool) {
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := s.addUsage(ctx, s.db.Client, simID, u, reserved, 0, false); err != nil {
		s.log.Warn("record usage", "simulation", simID, "error", err)
	}
}

// runningSeen is when a run was last read RUNNING, in Unix nanoseconds, and
// whether a step is reading it now.
type runningSeen struct {
	at         atomic.Int64
	refreshing atomic.Bool
}

func (r *runningSeen) fresh(d time.Duration) bool {
	return time.Since(time.Unix(0, r.at.Load())) < d
}

func (r *runningSeen) mark() { r.at.Store(time.Now().UnixNano()) }
