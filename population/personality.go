package population

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// Personality model
//
// The 15 facets of an agent of gender class g are drawn as
//
//	x = μ_g + σ_g ∘ (L·ε),  ε ~ N(0, I_15),  L·Lᵀ = R
//
// where R is the published facet intercorrelation matrix (repaired with
// nearestCorrelation if it is not positive definite; the published matrix
// is, with smallest eigenvalue 0.22, so it is used as published), μ_g and σ_g the
// published gender-specific means and SDs (pooled: see bfi2Figures). The
// draws are then clipped to the scale's range 1..5 and rounded to 2
// decimals (the instrument itself has a resolution of 0.25; the rounding
// only keeps floating-point noise out of the output). Clipping makes the
// realised means/SDs of facets whose mean is close to a bound (e.g.
// Intellectual Curiosity, mean 4.18, SD 0.69: ~12% of men above 5) differ
// slightly from the published figures; the unclipped draws match them.
//
// Trait variance scale. Generate multiplies every deviation from the mean
// by a scale s (Options.TraitVarianceScale, recorded as traitVarianceScale):
//
//	x = μ_g + s·σ_g ∘ (L·ε)
//
// i.e. the facet covariance D_g·R·D_g is shrunk by s², the means and the
// correlations are kept. The prototype used s = 0.65 (its
// TRAIT_VARIANCE_SCALE), the default: a realised facet SD of about 0.58 on
// the 1..5 scale with about 0.9% of values clipped, against about 0.85 and
// 6% with s = 1 (the published SDs, Ethox's model before ethox-population/2);
// TestTraitVarianceScale measures both. For a blank or other gender the
// pooled SD (which includes the gap between the women's and men's means) is
// scaled the same way. The whitening used for similarity is that of the
// scaled model (see pooledWhitener), so that whitened traits keep an
// identity covariance whatever s.

// personalityModel holds everything derived from the published figures.
type personalityModel struct {
	fig *bfi2Figures
	// scale multiplies every deviation from the mean (see above); 1 for
	// defaultModel, set with withScale.
	scale float64
	// corr is the correlation matrix actually used (repaired if needed).
	corr     *mat.SymDense
	repaired bool
	// lower is the Cholesky factor of corr, row-major, lower triangle.
	lower [numFacets][numFacets]float64
	// whiten is the inverse of the Cholesky factor of the pooled (equal
	// gender mixture) covariance of the normalised 0..1 traits drawn with
	// scale, row-major, lower triangle: y = whiten·t has identity
	// covariance under the model (before clipping),
	// so Euclidean distance between y vectors is Mahalanobis distance
	// between trait vectors.
	whiten [numFacets][numFacets]float64
}

var (
	modelOnce sync.Once
	modelVal  *personalityModel
	modelErr  error
)

// defaultModel returns the model built from the embedded figures.
func defaultModel() (*personalityModel, error) {
	modelOnce.Do(func() {
		var fig *bfi2Figures
		fig, modelErr = parseBFI2(bfi2JSON)
		if modelErr == nil {
			modelVal, modelErr = newPersonalityModel(fig)
		}
	})
	return modelVal, modelErr
}

func newPersonalityModel(fig *bfi2Figures) (*personalityModel, error) {
	corr, repaired, err := nearestCorrelation(fig.corr, minCorrEigen)
	if err != nil {
		return nil, err
	}
	m := &personalityModel{fig: fig, corr: corr, repaired: repaired, scale: 1}
	var chol mat.Cholesky
	if !chol.Factorize(corr) {
		return nil, errors.New("personality model: correlation matrix is not positive definite")
	}
	var l mat.TriDense
	chol.LTo(&l)
	for i := range numFacets {
		for j := 0; j <= i; j++ {
			m.lower[i][j] = l.At(i, j)
		}
	}

	w, err := pooledWhitener(fig, corr, 1)
	if err != nil {
		return nil, err
	}
	m.whiten = *w
	return m, nil
}

// withScale returns a copy of m that draws with trait variance scale s
// (0 < s, finite) and whitens accordingly. m itself is not changed.
func (m *personalityModel) withScale(s float64) (*personalityModel, error) {
	if s == m.scale {
		return m, nil
	}
	w, err := pooledWhitener(m.fig, m.corr, s)
	if err != nil {
		return nil, err
	}
	c := *m
	c.scale, c.whiten = s, *w
	return &c, nil
}

// pooledWhitener returns the inverse of the Cholesky factor of the pooled
// (equal gender mixture) covariance of the normalised 0..1 traits drawn
// with trait variance scale s, row-major, lower triangle.
func pooledWhitener(fig *bfi2Figures, corr *mat.SymDense, s float64) (*[numFacets][numFacets]float64, error) {
	// Pooled covariance of normalised traits (raw/4): the covariance of an
	// equal mixture of the two gender distributions,
	// ½Σ_F + ½Σ_M + ¼·δδᵀ with Σ_g = s²·D_g·R·D_g and δ = μ_F − μ_M.
	cov := mat.NewSymDense(numFacets, nil)
	mF, mM := fig.mean[genderFemale], fig.mean[genderMale]
	sF, sM := fig.sd[genderFemale], fig.sd[genderMale]
	s2 := s * s
	for i := range numFacets {
		for j := i; j < numFacets; j++ {
			r := corr.At(i, j)
			// With s = 1 this is bit for bit the sum before the scale
			// existed: s2·(a+b) = a+b.
			c := s2*(0.5*sF[i]*sF[j]*r+0.5*sM[i]*sM[j]*r) + 0.25*(mF[i]-mM[i])*(mF[j]-mM[j])
			cov.SetSym(i, j, c/16)
		}
	}
	var cc mat.Cholesky
	if !cc.Factorize(cov) {
		return nil, errors.New("personality model: pooled covariance is not positive definite")
	}
	var lc mat.TriDense
	cc.LTo(&lc)
	var inv mat.TriDense
	if err := inv.InverseTri(&lc); err != nil {
		return nil, err
	}
	var w [numFacets][numFacets]float64
	for i := range numFacets {
		for j := 0; j <= i; j++ {
			w[i][j] = inv.At(i, j)
		}
	}
	return &w, nil
}

// sampleRaw draws one unclipped facet vector (1..5 scale) into x, with the
// model's trait variance scale.
func (m *personalityModel) sampleRaw(rng *rand.Rand, g genderClass, x *[numFacets]float64) {
	var eps [numFacets]float64
	for i := range eps {
		eps[i] = rng.NormFloat64()
	}
	mean, sd := &m.fig.mean[g], &m.fig.sd[g]
	for i := range numFacets {
		var z float64
		row := &m.lower[i]
		for j := 0; j <= i; j++ {
			z += row[j] * eps[j]
		}
		x[i] = mean[i] + m.scale*sd[i]*z // (1·sd)·z = sd·z exactly: s = 1 draws as before the scale existed
	}
}

// sample draws one facet vector as stored: clipped to 1..5 and rounded to
// 2 decimals.
func (m *personalityModel) sample(rng *rand.Rand, g genderClass, x *[numFacets]float64) {
	m.sampleRaw(rng, g, x)
	for i := range x {
		x[i] = math.Round(min(5, max(1, x[i]))*100) / 100
	}
}

// normalise maps a raw 1..5 score to the 0..1 trait scale, rounded to 4
// decimals (exact for 2-decimal raw scores, minus floating-point noise).
func normalise(raw float64) float64 {
	return math.Round((raw-1)/4*1e4) / 1e4
}

// whitenInto writes whiten·t into y for a normalised trait vector t.
func (m *personalityModel) whitenInto(t *[numFacets]float64, y []float64) {
	for i := range numFacets {
		var s float64
		row := &m.whiten[i]
		for j := 0; j <= i; j++ {
			s += row[j] * t[j]
		}
		y[i] = s
	}
}
