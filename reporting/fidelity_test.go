package reporting

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/config"
	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/simulation/llm"
)

// twoRoundRun is finishedRun with a second round: every agent's round-1
// opinion differs from its round-0 one.
func twoRoundRun(t *testing.T, db *database.DB) int {
	t.Helper()
	id := finishedRun(t, db)
	ctx := context.Background()
	if _, err := db.SQL.ExecContext(ctx, `UPDATE simulations SET rounds = 1 WHERE id = `+db.Placeholder(1), id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL.ExecContext(ctx, `UPDATE agent_states SET opinion = 'first reaction of ' || CAST(agent_id AS TEXT) WHERE simulation_id = `+
		db.Placeholder(1), id); err != nil {
		t.Fatal(err)
	}
	_, err := db.SQL.ExecContext(ctx, `INSERT INTO agent_states (simulation_id, agent_id, round, opinion, care, support, failed, latency_ms, prompt_tokens, completion_tokens, retries, created_at)
		SELECT simulation_id, agent_id, 1, 'final view of ' || CAST(agent_id AS TEXT), care, -1, false, 0, 0, 0, 0, created_at
		FROM agent_states WHERE simulation_id = `+db.Placeholder(1), id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestIncludeInitialShowsInitialOpinions: with includeInitial the supervisor
// reads every agent's initial and final opinion, as the prototype's did;
// without it, the final ones only.
func TestIncludeInitialShowsInitialOpinions(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			db := testdb.Open(t, dialect)
			id := twoRoundRun(t, db)
			var pks []int
			rows, err := db.SQL.Query(`SELECT DISTINCT agent_id FROM agent_states WHERE simulation_id = `+db.Placeholder(1), id)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var pk int
				_ = rows.Scan(&pk)
				pks = append(pks, pk)
			}
			rows.Close()
			if len(pks) != 20 {
				t.Fatalf("%d agents", len(pks))
			}
			fk := fakellm.New(0)
			t.Cleanup(fk.Close)
			lc, err := llm.New(llm.Config{APIKey: "test", BaseURL: fk.BaseURL(), MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			s := New(db, lc, Narrator{})
			for _, include := range []bool{true, false} {
				before := len(fk.Requests())
				if _, err := s.Generate(context.Background(), id, include); err != nil {
					t.Fatal(err)
				}
				reqs := fk.Requests()[before:]
				if len(reqs) != 1 {
					t.Fatalf("%d calls", len(reqs))
				}
				user := reqs[0].User
				for _, pk := range pks {
					hasInitial := strings.Contains(user, fmt.Sprintf(") first reaction of %d\n", pk))
					hasFinal := strings.Contains(user, fmt.Sprintf(") final view of %d\n", pk))
					if hasInitial != include || !hasFinal {
						t.Fatalf("includeInitial=%v: agent %d initial shown %v, final shown %v:\n%s", include, pk, hasInitial, hasFinal, user)
					}
				}
				if include && (!strings.Contains(user, "The initial reaction (round 0) and final opinion (round 1) of 20 agents:\n- initial (care ") ||
					!strings.Contains(user, ", support +1) first reaction of ") || !strings.Contains(user, ", support -1) final view of ")) {
					t.Fatalf("prompt:\n%s", user)
				}
			}
		})
	}
}

// TestReportSampling: the narrative is asked at the report's own settings
// (OPENAI_REPORT_TEMPERATURE 0.3 and OPENAI_REPORT_MAX_TOKENS 2000 by
// default, the prototype's supervisor), not the agents'.
func TestReportSampling(t *testing.T) {
	db := testdb.Open(t, testdb.Dialects()[0])
	id := finishedRun(t, db)
	fk := fakellm.New(0)
	t.Cleanup(fk.Close)
	for _, c := range []struct {
		env      map[string]string
		wantTemp float64
		wantMax  *int
	}{
		{nil, 0.3, ptr(2000)},
		{map[string]string{"OPENAI_REPORT_TEMPERATURE": "0", "OPENAI_REPORT_MAX_TOKENS": "0", "OPENAI_TEMPERATURE": "1.2"}, 0, nil},
	} {
		env := map[string]string{"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": fk.BaseURL()}
		for k, v := range c.env {
			env[k] = v
		}
		cfg, err := config.FromEnv(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		cfg.LLM.CallTimeout = 5 * time.Second
		lc, err := llm.New(cfg.LLM)
		if err != nil {
			t.Fatal(err)
		}
		before := len(fk.Requests())
		r, err := New(db, lc, Narrator{Model: cfg.ReportModel, Temperature: cfg.ReportTemperature, MaxTokens: cfg.ReportMaxTokens}).
			Generate(context.Background(), id, false)
		if err != nil {
			t.Fatal(err)
		}
		reqs := fk.Requests()[before:]
		if len(reqs) != 1 || reqs[0].Model != "gpt-4.1" || r.Model == nil || *r.Model != "gpt-4.1" {
			t.Fatalf("%d calls, model %v", len(reqs), reqs)
		}
		got := reqs[0]
		// temperature 0 is sent as the smallest float32 (go-openai omits 0).
		if got.Temperature == nil || (c.wantTemp == 0) != (*got.Temperature < 1e-30) || (c.wantTemp != 0 && *got.Temperature != c.wantTemp) {
			t.Fatalf("temperature %v, want %v", show(got.Temperature), c.wantTemp)
		}
		if (got.MaxTokens == nil) != (c.wantMax == nil) || (got.MaxTokens != nil && *got.MaxTokens != *c.wantMax) {
			t.Fatalf("max_tokens %v, want %v", show(got.MaxTokens), show(c.wantMax))
		}
	}
}

func ptr[T any](v T) *T { return &v }

func show[T any](p *T) any {
	if p == nil {
		return "none"
	}
	return *p
}
