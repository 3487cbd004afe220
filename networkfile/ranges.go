package networkfile

import (
	"math"
	"strconv"
)

// Numeric ranges of an upload. Every number a network carries is finite and
// inside one of these ranges, both bounds included; anything else is refused
// with its item named, e.g. `edges[3].weight 1.7e+308 is out of range [0, 1e6]`.
//
//	field                    range            why
//	edges[].weight           [0, 1e6]         a similarity or tie strength (networkx files and generated
//	                                          networks use 0..1); 1e6 leaves room for counts while any
//	                                          sum of weights times opinions stays far from overflow
//	traits.<facet>           [0, 1]           BFI-2 facets as the prototype stores them, (raw−1)/4;
//	                                          prompts and influencibility read them on that scale
//	level_of_care            [0, 1]           care/10, as the prototype's network.json writes it
//	effect_on_usage          [-5, 5]          the support scale of the LLM answers and the dynamics
//	age                      integer [0, 120] a person's age in years (the survey rule too)
//	degree                   integer [0, 2³¹−1]  a count; GraphQL Int is 32-bit
//	cluster                  integer [−2³¹, 2³¹−1] a label (−1 = none in some tools); GraphQL Int
//	degree_centrality        [0, 2]           degree/(n−1); a directed degree counts in- and out-ties
//	betweenness_centrality   [0, 1]           normalized, as networkx's betweenness_centrality
//	profile, other fields    [−2⁵³, 2⁵³]      free-form numbers; beyond 2⁵³ float64 no longer
//	                                          holds integers exactly, so they would not round-trip
type bounds struct {
	lo, hi float64
	text   string // as documented, e.g. "[0, 1e6]"
	hint   string // the scale, where a value on another scale is a likely mistake
}

// has reports whether x is in the range (false for NaN).
func (b bounds) has(x float64) bool { return x >= b.lo && x <= b.hi }

// MaxWeight is the largest edge weight an upload may carry.
const MaxWeight = 1e6

// MaxFreeNumber bounds the magnitude of profile and attribute numbers: 2⁵³,
// the largest power of two below which float64 holds every integer.
const MaxFreeNumber = 1 << 53

var (
	weightRange      = bounds{0, MaxWeight, "[0, 1e6]", ""}
	traitRange       = bounds{0, 1, "[0, 1]", " (facets are on 0..1: a raw BFI-2 score r is (r-1)/4)"}
	careRange        = bounds{0, 1, "[0, 1]", " (care/10)"}
	supportRange     = bounds{-5, 5, "[-5, 5]", ""}
	ageRange         = bounds{0, 120, "[0, 120]", ""}
	degreeRange      = bounds{0, math.MaxInt32, "[0, 2147483647]", ""}
	clusterRange     = bounds{math.MinInt32, math.MaxInt32, "[-2147483648, 2147483647]", ""}
	degreeCentRange  = bounds{0, 2, "[0, 2]", ""}
	betweennessRange = bounds{0, 1, "[0, 1]", " (normalized, as networkx computes it)"}
	freeRange        = bounds{-MaxFreeNumber, MaxFreeNumber, "[-9007199254740992, 9007199254740992]", ""}
)

// outOfRange is the message for a value outside its range.
func outOfRange(path string, x float64, b bounds) error {
	return bad("%s %s is out of range %s%s", path, strconv.FormatFloat(x, 'g', -1, 64), b.text, b.hint)
}
