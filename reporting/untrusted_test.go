package reporting

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ethox/ethox/database"
	entreport "github.com/ethox/ethox/ent/report"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/simulation/llm"
)

// finishedRun stores the fixture network and a finished run of it (one round
// of states) and returns the run's id.
func finishedRun(t *testing.T, db *database.DB) int {
	t.Helper()
	ctx := context.Background()
	f, err := os.Open(fixtures.Path(t, fixtures.Network20))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := networkfile.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	store := graphstore.New(db)
	n, err := store.Import(ctx, g, graphstore.ImportOptions{Name: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := db.Client.Simulation.Create().SetNetworkID(n.ID).SetEngine(entsim.EngineLLM).SetTrigger("x").
		SetRounds(0).SetTotalSteps(20).SetStatus(entsim.StatusSUCCEEDED).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full, err := store.LoadGraph(ctx, &n.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, pk := range full.AgentPKs {
		_, err := db.SQL.Exec(`INSERT INTO agent_states (simulation_id, agent_id, round, opinion, care, support, failed, latency_ms, prompt_tokens, completion_tokens, retries, created_at)
			VALUES (`+db.Placeholder(1)+`, `+db.Placeholder(2)+`, 0, 'fine', `+db.Placeholder(3)+`, 1, false, 0, 0, 0, 0, `+db.Placeholder(4)+`)`,
			sim.ID, pk, float64(i%11), time.Now().UTC())
		if err != nil {
			t.Fatal(err)
		}
	}
	return sim.ID
}

// The narrative is LLM output: stored cleaned whatever the supervisor
// answers, and its failures (which quote the server) too.
func TestHostileNarrative(t *testing.T) {
	tests := []struct {
		name       string
		hook       func(*fakellm.Request, int) (int, map[string]string, string)
		usage      func(*fakellm.Request, int) (int64, int64, bool)
		wantSource entreport.NarrativeSource
		want       string
	}{
		{"NUL bytes and hostile usage", func(*fakellm.Request, int) (int, map[string]string, string) {
			return 0, nil, "Support\x00 grew \\u0000 steadily."
		}, func(*fakellm.Request, int) (int64, int64, bool) { return -1, 1 << 62, true },
			entreport.NarrativeSourceLLM, `Support grew \u0000 steadily.`},
		{"narrative too long", func(*fakellm.Request, int) (int, map[string]string, string) {
			return 0, nil, strings.Repeat("é", llm.MaxTextChars+10)
		}, nil, entreport.NarrativeSourceLLM, strings.Repeat("é", llm.MaxTextChars)},
		{"error body with NUL and invalid UTF-8", func(*fakellm.Request, int) (int, map[string]string, string) {
			return 401, map[string]string{"Content-Type": "text/plain"}, "denied\x00\xff here"
		}, nil, entreport.NarrativeSourceDETERMINISTIC, "The LLM narrative failed"},
	}
	for _, dialect := range testdb.Dialects() {
		for _, tt := range tests {
			t.Run(dialect+"/"+tt.name, func(t *testing.T) {
				db := testdb.Open(t, dialect)
				simID := finishedRun(t, db)
				fk := fakellm.New(0)
				t.Cleanup(fk.Close)
				fk.SetHook(tt.hook)
				fk.SetUsage(tt.usage)
				lc, err := llm.New(llm.Config{APIKey: "test", BaseURL: fk.BaseURL(), MaxRetries: -1})
				if err != nil {
					t.Fatal(err)
				}
				r, err := New(db, lc, Narrator{}).Generate(context.Background(), simID, false)
				if err != nil {
					t.Fatalf("Generate: %v", err)
				}
				if r.NarrativeSource != tt.wantSource || !strings.Contains(r.ReportText, tt.want) ||
					strings.ContainsRune(r.ReportText, 0) || !utf8.ValidString(r.ReportText) {
					t.Fatalf("%s narrative (%d bytes): %.200q", r.NarrativeSource, len(r.ReportText), r.ReportText)
				}
				if tt.wantSource == entreport.NarrativeSourceLLM && r.ReportText != tt.want {
					t.Fatalf("narrative %d bytes, want %d", len(r.ReportText), len(tt.want))
				}
			})
		}
	}
}
