// Package testdb gives each test a fresh, migrated database: a SQLite file in
// the test's temp dir, and, when TEST_DATABASE_URL is set, a PostgreSQL
// database created for the test and dropped after it.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/ethox/ethox/database"
)

// DefaultPostgresURL is the local server every machine of this project runs.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresURL is TEST_DATABASE_URL, defaulting to the local server; "" when
// it is set to "none" (a developer's explicit opt-out: SQLite only).
func PostgresURL() string {
	switch v := os.Getenv("TEST_DATABASE_URL"); v {
	case "":
		return DefaultPostgresURL
	case "none":
		return ""
	default:
		return v
	}
}

// Dialects lists the databases the tests run against: SQLite, and PostgreSQL
// unless TEST_DATABASE_URL=none.
func Dialects() []string {
	if PostgresURL() != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// Open returns a fresh migrated database of the given dialect, closed (and
// dropped, on PostgreSQL) when the test ends. An unreachable PostgreSQL fails
// the test: it never skips.
func Open(tb testing.TB, dialect string) *database.DB {
	tb.Helper()
	ctx := context.Background()
	var rawURL string
	switch dialect {
	case "sqlite":
		rawURL = "sqlite://" + filepath.Join(tb.TempDir(), "ethox.db")
	case "postgres":
		rawURL = createPostgres(tb)
	default:
		tb.Fatalf("unknown dialect %q", dialect)
	}
	db, err := database.Open(ctx, rawURL, database.PoolConfig{MaxOpenConns: 32, MaxIdleConns: 10})
	if err != nil {
		tb.Fatalf("open %s: %v", dialect, err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(); err != nil {
		tb.Fatalf("migrate %s: %v", dialect, err)
	}
	return db
}

// URL returns a fresh empty database URL of the dialect (for tests that start
// the server binary themselves).
func URL(tb testing.TB, dialect string) string {
	tb.Helper()
	if dialect == "postgres" {
		return createPostgres(tb)
	}
	return "sqlite://" + filepath.Join(tb.TempDir(), "ethox.db")
}

func createPostgres(tb testing.TB) string {
	tb.Helper()
	base := PostgresURL()
	if base == "" {
		tb.Fatal("PostgreSQL is disabled (TEST_DATABASE_URL=none)")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ethox_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		tb.Fatalf("create test database on TEST_DATABASE_URL (is PostgreSQL running?): %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
