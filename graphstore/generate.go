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
}

// Generate builds a synthetic population (BFI-2 personalities, profiles, a
// similarity network, communities) and stores it as a GENERATED network whose
// params record everything needed to reproduce it.
func (s *Store) Generate(ctx context.Context, o GenerateOptions) (*ent.Network, error) {
	if limit := s.maxGenerateAgents(); o.NumAgents > limit {
		return nil, apperr.New(apperr.BadInput, "numAgents must be between 1 and %d (MAX_GENERATE_AGENTS), got %d", limit, o.NumAgents)
	}
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	seed := RandomSeed()
	if o.Seed != nil {
		seed = *o.Seed
	}
	res, err := population.Generate(ctx, population.Options{NumAgents: o.NumAgents, Seed: seed, Profiles: o.Profiles})
	if err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = fmt.Sprintf("synthetic %d agents (seed %d)", o.NumAgents, seed)
	}
	// Metrics were computed by the generator; Import keeps them.
	return s.importGraph(ctx, res.Graph, ImportOptions{Name: name, Source: Generated, Params: res.Params})
}

// RandomSeed is a fresh seed that fits a GraphQL Int, so clients can pass it back.
func RandomSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) % (1 << 31)
}
