package population

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// Nearest neighbours
//
// Ties go to each agent's top-k most similar agents. Similarity is a
// decreasing function of the Euclidean distance between whitened trait
// vectors, so top-k by similarity is k-nearest-neighbours in whitened space.
//
// Up to exactKNNMaxAgents agents the neighbours are exact (brute force,
// O(N²) like the prototype, about 4·10⁶ distances at the threshold). Above,
// they come from NN-descent (W. Dong, M. Charikar, K. Li, "Efficient
// k-nearest neighbor graph construction for generic similarity measures",
// WWW 2011), seeded with random-projection-tree leaves as in PyNNDescent.
// It is written by hand because there is no well-kept pure-Go approximate
// k-NN library. Space-partitioning trees do badly on this data: a
// hand-written best-bin-first k-d tree (tight bounding boxes, exact
// pruning, a budget of checked points), tried first, needed to check 2,048
// points per query (20% of the population) for 0.97 recall at 10,000
// agents, and reached only 0.87 recall in ~30 s at 100,000: whitened
// 15-dimensional Gaussian data has no low-dimensional structure for a tree
// to exploit. NN-descent refines a k-NN graph with the rule "a neighbour of
// my neighbour is probably my neighbour":
//
//   - agent v keeps a list of K_v = max(k_v, nnMinK) candidates (capped at
//     N−1), filled with random agents and then offered every pair of agents
//     that share a leaf (≤ nnLeafSize agents) of one of nnTrees
//     random-projection trees;
//   - each round, every agent's new candidates (its nnSample closest
//     entries not yet joined, plus up to nnSample agents that list it among
//     theirs) are compared with each other and with its old candidates (all
//     its old entries plus up to nnSample agents that list it among their
//     old entries), and each computed distance is offered to both agents'
//     lists, which keep their K_v best;
//   - rounds stop when fewer than nnDelta·ΣK_v list entries changed in a
//     round, or after nnMaxRounds.
//
// Agent v's ties are the first k_v entries of its final list. Recall
// against brute force is checked by TestKNNRecall2000 (≥ 0.9 required,
// 0.995 measured) and reported by BenchmarkKNNRecall10k (0.98) and
// BenchmarkKNNRecall100k (0.96, on a sample of agents).
//
// Determinism: the joins of a round run in parallel, but a list always
// keeps the best K_v of everything offered to it (ties broken by the lower
// agent index), which does not depend on the order of the offers; which
// entries are new after a round is likewise order-independent. Random
// choices come from seeded streams that do not depend on scheduling (one
// per tree, one per block of agents for the initial lists) and reverse
// candidates are chosen by a seeded hash priority. So the result depends on
// the seed only, not on the number of workers (TestNNDescentDeterministic).

// exactKNNMaxAgents is the largest population whose neighbours are found by
// brute force.
const exactKNNMaxAgents = 2000

// NN-descent parameters, tuned on whitened BFI-2 populations of 10,000 and
// 100,000 agents for recall ≥ 0.95 at the lowest cost.
const (
	nnMinK      = 16    // smallest candidate list
	nnSample    = 8     // new candidates (and reverse samples) per round
	nnMaxRounds = 20    // hard limit on rounds
	nnDelta     = 0.001 // stop when fewer than nnDelta·ΣK_v entries changed
	nnTrees     = 12    // random-projection trees for the initial lists (at most nnTreesMax)
	nnLeafSize  = 32    // their leaf size
)

// allKNN finds, for every agent i, its ks[i] nearest other agents among the
// whitened vectors y (n·dim, row-major): exactly up to exactKNNMaxAgents
// agents, with NN-descent above. Results are laid out as CSR: the
// neighbours of i are nb[start[i]:start[i+1]], nearest first. It returns
// ctx.Err() if ctx is cancelled.
func allKNN(ctx context.Context, y []float64, dim int, ks []int, workers int, seed uint64) (start []int, nb []neighbour, err error) {
	if len(ks) <= exactKNNMaxAgents {
		return exactKNN(ctx, y, dim, ks, workers)
	}
	return nnDescent(ctx, y, dim, ks, workers, seed)
}

// csrStart lays out per-agent result slots for min(k_i, n−1) neighbours.
func csrStart(ks []int) []int {
	n := len(ks)
	start := make([]int, n+1)
	for i, k := range ks {
		start[i+1] = start[i] + max(0, min(k, n-1))
	}
	return start
}

// parallel runs fn(lo, hi) over [0,n) in chunks of 256 on up to workers
// goroutines (GOMAXPROCS if workers <= 0), stopping early if ctx is
// cancelled.
func parallel(ctx context.Context, n, workers int, fn func(lo, hi int)) error {
	return parallelChunks(ctx, n, 256, workers, fn)
}

func parallelChunks(ctx context.Context, n, chunk, workers int, fn func(lo, hi int)) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, (n+chunk-1)/chunk)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				lo := int(next.Add(int64(chunk))) - chunk
				if lo >= n {
					return
				}
				fn(lo, min(lo+chunk, n))
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// exactKNN is the brute-force path.
func exactKNN(ctx context.Context, y []float64, dim int, ks []int, workers int) ([]int, []neighbour, error) {
	start := csrStart(ks)
	nb := make([]neighbour, start[len(ks)])
	err := parallel(ctx, len(ks), workers, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			copy(nb[start[i]:start[i+1]], bruteKNN(y, dim, i, start[i+1]-start[i]))
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return start, nb, nil
}

// rpLeaves partitions the points of data (n·dim) with a random-projection
// tree: the tree draws dim random Gaussian directions, and each node is
// split at the median of its points' projections on one of them, picked at
// random, until at most leafSize points remain. (Projecting once per tree
// and splitting on precomputed projections keeps the build cache-friendly;
// in whitened, isotropic data random directions split as well as
// data-dependent ones.) It returns the points in leaf order and the leaf
// boundaries: leaf j holds order[bounds[j]:bounds[j+1]].
func rpLeaves(rng *rand.Rand, data []float64, dim, leafSize int) (order []int32, bounds []int) {
	n := len(data) / dim
	order = make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	dirs := make([]float64, dim*dim)
	for i := range dirs {
		dirs[i] = rng.NormFloat64()
	}
	proj := make([]float64, dim*n) // projection of point i on direction j at j*n+i
	for i := range n {
		p := data[i*dim : (i+1)*dim]
		for j := range dim {
			var s float64
			for c, x := range dirs[j*dim : (j+1)*dim] {
				s += x * p[c]
			}
			proj[j*n+i] = s
		}
	}
	bounds = []int{0}
	keys := make([]projKey, 0, n)
	var split func(lo, hi int)
	split = func(lo, hi int) {
		if hi-lo <= leafSize {
			bounds = append(bounds, hi)
			return
		}
		col := proj[rng.IntN(dim)*n:]
		mid := lo + (hi-lo)/2
		keys = keys[:0]
		for _, id := range order[lo:hi] {
			keys = append(keys, projKey{col[id], id})
		}
		selectKeys(keys, mid-lo)
		for i, k := range keys {
			order[lo+i] = k.id
		}
		split(lo, mid)
		split(mid, hi)
	}
	if n > 0 {
		split(0, n)
	}
	return order, bounds
}

type projKey struct {
	v  float64
	id int32
}

func (a projKey) less(b projKey) bool { return a.v < b.v || (a.v == b.v && a.id < b.id) }

// selectKeys reorders s so that s[k] is the element that would be there if
// s were sorted, with no larger element before it and no smaller one after
// it (Hoare's quickselect with a median-of-three pivot; deterministic).
func selectKeys(s []projKey, k int) {
	lo, hi := 0, len(s)-1
	for hi > lo {
		mid := lo + (hi-lo)/2
		if s[mid].less(s[lo]) {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if s[hi].less(s[lo]) {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if s[hi].less(s[mid]) {
			s[hi], s[mid] = s[mid], s[hi]
		}
		pivot := s[mid]
		i, j := lo, hi
		for i <= j {
			for s[i].less(pivot) {
				i++
			}
			for pivot.less(s[j]) {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return
		}
	}
}

// neighbour is a search result: agent index and squared distance.
type neighbour struct {
	d2 float64
	id int32
}

func (a neighbour) worse(b neighbour) bool { return a.d2 > b.d2 || (a.d2 == b.d2 && a.id > b.id) }

// topK keeps the k best neighbours seen: a max-heap by (d2, id), so
// res[0] is the worst kept.
type topK struct {
	k   int
	res []neighbour
}

// offer considers c.
func (h *topK) offer(c neighbour) {
	if len(h.res) < h.k {
		h.res = append(h.res, c)
		heapUp(h.res, len(h.res)-1)
	} else if h.k > 0 && h.res[0].worse(c) {
		h.res[0] = c
		heapDown(h.res, 0)
	}
}

// sorted returns the kept neighbours nearest first, emptying h.
func (h *topK) sorted() []neighbour {
	out := make([]neighbour, len(h.res))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = h.res[0]
		last := len(h.res) - 1
		h.res[0] = h.res[last]
		h.res = h.res[:last]
		heapDown(h.res, 0)
	}
	return out
}

func heapUp(r []neighbour, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !r[i].worse(r[p]) {
			break
		}
		r[p], r[i] = r[i], r[p]
		i = p
	}
}

func heapDown(r []neighbour, i int) {
	for {
		l := 2*i + 1
		if l >= len(r) {
			return
		}
		m := l
		if rr := l + 1; rr < len(r) && r[rr].worse(r[l]) {
			m = rr
		}
		if !r[m].worse(r[i]) {
			return
		}
		r[i], r[m] = r[m], r[i]
		i = m
	}
}

const inf = 1.7976931348623157e308

// dist2 is the squared Euclidean distance, abandoned (returning a value >
// bound) once it exceeds bound.
func dist2(a, b []float64, bound float64) float64 {
	var s float64
	b = b[:len(a)]
	for j := range a {
		x := a[j] - b[j]
		s += x * x
		if j == 7 && s > bound {
			return s
		}
	}
	return s
}

// bruteKNN is the exact k nearest other points to point i of y.
func bruteKNN(y []float64, dim, i, k int) []neighbour {
	n := len(y) / dim
	h := topK{k: k}
	q := y[i*dim : (i+1)*dim]
	for j := range n {
		if j != i {
			h.offer(neighbour{dist2(q, y[j*dim:(j+1)*dim], inf), int32(j)})
		}
	}
	return h.sorted()
}

// nnTreesMax bounds nnTrees (it separates the trees' random streams from the
// initial lists').
const nnTreesMax = 64
