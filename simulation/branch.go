package simulation

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/simulation/simtypes"
)

// Branches: runSimulation(fromSimulation, fromRound) starts a run from a
// stored run's states at fromRound and computes only rounds fromRound+1 on.
//
// The branch gets its own copy of the parent's states of rounds 0..fromRound
// (copyRounds, one INSERT … SELECT in the transaction that creates it), rather
// than a reference to the parent's rows. A reference would save the rows, but
// every reader of agent_states would have to follow it: the workers'
// inputs and resume checks, advance's round counts, snapshots (graphAt,
// postTriggerGraph), the GraphQL states connection (ent), exports, reports
// and runmetrics, the purge; and a parent could not be deleted without its
// branches losing their first rounds. With a copy, a branch is a run like any
// other from its first commit, readers need no change, a crash before the
// commit leaves nothing, and a resumed job finds the copied rounds stored.
// The cost is (fromRound+1) × agents rows, written by the database without a
// row through Go (about a second for 100,000 agents on SQLite).

// branchOf resolves a branch's input against its parent: it refuses what
// would change what the parent's stages 0..fromRound meant, fills every
// field the input leaves out from the parent's parameters, and returns the
// parent and fromRound. It returns nil for an input without fromSimulation.
func (s *Service) branchOf(ctx context.Context, in *RunInput) (*ent.Simulation, int, error) {
	if in.FromSimulation == nil {
		if in.FromRound != nil {
			return nil, 0, apperr.New(apperr.BadInput, "fromRound needs fromSimulation: the run to branch from")
		}
		return nil, 0, nil
	}
	bad := func(format string, args ...any) (*ent.Simulation, int, error) {
		return nil, 0, apperr.New(apperr.BadInput, format, args...)
	}
	from := 0
	if in.FromRound != nil {
		if from = *in.FromRound; from < 0 {
			return bad("fromRound must not be negative, got %d", from)
		}
	}
	parent, err := s.db.Client.Simulation.Get(ctx, *in.FromSimulation) // a deleted network's runs are not found
	if ent.IsNotFound(err) {
		return nil, 0, apperr.New(apperr.NotFound, "fromSimulation: simulation %d not found", *in.FromSimulation)
	}
	if err != nil {
		return nil, 0, err
	}
	pp := parent.Params
	if from > parent.Rounds {
		return bad("fromRound %d is past fromSimulation %d's last round (%d)", from, parent.ID, parent.Rounds)
	}
	if in.NumAgents != nil {
		return bad("numAgents: a branch runs on its parent's network %d; leave numAgents out", parent.NetworkID)
	}
	if in.NetworkID != nil && *in.NetworkID != parent.NetworkID {
		return bad("networkId %d is not fromSimulation %d's network (%d): a branch runs on its parent's network", *in.NetworkID, parent.ID, parent.NetworkID)
	}
	if t := strings.TrimSpace(in.Trigger); t != "" && t != strings.TrimSpace(parent.Trigger) {
		return bad("trigger differs from fromSimulation %d's: a branch keeps its parent's trigger; leave trigger out", parent.ID)
	}
	if in.Speaker != nil && pp.Speaker != "" && strings.Join(strings.Fields(*in.Speaker), " ") != pp.Speaker {
		// The support the stored stages measured is support for the parent's speaker.
		return bad("speaker differs from fromSimulation %d's (%q): a branch keeps its parent's speaker; leave speaker out", parent.ID, pp.Speaker)
	}
	if in.Audience != nil && in.Audience.Mode != audienceMode(pp.Audience) {
		return bad("audience.mode %s differs from fromSimulation %d's (%s): a branch keeps its parent's stage-0 audience; leave audience out",
			in.Audience.Mode, parent.ID, audienceMode(pp.Audience))
	}
	if in.Rounds == nil {
		in.Rounds = ptr(max(parent.Rounds, from))
	} else if *in.Rounds < from {
		return bad("rounds %d is below fromRound %d: on a branch, rounds is the total count, the parent's rounds 0..%d included", *in.Rounds, from, from)
	}
	n, err := s.networkSize(ctx, parent.NetworkID)
	if err != nil {
		return nil, 0, err
	}
	if complete, err := s.states.completeRounds(ctx, parent.ID, n); err != nil {
		return nil, 0, err
	} else if complete < from {
		reached := "no round complete"
		if complete >= 0 {
			reached = fmt.Sprintf("rounds 0..%d complete", complete)
		}
		return bad("fromRound %d: fromSimulation %d (%s) has %s", from, parent.ID, parent.Status, reached)
	}

	// Inherit whatever the input leaves out.
	in.Trigger = parent.Trigger
	in.NetworkID = &parent.NetworkID
	if in.Engine == nil {
		in.Engine = ptr(string(parent.Engine))
	}
	if in.Audience == nil {
		a := pp.Audience
		a.Mode = audienceMode(a)
		a.AgentIDs = slices.Clone(a.AgentIDs)
		in.Audience = &a
	}
	if in.Preset == nil && pp.Preset != "" {
		in.Preset = ptr(pp.Preset)
	}
	if in.Speaker == nil && pp.Speaker != "" {
		in.Speaker = ptr(pp.Speaker)
	}
	if in.NeighborLimit == nil && in.Neighborhood == nil && pp.NeighborLimit >= 1 {
		// A limit of 0 (all) is what neighborhoodOf derives again from the
		// inherited neighbourhood and preset; another neighbourhood gets its own default.
		in.NeighborLimit = ptr(pp.NeighborLimit)
	}
	if in.Neighborhood == nil && (pp.Neighborhood == simtypes.NeighborhoodChosen || pp.Neighborhood == simtypes.NeighborhoodUndirected) {
		in.Neighborhood = ptr(pp.Neighborhood) // DIRECTED is the default it would get again
	}
	if in.UpdateOrder == nil && pp.UpdateOrder != "" {
		in.UpdateOrder = ptr(pp.UpdateOrder)
	}
	inherit(&in.SelfWeight, pp.SelfWeight, true)
	inherit(&in.Model, pp.Model, pp.Model != "")
	if in.Temperature == nil && pp.Temperature != nil {
		in.Temperature = ptr(*pp.Temperature)
	}
	if in.MaxOutputTokens == nil && pp.MaxOutputTokens != nil {
		in.MaxOutputTokens = ptr(*pp.MaxOutputTokens)
	}
	inherit(&in.NeighborNumbers, pp.NeighborNumbers, true)
	if in.Cache == nil && pp.Cache && (*in.Engine == string(entsim.EngineLLM) || *in.Engine == string(entsim.EngineHYBRID)) {
		in.Cache = ptr(true) // the parent's opt-in, where the branch's engine can use it
	}
	inherit(&in.Seed, pp.Seed, true)
	inherit(&in.Concurrency, pp.Concurrency, pp.Concurrency > 0)
	inherit(&in.Epsilon, pp.Epsilon, true)
	inherit(&in.MaxCalls, pp.MaxCalls, pp.MaxCalls > 0)
	inherit(&in.MaxTokens, pp.MaxTokens, pp.MaxTokens > 0)
	inherit(&in.MaxCostUSD, pp.MaxCostUSD, pp.MaxCostUSD > 0)
	return parent, from, nil
}

// inherit sets *field to v when the input left it out and ok.
func inherit[T any](field **T, v T, ok bool) {
	if *field == nil && ok {
		*field = &v
	}
}

// audienceMode is a's mode; runs recorded without one heard it all.
func audienceMode(a Audience) string {
	if a.Mode == "" {
		return simtypes.AudienceAll
	}
	return a.Mode
}

// sameAudience reports whether two resolved audiences pick the same agents
// on the same network.
func sameAudience(a, b Audience) bool {
	return audienceMode(a) == audienceMode(b) && a.Metric == b.Metric && a.TopN == b.TopN && slices.Equal(a.AgentIDs, b.AgentIDs)
}

// networkSize is a network's agent count.
func (s *Service) networkSize(ctx context.Context, networkID int) (int, error) {
	net, err := s.db.Client.Network.Get(ctx, networkID)
	if err != nil {
		return 0, err
	}
	return net.NodeCount, nil
}

// startBranch writes, in the transaction creating branch sim, the parent's
// stages 0..from as the branch's own, one ROUND_COMPLETED event each, and
// what comes next: the jobs of round from+1 (and from+2 for an LLM run, whose
// rounds overlap, as Run queues them), or the end of a branch that computes
// nothing (rounds = fromRound). The parent's rounds are checked complete
// again inside the transaction, so a copy is never partial.
func (s *Service) startBranch(ctx context.Context, tx *sql.Tx, client *ent.Client, sim *ent.Simulation, parentID, from, n int) error {
	if complete, err := s.states.completeRoundsIn(ctx, tx, parentID, n); err != nil {
		return err
	} else if complete < from {
		return apperr.New(apperr.BadInput, "fromRound %d: fromSimulation %d has only rounds 0..%d complete", from, parentID, complete)
	}
	copied, err := s.states.copyRounds(ctx, tx, parentID, sim.ID, from)
	if err != nil {
		return fmt.Errorf("copy the stored stages of simulation %d: %w", parentID, err)
	}
	if want := int64(n * (from + 1)); copied != want {
		return fmt.Errorf("copied %d states of simulation %d's rounds 0..%d, expected %d", copied, parentID, from, want)
	}
	for r := 0; r <= from; r++ {
		if err := s.emitRound(ctx, tx, sim.ID, r); err != nil {
			return err
		}
	}
	if sim.Rounds == from {
		_, err := s.setStatus(ctx, tx, client, sim.ID, entsim.StatusSUCCEEDED, "", live...)
		return err
	}
	if err := s.enqueueRound(ctx, tx, sim.ID, sim.Engine, from+1, n, s.chunkSize(sim.Params)); err != nil {
		return err
	}
	if sim.Engine == entsim.EngineLLM && from+2 <= sim.Rounds {
		return s.enqueueRound(ctx, tx, sim.ID, sim.Engine, from+2, n, s.chunkSize(sim.Params))
	}
	return nil
}

// copiedSteps are the states a run took from its parent (0 unless a
// branch): counted as stored, but not as this run's completed steps.
func copiedSteps(sim *ent.Simulation, n int) int {
	if sim.BranchedFromRound == nil {
		return 0
	}
	return n * (*sim.BranchedFromRound + 1)
}
