package experiment

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/ethox/ethox/runmetrics"
)

// synthetic builds runs of two arms over n agents whose final support in
// replicate r of arm a is base[a] + r/10 for every agent (care 5).
func synthetic(n int, reps []int, base []float64) ([]runmetrics.Agent, []RunData) {
	agents := make([]runmetrics.Agent, n)
	for i := range agents {
		g := "f"
		if i%2 == 1 {
			g = "m"
		}
		agents[i] = runmetrics.Agent{AgentID: strconv.Itoa(i), Gender: &g}
	}
	var runs []RunData
	for a, k := range reps {
		for r := range k {
			id := 100*a + r
			d := RunData{Arm: a, Replicate: r, Seed: RunSeed(1, r), SimulationID: &id, Status: "SUCCEEDED", Rounds: 1, CostUSD: 0.5}
			for i := range n {
				s := base[a] + float64(r)/10 + float64(i%3)/10
				d.Final = append(d.Final, runmetrics.AgentState{AgentID: strconv.Itoa(i), Round: 1, Care: 5, Support: s})
			}
			runs = append(runs, d)
		}
	}
	return agents, runs
}

func TestAnalyzeKnownValues(t *testing.T) {
	agents, runs := synthetic(30, []int{3, 3}, []float64{1, 0})
	res, err := Analyze([]string{"a", "b"}, runs, agents, 5, 200)
	if err != nil {
		t.Fatal(err)
	}
	// Arm a's support scores: 10 × (1 + r/10 + 0.1) = 11, 12, 13: mean 12, sd 1,
	// t(0.975, 2) = 4.302652729911275.
	s := res.Arms[0].Support
	half := 4.302652729911275 / math.Sqrt(3)
	if s.Method != MethodT || math.Abs(*s.Mean-12) > 1e-9 || math.Abs(*s.StdDev-1) > 1e-9 || math.Abs(*s.Low-(12-half)) > 1e-9 {
		t.Fatalf("arm a support %+v", s)
	}
	// a − b = 10 with equal variances: Welch's df = 4, t(0.975, 4) = 2.7764451051977987.
	d := res.Differences[0].Support
	se := math.Sqrt(2.0 / 3)
	if d.Method != MethodWelch || math.Abs(*d.Diff-10) > 1e-9 || math.Abs(*d.DF-4) > 1e-9 || math.Abs(*d.High-(10+2.7764451051977987*se)) > 1e-9 {
		t.Fatalf("difference %+v", d)
	}
	// Support per dollar: 12 points for 0.5 USD a run.
	if p := res.Arms[0].SupportPerDollar; p == nil || math.Abs(*p-24) > 1e-9 {
		t.Fatalf("support per dollar %v", p)
	}
	if len(res.Segments) != 2 || res.Segments[0].Key != "gender" || res.Segments[0].Arms[0].Support.N != 3 {
		t.Fatalf("segments %+v", res.Segments)
	}
	// Care does not vary: a zero-width interval, Welch with no df.
	if c := res.Differences[0].Care; c.DF != nil || *c.Low != 0 || *c.High != 0 {
		t.Fatalf("care difference %+v", c)
	}
}

func TestAnalyzeOneReplicateAndMissing(t *testing.T) {
	agents, runs := synthetic(40, []int{1, 1, 2}, []float64{1, 0, 2})
	res, err := Analyze([]string{"a", "b", "c"}, runs, agents, 7, 1000)
	if err != nil {
		t.Fatal(err)
	}
	a := res.Arms[0].Support
	if a.Method != MethodBootstrap || a.N != 1 || a.StdDev != nil || !(*a.Low < *a.Mean && *a.Mean < *a.High) {
		t.Fatalf("one replicate %+v", a)
	}
	if d := res.Differences[0].Support; d.Method != MethodBootstrap || !(*d.Low < 10 && 10 < *d.High) {
		t.Fatalf("a − b %+v", d)
	}
	if d := res.Differences[1].Support; d.Method != MethodNone || d.Low != nil || d.Diff == nil {
		t.Fatalf("a − c (one replicate against two) %+v", d)
	}
	runs[2].Status, runs[2].Final = "FAILED", nil // arm c: one of two replicates failed
	failed, _ := Analyze([]string{"a", "b", "c"}, runs, agents, 7, 1000)
	if c := failed.Arms[2]; c.Runs != 2 || c.Succeeded != 1 || c.Support.Method != MethodBootstrap || c.Replicates[0].SupportScore != nil {
		t.Fatalf("arm c with a failed run %+v", c)
	}
	again, _ := Analyze([]string{"a", "b", "c"}, runs, agents, 7, 1000)
	if *again.Arms[0].Support.Low != *a.Low {
		t.Fatal("the bootstrap is not reproducible from its seed")
	}
	other, _ := Analyze([]string{"a", "b", "c"}, runs, agents, 8, 1000)
	if *other.Arms[0].Support.Low == *a.Low {
		t.Fatal("another seed gave the same bootstrap")
	}
}

func TestRunSeedsDistinct(t *testing.T) {
	seen := map[int64]bool{}
	for r := range 1000 {
		s := RunSeed(42, r)
		if s <= 0 || seen[s] {
			t.Fatalf("replicate %d: seed %d", r, s)
		}
		seen[s] = true
	}
}

// Arm names are the client's text: charts and the CSV must not let them out.
func TestOutputsEscapeNames(t *testing.T) {
	agents, runs := synthetic(10, []int{2, 2}, []float64{1, 0})
	evil := []string{`<script>alert(1)</script>"&`, "=HYPERLINK(\"x\")"}
	res, err := Analyze(evil, runs, agents, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ChartNames {
		svg, ok := Chart(res, name)
		if !ok || bytes.Contains(svg, []byte("<script>")) {
			t.Fatalf("chart %s: %s", name, svg)
		}
		dec := xml.NewDecoder(bytes.NewReader(svg))
		for {
			if _, err := dec.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("chart %s is not well-formed: %v", name, err)
			}
		}
	}
	if _, ok := Chart(res, "nope"); ok {
		t.Fatal("unknown chart rendered")
	}
	var b bytes.Buffer
	if err := WriteCSV(res, &b); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(recs) != 1+4+2 {
		t.Fatalf("%d rows %v", len(recs), err)
	}
	for _, r := range recs[1:] {
		if strings.HasPrefix(r[1], "=") {
			t.Fatalf("formula cell %q", r[1])
		}
	}
	if n := Narrative("x", res); !strings.Contains(n, "Arm") || !strings.Contains(n, "clear difference") {
		t.Fatalf("narrative %q", n)
	}
}

// BenchmarkAnalyze: 3 arms × 5 replicates of 10,000 agents, and one
// replicate each (the bootstrap, B = 2000).
func BenchmarkAnalyze(b *testing.B) {
	for _, reps := range []int{5, 1} {
		agents, runs := synthetic(10_000, []int{reps, reps, reps}, []float64{1, 0, -1})
		b.Run(strconv.Itoa(reps)+"replicates", func(b *testing.B) {
			for b.Loop() {
				if _, err := Analyze([]string{"a", "b", "c"}, runs, agents, 1, 2000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
