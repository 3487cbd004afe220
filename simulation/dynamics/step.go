package dynamics

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// parallelMinCost is the rows+entries below which a round runs on the
// calling goroutine only. A variable so that tests can force parallelism on
// small graphs.
var parallelMinCost int64 = 1 << 15

// chunksPerWorker is how many row blocks each worker gets on average; blocks
// are handed out dynamically so that a slow core (the machine is shared) or a
// skewed degree distribution does not hold the round back.
const chunksPerWorker = 8

// Step computes one round of model m: next is computed from prev only (and,
// for Friedkin–Johnsen, from the anchor initial, which may be nil for the
// other models), or with p.Sequential from prev and the new values of the
// agents before each agent. Results are clamped to the opinion ranges. Step
// writes into next, in parallel over row blocks (p.Workers goroutines,
// 0 = GOMAXPROCS), and the result is bit-identical for every worker count.
// next must not alias prev or initial.
//
// Step allocates no state: it needs a packed copy of prev (16 bytes per
// agent) that it recycles through a sync.Pool (re-allocated only when a
// garbage collection has emptied the pool; [Run] keeps its own), and a
// parallel round allocates a few hundred bytes for its goroutines. A serial
// round (Workers = 1 or a small graph) allocates nothing.
//
// Step panics on an invalid model or mismatched lengths; it does not
// otherwise validate p (see [Params.Validate] and [Run]).
func Step(m Model, c *CSR, p Params, initial, prev, next *State) {
	buf := getPacked(c.N)
	step(m, c, p, initial, prev, next, *buf)
	packedPool.Put(buf)
}

// pair is one agent's (care, support), packed so that reading a neighbour
// costs one cache miss instead of two. The round is bound by these random
// reads; on a 1M-agent, 10M-entry random graph packing saves 10–20% even
// though the copy is paid every round.
type pair [2]float64

// packedPool recycles the packed copies of the previous state that Step
// needs, so that repeated Steps do not allocate. Run keeps its own.
var packedPool sync.Pool

func getPacked(n int) *[]pair {
	if b, ok := packedPool.Get().(*[]pair); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]pair, n)
	return &b
}

// step is Step with the scratch buffer packed (length N) supplied.
func step(m Model, c *CSR, p Params, initial, prev, next *State, packed []pair) {
	n := c.N
	checkState := func(name string, s *State) {
		if s == nil || len(s.Care) != n || len(s.Support) != n {
			panic(fmt.Sprintf("dynamics: Step: %s state does not have %d agents", name, n))
		}
	}
	checkState("previous", prev)
	checkState("next", next)
	if n > 0 && (&next.Care[0] == &prev.Care[0] || &next.Support[0] == &prev.Support[0]) {
		panic("dynamics: Step: next aliases prev")
	}
	k := kernel{
		rowPtr: c.RowPtr, col: c.Col, w: c.W,
		s:  p.SelfWeight,
		pc: prev.Care, ps: prev.Support,
		nc: next.Care, ns: next.Support,
		x: packed[:n],
	}
	k.model = m
	switch m {
	case DeGroot:
	case FriedkinJohnsen:
		checkState("initial", initial)
		if n > 0 && (&next.Care[0] == &initial.Care[0] || &next.Support[0] == &initial.Support[0]) {
			panic("dynamics: Step: next aliases initial")
		}
		if p.Stubbornness != nil && len(p.Stubbornness) != n {
			panic(fmt.Sprintf("dynamics: Step: %d stubbornness values for %d agents", len(p.Stubbornness), n))
		}
		if c.Influencibility != nil && len(c.Influencibility) != n {
			panic(fmt.Sprintf("dynamics: Step: %d influencibility values for %d agents", len(c.Influencibility), n))
		}
		k.ac, k.as = initial.Care, initial.Support
		k.stubborn, k.infl = p.Stubbornness, c.Influencibility
	case HegselmannKrause:
		k.epsSupport = p.Epsilon
		k.epsCare = p.Epsilon * careEpsilonScale
	default:
		panic(fmt.Sprintf("dynamics: Step: invalid model %v", m))
	}
	if p.Sequential {
		// In place in index order: each new value goes into the packed
		// copy the later rows read.
		k.pack(0, n, 0)
		for i := 0; i < n; i++ {
			k.rows(i, i+1, 0)
			k.x[i] = pair{k.nc[i], k.ns[i]}
		}
		return
	}
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if serialRound(c.RowPtr, n, workers) {
		// k stays on the stack: a serial round allocates nothing.
		k.pack(0, n, 0)
		k.rows(0, n, 0)
		return
	}
	kp := new(kernel)
	*kp = k
	parallelRows(c.RowPtr, n, workers, kp.pack)
	parallelRows(c.RowPtr, n, workers, kp.rows)
}

// serialRound reports whether parallelRows would run on the caller only.
func serialRound(rowPtr []int64, n, workers int) bool {
	return workers <= 1 || n <= 1 || int64(n)+rowPtr[n] < parallelMinCost
}

// parallelRows calls fn on disjoint row ranges [lo, hi) that cover [0, n),
// cut so that every range has about the same cost (rows + entries), from up
// to workers goroutines (the caller's included); worker identifies the
// goroutine, in [0, workers).
func parallelRows(rowPtr []int64, n, workers int, fn func(lo, hi, worker int)) {
	cost := int64(n) + rowPtr[n]
	if serialRound(rowPtr, n, workers) {
		fn(0, n, 0)
		return
	}
	chunks := int64(workers) * chunksPerWorker
	if chunks > int64(n) {
		chunks = int64(n)
	}
	if int64(workers) > chunks {
		workers = int(chunks)
	}
	// rowAt returns the first row r with rowPtr[r]+r ≥ target (strictly
	// increasing in r, rowAt(0) = 0 and rowAt(cost) = n).
	rowAt := func(target int64) int {
		return sort.Search(n, func(r int) bool { return rowPtr[r]+int64(r) >= target })
	}
	var nextChunk atomic.Int64
	work := func(worker int) {
		for {
			ch := nextChunk.Add(1) - 1
			if ch >= chunks {
				return
			}
			lo, hi := rowAt(ch*cost/chunks), rowAt((ch+1)*cost/chunks)
			if lo < hi {
				fn(lo, hi, worker)
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		go func() {
			defer wg.Done()
			work(w)
		}()
	}
	work(0)
	wg.Wait()
}

// kernel holds the slices of one round.
type kernel struct {
	model  Model
	rowPtr []int64
	col    []int32
	w      []float64
	s      float64

	pc, ps []float64 // previous care, support
	x      []pair    // previous (care, support), packed
	nc, ns []float64 // next care, support

	// Friedkin–Johnsen.
	ac, as   []float64 // anchors x(0)
	stubborn []float64 // nil: susceptibility from infl
	infl     []float64 // nil: 1

	// Hegselmann–Krause.
	epsCare, epsSupport float64
}

// pack copies the previous state of agents [lo, hi) into x.
func (k *kernel) pack(lo, hi, _ int) {
	x, pc, ps := k.x[lo:hi], k.pc[lo:hi], k.ps[lo:hi]
	for i := range x {
		x[i] = pair{pc[i], ps[i]}
	}
}

// rows updates rows [lo, hi).
func (k *kernel) rows(lo, hi, _ int) {
	switch k.model {
	case DeGroot:
		k.deGroot(lo, hi)
	case FriedkinJohnsen:
		k.friedkinJohnsen(lo, hi)
	case HegselmannKrause:
		k.hegselmannKrause(lo, hi)
	}
}

func clampCare(x float64) float64 { return min(max(x, CareMin), CareMax) }

func clampSupport(x float64) float64 { return min(max(x, SupportMin), SupportMax) }

// average returns the self-weighted neighbourhood averages A_i of row i for
// care and support (the previous values when the row is empty).
func (k *kernel) average(i int) (float64, float64) {
	a, b := k.rowPtr[i], k.rowPtr[i+1]
	cols := k.col[a:b]
	ws := k.w[a:b]
	ws = ws[:len(cols)]
	x := k.x
	var sw, sc, ss float64
	for e, j := range cols {
		w, xj := ws[e], x[j]
		sw += w
		sc += w * xj[0]
		ss += w * xj[1]
	}
	ci, si := k.pc[i], k.ps[i]
	if sw > 0 {
		d := k.s + sw
		c, s := (k.s*ci+sc)/d, (k.s*si+ss)/d
		if !usableMean(sw, d, c, s) {
			inf := math.Inf(1)
			return scaledMean(k.s, ci, cols, ws, x, 0, inf), scaledMean(k.s, si, cols, ws, x, 1, inf)
		}
		ci, si = c, s
	}
	return ci, si
}

// minFastWeight is the total neighbour weight below which the plain sums
// may have lost their precision to underflow (subnormal products).
const minFastWeight = 0x1p-900

// usableMean reports whether the plain weighted sums gave a trustworthy
// mean: no sum overflowed (which turns the mean into ±Inf or NaN, and NaN
// passes every clamp) and the weights are not so small that their products
// underflowed. Weights are finite and > 0 and opinions bounded, so this is
// false only for weights near the ends of the float64 range.
func usableMean(sw, d, c, s float64) bool {
	return sw >= minFastWeight && d <= math.MaxFloat64 && math.Abs(c) <= math.MaxFloat64 && math.Abs(s) <= math.MaxFloat64
}

// scaledMean computes (s·xi + Σ w_j·x_j) / (s + Σ w_j) over dimension dim
// of the neighbours within eps of xi, with every weight divided by the
// largest one first: each term is then at most one opinion, so no sum can
// overflow, and the largest weights keep their full precision. It is the
// slow path of [kernel.average] and [kernel.hegselmannKrause], taken only
// when the plain sums are not usable.
func scaledMean(s, xi float64, cols []int32, ws []float64, x []pair, dim int, eps float64) float64 {
	m := s
	for e, j := range cols {
		if math.Abs(x[j][dim]-xi) <= eps {
			m = max(m, ws[e])
		}
	}
	if !(m > 0) {
		return xi
	}
	num, den := s/m*xi, s/m
	for e, j := range cols {
		if xj := x[j][dim]; math.Abs(xj-xi) <= eps {
			w := ws[e] / m
			num += w * xj
			den += w
		}
	}
	if !(den > 0) {
		return xi
	}
	return num / den
}

func (k *kernel) deGroot(lo, hi int) {
	nc, ns := k.nc[lo:hi], k.ns[lo:hi]
	for i := lo; i < hi; i++ {
		c, s := k.average(i)
		nc[i-lo] = clampCare(c)
		ns[i-lo] = clampSupport(s)
	}
}

func (k *kernel) friedkinJohnsen(lo, hi int) {
	nc, ns := k.nc[lo:hi], k.ns[lo:hi]
	for i := lo; i < hi; i++ {
		g := 1.0
		if k.stubborn != nil {
			g = 1 - k.stubborn[i]
		} else if k.infl != nil {
			// BuildCSR takes any finite influencibility ≥ 0, but a
			// susceptibility above 1 would extrapolate past the
			// neighbours (and overflow for huge values).
			g = min(k.infl[i], 1)
		}
		c, s := k.average(i)
		nc[i-lo] = clampCare((1-g)*k.ac[i] + g*c)
		ns[i-lo] = clampSupport((1-g)*k.as[i] + g*s)
	}
}

func (k *kernel) hegselmannKrause(lo, hi int) {
	pc, ps, x := k.pc, k.ps, k.x
	ec, es := k.epsCare, k.epsSupport
	for i := lo; i < hi; i++ {
		a, b := k.rowPtr[i], k.rowPtr[i+1]
		cols := k.col[a:b]
		ws := k.w[a:b]
		ws = ws[:len(cols)]
		ci, si := pc[i], ps[i]
		var wc, sc, wsup, ss float64
		for e, j := range cols {
			w, xj := ws[e], x[j]
			if cj := xj[0]; math.Abs(cj-ci) <= ec {
				wc += w
				sc += w * cj
			}
			if sj := xj[1]; math.Abs(sj-si) <= es {
				wsup += w
				ss += w * sj
			}
		}
		nci, nsi := ci, si
		if wc > 0 {
			d := k.s + wc
			if nci = (k.s*ci + sc) / d; !usableMean(wc, d, nci, 0) {
				nci = scaledMean(k.s, ci, cols, ws, x, 0, ec)
			}
		}
		if wsup > 0 {
			d := k.s + wsup
			if nsi = (k.s*si + ss) / d; !usableMean(wsup, d, nsi, 0) {
				nsi = scaledMean(k.s, si, cols, ws, x, 1, es)
			}
		}
		k.nc[i] = clampCare(nci)
		k.ns[i] = clampSupport(nsi)
	}
}
