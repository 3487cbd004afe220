package experiment

import (
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/simulation"
)

// The opt-in LLM answer cache (issue 18, another part): an experiment with
// cache on passes it to each run, and its result counts the hits and the
// cost they saved. Until runs carry the cache these are no-ops.

// setCache turns the answer cache on for a run.
func setCache(in *simulation.RunInput) {}

// cacheUsage is a run's cache hits and the cost they saved.
func cacheUsage(sim *ent.Simulation) (hits int, savedUSD float64) { return 0, 0 }
