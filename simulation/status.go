package simulation

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/simulation/llm"
)

// A run's status moves QUEUED → RUNNING → SUCCEEDED, FAILED or CANCELED, and
// every move goes through setStatus.

func terminal(st entsim.Status) bool {
	return st == entsim.StatusSUCCEEDED || st == entsim.StatusFAILED || st == entsim.StatusCANCELED
}

// live are the statuses a run can still leave.
var live = []entsim.Status{entsim.StatusQUEUED, entsim.StatusRUNNING}

var errStopped = errors.New("simulation is no longer running")

// maxErrorChars bounds the reasons stored with failed steps and runs (they
// may quote a server's answer).
const maxErrorChars = 2000

// setStatus moves run id to status to, in the caller's transaction, if its
// status is one of from (any, when from is empty). It stamps started_at
// (RUNNING) or finished_at (an end), stores reason as a FAILED run's error,
// and logs the change in the run's events; it reports whether the row changed.
func (s *Service) setStatus(ctx context.Context, tx *sql.Tx, client *ent.Client, id int, to entsim.Status, reason string, from ...entsim.Status) (bool, error) {
	u := client.Simulation.Update().Where(entsim.ID(id)).SetStatus(to)
	if len(from) > 0 {
		u.Where(entsim.StatusIn(from...))
	}
	now := time.Now().UTC()
	switch {
	case to == entsim.StatusRUNNING:
		u.SetStartedAt(now)
	case terminal(to):
		u.SetFinishedAt(now)
	}
	if to == entsim.StatusFAILED {
		u.SetError(llm.CleanText(reason, maxErrorChars)) // may quote a server's error
	}
	n, err := u.Save(ctx)
	if err != nil || n == 0 {
		return false, err // n == 0: someone else got there first
	}
	if terminal(to) {
		s.forgetPlan(id)
		s.onCommit(tx, func() { s.runEnded(id) })
	}
	if sim, err := client.Simulation.Get(ctx, id); err == nil {
		s.onCommit(tx, func() { s.logRun(ctx, sim) })
	}
	return true, s.emitStatus(ctx, tx, id, to)
}

// transition is setStatus in a transaction of its own.
func (s *Service) transition(ctx context.Context, id int, to entsim.Status, reason string, from ...entsim.Status) error {
	return s.write(ctx, id, func(tx *sql.Tx, client *ent.Client) error {
		_, err := s.setStatus(ctx, tx, client, id, to, reason, from...)
		return err
	})
}

// fail ends a run with a reason, unless it already ended.
func (s *Service) fail(ctx context.Context, id int, reason string) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	err := s.transition(ctx, id, entsim.StatusFAILED, reason, live...)
	s.forgetPlan(id)
	return err
}

// status reads a run's status.
func (s *Service) status(ctx context.Context, id int) (entsim.Status, error) {
	sim, err := s.db.Client.Simulation.Query().Where(entsim.ID(id)).Select(entsim.FieldStatus).Only(ctx)
	if err != nil {
		return "", err
	}
	return sim.Status, nil
}
