package resolvers

import (
	"context"
	"time"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/graph/model"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/population"
	"github.com/ethox/ethox/simulation"
)

func graphNode(n *networkfile.Node) *model.GraphNode {
	out := &model.GraphNode{
		AgentID:       n.AgentID,
		Traits:        n.Traits,
		Cluster:       n.Cluster,
		Age:           n.Age,
		AgeBracket:    networkfile.AgeBracket(n.Age, n.Profile),
		Gender:        n.Gender,
		TextOpinion:   n.TextOpinion,
		LevelOfCare:   n.LevelOfCare,
		EffectOnUsage: n.EffectOnUsage,
		Profile:       n.Profile,
		Attributes:    n.Attributes,
	}
	if n.Degree != nil {
		out.Degree = *n.Degree
	}
	if n.DegreeCentrality != nil {
		out.DegreeCentrality = *n.DegreeCentrality
	}
	if n.BetweennessCentrality != nil {
		out.BetweennessCentrality = *n.BetweennessCentrality
	}
	return out
}

func graphView(g *graphstore.Graph) *model.Graph {
	out := &model.Graph{
		Network:  g.Network,
		Nodes:    make([]*model.GraphNode, len(g.Nodes)),
		Edges:    make([]*model.GraphEdge, len(g.Edges)),
		Metadata: &model.GraphMetadata{NodeCount: len(g.Nodes), EdgeCount: len(g.Edges), TraitKeys: g.TraitKeys, Directed: g.Directed},
	}
	for i := range g.Nodes {
		out.Nodes[i] = graphNode(&g.Nodes[i])
	}
	edges := make([]model.GraphEdge, len(g.Edges)) // one allocation for all edges
	for i, e := range g.Edges {
		edges[i] = model.GraphEdge{Source: e.Source, Target: e.Target, Weight: e.Weight}
		out.Edges[i] = &edges[i]
	}
	return out
}

func networkMetadata(n *ent.Network) *model.GraphMetadata {
	keys := n.TraitKeys
	if keys == nil {
		keys = []string{}
	}
	return &model.GraphMetadata{NodeCount: n.NodeCount, EdgeCount: n.EdgeCount, TraitKeys: keys, Directed: n.Directed}
}

// graphFromInput turns the typed GraphQL input into the same Graph a
// network.json upload decodes to, so both go through one validation.
func graphFromInput(in model.GraphInput) *networkfile.Graph {
	g := &networkfile.Graph{
		Nodes: make([]networkfile.Node, len(in.Nodes)),
		Edges: make([]networkfile.Edge, len(in.Edges)),
	}
	if in.Directed != nil {
		g.Directed = *in.Directed
	}
	for i, n := range in.Nodes {
		g.Nodes[i] = networkfile.Node{
			AgentID:               n.AgentID,
			Traits:                orEmpty(n.Traits),
			Profile:               orEmpty(n.Profile),
			Attributes:            orEmpty(n.Attributes),
			Degree:                n.Degree,
			Cluster:               n.Cluster,
			DegreeCentrality:      n.DegreeCentrality,
			BetweennessCentrality: n.BetweennessCentrality,
			Age:                   n.Age,
			Gender:                n.Gender,
			TextOpinion:           n.TextOpinion,
			LevelOfCare:           n.LevelOfCare,
			EffectOnUsage:         n.EffectOnUsage,
		}
	}
	for j, e := range in.Edges {
		w := 1.0
		if e.Weight != nil {
			w = *e.Weight
		}
		g.Edges[j] = networkfile.Edge{Source: e.Source, Target: e.Target, Weight: w}
	}
	return g
}

func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

// networkName is the given name, else the uploaded file's name, else a dated default.
func networkName(name *string, filename string) string {
	switch {
	case name != nil && *name != "":
		return *name
	case filename != "":
		return filename
	default:
		return "network " + time.Now().UTC().Format(time.RFC3339)
	}
}

func (r *Resolver) snapshot(ctx context.Context, sim *ent.Simulation, round int) (*model.Graph, error) {
	snap, err := r.Sims.Snapshot(ctx, sim, round)
	if err != nil || snap == nil {
		return nil, err
	}
	out := graphView(snap.Graph)
	if snap.State == nil {
		return out, nil
	}
	for i, node := range out.Nodes {
		// The prototype's shape: care as a 0..1 level, support as the effect.
		if v := snap.State[i]; v != nil {
			node.TextOpinion, node.LevelOfCare, node.EffectOnUsage = ptr(v.Opinion), ptr(v.Care/10), ptr(v.Support)
		}
		if v := snap.Initial[i]; v != nil {
			node.InitialOpinion, node.InitialLevelOfCare, node.InitialEffectOnUsage = ptr(v.Opinion), ptr(v.Care/10), ptr(v.Support)
		}
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }

func runInput(in model.RunSimulationInput) (simulation.RunInput, error) {
	out := simulation.RunInput{
		NetworkID: in.NetworkID, Rounds: in.Rounds, SelfWeight: in.SelfWeight,
		NeighborLimit: in.NeighborLimit, Model: in.Model, Temperature: in.Temperature, Concurrency: in.Concurrency,
		Epsilon: in.Epsilon, MaxCalls: in.MaxCalls, MaxTokens: in.MaxTokens, MaxCostUSD: in.MaxCostUsd,
	}
	if in.Engine != nil {
		e := string(*in.Engine)
		out.Engine = &e
	}
	if in.Seed != nil {
		seed := int64(*in.Seed)
		out.Seed = &seed
	}
	if in.Trigger != nil {
		out.Trigger = *in.Trigger // required unless fromSimulation gives it (Run says so)
	}
	out.FromSimulation, out.FromRound = in.FromSimulation, in.FromRound
	out.NumAgents = in.NumAgents
	out.Cache = in.Cache
	out.Speaker, out.NeighborNumbers, out.MaxOutputTokens = in.Speaker, in.NeighborNumbers, in.MaxOutputTokens
	out.MinTies, out.TraitVarianceScale = in.MinTies, in.TraitVarianceScale
	out.Preset = enumText(in.Preset)
	out.UpdateOrder = enumText(in.UpdateOrder)
	out.Neighborhood = enumText(in.Neighborhood)
	out.ProfileSource = enumText(in.ProfileSource)
	out.ProfileSampling = enumText(in.ProfileSampling)
	var err error
	if out.PopulationSeed, err = seedOf(in.PopulationSeed, "populationSeed"); err != nil {
		return out, err
	}
	if a := in.Audience; a != nil {
		out.Audience = &simulation.Audience{Mode: string(a.Mode), AgentIDs: a.AgentIds}
		if a.Metric != nil {
			out.Audience.Metric = string(*a.Metric)
		}
		if a.TopN != nil {
			out.Audience.TopN = *a.TopN
		}
	}
	return out, nil
}

// enumText is an optional GraphQL enum's name.
func enumText[E ~string](e *E) *string {
	if e == nil {
		return nil
	}
	s := string(*e)
	return &s
}

// generateOptions turns generateNetwork's input into the generator's options.
func generateOptions(in model.GenerateNetworkInput) (graphstore.GenerateOptions, error) {
	seed, err := seedOf(in.Seed, "seed")
	if err != nil {
		return graphstore.GenerateOptions{}, err
	}
	o := graphstore.GenerateOptions{NumAgents: in.NumAgents, Seed: seed}
	if in.Name != nil {
		o.Name = *in.Name
	}
	if in.Profiles != nil {
		o.Profiles = in.Profiles.File
	}
	if in.ProfileSource != nil {
		o.ProfileSource = population.ProfileSource(*in.ProfileSource)
	}
	if in.ProfileSampling != nil {
		o.ProfileSampling = population.ProfileSampling(*in.ProfileSampling)
	}
	if in.Neighborhood != nil {
		o.Neighbourhood = population.Neighbourhood(*in.Neighborhood)
	}
	if in.MinTies != nil {
		o.MinTies = *in.MinTies
	}
	if v := in.TraitVarianceScale; v != nil {
		if !(*v > 0 && *v <= population.MaxTraitVarianceScale) { // 0 would mean the default to population
			return o, apperr.New(apperr.BadInput, "traitVarianceScale must be in (0, %v], got %v", population.MaxTraitVarianceScale, *v)
		}
		o.TraitVarianceScale = *v
	}
	return o, nil
}

// seedOf turns an optional GraphQL seed into a generator seed.
func seedOf(v *int, field string) (*uint64, error) {
	if v == nil {
		return nil, nil
	}
	if *v < 0 {
		return nil, apperr.New(apperr.BadInput, "%s must not be negative, got %d", field, *v)
	}
	s := uint64(*v)
	return &s, nil
}

func progressOf(sim *ent.Simulation) *model.SimulationProgress {
	return &model.SimulationProgress{SimulationID: sim.ID, Status: sim.Status, Round: sim.CurrentRound, Rounds: sim.Rounds,
		CompletedSteps: sim.CompletedSteps, TotalSteps: sim.TotalSteps, Usage: usageOf(sim)}
}

func usageOf(sim *ent.Simulation) *model.SimulationUsage {
	return &model.SimulationUsage{Calls: sim.Calls, PromptTokens: sim.PromptTokens, CompletionTokens: sim.CompletionTokens,
		Retries: sim.Retries, FailedSteps: sim.FailedSteps, EstimatedCostUsd: sim.EstimatedCostUsd,
		CacheHits: sim.CacheHits, CostSavedUsd: sim.CostSavedUsd}
}

// relay converts a service stream into a subscription stream; every send
// selects on ctx.Done so a gone client never strands the goroutine.
func relay[T, U any](ctx context.Context, in <-chan T, conv func(T) U) <-chan U {
	out := make(chan U, 1)
	go func() {
		defer close(out)
		for v := range in {
			select {
			case out <- conv(v):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func estimateOf(e *simulation.Estimate) *model.RunEstimate {
	out := &model.RunEstimate{Engine: e.Engine, Agents: e.Agents, Rounds: e.Rounds, Calls: e.Calls, PromptTokens: e.PromptTokens,
		CompletionTokens: e.CompletionTokens, CostUsd: e.CostUSD, Priced: e.Priced, AnswerTokens: e.AnswerTokens,
		Concurrency: e.Concurrency, CallLatencySeconds: e.CallLatency.Seconds(), WallTimeSeconds: e.WallTime.Seconds(),
		PerRound: make([]*model.RoundEstimate, len(e.PerRound))}
	if e.Model != "" {
		out.Model = &e.Model
	}
	if e.PopulationSeed != nil {
		seed := int(*e.PopulationSeed) // RandomSeed and seedOf keep it within a GraphQL Int
		out.PopulationSeed = &seed
	}
	for i, r := range e.PerRound {
		out.PerRound[i] = &model.RoundEstimate{Round: r.Round, Calls: r.Calls, PromptTokens: r.PromptTokens,
			CompletionTokens: r.CompletionTokens, WallTimeSeconds: r.WallTime.Seconds()}
	}
	return out
}
