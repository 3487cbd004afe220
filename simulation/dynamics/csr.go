package dynamics

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
)

// CSR is a compressed sparse row matrix of influence: row i lists the agents
// j that influence agent i, with weights w_ij = similarity_ij ×
// influencibility_i, in increasing column order, without duplicates, without
// the diagonal (the self-weight is a model parameter) and with every weight
// finite and > 0.
//
// RowPtr is int64 so that the entry count is not limited to 2³¹ (1M agents
// cost 8 MB of row pointers either way); Col is int32 because agent indexes
// are (N ≤ 2³¹−1), which halves the bytes per entry streamed by every round.
type CSR struct {
	// N is the number of agents (rows and columns).
	N int
	// RowPtr has N+1 entries: row i is Col[RowPtr[i]:RowPtr[i+1]].
	RowPtr []int64
	Col    []int32
	W      []float64
	// Influencibility holds influencibility_i per row as passed to BuildCSR
	// (nil means 1 for everyone). Friedkin–Johnsen uses it as susceptibility.
	Influencibility []float64
}

// NNZ returns the number of stored entries.
func (c *CSR) NNZ() int { return len(c.Col) }

// Row returns the columns and weights of row i. The slices alias c.
func (c *CSR) Row(i int) ([]int32, []float64) {
	a, b := c.RowPtr[i], c.RowPtr[i+1]
	return c.Col[a:b], c.W[a:b]
}

// BuildCSR builds the influence matrix of n agents from an edge list: edge e
// goes from src[e] to dst[e] with similarity weight[e] (weight nil means 1 for
// every edge).
//
//   - directed: edge src→dst means src influences dst (entry in row dst,
//     column src). Undirected: each edge gives both directions.
//   - influencibility: per agent, length n, finite and ≥ 0; nil means 1. The
//     entry of row i is weight × influencibility[i]. The slice is copied.
//   - Self-loops are ignored; entries whose weight is not finite and > 0
//     (including negative similarities, and rows of agents with
//     influencibility 0) are dropped; repeated (i, j) entries are merged by
//     summing their weights. A sum or product of finite values that
//     overflows is saturated at math.MaxFloat64, not dropped.
//   - neighborLimit > 0 keeps, in every row, only the neighborLimit largest
//     weights (after merging); ties are broken by the smaller column index.
//     0 keeps all.
//
// BuildCSR panics on inconsistent lengths, an endpoint outside [0, n), an
// invalid influencibility or a negative neighborLimit: those are programming
// errors, not user input. It is deterministic and uses GOMAXPROCS goroutines
// for the per-row sorting.
func BuildCSR(n int, src, dst []int32, weight []float64, directed bool, influencibility []float64, neighborLimit int) *CSR {
	switch {
	case n < 0 || n > math.MaxInt32:
		panic(fmt.Sprintf("dynamics: BuildCSR: n = %d out of range", n))
	case len(src) != len(dst):
		panic(fmt.Sprintf("dynamics: BuildCSR: %d sources for %d targets", len(src), len(dst)))
	case weight != nil && len(weight) != len(src):
		panic(fmt.Sprintf("dynamics: BuildCSR: %d weights for %d edges", len(weight), len(src)))
	case influencibility != nil && len(influencibility) != n:
		panic(fmt.Sprintf("dynamics: BuildCSR: %d influencibility values for %d agents", len(influencibility), n))
	case neighborLimit < 0:
		panic(fmt.Sprintf("dynamics: BuildCSR: negative neighborLimit %d", neighborLimit))
	}
	for i, v := range influencibility {
		if !(v >= 0) || math.IsInf(v, 0) {
			panic(fmt.Sprintf("dynamics: BuildCSR: influencibility[%d] = %v is not a finite number ≥ 0", i, v))
		}
	}
	// The edge weights are scattered as similarities and multiplied by the
	// influencibility of their row in the per-row pass, where it is read
	// sequentially instead of once per edge at a random place.
	sim := func(e int) float64 {
		if weight == nil {
			return 1
		}
		return weight[e]
	}
	usable := func(x float64) bool { return x > 0 && !math.IsInf(x, 0) }

	// Pass 1: count the entries of every row into ptr[i+1].
	ptr := make([]int64, n+1)
	for e := range src {
		s, d := src[e], dst[e]
		if uint32(s) >= uint32(n) || uint32(d) >= uint32(n) {
			panic(fmt.Sprintf("dynamics: BuildCSR: edge %d (%d→%d) has an endpoint outside [0, %d)", e, s, d, n))
		}
		if s == d || !usable(sim(e)) {
			continue
		}
		ptr[d+1]++
		if !directed {
			ptr[s+1]++
		}
	}
	for i := 1; i <= n; i++ {
		ptr[i] += ptr[i-1]
	}
	total := ptr[n]

	// Pass 2: scatter, using ptr[i] as the cursor of row i; afterwards ptr[i]
	// is the end of row i, so shift it back by one row.
	col := make([]int32, total)
	w := make([]float64, total)
	for e := range src {
		s, d := src[e], dst[e]
		x := sim(e)
		if s == d || !usable(x) {
			continue
		}
		k := ptr[d]
		col[k], w[k] = s, x
		ptr[d]++
		if !directed {
			k := ptr[s]
			col[k], w[k] = d, x
			ptr[s]++
		}
	}
	copy(ptr[1:], ptr[:n])
	ptr[0] = 0

	// Pass 3: sort every row by column, merge duplicates, apply the
	// influencibility and the limit.
	lens := make([]int64, n)
	workers := runtime.GOMAXPROCS(0)
	bufs := make([][]csrEntry, workers)
	parallelRows(ptr, n, workers, func(lo, hi, worker int) {
		buf := bufs[worker]
		for i := lo; i < hi; i++ {
			a, b := ptr[i], ptr[i+1]
			f := 1.0
			if influencibility != nil {
				f = influencibility[i]
			}
			lens[i] = int64(normalizeRow(col[a:b], w[a:b], f, neighborLimit, &buf))
		}
		bufs[worker] = buf
	})

	// Pass 4: compact the rows that shrank.
	var kept int64
	for _, l := range lens {
		kept += l
	}
	if kept != total {
		var write, oldStart int64
		for i := 0; i < n; i++ {
			oldEnd, l := ptr[i+1], lens[i]
			if write != oldStart {
				copy(col[write:write+l], col[oldStart:oldStart+l])
				copy(w[write:write+l], w[oldStart:oldStart+l])
			}
			write += l
			ptr[i+1] = write
			oldStart = oldEnd
		}
		if kept < total-total/4 {
			// Release the excess when much was dropped (top-K).
			col = slices.Clone(col[:kept])
			w = slices.Clone(w[:kept])
		} else {
			col, w = col[:kept:kept], w[:kept:kept]
		}
	}

	c := &CSR{N: n, RowPtr: ptr, Col: col, W: w}
	if influencibility != nil {
		c.Influencibility = slices.Clone(influencibility)
	}
	return c
}

type csrEntry struct {
	col int32
	w   float64
}

// insertionSortMax is the row length up to which rows are sorted in place by
// insertion sort rather than through the entry buffer.
const insertionSortMax = 32

// normalizeRow sorts a row of similarities by (column, similarity), merges
// repeated columns by summing, multiplies by the row's influencibility f
// (both saturating at math.MaxFloat64), drops the weights that are not > 0,
// keeps the top limit weights
// (limit > 0) and returns the new length; the kept entries are at the front
// in increasing column order.
func normalizeRow(cols []int32, ws []float64, f float64, limit int, buf *[]csrEntry) int {
	m := len(cols)
	ws = ws[:m]
	if m > 1 && !rowSorted(cols, ws) {
		if m <= insertionSortMax {
			for i := 1; i < m; i++ {
				c, x := cols[i], ws[i]
				j := i
				for ; j > 0 && (cols[j-1] > c || cols[j-1] == c && ws[j-1] > x); j-- {
					cols[j], ws[j] = cols[j-1], ws[j-1]
				}
				cols[j], ws[j] = c, x
			}
		} else {
			e := loadEntries(cols, ws, buf)
			slices.SortFunc(e, func(a, b csrEntry) int {
				if c := cmp.Compare(a.col, b.col); c != 0 {
					return c
				}
				return cmp.Compare(a.w, b.w)
			})
			storeEntries(e, cols, ws)
		}
	}
	// Merge repeated columns (adjacent after sorting).
	out := 0
	for r := 0; r < m; r++ {
		if out > 0 && cols[out-1] == cols[r] {
			// Saturate: two huge finite similarities are a huge one, not
			// an infinite one that the next pass would drop.
			ws[out-1] = min(ws[out-1]+ws[r], math.MaxFloat64)
			continue
		}
		cols[out], ws[out] = cols[r], ws[r]
		out++
	}
	m = out
	// Apply the influencibility.
	out = 0
	for r := 0; r < m; r++ {
		// Saturated like the merge; ws[r] and f are finite here.
		if x := min(ws[r]*f, math.MaxFloat64); x > 0 {
			cols[out], ws[out] = cols[r], x
			out++
		}
	}
	m = out
	if limit > 0 && m > limit {
		e := loadEntries(cols[:m], ws[:m], buf)
		slices.SortFunc(e, func(a, b csrEntry) int {
			if c := cmp.Compare(b.w, a.w); c != 0 {
				return c
			}
			return cmp.Compare(a.col, b.col)
		})
		e = e[:limit]
		slices.SortFunc(e, func(a, b csrEntry) int { return cmp.Compare(a.col, b.col) })
		storeEntries(e, cols, ws)
		m = limit
	}
	return m
}

func rowSorted(cols []int32, ws []float64) bool {
	for i := 1; i < len(cols); i++ {
		if cols[i-1] > cols[i] || cols[i-1] == cols[i] && ws[i-1] > ws[i] {
			return false
		}
	}
	return true
}

func loadEntries(cols []int32, ws []float64, buf *[]csrEntry) []csrEntry {
	e := (*buf)[:0]
	for i, c := range cols {
		e = append(e, csrEntry{c, ws[i]})
	}
	*buf = e
	return e
}

func storeEntries(e []csrEntry, cols []int32, ws []float64) {
	for i, x := range e {
		cols[i], ws[i] = x.col, x.w
	}
}
