package runmetrics

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"testing"

	"github.com/ethox/ethox/internal/fixtures"
)

type protoAgent struct {
	AgentID              int                `json:"agent_id"`
	Traits               map[string]float64 `json:"traits"`
	LevelOfCare          float64            `json:"level_of_care"`
	EffectOnUsage        float64            `json:"effect_on_usage"`
	TextOpinion          string             `json:"text_opinion"`
	InitialOpinion       string             `json:"initial_opinion"`
	InitialLevelOfCare   *float64           `json:"initial_level_of_care"`
	InitialEffectOnUsage *float64           `json:"initial_effect_on_usage"`
}

type protoRun struct {
	Trigger string       `json:"trigger"`
	Agents  []protoAgent `json:"agents"`
	Ties    []struct {
		Source, Target int
		Weight         float64
	} `json:"ties"`
}

// TestPrototypeFixture recomputes the prototype's headline numbers with
// straight loops over the parsed JSON and compares them with Compute.
func TestPrototypeFixture(t *testing.T) {
	raw := fixtures.Read(t, fixtures.ResultB)
	var run protoRun
	if err := json.Unmarshal(raw, &run); err != nil {
		t.Fatal(err)
	}
	if len(run.Agents) != 200 {
		t.Fatalf("fixture has %d agents, want 200", len(run.Agents))
	}
	if len(run.Ties) != 0 {
		t.Fatalf("fixture unexpectedly has %d ties", len(run.Ties))
	}

	in := Input{Rounds: 1, IncludeInitial: true}
	for _, a := range run.Agents {
		id := strconv.Itoa(a.AgentID)
		in.Agents = append(in.Agents, Agent{AgentID: id})
		if a.InitialLevelOfCare == nil || a.InitialEffectOnUsage == nil {
			t.Fatalf("agent %d lacks initial values", a.AgentID)
		}
		in.States = append(in.States,
			AgentState{AgentID: id, Round: 0, Opinion: a.InitialOpinion, Care: *a.InitialLevelOfCare * 10, Support: *a.InitialEffectOnUsage},
			AgentState{AgentID: id, Round: 1, Opinion: a.TextOpinion, Care: a.LevelOfCare * 10, Support: a.EffectOnUsage})
	}
	m, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}

	// Independent computation.
	n := float64(len(run.Agents))
	var sumCare, sumSup, sumCare0, sumSup0 float64
	var cares, sups []float64
	extremes := 0
	for _, a := range run.Agents {
		c := a.LevelOfCare * 10
		sumCare += c
		sumSup += a.EffectOnUsage
		sumCare0 += *a.InitialLevelOfCare * 10
		sumSup0 += *a.InitialEffectOnUsage
		cares = append(cares, c)
		sups = append(sups, a.EffectOnUsage)
		if math.Abs(a.EffectOnUsage) >= 4 {
			extremes++
		}
	}
	meanCare, meanSup := sumCare/n, sumSup/n
	careScore := int(math.RoundToEven(meanCare * 10)) // Python's round()
	careScore = max(0, min(100, careScore))
	change := int(math.RoundToEven(meanSup * 10))
	change = max(-50, min(50, change))
	med := func(x []float64) float64 {
		sort.Float64s(x)
		k := len(x)
		if k%2 == 1 {
			return x[k/2]
		}
		return (x[k/2-1] + x[k/2]) / 2
	}
	medCare, medSup := med(cares), med(sups)

	if *m.Headline.CareScore100 != careScore {
		t.Errorf("CareScore100 = %d, want %d", *m.Headline.CareScore100, careScore)
	}
	if *m.Headline.ChangeInSupport50 != change {
		t.Errorf("ChangeInSupport50 = %d, want %d", *m.Headline.ChangeInSupport50, change)
	}
	// Pin the prototype's values as well (mean care 7.45295, mean support 0.445).
	if careScore != 75 || change != 4 {
		t.Errorf("independent headline = (%d, %d), want (75, 4)", careScore, change)
	}
	if len(m.Rounds) != 2 || m.Rounds[1].Round != 1 || m.Rounds[1].N != 200 {
		t.Fatalf("rounds = %+v", m.Rounds)
	}
	fin := m.Rounds[1]
	if !approx(fin.Care.Mean, meanCare) || !approx(fin.Support.Mean, meanSup) {
		t.Errorf("final means = (%v, %v), want (%v, %v)", fin.Care.Mean, fin.Support.Mean, meanCare, meanSup)
	}
	if !approx(fin.Care.Median, medCare) || !approx(fin.Support.Median, medSup) {
		t.Errorf("final medians = (%v, %v), want (%v, %v)", fin.Care.Median, fin.Support.Median, medCare, medSup)
	}
	if got, want := *m.Polarization.ExtremesShare, float64(extremes)/n; got != want {
		t.Errorf("extremes share = %v, want %v", got, want)
	}
	if !approx(*m.Shift.MeanCareDelta, (sumCare-sumCare0)/n) || !approx(*m.Shift.MeanSupportDelta, (sumSup-sumSup0)/n) {
		t.Errorf("shift = (%v, %v), want (%v, %v)", *m.Shift.MeanCareDelta, *m.Shift.MeanSupportDelta, (sumCare-sumCare0)/n, (sumSup-sumSup0)/n)
	}
	if m.EchoChamber.SupportAssortativity != nil || len(m.MostInfluential) != 0 {
		t.Errorf("no ties, yet echo=%v influential=%v", m.EchoChamber.SupportAssortativity, m.MostInfluential)
	}
	hist := 0
	for _, c := range fin.Care.Histogram {
		hist += c
	}
	if hist != 200 {
		t.Errorf("care histogram total %d", hist)
	}
}
