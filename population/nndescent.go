package population

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// NN-descent (see the comment in knn.go for the method and its
// determinism argument).
//
// Implementation notes:
//   - Agents are renumbered by the leaf order of the first random-projection
//     tree so that agents close in trait space are close in memory; the
//     joins touch neighbours of neighbours, and this keeps them in cache.
//     Distance ties are still broken by the original agent index.
//   - Lists are max-heaps guarded by one mutex each; their worst distance is
//     also kept in an atomic so that most offers are rejected without
//     locking. The worst distance only decreases, so a stale read is merely
//     conservative.
//   - Reverse candidates are gathered with atomic counters into per-agent
//     lists and then sampled by a hash priority (keep the nnSample smallest
//     hash(seed, round, u, v)), which is order-independent and so can be
//     done in parallel without locks.

// nnEntry is one candidate in an agent's list.
type nnEntry struct {
	d2    float64
	id    int32 // position (renumbered agent)
	flags int32 // bit 0: new (not yet joined); bits 1..: round it was inserted in
}

const flagNew = 1

func (e nnEntry) isNew() bool  { return e.flags&flagNew != 0 }
func (e nnEntry) round() int32 { return e.flags >> 1 }

type nnState struct {
	dim   int
	y     []float64 // renumbered points
	orig  []int32   // position -> agent index
	off   []int     // list of position v: ent[off[v]:off[v+1]]
	ent   []nnEntry
	mu    []sync.Mutex
	worst []atomic.Uint64 // Float64bits of each list's worst d2
	round int32
	seed  uint64

	// Candidates of the current round.
	fwdNew         []int32 // nnSample per position
	fwdNewN        []int32
	fwdOld         []int32 // same layout as ent
	fwdOldN        []int32
	revNew, revOld revLists
}

func (s *nnState) point(v int32) []float64 { return s.y[int(v)*s.dim : int(v+1)*s.dim] }

func (s *nnState) list(v int32) []nnEntry { return s.ent[s.off[v]:s.off[v+1]] }

// worse reports whether e is worse than (d2, id): larger distance, or equal
// distance and larger original agent index.
func (s *nnState) worse(e nnEntry, d2 float64, id int32) bool {
	if e.d2 != d2 {
		return e.d2 > d2
	}
	return s.orig[e.id] > s.orig[id]
}

func (s *nnState) up(h []nnEntry, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !s.worse(h[i], h[p].d2, h[p].id) {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (s *nnState) down(h []nnEntry, i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if r := c + 1; r < len(h) && s.worse(h[r], h[c].d2, h[c].id) {
			c = r
		}
		if !s.worse(h[c], h[i].d2, h[i].id) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func (s *nnState) worstD2(v int32) float64 { return math.Float64frombits(s.worst[v].Load()) }

// offer inserts (d2, id) into v's list if it beats the worst entry and is
// not already there. A list ends up holding the best K_v of everything ever
// offered to it, whatever the order of the offers.
func (s *nnState) offer(v int32, d2 float64, id int32) {
	if d2 > s.worstD2(v) {
		return
	}
	s.mu[v].Lock()
	h := s.list(v)
	if s.worse(h[0], d2, id) && !slices.ContainsFunc(h, func(e nnEntry) bool { return e.id == id }) {
		h[0] = nnEntry{d2: d2, id: id, flags: s.round<<1 | flagNew}
		s.down(h, 0)
		s.worst[v].Store(math.Float64bits(h[0].d2))
	}
	s.mu[v].Unlock()
}

// pair computes the distance between p and q and offers it to both lists,
// abandoning the computation once it exceeds both lists' worst entries (the
// offers would be rejected anyway).
func (s *nnState) pair(p, q int32) {
	bound := max(s.worstD2(p), s.worstD2(q))
	d := dist2(s.point(p), s.point(q), bound)
	if d > bound {
		return
	}
	s.offer(p, d, q)
	s.offer(q, d, p)
}

// splitmix64 is a 64-bit mixing function (Steele, Lea & Flood 2014).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// revLists holds, for every position u, up to nnSample positions v that
// list u among their forward candidates, chosen by the smallest
// hash(seed, round, salt, u, v): a choice that does not depend on the order
// in which the lists were filled, so they can be filled in parallel.
type revLists struct {
	start  []int32 // all v listing u: ids[start[u]:start[u+1]] ...
	cursor []int32
	size   []int32 // ... of which the first size[u] are kept
	ids    []int32
}

type revKey struct {
	prio uint64
	id   int32
}

func newRevLists(n int) revLists {
	return revLists{start: make([]int32, n+1), cursor: make([]int32, n), size: make([]int32, n)}
}

func (r *revLists) get(u int32) []int32 { return r.ids[r.start[u] : r.start[u]+r.size[u]] }

// build fills the lists from the forward lists fwd(v).
func (r *revLists) build(ctx context.Context, s *nnState, workers int, fwd func(v int32) []int32, salt uint64) error {
	n := len(r.size)
	clear(r.start)
	err := parallel(ctx, n, workers, func(lo, hi int) {
		for v := int32(lo); v < int32(hi); v++ {
			for _, u := range fwd(v) {
				atomic.AddInt32(&r.start[u+1], 1)
			}
		}
	})
	if err != nil {
		return err
	}
	for u := range n {
		r.start[u+1] += r.start[u]
	}
	if total := int(r.start[n]); cap(r.ids) < total {
		r.ids = make([]int32, total)
	} else {
		r.ids = r.ids[:total]
	}
	copy(r.cursor, r.start[:n])
	err = parallel(ctx, n, workers, func(lo, hi int) {
		for v := int32(lo); v < int32(hi); v++ {
			for _, u := range fwd(v) {
				r.ids[atomic.AddInt32(&r.cursor[u], 1)-1] = v
			}
		}
	})
	if err != nil {
		return err
	}
	salt = s.seed ^ uint64(s.round)<<58 ^ salt<<56
	return parallel(ctx, n, workers, func(lo, hi int) {
		var keys []revKey
		for u := int32(lo); u < int32(hi); u++ {
			l := r.ids[r.start[u]:r.start[u+1]]
			keys = keys[:0]
			for _, v := range l {
				keys = append(keys, revKey{splitmix64(salt ^ uint64(u)<<28 ^ uint64(uint32(v))), v})
			}
			slices.SortFunc(keys, func(a, b revKey) int {
				switch {
				case a.prio < b.prio || (a.prio == b.prio && a.id < b.id):
					return -1
				case a == b:
					return 0
				}
				return 1
			})
			keys = keys[:min(len(keys), nnSample)]
			for i, k := range keys {
				l[i] = k.id
			}
			r.size[u] = int32(len(keys))
		}
	})
}

// nnDescent computes approximate k-NN lists.
func nnDescent(ctx context.Context, y []float64, dim int, ks []int, workers int, seed uint64) ([]int, []neighbour, error) {
	n := len(ks)
	start := csrStart(ks)
	nb := make([]neighbour, start[n])
	if n <= 1 {
		return start, nb, nil
	}

	// Random-projection trees, built in parallel, each from its own stream.
	trees := make([][2][]int32, nnTrees) // order, bounds (as int32)
	err := parallelChunks(ctx, nnTrees, 1, workers, func(t, _ int) {
		order, bounds := rpLeaves(newRand(seed, streamKNN+uint64(t)), y, dim, nnLeafSize)
		b32 := make([]int32, len(bounds))
		for i, b := range bounds {
			b32[i] = int32(b)
		}
		trees[t] = [2][]int32{order, b32}
	})
	if err != nil {
		return nil, nil, err
	}

	// Renumber by the first tree's leaf order.
	orig := trees[0][0]
	pos := make([]int32, n)
	for p, a := range orig {
		pos[a] = int32(p)
	}
	s := &nnState{
		dim: dim, y: make([]float64, len(y)), orig: orig, seed: seed,
		off: make([]int, n+1), mu: make([]sync.Mutex, n), worst: make([]atomic.Uint64, n),
	}
	for p, a := range orig {
		copy(s.y[p*dim:(p+1)*dim], y[int(a)*dim:int(a+1)*dim])
		s.off[p+1] = s.off[p] + min(n-1, max(ks[a], nnMinK))
	}
	s.ent = make([]nnEntry, s.off[n])
	s.fwdNew, s.fwdNewN = make([]int32, n*nnSample), make([]int32, n)
	s.fwdOld, s.fwdOldN = make([]int32, len(s.ent)), make([]int32, n)
	s.revNew, s.revOld = newRevLists(n), newRevLists(n)

	// Initial lists: random agents (one stream per block of 256 positions,
	// so blocks can be filled in parallel), then every pair of agents
	// sharing a leaf of a tree is offered.
	err = parallel(ctx, n, workers, func(lo, hi int) {
		rng := newRand(seed, streamKNN+nnTreesMax+uint64(lo))
		for v := int32(lo); v < int32(hi); v++ {
			h := s.ent[s.off[v]:s.off[v]:s.off[v+1]]
			for len(h) < cap(h) {
				u := int32(rng.IntN(n))
				if u == v || slices.ContainsFunc(h, func(e nnEntry) bool { return e.id == u }) {
					continue
				}
				h = append(h, nnEntry{d2: dist2(s.point(v), s.point(u), inf), id: u, flags: flagNew})
				s.up(h, len(h)-1)
			}
			s.worst[v].Store(math.Float64bits(h[0].d2))
		}
	})
	if err != nil {
		return nil, nil, err
	}
	for _, tr := range trees {
		order, bounds := tr[0], tr[1]
		err := parallel(ctx, len(bounds)-1, workers, func(lo, hi int) {
			leaf := make([]int32, 0, nnLeafSize)
			for j := lo; j < hi; j++ {
				leaf = leaf[:0]
				for _, a := range order[bounds[j]:bounds[j+1]] {
					leaf = append(leaf, pos[a])
				}
				for i, p := range leaf {
					for _, q := range leaf[i+1:] {
						s.pair(p, q)
					}
				}
			}
		})
		if err != nil {
			return nil, nil, err
		}
	}
	trees = nil

	total := len(s.ent)
	for round := int32(1); int(round) <= nnMaxRounds; round++ {
		s.round = round
		// Forward candidates: the nnSample closest new entries (which become
		// old) and all old entries.
		err := parallel(ctx, n, workers, func(lo, hi int) {
			var fresh []nnEntry
			for v := int32(lo); v < int32(hi); v++ {
				h := s.list(v)
				fresh = fresh[:0]
				old := s.fwdOld[s.off[v]:s.off[v]]
				for _, e := range h {
					if e.isNew() {
						fresh = append(fresh, e)
					} else {
						old = append(old, e.id)
					}
				}
				s.fwdOldN[v] = int32(len(old))
				if len(fresh) > nnSample {
					slices.SortFunc(fresh, func(a, b nnEntry) int {
						if s.worse(b, a.d2, a.id) {
							return -1
						}
						return 1
					})
					fresh = fresh[:nnSample]
				}
				nw := s.fwdNew[int(v)*nnSample : int(v)*nnSample]
				for _, e := range fresh {
					nw = append(nw, e.id)
				}
				s.fwdNewN[v] = int32(len(nw))
				for i := range h {
					if h[i].isNew() && slices.Contains(nw, h[i].id) {
						h[i].flags &^= flagNew
					}
				}
			}
		})
		if err != nil {
			return nil, nil, err
		}
		// Reverse candidates.
		err = s.revNew.build(ctx, s, workers, func(v int32) []int32 {
			return s.fwdNew[int(v)*nnSample : int(v)*nnSample+int(s.fwdNewN[v])]
		}, 1)
		if err != nil {
			return nil, nil, err
		}
		err = s.revOld.build(ctx, s, workers, func(v int32) []int32 {
			return s.fwdOld[s.off[v] : s.off[v]+int(s.fwdOldN[v])]
		}, 2)
		if err != nil {
			return nil, nil, err
		}
		// Local joins.
		err = parallel(ctx, n, workers, func(lo, hi int) {
			var nw, od []int32
			for v := int32(lo); v < int32(hi); v++ {
				nw = append(nw[:0], s.fwdNew[int(v)*nnSample:int(v)*nnSample+int(s.fwdNewN[v])]...)
				nw = append(nw, s.revNew.get(v)...)
				od = append(od[:0], s.fwdOld[s.off[v]:s.off[v]+int(s.fwdOldN[v])]...)
				od = append(od, s.revOld.get(v)...)
				slices.Sort(nw)
				nw = slices.Compact(nw)
				for i, p := range nw {
					for _, q := range nw[i+1:] {
						s.pair(p, q)
					}
					for _, q := range od {
						if q != p {
							s.pair(p, q)
						}
					}
				}
			}
		})
		if err != nil {
			return nil, nil, err
		}
		changed := 0
		for _, e := range s.ent {
			if e.round() == round {
				changed++
			}
		}
		if float64(changed) < nnDelta*float64(total) {
			break
		}
	}

	// Results in agent order, nearest first.
	err = parallel(ctx, n, workers, func(lo, hi int) {
		var h []nnEntry
		for v := int32(lo); v < int32(hi); v++ {
			h = append(h[:0], s.list(v)...)
			slices.SortFunc(h, func(a, b nnEntry) int {
				if s.worse(b, a.d2, a.id) {
					return -1
				}
				return 1
			})
			a := orig[v]
			for i := range start[a+1] - start[a] {
				nb[start[a]+i] = neighbour{h[i].d2, orig[h[i].id]}
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return start, nb, nil
}
