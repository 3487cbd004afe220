package database_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/internal/testdb"
)

// Dropping the tie -> network foreign key (SQLite rebuilds "ties" for it)
// keeps every row of a database that holds networks: ties, their ids and
// sequence, and the networks and agents that a cascading rebuild would take.
func TestDropTieNetworkFKKeepsData(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db, exec := migratedTo(t, dialect, previous[dialect])
			exec(`INSERT INTO networks (id, name, source, directed, created_at, node_count, edge_count, trait_keys) VALUES (1, 'kept', 'UPLOADED', false, CURRENT_TIMESTAMP, 3, 3, '[]')`)
			for i := 1; i <= 3; i++ {
				exec(`INSERT INTO agents (id, network_id, agent_id, traits, profile, attributes, degree, degree_centrality, betweenness_centrality) VALUES ($1, 1, $2, '{}', '{}', '{}', 2, 1, 0)`, i, fmt.Sprint(i))
			}
			// Explicit ids, the last one the highest ever given (then deleted).
			for j, e := range [][2]int{{1, 2}, {2, 3}, {1, 3}, {3, 1}} {
				exec(`INSERT INTO ties (id, network_id, source_id, target_id, weight) VALUES ($1, 1, $2, $3, 0.5)`, 40_000_000_000+j, e[0], e[1])
			}
			exec(`DELETE FROM ties WHERE id = $1`, 40_000_000_003)

			if _, err := db.Migrate(); err != nil {
				t.Fatalf("migrate up: %v", err)
			}
			for table, want := range map[string]int{"networks": 1, "agents": 3, "ties": 3} {
				var n int
				if err := db.SQL.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil || n != want {
					t.Errorf("%s: %d rows (%v), want %d", table, n, err, want)
				}
			}
			// A new tie gets an id above every id given before, and its network
			// is no longer checked by the database (graphstore checks it).
			var id int64
			q := `INSERT INTO ties (network_id, source_id, target_id, weight) VALUES (1, 2, 1, 1) RETURNING id`
			if err := db.SQL.QueryRowContext(ctx, q).Scan(&id); err != nil {
				t.Fatal(err)
			}
			if dialect == "sqlite" && id <= 40_000_000_003 {
				t.Errorf("new tie id %d reuses a deleted tie's id", id)
			}
			exec(`INSERT INTO ties (network_id, source_id, target_id, weight) VALUES (99, 1, 2, 1)`)
		})
	}
}

// previous is the last migration before 20261129111127_drop_tie_network_fk.
var previous = map[string]uint{"sqlite": 20261129081735, "postgres": 20261129081807}

// migratedTo opens a fresh database of dialect migrated up to version only,
// and an exec that runs a statement written with $n parameters on it.
func migratedTo(t *testing.T, dialect string, version uint) (*database.DB, func(q string, args ...any)) {
	t.Helper()
	db, err := database.Open(context.Background(), testdb.URL(t, dialect), database.PoolConfig{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.MigrateTo(version); err != nil {
		t.Fatalf("migrate to %d: %v", version, err)
	}
	return db, func(q string, args ...any) {
		t.Helper()
		if dialect == "sqlite" {
			q = sqliteParams(q)
		}
		if _, err := db.SQL.ExecContext(context.Background(), q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func sqliteParams(q string) string {
	out := []byte(q)
	for i := range out {
		if out[i] == '$' {
			out[i] = '?'
		}
	}
	return string(out)
}
