package simulation

import (
	"context"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/graphstore"
)

// Snapshot is a run's network with every agent's view at one round and at
// stage 0, in node order (nil where an agent has no state).
type Snapshot struct {
	Graph   *graphstore.Graph
	State   []*StateView
	Initial []*StateView
}

// Snapshot reads the network of sim with its states at round; round -1 is
// the network as uploaded. It returns nil when the round is not complete yet.
func (s *Service) Snapshot(ctx context.Context, sim *ent.Simulation, round int) (*Snapshot, error) {
	if round < -1 || round > sim.Rounds {
		return nil, apperr.New(apperr.BadInput, "round %d is outside 0..%d", round, sim.Rounds)
	}
	g, err := s.graphs.LoadGraph(ctx, &sim.NetworkID)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Graph: g}
	if round < 0 {
		return snap, nil
	}
	complete, err := s.states.completeRounds(ctx, sim.ID, len(g.Nodes))
	if err != nil {
		return nil, err
	}
	if round > complete {
		return nil, nil
	}
	index := make(map[int]int, len(g.AgentPKs))
	for i, pk := range g.AgentPKs {
		index[pk] = i
	}
	if snap.State, err = s.statesAt(ctx, sim.ID, round, index); err != nil {
		return nil, err
	}
	if snap.Initial, err = s.statesAt(ctx, sim.ID, 0, index); err != nil {
		return nil, err
	}
	return snap, nil
}

// FinalRound is the round finalGraph shows: the last one, once the run succeeded.
func FinalRound(sim *ent.Simulation) (int, bool) {
	return sim.Rounds, sim.Status == entsim.StatusSUCCEEDED
}

// statesAt reads round's states in node order (index: agent primary key to position).
func (s *Service) statesAt(ctx context.Context, simID, round int, index map[int]int) ([]*StateView, error) {
	out := make([]*StateView, len(index))
	err := s.states.each(ctx, simID, round, nil, func(pk int, v StateView) {
		if i, ok := index[pk]; ok {
			out[i] = &v
		}
	})
	return out, err
}
