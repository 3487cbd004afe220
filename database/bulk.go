package database

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"
)

// maxBindVars keeps a statement under SQLite's 32766 bound variables and
// PostgreSQL's 65535 parameters.
const maxBindVars = 30000

// Execer is a *sql.Tx, *sql.Conn or *sql.DB.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// InsertBatches inserts n rows into table with multi-row INSERTs, as many rows
// per statement as the bind-variable cap allows; the full-size statement is
// prepared once and reused. row appends row i's values to args. suffix is
// appended to each statement (e.g. "ON CONFLICT DO NOTHING").
func InsertBatches(ctx context.Context, ex Execer, dialectName, table string, cols []string, suffix string, n int, row func(i int, args []any) []any) (int64, error) {
	per := maxBindVars / len(cols)
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	var affected int64
	args := make([]any, 0, min(per, n)*len(cols))
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		args = args[:0]
		for i := start; i < end; i++ {
			args = row(i, args)
		}
		query := InsertSQL(dialectName, table, cols, end-start, suffix)
		var (
			res sql.Result
			err error
		)
		if end-start == per {
			if full == nil {
				if full, err = ex.PrepareContext(ctx, query); err != nil {
					return affected, err
				}
			}
			res, err = full.ExecContext(ctx, args...)
		} else {
			res, err = ex.ExecContext(ctx, query, args...)
		}
		if err != nil {
			return affected, err
		}
		if k, err := res.RowsAffected(); err == nil {
			affected += k
		}
	}
	return affected, nil
}

// InsertSQL writes a multi-row INSERT with the dialect's placeholders.
func InsertSQL(dialectName, table string, cols []string, rows int, suffix string) string {
	var b strings.Builder
	b.Grow(len(table) + 40 + rows*len(cols)*5)
	b.WriteString("INSERT INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	b.WriteString(strings.Join(cols, ", "))
	b.WriteString(") VALUES ")
	p := 0
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range cols {
			if j > 0 {
				b.WriteString(", ")
			}
			p++
			if dialectName == dialect.Postgres {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(p))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	if suffix != "" {
		b.WriteByte(' ')
		b.WriteString(suffix)
	}
	return b.String()
}

// Placeholder returns the i-th (1-based) bind placeholder of the dialect.
func (d *DB) Placeholder(i int) string {
	if d.Dialect == dialect.Postgres {
		return "$" + strconv.Itoa(i)
	}
	return "?"
}
