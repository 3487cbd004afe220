package reporting

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/ethox/ethox/ent"
	entreport "github.com/ethox/ethox/ent/report"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/runmetrics"
	"github.com/ethox/ethox/simulation/llm"
)

// Issue 16: with the fake LLM, generateReport stored the fake's JSON answer as
// the narrative and labelled it as written by the LLM. A narrative is stored
// as the LLM's only when it is prose, whole and not empty; otherwise the
// model is asked again, then the report falls back to the deterministic
// narrative, labelled so, with the reason.
func TestNarrativeMustBeProse(t *testing.T) {
	agentJSON := func(r *fakellm.Request, _ int) (int, map[string]string, string) {
		op, care, support := fakellm.Answer(r.User)
		b, _ := json.Marshal(map[string]any{"opinion": op, "care": care, "change_in_support": support})
		return 0, nil, string(b)
	}
	answer := func(s string) func(*fakellm.Request, int) (int, map[string]string, string) {
		return func(*fakellm.Request, int) (int, map[string]string, string) { return 0, nil, s }
	}
	tests := []struct {
		name       string
		hook       func(*fakellm.Request, int) (int, map[string]string, string)
		finish     string
		wantSource entreport.NarrativeSource
		want       string // in the stored text
		wantCalls  int
	}{
		{"the fake's agent JSON", agentJSON, "", entreport.NarrativeSourceDETERMINISTIC, "JSON, not prose", 3},
		{"JSON in a code fence", answer("```json\n{\"summary\": \"support grew\"}\n```"), "", entreport.NarrativeSourceDETERMINISTIC, "JSON, not prose", 3},
		{"JSON array", answer(`[{"section": "care"}]`), "", entreport.NarrativeSourceDETERMINISTIC, "JSON, not prose", 3},
		{"JSON cut short", answer(`{"summary": "support gr`), "", entreport.NarrativeSourceDETERMINISTIC, "JSON, not prose", 3},
		{"cut off at the token limit", answer("## Care\nMost agents care a"), "length", entreport.NarrativeSourceDETERMINISTIC, "the narrative is incomplete", 3},
		{"no words", answer("--- 1 2 3 ---"), "", entreport.NarrativeSourceDETERMINISTIC, "no words", 3},
		{"blank", answer(" \n\t "), "", entreport.NarrativeSourceDETERMINISTIC, "empty answer", 3},
		{"prose", answer("## Care\nMost agents care a little."), "", entreport.NarrativeSourceLLM, "Most agents care a little.", 1},
		{"prose starting with a bracket", answer("[Summary] Support grew a little."), "", entreport.NarrativeSourceLLM, "[Summary] Support grew", 1},
		{"the fake's default narrative", nil, "", entreport.NarrativeSourceLLM, "[Fake narrative", 1},
	}
	for _, dialect := range testdb.Dialects() {
		db := testdb.Open(t, dialect)
		simID := finishedRun(t, db)
		for _, tt := range tests {
			t.Run(dialect+"/"+tt.name, func(t *testing.T) {
				fk := fakellm.New(0)
				t.Cleanup(fk.Close)
				fk.SetHook(tt.hook)
				fk.SetFinishReason(func(*fakellm.Request, int) string { return tt.finish })
				lc, err := llm.New(llm.Config{APIKey: "test", BaseURL: fk.BaseURL(), MaxRetries: -1})
				if err != nil {
					t.Fatal(err)
				}
				r, err := New(db, lc, Narrator{}).Generate(context.Background(), simID, false)
				if err != nil {
					t.Fatalf("Generate: %v", err)
				}
				if r.NarrativeSource != tt.wantSource || !strings.Contains(r.ReportText, tt.want) {
					t.Fatalf("%s narrative: %q", r.NarrativeSource, r.ReportText)
				}
				if tt.wantSource == entreport.NarrativeSourceDETERMINISTIC {
					if !strings.HasPrefix(r.ReportText, "[Written from the metrics") || r.Model != nil ||
						!strings.Contains(r.ReportText, "The LLM narrative failed") {
						t.Fatalf("fallback not labelled: model %v, %q", r.Model, r.ReportText)
					}
				}
				if n := len(fk.Requests()); n != tt.wantCalls {
					t.Fatalf("%d calls, want %d", n, tt.wantCalls)
				}
			})
		}
	}
}

// Issue 16: reports said "support moved -0.00", and the model was shown
// numbers such as 0.19783760000000014. Text is rounded for people; the stored
// metrics keep full precision.
func TestNarrativeNumbersRounded(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	m := &runmetrics.Metrics{FinalRound: 2}
	m.Shift.MeanSupportDelta, m.Shift.MeanCareDelta = f(-0.0012), f(0.19783760000000014)
	m.Polarization.SupportVariance, m.Polarization.ExtremesShare, m.Polarization.BimodalityCoefficient = f(1.23456), f(0.125), f(-0.0001)
	m.EchoChamber.SupportAssortativity = f(-0.004)
	text := deterministicNarrative(&ent.Simulation{Status: entsim.StatusSUCCEEDED}, m, false)
	for _, want := range []string{"support moved +0.00 and care +0.20", "Support variance 1.23", "12% of agents" /* 12.5 to even */, "bimodality coefficient 0.00", "assortativity along ties: 0.00"} {
		if !strings.Contains(text, want) {
			t.Errorf("narrative lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "-0.00") || regexp.MustCompile(`\d\.\d{3,}`).MatchString(text) {
		t.Errorf("unrounded number in:\n%s", text)
	}

	tests := []struct {
		x        float64
		prec     int
		fix, sig string
	}{
		{-0.0012, 2, "0.00", "+0.00"},
		{-0.005, 2, "-0.01", "-0.01"},
		{0.19783760000000014, 2, "0.20", "+0.20"},
		{-0.4, 0, "0", "+0"},
		// Halves to even, as Python's round() (issue 17).
		{-2.5, 0, "-2", "-2"},
		{3.5, 0, "4", "+4"},
		{0.125, 2, "0.12", "+0.12"},
		{0.375, 2, "0.38", "+0.38"},
		{3, 1, "3.0", "+3.0"},
	}
	for _, tt := range tests {
		if got := fixed(tt.x, tt.prec); got != tt.fix {
			t.Errorf("fixed(%v, %d) = %q, want %q", tt.x, tt.prec, got, tt.fix)
		}
		if got := signed(tt.x, tt.prec); got != tt.sig {
			t.Errorf("signed(%v, %d) = %q, want %q", tt.x, tt.prec, got, tt.sig)
		}
	}
}

// The prompt shows the metrics rounded, the stored report keeps them whole,
// and the log says a report was generated.
func TestNarrativePromptRoundedAndLogged(t *testing.T) {
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	db := testdb.Open(t, testdb.Dialects()[0])
	simID := finishedRun(t, db)
	fk := fakellm.New(0)
	t.Cleanup(fk.Close)
	lc, err := llm.New(llm.Config{APIKey: "test", BaseURL: fk.BaseURL(), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(db, lc, Narrator{}).Generate(context.Background(), simID, false)
	if err != nil {
		t.Fatal(err)
	}
	reqs := fk.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d calls", len(reqs))
	}
	metrics := reqs[0].User[strings.Index(reqs[0].User, "Metrics:"):]
	metrics = metrics[:strings.Index(metrics, "\n")]
	if long := regexp.MustCompile(`-?\d+\.\d{3,}`).FindString(metrics); long != "" || strings.Contains(metrics, "-0,") {
		t.Fatalf("prompt metrics not rounded (%q): %s", long, metrics)
	}
	// The stored metrics keep full precision (care SD over i%11 is irrational).
	sd := r.Metrics["rounds"].([]any)[0].(map[string]any)["care"].(map[string]any)["stdDev"].(float64)
	if sd == round(sd, 2) {
		t.Fatalf("stored stdDev rounded: %v", sd)
	}
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "report generated") {
			line = l
		}
	}
	for _, want := range []string{"level=INFO", "report=", "simulation=", "narrative_source=LLM"} {
		if !strings.Contains(line, want) {
			t.Fatalf("log line %q lacks %q; log:\n%s", line, want, logs.String())
		}
	}
}
