package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"entgo.io/ent/dialect"
	"github.com/golang-migrate/migrate/v4"
	migratedb "github.com/golang-migrate/migrate/v4/database"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	sqlitemigrate "github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/ethox/ethox/migrations"
)

// MigrationStatus tells where the database stands against the embedded migrations.
type MigrationStatus struct {
	Current uint // applied version, 0 when none
	Latest  uint // newest embedded version
	Dirty   bool // a migration failed half-way
}

// UpToDate reports whether every embedded migration is applied.
func (s MigrationStatus) UpToDate() bool { return !s.Dirty && s.Current == s.Latest }

// Migrate applies every embedded migration that is not applied yet, then
// River's job-queue tables. It is a
// no-op on a current database, and safe to run from several processes at once
// on PostgreSQL (golang-migrate takes an advisory lock).
func (d *DB) Migrate() (MigrationStatus, error) {
	m, err := d.migrator()
	if err != nil {
		return MigrationStatus{}, err
	}
	defer m.Close()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return MigrationStatus{}, fmt.Errorf("apply migrations: %w", err)
	}
	if err := d.migrateRiver(context.Background()); err != nil {
		return MigrationStatus{}, err
	}
	return d.migrationStatus(m)
}

// MigrationStatus reads the applied version without changing anything.
func (d *DB) MigrationStatus() (MigrationStatus, error) {
	m, err := d.migrator()
	if err != nil {
		return MigrationStatus{}, err
	}
	defer m.Close()
	return d.migrationStatus(m)
}

func (d *DB) migrationStatus(m *migrate.Migrate) (MigrationStatus, error) {
	var st MigrationStatus
	v, dirty, err := m.Version()
	switch {
	case errors.Is(err, migrate.ErrNilVersion):
	case err != nil:
		return st, err
	default:
		st.Current, st.Dirty = v, dirty
	}
	latest, err := latestVersion(d.Dialect)
	if err != nil {
		return st, err
	}
	st.Latest = latest
	return st, nil
}

func (d *DB) migrator() (*migrate.Migrate, error) {
	dir := "sqlite"
	if d.Dialect == dialect.Postgres {
		dir = "postgres"
	}
	fsys, err := migrations.FS(dir)
	if err != nil {
		return nil, err
	}
	src, err := iofs.New(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	// A pool of its own: golang-migrate holds a connection and closes its pool on Close.
	db, err := sql.Open(d.driverName, d.dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	var drv migratedb.Driver
	if d.Dialect == dialect.Postgres {
		drv, err = pgxmigrate.WithInstance(db, &pgxmigrate.Config{})
	} else {
		drv, err = sqlitemigrate.WithInstance(db, &sqlitemigrate.Config{})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migration driver: %w", err)
	}
	return migrate.NewWithInstance("iofs", src, dir, drv)
}

func latestVersion(dialectName string) (uint, error) {
	dir := "sqlite"
	if dialectName == dialect.Postgres {
		dir = "postgres"
	}
	fsys, err := migrations.FS(dir)
	if err != nil {
		return 0, err
	}
	src, err := iofs.New(fsys, ".")
	if err != nil {
		return 0, err
	}
	defer src.Close()
	v, err := src.First()
	if err != nil {
		return 0, err
	}
	for {
		next, err := src.Next(v)
		if err != nil {
			return v, nil // fs.ErrNotExist: v is the last
		}
		v = next
	}
}
