package population

import (
	"context"
	"testing"
	"time"
	"runtime"
)

func TestScratchModel(t *testing.T) {
	m, err := defaultModel()
	if err != nil { t.Fatal(err) }
	lo, _ := minEigenvalue(m.fig.corr)
	t.Logf("repaired=%v minEig=%v", m.repaired, lo)
}

func scratchY(n int, seed uint64) ([]float64, []int) {
	m, _ := defaultModel()
	rng := newRand(seed, 1)
	traits := make([][numFacets]float64, n)
	y := make([]float64, n*numFacets)
	for i := range traits {
		var raw [numFacets]float64
		m.sample(rng, genderClass(i%2), &raw)
		for f, x := range raw { traits[i][f] = normalise(x) }
		m.whitenInto(&traits[i], y[i*numFacets:(i+1)*numFacets])
	}
	return y, drawTies(newRand(seed, 2), traits)
}

func TestScratchRecall(t *testing.T) {
	for _, n := range []int{10000, 100000} {
		y, ks := scratchY(n, 7)
		for _, b := range []func(int) int{
			func(k int) int { return 256 },
			func(k int) int { return 512 },
			func(k int) int { return 1024 },
			func(k int) int { return 2048 },
		} {
			t0 := time.Now()
			start, nb, _ := allKNN(context.Background(), y, numFacets, ks, 2, b)
			el := time.Since(t0)
			hit, tot := 0, 0
			for i := 0; i < n; i += n / 1000 {
				ex := bruteKNN(y, numFacets, i, start[i+1]-start[i])
				set := map[int32]bool{}
				for _, x := range nb[start[i]:start[i+1]] { set[x.id] = true }
				for _, x := range ex { if set[x.id] { hit++ } }
				tot += len(ex)
			}
			t.Logf("n=%d budget(1)=%d time=%v recall=%.4f", n, b(1), el, float64(hit)/float64(tot))
		}
	}
}

func TestScratchGenerate(t *testing.T) {
	for _, n := range []int{10000, 100000} {
		t0 := time.Now()
		r, err := Generate(context.Background(), Options{NumAgents: n, Seed: 1})
		if err != nil { t.Fatal(err) }
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("n=%d %v params=%v heap=%dMB", n, time.Since(t0), r.Params, ms.HeapAlloc>>20)
	}
}
