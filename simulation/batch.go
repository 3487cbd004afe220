package simulation

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/simulation/llm"
)

// Group commit of a run's finished LLM steps: a transaction per step kept a
// 10,000-agent run at about 350 steps a second on SQLite's single writer, so
// the steps finished in this process are written in batches, each step with
// its usage and event in the same transaction as the others of its batch. A
// step counts as stored (its job may finish, the round may advance, a
// retried job skips it) only once its batch has committed, and its goroutine
// waits for that: after a crash, only steps not yet committed are asked
// again, as before.

const (
	batchMaxSteps = 256                   // a batch is written once this many steps wait
	batchMaxDelay = 10 * time.Millisecond // or once its oldest step has waited this long (what a crash may ask again)
)

// stepWrite is one finished step waiting for its batch.
type stepWrite struct {
	ctx      context.Context // the step's; the batch writes on a detached copy
	agentPK  int
	agentKey string
	round    int
	st, keep StateView // keep: stored instead if the database refuses st
	failed   bool
	errMsg   string
	u        llm.Usage
	reserved bool        // one call already counted by reserveCall
	cache    *cacheEntry // an answer to store in the answer cache (cache.go)
	at       time.Time
	done     chan error // buffered: the batch's outcome for this step
}

// stepBatcher collects the finished steps of one run in this process and
// writes them a batch at a time (one batch in flight, so a run's event seqs
// are computed in order). A batch is written when it is full, when its
// oldest step has waited batchMaxDelay, or at once when no step begun here
// is still to come (waiting longer would only delay them all).
type stepBatcher struct {
	write    func([]*stepWrite) []error // stores a batch: each step's outcome
	maxSteps int
	maxDelay time.Duration

	mu       sync.Mutex
	pending  []*stepWrite
	expected int  // steps begun and neither submitted nor abandoned
	flushing bool // a batch is being written
	timer    *time.Timer
}

func newStepBatcher(write func([]*stepWrite) []error, maxSteps int, maxDelay time.Duration) *stepBatcher {
	return &stepBatcher{write: write, maxSteps: maxSteps, maxDelay: maxDelay}
}

// batcher returns the run's step batcher in this process.
func (pl *plan) batcher(s *Service, simID int) *stepBatcher {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.batch == nil {
		pl.batch = newStepBatcher(func(b []*stepWrite) []error { return s.storeBatch(simID, b, pl) }, batchMaxSteps, batchMaxDelay)
	}
	return pl.batch
}

// stepTicket stands for a begun step until it is submitted or abandoned.
type stepTicket struct {
	b    *stepBatcher
	once sync.Once
}

// begin announces a step whose write will follow (or be abandoned): the
// batcher waits for it before writing a partial batch early.
func (b *stepBatcher) begin() *stepTicket {
	b.mu.Lock()
	b.expected++
	b.mu.Unlock()
	return &stepTicket{b: b}
}

// abandon says the ticket's step will not be submitted (a no-op once it was).
func (t *stepTicket) abandon() {
	if t == nil {
		return
	}
	t.once.Do(func() {
		b := t.b
		b.mu.Lock()
		b.expected--
		b.kickLocked()
		b.mu.Unlock()
	})
}

// submit queues w and waits for its batch to commit; the error is the
// batch's (nil: w is stored, or was stored before). t may be nil for a
// write that was never announced.
func (b *stepBatcher) submit(t *stepTicket, w *stepWrite) error {
	w.at = time.Now()
	w.done = make(chan error, 1)
	b.mu.Lock()
	b.pending = append(b.pending, w)
	if t != nil {
		t.once.Do(func() { b.expected-- })
	}
	b.kickLocked()
	b.mu.Unlock()
	return <-w.done // bounded: every batch write has its own deadline
}

// kickLocked starts writing a batch if one is due, or arms the timer that
// will; b.mu is held.
func (b *stepBatcher) kickLocked() {
	n := len(b.pending)
	if b.flushing || n == 0 {
		return
	}
	age := time.Since(b.pending[0].at)
	if n < b.maxSteps && b.expected > 0 && age < b.maxDelay {
		if b.timer == nil {
			b.timer = time.AfterFunc(b.maxDelay-age, func() {
				b.mu.Lock()
				b.timer = nil
				b.kickLocked()
				b.mu.Unlock()
			})
		}
		return
	}
	k := min(n, b.maxSteps)
	batch := make([]*stepWrite, k)
	copy(batch, b.pending)
	b.pending = append(b.pending[:0], b.pending[k:]...)
	b.flushing = true
	go b.flush(batch)
}

// flush writes one batch, hands each step its outcome, then starts the next
// batch if one is due.
func (b *stepBatcher) flush(batch []*stepWrite) {
	errs := b.write(batch)
	b.mu.Lock()
	b.flushing = false
	b.kickLocked()
	b.mu.Unlock()
	for i, w := range batch {
		w.done <- errs[i]
	}
}

// storeBatch writes a batch in one transaction under a deadline of its own
// (detached from the jobs' contexts: the steps are paid for) and returns
// each step's outcome. When the database refuses the batch's data, each
// step is written on its own, so one bad row is stored as failed (saveStep)
// without taking the others with it.
func (s *Service) storeBatch(simID int, batch []*stepWrite, pl *plan) []error {
	errs := make([]error, len(batch))
	err := protect(func() error {
		ctx, cancel := detached(batch[0].ctx)
		defer cancel()
		return s.writeSteps(ctx, simID, batch, pl)
	})
	if err != nil && dataError(err) {
		for i, w := range batch {
			errs[i] = protect(func() error {
				return s.saveStep(w.ctx, simID, w.agentPK, w.agentKey, w.round, w.st, w.keep, w.failed, w.errMsg, w.u, w.reserved)
			})
		}
		return errs
	}
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// writeSteps stores steps (at least one) of run simID with their usage and
// events in one transaction; steps already stored (a retried job racing the
// first) are skipped and count for neither progress nor events, but their
// usage is still added (the call was made). Once committed, the stored
// states are remembered on pl (if not nil) for the jobs waiting for them.
func (s *Service) writeSteps(ctx context.Context, simID int, steps []*stepWrite, pl *plan) error {
	rows := make([]stepRow, len(steps))
	for i, w := range steps {
		rows[i] = stepRow{agentPK: w.agentPK, round: w.round, st: w.st, failed: w.failed, errMsg: w.errMsg, u: w.u}
		rows[i].st.Opinion = llm.CleanText(w.st.Opinion, llm.MaxOpinionChars) // the client cleans answers; this also covers other sources
	}
	return s.write(ctx, simID, func(tx *sql.Tx, client *ent.Client) error {
		inserted, err := s.states.insertSteps(ctx, tx, simID, rows)
		if err != nil {
			return fmt.Errorf("store steps: %w", err)
		}
		var (
			calls, prompt, completion, retries, completed, failed, hits int
			cost, saved                                                 float64
			events                                                      []agentEvent
			cached                                                      []cacheEntry
		)
		for i, w := range steps {
			if w.cache != nil {
				cached = append(cached, *w.cache)
			}
			hits += w.u.CacheHits
			saved += w.u.CostSavedUSD
			calls += w.u.Calls
			if w.reserved {
				calls-- // counted by reserveCall; a reserved call never sent gives its place back
			}
			prompt += w.u.PromptTokens
			completion += w.u.CompletionTokens
			retries += w.u.Retries
			cost += w.u.CostUSD
			if !inserted[i] {
				continue
			}
			completed++
			if w.failed {
				failed++
			}
			events = append(events, agentEvent{agentKey: w.agentKey, round: w.round, st: rows[i].st, failed: w.failed})
		}
		if pl != nil {
			s.onCommit(tx, func() {
				for i, w := range steps {
					if inserted[i] {
						pl.remember(w.round, w.agentPK, rows[i].st)
					}
				}
			})
		}
		// Updating the row first also locks it, which orders the events' seqs.
		if err := client.Simulation.Update().Where(entsim.ID(simID)).
			AddCompletedSteps(completed).AddCalls(calls).AddPromptTokens(prompt).AddCompletionTokens(completion).
			AddRetries(retries).AddFailedSteps(failed).AddEstimatedCostUsd(cost).AddCacheHits(hits).AddCostSavedUsd(saved).
			Exec(ctx); err != nil {
			return err
		}
		if err := s.storeCached(ctx, tx, cached); err != nil {
			return fmt.Errorf("store cached answers: %w", err)
		}
		return s.emitAgents(ctx, tx, simID, events)
	})
}

// roundMem is what this process stored of an incomplete round, by node position.
type roundMem struct {
	st   []StateView
	have []bool
}

// remember records a committed state of round, for mergeStates.
func (pl *plan) remember(round, agentPK int, st StateView) {
	i, ok := pl.index[agentPK]
	if !ok {
		return
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if _, done := pl.rounds[round]; done {
		return
	}
	if pl.mem == nil {
		pl.mem = map[int]*roundMem{}
	}
	m := pl.mem[round]
	if m == nil {
		n := len(pl.graph.Nodes)
		m = &roundMem{st: make([]StateView, n), have: make([]bool, n)}
		pl.mem[round] = m
	}
	m.st[i], m.have[i] = st, true
}
