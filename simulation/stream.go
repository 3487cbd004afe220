package simulation

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
)

// A run's subscribers (simulationEvents, simulationProgress) read its event
// log and row, woken by writers in this process and, on PostgreSQL, by
// notifications from every process; between wake-ups they poll only every
// EventPoll (15 s on PostgreSQL, where the poll is a safety net).

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

// notifyAll wakes every subscriber, after notifications may have been missed.
func (b *broker) notifyAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, subs := range b.subs {
		for ch := range subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
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
				// Commits while no connection listened notified no one: every
				// subscriber reads again rather than wait for the slow poll.
				s.events.notifyAll()
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
