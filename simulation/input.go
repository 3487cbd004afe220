package simulation

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/population"
	"github.com/ethox/ethox/simulation/simtypes"
)

// Audience selects the agents that hear the trigger at stage 0.
type Audience = simtypes.Audience

// Params are a run's resolved parameters, stored (typed) on the Simulation row.
type Params = simtypes.Params

// RunInput is what a caller asks for; nil fields take defaults.
type RunInput struct {
	Trigger        string
	NetworkID      *int
	NumAgents      *int    // generate a fresh population of this size instead
	PopulationSeed *uint64 // its seed
	Rounds         *int
	Engine         *string
	SelfWeight     *float64
	NeighborLimit  *int
	Model          *string
	Temperature    *float64
	Seed           *int64
	Concurrency    *int
	Epsilon        *float64
	MaxCalls       *int
	MaxTokens      *int
	MaxCostUSD     *float64
	Audience       *Audience

	// FromSimulation branches the run from a stored run, taking its states
	// of rounds 0..FromRound (default 0) and computing only the rounds
	// after (branch.go). Fields left nil take the parent's values.
	FromSimulation *int
	FromRound      *int

	// Preset is "" or simtypes.PresetPrototype, which sets every option
	// below and the LLM's sampling to the prototype's values; fields given
	// explicitly override it.
	Preset *string
	// Speaker names who made the announcement (agents report their change
	// of support for it). Default simtypes.DefaultSpeaker.
	Speaker *string
	// NeighborNumbers shows neighbours' care and support, not only their
	// opinions. Default false (the prototype's).
	NeighborNumbers *bool
	// UpdateOrder is SYNCHRONOUS (default) or SEQUENTIAL (the prototype's).
	UpdateOrder *string
	// Neighborhood is whom an agent hears: CHOSEN (the agents it chose; the
	// default on generated directed networks) or UNDIRECTED. With NumAgents
	// it also says how the population's ties are generated.
	Neighborhood *string
	// MaxOutputTokens limits an agent's answer (0: none sent). Default
	// OPENAI_MAX_TOKENS (none for a reasoning model).
	MaxOutputTokens *int

	// Cache reuses stored LLM answers (engines LLM and HYBRID only): a call
	// at temperature 0 with a seed whose request is identical to a stored
	// one is answered from the store, and counted as a cache hit; any other
	// call is made and not stored. Default false.
	Cache *bool

	// Population options, with NumAgents only (graphstore.GenerateOptions):
	// SURVEY, BUILTIN; WITHOUT_REPLACEMENT, WITH_REPLACEMENT; 0..100; (0, 2].
	ProfileSource      *string
	ProfileSampling    *string
	MinTies            *int
	TraitVarianceScale *float64

	// OnCreate, when set, runs in the transaction that creates the run,
	// after its row is written: an error rolls the run back.
	OnCreate func(ctx context.Context, client *ent.Client, sim *ent.Simulation) error `json:"-"`
}

// The prototype's values that a preset or a default sets.
const (
	defaultNeighborLimit = 10
	maxSpeakerChars      = 200
	maxOutputTokensLimit = 100_000
)

// prototype is what the PROTOTYPE preset sets: the prototype's sampling
// (temperature 0.4, 200 tokens), in-place updates in node order, every
// neighbour heard, their opinions only. The rest of its semantics are
// Ethox's defaults already (see README, Fidelity to the prototype).
var prototype = struct {
	temperature     float64
	maxOutputTokens int
}{0.4, 200}

// maxModelBytes bounds a model name (it is stored and sent with every call).
const maxModelBytes = 200

// resolve checks the input and fills the defaults; errors name the field.
func (in RunInput) resolve(cfg Config, llmConfigured bool) (entsim.Engine, Params, error) {
	bad := func(format string, args ...any) (entsim.Engine, Params, error) {
		return "", Params{}, apperr.New(apperr.BadInput, format, args...)
	}
	trigger := strings.TrimSpace(in.Trigger)
	if trigger == "" {
		return bad("trigger must not be empty")
	}
	if n := utf8.RuneCountInString(trigger); n > cfg.MaxTriggerChars {
		return bad("trigger is %d characters long; the limit is %d", n, cfg.MaxTriggerChars)
	}
	if strings.ContainsRune(trigger, 0) { // PostgreSQL cannot store it
		return bad("trigger must not contain NUL characters")
	}
	preset := ""
	if in.Preset != nil {
		if preset = strings.ToUpper(strings.TrimSpace(*in.Preset)); preset != simtypes.PresetPrototype {
			return bad("preset %q is not PROTOTYPE", *in.Preset)
		}
	}
	engine := entsim.EngineFRIEDKIN_JOHNSEN
	if llmConfigured || preset == simtypes.PresetPrototype {
		engine = entsim.EngineLLM // the prototype's engine
	}
	if in.Engine != nil {
		engine = entsim.Engine(*in.Engine)
		if err := entsim.EngineValidator(engine); err != nil {
			return bad("engine %q is not one of LLM, HYBRID, DEGROOT, FRIEDKIN_JOHNSEN, HEGSELMANN_KRAUSE", *in.Engine)
		}
	}
	if (engine == entsim.EngineLLM || engine == entsim.EngineHYBRID) && !llmConfigured {
		return "", Params{}, apperr.New(apperr.LLMUnavailable,
			"engine %s needs an LLM: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (an OpenAI-compatible server)", engine)
	}
	p := Params{Preset: preset, Rounds: 1, SelfWeight: 0.5, Concurrency: cfg.DefaultConcurrency, Epsilon: 1.0,
		OpinionMaxChars: 400, Audience: Audience{Mode: simtypes.AudienceAll}, UpdateOrder: simtypes.UpdateSynchronous}
	if preset == simtypes.PresetPrototype {
		p.UpdateOrder = simtypes.UpdateSequential
	}
	if in.Rounds != nil {
		p.Rounds = *in.Rounds
	}
	if p.Rounds < 0 || p.Rounds > cfg.MaxRounds {
		return bad("rounds must be between 0 and %d, got %d", cfg.MaxRounds, p.Rounds)
	}
	if in.SelfWeight != nil {
		p.SelfWeight = *in.SelfWeight
	}
	if !(p.SelfWeight >= 0 && p.SelfWeight <= 100) {
		return bad("selfWeight must be between 0 and 100, got %v", p.SelfWeight)
	}
	if in.NeighborLimit != nil {
		// Otherwise Run sets it with the neighbourhood (neighborhoodOf).
		if p.NeighborLimit = *in.NeighborLimit; p.NeighborLimit < 1 || p.NeighborLimit > 100 {
			return bad("neighborLimit must be between 1 and 100, got %d", p.NeighborLimit)
		}
	}
	if in.UpdateOrder != nil {
		switch p.UpdateOrder = strings.ToUpper(strings.TrimSpace(*in.UpdateOrder)); p.UpdateOrder {
		case simtypes.UpdateSynchronous, simtypes.UpdateSequential:
		default:
			return bad("updateOrder %q is not SYNCHRONOUS or SEQUENTIAL", *in.UpdateOrder)
		}
	}
	if in.Neighborhood != nil {
		switch n := strings.ToUpper(strings.TrimSpace(*in.Neighborhood)); n {
		case simtypes.NeighborhoodChosen, simtypes.NeighborhoodUndirected:
			p.Neighborhood = n // checked against the network by neighborhoodOf
		default:
			return bad("neighborhood %q is not CHOSEN or UNDIRECTED", *in.Neighborhood)
		}
	}
	if in.NumAgents == nil && (in.ProfileSource != nil || in.ProfileSampling != nil || in.MinTies != nil || in.TraitVarianceScale != nil) {
		return bad("profileSource, profileSampling, minTies and traitVarianceScale describe a generated population: give them with numAgents")
	}
	if v := in.TraitVarianceScale; v != nil && !(*v > 0 && *v <= population.MaxTraitVarianceScale) {
		// population reads 0 as its default: refuse it here.
		return bad("traitVarianceScale must be in (0, %v], got %v", population.MaxTraitVarianceScale, *v)
	}
	if engine == entsim.EngineLLM || engine == entsim.EngineHYBRID {
		// The prompts' parameters: recorded for the runs that use them.
		p.PromptVersion = simtypes.PromptVersion
		p.Speaker = simtypes.DefaultSpeaker
		if in.Speaker != nil {
			p.Speaker = strings.Join(strings.Fields(*in.Speaker), " ") // one line
			switch n := utf8.RuneCountInString(p.Speaker); {
			case n == 0:
				return bad("speaker must not be empty")
			case n > maxSpeakerChars:
				return bad("speaker is %d characters long; the limit is %d", n, maxSpeakerChars)
			case strings.ContainsRune(p.Speaker, 0):
				return bad("speaker must not contain NUL characters")
			}
		}
		if in.NeighborNumbers != nil {
			p.NeighborNumbers = *in.NeighborNumbers
		}
		if in.MaxOutputTokens != nil {
			if *in.MaxOutputTokens < 0 || *in.MaxOutputTokens > maxOutputTokensLimit {
				return bad("maxOutputTokens must be between 0 (no limit) and %d, got %d", maxOutputTokensLimit, *in.MaxOutputTokens)
			}
			p.MaxOutputTokens = in.MaxOutputTokens
		}
	}
	if in.Cache != nil && *in.Cache {
		if engine != entsim.EngineLLM && engine != entsim.EngineHYBRID {
			return bad("cache: engine %s makes no LLM call, so there is no answer to reuse; leave cache out", engine)
		}
		p.Cache = true
	}
	if in.Model != nil {
		p.Model = strings.TrimSpace(*in.Model)
		if len(p.Model) > maxModelBytes {
			return bad("model is %d bytes long; the limit is %d", len(p.Model), maxModelBytes)
		}
		if strings.ContainsRune(p.Model, 0) {
			return bad("model must not contain NUL characters")
		}
	}
	if in.Temperature != nil {
		if !(*in.Temperature >= 0 && *in.Temperature <= 2) {
			return bad("temperature must be between 0 and 2, got %v", *in.Temperature)
		}
		p.Temperature = in.Temperature
	}
	if in.Seed != nil {
		p.Seed = *in.Seed
	}
	if in.Concurrency != nil {
		p.Concurrency = *in.Concurrency
	}
	if p.Concurrency < 1 || p.Concurrency > 256 {
		return bad("concurrency must be between 1 and 256, got %d", p.Concurrency)
	}
	if in.Epsilon != nil {
		p.Epsilon = *in.Epsilon
	}
	if !(p.Epsilon >= 0 && p.Epsilon <= 10) {
		return bad("epsilon must be between 0 and 10, got %v", p.Epsilon)
	}
	if in.MaxCalls != nil {
		if *in.MaxCalls < 1 {
			return bad("maxCalls must be positive, got %d", *in.MaxCalls)
		}
		p.MaxCalls = *in.MaxCalls
	}
	if in.MaxTokens != nil {
		if *in.MaxTokens < 1 {
			return bad("maxTokens must be positive, got %d", *in.MaxTokens)
		}
		p.MaxTokens = *in.MaxTokens
	}
	if in.MaxCostUSD != nil {
		if !(*in.MaxCostUSD > 0) {
			return bad("maxCostUSD must be positive, got %v", *in.MaxCostUSD)
		}
		p.MaxCostUSD = *in.MaxCostUSD
	}
	if in.Audience != nil {
		a := *in.Audience
		switch a.Mode {
		case simtypes.AudienceAll:
		case simtypes.AudienceTopInfluencers, simtypes.AudienceBridges:
			if a.Metric == "" {
				a.Metric = simtypes.MetricDegree
				if a.Mode == simtypes.AudienceBridges {
					a.Metric = simtypes.MetricBetweenness
				}
			}
			if a.Metric != simtypes.MetricDegree && a.Metric != simtypes.MetricBetweenness {
				return bad("audience.metric %q is not DEGREE or BETWEENNESS", a.Metric)
			}
			if a.TopN < 0 {
				return bad("audience.topN must be positive, got %d", a.TopN)
			}
		case simtypes.AudienceManual:
			if len(a.AgentIDs) == 0 {
				return bad("audience.agentIds must list at least one agent for MANUAL")
			}
		default:
			return bad("audience.mode %q is not ALL, TOP_INFLUENCERS, BRIDGES or MANUAL", a.Mode)
		}
		p.Audience = a
	}
	return engine, p, nil
}
