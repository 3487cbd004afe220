package graphstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/population"
)

// GenerateOptions describe a synthetic population to generate and store.
type GenerateOptions struct {
	NumAgents int
	Seed      *uint64   // nil: a random seed, recorded on the network
	Profiles  io.Reader // optional survey CSV
	Name      string    // default "synthetic N agents (seed S)"

	// Model options, passed to population.Options as they are: the zero
	// values give the prototype's semantics (the embedded voter survey
	// without replacement, or Profiles when set; directed choice ties with
	// k ≥ 0; trait variance scale 0.65). population.V1 lists the values
	// that reproduce ethox-population/1.
	ProfileSource      population.ProfileSource
	ProfileSampling    population.ProfileSampling
	Neighbourhood      population.Neighbourhood
	MinTies            int
	TraitVarianceScale float64

	// KeepDefault: the network does not become the default (ImportOptions).
	KeepDefault bool
}

// Generate builds a synthetic population (BFI-2 personalities, profiles, a
// similarity network, communities) and stores it as a GENERATED network whose
// params record everything needed to reproduce it. The network is directed
// (source chose target) unless o.Neighbourhood is undirected.
func (s *Store) Generate(ctx context.Context, o GenerateOptions) (*ent.Network, error) {
	if limit := s.maxGenerateAgents(); o.NumAgents > limit {
		return nil, apperr.New(apperr.BadInput, "numAgents must be between 1 and %d (MAX_GENERATE_AGENTS), got %d", limit, o.NumAgents)
	}
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	res, seed, err := generate(ctx, o)
	if err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = fmt.Sprintf("synthetic %d agents (seed %d)", o.NumAgents, seed)
	}
	// Checked like an upload: a generator bug must not store a network that
	// reads or simulations would trip over. Metrics were computed by the
	// generator; importGraph keeps them.
	if err := res.Graph.Validate(); err != nil {
		return nil, err
	}
	return s.importGraph(ctx, res.Graph, ImportOptions{Name: name, Source: Generated, Params: res.Params, KeepDefault: o.KeepDefault})
}

func generate(ctx context.Context, o GenerateOptions) (*population.Result, uint64, error) {
	seed := RandomSeed()
	if o.Seed != nil {
		seed = *o.Seed
	}
	res, err := population.Generate(ctx, population.Options{NumAgents: o.NumAgents, Seed: seed, Profiles: o.Profiles,
		ProfileSource: o.ProfileSource, ProfileSampling: o.ProfileSampling, Neighbourhood: o.Neighbourhood,
		MinTies: o.MinTies, TraitVarianceScale: o.TraitVarianceScale})
	return res, seed, err
}

// GenerateInMemory builds the population Generate would store, under the
// same limits, and stores nothing: the network it returns has no id and
// the graph's AgentPKs are node positions (1-based). With the same seed and
// options it is the population a run with numAgents generates.
func (s *Store) GenerateInMemory(ctx context.Context, o GenerateOptions) (*ent.Network, *Graph, uint64, error) {
	if limit := s.maxGenerateAgents(); o.NumAgents > limit {
		return nil, nil, 0, apperr.New(apperr.BadInput, "numAgents must be between 1 and %d (MAX_GENERATE_AGENTS), got %d", limit, o.NumAgents)
	}
	release, err := s.acquire()
	if err != nil {
		return nil, nil, 0, err
	}
	defer release()
	res, seed, err := generate(ctx, o)
	if err != nil {
		return nil, nil, 0, err
	}
	n := &ent.Network{Directed: res.Graph.Directed, NodeCount: len(res.Graph.Nodes), EdgeCount: len(res.Graph.Edges), Params: res.Params}
	g := &Graph{Network: n, Graph: *res.Graph, AgentPKs: make([]int, len(res.Graph.Nodes))}
	for i := range g.AgentPKs {
		g.AgentPKs[i] = i + 1
	}
	return n, g, seed, nil
}

// RandomSeed is a fresh seed that fits a GraphQL Int, so clients can pass it back.
func RandomSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) % (1 << 31)
}
