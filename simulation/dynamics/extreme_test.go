package dynamics

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
)

const (
	huge    = 1.7e308 // two of them overflow a sum (issue 11)
	tiniest = 4.9e-324
)

// inRange fails the test unless every opinion is finite and in range.
func inRange(t *testing.T, name string, s State) {
	t.Helper()
	for i := range s.Care {
		if c := s.Care[i]; !(c >= CareMin && c <= CareMax) {
			t.Fatalf("%s: care[%d] = %v, outside [%v, %v]", name, i, c, CareMin, CareMax)
		}
		if x := s.Support[i]; !(x >= SupportMin && x <= SupportMax) {
			t.Fatalf("%s: support[%d] = %v, outside [%v, %v]", name, i, x, SupportMin, SupportMax)
		}
	}
}

// Every classical engine stays finite and in range, and correct, with
// extreme valid weights, self-weights and influencibilities: a weighted mean
// does not change when every weight is scaled, so each case is compared with
// the same network at ordinary scale.
func TestExtremeWeightsStayFinite(t *testing.T) {
	// A star centred on 0 plus a leaf pair, opinions at the ends of the scales.
	initial := st([]float64{10, 0, 10, 0, 5}, []float64{-5, 5, 5, -5, 0})
	star := func(w ...float64) edges {
		var g edges
		for j, x := range w {
			g.add(0, int32(j+1), x)
		}
		return g
	}
	tests := []struct {
		name        string
		g           edges
		infl        []float64
		self        float64
		ref         edges // the same network at ordinary scale
		refInfl     []float64
		refSelf     float64
		approximate bool // the reference differs by a negligible self-weight
		noRef       bool // no ordinary-scale twin: only finite and in range
	}{
		{name: "two edges of 1.7e308 (issue 11)", g: star(huge, huge), self: 0.5, ref: star(1, 1), refSelf: 0.5 / huge, approximate: true},
		{name: "max weights and self-weight", g: star(math.MaxFloat64, math.MaxFloat64, math.MaxFloat64, math.MaxFloat64), self: math.MaxFloat64,
			ref: star(1, 1, 1, 1), refSelf: 1},
		// Merged, 2 × 1.7e308 saturates at MaxFloat64 instead of becoming +Inf.
		{name: "repeated huge edges merge", g: func() edges { g := star(huge, huge); g.add(0, 1, huge); return g }(), self: 0,
			ref: star(math.MaxFloat64/huge, 1), refSelf: 0},
		{name: "huge influencibility", g: star(1e6, 1e6, 1e6), infl: []float64{1e308, 1e308, 1e308, 1e308, 1e308}, self: 0.5,
			ref: star(1, 1, 1), refSelf: 0, approximate: true},
		{name: "subnormal weights, no self-weight", g: star(tiniest, 2*tiniest, tiniest), self: 0, ref: star(1, 2, 1), refSelf: 0},
		{name: "tiny weights, tiny self-weight", g: star(1e-300, 1e-300), self: 1e-300, ref: star(1, 1), refSelf: 1},
		{name: "huge and tiny together", g: star(huge, tiniest, 1), self: 0.5, noRef: true},
		{name: "upload maximum 1e6", g: star(1e6, 1e6, 1e6, 1e6), self: 100, ref: star(1, 1, 1, 1), refSelf: 1e-4},
	}
	for _, m := range models {
		for _, tt := range tests {
			for _, directed := range []bool{false, true} {
				name := m.String() + "/" + tt.name
				if directed {
					name += "/directed"
				}
				t.Run(name, func(t *testing.T) {
					c := BuildCSR(5, tt.g.src, tt.g.dst, tt.g.w, directed, tt.infl, 0)
					for k, w := range c.W {
						if !(w > 0 && w <= math.MaxFloat64) {
							t.Fatalf("entry %d weight %v is not finite and > 0", k, w)
						}
					}
					p, rp := DefaultParams(), DefaultParams()
					p.SelfWeight, rp.SelfWeight = tt.self, tt.refSelf
					p.Epsilon, rp.Epsilon = 10, 10
					// Friedkin–Johnsen's susceptibility is capped at 1, so
					// a huge influencibility behaves as 1.
					var got, want State
					var err error
					if got, err = Run(context.Background(), m, c, p, initial, 4, func(r int, s *State) error {
						inRange(t, "round", *s)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					inRange(t, "final", got)
					if tt.noRef {
						return
					}
					ref := BuildCSR(5, tt.ref.src, tt.ref.dst, tt.ref.w, directed, tt.refInfl, 0)
					if want, err = Run(context.Background(), m, ref, rp, initial, 4, nil); err != nil {
						t.Fatal(err)
					}
					tol := 1e-12
					if tt.approximate {
						tol = 1e-9
					}
					checkState(t, "against the ordinary scale", got, want, tol)
				})
			}
		}
	}
}

// The LLM update path reads the same influence matrix (the weights its
// prompts show, strongest first) and influencibility: both stay finite for
// any finite input, including overflowing products.
func TestLLMPathWeightsStayFinite(t *testing.T) {
	var g edges
	g.add(0, 1, math.MaxFloat64)
	g.add(1, 0, math.MaxFloat64) // merged with the first: saturates, not +Inf
	g.add(0, 2, huge)
	g.add(2, 3, tiniest)
	for _, infl := range [][]float64{nil, {1e308, 1, 0.5, 1e-308}} {
		c := BuildCSR(4, g.src, g.dst, g.w, false, infl, 10)
		for i := range c.N {
			cols, ws := c.Row(i)
			for k, w := range ws {
				if !(w > 0 && w <= math.MaxFloat64) {
					t.Fatalf("infl %v: row %d, column %d: weight %v", infl, i, cols[k], w)
				}
			}
		}
		if cols, _ := c.Row(1); len(cols) != 1 {
			t.Fatalf("infl %v: the saturated tie was dropped: row 1 = %v", infl, cols)
		}
	}
	for _, v := range []float64{-math.MaxFloat64, -1, 0, 0.5, 1, 5, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN()} {
		traits := map[string]float64{}
		for _, f := range [][]string{negativeEmotionalityFacets, openMindednessFacets, conscientiousnessFacets} {
			for _, k := range f {
				traits[k] = v
			}
		}
		if x := Influencibility(traits); !(x > 0 && x <= 1) {
			t.Fatalf("Influencibility(all %v) = %v", v, x)
		}
	}
}

// FuzzStepFinite: for any finite weights ≥ 0, self-weight, influencibility,
// confidence bound and in-range opinions, every engine's round is finite and
// in range.
func FuzzStepFinite(f *testing.F) {
	le := func(xs ...float64) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		return b
	}
	f.Add(le(0.5, 1, huge, huge, 10, -5, 0, 5, 3, 1))
	f.Add(le(math.MaxFloat64, math.MaxFloat64, math.MaxFloat64, tiniest, 0, 0, 10, 5, -5, 0))
	f.Add(le(0, tiniest, tiniest, 1e-300, 1, 2, 3, 4, 5, 6))
	f.Fuzz(func(t *testing.T, data []byte) {
		var xs []float64
		for len(data) >= 8 {
			x := math.Float64frombits(binary.LittleEndian.Uint64(data))
			data = data[8:]
			if math.IsNaN(x) || math.IsInf(x, 0) {
				x = 1
			}
			xs = append(xs, x)
		}
		if len(xs) < 4 {
			return
		}
		const n = 4
		self := math.Abs(xs[0])
		var g edges
		for k, w := range xs[1:] {
			g.add(int32(k%n), int32((k+1+k/n)%n), math.Abs(w))
		}
		infl := make([]float64, n)
		s := NewState(n)
		for i := range n {
			x := xs[i%len(xs)]
			infl[i] = math.Abs(x)
			s.Care[i] = math.Mod(math.Abs(x), 10)
			s.Support[i] = math.Mod(x, 5)
		}
		for _, directed := range []bool{false, true} {
			c := BuildCSR(n, g.src, g.dst, g.w, directed, infl, 0)
			for _, m := range models {
				p := Params{SelfWeight: self, Epsilon: math.Mod(math.Abs(xs[len(xs)-1]), 11)}
				got, err := Run(context.Background(), m, c, p, s, 3, nil)
				if err != nil {
					t.Fatal(err)
				}
				inRange(t, m.String(), got)
			}
		}
	})
}
