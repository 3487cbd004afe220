package simulation

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/riverqueue/river"

	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/simulation/dynamics"
)

// The classical engines (DeGroot, Friedkin–Johnsen, Hegselmann–Krause, and
// the rounds after an LLM reaction in a HYBRID run): one job computes the
// rounds in memory and stores them round by round.

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
	complete, err := s.states.completeRounds(ctx, sim.ID, n)
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
	dp.SelfWeight, dp.Epsilon, dp.Sequential = p.SelfWeight, p.Epsilon, p.Sequential()
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
	return s.finishClassical(ctx, sim.ID)
}

// storeRound writes one round of classical states and the progress in one transaction.
func (s *Service) storeRound(ctx context.Context, simID, round int, pl *plan, st dynamics.State, opinions []string) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.write(ctx, simID, func(tx *sql.Tx, client *ent.Client) error {
		inserted, err := s.states.insertRound(ctx, tx, simID, round, pl.graph.AgentPKs, st, opinions)
		if err != nil {
			return fmt.Errorf("store round %d: %w", round, err)
		}
		err = client.Simulation.Update().Where(entsim.ID(simID)).
			AddCompletedSteps(int(inserted)).SetCurrentRound(round).Exec(ctx)
		if err != nil || inserted == 0 {
			return err
		}
		// Classical rounds log one event per round, not per agent: a round may hold a million agents.
		return s.emitRound(ctx, tx, simID, round)
	})
}

// finishClassical ends a classical run once its last round is stored.
func (s *Service) finishClassical(ctx context.Context, simID int) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	err := s.transition(ctx, simID, entsim.StatusSUCCEEDED, "", entsim.StatusRUNNING)
	s.forgetPlan(simID)
	return err
}

func toDynamics(st []StateView) dynamics.State {
	out := dynamics.NewState(len(st))
	for i, v := range st {
		out.Care[i], out.Support[i] = v.Care, v.Support
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
