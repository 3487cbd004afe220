package simulation

import (
	"cmp"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/riverqueue/river"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/simulation/llm"
	"github.com/ethox/ethox/simulation/simtypes"
	"github.com/ethox/ethox/telemetry"
)

// Whatever an LLM server answers, the process survives, the run ends with
// readable counters, and no stored (paid-for) step is asked again.
func TestHostileLLMAnswers(t *testing.T) {
	usageOf := func(p, c int64) func(*fakellm.Request, int) (int64, int64, bool) {
		return func(*fakellm.Request, int) (int64, int64, bool) { return p, c, true }
	}
	answer := func(content string) func(*fakellm.Request, int) (int, map[string]string, string) {
		return func(r *fakellm.Request, _ int) (int, map[string]string, string) {
			op, _, _ := fakellm.Answer(r.User)
			return 0, nil, strings.ReplaceAll(content, "OP", op)
		}
	}
	cases := []struct {
		name       string
		usage      func(*fakellm.Request, int) (int64, int64, bool)
		hook       func(*fakellm.Request, int) (int, map[string]string, string)
		wantStatus entsim.Status
		wantFailed int
		anomaly    string // counted for every step
		check      func(t *testing.T, h *harness, simID int)
	}{
		{name: "negative usage", usage: usageOf(-500, -7), wantStatus: entsim.StatusSUCCEEDED, anomaly: llm.AnomalyNegativeTokens,
			check: func(t *testing.T, h *harness, simID int) {
				if sim := h.get(simID); sim.PromptTokens != 0 || sim.CompletionTokens != 0 || sim.Calls != 20 {
					t.Fatalf("usage on the row: %+v", sim)
				}
			}},
		{name: "usage at the int64 maximum", usage: usageOf(math.MaxInt64, math.MaxInt64), wantStatus: entsim.StatusSUCCEEDED,
			anomaly: llm.AnomalyExcessiveTokens,
			check: func(t *testing.T, h *harness, simID int) {
				if sim := h.get(simID); sim.PromptTokens != 20*llm.MaxTokensPerAnswer || sim.CompletionTokens != 20*llm.MaxTokensPerAnswer {
					t.Fatalf("usage on the row: %+v", sim)
				}
			}},
		{name: "escaped NUL in the opinion", wantStatus: entsim.StatusSUCCEEDED, anomaly: llm.AnomalyNULByte,
			hook: answer(`{"opinion":"OP\u0000 with a NUL","care":5,"change_in_support":1}`),
			check: func(t *testing.T, h *harness, simID int) {
				h.opinionsClean(simID, "with a NUL")
			}},
		{name: "raw NUL bytes in the answer", wantStatus: entsim.StatusSUCCEEDED, anomaly: llm.AnomalyNULByte,
			hook: answer("\x00{\"opinion\":\"OP\x00\x00 raw\",\"care\":5,\"change_in_support\":1}\x00"),
			check: func(t *testing.T, h *harness, simID int) {
				h.opinionsClean(simID, " raw")
			}},
		{name: "error body with NUL and invalid UTF-8", wantStatus: entsim.StatusFAILED, wantFailed: 20,
			hook: func(*fakellm.Request, int) (int, map[string]string, string) {
				return 401, map[string]string{"Content-Type": "text/plain"}, "denied\x00\xff\xfe here"
			},
			check: func(t *testing.T, h *harness, simID int) {
				var n int
				if err := h.db.SQL.QueryRow(`SELECT COUNT(*) FROM agent_states WHERE simulation_id = `+h.db.Placeholder(1)+
					` AND failed AND error LIKE '%denied%'`, simID).Scan(&n); err != nil || n != 20 {
					t.Fatalf("%d failed steps with the reason stored (%v), want 20", n, err)
				}
			}},
	}
	for _, dialect := range testdb.Dialects() {
		for _, tc := range cases {
			t.Run(dialect+"/"+tc.name, func(t *testing.T) {
				h := newHarness(t, dialect, 0)
				s := h.service(2, nil)
				m := telemetry.New(nil)
				s.SetMetrics(m)
				h.fk.SetUsage(tc.usage)
				h.fk.SetHook(tc.hook)
				sim, err := s.Run(context.Background(), RunInput{Trigger: "Hostile answers.", Rounds: ptrTo(0)})
				if err != nil {
					t.Fatal(err)
				}
				done := h.wait(sim.ID, 30*time.Second)
				if done.Status != tc.wantStatus || done.FailedSteps != tc.wantFailed || h.states(sim.ID, 0) != 20 {
					t.Fatalf("status %s, %d failed steps, %d states; error %s", done.Status, done.FailedSteps, h.states(sim.ID, 0), deref(done.Error))
				}
				if done.PromptTokens < 0 || done.CompletionTokens < 0 || done.PromptTokens > 20*100_000_000 || done.EstimatedCostUsd < 0 {
					t.Fatalf("usage on the row: %d/%d tokens, %v USD", done.PromptTokens, done.CompletionTokens, done.EstimatedCostUsd)
				}
				if _, err := s.Cancel(context.Background(), sim.ID); err != nil {
					t.Fatalf("cancel after the run: %v", err)
				}
				h.askedOnce()
				if tc.anomaly != "" {
					if n := counterValue(t, m.LLMAnomalies.WithLabelValues(tc.anomaly)); n < 20 {
						t.Fatalf("%v %s anomalies counted, want one per step at least", n, tc.anomaly)
					}
				}
				if tc.check != nil {
					tc.check(t, h, sim.ID)
				}
			})
		}
	}
}

// askedOnce fails when a prompt reached the LLM twice (a paid step asked again).
func (h *harness) askedOnce() {
	h.t.Helper()
	seen := map[string]bool{}
	for _, r := range h.fk.Requests() {
		if seen[r.User] {
			h.t.Fatalf("a step was asked again (%d requests in all)", len(h.fk.Requests()))
		}
		seen[r.User] = true
	}
}

// opinionsClean checks every stored opinion holds suffix and no NUL byte.
func (h *harness) opinionsClean(simID int, suffix string) {
	h.t.Helper()
	rows, err := h.db.SQL.Query(`SELECT opinion FROM agent_states WHERE simulation_id = `+h.db.Placeholder(1), simID)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var op string
		if err := rows.Scan(&op); err != nil {
			h.t.Fatal(err)
		}
		if strings.ContainsRune(op, 0) || !strings.HasSuffix(op, suffix) {
			h.t.Fatalf("stored opinion %q", op)
		}
	}
}

func (h *harness) get(id int) *ent.Simulation {
	h.t.Helper()
	sim, err := h.db.Client.Simulation.Get(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return sim
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// panicky is a histogram whose Observe panics: a bug in the step's own code.
type panicky struct{ prometheus.Histogram }

func (panicky) Observe(float64) { panic("observer exploded") }

// A panic in a step fails that step with the reason stored, never the
// process, and a retry does not pay for the step's call again.
func TestPanicInStepFailsTheStep(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 0)
			s := h.service(2, nil)
			m := telemetry.New(nil)
			m.LLMLatency = panicky{m.LLMLatency}
			s.SetMetrics(m)
			sim, err := s.Run(context.Background(), RunInput{Trigger: "Panics.", Rounds: ptrTo(0)})
			if err != nil {
				t.Fatal(err)
			}
			done := h.wait(sim.ID, 30*time.Second)
			if done.Status != entsim.StatusFAILED || done.FailedSteps != 20 || done.Calls != 20 {
				t.Fatalf("status %s, %d failed steps, %d calls; error %s", done.Status, done.FailedSteps, done.Calls, deref(done.Error))
			}
			var n int
			if err := h.db.SQL.QueryRow(`SELECT COUNT(*) FROM agent_states WHERE simulation_id = `+h.db.Placeholder(1)+
				` AND failed AND error = 'internal error: observer exploded'`, sim.ID).Scan(&n); err != nil || n != 20 {
				t.Fatalf("%d steps failed with the panic's reason (%v)", n, err)
			}
			h.askedOnce()
		})
	}
}

// A panic in a job's own code fails the run with the reason, and River is
// told not to retry the job.
func TestPanicInJobFailsTheRun(t *testing.T) {
	h := newHarness(t, "sqlite", 0)
	s := h.service(0, nil)
	sim, err := s.Run(context.Background(), RunInput{Trigger: "Job panics.", Rounds: ptrTo(0)})
	if err != nil {
		t.Fatal(err)
	}
	err = func() (err error) {
		defer s.recoverJob(context.Background(), sim.ID, &err)
		var m map[string]int
		m["boom"]++ // a nil map write
		return nil
	}()
	var cancel *river.JobCancelError
	if !errors.As(err, &cancel) || !strings.Contains(err.Error(), "assignment to entry in nil map") {
		t.Fatalf("job error = %v", err)
	}
	if got := h.get(sim.ID); got.Status != entsim.StatusFAILED || !strings.Contains(deref(got.Error), "internal error in a job: assignment to entry in nil map") {
		t.Fatalf("run %s: %s", got.Status, deref(got.Error))
	}
}

// A step the database refuses is stored as failed with the reason (and the
// agent's previous state), so the job is not retried and the call not paid again.
func TestRefusedStepStoredAsFailed(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 0)
			s := h.service(0, nil)
			sim, err := s.Run(context.Background(), RunInput{Trigger: "Refused.", Rounds: ptrTo(0)})
			if err != nil {
				t.Fatal(err)
			}
			pl, err := s.loadPlan(context.Background(), h.net.ID, Params{NeighborLimit: 10, Audience: Audience{Mode: simtypes.AudienceAll}})
			if err != nil {
				t.Fatal(err)
			}
			keep := StateView{Opinion: "before", Care: 1, Support: 2}
			bad := StateView{Opinion: "after", Care: math.NaN(), Support: math.Inf(1)}
			u := llm.Usage{Calls: 1, PromptTokens: 10, CompletionTokens: 5}
			if err := s.saveStep(context.Background(), sim.ID, pl.graph.AgentPKs[0], pl.graph.Nodes[0].AgentID, 0, bad, keep, false, "", u, false); err != nil {
				t.Fatalf("saveStep: %v", err)
			}
			var (
				op            string
				care, support float64
				failed        bool
				reason        string
			)
			if err := h.db.SQL.QueryRow(`SELECT opinion, care, support, failed, error FROM agent_states WHERE simulation_id = `+
				h.db.Placeholder(1), sim.ID).Scan(&op, &care, &support, &failed, &reason); err != nil {
				t.Fatal(err)
			}
			if op != "before" || care != 1 || support != 2 || !failed || !strings.Contains(reason, "could not be stored") {
				t.Fatalf("stored %q %v %v failed=%v %q", op, care, support, failed, reason)
			}
			if got := h.get(sim.ID); got.Calls != 1 || got.PromptTokens != 10 || got.FailedSteps != 1 || got.CompletedSteps != 1 {
				t.Fatalf("row after the refused step: %+v", got)
			}
		})
	}
}

// A cost budget needs a priced model, and OPENAI_ALLOWED_MODELS bounds the
// models a run may ask for; both refusals are BAD_USER_INPUT naming the
// model and the setting, before anything is written.
func TestModelPolicy(t *testing.T) {
	h := newHarness(t, "sqlite", 0)
	newSvc := func(allowed ...string) *Service {
		lc, err := llm.New(llm.Config{APIKey: "test", BaseURL: h.fk.BaseURL(), AllowedModels: allowed,
			Prices: map[string]llm.Price{"local-model": {}}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(h.db, lc, Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	open, restricted := newSvc(), newSvc("gpt-4.1-nano", "local-model")
	cases := []struct {
		name string
		svc  *Service
		in   RunInput
		want string // "" = accepted
	}{
		{"unpriced model with a cost budget", open, RunInput{Model: ptrTo("gpt-4.1-mnii"), MaxCostUSD: ptrTo(0.000001)},
			`model "gpt-4.1-mnii" has no price in LLM_PRICES`},
		{"unpriced model, budget in calls", open, RunInput{Model: ptrTo("gpt-4.1-mnii"), MaxCalls: ptrTo(3)}, ""},
		{"unpriced model, HYBRID", open, RunInput{Model: ptrTo("mystery"), MaxCostUSD: ptrTo(1.0), Engine: ptrTo("HYBRID")},
			`model "mystery" has no price in LLM_PRICES`},
		{"unpriced model, classical engine", open, RunInput{Model: ptrTo("mystery"), MaxCostUSD: ptrTo(1.0), Engine: ptrTo("DEGROOT")}, ""},
		{"priced at zero", open, RunInput{Model: ptrTo("local-model"), MaxCostUSD: ptrTo(1.0)}, ""},
		{"dated snapshot of a priced model", open, RunInput{Model: ptrTo("gpt-4.1-mini-2025-04-14"), MaxCostUSD: ptrTo(1.0)}, ""},
		{"not allowed", restricted, RunInput{Model: ptrTo("gpt-4.1")},
			`model "gpt-4.1" is not allowed on this server (OPENAI_ALLOWED_MODELS): use one of gpt-4.1-mini, gpt-4.1-nano, local-model`},
		{"allowed", restricted, RunInput{Model: ptrTo("gpt-4.1-nano"), MaxCostUSD: ptrTo(1.0)}, ""},
		{"the configured model", restricted, RunInput{}, ""},
		{"not allowed with numAgents", restricted, RunInput{Model: ptrTo("gpt-4o"), NumAgents: ptrTo(50)}, `model "gpt-4o" is not allowed`},
		{"NUL in the model", open, RunInput{Model: ptrTo("gpt\x00")}, "model must not contain NUL"},
		{"NUL in the trigger", open, RunInput{Trigger: "a\x00b"}, "trigger must not contain NUL"},
		{"model name too long", open, RunInput{Model: ptrTo(strings.Repeat("m", 201))}, "the limit is 200"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.count("simulations") + h.count("networks")
			if tc.in.Trigger == "" {
				tc.in.Trigger = "Budgets."
			}
			sim, err := tc.svc.Run(context.Background(), tc.in)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "":
				if want := cmp.Or(deref(tc.in.Model), llm.DefaultModel); sim.Params.Model != want {
					t.Fatalf("model %v, want %s", sim.Params.Model, want)
				}
			case apperr.KindOf(err) != apperr.BadInput || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("err = %v (%s), want BAD_USER_INPUT with %q", err, apperr.KindOf(err), tc.want)
			case h.count("simulations")+h.count("networks") != before:
				t.Fatalf("a refused run wrote rows")
			}
		})
	}
}

func (h *harness) count(table string) int {
	h.t.Helper()
	var n int
	if err := h.db.SQL.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}
