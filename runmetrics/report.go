// Package runmetrics computes the summary metrics of one Ethox simulation run
// for communication strategists. It is pure computation: no database, no
// GraphQL, no LLM. The caller loads agents, ties and per-round agent states
// and calls Compute.
//
// # Conventions used by every metric
//
//   - Care is on the 0..10 scale, support on the -5..5 scale.
//   - Round 0 is the agents' reaction to the trigger; the final round is
//     Input.Rounds, or the highest round present in States when Input.Rounds
//     is 0.
//   - A state with Failed=true is ignored everywhere (the agent simply has
//     no valid value for that round). "Valid" below means present and not
//     failed.
//   - A shift (delta) of an agent is value(final round) - value(round 0); it
//     exists only for agents valid in both round 0 and the final round.
//   - Means are arithmetic means; "std dev" and "variance" are population
//     (divide by n) unless stated otherwise; a median of an even number of
//     values is the mean of the two middle values.
//   - Metrics that are undefined (no data, zero variance, ...) are JSON null.
//   - Every list has a deterministic order; ties are broken by AgentID.
package runmetrics

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"gonum.org/v1/gonum/stat"
)

// Scale limits.
const (
	MinCare    = 0.0
	MaxCare    = 10.0
	MinSupport = -5.0
	MaxSupport = 5.0

	// ExtremeSupport is the |support| threshold for "extreme" agents.
	ExtremeSupport = 4.0
	// ConsensusBand is the half-width of the band around the median support
	// used by Consensus.WithinOneOfMedianShare.
	ConsensusBand = 1.0
	// FragmentationGap: sorted final support values are split into groups
	// wherever two consecutive values differ by strictly more than this.
	FragmentationGap = 1.0
	// MaxSegmentValues: attributes with more distinct values are skipped.
	MaxSegmentValues = 20
	// TopN is the length of TopMovers and MostInfluential.
	TopN = 10
)

// AgentState is the stored state of one agent after one round.
type AgentState struct {
	AgentID string
	Round   int
	Opinion string
	Care    float64 // 0..10
	Support float64 // -5..5
	Failed  bool
}

// Agent is one member of the simulated network.
type Agent struct {
	AgentID string
	Profile map[string]any
	Cluster *int
	Age     *int
	Gender  *string
}

// Tie is a (possibly directed) weighted edge of the network. All metrics
// treat ties as undirected: a tie links Source and Target both ways.
type Tie struct {
	Source, Target string
	Weight         float64
}

// Input is everything Compute needs.
type Input struct {
	Agents []Agent
	Ties   []Tie
	States []AgentState
	// Rounds is the index of the final round (0 = trigger reaction only).
	// When 0, the final round is the highest round found in States.
	Rounds int
	// IncludeInitial adds round 0 to Metrics.Rounds. The final round is
	// always listed, so with a final round of 0, round 0 is listed anyway.
	IncludeInitial bool
}

// Metrics is the full report. JSON field order is the struct order.
type Metrics struct {
	FinalRound      int          `json:"finalRound"`
	AgentCount      int          `json:"agentCount"`
	Headline        Headline     `json:"headline"`
	Rounds          []RoundStats `json:"rounds"`
	Shift           Shift        `json:"shift"`
	Polarization    Polarization `json:"polarization"`
	Consensus       Consensus    `json:"consensus"`
	EchoChamber     EchoChamber  `json:"echoChamber"`
	Segments        []Segment    `json:"segments"`
	TopMovers       []AgentShift `json:"topMovers"`
	MostInfluential []Influence  `json:"mostInfluential"`
}

// Headline holds the prototype's two headline numbers, on the final round.
type Headline struct {
	// N is the number of valid final-round states used.
	N int `json:"n"`
	// CareScore100 = math.RoundToEven(mean final care × 10), clamped to
	// 0..100.
	CareScore100 *int `json:"careScore100"`
	// ChangeInSupport50 = math.RoundToEven(mean final support × 10),
	// clamped to -50..50. Halves round to even, as the prototype's Python
	// round() did (50.5 → 50, 51.5 → 52, -2.5 → -2): with whole-number
	// answers, mean × 10 ends in .5 whenever 20 agents' sum is odd.
	ChangeInSupport50 *int `json:"changeInSupport50"`
}

// RoundStats describes the distribution of care and support in one round.
type RoundStats struct {
	Round int `json:"round"`
	// N counts valid states of the round; Failed counts failed states.
	N      int `json:"n"`
	Failed int `json:"failed"`
	// Care and Support are null when N = 0.
	Care    *Distribution `json:"care"`
	Support *Distribution `json:"support"`
}

// Distribution summarises the values of one variable in one round.
type Distribution struct {
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	// StdDev is the population standard deviation (divide by n).
	StdDev float64 `json:"stdDev"`
	// Histogram has 11 integer buckets. For care, index k counts values in
	// [k-0.5, k+0.5) for k = 0..10; for support, index k counts values in
	// [v-0.5, v+0.5) with v = k-5 (v = -5..5). Values beyond the outer
	// buckets are clipped into them (bucket = clamp(floor(x+0.5))).
	Histogram [11]int `json:"histogram"`
}

// Shift aggregates the change from round 0 to the final round.
type Shift struct {
	// N is the number of agents valid in both round 0 and the final round.
	N int `json:"n"`
	// MeanCareDelta / MeanSupportDelta are the means of the per-agent deltas
	// (null when N = 0).
	MeanCareDelta    *float64 `json:"meanCareDelta"`
	MeanSupportDelta *float64 `json:"meanSupportDelta"`
	// Agents lists every such agent, sorted by |SupportDelta| descending,
	// then AgentID ascending.
	Agents []AgentShift `json:"agents"`
}

// AgentShift is the change of one agent between round 0 and the final round.
type AgentShift struct {
	AgentID        string  `json:"agentId"`
	InitialCare    float64 `json:"initialCare"`
	FinalCare      float64 `json:"finalCare"`
	CareDelta      float64 `json:"careDelta"`
	InitialSupport float64 `json:"initialSupport"`
	FinalSupport   float64 `json:"finalSupport"`
	SupportDelta   float64 `json:"supportDelta"`
}

// Polarization describes the final support distribution.
type Polarization struct {
	// N is the number of valid final-round states.
	N int `json:"n"`
	// SupportVariance is the population variance of final support.
	SupportVariance *float64 `json:"supportVariance"`
	// BimodalityCoefficient is Sarle's b = (g² + 1) / (k + 3(n-1)²/((n-2)(n-3)))
	// where g is the sample skewness G1 = n/((n-1)(n-2)) · Σ((x-x̄)/s)³ and
	// k the sample excess kurtosis
	// G2 = n(n+1)/((n-1)(n-2)(n-3)) · Σ((x-x̄)/s)⁴ − 3(n-1)²/((n-2)(n-3)),
	// s being the sample (n-1) standard deviation (the estimators of
	// gonum stat.Skew / stat.ExKurtosis, Excel SKEW / KURT). b > 5/9 ≈ 0.555
	// hints at bimodality. Null when n < 4 or all values are equal.
	BimodalityCoefficient *float64 `json:"bimodalityCoefficient"`
	// ExtremesShare is the share of agents with |final support| ≥ 4.
	ExtremesShare *float64 `json:"extremesShare"`
}

// Consensus describes agreement on final support.
type Consensus struct {
	MedianSupport *float64 `json:"medianSupport"`
	// WithinOneOfMedianShare is the share of agents whose final support s
	// satisfies |s - median| ≤ 1.
	WithinOneOfMedianShare *float64 `json:"withinOneOfMedianShare"`
	// Fragmentation is the number of groups obtained by sorting the final
	// support values and splitting between consecutive values whose gap is
	// strictly greater than 1.0 (single-linkage clusters at distance 1).
	// 0 when there are no values.
	Fragmentation int `json:"fragmentation"`
}

// EchoChamber holds network-homophily signals.
type EchoChamber struct {
	// Ties is the number of ties used: non-self-loop ties whose two
	// endpoints have valid final states.
	Ties int `json:"ties"`
	// SupportAssortativity is the weighted Pearson correlation of
	// (support_i, support_j) over both directions (i,j) and (j,i) of every
	// used tie, each pair weighted by the tie weight. Null when undefined
	// (no used ties, zero total weight, or zero variance).
	SupportAssortativity *float64 `json:"supportAssortativity"`
}

// Segment is the breakdown of one attribute.
//
// Attributes are: "cluster" (Agent.Cluster), "gender" (Agent.Gender),
// "ageGroup" (from Agent.Age: "<25" for age < 25, "25-40" for
// 25 ≤ age < 40, "40+" for age ≥ 40), each only when at least one agent has
// it, followed by the profile keys in lexical order. A profile key is used
// only when every non-nil value is a string, it has at most 20 distinct
// values, and it does not collide with one of the three derived attributes
// that is present. Agents lacking the attribute are not in any segment.
type Segment struct {
	Key    string         `json:"key"`
	Values []SegmentValue `json:"values"`
}

// SegmentValue is one value of a segment attribute. Values are ordered
// numerically for cluster, "<25","25-40","40+" for ageGroup, lexically
// otherwise.
type SegmentValue struct {
	Value string `json:"value"`
	// Count is the number of agents with the value.
	Count int `json:"count"`
	// MeanCare / MeanSupport are over members with a valid final state;
	// MeanSupportShift is over members with a shift. Null when empty.
	MeanCare         *float64 `json:"meanCare"`
	MeanSupport      *float64 `json:"meanSupport"`
	MeanSupportShift *float64 `json:"meanSupportShift"`
}

// Influence is the influence score of one agent.
//
// For agent j with round-0 support s_j(0), each neighbour i (every tie
// between i and j in either direction, self-loops excluded, i having a
// shift) contributes its tie weight w_ij:
//
//	influence_j = Σ_i w_ij · (|s_i(0) − s_j(0)| − |s_i(final) − s_j(0)|) / Σ_i w_ij
//
// i.e. the weighted mean distance by which neighbours moved toward j's
// initial position (negative: they moved away). Agents with several ties to
// the same neighbour count it once per tie. Undefined (agent omitted) when j
// has no valid round-0 state or Σ w_ij = 0. MostInfluential lists the top 10
// by Score descending, then AgentID.
type Influence struct {
	AgentID string  `json:"agentId"`
	Score   float64 `json:"score"`
	// Neighbours is the number of contributing tie ends.
	Neighbours int `json:"neighbours"`
	// Weight is Σ w_ij.
	Weight float64 `json:"weight"`
}

type cs struct{ care, support float64 }

// Compute validates the input and computes all metrics. It returns an error
// for invalid input: empty or duplicate agent IDs, states or ties referring
// to unknown agents, duplicate (agent, round) states, negative rounds or
// rounds beyond Input.Rounds, non-finite or out-of-range care/support, and
// negative or non-finite tie weights.
func Compute(in Input) (*Metrics, error) {
	if in.Rounds < 0 {
		return nil, fmt.Errorf("report: negative rounds %d", in.Rounds)
	}
	index := make(map[string]int, len(in.Agents))
	for i, a := range in.Agents {
		if a.AgentID == "" {
			return nil, fmt.Errorf("report: agent %d has an empty id", i)
		}
		if _, dup := index[a.AgentID]; dup {
			return nil, fmt.Errorf("report: duplicate agent %q", a.AgentID)
		}
		index[a.AgentID] = i
	}
	final := in.Rounds
	seen := make(map[string]map[int]bool)
	for _, s := range in.States {
		if _, ok := index[s.AgentID]; !ok {
			return nil, fmt.Errorf("report: state for unknown agent %q", s.AgentID)
		}
		if s.Round < 0 {
			return nil, fmt.Errorf("report: agent %q: negative round %d", s.AgentID, s.Round)
		}
		if in.Rounds > 0 && s.Round > in.Rounds {
			return nil, fmt.Errorf("report: agent %q: round %d beyond final round %d", s.AgentID, s.Round, in.Rounds)
		}
		if seen[s.AgentID] == nil {
			seen[s.AgentID] = make(map[int]bool)
		}
		if seen[s.AgentID][s.Round] {
			return nil, fmt.Errorf("report: duplicate state for agent %q round %d", s.AgentID, s.Round)
		}
		seen[s.AgentID][s.Round] = true
		if !s.Failed {
			if !finite(s.Care) || s.Care < MinCare || s.Care > MaxCare {
				return nil, fmt.Errorf("report: agent %q round %d: care %v outside %v..%v", s.AgentID, s.Round, s.Care, MinCare, MaxCare)
			}
			if !finite(s.Support) || s.Support < MinSupport || s.Support > MaxSupport {
				return nil, fmt.Errorf("report: agent %q round %d: support %v outside %v..%v", s.AgentID, s.Round, s.Support, MinSupport, MaxSupport)
			}
		}
		if in.Rounds == 0 && s.Round > final {
			final = s.Round
		}
	}
	for _, t := range in.Ties {
		if _, ok := index[t.Source]; !ok {
			return nil, fmt.Errorf("report: tie from unknown agent %q", t.Source)
		}
		if _, ok := index[t.Target]; !ok {
			return nil, fmt.Errorf("report: tie to unknown agent %q", t.Target)
		}
		if !finite(t.Weight) || t.Weight < 0 {
			return nil, fmt.Errorf("report: tie %q-%q: invalid weight %v", t.Source, t.Target, t.Weight)
		}
	}

	// byRound[r][agent] = valid state; failed[r] = failed count.
	byRound := make(map[int]map[string]cs)
	failed := make(map[int]int)
	for _, s := range in.States {
		if s.Failed {
			failed[s.Round]++
			continue
		}
		if byRound[s.Round] == nil {
			byRound[s.Round] = make(map[string]cs)
		}
		byRound[s.Round][s.AgentID] = cs{s.Care, s.Support}
	}
	initial, last := byRound[0], byRound[final]

	m := &Metrics{
		FinalRound:      final,
		AgentCount:      len(in.Agents),
		Rounds:          []RoundStats{},
		Segments:        []Segment{},
		TopMovers:       []AgentShift{},
		MostInfluential: []Influence{},
	}

	// Final-round values in agent order (deterministic).
	var finCare, finSupport []float64
	for _, a := range in.Agents {
		if v, ok := last[a.AgentID]; ok {
			finCare = append(finCare, v.care)
			finSupport = append(finSupport, v.support)
		}
	}

	// Headline.
	m.Headline.N = len(finCare)
	if len(finCare) > 0 {
		c := clampInt(int(math.RoundToEven(mean(finCare)*10)), 0, 100)
		s := clampInt(int(math.RoundToEven(mean(finSupport)*10)), -50, 50)
		m.Headline.CareScore100, m.Headline.ChangeInSupport50 = &c, &s
	}

	// Per round.
	start := 1
	if in.IncludeInitial || final == 0 {
		start = 0
	}
	for r := start; r <= final; r++ {
		rs := RoundStats{Round: r, Failed: failed[r]}
		var care, support []float64
		for _, a := range in.Agents {
			if v, ok := byRound[r][a.AgentID]; ok {
				care = append(care, v.care)
				support = append(support, v.support)
			}
		}
		rs.N = len(care)
		if rs.N > 0 {
			rs.Care = distribution(care, MinCare)
			rs.Support = distribution(support, MinSupport)
		}
		m.Rounds = append(m.Rounds, rs)
	}

	// Shift.
	shifts := make(map[string]AgentShift)
	m.Shift.Agents = []AgentShift{}
	for _, a := range in.Agents {
		v0, ok0 := initial[a.AgentID]
		v1, ok1 := last[a.AgentID]
		if !ok0 || !ok1 {
			continue
		}
		sh := AgentShift{
			AgentID:     a.AgentID,
			InitialCare: v0.care, FinalCare: v1.care, CareDelta: v1.care - v0.care,
			InitialSupport: v0.support, FinalSupport: v1.support, SupportDelta: v1.support - v0.support,
		}
		shifts[a.AgentID] = sh
		m.Shift.Agents = append(m.Shift.Agents, sh)
	}
	m.Shift.N = len(m.Shift.Agents)
	if m.Shift.N > 0 {
		var dc, ds []float64
		for _, sh := range m.Shift.Agents {
			dc = append(dc, sh.CareDelta)
			ds = append(ds, sh.SupportDelta)
		}
		m.Shift.MeanCareDelta, m.Shift.MeanSupportDelta = ptr(mean(dc)), ptr(mean(ds))
	}
	sort.SliceStable(m.Shift.Agents, func(i, j int) bool {
		a, b := m.Shift.Agents[i], m.Shift.Agents[j]
		if da, db := math.Abs(a.SupportDelta), math.Abs(b.SupportDelta); da != db {
			return da > db
		}
		return a.AgentID < b.AgentID
	})
	m.TopMovers = append(m.TopMovers, m.Shift.Agents[:min(TopN, len(m.Shift.Agents))]...)

	// Polarization and consensus.
	n := len(finSupport)
	m.Polarization.N = n
	if n > 0 {
		m.Polarization.SupportVariance = ptr(stat.PopVariance(finSupport, nil))
		m.Polarization.BimodalityCoefficient = bimodality(finSupport)
		ext := 0
		for _, s := range finSupport {
			if math.Abs(s) >= ExtremeSupport {
				ext++
			}
		}
		m.Polarization.ExtremesShare = ptr(float64(ext) / float64(n))

		med := median(finSupport)
		within := 0
		for _, s := range finSupport {
			if math.Abs(s-med) <= ConsensusBand {
				within++
			}
		}
		m.Consensus.MedianSupport = ptr(med)
		m.Consensus.WithinOneOfMedianShare = ptr(float64(within) / float64(n))
		m.Consensus.Fragmentation = fragmentation(finSupport, FragmentationGap)
	}

	// Echo chamber.
	var xs, ys, ws []float64
	for _, t := range in.Ties {
		if t.Source == t.Target {
			continue
		}
		a, okA := last[t.Source]
		b, okB := last[t.Target]
		if !okA || !okB {
			continue
		}
		m.EchoChamber.Ties++
		xs = append(xs, a.support, b.support)
		ys = append(ys, b.support, a.support)
		ws = append(ws, t.Weight, t.Weight)
	}
	m.EchoChamber.SupportAssortativity = weightedPearson(xs, ys, ws)

	// Segments.
	m.Segments = segments(in.Agents, last, shifts)

	// Influence.
	m.MostInfluential = influence(in, initial, shifts)
	return m, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func ptr(x float64) *float64 { return &x }

func clampInt(x, lo, hi int) int { return max(lo, min(hi, x)) }

func mean(x []float64) float64 { return stat.Mean(x, nil) }

// median returns the median of x (mean of the middle pair for even n);
// x is not modified.
func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// distribution computes mean, median, population std dev and the 11-bucket
// histogram whose bucket 0 is centred on lo.
func distribution(x []float64, lo float64) *Distribution {
	mu, variance := stat.PopMeanVariance(x, nil)
	d := &Distribution{Mean: mu, Median: median(x), StdDev: math.Sqrt(variance)}
	for _, v := range x {
		d.Histogram[clampInt(int(math.Floor(v-lo+0.5)), 0, 10)]++
	}
	return d
}

// bimodality returns Sarle's bimodality coefficient (see Polarization).
func bimodality(x []float64) *float64 {
	n := float64(len(x))
	if len(x) < 4 {
		return nil
	}
	g := stat.Skew(x, nil)
	k := stat.ExKurtosis(x, nil)
	den := k + 3*(n-1)*(n-1)/((n-2)*(n-3))
	b := (g*g + 1) / den
	if !finite(g) || !finite(k) || den <= 0 || !finite(b) {
		return nil
	}
	return &b
}

// fragmentation counts groups of sorted values split at gaps > gap.
func fragmentation(x []float64, gap float64) int {
	if len(x) == 0 {
		return 0
	}
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	groups := 1
	for i := 1; i < len(s); i++ {
		if s[i]-s[i-1] > gap {
			groups++
		}
	}
	return groups
}

// weightedPearson returns the weighted Pearson correlation or nil when it is
// undefined.
func weightedPearson(x, y, w []float64) *float64 {
	if len(x) < 2 {
		return nil
	}
	var sw float64
	for _, v := range w {
		sw += v
	}
	if sw <= 0 {
		return nil
	}
	// Population-weighted moments (the normalisation cancels in r).
	var mx, my float64
	for i := range x {
		mx += w[i] * x[i]
		my += w[i] * y[i]
	}
	mx /= sw
	my /= sw
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += w[i] * dx * dy
		sxx += w[i] * dx * dx
		syy += w[i] * dy * dy
	}
	if sxx <= 0 || syy <= 0 {
		return nil
	}
	r := sxy / math.Sqrt(sxx*syy)
	if !finite(r) {
		return nil
	}
	r = math.Max(-1, math.Min(1, r))
	return &r
}

const (
	keyCluster  = "cluster"
	keyGender   = "gender"
	keyAgeGroup = "ageGroup"
)

var ageGroupOrder = map[string]int{"<25": 0, "25-40": 1, "40+": 2}

func ageGroup(age int) string {
	switch {
	case age < 25:
		return "<25"
	case age < 40:
		return "25-40"
	default:
		return "40+"
	}
}

// segmentAttr is one segment attribute: each agent's value and the order of values.
type segmentAttr struct {
	key    string
	values map[string]string // agentID -> value
	less   func(a, b string) bool
}

// segmentAttrs are the attributes Segment describes, in its order.
func segmentAttrs(agents []Agent) []segmentAttr {
	type attr = segmentAttr
	lexical := func(a, b string) bool { return a < b }
	var attrs []attr

	cl := attr{key: keyCluster, values: map[string]string{}, less: func(a, b string) bool {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x < y
	}}
	ge := attr{key: keyGender, values: map[string]string{}, less: lexical}
	ag := attr{key: keyAgeGroup, values: map[string]string{}, less: func(a, b string) bool {
		return ageGroupOrder[a] < ageGroupOrder[b]
	}}
	for _, a := range agents {
		if a.Cluster != nil {
			cl.values[a.AgentID] = strconv.Itoa(*a.Cluster)
		}
		if a.Gender != nil {
			ge.values[a.AgentID] = *a.Gender
		}
		if a.Age != nil {
			ag.values[a.AgentID] = ageGroup(*a.Age)
		}
	}
	builtin := map[string]bool{}
	for _, at := range []attr{cl, ge, ag} {
		if len(at.values) > 0 {
			attrs = append(attrs, at)
			builtin[at.key] = true
		}
	}

	// Profile keys: string-only, at most MaxSegmentValues distinct values.
	keys := map[string]bool{}
	for _, a := range agents {
		for k := range a.Profile {
			keys[k] = true
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		if !builtin[k] {
			sorted = append(sorted, k)
		}
	}
	sort.Strings(sorted)
keyLoop:
	for _, k := range sorted {
		at := attr{key: k, values: map[string]string{}, less: lexical}
		distinct := map[string]bool{}
		for _, a := range agents {
			v, ok := a.Profile[k]
			if !ok || v == nil {
				continue
			}
			s, isStr := v.(string)
			if !isStr {
				continue keyLoop
			}
			at.values[a.AgentID] = s
			distinct[s] = true
		}
		if len(distinct) == 0 || len(distinct) > MaxSegmentValues {
			continue
		}
		attrs = append(attrs, at)
	}
	return attrs
}

func segments(agents []Agent, last map[string]cs, shifts map[string]AgentShift) []Segment {
	out := []Segment{}
	for _, at := range segmentAttrs(agents) {
		type acc struct {
			count            int
			care, sup, shift []float64
		}
		groups := map[string]*acc{}
		for _, a := range agents {
			v, ok := at.values[a.AgentID]
			if !ok {
				continue
			}
			g := groups[v]
			if g == nil {
				g = &acc{}
				groups[v] = g
			}
			g.count++
			if st, ok := last[a.AgentID]; ok {
				g.care = append(g.care, st.care)
				g.sup = append(g.sup, st.support)
			}
			if sh, ok := shifts[a.AgentID]; ok {
				g.shift = append(g.shift, sh.SupportDelta)
			}
		}
		vals := make([]string, 0, len(groups))
		for v := range groups {
			vals = append(vals, v)
		}
		sort.Slice(vals, func(i, j int) bool {
			if at.less(vals[i], vals[j]) {
				return true
			}
			if at.less(vals[j], vals[i]) {
				return false
			}
			return vals[i] < vals[j]
		})
		seg := Segment{Key: at.key, Values: []SegmentValue{}}
		for _, v := range vals {
			g := groups[v]
			sv := SegmentValue{Value: v, Count: g.count}
			if len(g.care) > 0 {
				sv.MeanCare, sv.MeanSupport = ptr(mean(g.care)), ptr(mean(g.sup))
			}
			if len(g.shift) > 0 {
				sv.MeanSupportShift = ptr(mean(g.shift))
			}
			seg.Values = append(seg.Values, sv)
		}
		out = append(out, seg)
	}
	return out
}

func influence(in Input, initial map[string]cs, shifts map[string]AgentShift) []Influence {
	type acc struct {
		num, den float64
		n        int
	}
	accs := map[string]*acc{}
	add := func(j, i string, w float64) {
		sj, ok := initial[j]
		if !ok {
			return
		}
		si, ok := shifts[i]
		if !ok {
			return
		}
		a := accs[j]
		if a == nil {
			a = &acc{}
			accs[j] = a
		}
		moved := math.Abs(si.InitialSupport-sj.support) - math.Abs(si.FinalSupport-sj.support)
		a.num += w * moved
		a.den += w
		a.n++
	}
	for _, t := range in.Ties {
		if t.Source == t.Target {
			continue
		}
		add(t.Source, t.Target, t.Weight)
		add(t.Target, t.Source, t.Weight)
	}
	out := []Influence{}
	for id, a := range accs {
		if a.den <= 0 {
			continue
		}
		out = append(out, Influence{AgentID: id, Score: a.num / a.den, Neighbours: a.n, Weight: a.den})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].AgentID < out[j].AgentID
	})
	return out[:min(TopN, len(out))]
}

// FromMap reads metrics stored as a JSON object (the form reports keep them in).
func FromMap(stored map[string]any) (*Metrics, error) {
	b, err := json.Marshal(stored)
	if err != nil {
		return nil, err
	}
	var m Metrics
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}
