package experiment

import (
	"context"
	"database/sql/driver"
	"time"

	"entgo.io/ent/dialect"
)

// passLockClass is the first key of the PostgreSQL advisory locks that
// serialize experiment passes ("Exp1"); the second is the experiment's id.
const passLockClass = 0x45787031

// lockPass serializes passes over experiment id across processes. Two passes
// at once, in two processes, would each hand out what is left of the
// experiment's budget. On PostgreSQL it holds a session advisory lock on a
// connection of its own for the pass (released by the server if the process
// dies); SQLite is served by one process per database file, whose passes the
// in-process mutex already serializes.
func (s *Service) lockPass(ctx context.Context, id int) (unlock func(), err error) {
	if s.db.Dialect != dialect.Postgres {
		return func() {}, nil
	}
	select {
	case s.passSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	conn, err := s.db.SQL.Conn(ctx)
	if err != nil {
		<-s.passSlots
		return nil, err
	}
	// Ids are global (a 2^32 range per type), so the low 32 bits tell experiments apart.
	key := int32(uint32(id))
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1, $2)`, int32(passLockClass), key); err != nil {
		discard(conn)
		<-s.passSlots
		return nil, err
	}
	return func() {
		defer func() { <-s.passSlots }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1, $2)`, int32(passLockClass), key); err != nil {
			discard(conn) // a pooled connection must not keep holding the lock
			return
		}
		_ = conn.Close()
	}, nil
}

// discard closes conn's session instead of returning it to the pool.
func discard(conn interface {
	Raw(func(any) error) error
	Close() error
}) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
