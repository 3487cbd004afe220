package population

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// bfi2JSON is a verbatim copy of testdata/bfi2-soto-john-2017.json:
//
//	Soto, C. J., & John, O. P. (2017). The next Big Five Inventory (BFI-2):
//	Developing and assessing a hierarchical model with 15 facets to enhance
//	bandwidth, fidelity, and predictive power. Journal of Personality and
//	Social Psychology, 113(1), 117-143.
//
// Internet sample: facet intercorrelations (Table 3) and facet means/SDs by
// gender (Table 5), on the 1..5 facet scale (mean of 4 items). The test
// TestEmbeddedFiguresMatchShared checks the copy against the shared file.
//
//go:embed bfi2_soto_john_2017.json
var bfi2JSON []byte

// numFacets is the number of BFI-2 facets.
const numFacets = 15

// facetNames is the canonical facet order used across Ethox (and the order
// of the rows/columns of every matrix in this package).
var facetNames = [numFacets]string{
	"Sociability", "Assertiveness", "Energy Level",
	"Compassion", "Respectfulness", "Trust",
	"Organization", "Productiveness", "Responsibility",
	"Anxiety", "Depression", "Emotional Volatility",
	"Intellectual Curiosity", "Aesthetic Sensitivity", "Creative Imagination",
}

// Indexes of the extraversion facets, used by the degree model.
const (
	facetSociability   = 0
	facetAssertiveness = 1
	facetEnergyLevel   = 2
)

// FacetNames returns the 15 BFI-2 facet names in Ethox's canonical order
// (the keys of Node.Traits and of Profile["bfi2_raw"]).
func FacetNames() []string { return append([]string(nil), facetNames[:]...) }

// genderClass selects the facet means/SDs an agent's personality is drawn
// with.
type genderClass int

const (
	genderFemale genderClass = iota
	genderMale
	genderPooled // any other or blank gender: equal mixture of the two
)

// classOf maps a gender as written in a profile to the figures used.
// Only "female" and "male" (any case, surrounding space ignored) select
// gender-specific figures; everything else, including blank, is pooled.
func classOf(lowerGender string) genderClass {
	switch lowerGender {
	case "female":
		return genderFemale
	case "male":
		return genderMale
	}
	return genderPooled
}

// bfi2Figures are the published figures in matrix form.
type bfi2Figures struct {
	// corr is the published facet intercorrelation matrix (unit diagonal).
	corr *mat.SymDense
	// mean and sd are indexed by genderClass then facet, on the 1..5 scale.
	// The pooled class is the equal-weight mixture of women and men:
	// mean = (mF+mM)/2, sd = sqrt((sF²+sM²)/2 + ((mF−mM)/2)²), the moments
	// of a population with as many women as men (the sample had 500 each).
	mean, sd [3][numFacets]float64
}

type bfi2File struct {
	Facets            []string          `json:"facets"`
	FacetCorrelations [][3]any          `json:"facet_correlations"`
	MeansByGender     map[string]bfi2MS `json:"facet_means_by_gender"`
}

type bfi2MS struct {
	Men   struct{ Mean, SD float64 } `json:"men"`
	Women struct{ Mean, SD float64 } `json:"women"`
}

// parseBFI2 turns the embedded JSON into matrices, checking that every
// facet and every facet pair is present exactly once.
func parseBFI2(data []byte) (*bfi2Figures, error) {
	var f bfi2File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("bfi2 figures: %w", err)
	}
	if len(f.Facets) != numFacets {
		return nil, fmt.Errorf("bfi2 figures: %d facets, want %d", len(f.Facets), numFacets)
	}
	pos := make(map[string]int, numFacets)
	for i, name := range facetNames {
		pos[name] = i
	}
	for _, name := range f.Facets {
		if _, ok := pos[name]; !ok {
			return nil, fmt.Errorf("bfi2 figures: unknown facet %q", name)
		}
	}
	fig := &bfi2Figures{corr: mat.NewSymDense(numFacets, nil)}
	seen := make(map[[2]int]bool)
	for _, c := range f.FacetCorrelations {
		a, okA := c[0].(string)
		b, okB := c[1].(string)
		r, okR := c[2].(float64)
		i, inA := pos[a]
		j, inB := pos[b]
		if !okA || !okB || !okR || !inA || !inB || i == j || math.Abs(r) > 1 {
			return nil, fmt.Errorf("bfi2 figures: bad correlation entry %v", c)
		}
		key := [2]int{min(i, j), max(i, j)}
		if seen[key] {
			return nil, fmt.Errorf("bfi2 figures: duplicate correlation %s/%s", a, b)
		}
		seen[key] = true
		fig.corr.SetSym(i, j, r)
	}
	if want := numFacets * (numFacets - 1) / 2; len(seen) != want {
		return nil, fmt.Errorf("bfi2 figures: %d correlations, want %d", len(seen), want)
	}
	for i := range numFacets {
		fig.corr.SetSym(i, i, 1)
	}
	for i, name := range facetNames {
		ms, ok := f.MeansByGender[name]
		if !ok || ms.Men.SD <= 0 || ms.Women.SD <= 0 {
			return nil, fmt.Errorf("bfi2 figures: missing or bad means/SDs for %q", name)
		}
		fig.mean[genderFemale][i], fig.sd[genderFemale][i] = ms.Women.Mean, ms.Women.SD
		fig.mean[genderMale][i], fig.sd[genderMale][i] = ms.Men.Mean, ms.Men.SD
		half := (ms.Women.Mean - ms.Men.Mean) / 2
		fig.mean[genderPooled][i] = (ms.Women.Mean + ms.Men.Mean) / 2
		fig.sd[genderPooled][i] = math.Sqrt((ms.Women.SD*ms.Women.SD+ms.Men.SD*ms.Men.SD)/2 + half*half)
	}
	return fig, nil
}
