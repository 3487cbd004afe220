package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/ethox/ethox/internal/testwait"
)

// Experiments over HTTP on both databases: the stored statistics against a
// recomputation from the stored states done here (plain sums, not the
// package's code), the one-replicate bootstrap, the budget, cancel, the
// subscription over a WebSocket, every bad input, CSV and SVG downloads.

type estimate struct {
	N                                 int
	Mean, StdDev, StdError, Low, High *float64
	Method                            string
}

type diffEstimate struct {
	Diff, StdError, DF, Low, High *float64
	Method                        string
}

type expStats struct {
	BootstrapSeed int64
	Arms          []struct {
		Name             string
		Runs, Succeeded  int
		Care, Support    estimate
		CostUSD          float64
		SupportPerDollar *float64
		Replicates       []struct {
			Replicate    int
			Seed         json.Number
			SimulationID *string `json:"simulationId"`
			Status       string
			CareScore    *float64
			SupportScore *float64
		}
	}
	Differences []struct {
		ArmA, ArmB    string
		Care, Support diffEstimate
	}
	Segments []struct {
		Key, Value string
		Count      int
		Arms       []struct {
			Arm           string
			Care, Support estimate
		}
		Differences []struct {
			ArmA, ArmB    string
			Care, Support diffEstimate
		}
	}
}

type expView struct {
	ID         string
	Status     string
	Error      *string
	Seed       json.Number
	Replicates int
	Progress   struct {
		RunsTotal, RunsStarted, RunsDone, RunsSucceeded, RunsFailed, RunsCanceled int
		CompletedSteps, TotalSteps                                                int
		Usage                                                                     struct{ Calls int }
	}
	Runs []struct {
		Arm        string
		Replicate  int
		Seed       json.Number
		Simulation *struct {
			ID     string
			Status string
			Rounds int
			Params map[string]any
		}
	}
	Result *struct {
		Version         int
		Narrative       string
		NarrativeSource string
		Stats           expStats
	}
	Exports struct{ ResultsCsv string }
	Charts  []struct{ Name, URL string }
}

const expSelection = `id status error seed replicates
  progress { runsTotal runsStarted runsDone runsSucceeded runsFailed runsCanceled completedSteps totalSteps usage { calls } }
  runs { arm replicate seed simulation { id status rounds params } }
  result { version narrative narrativeSource stats {
    bootstrapSeed
    arms { name runs succeeded costUSD supportPerDollar
      care { n mean stdDev stdError low high method } support { n mean stdDev stdError low high method }
      replicates { replicate seed simulationId status careScore supportScore } }
    differences { armA armB care { diff stdError df low high method } support { diff stdError df low high method } }
    segments { key value count arms { arm care { n mean stdDev low high method } support { n mean stdDev low high method } }
      differences { armA armB care { diff low high method } support { diff low high method } } } } }
  exports { resultsCsv } charts { name url }`

func (e *env) createExperiment(input map[string]any) gqlResponse {
	e.t.Helper()
	return e.query(`mutation($in: CreateExperimentInput!) { createExperiment(input: $in) { id status } }`, map[string]any{"in": input})
}

func (e *env) experiment(t *testing.T, id string) expView {
	t.Helper()
	var out struct{ Experiment expView }
	e.query(`query($id: ID!) { experiment(id: $id) { `+expSelection+` } }`, map[string]any{"id": id}).decode(t, &out)
	return out.Experiment
}

func (e *env) waitExperiment(t *testing.T, id string) expView {
	t.Helper()
	var v expView
	testwait.RunEndEvery(t, 3*time.Minute, 100*time.Millisecond, func() (string, string) {
		v = e.experiment(t, id)
		if testwait.Ended(v.Status) && v.Result == nil && v.Progress.RunsStarted > 0 {
			return "RUNNING", "(ended, result not stored yet)"
		}
		return v.Status, ""
	})
	return v
}

func (e *env) generate50(t *testing.T) string {
	t.Helper()
	var gen struct{ GenerateNetwork struct{ ID string } }
	e.query(`mutation { generateNetwork(input: {numAgents: 50, seed: 7}) { id } }`, nil).decode(t, &gen)
	return gen.GenerateNetwork.ID
}

// finalScores recomputes a run's scores from its stored final states: 10 ×
// the mean care and support of its valid agents (those of gender g only when
// g is not empty).
func (e *env) finalScores(t *testing.T, simID string, round int, gender string) (care, support float64) {
	t.Helper()
	ph := e.db.Placeholder
	q := `SELECT s.care, s.support FROM agent_states s JOIN agents a ON a.id = s.agent_id
		WHERE s.simulation_id = ` + ph(1) + ` AND s.round = ` + ph(2) + ` AND NOT s.failed`
	args := []any{simID, round}
	if gender != "" {
		q += ` AND a.gender = ` + ph(3)
		args = append(args, gender)
	}
	rows, err := e.db.SQL.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var c, s float64
		if err := rows.Scan(&c, &s); err != nil {
			t.Fatal(err)
		}
		care, support, n = care+c, support+s, n+1
	}
	if n == 0 {
		t.Fatalf("run %s: no final states", simID)
	}
	return 10 * care / float64(n), 10 * support / float64(n)
}

// meanSD is the mean and the sample standard deviation (n-1), by hand.
func meanSD(xs []float64) (float64, float64) {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	m := sum / float64(len(xs))
	ss := 0.0
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(xs)-1))
}

func near(a float64, b *float64) bool {
	return b != nil && math.Abs(a-*b) <= 1e-9*math.Max(1, math.Abs(a))
}

// t975df4 is Student's t 0.975 quantile with 4 degrees of freedom (tables: 2.776445105).
const t975df4 = 2.7764451051977987

func TestExperimentThreeArmsFiveReplicates(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		net := e.generate50(t)
		var created struct{ CreateExperiment struct{ ID, Status string } }
		e.createExperiment(map[string]any{"name": "self weights", "networkId": net, "replicates": 5, "seed": 42, "concurrentRuns": 3,
			"arms": []map[string]any{
				{"name": "stubborn", "input": map[string]any{"trigger": "A", "engine": "FRIEDKIN_JOHNSEN", "selfWeight": 4, "rounds": 2}},
				{"name": "open", "input": map[string]any{"trigger": "B", "engine": "FRIEDKIN_JOHNSEN", "selfWeight": 0.1, "rounds": 2}},
				{"name": "degroot", "input": map[string]any{"trigger": "C", "engine": "DEGROOT", "rounds": 3}},
			}}).decode(t, &created)
		if created.CreateExperiment.Status != "QUEUED" {
			t.Fatalf("created %+v", created)
		}
		v := e.waitExperiment(t, created.CreateExperiment.ID)
		if v.Status != "SUCCEEDED" || v.Result == nil {
			t.Fatalf("experiment ended %s (%v), result %v", v.Status, v.Error, v.Result != nil)
		}
		p := v.Progress
		if p.RunsTotal != 15 || p.RunsDone != 15 || p.RunsSucceeded != 15 || p.CompletedSteps != p.TotalSteps || p.TotalSteps != 5*(50*3+50*3+50*4) {
			t.Fatalf("progress %+v", p)
		}
		// Seeds: distinct across replicates, the same for every arm of a replicate, recorded on each run.
		seeds := map[int]string{}
		for _, r := range v.Runs {
			if r.Simulation == nil || r.Simulation.Status != "SUCCEEDED" {
				t.Fatalf("run %+v", r)
			}
			if got := json.Number(strconv.FormatFloat(r.Simulation.Params["seed"].(float64), 'f', 0, 64)); got != r.Seed {
				// float64 loses digits above 2^53: compare through the text when it does
				if math.Abs(r.Simulation.Params["seed"].(float64)-mustFloat(t, r.Seed)) > 1e-6*mustFloat(t, r.Seed) {
					t.Fatalf("run %s records seed %v, planned %s", r.Simulation.ID, r.Simulation.Params["seed"], r.Seed)
				}
			}
			if s, ok := seeds[r.Replicate]; ok && s != string(r.Seed) {
				t.Fatalf("replicate %d has seeds %s and %s", r.Replicate, s, r.Seed)
			}
			seeds[r.Replicate] = string(r.Seed)
		}
		distinct := map[string]bool{}
		for _, s := range seeds {
			distinct[s] = true
		}
		if len(distinct) != 5 {
			t.Fatalf("replicate seeds %v", seeds)
		}

		// Recompute every arm's scores from the stored states, then the t-intervals and Welch's.
		stats := v.Result.Stats
		type armData struct{ care, support []float64 }
		data := map[string]*armData{}
		for _, r := range v.Runs {
			c, s := e.finalScores(t, r.Simulation.ID, r.Simulation.Rounds, "")
			if data[r.Arm] == nil {
				data[r.Arm] = &armData{}
			}
			data[r.Arm].care = append(data[r.Arm].care, c)
			data[r.Arm].support = append(data[r.Arm].support, s)
		}
		if len(stats.Arms) != 3 {
			t.Fatalf("arms %+v", stats.Arms)
		}
		for _, a := range stats.Arms {
			d := data[a.Name]
			for _, pair := range []struct {
				what string
				xs   []float64
				est  estimate
			}{{"care", d.care, a.Care}, {"support", d.support, a.Support}} {
				m, sd := meanSD(pair.xs)
				half := t975df4 * sd / math.Sqrt(5)
				if pair.est.N != 5 || pair.est.Method != "T" || !near(m, pair.est.Mean) || !near(sd, pair.est.StdDev) ||
					!near(m-half, pair.est.Low) || !near(m+half, pair.est.High) {
					t.Fatalf("arm %s %s: stored %+v; recomputed mean %v sd %v interval [%v, %v]", a.Name, pair.what, pair.est, m, sd, m-half, m+half)
				}
			}
			if a.Succeeded != 5 || a.SupportPerDollar != nil || a.CostUSD != 0 {
				t.Fatalf("arm %s: %+v", a.Name, a)
			}
		}
		if !(*stats.Arms[0].Support.StdDev > 0) {
			t.Fatalf("replicates do not vary: %+v", stats.Arms[0].Support)
		}
		if len(stats.Differences) != 3 {
			t.Fatalf("differences %+v", stats.Differences)
		}
		for _, df := range stats.Differences {
			a, b := data[df.ArmA], data[df.ArmB]
			for _, pair := range []struct {
				xa, xb []float64
				got    diffEstimate
			}{{a.care, b.care, df.Care}, {a.support, b.support, df.Support}} {
				ma, sa := meanSD(pair.xa)
				mb, sb := meanSD(pair.xb)
				qa, qb := sa*sa/5, sb*sb/5
				se := math.Sqrt(qa + qb)
				dof := (qa + qb) * (qa + qb) / (qa*qa/4 + qb*qb/4)
				tq := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: dof}.Quantile(0.975)
				if pair.got.Method != "WELCH" || !near(ma-mb, pair.got.Diff) || !near(se, pair.got.StdError) || !near(dof, pair.got.DF) ||
					!near(ma-mb-tq*se, pair.got.Low) || !near(ma-mb+tq*se, pair.got.High) {
					t.Fatalf("%s − %s: stored %+v; recomputed diff %v se %v df %v", df.ArmA, df.ArmB, pair.got, ma-mb, se, dof)
				}
			}
		}

		// A segment: gender = female, recomputed on its members only.
		found := false
		for _, sg := range stats.Segments {
			if sg.Key != "gender" || sg.Value != "female" {
				continue
			}
			found = true
			for _, sa := range sg.Arms {
				var cs []float64
				for _, r := range v.Runs {
					if r.Arm == sa.Arm {
						c, _ := e.finalScores(t, r.Simulation.ID, r.Simulation.Rounds, "female")
						cs = append(cs, c)
					}
				}
				m, sd := meanSD(cs)
				if !near(m, sa.Care.Mean) || !near(sd, sa.Care.StdDev) || !near(m+t975df4*sd/math.Sqrt(5), sa.Care.High) {
					t.Fatalf("segment gender=female arm %s: stored %+v, recomputed %v ± %v", sa.Arm, sa.Care, m, sd)
				}
			}
			if len(sg.Differences) != 3 || sg.Differences[0].Support.Method != "WELCH" {
				t.Fatalf("segment differences %+v", sg.Differences)
			}
		}
		if !found {
			t.Fatalf("no gender=female segment in %d segments", len(stats.Segments))
		}
		// The fake LLM writes the narrative (the deterministic one is tested in experiment/).
		if v.Result.NarrativeSource != "LLM" || !strings.Contains(v.Result.Narrative, "Fake narrative") || v.Result.Version != 1 {
			t.Fatalf("result %d, narrative %q", v.Result.Version, v.Result.Narrative)
		}

		// CSV: a row per run and per arm; SVG charts well-formed with every arm.
		status, body := download(t, e.url+v.Exports.ResultsCsv)
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if status != http.StatusOK || err != nil || len(recs) != 1+15+3 || recs[0][0] != "row_type" || recs[16][0] != "arm" {
			t.Fatalf("CSV %d %v: %s", status, err, body)
		}
		if len(v.Charts) != 4 {
			t.Fatalf("charts %+v", v.Charts)
		}
		for _, c := range v.Charts {
			status, svg := download(t, e.url+c.URL)
			if status != http.StatusOK || !wellFormed(svg) || !strings.Contains(string(svg), "stubborn") {
				t.Fatalf("chart %s: %d %.300s", c.Name, status, svg)
			}
		}
		if status, _ := download(t, e.url+"/exports/experiments/"+v.ID+"/charts/nope.svg"); status != http.StatusNotFound {
			t.Fatalf("unknown chart: %d", status)
		}

		// A new version, as generateReport does.
		var again struct{ GenerateExperimentReport struct{ Version int } }
		e.query(`mutation($id: ID!) { generateExperimentReport(id: $id) { version } }`, map[string]any{"id": v.ID}).decode(t, &again)
		if again.GenerateExperimentReport.Version != 2 {
			t.Fatalf("second version %+v", again)
		}
	})
}

func mustFloat(t *testing.T, n json.Number) float64 {
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func wellFormed(b []byte) bool {
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// One replicate: the interval is a bootstrap over agents, reproducible from
// the recorded seed, and its standard error is close to the agents' standard
// deviation over √n (what a bootstrap of a mean estimates).
func TestExperimentOneReplicateBootstrap(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		net := e.generate50(t)
		var created struct{ CreateExperiment struct{ ID string } }
		e.createExperiment(map[string]any{"networkId": net, "replicates": 1, "seed": 9, "bootstrapResamples": 4000,
			"arms": []map[string]any{
				{"name": "a", "input": map[string]any{"trigger": "A", "engine": "DEGROOT", "rounds": 1}},
				{"name": "b", "input": map[string]any{"trigger": "B", "engine": "FRIEDKIN_JOHNSEN", "selfWeight": 0.1, "rounds": 1}},
			}}).decode(t, &created)
		v := e.waitExperiment(t, created.CreateExperiment.ID)
		if v.Status != "SUCCEEDED" {
			t.Fatalf("status %s %v", v.Status, v.Error)
		}
		st := v.Result.Stats
		for i, a := range st.Arms {
			r := v.Runs[i]
			// The agents' final support × 10, read here.
			rows, err := e.db.SQL.Query(`SELECT support FROM agent_states WHERE simulation_id = `+e.db.Placeholder(1)+
				` AND round = 1 AND NOT failed`, r.Simulation.ID)
			if err != nil {
				t.Fatal(err)
			}
			var xs []float64
			for rows.Next() {
				var s float64
				_ = rows.Scan(&s)
				xs = append(xs, 10*s)
			}
			rows.Close()
			m, sd := meanSD(xs)
			popSD := sd * math.Sqrt(float64(len(xs)-1)/float64(len(xs)))
			se := popSD / math.Sqrt(float64(len(xs)))
			s := a.Support
			if s.N != 1 || s.Method != "BOOTSTRAP" || !near(m, s.Mean) || s.StdDev != nil || s.Low == nil ||
				!(*s.Low < m && m < *s.High) || math.Abs(*s.StdError-se) > 0.1*se {
				t.Fatalf("arm %s: %+v; mean %v, expected standard error about %v", a.Name, s, m, se)
			}
			// A 95% percentile interval is about ± 1.96 standard errors.
			if w := *s.High - *s.Low; math.Abs(w-2*1.96*se) > 0.15*2*1.96*se {
				t.Fatalf("arm %s: interval width %v, expected about %v", a.Name, w, 2*1.96*se)
			}
		}
		d := st.Differences[0].Support
		if d.Method != "BOOTSTRAP" || d.Low == nil || !(*d.Low <= *d.Diff && *d.Diff <= *d.High) {
			t.Fatalf("difference %+v", d)
		}
		// The same seed gives the same intervals in a new version.
		var again struct {
			GenerateExperimentReport struct {
				Stats struct {
					Arms []struct{ Support estimate }
				}
			}
		}
		e.query(`mutation($id: ID!) { generateExperimentReport(id: $id) { stats { arms { support { low high } } } } }`,
			map[string]any{"id": v.ID}).decode(t, &again)
		if got := again.GenerateExperimentReport.Stats.Arms[0].Support; *got.Low != *st.Arms[0].Support.Low || *got.High != *st.Arms[0].Support.High {
			t.Fatalf("bootstrap not reproducible: %v..%v vs %v..%v", *got.Low, *got.High, *st.Arms[0].Support.Low, *st.Arms[0].Support.High)
		}
	})
}

// The experiment-wide budget: once spent, runs in flight are stopped with the
// reason and the planned ones never start.
func TestExperimentBudgetStopsIt(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.fk.SetLatency(20 * time.Millisecond)
		net := e.generate50(t)
		var created struct{ CreateExperiment struct{ ID string } }
		e.createExperiment(map[string]any{"networkId": net, "replicates": 3, "seed": 1, "maxCalls": 121, "concurrentRuns": 2, // odd: once two runs used their 60, one call is left (one more run, not a deadlock)
			"arms": []map[string]any{
				{"name": "llm a", "input": map[string]any{"trigger": "A", "engine": "LLM", "rounds": 1, "concurrency": 4}},
				{"name": "llm b", "input": map[string]any{"trigger": "B", "engine": "LLM", "rounds": 1, "concurrency": 4}},
			}}).decode(t, &created)
		v := e.waitExperiment(t, created.CreateExperiment.ID)
		if v.Status != "FAILED" || v.Error == nil || !strings.Contains(*v.Error, "maxCalls 121") {
			t.Fatalf("status %s, error %v", v.Status, v.Error)
		}
		if v.Progress.RunsStarted == 6 || v.Progress.RunsDone != v.Progress.RunsStarted {
			t.Fatalf("every run started or some still going: %+v", v.Progress)
		}
		stopped := 0
		for _, r := range v.Runs {
			if r.Simulation != nil && r.Simulation.Status == "FAILED" {
				var sim struct{ Simulation struct{ Error *string } }
				e.query(`query($id: ID!) { simulation(id: $id) { error } }`, map[string]any{"id": r.Simulation.ID}).decode(t, &sim)
				if sim.Simulation.Error == nil || !strings.Contains(*sim.Simulation.Error, "budget") {
					t.Fatalf("stopped run's error %v", sim.Simulation.Error)
				}
				stopped++
			}
		}
		if stopped == 0 {
			t.Fatalf("no run stopped: %+v", v.Runs)
		}
		// Each run had a share of the budget as its own: the calls stay within
		// it, but for the attempts a call retried (counted as calls, as in a
		// run's own budget: each call reserves one place before it is sent).
		retries := 0
		for _, r := range v.Runs {
			if r.Simulation != nil {
				var sim struct {
					Simulation struct{ Usage struct{ Retries int } }
				}
				e.query(`query($id: ID!) { simulation(id: $id) { usage { retries } } }`, map[string]any{"id": r.Simulation.ID}).decode(t, &sim)
				retries += sim.Simulation.Usage.Retries
			}
		}
		if v.Progress.Usage.Calls > 121+retries {
			t.Fatalf("%d calls (%d retries) for a budget of 121", v.Progress.Usage.Calls, retries)
		}
	})
}

// Cancel: planned runs never start, runs in flight are canceled; the
// subscription over a WebSocket sees it and completes.
func TestExperimentCancelAndSubscription(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.fk.SetLatency(50 * time.Millisecond)
		net := e.generate50(t)
		var created struct{ CreateExperiment struct{ ID string } }
		e.createExperiment(map[string]any{"networkId": net, "replicates": 4, "concurrentRuns": 1,
			"arms": []map[string]any{{"name": "slow", "input": map[string]any{"trigger": "A", "engine": "LLM", "rounds": 2, "concurrency": 2}}},
		}).decode(t, &created)
		id := created.CreateExperiment.ID

		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		type result struct {
			msgs []json.RawMessage
			err  error
		}
		done := make(chan result, 1)
		go func() {
			msgs, err := subscribe(ctx, t, e.url, "graphql-transport-ws",
				`subscription($id: ID!) { experimentProgress(id: $id) { experimentId status runsStarted runsDone completedSteps usage { calls } } }`,
				map[string]any{"id": id})
			done <- result{msgs, err}
		}()
		testwait.Until(t, time.Minute, 50*time.Millisecond, func() (bool, string) {
			v := e.experiment(t, id)
			return v.Progress.CompletedSteps > 0, "no step yet"
		})
		var c struct{ CancelExperiment struct{ Status string } }
		e.query(`mutation($id: ID!) { cancelExperiment(id: $id) { status } }`, map[string]any{"id": id}).decode(t, &c)
		if c.CancelExperiment.Status != "CANCELED" {
			t.Fatalf("cancel: %+v", c)
		}
		r := <-done
		if r.err != nil || len(r.msgs) < 2 || !strings.Contains(string(r.msgs[len(r.msgs)-1]), `"CANCELED"`) {
			t.Fatalf("subscription: %v %s", r.err, r.msgs)
		}
		v := e.experiment(t, id)
		testwait.Until(t, time.Minute, 50*time.Millisecond, func() (bool, string) {
			v = e.experiment(t, id)
			return v.Progress.RunsDone == v.Progress.RunsStarted, "runs still going"
		})
		if v.Progress.RunsStarted != 1 || v.Progress.RunsCanceled != 1 || v.Status != "CANCELED" {
			t.Fatalf("after cancel: %s %+v", v.Status, v.Progress)
		}
		// An ended experiment's subscription sends its state once and completes.
		msgs, err := subscribe(ctx, t, e.url, "graphql-transport-ws", `subscription($id: ID!) { experimentProgress(id: $id) { status } }`, map[string]any{"id": id})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("ended experiment's subscription: %v %s", err, msgs)
		}
	})
}

func TestExperimentBadInput(t *testing.T) {
	e := newEnv(t, "sqlite")
	net := e.generate50(t)
	arm := func(name string, in map[string]any) map[string]any {
		if in == nil {
			in = map[string]any{}
		}
		if _, ok := in["trigger"]; !ok {
			in["trigger"] = "T"
		}
		if _, ok := in["engine"]; !ok {
			in["engine"] = "DEGROOT"
		}
		return map[string]any{"name": name, "input": in}
	}
	two := func(second map[string]any) []map[string]any { return []map[string]any{arm("a", nil), second} }
	for _, c := range []struct {
		name  string
		input map[string]any
		code  string
		want  string
	}{
		{"self weight", map[string]any{"replicates": 2, "arms": two(arm("b", map[string]any{"selfWeight": -1}))}, "BAD_USER_INPUT", "arms[1].input.selfWeight"},
		{"empty trigger", map[string]any{"replicates": 2, "arms": two(arm("b", map[string]any{"trigger": " "}))}, "BAD_USER_INPUT", "arms[1].input.trigger"},
		{"rounds", map[string]any{"replicates": 2, "arms": two(arm("b", map[string]any{"rounds": 999}))}, "BAD_USER_INPUT", "arms[1].input.rounds"},
		{"audience", map[string]any{"replicates": 2, "arms": two(arm("b", map[string]any{"audience": map[string]any{"mode": "MANUAL"}}))}, "BAD_USER_INPUT", "arms[1].input.audience.agentIds"},
		{"unknown agent", map[string]any{"replicates": 2, "arms": two(arm("b", map[string]any{"audience": map[string]any{"mode": "MANUAL", "agentIds": []string{"nobody"}}}))}, "BAD_USER_INPUT", "arms[1].input."},
		{"population seed", map[string]any{"replicates": 2, "arms": two(arm("b", map[string]any{"populationSeed": -1}))}, "BAD_USER_INPUT", "arms[1].input.populationSeed"},
		{"network in arm", map[string]any{"replicates": 2, "arms": two(arm("b", map[string]any{"networkId": net}))}, "BAD_USER_INPUT", "arms[1].input.networkId"},
		{"agents in arm", map[string]any{"replicates": 2, "arms": two(arm("b", map[string]any{"numAgents": 10}))}, "BAD_USER_INPUT", "arms[1].input.numAgents"},
		{"branch in arm", map[string]any{"replicates": 2, "arms": two(arm("b", map[string]any{"fromSimulation": "21474836480"}))}, "BAD_USER_INPUT", "arms[1].input.fromSimulation"},
		{"seed in arm", map[string]any{"replicates": 2, "arms": two(arm("b", map[string]any{"seed": 3}))}, "BAD_USER_INPUT", "arms[1].input.seed"},
		{"duplicate names", map[string]any{"replicates": 2, "arms": two(arm("a", nil))}, "BAD_USER_INPUT", "arms[1].name \"a\""},
		{"empty name", map[string]any{"replicates": 2, "arms": two(arm(" ", nil))}, "BAD_USER_INPUT", "arms[1].name"},
		{"long name", map[string]any{"replicates": 2, "arms": two(arm(strings.Repeat("n", 101), nil))}, "BAD_USER_INPUT", "arms[1].name"},
		{"no arms", map[string]any{"replicates": 2, "arms": []map[string]any{}}, "BAD_USER_INPUT", "arms must list"},
		{"zero replicates", map[string]any{"replicates": 0, "arms": two(arm("b", nil))}, "BAD_USER_INPUT", "replicates must be between 1 and 100"},
		{"too many replicates", map[string]any{"replicates": 101, "arms": two(arm("b", nil))}, "BAD_USER_INPUT", "EXPERIMENT_MAX_REPLICATES"},
		{"too many runs", map[string]any{"replicates": 100, "arms": []map[string]any{arm("a", nil), arm("b", nil), arm("c", nil), arm("d", nil), arm("e", nil), arm("f", nil)}}, "BAD_USER_INPUT", "EXPERIMENT_MAX_RUNS"},
		{"max calls", map[string]any{"replicates": 2, "maxCalls": 0, "arms": two(arm("b", nil))}, "BAD_USER_INPUT", "maxCalls"},
		{"max tokens", map[string]any{"replicates": 2, "maxTokens": -1, "arms": two(arm("b", nil))}, "BAD_USER_INPUT", "maxTokens"},
		{"max cost", map[string]any{"replicates": 2, "maxCostUSD": 0, "arms": two(arm("b", nil))}, "BAD_USER_INPUT", "maxCostUSD"},
		{"concurrent runs", map[string]any{"replicates": 2, "concurrentRuns": 99, "arms": two(arm("b", nil))}, "BAD_USER_INPUT", "concurrentRuns"},
		{"resamples", map[string]any{"replicates": 2, "bootstrapResamples": 5, "arms": two(arm("b", nil))}, "BAD_USER_INPUT", "bootstrapResamples"},
		{"seed", map[string]any{"replicates": 2, "seed": -4, "arms": two(arm("b", nil))}, "BAD_USER_INPUT", "seed must not be negative"},
		{"name", map[string]any{"replicates": 2, "name": " ", "arms": two(arm("b", nil))}, "BAD_USER_INPUT", "name must be"},
		{"network", map[string]any{"replicates": 2, "networkId": "999999", "arms": two(arm("b", nil))}, "NOT_FOUND", "999999"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := c.input
			if _, ok := in["networkId"]; !ok {
				in["networkId"] = net
			}
			r := e.createExperiment(in)
			if r.code() != c.code || !strings.Contains(r.Errors[0].Message, c.want) {
				t.Fatalf("got %s %+v, want %s naming %q", r.code(), r.Errors, c.code, c.want)
			}
		})
	}
	var n int
	if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM experiments`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d experiments written by bad inputs (%v)", n, err)
	}
	for _, q := range []string{`query { experiment(id: "999999") { id } }`, `mutation { cancelExperiment(id: "999999") { id } }`,
		`mutation { generateExperimentReport(id: "999999") { version } }`} {
		if r := e.query(q, nil); r.code() != "NOT_FOUND" {
			t.Fatalf("%s: %+v", q, r.Errors)
		}
	}
	if status, _ := download(t, e.url+"/exports/experiments/999999/results.csv"); status != http.StatusNotFound {
		t.Fatalf("CSV of a missing experiment: %d", status)
	}
}

// The experiment's cache: the same experiment again (same seed, temperature
// 0) is answered from the first one's stored answers, its cost saved counted.
func TestExperimentCache(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		net := e.generate50(t)
		in := map[string]any{"networkId": net, "replicates": 2, "seed": 11, "cache": true,
			"arms": []map[string]any{
				{"name": "llm", "input": map[string]any{"trigger": "A", "engine": "LLM", "rounds": 1, "temperature": 0}},
				{"name": "classical", "input": map[string]any{"trigger": "A", "engine": "DEGROOT", "rounds": 1}},
			}}
		usage := func() (calls, hits int, saved float64) {
			var created struct{ CreateExperiment struct{ ID string } }
			e.createExperiment(in).decode(t, &created)
			v := e.waitExperiment(t, created.CreateExperiment.ID)
			if v.Status != "SUCCEEDED" {
				t.Fatalf("status %s %v", v.Status, v.Error)
			}
			var u struct {
				Experiment struct {
					Usage struct {
						Calls, CacheHits int
						CostSavedUSD     float64 `json:"costSavedUSD"`
					}
					Result struct {
						Stats struct{ Arms []struct{ CacheHits int } }
					}
				}
			}
			e.query(`query($id: ID!) { experiment(id: $id) { usage { calls cacheHits costSavedUSD } result { stats { arms { cacheHits } } } } }`,
				map[string]any{"id": v.ID}).decode(t, &u)
			if u.Experiment.Result.Stats.Arms[0].CacheHits != u.Experiment.Usage.CacheHits {
				t.Fatalf("result's hits %+v vs usage %+v", u.Experiment.Result.Stats.Arms, u.Experiment.Usage)
			}
			return u.Experiment.Usage.Calls, u.Experiment.Usage.CacheHits, u.Experiment.Usage.CostSavedUSD
		}
		calls, hits, _ := usage()
		if calls != 2*100 || hits != 0 {
			t.Fatalf("first experiment: %d calls, %d hits", calls, hits)
		}
		calls, hits, saved := usage()
		if calls != 0 || hits != 2*100 || !(saved > 0) {
			t.Fatalf("the same experiment again: %d calls, %d hits, %v saved", calls, hits, saved)
		}
	})
}
