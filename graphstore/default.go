package graphstore

import (
	"context"
	"time"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/ent/defaultselection"
	entnetwork "github.com/ethox/ethox/ent/network"
)

// The default network is the one operations use without a network id: the
// network made the default last. Uploads, imports and generations make the
// network they create the default (in the transaction that stores it) unless
// told KeepDefault, and SetDefault makes any network the default; each adds a
// row to default_selections, whose latest row names the default. Deleting a
// network deletes its rows, so the one made default before it is the default
// again. A database without any row (from before the table) has its latest
// network as the default, as it had then.

// selectDefaultSQL makes network $1 the default (created at $2).
func selectDefaultSQL(network, at string) string {
	return `INSERT INTO default_selections (network_id, created_at) VALUES (` + network + `, ` + at + `)`
}

// pinDefaultSQL, run before a network is created with KeepDefault, records
// the latest network as the default when nothing is recorded yet, so the new,
// later network does not become the default by being the latest.
func pinDefaultSQL(at string) string {
	return `INSERT INTO default_selections (network_id, created_at)
		SELECT id, ` + at + ` FROM networks WHERE NOT EXISTS (SELECT 1 FROM default_selections) ORDER BY id DESC LIMIT 1`
}

// DefaultNetworkID is the default network's id; ok is false when there is
// no network.
func (s *Store) DefaultNetworkID(ctx context.Context) (id int, ok bool, err error) {
	sel, err := s.db.Client.DefaultSelection.Query().Order(ent.Desc(defaultselection.FieldID)).
		Select(defaultselection.FieldNetworkID).First(ctx)
	switch {
	case err == nil:
		return sel.NetworkID, true, nil
	case !ent.IsNotFound(err):
		return 0, false, err
	}
	id, err = s.db.Client.Network.Query().Order(ent.Desc(entnetwork.FieldID)).FirstID(ctx)
	if ent.IsNotFound(err) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// DefaultNetwork is the network made the default last (the latest network
// when none was), or nil when there is none.
func (s *Store) DefaultNetwork(ctx context.Context) (*ent.Network, error) {
	for attempt := 0; ; attempt++ {
		id, ok, err := s.DefaultNetworkID(ctx)
		if err != nil || !ok {
			return nil, err
		}
		n, err := s.db.Client.Network.Get(ctx, id)
		if ent.IsNotFound(err) && attempt < 3 {
			continue // deleted in between: its selections went with it
		}
		return n, err
	}
}

// SetDefault makes network id the default and returns it.
func (s *Store) SetDefault(ctx context.Context, id int) (*ent.Network, error) {
	n, err := s.db.Client.Network.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "network %d not found", id)
	}
	if err != nil {
		return nil, err
	}
	err = s.db.Client.DefaultSelection.Create().SetNetworkID(id).SetCreatedAt(time.Now().UTC()).Exec(ctx)
	if ent.IsConstraintError(err) {
		return nil, apperr.New(apperr.NotFound, "network %d not found", id) // deleted in between
	}
	if err != nil {
		return nil, err
	}
	return n, s.defaultChanged(ctx)
}
