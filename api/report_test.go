package api_test

import (
	"encoding/xml"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/api"
	"github.com/ethox/ethox/internal/testwait"
	"github.com/ethox/ethox/reporting"
)

const reportMutation = `mutation($id: ID!, $init: Boolean) { generateReport(simulationId: $id, includeInitial: $init) {
  version provisional includeInitial careScore100 changeInSupport50 reportText narrativeSource model metrics } }`

type reportResult struct {
	GenerateReport struct {
		Version           int
		Provisional       bool
		IncludeInitial    bool
		CareScore100      int
		ChangeInSupport50 int
		ReportText        string
		NarrativeSource   string
		Model             *string
		Metrics           map[string]any
	}
}

func waitDone(t *testing.T, e *env, id string) {
	t.Helper()
	status := testwait.RunEnd(t, 30*time.Second, func() (string, string) {
		var got struct{ Simulation struct{ Status string } }
		e.query(`query($id: ID!) { simulation(id: $id) { status } }`, map[string]any{"id": id}).decode(t, &got)
		return got.Simulation.Status, ""
	})
	if status != "SUCCEEDED" {
		t.Fatalf("run ended %s", status)
	}
}

func TestGenerateReport(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
		var run struct{ RunSimulation struct{ ID string } }
		e.query(`mutation { runSimulation(input: {trigger: "Report me.", engine: DEGROOT, rounds: 2, seed: 3}) { id } }`, nil).decode(t, &run)
		id := run.RunSimulation.ID
		waitDone(t, e, id)

		var r reportResult
		e.query(reportMutation, map[string]any{"id": id, "init": true}).decode(t, &r)
		g := r.GenerateReport
		// The headline numbers, computed independently from the stored final round.
		var meanCare, meanSupport float64
		if err := e.db.SQL.QueryRow(`SELECT AVG(care), AVG(support) FROM agent_states WHERE simulation_id = `+e.db.Placeholder(1)+` AND round = 2`,
			idInt(t, id)).Scan(&meanCare, &meanSupport); err != nil {
			t.Fatal(err)
		}
		if g.Version != 1 || g.Provisional || !g.IncludeInitial || g.CareScore100 != int(math.Round(meanCare*10)) ||
			g.ChangeInSupport50 != int(math.Round(meanSupport*10)) {
			t.Fatalf("report = %+v (mean care %v, support %v)", g, meanCare, meanSupport)
		}
		if g.NarrativeSource != "LLM" || g.Model == nil || *g.Model != reporting.DefaultModel || g.ReportText == "" {
			t.Fatalf("narrative: %s %v %q", g.NarrativeSource, g.Model, g.ReportText)
		}
		if g.Metrics["finalRound"] != float64(2) || g.Metrics["polarization"] == nil || g.Metrics["segments"] == nil {
			t.Fatalf("metrics = %v", g.Metrics)
		}
		// The supervisor LLM was given the metrics and the trigger.
		reqs := e.fk.Requests()
		last := reqs[len(reqs)-1]
		if last.Model != reporting.DefaultModel || !strings.Contains(last.User, "careScore100") || !strings.Contains(last.User, "Report me.") {
			t.Fatalf("narrative prompt: model %s, %.300s", last.Model, last.User)
		}

		e.query(reportMutation, map[string]any{"id": id}).decode(t, &r)
		var latest struct {
			Simulation struct {
				Report  struct{ Version int }
				Reports []struct{ Version int }
			}
		}
		e.query(`query($id: ID!) { simulation(id: $id) { report { version } reports { version } } }`, map[string]any{"id": id}).decode(t, &latest)
		if r.GenerateReport.Version != 2 || latest.Simulation.Report.Version != 2 || len(latest.Simulation.Reports) != 2 {
			t.Fatalf("versions: new %d, latest %+v", r.GenerateReport.Version, latest)
		}

		// Without an LLM the narrative is written from the metrics, and says so.
		o := e.opts
		o.Reports = reporting.New(e.db, nil, reporting.Narrator{})
		plain := httptest.NewServer(api.NewHandler(o))
		defer plain.Close()
		e2 := &env{t: t, url: plain.URL, db: e.db}
		e2.query(reportMutation, map[string]any{"id": id}).decode(t, &r)
		if r.GenerateReport.NarrativeSource != "DETERMINISTIC" || !strings.Contains(r.GenerateReport.ReportText, "without an LLM") || r.GenerateReport.Version != 3 {
			t.Fatalf("deterministic report: %+v", r.GenerateReport)
		}

		resp := e.query(reportMutation, map[string]any{"id": "21474836999"})
		if resp.code() != "NOT_FOUND" {
			t.Fatalf("unknown run: %+v", resp.Errors)
		}
	})
}

func idInt(t *testing.T, id string) int {
	t.Helper()
	var n int
	for _, c := range id {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestReportCharts(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	var run struct{ RunSimulation struct{ ID string } }
	e.query(`mutation { runSimulation(input: {trigger: "Chart me.", engine: FRIEDKIN_JOHNSEN, rounds: 2}) { id } }`, nil).decode(t, &run)
	waitDone(t, e, run.RunSimulation.ID)
	var r struct {
		GenerateReport struct {
			Charts []struct{ Name, URL string }
		}
	}
	e.query(`mutation($id: ID!) { generateReport(simulationId: $id, includeInitial: true) { charts { name url } } }`,
		map[string]any{"id": run.RunSimulation.ID}).decode(t, &r)
	if len(r.GenerateReport.Charts) != 3 {
		t.Fatalf("charts = %+v", r.GenerateReport.Charts)
	}
	for _, c := range r.GenerateReport.Charts {
		status, svg := download(t, e.url+c.URL)
		if status != 200 || !strings.Contains(string(svg), "<svg") {
			t.Fatalf("%s: %d %.200s", c.Name, status, svg)
		}
		dec := xml.NewDecoder(strings.NewReader(string(svg)))
		series := 0
		for {
			tok, err := dec.Token()
			if err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("%s is not well-formed: %v", c.Name, err)
				}
				break
			}
			if se, ok := tok.(xml.StartElement); ok {
				for _, a := range se.Attr {
					if a.Name.Local == "class" && (a.Value == "series" || a.Value == "bar") {
						series++
					}
				}
			}
		}
		// The round charts show rounds 0..2 (includeInitial); the segment chart one bar per segment value.
		if (c.Name != "support-shift-by-segment" && series != 3) || (c.Name == "support-shift-by-segment" && series == 0) {
			t.Fatalf("%s has %d series/bars", c.Name, series)
		}
	}
	if status, _ := download(t, e.url+"/reports/1/charts/nope.svg"); status != 404 {
		t.Fatalf("unknown chart: %d", status)
	}
}

// The narrative prompt carries the metrics and a sample of the agents' own words.
func TestNarrativePromptHasMetricsAndOpinions(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	var run struct{ RunSimulation struct{ ID string } }
	e.query(`mutation { runSimulation(input: {trigger: "Words matter.", rounds: 0}) { id } }`, nil).decode(t, &run)
	waitDone(t, e, run.RunSimulation.ID)
	var r reportResult
	e.query(reportMutation, map[string]any{"id": run.RunSimulation.ID}).decode(t, &r)
	reqs := e.fk.Requests()
	prompt := reqs[len(reqs)-1].User
	for _, want := range []string{"Words matter.", "careScore100", "polarization", "A sample of 20 final opinions", "Opinion "} {
		if !strings.Contains(prompt, want) {
			t.Fatalf("narrative prompt lacks %q:\n%.600s", want, prompt)
		}
	}
	if r.GenerateReport.NarrativeSource != "LLM" || r.GenerateReport.ReportText == "" {
		t.Fatalf("report %+v", r.GenerateReport)
	}
}

func TestTypedMetrics(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	var run struct{ RunSimulation struct{ ID string } }
	e.query(`mutation { runSimulation(input: {trigger: "Typed.", engine: DEGROOT, rounds: 1}) { id } }`, nil).decode(t, &run)
	waitDone(t, e, run.RunSimulation.ID)
	var r struct {
		GenerateReport struct {
			CareScore100 int
			TypedMetrics struct {
				FinalRound int
				Headline   struct{ CareScore100 *int }
				Rounds     []struct {
					Round int
					Care  *struct{ Histogram []int }
				}
				Polarization struct{ ExtremesShare *float64 }
				Segments     []struct {
					Key    string
					Values []struct{ Value string }
				}
				MostInfluential []struct {
					AgentID string `json:"agentId"`
				}
			}
		}
	}
	e.query(`mutation($id: ID!) { generateReport(simulationId: $id, includeInitial: true) { careScore100 typedMetrics {
	  finalRound headline { careScore100 } rounds { round care { histogram } } polarization { extremesShare }
	  segments { key values { value } } mostInfluential { agentId } } } }`, map[string]any{"id": run.RunSimulation.ID}).decode(t, &r)
	m := r.GenerateReport.TypedMetrics
	if m.FinalRound != 1 || m.Headline.CareScore100 == nil || *m.Headline.CareScore100 != r.GenerateReport.CareScore100 ||
		len(m.Rounds) != 2 || m.Rounds[1].Care == nil || len(m.Rounds[1].Care.Histogram) != 11 || m.Polarization.ExtremesShare == nil ||
		len(m.Segments) == 0 || len(m.MostInfluential) == 0 {
		t.Fatalf("typed metrics = %+v", m)
	}
}
