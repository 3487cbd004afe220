// Package population generates synthetic Ethox populations: N agents with
// BFI-2 personalities, voter/demographic profiles, and a
// personality-similarity social network with communities and centrality
// metrics, as a network.Graph.
//
// The model (see the comments in personality.go, profiles.go, builtin.go,
// ties.go, knn.go and louvain.go for the details and their reasons):
//
//  1. Profiles: N rows drawn with replacement from a survey CSV
//     (ParseProfiles), or from the built-in generator.
//  2. Personality: the 15 BFI-2 facets from a multivariate normal with the
//     published facet intercorrelations and the gender-specific means/SDs of
//     Soto & John (2017), clipped to 1..5.
//  3. Ties: each agent draws a number of ties from an exponential
//     distribution whose mean grows with extraversion, and ties itself to
//     that many most similar agents (RBF kernel on Mahalanobis distance);
//     ties are symmetrised and weighted by similarity.
//  4. Metrics: Louvain communities (gonum), then degree, degree centrality
//     and betweenness via network.Graph.ComputeMetrics.
//
// Generation is deterministic: the same Options (whatever Workers is) give
// a graph that marshals to the same bytes with encoding/json.
package population

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/network"
)

// ModelVersion identifies the generative model. It changes whenever the
// same Options would produce a different graph.
const ModelVersion = "ethox-population/1"

// MaxAgents is the largest NumAgents Generate accepts.
const MaxAgents = 1_000_000

// Options configures Generate.
type Options struct {
	// NumAgents is the population size, 1..MaxAgents.
	NumAgents int
	// Seed drives every random choice.
	Seed uint64
	// Profiles is an optional survey CSV (see ParseProfiles); nil selects
	// the built-in profile generator.
	Profiles io.Reader
	// Workers bounds the goroutines used for the neighbour search; <= 0
	// means GOMAXPROCS. It does not change the result. (Betweenness, in
	// the network package, always uses GOMAXPROCS goroutines.)
	Workers int
}

// Result is a generated population.
type Result struct {
	Graph *network.Graph
	// Params records what is needed to reproduce the graph and a few
	// derived figures. Keys:
	//
	//	modelVersion        string  ModelVersion
	//	seed                uint64  Options.Seed
	//	numAgents           int     Options.NumAgents
	//	profileSource       string  "builtin" or "csv:sha256:<hex of the CSV bytes>"
	//	profileRows         int     CSV data rows (only for a CSV)
	//	correlationRepaired bool    whether the published correlation matrix needed the nearest-PD repair
	//	similaritySigma     float64 σ of the similarity kernel
	//	neighbourSearch     string  "exact" (N <= 2000) or "nn-descent"
	//	edges               int     number of edges
	//	communities         int     number of Louvain clusters
	//	communityDetection  string  "gonum-louvain" (N <= 10,000) or "louvain" (louvainFast)
	Params map[string]any
}

// Random streams: every stage gets its own PCG stream of the seed, so that
// changing how one stage consumes random numbers leaves the others alone.
const (
	streamProfiles    = 0x70726f66696c6573 // "profiles"
	streamPersonality = 0x7065727363616c69
	streamTies        = 0x7469657364726177
	streamSigma       = 0x7369676d61706169
	streamKNN         = 0x6e6e64657363656e
	streamLouvain     = 0x6c6f757661696e21
	streamBetweenness = 0x6265747765656e21
)

func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

// Generate builds a population. It returns an *apperr.Error of kind
// BadInput for a NumAgents outside 1..MaxAgents or a bad profiles CSV, and
// ctx.Err() if ctx is cancelled (checked between stages and during the
// sampling and neighbour-search loops; Louvain and ComputeMetrics run to
// completion once started).
//
// The graph is undirected. Node i has AgentID strconv.Itoa(i) and:
//
//   - Traits: the 15 facets (FacetNames) on 0..1, (raw−1)/4;
//   - Profile: the profile's non-blank fields (CSV columns, or the built-in
//     generator's) plus "bfi2_raw", a map[string]float64 of the raw 1..5
//     facets;
//   - Attributes: {"target_ties": k_i}, the number of ties the agent drew
//     (its degree is at least that);
//   - Age, Gender (lower-cased; nil when the profile's gender is blank),
//     Cluster (Louvain, 0 = largest), and Degree, DegreeCentrality and
//     BetweennessCentrality from network.Graph.ComputeMetrics (betweenness
//     exact up to network's threshold of 5,000 nodes, estimated from 256
//     seeded pivots above). TextOpinion, LevelOfCare and EffectOnUsage are
//     nil.
//
// Edges have Source < Target (as numbers), are sorted by (Source, Target)
// and carry the similarity weight (see ties.go).
func Generate(ctx context.Context, opts Options) (*Result, error) {
	n := opts.NumAgents
	if n < 1 || n > MaxAgents {
		return nil, apperr.New(apperr.BadInput, "numAgents must be between 1 and %d, got %d", MaxAgents, n)
	}
	model, err := defaultModel()
	if err != nil {
		return nil, apperr.Wrap(apperr.Internal, err, "population: personality model")
	}
	params := map[string]any{
		"modelVersion":        ModelVersion,
		"seed":                opts.Seed,
		"numAgents":           n,
		"correlationRepaired": model.repaired,
	}

	// 1. Profiles.
	profiles := make([]Profile, n)
	prng := newRand(opts.Seed, streamProfiles)
	if opts.Profiles != nil {
		data, err := readAll(opts.Profiles)
		if err != nil {
			return nil, err
		}
		rows, err := ParseProfiles(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		params["profileSource"] = "csv:sha256:" + hex.EncodeToString(sum[:])
		params["profileRows"] = len(rows)
		for i := range profiles {
			profiles[i] = rows[prng.IntN(len(rows))]
		}
	} else {
		params["profileSource"] = "builtin"
		for i := range profiles {
			if i%4096 == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			profiles[i] = builtinProfile(prng)
		}
	}

	// 2. Personalities.
	raw := make([][numFacets]float64, n)
	traits := make([][numFacets]float64, n)
	trng := newRand(opts.Seed, streamPersonality)
	for i := range raw {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		model.sample(trng, classOf(strings.ToLower(profiles[i].Gender)), &raw[i])
		for f, x := range raw[i] {
			traits[i][f] = normalise(x)
		}
	}

	// 3. Ties.
	y := make([]float64, n*numFacets)
	for i := range traits {
		model.whitenInto(&traits[i], y[i*numFacets:(i+1)*numFacets])
	}
	ks := drawTies(newRand(opts.Seed, streamTies), traits)
	sigma := medianDistance(newRand(opts.Seed, streamSigma), y, numFacets)
	params["similaritySigma"] = sigma
	if n <= exactKNNMaxAgents {
		params["neighbourSearch"] = "exact"
	} else {
		params["neighbourSearch"] = "nn-descent"
	}
	start, nb, err := allKNN(ctx, y, numFacets, ks, opts.Workers, opts.Seed)
	if err != nil {
		return nil, err
	}
	ties := symmetrise(start, nb, sigma)
	start, nb, y = nil, nil, nil
	params["edges"] = len(ties)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// 4. Communities.
	clusters := louvainClusters(n, ties, opts.Seed)
	ncl := 0
	for _, c := range clusters {
		ncl = max(ncl, c+1)
	}
	params["communities"] = ncl
	if n <= gonumLouvainMaxAgents {
		params["communityDetection"] = "gonum-louvain"
	} else {
		params["communityDetection"] = "louvain"
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Assemble the graph.
	g := &network.Graph{Nodes: make([]network.Node, n), Edges: make([]network.Edge, len(ties))}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	for i := range g.Nodes {
		p := &profiles[i]
		tr := make(map[string]float64, numFacets)
		rw := make(map[string]float64, numFacets)
		for f, name := range facetNames {
			tr[name] = traits[i][f]
			rw[name] = raw[i][f]
		}
		prof := make(map[string]any, len(p.Fields)+1)
		for k, v := range p.Fields {
			prof[k] = v
		}
		prof[profileKeyRaw] = rw
		node := network.Node{
			AgentID:    ids[i],
			Traits:     tr,
			Profile:    prof,
			Attributes: map[string]any{"target_ties": ks[i]},
		}
		vals := new(struct {
			age, cluster int
			gender       string
		})
		vals.age, vals.cluster = p.Age, clusters[i]
		node.Age, node.Cluster = &vals.age, &vals.cluster
		if p.Gender != "" {
			vals.gender = strings.ToLower(p.Gender)
			node.Gender = &vals.gender
		}
		g.Nodes[i] = node
	}
	for j, t := range ties {
		g.Edges[j] = network.Edge{Source: ids[t.a], Target: ids[t.b], Weight: t.weight}
	}

	// 5. Degree, degree centrality, betweenness (exact up to network's
	// threshold, sampled with a seeded pivot choice above it).
	g.ComputeMetrics(network.MetricsOptions{Seed: int64(newRand(opts.Seed, streamBetweenness).Uint64() >> 1)})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &Result{Graph: g, Params: params}, nil
}
