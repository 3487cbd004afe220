package experiment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	entexp "github.com/ethox/ethox/ent/experiment"
	"github.com/ethox/ethox/ent/experimentresult"
	"github.com/ethox/ethox/ent/experimentrun"
	"github.com/ethox/ethox/simulation"
	"github.com/ethox/ethox/simulation/llm"
)

// ExperimentArgs is the experiment's job: one pass of advance. Tick jobs
// schedule the next pass while the experiment is live; the others (woken by
// a run's end, a cancel) do not, so one chain of ticks runs per experiment.
type ExperimentArgs struct {
	ExperimentID int  `json:"experimentId"`
	Tick         bool `json:"tick,omitempty"`
}

func (ExperimentArgs) Kind() string { return "ethox_experiment" }

type worker struct {
	river.WorkerDefaults[ExperimentArgs]
	s *Service
}

// AddWorkers registers the experiments' job (simulation.Config.AddWorkers).
func (s *Service) AddWorkers(w *river.Workers) { river.AddWorker(w, &worker{s: s}) }

func (w *worker) Work(ctx context.Context, job *river.Job[ExperimentArgs]) error {
	s := w.s
	if s.sims == nil {
		return errors.New("experiment service not attached")
	}
	again, err := s.advance(ctx, job.Args.ExperimentID)
	if !job.Args.Tick {
		return err // a wake-up: River retries it, and the ticks carry on anyway
	}
	next := s.cfg.Poll
	if err != nil {
		// The tick chain must not end on an error (River would discard the
		// job after its attempts and leave the experiment live for good):
		// log it and try again later.
		s.log.WarnContext(ctx, "experiment pass failed; trying again", "experiment", job.Args.ExperimentID, "error", err, "after", 10*next)
		again, next = true, 10*next
	}
	if !again {
		return nil
	}
	_, err = s.sims.Jobs().Insert(ctx, ExperimentArgs{ExperimentID: job.Args.ExperimentID, Tick: true},
		&river.InsertOpts{ScheduledAt: time.Now().Add(next)})
	return err
}

// kick wakes the experiment of run simID, if it has one (simulation's
// OnRunEnded; a lost wake-up only waits for the next tick).
func (s *Service) kick(simID int) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := s.db.Client.ExperimentRun.Query().Where(experimentrun.SimulationID(simID)).Only(ctx)
		if err != nil {
			return // not an experiment's run
		}
		s.enqueue(ctx, r.ExperimentID)
	}()
}

func (s *Service) enqueue(ctx context.Context, id int) {
	if _, err := s.sims.Jobs().Insert(ctx, ExperimentArgs{ExperimentID: id}, nil); err != nil {
		s.log.WarnContext(ctx, "wake an experiment", "experiment", id, "error", err)
	}
}

// errClaimed: another pass started this planned run first.
var errClaimed = errors.New("planned run already started")

// usage sums the usage of an experiment's runs.
type usage struct {
	calls, tokens     int
	costUSD           float64
	completed, failed int
}

func usageOf(sims map[int]*ent.Simulation) usage {
	var u usage
	for _, sim := range sims {
		u.calls += sim.Calls
		u.tokens += sim.PromptTokens + sim.CompletionTokens
		u.costUSD += sim.EstimatedCostUsd
		u.completed += sim.CompletedSteps
		u.failed += sim.FailedSteps
	}
	return u
}

// spent is the reason the experiment's budget stops it, "" while it lasts.
func spent(e *ent.Experiment, u usage) string {
	switch {
	case e.MaxCalls > 0 && u.calls >= e.MaxCalls:
		return fmt.Sprintf("maxCalls %d (%d calls made)", e.MaxCalls, u.calls)
	case e.MaxTokens > 0 && u.tokens >= e.MaxTokens:
		return fmt.Sprintf("maxTokens %d (%d tokens used)", e.MaxTokens, u.tokens)
	case e.MaxCostUsd > 0 && u.costUSD >= e.MaxCostUsd:
		return fmt.Sprintf("maxCostUSD %.4f (estimated %.4f spent)", e.MaxCostUsd, u.costUSD)
	}
	return ""
}

// advance is one pass over an experiment (see the package comment); again
// reports whether another pass is needed.
func (s *Service) advance(ctx context.Context, id int) (again bool, err error) {
	// One pass at a time per experiment (a tick and a wake-up may run
	// together, here or in another process): two passes would each hand out
	// what is left of the budget. The mutex orders this process's passes
	// before they take a connection for the cross-process lock.
	mu, _ := s.passes.LoadOrStore(id, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	unlock, err := s.lockPass(ctx, id)
	if err != nil {
		return false, err
	}
	defer unlock()
	e, err := s.db.Client.Experiment.Get(ctx, id)
	if ent.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	runs, sims, err := s.runsOf(ctx, id)
	if err != nil {
		return false, err
	}
	stopped := e.Error != nil // the budget was spent (or a run could not start): start nothing more
	if live(e.Status) {
		u := usageOf(sims)
		if reason := spent(e, u); reason != "" && !stopped {
			msg := stopReasonPrefix + reason
			if err := s.db.Client.Experiment.UpdateOneID(id).SetError(msg).Exec(ctx); err != nil {
				return false, err
			}
			e.Error, stopped = &msg, true
			s.log.InfoContext(ctx, "experiment budget spent: stopping its runs", "experiment", id, "reason", msg)
		}
		if stopped {
			for _, sim := range sims {
				if !simEnded(sim.Status) {
					if err := s.sims.StopRun(ctx, sim.ID, fmt.Sprintf("stopped by experiment %d: %s", id, *e.Error)); err != nil {
						return false, err
					}
				}
			}
		} else if err := s.startRuns(ctx, e, runs, sims, u); err != nil {
			return false, err
		}
		if runs, sims, err = s.runsOf(ctx, id); err != nil {
			return false, err
		}
		if e.Status == entexp.StatusQUEUED && len(sims) > 0 {
			if err := s.db.Client.Experiment.Update().Where(entexp.ID(id), entexp.StatusEQ(entexp.StatusQUEUED)).
				SetStatus(entexp.StatusRUNNING).SetStartedAt(time.Now().UTC()).Exec(ctx); err != nil {
				return false, err
			}
		}
	}
	// Ended: every started run has ended, and nothing more will start.
	for _, r := range runs {
		if r.SimulationID == nil {
			if live(e.Status) && !stopped {
				return true, nil
			}
			continue
		}
		if sim := sims[*r.SimulationID]; sim != nil && !simEnded(sim.Status) {
			return true, nil
		}
	}
	return false, s.finish(ctx, e, runs, sims)
}

// startRuns starts planned runs, replicate by replicate, while fewer than the
// experiment's concurrentRuns are in flight. With an experiment budget, what
// is left of it (its limit, less what the runs used, less what the runs in
// flight may still use) is shared evenly between the free slots and each new
// run gets its share as its own budget (capped by its arm's), which runs
// enforce before every call: the runs together stay within the experiment's
// maxCalls, and within maxTokens / maxCostUSD up to the calls in flight when
// a run reaches its share (a run checks tokens and cost before a call, not
// after). A share too small to make a call waits for a run to end.
func (s *Service) startRuns(ctx context.Context, e *ent.Experiment, runs []*ent.ExperimentRun, sims map[int]*ent.Simulation, u usage) error {
	inFlight := 0
	var resCalls, resTokens int
	var resCost float64
	for _, sim := range sims {
		if simEnded(sim.Status) {
			continue
		}
		inFlight++
		p := sim.Params
		resCalls += max(p.MaxCalls-sim.Calls, 0)
		resTokens += max(p.MaxTokens-sim.PromptTokens-sim.CompletionTokens, 0)
		resCost += max(p.MaxCostUSD-sim.EstimatedCostUsd, 0)
	}
	free := e.ConcurrentRuns - inFlight
	if free <= 0 {
		return nil
	}
	leftCalls, leftTokens := e.MaxCalls-u.calls-resCalls, e.MaxTokens-u.tokens-resTokens
	leftCost := e.MaxCostUsd - u.costUSD - resCost
	if (e.MaxCalls > 0 && leftCalls < 1) || (e.MaxTokens > 0 && leftTokens < 1) || (e.MaxCostUsd > 0 && leftCost <= 0) {
		return nil // wait for a run in flight to end (or the budget to be spent)
	}
	// Fewer runs than slots when what is left cannot give each one a call
	// (with nothing in flight, anything left starts one run: no deadlock).
	if e.MaxCalls > 0 {
		free = min(free, leftCalls)
	}
	if e.MaxTokens > 0 {
		free = min(free, leftTokens)
	}
	shareCalls, shareTokens, shareCost := leftCalls/free, leftTokens/free, leftCost/float64(free)
	budgetSlots := inFlight + free
	for _, r := range runs {
		if inFlight >= budgetSlots {
			return nil
		}
		if r.SimulationID != nil {
			continue
		}
		in, err := runInputOf(e, r)
		if err != nil {
			return err
		}
		if e.MaxCalls > 0 && (in.MaxCalls == nil || *in.MaxCalls > shareCalls) {
			in.MaxCalls = &shareCalls
		}
		if e.MaxTokens > 0 && (in.MaxTokens == nil || *in.MaxTokens > shareTokens) {
			in.MaxTokens = &shareTokens
		}
		if e.MaxCostUsd > 0 && (in.MaxCostUSD == nil || *in.MaxCostUSD > shareCost) {
			in.MaxCostUSD = &shareCost
		}
		runID := r.ID
		in.OnCreate = func(ctx context.Context, client *ent.Client, sim *ent.Simulation) error {
			n, err := client.ExperimentRun.Update().Where(experimentrun.ID(runID), experimentrun.SimulationIDIsNil()).
				SetSimulationID(sim.ID).Save(ctx)
			if err == nil && n == 0 {
				err = errClaimed
			}
			return err
		}
		sim, err := s.sims.Run(ctx, in)
		switch {
		case errors.Is(err, errClaimed):
			continue
		case err != nil && apperr.KindOf(err) != apperr.Internal:
			// The input was checked at creation: what changed since (the
			// network deleted, the LLM gone) stops the experiment.
			msg := llm.CleanText(fmt.Sprintf("run %s #%d could not start: %v", r.Arm, r.Replicate, err), maxStoredErrorRune)
			return s.db.Client.Experiment.UpdateOneID(e.ID).SetError(msg).Exec(ctx)
		case err != nil:
			return err
		}
		s.log.InfoContext(ctx, "experiment run started", "experiment", e.ID, "arm", r.Arm, "replicate", r.Replicate, "simulation", sim.ID, "seed", r.Seed)
		inFlight++
	}
	return nil
}

// runInputOf is planned run r's input: its arm's, on the experiment's
// network, with the run's seed.
func runInputOf(e *ent.Experiment, r *ent.ExperimentRun) (simulation.RunInput, error) {
	var in simulation.RunInput
	if r.ArmIndex >= len(e.Arms) {
		return in, fmt.Errorf("experiment %d has no arm %d", e.ID, r.ArmIndex)
	}
	if err := decodeArm(e.Arms[r.ArmIndex].Input, &in); err != nil {
		return in, fmt.Errorf("experiment %d arm %d: %w", e.ID, r.ArmIndex, err)
	}
	in.NetworkID, in.Seed = &e.NetworkID, &r.Seed
	return in, nil
}

// finish stores the result (version 1, unless one exists) and the final
// status, in one transaction; a second pass finds both and does nothing.
func (s *Service) finish(ctx context.Context, e *ent.Experiment, runs []*ent.ExperimentRun, sims map[int]*ent.Simulation) error {
	existing, err := s.latestResult(ctx, e.ID)
	if err != nil {
		return err
	}
	var res *Result
	if existing == nil {
		if res, err = s.compute(ctx, e, runs, sims); err != nil {
			return err
		}
	}
	status, reason := entexp.StatusSUCCEEDED, ""
	switch {
	case e.Status == entexp.StatusCANCELED:
		status = entexp.StatusCANCELED
	case e.Error != nil:
		status, reason = entexp.StatusFAILED, *e.Error
	case res != nil:
		for _, a := range res.Arms {
			if a.Succeeded == 0 {
				status, reason = entexp.StatusFAILED, fmt.Sprintf("no run of arm %q succeeded", a.Name)
				break
			}
		}
	}
	var text, model string
	if res != nil {
		text = Narrative(e.Name, res)
		if s.n != nil {
			if t, m, err := s.n.ExperimentNarrative(ctx, e.Name, res); err == nil {
				text, model = t, m
			} else if ctx.Err() != nil {
				return ctx.Err()
			} else {
				text += "\n\n(The LLM narrative failed: " + llm.CleanText(err.Error(), 1000) + "; this one is written from the statistics.)"
			}
		}
	}
	return s.inTx(ctx, func(_ *sql.Tx, client *ent.Client) error {
		if res != nil {
			n, err := client.ExperimentResult.Query().Where(experimentresult.ExperimentID(e.ID)).Count(ctx)
			if err != nil {
				return err
			}
			if n == 0 {
				if err := s.storeResult(ctx, client, e.ID, 1, res, text, model); err != nil {
					return err
				}
			}
		}
		u := client.Experiment.Update().Where(entexp.ID(e.ID), entexp.StatusIn(entexp.StatusQUEUED, entexp.StatusRUNNING)).
			SetStatus(status).SetFinishedAt(time.Now().UTC())
		if reason != "" && e.Error == nil {
			u.SetError(reason)
		}
		n, err := u.Save(ctx)
		if err == nil && n > 0 {
			s.log.InfoContext(ctx, "experiment ended", "experiment", e.ID, "status", status, "reason", reason)
		}
		return err
	})
}

// storeResult writes result version v through client.
func (s *Service) storeResult(ctx context.Context, client *ent.Client, id, v int, res *Result, text, model string) error {
	m, err := res.toMap()
	if err != nil {
		return err
	}
	c := client.ExperimentResult.Create().SetExperimentID(id).SetVersion(v).SetResult(m).SetNarrative(text).
		SetNarrativeSource(experimentresult.NarrativeSourceDETERMINISTIC)
	if model != "" {
		c.SetNarrativeSource(experimentresult.NarrativeSourceLLM).SetModel(model)
	}
	return c.Exec(ctx)
}

// Report computes and stores a new version of an experiment's result (with
// an LLM narrative when one is configured). An experiment still running gets
// a result over the runs that have succeeded so far.
func (s *Service) Report(ctx context.Context, id int) (*ent.ExperimentResult, error) {
	e, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	runs, sims, err := s.runsOf(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := s.compute(ctx, e, runs, sims)
	if err != nil {
		return nil, err
	}
	text, model := Narrative(e.Name, res), ""
	if s.n != nil {
		if t, m, err := s.n.ExperimentNarrative(ctx, e.Name, res); err == nil {
			text, model = t, m
		} else if ctx.Err() != nil {
			return nil, ctx.Err()
		} else {
			text += "\n\n(The LLM narrative failed: " + llm.CleanText(err.Error(), 1000) + "; this one is written from the statistics.)"
		}
	}
	for attempt := 0; ; attempt++ {
		last, err := s.latestResult(ctx, id)
		if err != nil {
			return nil, err
		}
		v := 1
		if last != nil {
			v = last.Version + 1
		}
		err = s.storeResult(ctx, s.db.Client, id, v, res, text, model)
		if ent.IsConstraintError(err) && attempt < 3 {
			continue // another writer took the version
		}
		if err != nil {
			return nil, err
		}
		return s.db.Client.ExperimentResult.Query().Where(experimentresult.ExperimentID(id), experimentresult.Version(v)).Only(ctx)
	}
}
