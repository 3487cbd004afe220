package population

import (
	"bytes"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/ethox/ethox/internal/fixtures"
)

func TestEmbeddedFiguresMatchShared(t *testing.T) {
	if !bytes.Equal(fixtures.Read(t, fixtures.BFI2), bfi2JSON) {
		t.Fatalf("population/bfi2_soto_john_2017.json differs from testdata/%s", fixtures.BFI2)
	}
}

func TestPublishedFigures(t *testing.T) {
	m, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	if got := m.fig.corr.At(0, 2); got != 0.59 { // Sociability / Energy Level
		t.Errorf("corr(Sociability, Energy Level) = %v, want 0.59", got)
	}
	if got := m.fig.corr.At(11, 9); got != 0.65 { // Emotional Volatility / Anxiety
		t.Errorf("corr(Emotional Volatility, Anxiety) = %v, want 0.65", got)
	}
	if got := m.fig.mean[genderFemale][9]; got != 3.58 {
		t.Errorf("women's Anxiety mean = %v, want 3.58", got)
	}
	if got := m.fig.sd[genderMale][12]; got != 0.69 {
		t.Errorf("men's Intellectual Curiosity SD = %v, want 0.69", got)
	}
	// The published matrix is positive definite, so it is used unchanged.
	lo, err := minEigenvalue(m.fig.corr)
	if err != nil {
		t.Fatal(err)
	}
	if lo <= minCorrEigen || m.repaired {
		t.Errorf("published matrix: smallest eigenvalue %v, repaired %v; want PD and unrepaired", lo, m.repaired)
	}
	if !mat.Equal(m.corr, m.fig.corr) {
		t.Error("a PD correlation matrix was changed")
	}
}

func TestParseBFI2Rejects(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":   `{`,
		"few facets": `{"facets": ["Sociability"]}`,
		"missing corr": string(bytes.Replace(bfi2JSON, []byte(`"Creative Imagination",
   "Aesthetic Sensitivity",
   0.44`), []byte(`"Creative Imagination",
   "Creative Imagination",
   0.44`), 1)),
	} {
		if _, err := parseBFI2([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func checkCorrelation(t *testing.T, c *mat.SymDense) {
	t.Helper()
	n := c.SymmetricDim()
	for i := range n {
		if c.At(i, i) != 1 {
			t.Fatalf("diagonal[%d] = %v", i, c.At(i, i))
		}
	}
	var chol mat.Cholesky
	if !chol.Factorize(c) {
		t.Fatal("not positive definite")
	}
	lo, _ := minEigenvalue(c)
	if lo <= 0 {
		t.Fatalf("smallest eigenvalue %v", lo)
	}
}

// Higham (2002), section 4: the nearest correlation matrix to
// [[1 1 0] [1 1 1] [0 1 1]] is about [[1 .7607 .1573] [.7607 1 .7607]
// [.1573 .7607 1]].
func TestNearestCorrelationHighamExample(t *testing.T) {
	a := mat.NewSymDense(3, []float64{1, 1, 0, 1, 1, 1, 0, 1, 1})
	if lo, _ := minEigenvalue(a); lo >= 0 {
		t.Fatalf("test matrix should be indefinite, smallest eigenvalue %v", lo)
	}
	got, changed, err := nearestCorrelation(a, minCorrEigen)
	if err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Fatal("not reported as changed")
	}
	checkCorrelation(t, got)
	want := mat.NewSymDense(3, []float64{1, 0.7607, 0.1573, 0.7607, 1, 0.7607, 0.1573, 0.7607, 1})
	if !mat.EqualApprox(got, want, 2e-3) {
		t.Errorf("nearest correlation matrix\n%v\nwant\n%v", mat.Formatted(got), mat.Formatted(want))
	}
}

// A 15×15 matrix made indefinite by reversing the sign of the strongest
// facet correlations: the repair must give a valid correlation matrix that
// is closer to the input than plain eigenvalue clipping plus rescaling.
func TestNearestCorrelationBrokenFacets(t *testing.T) {
	m, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	broken := mat.NewSymDense(numFacets, nil)
	broken.CopySym(m.fig.corr)
	broken.SetSym(9, 10, -0.64)  // Anxiety / Depression
	broken.SetSym(9, 11, 0.9)    // Anxiety / Emotional Volatility
	broken.SetSym(10, 11, -0.85) // Depression / Emotional Volatility
	if lo, _ := minEigenvalue(broken); lo >= 0 {
		t.Fatalf("test matrix should be indefinite, smallest eigenvalue %v", lo)
	}
	got, changed, err := nearestCorrelation(broken, minCorrEigen)
	if err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Fatal("not reported as changed")
	}
	checkCorrelation(t, got)

	// Reference: clip eigenvalues once and rescale to unit diagonal.
	clipped := mat.NewSymDense(numFacets, nil)
	if err := clipEigen(clipped, broken, minCorrEigen); err != nil {
		t.Fatal(err)
	}
	var diag [numFacets]float64
	for i := range diag {
		diag[i] = clipped.At(i, i)
	}
	for i := range numFacets {
		for j := i; j < numFacets; j++ {
			clipped.SetSym(i, j, clipped.At(i, j)/math.Sqrt(diag[i]*diag[j]))
		}
	}
	dist := func(x *mat.SymDense) float64 {
		var d mat.Dense
		d.Sub(x, broken)
		return mat.Norm(&d, 2)
	}
	if dist(got) > dist(clipped)+1e-9 {
		t.Errorf("Higham repair is farther (%.4f) than clip+rescale (%.4f)", dist(got), dist(clipped))
	}
	// Entries not involved in the conflict barely move.
	if d := math.Abs(got.At(0, 2) - broken.At(0, 2)); d > 0.05 {
		t.Errorf("corr(Sociability, Energy Level) moved by %.3f", d)
	}

	// The model repairs such a matrix and still samples.
	fig := *m.fig
	fig.corr = broken
	pm, err := newPersonalityModel(&fig)
	if err != nil {
		t.Fatal(err)
	}
	if !pm.repaired {
		t.Error("model not marked repaired")
	}
	var x [numFacets]float64
	pm.sample(newRand(1, 1), genderFemale, &x)
	for f, v := range x {
		if v < 1 || v > 5 || math.IsNaN(v) {
			t.Errorf("facet %d = %v", f, v)
		}
	}
}

func TestNearestCorrelationRejectsNonFinite(t *testing.T) {
	a := mat.NewSymDense(2, []float64{1, math.NaN(), math.NaN(), 1})
	if _, _, err := nearestCorrelation(a, minCorrEigen); err == nil {
		t.Error("NaN accepted")
	}
}

// moments returns means, SDs and the correlation matrix of the columns of x.
func moments(x [][numFacets]float64) (mean, sd [numFacets]float64, corr [numFacets][numFacets]float64) {
	n := float64(len(x))
	for _, r := range x {
		for i, v := range r {
			mean[i] += v
		}
	}
	for i := range mean {
		mean[i] /= n
	}
	var cov [numFacets][numFacets]float64
	for _, r := range x {
		for i := range r {
			for j := range r {
				cov[i][j] += (r[i] - mean[i]) * (r[j] - mean[j])
			}
		}
	}
	for i := range sd {
		sd[i] = math.Sqrt(cov[i][i] / (n - 1))
	}
	for i := range cov {
		for j := range cov {
			corr[i][j] = cov[i][j] / math.Sqrt(cov[i][i]*cov[j][j])
		}
	}
	return mean, sd, corr
}

// censored returns the mean and SD of N(mu, sigma²) clipped to [a, b].
func censored(mu, sigma, a, b float64) (float64, float64) {
	phi := func(z float64) float64 { return math.Exp(-z*z/2) / math.Sqrt(2*math.Pi) }
	cdf := func(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }
	al, be := (a-mu)/sigma, (b-mu)/sigma
	pa, pb := cdf(al), 1-cdf(be)
	mid := 1 - pa - pb
	m1 := a*pa + b*pb + mu*mid + sigma*(phi(al)-phi(be))
	m2 := a*a*pa + b*b*pb + (mu*mu+sigma*sigma)*mid + 2*mu*sigma*(phi(al)-phi(be)) + sigma*sigma*(al*phi(al)-be*phi(be))
	return m1, math.Sqrt(m2 - m1*m1)
}

// TestFacetMarginals draws 20,000 agents (10,000 of each gender) and
// compares them with the published figures.
//
// Tolerances: with 10,000 draws the standard error of a mean is at most
// 1.07/100 ≈ 0.011 and that of an SD about 0.008, so means are checked to
// ±0.04 and SDs to ±0.03 (≈ 3.5–4 standard errors; the seed is fixed, so the
// test is deterministic anyway). Unclipped draws are compared with the
// published figures; stored (clipped, rounded) values with the moments of
// the published normal clipped to 1..5, computed exactly. Correlations
// (standard error ≤ 0.01) must be within ±0.05 of the target, for the
// unclipped and the stored values.
func TestFacetMarginals(t *testing.T) {
	m, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	const perGender = 10_000
	for _, g := range []genderClass{genderFemale, genderMale} {
		rng := newRand(2024, uint64(g))
		raw := make([][numFacets]float64, perGender)
		stored := make([][numFacets]float64, perGender)
		for i := range raw {
			m.sampleRaw(rng, g, &raw[i])
			for f, v := range raw[i] {
				stored[i][f] = math.Round(min(5, max(1, v))*100) / 100
			}
		}
		rm, rs, rc := moments(raw)
		sm, ss, sc := moments(stored)
		for f, name := range facetNames {
			mu, sigma := m.fig.mean[g][f], m.fig.sd[g][f]
			if d := rm[f] - mu; math.Abs(d) > 0.04 {
				t.Errorf("gender %d %s: unclipped mean %.3f, published %.2f", g, name, rm[f], mu)
			}
			if d := rs[f] - sigma; math.Abs(d) > 0.03 {
				t.Errorf("gender %d %s: unclipped SD %.3f, published %.2f", g, name, rs[f], sigma)
			}
			cm, cs := censored(mu, sigma, 1, 5)
			if d := sm[f] - cm; math.Abs(d) > 0.04 {
				t.Errorf("gender %d %s: stored mean %.3f, clipped-normal mean %.3f", g, name, sm[f], cm)
			}
			if d := ss[f] - cs; math.Abs(d) > 0.03 {
				t.Errorf("gender %d %s: stored SD %.3f, clipped-normal SD %.3f", g, name, ss[f], cs)
			}
			for f2 := range f {
				want := m.corr.At(f, f2)
				if d := rc[f][f2] - want; math.Abs(d) > 0.05 {
					t.Errorf("gender %d corr(%s, %s): unclipped %.3f, target %.2f", g, name, facetNames[f2], rc[f][f2], want)
				}
				if d := sc[f][f2] - want; math.Abs(d) > 0.05 {
					t.Errorf("gender %d corr(%s, %s): stored %.3f, target %.2f", g, name, facetNames[f2], sc[f][f2], want)
				}
			}
		}
	}
}

// Agents with another or no gender use the pooled figures: the mean of the
// two genders' means and the SD of their equal mixture.
func TestPooledFigures(t *testing.T) {
	m, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"", "nonbinary", "x"} {
		if classOf(g) != genderPooled {
			t.Errorf("classOf(%q) is not pooled", g)
		}
	}
	if classOf("female") != genderFemale || classOf("male") != genderMale {
		t.Error("female/male not recognised")
	}
	raw := make([][numFacets]float64, 10_000)
	rng := newRand(7, 7)
	for i := range raw {
		m.sampleRaw(rng, genderPooled, &raw[i])
	}
	mean, sd, _ := moments(raw)
	for f, name := range facetNames {
		wantMean := (m.fig.mean[genderFemale][f] + m.fig.mean[genderMale][f]) / 2
		if d := mean[f] - wantMean; math.Abs(d) > 0.04 {
			t.Errorf("%s: pooled mean %.3f, want %.3f", name, mean[f], wantMean)
		}
		lo := min(m.fig.sd[genderFemale][f], m.fig.sd[genderMale][f])
		hi := max(m.fig.sd[genderFemale][f], m.fig.sd[genderMale][f]) + 0.05
		if sd[f] < lo-0.03 || sd[f] > hi+0.03 {
			t.Errorf("%s: pooled SD %.3f outside [%.2f, %.2f]", name, sd[f], lo, hi)
		}
	}
}

// Whitening must turn the model's pooled covariance into the identity.
func TestWhitening(t *testing.T) {
	m, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	const n = 40_000
	rng := newRand(3, 3)
	ys := make([][numFacets]float64, n)
	for i := range ys {
		var raw, tr [numFacets]float64
		m.sampleRaw(rng, genderClass(i%2), &raw) // unclipped, to test the algebra
		for f, v := range raw {
			tr[f] = (v - 1) / 4
		}
		m.whitenInto(&tr, ys[i][:])
	}
	_, sd, corr := moments(ys)
	for i := range numFacets {
		if math.Abs(sd[i]-1) > 0.03 {
			t.Errorf("whitened SD[%d] = %.3f", i, sd[i])
		}
		for j := range i {
			if math.Abs(corr[i][j]) > 0.03 {
				t.Errorf("whitened corr[%d][%d] = %.3f", i, j, corr[i][j])
			}
		}
	}
}
