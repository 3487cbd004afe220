// Package database opens the configured database (embedded SQLite by default,
// PostgreSQL through pgx) and applies the embedded migrations.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite", pure Go

	"github.com/ethox/ethox/ent"
)

// DefaultURL is used when DATABASE_URL is empty: a SQLite file in the working directory.
const DefaultURL = "sqlite://ethox.db"

// PoolConfig bounds the PostgreSQL connection pool.
type PoolConfig struct {
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	ConnMaxIdleTime time.Duration
}

// DB is an open database with its ent client.
type DB struct {
	SQL     *sql.DB
	Dialect string // dialect.SQLite or dialect.Postgres
	Client  *ent.Client

	driverName, dsn string // to open a separate pool for migrations
}

// Close closes the client and the pool.
func (d *DB) Close() error { return d.Client.Close() }

// Open opens rawURL: postgres:// or postgresql:// for PostgreSQL; sqlite://PATH,
// sqlite:PATH or file:PATH for SQLite; empty for DefaultURL.
func Open(ctx context.Context, rawURL string, pool PoolConfig) (*DB, error) {
	if rawURL == "" {
		rawURL = DefaultURL
	}
	var (
		db                    *sql.DB
		name, driverName, dsn string
		err                   error
	)
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		name, driverName, dsn = dialect.Postgres, "pgx", rawURL
		db, err = sql.Open(driverName, dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		applyPool(db, pool)
	case strings.HasPrefix(rawURL, "sqlite:"), strings.HasPrefix(rawURL, "file:"):
		name = dialect.SQLite
		driverName = "sqlite"
		if dsn, err = sqliteDSN(rawURL); err != nil {
			return nil, err
		}
		db, err = sql.Open(driverName, dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// One writer at a time is SQLite's rule; a small pool still lets WAL readers run alongside it.
		db.SetMaxOpenConns(max(1, min(pool.MaxOpenConns, 32)))
		// Keep them all idle: opening one (its pragmas, schema parse) cost a
		// 10,000-agent LLM run a fifth of its CPU with database/sql's default of 2.
		db.SetMaxIdleConns(max(1, min(pool.MaxOpenConns, 32)))
	default:
		return nil, fmt.Errorf("DATABASE_URL %q: want postgres://… or sqlite://PATH", redact(rawURL))
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database %s: %w", name, redact(rawURL), err)
	}
	drv := entsql.OpenDB(name, db)
	return &DB{SQL: db, Dialect: name, Client: ent.NewClient(ent.Driver(drv)), driverName: driverName, dsn: dsn}, nil
}

func applyPool(db *sql.DB, p PoolConfig) {
	if p.MaxOpenConns > 0 {
		db.SetMaxOpenConns(p.MaxOpenConns)
	}
	if p.MaxIdleConns > 0 {
		db.SetMaxIdleConns(p.MaxIdleConns)
	}
	if p.ConnMaxLifetime > 0 {
		db.SetConnMaxLifetime(p.ConnMaxLifetime)
	}
	if p.ConnMaxIdleTime > 0 {
		db.SetConnMaxIdleTime(p.ConnMaxIdleTime)
	}
}

// sqliteDSN turns sqlite://PATH into modernc's DSN with foreign keys, WAL, a
// busy timeout, and IMMEDIATE write transactions (so two writers queue on the
// busy timeout instead of failing with SQLITE_BUSY on lock upgrade).
func sqliteDSN(rawURL string) (string, error) {
	path := rawURL
	switch {
	case strings.HasPrefix(path, "sqlite://"):
		path = strings.TrimPrefix(path, "sqlite://")
	case strings.HasPrefix(path, "sqlite:"):
		path = strings.TrimPrefix(path, "sqlite:")
	case strings.HasPrefix(path, "file:"):
		path = strings.TrimPrefix(path, "file:")
	}
	query := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	if path == "" {
		return "", errors.New("DATABASE_URL: sqlite URL has no file path")
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL: %w", err)
	}
	params.Add("_pragma", "foreign_keys(1)")
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "busy_timeout(10000)")
	params.Add("_pragma", "synchronous(NORMAL)")
	if params.Get("_txlock") == "" {
		params.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + params.Encode(), nil
}

// redact hides a password in a URL for error messages and logs.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// DSN is the connection string the pool was opened with (for a dedicated
// connection such as a PostgreSQL LISTEN).
func (d *DB) DSN() string { return d.dsn }
