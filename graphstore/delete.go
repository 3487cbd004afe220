package graphstore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/ent/agent"
	"github.com/ethox/ethox/ent/agentstate"
	"github.com/ethox/ethox/ent/defaultselection"
	entnetwork "github.com/ethox/ethox/ent/network"
	"github.com/ethox/ethox/ent/report"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/ent/simulationevent"
	"github.com/ethox/ethox/ent/tie"
)

// Deleting a network is two steps. Delete hides it at once, in one short
// transaction that sets networks.deleted_at and enqueues a purge job: from
// that commit on every read treats it as not found (LiveNetwork, and the ent
// interceptors of HideDeleted for everything read through ent: networks,
// their agents, ties, runs with their states, events and reports, default
// selections). The purge job then deletes its rows in bounded batches, each
// its own transaction, so SQLite's single writer is never held for more than
// about purgeBatchTarget, and the job survives restarts (River retries it).
// Before, one cascading DELETE of a 500-agent network with 61k stored states
// held the SQLite writer for 5.9 s and starved River's leader election.

// LiveNetwork is the one check that network id exists and is not deleted;
// NOT_FOUND otherwise. Reads served from memory skip it while they are sure
// to hear of deletes (memory.go: Hide evicts the network here and notifies
// the other processes).
func (s *Store) LiveNetwork(ctx context.Context, id int) (*ent.Network, error) {
	n, err := s.db.Client.Network.Get(ctx, id) // HideDeleted filters deleted_at
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "network %d not found", id)
	}
	return n, err
}

// hiddenNetworks selects the ids of deleted networks.
func hiddenNetworks() *entsql.Selector {
	return entsql.Select(entnetwork.FieldID).From(entsql.Table(entnetwork.Table)).
		Where(entsql.NotNull(entnetwork.FieldDeletedAt))
}

// hiddenSimulations selects the ids of the runs of deleted networks.
func hiddenSimulations() *entsql.Selector {
	return entsql.Select(entsim.FieldID).From(entsql.Table(entsim.Table)).
		Where(entsql.In(entsim.FieldNetworkID, hiddenNetworks()))
}

// notIn keeps the rows whose column is not in ids.
func notIn(column string, ids func() *entsql.Selector) func(*entsql.Selector) {
	return func(s *entsql.Selector) { s.Where(entsql.NotIn(s.C(column), ids())) }
}

var hidden sync.Map // *ent.Client → struct{}: clients HideDeleted was applied to

// HideDeleted makes every query through c (and its transactions) skip deleted
// networks and whatever belongs to them. New applies it to its database's
// client. The filters are NOT IN a subquery over networks.deleted_at
// (indexed): deleted networks are few and live only until purged.
func HideDeleted(c *ent.Client) {
	if _, done := hidden.LoadOrStore(c, struct{}{}); done {
		return
	}
	c.Intercept(ent.TraverseFunc(func(_ context.Context, q ent.Query) error {
		switch q := q.(type) {
		case *ent.NetworkQuery:
			q.Where(entnetwork.DeletedAtIsNil())
		case *ent.AgentQuery:
			q.Where(notIn(agent.FieldNetworkID, hiddenNetworks))
		case *ent.TieQuery:
			q.Where(notIn(tie.FieldNetworkID, hiddenNetworks))
		case *ent.SimulationQuery:
			q.Where(notIn(entsim.FieldNetworkID, hiddenNetworks))
		case *ent.DefaultSelectionQuery:
			q.Where(notIn(defaultselection.FieldNetworkID, hiddenNetworks))
		case *ent.AgentStateQuery:
			q.Where(notIn(agentstate.FieldSimulationID, hiddenSimulations))
		case *ent.SimulationEventQuery:
			q.Where(notIn(simulationevent.FieldSimulationID, hiddenSimulations))
		case *ent.ReportQuery:
			q.Where(notIn(report.FieldSimulationID, hiddenSimulations))
		}
		return nil
	}))
}

// JobInserter enqueues River jobs in a transaction (River's client).
type JobInserter interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// UseJobs makes Delete enqueue its purge as a River job through jobs; the
// processes that work jobs must register the worker (AddPurgeWorker). Without
// it Delete purges before returning.
func (s *Store) UseJobs(jobs JobInserter, log *slog.Logger) {
	s.jobs = jobs
	if log != nil {
		s.log = log
	}
}

// PurgeArgs is the job that deletes the rows of a hidden network.
type PurgeArgs struct {
	NetworkID int `json:"networkId"`
}

func (PurgeArgs) Kind() string { return "ethox_purge_network" }

// AddPurgeWorker registers the purge job's worker, which purges through s.
func AddPurgeWorker(workers *river.Workers, s *Store) {
	river.AddWorker(workers, &purgeWorker{s: s})
}

type purgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	s *Store
}

// purgeSlice bounds one run of the job, far below JOB_TIMEOUT: a purge longer
// than that snoozes and goes on in a new run, so it is never taken for a stuck job.
const purgeSlice = time.Minute

func (w *purgeWorker) Work(ctx context.Context, job *river.Job[PurgeArgs]) error {
	done, err := w.s.Purge(ctx, job.Args.NetworkID, purgeSlice)
	if err != nil {
		return err
	}
	if !done {
		return river.JobSnooze(time.Millisecond)
	}
	return nil
}

// Delete hides network id at once and purges its rows in the background
// (see above); NOT_FOUND when it does not exist or is already deleted.
func (s *Store) Delete(ctx context.Context, id int) error {
	if err := s.Hide(ctx, id); err != nil {
		return err
	}
	if s.jobs == nil {
		_, err := s.Purge(ctx, id, 0)
		return err
	}
	return nil
}

// Hide is Delete's first step: it marks network id deleted and, with UseJobs,
// enqueues its purge, in one transaction.
func (s *Store) Hide(ctx context.Context, id int) error {
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	ph := s.db.Placeholder
	res, err := tx.ExecContext(ctx, `UPDATE networks SET deleted_at = `+ph(1)+` WHERE id = `+ph(2)+` AND deleted_at IS NULL`,
		time.Now().UTC(), id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return apperr.New(apperr.NotFound, "network %d not found", id)
	}
	if s.jobs != nil {
		if _, err := s.jobs.InsertTx(ctx, tx, PurgeArgs{NetworkID: id}, nil); err != nil {
			return fmt.Errorf("enqueue the purge of network %d: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return s.EvictNetwork(ctx, id) // from memory, here and in every other process
}

// Batches aim at about purgeBatchTarget each: the size doubles while a batch
// is faster than half of it and halves when one is slower than twice.
const (
	purgeBatchTarget = 50 * time.Millisecond
	purgeBatchMin    = 100
	purgeBatchMax    = 20_000
)

// purgeSteps delete a hidden network's rows, children before parents, each
// repeated until it deletes nothing; $1 is the network's id, $2 the batch
// size. Every statement deletes through an index (states and events by
// simulation, ties and agents by network; an agent's cascade to its states
// finds none by then through agentstate_agent_id). The subquery form is
// because neither database takes DELETE … LIMIT by default.
var purgeSteps = []struct{ table, ids string }{
	{"agent_states", `SELECT id FROM agent_states WHERE simulation_id IN (SELECT id FROM simulations WHERE network_id = $1)`},
	{"simulation_events", `SELECT id FROM simulation_events WHERE simulation_id IN (SELECT id FROM simulations WHERE network_id = $1)`},
	{"reports", `SELECT id FROM reports WHERE simulation_id IN (SELECT id FROM simulations WHERE network_id = $1)`},
	// A run started in the instant before the network was hidden may still store
	// a few steps: deleting its row cascades to them, a handful of rows.
	{"simulations", `SELECT id FROM simulations WHERE network_id = $1`},
	{"ties", `SELECT id FROM ties WHERE network_id = $1`},
	{"agents", `SELECT id FROM agents WHERE network_id = $1`},
	{"default_selections", `SELECT id FROM default_selections WHERE network_id = $1`},
}

// Purge deletes the rows of hidden network id in batches, each its own
// transaction, for at most budget (0: until done). done reports that the
// network's row is gone too. A network that is not hidden is left alone.
func (s *Store) Purge(ctx context.Context, id int, budget time.Duration) (done bool, err error) {
	start := time.Now()
	var hiddenAt sql.NullTime
	err = s.db.SQL.QueryRowContext(ctx, `SELECT deleted_at FROM networks WHERE id = `+s.db.Placeholder(1), id).Scan(&hiddenAt)
	if err == sql.ErrNoRows {
		return true, nil // purged already (a retried job)
	}
	if err != nil {
		return false, err
	}
	if !hiddenAt.Valid {
		return true, fmt.Errorf("network %d is not deleted: not purging it", id)
	}
	size, rows := 1000, 0
	for _, step := range purgeSteps {
		q := `DELETE FROM ` + step.table + ` WHERE id IN (` + step.ids + ` LIMIT $2)`
		if s.db.Dialect != dialect.Postgres {
			q = sqliteParams(q)
		}
		for {
			if budget > 0 && time.Since(start) > budget {
				return false, nil
			}
			t0 := time.Now()
			res, err := s.db.SQL.ExecContext(ctx, q, id, size) // autocommit: one short transaction
			if err != nil {
				return false, fmt.Errorf("purge %s of network %d: %w", step.table, id, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return false, err
			}
			rows += int(n)
			took, full := time.Since(t0), n == int64(size)
			switch {
			case took < purgeBatchTarget/2 && full:
				size = min(size*2, purgeBatchMax)
			case took > 2*purgeBatchTarget:
				size = max(size/2, purgeBatchMin)
			}
			s.yieldWriter(ctx, took)
			if !full {
				break // the last batch of this table
			}
		}
	}
	res, err := s.db.SQL.ExecContext(ctx, `DELETE FROM networks WHERE id = `+s.db.Placeholder(1)+` AND deleted_at IS NOT NULL`, id)
	if err != nil {
		return false, fmt.Errorf("purge network %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		s.logger().Info("network purged", "network", id, "rows", rows+1, "took", time.Since(start).Round(time.Millisecond),
			"hidden_for", time.Since(hiddenAt.Time).Round(time.Millisecond))
	}
	return true, nil
}

func (s *Store) logger() *slog.Logger {
	if s.log == nil {
		return slog.Default()
	}
	return s.log
}

// yieldWriter pauses between batches on SQLite, where a writer waiting for
// the lock sleeps up to 100 ms between tries (its busy handler): twice the
// batch's time leaves the lock free two thirds of the time, so other writes
// (steps, uploads, River's leader election) go on during a purge. PostgreSQL
// locks rows, not the database: no pause.
func (s *Store) yieldWriter(ctx context.Context, took time.Duration) {
	if s.db.Dialect == dialect.Postgres {
		return
	}
	t := time.NewTimer(max(2*took, 20*time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// sqliteParams turns $1, $2 into SQLite's numbered ?1, ?2.
func sqliteParams(q string) string { return strings.ReplaceAll(q, "$", "?") }
