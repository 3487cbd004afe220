package graphstore

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/internal/jsonenc"
	"github.com/ethox/ethox/networkfile"
)

// importRows is a graph turned into column values once, shared by both bulk paths.
type importRows struct {
	name, source string
	directed     bool
	createdAt    time.Time
	traitKeys    []byte
	params       []byte // nil for NULL
	keepDefault  bool   // ImportOptions.KeepDefault
	agents       []agentRow
	ties         []tieRow
}

type agentRow struct {
	agentID                       string
	traits, profile, attributes   []byte
	age, cluster                  *int
	gender, textOpinion           *string
	degree                        int
	degreeCentrality, betweenness float64
	levelOfCare, effectOnUsage    *float64
}

type tieRow struct {
	source, target int // indexes into agents
	weight         float64
}

func newImportRows(g *networkfile.Graph, opts ImportOptions) (*importRows, error) {
	traitKeys, err := json.Marshal(g.TraitKeys())
	if err != nil {
		return nil, err
	}
	r := &importRows{
		name:        opts.Name,
		source:      string(opts.Source),
		directed:    g.Directed,
		createdAt:   time.Now().UTC().Truncate(time.Microsecond), // PostgreSQL's precision
		traitKeys:   traitKeys,
		keepDefault: opts.KeepDefault,
		agents:      make([]agentRow, len(g.Nodes)),
		ties:        make([]tieRow, len(g.Edges)),
	}
	if opts.Params != nil {
		if r.params, err = json.Marshal(opts.Params); err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
	}
	if err := parallelRange(len(g.Nodes), func(lo, hi int) error { return r.fillAgents(g, lo, hi) }); err != nil {
		return nil, err
	}
	for j, e := range g.Ends() { // resolved when g was validated
		r.ties[j] = tieRow{source: int(e[0]), target: int(e[1]), weight: g.Edges[j].Weight}
	}
	return r, nil
}

// fillAgents turns nodes lo..hi-1 into rows. Encoding their traits and
// profiles as JSON is most of newImportRows's time: chunks run in parallel.
func (r *importRows) fillAgents(g *networkfile.Graph, lo, hi int) (err error) {
	for i := lo; i < hi; i++ {
		n := &g.Nodes[i]
		a := agentRow{
			agentID:       n.AgentID,
			age:           n.Age,
			cluster:       n.Cluster,
			gender:        n.Gender,
			textOpinion:   n.TextOpinion,
			levelOfCare:   n.LevelOfCare,
			effectOnUsage: n.EffectOnUsage,
		}
		if n.Degree != nil {
			a.degree = *n.Degree
		}
		if n.DegreeCentrality != nil {
			a.degreeCentrality = *n.DegreeCentrality
		}
		if n.BetweennessCentrality != nil {
			a.betweenness = *n.BetweennessCentrality
		}
		if a.traits, err = marshalObject(n.Traits); err != nil {
			return fmt.Errorf("nodes[%d].traits: %w", i, err)
		}
		if a.profile, err = marshalObject(n.Profile); err != nil {
			return fmt.Errorf("nodes[%d].profile: %w", i, err)
		}
		if a.attributes, err = marshalObject(n.Attributes); err != nil {
			return fmt.Errorf("nodes[%d].attributes: %w", i, err)
		}
		r.agents[i] = a
	}
	return nil
}

// parallelRange runs fn over n items split into one contiguous chunk per
// core and returns the error of the earliest failing chunk, so the error
// reported does not depend on scheduling.
func parallelRange(n int, fn func(lo, hi int) error) error {
	workers := max(1, min(runtime.GOMAXPROCS(0), n/1024))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = fn(w*n/workers, (w+1)*n/workers)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func marshalObject[V any](m map[string]V) ([]byte, error) {
	if len(m) == 0 {
		return []byte("{}"), nil
	}
	return jsonenc.Append(make([]byte, 0, 32*len(m)), any(m)) // json.Marshal's bytes, faster
}

var agentColumns = []string{
	"network_id", "agent_id", "traits", "profile", "age", "gender", "cluster", "degree",
	"degree_centrality", "betweenness_centrality", "text_opinion", "level_of_care", "effect_on_usage", "attributes",
}

var tieColumns = []string{"network_id", "source_id", "target_id", "weight"}

// importPostgres writes through pgx's COPY protocol on one connection, in one
// pgx transaction: the bulk path database/sql cannot offer.
func (s *Store) importPostgres(ctx context.Context, r *importRows) (int, error) {
	conn, err := s.db.SQL.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var id int
	err = conn.Raw(func(driverConn any) error {
		sc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("import: unexpected driver connection %T", driverConn)
		}
		tx, err := sc.Conn().Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
		if r.keepDefault {
			if _, err := tx.Exec(ctx, pinDefaultSQL("$1"), r.createdAt); err != nil {
				return fmt.Errorf("keep the default network: %w", err)
			}
		}
		err = tx.QueryRow(ctx, `INSERT INTO networks (name, source, directed, created_at, node_count, edge_count, trait_keys, params)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			r.name, r.source, r.directed, r.createdAt, len(r.agents), len(r.ties), string(r.traitKeys), nullableJSON(r.params),
		).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert network: %w", err)
		}
		if !r.keepDefault {
			if _, err := tx.Exec(ctx, selectDefaultSQL("$1", "$2"), id, r.createdAt); err != nil {
				return fmt.Errorf("make the network the default: %w", err)
			}
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"agents"}, agentColumns, pgx.CopyFromSlice(len(r.agents), func(i int) ([]any, error) {
			a := &r.agents[i]
			return []any{id, a.agentID, string(a.traits), string(a.profile), a.age, a.gender, a.cluster, a.degree,
				a.degreeCentrality, a.betweenness, a.textOpinion, a.levelOfCare, a.effectOnUsage, string(a.attributes)}, nil
		}))
		if err != nil {
			return fmt.Errorf("copy agents: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT id, agent_id FROM agents WHERE network_id = $1`, id)
		if err != nil {
			return err
		}
		ids, err := collectIDs(len(r.agents), func() bool { return rows.Next() }, func(pk *int, key *string) error { return rows.Scan(pk, key) })
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return fmt.Errorf("read agent ids: %w", err)
		}
		agentPK := r.agentPKs(ids)
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"ties"}, tieColumns, pgx.CopyFromSlice(len(r.ties), func(j int) ([]any, error) {
			t := &r.ties[j]
			return []any{id, agentPK[t.source], agentPK[t.target], t.weight}, nil
		}))
		if err != nil {
			return fmt.Errorf("copy ties: %w", err)
		}
		return tx.Commit(ctx)
	})
	return id, err
}

// importCacheKiB is SQLite's page cache during an import. The default 2 MB
// cache makes every tie's insert into the two tie indexes (random keys) miss
// once those indexes outgrow it; 128 MiB holds them for a 1M-tie network.
const importCacheKiB = 128 << 10

// importSQLite writes with batched multi-row INSERTs in one transaction, on a
// connection whose page cache is enlarged for the import and restored after.
func (s *Store) importSQLite(ctx context.Context, r *importRows) (int, error) {
	conn, err := s.db.SQL.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var cache int
	if err := conn.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cache); err != nil {
		return 0, fmt.Errorf("read cache_size: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = -%d`, importCacheKiB)); err != nil {
		return 0, fmt.Errorf("set cache_size: %w", err)
	}
	// Restore with a fresh context: a cancelled import must not leave a pooled
	// connection holding 128 MiB of cache. On failure the connection is dropped.
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA cache_size = %d`, cache)); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var id int
	if r.keepDefault {
		if _, err := tx.ExecContext(ctx, pinDefaultSQL("?"), r.createdAt); err != nil {
			return 0, fmt.Errorf("keep the default network: %w", err)
		}
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO networks (name, source, directed, created_at, node_count, edge_count, trait_keys, params)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.name, r.source, r.directed, r.createdAt, len(r.agents), len(r.ties), string(r.traitKeys), nullableJSON(r.params),
	).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert network: %w", err)
	}
	if !r.keepDefault {
		if _, err := tx.ExecContext(ctx, selectDefaultSQL("?", "?"), id, r.createdAt); err != nil {
			return 0, fmt.Errorf("make the network the default: %w", err)
		}
	}
	_, err = database.InsertBatches(ctx, tx, dialect.SQLite, "agents", agentColumns, "", len(r.agents), func(i int, args []any) []any {
		a := &r.agents[i]
		return append(args, id, a.agentID, string(a.traits), string(a.profile), a.age, a.gender, a.cluster, a.degree,
			a.degreeCentrality, a.betweenness, a.textOpinion, a.levelOfCare, a.effectOnUsage, string(a.attributes))
	})
	if err != nil {
		return 0, fmt.Errorf("insert agents: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, agent_id FROM agents WHERE network_id = ?`, id)
	if err != nil {
		return 0, err
	}
	ids, err := collectIDs(len(r.agents), rows.Next, func(pk *int, key *string) error { return rows.Scan(pk, key) })
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("read agent ids: %w", err)
	}
	agentPK := r.agentPKs(ids)
	_, err = database.InsertBatches(ctx, tx, dialect.SQLite, "ties", tieColumns, "", len(r.ties), func(j int, args []any) []any {
		t := &r.ties[j]
		return append(args, id, agentPK[t.source], agentPK[t.target], t.weight)
	})
	if err != nil {
		return 0, fmt.Errorf("insert ties: %w", err)
	}
	return id, tx.Commit()
}

func collectIDs(n int, next func() bool, scan func(*int, *string) error) (map[string]int, error) {
	ids := make(map[string]int, n)
	for next() {
		var pk int
		var key string
		if err := scan(&pk, &key); err != nil {
			return nil, err
		}
		ids[key] = pk
	}
	return ids, nil
}

// agentPKs maps agent row indexes to the primary keys the database assigned.
func (r *importRows) agentPKs(ids map[string]int) []int {
	pks := make([]int, len(r.agents))
	for i := range r.agents {
		pks[i] = ids[r.agents[i].agentID]
	}
	return pks
}

func nullableJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}
