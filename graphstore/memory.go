package graphstore

import (
	"container/list"
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/singleflight"

	"github.com/ethox/ethox/internal/httpenc"
)

// Stored networks never change, so a network read once can serve every later
// read from memory: `graph`, `agent` with its neighbours and the legacy
// /api/ reads. memory keeps recently read networks within a byte budget
// (least recently used out first) and loads a network once however many
// reads ask for it at the same time.
//
// What may change is whether a network exists and which one is the default.
// A Store serves from memory without any query only while it is "trusted"
// (ServeFromMemory): every delete in this process goes through EvictNetwork,
// and on PostgreSQL a listener hears the deletes and default changes of every
// other process; while that listener is down, and on a Store never trusted
// (tests, the CLI, a second Store in the process), every read still checks
// the network's row first, as before.

// DefaultMemoryBytes is the memory budget of a Store not given one
// (GRAPH_MEMORY_MB sets the server's).
const DefaultMemoryBytes = 256 << 20

// defaultTTL bounds how long the default network's id is reused without a
// query when no notification can say it changed (SQLite, whose other
// processes, `ethox generate` for one, may add a default network).
const defaultTTL = time.Second

// notifyChannel carries network deletes (the id) and default changes
// ("default") between processes on PostgreSQL.
const notifyChannel = "ethox_graphs"

type memory struct {
	mu     sync.Mutex
	budget int64
	used   int64
	order  *list.List // front = most recent
	byID   map[int]*list.Element
	// gen changes with every eviction by delete and every flush: a load that
	// began before one does not keep what it read.
	gen uint64

	// The default network's id, reused while defGen == gen+changes and
	// younger than defaultTTL.
	defID    int
	defOK    bool
	defAt    time.Time
	defValid bool

	trusted atomic.Bool
	loads   singleflight.Group
}

type memEntry struct {
	id   int
	g    *Graph
	size int64
}

func newMemory(budget int64) *memory {
	return &memory{budget: budget, order: list.New(), byID: map[int]*list.Element{}}
}

func (m *memory) setBudget(b int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.budget = b
	m.shrink(nil)
}

func (m *memory) generation() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}

func (m *memory) get(id int) *Graph {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.byID[id]; ok {
		m.order.MoveToFront(el)
		return el.Value.(*memEntry).g
	}
	return nil
}

// fits says whether a graph of that many nodes and edges may be kept: one
// network may take half the budget at most, or it would evict all others.
func (m *memory) fits(nodes, edges int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return estimateBytes(nodes, edges) <= m.budget/2
}

// put keeps g unless an eviction happened since gen was read (the network
// may be deleted) or g is too large.
func (m *memory) put(id int, g *Graph, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	size := g.sizeBytes()
	if m.gen != gen || size > m.budget/2 {
		return
	}
	if _, ok := m.byID[id]; ok {
		return
	}
	e := &memEntry{id: id, g: g, size: size}
	el := m.order.PushFront(e)
	m.byID[id] = el
	m.used += size
	g.grow = func(n int) { m.grow(el, int64(n)) }
	m.shrink(el)
}

// grow counts bytes added to a kept graph (encoded responses).
func (m *memory) grow(el *list.Element, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := el.Value.(*memEntry)
	if m.byID[e.id] != el {
		return // evicted meanwhile
	}
	e.size += n
	m.used += n
	m.shrink(el)
}

// shrink evicts least recently used graphs, except keep, until within budget.
func (m *memory) shrink(keep *list.Element) {
	for el := m.order.Back(); m.used > m.budget && el != nil; {
		prev := el.Prev()
		if el != keep {
			m.drop(el)
		}
		el = prev
	}
}

func (m *memory) drop(el *list.Element) {
	e := el.Value.(*memEntry)
	m.order.Remove(el)
	delete(m.byID, e.id)
	m.used -= e.size
}

// evict forgets network id (deleted) and the default network's id.
func (m *memory) evict(id int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	m.defValid = false
	if el, ok := m.byID[id]; ok {
		m.drop(el)
	}
}

// flush forgets everything: notifications may have been missed.
func (m *memory) flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	m.defValid = false
	for el := m.order.Back(); el != nil; el = m.order.Back() {
		m.drop(el)
	}
}

func (m *memory) defaultChanged() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.defValid = false
}

func (m *memory) cachedDefault() (id int, ok, valid bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.defValid || time.Since(m.defAt) > defaultTTL {
		return 0, false, false
	}
	return m.defID, m.defOK, true
}

// keepDefault records the default read at generation gen, unless something
// changed since.
func (m *memory) keepDefault(id int, ok bool, gen uint64, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen == gen {
		m.defID, m.defOK, m.defAt, m.defValid = id, ok, at, true
	}
}

// ServeFromMemory makes the Store serve reads from memory without checking
// the database first (see memory), within budget bytes (0: keep nothing).
// On PostgreSQL that starts when its listener for other processes' deletes
// is connected, and lasts while it is; it stops when ctx ends. Call it once,
// on the Store the server's reads go through.
func (s *Store) ServeFromMemory(ctx context.Context, budget int64, log *slog.Logger) {
	s.log = log
	s.mem.setBudget(budget)
	if s.db.Dialect != dialect.Postgres {
		s.mem.trusted.Store(true)
		return
	}
	go s.listen(ctx)
}

// EvictNetwork stops network id from being served from memory, in this
// process at once and in every other one through a notification. Call it
// whenever a network stops being readable (deleteNetwork), after that is
// committed: a read that began before keeps no copy of it.
func (s *Store) EvictNetwork(ctx context.Context, id int) error {
	s.mem.evict(id)
	return s.notify(ctx, strconv.Itoa(id))
}

// defaultChanged is called after this process changes the default network.
func (s *Store) defaultChanged(ctx context.Context) error {
	s.mem.defaultChanged()
	return s.notify(ctx, "default")
}

func (s *Store) notify(ctx context.Context, payload string) error {
	if s.db.Dialect != dialect.Postgres {
		return nil
	}
	_, err := s.db.SQL.ExecContext(context.WithoutCancel(ctx), `SELECT pg_notify('`+notifyChannel+`', $1)`, payload)
	return err
}

// resolveID is the network a read means: id, or the default network's.
// Trusted, the default's id is reused (see cachedDefault).
func (s *Store) resolveID(ctx context.Context, id *int) (int, bool, error) {
	if id != nil {
		return *id, true, nil
	}
	if !s.mem.trusted.Load() {
		n, err := s.DefaultNetwork(ctx)
		if err != nil || n == nil {
			return 0, false, err
		}
		return n.ID, true, nil
	}
	if nid, ok, valid := s.mem.cachedDefault(); valid {
		return nid, ok, nil
	}
	gen, at := s.mem.generation(), time.Now()
	nid, ok, err := s.DefaultNetworkID(ctx)
	if err != nil {
		return 0, false, err
	}
	s.mem.keepDefault(nid, ok, gen, at)
	return nid, ok, nil
}

// memGraph returns network id from memory, loading it when it fits the
// budget (concurrent callers share one load). It returns nil, nil for a
// network too large to keep. Untrusted, the network's row is read first.
func (s *Store) memGraph(ctx context.Context, id int) (*Graph, error) {
	if !s.mem.trusted.Load() {
		if _, err := s.Network(ctx, &id); err != nil {
			return nil, err
		}
	}
	if g := s.mem.get(id); g != nil {
		return g, nil
	}
	v, err, _ := s.mem.loads.Do(strconv.Itoa(id), func() (any, error) {
		// The load finishes for the readers waiting on it even when the one
		// that started it goes away.
		ctx := context.WithoutCancel(ctx)
		gen := s.mem.generation()
		if g := s.mem.get(id); g != nil {
			return g, nil
		}
		n, err := s.Network(ctx, &id)
		if err != nil {
			return nil, err
		}
		if !s.mem.fits(n.NodeCount, n.EdgeCount) {
			return (*Graph)(nil), nil
		}
		g, err := s.readGraph(ctx, n)
		if err != nil {
			return nil, err
		}
		s.mem.put(id, g, gen)
		return g, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Graph), nil
}

// listen keeps a PostgreSQL connection listening for other processes'
// deletes and default changes; the Store is trusted only while it listens,
// and forgets everything when it (re)starts listening, since it may have
// missed notifications.
func (s *Store) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		s.mem.trusted.Store(false)
		if ctx.Err() != nil {
			return
		}
		if s.log != nil {
			s.log.Warn("graph memory: notification listener reconnecting; reads check the database meanwhile", "error", err, "after", backoff)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.db.DSN())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	s.mem.flush()
	s.mem.trusted.Store(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload == "default" {
			s.mem.defaultChanged()
		} else if id, err := strconv.Atoi(n.Payload); err == nil {
			s.mem.evict(id)
		}
	}
}

// estimateBytes is about what a loaded graph takes in memory: measured on
// generated networks (traits, profile and attributes maps per node), before
// any encoded response.
func estimateBytes(nodes, edges int) int64 {
	return int64(nodes)*nodeBytes + int64(edges)*edgeBytes
}

const (
	nodeBytes = 3000
	edgeBytes = 120
)

// sizeBytes is the estimate for g, plus its encoded traits.
func (g *Graph) sizeBytes() int64 {
	return estimateBytes(len(g.Nodes), len(g.Edges))
}

// maxBodies bounds the encoded responses kept per network: one per distinct
// selection (the front end's few queries), not one per ad-hoc query.
const maxBodies = 8

type bodySlot struct {
	once sync.Once
	body *httpenc.Body
	err  error
}

// Body returns the encoded response kept under key for g (one per query
// selection), encoding it with encode on first use; every later call gets
// the same bytes, ETag and compressed forms. Past maxBodies keys a new one
// is encoded for the caller and not kept.
func (g *Graph) Body(key string, encode func() ([]byte, error)) (*httpenc.Body, error) {
	g.bodiesMu.Lock()
	slot := g.bodies[key]
	if slot == nil && len(g.bodies) < maxBodies {
		if g.bodies == nil {
			g.bodies = map[string]*bodySlot{}
		}
		slot = &bodySlot{}
		g.bodies[key] = slot
	}
	g.bodiesMu.Unlock()
	return g.fill(slot, encode, nil)
}

// fill encodes slot's body once (counted in the budget, and by kept when
// set), or a body for this caller only when slot is nil.
func (g *Graph) fill(slot *bodySlot, encode func() ([]byte, error), kept func(int)) (*httpenc.Body, error) {
	if slot == nil {
		raw, err := encode()
		if err != nil {
			return nil, err
		}
		return httpenc.NewBody(raw), nil
	}
	slot.once.Do(func() {
		raw, err := encode()
		if err != nil {
			slot.err = err
			return
		}
		slot.body = httpenc.NewKeptBody(raw, g.grown)
		g.grown(len(raw))
		if kept != nil {
			kept(len(raw))
		}
	})
	return slot.body, slot.err
}

func (g *Graph) grown(n int) {
	if g.grow != nil {
		g.grow(n)
	}
}

// MemoryGraph is the network a read means (id, or the default one) as kept
// in memory, loaded when it fits the budget; nil, nil when there is no
// network or it is too large to keep. The agent fast path reads from it.
func (s *Store) MemoryGraph(ctx context.Context, id *int) (*Graph, error) {
	nid, ok, err := s.resolveID(ctx, id)
	if err != nil || !ok {
		return nil, err
	}
	return s.memGraph(ctx, nid)
}

// AgentIndex is the node index of the agent with that id.
func (g *Graph) AgentIndex(agentID string) (int, bool) {
	i, ok := g.buildIndex().byID[agentID]
	return int(i), ok
}

// Neighbors are the agent's neighbours as Store.Agent returns them; nil when
// no agent has that id.
func (g *Graph) Neighbors(agentID string) []Neighbor {
	if d := g.agentDetail(agentID); d != nil {
		return d.Neighbors
	}
	return nil
}

// maxAgentBodyBytes bounds the encoded agent responses kept per network
// (raw bytes; they and their compressed forms count in the memory budget
// too): the agents read most since the network was loaded.
const maxAgentBodyBytes = 8 << 20

// agentBodies are the encoded responses of Query.agent kept with a graph,
// per agent and selection.
type agentBodies struct {
	mu    sync.Mutex
	slots map[string]*bodySlot
	bytes int64
}

// AgentBody is Body for one agent's read: kept under (agentID, key) until
// maxAgentBodyBytes of them are kept for g; later ones are encoded for the
// caller only.
func (g *Graph) AgentBody(agentID, key string, encode func() ([]byte, error)) (*httpenc.Body, error) {
	a := &g.agents
	k := agentID + "\x00" + key
	a.mu.Lock()
	slot := a.slots[k]
	if slot == nil && a.bytes < maxAgentBodyBytes {
		if a.slots == nil {
			a.slots = map[string]*bodySlot{}
		}
		slot = &bodySlot{}
		a.slots[k] = slot
	}
	a.mu.Unlock()
	return g.fill(slot, encode, func(n int) {
		a.mu.Lock()
		a.bytes += int64(n)
		a.mu.Unlock()
	})
}
