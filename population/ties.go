package population

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Ties
//
// Number of ties. Agent i chooses k_i agents, where
//
//	mean_i = 1 + 4·(0.55·Sociability + 0.20·Assertiveness + 0.25·Energy Level)
//	k_i    = min(N−1, max(m, round(mean_i · E_i))),  E_i ~ Exp(1)
//
// on the stored 0..1 facets (so 1 ≤ mean_i ≤ 5), rounding half away from
// zero (the prototype's Python rounding goes half to even; a draw exactly
// at .5 has probability 0). m is Options.MinTies (minTies), 0 by default as
// in the prototype, which drew k_i = round(mean_i·E_i) and so left an agent
// with k_i = 0 (it chose nobody) with probability 1 − exp(−0.5/mean_i),
// about 15% at the mean mean_i of 3.14. Ethox before ethox-population/2
// used m = 1 (an earlier comment here said the prototype did too; it did
// not). With the BFI-2 means, E[k_i] ≈ 3.1 (TestTieCounts measures it).
//
// Direction. k_i is the number of agents i chooses. With the default
// neighbourhood "chosen" (NeighbourhoodChosen) the network is directed and
// keeps who chose whom: edge source→target means source chose target (and,
// in the simulation, hears it), so agent i's out-degree is exactly k_i and
// an agent with k_i = 0 hears nobody, as in the prototype. Two agents that
// chose each other have one edge each way, with the same weight. With
// NeighbourhoodUndirected (Ethox before ethox-population/2) the choices are
// symmetrised and i's degree is at least k_i, because other agents' ties to
// it are added.
//
// Similarity. sim(i,j) = exp(−d²/(2σ²)) where d is the Euclidean distance
// between whitened trait vectors (Mahalanobis distance under the model's
// pooled covariance, see personalityModel.whiten; the model's rather than
// the sample's, so that it does not depend on N and is well conditioned
// even for tiny populations) and σ is the median pairwise distance: over
// all pairs when there are at most sigmaPairs of them (N ≤ 447), otherwise
// over sigmaPairs pairs of distinct agents drawn uniformly with a seeded
// generator (the standard error of that estimate is about 0.1%;
// TestMedianDistance checks it is within 1% of the exact median). σ = 1
// when there is no pair (N = 1) or the median is 0.
//
// Edges. Each agent is tied to its k_i most similar agents (nearest in
// whitened space: exact up to 2,000 agents, NN-descent above; see knn.go).
// Directed (chosen): one edge per choice, listed in increasing numeric
// order of (Source, Target), no self-loops. Undirected: the union of the
// choices is symmetrised: deduplicated, no self-loops, listed with Source <
// Target in increasing numeric order of (Source, Target). Communities and
// the centrality metrics are always computed on the undirected union (the
// network "shown undirected", as the prototype's network.json was). The
// weight is the similarity rounded to 4 decimals, as in the prototype's
// network.json, but at least 0.0001 so that no edge has weight 0.

const sigmaPairs = 100_000

// tieMean is the mean of agent's tie-count distribution for normalised
// traits t.
func tieMean(t *[numFacets]float64) float64 {
	return 1 + 4*(0.55*t[facetSociability]+0.20*t[facetAssertiveness]+0.25*t[facetEnergyLevel])
}

// drawTies draws k_i for every agent, at least minTies (and at most N−1).
func drawTies(rng *rand.Rand, traits [][numFacets]float64, minTies int) []int {
	n := len(traits)
	ks := make([]int, n)
	for i := range traits {
		k := max(minTies, int(math.Round(tieMean(&traits[i])*rng.ExpFloat64())))
		ks[i] = min(k, max(n-1, 0))
	}
	return ks
}

// medianDistance estimates σ, the median pairwise distance between the
// rows of y (n·dim).
func medianDistance(rng *rand.Rand, y []float64, dim int) float64 {
	n := len(y) / dim
	if n < 2 {
		return 1
	}
	var ds []float64
	row := func(i int) []float64 { return y[i*dim : (i+1)*dim] }
	if total := n * (n - 1) / 2; total <= sigmaPairs {
		ds = make([]float64, 0, total)
		for i := range n {
			for j := i + 1; j < n; j++ {
				ds = append(ds, dist2(row(i), row(j), inf))
			}
		}
	} else {
		ds = make([]float64, sigmaPairs)
		for p := range ds {
			i := rng.IntN(n)
			j := rng.IntN(n - 1)
			if j >= i {
				j++
			}
			ds[p] = dist2(row(i), row(j), inf)
		}
	}
	slices.Sort(ds)
	m := len(ds) / 2
	med := ds[m]
	if len(ds)%2 == 0 {
		med = (math.Sqrt(ds[m-1]) + math.Sqrt(ds[m])) / 2
	} else {
		med = math.Sqrt(med)
	}
	if !(med > 0) {
		return 1
	}
	return med
}

// similarity maps a squared distance to a similarity in (0,1].
func similarity(d2, sigma float64) float64 { return math.Exp(-d2 / (2 * sigma * sigma)) }

// edgeWeight rounds a similarity to the stored weight.
func edgeWeight(sim float64) float64 { return max(1e-4, math.Round(sim*1e4)/1e4) }

// tie is an edge: undirected between agent indexes a < b (symmetrise), or
// directed, a chose b (chosenTies).
type tie struct {
	a, b   int32
	weight float64
}

// symmetrise turns the per-agent neighbour lists (CSR, see allKNN) into the
// sorted, deduplicated undirected edge list.
func symmetrise(start []int, nb []neighbour, sigma float64) []tie {
	type keyed struct {
		key uint64
		d2  float64
	}
	n := len(start) - 1
	all := make([]keyed, 0, len(nb))
	for i := range n {
		for _, x := range nb[start[i]:start[i+1]] {
			a, b := uint64(i), uint64(x.id)
			if a == b {
				continue
			}
			if a > b {
				a, b = b, a
			}
			// The distance is symmetric bit for bit (same summation order,
			// (a−b)² = (b−a)²), so either direction gives the same weight.
			all = append(all, keyed{a<<32 | b, x.d2})
		}
	}
	slices.SortFunc(all, func(x, y keyed) int {
		switch {
		case x.key < y.key:
			return -1
		case x.key > y.key:
			return 1
		}
		return 0
	})
	all = slices.CompactFunc(all, func(x, y keyed) bool { return x.key == y.key })
	ties := make([]tie, len(all))
	for i, e := range all {
		ties[i] = tie{int32(e.key >> 32), int32(uint32(e.key)), edgeWeight(similarity(e.d2, sigma))}
	}
	return ties
}

// chosenTies turns the per-agent neighbour lists (CSR, see allKNN) into the
// directed edge list: one edge a→b per choice, sorted by (a, b), without
// self-loops or repeats.
func chosenTies(start []int, nb []neighbour, sigma float64) []tie {
	n := len(start) - 1
	ties := make([]tie, 0, len(nb))
	for i := range n {
		row := len(ties)
		for _, x := range nb[start[i]:start[i+1]] {
			if int(x.id) != i {
				ties = append(ties, tie{int32(i), x.id, edgeWeight(similarity(x.d2, sigma))})
			}
		}
		r := ties[row:]
		slices.SortFunc(r, func(x, y tie) int { return int(x.b) - int(y.b) })
		ties = append(ties[:row], slices.CompactFunc(r, func(x, y tie) bool { return x.b == y.b })...)
	}
	return ties
}
