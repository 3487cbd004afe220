package experiment

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/ethox/ethox/runmetrics"
)

// The statistics of an experiment's result. Conventions:
//
//   - A run's scores are runmetrics' headline on its final round, unrounded:
//     care score = 10 × mean final care (0..100) and support score =
//     10 × mean final support (-50..50), over the agents with a valid (not
//     failed) final state. runmetrics.Headline rounds them half to even for
//     display; a statistic across runs must not (rounding a 0.04 difference
//     away, or inventing a 1-point one, would bias it).
//   - Only SUCCEEDED runs count; the others are listed with their status.
//   - A segment's score in a run is the same on its members only: 10 ×
//     runmetrics.SegmentValue.MeanCare / MeanSupport (segments, their values
//     and their order are runmetrics'); a run without a valid member has no
//     score for the segment.
//   - Intervals are two-sided at Confidence (95%).

// Confidence is the level of every interval.
const Confidence = 0.95

// Methods of an Estimate or a DiffEstimate.
const (
	// MethodT: a Student t-interval across replicates (n ≥ 2).
	MethodT = "T"
	// MethodWelch: Welch's interval of a difference of two arms' means (both n ≥ 2).
	MethodWelch = "WELCH"
	// MethodBootstrap: a percentile bootstrap over the agents of the one
	// replicate (of each arm, for a difference).
	MethodBootstrap = "BOOTSTRAP"
	// MethodNone: no interval (no data, or one replicate against several).
	MethodNone = "NONE"
)

// Result is an experiment's stored result.
type Result struct {
	Format             string  `json:"format"` // "ethox-experiment/1"
	Confidence         float64 `json:"confidence"`
	BootstrapSeed      int64   `json:"bootstrapSeed"`
	BootstrapResamples int     `json:"bootstrapResamples"`
	// Arms in the experiment's order.
	Arms []ArmResult `json:"arms"`
	// Differences: every pair (a, b) with a before b, of a − b.
	Differences []Difference `json:"differences"`
	// Segments: every segment value, each with its arms and differences.
	Segments []SegmentResult `json:"segments"`
}

// ArmResult is one arm across its replicates.
type ArmResult struct {
	Name      string `json:"name"`
	Runs      int    `json:"runs"`      // planned replicates
	Succeeded int    `json:"succeeded"` // replicates that count
	// Care and Support estimate the arm's mean score (see Estimate).
	Care    Estimate `json:"care"`
	Support Estimate `json:"support"`
	// Usage summed over the arm's runs (every status).
	Calls   int     `json:"calls"`
	Tokens  int     `json:"tokens"`
	CostUSD float64 `json:"costUSD"`
	// SupportPerDollar = Support.Mean / (CostUSD of the succeeded runs /
	// Succeeded): support points (-50..50) moved per dollar spent on a run;
	// null when that cost is 0 (classical engines, a free model) or there is
	// no mean.
	SupportPerDollar *float64 `json:"supportPerDollar"`
	// CacheHits and CostSavedUSD: the LLM answer cache's hits over the
	// arm's runs and what they would have cost (0 without the cache).
	CacheHits    int     `json:"cacheHits"`
	CostSavedUSD float64 `json:"costSavedUSD"`
	// Replicates in replicate order.
	Replicates []ReplicateResult `json:"replicates"`
}

// ReplicateResult is one run of an arm.
type ReplicateResult struct {
	Replicate    int      `json:"replicate"`
	Seed         int64    `json:"seed"`
	SimulationID *int     `json:"simulationId"` // null: never started
	Status       string   `json:"status"`       // the run's, or NOT_STARTED
	Agents       int      `json:"agents"`       // valid final states
	CareScore    *float64 `json:"careScore"`    // null unless SUCCEEDED with agents
	SupportScore *float64 `json:"supportScore"`
	Calls        int      `json:"calls"`
	Tokens       int      `json:"tokens"`
	CostUSD      float64  `json:"costUSD"`
}

// Estimate is a mean score with its spread and interval.
//
//   - N replicates ≥ 2 (Method T): Mean = the replicates' mean, StdDev =
//     their sample standard deviation (n−1, gonum stat.StdDev), StdError =
//     StdDev/√N, and [Low, High] = Mean ± t(0.975, N−1) × StdError, the
//     Student t quantile from gonum's distuv.StudentsT.
//   - N = 1 (Method BOOTSTRAP): Mean = the one run's score; StdDev is null
//     (no spread across one replicate); the agents' final values are
//     resampled with replacement B times (BootstrapResamples, from a PCG
//     seeded by BootstrapSeed and a hash of the arm and segment), StdError =
//     the standard deviation of the B resampled scores and [Low, High] their
//     2.5% and 97.5% empirical quantiles (gonum stat.Quantile, Empirical):
//     the uncertainty of this population's reaction, not of a new replicate.
//   - N = 0 (Method NONE): everything null.
type Estimate struct {
	N        int      `json:"n"`
	Mean     *float64 `json:"mean"`
	StdDev   *float64 `json:"stdDev"`
	StdError *float64 `json:"stdError"`
	Low      *float64 `json:"low"`
	High     *float64 `json:"high"`
	Method   string   `json:"method"`
}

// Difference compares arm A with arm B (A − B).
type Difference struct {
	ArmA    string       `json:"armA"`
	ArmB    string       `json:"armB"`
	Care    DiffEstimate `json:"care"`
	Support DiffEstimate `json:"support"`
}

// DiffEstimate is a difference of two arms' mean scores with its interval.
//
//   - Both arms with ≥ 2 replicates (Method WELCH): Diff = meanA − meanB,
//     StdError = √(sA²/nA + sB²/nB), DF by Welch–Satterthwaite
//     (sA²/nA + sB²/nB)² / ((sA²/nA)²/(nA−1) + (sB²/nB)²/(nB−1)), and
//     [Low, High] = Diff ± t(0.975, DF) × StdError. When both variances are 0
//     the interval is [Diff, Diff] and DF is null.
//   - Both arms with one replicate (Method BOOTSTRAP): each arm's agents are
//     resampled independently B times; StdError and [Low, High] are the
//     standard deviation and 2.5%/97.5% quantiles of the resampled
//     differences.
//   - Otherwise (Method NONE): Diff when both means exist, no interval.
type DiffEstimate struct {
	Diff     *float64 `json:"diff"`
	StdError *float64 `json:"stdError"`
	DF       *float64 `json:"df"`
	Low      *float64 `json:"low"`
	High     *float64 `json:"high"`
	Method   string   `json:"method"`
}

// SegmentResult is one value of a segment attribute across the arms.
type SegmentResult struct {
	Key         string       `json:"key"`
	Value       string       `json:"value"`
	Count       int          `json:"count"` // agents with the value
	Arms        []SegmentArm `json:"arms"`
	Differences []Difference `json:"differences"`
}

// SegmentArm is an arm's estimate on a segment's members.
type SegmentArm struct {
	Arm     string   `json:"arm"`
	Care    Estimate `json:"care"`
	Support Estimate `json:"support"`
}

// RunData is what Analyze needs of one planned run.
type RunData struct {
	Arm          int
	Replicate    int
	Seed         int64
	SimulationID *int
	Status       string
	Calls        int
	Tokens       int
	CostUSD      float64
	CacheHits    int
	CostSavedUSD float64
	// Final holds the valid final-round states of a SUCCEEDED run.
	Final []runmetrics.AgentState
	// Rounds is the run's final round.
	Rounds int
}

// Analyze computes the result of runs of arms over a network's agents.
func Analyze(arms []string, runs []RunData, agents []runmetrics.Agent, seed int64, resamples int) (*Result, error) {
	res := &Result{Format: resultFormat, Confidence: Confidence, BootstrapSeed: seed, BootstrapResamples: resamples,
		Arms: make([]ArmResult, len(arms)), Differences: []Difference{}, Segments: []SegmentResult{}}
	// Per arm, the succeeded runs' final values by agent, and their metrics.
	type scored struct {
		care, support map[string]float64 // by agent
		m             *runmetrics.Metrics
	}
	perArm := make([][]scored, len(arms))
	for i, name := range arms {
		res.Arms[i] = ArmResult{Name: name, Replicates: []ReplicateResult{}}
	}
	succeededCost := make([]float64, len(arms))
	for _, r := range runs {
		a := &res.Arms[r.Arm]
		a.Runs++
		a.Calls += r.Calls
		a.Tokens += r.Tokens
		a.CostUSD += r.CostUSD
		a.CacheHits += r.CacheHits
		a.CostSavedUSD += r.CostSavedUSD
		rr := ReplicateResult{Replicate: r.Replicate, Seed: r.Seed, SimulationID: r.SimulationID, Status: r.Status,
			Calls: r.Calls, Tokens: r.Tokens, CostUSD: r.CostUSD}
		if r.Status == "SUCCEEDED" && len(r.Final) > 0 {
			m, err := runmetrics.Compute(runmetrics.Input{Agents: agents, States: r.Final, Rounds: r.Rounds})
			if err != nil {
				return nil, err
			}
			sc := scored{care: map[string]float64{}, support: map[string]float64{}, m: m}
			for _, st := range r.Final {
				sc.care[st.AgentID], sc.support[st.AgentID] = st.Care, st.Support
			}
			if fin := finalStats(m); fin != nil && fin.Care != nil {
				rr.Agents = fin.N
				rr.CareScore, rr.SupportScore = ptr(10*fin.Care.Mean), ptr(10*fin.Support.Mean)
				perArm[r.Arm] = append(perArm[r.Arm], sc)
				succeededCost[r.Arm] += r.CostUSD
			}
		}
		a.Replicates = append(a.Replicates, rr)
	}
	for i := range res.Arms {
		slices.SortFunc(res.Arms[i].Replicates, func(x, y ReplicateResult) int { return x.Replicate - y.Replicate })
	}

	// all: every agent's id, so "the arm's agents" resample the whole population.
	all := make([]string, len(agents))
	for i, a := range agents {
		all[i] = a.AgentID
	}
	// estimate is an arm's Estimate from its replicates' scores (replicate),
	// or with one replicate a bootstrap over members' values (agentValue × 10);
	// it also returns the values a difference needs.
	estimate := func(label string, arm int, members []string, replicate func(sc scored) *float64, agentValue func(sc scored, id string) (float64, bool)) (Estimate, []float64) {
		var xs []float64
		for _, sc := range perArm[arm] {
			if v := replicate(sc); v != nil {
				xs = append(xs, *v)
			}
		}
		switch len(xs) {
		case 0:
			return Estimate{Method: MethodNone}, nil
		case 1:
			var vals []float64
			for _, id := range members {
				if v, ok := agentValue(perArm[arm][0], id); ok {
					vals = append(vals, 10*v)
				}
			}
			e := Estimate{N: 1, Mean: ptr(xs[0]), Method: MethodBootstrap}
			boot := bootstrapMeans(vals, resamples, rng(seed, label))
			e.StdError, e.Low, e.High = spread(boot)
			return e, vals
		}
		return tInterval(xs), xs
	}
	careOf := func(sc scored, id string) (float64, bool) { v, ok := sc.care[id]; return v, ok }
	supportOf := func(sc scored, id string) (float64, bool) { v, ok := sc.support[id]; return v, ok }
	headCare := func(sc scored) *float64 {
		if f := finalStats(sc.m); f != nil && f.Care != nil {
			return ptr(10 * f.Care.Mean)
		}
		return nil
	}
	headSupport := func(sc scored) *float64 {
		if f := finalStats(sc.m); f != nil && f.Support != nil {
			return ptr(10 * f.Support.Mean)
		}
		return nil
	}

	type armEst struct {
		care, support      Estimate
		careVals, suppVals []float64 // replicate scores (n ≥ 2) or agent values (n = 1)
	}
	compare := func(label string, names []string, ests []armEst) []Difference {
		out := []Difference{}
		for i := range ests {
			for j := i + 1; j < len(ests); j++ {
				out = append(out, Difference{ArmA: names[i], ArmB: names[j],
					Care:    difference(ests[i].care, ests[j].care, ests[i].careVals, ests[j].careVals, resamples, rng(seed, label+"/care/"+names[i]+"/"+names[j])),
					Support: difference(ests[i].support, ests[j].support, ests[i].suppVals, ests[j].suppVals, resamples, rng(seed, label+"/support/"+names[i]+"/"+names[j]))})
			}
		}
		return out
	}

	heads := make([]armEst, len(arms))
	for i, name := range arms {
		var h armEst
		h.care, h.careVals = estimate("headline/care/"+name, i, all, headCare, careOf)
		h.support, h.suppVals = estimate("headline/support/"+name, i, all, headSupport, supportOf)
		heads[i] = h
		a := &res.Arms[i]
		a.Care, a.Support = h.care, h.support
		a.Succeeded = len(perArm[i])
		if a.Support.Mean != nil && a.Succeeded > 0 && succeededCost[i] > 0 {
			a.SupportPerDollar = ptr(*a.Support.Mean / (succeededCost[i] / float64(a.Succeeded)))
		}
	}
	res.Differences = compare("headline", arms, heads)

	for _, seg := range runmetrics.Segmentation(agents) {
		sr := SegmentResult{Key: seg.Key, Value: seg.Value, Count: len(seg.AgentIDs), Arms: []SegmentArm{}}
		segVal := func(sc scored, care bool) *float64 {
			for _, s := range sc.m.Segments {
				if s.Key != seg.Key {
					continue
				}
				for _, v := range s.Values {
					if v.Value != seg.Value {
						continue
					}
					if care && v.MeanCare != nil {
						return ptr(10 * *v.MeanCare)
					}
					if !care && v.MeanSupport != nil {
						return ptr(10 * *v.MeanSupport)
					}
				}
			}
			return nil
		}
		ests := make([]armEst, len(arms))
		label := "segment/" + seg.Key + "=" + seg.Value
		for i, name := range arms {
			var h armEst
			h.care, h.careVals = estimate(label+"/care/"+name, i, seg.AgentIDs, func(sc scored) *float64 { return segVal(sc, true) }, careOf)
			h.support, h.suppVals = estimate(label+"/support/"+name, i, seg.AgentIDs, func(sc scored) *float64 { return segVal(sc, false) }, supportOf)
			ests[i] = h
			sr.Arms = append(sr.Arms, SegmentArm{Arm: name, Care: h.care, Support: h.support})
		}
		sr.Differences = compare(label, arms, ests)
		res.Segments = append(res.Segments, sr)
	}
	return res, nil
}

// finalStats is the final round's distribution in m, nil when absent.
func finalStats(m *runmetrics.Metrics) *runmetrics.RoundStats {
	for i := range m.Rounds {
		if m.Rounds[i].Round == m.FinalRound {
			return &m.Rounds[i]
		}
	}
	return nil
}

// tInterval is the Student t-interval of the mean of xs (len ≥ 2); see Estimate.
func tInterval(xs []float64) Estimate {
	n := float64(len(xs))
	mean, sd := stat.MeanStdDev(xs, nil) // sd: sample standard deviation (n−1)
	se := sd / math.Sqrt(n)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}.Quantile(1 - (1-Confidence)/2)
	return Estimate{N: len(xs), Mean: ptr(mean), StdDev: ptr(sd), StdError: ptr(se),
		Low: ptr(mean - t*se), High: ptr(mean + t*se), Method: MethodT}
}

// difference is A − B by Welch, the bootstrap or no interval; see DiffEstimate.
// va and vb are replicate scores (n ≥ 2) or, with one replicate, agent values.
func difference(a, b Estimate, va, vb []float64, resamples int, r *rand.Rand) DiffEstimate {
	if a.Mean == nil || b.Mean == nil {
		return DiffEstimate{Method: MethodNone}
	}
	d := DiffEstimate{Diff: ptr(*a.Mean - *b.Mean), Method: MethodNone}
	switch {
	case a.N >= 2 && b.N >= 2:
		qa, qb := (*a.StdDev)*(*a.StdDev)/float64(a.N), (*b.StdDev)*(*b.StdDev)/float64(b.N)
		se := math.Sqrt(qa + qb)
		d.Method, d.StdError = MethodWelch, ptr(se)
		if se == 0 {
			d.Low, d.High = ptr(*d.Diff), ptr(*d.Diff)
			return d
		}
		df := (qa + qb) * (qa + qb) / (qa*qa/float64(a.N-1) + qb*qb/float64(b.N-1))
		t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(1 - (1-Confidence)/2)
		d.DF, d.Low, d.High = ptr(df), ptr(*d.Diff-t*se), ptr(*d.Diff+t*se)
	case a.N == 1 && b.N == 1 && len(va) > 0 && len(vb) > 0:
		diffs := make([]float64, resamples)
		for k := range diffs {
			diffs[k] = resampledMean(va, r) - resampledMean(vb, r)
		}
		d.Method = MethodBootstrap
		d.StdError, d.Low, d.High = spread(diffs)
	}
	return d
}

// bootstrapMeans are B means of resamples of vals with replacement.
func bootstrapMeans(vals []float64, b int, r *rand.Rand) []float64 {
	if len(vals) == 0 {
		return nil
	}
	out := make([]float64, b)
	for k := range out {
		out[k] = resampledMean(vals, r)
	}
	return out
}

func resampledMean(vals []float64, r *rand.Rand) float64 {
	sum := 0.0
	for range vals {
		sum += vals[r.IntN(len(vals))]
	}
	return sum / float64(len(vals))
}

// spread is the standard deviation and the 2.5%/97.5% empirical quantiles
// of bootstrap statistics (nil when there are none).
func spread(boot []float64) (se, low, high *float64) {
	if len(boot) == 0 {
		return nil, nil, nil
	}
	sorted := slices.Clone(boot)
	slices.Sort(sorted)
	alpha := (1 - Confidence) / 2
	return ptr(stat.StdDev(sorted, nil)), ptr(stat.Quantile(alpha, stat.Empirical, sorted, nil)),
		ptr(stat.Quantile(1-alpha, stat.Empirical, sorted, nil))
}

// rng is the bootstrap's generator for one statistic: PCG seeded by the
// experiment's seed and a hash of the statistic's label, so every statistic
// has its own reproducible stream whatever is computed before it.
func rng(seed int64, label string) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(label))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

func (r *Result) toMap() (map[string]any, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(b, &out)
}

// ResultFromMap reads a stored result.
func ResultFromMap(m map[string]any) (*Result, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var r Result
	return &r, json.Unmarshal(b, &r)
}
