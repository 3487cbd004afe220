package runmetrics

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

const eps = 1e-9

func approx(a, b float64) bool { return math.Abs(a-b) <= eps }

func ip(i int) *int         { return &i }
func sp(s string) *string   { return &s }
func fp(f float64) *float64 { return &f }

func checkF(t *testing.T, name string, got *float64, want *float64) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s: got %v, want %v", name, fmtp(got), fmtp(want))
	case !approx(*got, *want):
		t.Errorf("%s: got %v, want %v", name, *got, *want)
	}
}

func fmtp(p *float64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// agents returns agents "a0".."a{n-1}".
func agents(n int) []Agent {
	out := make([]Agent, n)
	for i := range out {
		out[i] = Agent{AgentID: fmt.Sprintf("a%d", i)}
	}
	return out
}

// finalOnly builds round-0 states equal to (0, 0) and round-1 states with
// the given care and support (care nil => 5 for every agent).
func finalStates(care, support []float64) []AgentState {
	var st []AgentState
	for i, s := range support {
		c := 5.0
		if care != nil {
			c = care[i]
		}
		id := fmt.Sprintf("a%d", i)
		st = append(st,
			AgentState{AgentID: id, Round: 0, Care: 5, Support: 0},
			AgentState{AgentID: id, Round: 1, Care: c, Support: s})
	}
	return st
}

func mustCompute(t *testing.T, in Input) *Metrics {
	t.Helper()
	m, err := Compute(in)
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	return m
}

func TestComputeInvalidInput(t *testing.T) {
	base := func() Input {
		return Input{Agents: agents(2), States: finalStates(nil, []float64{1, 2}), Rounds: 1}
	}
	tests := []struct {
		name   string
		mutate func(*Input)
		want   string
	}{
		{"unknown agent in states", func(in *Input) { in.States = append(in.States, AgentState{AgentID: "zz", Round: 1}) }, "unknown agent"},
		{"duplicate state", func(in *Input) { in.States = append(in.States, in.States[0]) }, "duplicate state"},
		{"round beyond final", func(in *Input) { in.States[1].Round = 2 }, "beyond final"},
		{"negative round", func(in *Input) { in.States[0].Round = -1 }, "negative round"},
		{"negative Rounds", func(in *Input) { in.Rounds = -1 }, "negative rounds"},
		{"care out of range", func(in *Input) { in.States[1].Care = 10.5 }, "care"},
		{"support NaN", func(in *Input) { in.States[1].Support = math.NaN() }, "support"},
		{"support out of range", func(in *Input) { in.States[1].Support = -5.1 }, "support"},
		{"duplicate agent", func(in *Input) { in.Agents = append(in.Agents, Agent{AgentID: "a0"}) }, "duplicate agent"},
		{"empty agent id", func(in *Input) { in.Agents = append(in.Agents, Agent{}) }, "empty id"},
		{"tie unknown source", func(in *Input) { in.Ties = []Tie{{Source: "x", Target: "a0", Weight: 1}} }, "unknown agent"},
		{"tie unknown target", func(in *Input) { in.Ties = []Tie{{Source: "a0", Target: "x", Weight: 1}} }, "unknown agent"},
		{"tie negative weight", func(in *Input) { in.Ties = []Tie{{Source: "a0", Target: "a1", Weight: -1}} }, "weight"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.mutate(&in)
			_, err := Compute(in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want containing %q", err, tc.want)
			}
		})
	}
	// Failed states are not range-checked.
	in := base()
	in.States[1] = AgentState{AgentID: "a0", Round: 1, Failed: true, Care: -3}
	if _, err := Compute(in); err != nil {
		t.Fatalf("failed state rejected: %v", err)
	}
}

// twenty is 20 answers: head, then rest until there are 20.
func twenty(rest float64, head ...float64) []float64 {
	x := append([]float64(nil), head...)
	for len(x) < 20 {
		x = append(x, rest)
	}
	return x
}

func TestHeadline(t *testing.T) {
	tests := []struct {
		name             string
		care, support    []float64
		wantCare, wantCh int
	}{
		{"simple", []float64{7, 8, 9}, []float64{1, 2, 3}, 80, 20},
		// Halves round to even, as the prototype's Python round():
		// 2.5 → 2, -2.5 → -2, 22.5 → 22, 7.5 → 8, -7.5 → -8.
		{"halves to even", []float64{0.25, 0.25}, []float64{-0.25, -0.25}, 2, -2},
		{"halves to even, up", []float64{2.25, 2.25, 2.25, 2.25}, []float64{0.75, 0.75, 0.75, 0.75}, 22, 8},
		{"halves to even, negative", []float64{0.75}, []float64{-0.75}, 8, -8},
		// Twenty whole-number answers with an odd sum: mean × 10 ends in .5.
		{"20 agents, 50.5 and -2.5", twenty(5, 6), twenty(0, -5), 50, -2},
		{"20 agents, 51.5 and 3.5", twenty(5, 8), twenty(0, 5, 2), 52, 4},
		{"20 agents, 49.5 and -0.5", twenty(5, 4, 5), twenty(0, -1), 50, 0},
		{"extremes", []float64{10, 10}, []float64{-5, -5}, 100, -50},
		{"zero", []float64{0, 0, 0}, []float64{5, 5, 5}, 0, 50},
		{"mixed", []float64{3, 4, 6.5}, []float64{-2, 0.5, 4}, 45, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustCompute(t, Input{Agents: agents(len(tc.care)), States: finalStates(tc.care, tc.support), Rounds: 1})
			h := m.Headline
			if h.N != len(tc.care) || h.CareScore100 == nil || h.ChangeInSupport50 == nil {
				t.Fatalf("headline = %+v", h)
			}
			if *h.CareScore100 != tc.wantCare || *h.ChangeInSupport50 != tc.wantCh {
				t.Fatalf("got (%d, %d), want (%d, %d)", *h.CareScore100, *h.ChangeInSupport50, tc.wantCare, tc.wantCh)
			}
		})
	}
	// Only failed final states: null headline.
	m := mustCompute(t, Input{Agents: agents(1), States: []AgentState{{AgentID: "a0", Round: 1, Failed: true}}, Rounds: 1})
	if m.Headline.CareScore100 != nil || m.Headline.ChangeInSupport50 != nil || m.Headline.N != 0 {
		t.Fatalf("headline with no valid states = %+v", m.Headline)
	}
}

func TestRoundDistribution(t *testing.T) {
	care := []float64{1, 2, 4, 9.6}
	support := []float64{-5, -4.5, 0.49, 5}
	in := Input{Agents: agents(5), States: finalStates(care, support), Rounds: 1}
	in.States = append(in.States, AgentState{AgentID: "a4", Round: 1, Failed: true})
	m := mustCompute(t, in)
	if len(m.Rounds) != 1 || m.Rounds[0].Round != 1 {
		t.Fatalf("rounds = %+v", m.Rounds)
	}
	r := m.Rounds[0]
	if r.N != 4 || r.Failed != 1 {
		t.Fatalf("N=%d Failed=%d", r.N, r.Failed)
	}
	c, s := r.Care, r.Support
	if !approx(c.Mean, 4.15) || !approx(c.Median, 3) || !approx(c.StdDev, 3.326785235027954) {
		t.Errorf("care = %+v", c)
	}
	if want := [11]int{0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1}; c.Histogram != want {
		t.Errorf("care histogram = %v, want %v", c.Histogram, want)
	}
	if !approx(s.Mean, -1.0025) || !approx(s.Median, -2.005) || !approx(s.StdDev, 4.076459094606494) {
		t.Errorf("support = %+v", s)
	}
	// -5 -> bin -5; -4.5 -> [-4.5,-3.5) = bin -4; 0.49 -> bin 0; 5 -> bin 5.
	if want := [11]int{1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1}; s.Histogram != want {
		t.Errorf("support histogram = %v, want %v", s.Histogram, want)
	}
}

func TestRoundsListing(t *testing.T) {
	var st []AgentState
	for r := 0; r <= 3; r++ {
		st = append(st, AgentState{AgentID: "a0", Round: r, Care: float64(r), Support: float64(-r)})
	}
	tests := []struct {
		name    string
		rounds  int
		initial bool
		want    []int
		final   int
	}{
		{"explicit without initial", 3, false, []int{1, 2, 3}, 3},
		{"explicit with initial", 3, true, []int{0, 1, 2, 3}, 3},
		{"inferred", 0, false, []int{1, 2, 3}, 3},
		{"explicit beyond data", 4, false, []int{1, 2, 3, 4}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustCompute(t, Input{Agents: agents(1), States: st, Rounds: tc.rounds, IncludeInitial: tc.initial})
			var got []int
			for _, r := range m.Rounds {
				got = append(got, r.Round)
				if r.N > 0 && r.Care.Mean != float64(r.Round) {
					t.Errorf("round %d care mean %v", r.Round, r.Care.Mean)
				}
				if r.N == 0 && (r.Care != nil || r.Support != nil) {
					t.Errorf("empty round %d has distributions", r.Round)
				}
			}
			if !reflect.DeepEqual(got, tc.want) || m.FinalRound != tc.final {
				t.Fatalf("rounds %v final %d, want %v final %d", got, m.FinalRound, tc.want, tc.final)
			}
		})
	}
	// Only round 0: round 0 listed even without IncludeInitial.
	m := mustCompute(t, Input{Agents: agents(1), States: st[:1]})
	if len(m.Rounds) != 1 || m.Rounds[0].Round != 0 {
		t.Fatalf("round-0-only rounds = %+v", m.Rounds)
	}
}

func TestShiftAndTopMovers(t *testing.T) {
	st := []AgentState{
		{AgentID: "a0", Round: 0, Care: 2, Support: 0},
		{AgentID: "a0", Round: 2, Care: 5, Support: 3},
		{AgentID: "a1", Round: 0, Care: 6, Support: 1},
		{AgentID: "a1", Round: 2, Care: 4, Support: -2},
		{AgentID: "a2", Round: 0, Care: 5, Support: 2},
		{AgentID: "a2", Round: 2, Care: 5, Support: 1},
		{AgentID: "a3", Round: 0, Care: 5, Support: 2}, // no final state
		{AgentID: "a4", Round: 0, Care: 5, Support: 2},
		{AgentID: "a4", Round: 2, Failed: true},
	}
	m := mustCompute(t, Input{Agents: agents(5), States: st, Rounds: 2})
	if m.Shift.N != 3 {
		t.Fatalf("shift N = %d", m.Shift.N)
	}
	checkF(t, "meanCareDelta", m.Shift.MeanCareDelta, fp((3.0-2.0+0)/3))
	checkF(t, "meanSupportDelta", m.Shift.MeanSupportDelta, fp((3.0-3.0-1.0)/3))
	var ids []string
	for _, a := range m.Shift.Agents {
		ids = append(ids, a.AgentID)
	}
	if want := []string{"a0", "a1", "a2"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("order = %v, want %v", ids, want)
	}
	want1 := AgentShift{AgentID: "a1", InitialCare: 6, FinalCare: 4, CareDelta: -2, InitialSupport: 1, FinalSupport: -2, SupportDelta: -3}
	if m.Shift.Agents[1] != want1 {
		t.Fatalf("a1 = %+v", m.Shift.Agents[1])
	}

	// 12 agents with support delta i-6 (ties on |delta| broken by id).
	var st2 []AgentState
	for i := 0; i < 12; i++ {
		id := fmt.Sprintf("a%d", i)
		st2 = append(st2, AgentState{AgentID: id, Round: 0, Care: 5}, AgentState{AgentID: id, Round: 1, Care: 5, Support: float64(i-6) * 0.8})
	}
	m = mustCompute(t, Input{Agents: agents(12), States: st2, Rounds: 1})
	ids = nil
	for _, a := range m.TopMovers {
		ids = append(ids, a.AgentID)
	}
	want := []string{"a0", "a1", "a11", "a10", "a2", "a3", "a9", "a4", "a8", "a5"}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("top movers = %v, want %v", ids, want)
	}
}

func TestPolarization(t *testing.T) {
	tests := []struct {
		name     string
		support  []float64
		variance *float64
		bc       *float64
		extremes *float64
	}{
		{"two poles n=4", []float64{-5, -5, 5, 5}, fp(25), fp(0.13333333333333336), fp(1)},
		{"spread n=5", []float64{-5, -4, 0, 4, 5}, fp(16.4), fp(0.19080590238365494), fp(0.8)},
		{"skewed n=6", []float64{1, 2, 2, 3, 3, 3}, fp(36.0/6 - (14.0/6)*(14.0/6)), fp(0.2915966386554623), fp(0)},
		{"n=3 no bc", []float64{-4, 0, 3.5}, fp(28.25/3 - (1.0 / 36)), nil, fp(1.0 / 3)},
		{"constant no bc", []float64{2, 2, 2, 2, 2}, fp(0), nil, fp(0)},
	}
	// Variances: E[x²] − mean². n=6: Σx² = 36, mean 14/6; n=3: Σx² = 28.25, mean −1/6.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustCompute(t, Input{Agents: agents(len(tc.support)), States: finalStates(nil, tc.support), Rounds: 1})
			p := m.Polarization
			if p.N != len(tc.support) {
				t.Errorf("N = %d", p.N)
			}
			checkF(t, "variance", p.SupportVariance, tc.variance)
			checkF(t, "bimodality", p.BimodalityCoefficient, tc.bc)
			checkF(t, "extremes", p.ExtremesShare, tc.extremes)
		})
	}
}

func TestConsensus(t *testing.T) {
	tests := []struct {
		name    string
		support []float64
		median  float64
		within  float64
		frag    int
	}{
		{"three groups", []float64{-5, -4, 0, 1, 2.5}, 0, 2.0 / 5, 3},
		{"gap exactly one does not split", []float64{-2, -1, 0, 1, 2}, 0, 3.0 / 5, 1},
		{"two poles", []float64{-5, -5, 5, 5}, 0, 0, 2},
		{"even median", []float64{1, 2, 3.5, 4}, 2.75, 2.0 / 4, 2},
		{"single", []float64{3}, 3, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustCompute(t, Input{Agents: agents(len(tc.support)), States: finalStates(nil, tc.support), Rounds: 1})
			c := m.Consensus
			checkF(t, "median", c.MedianSupport, &tc.median)
			checkF(t, "within", c.WithinOneOfMedianShare, &tc.within)
			if c.Fragmentation != tc.frag {
				t.Errorf("fragmentation = %d, want %d", c.Fragmentation, tc.frag)
			}
		})
	}
	m := mustCompute(t, Input{Agents: agents(1)})
	if m.Consensus.MedianSupport != nil || m.Consensus.Fragmentation != 0 {
		t.Fatalf("empty consensus = %+v", m.Consensus)
	}
}

func TestAssortativity(t *testing.T) {
	tests := []struct {
		name    string
		support []float64
		ties    []Tie
		want    *float64
		used    int
	}{
		{"path unweighted", []float64{1, 1, -1}, []Tie{{"a0", "a1", 1}, {"a1", "a2", 1}}, fp(-1.0 / 3), 2},
		{"path weighted", []float64{1, 1, -1}, []Tie{{"a0", "a1", 3}, {"a1", "a2", 1}}, fp(-1.0 / 7), 2},
		{"perfect homophily", []float64{2, 2, -2, -2}, []Tie{{"a0", "a1", 1}, {"a2", "a3", 2}}, fp(1), 2},
		{"perfect heterophily", []float64{2, -2, 2, -2}, []Tie{{"a0", "a1", 1}, {"a2", "a3", 1}}, fp(-1), 2},
		{"self loop ignored", []float64{2, 2, -2, -2}, []Tie{{"a0", "a1", 1}, {"a2", "a3", 2}, {"a0", "a0", 5}}, fp(1), 2},
		{"no ties", []float64{1, 2}, nil, nil, 0},
		{"zero variance", []float64{1, 1, 1}, []Tie{{"a0", "a1", 1}, {"a1", "a2", 1}}, nil, 2},
		{"zero weight", []float64{1, 2}, []Tie{{"a0", "a1", 0}}, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustCompute(t, Input{Agents: agents(len(tc.support)), Ties: tc.ties, States: finalStates(nil, tc.support), Rounds: 1})
			checkF(t, "assortativity", m.EchoChamber.SupportAssortativity, tc.want)
			if m.EchoChamber.Ties != tc.used {
				t.Errorf("ties = %d, want %d", m.EchoChamber.Ties, tc.used)
			}
		})
	}
}

func TestSegments(t *testing.T) {
	ag := []Agent{
		{AgentID: "a0", Cluster: ip(2), Age: ip(20), Gender: sp("f"), Profile: map[string]any{"region": "north", "score": 3.0, "note": "x"}},
		{AgentID: "a1", Cluster: ip(10), Age: ip(25), Gender: sp("m"), Profile: map[string]any{"region": "south", "score": 4.0, "note": "y"}},
		{AgentID: "a2", Cluster: ip(2), Age: ip(39), Gender: sp("f"), Profile: map[string]any{"region": "north", "note": 5}},
		{AgentID: "a3", Cluster: ip(10), Age: ip(40), Profile: map[string]any{"region": "north", "gender": "ignored"}},
	}
	st := []AgentState{
		{AgentID: "a0", Round: 0, Care: 4, Support: 0}, {AgentID: "a0", Round: 1, Care: 6, Support: 2},
		{AgentID: "a1", Round: 0, Care: 4, Support: 0}, {AgentID: "a1", Round: 1, Care: 8, Support: -4},
		{AgentID: "a2", Round: 1, Care: 2, Support: 1}, // no round 0 => no shift
		{AgentID: "a3", Round: 0, Care: 4, Support: 1}, {AgentID: "a3", Round: 1, Failed: true},
	}
	m := mustCompute(t, Input{Agents: ag, States: st, Rounds: 1})
	type row struct {
		key, value           string
		count                int
		care, support, shift *float64
	}
	want := []row{
		{"cluster", "2", 2, fp(4), fp(1.5), fp(2)},
		{"cluster", "10", 2, fp(8), fp(-4), fp(-4)},
		{"gender", "f", 2, fp(4), fp(1.5), fp(2)},
		{"gender", "m", 1, fp(8), fp(-4), fp(-4)},
		{"ageGroup", "<25", 1, fp(6), fp(2), fp(2)},
		{"ageGroup", "25-40", 2, fp(5), fp(-1.5), fp(-4)},
		{"ageGroup", "40+", 1, nil, nil, nil},
		{"region", "north", 3, fp(4), fp(1.5), fp(2)},
		{"region", "south", 1, fp(8), fp(-4), fp(-4)},
	}
	var got []row
	for _, s := range m.Segments {
		for _, v := range s.Values {
			got = append(got, row{s.Key, v.Value, v.Count, v.MeanCare, v.MeanSupport, v.MeanSupportShift})
		}
	}
	if len(got) != len(want) {
		t.Fatalf("segments = %+v", m.Segments)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.key != w.key || g.value != w.value || g.count != w.count {
			t.Errorf("row %d = %s/%s/%d, want %s/%s/%d", i, g.key, g.value, g.count, w.key, w.value, w.count)
		}
		checkF(t, w.key+"/"+w.value+" care", g.care, w.care)
		checkF(t, w.key+"/"+w.value+" support", g.support, w.support)
		checkF(t, w.key+"/"+w.value+" shift", g.shift, w.shift)
	}

	// More than 20 distinct values: skipped; exactly 20: kept.
	for _, n := range []int{20, 21} {
		a := agents(n)
		for i := range a {
			a[i].Profile = map[string]any{"name": fmt.Sprintf("n%02d", i)}
		}
		m := mustCompute(t, Input{Agents: a})
		if kept := len(m.Segments) == 1; kept != (n <= 20) {
			t.Errorf("n=%d distinct: segments = %d", n, len(m.Segments))
		}
	}
}

func TestInfluence(t *testing.T) {
	// Star: j (a0) at 5; a1 moves 1 -> 3 (toward j by 2, w 1);
	// a2 moves -1 -> -3 (away by 2, w 3). influence_a0 = (2 − 6)/4 = −1.
	// a1, a2: their only neighbour a0 did not move => 0.
	// a3 has only a zero-weight tie => undefined, omitted.
	// a4 has no round-0 state => omitted; its neighbour a0 gets nothing from it (no shift).
	ag := agents(6)
	st := []AgentState{
		{AgentID: "a0", Round: 0, Care: 5, Support: 5}, {AgentID: "a0", Round: 1, Care: 5, Support: 5},
		{AgentID: "a1", Round: 0, Care: 5, Support: 1}, {AgentID: "a1", Round: 1, Care: 5, Support: 3},
		{AgentID: "a2", Round: 0, Care: 5, Support: -1}, {AgentID: "a2", Round: 1, Care: 5, Support: -3},
		{AgentID: "a3", Round: 0, Care: 5, Support: 0}, {AgentID: "a3", Round: 1, Care: 5, Support: 0},
		{AgentID: "a4", Round: 1, Care: 5, Support: 0},
		{AgentID: "a5", Round: 0, Care: 5, Support: -2}, {AgentID: "a5", Round: 1, Care: 5, Support: 2},
	}
	ties := []Tie{
		{"a0", "a1", 1}, {"a2", "a0", 3}, {"a3", "a5", 0}, {"a4", "a0", 1}, {"a5", "a5", 1},
	}
	m := mustCompute(t, Input{Agents: ag, Ties: ties, States: st, Rounds: 1})
	want := []Influence{
		{AgentID: "a1", Score: 0, Neighbours: 1, Weight: 1},
		{AgentID: "a2", Score: 0, Neighbours: 1, Weight: 3},
		{AgentID: "a0", Score: -1, Neighbours: 2, Weight: 4},
	}
	if !reflect.DeepEqual(m.MostInfluential, want) {
		t.Fatalf("influence = %+v, want %+v", m.MostInfluential, want)
	}
}

func TestJSONFieldOrder(t *testing.T) {
	m := mustCompute(t, Input{Agents: agents(1), States: finalStates(nil, []float64{1}), Rounds: 1})
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"finalRound", "agentCount", "headline", "rounds", "shift", "polarization", "consensus", "echoChamber", "segments", "topMovers", "mostInfluential"}
	last := -1
	for _, k := range keys {
		i := strings.Index(string(b), `"`+k+`"`)
		if i <= last {
			t.Fatalf("key %q out of order in %s", k, b)
		}
		last = i
	}
	for _, k := range []string{`"segments":[]`, `"mostInfluential":[]`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("missing %s in %s", k, b)
		}
	}
}
