package database_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/ethox/ethox/internal/testdb"
)

// Adding a run's parent (simulations.parent_id, branched_from_round) keeps
// every stored run with its states: on SQLite the generated migration
// rebuilt "simulations", which would have cascaded to every state, event
// and report; the columns are added in place instead. Deleting a parent
// leaves its branch, parentless.
func TestBranchColumnsKeepRuns(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			before := map[string]uint{"sqlite": 20261129111127, "postgres": 20261129111128}[dialect]
			db, exec := migratedTo(t, dialect, before)
			exec(`INSERT INTO networks (id, name, source, directed, created_at, node_count, edge_count, trait_keys) VALUES (1, 'kept', 'UPLOADED', false, CURRENT_TIMESTAMP, 1, 0, '[]')`)
			exec(`INSERT INTO agents (id, network_id, agent_id, traits, profile, attributes, degree, degree_centrality, betweenness_centrality) VALUES (1, 1, 'a', '{}', '{}', '{}', 0, 0, 0)`)
			exec(`INSERT INTO simulations (id, network_id, status, engine, trigger, params, created_at) VALUES (10, 1, 'SUCCEEDED', 'DEGROOT', 'x', '{}', CURRENT_TIMESTAMP)`)
			exec(`INSERT INTO agent_states (simulation_id, agent_id, round, opinion, care, support, failed, latency_ms, prompt_tokens, completion_tokens, retries, created_at) VALUES (10, 1, 0, 'kept', 1, 1, false, 0, 0, 0, 0, CURRENT_TIMESTAMP)`)

			if _, err := db.Migrate(); err != nil {
				t.Fatalf("migrate up: %v", err)
			}
			count := func(q string) int {
				var n int
				if err := db.SQL.QueryRowContext(ctx, q).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if s, st := count("SELECT COUNT(*) FROM simulations"), count("SELECT COUNT(*) FROM agent_states"); s != 1 || st != 1 {
				t.Fatalf("after the migration: %d simulations, %d states", s, st)
			}
			exec(`INSERT INTO simulations (id, network_id, status, engine, trigger, params, created_at, parent_id, branched_from_round) VALUES (11, 1, 'QUEUED', 'DEGROOT', 'x', '{}', CURRENT_TIMESTAMP, 10, 0)`)
			exec(`DELETE FROM simulations WHERE id = 10`)
			var parent sql.NullInt64
			if err := db.SQL.QueryRowContext(ctx, "SELECT parent_id FROM simulations WHERE id = 11").Scan(&parent); err != nil || parent.Valid {
				t.Fatalf("branch of a deleted run: parent %v (%v)", parent, err)
			}
		})
	}
}
