package simulation

import (
	"context"
	"database/sql"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/ethox/ethox/ent"
)

// Writes that must land together (a step with its usage and event, a status
// change with its events, a round with the jobs of the next) run in one
// database transaction through inTx: River inserts jobs with its *sql.Tx,
// statements ent cannot express run on it as plain SQL, and an ent client
// bound to it serves every other read and write.

// inTx runs f in one database transaction, with the *sql.Tx and an ent
// client bound to it.
func (s *Service) inTx(ctx context.Context, f func(tx *sql.Tx, client *ent.Client) error) error {
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit; also on panic, so no lock is left held
	defer s.committed.Delete(tx)
	client := ent.NewClient(ent.Driver(txDriver{entsql.NewDriver(s.db.Dialect, entsql.Conn{ExecQuerier: tx})}))
	if err := f(tx, client); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if fs, ok := s.committed.LoadAndDelete(tx); ok {
		for _, f := range *fs.(*[]func()) {
			f()
		}
	}
	return nil
}

// onCommit runs f once tx has committed, and never if it rolls back: a log
// line about a change must not be written for a change that a failed commit
// (and the job's retry) undid. inTx's transactions are used by one goroutine.
func (s *Service) onCommit(tx *sql.Tx, f func()) {
	if tx == nil {
		f()
		return
	}
	v, _ := s.committed.LoadOrStore(tx, new([]func()))
	fs := v.(*[]func())
	*fs = append(*fs, f)
}

// write is inTx for the writes of run simID: once they committed, the run's
// subscribers in this process are woken (they read what was written).
func (s *Service) write(ctx context.Context, simID int, f func(tx *sql.Tx, client *ent.Client) error) error {
	if err := s.inTx(ctx, f); err != nil {
		return err
	}
	s.events.notify(simID)
	return nil
}

// txDriver is an ent driver bound to an open transaction. Some ent writes
// (UpdateOne, updates of several rows) begin a transaction of their own, and
// ent's SQL driver does that by asserting its connection is a *sql.DB, which
// panics on a *sql.Tx. Here that inner transaction is a no-op: its statements
// join the open transaction, which inTx commits or rolls back.
type txDriver struct{ *entsql.Driver }

func (d txDriver) Tx(context.Context) (dialect.Tx, error) { return dialect.NopTx(d), nil }

// detachedWriteTimeout bounds a write that outlives its job's context.
const detachedWriteTimeout = 10 * time.Second

// detached gives the writes made after a step (the step itself, its usage, a
// run's status and events) a context that the job's cancellation does not
// end, so a paid-for step is kept even while its job is being canceled, but
// with a deadline of its own, so a write stuck on a lost database connection
// does not hold the worker forever.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), detachedWriteTimeout)
}

// execer is a *sql.Tx or *sql.DB.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// querier is a *sql.Tx or *sql.DB.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
