package simulation

import (
	"context"

	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/simulation/simtypes"
)

// What experiments (package experiment) need of runs: to check an arm's input
// without starting it, to hear when a run ends, and to stop a run with a
// reason.

// OnRunEnded registers f, called in this process once a run's end (SUCCEEDED,
// FAILED, CANCELED) has committed here. It is a wake-up, not a guarantee: a
// crash may lose it, so whoever needs the end reads the stored status too.
// Register before Start.
func (s *Service) OnRunEnded(f func(simID int)) {
	s.mu.Lock()
	s.ended = append(s.ended, f)
	s.mu.Unlock()
}

func (s *Service) runEnded(simID int) {
	s.mu.Lock()
	fs := s.ended
	s.mu.Unlock()
	for _, f := range fs {
		f(simID)
	}
}

// Checked is what Check found of a run input: its engine and the steps it
// would take.
type Checked struct {
	Engine entsim.Engine
	Params Params
	Steps  int // agents × (rounds+1)
}

// Check validates a run input on network networkID as Run would, without
// writing anything; errors are Run's (BAD_USER_INPUT naming the field).
func (s *Service) Check(ctx context.Context, in RunInput, net *ent.Network) (Checked, error) {
	engine, p, err := s.prepare(in)
	if err != nil {
		return Checked{}, err
	}
	steps, err := s.checkNetwork(net, in, &p)
	if err != nil {
		return Checked{}, err
	}
	if p.Audience.Mode == simtypes.AudienceManual {
		if _, err := s.planFor(ctx, 0, net.ID, p); err != nil {
			return Checked{}, err
		}
	}
	return Checked{Engine: engine, Params: p, Steps: steps}, nil
}

// StopRun ends a live run as FAILED with reason (e.g. its experiment's budget
// is spent): no new LLM call of it starts in this process once it returns,
// and other processes see the status before their next call.
func (s *Service) StopRun(ctx context.Context, id int, reason string) error {
	if err := s.fail(ctx, id, reason); err != nil {
		return err
	}
	s.mu.Lock()
	for _, cancel := range s.running[id] {
		cancel()
	}
	s.mu.Unlock()
	return nil
}
