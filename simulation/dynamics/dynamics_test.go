package dynamics

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ethox/ethox/apperr"
	"gonum.org/v1/gonum/mat"
)

// edges is a test edge list.
type edges struct {
	src, dst []int32
	w        []float64
}

func (e *edges) add(s, d int32, w float64) {
	e.src = append(e.src, s)
	e.dst = append(e.dst, d)
	e.w = append(e.w, w)
}

func st(care, support []float64) State { return State{Care: care, Support: support} }

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func checkState(t *testing.T, name string, got, want State, tol float64) {
	t.Helper()
	if len(got.Care) != len(want.Care) || len(got.Support) != len(want.Support) {
		t.Fatalf("%s: got %d/%d agents, want %d/%d", name, len(got.Care), len(got.Support), len(want.Care), len(want.Support))
	}
	for i := range want.Care {
		if !near(got.Care[i], want.Care[i], tol) {
			t.Errorf("%s: care[%d] = %.15g, want %.15g", name, i, got.Care[i], want.Care[i])
		}
		if !near(got.Support[i], want.Support[i], tol) {
			t.Errorf("%s: support[%d] = %.15g, want %.15g", name, i, got.Support[i], want.Support[i])
		}
	}
}

func stepOnce(m Model, c *CSR, p Params, initial, prev State) State {
	next := NewState(c.N)
	Step(m, c, p, &initial, &prev, &next)
	return next
}

// TestStepHandComputed checks single rounds against values worked out by hand
// from the model formulas.
func TestStepHandComputed(t *testing.T) {
	// Path 0 –(0.5)– 1 –(1.0)– 2.
	var path edges
	path.add(0, 1, 0.5)
	path.add(1, 2, 1.0)
	pathState := st([]float64{2, 4, 8}, []float64{-3, 0, 4})

	// Star 0 – {1, 2}, unit weights.
	var star edges
	star.add(0, 1, 1)
	star.add(0, 2, 1)

	// Pair 0 – 1, unit weight.
	var pair edges
	pair.add(0, 1, 1)

	p := Params{SelfWeight: 0.5, Epsilon: 1}
	tests := []struct {
		name     string
		model    Model
		n        int // 3 when 0
		g        edges
		directed bool
		infl     []float64
		p        Params
		initial  State
		prev     State // defaults to initial
		want     State
	}{
		{
			name: "DeGroot path", model: DeGroot, g: path, p: p, initial: pathState,
			want: st(
				[]float64{
					(0.5*2 + 0.5*4) / (0.5 + 0.5),             // 3
					(0.5*4 + 0.5*2 + 1.0*8) / (0.5 + 0.5 + 1), // 5.5
					(0.5*8 + 1.0*4) / (0.5 + 1),               // 5.333…
				},
				[]float64{
					(0.5*-3 + 0.5*0) / (0.5 + 0.5),             // -1.5
					(0.5*0 + 0.5*-3 + 1.0*4) / (0.5 + 0.5 + 1), // 1.25
					(0.5*4 + 1.0*0) / (0.5 + 1),                // 1.333…
				}),
		},
		{
			// w_ij = similarity × influencibility_i: row 1 is scaled by 0.5.
			name: "DeGroot path with influencibility", model: DeGroot, g: path, p: p, initial: pathState,
			infl: []float64{1, 0.5, 0.25},
			want: st(
				[]float64{
					(0.5*2 + 0.5*4) / (0.5 + 0.5),
					(0.5*4 + 0.25*2 + 0.5*8) / (0.5 + 0.25 + 0.5),
					(0.5*8 + 0.25*4) / (0.5 + 0.25),
				},
				[]float64{
					(0.5*-3 + 0.5*0) / (0.5 + 0.5),
					(0.5*0 + 0.25*-3 + 0.5*4) / (0.5 + 0.25 + 0.5),
					(0.5*4 + 0.25*0) / (0.5 + 0.25),
				}),
		},
		{
			// Directed 0→1, 1→2: 1 listens to 0, 2 listens to 1, 0 to nobody.
			name: "DeGroot directed path", model: DeGroot, g: path, directed: true, p: p, initial: pathState,
			want: st(
				[]float64{2, (0.5*4 + 0.5*2) / (0.5 + 0.5), (0.5*8 + 1.0*4) / (0.5 + 1)},
				[]float64{-3, (0.5*0 + 0.5*-3) / (0.5 + 0.5), (0.5*4 + 1.0*0) / (0.5 + 1)}),
		},
		{
			name: "DeGroot self-weight 0", model: DeGroot, g: path, p: Params{}, initial: pathState,
			want: st(
				[]float64{4, (0.5*2 + 1.0*8) / 1.5, 4},
				[]float64{0, (0.5*-3 + 1.0*4) / 1.5, 0}),
		},
		{
			name: "DeGroot clamps out-of-range input", model: DeGroot, n: 2, g: pair, p: p,
			initial: st([]float64{12, 11}, []float64{-9, -7}),
			want:    st([]float64{10, 10}, []float64{-5, -5}),
		},
		{
			// g = influencibility = (0.5, 1); row 0 weights 0.5, row 1 weights 1.
			name: "FJ anchors from influencibility", model: FriedkinJohnsen, n: 2, g: pair, p: p,
			infl:    []float64{0.5, 1},
			initial: st([]float64{2, 8}, []float64{-4, 2}),
			want: st(
				[]float64{
					(1-0.5)*2 + 0.5*((0.5*2+0.5*8)/(0.5+0.5)), // 3.5
					(1-1.0)*8 + 1.0*((0.5*8+1.0*2)/(0.5+1)),   // 4
				},
				[]float64{
					(1-0.5)*-4 + 0.5*((0.5*-4+0.5*2)/(0.5+0.5)),
					(1-1.0)*2 + 1.0*((0.5*2+1.0*-4)/(0.5+1)),
				}),
		},
		{
			// The anchor is x(0), not the previous round.
			name: "FJ anchor is the initial state", model: FriedkinJohnsen, n: 2, g: pair, p: p,
			infl:    []float64{0.5, 1},
			initial: st([]float64{2, 8}, []float64{-4, 2}),
			prev:    st([]float64{4, 4}, []float64{0, 1}),
			want: st(
				[]float64{
					(1-0.5)*2 + 0.5*((0.5*4+0.5*4)/(0.5+0.5)), // 3
					(1-1.0)*8 + 1.0*((0.5*4+1.0*4)/(0.5+1)),   // 4
				},
				[]float64{
					(1-0.5)*-4 + 0.5*((0.5*0+0.5*1)/(0.5+0.5)),
					(1-1.0)*2 + 1.0*((0.5*1+1.0*0)/(0.5+1)),
				}),
		},
		{
			// Stubbornness (0.75, 0.25) overrides: g = (0.25, 0.75).
			name: "FJ with stubbornness", model: FriedkinJohnsen, n: 2, g: pair,
			p:       Params{SelfWeight: 0.5, Stubbornness: []float64{0.75, 0.25}},
			infl:    []float64{0.5, 1},
			initial: st([]float64{2, 8}, []float64{-4, 2}),
			want: st(
				[]float64{
					0.75*2 + 0.25*((0.5*2+0.5*8)/(0.5+0.5)), // 2.75
					0.25*8 + 0.75*((0.5*8+1.0*2)/(0.5+1)),   // 5
				},
				[]float64{
					0.75*-4 + 0.25*((0.5*-4+0.5*2)/(0.5+0.5)),
					0.25*2 + 0.75*((0.5*2+1.0*-4)/(0.5+1)),
				}),
		},
		{
			// Support: agent 2 (3.0) is outside ε = 1 of agent 0 (0.0) and is
			// ignored by it, and agent 2 ignores 0. Care: bound also 1, so
			// agent 2 (care 7, 2 away) is ignored, agent 1 (0.5 away) counts.
			name: "HK ignores a neighbour outside epsilon", model: HegselmannKrause, g: star, p: p,
			initial: st([]float64{5, 5.5, 7}, []float64{0, 0.8, 3}),
			want: st(
				[]float64{(0.5*5 + 1*5.5) / (0.5 + 1), (0.5*5.5 + 1*5) / (0.5 + 1), 7},
				[]float64{(0.5*0 + 1*0.8) / (0.5 + 1), (0.5*0.8 + 1*0) / (0.5 + 1), 3}),
		},
		{
			// |x_j − x_i| = ε exactly counts (inclusive bound).
			name: "HK bound is inclusive", model: HegselmannKrause, n: 2, g: pair, p: Params{SelfWeight: 0.5, Epsilon: 1},
			initial: st([]float64{3, 4}, []float64{-1, 0}),
			want: st(
				[]float64{(0.5*3 + 1*4) / 1.5, (0.5*4 + 1*3) / 1.5},
				[]float64{(0.5*-1 + 1*0) / 1.5, (0.5*0 + 1*-1) / 1.5}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.n
			if n == 0 {
				n = 3
			}
			c := BuildCSR(n, tt.g.src, tt.g.dst, tt.g.w, tt.directed, tt.infl, 0)
			prev := tt.prev
			if prev.Care == nil {
				prev = tt.initial
			}
			got := stepOnce(tt.model, c, tt.p, tt.initial, prev)
			checkState(t, tt.name, got, tt.want, 1e-12)
		})
	}
}

func randomGraph(r *rand.Rand, n, m int) edges {
	var g edges
	// A ring keeps it connected.
	for i := 0; i < n; i++ {
		g.add(int32(i), int32((i+1)%n), 0.1+r.Float64())
	}
	for k := 0; k < m; k++ {
		g.add(int32(r.IntN(n)), int32(r.IntN(n)), 0.1+r.Float64())
	}
	return g
}

func randomState(r *rand.Rand, n int) State {
	s := NewState(n)
	for i := range n {
		s.Care[i] = 10 * r.Float64()
		s.Support[i] = 10*r.Float64() - 5
	}
	return s
}

func randomInfl(r *rand.Rand, n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*r.Float64()
	}
	return v
}

var models = []Model{DeGroot, FriedkinJohnsen, HegselmannKrause}

// denseStep is an independent reference implementation on a dense weight
// matrix built straight from the edge list.
func denseStep(m Model, n int, g edges, directed bool, infl []float64, p Params, initial, prev State) State {
	sim := make([][]float64, n)
	for i := range sim {
		sim[i] = make([]float64, n)
	}
	for e := range g.src {
		s, d := int(g.src[e]), int(g.dst[e])
		if s == d {
			continue
		}
		sim[d][s] += g.w[e]
		if !directed {
			sim[s][d] += g.w[e]
		}
	}
	next := NewState(n)
	for dim := 0; dim < 2; dim++ {
		x, x0, out := prev.Care, initial.Care, next.Care
		eps, lo, hi := p.Epsilon, 0.0, 10.0
		if dim == 1 {
			x, x0, out = prev.Support, initial.Support, next.Support
			lo, hi = -5, 5
		}
		for i := 0; i < n; i++ {
			num, den := p.SelfWeight*x[i], p.SelfWeight
			counted := false
			for j := 0; j < n; j++ {
				w := sim[i][j]
				if infl != nil {
					w *= infl[i]
				}
				if w <= 0 || (m == HegselmannKrause && math.Abs(x[j]-x[i]) > eps) {
					continue
				}
				num += w * x[j]
				den += w
				counted = true
			}
			v := x[i]
			if counted {
				v = num / den
			}
			if m == FriedkinJohnsen {
				g := 1.0
				if p.Stubbornness != nil {
					g = 1 - p.Stubbornness[i]
				} else if infl != nil {
					g = infl[i]
				}
				v = (1-g)*x0[i] + g*v
			}
			out[i] = min(max(v, lo), hi)
		}
	}
	return next
}

func TestStepMatchesDenseReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 40
	for _, directed := range []bool{false, true} {
		g := randomGraph(r, n, 120)
		g.add(3, 3, 1)   // self-loop: ignored
		g.add(5, 6, 0.7) // possibly a duplicate: summed
		g.add(5, 6, 0.2)
		infl := randomInfl(r, n, 0.2, 0.9)
		initial := randomState(r, n)
		prev := randomState(r, n)
		stub := randomInfl(r, n, 0, 1)
		for _, m := range models {
			for _, p := range []Params{
				{SelfWeight: 0.5, Epsilon: 1},
				{SelfWeight: 0.2, Epsilon: 3, Stubbornness: stub},
			} {
				c := BuildCSR(n, g.src, g.dst, g.w, directed, infl, 0)
				got := stepOnce(m, c, p, initial, prev)
				want := denseStep(m, n, g, directed, infl, p, initial, prev)
				checkState(t, m.String(), got, want, 1e-12)
			}
		}
	}
}

func TestConstantStateIsFixedPoint(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 30
	g := randomGraph(r, n, 60)
	c := BuildCSR(n, g.src, g.dst, g.w, false, randomInfl(r, n, 0.3, 0.8), 0)
	s := NewState(n)
	for i := range n {
		s.Care[i], s.Support[i] = 3.7, -1.2
	}
	for _, m := range models {
		t.Run(m.String(), func(t *testing.T) {
			got, err := Run(context.Background(), m, c, DefaultParams(), s, 20, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkState(t, m.String(), got, s, 1e-12)
		})
	}
}

func TestDeGrootReachesConsensus(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 25
	g := randomGraph(r, n, 40)
	c := BuildCSR(n, g.src, g.dst, g.w, false, randomInfl(r, n, 0.3, 0.8), 0)
	got, err := Run(context.Background(), DeGroot, c, DefaultParams(), randomState(r, n), 3000, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range [][]float64{got.Care, got.Support} {
		if spread := slices.Max(x) - slices.Min(x); spread > 1e-6 {
			t.Errorf("spread after 3000 rounds = %g, want ≤ 1e-6 (values %v)", spread, x)
		}
	}
}

// TestFriedkinJohnsenClosedForm compares the iteration with
// x* = (I − G·W̃)⁻¹ (I − G) x(0), W̃ the row-stochastic matrix with
// W̃_ii = s/(s+Σ_j w_ij), W̃_ij = w_ij/(s+Σ_j w_ij), built from the edge list.
func TestFriedkinJohnsenClosedForm(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n = 8
	g := randomGraph(r, n, 10)
	infl := randomInfl(r, n, 0.2, 0.9)
	x0 := randomState(r, n)
	stub := randomInfl(r, n, 0.05, 1)
	for _, tt := range []struct {
		name     string
		directed bool
		p        Params
	}{
		{"undirected, g = influencibility", false, Params{SelfWeight: 0.5}},
		{"directed, g = influencibility", true, Params{SelfWeight: 0.5}},
		{"undirected, g = 1 − stubbornness", false, Params{SelfWeight: 0.3, Stubbornness: stub}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.p.SelfWeight
			wt := mat.NewDense(n, n, nil)
			for e := range g.src {
				a, b := int(g.src[e]), int(g.dst[e])
				if a == b {
					continue
				}
				wt.Set(b, a, wt.At(b, a)+g.w[e]*infl[b])
				if !tt.directed {
					wt.Set(a, b, wt.At(a, b)+g.w[e]*infl[a])
				}
			}
			for i := 0; i < n; i++ {
				row := mat.Row(nil, i, wt)
				var sum float64
				for _, v := range row {
					sum += v
				}
				for j := range row {
					row[j] /= s + sum
				}
				row[i] = s / (s + sum)
				wt.SetRow(i, row)
			}
			gd := make([]float64, n)
			for i := range gd {
				gd[i] = infl[i]
				if tt.p.Stubbornness != nil {
					gd[i] = 1 - tt.p.Stubbornness[i]
				}
			}
			G := mat.NewDiagDense(n, gd)
			var A mat.Dense // I − G·W̃
			A.Mul(G, wt)
			A.Scale(-1, &A)
			for i := 0; i < n; i++ {
				A.Set(i, i, A.At(i, i)+1)
			}
			c := BuildCSR(n, g.src, g.dst, g.w, tt.directed, infl, 0)
			got, err := Run(context.Background(), FriedkinJohnsen, c, tt.p, x0, 400, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, dim := range []struct {
				x0, got []float64
			}{{x0.Care, got.Care}, {x0.Support, got.Support}} {
				rhs := mat.NewVecDense(n, nil)
				for i := 0; i < n; i++ {
					rhs.SetVec(i, (1-gd[i])*dim.x0[i])
				}
				var want mat.VecDense
				if err := want.SolveVec(&A, rhs); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < n; i++ {
					if !near(dim.got[i], want.AtVec(i), 1e-9) {
						t.Errorf("x*[%d] = %.12g, closed form %.12g", i, dim.got[i], want.AtVec(i))
					}
				}
			}
		})
	}
}

func TestHegselmannKrauseEpsilonZeroKeepsEveryoneFixed(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const n = 30
	g := randomGraph(r, n, 80)
	c := BuildCSR(n, g.src, g.dst, g.w, false, nil, 0)
	x0 := randomState(r, n) // pairwise distinct
	got, err := Run(context.Background(), HegselmannKrause, c, Params{SelfWeight: 0.5, Epsilon: 0}, x0, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, "ε = 0", got, x0, 0)
	// And with ε = +Inf it is DeGroot.
	hk, _ := Run(context.Background(), HegselmannKrause, c, Params{SelfWeight: 0.5, Epsilon: math.Inf(1)}, x0, 5, nil)
	dg, _ := Run(context.Background(), DeGroot, c, Params{SelfWeight: 0.5}, x0, 5, nil)
	checkState(t, "ε = +Inf", hk, dg, 1e-12)
}

func TestPermutationEquivariance(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const n = 50
	g := randomGraph(r, n, 150)
	infl := randomInfl(r, n, 0.2, 0.9)
	x0 := randomState(r, n)
	perm := r.Perm(n) // agent i becomes perm[i]

	var pg edges
	for e := range g.src {
		pg.add(int32(perm[g.src[e]]), int32(perm[g.dst[e]]), g.w[e])
	}
	pinfl := make([]float64, n)
	px0 := NewState(n)
	for i := range n {
		pinfl[perm[i]] = infl[i]
		px0.Care[perm[i]], px0.Support[perm[i]] = x0.Care[i], x0.Support[i]
	}
	for _, directed := range []bool{false, true} {
		for _, limit := range []int{0, 3} {
			c := BuildCSR(n, g.src, g.dst, g.w, directed, infl, limit)
			pc := BuildCSR(n, pg.src, pg.dst, pg.w, directed, pinfl, limit)
			for _, m := range models {
				p := Params{SelfWeight: 0.5, Epsilon: 1.5}
				a, err := Run(context.Background(), m, c, p, x0, 6, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, err := Run(context.Background(), m, pc, p, px0, 6, nil)
				if err != nil {
					t.Fatal(err)
				}
				want := NewState(n)
				for i := range n {
					want.Care[perm[i]], want.Support[perm[i]] = a.Care[i], a.Support[i]
				}
				checkState(t, m.String(), b, want, 1e-12)
			}
		}
	}
}

func TestWorkerCountIsBitIdentical(t *testing.T) {
	old := parallelMinCost
	parallelMinCost = 0 // force the parallel path on a small graph
	defer func() { parallelMinCost = old }()

	r := rand.New(rand.NewPCG(13, 14))
	const n = 3000
	g := randomGraph(r, n, 12000)
	c := BuildCSR(n, g.src, g.dst, g.w, false, randomInfl(r, n, 0.2, 0.9), 0)
	x0 := randomState(r, n)
	for _, m := range models {
		var results []State
		for _, workers := range []int{1, 4, 3} {
			p := Params{SelfWeight: 0.5, Epsilon: 1, Workers: workers}
			s, err := Run(context.Background(), m, c, p, x0, 5, nil)
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, s)
		}
		for k := 1; k < len(results); k++ {
			for i := range n {
				if math.Float64bits(results[k].Care[i]) != math.Float64bits(results[0].Care[i]) ||
					math.Float64bits(results[k].Support[i]) != math.Float64bits(results[0].Support[i]) {
					t.Fatalf("%v: agent %d differs between worker counts", m, i)
				}
			}
		}
		// The run must actually have moved opinions.
		if slices.Equal(results[0].Care, x0.Care) {
			t.Fatalf("%v: state did not change", m)
		}
	}
}

func TestBuildCSRParallelMatchesSerial(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	const n = 2000
	g := randomGraph(r, n, 20000)
	// A hub with a long row exercises the buffered sort.
	for k := 0; k < 300; k++ {
		g.add(int32(r.IntN(n)), 7, r.Float64())
	}
	serial := func() *CSR {
		old := parallelMinCost
		parallelMinCost = math.MaxInt64
		defer func() { parallelMinCost = old }()
		return BuildCSR(n, g.src, g.dst, g.w, false, nil, 5)
	}()
	old := parallelMinCost
	parallelMinCost = 0
	par := BuildCSR(n, g.src, g.dst, g.w, false, nil, 5)
	parallelMinCost = old
	if !slices.Equal(serial.RowPtr, par.RowPtr) || !slices.Equal(serial.Col, par.Col) || !slices.Equal(serial.W, par.W) {
		t.Fatal("parallel BuildCSR differs from serial")
	}
	checkCSRInvariants(t, par)
}

func checkCSRInvariants(t *testing.T, c *CSR) {
	t.Helper()
	if len(c.RowPtr) != c.N+1 || c.RowPtr[0] != 0 || c.RowPtr[c.N] != int64(len(c.Col)) || len(c.W) != len(c.Col) {
		t.Fatalf("bad CSR shape: N=%d len(RowPtr)=%d nnz=%d/%d", c.N, len(c.RowPtr), len(c.Col), len(c.W))
	}
	for i := 0; i < c.N; i++ {
		cols, ws := c.Row(i)
		for k := range cols {
			if int(cols[k]) == i || !(ws[k] > 0) || (k > 0 && cols[k-1] >= cols[k]) {
				t.Fatalf("row %d not normalized: %v %v", i, cols, ws)
			}
		}
	}
}

func TestBuildCSR(t *testing.T) {
	// Row 0 is influenced by 1..5 with similarities 0.3, 0.9, 0.5, 0.9, 0.1
	// (directed edges j→0), plus edge noise that must be dropped or merged.
	var g edges
	for j, w := range []float64{0.3, 0.9, 0.5, 0.9, 0.1} {
		g.add(int32(j+1), 0, w)
	}
	g.add(0, 0, 5)           // self-loop
	g.add(6, 0, -1)          // negative similarity
	g.add(6, 0, 0)           // zero similarity
	g.add(6, 0, math.NaN())  // not a number
	g.add(5, 0, 0.05)        // duplicate of 5→0: 0.1 + 0.05
	g.add(0, 1, 2)           // row 1
	g.add(6, 1, math.Inf(1)) // infinite
	tests := []struct {
		name     string
		limit    int
		infl     []float64
		directed bool
		row      int
		wantCols []int32
		wantW    []float64
	}{
		{"all", 0, nil, true, 0, []int32{1, 2, 3, 4, 5}, []float64{0.3, 0.9, 0.5, 0.9, 0.1 + 0.05}},
		{"top 3", 3, nil, true, 0, []int32{2, 3, 4}, []float64{0.9, 0.5, 0.9}},
		{"top 2 keeps both tied", 2, nil, true, 0, []int32{2, 4}, []float64{0.9, 0.9}},
		{"top 1 tie broken by column", 1, nil, true, 0, []int32{2}, []float64{0.9}},
		{"limit above degree", 10, nil, true, 0, []int32{1, 2, 3, 4, 5}, []float64{0.3, 0.9, 0.5, 0.9, 0.15}},
		{"influencibility scales the row", 0, []float64{0.5, 1, 1, 1, 1, 1, 1}, true, 0, []int32{1, 2, 3, 4, 5}, []float64{0.15, 0.45, 0.25, 0.45, 0.075}},
		{"zero influencibility empties the row", 0, []float64{0, 1, 1, 1, 1, 1, 1}, true, 0, []int32{}, []float64{}},
		{"undirected zero influencibility empties its own row", 0, []float64{0, 1, 1, 1, 1, 1, 1}, false, 0, []int32{}, []float64{}},
		{"undirected zero influencibility keeps the other direction", 0, []float64{0, 1, 1, 1, 1, 1, 1}, false, 1, []int32{0}, []float64{0.3 + 2}},
		{"undirected row 3 hears 0", 0, []float64{0, 1, 1, 0.5, 1, 1, 1}, false, 3, []int32{0}, []float64{0.25}},
		{"directed row 1 listens to 0 only", 0, nil, true, 1, []int32{0}, []float64{2}},
		{"undirected row 1 also gets 0's in-edge", 0, nil, false, 1, []int32{0}, []float64{0.3 + 2}},
		{"undirected row 6 gets nothing invalid", 0, nil, false, 6, []int32{}, []float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := BuildCSR(7, g.src, g.dst, g.w, tt.directed, tt.infl, tt.limit)
			checkCSRInvariants(t, c)
			cols, ws := c.Row(tt.row)
			if !slices.Equal(cols, tt.wantCols) {
				t.Fatalf("row %d cols = %v, want %v", tt.row, cols, tt.wantCols)
			}
			for k := range ws {
				if !near(ws[k], tt.wantW[k], 1e-15) {
					t.Errorf("row %d weights = %v, want %v", tt.row, ws, tt.wantW)
					break
				}
			}
		})
	}
}

func TestBuildCSRTopKOnLongRow(t *testing.T) {
	// 100 neighbours (above the insertion-sort threshold), weights j mod 10,
	// listed in reverse: top-5 are the smallest columns with weight 9.
	var g edges
	for j := 100; j >= 1; j-- {
		g.add(int32(j), 0, float64(j%10))
	}
	c := BuildCSR(101, g.src, g.dst, g.w, true, nil, 5)
	cols, _ := c.Row(0)
	if want := []int32{9, 19, 29, 39, 49}; !slices.Equal(cols, want) {
		t.Fatalf("top-5 cols = %v, want %v", cols, want)
	}
	c = BuildCSR(101, g.src, g.dst, g.w, true, nil, 0)
	if cols, _ := c.Row(0); len(cols) != 90 || !slices.IsSorted(cols) { // weight 0 dropped
		t.Fatalf("all cols = %v", cols)
	}
}

func TestBuildCSRPanicsOnBadInput(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func()
	}{
		{"endpoint out of range", func() { BuildCSR(2, []int32{0}, []int32{2}, nil, false, nil, 0) }},
		{"negative endpoint", func() { BuildCSR(2, []int32{-1}, []int32{0}, nil, false, nil, 0) }},
		{"length mismatch", func() { BuildCSR(2, []int32{0}, []int32{}, nil, false, nil, 0) }},
		{"weight length", func() { BuildCSR(2, []int32{0}, []int32{1}, []float64{}, false, nil, 0) }},
		{"influencibility length", func() { BuildCSR(2, nil, nil, nil, false, []float64{1}, 0) }},
		{"negative influencibility", func() { BuildCSR(2, nil, nil, nil, false, []float64{1, -1}, 0) }},
		{"negative limit", func() { BuildCSR(2, nil, nil, nil, false, nil, -1) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.f()
		})
	}
}

func TestInfluencibility(t *testing.T) {
	sigmoid := func(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
	all := func(v float64) map[string]float64 {
		m := map[string]float64{"Sociability": 0.9, "Trust": 0.1} // other facets are ignored
		for _, f := range [][]string{negativeEmotionalityFacets, openMindednessFacets, conscientiousnessFacets} {
			for _, k := range f {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name   string
		traits map[string]float64
		want   float64
	}{
		{"all facets 0", all(0), sigmoid(-0.8)},
		{"all facets 1", all(1), sigmoid(1.6)},
		{"all facets 0.5", all(0.5), sigmoid(-0.8 + 1.2*0.5 + 0.6*0.5 + 0.6*0.5)},
		{"nil", nil, 1},
		{"absent", map[string]float64{"Sociability": 0.4}, 1},
		{"one domain absent", map[string]float64{"Anxiety": 0.5, "Organization": 0.5}, 1},
		{"partial domains use the mean of present facets", map[string]float64{
			"Anxiety": 1, "Depression": 0, // N = 0.5
			"Creative Imagination": 0.8,                                               // O = 0.8
			"Organization":         0.2, "Productiveness": 0.4, "Responsibility": 0.9, // C = 0.5
		}, sigmoid(-0.8 + 1.2*0.5 + 0.6*0.8 + 0.6*0.5)},
		{"out-of-range values are clamped", map[string]float64{
			"Anxiety": 3, "Intellectual Curiosity": -2, "Organization": 1,
		}, sigmoid(-0.8 + 1.2*1 + 0.6*0 + 0.6*1)},
		{"non-finite values are absent", map[string]float64{
			"Anxiety": math.NaN(), "Intellectual Curiosity": 0, "Organization": 0,
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Influencibility(tt.traits); !near(got, tt.want, 1e-15) {
				t.Errorf("Influencibility = %.15g, want %.15g", got, tt.want)
			}
		})
	}
	if lo, hi := Influencibility(all(0)), Influencibility(all(1)); !near(lo, 0.310025518872388, 1e-12) || !near(hi, 0.832018385133924, 1e-12) {
		t.Errorf("range = (%v, %v)", lo, hi)
	}
}

func TestModelNames(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Model
		ok   bool
	}{
		{"DEGROOT", DeGroot, true},
		{"FRIEDKIN_JOHNSEN", FriedkinJohnsen, true},
		{"HEGSELMANN_KRAUSE", HegselmannKrause, true},
		{" degroot ", DeGroot, true},
		{"VOTER", 0, false},
		{"", 0, false},
	} {
		got, err := ParseModel(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseModel(%q) = %v, %v", tt.in, got, err)
		}
		if err != nil && apperr.KindOf(err) != apperr.BadInput {
			t.Errorf("ParseModel(%q) error kind = %v", tt.in, apperr.KindOf(err))
		}
		if tt.ok {
			if back, _ := ParseModel(got.String()); back != got {
				t.Errorf("round trip of %v gave %v", got, back)
			}
		}
	}
	if s := Model(0).String(); s != "Model(0)" {
		t.Errorf("Model(0).String() = %q", s)
	}
}

func pathCSR() (*CSR, State) {
	var g edges
	g.add(0, 1, 0.5)
	g.add(1, 2, 1.0)
	return BuildCSR(3, g.src, g.dst, g.w, false, nil, 0), st([]float64{2, 4, 8}, []float64{-3, 0, 4})
}

func TestRunMatchesSteps(t *testing.T) {
	c, x0 := pathCSR()
	p := DefaultParams()
	var seen []State
	got, err := Run(context.Background(), FriedkinJohnsen, c, Params{SelfWeight: 0.5, Stubbornness: []float64{0.2, 0.5, 0.9}}, x0, 4,
		func(round int, s *State) error {
			if round != len(seen)+1 {
				t.Errorf("round %d after %d rounds", round, len(seen))
			}
			seen = append(seen, s.Clone())
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	p.Stubbornness = []float64{0.2, 0.5, 0.9}
	prev := x0
	for r := 0; r < 4; r++ {
		prev = stepOnce(FriedkinJohnsen, c, p, x0, prev)
		checkState(t, "round", seen[r], prev, 0)
	}
	checkState(t, "final", got, prev, 0)
	if x0.Care[0] != 2 {
		t.Error("Run modified initial")
	}
	if got, err := Run(context.Background(), DeGroot, c, p, x0, 0, nil); err != nil || !slices.Equal(got.Care, x0.Care) {
		t.Errorf("0 rounds = %v, %v", got, err)
	}
}

func TestRunStops(t *testing.T) {
	c, x0 := pathCSR()
	p := DefaultParams()
	stop := errors.New("stop")

	t.Run("onRound error", func(t *testing.T) {
		calls := 0
		got, err := Run(context.Background(), DeGroot, c, p, x0, 10, func(round int, s *State) error {
			calls++
			if round == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 2 {
			t.Fatalf("err = %v after %d calls, want stop after 2", err, calls)
		}
		want := stepOnce(DeGroot, c, p, x0, stepOnce(DeGroot, c, p, x0, x0))
		checkState(t, "state at round 2", got, want, 0)
	})
	t.Run("cancel during run", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		got, err := Run(ctx, DeGroot, c, p, x0, 10, func(round int, s *State) error {
			calls++
			if round == 3 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || calls != 3 {
			t.Fatalf("err = %v after %d calls, want context.Canceled after 3", err, calls)
		}
		want := x0
		for range 3 {
			want = stepOnce(DeGroot, c, p, x0, want)
		}
		checkState(t, "state at round 3", got, want, 0)
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		got, err := Run(ctx, DeGroot, c, p, x0, 10, func(int, *State) error {
			t.Error("onRound called")
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		checkState(t, "initial", got, x0, 0)
	})
}

func TestRunRejectsBadInput(t *testing.T) {
	c, x0 := pathCSR()
	p := DefaultParams()
	for _, tt := range []struct {
		name    string
		m       Model
		p       Params
		initial State
		rounds  int
	}{
		{"model", Model(0), p, x0, 1},
		{"rounds", DeGroot, p, x0, -1},
		{"self-weight", DeGroot, Params{SelfWeight: -1}, x0, 1},
		{"self-weight NaN", DeGroot, Params{SelfWeight: math.NaN()}, x0, 1},
		{"epsilon", HegselmannKrause, Params{SelfWeight: 0.5, Epsilon: -0.1}, x0, 1},
		{"stubbornness length", FriedkinJohnsen, Params{SelfWeight: 0.5, Stubbornness: []float64{0}}, x0, 1},
		{"stubbornness range", FriedkinJohnsen, Params{SelfWeight: 0.5, Stubbornness: []float64{0, 1.5, 0}}, x0, 1},
		{"workers", DeGroot, Params{SelfWeight: 0.5, Workers: -1}, x0, 1},
		{"state length", DeGroot, p, st([]float64{1}, []float64{1}), 1},
		{"NaN opinion", DeGroot, p, st([]float64{1, math.NaN(), 1}, []float64{0, 0, 0}), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.m, c, tt.p, tt.initial, tt.rounds, nil)
			if apperr.KindOf(err) != apperr.BadInput {
				t.Errorf("err = %v, want BadInput", err)
			}
		})
	}
}

func TestStepDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	const n = 500
	g := randomGraph(r, n, 2000)
	c := BuildCSR(n, g.src, g.dst, g.w, false, randomInfl(r, n, 0.2, 0.9), 0)
	x0 := randomState(r, n)
	next := NewState(n)
	for _, m := range models {
		p := Params{SelfWeight: 0.5, Epsilon: 1, Workers: 1}
		if a := testing.AllocsPerRun(10, func() { Step(m, c, p, &x0, &x0, &next) }); a != 0 {
			t.Errorf("%v: %v allocations per round", m, a)
		}
	}
}

func TestStepPanicsOnAliasing(t *testing.T) {
	c, x0 := pathCSR()
	other := x0.Clone()
	for _, tt := range []struct {
		name                string
		m                   Model
		initial, prev, next *State
	}{
		{"next is prev", DeGroot, &x0, &x0, &x0},
		{"FJ next is initial", FriedkinJohnsen, &x0, &other, &x0},
		{"wrong length", DeGroot, nil, &x0, &State{Care: []float64{1}, Support: []float64{1}}},
		{"invalid model", Model(9), nil, &x0, &other},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			Step(tt.m, c, DefaultParams(), tt.initial, tt.prev, tt.next)
		})
	}
}

// TestSequentialStepIsInPlace: a sequential round equals an in-place update
// in index order, worked out by hand on the path 0 –(0.5)– 1 –(1.0)– 2 with
// self weight 0.5, and differs from the synchronous round.
func TestSequentialStepIsInPlace(t *testing.T) {
	var path edges
	path.add(0, 1, 0.5)
	path.add(1, 2, 1.0)
	c := BuildCSR(3, path.src, path.dst, path.w, false, nil, 0)
	prev := st([]float64{2, 4, 8}, []float64{-3, 0, 4})
	p := Params{SelfWeight: 0.5, Sequential: true}
	// Agent 0: (0.5·2 + 0.5·4)/1 = 3, support (0.5·-3 + 0.5·0)/1 = -1.5.
	// Agent 1 reads agent 0's new values: (0.5·4 + 0.5·3 + 1·8)/2 = 5.75,
	// support (0 + 0.5·-1.5 + 1·4)/2 = 1.625.
	// Agent 2 reads agent 1's new values: (0.5·8 + 1·5.75)/1.5 = 6.5,
	// support (0.5·4 + 1·1.625)/1.5 = 2.41666….
	want := st([]float64{3, 5.75, 6.5}, []float64{-1.5, 1.625, 3.625 / 1.5})
	checkState(t, "DeGroot sequential", stepOnce(DeGroot, c, p, prev, prev), want, 1e-12)
	sync := stepOnce(DeGroot, c, Params{SelfWeight: 0.5}, prev, prev)
	if sync.Care[1] == want.Care[1] {
		t.Error("the synchronous round gave the sequential one")
	}
	// Run applies it every round, and the worker count does not matter.
	p.Workers = 4
	got, err := Run(context.Background(), DeGroot, c, p, prev, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, "Run sequential", got, want, 1e-12)
}
