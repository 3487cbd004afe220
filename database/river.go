package database

import (
	"context"
	"database/sql"
	"fmt"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// RiverDriver returns River's driver over the same pool and database/sql
// transactions as ent, so a job can be inserted in the transaction that writes
// its rows (riverdatabasesql on PostgreSQL, riversqlite on SQLite).
func (d *DB) RiverDriver() riverdriver.Driver[*sql.Tx] {
	if d.Dialect == dialect.Postgres {
		return riverdatabasesql.New(d.SQL)
	}
	return riversqlite.New(d.SQL)
}

// migrateRiver applies River's own tables (its job queue), which River
// versions itself.
func (d *DB) migrateRiver(ctx context.Context) error {
	m, err := rivermigrate.New(d.RiverDriver(), nil)
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}
