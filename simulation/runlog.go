package simulation

import (
	"context"
	"math"
	"time"

	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
)

// runMessages are the log messages of a run's status changes.
var runMessages = map[entsim.Status]string{
	entsim.StatusQUEUED:    "run queued",
	entsim.StatusRUNNING:   "run started",
	entsim.StatusSUCCEEDED: "run finished",
	entsim.StatusFAILED:    "run failed",
	entsim.StatusCANCELED:  "run canceled",
}

// logRun writes the one INFO line of a run's status change: what runs, on
// what, what it has cost so far (rounded for reading; the row keeps the full
// value) and how long it waited or took.
func (s *Service) logRun(ctx context.Context, sim *ent.Simulation) {
	attrs := []any{"simulation", sim.ID, "network", sim.NetworkID}
	if computed := sim.Rounds + 1; sim.BranchedFromRound == nil {
		attrs = append(attrs, "agents", sim.TotalSteps/computed)
	} else if computed -= *sim.BranchedFromRound + 1; computed > 0 {
		attrs = append(attrs, "agents", sim.TotalSteps/computed) // a branch's total is of the rounds it computes
	}
	attrs = append(attrs, "rounds", sim.Rounds, "engine", sim.Engine)
	if sim.ParentID != nil {
		attrs = append(attrs, "parent", *sim.ParentID, "from_round", *sim.BranchedFromRound)
	}
	if sim.Params.Model != "" {
		attrs = append(attrs, "model", sim.Params.Model)
	}
	switch {
	case sim.Status == entsim.StatusRUNNING && sim.StartedAt != nil:
		attrs = append(attrs, "queued_for", sim.StartedAt.Sub(sim.CreatedAt).Round(time.Millisecond))
	case terminal(sim.Status):
		attrs = append(attrs, "steps", sim.CompletedSteps, "failed_steps", sim.FailedSteps, "calls", sim.Calls,
			"tokens", sim.PromptTokens+sim.CompletionTokens, "cost_usd", roundUSD(sim.EstimatedCostUsd))
		if sim.FinishedAt != nil {
			from := sim.CreatedAt
			if sim.StartedAt != nil {
				from = *sim.StartedAt
			}
			attrs = append(attrs, "duration", sim.FinishedAt.Sub(from).Round(time.Millisecond))
		}
		if sim.Status == entsim.StatusFAILED && sim.Error != nil {
			attrs = append(attrs, "error", *sim.Error)
		}
	}
	s.log.InfoContext(ctx, runMessages[sim.Status], attrs...)
}

// roundUSD rounds a cost to a hundredth of a cent, for text.
func roundUSD(v float64) float64 {
	r := math.Round(v*1e4) / 1e4
	if r == 0 {
		return 0 // never -0
	}
	return r
}
