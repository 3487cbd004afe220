package simulation

import (
	"context"
	"strings"
	"testing"
	"time"

	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/internal/testdb"
)

// A job whose last attempt fails ends its run FAILED with the reason, and a
// subscriber (in another process on PostgreSQL) gets FAILED and FINISHED.
func TestExhaustedJobFailsRun(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, dialect, 0)
			// Jobs get their max attempts when inserted, from the inserting client.
			api := h.service(0, func(c *Config) { c.MaxAttempts = 2 })
			// A worker without an LLM: every attempt of an LLM chunk job fails.
			cfg := Config{Workers: 2, ChunkSize: 4, PollInterval: 50 * time.Millisecond, MaxAttempts: 2,
				JobTimeout: 20 * time.Second, RescueAfter: 30 * time.Second}
			w, err := New(h.db, nil, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			sim, err := api.Run(ctx, RunInput{Trigger: "Exhausted.", Rounds: ptrTo(1)})
			if err != nil {
				t.Fatal(err)
			}
			sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			events, err := api.Events(sctx, sim.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = w.Stop(context.Background()) })
			var statuses []string
			for e := range events {
				if e.Type == EventStatusChanged {
					statuses = append(statuses, e.Payload.Status)
				}
				if e.Type == EventFinished && e.Payload.Status != string(entsim.StatusFAILED) {
					t.Fatalf("FINISHED with %s", e.Payload.Status)
				}
			}
			if sctx.Err() != nil {
				t.Fatalf("no FINISHED event; statuses %v", statuses)
			}
			if got := strings.Join(statuses, " "); got != "QUEUED RUNNING FAILED" {
				t.Fatalf("statuses %s", got)
			}
			done := h.wait(sim.ID, 10*time.Second)
			if done.Error == nil || !strings.Contains(*done.Error, "failed 2 times") || !strings.Contains(*done.Error, "no LLM configured") {
				t.Fatalf("run %s with error %v", done.Status, done.Error)
			}
		})
	}
}

// With the default poll (15 s on PostgreSQL), an idle subscriber still gets
// an event at once: from this process's writes on SQLite, and through
// LISTEN/NOTIFY from another process on PostgreSQL.
func TestIdleSubscriberWokenPromptly(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, dialect, 0)
			writer := h.service(0, nil)
			reader := writer
			wantPoll := time.Second
			if dialect == "postgres" {
				reader, wantPoll = h.service(0, nil), 15*time.Second
			}
			if reader.cfg.EventPoll != wantPoll {
				t.Fatalf("default event poll %s, want %s", reader.cfg.EventPoll, wantPoll)
			}
			sim, err := writer.Run(ctx, RunInput{Trigger: "Idle.", Rounds: ptrTo(1)})
			if err != nil {
				t.Fatal(err)
			}
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			events, err := reader.Events(sctx, sim.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if e := <-events; e.Payload.Status != string(entsim.StatusQUEUED) {
				t.Fatalf("first event %+v", e)
			}
			time.Sleep(300 * time.Millisecond) // the subscriber is idle, waiting
			start := time.Now()
			if _, err := writer.Cancel(ctx, sim.ID); err != nil {
				t.Fatal(err)
			}
			e := <-events
			if took := time.Since(start); e.Payload.Status != string(entsim.StatusCANCELED) || took > 500*time.Millisecond {
				t.Fatalf("event %+v after %s", e, took)
			}
		})
	}
}
