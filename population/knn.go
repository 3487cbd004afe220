package population

import (
	"context"
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
// No well-kept pure-Go k-NN library fits here (gonum has a k-d tree in
// spatial/kdtree, but it answers one query at a time through interfaces and
// has no search budget), so this is a hand-written k-d tree:
//
//   - built on median splits along the dimension of largest spread, with a
//     tight bounding box per node; leaves hold up to kdLeafSize points;
//   - searched best-bin-first (Arya & Mount 1993; Beis & Lowe 1997): nodes are
//     visited in increasing distance from the query to their bounding box,
//     which is a true lower bound, so the search is exact if it ends because
//     that bound exceeds the current k-th distance;
//   - with a budget of checked points (maxChecks(k)), after which the best
//     candidates found so far are returned. In 15 dimensions an exact search
//     would visit a large share of the tree for every query; the budget
//     bounds the cost per query and is what makes the result approximate.
//
// Measured recall against brute force is reported by TestKNNRecall2000 and
// BenchmarkKNNRecall10k. Queries are independent, so they run in parallel
// and the result does not depend on the number of workers. Distance ties are
// broken by the lower agent index, so results are deterministic.

// kdLeafSize is the largest number of points in a leaf.
const kdLeafSize = 12

// Search budget: a query checks at most max(knnMinChecks, knnChecksPerK·k)
// points (it can exceed this by less than one leaf).
const (
	knnMinChecks  = 1024
	knnChecksPerK = 64
)

func maxChecks(k int) int { return max(knnMinChecks, knnChecksPerK*k) }

type kdNode struct {
	lo, hi      int32 // points [lo,hi) in tree order
	left, right int32 // child nodes; -1 for a leaf
}

type kdTree struct {
	dim   int
	pts   []float64 // n·dim coordinates in tree order
	ids   []int32   // agent index of each tree-order point
	nodes []kdNode
	box   []float64 // per node: dim minima then dim maxima
}

// newKDTree builds a tree over n points of dimension dim stored row-major
// in data (not retained).
func newKDTree(data []float64, dim int) *kdTree {
	n := len(data) / dim
	t := &kdTree{dim: dim, ids: make([]int32, n)}
	for i := range t.ids {
		t.ids[i] = int32(i)
	}
	if n > 0 {
		t.build(data, 0, n)
	}
	t.pts = make([]float64, n*dim)
	for i, id := range t.ids {
		copy(t.pts[i*dim:(i+1)*dim], data[int(id)*dim:(int(id)+1)*dim])
	}
	return t
}

// build creates the node for ids[lo:hi] (and its subtree), returning its
// index. Nodes are numbered in pre-order.
func (t *kdTree) build(data []float64, lo, hi int) int32 {
	d := t.dim
	me := int32(len(t.nodes))
	t.nodes = append(t.nodes, kdNode{lo: int32(lo), hi: int32(hi), left: -1, right: -1})
	base := len(t.box)
	t.box = append(t.box, make([]float64, 2*d)...)
	bmin, bmax := t.box[base:base+d], t.box[base+d:base+2*d]
	first := int(t.ids[lo]) * d
	copy(bmin, data[first:first+d])
	copy(bmax, data[first:first+d])
	for _, id := range t.ids[lo+1 : hi] {
		p := data[int(id)*d : int(id)*d+d]
		for j, v := range p {
			bmin[j] = min(bmin[j], v)
			bmax[j] = max(bmax[j], v)
		}
	}
	if hi-lo <= kdLeafSize {
		return me
	}
	split, spread := 0, -1.0
	for j := range d {
		if s := bmax[j] - bmin[j]; s > spread {
			split, spread = j, s
		}
	}
	if spread <= 0 {
		return me // all points identical: keep as one (large) leaf
	}
	mid := lo + (hi-lo)/2
	selectNth(t.ids[lo:hi], mid-lo, func(a, b int32) bool {
		va, vb := data[int(a)*d+split], data[int(b)*d+split]
		return va < vb || (va == vb && a < b)
	})
	l := t.build(data, lo, mid)
	r := t.build(data, mid, hi)
	t.nodes[me].left, t.nodes[me].right = l, r
	return me
}

// selectNth reorders s so that s[k] is the element that would be there if s
// were sorted by less, with no larger element before it and no smaller one
// after it (Hoare's quickselect with a median-of-three pivot; deterministic).
func selectNth(s []int32, k int, less func(a, b int32) bool) {
	lo, hi := 0, len(s)-1
	for hi > lo {
		mid := lo + (hi-lo)/2
		if less(s[mid], s[lo]) {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if less(s[hi], s[lo]) {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if less(s[hi], s[mid]) {
			s[hi], s[mid] = s[mid], s[hi]
		}
		pivot := s[mid]
		i, j := lo, hi
		for i <= j {
			for less(s[i], pivot) {
				i++
			}
			for less(pivot, s[j]) {
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

// boxDist2 is the squared distance from q to node's bounding box.
func (t *kdTree) boxDist2(node int32, q []float64) float64 {
	d := t.dim
	b := t.box[int(node)*2*d : int(node)*2*d+2*d]
	var s float64
	for j, v := range q {
		if lo := b[j]; v < lo {
			s += (lo - v) * (lo - v)
		} else if hi := b[d+j]; v > hi {
			s += (v - hi) * (v - hi)
		}
	}
	return s
}

// neighbour is a search result: agent index and squared distance.
type neighbour struct {
	d2 float64
	id int32
}

func (a neighbour) worse(b neighbour) bool { return a.d2 > b.d2 || (a.d2 == b.d2 && a.id > b.id) }

type queued struct {
	d2   float64
	node int32
}

// searcher holds one worker's scratch space.
type searcher struct {
	t     *kdTree
	queue []queued    // min-heap by d2
	res   []neighbour // max-heap by (d2, id): res[0] is the worst kept
}

// knn returns up to k nearest points to q other than the agent self, sorted
// by increasing distance (ties: lower index first), appended to out. It
// checks at most about budget points.
func (s *searcher) knn(q []float64, self int32, k, budget int, out []neighbour) []neighbour {
	t := s.t
	s.res = s.res[:0]
	s.queue = s.queue[:0]
	if k <= 0 || len(t.nodes) == 0 {
		return out
	}
	s.push(queued{t.boxDist2(0, q), 0})
	checks := 0
	d := t.dim
	for len(s.queue) > 0 && checks < budget {
		top := s.pop()
		if len(s.res) == k && top.d2 > s.res[0].d2 {
			break // exact: nothing left can be closer
		}
		node := top.node
		for node >= 0 && t.nodes[node].left >= 0 {
			l, r := t.nodes[node].left, t.nodes[node].right
			dl, dr := t.boxDist2(l, q), t.boxDist2(r, q)
			near, far, dnear, dfar := l, r, dl, dr
			if dr < dl {
				near, far, dnear, dfar = r, l, dr, dl
			}
			full := len(s.res) == k
			if !full || dfar <= s.res[0].d2 {
				s.push(queued{dfar, far})
			}
			if full && dnear > s.res[0].d2 {
				node = -1 // the nearer child cannot help either
			} else {
				node = near
			}
		}
		if node < 0 {
			continue
		}
		nd := t.nodes[node]
		for p := nd.lo; p < nd.hi; p++ {
			id := t.ids[p]
			if id == self {
				continue
			}
			checks++
			pt := t.pts[int(p)*d : int(p)*d+d]
			if len(s.res) < k {
				s.pushRes(neighbour{dist2(q, pt, inf), id})
				continue
			}
			worst := s.res[0]
			d2 := dist2(q, pt, worst.d2)
			if c := (neighbour{d2, id}); worst.worse(c) {
				s.res[0] = c
				s.siftDownRes(0)
			}
		}
	}
	// Sort results ascending: pop the max-heap from the back.
	n := len(s.res)
	start := len(out)
	out = append(out, make([]neighbour, n)...)
	for i := n - 1; i >= 0; i-- {
		out[start+i] = s.res[0]
		last := len(s.res) - 1
		s.res[0] = s.res[last]
		s.res = s.res[:last]
		s.siftDownRes(0)
	}
	return out
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

func (s *searcher) push(e queued) {
	s.queue = append(s.queue, e)
	q := s.queue
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if q[p].d2 <= q[i].d2 {
			break
		}
		q[p], q[i] = q[i], q[p]
		i = p
	}
}

func (s *searcher) pop() queued {
	q := s.queue
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(q) {
			break
		}
		m := l
		if r := l + 1; r < len(q) && q[r].d2 < q[l].d2 {
			m = r
		}
		if q[i].d2 <= q[m].d2 {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	s.queue = q
	return top
}

func (s *searcher) pushRes(e neighbour) {
	s.res = append(s.res, e)
	r := s.res
	i := len(r) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !r[i].worse(r[p]) {
			break
		}
		r[p], r[i] = r[i], r[p]
		i = p
	}
}

func (s *searcher) siftDownRes(i int) {
	r := s.res
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

// knnChunk is the number of queries a worker claims at a time.
const knnChunk = 256

// allKNN finds, for every agent i, its ks[i] nearest other agents in the
// whitened vectors y (n·dim, row-major). Results are laid out as CSR: the
// neighbours of i are nb[start[i]:start[i+1]], nearest first. budget(k) is
// the per-query search budget. It returns ctx.Err() if ctx is cancelled.
func allKNN(ctx context.Context, y []float64, dim int, ks []int, workers int, budget func(int) int) (start []int, nb []neighbour, err error) {
	n := len(ks)
	start = make([]int, n+1)
	for i, k := range ks {
		start[i+1] = start[i] + min(k, n-1)
	}
	nb = make([]neighbour, start[n])
	if n <= 1 {
		return start, nb, nil
	}
	t := newKDTree(y, dim)
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, (n+knnChunk-1)/knnChunk) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &searcher{t: t}
			var buf []neighbour
			for ctx.Err() == nil {
				lo := int(next.Add(knnChunk)) - knnChunk
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+knnChunk, n); i++ {
					k := start[i+1] - start[i]
					buf = s.knn(y[i*dim:(i+1)*dim], int32(i), k, budget(k), buf[:0])
					copy(nb[start[i]:start[i+1]], buf)
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return start, nb, nil
}

// bruteKNN is the exact reference used by tests: the k nearest other points
// to point i, sorted like searcher.knn.
func bruteKNN(y []float64, dim, i, k int) []neighbour {
	n := len(y) / dim
	s := &searcher{}
	q := y[i*dim : (i+1)*dim]
	for j := range n {
		if j == i {
			continue
		}
		c := neighbour{dist2(q, y[j*dim:(j+1)*dim], inf), int32(j)}
		if len(s.res) < k {
			s.pushRes(c)
		} else if s.res[0].worse(c) {
			s.res[0] = c
			s.siftDownRes(0)
		}
	}
	out := make([]neighbour, len(s.res))
	for idx := len(out) - 1; idx >= 0; idx-- {
		out[idx] = s.res[0]
		last := len(s.res) - 1
		s.res[0] = s.res[last]
		s.res = s.res[:last]
		s.siftDownRes(0)
	}
	return out
}
