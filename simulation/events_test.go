package simulation

import (
	"context"
	"testing"
	"time"

	"github.com/ethox/ethox/apperr"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/ent/simulationevent"
	"github.com/ethox/ethox/internal/testdb"
)

// A subscriber that joins mid-run with `after` gets every later event exactly
// once, in order, ending with FINISHED; on PostgreSQL it may sit in another
// process than the workers (woken through LISTEN/NOTIFY).
func TestEventsReplayThenLive(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 30*time.Millisecond)
			workers := h.service(2, nil)
			// An API-only process. On PostgreSQL it must be woken by NOTIFY: its
			// fallback poll is longer than the whole test.
			api := h.service(0, func(c *Config) {
				if dialect == "postgres" {
					c.EventPoll = 10 * time.Minute
				}
			})
			sim, err := workers.Run(context.Background(), RunInput{Trigger: "Events.", Rounds: ptrTo(2)})
			if err != nil {
				t.Fatal(err)
			}
			for {
				evs, _ := api.eventsAfter(context.Background(), sim.ID, 0, 1000)
				if len(evs) >= 10 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			const after = 5
			ch, err := api.Events(ctx, sim.ID, after)
			if err != nil {
				t.Fatal(err)
			}
			var got []Event
			for e := range ch {
				got = append(got, e)
			}
			if len(got) == 0 || got[len(got)-1].Type != EventFinished {
				t.Fatalf("stream did not end with FINISHED: %d events", len(got))
			}
			for k, e := range got {
				if e.Seq != after+1+k {
					t.Fatalf("event %d has seq %d, want %d (gap or duplicate)", k, e.Seq, after+1+k)
				}
			}
			all, _ := api.eventsAfter(context.Background(), sim.ID, 0, 10000)
			if len(all) != after+len(got) {
				t.Fatalf("log has %d events, stream gave %d after %d", len(all), len(got), after)
			}
			counts := map[simulationevent.Type]int{}
			for _, e := range all {
				counts[e.Type]++
			}
			// QUEUED, RUNNING, SUCCEEDED; one per agent step; one per round; one FINISHED.
			if counts[EventAgentUpdated] != 60 || counts[EventRoundCompleted] != 3 || counts[EventStatusChanged] != 3 || counts[EventFinished] != 1 {
				t.Fatalf("event counts %v", counts)
			}
		})
	}
}

func TestProgressStream(t *testing.T) {
	h := newHarness(t, "sqlite", 20*time.Millisecond)
	s := h.service(2, nil)
	if _, err := s.Progress(context.Background(), 21474836999, time.Millisecond); apperr.KindOf(err) != apperr.NotFound {
		t.Fatalf("unknown run: %v", err)
	}
	sim, err := s.Run(context.Background(), RunInput{Trigger: "Progress.", Rounds: ptrTo(1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ch, err := s.Progress(ctx, sim.ID, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []entsim.Status
	prev, sentAt := -1, time.Time{}
	for p := range ch {
		if p.CompletedSteps < prev {
			t.Fatalf("progress went back: %d after %d", p.CompletedSteps, prev)
		}
		if !sentAt.IsZero() && time.Since(sentAt) < 40*time.Millisecond && !terminal(p.Status) {
			t.Fatalf("messages %s apart, throttle is 50ms", time.Since(sentAt))
		}
		prev, sentAt = p.CompletedSteps, time.Now()
		msgs = append(msgs, p.Status)
	}
	if len(msgs) < 2 || msgs[len(msgs)-1] != entsim.StatusSUCCEEDED || prev != 40 {
		t.Fatalf("progress messages %v, last steps %d", msgs, prev)
	}
}

// A subscriber that does not read never slows the run: the run finishes while
// the subscriber sleeps, and the subscriber then catches up from the log.
func TestSlowSubscriberDoesNotBlockRun(t *testing.T) {
	h := newHarness(t, "sqlite", 0)
	s := h.service(2, nil)
	sim, err := s.Run(context.Background(), RunInput{Trigger: "Slow reader.", Rounds: ptrTo(1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ch, err := s.Events(ctx, sim.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if done := h.wait(sim.ID, 30*time.Second); done.Status != entsim.StatusSUCCEEDED {
		t.Fatalf("run %s while its subscriber was not reading", done.Status)
	}
	n, last := 0, 0
	for e := range ch {
		if e.Seq != last+1 {
			t.Fatalf("seq %d after %d", e.Seq, last)
		}
		last = e.Seq
		n++
	}
	if n != 46 {
		t.Fatalf("caught up %d events, want 46", n)
	}
}
