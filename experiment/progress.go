package experiment

import (
	"context"
	"time"

	"github.com/ethox/ethox/ent"
	entexp "github.com/ethox/ethox/ent/experiment"
	entsim "github.com/ethox/ethox/ent/simulation"
)

// Usage is summed over an experiment's runs.
type Usage struct {
	Calls            int
	Tokens           int
	EstimatedCostUSD float64
	CacheHits        int     // calls answered from the answer cache
	CostSavedUSD     float64 // what they would have cost
}

// Progress is an experiment's state, derived from its stored row and runs.
type Progress struct {
	ExperimentID   int
	Status         entexp.Status
	RunsTotal      int
	RunsStarted    int
	RunsDone       int
	RunsSucceeded  int
	RunsFailed     int
	RunsCanceled   int
	CompletedSteps int
	TotalSteps     int
	Usage          *Usage
}

// ProgressOf reads an experiment's progress.
func (s *Service) ProgressOf(ctx context.Context, e *ent.Experiment) (*Progress, error) {
	if s == nil {
		return nil, errNotServed
	}
	runs, sims, err := s.runsOf(ctx, e.ID)
	if err != nil {
		return nil, err
	}
	p := &Progress{ExperimentID: e.ID, Status: e.Status, RunsTotal: len(runs), TotalSteps: e.TotalSteps, Usage: &Usage{}}
	for _, r := range runs {
		if r.SimulationID == nil {
			continue
		}
		p.RunsStarted++
		sim := sims[*r.SimulationID]
		if sim == nil {
			p.RunsDone++ // purged with its network
			continue
		}
		p.CompletedSteps += sim.CompletedSteps
		p.Usage.Calls += sim.Calls
		p.Usage.Tokens += sim.PromptTokens + sim.CompletionTokens
		p.Usage.EstimatedCostUSD += sim.EstimatedCostUsd
		p.Usage.CacheHits += sim.CacheHits
		p.Usage.CostSavedUSD += sim.CostSavedUsd
		switch sim.Status {
		case entsim.StatusSUCCEEDED:
			p.RunsDone++
			p.RunsSucceeded++
		case entsim.StatusFAILED:
			p.RunsDone++
			p.RunsFailed++
		case entsim.StatusCANCELED:
			p.RunsDone++
			p.RunsCanceled++
		}
	}
	return p, nil
}

// Runs are an experiment's planned runs with their simulations (nil: not
// started), by replicate then arm.
func (s *Service) Runs(ctx context.Context, id int) ([]*ent.ExperimentRun, map[int]*ent.Simulation, error) {
	if s == nil {
		return nil, nil, errNotServed
	}
	return s.runsOf(ctx, id)
}

// Stream sends an experiment's progress now, then on every change, read at
// most every `every`; it ends after a terminal status (or when ctx ends).
func (s *Service) Stream(ctx context.Context, id int, every time.Duration) (<-chan *Progress, error) {
	e, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	p, err := s.ProgressOf(ctx, e)
	if err != nil {
		return nil, err
	}
	out := make(chan *Progress, 1)
	go func() {
		defer close(out)
		for {
			select {
			case out <- p:
			case <-ctx.Done():
				return
			}
			if !live(p.Status) {
				return
			}
			for {
				select {
				case <-time.After(every):
				case <-ctx.Done():
					return
				}
				e, err := s.Get(ctx, id)
				if err != nil {
					return
				}
				next, err := s.ProgressOf(ctx, e)
				if err != nil {
					return
				}
				if next.Status != p.Status || *next.Usage != *p.Usage || next.CompletedSteps != p.CompletedSteps ||
					next.RunsDone != p.RunsDone || next.RunsStarted != p.RunsStarted {
					p = next
					break
				}
			}
		}
	}()
	return out, nil
}
