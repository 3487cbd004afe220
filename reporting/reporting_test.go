package reporting

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/apperr"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/networkfile"
)

// A run with nothing stored cannot be reported; a run in progress gets a
// provisional report over the rounds stored so far.
func TestUnfinishedRuns(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := testdb.Open(t, dialect)
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
			sim, err := db.Client.Simulation.Create().SetNetworkID(n.ID).SetEngine(entsim.EngineDEGROOT).SetTrigger("x").
				SetRounds(3).SetTotalSteps(80).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s := New(db, nil, Narrator{})
			if _, err := s.Generate(ctx, sim.ID, false); apperr.KindOf(err) != apperr.BadInput || !strings.Contains(err.Error(), "no stored step") {
				t.Fatalf("queued run: %v", err)
			}
			full, _ := store.LoadGraph(ctx, &n.ID)
			for i, pk := range full.AgentPKs {
				_, err := db.SQL.Exec(`INSERT INTO agent_states (simulation_id, agent_id, round, opinion, care, support, failed, latency_ms, prompt_tokens, completion_tokens, retries, created_at)
					VALUES (`+db.Placeholder(1)+`, `+db.Placeholder(2)+`, 0, '', `+db.Placeholder(3)+`, 1, false, 0, 0, 0, 0, `+db.Placeholder(4)+`)`,
					sim.ID, pk, float64(i%11), time.Now().UTC())
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Client.Simulation.UpdateOneID(sim.ID).SetStatus(entsim.StatusRUNNING).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			r, err := s.Generate(ctx, sim.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			// care i%11 over 20 agents: (55+36)/20 = 4.55 → round(45.5) = 46; support 1 → 10.
			if !r.Provisional || r.CareScore100 != 46 || r.ChangeInSupport50 != 10 || r.Metrics["finalRound"] != float64(0) ||
				!strings.Contains(r.ReportText, "Provisional") {
				t.Fatalf("provisional report: %+v", r)
			}
		})
	}
}
