package simulation

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"time"

	"entgo.io/ent/dialect"

	"github.com/ethox/ethox/database"

	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/ent/simulationevent"
	"github.com/ethox/ethox/simulation/simtypes"
)

// Event types of a run's durable event log (declared by the ent schema).
const (
	EventStatusChanged  = simulationevent.TypeSTATUS_CHANGED
	EventAgentUpdated   = simulationevent.TypeAGENT_UPDATED
	EventRoundCompleted = simulationevent.TypeROUND_COMPLETED
	EventFinished       = simulationevent.TypeFINISHED
)

// EventPayload is an event's payload: Status, Round or the agent's new state,
// by the event's type.
type EventPayload = simtypes.EventPayload

// AgentUpdate is the payload of an AGENT_UPDATED event.
type AgentUpdate = simtypes.AgentUpdate

// Event is one entry of a run's log; Seq is strictly increasing per run.
type Event struct {
	SimulationID int
	Seq          int
	Type         simulationevent.Type
	AgentID      *string
	Round        *int
	Payload      EventPayload
	At           time.Time
}

// The simulation_events table is read and written only here, in plain SQL:
// an event's seq is computed in its INSERT, and reads are hot (every
// subscriber, a thousand on one run, reads the log again at each wake-up):
// through ent they were slow enough to time WebSocket clients out.

const notifyChannel = "ethox_events"

// emit appends an event in the caller's transaction. The caller must already
// have updated (so locked) the simulation row in it: that lock orders
// concurrent writers, so MAX(seq)+1 is strictly increasing and events commit
// in seq order. On PostgreSQL the commit also notifies other processes.
func (s *Service) emit(ctx context.Context, tx execer, simID int, typ simulationevent.Type, agentKey *string, round *int, payload EventPayload) error {
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

// emitStatus records a run's new status; an end is followed by FINISHED.
func (s *Service) emitStatus(ctx context.Context, tx execer, simID int, status entsim.Status) error {
	p := EventPayload{Status: string(status)}
	if err := s.emit(ctx, tx, simID, EventStatusChanged, nil, nil, p); err != nil {
		return err
	}
	if !terminal(status) {
		return nil
	}
	return s.emit(ctx, tx, simID, EventFinished, nil, nil, p)
}

// emitRound records that every agent has a state for round.
func (s *Service) emitRound(ctx context.Context, tx execer, simID, round int) error {
	return s.emit(ctx, tx, simID, EventRoundCompleted, nil, &round, EventPayload{Round: &round})
}

// emitAgent records an agent's stored step.
func (s *Service) emitAgent(ctx context.Context, tx execer, simID int, agentKey string, round int, st StateView, failed bool) error {
	return s.emit(ctx, tx, simID, EventAgentUpdated, &agentKey, &round, EventPayload{AgentUpdate: &AgentUpdate{
		Opinion: st.Opinion, Care: st.Care, Support: st.Support, Failed: failed}})
}

// eventsAfter reads up to limit events of a run after seq `after`, in order.
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

// agentEvent is one stored step's AGENT_UPDATED event, for emitAgents.
type agentEvent struct {
	agentKey string
	round    int
	st       StateView
	failed   bool
}

var eventColumns = []string{"simulation_id", "seq", "type", "agent_key", "round", "payload", "created_at"}

// emitAgents appends the events of a batch of stored steps (batch.go) in the
// caller's transaction, in order, with multi-row INSERTs; as for emit, the
// caller has locked the simulation row, so MAX(seq) read here stays the
// run's last seq until commit.
func (s *Service) emitAgents(ctx context.Context, tx *sql.Tx, simID int, evs []agentEvent) error {
	if len(evs) == 0 {
		return nil
	}
	payloads := make([]string, len(evs))
	for i, e := range evs {
		b, err := json.Marshal(EventPayload{AgentUpdate: &AgentUpdate{
			Opinion: e.st.Opinion, Care: e.st.Care, Support: e.st.Support, Failed: e.failed}})
		if err != nil {
			return err
		}
		payloads[i] = string(b)
	}
	var last int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM simulation_events WHERE simulation_id = `+
		s.db.Placeholder(1), simID).Scan(&last); err != nil {
		return err
	}
	now := time.Now().UTC()
	if _, err := database.InsertBatches(ctx, tx, s.db.Dialect, "simulation_events", eventColumns, "", len(evs),
		func(i int, args []any) []any {
			return append(args, simID, last+1+i, EventAgentUpdated, evs[i].agentKey, evs[i].round, payloads[i], now)
		}); err != nil {
		return err
	}
	if s.db.Dialect == dialect.Postgres {
		_, err := tx.ExecContext(ctx, `SELECT pg_notify('`+notifyChannel+`', $1)`, strconv.Itoa(simID))
		return err
	}
	return nil
}
