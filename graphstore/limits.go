package graphstore

import (
	"context"
	"io"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/population"
)

// Limits bound the memory-heavy work of a Store: decoding an upload and
// generating a population take about 10 KB an agent (100k generated agents
// allocate about 1 GB), so both their size and how many run at once are
// capped.
type Limits struct {
	// MaxGenerateAgents is the largest population Generate builds
	// (MAX_GENERATE_AGENTS; 0: population.MaxAgents).
	MaxGenerateAgents int
	// Concurrent is how many imports and generations run at once
	// (MAX_CONCURRENT_IMPORTS; 0: no limit). One more is refused, not queued:
	// a client told to retry holds no memory meanwhile.
	Concurrent int
}

// SetLimits applies l; call it before the Store is used.
func (s *Store) SetLimits(l Limits) {
	s.limits = l
	s.heavy = nil
	if l.Concurrent > 0 {
		s.heavy = make(chan struct{}, l.Concurrent)
	}
}

// acquire takes one of the Concurrent slots, or refuses with RATE_LIMITED.
func (s *Store) acquire() (release func(), err error) {
	if s.heavy == nil {
		return func() {}, nil
	}
	select {
	case s.heavy <- struct{}{}:
		return func() { <-s.heavy }, nil
	default:
		return nil, apperr.New(apperr.RateLimited,
			"%d network imports or generations are already running (MAX_CONCURRENT_IMPORTS); retry in a few seconds", cap(s.heavy))
	}
}

func (s *Store) maxGenerateAgents() int {
	if s.limits.MaxGenerateAgents > 0 {
		return min(s.limits.MaxGenerateAgents, population.MaxAgents)
	}
	return population.MaxAgents
}

// ImportFile decodes an uploaded network file and imports it, within the
// Concurrent limit (decoding is where an upload's memory goes).
func (s *Store) ImportFile(ctx context.Context, r io.Reader, opts ImportOptions) (*ent.Network, error) {
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	g, err := networkfile.Decode(r) // validates as it reads
	if err != nil {
		return nil, err
	}
	return s.importGraph(ctx, g, opts)
}
