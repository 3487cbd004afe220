package simulation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/simulation/llm"
)

// ChunkArgs is one job: the LLM steps of a chunk of agents in one round.
type ChunkArgs struct {
	SimulationID int `json:"simulationId"`
	Round        int `json:"round"`
	Chunk        int `json:"chunk"`
	// Size is the agents per chunk the run's jobs are cut into (chunkSize);
	// 0 for jobs queued before it was recorded, cut by SIM_CHUNK_SIZE.
	Size int `json:"size,omitempty"`
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

// enqueueRound inserts the jobs of one round inside tx.
func (s *Service) enqueueRound(ctx context.Context, tx *sql.Tx, simID int, engine entsim.Engine, round, agents, size int) error {
	classical := engine != entsim.EngineLLM && (engine != entsim.EngineHYBRID || round > 0)
	if classical {
		_, err := s.river.InsertTx(ctx, tx, ClassicalArgs{SimulationID: simID}, nil)
		return err
	}
	chunks := (agents + size - 1) / size
	params := make([]river.InsertManyParams, chunks)
	for c := range params {
		params[c] = river.InsertManyParams{Args: ChunkArgs{SimulationID: simID, Round: round, Chunk: c, Size: size}}
	}
	_, err := s.river.InsertManyTx(ctx, tx, params)
	return err
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

// startJob loads a job's run and marks it RUNNING; nil means the job has
// nothing to do (the run was deleted or has ended). The caller must call done.
func (s *Service) startJob(ctx context.Context, simID int) (r *jobRun, done func(), err error) {
	sim, err := s.db.Client.Simulation.Get(ctx, simID)
	if ent.IsNotFound(err) {
		return nil, func() {}, nil
	}
	if err != nil {
		return nil, func() {}, err
	}
	if terminal(sim.Status) {
		s.forgetPlan(simID)
		return nil, func() {}, nil
	}
	if sim.Status == entsim.StatusQUEUED {
		if err := s.transition(ctx, simID, entsim.StatusRUNNING, "", entsim.StatusQUEUED); err != nil {
			return nil, func() {}, err
		}
	}
	p := sim.Params
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

// jobErrors is River's ErrorHandler: when a job's last attempt fails, River
// discards the job, and without this its run would stay RUNNING for good.
type jobErrors struct{ s *Service }

func (h jobErrors) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	if job.Attempt >= job.MaxAttempts {
		h.s.exhausted(ctx, job, err.Error())
	}
	return nil
}

func (h jobErrors) HandlePanic(ctx context.Context, job *rivertype.JobRow, v any, _ string) *river.ErrorHandlerResult {
	if job.Attempt >= job.MaxAttempts {
		h.s.exhausted(ctx, job, fmt.Sprintf("panic: %v", v))
	}
	return nil
}

// exhausted fails the run of a job that used its last attempt, with the
// job's last error as the reason; subscribers get the FAILED status and
// FINISHED.
func (s *Service) exhausted(ctx context.Context, job *rivertype.JobRow, last string) {
	var args struct {
		SimulationID int `json:"simulationId"` // every job kind here carries it
	}
	if err := json.Unmarshal(job.EncodedArgs, &args); err != nil || args.SimulationID == 0 {
		s.log.Error("a job used its last attempt, and its run is unknown", "job", job.ID, "kind", job.Kind, "error", last)
		return
	}
	reason := llm.CleanText(fmt.Sprintf("job %d (%s) of the run failed %d times; its last error: %s", job.ID, job.Kind, job.Attempt, last), maxErrorChars)
	s.log.Error("a job used its last attempt: its run fails", "simulation", args.SimulationID, "job", job.ID, "kind", job.Kind, "error", last)
	if err := protect(func() error { return s.fail(ctx, args.SimulationID, reason) }); err != nil {
		s.log.Error("could not fail the run of an exhausted job", "simulation", args.SimulationID, "error", err)
	}
}
