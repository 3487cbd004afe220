package database_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/migrations"
)

func TestMigrateIsIdempotentAndCurrent(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			db := testdb.Open(t, dialect) // applies every migration once
			st, err := db.Migrate()
			if err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			if !st.UpToDate() || st.Current == 0 {
				t.Fatalf("status after migrate: %+v", st)
			}
			for _, table := range []string{"networks", "agents", "ties", "simulations", "agent_states", "simulation_events", "reports", "api_tokens"} {
				var n int
				if err := db.SQL.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
					t.Errorf("table %s: %v", table, err)
				}
			}
		})
	}
}

var dropRe = regexp.MustCompile(`(?i)\bDROP\s+(TABLE|COLUMN)\b`)

// A forward migration never drops data silently: a DROP needs an explicit
// "-- ethox:allow-drop" marker written by a person who moved the data first.
func TestUpMigrationsDoNotDropData(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		fsys, err := migrations.FS(dialect)
		if err != nil {
			t.Fatal(err)
		}
		ups, _ := fs.Glob(fsys, "*.up.sql")
		if len(ups) == 0 {
			t.Fatalf("%s: no migrations embedded", dialect)
		}
		for _, name := range ups {
			b, _ := fs.ReadFile(fsys, name)
			if dropRe.Match(b) && !strings.Contains(string(b), "-- ethox:allow-drop") {
				t.Errorf("%s/%s drops a table or column without -- ethox:allow-drop", dialect, name)
			}
		}
	}
}
