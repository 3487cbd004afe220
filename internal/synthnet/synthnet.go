// Package synthnet writes synthetic networks in the prototype's network.json
// format, for benchmarks and the load script.
package synthnet

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/ethox/ethox/population"
)

// JSON writes a prototype-format network.json of n agents and m distinct
// random ties, with centralities supplied as an exported network carries them.
func JSON(n, m int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	var b bytes.Buffer
	b.Grow(n*600 + m*60)
	b.WriteString(`{"nodes":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"agent_id":"%d","degree":%d,"cluster":%d,"degree_centrality":%.4f,"betweenness_centrality":%.4f,"age":%d,"gender":"%s","traits":{`,
			i, r.IntN(20), r.IntN(12), r.Float64(), r.Float64()/100, 18+r.IntN(60), []string{"female", "male"}[r.IntN(2)])
		for k, f := range population.FacetNames() {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%s":%.3f`, f, r.Float64())
		}
		b.WriteString(`}}`)
	}
	b.WriteString(`],"edges":[`)
	seen := make(map[[2]int]bool, m)
	for j := 0; j < m; {
		s, t := r.IntN(n), r.IntN(n)
		if s == t {
			continue
		}
		if s > t {
			s, t = t, s
		}
		if seen[[2]int{s, t}] {
			continue
		}
		seen[[2]int{s, t}] = true
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"source":"%d","target":"%d","weight":%.4f}`, s, t, r.Float64())
		j++
	}
	b.WriteString(`]}`)
	return b.Bytes()
}
