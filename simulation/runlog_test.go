package simulation

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/simulation/llm"
)

// syncLog is a log destination tests read while workers write.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the log lines of run id with message msg.
func (l *syncLog) lines(msg string, id int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, `msg="`+msg+`"`) && strings.Contains(line, fmt.Sprintf(" simulation=%d ", id)) {
			out = append(out, line)
		}
	}
	return out
}

// Issue 16: the log said nothing about runs. Each status change of a run is
// one INFO line with the run, its network, size, engine, calls, cost (rounded)
// and duration.
func TestRunLogLines(t *testing.T) {
	cost := regexp.MustCompile(`cost_usd=(0|\d+\.\d{1,4})( |$)`)
	tests := []struct {
		name    string
		workers int
		in      RunInput
		cancel  bool
		end     entsim.Status
		want    map[string][]string // message → substrings of its one line
	}{
		{"finished", 2, RunInput{Trigger: "Libraries close on Sundays.", Rounds: ptrTo(1)}, false, entsim.StatusSUCCEEDED, map[string][]string{
			"run queued":   {"level=INFO", "agents=20", "rounds=1", "engine=LLM", "model=gpt-4.1-mini"},
			"run started":  {"level=INFO", "engine=LLM", "queued_for="},
			"run finished": {"level=INFO", "agents=20", "steps=40", "calls=40", "tokens=", "duration="},
		}},
		{"failed", 2, RunInput{Trigger: "Libraries close on Sundays.", Rounds: ptrTo(1), MaxCalls: ptrTo(1)}, false, entsim.StatusFAILED, map[string][]string{
			"run queued": {"level=INFO", "agents=20"},
			"run failed": {"level=INFO", "calls=", "duration=", `error="budget reached: maxCalls 1`},
		}},
		{"canceled", 0, RunInput{Trigger: "Libraries close on Sundays.", Engine: ptrTo("DEGROOT")}, true, entsim.StatusCANCELED, map[string][]string{
			"run queued":   {"level=INFO", "engine=DEGROOT"},
			"run canceled": {"level=INFO", "calls=0", "cost_usd=0", "duration="},
		}},
	}
	for _, dialect := range testdb.Dialects() {
		for _, tt := range tests {
			t.Run(dialect+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t, dialect, time.Millisecond)
				logs := &syncLog{}
				lc, err := llm.New(llm.Config{APIKey: "test", BaseURL: h.fk.BaseURL(), Concurrency: 8, MaxRetries: 0})
				if err != nil {
					t.Fatal(err)
				}
				s, err := New(h.db, lc, Config{Workers: tt.workers, ChunkSize: 4, PollInterval: 20 * time.Millisecond,
					JobTimeout: 20 * time.Second, RescueAfter: 30 * time.Second}, slog.New(slog.NewTextHandler(logs, nil)))
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					_ = s.Stop(ctx)
				})
				sim, err := s.Run(context.Background(), tt.in)
				if err != nil {
					t.Fatal(err)
				}
				if tt.cancel {
					if _, err := s.Cancel(context.Background(), sim.ID); err != nil {
						t.Fatal(err)
					}
				}
				if done := h.wait(sim.ID, 60*time.Second); done.Status != tt.end {
					t.Fatalf("run ended %s, want %s", done.Status, tt.end)
				}
				for msg, wants := range tt.want {
					lines := logs.lines(msg, sim.ID)
					if len(lines) != 1 {
						t.Fatalf("%d %q lines for run %d, want 1:\n%s", len(lines), msg, sim.ID, logs.b.String())
					}
					for _, w := range append(wants, fmt.Sprintf("network=%d", h.net.ID)) {
						if !strings.Contains(lines[0], w) {
							t.Errorf("%q line lacks %q: %s", msg, w, lines[0])
						}
					}
					if terminal(tt.end) && msg == "run "+map[entsim.Status]string{entsim.StatusSUCCEEDED: "finished", entsim.StatusFAILED: "failed", entsim.StatusCANCELED: "canceled"}[tt.end] &&
						!cost.MatchString(lines[0]) {
						t.Errorf("cost not rounded to 4 decimals: %s", lines[0])
					}
				}
			})
		}
	}
}
