// Package population generates synthetic Ethox populations: N agents with
// BFI-2 personalities, voter/demographic profiles, and a
// personality-similarity social network with communities and centrality
// metrics, as a network.Graph.
//
// The model (see the comments in personality.go, profiles.go, survey.go,
// builtin.go, ties.go, knn.go and louvain.go for the details and their
// reasons). By default it is the prototype's; every departure is an Option,
// recorded in Result.Params:
//
//  1. Profiles: N rows of the prototype's embedded 350-row voter survey,
//     drawn without replacement (in successive passes when N > 350), or of
//     a survey CSV (ParseProfiles), or from the built-in generator.
//  2. Personality: the 15 BFI-2 facets from a multivariate normal with the
//     published facet intercorrelations and the gender-specific means/SDs of
//     Soto & John (2017), deviations shrunk by the trait variance scale
//     (0.65, the prototype's), clipped to 1..5.
//  3. Ties: each agent draws a number of ties k ≥ 0 from an exponential
//     distribution whose mean grows with extraversion, and chooses that
//     many most similar agents (RBF kernel on Mahalanobis distance); the
//     network is directed (source chose target, and hears it), or, as an
//     option, the choices are symmetrised into an undirected network.
//     Edges are weighted by similarity.
//  4. Metrics: Louvain communities (gonum), then degree, degree centrality
//     and betweenness via network.Graph.ComputeMetrics, on the undirected
//     union of the ties.
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
	"github.com/ethox/ethox/networkfile"
)

// ModelVersion identifies the generative model. It changes whenever the
// same Options would produce a different graph. ethox-population/2 made the
// prototype's semantics the default (survey profiles without replacement,
// trait variance scale 0.65, directed choice ties with k ≥ 0); V1 gives
// the options that reproduce ethox-population/1's graphs.
const ModelVersion = "ethox-population/2"

// MaxAgents is the largest NumAgents Generate accepts.
const MaxAgents = 1_000_000

// ProfileSource says where agents' profiles come from.
type ProfileSource string

const (
	// ProfilesSurvey draws from the prototype's 350-row voter survey,
	// embedded in the binary (the default when Options.Profiles is nil).
	ProfilesSurvey ProfileSource = "survey"
	// ProfilesBuiltin uses the built-in profile generator (builtin.go), the
	// default of ethox-population/1.
	ProfilesBuiltin ProfileSource = "builtin"
	// ProfilesCSV draws from Options.Profiles (the default when it is set).
	ProfilesCSV ProfileSource = "csv"
)

// ProfileSampling says how profiles are drawn from survey rows (survey or
// CSV; see survey.go).
type ProfileSampling string

const (
	// SamplingWithoutReplacement: no row twice while N ≤ rows, then
	// successive passes (the default, the prototype's).
	SamplingWithoutReplacement ProfileSampling = "without-replacement"
	// SamplingWithReplacement: each agent takes a uniformly random row
	// (ethox-population/1).
	SamplingWithReplacement ProfileSampling = "with-replacement"
)

// Neighbourhood says which ties the network keeps, and so whom an agent
// hears in a simulation.
type Neighbourhood string

const (
	// NeighbourhoodChosen: a directed network, one edge source→target per
	// choice (source chose target); an agent hears the agents it chose,
	// possibly none (the default, the prototype's).
	NeighbourhoodChosen Neighbourhood = "chosen"
	// NeighbourhoodUndirected: the choices symmetrised into an undirected
	// network; an agent hears everyone it chose or who chose it
	// (ethox-population/1).
	NeighbourhoodUndirected Neighbourhood = "undirected"
)

// DefaultTraitVarianceScale is the prototype's TRAIT_VARIANCE_SCALE.
const DefaultTraitVarianceScale = 0.65

// MaxTraitVarianceScale bounds Options.TraitVarianceScale (at 2 about half
// of all facet values are clipped to 1 or 5).
const MaxTraitVarianceScale = 2.0

// MaxMinTies bounds Options.MinTies.
const MaxMinTies = 100

// Options configures Generate. The zero value of every model option is the
// prototype's behaviour.
type Options struct {
	// NumAgents is the population size, 1..MaxAgents.
	NumAgents int
	// Seed drives every random choice.
	Seed uint64
	// ProfileSource selects the profiles; "" means ProfilesCSV when
	// Profiles is set, ProfilesSurvey otherwise. ProfilesCSV requires
	// Profiles; the others refuse it.
	ProfileSource ProfileSource
	// Profiles is a survey CSV (see ParseProfiles), for ProfilesCSV.
	Profiles io.Reader
	// ProfileSampling: "" means SamplingWithoutReplacement. Ignored for
	// ProfilesBuiltin.
	ProfileSampling ProfileSampling
	// Neighbourhood: "" means NeighbourhoodChosen.
	Neighbourhood Neighbourhood
	// MinTies is the smallest number of agents an agent chooses,
	// 0..MaxMinTies (0, the prototype's, lets an agent choose nobody;
	// ethox-population/1 used 1).
	MinTies int
	// TraitVarianceScale multiplies the facets' deviations from their
	// means (see personality.go); 0 means DefaultTraitVarianceScale,
	// otherwise it must lie in (0, MaxTraitVarianceScale]. 1 gives the
	// published SDs (ethox-population/1).
	TraitVarianceScale float64
	// Workers bounds the goroutines used for the neighbour search and the
	// graph's assembly; <= 0 means GOMAXPROCS. It does not change the
	// result. (Betweenness, in the network package, always uses GOMAXPROCS
	// goroutines; Louvain runs beside it in one more.)
	Workers int
}

// V1 returns o with the model options of ethox-population/1: undirected
// ties with at least one choice each, the published trait SDs, and
// profiles from the built-in generator (or, when o.Profiles is set, drawn
// from it with replacement). With them Generate gives the graphs
// ethox-population/1 gave for the same NumAgents, Seed and Profiles (only
// Params differ: the version and the recorded options).
func V1(o Options) Options {
	o.ProfileSource = ProfilesBuiltin
	if o.Profiles != nil {
		o.ProfileSource = ProfilesCSV
	}
	o.ProfileSampling = SamplingWithReplacement
	o.Neighbourhood = NeighbourhoodUndirected
	o.MinTies = 1
	o.TraitVarianceScale = 1
	return o
}

// enumValue maps an enum name as GraphQL spells it (WITHOUT_REPLACEMENT) to
// the value used here and in params (without-replacement).
func enumValue(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }

// resolve fills in the defaults and checks the model options. The enum
// options are accepted in any case, with "_" for "-", so that GraphQL enum
// names (SURVEY, WITH_REPLACEMENT, UNDIRECTED) can be passed as they are.
func (o *Options) resolve() error {
	o.ProfileSource = ProfileSource(enumValue(string(o.ProfileSource)))
	o.ProfileSampling = ProfileSampling(enumValue(string(o.ProfileSampling)))
	o.Neighbourhood = Neighbourhood(enumValue(string(o.Neighbourhood)))
	switch o.ProfileSource {
	case "":
		o.ProfileSource = ProfilesSurvey
		if o.Profiles != nil {
			o.ProfileSource = ProfilesCSV
		}
	case ProfilesCSV:
		if o.Profiles == nil {
			return apperr.New(apperr.BadInput, "profileSource CSV needs a profiles CSV")
		}
	case ProfilesSurvey, ProfilesBuiltin:
		if o.Profiles != nil {
			return apperr.New(apperr.BadInput, "profileSource %s takes no profiles CSV (use CSV)", strings.ToUpper(string(o.ProfileSource)))
		}
	default:
		return apperr.New(apperr.BadInput, "profileSource must be SURVEY, BUILTIN or CSV, got %q", o.ProfileSource)
	}
	switch o.ProfileSampling {
	case "":
		o.ProfileSampling = SamplingWithoutReplacement
	case SamplingWithoutReplacement, SamplingWithReplacement:
	default:
		return apperr.New(apperr.BadInput, "profileSampling must be WITHOUT_REPLACEMENT or WITH_REPLACEMENT, got %q", o.ProfileSampling)
	}
	switch o.Neighbourhood {
	case "":
		o.Neighbourhood = NeighbourhoodChosen
	case NeighbourhoodChosen, NeighbourhoodUndirected:
	default:
		return apperr.New(apperr.BadInput, "neighbourhood must be CHOSEN or UNDIRECTED, got %q", o.Neighbourhood)
	}
	if o.MinTies < 0 || o.MinTies > MaxMinTies {
		return apperr.New(apperr.BadInput, "minTies must be between 0 and %d, got %d", MaxMinTies, o.MinTies)
	}
	if o.TraitVarianceScale == 0 {
		o.TraitVarianceScale = DefaultTraitVarianceScale
	}
	if s := o.TraitVarianceScale; !(s > 0 && s <= MaxTraitVarianceScale) {
		return apperr.New(apperr.BadInput, "traitVarianceScale must be in (0, %v], got %v", MaxTraitVarianceScale, s)
	}
	return nil
}

// Result is a generated population.
type Result struct {
	Graph *networkfile.Graph
	// Params records what is needed to reproduce the graph and a few
	// derived figures. Keys:
	//
	//	modelVersion        string  ModelVersion
	//	seed                uint64  Options.Seed
	//	numAgents           int     Options.NumAgents
	//	profileSource       string  "survey:sha256:<hex of the embedded survey>", "builtin" or
	//	                            "csv:sha256:<hex of the CSV bytes>"
	//	profileRows         int     survey or CSV data rows (not for builtin)
	//	profileSampling     string  "without-replacement" or "with-replacement" (not for builtin)
	//	traitVarianceScale  float64 Options.TraitVarianceScale (default 0.65)
	//	neighbourhood       string  "chosen" (directed: source chose target and hears it) or "undirected"
	//	minTies             int     Options.MinTies
	//	correlationRepaired bool    whether the published correlation matrix needed the nearest-PD repair
	//	similaritySigma     float64 σ of the similarity kernel
	//	neighbourSearch     string  "exact" (N <= 2000) or "nn-descent"
	//	edges               int     number of edges (for "chosen": of choices)
	//	isolated            int     agents with no tie to hear: who chose nobody ("chosen"), degree 0 ("undirected")
	//	communities         int     number of Louvain clusters
	//	communityDetection  string  "gonum-louvain" (N <= 10,000) or "louvain" (louvainFast)
	//	metricsGraph        string  "undirected": communities, degree and betweenness are those of
	//	                            the undirected union of the ties
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
// BadInput for a NumAgents outside 1..MaxAgents, a bad model option or a bad
// profiles CSV, and ctx.Err() if ctx is cancelled (checked between stages
// and during the sampling and neighbour-search loops; Louvain and
// ComputeMetrics run to completion once started).
//
// The graph is directed for NeighbourhoodChosen (the default), undirected
// for NeighbourhoodUndirected. Node i has AgentID strconv.Itoa(i) and:
//
//   - Traits: the 15 facets (FacetNames) on 0..1, (raw−1)/4;
//   - Profile: the profile's non-blank fields (survey or CSV columns, or
//     the built-in generator's) plus "bfi2_raw", a map[string]float64 of
//     the raw 1..5 facets;
//   - Attributes: {"target_ties": k_i}, the number of agents it chose (its
//     out-degree for "chosen", at most N−1; its degree is at least that);
//   - Age, Gender (lower-cased; nil when the profile's gender is blank),
//     Cluster (Louvain, 0 = largest), and Degree, DegreeCentrality and
//     BetweennessCentrality from network.Graph.ComputeMetrics on the
//     undirected union of the ties (so Degree counts distinct neighbours,
//     either direction; betweenness exact up to network's threshold of
//     5,000 nodes, estimated from 256 seeded pivots above). TextOpinion,
//     LevelOfCare and EffectOnUsage are nil.
//
// Edges are sorted by (Source, Target) as numbers and carry the similarity
// weight (see ties.go); undirected edges have Source < Target.
func Generate(ctx context.Context, opts Options) (*Result, error) {
	n := opts.NumAgents
	if n < 1 || n > MaxAgents {
		return nil, apperr.New(apperr.BadInput, "numAgents must be between 1 and %d, got %d", MaxAgents, n)
	}
	if err := opts.resolve(); err != nil {
		return nil, err
	}
	base, err := defaultModel()
	if err != nil {
		return nil, apperr.Wrap(apperr.Internal, err, "population: personality model")
	}
	model, err := base.withScale(opts.TraitVarianceScale)
	if err != nil {
		return nil, apperr.Wrap(apperr.Internal, err, "population: personality model")
	}
	directed := opts.Neighbourhood == NeighbourhoodChosen
	params := map[string]any{
		"modelVersion":        ModelVersion,
		"seed":                opts.Seed,
		"numAgents":           n,
		"correlationRepaired": model.repaired,
		"traitVarianceScale":  opts.TraitVarianceScale,
		"neighbourhood":       string(opts.Neighbourhood),
		"minTies":             opts.MinTies,
		"metricsGraph":        "undirected",
	}

	// 1. Profiles.
	profiles := make([]Profile, n)
	prng := newRand(opts.Seed, streamProfiles)
	if opts.ProfileSource == ProfilesBuiltin {
		params["profileSource"] = string(ProfilesBuiltin)
		for i := range profiles {
			if i%4096 == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			profiles[i] = builtinProfile(prng)
		}
	} else {
		var rows []Profile
		if opts.ProfileSource == ProfilesSurvey {
			var hash string
			rows, hash, err = survey()
			if err != nil {
				return nil, apperr.Wrap(apperr.Internal, err, "population: embedded survey")
			}
			params["profileSource"] = string(ProfilesSurvey) + ":" + hash
		} else {
			data, err := readAll(opts.Profiles)
			if err != nil {
				return nil, err
			}
			rows, err = ParseProfiles(bytes.NewReader(data))
			if err != nil {
				return nil, err
			}
			sum := sha256.Sum256(data)
			params["profileSource"] = string(ProfilesCSV) + ":sha256:" + hex.EncodeToString(sum[:])
		}
		params["profileRows"] = len(rows)
		params["profileSampling"] = string(opts.ProfileSampling)
		for i, r := range drawRows(prng, n, len(rows), opts.ProfileSampling) {
			profiles[i] = rows[r]
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
	ks := drawTies(newRand(opts.Seed, streamTies), traits, opts.MinTies)
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
	// ties is the undirected union (communities, metrics, and the edges of
	// an undirected network); edges the network's edges.
	ties := symmetrise(start, nb, sigma)
	edges := ties
	isolated := 0
	if directed {
		edges = chosenTies(start, nb, sigma)
		for _, k := range ks {
			if k == 0 {
				isolated++
			}
		}
	} else {
		deg := make([]int32, n)
		for _, t := range ties {
			deg[t.a]++
			deg[t.b]++
		}
		for _, d := range deg {
			if d == 0 {
				isolated++
			}
		}
	}
	start, nb, y = nil, nil, nil
	params["edges"] = len(edges)
	params["isolated"] = isolated
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// 4. Communities, 5. metrics, and the graph's assembly depend only on
	// the ties: Louvain (single-threaded) runs beside the other two, which
	// use every core. Each stage has its own random stream, so the result
	// does not depend on how they interleave.
	var clusters []int
	louvainDone := make(chan struct{})
	go func() {
		defer close(louvainDone)
		clusters = louvainClusters(n, ties, opts.Seed)
	}()

	// Assemble the graph (clusters are filled in once Louvain is done).
	g := &networkfile.Graph{Directed: directed, Nodes: make([]networkfile.Node, n), Edges: make([]networkfile.Edge, len(edges))}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	clusterOf := make([]int, n) // each node's Cluster points here
	_ = parallelChunks(context.Background(), n, 4096, opts.Workers, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g.Nodes[i] = assembleNode(ids[i], &profiles[i], &traits[i], &raw[i], ks[i], &clusterOf[i])
		}
	})
	for j, t := range edges {
		g.Edges[j] = networkfile.Edge{Source: ids[t.a], Target: ids[t.b], Weight: t.weight}
	}

	// 5. Degree, degree centrality, betweenness (exact up to network's
	// threshold, sampled with a seeded pivot choice above it), on the
	// undirected union: a directed network's metrics are computed on a
	// view sharing its nodes.
	mg := g
	if directed {
		mg = &networkfile.Graph{Nodes: g.Nodes, Edges: make([]networkfile.Edge, len(ties))}
		for j, t := range ties {
			mg.Edges[j] = networkfile.Edge{Source: ids[t.a], Target: ids[t.b], Weight: t.weight}
		}
	}
	mg.ComputeMetrics(networkfile.MetricsOptions{Seed: int64(newRand(opts.Seed, streamBetweenness).Uint64() >> 1)})

	<-louvainDone
	copy(clusterOf, clusters)
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
	return &Result{Graph: g, Params: params}, nil
}

// assembleNode builds agent i's node; cluster is where its Cluster will be.
func assembleNode(id string, p *Profile, traits, raw *[numFacets]float64, k int, cluster *int) networkfile.Node {
	tr := make(map[string]float64, numFacets)
	rw := make(map[string]float64, numFacets)
	for f, name := range facetNames {
		tr[name] = traits[f]
		rw[name] = raw[f]
	}
	prof := make(map[string]any, len(p.Fields)+1)
	for k, v := range p.Fields {
		prof[k] = v
	}
	prof[profileKeyRaw] = rw
	node := networkfile.Node{
		AgentID:    id,
		Traits:     tr,
		Profile:    prof,
		Attributes: map[string]any{"target_ties": k},
		Cluster:    cluster,
	}
	vals := new(struct {
		age    int
		gender string
	})
	vals.age = p.Age
	node.Age = &vals.age
	if p.Gender != "" {
		vals.gender = strings.ToLower(p.Gender)
		node.Gender = &vals.gender
	}
	return node
}
