// Package graphstore persists networks (agents and ties) and reads them back
// as whole graphs. Writes go through bulk paths (COPY on PostgreSQL, batched
// multi-row INSERTs on SQLite) inside one transaction, so a rejected or failed
// import leaves the database exactly as it was.
package graphstore

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"entgo.io/ent/dialect"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/ent/agent"
	"github.com/ethox/ethox/ent/tie"
	"github.com/ethox/ethox/networkfile"
)

// Store reads and writes networks.
type Store struct {
	db     *database.DB
	mem    *memory
	log    *slog.Logger // set by ServeFromMemory
	limits Limits
	heavy  chan struct{} // Concurrent slots; nil: no limit
	jobs   JobInserter   // enqueues purges (UseJobs); nil: Delete purges itself
}

// New returns a Store over an open database.
// Deleted networks are hidden from every query through db's client (HideDeleted).
func New(db *database.DB) *Store {
	HideDeleted(db.Client)
	return &Store{db: db, mem: newMemory(DefaultMemoryBytes)}
}

// Source says where a network came from.
type Source string

const (
	Uploaded  Source = "UPLOADED"
	Generated Source = "GENERATED"
)

// ImportOptions describe the Network row an import creates.
type ImportOptions struct {
	Name    string
	Source  Source
	Params  map[string]any // generation parameters, for GENERATED networks
	Metrics networkfile.MetricsOptions
	// KeepDefault: the new network does not become the default (see
	// DefaultNetwork); a population generated for one run is not what a
	// later query without networkId means.
	KeepDefault bool
}

// Import validates g, fills in the metrics it lacks, and stores it as a new
// Network in one transaction.
func (s *Store) Import(ctx context.Context, g *networkfile.Graph, opts ImportOptions) (*ent.Network, error) {
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return s.importGraph(ctx, g, opts)
}

// importGraph stores g, which its caller has validated: with g.Validate, or
// through networkfile.Decode, which applies the same checks as it reads (so an
// upload is not checked twice).
func (s *Store) importGraph(ctx context.Context, g *networkfile.Graph, opts ImportOptions) (*ent.Network, error) {
	if opts.Name == "" {
		return nil, apperr.New(apperr.BadInput, "name must not be empty")
	}
	if len(opts.Name) > 200 {
		return nil, apperr.New(apperr.BadInput, "name is longer than 200 characters")
	}
	if opts.Source == "" {
		opts.Source = Uploaded
	}
	g.ComputeMetrics(opts.Metrics)
	rows, err := newImportRows(g, opts)
	if err != nil {
		return nil, err
	}
	var id int
	if s.db.Dialect == dialect.Postgres {
		id, err = s.importPostgres(ctx, rows)
	} else {
		id, err = s.importSQLite(ctx, rows)
	}
	if err != nil {
		return nil, err
	}
	if !opts.KeepDefault {
		if err := s.defaultChanged(ctx); err != nil {
			return nil, err
		}
	}
	return s.db.Client.Network.Get(ctx, id)
}

// Network resolves an explicit id, or the default network when id is nil.
// With no id and no network at all it returns (nil, nil).
func (s *Store) Network(ctx context.Context, id *int) (*ent.Network, error) {
	if id == nil {
		return s.DefaultNetwork(ctx)
	}
	return s.LiveNetwork(ctx, *id)
}

// Graph is a stored network read back whole.
type Graph struct {
	Network *ent.Network // nil when the database holds no network
	networkfile.Graph
	TraitKeys []string
	AgentPKs  []int // primary key of each node, in node order

	encoded encodedJSON // see NodeTraitsJSON

	// Set while the graph is kept in memory (memory.go).
	grow     func(int) // counts bytes added to it
	bodiesMu sync.Mutex
	bodies   map[string]*bodySlot // see Body
	index    graphIndex           // see Find
	agents   agentBodies          // see AgentBody
}

// encodedJSON holds JSON pieces of a Graph, encoded once on first use: a
// loaded graph never changes, and the pieces are dropped with it from the cache.
type encodedJSON struct {
	once   sync.Once
	traits [][]byte
}

// NodeTraitsJSON returns every node's traits as encode writes them, in node
// order. encode runs on the first call only; later calls return the same
// slices, which callers must not modify. Its one caller is the graph fast
// path (api/fastgraph.go), with the Traits scalar's encoder: traits are the
// bulk of a node's bytes.
func (g *Graph) NodeTraitsJSON(encode func(map[string]float64) []byte) [][]byte {
	g.encoded.once.Do(func() {
		g.encoded.traits = make([][]byte, len(g.Nodes))
		for i := range g.Nodes {
			g.encoded.traits[i] = encode(g.Nodes[i].Traits)
		}
	})
	return g.encoded.traits
}

// LoadGraph reads a whole network: the default one when id is nil. With no
// network at all it returns an empty Graph, not an error. The result is
// shared (kept in memory): callers must not modify it.
func (s *Store) LoadGraph(ctx context.Context, id *int) (*Graph, error) {
	nid, ok, err := s.resolveID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return &Graph{TraitKeys: []string{}}, nil
	}
	g, err := s.memGraph(ctx, nid)
	if err != nil || g != nil {
		return g, err
	}
	// Too large to keep: read for this caller only.
	n, err := s.Network(ctx, &nid)
	if err != nil {
		return nil, err
	}
	return s.readGraph(ctx, n)
}

// readGraph reads network n from the database.
func (s *Store) readGraph(ctx context.Context, n *ent.Network) (*Graph, error) {
	out := &Graph{Network: n, TraitKeys: n.TraitKeys}
	out.Directed = n.Directed
	keys, err := s.loadNodes(ctx, n, out)
	if err != nil {
		return nil, fmt.Errorf("load agents of network %d: %w", n.ID, err)
	}
	if err := s.loadEdges(ctx, n, keys, out); err != nil {
		return nil, fmt.Errorf("load ties of network %d: %w", n.ID, err)
	}
	if out.TraitKeys == nil {
		out.TraitKeys = []string{}
	}
	// Checked again after reading: a purge starts only once its network is
	// hidden, so a network still live now was whole during the reads above.
	if _, err := s.LiveNetwork(ctx, n.ID); err != nil {
		return nil, err
	}
	return out, nil
}

// Neighbor is one tie of an agent, seen from that agent.
type Neighbor struct {
	AgentID string
	Weight  float64
	Degree  int
}

// AgentDetail is an agent with its neighbours.
type AgentDetail struct {
	Node      networkfile.Node
	Neighbors []Neighbor
}

// Agent finds one agent by its external id in a network (the default one when
// networkID is nil), with its neighbours in both directions of its ties.
func (s *Store) Agent(ctx context.Context, agentID string, networkID *int) (*AgentDetail, error) {
	nid, ok, err := s.resolveID(ctx, networkID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apperr.New(apperr.NotFound, "agent %q not found: there is no network yet", agentID)
	}
	g, err := s.memGraph(ctx, nid)
	if err != nil {
		return nil, err
	}
	if g != nil {
		d := g.agentDetail(agentID)
		if d == nil {
			return nil, apperr.New(apperr.NotFound, "agent %q not found in network %d", agentID, nid)
		}
		return d, nil
	}
	n, err := s.Network(ctx, &nid) // too large to keep: two indexed queries
	if err != nil {
		return nil, err
	}
	return s.agentFromDB(ctx, n, agentID)
}

// agentFromDB reads one agent and its neighbours with queries.
func (s *Store) agentFromDB(ctx context.Context, n *ent.Network, agentID string) (*AgentDetail, error) {
	a, err := s.db.Client.Agent.Query().
		Where(agent.NetworkID(n.ID), agent.AgentID(agentID)).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "agent %q not found in network %d", agentID, n.ID)
	}
	if err != nil {
		return nil, err
	}
	// Two queries, one per index: with `source = ? OR target = ?` SQLite's
	// planner picked one index and scanned every tie of the network.
	out, err := s.db.Client.Tie.Query().Where(tie.NetworkID(n.ID), tie.SourceID(a.ID)).All(ctx)
	if err != nil {
		return nil, err
	}
	in, err := s.db.Client.Tie.Query().Where(tie.NetworkID(n.ID), tie.TargetID(a.ID), tie.SourceIDNEQ(a.ID)).All(ctx)
	if err != nil {
		return nil, err
	}
	ties := append(out, in...)
	sort.Slice(ties, func(i, j int) bool { return ties[i].ID < ties[j].ID })
	weights := make(map[int]float64, len(ties))
	order := make([]int, 0, len(ties))
	for _, t := range ties {
		other := t.TargetID
		if other == a.ID {
			other = t.SourceID
		}
		if _, seen := weights[other]; !seen {
			order = append(order, other)
		}
		weights[other] += t.Weight
	}
	neighbors := make([]Neighbor, 0, len(order))
	if len(order) > 0 {
		others, err := s.db.Client.Agent.Query().
			Where(agent.IDIn(order...)).
			Select(agent.FieldID, agent.FieldAgentID, agent.FieldDegree).
			All(ctx)
		if err != nil {
			return nil, err
		}
		byID := make(map[int]*ent.Agent, len(others))
		for _, o := range others {
			byID[o.ID] = o
		}
		for _, id := range order {
			if o := byID[id]; o != nil {
				neighbors = append(neighbors, Neighbor{AgentID: o.AgentID, Weight: weights[id], Degree: o.Degree})
			}
		}
	}
	// Strongest ties first, as a reader of one agent's page expects.
	sort.SliceStable(neighbors, func(i, j int) bool { return neighbors[i].Weight > neighbors[j].Weight })
	if _, err := s.LiveNetwork(ctx, n.ID); err != nil {
		return nil, err // deleted while read: its purge may have taken some ties (see LoadGraph)
	}
	return &AgentDetail{Node: nodeFromAgent(a), Neighbors: neighbors}, nil
}

func nodeFromAgent(a *ent.Agent) networkfile.Node {
	degree := a.Degree
	dc, bc := a.DegreeCentrality, a.BetweennessCentrality
	return networkfile.Node{
		AgentID:               a.AgentID,
		Traits:                orEmpty(a.Traits),
		Profile:               orEmpty(a.Profile),
		Attributes:            orEmpty(a.Attributes),
		Degree:                &degree,
		Cluster:               a.Cluster,
		DegreeCentrality:      &dc,
		BetweennessCentrality: &bc,
		Age:                   a.Age,
		Gender:                a.Gender,
		TextOpinion:           a.TextOpinion,
		LevelOfCare:           a.LevelOfCare,
		EffectOnUsage:         a.EffectOnUsage,
	}
}

func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}
