package simulation

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/simulation/llm"
	"github.com/ethox/ethox/simulation/simtypes"
)

// recordingWrite is a batch write that records the sizes of the batches it
// is given, optionally holding each until release is closed.
type recordingWrite struct {
	mu      sync.Mutex
	sizes   []int
	hold    chan struct{}
	err     error
	started chan int
}

func (r *recordingWrite) write(b []*stepWrite) []error {
	if r.started != nil {
		r.started <- len(b)
	}
	if r.hold != nil {
		<-r.hold
	}
	r.mu.Lock()
	r.sizes = append(r.sizes, len(b))
	r.mu.Unlock()
	errs := make([]error, len(b))
	for i := range errs {
		errs[i] = r.err
	}
	return errs
}

func (r *recordingWrite) batches() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.sizes...)
}

// When a batch is written: full, nothing more to wait for (every begun step
// submitted or abandoned), or after the delay; never before.
func TestStepBatcherFlushRules(t *testing.T) {
	tests := []struct {
		name      string
		maxSteps  int
		delay     time.Duration
		begun     int // tickets taken
		submit    int // of them, submitted (concurrently)
		abandon   int // of them, abandoned after the submissions are queued
		want      []int
		minWait   time.Duration // submit returns no sooner
		errString string
	}{
		{name: "full batch goes at once", maxSteps: 3, delay: time.Hour, begun: 4, submit: 3, want: []int{3}},
		{name: "nothing more expected goes at once", maxSteps: 100, delay: time.Hour, begun: 5, submit: 5, want: []int{5}},
		{name: "an abandoned step is not waited for", maxSteps: 100, delay: time.Hour, begun: 3, submit: 2, abandon: 1, want: []int{2}},
		{name: "a partial batch goes after the delay", maxSteps: 100, delay: 40 * time.Millisecond, begun: 3, submit: 1, want: []int{1}, minWait: 40 * time.Millisecond},
		{name: "a full batch and the rest", maxSteps: 2, delay: time.Hour, begun: 5, submit: 5, want: []int{2, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingWrite{}
			b := newStepBatcher(rec.write, tt.maxSteps, tt.delay)
			tickets := make([]*stepTicket, tt.begun)
			for i := range tickets {
				tickets[i] = b.begin()
			}
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, tt.submit)
			for i := 0; i < tt.submit; i++ {
				wg.Add(1)
				go func(tk *stepTicket) {
					defer wg.Done()
					errs <- b.submit(tk, &stepWrite{ctx: context.Background()})
				}(tickets[i])
			}
			if tt.abandon > 0 {
				waitPending(t, b, tt.submit)
				for _, tk := range tickets[tt.submit : tt.submit+tt.abandon] {
					tk.abandon()
					tk.abandon() // twice is once
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("submit: %v", err)
				}
			}
			if waited := time.Since(start); waited < tt.minWait {
				t.Fatalf("written after %v, before the delay %v", waited, tt.minWait)
			}
			got := rec.batches()
			if !equalInts(sortedDesc(got), tt.want) {
				t.Fatalf("batches %v, want %v", got, tt.want)
			}
			for _, tk := range tickets {
				tk.abandon() // the steps not submitted end; nothing is left waiting
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.expected != 0 || len(b.pending) != 0 {
				t.Fatalf("left: %d expected, %d pending", b.expected, len(b.pending))
			}
		})
	}
}

// One batch is written at a time: steps finished while one is written form
// the next, and a failed write is every one of its steps' error.
func TestStepBatcherOneAtATime(t *testing.T) {
	rec := &recordingWrite{hold: make(chan struct{}), started: make(chan int, 10), err: errors.New("database gone")}
	b := newStepBatcher(rec.write, 100, time.Hour)
	errs := make(chan error, 4)
	go func() { errs <- b.submit(nil, &stepWrite{ctx: context.Background()}) }()
	if n := <-rec.started; n != 1 {
		t.Fatalf("first batch of %d", n)
	}
	for i := 0; i < 3; i++ {
		go func() { errs <- b.submit(nil, &stepWrite{ctx: context.Background()}) }()
	}
	waitPending(t, b, 3)
	select {
	case n := <-rec.started:
		t.Fatalf("a second batch of %d started while the first was written", n)
	case <-time.After(20 * time.Millisecond):
	}
	close(rec.hold)
	if n := <-rec.started; n != 3 {
		t.Fatalf("second batch of %d, want 3", n)
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err == nil || err.Error() != "database gone" {
			t.Fatalf("submit error %v", err)
		}
	}
}

func waitPending(t *testing.T, b *stepBatcher, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		k := len(b.pending)
		b.mu.Unlock()
		if k >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d steps pending, want %d", k, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func sortedDesc(v []int) []int {
	out := append([]int(nil), v...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] > out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A batch stores its steps, usage and events in one transaction on both
// databases: more rows than one statement's bind variables allow, steps
// already stored skipped (no progress, no event, usage still counted), event
// seqs contiguous, and one refused row stored as failed without the others.
func TestWriteStepsBatch(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 0)
			s := h.service(0, nil)
			ctx := context.Background()
			sim, err := s.Run(ctx, RunInput{Trigger: "Batched.", Rounds: ptrTo(0)})
			if err != nil {
				t.Fatal(err)
			}
			pl, err := s.loadPlan(ctx, h.net.ID, Params{NeighborLimit: 10, Audience: Audience{Mode: simtypes.AudienceAll}})
			if err != nil {
				t.Fatal(err)
			}
			n := len(pl.graph.Nodes)
			step := func(i, round int) *stepWrite {
				return &stepWrite{ctx: ctx, agentPK: pl.graph.AgentPKs[i], agentKey: pl.graph.Nodes[i].AgentID, round: round,
					st: StateView{Opinion: "op", Care: 3, Support: 1}, failed: i == 0, errMsg: "bad answer",
					u: llm.Usage{Calls: 1, PromptTokens: 10, CompletionTokens: 2}}
			}
			// 20 agents × 130 rounds: 2,600 rows, past the 2,307 of one statement.
			rounds := 130
			var batch []*stepWrite
			for r := 0; r < rounds; r++ {
				for i := 0; i < n; i++ {
					batch = append(batch, step(i, r))
				}
			}
			check := func(errs []error) {
				t.Helper()
				for _, err := range errs {
					if err != nil {
						t.Fatalf("store batch: %v", err)
					}
				}
			}
			check(s.storeBatch(sim.ID, batch, pl))
			total := n * rounds
			got := h.get(sim.ID)
			if got.CompletedSteps != total || got.FailedSteps != rounds || got.Calls != total || got.PromptTokens != 10*total {
				t.Fatalf("counters after the first batch: completed %d failed %d calls %d prompt %d", got.CompletedSteps, got.FailedSteps, got.Calls, got.PromptTokens)
			}
			// Again (a retried job racing the first), plus two new rounds and a duplicate within the batch.
			again := append(batch[:n:n], step(0, rounds), step(1, rounds), step(1, rounds))
			check(s.storeBatch(sim.ID, again, pl))
			got = h.get(sim.ID)
			if got.CompletedSteps != total+2 || got.Calls != total+n+3 {
				t.Fatalf("counters after the repeat: completed %d calls %d", got.CompletedSteps, got.Calls)
			}
			evs, err := s.eventsAfter(ctx, sim.ID, 0, 100_000)
			if err != nil {
				t.Fatal(err)
			}
			agents := 0
			for k, e := range evs {
				if e.Seq != k+1 {
					t.Fatalf("event %d has seq %d", k, e.Seq)
				}
				if e.Type == EventAgentUpdated {
					agents++
					if e.Payload.AgentUpdate == nil || e.Payload.AgentUpdate.Opinion != "op" {
						t.Fatalf("event %d payload %+v", k, e.Payload)
					}
				}
			}
			if agents != total+2 {
				t.Fatalf("%d AGENT_UPDATED events, want %d", agents, total+2)
			}

			// One refused row (NaN) in a batch: stored as failed with its kept
			// state, the others as they are.
			bad := step(2, rounds+1)
			bad.failed, bad.st, bad.keep = false, StateView{Opinion: "x", Care: math.NaN()}, StateView{Opinion: "kept", Care: 1}
			check(s.storeBatch(sim.ID, []*stepWrite{step(1, rounds+1), bad, step(3, rounds+1)}, pl))
			var (
				op     string
				failed bool
				reason string
			)
			if err := h.db.SQL.QueryRow(`SELECT opinion, failed, error FROM agent_states WHERE simulation_id = `+h.db.Placeholder(1)+
				` AND agent_id = `+h.db.Placeholder(2)+` AND round = `+h.db.Placeholder(3), sim.ID, bad.agentPK, bad.round).Scan(&op, &failed, &reason); err != nil {
				t.Fatal(err)
			}
			if op != "kept" || !failed || !strings.Contains(reason, "could not be stored") {
				t.Fatalf("refused row stored as %q failed=%v %q", op, failed, reason)
			}
			if k := h.states(sim.ID, rounds+1); k != 3 {
				t.Fatalf("%d of 3 rows stored beside the refused one", k)
			}
		})
	}
}

// Jobs read inputs stored by this process from memory and the others from
// the database; an input once read is never overwritten (steps read it).
func TestMergeStates(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 0)
			s := h.service(0, nil)
			ctx := context.Background()
			sim, err := s.Run(ctx, RunInput{Trigger: "Merged.", Rounds: ptrTo(0)})
			if err != nil {
				t.Fatal(err)
			}
			pl, err := s.loadPlan(ctx, h.net.ID, Params{NeighborLimit: 10, Audience: Audience{Mode: simtypes.AudienceAll}})
			if err != nil {
				t.Fatal(err)
			}
			n := len(pl.graph.Nodes)
			w := func(i int, op string) *stepWrite {
				return &stepWrite{ctx: ctx, agentPK: pl.graph.AgentPKs[i], agentKey: pl.graph.Nodes[i].AgentID, st: StateView{Opinion: op}}
			}
			// Agents 0 and 1 stored by this process (remembered), 2 by "another" (no plan).
			for _, err := range s.storeBatch(sim.ID, []*stepWrite{w(0, "here"), w(1, "here")}, pl) {
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, err := range s.storeBatch(sim.ID, []*stepWrite{w(2, "there")}, nil) {
				if err != nil {
					t.Fatal(err)
				}
			}
			pks := pl.graph.AgentPKs[:4]
			st, have, err := s.mergeStates(ctx, sim.ID, 0, pl, pks, false, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !have[0] || !have[1] || have[2] || st[0].Opinion != "here" {
				t.Fatalf("from memory: have %v", have[:4])
			}
			st[0].Opinion = "read by a step" // present: must not be written again
			st, have, err = s.mergeStates(ctx, sim.ID, 0, pl, pks, true, st, have)
			if err != nil {
				t.Fatal(err)
			}
			if !have[2] || st[2].Opinion != "there" || have[3] || st[0].Opinion != "read by a step" {
				t.Fatalf("with the database: have %v, %q %q", have[:4], st[0].Opinion, st[2].Opinion)
			}
			// The whole round stored: cached complete, memory dropped.
			var rest []*stepWrite
			for i := 3; i < n; i++ {
				rest = append(rest, w(i, "late"))
			}
			for _, err := range s.storeBatch(sim.ID, rest, nil) {
				if err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.roundStates(ctx, sim.ID, 0, pl); err != nil {
				t.Fatal(err)
			}
			pl.mu.Lock()
			_, complete := pl.rounds[0]
			_, mem := pl.mem[0]
			pl.mu.Unlock()
			if !complete || mem {
				t.Fatalf("complete %v, memory kept %v", complete, mem)
			}
		})
	}
}

// LLM rounds overlap: when round 1's last job ends before round 0 has
// advanced, its advance is a no-op, and round 0's advance must then finish
// the run (the soak found runs left RUNNING with every step stored).
func TestAdvanceCarriesThroughOverlappedRounds(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 0)
			s := h.service(0, nil)
			ctx := context.Background()
			sim, err := s.Run(ctx, RunInput{Trigger: "Overlap.", Rounds: ptrTo(1)})
			if err != nil {
				t.Fatal(err)
			}
			pl, err := s.loadPlan(ctx, h.net.ID, Params{NeighborLimit: 10, Audience: Audience{Mode: simtypes.AudienceAll}})
			if err != nil {
				t.Fatal(err)
			}
			var batch []*stepWrite
			for r := 0; r <= 1; r++ {
				for i := range pl.graph.Nodes {
					batch = append(batch, &stepWrite{ctx: ctx, agentPK: pl.graph.AgentPKs[i], agentKey: pl.graph.Nodes[i].AgentID,
						round: r, st: StateView{Opinion: "op", Care: 3, Support: 1}, u: llm.Usage{Calls: 1}})
				}
			}
			for _, err := range s.storeBatch(sim.ID, batch, pl) {
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := s.advance(ctx, sim.ID, 1); err != nil { // round 1's job ends first
				t.Fatal(err)
			}
			if got := h.get(sim.ID); got.Status != entsim.StatusQUEUED && got.Status != entsim.StatusRUNNING || got.CurrentRound != 0 {
				t.Fatalf("after round 1's advance: %s, round %d", got.Status, got.CurrentRound)
			}
			if err := s.advance(ctx, sim.ID, 0); err != nil {
				t.Fatal(err)
			}
			if got := h.get(sim.ID); got.Status != entsim.StatusSUCCEEDED || got.CurrentRound != 1 {
				t.Fatalf("after round 0's advance: %s, round %d, want SUCCEEDED in round 1", got.Status, got.CurrentRound)
			}
		})
	}
}
