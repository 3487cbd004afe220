package experiment

import (
	"context"
	"encoding/json"

	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/runmetrics"
	"github.com/ethox/ethox/simulation"
)

// decodeArm reads an arm's stored run input.
func decodeArm(raw json.RawMessage, in *simulation.RunInput) error { return json.Unmarshal(raw, in) }

// ArmInputs are an experiment's arms with their stored run inputs.
func ArmInputs(e *ent.Experiment) ([]ArmInput, error) {
	out := make([]ArmInput, len(e.Arms))
	for i, a := range e.Arms {
		out[i].Name = a.Name
		if err := decodeArm(a.Input, &out[i].Input); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// compute reads the experiment's network and its succeeded runs' final
// states, and analyzes them.
func (s *Service) compute(ctx context.Context, e *ent.Experiment, runs []*ent.ExperimentRun, sims map[int]*ent.Simulation) (*Result, error) {
	g, err := s.sims.Graphs().LoadGraph(ctx, &e.NetworkID)
	if err != nil {
		return nil, err
	}
	agents := make([]runmetrics.Agent, len(g.Nodes))
	for i, n := range g.Nodes {
		agents[i] = runmetrics.Agent{AgentID: n.AgentID, Profile: n.Profile, Cluster: n.Cluster, Age: n.Age, Gender: n.Gender}
	}
	names := make([]string, len(e.Arms))
	for i, a := range e.Arms {
		names[i] = a.Name
	}
	data := make([]RunData, 0, len(runs))
	for _, r := range runs {
		d := RunData{Arm: r.ArmIndex, Replicate: r.Replicate, Seed: r.Seed, SimulationID: r.SimulationID, Status: "NOT_STARTED"}
		if r.SimulationID != nil {
			sim := sims[*r.SimulationID]
			if sim == nil {
				d.Status = "DELETED"
			} else {
				d.Status, d.Rounds = string(sim.Status), sim.Rounds
				d.Calls, d.Tokens, d.CostUSD = sim.Calls, sim.PromptTokens+sim.CompletionTokens, sim.EstimatedCostUsd
				d.CacheHits, d.CostSavedUSD = cacheUsage(sim)
				if d.Status == "SUCCEEDED" {
					err := simulation.EachState(ctx, s.db, sim.ID, func(st *simulation.StateRow) error {
						if st.Round == sim.Rounds && !st.Failed {
							d.Final = append(d.Final, runmetrics.AgentState{AgentID: st.AgentKey, Round: st.Round,
								Care: st.Care, Support: st.Support})
						}
						return nil
					})
					if err != nil {
						return nil, err
					}
				}
			}
		}
		data = append(data, d)
	}
	return Analyze(names, data, agents, e.Seed, e.BootstrapResamples)
}
