package simulation

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/jackc/pgx/v5"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
)

// Event types of a run's durable event log.
const (
	EventStatusChanged  = "STATUS_CHANGED"
	EventAgentUpdated   = "AGENT_UPDATED"
	EventRoundCompleted = "ROUND_COMPLETED"
	EventFinished       = "FINISHED"
)

// Event is one entry of a run's log; Seq is strictly increasing per run.
type Event struct {
	SimulationID int
	Seq          int
	Type         string
	AgentID      *string
	Round        *int
	Payload      map[string]any
	At           time.Time
}

const notifyChannel = "ethox_events"

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// emit appends an event in the caller's transaction. The caller must already
// have updated (so locked) the simulation row in it: that lock orders
// concurrent writers, so MAX(seq)+1 is strictly increasing and events commit
// in seq order. On PostgreSQL the commit also notifies other processes.
func (s *Service) emit(ctx context.Context, tx execer, simID int, typ string, agentKey *string, round *int, payload map[string]any) error {
	if payload == nil {
		payload = map[string]any{}
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	ph := s.db.Placeholder
	_, err = tx.ExecContext(ctx, `INSERT INTO simulation_events (simulation_id, seq, type, agent_key, round, payload, created_at)
		SELECT `+ph(1)+`, COALESCE(MAX(seq), 0) + 1, `+ph(2)+`, `+ph(3)+`, `+ph(4)+`, `+ph(5)+`, `+ph(6)+
		` FROM simulation_events WHERE simulation_id = `+ph(7),
		simID, typ, agentKey, round, string(b), time.Now().UTC(), simID)
	if err != nil {
		return err
	}
	if s.db.Dialect == dialect.Postgres {
		_, err = tx.ExecContext(ctx, `SELECT pg_notify('`+notifyChannel+`', $1)`, strconv.Itoa(simID))
	}
	return err
}

// emitTerminal records a run's end: its status, then FINISHED.
func (s *Service) emitTerminal(ctx context.Context, tx execer, simID int, status entsim.Status) error {
	if err := s.emit(ctx, tx, simID, EventStatusChanged, nil, nil, map[string]any{"status": string(status)}); err != nil {
		return err
	}
	return s.emit(ctx, tx, simID, EventFinished, nil, nil, map[string]any{"status": string(status)})
}

// broker wakes this process's subscribers of a run; wake-ups coalesce, so a
// slow subscriber never blocks a run (it catches up from the log).
type broker struct {
	mu   sync.Mutex
	subs map[int]map[chan struct{}]struct{}
}

func (b *broker) subscribe(simID int) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[int]map[chan struct{}]struct{}{}
	}
	if b.subs[simID] == nil {
		b.subs[simID] = map[chan struct{}]struct{}{}
	}
	b.subs[simID][ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs[simID], ch)
		if len(b.subs[simID]) == 0 {
			delete(b.subs, simID)
		}
		b.mu.Unlock()
	}
}

func (b *broker) notify(simID int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[simID] {
		select {
		case ch <- struct{}{}:
		default: // already woken
		}
	}
}

// listen forwards PostgreSQL notifications from every process to this
// process's subscribers, reconnecting after errors (e.g. a server restart).
func (s *Service) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, s.db.DSN())
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+notifyChannel); err == nil {
				backoff = 100 * time.Millisecond
				for {
					n, werr := conn.WaitForNotification(ctx)
					if werr != nil {
						err = werr
						break
					}
					if id, perr := strconv.Atoi(n.Payload); perr == nil {
						s.events.notify(id)
					}
				}
			}
			conn.Close(context.Background())
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("event listener reconnecting", "error", err, "after", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Events streams a run's events after seq `after`: the stored ones first, then
// live ones as they are stored, each exactly once and in order, ending with
// FINISHED. It reads from the log, so a subscriber that joins late or falls
// behind misses nothing.
func (s *Service) Events(ctx context.Context, simID, after int) (<-chan Event, error) {
	if _, err := s.get(ctx, simID); err != nil {
		return nil, err
	}
	wake, unsubscribe := s.events.subscribe(simID)
	out := make(chan Event, 64)
	go func() {
		defer close(out)
		defer unsubscribe()
		last := after
		for {
			evs, err := s.eventsAfter(ctx, simID, last, 500)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("read events", "simulation", simID, "error", err)
				}
				return
			}
			for _, e := range evs {
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
				last = e.Seq
				if e.Type == EventFinished {
					return
				}
			}
			if len(evs) == 500 {
				continue // more stored events
			}
			select {
			case <-wake:
			case <-time.After(s.cfg.EventPoll):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func (s *Service) eventsAfter(ctx context.Context, simID, after, limit int) ([]Event, error) {
	ph := s.db.Placeholder
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT seq, type, agent_key, round, payload, created_at FROM simulation_events
		WHERE simulation_id = `+ph(1)+` AND seq > `+ph(2)+` ORDER BY seq LIMIT `+strconv.Itoa(limit), simID, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e       Event
			agent   sql.NullString
			round   sql.NullInt64
			payload []byte
		)
		if err := rows.Scan(&e.Seq, &e.Type, &agent, &round, &payload, &e.At); err != nil {
			return nil, err
		}
		e.SimulationID = simID
		if agent.Valid {
			e.AgentID = &agent.String
		}
		if round.Valid {
			r := int(round.Int64)
			e.Round = &r
		}
		if err := json.Unmarshal(payload, &e.Payload); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Progress streams a run's state: the current one first, then one on every
// change, at most one per `every`, with the final state always delivered; the
// stream ends after a terminal status.
func (s *Service) Progress(ctx context.Context, simID int, every time.Duration) (<-chan *ent.Simulation, error) {
	sim, err := s.get(ctx, simID)
	if err != nil {
		return nil, err
	}
	wake, unsubscribe := s.events.subscribe(simID)
	out := make(chan *ent.Simulation, 1)
	go func() {
		defer close(out)
		defer unsubscribe()
		sent := time.Time{}
		for {
			select {
			case out <- sim:
			case <-ctx.Done():
				return
			}
			sent = time.Now()
			if terminal(sim.Status) {
				return
			}
			for {
				select {
				case <-wake:
				case <-time.After(s.cfg.EventPoll):
				case <-ctx.Done():
					return
				}
				// Throttle: changes within the window are folded into the next message.
				if wait := every - time.Since(sent); wait > 0 {
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return
					}
				}
				next, err := s.get(ctx, simID)
				if err != nil {
					return
				}
				if changed(sim, next) {
					sim = next
					break
				}
			}
		}
	}()
	return out, nil
}

func changed(a, b *ent.Simulation) bool {
	return a.Status != b.Status || a.CompletedSteps != b.CompletedSteps || a.CurrentRound != b.CurrentRound ||
		a.Calls != b.Calls || a.FailedSteps != b.FailedSteps || a.PromptTokens != b.PromptTokens
}

func (s *Service) get(ctx context.Context, id int) (*ent.Simulation, error) {
	sim, err := s.db.Client.Simulation.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "simulation %d not found", id)
	}
	return sim, err
}
