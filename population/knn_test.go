package population

import (
	"context"
	"math"
	"slices"
	"testing"
)

// testPopulation returns n whitened trait vectors drawn from the model
// (alternating genders, the default trait variance scale) and their tie
// counts (the default minimum, 0), as Generate would.
func testPopulation(t testing.TB, n int, seed uint64) ([]float64, []int, [][numFacets]float64) {
	t.Helper()
	base, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	m, err := base.withScale(DefaultTraitVarianceScale)
	if err != nil {
		t.Fatal(err)
	}
	rng := newRand(seed, streamPersonality)
	traits := make([][numFacets]float64, n)
	y := make([]float64, n*numFacets)
	for i := range traits {
		var raw [numFacets]float64
		m.sample(rng, genderClass(i%2), &raw)
		for f, x := range raw {
			traits[i][f] = normalise(x)
		}
		m.whitenInto(&traits[i], y[i*numFacets:(i+1)*numFacets])
	}
	return y, drawTies(newRand(seed, streamTies), traits, 0), traits
}

// recall is the share of the exact top-k_i neighbours (over the agents in
// sample) that the lists nb contain.
func recall(y []float64, start []int, nb []neighbour, sample []int) float64 {
	hit, total := 0, 0
	for _, i := range sample {
		k := start[i+1] - start[i]
		got := make(map[int32]bool, k)
		for _, x := range nb[start[i]:start[i+1]] {
			got[x.id] = true
		}
		for _, x := range bruteKNN(y, numFacets, i, k) {
			if got[x.id] {
				hit++
			}
		}
		total += k
	}
	return float64(hit) / float64(total)
}

func allAgents(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestKNNRecall2000(t *testing.T) {
	const n = 2000
	y, ks, _ := testPopulation(t, n, 5)
	start, nb, err := nnDescent(context.Background(), y, numFacets, ks, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	r := recall(y, start, nb, allAgents(n))
	t.Logf("NN-descent recall at %d agents: %.4f", n, r)
	if r < 0.9 {
		t.Errorf("recall %.4f < 0.9", r)
	}
	// Lists are sorted nearest first, hold no self and no duplicates, and
	// carry correct distances.
	for i := range n {
		l := nb[start[i]:start[i+1]]
		if len(l) != min(ks[i], n-1) {
			t.Fatalf("agent %d: %d neighbours, want %d", i, len(l), ks[i])
		}
		seen := map[int32]bool{}
		for j, x := range l {
			if int(x.id) == i || seen[x.id] {
				t.Fatalf("agent %d: self or duplicate %d", i, x.id)
			}
			seen[x.id] = true
			if j > 0 && l[j-1].worse(x) {
				t.Fatalf("agent %d: not sorted", i)
			}
			if d := dist2(y[i*numFacets:(i+1)*numFacets], y[int(x.id)*numFacets:int(x.id+1)*numFacets], inf); d != x.d2 {
				t.Fatalf("agent %d: distance %v, stored %v", i, d, x.d2)
			}
		}
	}
}

// The exact path is brute force.
func TestExactKNN(t *testing.T) {
	const n = 300
	y, ks, _ := testPopulation(t, n, 6)
	start, nb, err := allKNN(context.Background(), y, numFacets, ks, 3, 6)
	if err != nil {
		t.Fatal(err)
	}
	if r := recall(y, start, nb, allAgents(n)); r != 1 {
		t.Errorf("exact path recall %v", r)
	}
}

// NN-descent runs its joins in parallel; the result must not depend on the
// number of workers.
func TestNNDescentDeterministic(t *testing.T) {
	const n = 6000
	y, ks, _ := testPopulation(t, n, 8)
	s1, nb1, err := nnDescent(context.Background(), y, numFacets, ks, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	s4, nb4, err := nnDescent(context.Background(), y, numFacets, ks, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s1, s4) || !slices.Equal(nb1, nb4) {
		t.Error("results differ between 1 and 4 workers")
	}
	_, nb2, _ := nnDescent(context.Background(), y, numFacets, ks, 4, 9)
	if slices.Equal(nb1, nb2) {
		t.Log("a different seed gave identical lists (possible, but unlikely)")
	}
}

func TestKNNCancelled(t *testing.T) {
	y, ks, _ := testPopulation(t, 5000, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := nnDescent(ctx, y, numFacets, ks, 2, 1); err != context.Canceled {
		t.Errorf("nnDescent: %v, want context.Canceled", err)
	}
	if _, _, err := exactKNN(ctx, y[:300*numFacets], numFacets, ks[:300], 2); err != context.Canceled {
		t.Errorf("exactKNN: %v, want context.Canceled", err)
	}
}

func TestSelectKeys(t *testing.T) {
	rng := newRand(1, 1)
	for range 300 {
		n := 1 + rng.IntN(60)
		keys := make([]projKey, n)
		for i := range keys {
			keys[i] = projKey{float64(rng.IntN(8)), int32(rng.IntN(1000))} // many equal values
		}
		sorted := slices.Clone(keys)
		slices.SortFunc(sorted, func(a, b projKey) int {
			switch {
			case a.less(b):
				return -1
			case b.less(a):
				return 1
			}
			return 0
		})
		k := rng.IntN(n)
		selectKeys(keys, k)
		if keys[k] != sorted[k] {
			t.Fatalf("selectKeys: got %v at %d, want %v", keys[k], k, sorted[k])
		}
		for i := range n {
			if (i < k && keys[k].less(keys[i])) || (i > k && keys[i].less(keys[k])) {
				t.Fatalf("element %v on the wrong side of %v", keys[i], keys[k])
			}
		}
	}
}

func TestMedianDistance(t *testing.T) {
	// Exact for small N.
	y, _, _ := testPopulation(t, 101, 2)
	var ds []float64
	for i := range 101 {
		for j := i + 1; j < 101; j++ {
			ds = append(ds, math.Sqrt(dist2(y[i*numFacets:(i+1)*numFacets], y[j*numFacets:(j+1)*numFacets], inf)))
		}
	}
	slices.Sort(ds)
	want := (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	if got := medianDistance(newRand(1, 1), y, numFacets); math.Abs(got-want) > 1e-12 {
		t.Errorf("exact median %v, want %v", got, want)
	}
	// Sampled for large N: close to the exact median.
	y, _, _ = testPopulation(t, 1500, 3)
	ds = ds[:0]
	for i := range 1500 {
		for j := i + 1; j < 1500; j++ {
			ds = append(ds, dist2(y[i*numFacets:(i+1)*numFacets], y[j*numFacets:(j+1)*numFacets], inf))
		}
	}
	slices.Sort(ds)
	exact := math.Sqrt(ds[len(ds)/2])
	got := medianDistance(newRand(1, 1), y, numFacets)
	if math.Abs(got-exact)/exact > 0.01 {
		t.Errorf("sampled median %v, exact %v", got, exact)
	}
	if medianDistance(newRand(1, 1), y[:numFacets], numFacets) != 1 {
		t.Error("σ for one agent should be 1")
	}
}

// BenchmarkKNNRecall10k reports NN-descent's recall against brute force on
// 10,000 agents (every agent is checked) and its time.
func BenchmarkKNNRecall10k(b *testing.B) {
	const n = 10_000
	y, ks, _ := testPopulation(b, n, 10)
	var start []int
	var nb []neighbour
	b.ReportAllocs()
	for b.Loop() {
		var err error
		start, nb, err = nnDescent(context.Background(), y, numFacets, ks, 0, 10)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(recall(y, start, nb, allAgents(n)), "recall")
}

// BenchmarkKNNRecall100k reports NN-descent's time on 100,000 agents and its
// recall against brute force on 2,000 agents spread over the population.
func BenchmarkKNNRecall100k(b *testing.B) {
	const n = 100_000
	y, ks, _ := testPopulation(b, n, 11)
	var start []int
	var nb []neighbour
	b.ReportAllocs()
	for b.Loop() {
		var err error
		start, nb, err = nnDescent(context.Background(), y, numFacets, ks, 0, 11)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sample := make([]int, 0, 2000)
	for i := 0; i < n; i += n / 2000 {
		sample = append(sample, i)
	}
	b.ReportMetric(recall(y, start, nb, sample), "recall")
}
