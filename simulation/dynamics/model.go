package dynamics

import (
	"math"
	"strconv"
	"strings"

	"github.com/ethox/ethox/apperr"
)

// Opinion ranges. Every update clamps to them.
const (
	CareMin    = 0.0
	CareMax    = 10.0
	SupportMin = -5.0
	SupportMax = 5.0
)

// careEpsilonScale converts the HK confidence bound from the support scale to
// the care scale: the ratio of the two ranges (both are ten units wide, so 1).
const careEpsilonScale = (CareMax - CareMin) / (SupportMax - SupportMin)

// Model selects the update rule of [Step]. The zero value is not a model.
type Model int

const (
	// DeGroot is the self-weighted neighbourhood average (DeGroot 1974).
	DeGroot Model = iota + 1
	// FriedkinJohnsen anchors every agent to its initial opinion with
	// susceptibility g_i (Friedkin & Johnsen 1990, 1999).
	FriedkinJohnsen
	// HegselmannKrause averages only the neighbours within the confidence
	// bound ε (weighted variant of Hegselmann & Krause 2002).
	HegselmannKrause
)

var modelNames = [...]string{
	DeGroot:          "DEGROOT",
	FriedkinJohnsen:  "FRIEDKIN_JOHNSEN",
	HegselmannKrause: "HEGSELMANN_KRAUSE",
}

// String returns DEGROOT, FRIEDKIN_JOHNSEN or HEGSELMANN_KRAUSE, or Model(n)
// for an invalid value.
func (m Model) String() string {
	if m.Valid() {
		return modelNames[m]
	}
	return "Model(" + strconv.Itoa(int(m)) + ")"
}

// Valid reports whether m is one of the defined models.
func (m Model) Valid() bool { return m >= DeGroot && m <= HegselmannKrause }

// ParseModel parses a model name as returned by [Model.String], ignoring case
// and surrounding spaces. An unknown name is an apperr.BadInput error.
func ParseModel(s string) (Model, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for m := DeGroot; m <= HegselmannKrause; m++ {
		if modelNames[m] == u {
			return m, nil
		}
	}
	return 0, apperr.New(apperr.BadInput, "unknown opinion-dynamics model %q (want DEGROOT, FRIEDKIN_JOHNSEN or HEGSELMANN_KRAUSE)", s)
}

// State is the opinion of every agent, indexed like the CSR rows. Both slices
// have length N.
type State struct {
	Care, Support []float64
}

// NewState returns a zero state for n agents.
func NewState(n int) State {
	return State{Care: make([]float64, n), Support: make([]float64, n)}
}

// Clone returns a deep copy of s.
func (s State) Clone() State {
	return State{Care: append([]float64(nil), s.Care...), Support: append([]float64(nil), s.Support...)}
}

// Params are the model parameters. Values are used literally (a zero
// SelfWeight means no self-weight); start from [DefaultParams].
type Params struct {
	// SelfWeight is s, the weight an agent gives its own current opinion in
	// the neighbourhood average. Must be finite and ≥ 0.
	SelfWeight float64
	// Epsilon is the Hegselmann–Krause confidence bound on the support scale
	// (-5..5); the care bound is Epsilon scaled by the range ratio (1). Must
	// be ≥ 0 (+Inf makes HK equal to DeGroot). Ignored by the other models.
	Epsilon float64
	// Stubbornness, when non-nil, gives every agent's Friedkin–Johnsen
	// stubbornness in [0, 1]: susceptibility g_i = 1 − Stubbornness[i]
	// replaces influencibility_i. Length N. Ignored by the other models.
	Stubbornness []float64
	// Workers is the number of goroutines of a round; 0 means GOMAXPROCS.
	// Results do not depend on it.
	Workers int
	// Sequential updates agents in place in index order (Gauss–Seidel), as
	// the prototype did: agent i reads the new values of the agents before
	// it and the previous values of the others. A sequential round runs on
	// one goroutine (Workers is ignored).
	Sequential bool
}

// DefaultParams returns self-weight 0.5 and confidence bound 1.0.
func DefaultParams() Params {
	return Params{SelfWeight: 0.5, Epsilon: 1.0}
}

// Validate checks p for a network of n agents. Errors are apperr.BadInput.
func (p Params) Validate(n int) error {
	if math.IsNaN(p.SelfWeight) || math.IsInf(p.SelfWeight, 0) || p.SelfWeight < 0 {
		return apperr.New(apperr.BadInput, "self-weight must be a finite number ≥ 0, got %v", p.SelfWeight)
	}
	if math.IsNaN(p.Epsilon) || p.Epsilon < 0 {
		return apperr.New(apperr.BadInput, "epsilon must be ≥ 0, got %v", p.Epsilon)
	}
	if p.Stubbornness != nil {
		if len(p.Stubbornness) != n {
			return apperr.New(apperr.BadInput, "stubbornness has %d values for %d agents", len(p.Stubbornness), n)
		}
		for i, v := range p.Stubbornness {
			if !(v >= 0 && v <= 1) {
				return apperr.New(apperr.BadInput, "stubbornness[%d] must be in [0, 1], got %v", i, v)
			}
		}
	}
	if p.Workers < 0 {
		return apperr.New(apperr.BadInput, "workers must be ≥ 0, got %d", p.Workers)
	}
	return nil
}

// BFI-2 facets (Soto & John 2017) of the three domains that drive
// influencibility.
var (
	negativeEmotionalityFacets = []string{"Anxiety", "Depression", "Emotional Volatility"}
	openMindednessFacets       = []string{"Intellectual Curiosity", "Aesthetic Sensitivity", "Creative Imagination"}
	conscientiousnessFacets    = []string{"Organization", "Productiveness", "Responsibility"}
)

// Influencibility returns how strongly an agent with the given BFI-2 facet
// scores (each on 0..1) is influenced by its neighbours:
//
//	sigmoid(−0.8 + 1.2·N + 0.6·O + 0.6·C),  sigmoid(z) = 1/(1+e^−z)
//
// with N, O and C the means of the facets of Negative Emotionality (Anxiety,
// Depression, Emotional Volatility), Open-Mindedness (Intellectual Curiosity,
// Aesthetic Sensitivity, Creative Imagination) and Conscientiousness
// (Organization, Productiveness, Responsibility). The result is in
// (0.31, 0.84) when the formula applies.
//
// Missing data rule: trait names match exactly; a facet is present when its
// key exists with a finite value, which is clamped to [0, 1]. A domain's
// score is the mean of its present facets. If any of the three domains has no
// present facet the formula is undefined and the result is 1 (fully
// influenceable, i.e. the plain similarity weights), which is also the result
// for a nil or empty map.
func Influencibility(traits map[string]float64) float64 {
	n, okN := facetMean(traits, negativeEmotionalityFacets)
	o, okO := facetMean(traits, openMindednessFacets)
	c, okC := facetMean(traits, conscientiousnessFacets)
	if !okN || !okO || !okC {
		return 1
	}
	return 1 / (1 + math.Exp(-(-0.8 + 1.2*n + 0.6*o + 0.6*c)))
}

func facetMean(traits map[string]float64, facets []string) (float64, bool) {
	var sum float64
	var k int
	for _, f := range facets {
		v, ok := traits[f]
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		sum += min(max(v, 0), 1)
		k++
	}
	if k == 0 {
		return 0, false
	}
	return sum / float64(k), true
}
