package experiment

import "github.com/ethox/ethox/ent"

// The opt-in LLM answer cache: an experiment with cache on sets it on every
// arm that calls the LLM (at creation, so the stored arm says so), and its
// result counts the hits and the cost they saved. Replicates have distinct
// seeds, so they never share answers; an experiment repeated with the same
// seed reuses the first one's answers at temperature 0.

// cacheUsage is a run's cache hits and the cost they saved.
func cacheUsage(sim *ent.Simulation) (hits int, savedUSD float64) {
	return sim.CacheHits, sim.CostSavedUsd
}
