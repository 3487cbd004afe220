// Package testdb gives each test a fresh, migrated database: a SQLite file in
// the test's temp dir, and a PostgreSQL database created for the test on the
// server at TEST_DATABASE_URL and dropped after it.
//
// Which databases the tests run on:
//
//   - TEST_DATABASE_URL unset: the local server, DefaultPostgresURL.
//   - TEST_DATABASE_URL=none: SQLite only (a developer's explicit opt-out).
//   - A server that cannot be reached (probed once per test binary) is
//     skipped: the tests run on SQLite only and a notice says so on the
//     terminal of `go test` (see notice.go), once per `go test` command.
//   - ETHOX_REQUIRE_POSTGRES=1, or CI=true without ETHOX_REQUIRE_POSTGRES:
//     PostgreSQL is required; an unreachable server (or
//     TEST_DATABASE_URL=none) fails every PostgreSQL test instead.
//     ETHOX_REQUIRE_POSTGRES=0 lifts the requirement on CI.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
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

// Required reports whether PostgreSQL must be used: ETHOX_REQUIRE_POSTGRES
// when it is set (1/true or 0/false), else whether CI is true (CI services set
// CI=true).
func Required() bool {
	if v, ok := os.LookupEnv("ETHOX_REQUIRE_POSTGRES"); ok && v != "" {
		b, err := strconv.ParseBool(v)
		return err != nil || b // anything but a false value requires it
	}
	b, _ := strconv.ParseBool(os.Getenv("CI"))
	return b
}

var (
	probeOnce sync.Once
	probeErr  error // why PostgreSQL cannot be used; nil when it can
)

// probe checks once per process that the server at PostgresURL() accepts a
// connection, and prints the skip notice when it does not and is not
// required.
func probe() error {
	probeOnce.Do(func() {
		base := PostgresURL()
		if base == "" {
			probeErr = errors.New("PostgreSQL is disabled (TEST_DATABASE_URL=none)")
			return
		}
		db, err := sql.Open("pgx", base)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = db.PingContext(ctx)
			cancel()
			db.Close()
		}
		if err != nil {
			probeErr = fmt.Errorf("PostgreSQL is unreachable at TEST_DATABASE_URL %s: %w", redact(base), err)
			if !Required() {
				notice(skipNotice(base, err))
			}
		}
	})
	return probeErr
}

// Dialects lists the databases the tests run against: SQLite, and PostgreSQL
// when it is reachable or required (then an unreachable one fails the tests).
func Dialects() []string {
	if probe() == nil || Required() {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// PostgresSkipped says why the PostgreSQL half of the tests does not run, ""
// when it does (for a t.Skip of PostgreSQL-only tests).
func PostgresSkipped() string {
	if slices.Contains(Dialects(), "postgres") {
		return ""
	}
	return probe().Error() + "; the PostgreSQL tests are skipped"
}

func redact(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "(a connection string, not shown)"
}

// Open returns a fresh migrated database of the given dialect, closed (and
// dropped, on PostgreSQL) when the test ends. An unusable PostgreSQL fails
// the test (Dialects leaves PostgreSQL out when it is skipped).
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
	if err := probe(); err != nil {
		if Required() {
			tb.Fatalf("PostgreSQL is required here (%s): %v", requiredBy(), err)
		}
		tb.Fatal(err)
	}
	base := PostgresURL()
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
