package graphstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ethox/ethox/ent"
)

// ListNetworks runs page (entgql's Paginate, typically) on the live
// networks inside one read-only transaction, so a connection's totalCount and
// its edges come from one snapshot: run as two statements, an upload
// committing between them made totalCount disagree with the page. PostgreSQL
// gets REPEATABLE READ (a snapshot for the whole transaction; READ COMMITTED
// takes one per statement); a SQLite read transaction is a snapshot already
// (WAL), begun DEFERRED, so it never takes the write lock.
func (s *Store) ListNetworks(ctx context.Context, page func(*ent.NetworkQuery) (*ent.NetworkConnection, error)) (*ent.NetworkConnection, error) {
	tx, err := s.db.Client.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin a read snapshot: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; a no-op after Commit
	conn, err := page(tx.Network.Query())
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	// The networks were read through the transaction: later reads of theirs
	// (fields resolved after this returns) go through the database's client.
	for _, e := range conn.Edges {
		e.Node.Unwrap()
	}
	return conn, nil
}
