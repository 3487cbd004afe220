// Command migrationgen writes versioned SQL migrations (golang-migrate format)
// for each dialect by diffing the ent schema against the existing migration
// files, replayed on a throwaway dev database. It runs from `go generate ./...`;
// with no schema change it writes nothing, so CI's drift check stays clean.
//
//	go run ./internal/migrationgen [-name add_something] [-allow-drop] [-rehash]
//
// The PostgreSQL dev database is created on MIGRATION_DEV_DATABASE_URL
// (default: the local server) and dropped afterwards.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/sqltool"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/ethox/ethox/ent/migrate"
)

func main() {
	name := flag.String("name", "changes", "name of the new migration, if the schema changed")
	allowDrop := flag.Bool("allow-drop", false, "accept a migration that drops a table or a column")
	dir := flag.String("dir", "migrations", "root of the per-dialect migration directories")
	rehash := flag.Bool("rehash", false, "only rewrite each dialect's atlas.sum, after a hand-edited migration")
	flag.Parse()
	if *rehash {
		for _, d := range []string{"sqlite", "postgres"} {
			if err := rehashDir(filepath.Join(*dir, d)); err != nil {
				log.Fatalf("migrationgen %s: %v", d, err)
			}
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if err := diff(ctx, dialect.SQLite, filepath.Join(*dir, "sqlite"), *name, *allowDrop, openSQLiteDev); err != nil {
		log.Fatalf("migrationgen sqlite: %v", err)
	}
	if err := diff(ctx, dialect.Postgres, filepath.Join(*dir, "postgres"), *name, *allowDrop, openPostgresDev); err != nil {
		log.Fatalf("migrationgen postgres: %v", err)
	}
}

// rehashDir rewrites atlas.sum for the migrations in path as they are now
// (the replay in diff refuses a directory whose sum does not match).
func rehashDir(path string) error {
	dir, err := sqltool.NewGolangMigrateDir(path)
	if err != nil {
		return err
	}
	sum, err := dir.Checksum()
	if err != nil {
		return err
	}
	return atlasmigrate.WriteSumFile(dir, sum)
}

type devOpener func(ctx context.Context) (db *sql.DB, cleanup func(), err error)

func diff(ctx context.Context, dialectName, path, name string, allowDrop bool, open devOpener) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	dir, err := sqltool.NewGolangMigrateDir(path)
	if err != nil {
		return err
	}
	before, err := listFiles(path)
	if err != nil {
		return err
	}
	db, cleanup, err := open(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	m, err := schema.NewMigrate(entsql.OpenDB(dialectName, db),
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialectName),
		schema.WithFormatter(sqltool.GolangMigrateFormatter),
		schema.WithDropColumn(allowDrop),
		schema.WithDropIndex(true),
	)
	if err != nil {
		return err
	}
	if err := m.NamedDiff(ctx, name, withoutUnconstrained(migrate.Tables)...); err != nil {
		return err
	}
	after, err := listFiles(path)
	if err != nil {
		return err
	}
	for f := range after {
		if before[f] || !strings.HasSuffix(f, ".up.sql") {
			continue
		}
		log.Printf("migrationgen: wrote %s", filepath.Join(path, f))
		if allowDrop {
			continue
		}
		if err := refuseDrops(filepath.Join(path, f)); err != nil {
			return err
		}
	}
	return nil
}

// unconstrained lists the foreign keys of ent edges that the databases do not
// get. ent has no per-edge switch for it, and these migrations are the only
// schema the databases see (ent's Schema.Create is never run), so they are
// left out of the wanted state here.
//
// ties_networks_ties (tie -> network): its per-row check made up a third of
// the COPY of a 1M-tie upload on PostgreSQL. Ties are written only by the
// importer, in the transaction that creates their network, and a purge
// deletes them before the network's row (graphstore/delete.go), so nothing
// relies on the cascade.
var unconstrained = map[string]bool{"ties_networks_ties": true}

// withoutUnconstrained returns copies of the tables that differ from ent's
// by the foreign keys in unconstrained.
func withoutUnconstrained(tables []*schema.Table) []*schema.Table {
	out := make([]*schema.Table, len(tables))
	for i, t := range tables {
		c := *t
		c.ForeignKeys = slices.DeleteFunc(slices.Clone(t.ForeignKeys), func(fk *schema.ForeignKey) bool { return unconstrained[fk.Symbol] })
		out[i] = &c
	}
	return out
}

var dropRe = regexp.MustCompile(`(?i)\bDROP\s+(TABLE|COLUMN)\b`)

// refuseDrops keeps a generated migration from silently dropping data: the
// developer must say -allow-drop and write the data move by hand.
func refuseDrops(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if dropRe.Match(b) {
		return fmt.Errorf("%s drops a table or a column; rerun with -allow-drop after adding a data migration", file)
	}
	return nil
}

func listFiles(path string) (map[string]bool, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(entries))
	for _, e := range entries {
		out[e.Name()] = true
	}
	return out, nil
}

func openSQLiteDev(context.Context) (*sql.DB, func(), error) {
	db, err := sql.Open("sqlite", "file:migrationgen?mode=memory&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(1) // one in-memory database
	return db, func() { db.Close() }, nil
}

func openPostgresDev(ctx context.Context) (*sql.DB, func(), error) {
	admin := os.Getenv("MIGRATION_DEV_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	adminDB, err := sql.Open("pgx", admin)
	if err != nil {
		return nil, nil, err
	}
	devName := fmt.Sprintf("ethox_migrationgen_%d", os.Getpid())
	if _, err := adminDB.ExecContext(ctx, "CREATE DATABASE "+devName); err != nil {
		adminDB.Close()
		return nil, nil, fmt.Errorf("create dev database (is PostgreSQL running? set MIGRATION_DEV_DATABASE_URL): %w", err)
	}
	devURL, err := replaceDBName(admin, devName)
	if err != nil {
		return nil, nil, err
	}
	db, err := sql.Open("pgx", devURL)
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() {
		db.Close()
		_, _ = adminDB.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+devName+" WITH (FORCE)")
		adminDB.Close()
	}
	return db, cleanup, nil
}

func replaceDBName(rawURL, name string) (string, error) {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return "", fmt.Errorf("not a URL: %q", rawURL)
	}
	rest := rawURL[i+3:]
	q := ""
	if j := strings.IndexByte(rest, '?'); j >= 0 {
		rest, q = rest[:j], rest[j:]
	}
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return rawURL[:i+3] + rest + "/" + name + q, nil
}

var _ atlasmigrate.Dir = (*sqltool.GolangMigrateDir)(nil)
